-- Regions users sign up from, with their seed rows.
CREATE TABLE regions (code String, name String) ENGINE = MergeTree ORDER BY code;
INSERT INTO regions VALUES ('eu', 'Europe'), ('na', 'North America'), ('ci', 'Côte d''Ivoire; West Africa');

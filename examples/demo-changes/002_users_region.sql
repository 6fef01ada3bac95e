ALTER TABLE users ADD COLUMN region String DEFAULT 'eu';
-- A mutation: the server rewrites the parts of users it matches, and the run waits for it.
ALTER TABLE users UPDATE region = 'na' WHERE id % 3 = 0;

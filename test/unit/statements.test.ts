import { quoteIdentifier } from '../../src/clickhouse/sql';
import { describeStatement, redirectDatabase, splitStatements, StatementSyntaxError, tokenize, maskSecrets, secretValues } from '../../src/clickhouse/statements';

const HOSTILE = ["it's", 'back`tick', 'with space', 'semi;colon', 'back\\slash', 'üñï 名前', "'; DROP TABLE x; --", 'dash--dash', 'star/*'];

describe('tokenize', () => {
  it('covers the whole text without gaps, so that tokens put back together give the text', () => {
    const sql = "SELECT `a``b`, \"c\", 'd''e', 1.5e3, x -- note\n/* block */ FROM t;";
    const tokens = tokenize(sql);
    expect(tokens.map((t) => t.text).join('')).toBe(sql);
    tokens.forEach((t, i) => expect(t.start).toBe(i === 0 ? 0 : tokens[i - 1].end));
  });

  it('tells words, quoted identifiers, strings, numbers, punctuation, comments and white space apart', () => {
    const kinds = tokenize("SELECT `q`, 'str', 42 -- c\n").map((t) => [t.kind, t.text]);
    expect(kinds).toEqual([
      ['word', 'SELECT'],
      ['space', ' '],
      ['quoted', '`q`'],
      ['punct', ','],
      ['space', ' '],
      ['string', "'str'"],
      ['punct', ','],
      ['space', ' '],
      ['number', '42'],
      ['space', ' '],
      ['comment', '-- c'],
      ['space', '\n'],
    ]);
  });

  it('reads a name that starts with digits as one word, as ClickHouse does', () => {
    expect(tokenize('1st_table').map((t) => t.kind)).toEqual(['word']);
  });

  it('reads a heredoc as one string', () => {
    expect(tokenize('SELECT $doc$a;b$doc$').at(-1)).toMatchObject({ kind: 'string', text: '$doc$a;b$doc$' });
  });
});

describe('splitting statements', () => {
  it('splits at each semicolon and trims the statements', () => {
    expect(splitStatements('  SELECT 1;\n\nSELECT 2 ;SELECT 3')).toEqual(['SELECT 1', 'SELECT 2', 'SELECT 3']);
  });

  it('when a semicolon is inside a string, with backslash or doubled-quote escapes, it does not split', () => {
    const sql = "INSERT INTO t VALUES ('a;b', 'it\\'s; here', 'it''s; there', '\\\\');SELECT ';'";
    expect(splitStatements(sql)).toEqual(["INSERT INTO t VALUES ('a;b', 'it\\'s; here', 'it''s; there', '\\\\')", "SELECT ';'"]);
  });

  it.each(HOSTILE)('when a quoted identifier is %j, it stays in one statement', (name) => {
    const create = `CREATE TABLE ${quoteIdentifier(name)} (x UInt8) ENGINE = Memory`;
    expect(splitStatements(`${create};SELECT 1`)).toEqual([create, 'SELECT 1']);
  });

  it('when a double-quoted identifier holds a semicolon or a doubled quote, it does not split', () => {
    expect(splitStatements('SELECT "a;""b" FROM "t;"; SELECT 2')).toEqual(['SELECT "a;""b" FROM "t;"', 'SELECT 2']);
  });

  it('when a semicolon is inside a line comment (--, //, # ), it does not split', () => {
    const sql = 'SELECT 1 -- one; two\n, 2 // three; four\n, 3 # five; six\n;SELECT 4';
    expect(splitStatements(sql)).toEqual(['SELECT 1 -- one; two\n, 2 // three; four\n, 3 # five; six', 'SELECT 4']);
  });

  it('when a hash is not followed by a space, it is not a comment', () => {
    expect(splitStatements('SELECT a#b; SELECT 2')).toEqual(['SELECT a#b', 'SELECT 2']);
  });

  it('when a semicolon is inside a block comment, even a nested one, it does not split', () => {
    expect(splitStatements('SELECT /* a; /* b; */ c; */ 1; SELECT 2')).toEqual(['SELECT /* a; /* b; */ c; */ 1', 'SELECT 2']);
  });

  it('drops pieces that hold only comments and white space, but keeps comments inside a statement', () => {
    expect(splitStatements('-- header\n;;  /* nothing */ ;\n-- lead\nSELECT 1; -- trailer\n')).toEqual(['-- lead\nSELECT 1']);
  });

  it('when a text holds no statement, it gives none', () => {
    expect(splitStatements('')).toEqual([]);
    expect(splitStatements(' ;\n-- only a comment')).toEqual([]);
  });

  it('keeps unicode text as it is', () => {
    expect(splitStatements("SELECT '名前;ü' AS `ñ;`;SELECT 2")).toEqual(["SELECT '名前;ü' AS `ñ;`", 'SELECT 2']);
  });

  it.each([
    ["SELECT 'open", 'unterminated string', 7],
    ['SELECT `open', 'unterminated quoted identifier', 7],
    ['SELECT "open', 'unterminated quoted identifier', 7],
    ['SELECT 1; /* open', 'unterminated block comment', 10],
    ['SELECT /* a /* b */ 1', 'unterminated block comment', 7],
    ["SELECT 'ends in a backslash\\'", 'unterminated string', 7],
  ])('when %j is not closed, splitting throws a syntax error with the offset', (sql, message, offset) => {
    let caught: unknown;
    try {
      splitStatements(sql);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(StatementSyntaxError);
    expect((caught as StatementSyntaxError).message).toContain(message);
    expect((caught as StatementSyntaxError).offset).toBe(offset);
  });
});

describe('redirecting a statement to another database', () => {
  it('rewrites bare and quoted qualifiers, and leaves strings, comments and other names alone', () => {
    const sql = "INSERT INTO shop.events SELECT shop.t.a, 'shop.x', `shop`.y FROM \"shop\".t -- shop.z\n/* shop.w */ JOIN shops.v ON 1";
    expect(redirectDatabase(sql, 'shop', 'copy')).toBe(
      "INSERT INTO `copy`.events SELECT `copy`.t.a, 'shop.x', `copy`.y FROM `copy`.t -- shop.z\n/* shop.w */ JOIN shops.v ON 1",
    );
  });

  it('when the name is not followed by a dot, it is not a qualifier and stays', () => {
    expect(redirectDatabase('SELECT shop FROM t AS shop', 'shop', 'copy')).toBe('SELECT shop FROM t AS shop');
  });

  it('matches the database name case-sensitively', () => {
    expect(redirectDatabase('SELECT * FROM Shop.t, shop.t', 'shop', 'copy')).toBe('SELECT * FROM Shop.t, `copy`.t');
  });

  it('allows white space and comments between the qualifier, the dot and the name', () => {
    expect(redirectDatabase('SELECT * FROM shop /* x */ . t', 'shop', 'copy')).toBe('SELECT * FROM `copy` /* x */ . t');
  });

  it.each(HOSTILE)('when both databases are named %j, the rewritten statement names the new one, quoted', (name) => {
    const sql = `CREATE TABLE ${quoteIdentifier(name)}.${quoteIdentifier('t;1')} (x String DEFAULT '${'a;b'}') ENGINE = Memory`;
    const redirected = redirectDatabase(sql, name, `${name} copy`);
    expect(redirected).toBe(`CREATE TABLE ${quoteIdentifier(`${name} copy`)}.${quoteIdentifier('t;1')} (x String DEFAULT 'a;b') ENGINE = Memory`);
    expect(describeStatement(redirected).writes).toEqual([{ database: `${name} copy`, name: 't;1' }]);
  });
});

describe('describing a statement', () => {
  it.each([
    ['CREATE TABLE shop.events (id UInt64) ENGINE = MergeTree ORDER BY id', 'CREATE TABLE', [['shop', 'events']]],
    ['create or replace table if not exists `my db`.`t;x` ON CLUSTER main (a UInt8) ENGINE = Memory', 'CREATE TABLE', [['my db', 't;x']]],
    ['CREATE TEMPORARY TABLE tmp (a UInt8)', 'CREATE TABLE', [[null, 'tmp']]],
    ['CREATE VIEW "db"."v" AS SELECT 1', 'CREATE VIEW', [['db', 'v']]],
    ['CREATE MATERIALIZED VIEW shop.mv ENGINE = Memory AS SELECT 1', 'CREATE MATERIALIZED VIEW', [['shop', 'mv']]],
    ['CREATE MATERIALIZED VIEW IF NOT EXISTS mv ON CLUSTER c TO shop.`target;1` (a UInt8) AS SELECT a FROM src', 'CREATE MATERIALIZED VIEW', [[null, 'mv'], ['shop', 'target;1']]],
    ["CREATE MATERIALIZED VIEW mv ENGINE = MergeTree ORDER BY a TTL d + INTERVAL 1 DAY TO DISK 'cold' AS SELECT 1", 'CREATE MATERIALIZED VIEW', [[null, 'mv']]],
    ['CREATE LIVE VIEW lv AS SELECT 1', 'CREATE LIVE VIEW', [[null, 'lv']]],
    ['CREATE WINDOW VIEW wv AS SELECT 1', 'CREATE WINDOW VIEW', [[null, 'wv']]],
    ['CREATE DICTIONARY shop.d (k UInt64) PRIMARY KEY k SOURCE(NULL()) LAYOUT(FLAT()) LIFETIME(0)', 'CREATE DICTIONARY', [['shop', 'd']]],
    ['REPLACE TABLE t (a UInt8) ENGINE = Memory', 'REPLACE TABLE', [[null, 't']]],
    ['ALTER TABLE shop.events ADD COLUMN x UInt8', 'ALTER TABLE', [['shop', 'events']]],
    ['ALTER TABLE shop.a MOVE PARTITION 1 TO TABLE shop.b', 'ALTER TABLE', [['shop', 'a'], ['shop', 'b']]],
    ['DROP TABLE IF EXISTS shop.a, b ON CLUSTER c SYNC', 'DROP TABLE', [['shop', 'a'], [null, 'b']]],
    ['drop view v', 'DROP VIEW', [[null, 'v']]],
    ['DROP DICTIONARY shop.d', 'DROP DICTIONARY', [['shop', 'd']]],
    ['INSERT INTO shop.events (id) VALUES (1)', 'INSERT', [['shop', 'events']]],
    ['INSERT INTO TABLE `e;1` SELECT 1', 'INSERT', [[null, 'e;1']]],
    ['RENAME TABLE a TO b, shop.c TO shop.d', 'RENAME TABLE', [[null, 'a'], [null, 'b'], ['shop', 'c'], ['shop', 'd']]],
    ['EXCHANGE TABLES shop.a AND shop.b', 'EXCHANGE TABLES', [['shop', 'a'], ['shop', 'b']]],
    ['TRUNCATE TABLE IF EXISTS shop.events', 'TRUNCATE', [['shop', 'events']]],
    ['TRUNCATE events', 'TRUNCATE', [[null, 'events']]],
    ['OPTIMIZE TABLE shop.events FINAL', 'OPTIMIZE', [['shop', 'events']]],
    ['ATTACH TABLE shop.events', 'ATTACH TABLE', [['shop', 'events']]],
    ['DETACH VIEW shop.v PERMANENTLY', 'DETACH VIEW', [['shop', 'v']]],
    ['DETACH DICTIONARY d', 'DETACH DICTIONARY', [[null, 'd']]],
    ['CREATE INDEX IF NOT EXISTS idx_amount ON shop.orders (amount) TYPE minmax', 'CREATE INDEX', [['shop', 'orders']]],
    ['DROP INDEX idx_amount ON orders', 'DROP INDEX', [[null, 'orders']]],
  ])('%j changes objects of a database (%s)', (sql, kind, writes) => {
    const info = describeStatement(sql);
    expect(info).toMatchObject({ kind, scope: 'database' });
    expect(info.writes).toEqual(writes.map(([database, name]) => ({ database, name })));
  });

  it.each([
    ['SELECT * FROM shop.events', 'SELECT'],
    ['with x AS (SELECT 1) SELECT * FROM x', 'WITH'],
    ['(SELECT 1) UNION ALL (SELECT 2)', 'SELECT'],
    ['SHOW TABLES FROM shop', 'SHOW'],
    ['DESCRIBE TABLE shop.events', 'DESCRIBE'],
    ['DESC shop.events', 'DESC'],
    ['EXISTS TABLE shop.events', 'EXISTS'],
    ['EXPLAIN SELECT 1', 'EXPLAIN'],
  ])('%j only reads', (sql, kind) => {
    expect(describeStatement(sql)).toEqual({ kind, scope: 'read', writes: [], heavy: null, modifiedColumns: [] });
  });

  it.each([
    ['GRANT SELECT ON shop.* TO analyst', 'GRANT'],
    ['REVOKE ALL ON *.* FROM analyst', 'REVOKE'],
    ['CREATE USER analyst IDENTIFIED BY \'x;y\'', 'CREATE USER'],
    ['CREATE OR REPLACE ROLE reader', 'CREATE ROLE'],
    ['DROP ROLE IF EXISTS reader', 'DROP ROLE'],
    ['ALTER USER analyst DEFAULT ROLE reader', 'ALTER USER'],
    ['CREATE QUOTA q FOR INTERVAL 1 hour MAX queries = 10', 'CREATE QUOTA'],
    ['CREATE SETTINGS PROFILE p SETTINGS max_threads = 2', 'CREATE SETTINGS PROFILE'],
    ['CREATE ROW POLICY p ON shop.events USING 1 TO ALL', 'CREATE ROW POLICY'],
    ['SET max_threads = 1', 'SET'],
    ['USE shop', 'USE'],
    ['SYSTEM STOP MERGES shop.events', 'SYSTEM'],
    ['KILL QUERY WHERE 1', 'KILL'],
    ['CREATE DATABASE other', 'CREATE DATABASE'],
    ['DROP DATABASE shop', 'DROP DATABASE'],
    ['RENAME DATABASE a TO b', 'RENAME DATABASE'],
    ['TRUNCATE DATABASE shop', 'TRUNCATE DATABASE'],
    ["INSERT INTO FUNCTION remote('h', 'db', 't') VALUES (1)", 'INSERT INTO FUNCTION'],
    ["BACKUP TABLE shop.events TO Disk('b', 'x')", 'BACKUP'],
    ["RESTORE TABLE shop.events FROM Disk('b', 'x')", 'RESTORE'],
    ['CREATE FUNCTION f AS (x) -> x', 'CREATE FUNCTION'],
    ['VACUUM everything', 'VACUUM'],
  ])('%j changes what no restore point covers (%s)', (sql, kind) => {
    expect(describeStatement(sql)).toEqual({ kind, scope: 'outside', writes: [], heavy: null, modifiedColumns: [] });
  });

  it('when an ALTER updates or deletes rows, it is a mutation', () => {
    expect(describeStatement('ALTER TABLE t UPDATE a = 1 WHERE b').heavy).toBe('mutation');
    expect(describeStatement('alter table t delete where b').heavy).toBe('mutation');
    expect(describeStatement('ALTER TABLE t ADD COLUMN u UInt8, DELETE WHERE 1').heavy).toBe('mutation');
  });

  it('when rows are deleted with DELETE FROM, it is a mutation of that table', () => {
    expect(describeStatement('DELETE FROM shop.events WHERE id = 1')).toEqual({
      kind: 'DELETE',
      scope: 'database',
      writes: [{ database: 'shop', name: 'events' }],
      heavy: 'mutation',
      modifiedColumns: [],
    });
  });

  it('when an ALTER modifies column types, it lists each column with its new type text', () => {
    const sql =
      "ALTER TABLE shop.events ON CLUSTER c MODIFY COLUMN a Nullable(String) DEFAULT NULL, MODIFY COLUMN IF EXISTS `b;c` Decimal(10, 2) CODEC(ZSTD), MODIFY COLUMN d LowCardinality(String) COMMENT 'x', MODIFY COLUMN e Array(Tuple(UInt8, String))";
    const info = describeStatement(sql);
    expect(info.heavy).toBe('modify-column');
    expect(info.modifiedColumns).toEqual([
      { name: 'a', type: 'Nullable(String)' },
      { name: 'b;c', type: 'Decimal(10, 2)' },
      { name: 'd', type: 'LowCardinality(String)' },
      { name: 'e', type: 'Array(Tuple(UInt8, String))' },
    ]);
  });

  it('when MODIFY COLUMN changes only a default, comment, codec or TTL, no data is rewritten', () => {
    const info = describeStatement("ALTER TABLE t MODIFY COLUMN a DEFAULT 1, MODIFY COLUMN b COMMENT 'c', MODIFY COLUMN c CODEC(LZ4), MODIFY COLUMN d TTL x, MODIFY COLUMN e REMOVE TTL");
    expect(info).toMatchObject({ heavy: null, modifiedColumns: [] });
  });

  it('when an ALTER both modifies a type and deletes rows, it is a mutation and still lists the column', () => {
    const info = describeStatement('ALTER TABLE t MODIFY COLUMN a UInt64, DELETE WHERE a = 0');
    expect(info).toMatchObject({ heavy: 'mutation', modifiedColumns: [{ name: 'a', type: 'UInt64' }] });
  });

  it('ignores comments, and keywords written in any case', () => {
    const info = describeStatement('/* lead */ -- note\n cReAtE /* x */ TaBlE shop . -- y\n `ev` (a UInt8) ENGINE = Memory');
    expect(info).toMatchObject({ kind: 'CREATE TABLE', writes: [{ database: 'shop', name: 'ev' }] });
  });

  it.each(HOSTILE)('when the names are %j, they come back unquoted', (name) => {
    const quoted = quoteIdentifier(name);
    expect(describeStatement(`RENAME TABLE ${quoted}.${quoted} TO ${quoted}.x`).writes).toEqual([
      { database: name, name },
      { database: name, name: 'x' },
    ]);
  });
});

describe('credentials in a statement', () => {
  it('masks the literal after PASSWORD and the user, password or key arguments of functions that connect elsewhere', () => {
    expect(maskSecrets("SOURCE(CLICKHOUSE(HOST 'h' USER 'u' PASSWORD 'p@ss''w;1' DB 'x'))")).toBe("SOURCE(CLICKHOUSE(HOST 'h' USER 'u' PASSWORD '***' DB 'x'))");
    expect(maskSecrets("INSERT INTO t SELECT * FROM remote('127.0.0.1:9000', db, tbl, 'reader', 's3cr3t') WHERE s = 'kept'")).toBe(
      "INSERT INTO t SELECT * FROM remote('127.0.0.1:9000', db, tbl, '***', '***') WHERE s = 'kept'",
    );
    expect(maskSecrets("SELECT * FROM s3('https://bucket/x.csv', 'AKIA1', 'wJal', 'CSV')")).toBe("SELECT * FROM s3('https://bucket/x.csv', '***', '***', 'CSV')");
    expect(maskSecrets("SELECT * FROM remote('h:9000', 'db', 't', 'u', 'p')")).toBe("SELECT * FROM remote('h:9000', 'db', 't', '***', '***')");
  });

  it('leaves a statement without credentials as it is, and gives each secret as written and unescaped', () => {
    expect(maskSecrets("INSERT INTO t VALUES ('password', 'remote')")).toBe("INSERT INTO t VALUES ('password', 'remote')");
    expect(secretValues("CREATE USER x IDENTIFIED BY 'a' PASSWORD 'it''s'")).toEqual(["it''s", "it's"]);
  });
});

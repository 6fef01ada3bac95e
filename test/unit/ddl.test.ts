import { partitionKeyOf, rewriteCreateStatement, UnparseableDdlError } from '../../src/clickhouse/ddl';

describe('rewriteCreateStatement', () => {
  it('when the source DDL names a table, the rewrite creates it idempotently under the given name', () => {
    const ddl = 'CREATE TABLE demo.events ( d Date,  n UInt64) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY n SETTINGS index_granularity = 8192';
    expect(rewriteCreateStatement(ddl, 'demo', 'events')).toEqual({
      kind: 'TABLE',
      sql: 'CREATE TABLE IF NOT EXISTS `demo`.`events` ( d Date,  n UInt64) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY n SETTINGS index_granularity = 8192',
    });
  });

  it('when the name holds quotes, backticks, spaces and a semicolon, only the name is replaced', () => {
    const ddl = "CREATE TABLE `we ird`.`t\\`a'b; c` (x UInt8) ENGINE = Log";
    expect(rewriteCreateStatement(ddl, 'we ird', "t`a'b; c").sql).toBe(
      "CREATE TABLE IF NOT EXISTS `we ird`.`t\\`a'b; c` (x UInt8) ENGINE = Log",
    );
  });

  it('keeps the kind of views and materialized views', () => {
    expect(rewriteCreateStatement('CREATE VIEW d.v (k UInt64) AS SELECT 1 AS k', 'd', 'v').kind).toBe('VIEW');
    const mv = rewriteCreateStatement('CREATE MATERIALIZED VIEW d.mv (k UInt64) ENGINE = Log AS SELECT 1 AS k', 'd', 'mv');
    expect(mv).toEqual({ kind: 'MATERIALIZED VIEW', sql: 'CREATE MATERIALIZED VIEW IF NOT EXISTS `d`.`mv` (k UInt64) ENGINE = Log AS SELECT 1 AS k' });
  });

  it('when the DDL is not a CREATE statement, it says it cannot read it', () => {
    expect(() => rewriteCreateStatement('DROP TABLE x', 'd', 'x')).toThrow(UnparseableDdlError);
  });
});

describe('partitionKeyOf', () => {
  const table = (engine: string) => `CREATE TABLE d.t ( d Date,  s String DEFAULT concat('PARTITION BY ', 'x'),  k UInt64) ENGINE = ${engine}`;

  it('reads the PARTITION BY clause up to the clause that follows it', () => {
    expect(partitionKeyOf(table('MergeTree PARTITION BY toYYYYMM(d) ORDER BY k SETTINGS index_granularity = 8192'))).toBe('toYYYYMM(d)');
    expect(partitionKeyOf(table("MergeTree PARTITION BY (toYYYYMM(d), s) ORDER BY k"))).toBe('(toYYYYMM(d), s)');
    expect(partitionKeyOf(table('ReplacingMergeTree(k) PARTITION BY k % 3 PRIMARY KEY k ORDER BY (k, d)'))).toBe('k % 3');
    expect(partitionKeyOf(table('MergeTree PARTITION BY d TTL d + toIntervalDay(30)'))).toBe('d');
  });

  it('ignores look-alike text inside strings, quoted names and parentheses', () => {
    const ddl = "CREATE TABLE d.`PARTITION BY x` (`ORDER BY` Date, s String DEFAULT 'ORDER BY') ENGINE = MergeTree PARTITION BY toMonday(`ORDER BY`) ORDER BY s";
    expect(partitionKeyOf(ddl)).toBe('toMonday(`ORDER BY`)');
  });

  it('derives toYYYYMM of the date column from the legacy engine syntax', () => {
    expect(partitionKeyOf(table('MergeTree(d, k, 8192)'))).toBe('toYYYYMM(d)');
    expect(partitionKeyOf(table("ReplicatedMergeTree('/clickhouse/t', '{replica}', d, (k, d), 8192)"))).toBe('toYYYYMM(d)');
  });

  it('when there is no partition key, or no MergeTree engine, it returns null', () => {
    expect(partitionKeyOf(table('MergeTree ORDER BY k'))).toBeNull();
    expect(partitionKeyOf(table('MergeTree PARTITION BY tuple() ORDER BY k'))).toBeNull();
    expect(partitionKeyOf(table('ReplacingMergeTree(k) ORDER BY k'))).toBeNull();
    expect(partitionKeyOf(table('Log'))).toBeNull();
  });
});

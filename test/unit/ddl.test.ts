import { rewriteCreateStatement, UnparseableDdlError } from '../../src/clickhouse/ddl';

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

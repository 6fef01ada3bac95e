import type { ClickHouseConnection } from '../../src/clickhouse/connection';
import { qualifiedName, quoteString } from '../../src/clickhouse/sql';

/**
 * String partition values that would be SQL if a partition's text were pasted into a query:
 * quotes, backslashes, a closing parenthesis, a statement, a condition that is always true.
 */
export const HOSTILE_VALUES = ["'", "'a'", '\\', "')", "'); DROP TABLE bystander; --", "'' OR 1", "x'y", "a\\'b", "') OR ('1' = '1"];

/** Partitioned tables keyed by hostile String values: `text` by `s`, `pair` by `(s, n)`, `lone` one partition of `'' OR 1`. */
export const HOSTILE_PARTITIONED: Record<string, string> = {
  text: 'MergeTree PARTITION BY s ORDER BY k',
  pair: 'MergeTree PARTITION BY (s, n) ORDER BY k',
  lone: 'MergeTree PARTITION BY s ORDER BY k',
};

/** Creates the tables of {@link HOSTILE_PARTITIONED} in `database` (which exists), and a `bystander` a hostile value names. */
export async function createHostilePartitions(conn: ClickHouseConnection, database: string): Promise<void> {
  for (const [table, engine] of Object.entries(HOSTILE_PARTITIONED)) {
    await conn.exec(`CREATE TABLE ${qualifiedName(database, table)} (s String, n Int32, k UInt64) ENGINE = ${engine}`);
    const values = table === 'lone' ? ["'' OR 1"] : HOSTILE_VALUES;
    // Each value, twice with n = 1 and once with n = -2: three rows, two partitions of `pair`.
    const rows = values.flatMap((v, i) => [1, 1, -2].map((n, j) => `(${quoteString(v)}, ${n}, ${i * 10 + j})`));
    await conn.exec(`INSERT INTO ${qualifiedName(database, table)} VALUES ${rows.join(', ')}`);
  }
  await conn.exec(`CREATE TABLE ${qualifiedName(database, 'bystander')} (x UInt8) ENGINE = TinyLog`);
  await conn.exec(`INSERT INTO ${qualifiedName(database, 'bystander')} VALUES (1), (2)`);
}

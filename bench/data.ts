/** Test data of the scenarios with many small objects, and what the bench checks of it on both sides. */
import type { ClickHouseConnection } from '../src/clickhouse/connection';
import { qualifiedName, quoteIdentifier, quoteString } from '../src/clickhouse/sql';

/** A small table with monthly partitions. */
export const itemsDdl = (table: string, partitionBy = 'toYYYYMM(day)'): string =>
  `CREATE TABLE ${table} (day Date, id UInt64, name String, value Float64) ENGINE = MergeTree PARTITION BY ${partitionBy} ORDER BY id`;

/**
 * `rows` rows spread evenly over the 90 days of January to March 2025: three monthly partitions.
 * Their ids start at `firstId`, so two sets with different ones hold different rows.
 */
export const itemsSelect = (rows: number, firstId = 0): string => {
  const id = firstId === 0 ? 'number' : `(number + ${firstId})`;
  return `SELECT toDate('2025-01-01') + intDiv(number * 90, ${rows}), ${id}, concat('item-', toString(${id})), ${id} / 10 FROM system.numbers LIMIT ${rows}`;
};

/** Runs `work` on every item, at most `limit` at once; the first failure fails the whole. */
export async function forEachAtMost<T>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const index = next++;
      await work(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/** A database of `tables` item tables of `rows` rows each (ids from `firstId`, see {@link itemsSelect}), on `conn`. */
export async function createItemsDatabase(conn: ClickHouseConnection, database: string, tables: string[], rows: number, firstId = 0): Promise<void> {
  await conn.exec(`CREATE DATABASE ${quoteIdentifier(database)}`);
  await forEachAtMost(tables, 4, async (table) => {
    await conn.exec(itemsDdl(qualifiedName(database, table)));
    await conn.exec(`INSERT INTO ${qualifiedName(database, table)} ${itemsSelect(rows, firstId)}`);
  });
}

/** Rows and an order-independent checksum of an item table, computed by the bench itself. */
export async function itemsDigest(conn: ClickHouseConnection, database: string, table: string): Promise<string> {
  const [digest] = await conn.rows<{ rows: string; checksum: string }>(
    `SELECT count() AS rows, sum(cityHash64(day, id, name, value)) AS checksum FROM ${qualifiedName(database, table)}`,
  );
  return `${digest.rows} rows, checksum ${digest.checksum}`;
}

/** Rows of the active parts of a database (0 when it does not exist). */
export async function databaseRows(conn: ClickHouseConnection, database: string): Promise<number> {
  const [row] = await conn.rows<{ rows: string }>(`SELECT sum(rows) AS rows FROM system.parts WHERE active AND database = ${quoteString(database)}`);
  return Number(row.rows);
}

/**
 * Times a raw copy into a fresh database on the target: `prepare` (untimed) and `copy` (timed) run
 * after the database is created; the copy must leave `rows` rows in it. The database is dropped.
 */
export async function timeRawCopy(
  target: ClickHouseConnection,
  database: string,
  rows: number,
  steps: { prepare?: () => Promise<void>; copy: () => Promise<void> },
): Promise<number> {
  await target.exec(`CREATE DATABASE ${quoteIdentifier(database)}`);
  await steps.prepare?.();
  const began = performance.now();
  await steps.copy();
  const ms = performance.now() - began;
  const copied = await databaseRows(target, database);
  if (copied !== rows) throw new Error(`the raw copy holds ${copied} rows, the source ${rows}`);
  await target.exec(`DROP DATABASE ${quoteIdentifier(database)}`);
  return ms;
}

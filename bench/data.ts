/** Test data of the scenarios, and what the bench checks of it on both sides. */
import type { ClickHouseConnection } from '../src/clickhouse/connection';
import { qualifiedName, quoteIdentifier, quoteString } from '../src/clickhouse/sql';

/** Rows of the `big` table (and of its ReplacingMergeTree variant in `replacing`). */
export const BIG_ROWS = Number(process.env.BENCH_ROWS ?? 10_000_000);

/** The `big` table: 12 monthly partitions of 2025, with `engine` (`MergeTree` in `big`). */
export const eventsDdl = (table: string, engine = 'MergeTree'): string => `CREATE TABLE ${table} (
  event_date Date, event_time DateTime, user_id UInt64, session_id UInt64,
  kind String, url String, amount Float64, flags UInt32
) ENGINE = ${engine} PARTITION BY toYYYYMM(event_date) ORDER BY (event_date, user_id)`;

/** The stored columns of {@link eventsDdl}, for the bench's own checksums. */
export const EVENTS_COLUMNS = 'event_date, event_time, user_id, session_id, kind, url, amount, flags';

/**
 * The values of one row of the `big` table made from `number` (of `rows` in all), in the order of
 * {@link eventsDdl}. Its key (event_date, user_id) is made from the expression `key`: `number`
 * itself, or, for a row that updates an earlier one, that row's number.
 */
export const eventsValues = (rows: number, key = 'number'): string =>
  `toDate('2025-01-01') + intDiv(${key} * 365, ${rows}) AS event_date, toDateTime(event_date) + (number % 86400),
   cityHash64(${key}) % 1000000, intDiv(number, 7), ['view', 'click', 'cart', 'buy'][number % 4 + 1],
   concat('https://shop.example/p/', toString(number % 100000)), (number % 100000) / 100, number % 1024`;

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
 * after the database is created; the copy must leave `rows` rows in it, or, where `check` is
 * given, pass it instead (untimed; it throws when the copy is wrong). The database is dropped.
 */
export async function timeRawCopy(
  target: ClickHouseConnection,
  database: string,
  rows: number,
  steps: { prepare?: () => Promise<void>; copy: () => Promise<void>; check?: () => Promise<void> },
): Promise<number> {
  await target.exec(`CREATE DATABASE ${quoteIdentifier(database)}`);
  await steps.prepare?.();
  const began = performance.now();
  await steps.copy();
  const ms = performance.now() - began;
  if (steps.check) {
    await steps.check();
  } else {
    const copied = await databaseRows(target, database);
    if (copied !== rows) throw new Error(`the raw copy holds ${copied} rows, the source ${rows}`);
  }
  await target.exec(`DROP DATABASE ${quoteIdentifier(database)}`);
  return ms;
}

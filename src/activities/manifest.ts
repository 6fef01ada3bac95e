import { Readable } from 'node:stream';
import type { ClickHouseConnection } from '../clickhouse/connection';
import { manifestDatabase } from '../clickhouse/scratch';
import { qualifiedName, quoteIdentifier, quoteString } from '../clickhouse/sql';

/**
 * A run's manifest on the target (see `manifestDatabase`): named lists of JSON documents, one
 * table per list, read and written by page. Activities keep the run's plan here and hand the
 * workflow only summaries, so the history stays the same size whatever the number of tables and
 * partitions. The list names are in `MANIFEST_LISTS` (src/workflows/types.ts).
 */
export { MANIFEST_LISTS, resyncList } from '../workflows/types';

/** Documents per INSERT: a few hundred kilobytes of JSON. */
const ROWS_PER_INSERT = 1_000;

/** Replaces `list` in the run's manifest with `items`; returns how many it holds. Safe to retry. */
export async function writeList<T>(conn: ClickHouseConnection, runKey: string, list: string, items: readonly T[]): Promise<number> {
  const database = manifestDatabase(runKey);
  const table = qualifiedName(database, list);
  await conn.exec(`CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(database)}`);
  await conn.exec(`DROP TABLE IF EXISTS ${table}`);
  await conn.exec(`CREATE TABLE ${table} (seq UInt64, body String) ENGINE = Log`);
  for (let first = 0; first < items.length; first += ROWS_PER_INSERT) {
    const lines = items.slice(first, first + ROWS_PER_INSERT).map((item, i) => JSON.stringify({ seq: first + i, body: JSON.stringify(item) }));
    await conn.insertStream(`INSERT INTO ${table} FORMAT JSONEachRow`, Readable.from([lines.join('\n')]));
  }
  return items.length;
}

/**
 * Writes `list` whole or not at all: the documents go to a draft, which a rename then publishes.
 * A reader (a retry, a rollback) finds the complete list or none.
 */
export async function publishList<T>(conn: ClickHouseConnection, runKey: string, list: string, items: readonly T[]): Promise<void> {
  const draft = `${list}_draft`;
  await writeList(conn, runKey, draft, items);
  await conn.exec(`RENAME TABLE ${qualifiedName(manifestDatabase(runKey), draft)} TO ${qualifiedName(manifestDatabase(runKey), list)}`);
}

/** The lists of the run's manifest whose names start with `prefix`. */
export async function listsNamed(conn: ClickHouseConnection, runKey: string, prefix: string): Promise<string[]> {
  const rows = await conn.rows<{ name: string }>(
    `SELECT name FROM system.tables WHERE database = ${quoteString(manifestDatabase(runKey))} AND startsWith(name, ${quoteString(prefix)}) ORDER BY name`,
  );
  return rows.map((r) => r.name);
}

/** The documents of `list`, or null when the manifest has no such list (yet). */
export async function readListIfAny<T>(conn: ClickHouseConnection, runKey: string, list: string): Promise<T[] | null> {
  return (await listsNamed(conn, runKey, list)).includes(list) ? readList<T>(conn, runKey, list) : null;
}

/** The documents of `list` from index `from` (inclusive) to `to` (exclusive), or all of them. */
export async function readList<T>(conn: ClickHouseConnection, runKey: string, list: string, range?: { from: number; to: number }): Promise<T[]> {
  const where = range ? ` WHERE seq >= ${Math.floor(range.from)} AND seq < ${Math.floor(range.to)}` : '';
  const rows = await conn.rows<{ body: string }>(`SELECT body FROM ${qualifiedName(manifestDatabase(runKey), list)}${where} ORDER BY seq`);
  return rows.map((r) => JSON.parse(r.body) as T);
}

/** Drops the run's manifest. */
export async function dropManifest(conn: ClickHouseConnection, runKey: string): Promise<void> {
  await conn.exec(`DROP DATABASE IF EXISTS ${quoteIdentifier(manifestDatabase(runKey))}`);
}

import { Readable } from 'node:stream';
import type { ClickHouseConnection } from '../clickhouse/connection';
import { ClickHouseQueryError } from '../clickhouse/errors';
import { manifestDatabase } from '../clickhouse/scratch';
import { qualifiedName, quoteIdentifier, quoteString } from '../clickhouse/sql';
import type { Keyring } from '../secrets';
import { FAILURE_TYPES } from '../workflows/types';
import { permanent } from './context';
import { ManifestTamperedError, signList, verifyRows, type SignedRow } from './manifest-signing';

/**
 * A run's manifest on the target (see `manifestDatabase`): named lists of JSON documents, one
 * table per list, read and written by page. Activities keep the run's plan here and hand the
 * workflow only summaries, so the history stays the same size whatever the number of tables and
 * partitions. The list names are in `MANIFEST_LISTS` (src/workflows/types.ts).
 */
export { MANIFEST_LISTS, resyncList } from '../workflows/types';

/** Documents per INSERT: a few hundred kilobytes of JSON. */
const ROWS_PER_INSERT = 1_000;

/** ClickHouse's "unknown identifier": a manifest table of the layout before rows were signed. */
const UNKNOWN_IDENTIFIER = 47;

/**
 * The manifest of run `runKey` on `conn`, signed and checked with the deployment's keyring (see
 * `manifest-signing.ts`): whatever the reader hands back was written by a worker holding the key,
 * for this run, this list and this position. Anything else stops the run (`ManifestTampered`).
 */
export class Manifest {
  constructor(
    readonly conn: ClickHouseConnection,
    readonly runKey: string,
    readonly keyring: Keyring,
  ) {}

  /** Replaces `list` with `items`, signed under the active key; returns how many it holds. Safe to retry. */
  async write<T>(list: string, items: readonly T[]): Promise<number> {
    return this.writeAs(list, list, items);
  }

  /**
   * Writes `list` whole or not at all: the documents go to a draft (signed with the final name),
   * which a rename then publishes. A reader (a retry, a rollback) finds the complete list or none.
   */
  async publish<T>(list: string, items: readonly T[]): Promise<void> {
    const draft = `${list}_draft`;
    await this.writeAs(draft, list, items);
    await this.conn.exec(`RENAME TABLE ${this.table(draft)} TO ${this.table(list)}`);
  }

  /** The lists whose names start with `prefix`. */
  async listsNamed(prefix: string): Promise<string[]> {
    const rows = await this.conn.rows<{ name: string }>(
      `SELECT name FROM system.tables WHERE database = ${quoteString(manifestDatabase(this.runKey))} AND startsWith(name, ${quoteString(prefix)}) ORDER BY name`,
    );
    return rows.map((r) => r.name);
  }

  /** The documents of `list`, or null when the manifest has no such list (yet). */
  async readIfAny<T>(list: string): Promise<T[] | null> {
    return (await this.listsNamed(list)).includes(list) ? this.read<T>(list) : null;
  }

  /** The documents of `list` from index `from` (inclusive) to `to` (exclusive), or all of them, once their signatures hold. */
  async read<T>(list: string, range?: { from: number; to: number }): Promise<T[]> {
    const table = `${manifestDatabase(this.runKey)}.${list}`;
    const where = range ? `(seq >= ${Math.floor(range.from)} AND seq < ${Math.floor(range.to)}) OR seq = total` : '1';
    try {
      const rows = await this.conn.rows<SignedRow>(`SELECT seq, body, total, key_id, mac FROM ${this.table(list)} WHERE ${where} ORDER BY seq`);
      return verifyRows(rows, { runKey: this.runKey, list }, this.keyring, table, range).map((body) => JSON.parse(body) as T);
    } catch (err) {
      throw asManifestFailure(err, table);
    }
  }

  private async writeAs<T>(list: string, signedAs: string, items: readonly T[]): Promise<number> {
    const table = this.table(list);
    await this.conn.exec(`CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(manifestDatabase(this.runKey))}`);
    await this.conn.exec(`DROP TABLE IF EXISTS ${table}`);
    await this.conn.exec(`CREATE TABLE ${table} (seq UInt64, body String, total UInt64, key_id String, mac String) ENGINE = Log`);
    const rows = signList(items.map((item) => JSON.stringify(item)), { runKey: this.runKey, list: signedAs }, this.keyring.active);
    for (let first = 0; first < rows.length; first += ROWS_PER_INSERT) {
      const lines = rows.slice(first, first + ROWS_PER_INSERT).map((row) => JSON.stringify(row));
      await this.conn.insertStream(`INSERT INTO ${table} FORMAT JSONEachRow`, Readable.from([lines.join('\n')]));
    }
    return items.length;
  }

  private table(list: string): string {
    return qualifiedName(manifestDatabase(this.runKey), list);
  }
}

/**
 * What a failed read of manifest table `table` becomes: a refusal of a tampered manifest, or of
 * one written before rows were signed (a run started before the upgrade), stops the run; other
 * errors are left as they are.
 */
export function asManifestFailure(err: unknown, table: string): unknown {
  if (err instanceof ManifestTamperedError) return permanent(FAILURE_TYPES.manifestTampered, err.message);
  if (err instanceof ClickHouseQueryError && err.code === UNKNOWN_IDENTIFIER) {
    return permanent(
      FAILURE_TYPES.manifestTampered,
      `the run's manifest table ${table} has no signatures: it was written before this version, which refuses unsigned manifests; end the run and start it again`,
    );
  }
  return err;
}

/**
 * Refuses documents of `list` that name a database outside the run's `databases`: the manifest
 * is signed, but what it names must also be the run's before the migrator acts on it.
 */
export function refuseOutsideRun<T extends { database: string }>(runKey: string, list: string, items: readonly T[], databases: readonly string[]): T[] {
  const ours = new Set(databases);
  const stray = items.findIndex((item) => !ours.has(item.database));
  if (stray >= 0) {
    const message = new ManifestTamperedError(`${manifestDatabase(runKey)}.${list}`, stray, `names database ${items[stray].database}, which is not one of the run's`).message;
    throw permanent(FAILURE_TYPES.manifestTampered, message);
  }
  return [...items];
}

/** Drops the run's manifest. */
export async function dropManifest(conn: ClickHouseConnection, runKey: string): Promise<void> {
  await conn.exec(`DROP DATABASE IF EXISTS ${quoteIdentifier(manifestDatabase(runKey))}`);
}

/**
 * The journal of a run's writes into tables that its restore point holds: before the run first
 * replaces a partition of such a table, the partition is noted here, and if others wrote to it
 * since the restore point was taken (its rows differ from the snapshot's), the restore point takes
 * it as it is now (hard links), so a rollback brings back their rows too. A rollback restores
 * exactly the partitions the journal names. Each entry is signed like the rest of the manifest
 * (see `signRecord`): an entry someone else added stops the run.
 */
import { Readable } from 'node:stream';
import { countRows, partitionSizesOf } from '../clickhouse/catalog';
import type { ClickHouseConnection } from '../clickhouse/connection';
import { manifestDatabase, restorePointDatabase, snapshotTableName } from '../clickhouse/scratch';
import { qualifiedName, quoteString, quoteStringList } from '../clickhouse/sql';
import { alterPartitions, copyRowsWithin } from '../clickhouse/table-ops';
import type { Keyring } from '../secrets';
import { MANIFEST_LISTS } from '../workflows/types';
import { tableKey } from '../workflows/table-key';
import { asManifestFailure } from './manifest';
import { checkRecord, signRecord } from './manifest-signing';

/** One partition the run wrote: the rows it held just before, and whether the restore point took it then. */
export interface JournalEntry {
  database: string;
  table: string;
  partitionId: string;
  rowsBefore: number;
  /** The restore point's snapshot of this partition was taken again just before the run wrote it. */
  retaken: boolean;
}

const JOURNAL = MANIFEST_LISTS.journal;

function journalTable(runKey: string): string {
  return qualifiedName(manifestDatabase(runKey), JOURNAL);
}

/** An entry's signed fields, in order. */
function signedFields(e: JournalEntry): unknown[] {
  return [e.database, e.table, e.partitionId, e.rowsBefore, e.retaken];
}

/** The entries of the journal (those of `tables`, or all), each signature checked. */
async function readEntries(target: ClickHouseConnection, runKey: string, keyring: Keyring, tables?: readonly Table[]): Promise<JournalEntry[]> {
  const where = tables ? ` WHERE ${tables.map((t) => `(database = ${quoteString(t.database)} AND table = ${quoteString(t.table)})`).join(' OR ')}` : '';
  const name = `${manifestDatabase(runKey)}.${JOURNAL}`;
  try {
    const rows = await target.rows<{ database: string; table: string; partition_id: string; rows_before: string; retaken: number; key_id: string; mac: string }>(
      `SELECT database, table, partition_id, rows_before, retaken, key_id, mac FROM ${journalTable(runKey)}${where}`,
    );
    return rows.map((r) => {
      const entry = { database: r.database, table: r.table, partitionId: r.partition_id, rowsBefore: Number(r.rows_before), retaken: Number(r.retaken) === 1 };
      checkRecord(r, signedFields(entry), { runKey, list: JOURNAL }, keyring, name, `the entry of ${entry.database}.${entry.table} partition ${entry.partitionId}`);
      return entry;
    });
  } catch (err) {
    throw asManifestFailure(err, name);
  }
}

/** The journal as one copy activity keeps it: see {@link openJournal}. */
export interface BatchJournal {
  /**
   * Call before the run replaces partitions `partitionIds` of `database`.`table` (`'all'` for a
   * table without partitions): notes those the journal lacks, first retaking in the restore point
   * those whose rows changed since it was taken. Nothing to do for a table the restore point does
   * not hold (the run created it).
   */
  beforeReplacing(database: string, table: string, partitionIds: readonly string[]): Promise<void>;
}

/**
 * The journal for a copy activity's `tables`: which of them the restore point holds, and what the
 * journal already names of them, read once; each unit then costs a read of its partitions' rows
 * and the note itself, written before the unit replaces anything.
 */
export async function openJournal(target: ClickHouseConnection, runKey: string, tables: readonly Table[], keyring: Keyring): Promise<BatchJournal> {
  const pointDb = restorePointDatabase(runKey);
  const snapshots = new Map(tables.map((t) => [snapshotTableName(t.database, t.table), t]));
  const held = new Set(
    snapshots.size === 0
      ? []
      : (await target.rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = ${quoteString(pointDb)} AND name IN (${quoteStringList([...snapshots.keys()])})`)).map((r) => r.name),
  );
  const noted = new Set<string>();
  const key = (database: string, table: string, id: string) => `${tableKey(database, table)}\u0000${id}`;
  if (held.size > 0) {
    await target.exec(
      `CREATE TABLE IF NOT EXISTS ${journalTable(runKey)} (database String, table String, partition_id String, rows_before UInt64, retaken UInt8, key_id String, mac String) ENGINE = Log`,
    );
    const ours = [...held].map((name) => snapshots.get(name) as Table);
    for (const e of await readEntries(target, runKey, keyring, ours)) noted.add(key(e.database, e.table, e.partitionId));
  }
  return {
    async beforeReplacing(database, table, partitionIds) {
      const snapshot = snapshotTableName(database, table);
      if (!held.has(snapshot)) return;
      const todo = partitionIds.filter((id) => !noted.has(key(database, table, id)));
      if (todo.length === 0) return;
      const rows = await rowsNowAndAtRestorePoint(target, { database, table }, { database: pointDb, table: snapshot }, todo);
      const changed = todo.filter((id) => rows.now(id) !== rows.atPoint(id));
      if (changed.length > 0) await retake(target, { database, table }, { database: pointDb, table: snapshot }, changed);
      const lines = todo.map((id) => {
        const entry: JournalEntry = { database, table, partitionId: id, rowsBefore: rows.now(id), retaken: changed.includes(id) };
        const signature = signRecord(signedFields(entry), { runKey, list: JOURNAL }, keyring.active);
        return JSON.stringify({ database, table, partition_id: id, rows_before: entry.rowsBefore, retaken: entry.retaken ? 1 : 0, ...signature });
      });
      await target.insertStream(`INSERT INTO ${journalTable(runKey)} FORMAT JSONEachRow`, Readable.from([lines.join('\n')]));
      for (const id of todo) noted.add(key(database, table, id));
    },
  };
}

/** What the journal names, or null when the run wrote to no table of its restore point. */
export async function readJournal(target: ClickHouseConnection, runKey: string, keyring: Keyring): Promise<JournalEntry[] | null> {
  const [exists] = await target.rows<{ n: string }>(`SELECT count() AS n FROM system.tables WHERE database = ${quoteString(manifestDatabase(runKey))} AND name = ${quoteString(JOURNAL)}`);
  if (Number(exists.n) === 0) return null;
  return readEntries(target, runKey, keyring);
}

type Table = { database: string; table: string };

/** Rows per partition of the live table and of its snapshot (a count for a table without partitions). */
async function rowsNowAndAtRestorePoint(target: ClickHouseConnection, live: Table, snapshot: Table, ids: readonly string[]) {
  if (ids.length === 1 && ids[0] === 'all' && !(await hasParts(target, live))) {
    const [now, atPoint] = await Promise.all([countRows(target, live.database, live.table), countRows(target, snapshot.database, snapshot.table)]);
    return { now: () => now, atPoint: () => atPoint };
  }
  const parts = await partitionSizesOf(target, [live, snapshot]);
  const rowsOf = (t: Table) => new Map((parts.get(tableKey(t.database, t.table)) ?? []).map((p) => [p.partitionId, p.rows]));
  const [now, atPoint] = [rowsOf(live), rowsOf(snapshot)];
  return { now: (id: string) => now.get(id) ?? 0, atPoint: (id: string) => atPoint.get(id) ?? 0 };
}

/** Whether the table keeps its data in MergeTree parts (a `Log` table has none). */
async function hasParts(target: ClickHouseConnection, table: Table): Promise<boolean> {
  const [row] = await target.rows<{ engine: string }>(`SELECT engine FROM system.tables WHERE database = ${quoteString(table.database)} AND name = ${quoteString(table.table)}`);
  return row?.engine.includes('MergeTree') ?? false;
}

/** The restore point takes partitions `ids` of `live` as they are now: by hard links, or a copy for a table without parts. */
async function retake(target: ClickHouseConnection, live: Table, snapshot: Table, ids: readonly string[]): Promise<void> {
  const [from, into] = [qualifiedName(live.database, live.table), qualifiedName(snapshot.database, snapshot.table)];
  if (ids.length === 1 && ids[0] === 'all' && !(await hasParts(target, live))) {
    await target.exec(`DROP TABLE ${into}`);
    await target.exec(`CREATE TABLE ${into} AS ${from}`);
    await copyRowsWithin(target, live, snapshot);
    return;
  }
  await alterPartitions(target, into, ids, (id) => `REPLACE PARTITION ID ${id} FROM ${from}`);
}

import { execDdl } from '../clickhouse/capabilities';
import { columnsOf, countRows, existingDatabases, listColumns, listTables, mergesByOrder, partitionSizesOf, type PartitionSize, type TableName } from '../clickhouse/catalog';
import type { ClickHouseConnection } from '../clickhouse/connection';
import { rewriteCreateStatement } from '../clickhouse/ddl';
import { partitionDigests, readsFinal, type PartitionDigest } from '../clickhouse/fingerprint';
import { retiredTable, scratchDatabases, stagingPrefix, stagingTable } from '../clickhouse/scratch';
import { qualifiedName, quoteString, quoteStringList } from '../clickhouse/sql';
import { alterPartitions, copyRowsWithin, emptyPartitions, swapIn } from '../clickhouse/table-ops';
import { dropDatabaseSql, dropObjectSql, execDdlOn } from '../clickhouse/on-cluster';
import { firstOf, firstOfSelectedFirst } from '../workflows/bounded';
import {
  DETAIL_LIMIT,
  DIGEST_LIMIT,
  MANIFEST_LISTS,
  RESYNC_PREFIX,
  type IntentEntry,
  type ManifestUnit,
  type PlannedObject,
  type RestorePoint,
  type RestorePointDigests,
  type RestorePointTable,
  type RollbackDiscard,
  type RollbackProof,
  type RollbackReport,
} from '../workflows/types';
import { DDL_CONCURRENCY, forEachConcurrently, stopRunStatements } from './context';
import { partitionIdsOf } from './copy-plan';
import { isView } from './inventory';
import { readJournal, type JournalEntry } from './journal';
import { Manifest, refuseOutsideRun } from './manifest';
import type { Keyring } from '../secrets';
import { objectName } from './schema';
import { namesTable, objectKey, tableKey } from '../workflows/table-key';
import { replicatedEngineOf } from '../clickhouse/ddl-replication';

/** A rollback of a run with a manifest: the run, its restore point, and the databases in scope. */
export interface RecordedRun {
  runKey: string;
  restorePoint: RestorePoint;
  databases: string[];
  /**
   * The run records its intent before its schema step creates anything (patch `exact-rollback`):
   * no intent then means nothing created. Runs before it fall back to what they wrote afterwards.
   */
  recordsIntent?: boolean;
}

/**
 * What a run with a manifest recorded of itself on the target before acting: the ground its
 * rollback and the proof stand on.
 */
interface RunRecord {
  /** The restore point's tables. */
  restore: RestorePointTable[];
  /** Their per-partition digests, recorded before the migration began (null when none were). */
  digests: RestorePointDigests | null;
  /**
   * The objects (`db.name`) and the databases the run may have created, and the cluster it
   * created them `ON CLUSTER` (absent: the target server alone).
   */
  created: { objects: Set<string>; databases: string[]; cluster?: string };
  /**
   * Per table (`db.name`), every partition the run wrote, with the rows the rollback puts back
   * into it: those of the restore point, or (where others had written to it since) those it held
   * just before the run wrote it, when the restore point took it again (see `journal.ts`).
   */
  written: Map<string, Written>;
}

/** The partitions the run wrote in one table: for each, the rows it held just before, when the restore point took it again then (null: the restore point's). */
type Written = Map<string, number | null>;

/** Restored tables fingerprinted at once by the proof. */
const PROOF_CONCURRENCY = 4;

/**
 * Undoes exactly what the run recorded before doing it. First every statement of the run still on
 * the target is stopped, and gone, so nothing of it writes while this runs. Then the objects the
 * run was about to create are dropped where they exist, its databases where they are empty (a
 * database that holds others' objects is kept, and named), and the partitions it was about to
 * write are put back as the restore point had them: a partition the run never wrote keeps what
 * others wrote, and a restored table never disappears. With `prove`, the proof follows (see
 * {@link proveRecordedRollback}). Safe to retry.
 */
export async function rollbackRecordedRun(target: ClickHouseConnection, run: RecordedRun, prove: boolean, keyring: Keyring): Promise<RollbackReport> {
  await stopRunStatements(target);
  const record = await readRunRecord(new Manifest(target, run.runKey, keyring), run);
  const report: Required<Omit<RollbackReport, 'counts'>> = { dropped: [], restored: [], verified: [], kept: [], discarded: [], leftovers: [] };
  const present = await listTables(target, await existingDatabases(target, run.databases));
  const theRuns = present.filter((t) => !t.inner && namesTable(record.created.objects, t.database, t.name));
  // Views first: a materialized view goes before the tables it reads from.
  for (const object of theRuns.sort((a, b) => Number(isView(b)) - Number(isView(a)))) {
    await execDdlOn(target, dropObjectSql(object.database, object.name, record.created.cluster), record.created.cluster);
    report.dropped.push(objectName(object));
  }
  for (const database of await existingDatabases(target, record.created.databases)) {
    const others = await listTables(target, [database]);
    if (others.length > 0) {
      report.kept.push({ database, objects: firstOf(others.map(objectName), DETAIL_LIMIT) });
      continue;
    }
    await execDdlOn(target, dropDatabaseSql(database, record.created.cluster), record.created.cluster);
    report.dropped.push(database);
  }
  const stillPresent = new Set(present.map(objectKey));
  const restored = writtenTables(record);
  // What the written tables hold now, in one query: the rows each partition put back discards.
  const now = await partitionSizesOf(target, restored.filter((t) => stillPresent.has(objectKey(t))).map(tableName));
  const discarded: RollbackDiscard[][] = new Array(restored.length);
  await forEachConcurrently(restored.map((table, i) => ({ table, i })), DDL_CONCURRENCY, async ({ table, i }) => {
    if (!stillPresent.has(objectKey(table))) await execDdl(target, rewriteCreateStatement(table.createTableQuery, table.database, table.name).sql);
    const written = record.written.get(objectKey(table)) as Written;
    discarded[i] = await restoreWritten(target, run, table, written, now.get(objectKey(table)) ?? []);
  });
  report.discarded.push(...discarded.flat());
  report.restored.push(...restored.map((t) => ({ database: t.database, table: t.name, partitions: record.written.get(objectKey(t))?.size ?? 0 })));
  if (prove) {
    const proof = await proveRecord(target, run, record);
    report.verified = proof.verified;
    report.leftovers = proof.leftovers;
  }
  return boundedReport(report);
}

/**
 * The proof of a rollback: the target's objects in scope against the restore point and what the
 * run recorded. No object the run was about to create may remain (nor an empty database of it,
 * nor a staging table or scratch database of it), and every partition the run was about to write
 * must hold again what the restore point recorded, by count and checksum. Objects others created
 * are not the run's and are left out. Reads only.
 */
export async function proveRecordedRollback(target: ClickHouseConnection, run: RecordedRun, keyring: Keyring): Promise<RollbackProof> {
  const proof = await proveRecord(target, run, await readRunRecord(new Manifest(target, run.runKey, keyring), run));
  return { ...proof, verified: boundedVerdicts(proof.verified) };
}

async function proveRecord(target: ClickHouseConnection, run: RecordedRun, record: RunRecord): Promise<RollbackProof> {
  const inScope = await existingDatabases(target, run.databases);
  const present = await listTables(target, inScope);
  const leftovers = present.filter((t) => !t.inner && namesTable(record.created.objects, t.database, t.name)).map(objectName);
  for (const database of await existingDatabases(target, record.created.databases)) {
    if ((await listTables(target, [database])).length === 0) leftovers.push(database);
  }
  leftovers.push(...(await existingDatabases(target, scratchDatabases(run.runKey))));
  if (inScope.length > 0) {
    const staging = await target.rows<{ database: string; name: string }>(
      `SELECT database, name FROM system.tables WHERE database IN (${quoteStringList(inScope)}) AND startsWith(name, ${quoteString(stagingPrefix(run.runKey))})`,
    );
    leftovers.push(...staging.map(objectName));
  }
  const presentNames = new Set(present.map(objectKey));
  const engines = new Map(present.map((t) => [objectKey(t), t.engine]));
  const restored = writtenTables(record);
  // The columns of every restored table in one query; a few tables are fingerprinted at once.
  const columns = await columnsOf(target, restored.filter((t) => presentNames.has(objectKey(t))).map(tableName));
  const verified: RollbackProof['verified'] = new Array(restored.length);
  await forEachConcurrently(restored.map((table, i) => ({ table, i })), PROOF_CONCURRENCY, async ({ table, i }) => {
    const written = record.written.get(objectKey(table)) as Written;
    const isThere = presentNames.has(objectKey(table));
    const before = await expectedDigests(target, run, table, record.digests, written);
    const digestsOf = (database: string, name: string, final: boolean) =>
      partitionDigests(target, database, name, columns.get(objectKey(table)) ?? [], { partitioned: table.kind === 'partitioned', partitionIds: [...written.keys()].sort(), final });
    const after = isThere ? await digestsOf(table.database, table.name, false) : [];
    const rows = rowsToRestore(table, written);
    // Where the engine merges rows by their order, what users read (FINAL) is what must be back:
    // the restore point's hard-linked parts read as the table did. Their rows are shown but not
    // required equal: a merge, on the table or on the restore point, may have merged some already,
    // and a merge changes rows, not what FINAL reads.
    const engine = engines.get(objectKey(table)) ?? '';
    const final = isThere && mergesByOrder(engine) && (await readsFinal(target, table.database, table.name, engine))
      ? { before: await digestsOf(run.restorePoint.database, table.snapshotTable as string, true), after: await digestsOf(table.database, table.name, true) }
      : undefined;
    const sameRows =
      JSON.stringify(before) === JSON.stringify(after) &&
      before.every((p) => rows.get(p.partitionId) === p.rows) &&
      // An empty table without partitions still reads as one digest of 0 rows (`all`) on 18.16.
      before.filter((p) => p.rows > 0).length === [...rows.values()].filter((n) => n > 0).length;
    const match = isThere && (final ? JSON.stringify(final.before) === JSON.stringify(final.after) : sameRows);
    verified[i] = { database: table.database, table: table.name, before, after, match, ...(final ? { final } : {}) };
  });
  const matched = verified.filter((v) => v.match).length;
  return { verified, leftovers, counts: { verified: verified.length, matched, leftovers: leftovers.length } };
}

/** The run's record in its manifest (see {@link RunRecord}). */
async function readRunRecord(manifest: Manifest, run: RecordedRun): Promise<RunRecord> {
  const { runKey, conn: target } = manifest;
  const ours = <T extends { database: string }>(list: string, items: T[] | null) => items && refuseOutsideRun(runKey, list, items, run.databases);
  const [restore, digests, intent] = await Promise.all([
    manifest.read<RestorePointTable>(MANIFEST_LISTS.restore).then((items) => ours(MANIFEST_LISTS.restore, items) as RestorePointTable[]),
    manifest.readIfAny<RestorePointDigests[number]>(MANIFEST_LISTS.digests).then((items) => ours(MANIFEST_LISTS.digests, items)),
    manifest.readIfAny<IntentEntry>(MANIFEST_LISTS.intent).then((items) => ours(MANIFEST_LISTS.intent, items)),
  ]);
  const created = intent || run.recordsIntent ? createdByIntent(intent ?? []) : await createdBeforeIntents(manifest, run, restore);
  const journal = ours(MANIFEST_LISTS.journal, await readJournal(target, runKey, manifest.keyring));
  const written = journal || run.recordsIntent ? writtenByJournal(journal ?? []) : await writtenByPlan(manifest, run);
  return { restore, digests, created, written };
}

/** The partitions the journal names, per table. */
function writtenByJournal(journal: JournalEntry[]): RunRecord['written'] {
  const written = new Map<string, Written>();
  for (const entry of journal) {
    const key = tableKey(entry.database, entry.table);
    written.set(key, (written.get(key) ?? new Map()).set(entry.partitionId, entry.retaken ? entry.rowsBefore : null));
  }
  return written;
}

/**
 * What a run that kept no journal may have written (it began copying on a worker that wrote
 * none): every partition of its bulk copy and sync passes, whose lists it recorded before copying.
 */
async function writtenByPlan(manifest: Manifest, run: RecordedRun): Promise<RunRecord['written']> {
  const written = new Map<string, Written>();
  const lists = (await manifest.listsNamed('')).filter((name) => name === MANIFEST_LISTS.units || name.startsWith(RESYNC_PREFIX));
  for (const list of lists) {
    for (const unit of refuseOutsideRun(run.runKey, list, await manifest.read<ManifestUnit>(list), run.databases)) {
      const key = tableKey(unit.database, unit.table);
      const ids = written.get(key) ?? new Map<string, number | null>();
      for (const id of partitionIdsOf(unit)) ids.set(id, null);
      written.set(key, ids);
    }
  }
  return written;
}

/** The objects and databases an intent names, and the cluster they were created on. */
function createdByIntent(intent: IntentEntry[]): RunRecord['created'] {
  const objects = intent.filter((e) => e.name !== undefined).map((e) => objectKey({ database: e.database, name: e.name as string }));
  const cluster = intent.find((e) => e.cluster !== undefined)?.cluster;
  return { objects: new Set(objects), databases: intent.filter((e) => e.name === undefined).map((e) => e.database), ...(cluster === undefined ? {} : { cluster }) };
}

/**
 * What a run may have created when its schema step began on a worker that recorded no intent: the
 * objects it wrote down after creating them or, if it wrote none, the objects of its plan that the
 * restore point did not hold.
 */
async function createdBeforeIntents(manifest: Manifest, run: RecordedRun, restore: RestorePointTable[]): Promise<RunRecord['created']> {
  const databases = run.databases.filter((d) => !run.restorePoint.existingDatabases.includes(d));
  const listed = await manifest.readIfAny<string>(MANIFEST_LISTS.created);
  if (listed) return { objects: new Set(listed), databases };
  const captured = new Set(restore.map(objectKey));
  const planned = refuseOutsideRun(run.runKey, MANIFEST_LISTS.objects, (await manifest.readIfAny<PlannedObject>(MANIFEST_LISTS.objects)) ?? [], run.databases);
  return { objects: new Set(planned.filter((o) => !o.inner && !captured.has(objectKey(o))).map(objectKey)), databases };
}

/**
 * Puts back the partitions `written` of `table` as the restore point holds them: each one it holds
 * is replaced from the snapshot (`REPLACE PARTITION`, at once), each one it does not hold is
 * dropped. A table without partitions is rebuilt beside the live one from the snapshot and
 * swapped in. Returns what was discarded.
 */
async function restoreWritten(target: ClickHouseConnection, run: RecordedRun, table: RestorePointTable, written: Written, partitionsNow: PartitionSize[]): Promise<RollbackDiscard[]> {
  const live = qualifiedName(table.database, table.name);
  const snapshot = qualifiedName(run.restorePoint.database, table.snapshotTable as string);
  const restoredRows = rowsToRestore(table, written);
  const discard = (partitionId: string, rowsDiscarded: number): RollbackDiscard => ({
    database: table.database,
    table: table.name,
    partitionId,
    rowsRestored: restoredRows.get(partitionId) ?? 0,
    rowsDiscarded,
  });
  if (table.kind === 'whole-table') {
    const rows = await countRows(target, table.database, table.name);
    const rebuilt = stagingTable(run.runKey, 'rollback', table.database, table.name);
    await target.exec(`DROP TABLE IF EXISTS ${qualifiedName(table.database, rebuilt)}`);
    await execDdl(target, `CREATE TABLE ${qualifiedName(table.database, rebuilt)} AS ${snapshot}`);
    await copyRowsWithin(target, { database: run.restorePoint.database, table: table.snapshotTable as string }, { database: table.database, table: rebuilt });
    await swapIn(target, table.database, table.name, rebuilt, retiredTable(run.runKey, 'rollback', table.database, table.name));
    return [discard('all', rows)];
  }
  const now = new Map(partitionsNow.map((p) => [p.partitionId, p.rows]));
  const ids = [...written.keys()].sort();
  const replaced = ids.filter((id) => (restoredRows.get(id) ?? 0) > 0);
  const dropped = ids.filter((id) => !replaced.includes(id) && (now.get(id) ?? 0) > 0);
  await alterPartitions(target, live, replaced, (id) => `REPLACE PARTITION ID ${id} FROM ${snapshot}`);
  // The snapshot lacks the partitions to drop: a replica that may not drop them empties them from it.
  await emptyPartitions(target, live, dropped, { replicated: replicatedEngineOf(table.createTableQuery) !== null, twin: snapshot });
  return ids.filter((id) => (now.get(id) ?? 0) > 0).map((id) => discard(id, now.get(id) ?? 0));
}

/** The rows each written partition of `table` holds again after the rollback. */
function rowsToRestore(table: RestorePointTable, written: Written): Map<string, number> {
  const atRestorePoint = new Map(table.partitions.map((p) => [p.partitionId, p.rows]));
  return new Map([...written].map(([id, retaken]) => [id, retaken ?? atRestorePoint.get(id) ?? 0]));
}

/**
 * What each written partition of `table` must hold after the rollback: the digests recorded at
 * the restore point, or, for a partition the restore point took again later (and for a run that
 * recorded none), the digests of the snapshot's hard-linked, unchanging parts.
 */
async function expectedDigests(
  target: ClickHouseConnection,
  run: RecordedRun,
  table: RestorePointTable,
  digests: RestorePointDigests | null,
  written: Written,
): Promise<PartitionDigest[]> {
  const recorded = digests?.find((d) => d.database === table.database && d.table === table.name)?.partitions;
  const fromSnapshot = [...written].filter(([, retaken]) => retaken !== null || !recorded).map(([id]) => id);
  const fromRecord = (recorded ?? []).filter((p) => written.get(p.partitionId) === null);
  if (fromSnapshot.length === 0) return fromRecord;
  const columns = await listColumns(target, run.restorePoint.database, table.snapshotTable as string);
  const taken = await partitionDigests(target, run.restorePoint.database, table.snapshotTable as string, columns, { partitioned: table.kind === 'partitioned', partitionIds: fromSnapshot });
  return [...fromRecord, ...taken].sort((a, b) => (a.partitionId < b.partitionId ? -1 : a.partitionId > b.partitionId ? 1 : 0));
}

/** The restore point's tables that the run wrote to (and that the restore point holds data of). */
function writtenTables(record: RunRecord): RestorePointTable[] {
  return record.restore.filter((t) => t.snapshotTable && record.written.has(objectKey(t)));
}

const tableName = (t: RestorePointTable): TableName => ({ database: t.database, table: t.name });
/** The key of a table in the catalogue's maps (database NUL table). */

/** Verdicts cut to what the state document holds: those that do not match first. */
function boundedVerdicts(verified: RollbackReport['verified']): RollbackReport['verified'] {
  return firstOfSelectedFirst(verified, (v) => !v.match, DETAIL_LIMIT).map((v) => ({ ...v, before: firstOf(v.before, DIGEST_LIMIT), after: firstOf(v.after, DIGEST_LIMIT) }));
}

/** A rollback report cut to what the state document holds, with the totals. */
export function boundedReport(report: RollbackReport): RollbackReport {
  const discarded = report.discarded ?? [];
  const leftovers = report.leftovers ?? [];
  return {
    dropped: firstOf(report.dropped, DETAIL_LIMIT),
    restored: firstOf(report.restored, DETAIL_LIMIT),
    verified: boundedVerdicts(report.verified),
    kept: firstOf(report.kept ?? [], DETAIL_LIMIT),
    discarded: firstOf(discarded, DETAIL_LIMIT),
    leftovers: firstOf(leftovers, DETAIL_LIMIT),
    counts: {
      dropped: report.dropped.length,
      restored: report.restored.length,
      verified: report.verified.length,
      matched: report.verified.filter((v) => v.match).length,
      discarded: discarded.length,
      leftovers: leftovers.length,
    },
  };
}

/**
 * The rollback of a run of changes: every table the run's statements reached goes back to the
 * restore point, DDL and rows, and the proof compares each with it.
 */
import { execDdl } from '../../clickhouse/capabilities';
import { listColumns, listTables, mergesByOrder, type TableInfo } from '../../clickhouse/catalog';
import { INNER_TABLE_PREFIX } from '../../workflows/objects';
import type { ClickHouseConnection } from '../../clickhouse/connection';
import { rewriteCreateStatement } from '../../clickhouse/ddl';
import { partitionDigests, readsFinal, type PartitionDigest } from '../../clickhouse/fingerprint';
import { qualifiedName } from '../../clickhouse/sql';
import { describeStatement } from '../../clickhouse/statements';
import { alterPartitions, copyRowsWithin } from '../../clickhouse/table-ops';
import { MANIFEST_LISTS, type RestorePoint, type RestorePointDigests, type RestorePointTable, type RollbackReport } from '../../workflows/types';
import { stopRunStatements } from '../context';
import { isView } from '../inventory';
import { Manifest, refuseOutsideRun } from '../manifest';
import type { Keyring } from '../../secrets';
import { killMutations } from './mutations';

/** What a rollback of changes works from. */
export interface ChangesRollback {
  runKey: string;
  database: string;
  restorePoint: RestorePoint;
  /** The objects (unqualified) the run's statements write, the tracking table among them. */
  touched: string[];
}

/**
 * Stops the run's statements and the mutations of what it touched, drops what it created, and puts
 * every touched table (and what its materialized views fill) back as the restore point has it:
 * dropped and created again from the captured DDL, so a changed type or a dropped table comes back
 * too, then refilled from the snapshot by hard links. Tables the run did not touch are left as
 * they are. Then proves it: same DDL, same per-partition digests. Safe to retry.
 */
export async function rollbackChanges(target: ClickHouseConnection, run: ChangesRollback, keyring: Keyring): Promise<RollbackReport> {
  await stopRunStatements(target);
  const manifest = new Manifest(target, run.runKey, keyring);
  const captured = refuseOutsideRun(run.runKey, MANIFEST_LISTS.restore, await manifest.read<RestorePointTable>(MANIFEST_LISTS.restore), [run.database]);
  const recorded = refuseOutsideRun(run.runKey, MANIFEST_LISTS.digests, await manifest.read<RestorePointDigests[number]>(MANIFEST_LISTS.digests), [run.database]);
  const byName = new Map(captured.filter((t) => t.database === run.database).map((t) => [t.name, t]));
  const present = new Map((await listTables(target, [run.database])).map((t) => [t.name, t]));
  const scope = reachedBy(run.touched, captured, run.database);
  await killMutations(target, run.database, [...scope].filter((name) => present.has(name)));

  const report: Required<Pick<RollbackReport, 'dropped' | 'restored' | 'verified' | 'leftovers'>> = { dropped: [], restored: [], verified: [], leftovers: [] };
  // Everything in scope goes, views first: what the run created, and what it changed (it comes back below).
  const going = [...scope].map((name) => present.get(name)).filter((t): t is TableInfo => t !== undefined && !t.inner);
  for (const object of going.sort((a, b) => Number(isView(b)) - Number(isView(a)))) {
    await target.exec(`DROP TABLE IF EXISTS ${qualifiedName(run.database, object.name)}`);
    if (!byName.has(object.name)) report.dropped.push(`${run.database}.${object.name}`);
  }
  const restoring = [...scope].map((name) => byName.get(name)).filter((t): t is RestorePointTable => t !== undefined);
  // Tables before views; an inner table comes back with its view.
  const order = (t: RestorePointTable) => (t.kind === 'view' || t.kind === 'materialized-view' ? 1 : 0);
  for (const table of [...restoring].sort((a, b) => order(a) - order(b))) {
    if (table.name.startsWith('.inner')) continue;
    await target.exec(`DROP TABLE IF EXISTS ${qualifiedName(table.database, table.name)}`);
    await execDdl(target, rewriteCreateStatement(table.createTableQuery, table.database, table.name).sql);
  }
  for (const table of restoring.filter((t) => t.snapshotTable)) {
    await refill(target, run.restorePoint.database, table);
    report.restored.push({ database: table.database, table: table.name, partitions: table.partitions.length });
  }
  const after = new Map((await listTables(target, [run.database])).map((t) => [t.name, t]));
  for (const name of scope) {
    if (after.has(name) && !byName.has(name) && !after.get(name)?.inner) report.leftovers.push(`${run.database}.${name}`);
  }
  for (const table of restoring) {
    report.verified.push(await proveTable(target, run.restorePoint.database, table, after.get(table.name), recorded));
  }
  const matched = report.verified.filter((v) => v.match).length;
  return { ...report, counts: { dropped: report.dropped.length, restored: report.restored.length, verified: report.verified.length, matched, leftovers: report.leftovers.length } };
}

/**
 * The objects of the database a rollback puts back: those the statements named, and what the
 * materialized views of those fill (their `TO` table, or their inner table), as the restore point
 * describes them.
 */
function reachedBy(touched: readonly string[], captured: readonly RestorePointTable[], database: string): Set<string> {
  const scope = new Set(touched);
  const views = captured.filter((t) => t.database === database && t.kind === 'materialized-view');
  for (let grown = true; grown; ) {
    grown = false;
    for (const view of views) {
      // What the view reads, judged from its DDL's words: a false match restores one table more, never one less.
      const reads = (name: string) => new RegExp(`(^|[^A-Za-z0-9_])${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}($|[^A-Za-z0-9_])`).test(view.createTableQuery);
      const fills = describeStatement(view.createTableQuery).writes.filter((w) => w.database === null || w.database === database).map((w) => w.name);
      fills.push(`.inner.${view.name}`);
      const feeds = [...scope].some((name) => reads(name) && !fills.includes(name));
      if (!feeds) continue;
      for (const name of [view.name, ...fills]) {
        if (!scope.has(name) && captured.some((t) => t.name === name)) {
          scope.add(name);
          grown = true;
        }
      }
    }
  }
  // A view and its inner table go together: dropping the view drops the table, and the table comes back with its view.
  for (const name of [...scope]) if (name.startsWith(INNER_TABLE_PREFIX)) scope.add(name.slice(INNER_TABLE_PREFIX.length));
  for (const view of views) if (scope.has(view.name) && captured.some((t) => t.name === `.inner.${view.name}`)) scope.add(`.inner.${view.name}`);
  return scope;
}

/** Puts a recreated table's rows back from its snapshot: partitions by hard link, small tables by copy. */
async function refill(target: ClickHouseConnection, snapshotDatabase: string, table: RestorePointTable): Promise<void> {
  const snapshot = table.snapshotTable as string;
  if (table.kind === 'whole-table') {
    await copyRowsWithin(target, { database: snapshotDatabase, table: snapshot }, { database: table.database, table: table.name });
    return;
  }
  const live = qualifiedName(table.database, table.name);
  await alterPartitions(target, live, table.partitions.map((p) => p.partitionId), (id) => `REPLACE PARTITION ID ${id} FROM ${qualifiedName(snapshotDatabase, snapshot)}`);
}

/**
 * One restored object against the restore point: its DDL as captured, and (for a table) its
 * per-partition digests as recorded when the restore point was taken. Engines that merge rows by
 * their order are compared as `SELECT … FINAL` reads them, snapshot against live.
 */
async function proveTable(
  target: ClickHouseConnection,
  snapshotDatabase: string,
  table: RestorePointTable,
  live: TableInfo | undefined,
  recorded: RestorePointDigests,
): Promise<RollbackReport['verified'][number]> {
  const base = { database: table.database, table: table.name };
  if (!live) return { ...base, before: [], after: [], match: false };
  const sameDdl = live.createTableQuery === table.createTableQuery;
  if (!table.snapshotTable) return { ...base, before: [], after: [], match: sameDdl };
  const columns = await listColumns(target, table.database, table.name);
  const partitioned = table.kind === 'partitioned';
  const final = mergesByOrder(live.engine) && (await readsFinal(target, table.database, table.name, live.engine));
  const snapshotDigests = () => partitionDigests(target, snapshotDatabase, table.snapshotTable as string, columns, { partitioned, final });
  const recordedDigests: PartitionDigest[] | undefined = recorded.find((d) => d.database === table.database && d.table === table.name)?.partitions;
  const before = final || !recordedDigests ? await snapshotDigests() : recordedDigests;
  const after = await partitionDigests(target, table.database, table.name, columns, { partitioned, final });
  const rowsAsCaptured = final || table.partitions.filter((p) => p.rows > 0).every((p) => after.find((a) => a.partitionId === p.partitionId)?.rows === p.rows);
  return { ...base, before, after, match: sameDdl && rowsAsCaptured && JSON.stringify(before) === JSON.stringify(after), ...(final ? { final: { before, after } } : {}) };
}

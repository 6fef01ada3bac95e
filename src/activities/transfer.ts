import { pipeline } from 'node:stream/promises';
import { PassThrough, type Transform } from 'node:stream';
import { copySettings, type Capabilities } from '../clickhouse/capabilities';
import { activeParts, columnsOf, countRows, existingDatabases, mergesByOrder, listColumns, partitionSelectors, partitionSizes, partitionSizesIn, partitionSizesOf, tablesWithViews, type PartitionSize } from '../clickhouse/catalog';
import type { ClickHouseConnection, ConnectionSettings } from '../clickhouse/connection';
import { createTwin, emptyPartitions, swapIn } from '../clickhouse/table-ops';
import { ClickHouseQueryError } from '../clickhouse/errors';
import { isReplicatedEngine } from '../clickhouse/ddl-replication';
import { combinedChecksum, partitionDigests, readsFinal, type PartitionDigest, type StoredColumn } from '../clickhouse/fingerprint';
import { manifestDatabase, restorePointDatabase, retiredTable, scratchDatabases, stagingPrefix, stagingTable } from '../clickhouse/scratch';
import { qualifiedName, quoteIdentifier, quoteString, quoteStringList } from '../clickhouse/sql';
import { firstOf } from '../workflows/bounded';
import {
  DETAIL_LIMIT,
  FAILURE_TYPES,
  PROGRESS_TABLES,
  type TablePlan,
  type CopyPlanSummary,
  type CopyResult,
  type CopyUnit,
  type ManifestUnit,
  type RangeCopyResult,
  type UnitRange,
  type VerifyPageResult,
  type EndpointRef,
  type ConflictPolicy,
  type PlannedObject,
  type TableVerification,
  type TransferPath,
  type VerificationReport,
  type TransferMode,
  type ReplicationOptions,
} from '../workflows/types';
import type { CopyColumns } from '../clickhouse/column-compat';
import { compareTables, dataCopyColumns, dataFingerprintColumns, extraColumnsCheck, verifyStructures, type RenamedTable } from './modes';
import { createRecordedSchema, createSchemaOf, nameOfKey } from './schema';
import { currentAttempt, forEachConcurrently, stopRunStatements, heartbeatNow, heartbeating, permanent, previousHeartbeat, withConnections, type ActivityDeps } from './context';
import { holdsData } from './inventory';
import { remoteSource } from './remote';
import { replicatedTablesIn, verifyReplicas } from './replica-sync';
import { partitionIdsOf, partRounds, planUnits } from './copy-plan';
import { openJournal, type BatchJournal } from './journal';
import { pacedStream, pacerOf, settleUnit } from './paced';
import { whileSampling } from './replication-sampler';
import type { Pacer } from './throttle';
import type { LaneRate } from '../workflows/copy-scheduler';
import { Manifest, MANIFEST_LISTS, resyncList } from './manifest';
import { copyLabel, rangeCuts, rangesAt } from '../workflows/ranges';
import { namesTable, objectKey, splitTableKey, tableKey } from '../workflows/table-key';
import { sourceDatabaseOf } from '../workflows/database-map';

/** The migration step: schema, data, verification, and cleanup of staging. */
export function createTransferActivities(deps: ActivityDeps) {
  return {
    /**
     * Creates the databases and objects of the plan on the target, in plan order, with
     * `IF NOT EXISTS`. Views that read views are retried until their dependencies exist.
     * Returns the names of the objects that did not exist before. With `replication.cluster`,
     * everything is created `ON CLUSTER` it.
     */
    async createSchema(req: { target: EndpointRef; objects: PlannedObject[]; replication?: ReplicationOptions }): Promise<string[]> {
      return withConnections(deps, { target: req.target }, ({ target }) => heartbeating(() => ({ step: 'schema' }), () => createSchemaOf(target, req.objects, req.replication?.cluster)));
    },

    /**
     * `createSchema` for a run with a manifest: the plan's objects are read from it, and what the
     * run creates is recorded in it before any is created (see `createRecordedSchema`), and
     * written to it after. `onConflict` is the run's policy: the target is checked against it
     * once more. Returns how many objects were created and the first names.
     */
    async createSchemaPaged(req: { runKey: string; target: EndpointRef; onConflict?: ConflictPolicy; mode?: TransferMode; replication?: ReplicationOptions }): Promise<{ created: number; names: string[] }> {
      return withConnections(deps, { target: req.target }, ({ target }) =>
        heartbeating(() => ({ step: 'schema' }), async () => {
          const manifest = new Manifest(target, req.runKey, deps.keyring);
          const created = await createRecordedSchema(manifest, req.onConflict, req.mode, req.replication?.cluster);
          await manifest.write(MANIFEST_LISTS.created, created);
          return { created: created.length, names: firstOf(created, DETAIL_LIMIT).map(nameOfKey) };
        }),
      );
    },

    /**
     * Lists the units of copy as the source has them now, from the servers' part metadata (one
     * query per server): small partitions of a table grouped into one unit up to GROUP_BYTES, a
     * small table as one unit without a condition, and target partitions the source does not have
     * (copying them empties them). A table the run created, and that no materialized view on the
     * target reads, is marked to be filled directly instead of through staging.
     */
    async planCopy(req: { source: EndpointRef; target: EndpointRef; objects: PlannedObject[]; created?: string[]; unitBytes?: number }): Promise<CopyUnit[]> {
      return withConnections(deps, { source: req.source, target: req.target }, ({ source, target }) =>
        heartbeating(() => ({ step: 'plan' }), () => planCopyOf(source, target, req.objects, req.created ?? [], req.unitBytes)),
      );
    },

    /**
     * `planCopy` for a run with a manifest: reads the plan's objects and what the run created
     * from it, writes the units to it (the last of each table marked) and returns their totals.
     */
    async planCopyPaged(req: { runKey: string; source: EndpointRef; target: EndpointRef; unitBytes?: number; parallelism?: number }): Promise<CopyPlanSummary> {
      return withConnections(deps, { source: req.source, target: req.target }, ({ source, target }) =>
        heartbeating(() => ({ step: 'plan' }), async () => {
          const manifest = new Manifest(target, req.runKey, deps.keyring);
          const [objects, created] = await Promise.all([manifest.read<PlannedObject>(MANIFEST_LISTS.objects), manifest.read<string>(MANIFEST_LISTS.created)]);
          const units: ManifestUnit[] = await planCopyOf(source, target, objects, created, req.unitBytes);
          units.forEach((unit, i) => {
            if (i === units.length - 1 || tableKeyOf(units[i + 1]) !== tableKeyOf(unit)) unit.last = true;
          });
          await manifest.write(MANIFEST_LISTS.units, units);
          const cuts = rangeCuts(units, req.parallelism ?? 1);
          const labels = rangesAt(MANIFEST_LISTS.units, cuts).map((r) => copyLabel(units.slice(r.from, r.to)));
          const totals = { rows: units.reduce((n, u) => n + u.rows, 0), bytes: units.reduce((n, u) => n + u.bytes, 0) };
          return { units: units.length, tables: units.filter((u) => u.last).length, ...totals, cuts, labels, largest: largestTables(units, PROGRESS_TABLES) };
        }),
      );
    },

    /**
     * Makes each unit of a batch on the target equal to the source, one after the other, and
     * heartbeats after each one: a retry (after a crash, say) skips the units already done.
     * A unit is copied into a fresh staging table, then swapped in (`REPLACE PARTITION`, or a
     * rename for small tables), so copying it twice leaves the target as copying it once.
     * Never fires materialized views on the target. With `rate` (this activity's share of the
     * run's limits), it keeps to it: see `throttle.ts`.
     */
    async copyUnits(req: { runKey: string; source: EndpointRef; target: EndpointRef; units: CopyUnit[]; path: TransferPath; rate?: LaneRate; mode?: TransferMode }): Promise<CopyResult & { units: number }> {
      return withConnections(deps, { source: req.source, target: req.target }, async ({ source, target }) => {
        const progress = await copyBatch(deps, source, target, req, req.units);
        return { rows: progress.rows, bytes: progress.bytes, units: progress.done.length };
      });
    },

    /**
     * `copyUnits` for a run with a manifest: the batch is a range of a manifest list. Returns, with
     * the totals, the tables whose last unit it copied and the rows it copied per table.
     */
    async copyUnitRange(req: { runKey: string; source: EndpointRef; target: EndpointRef; range: UnitRange; path: TransferPath; rate?: LaneRate; mode?: TransferMode }): Promise<RangeCopyResult> {
      return withConnections(deps, { source: req.source, target: req.target }, async ({ source, target }) => {
        const units = await new Manifest(target, req.runKey, deps.keyring).read<ManifestUnit>(req.range.list, req.range);
        const { result: progress, sample } = await whileSampling(source, units, () => copyBatch(deps, source, target, req, units));
        const tables = Object.entries(progress.tables ?? {}).map(([key, rows]) => {
          const { database, table } = splitTableKey(key);
          return { database, table, rows, bytes: progress.tableBytes?.[key] ?? 0 };
        });
        return { rows: progress.rows, bytes: progress.bytes, units: progress.done.length, tablesDone: units.filter((u) => u.last).length, tables, ...(sample ? { sourceReplication: sample } : {}) };
      });
    },

    /**
     * Compares count and checksum of every partition on both sides. Returns per-table results
     * and the units that differ or that only the target has.
     */
    async verifyData(req: { source: EndpointRef; target: EndpointRef; objects: PlannedObject[]; replication?: ReplicationOptions }): Promise<VerificationReport> {
      return withConnections(deps, { source: req.source, target: req.target }, ({ source, target }) =>
        heartbeating(() => ({ step: 'verify' }), async () => {
          const report = await verifyObjects(source, target, req.objects);
          const units = report.mismatched.length + report.extra.length;
          const replicas = await verifyReplicas(deps, target, req.target, req.objects, { tables: report.tables, units }, req.replication);
          return replicas ? { ...report, replicas } : report;
        }),
      );
    },

    /**
     * `verifyData` for a run with a manifest, over the plan's objects `from` to `to`: the units
     * to copy again go to the manifest list `resyncList(pass, page)`; returns every table's
     * verdict, and how many units that list holds.
     */
    async verifyPage(req: { runKey: string; source: EndpointRef; target: EndpointRef; from: number; to: number; pass: number; page: number; mode?: TransferMode; replication?: ReplicationOptions }): Promise<VerifyPageResult> {
      return withConnections(deps, { source: req.source, target: req.target }, ({ source, target }) =>
        heartbeating(() => ({ step: 'verify', page: req.page }), async () => {
          const manifest = new Manifest(target, req.runKey, deps.keyring);
          const objects = await manifest.read<PlannedObject>(MANIFEST_LISTS.objects, req);
          const list = resyncList(req.pass, req.page);
          // A schema run compares structures only: there are no rows to copy again.
          if (req.mode === 'schema') return { tables: await verifyStructures(source, target, objects), resync: { list, units: 0, sample: [] } };
          const report = await verifyObjects(source, target, objects, req.mode);
          const again = [...report.mismatched, ...report.extra];
          if (again.length > 0) await manifest.write(list, again);
          const sample = firstOf(again, DETAIL_LIMIT).map((u) => ({ database: u.database, table: u.table, partitionId: u.partitionId }));
          // Once every table matches on the connected replica, the other replicas are waited for and compared.
          const replicas = await verifyReplicas(deps, target, req.target, objects, { tables: report.tables, units: again.length }, req.replication);
          return { tables: report.tables, resync: { list, units: again.length, sample }, ...(replicas ? { replicas } : {}) };
        }),
      );
    },

    /**
     * Drops every staging table and scratch database a run may have left on the target; with
     * `restorePoint`, its restore-point database too (for a run that ends before it recorded one:
     * a backup cancelled mid-way may still have created it).
     */
    async dropStaging(req: { target: EndpointRef; runKey: string; databases: string[]; restorePoint?: boolean; keepManifest?: boolean }): Promise<string[]> {
      return withConnections(deps, { target: req.target }, ({ target }) => heartbeating(() => ({ step: 'drop staging' }), async () => {
        // A statement of the run that outlived its activity (its worker died) may still write to staging.
        await stopRunStatements(target);
        const scratch = [
          ...scratchDatabases(req.runKey),
          ...(req.restorePoint ? [restorePointDatabase(req.runKey)] : []),
          // The manifest describes the restore point: a rollback still needs it.
          ...(req.keepManifest ? [] : [manifestDatabase(req.runKey)]),
        ];
        for (const database of scratch) await target.exec(`DROP DATABASE IF EXISTS ${quoteIdentifier(database)}`);
        const databases = await existingDatabases(target, req.databases);
        if (databases.length === 0) return [];
        const leftovers = await target.rows<{ database: string; name: string }>(
          `SELECT database, name FROM system.tables WHERE database IN (${quoteStringList(databases)})
           AND startsWith(name, ${quoteString(stagingPrefix(req.runKey))})`,
        );
        for (const t of leftovers) await target.exec(`DROP TABLE IF EXISTS ${qualifiedName(t.database, t.name)}`);
        return firstOf(leftovers.map((t) => `${t.database}.${t.name}`), DETAIL_LIMIT);
      }));
    },
  };
}

/**
 * The units of copy of `objects` as the source has them now, from the servers' part metadata (one
 * query per server); see `planCopy`.
 */
async function planCopyOf(source: ClickHouseConnection, target: ClickHouseConnection, all: PlannedObject[], created: readonly string[], unitBytes: number | undefined): Promise<CopyUnit[]> {
  const objects = all.filter(holdsData);
  const databases = [...new Set(objects.map((o) => o.database))];
  const sourceDatabases = [...new Set(objects.map(sourceDatabaseOf))];
  const [onSource, onTarget, read, replicatedOnTarget] = await Promise.all([
    partitionSizesIn(source, sourceDatabases),
    partitionSizesIn(target, databases),
    tablesWithViews(target, databases),
    replicatedTablesIn(target, databases),
  ]);
  const createdSet = new Set(created);
  const units: CopyUnit[] = [];
  for (const object of objects) {
    const key = objectKey(object);
    const from = sourceDatabaseOf(object);
    const renamed = object.sourceDatabase !== undefined ? { sourceDatabase: object.sourceDatabase } : {};
    if (object.kind === 'whole-table') {
      units.push({ database: object.database, ...renamed, table: object.name, partitionId: 'all', partitioned: false, rows: await countRows(source, from, object.name), bytes: 0 });
      continue;
    }
    const partitions = onSource.get(tableKey(from, object.name)) ?? [];
    const known = new Set(partitions.map((p) => p.partitionId));
    const ordered = mergesByOrder(object.engine);
    const replicated = isReplicatedEngine(object.engine) || replicatedOnTarget.has(key);
    const planned = planUnits({
      database: object.database,
      table: object.name,
      partitions,
      extraOnTarget: (onTarget.get(key) ?? []).map((p) => p.partitionId).filter((id) => !known.has(id)),
      // An ordered copy checks what it staged against the source's parts before it swaps it in. A
      // replicated one is staged too: a retry would have to empty partitions first, and 18.16 sends
      // DROP PARTITION and TRUNCATE from a replica that does not lead the table to the leader as
      // user `default` without a password (code 194); REPLACE PARTITION runs on any replica.
      direct: !ordered && !replicated && namesTable(createdSet, object.database, object.name) && read !== null && !read.has(key),
    }, unitBytes);
    for (const unit of planned) Object.assign(unit, renamed, ordered ? { ordered } : {}, replicated ? { replicated } : {});
    // Only a unit that is part of a table needs a condition; the server helps it prune parts.
    if (planned.some((u) => !u.whole && u.rows > 0)) {
      const selectors = await partitionSelectors(source, from, object.name, object.createTableQuery);
      for (const unit of planned) {
        const selector = unit.whole ? undefined : groupSelector(partitionIdsOf(unit), selectors);
        if (selector) unit.selector = selector;
      }
    }
    units.push(...largestFirst(planned));
  }
  return units;
}

/**
 * A table's units, the most rows first (ties keep partition order): the lanes then end close
 * together, instead of one lane copying a large last partition while the others wait.
 */
function largestFirst(units: CopyUnit[]): CopyUnit[] {
  return units.map((unit, i) => ({ unit, i })).sort((a, b) => b.unit.rows - a.unit.rows || a.i - b.i).map(({ unit }) => unit);
}

function tableKeyOf(unit: CopyUnit): string {
  return tableKey(unit.database, unit.table);
}

/**
 * Copies each unit of a batch, one after the other, and heartbeats as units finish: a retry (after
 * a crash, say) skips the units already done. Returns what was copied, rows per table included.
 *
 * The catalogue is read for the whole batch, not per unit: the columns of its tables, and what
 * the target holds of its direct units, each in one query. A direct unit is then one `INSERT`;
 * the rows it left on the target are counted for several units at once (see `settleEvery`). A
 * unit counts as done only once counted, so a retry copies again, from a clean partition, any unit
 * that an earlier attempt wrote but did not count.
 */
async function copyBatch(
  deps: ActivityDeps,
  source: ClickHouseConnection,
  target: ClickHouseConnection,
  req: { runKey: string; source: EndpointRef; path: TransferPath; rate?: LaneRate; mode?: TransferMode },
  units: CopyUnit[],
): Promise<BatchProgress> {
  const previous = previousHeartbeat<BatchProgress>();
  const progress: BatchProgress = previous?.done ? previous : { done: [], rows: 0, bytes: 0, tables: {}, tableBytes: {} };
  progress.tables ??= {};
  progress.tableBytes ??= {};
  const { tables, tableBytes } = progress;
  const record = (unit: CopyUnit, rows: number) => {
    progress.done.push(unitKey(unit));
    progress.rows += rows;
    progress.bytes += rows > 0 ? unit.bytes : 0;
    tables[tableKeyOf(unit)] = (tables[tableKeyOf(unit)] ?? 0) + rows;
    tableBytes[tableKeyOf(unit)] = (tableBytes[tableKeyOf(unit)] ?? 0) + (rows > 0 ? unit.bytes : 0);
  };
  return heartbeating(() => progress, async () => {
    const finished = new Set(progress.done);
    const todo = units.filter((u) => !finished.has(unitKey(u)));
    if (todo.length === 0) return progress;
    const staged = todo.filter((u) => !u.direct);
    const pacer = pacerOf(req.rate);
    const [copy, leftOnTarget, journal] = await Promise.all([
      copier(deps, source, target, req, todo, pacer),
      partitionSizesOf(target, todo.filter((u) => u.direct)),
      openJournal(target, req.runKey, uniqueTables(staged), deps.keyring),
    ]);
    let uncounted: CopyUnit[] = [];
    const settle = async () => {
      if (uncounted.length === 0) return;
      const now = await partitionSizesOf(target, uncounted);
      for (const unit of uncounted) record(unit, sumRows(partitionsOfUnit(now, unit)));
      uncounted = [];
      heartbeatNow(progress);
    };
    for (const unit of todo) {
      if (!unit.direct) {
        await settle();
        record(unit, await copyStaged(target, req.runKey, unit, copy, journal));
        heartbeatNow(progress);
        await settleUnit(pacer, unit);
        continue;
      }
      // A direct unit goes straight into the live table: see `copyStaged` for why that is safe.
      const live = qualifiedName(unit.database, unit.table);
      const left = partitionsOfUnit(leftOnTarget, unit);
      if (left.length > 0 && unit.whole) await target.exec(`TRUNCATE TABLE ${live}`);
      else for (const p of left) await target.exec(`ALTER TABLE ${live} DROP PARTITION ID ${quoteString(p.partitionId)}`);
      await copy(unit, live);
      uncounted.push(unit);
      await settleUnit(pacer, unit);
      if (settleEvery(uncounted)) await settle();
    }
    await settle();
    return progress;
  });
}

/** The tables of `units`, each once. */
function uniqueTables(units: readonly CopyUnit[]): RenamedTable[] {
  const byKey = new Map(units.map((u) => [tableKeyOf(u), { database: u.database, table: u.table, ...(u.sourceDatabase !== undefined ? { sourceDatabase: u.sourceDatabase } : {}) }]));
  return [...byKey.values()];
}

/** Direct units copied before their rows are counted, and heartbeated, together. */
const SETTLE_UNITS = 50;
/** A direct unit of this many bytes (planned, uncompressed) or more is counted on its own. */
const SETTLE_BYTES = 64 * 2 ** 20;

/**
 * Whether the direct units copied since the last count are counted now: after 50 of them, or
 * once they hold 64 MiB. Small units are counted together; a large one still shows its progress
 * as soon as it is done.
 */
function settleEvery(uncounted: readonly CopyUnit[]): boolean {
  return uncounted.length >= SETTLE_UNITS || uncounted.reduce((n, u) => n + u.bytes, 0) >= SETTLE_BYTES;
}

/** The partitions of `unit` in `parts` (all of its table's for a whole unit). */
function partitionsOfUnit(parts: Map<string, PartitionSize[]>, unit: CopyUnit): PartitionSize[] {
  const all = parts.get(tableKeyOf(unit)) ?? [];
  if (unit.whole) return all;
  const ids = new Set(partitionIdsOf(unit));
  return all.filter((p) => ids.has(p.partitionId));
}

const sumRows = (parts: readonly PartitionSize[]): number => parts.reduce((n, p) => n + p.rows, 0);

/** Verifies every object that holds data, a few tables at once: per table, a scan on each server. */
async function verifyObjects(source: ClickHouseConnection, target: ClickHouseConnection, all: PlannedObject[], mode?: TransferMode): Promise<VerificationReport> {
  const objects = all.filter(holdsData);
  const tables = objects.map((o) => ({ database: o.database, table: o.name, ...(o.sourceDatabase !== undefined ? { sourceDatabase: o.sourceDatabase } : {}) }));
  // The source's columns of every table in one query (on 18.16 each query of system.columns
  // costs milliseconds of server time), and a few tables at once hide the round trips of small ones.
  const columns = await columnsOf(source, objects.map((o) => ({ database: sourceDatabaseOf(o), table: o.name })));
  // A data run compares the columns both tables have, and checks the target's others hold their defaults.
  const shared = mode === 'data' ? await compareTables(source, target, tables) : null;
  const perTable: VerificationReport[] = new Array(objects.length);
  await forEachConcurrently(objects.map((object, i) => ({ object, i })), VERIFY_CONCURRENCY, async ({ object, i }) => {
    const comparison = shared?.get(objectKey(object));
    if (!comparison) return void (perTable[i] = await verifyTable(source, target, object, columns.get(tableKey(sourceDatabaseOf(object), object.name)) ?? []));
    const sides = dataFingerprintColumns(comparison);
    const report = await verifyTable(source, target, object, sides.onSource, sides.onTarget);
    const extraColumns = await extraColumnsCheck(target, object.database, object.name, comparison);
    const [verdict] = report.tables;
    report.tables = [{ ...verdict, match: verdict.match && extraColumns.every((c) => !c.differing), extraColumns }];
    perTable[i] = report;
  });
  return {
    tables: perTable.flatMap((r) => r.tables),
    mismatched: perTable.flatMap((r) => r.mismatched),
    extra: perTable.flatMap((r) => r.extra),
  };
}

/** Tables verified at once. */
const VERIFY_CONCURRENCY = 4;

/**
 * Compares one table partition by partition; the units that differ or that only the target has.
 *
 * A table whose engine merges rows by their order is compared by what `SELECT … FINAL` reads,
 * where both servers read it so: equal rows in another order read differently once merged, and
 * only `FINAL` shows it. Its stored rows are reported but do not decide: either server may merge
 * some of them at any moment (the target does, soon after a copy lands), which changes rows but
 * not what `FINAL` reads. Each unit's rows were counted against the source's parts as it was
 * staged (see `copyStaged`), before any merge of the target could touch them.
 */
async function verifyTable(
  source: ClickHouseConnection,
  target: ClickHouseConnection,
  object: PlannedObject,
  columns: readonly StoredColumn[],
  targetColumns: readonly StoredColumn[] = columns,
): Promise<VerificationReport> {
  const partitioned = object.kind === 'partitioned';
  const ordered = mergesByOrder(object.engine);
  // Compared by FINAL where both servers read the engine with it (see the configure step's warning).
  const from = sourceDatabaseOf(object);
  const renamed = object.sourceDatabase !== undefined ? { sourceDatabase: object.sourceDatabase } : {};
  const final = ordered && (await readsFinal(source, from, object.name, object.engine)) && (await readsFinal(target, object.database, object.name, object.engine));
  const digests = (conn: ClickHouseConnection, database: string, final: boolean) => partitionDigests(conn, database, object.name, conn === source ? columns : targetColumns, { partitioned, final });
  const [onSource, onTarget, finalOnSource, finalOnTarget] = await Promise.all([
    digests(source, from, false),
    digests(target, object.database, false),
    final ? digests(source, from, true) : [],
    final ? digests(target, object.database, true) : [],
  ]);
  const targetById = new Map(onTarget.map((d) => [d.partitionId, d]));
  const sourceIds = new Set(onSource.map((d) => d.partitionId));
  const readsAlike = sameReads(finalOnSource, finalOnTarget);
  const differing = onSource.filter((d) => {
    const t = targetById.get(d.partitionId);
    return final ? !readsAlike(d.partitionId) : !t || t.rows !== d.rows || t.checksum !== d.checksum;
  });
  const extra = onTarget.filter((d) => !sourceIds.has(d.partitionId));
  // A unit to copy again stages beside its table as the bulk copy's did (see `planCopyOf`): a
  // replicated table's twin is not replicated, whether the plan's engine says so or, in a data
  // run, only the target's own table does.
  const again = differing.length > 0 || extra.length > 0;
  const replicated = again && (isReplicatedEngine(object.engine) || (await replicatedTablesIn(target, [object.database])).has(objectKey(object)));
  const unit = (d: PartitionDigest, rows: number): CopyUnit => ({ database: object.database, ...renamed, table: object.name, partitionId: d.partitionId, partitioned, rows, bytes: 0, ...(ordered ? { ordered } : {}), ...(replicated ? { replicated } : {}) });
  const selectors = differing.length > 0 && partitioned ? await partitionSelectors(source, from, object.name, object.createTableQuery) : new Map<string, string>();
  return {
    tables: [tableVerification(object, { onSource, onTarget }, final ? { onSource: finalOnSource, onTarget: finalOnTarget } : undefined)],
    mismatched: differing.map((d) => ({ ...unit(d, d.rows), ...(selectors.has(d.partitionId) ? { selector: selectors.get(d.partitionId) } : {}) })),
    extra: extra.map((d) => unit(d, 0)),
  };
}

/**
 * Whether a partition reads alike on both sides, by the `FINAL` digests of each: a partition
 * whose rows all cancel out (collapsing engines) has no digest, and is equal to another without.
 */
function sameReads(onSource: readonly PartitionDigest[], onTarget: readonly PartitionDigest[]): (partitionId: string) => boolean {
  const bySource = new Map(onSource.map((d) => [d.partitionId, d]));
  const byTarget = new Map(onTarget.map((d) => [d.partitionId, d]));
  return (id) => {
    const s = bySource.get(id);
    const t = byTarget.get(id);
    return (s?.rows ?? 0) === (t?.rows ?? 0) && (s?.checksum ?? '0') === (t?.checksum ?? '0');
  };
}

/** What a batch heartbeats: the units it has finished, and their totals. */
interface BatchProgress {
  done: string[];
  rows: number;
  bytes: number;
  /** Rows copied per table (database NUL table); absent in the heartbeats of older workers. */
  tables?: Record<string, number>;
  /** Bytes (uncompressed, as planned) copied per table; absent in the heartbeats of older workers. */
  tableBytes?: Record<string, number>;
}

function unitKey(unit: CopyUnit): string {
  return `${tableKey(unit.database, unit.table)}\u0000${unit.partitionId}`;
}

/** The condition of a group: every partition's selector (when all have one), or nothing. */
function groupSelector(ids: string[], selectors: Map<string, string>): string | undefined {
  const each = ids.map((id) => selectors.get(id));
  if (each.some((s) => s === undefined)) return undefined;
  return each.length === 1 ? each[0] : `(${each.join(' OR ')})`;
}

/** The WHERE clause that selects a unit's rows on the source: none for a whole table. */
function unitCondition(unit: CopyUnit): string {
  if (!unit.partitioned || unit.whole) return '';
  const ids = partitionIdsOf(unit);
  const byId = ids.length === 1 ? `_partition_id = ${quoteString(ids[0])}` : `_partition_id IN (${quoteStringList(ids)})`;
  // A selector was proved to find exactly its partition's rows (see `partitionSelectors`), and a
  // row's partition follows from its key, so it alone stays exact as rows arrive; the source
  // prunes parts with it, and it spares the per-row test of `_partition_id` (about 5 % of a copy).
  return ` WHERE ${unit.selector ?? byId}`;
}

/**
 * Copies the rows of a unit into a table of the target (the live table, or a staging table).
 * For an ordered unit it returns how many rows the source's parts held when the copy began, or,
 * with `snapshot`, copies them as one statement and returns nothing (see {@link copier}).
 */
type Copier = (unit: CopyUnit, into: string, options?: { snapshot: boolean }) => Promise<number | undefined>;

/**
 * The copier of a batch of units: `INSERT INTO <into> (columns) SELECT … FROM <the source table>
 * <where>` on the chosen path. The columns are every stored column by name, MATERIALIZED ones
 * included (the target keeps the source's values), read for all the batch's tables at once.
 *
 * An ordered unit (its engine merges rows by their order) is read part by part instead, each
 * read in one thread so that a part's rows come as stored: one statement per round of
 * {@link partRounds}, at most one part per partition, so a partition's parts arrive one after the
 * other in block order. The target sorts each inserted block stably and numbers its parts in
 * arrival order (checked on 18.16 and 26.7), so its merges and `FINAL` see the source's order.
 * Each statement sees the parts active when it starts: a merge of the listed parts between two
 * rounds leaves the copy short, which its caller sees by the count. With `snapshot`, the unit is
 * read by one statement instead, ordered by part (`_part_index`, in block order) and by the row's
 * place in the part's single-threaded read: one consistent view of the source whatever merges
 * meanwhile, for the price of a sort (spilled to disk past {@link SORT_IN_MEMORY}).
 */
async function copier(
  deps: ActivityDeps,
  source: ClickHouseConnection,
  target: ClickHouseConnection,
  req: { source: EndpointRef; path: TransferPath; mode?: TransferMode },
  units: readonly CopyUnit[],
  pacer?: Pacer,
): Promise<Copier> {
  const { capabilities } = await target.server();
  const settings = copySettings(capabilities);
  const oneThread = { max_threads: 1, max_bytes_before_external_sort: SORT_IN_MEMORY };
  const inOrder = { ...settings, ...oneThread, ...(capabilities.maxInsertThreads ? { max_insert_threads: 1 } : {}) };
  const stored = await columnsOf(target, units);
  // A data run copies the columns the target shares with the source, converted to its types.
  const shared = req.mode === 'data' ? await dataCopyColumns(source, target, uniqueTables(units)) : null;
  const columnsOfUnit = async (unit: CopyUnit): Promise<CopyColumns> => {
    const own = shared?.get(tableKeyOf(unit));
    if (own) return own;
    let columns = stored.get(tableKeyOf(unit));
    if (!columns?.length) {
      // Not on the target when the batch began (dropped by someone?): the server says why, in its own error.
      await target.rows(`SELECT * FROM ${qualifiedName(unit.database, unit.table)} WHERE 0`);
      columns = await listColumns(target, unit.database, unit.table);
    }
    return { names: columns.map((c) => quoteIdentifier(c.name)).join(', ') };
  };
  /** Copies the rows `tail` selects (a WHERE clause and more) of the unit's source table. */
  let insert: (unit: CopyUnit, into: string, columns: CopyColumns, tail: string, ordered: boolean) => Promise<void>;
  if (req.path === 'server') {
    const remote = await remoteSource(deps, source, target, req.source);
    if (!remote.ok) throw permanent(FAILURE_TYPES.transferPathUnavailable, remote.reason);
    // The source runs the SELECT with the INSERT's settings, `max_threads` included.
    const throttled = networkThrottle(capabilities, pacer);
    insert = (unit, into, columns, tail, ordered) =>
      remote.exec((from) => `INSERT INTO ${into} (${columns.names}) ${selectOf(columns, from(sourceDatabaseOf(unit), unit.table), tail)}`, { ...(ordered ? inOrder : settings), ...throttled });
  } else {
    // Paced as it streams (see `pacedStream`); the server path is paced by whole units only.
    const through = (unit: CopyUnit) => (pacer ? pacedStream(pacer, unit) : new PassThrough({ highWaterMark: 4 * 1024 * 1024 }));
    insert = (unit, into, columns, tail, ordered) =>
      streamNative(source, target, selectOf(columns, qualifiedName(sourceDatabaseOf(unit), unit.table), tail), `INSERT INTO ${into} (${columns.names})`, ordered ? inOrder : settings, ordered ? oneThread : undefined, through(unit));
  }
  return async (unit, into, options) => {
    const columns = await columnsOfUnit(unit);
    if (!unit.ordered) return void (await insert(unit, into, columns, unitCondition(unit), false));
    if (options?.snapshot) return void (await insert(unit, into, columns, `${unitCondition(unit)} ORDER BY _part_index, rowNumberInAllBlocks()`, true));
    const parts = await activeParts(source, sourceDatabaseOf(unit), unit.table, unit.whole ? undefined : partitionIdsOf(unit));
    for (const round of partRounds(parts)) await insert(unit, into, columns, ` WHERE _part IN (${quoteStringList(round)})`, true);
    return parts.reduce((n, p) => n + p.rows, 0);
  };
}

/**
 * The server's own cap on a throttled copy's bursts, where it has `max_network_bandwidth`: it
 * limits compressed bytes, so at the pacer's peak it never slows a copy below its share (the
 * settlement of each unit keeps the average; see `throttle.ts`).
 */
function networkThrottle(capabilities: Capabilities, pacer: Pacer | undefined): ConnectionSettings {
  return capabilities.networkBandwidth && pacer?.peakBytesPerSecond ? { max_network_bandwidth: Math.ceil(pacer.peakBytesPerSecond) } : {};
}

/** The `SELECT` of a copy from `table`: its columns, converted over a subquery where a data run needs it (see `copyColumns`). */
function selectOf(columns: CopyColumns, table: string, tail: string): string {
  const select = `SELECT ${columns.names} FROM ${table}${tail}`;
  return columns.converted ? `SELECT ${columns.converted} FROM (${select})` : select;
}

/** Bytes an ordered copy's sort holds in memory before it spills to disk. */
const SORT_IN_MEMORY = 512 * 2 ** 20;

/**
 * Copies one unit through a fresh staging table, then swaps it in: `REPLACE PARTITION` per
 * partition, or a rename for a table without partitions. Copying it twice leaves the target as
 * copying it once, and materialized views on the target never fire. Before it replaces
 * anything, the journal notes the unit's partitions (see `journal.ts`), so a rollback restores
 * exactly them. Returns the rows staged.
 *
 * A direct unit (see `copyBatch`) skips staging: the run created its table, nothing else writes
 * to it, and no materialized view reads it. What an earlier attempt left of the unit is removed
 * first (that attempt's statements were stopped, and waited for, on entry: see
 * `withConnections`), so a retry copies it once; a rollback drops the table.
 */
async function copyStaged(target: ClickHouseConnection, runKey: string, unit: CopyUnit, copy: Copier, journal: BatchJournal): Promise<number> {
  const live = qualifiedName(unit.database, unit.table);
  // Each attempt stages apart: an earlier attempt's statement may still be writing to its own table.
  const attempt = String(currentAttempt());
  const name = stagingTable(runKey, attempt, unit.database, unit.table, unit.partitionId);
  const stage = qualifiedName(unit.database, name);
  await target.exec(`DROP TABLE IF EXISTS ${stage}`);
  await createTwin(target, stage, { database: unit.database, table: unit.table, replicated: unit.replicated === true });
  // The stage merges as the table does: a merge would drop rows before they are counted.
  if (unit.ordered) await stopMerges(target, stage);
  const expected = await copy(unit, stage);
  // An ordered copy reads the parts the source had when it began, a round at a time: a merge of
  // them meanwhile leaves the stage short of rows. It is then staged again from one snapshot.
  if (expected !== undefined && (await countRows(target, unit.database, name)) !== expected) {
    await target.exec(`TRUNCATE TABLE ${stage}`);
    await copy(unit, stage, { snapshot: true });
  }
  if (unit.partitioned) {
    // Only the unit's own partitions, which the manifest recorded before the copy began: a rollback
    // restores exactly those. A partition that appeared on the source since planning (a whole
    // unit's copy has no condition) reaches the target through a sync pass, recorded the same way.
    const ids = new Set(partitionIdsOf(unit));
    const staged = (await partitionSizes(target, unit.database, name)).filter((p) => ids.has(p.partitionId));
    await journal.beforeReplacing(unit.database, unit.table, [...ids]);
    const withRows = new Set(staged.map((p) => p.partitionId));
    for (const id of [...ids].filter((i) => withRows.has(i) || !unit.replicated)) {
      await target.exec(`ALTER TABLE ${live} REPLACE PARTITION ID ${quoteString(id)} FROM ${stage}`);
    }
    // A replicated table's partition that the source lacks is dropped: replaced by nothing, its
    // parts would wait on disk uncovered, and a replica restarted meanwhile may refuse the table.
    if (unit.replicated) await emptyPartitions(target, live, [...ids].filter((i) => !withRows.has(i)), { replicated: true, twin: stage });
    await target.exec(`DROP TABLE ${stage}`);
    return sumRows(staged);
  }
  const rows = await countRows(target, unit.database, name);
  await journal.beforeReplacing(unit.database, unit.table, ['all']);
  await swapIn(target, unit.database, unit.table, name, retiredTable(runKey, attempt, unit.database, unit.table));
  return rows;
}

/**
 * Stops the merges of a table the run owns, where the user may (newer servers ask for a grant):
 * where it may not, a merge may drop rows before they are counted, and the count then sends the
 * unit to the snapshot copy, which is just as exact.
 */
async function stopMerges(target: ClickHouseConnection, table: string): Promise<void> {
  try {
    await target.exec(`SYSTEM STOP MERGES ${table}`);
  } catch (err) {
    if (!(err instanceof ClickHouseQueryError && err.code !== undefined)) throw err;
  }
}

/** Streams `select` from the source in Native format into `insert` on the target, with backpressure. */
export async function streamNative(
  source: ClickHouseConnection,
  target: ClickHouseConnection,
  select: string,
  insert: string,
  insertSettings: ConnectionSettings,
  selectSettings?: ConnectionSettings,
  body: Transform = new PassThrough({ highWaterMark: 4 * 1024 * 1024 }),
): Promise<void> {
  const rows = await source.stream(`${select} FORMAT Native`, selectSettings);
  await Promise.all([pipeline(rows, body), target.insertStream(`${insert} FORMAT Native`, body, insertSettings)]);
}

/** Both sides' digests of one table, partition by partition. */
interface SidesDigests {
  onSource: PartitionDigest[];
  onTarget: PartitionDigest[];
}

/** One table's verdict: with `final`, whether what `SELECT … FINAL` reads is equal on both sides; without, whether its rows are. */
function tableVerification(object: PlannedObject, rows: SidesDigests, final?: SidesDigests): TableVerification {
  const totals = ({ onSource, onTarget }: SidesDigests) => ({
    sourceRows: onSource.reduce((n, d) => n + d.rows, 0),
    targetRows: onTarget.reduce((n, d) => n + d.rows, 0),
    sourceChecksum: combinedChecksum(onSource),
    targetChecksum: combinedChecksum(onTarget),
  });
  const alike = (sides: SidesDigests) => JSON.stringify(sides.onSource) === JSON.stringify(sides.onTarget);
  const read = final ? { ...totals(final), match: alike(final) } : undefined;
  return {
    database: object.database,
    table: object.name,
    ...totals(rows),
    match: read ? read.match : alike(rows),
    ...(read ? { final: read } : {}),
  };
}

/** The `limit` largest tables (by rows) that `units` copy in more than one unit, with what each copies. */
export function largestTables(units: readonly CopyUnit[], limit: number): TablePlan[] {
  const byTable = new Map<string, TablePlan>();
  for (const unit of units) {
    const key = tableKeyOf(unit);
    const plan = byTable.get(key) ?? { database: unit.database, table: unit.table, units: 0, rows: 0, bytes: 0 };
    plan.units += 1;
    plan.rows += unit.rows;
    plan.bytes += unit.bytes;
    byTable.set(key, plan);
  }
  return [...byTable.values()].filter((t) => t.units > 1).sort((a, b) => b.rows - a.rows || b.bytes - a.bytes).slice(0, limit);
}

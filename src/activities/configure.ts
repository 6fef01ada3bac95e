import { execDdl } from '../clickhouse/capabilities';
import { countRows, freeDiskBytes, listAllColumns, listTables, mergesByOrder, partitionSizes, settingValue, type ColumnInfo } from '../clickhouse/catalog';
import type { ClickHouseConnection } from '../clickhouse/connection';
import { rewriteCreateStatement } from '../clickhouse/ddl';
import { DDL_FEATURES, ddlFeaturesOf, probeDdlFeatures, type DdlFeature } from '../clickhouse/ddl-features';
import { ClickHouseQueryError, firstLine } from '../clickhouse/errors';
import { readsFinal } from '../clickhouse/fingerprint';
import { probeDatabase, withScratchDatabase } from '../clickhouse/scratch';
import { firstLines, firstOf } from '../workflows/bounded';
import { namedList } from '../workflows/markdown';
import { DETAIL_LIMIT, FAILURE_TYPES, type ConflictPolicy, type EndpointRef, type PlannedObject, type ReplicationOptions, type TableConflict, type TargetReport, type TransferMode } from '../workflows/types';
import { checkDataTargets } from './modes';
import { DDL_CONCURRENCY, forEachConcurrently, heartbeating, permanent, withConnections, type ActivityDeps } from './context';
import { holdsData, isView, takeInventory } from './inventory';
import { objectKey } from '../workflows/table-key';
import { sourceDatabaseOf, targetDatabasesOf, type Renames } from '../workflows/database-map';
import { planOnTarget, renameProblems } from './renames';
import type { TableFilters } from '../workflows/scope';
import { scopeReport } from './scope-report';
import { withoutReplication } from '../clickhouse/ddl-replication';
import { planOnReplicatedTarget } from './replication';
import { replicationProblems } from './replication-checks';
import { sideProblems, topologiesOf } from './replica-health';

/** Headroom on top of the source's on-disk size: merges and replaced parts need room while they settle. */
const DISK_HEADROOM = 1.2;

/** The configure step: is the target ready for what the source will send? */
export function createConfigureActivities(deps: ActivityDeps) {
  return {
    /**
     * Reports the target's version, capabilities, free disk, the space the data needs and the
     * conflicts with what is already there. Fails, without retrying, when anything blocks.
     */
    async checkTarget(req: {
      runKey: string;
      source: EndpointRef;
      target: EndpointRef;
      databases: string[];
      /** Source databases copied under another name (see src/workflows/database-map.ts). */
      renames?: Renames;
      onConflict: ConflictPolicy;
      /** What the backup step's rehearsal captured: a restore point can be taken on this target. */
      rehearsal?: { tables: number; rows: number };
      /** @default 'full' */
      mode?: TransferMode;
      replication?: ReplicationOptions;
    } & TableFilters): Promise<TargetReport> {
      return withConnections(deps, { source: req.source, target: req.target }, ({ source, target }) =>
        heartbeating(() => ({ step: 'configure' }), async () => {
        const [targetInfo] = await Promise.all([target.server(), source.server()]);
        const problems: string[] = [];
        const warnings: string[] = [];
        // Replica sets change while a run waits for its approval: checked again here.
        const topology = await topologiesOf(source, target, req);
        problems.push(...sideProblems(topology));
        const readonly = await settingValue(target, 'readonly');
        if (readonly !== '0') problems.push(`the target user "${req.target.username}" is read-only (readonly=${readonly})`);

        const { objects: onSource, unsupported, excluded } = await takeInventory(source, req.databases, req);
        // The filters name source databases: the scope is judged before the objects are renamed.
        const scope = scopeReport({ objects: onSource, excluded, unsupported }, req);
        problems.push(...scope.problems);
        // From here on the objects are named as the target will have them (renamed databases).
        const plan = planOnTarget(onSource, req.renames);
        const { objects, path } = await planOnReplicatedTarget(target, plan.objects, req.replication);
        problems.push(...(await replicationProblems(target, objects, req.replication)));
        const sourceColumns = keyedOnTarget(await listAllColumns(source, req.databases), objects);
        // With a target cluster, Distributed tables read it, and every server of it gets the renamed databases (ON CLUSTER).
        const renamedClusters = req.replication?.cluster === undefined ? plan : { ...plan, clusters: new Map<string, string[]>() };
        problems.push(...(await renameProblems(source, target, renamedClusters, req.databases, req.renames)));
        const caps = targetInfo.capabilities;
        const mode = req.mode ?? 'full';
        // A data run creates nothing: what it checks instead is that each table can take the source's rows.
        const schema = mode === 'data' ? await checkDataTargets(source, target, probeDatabase(req.runKey), objects).then(noDdl) : await checkSchema(target, probeDatabase(req.runKey), objects, sourceColumns);
        problems.push(...schema.problems);
        warnings.push(...(schema.warnings ?? []));
        for (const object of unsupported) warnings.push(`${object.database}.${object.name} (${object.engine}) will not be migrated: ${object.unsupportedReason}`);
        warnings.push(...(await unverifiableReads(source, onSource)));

        const conflicts = await findConflicts(target, objects, sourceColumns, targetDatabasesOf(req));
        for (const conflict of conflicts) {
          const name = `${conflict.database}.${conflict.table}`;
          if (mode === 'schema' && conflict.sameSchema) warnings.push(`${name} exists on the target with the source's schema and ${conflict.rows} rows: a schema run leaves it as it is`);
          else if (mode === 'data' && conflict.rows === 0) continue;
          else if (!conflict.sameSchema && mode !== 'data') problems.push(`${name} exists on the target with a different schema and ${conflict.rows} rows`);
          else if (req.onConflict === 'fail') problems.push(`${name} already holds ${conflict.rows} rows on the target (set "onConflict": "replace" to overwrite them)`);
          else warnings.push(`${name} holds ${conflict.rows} rows on the target that will be replaced by the source's`);
        }

        const sourceBytes = mode === 'schema' ? 0 : objects.reduce((n, o) => n + o.bytesOnDisk, 0);
        const requiredBytes = Math.ceil(sourceBytes * DISK_HEADROOM);
        const free = await freeDiskBytes(target);
        if (free === null) warnings.push(`the target (ClickHouse ${targetInfo.version}) cannot report free disk; make sure ${requiredBytes} bytes are free`);
        else if (free < requiredBytes) problems.push(`the target has ${free} bytes free and the data needs about ${requiredBytes}`);
        if (!caps.unloggedStatements) {
          warnings.push(`the target user "${target.endpoint.username}" may not keep a statement out of its query log: copies will stream through the worker, not server to server, so that the source password is never in the target's logs`);
        }

        const report: TargetReport = {
          version: targetInfo.version,
          capabilities: {
            systemDisks: caps.systemDisks,
            remote: caps.remote,
            remoteSecure: caps.remoteSecure,
            maxInsertThreads: caps.maxInsertThreads,
            unloggedStatements: caps.unloggedStatements,
          },
          scope: scope.scope,
          replication: { zooKeeperPath: path.template, from: path.from, ...(req.replication?.cluster ? { cluster: req.replication.cluster } : {}) },
          restorePoint: req.rehearsal ? { ...req.rehearsal, takenAt: 'at the start of the migration step, after the last approval' } : null,
          ddlFeatures: schema.ddlFeatures,
          ddl: { ...schema.ddl, deferred: firstLines(schema.ddl.deferred, DETAIL_LIMIT), refused: firstOf(schema.ddl.refused, DETAIL_LIMIT) },
          freeBytes: free ?? 'unknown',
          requiredBytes,
          conflicts: firstOf(conflicts, DETAIL_LIMIT),
          topology,
          problems: firstLines(problems, DETAIL_LIMIT),
          warnings: firstLines(warnings, DETAIL_LIMIT),
        };
        if (problems.length > 0) throw permanent(FAILURE_TYPES.targetNotReady, `the target is not ready: ${report.problems.join('; ')}`, report);
        return report;
        }),
      );
    },
  };
}

/** The source's columns of each object, keyed by the object as the target names it. */
function keyedOnTarget<T>(columns: Map<string, T>, objects: readonly PlannedObject[]): Map<string, T> {
  if (!objects.some((o) => o.sourceDatabase !== undefined)) return columns;
  const keyed = new Map<string, T>();
  for (const object of objects) {
    const found = columns.get(objectKey({ database: sourceDatabaseOf(object), name: object.name }));
    if (found !== undefined) keyed.set(objectKey(object), found);
  }
  return keyed;
}

/** A data run's check, in the shape of {@link checkSchema}'s answer: no DDL was asked of the target. */
function noDdl(check: { problems: string[]; warnings: string[] }) {
  return { ...check, ddlFeatures: {}, ddl: { accepted: 0, deferred: [] as string[], refused: [] as { object: string; message: string }[] } };
}

/**
 * What the target says of the source's schema: whether it creates each object (and which DDL
 * feature explains a refusal), and whether it can store MATERIALIZED columns' values as they are.
 */
async function checkSchema(target: ClickHouseConnection, scratch: string, objects: PlannedObject[], sourceColumns: Map<string, ColumnInfo[]>) {
  const { capabilities, version } = await target.server();
  const ddlFeatures = await checkDdlFeatures(target, scratch, objects);
  const created = await askTargetToCreate(target, scratch, objects);
  const problems = created.refused.map((refused) => {
    const why = ddlFeaturesOf(refused.ddl).filter((f) => ddlFeatures[f]?.supported === false).map((f) => DDL_FEATURES[f].label);
    return `the target refuses to create ${refused.object}: ${refused.message}${why.length > 0 ? ` (it does not accept ${why.join(', ')})` : ''}`;
  });
  if (!capabilities.insertMaterialized) {
    const materialized = objects.filter((o) => holdsData(o) && sourceColumns.get(objectKey(o))?.some((c) => c.defaultKind === 'MATERIALIZED'));
    for (const object of materialized) {
      problems.push(`the target (ClickHouse ${version}) cannot store the source's values of MATERIALIZED columns (no insert_allow_materialized_columns), used by ${object.database}.${object.name}`);
    }
  }
  const ddl = { accepted: created.accepted, deferred: created.deferred, refused: created.refused.map(({ object, message }) => ({ object, message })) };
  return { ddlFeatures, ddl, problems, warnings: [] as string[] };
}

/** ClickHouse error codes of a statement that names a table or database that does not exist (yet). */
const MISSING_OBJECT_CODES = new Set([60, 81]);

/**
 * Asks the target to create every object of the plan, in creation order, in a scratch database
 * that is dropped afterwards: the target's own answer per object, not a grammar of ours. A view
 * that reads tables the migration has not created yet cannot be created here; it is reported as
 * deferred (its DDL runs when the migration creates it).
 */
async function askTargetToCreate(target: ClickHouseConnection, scratch: string, objects: PlannedObject[]) {
  const result = { accepted: 0, deferred: [] as string[], refused: [] as { object: string; message: string; ddl: string }[] };
  const ask = async (object: PlannedObject) => {
    const name = `${object.database}.${object.name}`;
    try {
      await execDdl(target, rewriteCreateStatement(withoutReplication(object.createTableQuery), scratch, object.name).sql);
      result.accepted++;
    } catch (err) {
      const code = err instanceof ClickHouseQueryError ? err.code : undefined;
      if (isView(object) && code !== undefined && MISSING_OBJECT_CODES.has(code)) result.deferred.push(name);
      else result.refused.push({ object: name, message: firstLine(err), ddl: object.createTableQuery });
    }
  };
  await withScratchDatabase(target, scratch, async () => {
    const own = objects.filter((o) => !o.inner);
    // Tables do not depend on one another here: a few statements in flight hide the round trips.
    await forEachConcurrently(own.filter((o) => !isView(o)), DDL_CONCURRENCY, ask);
    for (const view of own.filter(isView)) await ask(view);
  });
  result.refused.sort((a, b) => a.object.localeCompare(b.object));
  return result;
}

/** For each version-dependent DDL feature the source uses: does the target accept it, and who uses it. */
async function checkDdlFeatures(
  target: ClickHouseConnection,
  scratch: string,
  objects: PlannedObject[],
): Promise<TargetReport['ddlFeatures']> {
  const usedBy = new Map<DdlFeature, string[]>();
  for (const object of objects) {
    for (const feature of ddlFeaturesOf(object.createTableQuery)) usedBy.set(feature, [...(usedBy.get(feature) ?? []), `${object.database}.${object.name}`]);
  }
  const probed = await probeDdlFeatures(target, scratch, [...usedBy.keys()]);
  const report: TargetReport['ddlFeatures'] = {};
  for (const [feature, names] of usedBy) report[feature] = { usedBy: firstLines(names, DETAIL_LIMIT), ...(probed.get(feature) ?? { supported: false }) };
  return report;
}

async function findConflicts(
  target: Parameters<typeof countRows>[0],
  objects: Awaited<ReturnType<typeof takeInventory>>['objects'],
  sourceColumns: Map<string, { name: string; type: string }[]>,
  databases: string[],
): Promise<TableConflict[]> {
  const existing = new Map((await listTables(target, databases)).map((t) => [objectKey(t), t]));
  const targetColumns = await listAllColumns(target, databases);
  const conflicts: TableConflict[] = [];
  for (const object of objects.filter(holdsData)) {
    const match = existing.get(objectKey(object));
    if (!match) continue;
    const rows =
      match.kind === 'partitioned'
        ? (await partitionSizes(target, match.database, match.name)).reduce((n, p) => n + p.rows, 0)
        : match.kind === 'whole-table'
          ? await countRows(target, match.database, match.name)
          : 0;
    const key = objectKey(object);
    const sameSchema =
      match.engine === object.engine && JSON.stringify(targetColumns.get(key)) === JSON.stringify(sourceColumns.get(key));
    if (rows > 0 || !sameSchema) conflicts.push({ database: object.database, table: object.name, rows, sameSchema });
  }
  return conflicts;
}

/**
 * Warnings for tables whose engine merges rows by their order but that the source cannot read
 * with FINAL (GraphiteMergeTree on 18.16): their order is kept, but what users read once rows
 * merge cannot be compared, only their rows. One probe per engine.
 */
async function unverifiableReads(source: ClickHouseConnection, objects: readonly PlannedObject[]): Promise<string[]> {
  const byEngine = new Map<string, PlannedObject[]>();
  for (const object of objects.filter((o) => o.kind === 'partitioned' && mergesByOrder(o.engine))) {
    const tables = byEngine.get(object.engine) ?? [];
    tables.push(object);
    byEngine.set(object.engine, tables);
  }
  const warnings: string[] = [];
  for (const [engine, tables] of byEngine) {
    if (await readsFinal(source, tables[0].database, tables[0].name, engine)) continue;
    const names = namedList(tables.map((t) => `${t.database}.${t.name}`));
    warnings.push(`the source cannot read ${engine} tables with FINAL (${names}): their rows are copied in the order they merge in, but verified by their rows only, not by what FINAL reads`);
  }
  return warnings;
}

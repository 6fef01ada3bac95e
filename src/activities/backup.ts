import { execDdl } from '../clickhouse/capabilities';
import { alterPartitions, copyRowsWithin, createTwin, emptyPartitions } from '../clickhouse/table-ops';
import { countRows, existingDatabases, listColumns, listTables, partitionSizes } from '../clickhouse/catalog';
import type { ClickHouseConnection } from '../clickhouse/connection';
import { rewriteCreateStatement } from '../clickhouse/ddl';
import { partitionDigests, type PartitionDigest } from '../clickhouse/fingerprint';
import { restorePointDatabase, snapshotTableName } from '../clickhouse/scratch';
import { qualifiedName, quoteIdentifier } from '../clickhouse/sql';
import { DETAIL_LIMIT, DIGEST_LIMIT, type EndpointRef, type RestorePoint, type RestorePointDigests, type RestorePointTable, type RollbackProof, type RollbackReport, type RollbackScope } from '../workflows/types';
import { firstOf } from '../workflows/bounded';
import type { Keyring } from '../secrets';
import { heartbeating, withConnections, type ActivityDeps } from './context';
import { isView } from './inventory';
import { dropManifest, Manifest, MANIFEST_LISTS } from './manifest';
import { proveRecordedRollback, rollbackRecordedRun } from './rollback';
import { namesTable, objectKey } from '../workflows/table-key';
import { scopeOfObject, type TableFilters } from '../workflows/scope';
import { replicatedEngineOf } from '../clickhouse/ddl-replication';


/** Backup and rollback: zero-copy partition snapshots on the target. */
export function createBackupActivities(deps: ActivityDeps) {
  return {
    /**
     * Snapshots every in-scope table that exists on the target into a restore-point database:
     * MergeTree partitions by hard link (`ATTACH PARTITION … FROM`), small tables by copy,
     * views by DDL. A retry starts the snapshot again from scratch.
     */
    async takeRestorePoint(req: { runKey: string; target: EndpointRef; databases: string[]; manifest?: boolean; renames?: Record<string, string> } & TableFilters): Promise<RestorePoint> {
      return withConnections(deps, { target: req.target }, ({ target }) =>
        heartbeating(() => ({ step: 'backup' }), async () => {
          const database = restorePointDatabase(req.runKey);
          const existing = await existingDatabases(target, req.databases);
          const tables = inScopeOnTarget(existing.length > 0 ? await listTables(target, existing) : [], req);
          await target.exec(`DROP DATABASE IF EXISTS ${quoteIdentifier(database)}`);
          await target.exec(`CREATE DATABASE ${quoteIdentifier(database)}`);
          const captured: RestorePointTable[] = [];
          for (const table of tables) {
            const entry: RestorePointTable = {
              database: table.database,
              name: table.name,
              kind: table.kind,
              createTableQuery: table.createTableQuery,
              partitions: [],
            };
            const source = qualifiedName(table.database, table.name);
            if (table.kind === 'partitioned') {
              entry.snapshotTable = snapshotTableName(table.database, table.name);
              const snapshot = qualifiedName(database, entry.snapshotTable);
              await createTwin(target, snapshot, { database: table.database, table: table.name, createTableQuery: table.createTableQuery });
              const parts = await partitionSizes(target, table.database, table.name);
              await alterPartitions(target, snapshot, parts.map((p) => p.partitionId), (id) => `ATTACH PARTITION ID ${id} FROM ${source}`);
              entry.partitions.push(...parts.map((p) => ({ partitionId: p.partitionId, rows: p.rows })));
            } else if (table.kind === 'whole-table') {
              entry.snapshotTable = snapshotTableName(table.database, table.name);
              await execDdl(target, `CREATE TABLE ${qualifiedName(database, entry.snapshotTable)} AS ${source}`);
              await copyRowsWithin(target, { database: table.database, table: table.name }, { database, table: entry.snapshotTable });
              entry.partitions.push({ partitionId: 'all', rows: await countRows(target, database, entry.snapshotTable) });
            }
            captured.push(entry);
          }
          if (req.manifest) await new Manifest(target, req.runKey, deps.keyring).write(MANIFEST_LISTS.restore, captured);
          return {
            database,
            takenAt: new Date().toISOString(),
            existingDatabases: existing,
            ...(req.manifest ? {} : { tables: captured }),
            tableCount: captured.length,
            totalRows: captured.reduce((n, t) => n + t.partitions.reduce((m, p) => m + p.rows, 0), 0),
          };
        }),
      );
    },

    /**
     * Puts the target back as the restore point found it. A run with a manifest (`runKey`) is
     * undone from what it recorded before acting (see `rollbackRecordedRun`), and proved in the
     * same activity unless `prove` is false (then `proveRollback` follows). Older runs drop what
     * the run created, restore every captured table's partitions, and compare per-partition
     * counts and checksums with the snapshot. Safe to retry.
     */
    async rollbackToRestorePoint(req: {
      target: EndpointRef;
      restorePoint: RestorePoint;
      databases: string[];
      /** Digests recorded from the restore point before the migration began (runs without a manifest). */
      recorded: RestorePointDigests | null;
      /**
       * What the run changed (see {@link RollbackScope}), for runs without a manifest. Without it,
       * everything in scope that the restore point lacks is dropped and every captured table is restored.
       */
      scope?: RollbackScope;
      /** The run whose manifest records its restore point, digests, plan, intent and copies; the report is then bounded. */
      runKey?: string;
      /** With a manifest: prove the rollback here too. @default true */
      prove?: boolean;
      /** The run recorded its intent before creating anything (see `RecordedRun`). */
      recordsIntent?: boolean;
    }): Promise<RollbackReport> {
      return withConnections(deps, { target: req.target }, ({ target }) =>
        heartbeating(() => ({ step: 'rollback' }), async () => {
          if (req.runKey) return rollbackRecordedRun(target, { ...req, runKey: req.runKey }, req.prove ?? true, deps.keyring);
          return rollbackWithoutManifest(target, req);
        }),
      );
    },

    /**
     * The proof of a rollback of a run with a manifest (see `proveRecordedRollback`): nothing of
     * the run left, every partition it wrote as the restore point recorded it. Reads only.
     */
    async proveRollback(req: { target: EndpointRef; restorePoint: RestorePoint; databases: string[]; runKey: string; recordsIntent?: boolean }): Promise<RollbackProof> {
      return withConnections(deps, { target: req.target }, ({ target }) =>
        heartbeating(() => ({ step: 'prove rollback' }), () => proveRecordedRollback(target, req, deps.keyring)),
      );
    },

    /**
     * Counts and checksums every partition of the restore point's snapshot tables. The snapshots
     * are hard links frozen at backup time, so these are the target's digests as the backup
     * found it; the rollback is proved against them. Runs apart from the backup step so that
     * taking the restore point stays a metadata-only operation.
     */
    async fingerprintRestorePoint(req: { target: EndpointRef; restorePoint: RestorePoint; runKey?: string }): Promise<RestorePointDigests> {
      return withConnections(deps, { target: req.target }, ({ target }) =>
        heartbeating(() => ({ step: 'fingerprint' }), async () => {
          const digests: RestorePointDigests = [];
          for (const table of await restorePointTables(target, req.restorePoint, req.runKey, deps.keyring)) {
            if (!table.snapshotTable) continue;
            const columns = await listColumns(target, req.restorePoint.database, table.snapshotTable);
            const partitions = await partitionDigests(target, req.restorePoint.database, table.snapshotTable, columns, {
              partitioned: table.kind === 'partitioned',
            });
            digests.push({ database: table.database, table: table.name, partitions });
          }
          if (!req.runKey) return digests;
          // The full record stays in the manifest, for the rollback; the run keeps the first few.
          await new Manifest(target, req.runKey, deps.keyring).write(MANIFEST_LISTS.digests, digests);
          return firstOf(digests, DETAIL_LIMIT).map((d) => ({ ...d, partitions: firstOf(d.partitions, DIGEST_LIMIT) }));
        }),
      );
    },

    /** Drops a restore point once it is no longer needed; with `manifestOf`, that run's manifest too. */
    async dropRestorePoint(req: { target: EndpointRef; restorePoint: RestorePoint; manifestOf?: string }): Promise<void> {
      await withConnections(deps, { target: req.target }, ({ target }) =>
        heartbeating(() => ({ step: 'drop restore point' }), async () => {
          await target.exec(`DROP DATABASE IF EXISTS ${quoteIdentifier(req.restorePoint.database)}`);
          if (req.manifestOf) await dropManifest(target, req.manifestOf);
        }),
      );
    },
  };
}

/** The tables of a restore point: carried by it (older runs), or read from the run's manifest. */
async function restorePointTables(target: ClickHouseConnection, point: RestorePoint, runKey: string | undefined, keyring: Keyring): Promise<RestorePointTable[]> {
  if (point.tables || !runKey) return point.tables ?? [];
  return new Manifest(target, runKey, keyring).read<RestorePointTable>(MANIFEST_LISTS.restore);
}

/**
 * The rollback of a run without a manifest: drops what the run created (what the restore point
 * lacks, when the run did not say), restores every captured table it copied into, and compares
 * per-partition counts and checksums with the recorded digests.
 */
async function rollbackWithoutManifest(
  target: ClickHouseConnection,
  req: { restorePoint: RestorePoint; databases: string[]; recorded: RestorePointDigests | null; scope?: RollbackScope },
): Promise<RollbackReport> {
  const point = req.restorePoint;
  const tables = point.tables ?? [];
  const scope = req.scope && 'tables' in req.scope ? req.scope : undefined;
  const report: RollbackReport = { dropped: [], restored: [], verified: [] };
  const captured = new Map(tables.map((t) => [objectKey(t), t]));
  const present = await listTables(target, await existingDatabases(target, req.databases));
  const createdByRun = scope?.created ? new Set(scope.created) : null;
  const created = present.filter((t) => !captured.has(objectKey(t)) && !t.inner && (createdByRun ? namesTable(createdByRun, t.database, t.name) : true));
  for (const table of [...created].sort((a, b) => Number(isView(b)) - Number(isView(a)))) {
    await target.exec(`DROP TABLE IF EXISTS ${qualifiedName(table.database, table.name)}`);
    report.dropped.push(`${table.database}.${table.name}`);
  }
  for (const database of req.databases.filter((d) => !point.existingDatabases.includes(d))) {
    // A database the run created is dropped only once it is empty: others may have put tables in it meanwhile.
    if (createdByRun && (await listTables(target, [database])).length > 0) continue;
    await target.exec(`DROP DATABASE IF EXISTS ${quoteIdentifier(database)}`);
    report.dropped.push(database);
  }
  const stillPresent = new Set(present.map(objectKey));
  const copied = scope ? new Set(scope.tables) : null;
  for (const table of tables.filter((t) => (copied ? namesTable(copied, t.database, t.name) : true))) {
    if (!stillPresent.has(objectKey(table)) && !table.name.startsWith('.inner')) {
      await execDdl(target, rewriteCreateStatement(table.createTableQuery, table.database, table.name).sql);
    }
    if (!table.snapshotTable) continue;
    await restoreTable(target, point.database, table);
    report.restored.push({ database: table.database, table: table.name, partitions: table.partitions.length });
    const digests = req.recorded?.find((d) => d.database === table.database && d.table === table.name)?.partitions;
    report.verified.push(await compareWithRecord(target, point.database, table, digests));
  }
  return report;
}

async function restoreTable(target: ClickHouseConnection, snapshotDatabase: string, table: RestorePointTable): Promise<void> {
  const live = qualifiedName(table.database, table.name);
  const snapshot = qualifiedName(snapshotDatabase, table.snapshotTable as string);
  if (table.kind === 'whole-table') {
    await target.exec(`DROP TABLE IF EXISTS ${live}`);
    await execDdl(target, rewriteCreateStatement(table.createTableQuery, table.database, table.name).sql);
    await copyRowsWithin(target, { database: snapshotDatabase, table: table.snapshotTable as string }, { database: table.database, table: table.name });
    return;
  }
  const kept = new Set(table.partitions.map((p) => p.partitionId));
  const gone = (await partitionSizes(target, table.database, table.name)).map((p) => p.partitionId).filter((id) => !kept.has(id));
  await emptyPartitions(target, live, gone, { replicated: replicatedEngineOf(table.createTableQuery) !== null, twin: snapshot });
  await alterPartitions(target, live, [...kept], (id) => `REPLACE PARTITION ID ${id} FROM ${snapshot}`);
}

/**
 * Compares a restored table's per-partition digests with those recorded from the restore point
 * (computed from the snapshot when none were recorded), and its row counts with the manifest.
 */
async function compareWithRecord(target: ClickHouseConnection, snapshotDatabase: string, table: RestorePointTable, recorded: PartitionDigest[] | undefined) {
  const columns = await listColumns(target, table.database, table.name);
  const partitioned = table.kind === 'partitioned';
  const [before, after] = await Promise.all([
    recorded ?? partitionDigests(target, snapshotDatabase, table.snapshotTable as string, columns, { partitioned }),
    partitionDigests(target, table.database, table.name, columns, { partitioned }),
  ]);
  const recordedRows = new Map(table.partitions.map((p) => [p.partitionId, p.rows]));
  const match =
    JSON.stringify(before) === JSON.stringify(after) &&
    before.every((p) => recordedRows.get(p.partitionId) === p.rows) &&
    before.length === table.partitions.filter((p) => p.rows > 0).length;
  return { database: table.database, table: table.name, before, after, match };
}

/**
 * The target's tables that the run's filters keep in scope: the restore point holds only what the
 * run may write. Patterns name source databases, so a renamed database is matched by its source name.
 */
function inScopeOnTarget<T extends { database: string; name: string; inner: boolean }>(tables: T[], req: { renames?: Record<string, string> } & TableFilters): T[] {
  const sourceOf = new Map(Object.entries(req.renames ?? {}).map(([source, target]) => [target, source]));
  return tables.filter((t) => scopeOfObject(req, { ...t, database: sourceOf.get(t.database) ?? t.database }).inScope);
}

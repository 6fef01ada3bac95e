import { pipeline } from 'node:stream/promises';
import { PassThrough } from 'node:stream';
import { copySettings, execDdl } from '../clickhouse/capabilities';
import { countRows, existingDatabases, listColumns, listTables, partitionSelectors, partitionSizes } from '../clickhouse/catalog';
import type { ClickHouseConnection, ConnectionSettings } from '../clickhouse/connection';
import { rewriteCreateStatement } from '../clickhouse/ddl';
import { combinedChecksum, partitionDigests, type PartitionDigest } from '../clickhouse/fingerprint';
import { restorePointDatabase, retiredTable, scratchDatabases, stagingPrefix, stagingTable } from '../clickhouse/scratch';
import { qualifiedName, quoteIdentifier, quoteString, quoteStringList } from '../clickhouse/sql';
import {
  FAILURE_TYPES,
  type CopyResult,
  type CopyUnit,
  type EndpointRef,
  type PlannedObject,
  type TableVerification,
  type TransferPath,
  type VerificationReport,
} from '../workflows/types';
import { currentAttempt, heartbeatNow, heartbeating, permanent, previousHeartbeat, withConnections, type ActivityDeps } from './context';
import { holdsData, isView } from './inventory';
import { remoteSource } from './remote';

/** Passes over views that failed because a view they read from did not exist yet. */
const MAX_VIEW_PASSES = 10;

/** The migration step: schema, data, verification, and cleanup of staging. */
export function createTransferActivities(deps: ActivityDeps) {
  return {
    /**
     * Creates the databases and objects of the plan on the target, in plan order, with
     * `IF NOT EXISTS`. Views that read views are retried until their dependencies exist.
     * Returns the names of the objects that did not exist before.
     */
    async createSchema(req: { target: EndpointRef; objects: PlannedObject[] }): Promise<string[]> {
      return withConnections(deps, { target: req.target }, async ({ target }) => {
        const databases = [...new Set(req.objects.map((o) => o.database))];
        for (const database of databases) await target.exec(`CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(database)}`);
        const before = new Set((await listTables(target, databases)).map((t) => `${t.database}.${t.name}`));
        const toCreate = req.objects.filter((o) => !o.inner);
        await createAll(target, toCreate.filter((o) => !isView(o)));
        await createAll(target, toCreate.filter(isView));
        return toCreate.map((o) => `${o.database}.${o.name}`).filter((name) => !before.has(name));
      });
    },

    /**
     * Lists the units of copy as the source has them now: one per partition of each
     * partitioned table, one per small table, plus target partitions the source does not have
     * (copying them empties them).
     */
    async planCopy(req: { source: EndpointRef; target: EndpointRef; objects: PlannedObject[] }): Promise<CopyUnit[]> {
      return withConnections(deps, { source: req.source, target: req.target }, async ({ source, target }) => {
        const units: CopyUnit[] = [];
        for (const object of req.objects.filter(holdsData)) {
          const base = { database: object.database, table: object.name };
          if (object.kind === 'whole-table') {
            units.push({ ...base, partitionId: 'all', partitioned: false, rows: await countRows(source, object.database, object.name), bytes: 0 });
            continue;
          }
          const onSource = await partitionSizes(source, object.database, object.name);
          const selectors = await partitionSelectors(source, object.database, object.name, object.createTableQuery);
          for (const p of onSource) {
            units.push({ ...base, partitionId: p.partitionId, partitioned: true, rows: p.rows, bytes: p.bytesUncompressed, selector: selectors.get(p.partitionId) });
          }
          const known = new Set(onSource.map((p) => p.partitionId));
          for (const p of await partitionSizes(target, object.database, object.name)) {
            if (!known.has(p.partitionId)) units.push({ ...base, partitionId: p.partitionId, partitioned: true, rows: 0, bytes: 0 });
          }
        }
        return units;
      });
    },

    /**
     * Makes each unit of a batch on the target equal to the source, one after the other, and
     * heartbeats after each one: a retry (after a crash, say) skips the units already done.
     * A unit is copied into a fresh staging table, then swapped in (`REPLACE PARTITION`, or a
     * rename for small tables), so copying it twice leaves the target as copying it once.
     * Never fires materialized views on the target.
     */
    async copyUnits(req: { runKey: string; source: EndpointRef; target: EndpointRef; units: CopyUnit[]; path: TransferPath }): Promise<CopyResult & { units: number }> {
      const previous = previousHeartbeat<BatchProgress>();
      const progress: BatchProgress = previous?.done ? previous : { done: [], rows: 0, bytes: 0 };
      return withConnections(deps, { source: req.source, target: req.target }, ({ source, target }) =>
        heartbeating(() => progress, async () => {
          for (const unit of req.units) {
            const key = unitKey(unit);
            if (progress.done.includes(key)) continue;
            const rows = await copyUnit(source, target, req, unit);
            progress.done.push(key);
            progress.rows += rows;
            progress.bytes += rows > 0 ? unit.bytes : 0;
            heartbeatNow(progress);
          }
          return { rows: progress.rows, bytes: progress.bytes, units: progress.done.length };
        }),
      );
    },

    /**
     * Compares count and checksum of every partition on both sides. Returns per-table results
     * and the units that differ or that only the target has.
     */
    async verifyData(req: { source: EndpointRef; target: EndpointRef; objects: PlannedObject[] }): Promise<VerificationReport> {
      return withConnections(deps, { source: req.source, target: req.target }, ({ source, target }) =>
        heartbeating(() => ({ step: 'verify' }), async () => {
          const report: VerificationReport = { tables: [], mismatched: [], extra: [] };
          for (const object of req.objects.filter(holdsData)) {
            const partitioned = object.kind === 'partitioned';
            const columns = await listColumns(source, object.database, object.name);
            const [onSource, onTarget] = await Promise.all([
              partitionDigests(source, object.database, object.name, columns, { partitioned }),
              partitionDigests(target, object.database, object.name, columns, { partitioned }),
            ]);
            const targetById = new Map(onTarget.map((d) => [d.partitionId, d]));
            const sourceIds = new Set(onSource.map((d) => d.partitionId));
            const unit = (d: PartitionDigest, rows: number): CopyUnit => ({
              database: object.database,
              table: object.name,
              partitionId: d.partitionId,
              partitioned,
              rows,
              bytes: 0,
            });
            const differing = onSource.filter((d) => {
              const t = targetById.get(d.partitionId);
              return !t || t.rows !== d.rows || t.checksum !== d.checksum;
            });
            const selectors = differing.length > 0 && partitioned ? await partitionSelectors(source, object.database, object.name, object.createTableQuery) : new Map<string, string>();
            for (const d of differing) report.mismatched.push({ ...unit(d, d.rows), selector: selectors.get(d.partitionId) });
            for (const d of onTarget) if (!sourceIds.has(d.partitionId)) report.extra.push(unit(d, 0));
            report.tables.push(tableVerification(object, onSource, onTarget));
          }
          return report;
        }),
      );
    },

    /**
     * Drops every staging table and scratch database a run may have left on the target; with
     * `restorePoint`, its restore-point database too (for a run that ends before it recorded one:
     * a backup cancelled mid-way may still have created it).
     */
    async dropStaging(req: { target: EndpointRef; runKey: string; databases: string[]; restorePoint?: boolean }): Promise<string[]> {
      return withConnections(deps, { target: req.target }, async ({ target }) => {
        const scratch = [...scratchDatabases(req.runKey), ...(req.restorePoint ? [restorePointDatabase(req.runKey)] : [])];
        for (const database of scratch) await target.exec(`DROP DATABASE IF EXISTS ${quoteIdentifier(database)}`);
        const databases = await existingDatabases(target, req.databases);
        if (databases.length === 0) return [];
        const leftovers = await target.rows<{ database: string; name: string }>(
          `SELECT database, name FROM system.tables WHERE database IN (${quoteStringList(databases)})
           AND startsWith(name, ${quoteString(stagingPrefix(req.runKey))})`,
        );
        for (const t of leftovers) await target.exec(`DROP TABLE IF EXISTS ${qualifiedName(t.database, t.name)}`);
        return leftovers.map((t) => `${t.database}.${t.name}`);
      });
    },
  };
}

async function createAll(target: ClickHouseConnection, objects: PlannedObject[]): Promise<void> {
  let pending = objects;
  for (let pass = 0; pending.length > 0; pass++) {
    const failed: { object: PlannedObject; error: Error }[] = [];
    for (const object of pending) {
      try {
        await execDdl(target, rewriteCreateStatement(object.createTableQuery, object.database, object.name).sql);
      } catch (err) {
        failed.push({ object, error: err as Error });
      }
    }
    if (failed.length === 0) return;
    if (failed.length === pending.length || pass >= MAX_VIEW_PASSES) throw failed[0].error;
    pending = failed.map((f) => f.object);
  }
}

/** What a batch heartbeats: the units it has finished, and their totals. */
interface BatchProgress {
  done: string[];
  rows: number;
  bytes: number;
}

function unitKey(unit: CopyUnit): string {
  return `${unit.database}\u0000${unit.table}\u0000${unit.partitionId}`;
}

/** Copies one unit through a staging table; returns the rows it now holds on the target. */
async function copyUnit(
  source: ClickHouseConnection,
  target: ClickHouseConnection,
  req: { runKey: string; source: EndpointRef; path: TransferPath },
  unit: CopyUnit,
): Promise<number> {
  const live = qualifiedName(unit.database, unit.table);
  // Each attempt stages apart: an earlier attempt's statement may still be writing to its own table.
  const attempt = String(currentAttempt());
  const name = stagingTable(req.runKey, attempt, unit.database, unit.table, unit.partitionId);
  const stage = qualifiedName(unit.database, name);
  // Every stored column by name, MATERIALIZED ones included: the target keeps the source's values.
  const columns = (await listColumns(target, unit.database, unit.table)).map((c) => quoteIdentifier(c.name)).join(', ');
  const settings = copySettings((await target.server()).capabilities);
  const byId = `_partition_id = ${quoteString(unit.partitionId)}`;
  // The selector lets the source prune parts; the id keeps the copy exact whatever the selector matches.
  const where = unit.partitioned ? ` WHERE ${unit.selector ? `${unit.selector} AND ${byId}` : byId}` : '';
  await target.exec(`DROP TABLE IF EXISTS ${stage}`);
  await execDdl(target, `CREATE TABLE ${stage} AS ${live}`);
  if (req.path === 'server') {
    const remote = await remoteSource(source, target, req.source);
    if (!remote.ok) throw permanent(FAILURE_TYPES.transferPathUnavailable, remote.reason);
    await target.exec(`INSERT INTO ${stage} (${columns}) SELECT ${columns} FROM ${remote.table(unit.database, unit.table)}${where}`, settings);
  } else {
    await streamNative(source, target, `SELECT ${columns} FROM ${live}${where}`, `INSERT INTO ${stage} (${columns})`, settings);
  }
  const rows = await countRows(target, unit.database, name);
  if (unit.partitioned) {
    await target.exec(`ALTER TABLE ${live} REPLACE PARTITION ID ${quoteString(unit.partitionId)} FROM ${stage}`);
    await target.exec(`DROP TABLE ${stage}`);
  } else {
    const old = qualifiedName(unit.database, retiredTable(req.runKey, attempt, unit.database, unit.table));
    await target.exec(`DROP TABLE IF EXISTS ${old}`);
    await target.exec(`RENAME TABLE ${live} TO ${old}, ${stage} TO ${live}`);
    await target.exec(`DROP TABLE ${old}`);
  }
  return rows;
}

/** Streams `select` from the source in Native format into `insert` on the target, with backpressure. */
export async function streamNative(
  source: ClickHouseConnection,
  target: ClickHouseConnection,
  select: string,
  insert: string,
  insertSettings: ConnectionSettings,
  selectSettings?: ConnectionSettings,
): Promise<void> {
  const body = new PassThrough({ highWaterMark: 4 * 1024 * 1024 });
  const rows = await source.stream(`${select} FORMAT Native`, selectSettings);
  await Promise.all([pipeline(rows, body), target.insertStream(`${insert} FORMAT Native`, body, insertSettings)]);
}

function tableVerification(object: PlannedObject, onSource: PartitionDigest[], onTarget: PartitionDigest[]): TableVerification {
  const sourceRows = onSource.reduce((n, d) => n + d.rows, 0);
  const targetRows = onTarget.reduce((n, d) => n + d.rows, 0);
  const sourceChecksum = combinedChecksum(onSource);
  const targetChecksum = combinedChecksum(onTarget);
  return {
    database: object.database,
    table: object.name,
    sourceRows,
    targetRows,
    sourceChecksum,
    targetChecksum,
    match: sourceRows === targetRows && sourceChecksum === targetChecksum && JSON.stringify(onSource) === JSON.stringify(onTarget),
  };
}

import { existingDatabases } from '../clickhouse/catalog';
import type { ClickHouseConnection } from '../clickhouse/connection';
import { rewriteCreateStatement } from '../clickhouse/ddl';
import { qualifiedName, quoteIdentifier } from '../clickhouse/sql';
import { FAILURE_TYPES, type EndpointRef, type TransferPath, type ValidationReport } from '../workflows/types';
import { remoteSource } from './remote';
import { permanent, withConnections, type ActivityDeps } from './context';
import { holdsData, takeInventory } from './inventory';
import { INTERNAL_PREFIX } from '../clickhouse/catalog';

/** Name of the scratch database a run's dry run creates its tables in. */
export function dryRunDatabase(runKey: string): string {
  return `${INTERNAL_PREFIX}dryrun_${runKey}`;
}

/** The validation step: source access, inventory, dry run and the choice of transfer path. */
export function createValidationActivities(deps: ActivityDeps) {
  return {
    /**
     * Checks the source credentials and that every table in scope is readable, takes the
     * inventory, dry-runs the table DDL on the target in a scratch database, and picks the
     * transfer path. Fails, without retrying, when the source or the DDL is not usable.
     */
    async validateSource(req: { runKey: string; source: EndpointRef; target: EndpointRef; databases: string[] }): Promise<ValidationReport> {
      return withConnections(deps, { source: req.source, target: req.target }, async ({ source, target }) => {
        const sourceInfo = await source.server();
        const present = await existingDatabases(source, req.databases);
        const missing = req.databases.filter((d) => !present.includes(d));
        if (missing.length > 0) throw permanent(FAILURE_TYPES.sourceInvalid, `the source has no database ${missing.map((d) => `"${d}"`).join(', ')}`);

        const { objects, unsupported } = await takeInventory(source, req.databases);
        const unreadable: string[] = [];
        for (const object of objects.filter(holdsData)) {
          try {
            await source.rows(`SELECT * FROM ${qualifiedName(object.database, object.name)} LIMIT 0`);
          } catch (err) {
            unreadable.push(`${object.database}.${object.name}: ${(err as Error).message}`);
          }
        }
        if (unreadable.length > 0) throw permanent(FAILURE_TYPES.sourceInvalid, `cannot read from the source: ${unreadable.join('; ')}`);

        const created = await dryRun(target, dryRunDatabase(req.runKey), objects.filter((o) => !o.inner && (holdsData(o) || o.kind === 'schema-only')));
        const transfer = await chooseTransferPath(source, target, req.source);
        const dataObjects = objects.filter(holdsData);
        return {
          sourceVersion: sourceInfo.version,
          objects,
          unsupported: unsupported.map((t) => ({ database: t.database, name: t.name, engine: t.engine, reason: t.unsupportedReason ?? '' })),
          totals: {
            tables: dataObjects.filter((o) => !o.inner).length,
            views: objects.filter((o) => o.kind === 'view' || o.kind === 'materialized-view').length,
            partitions: dataObjects.reduce((n, o) => n + (o.kind === 'partitioned' ? o.partitions : 1), 0),
            rows: dataObjects.reduce((n, o) => n + o.rows, 0),
            bytesOnDisk: dataObjects.reduce((n, o) => n + o.bytesOnDisk, 0),
          },
          transfer,
          dryRun: { created, database: dryRunDatabase(req.runKey) },
        };
      });
    },
  };
}

/** Creates each table in a scratch database on the target, then drops it; collects every failure. */
async function dryRun(target: ClickHouseConnection, database: string, objects: ValidationReport['objects']): Promise<number> {
  const scratch = quoteIdentifier(database);
  await target.exec(`DROP DATABASE IF EXISTS ${scratch}`);
  await target.exec(`CREATE DATABASE ${scratch}`);
  const failures: string[] = [];
  try {
    for (const object of objects) {
      try {
        await target.exec(rewriteCreateStatement(object.createTableQuery, database, object.name).sql);
      } catch (err) {
        failures.push(`${object.database}.${object.name}: ${(err as Error).message}`);
      }
    }
  } finally {
    await target.exec(`DROP DATABASE IF EXISTS ${scratch}`);
  }
  if (failures.length > 0) throw permanent(FAILURE_TYPES.dryRunFailed, `the target cannot create: ${failures.join('; ')}`);
  return objects.length;
}

/** Server to server when the target can pull from the source with `remote()`, else through the worker. */
async function chooseTransferPath(
  source: ClickHouseConnection,
  target: ClickHouseConnection,
  sourceRef: EndpointRef,
): Promise<{ path: TransferPath; reason: string }> {
  const remote = await remoteSource(source, target, sourceRef);
  if (!remote.ok) return { path: 'worker', reason: remote.reason };
  try {
    await target.rows(`SELECT dummy FROM ${remote.table('system', 'one')}`);
    return { path: 'server', reason: `the target reached the source at ${remote.address} with ${remote.fn}()` };
  } catch (err) {
    return { path: 'worker', reason: `the target cannot reach the source at ${remote.address}: ${(err as Error).message}` };
  }
}

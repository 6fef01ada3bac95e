import { existingDatabases, listAllColumns, listColumns, settingValue } from '../clickhouse/catalog';
import { copySettings, execDdl } from '../clickhouse/capabilities';
import type { ClickHouseConnection, ConnectionSettings } from '../clickhouse/connection';
import { rewriteCreateStatement } from '../clickhouse/ddl';
import { firstLine } from '../clickhouse/errors';
import { partitionDigests, UnhashableColumnError, type PartitionDigest } from '../clickhouse/fingerprint';
import { trialDatabase, withScratchDatabase } from '../clickhouse/scratch';
import { qualifiedName, quoteIdentifier } from '../clickhouse/sql';
import { firstLines, firstOf } from '../workflows/bounded';
import { DETAIL_LIMIT, FAILURE_TYPES, type EndpointRef, type PlannedObject, type ReplicationOptions, type TransferPath, type ValidationReport } from '../workflows/types';
import { remoteSource, type RemoteSource } from './remote';
import { forEachConcurrently, heartbeating, permanent, withConnections, type ActivityDeps } from './context';
import { holdsData, isView, takeInventory } from './inventory';
import { streamNative } from './transfer';
import { Manifest, MANIFEST_LISTS } from './manifest';
import { objectKey } from '../workflows/table-key';
import type { Renames } from '../workflows/database-map';
import { requireSafePlan } from './renames';
import type { TableFilters } from '../workflows/scope';
import { withoutReplication } from '../clickhouse/ddl-replication';
import { planOnReplicatedTarget } from './replication';
import { requireHealthy, sourceScope, topologyOf } from './replica-health';
import { replicaLimitsOf } from '../clickhouse/topology-summary';

/** Rows of each table that the trial copies and fingerprints on both sides. */
const TRIAL_ROWS = 20;
/** Tables tried at once: each trial is a handful of small statements, so latency, not the servers, bounds it. */
const TRIAL_CONCURRENCY = 4;
/**
 * How the trial reads and writes its samples. One thread reads a sample, so that the source
 * returns the same rows to the copy and to its own fingerprint; a read-only source user
 * (`readonly=1`) may not change settings, and then a sample that differs on a second read is
 * reported as a warning instead.
 */
interface Trial {
  remote: RemoteSource | null;
  sampleSettings: ConnectionSettings | undefined;
  insertSettings: ConnectionSettings;
  warnings: string[];
}

/** The validation step: source access, inventory, the transfer path, and a trial copy of every table. */
export function createValidationActivities(deps: ActivityDeps) {
  return {
    /**
     * Checks the source credentials and that every table in scope is readable, takes the
     * inventory, picks the transfer path, then copies a few rows of every table into a scratch
     * database on the target and fingerprints them on both sides. A table that cannot be read,
     * copied or fingerprinted fails the step here, before the migration is approved.
     */
    async validateSource(req: { runKey: string; source: EndpointRef; target: EndpointRef; databases: string[]; manifest?: boolean; renames?: Renames; replication?: ReplicationOptions } & TableFilters): Promise<ValidationReport> {
      return withConnections(deps, { source: req.source, target: req.target }, ({ source, target }) =>
        heartbeating(() => ({ step: 'validation' }), async () => {
          const began = Date.now();
          const sourceInfo = await source.server();
          const present = await existingDatabases(source, req.databases);
          const missing = req.databases.filter((d) => !present.includes(d));
          if (missing.length > 0) throw permanent(FAILURE_TYPES.sourceInvalid, `the source has no database ${missing.map((d) => `"${d}"`).join(', ')}`);
          // The source's replication before the copy: its delay is the baseline of the copy's.
          const topology = await topologyOf(source, sourceScope(req), replicaLimitsOf(req.replication));
          requireHealthy({ source: topology });

          const { objects, unsupported } = await takeInventory(source, req.databases, req);
          const dataObjects = objects.filter(holdsData);
          await requireReadable(source, dataObjects);
          const transfer = await chooseTransferPath(deps, source, target, req.source, req.databases);
          const inventoryMs = Date.now() - began;
          const tried = await oneTablePerShape(source, dataObjects);
          const trial = await trialCopy(source, target, trialDatabase(req.runKey), tried, {
            remote: transfer.path === 'server' ? await remoteSource(deps, source, target, req.source) : null,
            sampleSettings: (await settingValue(source, 'readonly')) === '1' ? undefined : { max_threads: 1 },
            insertSettings: copySettings((await target.server()).capabilities),
            warnings: [],
          });
          if (trial.problems.length > 0) throw permanent(FAILURE_TYPES.trialFailed, `the trial copy failed: ${firstLines(trial.problems, DETAIL_LIMIT).join('; ')}`);
          // The plan names objects as the target will have them (renamed databases), and goes to
          // the run's manifest on the target; the step's result is its summary.
          const { objects: plan } = await planOnReplicatedTarget(target, requireSafePlan(objects, req.renames), req.replication);
          if (req.manifest) await new Manifest(target, req.runKey, deps.keyring).write(MANIFEST_LISTS.objects, plan);
          return {
            sourceVersion: sourceInfo.version,
            ...(req.manifest ? {} : { objects: plan }),
            objectCount: objects.length,
            unsupported: firstOf(unsupported, req.manifest ? DETAIL_LIMIT : unsupported.length).map((t) => ({ database: t.database, name: t.name, engine: t.engine, reason: t.unsupportedReason ?? '' })),
            totals: {
              tables: dataObjects.filter((o) => !o.inner).length,
              views: objects.filter(isView).length,
              partitions: dataObjects.reduce((n, o) => n + (o.kind === 'partitioned' ? o.partitions : 1), 0),
              rows: dataObjects.reduce((n, o) => n + o.rows, 0),
              bytesOnDisk: dataObjects.reduce((n, o) => n + o.bytesOnDisk, 0),
            },
            transfer,
            trial: { tables: tried.length, covers: dataObjects.length, rows: trial.rows, database: trialDatabase(req.runKey), warnings: trial.warnings },
            timings: { inventoryMs, trialMs: Date.now() - began - inventoryMs },
            topology,
          };
        }),
      );
    },
  };
}

/** Readability checks in flight at once: each is a round trip and no work. */
const READ_CHECK_CONCURRENCY = 8;

async function requireReadable(source: ClickHouseConnection, objects: PlannedObject[]): Promise<void> {
  const unreadable: string[] = [];
  await forEachConcurrently(objects, READ_CHECK_CONCURRENCY, async (object) => {
    try {
      // `WHERE 0`: the server checks the table and every column, and skips its parts (18.16
      // spends 80 ms on `LIMIT 0` alone for a table of 5,000 parts).
      await source.rows(`SELECT * FROM ${qualifiedName(object.database, object.name)} WHERE 0 LIMIT 0`);
    } catch (err) {
      unreadable.push(`${object.database}.${object.name}: ${(err as Error).message}`);
    }
  });
  unreadable.sort();
  if (unreadable.length > 0) throw permanent(FAILURE_TYPES.sourceInvalid, `cannot read from the source: ${firstLines(unreadable, DETAIL_LIMIT).join('; ')}`);
}

/** A plain identifier: quoting cannot go wrong for it, so it need not be tried table by table. */
const PLAIN_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * The tables the trial copies: one per shape (engine, partitioning, and every column's name, type
 * and kind, as the source reports them), since tables of one shape take the same path through the
 * copy and the fingerprint. A table whose name needs quoting is its own shape.
 */
async function oneTablePerShape(source: ClickHouseConnection, objects: PlannedObject[]): Promise<PlannedObject[]> {
  const columns = await listAllColumns(source, [...new Set(objects.map((o) => o.database))]);
  const shapes = new Map<string, PlannedObject>();
  for (const object of objects) {
    const key = objectKey(object);
    const own = PLAIN_NAME.test(object.database) && PLAIN_NAME.test(object.name) ? '' : key;
    const shape = JSON.stringify([own, object.engine, object.kind, columns.get(key)?.map((c) => [c.name, c.type, c.defaultKind])]);
    if (!shapes.has(shape)) shapes.set(shape, object);
  }
  return [...shapes.values()];
}

/**
 * For every table: creates it in `scratch` on the target, copies its first TRIAL_ROWS rows by the
 * path the migration will take, and compares the fingerprint of those rows on the source with
 * the fingerprint of the copy on the target. Collects every problem, naming table, column and
 * the server's message.
 */
async function trialCopy(
  source: ClickHouseConnection,
  target: ClickHouseConnection,
  scratch: string,
  objects: PlannedObject[],
  trial: Trial,
): Promise<{ rows: number; problems: string[]; warnings: string[] }> {
  const outcome = { rows: 0, problems: [] as string[], warnings: trial.warnings };
  await withScratchDatabase(target, scratch, () =>
    forEachConcurrently(objects, TRIAL_CONCURRENCY, async (object) => {
      try {
        const rows = await trialTable(source, target, scratch, object, trial);
        outcome.rows += rows;
      } catch (err) {
        const where = err instanceof UnhashableColumnError ? `column ${err.column} (${err.type}) of ` : '';
        outcome.problems.push(`${where}${object.database}.${object.name}: ${firstLine(err, 400)}`);
      }
    }),
  );
  return outcome;
}

async function trialTable(source: ClickHouseConnection, target: ClickHouseConnection, scratch: string, object: PlannedObject, trial: Trial): Promise<number> {
  const columns = await listColumns(source, object.database, object.name);
  const list = columns.map((c) => quoteIdentifier(c.name)).join(', ');
  await execDdl(target, rewriteCreateStatement(withoutReplication(object.createTableQuery), scratch, object.name).sql);
  const sample = (from: string) => `(SELECT ${list} FROM ${from} LIMIT ${TRIAL_ROWS})`;
  const onSource = () =>
    partitionDigests(source, object.database, object.name, columns, {
      partitioned: false,
      from: sample(qualifiedName(object.database, object.name)),
      settings: trial.sampleSettings,
    }).then(single);
  const into = `INSERT INTO ${qualifiedName(scratch, object.name)} (${list})`;
  const copy = () =>
    trial.remote?.ok
      ? trial.remote.exec((from) => `${into} SELECT * FROM ${sample(from(object.database, object.name))}`, trial.insertSettings)
      : streamNative(source, target, `SELECT * FROM ${sample(qualifiedName(object.database, object.name))}`, into, trial.insertSettings, trial.sampleSettings);
  // Two independent reads of the same sample, at once: each costs the source a scan of the table's part list.
  const [expected] = await Promise.all([onSource(), copy()]);
  const found = single(await partitionDigests(target, scratch, object.name, columns, { partitioned: false }));
  if (expected.rows === found.rows && expected.checksum === found.checksum) return found.rows;
  const again = await onSource();
  if (again.rows !== expected.rows || again.checksum !== expected.checksum) {
    trial.warnings.push(`${object.database}.${object.name}: the source returned different sample rows on two reads, so the trial copy could not be compared`);
    return found.rows;
  }
  throw new Error(`${expected.rows} sample rows fingerprint ${expected.checksum} on the source, and their copy ${found.rows} rows, ${found.checksum} on the target`);
}

function single(digests: PartitionDigest[]): { rows: number; checksum: string } {
  return digests[0] ?? { rows: 0, checksum: '0' };
}

/**
 * Server to server when the target can pull from the source with `remote()`, else through the
 * worker. `remote()` splits a database name at its first dot (`remote(addr, 'a.b', 'c', …)` reads
 * table `b` of `a`, then `c` as the user), so a database whose name holds a dot is copied by the worker.
 */
async function chooseTransferPath(
  deps: ActivityDeps,
  source: ClickHouseConnection,
  target: ClickHouseConnection,
  sourceRef: EndpointRef,
  databases: readonly string[],
): Promise<{ path: TransferPath; reason: string }> {
  const dotted = databases.find((d) => d.includes('.'));
  if (dotted !== undefined) return { path: 'worker', reason: `remote() cannot name a table of the database ${dotted}, whose name holds a dot` };
  const remote = await remoteSource(deps, source, target, sourceRef);
  if (!remote.ok) return { path: 'worker', reason: remote.reason };
  try {
    await remote.rows((from) => `SELECT dummy FROM ${from('system', 'one')}`);
    return { path: 'server', reason: `the target reached the source at ${remote.address} with ${remote.fn}(), its statements kept out of the target's query log` };
  } catch (err) {
    return { path: 'worker', reason: `the target cannot reach the source at ${remote.address}: ${(err as Error).message}` };
  }
}

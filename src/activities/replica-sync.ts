/**
 * Verification of every replica of the target. The run writes into one replica (the connected
 * target) and replication carries the rows to the others; once every table matched the source on
 * the connected replica, each replicated table is synced there (`SYSTEM SYNC REPLICA`), the other
 * replicas of the run's `replication.cluster` are waited for until their replication queues are
 * empty (bounded by `replication.syncTimeoutSeconds`), and each one's digest of each table is
 * compared with the connected replica's.
 *
 * The other replicas are read through `remote()` from the connected target with the target's
 * credentials: every such statement is kept out of the query log and its errors lose the password
 * (see `remoteReader`). Without a cluster, or where the password may not go there, only the
 * connected replica is checked, and the report says why.
 */
import { Context } from '@temporalio/activity';
import { unloggedSettings } from '../clickhouse/capabilities';
import { columnsOf, mergesByOrder } from '../clickhouse/catalog';
import type { ClickHouseConnection } from '../clickhouse/connection';
import { partitionDigests, readsFinal, type PartitionDigest, type StoredColumn } from '../clickhouse/fingerprint';
import { qualifiedName, quoteString, quoteStringList } from '../clickhouse/sql';
import { FAILURE_TYPES, REPLICA_NAMES, type EndpointRef, type PlannedObject, type ReplicaOutcome, type ReplicaReport, type ReplicationOptions } from '../workflows/types';
import { tableKey } from '../workflows/table-key';
import { forEachConcurrently, permanent, requireAllowed, requirePasswordMayReach, type ActivityDeps } from './context';
import { holdsData } from './inventory';
import { SecretNotForServerError } from './password-refs';
import { remoteReader, type RemoteReader } from './remote';

/** How long verification waits for the target's replicas by default. */
export const DEFAULT_SYNC_TIMEOUT_SECONDS = 300;
/** Pause between two looks at the replicas' queues. */
const POLL_MS = 1_000;
/** Tables compared at once per replica. */
const DIGEST_CONCURRENCY = 4;

/** One row of `system.replicas`, as read on any replica. */
interface ReplicaRow {
  database: string;
  table: string;
  replica_name: string;
  zookeeper_path: string;
  queue_size: number | string;
}

/** Another replica of the target, read through `remote()` from the connected one. */
interface OtherReplica {
  address: string;
  reader: RemoteReader;
}

/** What a look at another replica found: its rows of the plan's tables, or why it did not answer. */
type ReplicaLook = { replica: OtherReplica; rows: ReplicaRow[] } | { replica: OtherReplica; error: Error };

/**
 * The replicas' part of a verification whose tables all matched on the connected replica (else
 * nothing: a sync pass copies again first). Throws a non-retryable `VerificationFailed` when a
 * replica's tables differ from the connected replica's once its queue is empty.
 */
export async function verifyReplicas(deps: ActivityDeps, target: ClickHouseConnection, ref: EndpointRef, objects: readonly PlannedObject[], verified: { tables: readonly { match: boolean }[]; units: number }, replication?: ReplicationOptions): Promise<ReplicaReport | undefined> {
  if (verified.units > 0 || verified.tables.some((t) => !t.match)) return undefined;
  const report = await checkReplicas(deps, target, ref, objects, replication);
  const differing = report?.replicas.find((r) => r.mismatched > 0);
  if (differing) {
    throw permanent(FAILURE_TYPES.verificationFailed, `replica ${differing.replica} of the target differs from the connected replica in ${differing.mismatched} tables once its queue is empty: ${(differing.firstMismatched ?? []).join(', ')}`, report);
  }
  return report;
}

/**
 * Checks every replica of the target for the tables among `objects` that are replicated there (see the module
 * comment). Returns nothing when there are none; throws a non-retryable `ReplicaNotSynced` when a
 * replica's queue does not drain, or it does not answer, within the timeout.
 */
export async function checkReplicas(deps: ActivityDeps, target: ClickHouseConnection, ref: EndpointRef, objects: readonly PlannedObject[], replication?: ReplicationOptions): Promise<ReplicaReport | undefined> {
  const began = Date.now();
  const tables = await replicatedOnConnected(target, objects);
  if (tables.length === 0) return undefined;
  for (const t of tables) await target.exec(`SYSTEM SYNC REPLICA ${qualifiedName(t.database, t.name)}`);
  const own = await replicaRows(target, 'system.replicas', tables);
  const connected: ReplicaOutcome = { replica: own[0]?.replica_name ?? 'connected', tables: own.length, mismatched: 0, queue: sumQueue(own) };
  const { replicas, onlyConnected } = await otherReplicas(deps, target, ref, replication);
  const timeout = replication?.syncTimeoutSeconds ?? DEFAULT_SYNC_TIMEOUT_SECONDS;
  const looks = await waitForQueues(target, replicas, tables, ownPaths(own), timeout);
  const waitedSeconds = Math.round((Date.now() - began) / 1000);
  const reference = await digestsOf(target, tables, (t) => qualifiedName(t.database, t.name), {});
  const outcomes = [connected];
  for (const look of looks) outcomes.push(await compareReplica(target, look, tables, reference));
  return { waitedSeconds, ...(onlyConnected ? { onlyConnected } : {}), replicas: outcomes };
}

/**
 * The tables of `objects` that are replicated on the connected target, as its `system.replicas`
 * says: in a data run the target's engine may differ from the source's that the plan names.
 */
async function replicatedOnConnected(target: ClickHouseConnection, objects: readonly PlannedObject[]): Promise<PlannedObject[]> {
  const holding = objects.filter(holdsData);
  if (holding.length === 0) return [];
  const replicated = new Set((await replicaRows(target, 'system.replicas', holding)).map((r) => tableKey(r.database, r.table)));
  return holding.filter((o) => replicated.has(tableKey(o.database, o.name)));
}

/**
 * The replicated tables of `databases` on a server, keyed by `tableKey`: in a data run the
 * target's table may be replicated where the source's, which the plan names, is not.
 */
export async function replicatedTablesIn(conn: ClickHouseConnection, databases: readonly string[]): Promise<Set<string>> {
  if (databases.length === 0) return new Set();
  const rows = await conn.rows<{ database: string; name: string }>(
    `SELECT database, name FROM system.tables WHERE database IN (${quoteStringList(databases)}) AND startsWith(engine, 'Replicated')`,
  );
  return new Set(rows.map((r) => tableKey(r.database, r.name)));
}

/** The rows of `system.replicas` (or of `from`, a `remote()` of it) for the tables of `tables`. */
async function replicaRows(target: ClickHouseConnection, from: string, tables: readonly PlannedObject[], settings = {}): Promise<ReplicaRow[]> {
  const wanted = new Set(tables.map((t) => tableKey(t.database, t.name)));
  const databases = [...new Set(tables.map((t) => t.database))];
  const rows = await target.rows<ReplicaRow>(
    `SELECT database, table, replica_name, zookeeper_path, queue_size FROM ${from} WHERE database IN (${quoteStringList(databases)})`,
    settings,
  );
  return rows.filter((r) => wanted.has(tableKey(r.database, r.table)));
}

/** Each table's ZooKeeper path and replica name on the connected replica. */
function ownPaths(own: readonly ReplicaRow[]): Map<string, ReplicaRow> {
  return new Map(own.map((r) => [tableKey(r.database, r.table), r]));
}

const sumQueue = (rows: readonly ReplicaRow[]): number => rows.reduce((n, r) => n + Number(r.queue_size), 0);

/**
 * The servers of the run's cluster that may be other replicas, each with a reader that reaches
 * it from the connected target; or why none can be read.
 */
async function otherReplicas(deps: ActivityDeps, target: ClickHouseConnection, ref: EndpointRef, replication?: ReplicationOptions): Promise<{ replicas: OtherReplica[]; onlyConnected?: string }> {
  if (!replication?.cluster) return { replicas: [], onlyConnected: 'the run names no cluster of the target (replication.cluster): its other replicas are unknown' };
  const { capabilities } = await target.server();
  if (!capabilities.unloggedStatements) {
    return { replicas: [], onlyConnected: `the target user "${target.endpoint.username}" may not keep a statement out of its query log, and remote() would leave its password there` };
  }
  const hosts = await target.rows<{ host_address: string; port: number | string }>(
    `SELECT host_address, port FROM system.clusters WHERE cluster = ${quoteString(replication.cluster)} ORDER BY shard_num, replica_num`,
  );
  if (hosts.length === 0) throw permanent(FAILURE_TYPES.replicaNotSynced, `the target has no cluster "${replication.cluster}" in system.clusters`);
  const replicas: OtherReplica[] = [];
  for (const host of hosts) {
    const port = Number(host.port);
    try {
      requireAllowed(deps, host.host_address, port, 'a replica of the target');
      requirePasswordMayReach(deps, ref, host.host_address, port, 'a replica of the target, which verification reads with remote()');
    } catch (err) {
      if (err instanceof SecretNotForServerError || (err as { type?: string }).type === FAILURE_TYPES.endpointNotAllowed) {
        return { replicas: [], onlyConnected: (err as Error).message };
      }
      throw err;
    }
    const address = host.host_address.includes(':') ? `[${host.host_address}]:${port}` : `${host.host_address}:${port}`;
    replicas.push({ address, reader: remoteReader('remote', address, target.endpoint, unloggedSettings(capabilities)) });
  }
  return { replicas };
}

/**
 * Looks at every other replica until each answers with an empty queue for the tables it shares
 * with the connected replica (same ZooKeeper path, another replica name), and returns those that
 * share any. A server of the cluster that holds none of them (the connected one, or another
 * shard's) is left out. Throws when the timeout passes first.
 */
async function waitForQueues(target: ClickHouseConnection, replicas: readonly OtherReplica[], tables: readonly PlannedObject[], own: Map<string, ReplicaRow>, timeoutSeconds: number): Promise<{ replica: OtherReplica; rows: ReplicaRow[] }[]> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    const looks = await Promise.all(replicas.map((replica) => lookAt(target, replica, tables, own)));
    const answered = looks.filter((l): l is { replica: OtherReplica; rows: ReplicaRow[] } => 'rows' in l && l.rows.length > 0);
    const pending = looks.filter((l) => 'error' in l || sumQueue(l.rows) > 0);
    if (pending.length === 0) return answered;
    if (Date.now() >= deadline) throw notSynced(pending[0], timeoutSeconds);
    await pause(POLL_MS);
  }
}

/** One look at a replica's queues: its rows of the tables it shares with the connected replica. */
async function lookAt(target: ClickHouseConnection, replica: OtherReplica, tables: readonly PlannedObject[], own: Map<string, ReplicaRow>): Promise<ReplicaLook> {
  try {
    const rows = await replica.reader.run((from, unlogged) => replicaRows(target, from('system', 'replicas'), tables, unlogged));
    return { replica, rows: rows.filter((r) => sharesTable(own.get(tableKey(r.database, r.table)), r)) };
  } catch (err) {
    return { replica, error: err as Error };
  }
}

function sharesTable(mine: ReplicaRow | undefined, theirs: ReplicaRow): boolean {
  return mine !== undefined && mine.zookeeper_path === theirs.zookeeper_path && mine.replica_name !== theirs.replica_name;
}

/** The failure of a replica that did not drain (or answer) in time; never with a password in it. */
function notSynced(look: ReplicaLook, timeoutSeconds: number) {
  if ('error' in look) {
    return permanent(FAILURE_TYPES.replicaNotSynced, `replica ${look.replica.address} of the target did not answer within ${timeoutSeconds} s: ${look.error.message}`);
  }
  const name = look.rows[0]?.replica_name ?? look.replica.address;
  return permanent(FAILURE_TYPES.replicaNotSynced, `replica ${name} still has ${sumQueue(look.rows)} entries in its queue after ${timeoutSeconds} s`);
}

/** Waits `ms`, or less when the activity is cancelled (the sleep then throws). */
async function pause(ms: number): Promise<void> {
  let context: Context | undefined;
  try {
    context = Context.current();
  } catch {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }
  await context.sleep(ms);
}

/** Each table's whole-table digest as `from` reads it (`FINAL` for an engine that merges by order, where the server reads it so). */
async function digestsOf(target: ClickHouseConnection, tables: readonly PlannedObject[], from: (t: PlannedObject) => string, settings: Record<string, number>): Promise<Map<string, PartitionDigest | undefined>> {
  const columns = await columnsOf(target, tables.map((t) => ({ database: t.database, table: t.name })));
  const out = new Map<string, PartitionDigest | undefined>();
  await forEachConcurrently([...tables], DIGEST_CONCURRENCY, async (t) => {
    const key = tableKey(t.database, t.name);
    const final = mergesByOrder(t.engine) && (await readsFinal(target, t.database, t.name, t.engine));
    const stored: readonly StoredColumn[] = columns.get(key) ?? [];
    const [digest] = await partitionDigests(target, t.database, t.name, stored, { partitioned: false, from: from(t), final, settings });
    out.set(key, digest);
  });
  return out;
}

/** How one other replica compares with the connected one, table by table. */
async function compareReplica(target: ClickHouseConnection, look: { replica: OtherReplica; rows: ReplicaRow[] }, tables: readonly PlannedObject[], reference: Map<string, PartitionDigest | undefined>): Promise<ReplicaOutcome> {
  const shared = new Set(look.rows.map((r) => tableKey(r.database, r.table)));
  const mine = tables.filter((t) => shared.has(tableKey(t.database, t.name)));
  const theirs = await look.replica.reader.run((from, unlogged) => digestsOf(target, mine, (t) => from(t.database, t.name), unlogged as Record<string, number>));
  const differing = mine.filter((t) => !sameDigest(reference.get(tableKey(t.database, t.name)), theirs.get(tableKey(t.database, t.name))));
  return {
    replica: look.rows[0].replica_name,
    tables: mine.length,
    mismatched: differing.length,
    queue: sumQueue(look.rows),
    ...(differing.length > 0 ? { firstMismatched: differing.slice(0, REPLICA_NAMES).map((t) => `${t.database}.${t.name}`) } : {}),
  };
}

/** Equal digests; an empty table has none. */
function sameDigest(a: PartitionDigest | undefined, b: PartitionDigest | undefined): boolean {
  return (a?.rows ?? 0) === (b?.rows ?? 0) && (a?.checksum ?? '0') === (b?.checksum ?? '0');
}

/**
 * What a server says of its replication: its clusters (`system.clusters`), its macros
 * (`system.macros`), its replicated tables (`system.replicas`), and the other replicas of each
 * table as ZooKeeper holds them (`system.zookeeper`). Queries only; the summary and the limits are
 * in topology-summary.ts.
 */
import type { ClickHouseConnection } from './connection';
import { quoteString, quoteStringList } from './sql';

/** One host of a cluster, as `system.clusters` lists it. */
export interface ClusterHost {
  cluster: string;
  shard: number;
  replica: number;
  host: string;
  port: number;
}

/** One replicated table of this server, as `system.replicas` reports it. */
export interface LocalReplica {
  database: string;
  table: string;
  replica: string;
  zooKeeperPath: string;
  readonly: boolean;
  queueSize: number;
  insertsInQueue: number;
  delaySeconds: number;
  /** Replicas of the table (from ZooKeeper); absent in the light query of {@link replicaLag}. */
  totalReplicas?: number;
  activeReplicas?: number;
}

/** Another replica of a table, as ZooKeeper holds it (its own server is not asked). */
export interface PeerReplica {
  database: string;
  table: string;
  replica: string;
  active: boolean;
  queueSize: number;
  /** Seconds since the oldest insert it has not fetched yet; 0 when it has none. */
  delaySeconds: number;
}

/** The hosts of every cluster the server knows. */
export async function clusterHosts(conn: ClickHouseConnection): Promise<ClusterHost[]> {
  const rows = await conn.rows<{ cluster: string; shard_num: number; replica_num: number; host_name: string; port: number }>(
    'SELECT cluster, shard_num, replica_num, host_name, port FROM system.clusters ORDER BY cluster, shard_num, replica_num',
  );
  return rows.map((r) => ({ cluster: r.cluster, shard: Number(r.shard_num), replica: Number(r.replica_num), host: r.host_name, port: Number(r.port) }));
}

/** The server's macros (`{shard}`, `{replica}`, …) by name. */
export async function macrosOf(conn: ClickHouseConnection): Promise<Record<string, string>> {
  const rows = await conn.rows<{ macro: string; substitution: string }>('SELECT macro, substitution FROM system.macros ORDER BY macro');
  return Object.fromEntries(rows.map((r) => [r.macro, r.substitution]));
}

type ReplicaRow = { database: string; table: string; replica_name: string; zookeeper_path: string; is_readonly: number; queue_size: number; inserts_in_queue: number; absolute_delay: string; total_replicas?: number; active_replicas?: number };

function localReplica(r: ReplicaRow): LocalReplica {
  const replica: LocalReplica = {
    database: r.database,
    table: r.table,
    replica: r.replica_name,
    zooKeeperPath: r.zookeeper_path,
    readonly: Number(r.is_readonly) === 1,
    queueSize: Number(r.queue_size),
    insertsInQueue: Number(r.inserts_in_queue),
    delaySeconds: Number(r.absolute_delay),
  };
  if (r.total_replicas !== undefined) Object.assign(replica, { totalReplicas: Number(r.total_replicas), activeReplicas: Number(r.active_replicas) });
  return replica;
}

const LAG_COLUMNS = 'database, table, replica_name, zookeeper_path, is_readonly, queue_size, inserts_in_queue, absolute_delay';

/** The replicated tables of `databases` on this server, with their replica counts (one ZooKeeper read per table on the server's side). */
export async function replicasIn(conn: ClickHouseConnection, databases: readonly string[]): Promise<LocalReplica[]> {
  if (databases.length === 0) return [];
  const rows = await conn.rows<ReplicaRow>(
    `SELECT ${LAG_COLUMNS}, total_replicas, active_replicas FROM system.replicas WHERE database IN (${quoteStringList(databases)}) ORDER BY database, table`,
  );
  return rows.map(localReplica);
}

/**
 * {@link replicasIn} without the columns that make the server read ZooKeeper: queue and delay of
 * this server's replicas, from its memory. Light enough to ask every few seconds.
 */
export async function replicaLag(conn: ClickHouseConnection, databases: readonly string[]): Promise<LocalReplica[]> {
  if (databases.length === 0) return [];
  const rows = await conn.rows<ReplicaRow>(`SELECT ${LAG_COLUMNS} FROM system.replicas WHERE database IN (${quoteStringList(databases)})`);
  return rows.map(localReplica);
}

/**
 * The other replicas of `table` as ZooKeeper holds them: whether each is active (its ephemeral
 * `is_active` node), its queue (the children of `queue`), and its delay (from
 * `min_unprocessed_insert_time`, as the replica's own `absolute_delay` counts it). Two reads per
 * replica's node list, through the server's own ZooKeeper session.
 */
export async function peersOf(conn: ClickHouseConnection, table: LocalReplica): Promise<PeerReplica[]> {
  const base = table.zooKeeperPath.replace(/\/+$/, '');
  const names = await conn.rows<{ name: string }>(`SELECT name FROM system.zookeeper WHERE path = ${quoteString(`${base}/replicas`)}`);
  const peers: PeerReplica[] = [];
  for (const { name } of names.filter((n) => n.name !== table.replica)) {
    const nodes = await conn.rows<{ name: string; value: string; numChildren: number; now: string }>(
      `SELECT name, value, numChildren, toUInt64(now()) AS now FROM system.zookeeper WHERE path = ${quoteString(`${base}/replicas/${name}`)}`,
    );
    const node = (n: string) => nodes.find((row) => row.name === n);
    const oldest = Number(node('min_unprocessed_insert_time')?.value ?? 0);
    const now = Number(nodes[0]?.now ?? 0);
    peers.push({
      database: table.database,
      table: table.table,
      replica: name,
      active: node('is_active') !== undefined,
      queueSize: Number(node('queue')?.numChildren ?? 0),
      delaySeconds: oldest > 0 && now > oldest ? now - oldest : 0,
    });
  }
  return peers;
}

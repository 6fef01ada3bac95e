/**
 * A side's replication topology in a few bounded lines, and the limits a healthy replica set keeps
 * (see `ReplicationOptions`). Pure: the queries are in topology.ts.
 */
import { firstLines, firstOf } from '../workflows/bounded';
import { DETAIL_LIMIT, type ReplicaTopology, type ReplicationOptions } from '../workflows/types';
import type { ClusterHost, LocalReplica, PeerReplica } from './topology';

/** A replica set is refused when a replica's replication queue holds more entries than this. */
export const DEFAULT_MAX_QUEUE = 100;
/** A replica set is refused when a replica is more seconds behind (`absolute_delay`) than this. */
export const DEFAULT_MAX_DELAY_SECONDS = 300;
/** Hosts listed per cluster, at most. */
const HOSTS_LISTED = 10;

/** The limits of a healthy replica set. */
export interface ReplicaLimits {
  maxQueue: number;
  maxDelaySeconds: number;
}

/** The run's limits: its own, else the defaults. */
export function replicaLimitsOf(options: ReplicationOptions | undefined): ReplicaLimits {
  return { maxQueue: options?.maxQueue ?? DEFAULT_MAX_QUEUE, maxDelaySeconds: options?.maxDelaySeconds ?? DEFAULT_MAX_DELAY_SECONDS };
}

/** What a side's servers said: clusters, macros, its replicated tables, and their other replicas as far as they were read. */
export interface TopologyFacts {
  hosts: readonly ClusterHost[];
  macros: Record<string, string>;
  replicas: readonly LocalReplica[];
  peers: readonly PeerReplica[];
  /** Tables whose other replicas were read. */
  peersChecked: number;
}

/** Every replica of the facts, this server's and the others', as the limits judge them. */
type Judged = { database: string; table: string; replica: string; readonly?: boolean; queueSize: number; delaySeconds: number };

/**
 * Why the replica set of `facts` is unhealthy against `limits`, worst first by kind (read-only
 * replicas, replicas missing, queues, delays), each naming replica, table, value and limit; the
 * first {@link DETAIL_LIMIT}, and a line counting the rest. Empty for a healthy set.
 */
export function replicaProblems(facts: Pick<TopologyFacts, 'replicas' | 'peers'>, limits: ReplicaLimits): string[] {
  const all: Judged[] = [...facts.replicas, ...facts.peers];
  const name = (r: Judged) => `replica ${r.replica} of ${r.database}.${r.table}`;
  const problems = [
    ...facts.replicas.filter((r) => r.readonly).map((r) => `${name(r)} is read-only (is_readonly = 1: it lost its ZooKeeper session, or its metadata)`),
    ...facts.replicas
      .filter((r) => r.totalReplicas !== undefined && (r.activeReplicas ?? 0) < r.totalReplicas)
      .map((r) => `${r.database}.${r.table} has ${r.activeReplicas} of ${r.totalReplicas} replicas active${inactivePeers(facts.peers, r)}`),
    ...all.filter((r) => r.queueSize > limits.maxQueue).map((r) => `${name(r)} has ${r.queueSize} entries in its replication queue, above replication.maxQueue = ${limits.maxQueue}`),
    ...all.filter((r) => r.delaySeconds > limits.maxDelaySeconds).map((r) => `${name(r)} is ${r.delaySeconds} s behind (absolute_delay), above replication.maxDelaySeconds = ${limits.maxDelaySeconds}`),
  ];
  return firstLines(problems, DETAIL_LIMIT);
}

function inactivePeers(peers: readonly PeerReplica[], table: LocalReplica): string {
  const inactive = peers.filter((p) => p.database === table.database && p.table === table.table && !p.active).map((p) => p.replica);
  return inactive.length > 0 ? ` (not active: ${inactive.join(', ')})` : '';
}

/** The highest of `value` over `replicas`, with where it is; null when none is above 0. */
function worst(replicas: readonly Judged[], value: (r: Judged) => number): { value: number; table: string; replica: string } | null {
  let found: Judged | null = null;
  for (const r of replicas) if (value(r) > 0 && (found === null || value(r) > value(found))) found = r;
  return found ? { value: value(found), table: `${found.database}.${found.table}`, replica: found.replica } : null;
}

/** The clusters of other servers (a cluster of one host is the server alone), each with its first hosts. */
function clustersOf(hosts: readonly ClusterHost[]): { clusters: ReplicaTopology['clusters']; alone: number } {
  const byName = new Map<string, ClusterHost[]>();
  for (const h of hosts) byName.set(h.cluster, [...(byName.get(h.cluster) ?? []), h]);
  const shared = [...byName.entries()].filter(([, list]) => list.length > 1);
  const clusters = shared.map(([name, list]) => ({
    name,
    shards: new Set(list.map((h) => h.shard)).size,
    replicas: Math.max(...list.map((h) => h.replica)),
    hosts: firstLines(list.map((h) => `${h.host}:${h.port}`), HOSTS_LISTED),
  }));
  return { clusters: firstOf(clusters, DETAIL_LIMIT), alone: byName.size - shared.length };
}

/** A side's topology, bounded whatever the number of tables, with its problems against `limits`. */
export function summariseTopology(facts: TopologyFacts, limits: ReplicaLimits): ReplicaTopology {
  const { clusters, alone } = clustersOf(facts.hosts);
  const all: Judged[] = [...facts.replicas, ...facts.peers];
  const replicated: ReplicaTopology['replicated'] = {
    tables: facts.replicas.length,
    readonly: facts.replicas.filter((r) => r.readonly).length,
    inactive: facts.replicas.filter((r) => r.totalReplicas !== undefined && (r.activeReplicas ?? 0) < r.totalReplicas).length,
    replicas: Math.max(0, ...facts.replicas.map((r) => r.totalReplicas ?? 1)),
    maxQueue: worst(all, (r) => r.queueSize),
    maxDelaySeconds: worst(all, (r) => r.delaySeconds),
    peersChecked: facts.peersChecked,
  };
  const macros = Object.fromEntries(firstOf(Object.entries(facts.macros), DETAIL_LIMIT));
  const topology = { summary: '', clusters, singleHostClusters: alone, macros, replicated, problems: replicaProblems(facts, limits) };
  return { ...topology, summary: topologyLine(topology) };
}

/** One line: `single server`, or the replicated tables, the clusters and the macros. */
export function topologyLine(t: Omit<ReplicaTopology, 'summary'>): string {
  if (t.replicated.tables === 0 && t.clusters.length === 0) return 'single server (no replicated tables, no cluster of other servers)';
  const r = t.replicated;
  const parts = [`${r.tables} replicated tables${r.tables > 0 ? ` (up to ${r.replicas} replicas each${r.inactive > 0 ? `, ${r.inactive} with a replica down` : ''}${r.readonly > 0 ? `, ${r.readonly} read-only` : ''})` : ''}`];
  if (r.maxQueue) parts.push(`longest queue ${r.maxQueue.value} (${r.maxQueue.table} on ${r.maxQueue.replica})`);
  if (r.maxDelaySeconds) parts.push(`largest delay ${r.maxDelaySeconds.value} s (${r.maxDelaySeconds.table} on ${r.maxDelaySeconds.replica})`);
  for (const c of t.clusters) parts.push(`cluster ${c.name}: ${c.shards} shard${c.shards === 1 ? '' : 's'} × ${c.replicas} replica${c.replicas === 1 ? '' : 's'}`);
  const macros = Object.entries(t.macros).map(([k, v]) => `{${k}}=${v}`);
  if (macros.length > 0) parts.push(`macros ${macros.join(' ')}`);
  return parts.join('; ');
}

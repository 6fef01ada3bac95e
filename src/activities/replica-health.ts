/**
 * The health of the replica sets a run reads and writes: the source's replicated tables in scope
 * and the target's in the run's databases, against the run's limits (`ReplicationOptions`). A run
 * refuses to start on a read-only replica, a replica missing, or a queue or delay above a limit.
 */
import type { ClickHouseConnection } from '../clickhouse/connection';
import { clusterHosts, macrosOf, peersOf, replicasIn, type LocalReplica, type PeerReplica } from '../clickhouse/topology';
import { replicaLimitsOf, summariseTopology, type ReplicaLimits } from '../clickhouse/topology-summary';
import { targetDatabasesOf, type Renames } from '../workflows/database-map';
import { INNER_TABLE_PREFIX } from '../workflows/objects';
import { scopeOfObject, type TableFilters } from '../workflows/scope';
import { FAILURE_TYPES, type EndpointRef, type ReplicaTopology, type ReplicationOptions } from '../workflows/types';
import { heartbeating, permanent, withConnections, type ActivityDeps } from './context';

/** Tables whose other replicas are read from ZooKeeper, at most per side: a read per replica each. */
export const PEER_TABLES = 200;

/** Which tables of a side count: the run's databases, and the filters (patterns name source databases). */
export interface SideScope {
  databases: readonly string[];
  filters?: TableFilters;
  /** Target database → source database, for the filters of the target side. */
  sourceNames?: ReadonlyMap<string, string>;
}

/** The source's side of a run: its databases and filters. */
export function sourceScope(req: { databases: string[] } & TableFilters): SideScope {
  return { databases: req.databases, filters: { include: req.include, exclude: req.exclude } };
}

/** The target's side of a run: its databases as renamed, the filters read with the source's names. */
export function targetScope(req: { databases: string[]; renames?: Renames } & TableFilters): SideScope {
  const sourceNames = new Map(req.databases.map((d) => [req.renames?.[d] ?? d, d]));
  return { databases: targetDatabasesOf(req), filters: { include: req.include, exclude: req.exclude }, sourceNames };
}

function inScope(scope: SideScope, r: LocalReplica): boolean {
  const database = scope.sourceNames?.get(r.database) ?? r.database;
  return scopeOfObject(scope.filters, { database, name: r.table, inner: r.table.startsWith(INNER_TABLE_PREFIX) }).inScope;
}

/** The other replicas of the first {@link PEER_TABLES} tables; a table whose nodes cannot be read (ZooKeeper away) is left out. */
async function peersOfTables(conn: ClickHouseConnection, replicas: readonly LocalReplica[]): Promise<{ peers: PeerReplica[]; checked: number }> {
  const peers: PeerReplica[] = [];
  let checked = 0;
  for (const table of replicas.slice(0, PEER_TABLES)) {
    const found = await peersOf(conn, table).catch(() => null);
    if (found === null) continue;
    peers.push(...found);
    checked++;
  }
  return { peers, checked };
}

/** A side's topology, with its problems against `limits`. */
export async function topologyOf(conn: ClickHouseConnection, scope: SideScope, limits: ReplicaLimits): Promise<ReplicaTopology> {
  const [hosts, macros, all] = await Promise.all([clusterHosts(conn), macrosOf(conn), replicasIn(conn, scope.databases)]);
  const replicas = all.filter((r) => inScope(scope, r));
  const { peers, checked } = await peersOfTables(conn, replicas);
  return summariseTopology({ hosts, macros, replicas, peers, peersChecked: checked }, limits);
}

/** Both sides' topologies of a run, each against the run's limits. */
export async function topologiesOf(source: ClickHouseConnection, target: ClickHouseConnection, req: { databases: string[]; renames?: Renames; replication?: ReplicationOptions } & TableFilters): Promise<{ source: ReplicaTopology; target: ReplicaTopology }> {
  const limits = replicaLimitsOf(req.replication);
  return { source: await topologyOf(source, sourceScope(req), limits), target: await topologyOf(target, targetScope(req), limits) };
}

/** Each side's problems, named by side. */
export function sideProblems(sides: { source?: ReplicaTopology; target?: ReplicaTopology }): string[] {
  return (['source', 'target'] as const).flatMap((side) => (sides[side]?.problems ?? []).map((p) => `on the ${side}, ${p}`));
}

/** The message of a `ReplicaSetUnhealthy` failure: each side's problems, and what to change. */
export function unhealthyMessage(sides: { source?: ReplicaTopology; target?: ReplicaTopology }): string | null {
  const named = sideProblems(sides);
  if (named.length === 0) return null;
  return `the replica sets are not healthy enough to start: ${named.join('; ')}. Let the replicas catch up (or bring them back), or change the limits in "replication" (maxQueue, maxDelaySeconds)`;
}

/** Fails, without retrying, with `ReplicaSetUnhealthy` when a side has a problem; the topologies go with the failure. */
export function requireHealthy(sides: { source?: ReplicaTopology; target?: ReplicaTopology }): void {
  const message = unhealthyMessage(sides);
  if (message) throw permanent(FAILURE_TYPES.replicaSetUnhealthy, message, sides);
}

/** The check before a run's first gate. */
export function createReplicaHealthActivities(deps: ActivityDeps) {
  return {
    /**
     * Reads the topology of both sides (clusters, macros, replicated tables and their replicas)
     * and fails, without retrying (`ReplicaSetUnhealthy`), when a replica set of the run's tables
     * is unhealthy; returns the two topologies. Reads only.
     */
    async checkReplicaHealth(req: { source: EndpointRef; target: EndpointRef; databases: string[]; renames?: Renames; replication?: ReplicationOptions } & TableFilters): Promise<{ source: ReplicaTopology; target: ReplicaTopology }> {
      return withConnections(deps, { source: req.source, target: req.target }, ({ source, target }) =>
        heartbeating(() => ({ step: 'replica health' }), async () => {
          const sides = await topologiesOf(source, target, req);
          requireHealthy(sides);
          return sides;
        }),
      );
    },
  };
}

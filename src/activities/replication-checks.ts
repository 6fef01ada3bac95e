/**
 * What blocks a plan on a replicated target, for the configure step's problems, before anything
 * changes: replicated tables without a ZooKeeper, a `replication.cluster` the target does not
 * have (or that does not hold it), Distributed tables reading a cluster the target lacks, and
 * ZooKeeper paths already in use (a source and target that share one ZooKeeper).
 */
import { listTables } from '../clickhouse/catalog';
import type { ClickHouseConnection } from '../clickhouse/connection';
import { distributedClusterOf, replicatedEngineOf } from '../clickhouse/ddl-replication';
import { firstLine } from '../clickhouse/errors';
import { quoteString } from '../clickhouse/sql';
import { namedList } from '../workflows/markdown';
import { objectKey } from '../workflows/table-key';
import type { PlannedObject, ReplicationOptions } from '../workflows/types';

/** A planned object and the ZooKeeper path its DDL gives it on the target. */
interface ReplicatedObject {
  object: PlannedObject;
  path: string;
}

/**
 * Problems of `objects` (the plan as the target will create it, see `planOnReplicatedTarget`)
 * on `target`: empty when the target can take them as they are.
 */
export async function replicationProblems(target: ClickHouseConnection, objects: PlannedObject[], replication: ReplicationOptions | undefined): Promise<string[]> {
  const problems = [...(await clusterProblems(target, replication?.cluster)), ...(await distributedProblems(target, objects, replication?.cluster))];
  const replicated = objects.flatMap((object) => {
    const engine = object.inner ? null : replicatedEngineOf(object.createTableQuery);
    return engine ? [{ object, path: engine.zooKeeperPath }] : [];
  });
  if (replicated.length === 0) return problems;
  const noZooKeeper = await zooKeeperMissing(target);
  if (noZooKeeper !== null) {
    problems.push(`the plan has replicated tables (${namedList(replicated.map(({ object }) => `${object.database}.${object.name}`))}) but the target has no ZooKeeper: ${noZooKeeper}`);
    return problems;
  }
  return [...problems, ...(await pathsInUse(target, replicated))];
}

/** Why the target cannot reach a ZooKeeper, or null when it can. */
async function zooKeeperMissing(target: ClickHouseConnection): Promise<string | null> {
  try {
    await target.rows(`SELECT name FROM system.zookeeper WHERE path = '/' LIMIT 1`);
    return null;
  } catch (err) {
    return firstLine(err);
  }
}

/** `replication.cluster` must be a cluster of the target that holds the target server itself. */
async function clusterProblems(target: ClickHouseConnection, cluster: string | undefined): Promise<string[]> {
  if (cluster === undefined) return [];
  const [nodes] = await target.rows<{ nodes: string; local: string }>(
    `SELECT count() AS nodes, toUInt64(sum(is_local)) AS local FROM system.clusters WHERE cluster = ${quoteString(cluster)}`,
  );
  if (Number(nodes?.nodes ?? 0) === 0) {
    const known = await target.rows<{ cluster: string }>(`SELECT DISTINCT cluster FROM system.clusters ORDER BY cluster`);
    return [`replication.cluster "${cluster}" is not a cluster of the target (its system.clusters has ${namedList(known.map((k) => k.cluster)) || 'none'})`];
  }
  if (Number(nodes.local) === 0) return [`replication.cluster "${cluster}" does not contain the target server itself, so ON CLUSTER statements would not reach it`];
  return [];
}

/** Without `replication.cluster`, a Distributed table keeps its cluster: the target must have one of that name. */
async function distributedProblems(target: ClickHouseConnection, objects: PlannedObject[], cluster: string | undefined): Promise<string[]> {
  if (cluster !== undefined) return [];
  const byCluster = new Map<string, string[]>();
  for (const object of objects) {
    const read = distributedClusterOf(object.createTableQuery);
    if (read !== null) byCluster.set(read, [...(byCluster.get(read) ?? []), `${object.database}.${object.name}`]);
  }
  if (byCluster.size === 0) return [];
  const known = new Set((await target.rows<{ cluster: string }>(`SELECT DISTINCT cluster FROM system.clusters`)).map((r) => r.cluster));
  return [...byCluster]
    .filter(([name]) => !known.has(name))
    .map(([name, tables]) => `the Distributed table ${namedList(tables)} reads the cluster "${name}", which the target does not have: give replication.cluster, the target's cluster to read instead`);
}

/**
 * Replicated tables the run would create at a ZooKeeper path that already exists in the target's
 * ZooKeeper: someone else's replicas live there (most often the source's, when both sides share
 * one ZooKeeper), and the new table would join them.
 */
async function pathsInUse(target: ClickHouseConnection, replicated: ReplicatedObject[]): Promise<string[]> {
  const present = new Set((await listTables(target, [...new Set(replicated.map((r) => r.object.database))])).map(objectKey));
  const macros = new Map((await target.rows<{ macro: string; substitution: string }>(`SELECT macro, substitution FROM system.macros`)).map((m) => [m.macro, m.substitution]));
  const problems: string[] = [];
  for (const { object, path } of replicated.filter((r) => !present.has(objectKey(r.object)))) {
    const expanded = path.replace(/\{(\w+)\}/g, (whole, name: string) => macros.get(name) ?? whole);
    if (await zooKeeperNodeExists(target, expanded)) {
      problems.push(`the ZooKeeper path ${expanded} of ${object.database}.${object.name} is already used in ZooKeeper: the source and target may share one ZooKeeper; give replication.zooKeeperPath, a template of paths of the target's own`);
    }
  }
  return problems;
}

/** Whether `path` is a node of the target's ZooKeeper (its parent lists it). */
async function zooKeeperNodeExists(target: ClickHouseConnection, path: string): Promise<boolean> {
  const trimmed = path.replace(/\/+$/, '');
  const cut = trimmed.lastIndexOf('/');
  const parent = cut <= 0 ? '/' : trimmed.slice(0, cut);
  try {
    const children = await target.rows<{ name: string }>(`SELECT name FROM system.zookeeper WHERE path = ${quoteString(parent)}`);
    return children.some((c) => c.name === trimmed.slice(cut + 1));
  } catch (err) {
    if (/No node/i.test(firstLine(err))) return false; // no parent, so no path either
    throw err;
  }
}

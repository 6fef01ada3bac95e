/**
 * Replicated tables on the target: each one gets a ZooKeeper path of the target's (from the run's
 * template, see `ReplicationOptions`), never the source's, with which it would collide with the
 * source's replicas, or join them; Distributed tables read the target's cluster when the run names
 * one. Configure and validation both plan through {@link planOnReplicatedTarget}, so what
 * configure checks is what the schema step creates. The DDL rewrites themselves are in
 * src/clickhouse/ddl-replication.ts; the checks before any change in ./replication-checks.ts.
 */
import type { ClickHouseConnection } from '../clickhouse/connection';
import { DEFAULT_ZOOKEEPER_PATH, expandPathTemplate, REPLICA_MACRO, replicatedEngineOf, templateOfPath, withDistributedCluster, withZooKeeperPath } from '../clickhouse/ddl-replication';
import { INTERNAL_PREFIX } from '../clickhouse/scratch';
import { quoteString } from '../clickhouse/sql';
import type { PlannedObject, ReplicationOptions } from '../workflows/types';

/** Target tables read to tell the template they follow. */
const TEMPLATE_SAMPLE = 1000;

/** Where a run's path template comes from: its option, the target's replicated tables, or the default. */
export type PathTemplateSource = 'option' | 'target' | 'default';

/** A run's ZooKeeper path template and where it comes from. */
export interface PathTemplate {
  template: string;
  from: PathTemplateSource;
}

/**
 * The path template of a run on `target`: its own (`replication.zooKeeperPath`); else the one
 * most of the target's replicated tables follow (read from their CREATE statements, where
 * `{shard}` stands unexpanded); else `DEFAULT_ZOOKEEPER_PATH`.
 */
export async function pathTemplateOn(target: ClickHouseConnection, replication: ReplicationOptions | undefined): Promise<PathTemplate> {
  if (replication?.zooKeeperPath) return { template: replication.zooKeeperPath, from: 'option' };
  const rows = await target.rows<ReplicatedTableRow>(
    `SELECT database, name, create_table_query FROM system.tables
     WHERE engine LIKE 'Replicated%MergeTree' AND database != 'system' AND NOT startsWith(database, ${quoteString(INTERNAL_PREFIX)})
     ORDER BY database, name LIMIT ${TEMPLATE_SAMPLE}`,
  );
  const template = commonTemplate(rows);
  return template === null ? { template: DEFAULT_ZOOKEEPER_PATH, from: 'default' } : { template, from: 'target' };
}

/** A replicated table of a server, as `system.tables` has it. */
export interface ReplicatedTableRow {
  database: string;
  name: string;
  create_table_query: string;
}

/**
 * The path template most of `tables` follow (the first seen among equals), read back from each
 * one's ZooKeeper path; null when no path names its own database and table.
 */
export function commonTemplate(tables: readonly ReplicatedTableRow[]): string | null {
  const counts = new Map<string, number>();
  for (const row of tables) {
    const path = replicatedEngineOf(row.create_table_query)?.zooKeeperPath;
    const template = path === undefined ? null : templateOfPath(path, { database: row.database, table: row.name });
    if (template !== null) counts.set(template, (counts.get(template) ?? 0) + 1);
  }
  if (counts.size === 0) return null;
  return [...counts].reduce((best, next) => (next[1] > best[1] ? next : best))[0];
}

/**
 * `objects` (named as the target has them) with each replicated table's ZooKeeper path made from
 * `template` and its replica name `{replica}`; every other object as it is.
 */
export function replicatedOnTarget(objects: PlannedObject[], template: string): PlannedObject[] {
  return objects.map((object) => {
    const path = expandPathTemplate(template, { database: object.database, table: object.name });
    const createTableQuery = withZooKeeperPath(object.createTableQuery, path, REPLICA_MACRO);
    return createTableQuery === object.createTableQuery ? object : { ...object, createTableQuery };
  });
}

/** `objects` with each Distributed table reading `cluster`; as they are without one. */
export function distributedOnTarget(objects: PlannedObject[], cluster: string | undefined): PlannedObject[] {
  if (cluster === undefined) return objects;
  return objects.map((object) => {
    const createTableQuery = withDistributedCluster(object.createTableQuery, cluster);
    return createTableQuery === object.createTableQuery ? object : { ...object, createTableQuery };
  });
}

/**
 * The plan as the schema step creates it on `target`: replicated tables on the run's path
 * template (see {@link pathTemplateOn}), Distributed tables on `replication.cluster`. The one
 * function configure and validation share.
 */
export async function planOnReplicatedTarget(target: ClickHouseConnection, objects: PlannedObject[], replication: ReplicationOptions | undefined): Promise<{ objects: PlannedObject[]; path: PathTemplate }> {
  const path = await pathTemplateOn(target, replication);
  return { objects: distributedOnTarget(replicatedOnTarget(objects, path.template), replication?.cluster), path };
}

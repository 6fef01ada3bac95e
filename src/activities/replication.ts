/**
 * Replicated tables on the target: each one gets a ZooKeeper path of the target's (from the run's
 * template, see `ReplicationOptions`), never the source's, with which it would collide with the
 * source's replicas, or join them. The DDL rewrite itself is in src/clickhouse/ddl-replication.ts.
 */
import { DEFAULT_ZOOKEEPER_PATH, expandPathTemplate, REPLICA_MACRO, withZooKeeperPath } from '../clickhouse/ddl-replication';
import type { PlannedObject, ReplicationOptions } from '../workflows/types';

/** The path template of a run: its own, else the default. */
export function pathTemplateOf(replication: ReplicationOptions | undefined): string {
  return replication?.zooKeeperPath ?? DEFAULT_ZOOKEEPER_PATH;
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

import { rewriteCreateStatement } from '../../src/clickhouse/ddl';
import { dropDatabaseSql, dropObjectSql, hostStatuses } from '../../src/clickhouse/on-cluster';
import { commonTemplate, distributedOnTarget, replicatedOnTarget } from '../../src/activities/replication';
import type { PlannedObject } from '../../src/workflows/types';
import {
  DEFAULT_ZOOKEEPER_PATH,
  distributedClusterOf,
  expandPathTemplate,
  isReplicatedEngine,
  localEngineClause,
  replicatedEngineOf,
  templateOfPath,
  withDistributedCluster,
  withoutReplication,
  withZooKeeperPath,
} from '../../src/clickhouse/ddl-replication';

// As 18.16 prints them in system.tables.create_table_query.
const NEW_SYNTAX =
  "CREATE TABLE shop.orders ( p UInt8,  id UInt32,  v String) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/shop/orders', '{replica}', v) PARTITION BY p ORDER BY id SETTINGS index_granularity = 8192";
const OLD_SYNTAX = "CREATE TABLE shop.hits ( d Date,  id UInt32) ENGINE = ReplicatedMergeTree('/zk/hits', 'r1', d, id, 8192)";
const PLAIN = 'CREATE TABLE shop.t ( id UInt32) ENGINE = MergeTree ORDER BY id SETTINGS index_granularity = 8192';

describe('replicated engines in CREATE statements', () => {
  it('when the engine is replicated, its path and replica are read; otherwise there is none', () => {
    expect(replicatedEngineOf(NEW_SYNTAX)).toEqual({
      engine: 'ReplicatedReplacingMergeTree',
      localEngine: 'ReplacingMergeTree',
      zooKeeperPath: '/clickhouse/tables/{shard}/shop/orders',
      replica: '{replica}',
    });
    expect(replicatedEngineOf(OLD_SYNTAX)?.replica).toBe('r1');
    expect(replicatedEngineOf(PLAIN)).toBeNull();
    expect(replicatedEngineOf("CREATE TABLE t (s String DEFAULT 'ReplicatedMergeTree(') ENGINE = Log")).toBeNull();
    expect(isReplicatedEngine('ReplicatedSummingMergeTree')).toBe(true);
    expect(isReplicatedEngine('MergeTree')).toBe(false);
  });

  it('when the target gets its own path, only the two arguments change', () => {
    expect(withZooKeeperPath(NEW_SYNTAX, '/clickhouse/tables/{shard}/shop_v2/orders')).toBe(
      NEW_SYNTAX.replace("'/clickhouse/tables/{shard}/shop/orders'", "'/clickhouse/tables/{shard}/shop_v2/orders'"),
    );
    expect(withZooKeeperPath(OLD_SYNTAX, "/it's")).toBe("CREATE TABLE shop.hits ( d Date,  id UInt32) ENGINE = ReplicatedMergeTree('/it\\'s', '{replica}', d, id, 8192)");
    expect(withZooKeeperPath(PLAIN, '/x')).toBe(PLAIN);
  });

  it('when a twin without replication is asked for, the engine loses its first two arguments and keeps the rest', () => {
    expect(localEngineClause(NEW_SYNTAX)).toBe('ENGINE = ReplacingMergeTree(v) PARTITION BY p ORDER BY id SETTINGS index_granularity = 8192');
    expect(localEngineClause(OLD_SYNTAX)).toBe('ENGINE = MergeTree(d, id, 8192)');
    expect(localEngineClause("CREATE TABLE t (id UInt8) ENGINE = ReplicatedMergeTree('/p', '{replica}') ORDER BY id")).toBe('ENGINE = MergeTree() ORDER BY id');
    expect(localEngineClause(PLAIN)).toBeNull();
    expect(withoutReplication(NEW_SYNTAX)).toBe(
      'CREATE TABLE shop.orders ( p UInt8,  id UInt32,  v String) ENGINE = ReplacingMergeTree(v) PARTITION BY p ORDER BY id SETTINGS index_granularity = 8192',
    );
    expect(withoutReplication(PLAIN)).toBe(PLAIN);
  });

  it('when a template is expanded, database and table are put in and server macros are left', () => {
    expect(expandPathTemplate(DEFAULT_ZOOKEEPER_PATH, { database: 'shop', table: 'orders' })).toBe('/clickhouse/tables/{shard}/shop/orders');
  });

  it("when a target table's path names its database and table, the template is read back from it", () => {
    expect(templateOfPath('/clickhouse/tables/{shard}/shop/orders', { database: 'shop', table: 'orders' })).toBe(DEFAULT_ZOOKEEPER_PATH);
    expect(templateOfPath('/ch/{layer}-{shard}/orders_shop/orders', { database: 'shop', table: 'orders' })).toBeNull();
    expect(templateOfPath('/ch/x/x', { database: 'x', table: 'x' })).toBe('/ch/{database}/{table}');
  });
});

describe('DDL on a cluster', () => {
  it('when a cluster is given, ON CLUSTER follows the object name and the rest of the statement stays as it was', () => {
    expect(rewriteCreateStatement(NEW_SYNTAX, 'shop', 'orders', { onCluster: 'target_replicas' }).sql).toBe(
      "CREATE TABLE IF NOT EXISTS `shop`.`orders` ON CLUSTER `target_replicas` ( p UInt8,  id UInt32,  v String) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/shop/orders', '{replica}', v) PARTITION BY p ORDER BY id SETTINGS index_granularity = 8192",
    );
    expect(rewriteCreateStatement('CREATE MATERIALIZED VIEW `we ird`.`m;v` TO shop.t AS SELECT 1 AS id', 'we ird', 'm;v', { ifNotExists: false, onCluster: 'c`1' }).sql).toBe(
      'CREATE MATERIALIZED VIEW `we ird`.`m;v` ON CLUSTER `c\\`1` TO shop.t AS SELECT 1 AS id',
    );
    expect(rewriteCreateStatement(PLAIN, 'shop', 't').sql).not.toContain('ON CLUSTER');
  });

  it('when objects are dropped on a cluster, the clause follows the name; without one there is none', () => {
    expect(dropObjectSql('shop', 'orders', 'target_replicas')).toBe('DROP TABLE IF EXISTS `shop`.`orders` ON CLUSTER `target_replicas`');
    expect(dropDatabaseSql('shop', 'target_replicas')).toBe('DROP DATABASE IF EXISTS `shop` ON CLUSTER `target_replicas`');
    expect(dropObjectSql('shop', 'orders', undefined)).toBe('DROP TABLE IF EXISTS `shop`.`orders`');
  });

  it("when the hosts answer a statement ON CLUSTER, each one's status and error are read", () => {
    const answer = "127.0.0.1\t9001\t0\t\t1\t0\n127.0.0.1\t9002\t57\tCode: 57, Table x.t already exists.\t0\t0\n";
    expect(hostStatuses(answer)).toEqual([
      { host: '127.0.0.1', port: '9001', status: 0, error: '' },
      { host: '127.0.0.1', port: '9002', status: 57, error: 'Code: 57, Table x.t already exists.' },
    ]);
  });
});

describe('Distributed tables on the target cluster', () => {
  const DISTRIBUTED = "CREATE TABLE shop.all_orders ( p UInt8,  id UInt32) ENGINE = Distributed(source_replicas, shop, orders, rand())";
  it("when a cluster is given, the engine's first argument names it, bare or as a string as it was", () => {
    expect(withDistributedCluster(DISTRIBUTED, 'target_replicas')).toBe('CREATE TABLE shop.all_orders ( p UInt8,  id UInt32) ENGINE = Distributed(`target_replicas`, shop, orders, rand())');
    expect(withDistributedCluster("CREATE TABLE a.b (x UInt8) ENGINE = Distributed('src', 'a', 't')", "it's")).toBe("CREATE TABLE a.b (x UInt8) ENGINE = Distributed('it\\'s', 'a', 't')");
    expect(distributedClusterOf(DISTRIBUTED)).toBe('source_replicas');
    expect(distributedClusterOf(withDistributedCluster(DISTRIBUTED, 'target_replicas'))).toBe('target_replicas');
  });

  it('when a statement is not a Distributed table (or names the cluster in a string elsewhere), it stays as it was', () => {
    expect(withDistributedCluster(NEW_SYNTAX, 'target_replicas')).toBe(NEW_SYNTAX);
    const view = "CREATE VIEW shop.v AS SELECT 'Distributed(source_replicas, shop, t)' AS s";
    expect(withDistributedCluster(view, 'target_replicas')).toBe(view);
    expect(distributedClusterOf(PLAIN)).toBeNull();
  });

  it('when the plan is put on the target, replicated tables get the template path and Distributed tables the cluster, only with one', () => {
    const object = (name: string, createTableQuery: string) => ({ database: 'shop', name, createTableQuery }) as PlannedObject;
    const plan = [object('orders', NEW_SYNTAX), object('all_orders', DISTRIBUTED), object('t', PLAIN)];
    const onTarget = distributedOnTarget(replicatedOnTarget(plan, '/t/{shard}/{database}/{table}'), 'target_replicas');
    expect(replicatedEngineOf(onTarget[0].createTableQuery)?.zooKeeperPath).toBe('/t/{shard}/shop/orders');
    expect(distributedClusterOf(onTarget[1].createTableQuery)).toBe('target_replicas');
    expect(onTarget[2]).toBe(plan[2]);
    expect(distributedOnTarget(plan, undefined)).toBe(plan);
  });
});

describe("the target's own path template", () => {
  const row = (database: string, name: string, path: string) => ({ database, name, create_table_query: `CREATE TABLE ${database}.${name} (id UInt8) ENGINE = ReplicatedMergeTree('${path}', '{replica}') ORDER BY id` });
  it('when most replicated tables follow one template, it is the one; a path that does not name its table counts for none', () => {
    expect(commonTemplate([row('a', 't', '/x/{shard}/a/t'), row('b', 'u', '/y/{shard}/tables/b/u'), row('c', 'v', '/y/{shard}/tables/c/v'), row('d', 'w', '/z/fixed')])).toBe('/y/{shard}/tables/{database}/{table}');
    expect(commonTemplate([row('a', 't', '/x/{shard}/a/t'), row('b', 'u', '/y/{shard}/b/u')])).toBe('/x/{shard}/{database}/{table}');
  });

  it('when no replicated table names its database and table in its path, there is none', () => {
    expect(commonTemplate([])).toBeNull();
    expect(commonTemplate([row('d', 'w', '/z/fixed')])).toBeNull();
  });
});

import {
  DEFAULT_ZOOKEEPER_PATH,
  expandPathTemplate,
  isReplicatedEngine,
  localEngineClause,
  replicatedEngineOf,
  templateOfPath,
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

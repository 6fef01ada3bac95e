import { renameDatabasesIn } from '../../src/clickhouse/ddl-rename';
import { onTargetSide, sourceDatabaseOf, targetDatabaseOf, targetDatabasesOf } from '../../src/workflows/database-map';

const renames = { shop: 'shop_v2' };

describe('database renames, mapped', () => {
  it('when a database is renamed, its target name is the new one and others keep theirs', () => {
    const input = { databases: ['shop', 'logs'], renames };
    expect(targetDatabaseOf(input, 'shop')).toBe('shop_v2');
    expect(targetDatabasesOf(input)).toEqual(['shop_v2', 'logs']);
    expect(targetDatabasesOf({ databases: ['shop'] })).toEqual(['shop']);
  });

  it('when an object is renamed, it carries its source database; without a rename it is the same object', () => {
    const object = { database: 'shop', name: 't' };
    const mapped = onTargetSide(object, renames);
    expect(mapped).toEqual({ database: 'shop_v2', sourceDatabase: 'shop', name: 't' });
    expect(sourceDatabaseOf(mapped)).toBe('shop');
    expect(onTargetSide({ database: 'logs', name: 't' }, renames)).toEqual({ database: 'logs', name: 't' });
    expect(onTargetSide(object, undefined)).toBe(object);
    expect(sourceDatabaseOf(object)).toBe('shop');
  });
});

describe('CREATE statements of renamed databases', () => {
  const rename = (ddl: string) => renameDatabasesIn(ddl, renames);

  it('when a table names its database, the name is rewritten', () => {
    const out = rename('CREATE TABLE shop.orders (id UInt64, shopper String) ENGINE = MergeTree ORDER BY id');
    expect(out.sql).toBe('CREATE TABLE `shop_v2`.orders (id UInt64, shopper String) ENGINE = MergeTree ORDER BY id');
    expect(out.unsafe).toEqual([]);
  });

  it('when a materialized view writes TO a table and selects with joins, every qualifier is rewritten, other databases stay', () => {
    const out = rename('CREATE MATERIALIZED VIEW shop.mv TO shop.totals AS SELECT o.id, shop.orders.n FROM shop.orders AS o JOIN `shop`.users USING id JOIN logs.shop USING id');
    expect(out.sql).toBe('CREATE MATERIALIZED VIEW `shop_v2`.mv TO `shop_v2`.totals AS SELECT o.id, `shop_v2`.orders.n FROM `shop_v2`.orders AS o JOIN `shop_v2`.users USING id JOIN logs.shop USING id');
    expect(out.unsafe).toEqual([]);
  });

  it('when Merge, Buffer and Distributed name the database as a word or a string, the argument is rewritten', () => {
    expect(rename("CREATE TABLE shop.m (id UInt64) ENGINE = Merge(shop, '^orders')").sql).toBe("CREATE TABLE `shop_v2`.m (id UInt64) ENGINE = Merge(`shop_v2`, '^orders')");
    expect(rename('CREATE TABLE shop.b (id UInt64) ENGINE = Buffer(shop, orders, 16, 10, 100, 10000, 1000000, 10000000, 100000000)').sql).toBe(
      'CREATE TABLE `shop_v2`.b (id UInt64) ENGINE = Buffer(`shop_v2`, orders, 16, 10, 100, 10000, 1000000, 10000000, 100000000)',
    );
    const distributed = rename("CREATE TABLE shop.d (id UInt64) ENGINE = Distributed(local, 'shop', 'orders', rand())");
    expect(distributed.sql).toBe("CREATE TABLE `shop_v2`.d (id UInt64) ENGINE = Distributed(local, 'shop_v2', 'orders', rand())");
    expect(distributed.clusters).toEqual(['local']);
    expect(distributed.unsafe).toEqual([]);
  });

  it('when a table of the renamed database has the database\'s own name, only the qualifier changes', () => {
    expect(rename('CREATE TABLE shop.shop (id UInt64) ENGINE = Buffer(shop, shop, 16, 10, 100, 1, 2, 3, 4)').sql).toBe(
      'CREATE TABLE `shop_v2`.shop (id UInt64) ENGINE = Buffer(`shop_v2`, shop, 16, 10, 100, 1, 2, 3, 4)',
    );
  });

  it('when a string may name the database (dictGet, remote), it is named as unsafe and left as it is', () => {
    const ddl = "CREATE VIEW shop.v AS SELECT dictGetString('shop.dict', 'name', toUInt64(1)) AS n, 'shop' AS s FROM shop.orders";
    const out = rename(ddl);
    expect(out.sql).toContain("dictGetString('shop.dict'");
    expect(out.sql).toContain('FROM `shop_v2`.orders');
    expect(out.unsafe).toEqual([expect.stringContaining("'shop.dict'"), expect.stringContaining("'shop'")]);
  });

  it('when a bare word has the database\'s name (a column, an alias), it is named as unsafe', () => {
    expect(rename('CREATE TABLE shop.t (shop UInt64) ENGINE = Log').unsafe).toEqual([expect.stringContaining('shop may be the renamed database shop')]);
  });

  it('when the database argument is an expression, a Distributed cluster cannot be read, or the text cannot be read, nothing is guessed', () => {
    expect(rename("CREATE TABLE shop.m (id UInt64) ENGINE = Merge(currentDatabase(), 'x')").unsafe).toEqual([]);
    expect(rename("CREATE TABLE shop.d (id UInt64) ENGINE = Distributed(concat('a', 'b'), shop, orders)").unsafe).toEqual([expect.stringContaining('cluster')]);
    expect(rename("CREATE TABLE shop.t (s String DEFAULT 'x) ENGINE = Log").unsafe).toEqual([expect.stringContaining('cannot be read')]);
  });

  it('when names are hostile, they round-trip through quoting', () => {
    const out = renameDatabasesIn('CREATE TABLE `we``ird db`.t (id UInt64) ENGINE = Log', { 'we`ird db': "new 'db; x" });
    expect(out.sql).toBe("CREATE TABLE `new 'db; x`.t (id UInt64) ENGINE = Log");
  });

  it('when no database is renamed, the statement stays byte for byte', () => {
    const ddl = 'CREATE VIEW logs.v AS SELECT * FROM logs.t -- shop.t';
    expect(renameDatabasesIn(ddl, renames)).toEqual({ sql: ddl, unsafe: [], clusters: [] });
  });
});

import { ddlFeaturesOf } from '../../src/clickhouse/ddl-features';

describe('ddlFeaturesOf', () => {
  it('when a table uses codecs, TTL and a skip index, all three are found', () => {
    const ddl =
      'CREATE TABLE d.t (d Date, x UInt64 CODEC(Delta, ZSTD(3)), INDEX ix x TYPE minmax GRANULARITY 4) ' +
      'ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY x TTL d + toIntervalDay(30) SETTINGS index_granularity = 8192';
    expect(ddlFeaturesOf(ddl).sort()).toEqual(['codec', 'skipIndex', 'ttl']);
  });

  it('when a table uses the old MergeTree syntax, it is found, and the new syntax is not mistaken for it', () => {
    expect(ddlFeaturesOf('CREATE TABLE d.t (d Date, x UInt64) ENGINE = MergeTree(d, x, 8192)')).toEqual(['legacyMergeTree']);
    expect(ddlFeaturesOf('CREATE TABLE d.t (d Date, x UInt64) ENGINE = MergeTree() ORDER BY x')).toEqual([]);
    expect(ddlFeaturesOf('CREATE TABLE d.t (d Date, x UInt64) ENGINE = ReplacingMergeTree(x) ORDER BY x')).toEqual([]);
  });

  it('when a plain table uses none, nothing is found', () => {
    expect(ddlFeaturesOf('CREATE TABLE d.t (kind String, label String) ENGINE = TinyLog')).toEqual([]);
  });
});

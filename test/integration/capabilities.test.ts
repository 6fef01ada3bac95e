import { probeDdlFeatures } from '../../src/clickhouse/ddl-features';
import type { ClickHouseConnection } from '../../src/clickhouse/connection';
import { connect, uniqueName } from './harness';
import { testStack } from './stack-env';

let target: ClickHouseConnection;

beforeAll(() => {
  target = connect(testStack().target, 'target');
});

afterAll(() => target.close());

describe('capability detection on the real target', () => {
  it('detects the version and what the server knows', async () => {
    const info = await target.server();
    expect(info.version).toMatch(/^\d+\.\d+/);
    const settings = await target.rows<{ name: string }>(
      "SELECT name FROM system.settings WHERE name IN ('insert_allow_materialized_columns', 'optimize_on_insert', 'allow_experimental_low_cardinality_type')",
    );
    const has = (name: string) => settings.some((s) => s.name === name);
    expect(info.capabilities.insertMaterialized).toBe(has('insert_allow_materialized_columns'));
    expect(info.capabilities.optimizeOnInsert).toBe(has('optimize_on_insert'));
    expect(info.capabilities.lowCardinalityFlag).toBe(has('allow_experimental_low_cardinality_type'));
    // Both facts follow from the server's own catalogue, and 19.15 introduced system.disks.
    expect(info.capabilities.systemDisks).toBe(info.major > 19 || (info.major === 19 && info.minor >= 15));
  });

  it('probes each DDL feature by asking the server, and reports a refusal with its reason', async () => {
    const scratch = uniqueName('__migrator_probe_test');
    const info = await target.server();
    const results = await probeDdlFeatures(target, scratch, ['codec', 'legacyMergeTree']);

    expect(results.get('legacyMergeTree')).toEqual({ supported: true });
    const codec = results.get('codec');
    // ClickHouse added column codecs in 19.1.
    expect(codec?.supported).toBe(info.major >= 19);
    if (!codec?.supported) expect(codec?.detail).toMatch(/target ClickHouse: .*(CODEC|Syntax error)/i);
    const [left] = await target.rows<{ n: string }>(`SELECT count() AS n FROM system.databases WHERE name = '${scratch}'`);
    expect(Number(left.n)).toBe(0);
  });
});

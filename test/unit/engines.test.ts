import { classifyEngine, mergesByOrder } from '../../src/clickhouse/catalog';
import { inCreationOrder } from '../../src/activities/inventory';

describe('classifyEngine', () => {
  it('copies MergeTree tables by partition and Log tables whole', () => {
    expect(classifyEngine('ReplacingMergeTree').kind).toBe('partitioned');
    expect(classifyEngine('TinyLog').kind).toBe('whole-table');
  });

  it('recreates tables that only point at data (Merge, Buffer, Distributed) and copies Join tables whole', () => {
    expect(['Merge', 'Buffer', 'Distributed', 'Null'].map((e) => classifyEngine(e).kind)).toEqual(['schema-only', 'schema-only', 'schema-only', 'schema-only']);
    expect(classifyEngine('Join').kind).toBe('whole-table');
  });

  it('when a Set table cannot be read back, it is unsupported with a reason', () => {
    expect(classifyEngine('Set')).toEqual({ kind: 'unsupported', reason: expect.stringMatching(/cannot be read back/) });
  });

  it('when a table reads from outside ClickHouse, it is unsupported with a reason', () => {
    const kafka = classifyEngine('Kafka');
    expect(kafka.kind).toBe('unsupported');
    expect(kafka.reason).toMatch(/Kafka/);
  });
});

describe('inCreationOrder', () => {
  it('puts tables first, then views, then materialized views, and inner tables last', () => {
    const objects = [
      { database: 'd', name: 'mv', kind: 'materialized-view' as const, inner: false },
      { database: 'd', name: '.inner.mv', kind: 'partitioned' as const, inner: true },
      { database: 'd', name: 'v', kind: 'view' as const, inner: false },
      { database: 'd', name: 'buf', kind: 'schema-only' as const, inner: false },
      { database: 'd', name: 'events', kind: 'partitioned' as const, inner: false },
    ];
    expect(inCreationOrder(objects).map((o) => o.name)).toEqual(['events', 'buf', 'v', 'mv', '.inner.mv']);
  });
});

describe('mergesByOrder', () => {
  it('holds for every MergeTree engine that merges rows of equal key, replicated or not', () => {
    const merging = ['ReplacingMergeTree', 'SummingMergeTree', 'CollapsingMergeTree', 'VersionedCollapsingMergeTree', 'AggregatingMergeTree', 'GraphiteMergeTree'];
    expect(merging.filter(mergesByOrder)).toEqual(merging);
    expect(merging.map((e) => `Replicated${e}`).filter(mergesByOrder)).toHaveLength(merging.length);
  });

  it('holds for a merging engine this code does not know yet: order is kept unless known not to matter', () => {
    expect(mergesByOrder('CoalescingMergeTree')).toBe(true);
    expect(mergesByOrder('SharedReplacingMergeTree')).toBe(true);
  });

  it('does not hold for the plain MergeTree, nor for engines that do not merge', () => {
    expect(['MergeTree', 'ReplicatedMergeTree', 'SharedMergeTree', 'Log', 'Memory', 'MaterializedView'].filter(mergesByOrder)).toEqual([]);
  });
});

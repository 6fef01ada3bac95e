import { typeFamiliesOf } from '../../src/clickhouse/capabilities';
import { classifyEngine } from '../../src/clickhouse/catalog';
import { inCreationOrder } from '../../src/activities/inventory';

describe('typeFamiliesOf', () => {
  it('lists every family a nested type uses', () => {
    expect(typeFamiliesOf('Array(LowCardinality(Nullable(String)))').sort()).toEqual(['Array', 'LowCardinality', 'Nullable', 'String']);
  });

  it('skips enum labels and numeric arguments', () => {
    expect(typeFamiliesOf("Enum8('Array' = 1, 'x(y)' = 2)")).toEqual(['Enum8']);
    expect(typeFamiliesOf("DateTime64(3, 'UTC')")).toEqual(['DateTime64']);
    expect(typeFamiliesOf('Decimal(18, 4)')).toEqual(['Decimal']);
  });

  it('skips the element names of named tuples', () => {
    expect(typeFamiliesOf('Tuple(a UInt8, b Map(String, UInt64))').sort()).toEqual(['Map', 'String', 'Tuple', 'UInt64', 'UInt8']);
  });
});

describe('classifyEngine', () => {
  it('copies MergeTree tables by partition and Log tables whole', () => {
    expect(classifyEngine('ReplacingMergeTree').kind).toBe('partitioned');
    expect(classifyEngine('TinyLog').kind).toBe('whole-table');
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

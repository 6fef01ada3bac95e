import { sha256, untrackedChanges, type SchemaShape } from '../../src/activities/changes/tracking';

describe('the schema recorded after each version', () => {
  const recorded: SchemaShape = {
    customers: { engine: 'MergeTree', columns: { id: 'UInt32', name: 'String' } },
    orders: { engine: 'MergeTree', columns: { id: 'UInt64', amount: 'String' } },
    legacy: { engine: 'Log', columns: { at: 'DateTime' } },
  };

  it('names every object and column changed by hand since: added, removed and retyped', () => {
    const live: SchemaShape = {
      customers: { engine: 'MergeTree', columns: { id: 'UInt32', name: 'String', nickname: 'String' } },
      orders: { engine: 'ReplacingMergeTree', columns: { id: 'UInt64', amount: 'UInt32' } },
      audit: { engine: 'Log', columns: { at: 'DateTime' } },
    };
    expect(untrackedChanges(recorded, live).map((c) => [c.object, c.column ?? null, c.change])).toEqual([
      ['customers', 'nickname', 'added'],
      ['orders', null, 'changed'],
      ['orders', 'amount', 'changed'],
      ['legacy', null, 'removed'],
      ['audit', null, 'added'],
    ]);
  });

  it('finds nothing when the live schema is the recorded one', () => {
    expect(untrackedChanges(recorded, structuredClone(recorded))).toEqual([]);
  });

  it('checksums a text the same whatever its line endings', () => {
    expect(sha256('SELECT 1;\r\nSELECT 2')).toBe(sha256('SELECT 1;\nSELECT 2'));
    expect(sha256('SELECT 1')).not.toBe(sha256('SELECT 2'));
  });
});

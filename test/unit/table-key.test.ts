import { namesTable, objectKey, splitTableKey, tableKey } from '../../src/workflows/table-key';

describe('tableKey', () => {
  it('keeps apart tables whose dotted names read the same', () => {
    expect(tableKey('a.b', 'c')).not.toBe(tableKey('a', 'b.c'));
    expect(new Set([tableKey('a.b', 'c'), tableKey('a', 'b.c'), objectKey({ database: 'a.b', name: 'c' })]).size).toBe(2);
  });

  it('splits back into the database and table it was made of, whatever they hold', () => {
    for (const [database, table] of [['a.b', 'c'], ['a', 'b.c'], ["we`ird 'db", '.inner.x'], ['d', '']]) {
      expect(splitTableKey(tableKey(database, table))).toEqual({ database, table });
    }
  });

  it('finds a table in a stored list of keys exactly, and in a list of dotted names as runs before the keys stored them', () => {
    const keys = new Set([tableKey('a.b', 'c')]);
    expect([namesTable(keys, 'a.b', 'c'), namesTable(keys, 'a', 'b.c')]).toEqual([true, false]);
    const dotted = new Set(['a.b.c', 'db.t']);
    expect([namesTable(dotted, 'db', 't'), namesTable(dotted, 'a', 'b.c'), namesTable(dotted, 'db', 'u')]).toEqual([true, true, false]);
  });
});

import {
  columnProblems,
  compareColumns,
  convertedColumns,
  copyColumns,
  defaultMismatch,
  sourceValueOf,
  structureDifferences,
  type CatalogColumn,
} from '../../src/clickhouse/column-compat';

const column = (name: string, type: string, defaultKind = '', defaultExpression = ''): CatalogColumn => ({ name, type, defaultKind, defaultExpression });

describe('compareColumns (data mode)', () => {
  it('when both tables have the same columns, every column is common and nothing converts', () => {
    const cols = [column('id', 'UInt64'), column('name', 'String')];
    const compared = compareColumns(cols, cols);
    expect(compared).toEqual({ common: [{ name: 'id', sourceType: 'UInt64', targetType: 'UInt64' }, { name: 'name', sourceType: 'String', targetType: 'String' }], missing: [], aliased: [], extra: [], extraWithoutDefault: [] });
    expect(convertedColumns(compared)).toEqual([]);
    expect(copyColumns(compared)).toEqual({ names: '`id`, `name`' });
  });

  it('matches columns by name, not by position, in the source order', () => {
    const compared = compareColumns([column('a', 'UInt8'), column('b', 'String')], [column('b', 'String'), column('a', 'UInt8')]);
    expect(compared.common.map((c) => c.name)).toEqual(['a', 'b']);
  });

  it('names a source column the target lacks, and one the target has as ALIAS', () => {
    const compared = compareColumns([column('id', 'UInt64'), column('gone', 'String'), column('al', 'String')], [column('id', 'UInt64'), column('al', 'String', 'ALIAS', 'toString(id)')]);
    expect(compared.missing).toEqual(['gone']);
    expect(compared.aliased).toEqual(['al']);
    expect(columnProblems('db.t', compared)).toEqual([
      'db.t: the source column gone is missing on the target',
      'db.t: the source column al is an ALIAS column on the target, which cannot be written',
    ]);
  });

  it("leaves the source's ALIAS columns out: they store nothing", () => {
    const compared = compareColumns([column('id', 'UInt64'), column('twice', 'UInt64', 'ALIAS', 'id * 2')], [column('id', 'UInt64')]);
    expect(compared.missing).toEqual([]);
    expect(compared.common.map((c) => c.name)).toEqual(['id']);
  });

  it('allows a target column without a source column when it has a default or is Nullable, and names it otherwise', () => {
    const target = [
      column('id', 'UInt64'),
      column('d', 'UInt32', 'DEFAULT', 'CAST(id * 2, \'UInt32\')'),
      column('m', 'String', 'MATERIALIZED', 'toString(id)'),
      column('a', 'String', 'ALIAS', 'toString(id)'),
      column('n', 'Nullable(String)'),
      column('lcn', 'LowCardinality(Nullable(String))'),
      column('plain', 'UInt8'),
    ];
    const compared = compareColumns([column('id', 'UInt64')], target);
    expect(compared.extra.map((c) => c.name)).toEqual(['d', 'm', 'a', 'n', 'lcn']);
    expect(compared.extraWithoutDefault).toEqual(['plain']);
    expect(columnProblems('db.t', compared)).toEqual(['db.t: the target column plain has no source column, no default and is not Nullable']);
  });

  it('converts a column whose type differs over a subquery, keeping its name', () => {
    const compared = compareColumns([column('id', 'UInt32'), column('s', 'String')], [column('id', 'UInt64'), column('s', 'String')]);
    expect(convertedColumns(compared)).toEqual([{ name: 'id', sourceType: 'UInt32', targetType: 'UInt64' }]);
    expect(copyColumns(compared)).toEqual({ names: '`id`, `s`', converted: 'CAST(`id` AS UInt64) AS `id`, `s`' });
    expect(sourceValueOf(compared.common[0])).toBe('CAST(`id` AS UInt64)');
    expect(sourceValueOf(compared.common[1])).toBeUndefined();
  });

  it('quotes hostile column names', () => {
    const name = "we`ird 'col; x";
    const compared = compareColumns([column(name, 'UInt8')], [column(name, 'UInt16')]);
    expect(copyColumns(compared).converted).toBe('CAST(`we\\`ird \'col; x` AS UInt16) AS `we\\`ird \'col; x`');
  });
});

describe('defaultMismatch', () => {
  it('compares a DEFAULT or MATERIALIZED column with its expression, NULL-safe', () => {
    expect(defaultMismatch(column('d', 'UInt32', 'DEFAULT', 'a * 2'))).toBe('NOT ifNull(`d` = (a * 2), isNull(`d`) AND isNull((a * 2)))');
    expect(defaultMismatch(column('m', 'String', 'MATERIALIZED', 'toString(a)'))).toContain('`m` = (toString(a))');
  });

  it('expects NULL in a Nullable column without a default', () => {
    expect(defaultMismatch(column('n', 'Nullable(String)'))).toBe('isNotNull(`n`)');
  });

  it('does not compare an ALIAS column, nor a default that varies between calls', () => {
    expect(defaultMismatch(column('a', 'String', 'ALIAS', 'toString(x)'))).toBeNull();
    expect(defaultMismatch(column('t', 'DateTime', 'DEFAULT', 'now()'))).toBeNull();
    expect(defaultMismatch(column('r', 'UInt32', 'DEFAULT', 'rand() % 10'))).toBeNull();
    expect(defaultMismatch(column('u', 'UInt32', 'DEFAULT', 'nowhere_else(1)'))).not.toBeNull();
  });
});

describe('structureDifferences (schema mode)', () => {
  const cols = [column('id', 'UInt64'), column('d', 'Date', 'DEFAULT', 'today()')];

  it('finds nothing when engine and columns are the same', () => {
    expect(structureDifferences({ engine: 'MergeTree', columns: cols }, { engine: 'MergeTree', columns: cols })).toEqual([]);
  });

  it('names a missing object, another engine, other columns and another order', () => {
    expect(structureDifferences({ engine: 'MergeTree', columns: cols }, undefined)).toEqual(['missing on the target']);
    expect(structureDifferences({ engine: 'MergeTree', columns: cols }, { engine: 'Log', columns: cols })).toEqual(['engine Log, not MergeTree']);
    expect(structureDifferences({ engine: 'Log', columns: cols }, { engine: 'Log', columns: [cols[0], column('d', 'DateTime')] })).toEqual([
      'columns differ (source only: d Date DEFAULT today(); target only: d DateTime)',
    ]);
    expect(structureDifferences({ engine: 'Log', columns: cols }, { engine: 'Log', columns: [cols[1], cols[0]] })).toEqual(['columns in another order']);
  });
});

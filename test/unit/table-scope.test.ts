import { viewReferences } from '../../src/clickhouse/view-refs';
import { scopedTables, splitByScope } from '../../src/activities/scope';
import { scopeReport } from '../../src/activities/scope-report';
import { filtersOf, restorePointScope, scopeOfObject, unmatchedFields, unmatchedMessage, unmatchedPatterns } from '../../src/workflows/scope';
import { TableDetails } from '../../src/workflows/table-details';
import type { PlannedObject } from '../../src/workflows/types';

const object = (database: string, name: string, kind: PlannedObject['kind'], more: Partial<PlannedObject> = {}): PlannedObject => ({
  database,
  name,
  engine: kind === 'materialized-view' ? 'MaterializedView' : kind === 'view' ? 'View' : 'MergeTree',
  kind,
  inner: name.startsWith('.inner.'),
  createTableQuery: '',
  rows: 0,
  bytesOnDisk: 0,
  partitions: 0,
  ...more,
});

describe('the scope of a transfer', () => {
  it('when a materialized view is left out, its storage table follows it, and is not listed as left out', () => {
    const tables = [object('shop', 'orders', 'partitioned'), object('shop', 'by_day', 'materialized-view'), object('shop', '.inner.by_day', 'partitioned')];
    const { inScope, excluded } = splitByScope(tables, { exclude: ['shop.by_*'] });
    expect(inScope.map((t) => t.name)).toEqual(['orders']);
    expect(excluded).toEqual([{ database: 'shop', name: 'by_day', kind: 'materialized-view', field: 'exclude', pattern: 'shop.by_*' }]);
  });

  it('when no filter is given, every object is in scope and the activities get no filter fields', () => {
    expect(scopeOfObject(undefined, { database: 'a', name: 'b' })).toEqual({ inScope: true });
    expect(scopeOfObject({ include: [] }, { database: 'a', name: 'b' })).toEqual({ inScope: true });
    expect(filtersOf({})).toEqual({});
    expect(restorePointScope({ renames: { a: 'b' } })).toEqual({});
    expect(restorePointScope({ exclude: ['a.x'], renames: { a: 'b' } })).toEqual({ exclude: ['a.x'], renames: { a: 'b' } });
  });

  it('when a pattern matches no table or view, it is named by its field, and the API reads the fields back whatever the patterns hold', () => {
    const tables = [object('shop', 'orders', 'partitioned'), object('shop', '.inner.v', 'partitioned')];
    const unmatched = unmatchedPatterns({ include: ['shop.*', 'shop.inner*'], exclude: ['shop.gone', 'shop.orders'] }, tables);
    expect(unmatched).toEqual([
      { field: 'include', index: 1, pattern: 'shop.inner*' },
      { field: 'exclude', index: 0, pattern: 'shop.gone' },
    ]);
    const message = unmatchedMessage(unmatched, ['shop']);
    expect(message).toMatch(/^include\[1\], exclude\[0\] /);
    expect(unmatchedFields(message)).toEqual(['include.1', 'exclude.0']);
    const hostile = unmatchedMessage([{ field: 'exclude', index: 3, pattern: 'x.include[7], "y' }], ['x']);
    expect(unmatchedFields(hostile)).toEqual(['exclude.3']);
    expect(unmatchedFields('the lock is held')).toEqual([]);
  });

  it('when the scope is listed, each view carries its storage table rows and bytes, by database and name', () => {
    const listed = scopedTables([
      object('b', 't', 'partitioned', { rows: 3, bytesOnDisk: 30 }),
      object('a', 'mv', 'materialized-view'),
      object('a', '.inner.mv', 'partitioned', { rows: 2, bytesOnDisk: 20 }),
      object('a', 'odd', 'unsupported'),
    ]);
    expect(listed).toEqual([
      { database: 'a', table: 'mv', rows: 2, bytes: 20 },
      { database: 'b', table: 't', rows: 3, bytes: 30 },
    ]);
    const details = new TableDetails();
    details.listed(listed);
    details.copied({ tables: [{ database: 'b', table: 't', rows: 3 }] });
    expect(details.page(undefined).tables).toEqual([
      { database: 'a', table: 'mv', rowsCopied: 0, sourceRows: null, targetRows: null, match: null, rows: 2, bytes: 20 },
      { database: 'b', table: 't', rowsCopied: 3, sourceRows: null, targetRows: null, match: null, rows: 3, bytes: 30 },
    ]);
  });
});

describe('what a view depends on, read from its DDL', () => {
  it('when a materialized view writes TO a table and reads with FROM and JOIN, each is named with its database', () => {
    const ddl = 'CREATE MATERIALIZED VIEW shop.mv TO shop.`daily totals` (`d` Date, `n` UInt64) AS SELECT d, count() AS n FROM shop.orders AS o ANY LEFT JOIN `other db`.users USING id GROUP BY d';
    expect(viewReferences(ddl, 'shop')).toEqual({
      to: { database: 'shop', name: 'daily totals' },
      reads: [
        { database: 'shop', name: 'orders' },
        { database: 'other db', name: 'users' },
      ],
    });
  });

  it('when a view reads a bare name, a subquery or a table function, only tables count, bare names in the view database', () => {
    const ddl = "CREATE VIEW db.v AS SELECT * FROM (SELECT * FROM events WHERE x IN (SELECT x FROM db.keys)) , numbers(3) UNION ALL SELECT * FROM remote('h', db.t)";
    expect(viewReferences(ddl, 'db')).toEqual({ to: null, reads: [{ database: 'db', name: 'events' }, { database: 'db', name: 'keys' }] });
  });

  it('when a view in scope reads or writes a table left out, configure names it as a problem', () => {
    const objects = [
      object('shop', 'orders', 'partitioned', { rows: 5, bytesOnDisk: 50 }),
      object('shop', 'mv', 'materialized-view', { createTableQuery: 'CREATE MATERIALIZED VIEW shop.mv TO shop.totals AS SELECT count() AS n FROM shop.orders' }),
      object('shop', 'v', 'view', { createTableQuery: 'CREATE VIEW shop.v AS SELECT * FROM shop.archive' }),
    ];
    const excluded = [
      { database: 'shop', name: 'totals', kind: 'partitioned' as const, field: 'exclude' as const, pattern: 'shop.tot*' },
      { database: 'shop', name: 'archive', kind: 'partitioned' as const, field: 'include' as const, pattern: 'shop.orders, shop.mv, shop.v' },
    ];
    const { scope, problems } = scopeReport({ objects, excluded, unsupported: [] }, { databases: ['shop'], include: ['shop.orders', 'shop.mv', 'shop.v'], exclude: ['shop.tot*'] });
    expect(problems).toHaveLength(2);
    expect(problems[0]).toContain('the materialized view shop.mv writes TO shop.totals, which exclude pattern "shop.tot*" leaves out');
    expect(problems[1]).toContain('the view shop.v reads shop.archive');
    expect(scope).toMatchObject({ tables: 3, rows: 5, bytes: 50, excluded: 2 });
    expect(scope.leftOut[0]).toEqual({ database: 'shop', name: 'totals', field: 'exclude', pattern: 'shop.tot*' });
  });

  it('when a pattern matches nothing and the source could not be listed before the first gate, configure names the field as a problem', () => {
    const objects = [object('shop', 'orders', 'partitioned')];
    const { problems } = scopeReport({ objects, excluded: [], unsupported: [{ database: 'shop', name: 'kafka_in' }] }, { databases: ['shop'], exclude: ['shop.kafka_*', 'shop.gone'] });
    expect(problems).toEqual([expect.stringMatching(/^exclude\[1\] \("shop\.gone"\) matches no table or view of shop/)]);
  });
});

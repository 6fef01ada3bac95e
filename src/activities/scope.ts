import { countRows, listTables, partitionSizesIn, partitionSizesOf, type TableInfo } from '../clickhouse/catalog';
import type { ClickHouseConnection } from '../clickhouse/connection';
import { SCOPE_PAGE, scopeName, scopeOfObject, unmatchedMessage, unmatchedPatterns, type ScopedTable, type ScopePage, type ScopeReport, type TableFilters } from '../workflows/scope';
import { objectKey, tableKey } from '../workflows/table-key';
import { firstLines, firstOf } from '../workflows/bounded';
import { viewReferences } from '../clickhouse/view-refs';
import { isView } from './inventory';
import { DETAIL_LIMIT, FAILURE_TYPES, type EndpointRef, type PlannedObject } from '../workflows/types';
import { heartbeating, permanent, withConnections, type ActivityDeps } from './context';

/** An object of the source that the filters leave out, and the pattern that did. */
export interface ExcludedObject {
  database: string;
  name: string;
  kind: TableInfo['kind'];
  field: 'include' | 'exclude';
  pattern: string;
}

/** Splits the catalogue into what is in scope and what the filters leave out (inner tables follow their views, and are not listed). */
export function splitByScope<T extends Pick<TableInfo, 'database' | 'name' | 'inner' | 'kind'>>(tables: readonly T[], filters: TableFilters | undefined): { inScope: T[]; excluded: ExcludedObject[] } {
  const inScope: T[] = [];
  const excluded: ExcludedObject[] = [];
  for (const table of tables) {
    const verdict = scopeOfObject(filters, table);
    if (verdict.inScope) inScope.push(table);
    else if (!table.inner) excluded.push({ database: table.database, name: table.name, kind: table.kind, field: verdict.field, pattern: verdict.pattern });
  }
  return { inScope, excluded };
}

/** The objects in scope as the scope listing shows them, by database and name: a view carries its storage table's rows and bytes. */
export function scopedTables(objects: readonly Pick<PlannedObject, 'database' | 'name' | 'inner' | 'kind' | 'rows' | 'bytesOnDisk'>[]): ScopedTable[] {
  const byKey = new Map<string, ScopedTable>();
  for (const o of objects.filter((o) => !o.inner && o.kind !== 'unsupported')) byKey.set(tableKey(o.database, o.name), { database: o.database, table: o.name, rows: 0, bytes: 0 });
  for (const o of objects) {
    const listed = byKey.get(tableKey(o.database, scopeName(o)));
    if (!listed) continue;
    listed.rows += o.rows;
    listed.bytes += o.bytesOnDisk;
  }
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, t]) => t);
}

/** Fails with `ScopeInvalid` when a pattern matches no object of the source, naming its field first. */
export function requireMatches(filters: TableFilters | undefined, objects: readonly Pick<TableInfo, 'database' | 'name' | 'inner'>[], databases: readonly string[]): void {
  const unmatched = unmatchedPatterns(filters, objects);
  if (unmatched.length > 0) throw permanent(FAILURE_TYPES.scopeInvalid, unmatchedMessage(unmatched, databases));
}

/**
 * Rows and bytes on disk of `tables` on the source: one query for the partitions (of whole
 * databases when `tables` is all of them: a list of 10,000 names would outgrow the server's
 * `max_query_size`), a count for each other table that holds rows.
 */
async function sizesOf(source: ClickHouseConnection, tables: readonly TableInfo[], databases: readonly string[] | null): Promise<Pick<PlannedObject, 'database' | 'name' | 'inner' | 'kind' | 'rows' | 'bytesOnDisk'>[]> {
  const partitions = databases
    ? await partitionSizesIn(source, databases)
    : await partitionSizesOf(source, tables.filter((t) => t.kind === 'partitioned').map((t) => ({ database: t.database, table: t.name })));
  const sized = [];
  for (const t of tables) {
    const parts = partitions.get(tableKey(t.database, t.name)) ?? [];
    const rows = t.kind === 'whole-table' ? await countRows(source, t.database, t.name) : parts.reduce((n, p) => n + p.rows, 0);
    sized.push({ database: t.database, name: t.name, inner: t.inner, kind: t.kind, rows, bytesOnDisk: parts.reduce((n, p) => n + p.bytesOnDisk, 0) });
  }
  return sized;
}

/** The scope listing: what a run takes, before its first gate. */
export function createScopeActivities(deps: ActivityDeps) {
  return {
    /**
     * A page of the source's objects in scope (at most {@link SCOPE_PAGE}), by database and name,
     * with their rows and bytes; the first page also counts them all, and fails without retrying
     * (`ScopeInvalid`) when an `include` or `exclude` pattern matches nothing. Reads the source only.
     */
    async listScope(req: { source: EndpointRef; databases: string[]; page: number } & TableFilters): Promise<ScopePage> {
      return withConnections(deps, { source: req.source }, ({ source }) =>
        heartbeating(() => ({ step: 'scope' }), async () => {
          const all = await listTables(source, req.databases);
          if (req.page === 0) requireMatches(req, all, req.databases);
          const { inScope, excluded } = splitByScope(all, req);
          const listed = scopedTables(inScope.map((t) => ({ ...t, rows: 0, bytesOnDisk: 0 })));
          const page = listed.slice(req.page * SCOPE_PAGE, (req.page + 1) * SCOPE_PAGE);
          const onPage = new Set(page.map((t) => tableKey(t.database, t.table)));
          const measured = req.page === 0 ? inScope : inScope.filter((t) => onPage.has(tableKey(t.database, scopeName(t))));
          const sized = await sizesOf(source, measured, req.page === 0 ? req.databases : null);
          const sizes = new Map(scopedTables(sized).map((t) => [tableKey(t.database, t.table), t]));
          const tables = page.map((t) => sizes.get(tableKey(t.database, t.table)) ?? t);
          if (req.page > 0) return { tables };
          const data = sized.filter((t) => t.kind === 'partitioned' || t.kind === 'whole-table');
          return {
            tables,
            totals: {
              tables: listed.length,
              rows: data.reduce((n, t) => n + t.rows, 0),
              bytes: data.reduce((n, t) => n + t.bytesOnDisk, 0),
              excluded: excluded.length,
              pages: Math.ceil(listed.length / SCOPE_PAGE),
              leftOut: leftOutList(excluded),
              problems: firstLines(leftOutViewProblems(inScope, excluded), DETAIL_LIMIT),
            },
          };
        }),
      );
    },
  };
}

/** The first {@link DETAIL_LIMIT} objects left out, each with the field and pattern that left it out. */
export function leftOutList(excluded: readonly ExcludedObject[]): ScopeReport['leftOut'] {
  return firstOf(excluded, DETAIL_LIMIT).map(({ database, name, field, pattern }) => ({ database, name, field, pattern }));
}

/**
 * A view or materialized view in scope that reads a table left out, or writes `TO` one: it would
 * be created over a table the target never gets (or fill one the run does not copy).
 */
export function leftOutViewProblems(objects: readonly Pick<PlannedObject, 'database' | 'name' | 'kind' | 'createTableQuery'>[], excluded: readonly ExcludedObject[]): string[] {
  const problems: string[] = [];
  const left = new Map(excluded.map((e) => [tableKey(e.database, e.name), e]));
  for (const view of objects.filter(isView)) {
    const refs = viewReferences(view.createTableQuery, view.database);
    const name = `${view.kind.replace('-', ' ')} ${view.database}.${view.name}`;
    for (const read of refs.reads) {
      const out = left.get(objectKey(read));
      if (out) problems.push(`the ${name} reads ${out.database}.${out.name}, which ${out.field} pattern "${out.pattern}" leaves out: leave both in scope or both out`);
    }
    const out = refs.to ? left.get(objectKey(refs.to)) : undefined;
    if (out) problems.push(`the ${name} writes TO ${out.database}.${out.name}, which ${out.field} pattern "${out.pattern}" leaves out: leave both in scope or both out`);
  }
  return problems;
}

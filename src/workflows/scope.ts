import { scopeOf, matchesTable, type ScopeVerdict } from './table-patterns';
import type { MigrationInput } from './types';
import { INNER_TABLE_PREFIX } from './objects';

/**
 * Which objects of the source a transfer takes: its `include` and `exclude` patterns applied to
 * whole objects (a materialized view's inner table follows its view). Pure: the activities, the
 * workflow and the API agree on it.
 */

/** The filters of a transfer, as activities take them. */
export interface TableFilters {
  include?: string[];
  exclude?: string[];
}

/** The filters of `input`, only where given: a run without filters sends its activities what it always did. */
export function filtersOf(input: Pick<MigrationInput, 'include' | 'exclude'>): TableFilters {
  return { ...(input.include ? { include: input.include } : {}), ...(input.exclude ? { exclude: input.exclude } : {}) };
}

/** What the restore point needs to keep to the run's scope: the filters, and the renames that map target databases back to the source names patterns use. */
export function restorePointScope(input: Pick<MigrationInput, 'include' | 'exclude' | 'renames'>): TableFilters & { renames?: Record<string, string> } {
  if (!input.include && !input.exclude) return {};
  return { ...filtersOf(input), ...(input.renames ? { renames: input.renames } : {}) };
}

/** Whether `filters` leave anything out at all. */
export function hasFilters(filters: TableFilters | undefined): filters is TableFilters {
  return (filters?.include?.length ?? 0) > 0 || (filters?.exclude?.length ?? 0) > 0;
}


/** The name an object is judged and listed by: a view's storage table (`.inner.<view>`) goes by its view's. */
export function scopeName(object: { name: string; inner?: boolean }): string {
  return object.inner && object.name.startsWith(INNER_TABLE_PREFIX) ? object.name.slice(INNER_TABLE_PREFIX.length) : object.name;
}

/** Whether an object is in scope; a view's storage table is judged by its view's name. */
export function scopeOfObject(f: TableFilters | undefined, object: { database: string; name: string; inner?: boolean }): ScopeVerdict {
  if (!hasFilters(f)) return { inScope: true };
  return scopeOf(f, object.database, scopeName(object));
}

/** A pattern of `include` or `exclude` that matches no object of the source. */
export interface UnmatchedPattern {
  field: 'include' | 'exclude';
  index: number;
  pattern: string;
}

/** The patterns that match none of `objects` (tables and views; inner tables are their views'). */
export function unmatchedPatterns(f: TableFilters | undefined, objects: readonly { database: string; name: string; inner?: boolean }[]): UnmatchedPattern[] {
  const named = objects.filter((o) => !o.inner);
  const unmatched: UnmatchedPattern[] = [];
  for (const field of ['include', 'exclude'] as const) {
    f?.[field]?.forEach((pattern, index) => {
      if (!named.some((o) => matchesTable(pattern, o.database, o.name))) unmatched.push({ field, index, pattern });
    });
  }
  return unmatched;
}

/** The field a pattern is given in, as the API names it: `exclude[1]`. */
export function patternField(p: Pick<UnmatchedPattern, 'field' | 'index'>): string {
  return `${p.field}[${p.index}]`;
}

/** The message of a `ScopeInvalid` failure: it starts with the fields, which the API reads back (see {@link unmatchedFields}). */
export function unmatchedMessage(unmatched: readonly UnmatchedPattern[], databases: readonly string[]): string {
  const fields = unmatched.map(patternField).join(', ');
  const patterns = unmatched.map((p) => JSON.stringify(p.pattern)).join(', ');
  return `${fields} (${patterns}) ${unmatched.length === 1 ? 'matches' : 'match'} no table or view of ${databases.join(', ')} on the source`;
}

/** The fields a `ScopeInvalid` message starts with, as request paths (`exclude.1`); empty for another message. */
export function unmatchedFields(message: string): string[] {
  const lead = /^(?:(?:include|exclude)\[\d+\](?:, |(?= )))+/.exec(message)?.[0] ?? '';
  return [...lead.matchAll(/(include|exclude)\[(\d+)\]/g)].map(([, field, index]) => `${field}.${index}`);
}

/** A table (or view) in scope, with its size on the source when the scope was listed. */
export interface ScopedTable {
  database: string;
  table: string;
  rows: number;
  /** Bytes on disk. */
  bytes: number;
}

/** Objects a page of the scope listing holds at most: its payload stays far below the limit at 10,000 tables. */
export const SCOPE_PAGE = 500;

/** A page of the objects in scope, by database and name; the first page also carries the totals. */
export interface ScopePage {
  tables: ScopedTable[];
  /** On the first page: what is in scope and left out, and how many pages there are. */
  totals?: {
    tables: number;
    rows: number;
    bytes: number;
    excluded: number;
    pages: number;
    /** The first objects left out, with the field and pattern that left each out. */
    leftOut?: ScopeReport['leftOut'];
    /** Views in scope over a table left out (the first of them): configure fails on these. */
    problems?: string[];
  };
}

/** What configure lists of a run's scope: counts, and the first `DETAIL_LIMIT` of each list (the `tables` query serves them all). */
export interface ScopeReport {
  tables: number;
  rows: number;
  bytes: number;
  /** Tables and views in scope, by database and name, with rows and bytes on disk on the source. */
  inScope: ScopedTable[];
  excluded: number;
  /** Tables and views left out, with the field and pattern that left each out. */
  leftOut: { database: string; name: string; field: 'include' | 'exclude'; pattern: string }[];
}

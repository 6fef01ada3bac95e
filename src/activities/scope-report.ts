import { firstOf } from '../workflows/bounded';
import { unmatchedMessage, unmatchedPatterns, type ScopeReport, type TableFilters } from '../workflows/scope';
import { DETAIL_LIMIT, type PlannedObject } from '../workflows/types';
import { leftOutList, leftOutViewProblems, scopedTables, type ExcludedObject } from './scope';

/**
 * The scope part of configure's report, and its problems: a pattern that matches nothing (the
 * run checks it before its first gate too, unless the source could not be read then), and a view or materialized view in scope
 * that reads a table left out, or writes `TO` one, would be created over a table the target
 * never gets (or fill one the run does not copy).
 */
export function scopeReport(
  inventory: { objects: readonly PlannedObject[]; excluded: readonly ExcludedObject[]; unsupported: readonly { database: string; name: string }[] },
  request: TableFilters & { databases: readonly string[] },
): { scope: ScopeReport; problems: string[] } {
  const { objects, excluded } = inventory;
  const unmatched = unmatchedPatterns(request, [...objects, ...excluded, ...inventory.unsupported]);
  const problems = unmatched.length > 0 ? [unmatchedMessage(unmatched, request.databases)] : [];
  problems.push(...leftOutViewProblems(objects, excluded));
  const listed = scopedTables(objects);
  const data = objects.filter((o) => o.kind === 'partitioned' || o.kind === 'whole-table');
  const scope: ScopeReport = {
    tables: listed.length,
    rows: data.reduce((n, o) => n + o.rows, 0),
    bytes: data.reduce((n, o) => n + o.bytesOnDisk, 0),
    inScope: firstOf(listed, DETAIL_LIMIT),
    excluded: excluded.length,
    leftOut: leftOutList(excluded),
  };
  return { scope, problems };
}

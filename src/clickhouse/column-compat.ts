/**
 * Whether a table that exists on the target can take a source table's rows (`mode: "data"`),
 * column by column, by name. Pure: the catalogue rows come from the caller, and whether a type
 * converts into another is asked of the servers (see src/activities/modes.ts), never decided here.
 */
import { quoteIdentifier } from './sql';

/** A column as `system.columns` describes it, ALIAS columns included. */
export interface CatalogColumn {
  name: string;
  type: string;
  /** `''`, `DEFAULT`, `MATERIALIZED` or `ALIAS`. */
  defaultKind: string;
  defaultExpression: string;
}

/** A source column the target has under the same name: copied into it, converted where the types differ. */
export interface CommonColumn {
  name: string;
  sourceType: string;
  targetType: string;
}

/** A target column the source does not have: filled by its default (or NULL) as rows arrive. */
export type ExtraColumn = CatalogColumn;

/** How a target table's columns meet a source table's. */
export interface ColumnComparison {
  /** In the source's column order. */
  common: CommonColumn[];
  /** Stored source columns the target lacks. */
  missing: string[];
  /** Stored source columns that the target has as ALIAS: nothing can be written into them. */
  aliased: string[];
  /** Target columns the source lacks, with a default (or Nullable): they take it. */
  extra: ExtraColumn[];
  /** Target columns the source lacks, with no default and not Nullable. */
  extraWithoutDefault: string[];
}

/** Whether a type holds NULL (a column without a default then takes NULL). */
export function isNullableType(type: string): boolean {
  return type.startsWith('Nullable(') || type.startsWith('LowCardinality(Nullable(');
}

/**
 * Compares a source table's columns with the target table's, by name. ALIAS columns of the
 * source store nothing and are not copied.
 */
export function compareColumns(source: readonly CatalogColumn[], target: readonly CatalogColumn[]): ColumnComparison {
  const onTarget = new Map(target.map((c) => [c.name, c]));
  const stored = source.filter((c) => c.defaultKind !== 'ALIAS');
  const sourceNames = new Set(source.map((c) => c.name));
  const result: ColumnComparison = { common: [], missing: [], aliased: [], extra: [], extraWithoutDefault: [] };
  for (const column of stored) {
    const match = onTarget.get(column.name);
    if (!match) result.missing.push(column.name);
    else if (match.defaultKind === 'ALIAS') result.aliased.push(column.name);
    else result.common.push({ name: column.name, sourceType: column.type, targetType: match.type });
  }
  for (const column of target.filter((c) => !sourceNames.has(c.name))) {
    if (column.defaultKind !== '' || isNullableType(column.type)) result.extra.push(column);
    else result.extraWithoutDefault.push(column.name);
  }
  return result;
}

/** The common columns whose types differ: the servers are asked whether each converts. */
export function convertedColumns(comparison: ColumnComparison): CommonColumn[] {
  return comparison.common.filter((c) => c.sourceType !== c.targetType);
}

/** What blocks copying into the target table `table` (`db.name`), one sentence per column. */
export function columnProblems(table: string, comparison: ColumnComparison): string[] {
  return [
    ...comparison.missing.map((c) => `${table}: the source column ${c} is missing on the target`),
    ...comparison.aliased.map((c) => `${table}: the source column ${c} is an ALIAS column on the target, which cannot be written`),
    ...comparison.extraWithoutDefault.map((c) => `${table}: the target column ${c} has no source column, no default and is not Nullable`),
  ];
}

/** How the copy selects a table's rows: the target's column names, and the source's values converted to the target's types. */
export interface CopyColumns {
  /** The column list of the `INSERT` (and of the inner `SELECT`). */
  names: string;
  /** The outer `SELECT` list that converts, or absent when every type is the same. */
  converted?: string;
}

/**
 * The copy's columns of a comparison. A converted value keeps its column's name (the worker's
 * Native stream matches columns by name), so it is selected over a subquery that reads the
 * table: in the same `SELECT`, the alias would stand for the column in the `WHERE` too.
 */
export function copyColumns(comparison: ColumnComparison): CopyColumns {
  const names = comparison.common.map((c) => quoteIdentifier(c.name)).join(', ');
  if (convertedColumns(comparison).length === 0) return { names };
  return { names, converted: comparison.common.map(convertedValue).join(', ') };
}

/** A common column's value as the target stores it. */
function convertedValue(column: CommonColumn): string {
  const name = quoteIdentifier(column.name);
  return column.sourceType === column.targetType ? name : `CAST(${name} AS ${column.targetType}) AS ${name}`;
}

/** The source's value of a common column in the target's type (for fingerprints on the source). */
export function sourceValueOf(column: CommonColumn): string | undefined {
  return column.sourceType === column.targetType ? undefined : `CAST(${quoteIdentifier(column.name)} AS ${column.targetType})`;
}

/**
 * Functions whose value depends on when or how often they are called: a default built on one
 * cannot be evaluated again to the value the row got, so verification does not compare it.
 */
const VARYING_FUNCTIONS = /\b(now|today|yesterday|rand|rand64|randConstant|generateUUIDv4|rowNumberInBlock|rowNumberInAllBlocks|blockNumber|runningDifference|runningAccumulate|uptime|hostName)\s*\(/i;

/**
 * The condition that holds for rows where an extra column does not hold what its default gives
 * (NULL for a Nullable column without one), or null where that cannot be checked: an ALIAS column
 * stores nothing, and a default that varies between calls (`now()`) has no value to compare to.
 */
export function defaultMismatch(column: ExtraColumn): string | null {
  const name = quoteIdentifier(column.name);
  if (column.defaultKind === 'ALIAS') return null;
  if (column.defaultKind === '') return `isNotNull(${name})`;
  if (VARYING_FUNCTIONS.test(column.defaultExpression)) return null;
  const expected = `(${column.defaultExpression})`;
  return `NOT ifNull(${name} = ${expected}, isNull(${name}) AND isNull(${expected}))`;
}

/** What the schema mode compares of an object on both servers. */
export interface ObjectStructure {
  engine: string;
  columns: readonly CatalogColumn[];
}

/** How an object's structure on the target differs from the source's (empty when it does not). */
export function structureDifferences(source: ObjectStructure, target: ObjectStructure | undefined): string[] {
  if (!target) return ['missing on the target'];
  const differences: string[] = [];
  if (source.engine !== target.engine) differences.push(`engine ${target.engine}, not ${source.engine}`);
  const describe = (c: CatalogColumn) => `${c.name} ${c.type}${c.defaultKind ? ` ${c.defaultKind} ${c.defaultExpression}` : ''}`;
  const onSource = source.columns.map(describe);
  const onTarget = target.columns.map(describe);
  if (JSON.stringify(onSource) !== JSON.stringify(onTarget)) {
    const lacking = onSource.filter((c) => !onTarget.includes(c));
    const added = onTarget.filter((c) => !onSource.includes(c));
    differences.push(lacking.length + added.length === 0 ? 'columns in another order' : `columns differ (source only: ${lacking.join(', ') || 'none'}; target only: ${added.join(', ') || 'none'})`);
  }
  return differences;
}

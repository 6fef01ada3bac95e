import { maskNested, qualifiedName, quoteIdentifier, readIdentifier, splitTopLevel } from './sql';

/** The kinds of statement that `system.tables.create_table_query` holds. */
export type CreateKind = 'TABLE' | 'VIEW' | 'MATERIALIZED VIEW' | 'DICTIONARY';

const CREATE_HEAD = /^\s*(?:ATTACH|CREATE)\s+(TABLE|VIEW|MATERIALIZED\s+VIEW|DICTIONARY)\s+(?:IF\s+NOT\s+EXISTS\s+)?/i;

/** Thrown when a CREATE statement from the catalogue does not have the shape we can rewrite. */
export class UnparseableDdlError extends Error {
  constructor(readonly ddl: string) {
    super(`cannot read the name in this CREATE statement: ${ddl.slice(0, 120)}`);
    this.name = 'UnparseableDdlError';
  }
}

/**
 * Rewrites a CREATE statement from the source catalogue so that it is idempotent
 * (`IF NOT EXISTS`, unless `ifNotExists` is false: then an object already there is an error) and
 * creates the object as `database`.`name`; with `onCluster`, on every server of that cluster
 * (`ON CLUSTER`, after the name).
 *
 * The statement's own name is parsed rather than pattern-matched, so names with quotes,
 * backticks, spaces or semicolons survive.
 */
export function rewriteCreateStatement(ddl: string, database: string, name: string, options: { ifNotExists?: boolean; onCluster?: string } = {}): { kind: CreateKind; sql: string } {
  const head = CREATE_HEAD.exec(ddl);
  if (!head) throw new UnparseableDdlError(ddl);
  const kind = head[1].toUpperCase().replace(/\s+/g, ' ') as CreateKind;
  let rest = ddl.slice(head[0].length);
  const first = readIdentifier(rest);
  if (!first) throw new UnparseableDdlError(ddl);
  rest = first.rest;
  if (rest.startsWith('.')) {
    const second = readIdentifier(rest.slice(1));
    if (!second) throw new UnparseableDdlError(ddl);
    rest = second.rest;
  }
  return { kind, sql: `CREATE ${kind}${options.ifNotExists === false ? '' : ' IF NOT EXISTS'} ${qualifiedName(database, name)}${onClusterClause(options.onCluster)}${rest}` };
}

/** ` ON CLUSTER <cluster>` for a statement that reaches every server of `cluster`; empty without one. */
export function onClusterClause(cluster: string | undefined): string {
  return cluster === undefined ? '' : ` ON CLUSTER ${quoteIdentifier(cluster)}`;
}

/** Clauses that can follow `PARTITION BY` in a MergeTree engine definition. */
const AFTER_PARTITION_BY = /\b(?:ORDER\s+BY|PRIMARY\s+KEY|SAMPLE\s+BY|TTL|SETTINGS)\b/i;

/**
 * The partition key expression of a MergeTree table, read from its CREATE statement:
 * the `PARTITION BY` clause, or for the legacy syntax `MergeTree(date, …)` the implied
 * `toYYYYMM(date)`. Returns null when the table has no partition key or the statement does not
 * say it plainly; callers then select partitions by `_partition_id`, which is always correct.
 */
export function partitionKeyOf(ddl: string): string | null {
  const mask = maskNested(ddl);
  const engine = /\bENGINE\s*=\s*(\w*MergeTree)\s*\(/i.exec(mask) ?? /\bENGINE\s*=\s*(\w*MergeTree)\b/i.exec(mask);
  if (!engine) return null;
  const tail = mask.slice(engine.index);
  const partitionBy = /\bPARTITION\s+BY\b/i.exec(tail);
  if (partitionBy) {
    const from = engine.index + partitionBy.index + partitionBy[0].length;
    const end = AFTER_PARTITION_BY.exec(mask.slice(from));
    const expression = ddl.slice(from, end ? from + end.index : undefined).trim();
    return expression === '' || /^tuple\(\s*\)$/i.test(expression) ? null : expression;
  }
  // Legacy syntax: all engine settings are arguments, and there is no ORDER BY clause.
  if (/\bORDER\s+BY\b/i.test(tail) || !engine[0].endsWith('(')) return null;
  const open = engine.index + engine[0].length - 1;
  const close = mask.indexOf(')', open);
  if (close === -1) return null;
  const args = splitTopLevel(ddl.slice(open + 1, close), ',');
  // Replicated engines take the ZooKeeper path and the replica name first.
  const date = args[engine[1].startsWith('Replicated') ? 2 : 0];
  return date && readIdentifier(date)?.rest.trim() === '' ? `toYYYYMM(${date})` : null;
}

import { qualifiedName, readIdentifier } from './sql';

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
 * (`IF NOT EXISTS`) and creates the object as `database`.`name`.
 *
 * The statement's own name is parsed rather than pattern-matched, so names with quotes,
 * backticks, spaces or semicolons survive.
 */
export function rewriteCreateStatement(ddl: string, database: string, name: string): { kind: CreateKind; sql: string } {
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
  return { kind, sql: `CREATE ${kind} IF NOT EXISTS ${qualifiedName(database, name)}${rest}` };
}

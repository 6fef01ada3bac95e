/**
 * CREATE statements of a renamed database, rewritten to name the target database: read by tokens
 * (./sql-lexer), never by a grammar of ours. What the tokens cannot place is named, not guessed:
 * the configure step reports it as a problem before the first approval.
 */
import type { Renames } from '../workflows/database-map';
import { quoteIdentifier, quoteString, readStringLiteral } from './sql';
import { engineCalls, rebuild } from './engine-args';
import { identifierName, isIdentifier, isSignificant, StatementSyntaxError, tokenize, type Token } from './sql-lexer';

/** A CREATE statement rewritten for renamed databases. */
export interface RenamedDdl {
  sql: string;
  /** Places that may name a renamed database but that the rewriter cannot prove are (or are not) a reference to it. */
  unsafe: string[];
  /** The clusters of Distributed tables that read a renamed database: each must be the target alone. */
  clusters: string[];
}

/** Engines whose arguments name a database, and which argument does. */
const DATABASE_ARGUMENT: Record<string, number> = { Merge: 0, Buffer: 0, Distributed: 1 };

/**
 * `ddl` with each renamed database rewritten to its target name, wherever the tokens show it is a
 * database: a qualifier (`db.t`, in the object's own name, `TO db.t`, `FROM`/`JOIN db.t`, column
 * qualifiers `db.t.c`), and the database argument of `Merge(db, …)`, `Buffer(db, …)` and
 * `Distributed(cluster, db, …)`, bare or as a string. A renamed database's name anywhere else (in
 * a string such as `dictGet('db.dict', …)`, or as a bare word that may be a column or an alias)
 * is reported in `unsafe` and left as it is.
 */
export function renameDatabasesIn(ddl: string, renames: Renames): RenamedDdl {
  let tokens: Token[];
  try {
    tokens = tokenize(ddl).filter(isSignificant);
  } catch (err) {
    if (!(err instanceof StatementSyntaxError)) throw err;
    return { sql: ddl, unsafe: [`the statement cannot be read (${err.message})`], clusters: [] };
  }
  const renamed = (name: string) => Object.prototype.hasOwnProperty.call(renames, name);
  const replace = new Map<Token, string>();
  const placed = new Set<Token>();
  const clusters: string[] = [];
  const unsafe: string[] = [];

  for (const { engine, args } of engineCalls(tokens).filter((call) => call.engine in DATABASE_ARGUMENT)) {
    args.forEach((arg) => arg.length === 1 && placed.add(arg[0]));
    const arg = args[DATABASE_ARGUMENT[engine]];
    const name = arg?.length === 1 ? nameOf(arg[0]) : null;
    if (name === null || !renamed(name)) continue;
    replace.set(arg[0], arg[0].kind === 'string' ? quoteString(renames[name]) : quoteIdentifier(renames[name]));
    if (engine !== 'Distributed') continue;
    const cluster = args[0]?.length === 1 ? nameOf(args[0][0]) : null;
    if (cluster === null) unsafe.push(`the cluster of Distributed(${args[0]?.map((t) => t.text).join(' ')}, …) cannot be read`);
    else clusters.push(cluster);
  }
  tokens.forEach((token, i) => {
    if (!isIdentifier(token)) return;
    if (tokens[i - 1]?.text === '.') placed.add(token); // a table or column after a qualifier, never a database
    else if (renamed(identifierName(token)) && tokens[i + 1]?.text === '.' && isIdentifier(tokens[i + 2])) {
      replace.set(token, quoteIdentifier(renames[identifierName(token)]));
    }
  });
  for (const token of tokens) {
    if (replace.has(token) || placed.has(token)) continue;
    const name = nameOf(token);
    if (name === null) continue;
    const database = Object.keys(renames).find((db) => name === db || (token.kind === 'string' && name.startsWith(`${db}.`)));
    if (database === undefined) continue;
    unsafe.push(
      token.kind === 'string'
        ? `the string ${token.text} may name the renamed database ${database}`
        : `${token.text} may be the renamed database ${database} or a column or alias of the same name`,
    );
  }
  return { sql: rebuild(ddl, replace), unsafe, clusters };
}

/** The unquoted name of an identifier or string token; null for any other token. */
function nameOf(token: Token): string | null {
  if (token.kind === 'word' || token.kind === 'quoted') return identifierName(token);
  if (token.kind === 'string') return readStringLiteral(token.text)?.value ?? null;
  return null;
}

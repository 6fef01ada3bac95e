import { identifierName, isIdentifier, isSignificant, tokenize, type Token } from './sql-lexer';

/** A table a view's DDL names, with its database (a bare name is the view's own database). */
export interface ViewRef {
  database: string;
  name: string;
}

/**
 * The tables a view or materialized view depends on, read from its CREATE statement: the `TO`
 * table of a materialized view, and every table its SELECT reads with `FROM` or `JOIN` (table
 * functions and subqueries are not tables). 18.16 does not say in `system.tables`
 * (`dependencies_table` came later), so the DDL is the one source every server has.
 */
export function viewReferences(ddl: string, database: string): { to: ViewRef | null; reads: ViewRef[] } {
  const tokens = tokenize(ddl).filter(isSignificant);
  const word = (i: number) => (tokens[i]?.kind === 'word' ? tokens[i].text.toUpperCase() : null);
  const nameAt = (i: number): { ref: ViewRef; next: number } | null => {
    if (!isIdentifier(tokens[i])) return null;
    if (tokens[i + 1]?.text === '.' && isIdentifier(tokens[i + 2])) {
      return { ref: { database: identifierName(tokens[i]), name: identifierName(tokens[i + 2] as Token) }, next: i + 3 };
    }
    return { ref: { database, name: identifierName(tokens[i]) }, next: i + 1 };
  };
  // The head, up to the first `AS` outside parentheses: the view's name, `TO`, columns, engine.
  let to: ViewRef | null = null;
  let as = tokens.length;
  for (let i = 0, depth = 0; i < tokens.length && as === tokens.length; i++) {
    if (tokens[i].text === '(') depth++;
    else if (tokens[i].text === ')') depth--;
    else if (depth === 0 && word(i) === 'TO') to = nameAt(i + 1)?.ref ?? null;
    else if (depth === 0 && word(i) === 'AS') as = i;
  }
  const reads: ViewRef[] = [];
  for (let i = as; i < tokens.length; i++) {
    if (word(i) !== 'FROM' && word(i) !== 'JOIN') continue;
    const found = nameAt(i + 1);
    // `FROM numbers(10)`, `FROM (SELECT …)`: not a table.
    if (!found || tokens[found.next]?.text === '(') continue;
    if (!reads.some((r) => r.database === found.ref.database && r.name === found.ref.name)) reads.push(found.ref);
  }
  return { to, reads };
}

/**
 * Glob patterns on `database.table`, as `include` and `exclude` take them: `*` matches any run of
 * characters (dots too), `?` one character; everything else matches itself. Pure, so the API,
 * the activities and the workflow agree on what a pattern selects.
 */

/** The regular expression a glob pattern stands for, anchored at both ends. */
export function globToRegExp(pattern: string): RegExp {
  const source = [...pattern].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\/]/g, '\\$&'))).join('');
  return new RegExp(`^${source}$`, 's');
}

/** Whether `pattern` selects the table `database.table`. */
export function matchesTable(pattern: string, database: string, table: string): boolean {
  return globToRegExp(pattern).test(`${database}.${table}`);
}

/**
 * Whether `pattern` could select some table of `database`, whatever its tables are called: the
 * pattern can consume `database.` and still match something after it (every rest of a glob can).
 */
export function canMatchDatabase(pattern: string, database: string): boolean {
  // The positions in the pattern reachable after reading each character of the prefix (an NFA).
  const closure = (positions: Set<number>) => {
    for (const i of [...positions]) for (let j = i; j < pattern.length && pattern[j] === '*'; j++) positions.add(j + 1);
    return positions;
  };
  let at = closure(new Set([0]));
  for (const c of `${database}.`) {
    const next = new Set<number>();
    for (const i of at) {
      if (i >= pattern.length) continue;
      if (pattern[i] === '*') next.add(i);
      else if (pattern[i] === '?' || pattern[i] === c) next.add(i + 1);
    }
    at = closure(next);
    if (at.size === 0) return false;
  }
  // A table name is not empty: something of the pattern must be left to read it.
  return [...at].some((i) => i < pattern.length);
}

/** Whether a table is in scope, and if not, the pattern (or, for `include`, the patterns) that left it out. */
export type ScopeVerdict = { inScope: true } | { inScope: false; pattern: string; field: 'include' | 'exclude' };

/**
 * Whether a table is in scope: it matches some `include` pattern (or there are none), and no
 * `exclude` pattern. A table left out says which pattern left it out (for `include`, the first).
 */
export function scopeOf(filters: { include?: readonly string[]; exclude?: readonly string[] }, database: string, table: string): ScopeVerdict {
  const { include, exclude } = filters;
  if (include && include.length > 0 && !include.some((p) => matchesTable(p, database, table))) {
    return { inScope: false, pattern: include.join(', '), field: 'include' };
  }
  const excluding = exclude?.find((p) => matchesTable(p, database, table));
  return excluding === undefined ? { inScope: true } : { inScope: false, pattern: excluding, field: 'exclude' };
}

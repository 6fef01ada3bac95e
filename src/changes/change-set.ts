/**
 * A change set: numbered versions of SQL to run, in order, against one database. This module only
 * checks one (pure, no I/O), so that a plan is refused before anything runs.
 */
import { quoteIdentifier } from '../clickhouse/sql';
import { describeStatement, splitStatements, StatementSyntaxError, type ObjectRef } from '../clickhouse/statements';

import type { Change } from '../workflows/changes-types';

export type { Change };

/** One thing wrong with a change set. */
export interface ChangeProblem {
  /** Index of the change in the list (from 0); -1 for a problem of the whole list. */
  index: number;
  /** The change's version as given, or null for a problem of the whole list. */
  version: string | null;
  field: 'version' | 'name' | 'sql';
  /** What is wrong, naming the version (changes are counted from 1 in messages). */
  message: string;
}

/** Versions look like 001, 20240101120000 or 1.2.3 (dot-separated digits). */
export const VERSION_PATTERN = /^[0-9]+(\.[0-9]+)*$/;

/** A digit string without its leading zeros ("007" → "7", "000" → "0"). */
function significantDigits(digits: string): string {
  return digits.replace(/^0+(?=.)/, '');
}

/**
 * Compares versions numerically, segment by segment ("001" equals "1"; "2" < "10"; "1.2" <
 * "1.10"); a missing segment counts as 0, so "1.2" equals "1.2.0". Segments of any length compare
 * exactly. Segments that are not digits (only in versions VERSION_PATTERN refuses) compare as text.
 */
export function compareVersions(a: string, b: string): number {
  const left = a.split('.');
  const right = b.split('.');
  for (let i = 0; i < Math.max(left.length, right.length); i++) {
    const x = left[i] ?? '0';
    const y = right[i] ?? '0';
    let order: number;
    if (/^[0-9]+$/.test(x) && /^[0-9]+$/.test(y)) {
      const [p, q] = [significantDigits(x), significantDigits(y)];
      order = p.length !== q.length ? p.length - q.length : p < q ? -1 : p > q ? 1 : 0;
    } else {
      order = x < y ? -1 : x > y ? 1 : 0;
    }
    if (order !== 0) return Math.sign(order);
  }
  return 0;
}

/** A name as a person reads it in a message: bare when it is a plain identifier, else quoted. */
function shown(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) ? name : quoteIdentifier(name);
}

function shownRef(ref: ObjectRef): string {
  return ref.database === null ? shown(ref.name) : `${shown(ref.database)}.${shown(ref.name)}`;
}

/** The 1-based line of `offset` in `text`. */
function lineOf(text: string, offset: number): number {
  return text.slice(0, offset).split('\n').length;
}

/** The problems of one change's SQL: syntax, emptiness, and statements reaching past `database`. */
function sqlProblems(change: Change, label: string, database: string): string[] {
  let statements: string[];
  try {
    statements = splitStatements(change.sql);
  } catch (err) {
    if (!(err instanceof StatementSyntaxError)) throw err;
    return [`${label} cannot be split into statements: ${err.message} (line ${lineOf(change.sql, err.offset)})`];
  }
  if (statements.length === 0) return [`${label} has no statements`];
  const problems: string[] = [];
  statements.forEach((statement, i) => {
    const info = describeStatement(statement);
    const which = `statement ${i + 1} of ${label}`;
    if (info.scope === 'outside') {
      problems.push(`${which} (${info.kind}) changes what no restore point covers: a change may only change tables, views and dictionaries of ${shown(database)}`);
    }
    for (const ref of info.writes) {
      if (ref.database !== null && ref.database !== database) {
        problems.push(`${which} writes to ${shownRef(ref)}: only ${shown(database)} may change, because the restore point covers no other database`);
      }
    }
  });
  return problems;
}

/**
 * Every problem of a change set applied to `database`, in list order; empty when it is fine.
 * An empty list is a problem of its own (index -1, version null, field 'sql': there is nothing to
 * run). Each change is checked for its version (format, duplicates by numeric equality, order),
 * its name (not blank) and its SQL (it splits, holds statements, and each statement changes only
 * objects of `database`, unqualified names counting as `database`'s).
 */
export function changeSetProblems(changes: readonly Change[], database: string): ChangeProblem[] {
  if (changes.length === 0) return [{ index: -1, version: null, field: 'sql', message: 'a change set needs at least one version' }];
  const problems: ChangeProblem[] = [];
  const seen: { version: string; index: number }[] = [];
  let highest: string | null = null;
  changes.forEach((change, index) => {
    const add = (field: ChangeProblem['field'], message: string) => problems.push({ index, version: change.version, field, message });
    const validVersion = VERSION_PATTERN.test(change.version);
    const label = validVersion ? `version ${change.version}` : `change ${index + 1}`;
    if (!validVersion) {
      add('version', `change ${index + 1} has version ${JSON.stringify(change.version)}: a version is digits, optionally dot-separated (001, 20240101120000, 1.2.3)`);
    } else {
      const earlier = seen.find((s) => compareVersions(s.version, change.version) === 0);
      if (earlier) {
        const same = earlier.version === change.version ? '' : ` (as ${earlier.version})`;
        add('version', `version ${change.version} appears twice${same} (changes ${earlier.index + 1} and ${index + 1})`);
      } else if (highest !== null && compareVersions(highest, change.version) > 0) {
        add('version', `version ${change.version} comes after ${highest}: versions must increase`);
      }
      seen.push({ version: change.version, index });
      if (highest === null || compareVersions(change.version, highest) > 0) highest = change.version;
    }
    if (change.name.trim() === '') add('name', `${label} has no name`);
    for (const message of sqlProblems(change, label, database)) add('sql', message);
  });
  return problems;
}

/** The statements of each change (splitStatements); assumes changeSetProblems found none. */
export function statementsOf(change: Change): string[] {
  return splitStatements(change.sql);
}

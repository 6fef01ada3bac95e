/**
 * Reading a folder of migrations in the layouts teams already keep them in: plain numbered files,
 * golang-migrate, goose and dbmate. Only up migrations are read: a change is undone by its restore
 * point, so down migrations and sections are reported as ignored and never run.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { isSignificant } from '../clickhouse/sql-lexer';
import { splitStatements, StatementSyntaxError, tokenize } from '../clickhouse/statements';
import { compareVersions, type Change } from './change-set';

/** How a folder's files hold their versions. */
export type ChangeLayout = 'numbered' | 'golang-migrate' | 'goose' | 'dbmate';

/** One file of a folder: its name (no directory) and its text. */
export interface ChangeFile {
  name: string;
  text: string;
}

/** What a folder holds: its layout, the changes to run in version order, and what was left out. */
export interface ReadChanges {
  layout: ChangeLayout;
  changes: Change[];
  /** Files or sections read but not run, each with why (golang-migrate .down.sql, goose Down sections, dbmate migrate:down sections, files that are not migrations). */
  ignored: { file: string; reason: string }[];
}

/** Thrown when a folder's files fit no layout or mix layouts; the message names the files. */
export class ChangeLayoutError extends Error {
  constructor(
    message: string,
    /** The files at fault. */
    readonly files: readonly string[] = [],
  ) {
    super(message);
    this.name = 'ChangeLayoutError';
  }
}

const GOLANG_MIGRATE_NAME = /^([0-9]+)_(.+)\.(up|down)\.sql$/i;
const NUMBERED_NAME = /^([0-9]+)_(.+)\.sql$/i;
const GOOSE_DIRECTIVE = /^\s*--\s*\+goose\s+(.*?)\s*$/i;
const DBMATE_DIRECTIVE = /^\s*--\s*migrate:(up|down)\b/i;
const GOOSE_UP = /^\s*--\s*\+goose\s+up\s*$/im;
const DBMATE_UP = /^\s*--\s*migrate:up\b/im;

const DOWN_REASON = 'a down migration: changes are undone by their restore point, so down migrations never run';

/** Whether `text` holds nothing but white space and comments (or does not even split). */
function holdsStatements(text: string): boolean {
  try {
    return splitStatements(text).length > 0;
  } catch (err) {
    if (err instanceof StatementSyntaxError) return true;
    throw err;
  }
}

/** Whether `text` ends inside a statement (one not yet closed by `;`). */
function endsInStatement(text: string): boolean {
  try {
    const last = tokenize(text).filter(isSignificant).at(-1);
    return last !== undefined && last.text !== ';';
  } catch (err) {
    if (err instanceof StatementSyntaxError) return true;
    throw err;
  }
}

/** The up SQL of a goose file: its Up section, each StatementBegin/End block kept as one statement. */
function gooseUp(file: ChangeFile, ignored: ReadChanges['ignored']): string {
  let section: 'before' | 'up' | 'down' = 'before';
  let sawUp = false;
  let block: { from: number; lines: string[] } | null = null;
  const before: string[] = [];
  const up: string[] = [];
  const fail = (message: string) => new ChangeLayoutError(`${file.name}: ${message}`, [file.name]);
  file.text.split('\n').forEach((line, i) => {
    const directive = GOOSE_DIRECTIVE.exec(line)?.[1].toUpperCase().replace(/\s+/g, ' ');
    if (directive === undefined) {
      if (block) block.lines.push(line);
      else if (section === 'up') up.push(line);
      else if (section === 'before') before.push(line);
    } else if (directive === 'UP' || directive === 'DOWN') {
      if (block) throw fail(`line ${i + 1}: -- +goose ${directive} inside a StatementBegin/StatementEnd block`);
      if (directive === 'UP' && sawUp) throw fail(`line ${i + 1}: a second -- +goose Up section`);
      if (directive === 'DOWN' && section !== 'down') ignored.push({ file: file.name, reason: `its goose Down section (line ${i + 1}) is ${DOWN_REASON}` });
      sawUp ||= directive === 'UP';
      section = directive === 'UP' ? 'up' : 'down';
    } else if (directive === 'STATEMENTBEGIN') {
      if (block) throw fail(`line ${i + 1}: StatementBegin inside another block (from line ${block.from})`);
      block = { from: i + 1, lines: [] };
    } else if (directive === 'STATEMENTEND') {
      if (!block) throw fail(`line ${i + 1}: StatementEnd without StatementBegin`);
      const content = block.lines.join('\n');
      if (section === 'up') {
        let count = 1;
        try {
          count = splitStatements(content).length;
        } catch (err) {
          if (!(err instanceof StatementSyntaxError)) throw err;
        }
        if (count > 1) {
          throw fail(`the StatementBegin/StatementEnd block at line ${block.from} holds a top-level ';' inside its statement, which would run as ${count} statements`);
        }
        // A `;` on a marker line keeps the block apart from an unterminated statement before it and from what follows.
        if (endsInStatement(up.join('\n'))) up.push(';');
        up.push(content, ';');
      }
      block = null;
    } else if (directive !== 'NO TRANSACTION') {
      throw fail(`line ${i + 1}: -- +goose ${GOOSE_DIRECTIVE.exec(line)?.[1]} is not supported (only Up, Down, StatementBegin, StatementEnd and NO TRANSACTION)`);
    }
  });
  if (block) throw fail(`the StatementBegin block at line ${(block as { from: number }).from} has no StatementEnd`);
  if (holdsStatements(before.join('\n'))) throw fail('statements before the -- +goose Up line');
  return up.join('\n');
}

/** The up SQL of a dbmate file: its `-- migrate:up` section (options such as transaction:false ignored). */
function dbmateUp(file: ChangeFile, ignored: ReadChanges['ignored']): string {
  const sections: Record<'before' | 'up' | 'down', string[]> = { before: [], up: [], down: [] };
  let section: keyof typeof sections = 'before';
  const seen = new Set<string>();
  file.text.split('\n').forEach((line, i) => {
    const marker = DBMATE_DIRECTIVE.exec(line)?.[1].toLowerCase() as 'up' | 'down' | undefined;
    if (!marker) {
      sections[section].push(line);
      return;
    }
    if (seen.has(marker)) throw new ChangeLayoutError(`${file.name}: line ${i + 1}: a second -- migrate:${marker} section`, [file.name]);
    seen.add(marker);
    if (marker === 'down') ignored.push({ file: file.name, reason: `its dbmate migrate:down section (line ${i + 1}) is ${DOWN_REASON}` });
    section = marker;
  });
  if (holdsStatements(sections.before.join('\n'))) throw new ChangeLayoutError(`${file.name}: statements before the -- migrate:up line`, [file.name]);
  return sections.up.join('\n');
}

/** The layout each marker points to, with the files that carry it. */
function layoutMarkers(files: readonly ChangeFile[]): Map<ChangeLayout, string[]> {
  const markers = new Map<ChangeLayout, string[]>([
    ['golang-migrate', files.filter((file) => /\.(up|down)\.sql$/i.test(file.name)).map((file) => file.name)],
    ['goose', files.filter((file) => GOOSE_UP.test(file.text)).map((file) => file.name)],
    ['dbmate', files.filter((file) => DBMATE_UP.test(file.text)).map((file) => file.name)],
  ]);
  for (const [layout, names] of markers) if (names.length === 0) markers.delete(layout);
  return markers;
}

/**
 * The changes of a folder's files, whichever layout they use. Detection: any `.up.sql` or
 * `.down.sql` → golang-migrate; any file with a `-- +goose Up` line → goose; any with
 * `-- migrate:up` → dbmate; otherwise numbered (`NNN_name.sql`, also clickhouse-migrations'
 * `N_name.sql`). A change's version is its file name's leading digits and its name the rest of
 * the name (after the first `_`, without `.up.sql` or `.sql`); its sql holds only the up
 * statements, marker lines removed. Files whose names do not start with a digit, and files that
 * are not `.sql`, are ignored; changes come sorted by version.
 * @throws ChangeLayoutError when markers of two layouts mix, or a file does not fit its folder's layout.
 */
export function parseChangeFiles(files: readonly ChangeFile[]): ReadChanges {
  const ignored: ReadChanges['ignored'] = [];
  const candidates: ChangeFile[] = [];
  for (const file of files) {
    if (!/\.sql$/i.test(file.name)) ignored.push({ file: file.name, reason: 'not a migration: not a .sql file' });
    else if (!/^[0-9]/.test(file.name)) ignored.push({ file: file.name, reason: 'not a migration: its name does not start with a version' });
    else candidates.push(file);
  }
  const markers = layoutMarkers(candidates);
  if (markers.size > 1) {
    const described = [...markers].map(([layout, names]) => `${layout} (${names.join(', ')})`).join('; ');
    throw new ChangeLayoutError(`the folder mixes layouts: ${described}`, [...markers.values()].flat());
  }
  const layout: ChangeLayout = [...markers.keys()][0] ?? 'numbered';
  const changes: (Change & { file: string })[] = [];
  const misfits: string[] = [];
  for (const file of candidates) {
    const parsed = (layout === 'golang-migrate' ? GOLANG_MIGRATE_NAME : NUMBERED_NAME).exec(file.name);
    if (!parsed) {
      misfits.push(file.name);
      continue;
    }
    const [, version, name, direction] = parsed;
    let sql = file.text;
    if (layout === 'golang-migrate' && direction.toLowerCase() === 'down') {
      ignored.push({ file: file.name, reason: `a golang-migrate .down.sql file is ${DOWN_REASON}` });
      continue;
    }
    if (layout === 'goose') {
      if (!GOOSE_UP.test(file.text)) throw new ChangeLayoutError(`${file.name}: no -- +goose Up line, as every file of a goose folder needs`, [file.name]);
      sql = gooseUp(file, ignored);
    } else if (layout === 'dbmate') {
      if (!DBMATE_UP.test(file.text)) throw new ChangeLayoutError(`${file.name}: no -- migrate:up line, as every file of a dbmate folder needs`, [file.name]);
      sql = dbmateUp(file, ignored);
    }
    changes.push({ version, name, sql, file: file.name });
  }
  if (misfits.length > 0) {
    const expected = layout === 'golang-migrate' ? '{version}_{title}.up.sql or .down.sql' : '{version}_{name}.sql';
    throw new ChangeLayoutError(`files that do not fit the ${layout} layout (${expected}): ${misfits.join(', ')}`, misfits);
  }
  changes.sort((a, b) => compareVersions(a.version, b.version) || (a.file < b.file ? -1 : a.file > b.file ? 1 : 0));
  return { layout, changes: changes.map(({ version, name, sql }) => ({ version, name, sql })), ignored };
}

/**
 * Reads every `*.sql` file of `dir` (not its subfolders) and parses them with parseChangeFiles.
 * @throws ChangeLayoutError as parseChangeFiles does.
 */
export async function readChangesDir(dir: string): Promise<ReadChanges> {
  const names = (await readdir(dir)).filter((name) => /\.sql$/i.test(name)).sort();
  const files: ChangeFile[] = [];
  for (const name of names) {
    const path = join(dir, name);
    if ((await stat(path)).isFile()) files.push({ name, text: await readFile(path, 'utf8') });
  }
  return parseChangeFiles(files);
}

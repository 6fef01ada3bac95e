import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { statementsOf } from '../../src/changes/change-set';
import { ChangeLayoutError, parseChangeFiles, readChangesDir, type ChangeFile, type ReadChanges } from '../../src/changes/layouts';

/** One plan of three versions: each with its up statements and the down statement a tool would keep. */
const PLAN = [
  {
    version: '001',
    name: 'create_events',
    up: [
      'CREATE TABLE events (id UInt64, label String) ENGINE = MergeTree ORDER BY id',
      "INSERT INTO events VALUES (1, 'a;b'), (2, 'it''s -- not a comment')",
    ],
    down: ['DROP TABLE events'],
  },
  {
    version: '002',
    name: 'add_note',
    up: ["ALTER TABLE events ADD COLUMN `note;1` String DEFAULT '/* ; */'"],
    down: ['ALTER TABLE events DROP COLUMN `note;1`'],
  },
  {
    version: '010',
    name: 'backfill ümlaut',
    up: ["INSERT INTO events (id, label)\nSELECT number, concat('row;', toString(number))\nFROM numbers(3)", 'OPTIMIZE TABLE events FINAL'],
    down: ['TRUNCATE TABLE events'],
  },
];

const terminated = (statements: string[]) => statements.map((s) => `${s};\n`).join('');
/** Every layout opens its up statements with the same comment, which stays with the first statement. */
const header = (name: string) => `-- ${name}: up`;

const LAYOUTS: Record<string, ChangeFile[]> = {
  numbered: PLAN.map((v) => ({ name: `${v.version}_${v.name}.sql`, text: `${header(v.name)}\n${terminated(v.up)}` })),
  'golang-migrate': PLAN.flatMap((v) => [
    { name: `${v.version}_${v.name}.up.sql`, text: `${header(v.name)}\n${terminated(v.up)}` },
    { name: `${v.version}_${v.name}.down.sql`, text: terminated(v.down) },
  ]),
  goose: PLAN.map((v) => ({
    name: `${v.version}_${v.name}.sql`,
    text: [
      '-- +goose Up',
      header(v.name),
      // The multi-line statement goes in a block, as goose users write them.
      ...v.up.map((s) => (s.includes('\n') ? `-- +goose StatementBegin\n${s};\n-- +goose StatementEnd` : `${s};`)),
      '',
      '-- +goose Down',
      '-- +goose StatementBegin',
      terminated(v.down),
      '-- +goose StatementEnd',
    ].join('\n'),
  })),
  dbmate: PLAN.map((v) => ({
    name: `${v.version}_${v.name}.sql`,
    text: `-- migrate:up transaction:false\n${header(v.name)}\n${terminated(v.up)}\n-- migrate:down\n${terminated(v.down)}`,
  })),
};

function plan(read: ReadChanges) {
  return read.changes.map((c) => ({ version: c.version, name: c.name, statements: statementsOf(c) }));
}

function layoutError(files: ChangeFile[]): ChangeLayoutError {
  try {
    parseChangeFiles(files);
  } catch (err) {
    if (err instanceof ChangeLayoutError) return err;
    throw err;
  }
  throw new Error('expected a ChangeLayoutError');
}

describe('reading a folder of changes', () => {
  let dir: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'change-layouts-'));
  });

  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  function writeFolder(files: ChangeFile[]): string {
    for (const file of files) writeFileSync(join(dir, file.name), file.text);
    return dir;
  }

  it.each(Object.keys(LAYOUTS))('when the plan is written in the %s layout, it reads the same versions, names and up statements', async (layout) => {
    const read = await readChangesDir(writeFolder(LAYOUTS[layout]));
    expect(read.layout).toBe(layout);
    const statements = (v: (typeof PLAN)[number]) => v.up.map((s, i) => (i === 0 ? `${header(v.name)}\n${s}` : s));
    expect(plan(read)).toEqual(PLAN.map((v) => ({ version: v.version, name: v.name, statements: statements(v) })));
  });

  it('when a folder holds subfolders and files that are not .sql, it reads only its own .sql files', async () => {
    writeFolder(LAYOUTS.numbered);
    mkdirSync(join(dir, '999_nested.sql'));
    writeFileSync(join(dir, 'README.md'), '# notes');
    const read = await readChangesDir(dir);
    expect(read.changes.map((c) => c.version)).toEqual(['001', '002', '010']);
    expect(read.ignored).toEqual([]);
  });

  it('in golang-migrate, every .down.sql is reported as ignored and not run', () => {
    const read = parseChangeFiles(LAYOUTS['golang-migrate']);
    expect(read.ignored.map((i) => i.file)).toEqual(PLAN.map((v) => `${v.version}_${v.name}.down.sql`));
    expect(read.ignored[0].reason).toMatch(/down migration/);
    expect(read.changes.flatMap(statementsOf).join('\n')).not.toMatch(/DROP|TRUNCATE/);
  });

  it.each([
    ['goose', /goose Down section \(line \d+\)/],
    ['dbmate', /dbmate migrate:down section \(line \d+\)/],
  ])('in %s, each down section is reported as ignored with its line', (layout, reason) => {
    const read = parseChangeFiles(LAYOUTS[layout]);
    expect(read.ignored).toHaveLength(3);
    for (const entry of read.ignored) expect(entry.reason).toMatch(reason);
  });

  it('sorts changes by their numeric versions, as clickhouse-migrations names them (N_name.sql)', () => {
    const read = parseChangeFiles(['10_c.sql', '9_b.sql', '1_a.sql'].map((name) => ({ name, text: 'SELECT 1;' })));
    expect(read).toMatchObject({ layout: 'numbered', changes: [{ version: '1', name: 'a' }, { version: '9', name: 'b' }, { version: '10', name: 'c' }] });
  });

  it('when a file name is hostile, the change keeps everything after the first underscore as its name', () => {
    const read = parseChangeFiles([{ name: "007_it's_a `tick`; 名前.sql", text: 'SELECT 1' }]);
    expect(read.changes).toEqual([{ version: '007', name: "it's_a `tick`; 名前", sql: 'SELECT 1' }]);
  });

  it('when a .sql file does not start with a version, it is ignored as not a migration', () => {
    const read = parseChangeFiles([{ name: 'schema.sql', text: 'CREATE TABLE x (a UInt8) ENGINE = Memory' }, ...LAYOUTS.dbmate]);
    expect(read.layout).toBe('dbmate');
    expect(read.ignored[0]).toEqual({ file: 'schema.sql', reason: 'not a migration: its name does not start with a version' });
  });

  it('when a file starts with a version but fits no layout, the error names it', () => {
    const error = layoutError([{ name: '001.sql', text: 'SELECT 1' }, { name: '002_ok.sql', text: 'SELECT 1' }]);
    expect(error.message).toMatch(/do not fit the numbered layout.*: 001\.sql$/);
    expect(error.files).toEqual(['001.sql']);
  });

  it('when a golang-migrate folder also holds a plain numbered file, the error names it', () => {
    expect(layoutError([...LAYOUTS['golang-migrate'], { name: '011_extra.sql', text: 'SELECT 1' }]).files).toEqual(['011_extra.sql']);
  });

  it('when a folder mixes the markers of two layouts, the error names the files of each', () => {
    const error = layoutError([LAYOUTS.goose[0], LAYOUTS.dbmate[1]]);
    expect(error.message).toBe('the folder mixes layouts: goose (001_create_events.sql); dbmate (002_add_note.sql)');
    expect(layoutError([LAYOUTS.goose[0], LAYOUTS['golang-migrate'][2]]).message).toMatch(/golang-migrate \(002_add_note\.up\.sql\); goose \(001_create_events\.sql\)/);
  });

  it('in a goose folder, a block keeps a semicolon inside a string as part of its one statement', () => {
    const text = "-- +goose Up\n-- +goose StatementBegin\nINSERT INTO t\nVALUES ('x;y')\n-- +goose StatementEnd\nSELECT 2;";
    expect(statementsOf(parseChangeFiles([{ name: '1_a.sql', text }]).changes[0])).toEqual(["INSERT INTO t\nVALUES ('x;y')", 'SELECT 2']);
  });

  it('in a goose folder, a statement left without a semicolon before a block stays apart from the block', () => {
    const text = '-- +goose Up\nSELECT 1\n-- +goose StatementBegin\nSELECT 2\n-- +goose StatementEnd\nSELECT 3';
    expect(statementsOf(parseChangeFiles([{ name: '1_a.sql', text }]).changes[0])).toEqual(['SELECT 1', 'SELECT 2', 'SELECT 3']);
  });

  it('in a goose folder, a block whose statement holds a top-level semicolon cannot be kept whole, and the error names the file', () => {
    const text = '-- +goose Up\n-- +goose StatementBegin\nSELECT 1; SELECT 2;\n-- +goose StatementEnd\n';
    const error = layoutError([{ name: '001_two.sql', text }]);
    expect(error.message).toMatch(/^001_two\.sql: the StatementBegin\/StatementEnd block at line 2 holds a top-level ';'/);
    expect(error.files).toEqual(['001_two.sql']);
  });

  it.each([
    ['a file without an Up line', 'SELECT 1;', /002_b\.sql: no -- \+goose Up line/],
    ['statements before the Up line', 'SELECT 0;\n-- +goose Up\nSELECT 1;', /statements before the -- \+goose Up line/],
    ['a block that never ends', '-- +goose Up\n-- +goose StatementBegin\nSELECT 1;', /block at line 2 has no StatementEnd/],
    ['an end without a beginning', '-- +goose Up\nSELECT 1;\n-- +goose StatementEnd', /line 3: StatementEnd without StatementBegin/],
    ['environment substitution', '-- +goose Up\n-- +goose ENVSUB ON\nSELECT ${X};', /ENVSUB ON is not supported/],
  ])('in a goose folder, %s is refused', (_what, text, message) => {
    expect(layoutError([LAYOUTS.goose[0], { name: '002_b.sql', text }]).message).toMatch(message);
  });

  it('in a goose folder, NO TRANSACTION is accepted and left out of the statements', () => {
    const read = parseChangeFiles([{ name: '1_a.sql', text: '-- +goose NO TRANSACTION\n-- +goose Up\nSELECT 1;' }]);
    expect(statementsOf(read.changes[0])).toEqual(['SELECT 1']);
  });

  it.each([
    ['a file without an up line', 'SELECT 1;', /002_b\.sql: no -- migrate:up line/],
    ['statements before the up line', 'SELECT 0;\n-- migrate:up\nSELECT 1;', /statements before the -- migrate:up line/],
    ['a second up section', '-- migrate:up\nSELECT 1;\n-- migrate:up\nSELECT 2;', /line 3: a second -- migrate:up section/],
  ])('in a dbmate folder, %s is refused', (_what, text, message) => {
    expect(layoutError([LAYOUTS.dbmate[0], { name: '002_b.sql', text }]).message).toMatch(message);
  });

  it('in a dbmate folder, a down section before the up section is still left out', () => {
    const read = parseChangeFiles([{ name: '1_a.sql', text: '-- migrate:down\nDROP TABLE t;\n-- migrate:up\nCREATE TABLE t (a UInt8) ENGINE = Memory;' }]);
    expect(statementsOf(read.changes[0])).toEqual(['CREATE TABLE t (a UInt8) ENGINE = Memory']);
  });

  it('when files have Windows line endings, the markers are still found', () => {
    const read = parseChangeFiles([{ name: '1_a.sql', text: '-- +goose Up\r\nSELECT 1;\r\n-- +goose Down\r\nSELECT 2;\r\n' }]);
    expect(read.layout).toBe('goose');
    expect(statementsOf(read.changes[0])).toEqual(['SELECT 1']);
  });

  it('when a folder holds no .sql file, it reads no changes, in the numbered layout', () => {
    expect(parseChangeFiles([{ name: 'notes.txt', text: '' }])).toEqual({
      layout: 'numbered',
      changes: [],
      ignored: [{ file: 'notes.txt', reason: 'not a migration: not a .sql file' }],
    });
  });
});

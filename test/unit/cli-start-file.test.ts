import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeChangesRead, readChangesFolder } from '../../src/cli/changes-dir';
import { UsageError } from '../../src/cli/exit-codes';
import { buildStartRequest, parseStartFile, passwordsFromStdin, type StartFlags } from '../../src/cli/start-file';

const YAML_FILE = `
id: nightly-1
source:
  url: http://source:8123
  username: reader
  passwordRef: source-pw
  nativePort: 9000
target:
  url: http://target:8123
  password: "t0p secret"
databases: [demo, logs]
options:
  onConflict: replace
  parallelism: 4
`;

const fromFlags = (flags: StartFlags, env: Record<string, string | undefined> = {}, stdin?: string) => buildStartRequest({ flags, env, stdin });

describe('parseStartFile', () => {
  it('when the file is YAML, it reads the fields of the start request', () => {
    expect(parseStartFile(YAML_FILE, 'run.yaml')).toEqual({
      id: 'nightly-1',
      source: { url: 'http://source:8123', username: 'reader', passwordRef: 'source-pw', nativePort: 9000 },
      target: { url: 'http://target:8123', password: 't0p secret' },
      databases: ['demo', 'logs'],
      options: { onConflict: 'replace', parallelism: 4 },
    });
  });

  it('when the file is JSON, it is read as JSON, and a syntax error names the file', () => {
    expect(parseStartFile('{"databases": ["a"]}', 'run.json')).toEqual({ databases: ['a'] });
    expect(() => parseStartFile('{"databases": ', 'run.json')).toThrow(/run\.json cannot be parsed/);
  });

  it('when the file does not hold a mapping, it says what it must hold', () => {
    expect(() => parseStartFile('- a\n- b\n', 'run.yml')).toThrow(UsageError);
    expect(() => parseStartFile('just text', 'run.yml')).toThrow(/must hold a mapping/);
  });

  it('when the YAML is broken, the message says where', () => {
    expect(() => parseStartFile('source:\n  url: [unclosed\n', 'run.yaml')).toThrow(/run\.yaml cannot be parsed: .*line/);
  });
});

describe('buildStartRequest', () => {
  it('when every field comes from flags, the body has the API shape', () => {
    const { body, warnings } = fromFlags(
      {
        id: 'm1',
        sourceUrl: 'http://s:8123',
        sourceUser: 'u',
        sourcePasswordRef: 'src',
        sourceNativePort: 9000,
        targetUrl: 'http://t:8123',
        targetPasswordRef: 'dst',
        database: ['a', 'b'],
        onConflict: 'replace',
        parallelism: 3,
        syncPasses: 0,
        approvalsRequired: false,
      },
    );
    expect(body).toEqual({
      id: 'm1',
      source: { url: 'http://s:8123', username: 'u', passwordRef: 'src', nativePort: 9000 },
      target: { url: 'http://t:8123', passwordRef: 'dst' },
      databases: ['a', 'b'],
      options: { onConflict: 'replace', parallelism: 3, syncPasses: 0 },
      approvals: { required: false },
    });
    expect(warnings).toEqual([]);
  });

  it('when a file and flags are both given, each flag overrides its field and the rest of the file stays', () => {
    const file = parseStartFile(YAML_FILE, 'run.yaml');
    const { body } = buildStartRequest({ file, flags: { targetUrl: 'http://other:8123', database: ['only'], syncPasses: 1 }, env: {} });
    expect(body).toEqual({
      id: 'nightly-1',
      source: { url: 'http://source:8123', username: 'reader', passwordRef: 'source-pw', nativePort: 9000 },
      target: { url: 'http://other:8123', password: 't0p secret' },
      databases: ['only'],
      options: { onConflict: 'replace', parallelism: 4, syncPasses: 1 },
    });
  });

  it('when a password flag replaces a passwordRef of the file (or the reverse), only the flag is sent', () => {
    const file = parseStartFile(YAML_FILE, 'run.yaml');
    const { body } = buildStartRequest({ file, flags: { sourcePassword: 'pw', targetPasswordRef: 'dst' }, env: {} });
    expect('source' in body && body.source).toEqual({ url: 'http://source:8123', username: 'reader', password: 'pw', nativePort: 9000 });
    expect(body.target).toEqual({ url: 'http://target:8123', passwordRef: 'dst' });
  });

  it('when a password is given on the command line, a warning names the safer ways, without the password', () => {
    const { body, warnings } = fromFlags({ sourceUrl: 'http://s:8123', sourcePassword: 'hunter2' });
    expect('source' in body && body.source).toMatchObject({ password: 'hunter2' });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/shell history/);
    expect(warnings[0]).toMatch(/--source-password-stdin.*MIGRATOR_SOURCE_PASSWORD.*--source-password-ref/);
    expect(warnings[0]).not.toContain('hunter2');
  });

  it('when the environment holds a password, it is used only where neither the file nor a flag gives one', () => {
    const env = { MIGRATOR_SOURCE_PASSWORD: 'from-env-s', MIGRATOR_TARGET_PASSWORD: 'from-env-t' };
    expect(fromFlags({ sourceUrl: 'http://s:8123', targetUrl: 'http://t:8123' }, env).body).toMatchObject({
      source: { password: 'from-env-s' },
      target: { password: 'from-env-t' },
    });
    const file = parseStartFile(YAML_FILE, 'run.yaml');
    const { body, warnings } = buildStartRequest({ file, flags: {}, env });
    expect('source' in body && body.source).not.toHaveProperty('password');
    expect(body.target).toMatchObject({ password: 't0p secret' });
    expect(warnings).toEqual([]);
  });

  it('when passwords are read from stdin, the source takes the first line and the target the next', () => {
    const { body } = fromFlags({ sourceUrl: 'http://s:8123', sourcePasswordStdin: true, targetUrl: 'http://t:8123', targetPasswordStdin: true }, {}, 'one\ntwo\n');
    expect(body).toMatchObject({ source: { password: 'one' }, target: { password: 'two' } });
    expect(fromFlags({ targetUrl: 'http://t:8123', targetPasswordStdin: true }, {}, 'only\n').body).toMatchObject({ target: { password: 'only' } });
  });

  it('when stdin holds fewer lines than the flags ask for, it says how many it needs', () => {
    expect(() => passwordsFromStdin('one\n', ['source', 'target'])).toThrow(/1 line\(s\).*one line each/);
    expect(() => passwordsFromStdin('', ['source'])).toThrow(/0 line\(s\)/);
    expect(passwordsFromStdin('\n', ['source'])).toEqual({ source: '' });
  });

  it('when two password sources are given for one side, it refuses and names them', () => {
    expect(() => fromFlags({ sourcePassword: 'a', sourcePasswordRef: 'b' })).toThrow('give only one of --source-password, --source-password-ref');
    expect(() => fromFlags({ targetPasswordStdin: true, targetPasswordRef: 'b' }, {}, 'x')).toThrow(/--target-password-stdin, --target-password-ref/);
  });

  it('when a side is missing everywhere, the body leaves it out for the API to name', () => {
    const { body } = fromFlags({ targetUrl: 'http://t:8123', database: ['a'] });
    expect(body).toEqual({ target: { url: 'http://t:8123' }, databases: ['a'] });
  });

  it('when the file holds a side that is not a mapping, it says so', () => {
    expect(() => buildStartRequest({ file: { source: 'http://s:8123' }, flags: { sourceUser: 'x' }, env: {} })).toThrow(/"source" in the start file must be a mapping/);
  });

  it('when the file is used, it is not changed', () => {
    const file = parseStartFile(YAML_FILE, 'run.yaml') as Record<string, unknown>;
    const before = JSON.stringify(file);
    buildStartRequest({ file, flags: { sourcePassword: 'x', parallelism: 9 }, env: {} });
    expect(JSON.stringify(file)).toBe(before);
  });
});

describe('a start of changes (--changes-dir)', () => {
  const changes = [{ version: '001', name: 'orders', sql: 'CREATE TABLE orders (id UInt64) ENGINE = MergeTree ORDER BY id' }];

  it('sends the target, the one database, the changes and the failure policy, without a source (even with a source password in the environment)', () => {
    const { body } = buildStartRequest({
      flags: { targetUrl: 'http://t:8123', targetUser: 'admin', database: ['shop'], changesDir: './migrations', onFailure: 'stop', approvalsRequired: false },
      env: { MIGRATOR_TARGET_PASSWORD: 'pw', MIGRATOR_SOURCE_PASSWORD: 'left-from-a-transfer' },
      changes,
    });
    expect(body).toEqual({ target: { url: 'http://t:8123', username: 'admin', password: 'pw' }, database: 'shop', changes, options: { onFailure: 'stop' }, approvals: { required: false } });
  });

  it('when source flags or a transfer option come with it, it is a usage error naming them', () => {
    expect(() => buildStartRequest({ flags: { sourceUrl: 'http://s:8123', parallelism: 4, database: ['shop'] }, env: {}, changes })).toThrow(
      new UsageError('--changes-dir applies changes to the target only: leave out --source-url, --parallelism (a transfer followed by changes is not supported yet)'),
    );
    expect(() => buildStartRequest({ file: { source: { url: 'http://s:8123' } }, flags: { database: ['shop'] }, env: {}, changes })).toThrow(/start file holds "source"/);
  });

  it('when the database is missing or repeated, or --on-failure comes without it, it is a usage error', () => {
    expect(() => buildStartRequest({ flags: { targetUrl: 'http://t:8123' }, env: {}, changes })).toThrow(/give --database/);
    expect(() => buildStartRequest({ flags: { database: ['a', 'b'] }, env: {}, changes })).toThrow(/one database/);
    expect(() => fromFlags({ sourceUrl: 'http://s:8123', onFailure: 'stop' })).toThrow(/--on-failure applies to a run of changes/);
  });
});

describe('reading --changes-dir', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'changes-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the versions and says which layout it read and what will not run', async () => {
    await writeFile(join(dir, '001_orders.up.sql'), 'CREATE TABLE orders (id UInt64) ENGINE = MergeTree ORDER BY id;');
    await writeFile(join(dir, '001_orders.down.sql'), 'DROP TABLE orders;');
    await writeFile(join(dir, '002_status.up.sql'), 'ALTER TABLE orders ADD COLUMN status String;');
    const read = await readChangesFolder(dir);
    expect(read.changes.map((c) => c.version)).toEqual(['001', '002']);
    expect(describeChangesRead('./migrations', read)).toMatch(/^read 2 versions from \.\/migrations \(golang-migrate layout\); not run: 001_orders\.down\.sql \(.+\)$/);
  });

  it('when the folder is missing, mixes layouts or holds no versions, it is a usage error that says so', async () => {
    await expect(readChangesFolder(join(dir, 'nope'))).rejects.toThrow(new UsageError(`--changes-dir ${join(dir, 'nope')} cannot be read: ENOENT`));
    await expect(readChangesFolder(dir)).rejects.toThrow(/holds no versions/);
    await writeFile(join(dir, '001_a.up.sql'), 'SELECT 1;');
    await writeFile(join(dir, '002_b.sql'), '-- +goose Up\nSELECT 1;');
    await expect(readChangesFolder(dir)).rejects.toBeInstanceOf(UsageError);
  });
});

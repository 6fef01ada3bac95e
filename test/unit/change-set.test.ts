import { changeSetProblems, compareVersions, statementsOf, VERSION_PATTERN, type Change } from '../../src/changes/change-set';
import { quoteIdentifier } from '../../src/clickhouse/sql';

const create = (table: string, database = 'shop') => `CREATE TABLE ${quoteIdentifier(database)}.${quoteIdentifier(table)} (id UInt64) ENGINE = MergeTree ORDER BY id`;

function change(version: string, sql: string, name = 'step'): Change {
  return { version, name, sql };
}

describe('versions', () => {
  it.each(['001', '1', '20240101120000', '1.2.3', '0'])('accepts %j', (version) => {
    expect(VERSION_PATTERN.test(version)).toBe(true);
  });

  it.each(['', 'v1', '1.', '.1', '1..2', '1_2', '１', '1 ', '1.2a'])('refuses %j', (version) => {
    expect(VERSION_PATTERN.test(version)).toBe(false);
  });

  it.each([
    ['001', '1', 0],
    ['2', '10', -1],
    ['10', '2', 1],
    ['1.2', '1.10', -1],
    ['1.2', '1.2.0', 0],
    ['1.2.1', '1.2', 1],
    ['20240101120000', '20240101120001', -1],
    ['123456789012345678901234567890', '123456789012345678901234567891', -1],
    ['000', '0', 0],
  ])('compares %j with %j numerically, segment by segment', (a, b, order) => {
    expect(compareVersions(a, b)).toBe(order);
    expect(compareVersions(b, a)).toBe(-order || 0);
  });

  it('sorts a list of versions as numbers', () => {
    expect(['10', '9', '1.10', '1.9', '0002'].sort(compareVersions)).toEqual(['1.9', '1.10', '0002', '9', '10']);
  });
});

describe('checking a change set', () => {
  it('when every version is well formed, increasing and writes only its database, there are no problems', () => {
    const changes = [
      change('001', `${create('events')};\nINSERT INTO shop.events VALUES (1)`),
      change('002', 'ALTER TABLE events ADD COLUMN note String; OPTIMIZE TABLE events FINAL'),
      change('010', 'SELECT count() FROM other.events; DROP TABLE shop.events'),
    ];
    expect(changeSetProblems(changes, 'shop')).toEqual([]);
  });

  it('when the list is empty, that is a problem of the whole list', () => {
    expect(changeSetProblems([], 'shop')).toEqual([{ index: -1, version: null, field: 'sql', message: 'a change set needs at least one version' }]);
  });

  it('when a version is not digits, it says which change and what a version looks like', () => {
    expect(changeSetProblems([change('v1', 'SELECT 1')], 'shop')).toEqual([
      { index: 0, version: 'v1', field: 'version', message: expect.stringMatching(/^change 1 has version "v1": a version is digits/) },
    ]);
  });

  it('when a version appears twice, even written differently, it names both changes', () => {
    const problems = changeSetProblems([change('001', 'SELECT 1'), change('002', 'SELECT 1'), change('2', 'SELECT 1')], 'shop');
    expect(problems).toEqual([{ index: 2, version: '2', field: 'version', message: 'version 2 appears twice (as 002) (changes 2 and 3)' }]);
    expect(changeSetProblems([change('002', 'SELECT 1'), change('003', 'SELECT 1'), change('002', 'SELECT 1')], 'shop')[0].message).toBe(
      'version 002 appears twice (changes 1 and 3)',
    );
  });

  it('when versions go down, it names the version it comes after', () => {
    const problems = changeSetProblems([change('001', 'SELECT 1'), change('003', 'SELECT 1'), change('002', 'SELECT 1')], 'shop');
    expect(problems).toEqual([{ index: 2, version: '002', field: 'version', message: 'version 002 comes after 003: versions must increase' }]);
  });

  it('when a change has no statements, only comments, that is a problem', () => {
    expect(changeSetProblems([change('004', '-- nothing yet;\n/* ; */')], 'shop')).toEqual([
      { index: 0, version: '004', field: 'sql', message: 'version 004 has no statements' },
    ]);
  });

  it('when a change has a blank name, that is a problem of its name', () => {
    expect(changeSetProblems([change('001', 'SELECT 1', '  ')], 'shop')).toEqual([
      { index: 0, version: '001', field: 'name', message: 'version 001 has no name' },
    ]);
  });

  it('when a string is not closed, it names the version, the offset and the line', () => {
    const [problem] = changeSetProblems([change('003', "SELECT 1;\nINSERT INTO t VALUES ('open)")], 'shop');
    expect(problem).toMatchObject({ index: 0, version: '003', field: 'sql' });
    expect(problem.message).toBe('version 003 cannot be split into statements: unterminated string at offset 32 (line 2)');
  });

  it('when a statement writes to another database, it names the statement and the object', () => {
    const problems = changeSetProblems([change('003', `SELECT 1; ${create('events', 'other_db')}`)], 'shop');
    expect(problems).toEqual([
      {
        index: 0,
        version: '003',
        field: 'sql',
        message: 'statement 2 of version 003 writes to other_db.events: only shop may change, because the restore point covers no other database',
      },
    ]);
  });

  it('when a write to another database hides behind a hostile name, the message quotes it', () => {
    const [problem] = changeSetProblems([change('001', 'RENAME TABLE shop.a TO `other;db`.`b c`')], 'shop');
    expect(problem.message).toContain('writes to `other;db`.`b c`:');
  });

  it('when the database names differ only in case, they are different databases', () => {
    expect(changeSetProblems([change('001', 'INSERT INTO Shop.events VALUES (1)')], 'shop')).toHaveLength(1);
  });

  it('when a statement changes users, grants or settings, it says no restore point covers it', () => {
    const problems = changeSetProblems([change('005', "GRANT SELECT ON shop.* TO analyst; SET max_threads = 1; CREATE USER u IDENTIFIED BY 'p;w'")], 'shop');
    expect(problems.map((p) => p.message)).toEqual([
      'statement 1 of version 005 (GRANT) changes what no restore point covers: a change may only change tables, views and dictionaries of shop',
      'statement 2 of version 005 (SET) changes what no restore point covers: a change may only change tables, views and dictionaries of shop',
      'statement 3 of version 005 (CREATE USER) changes what no restore point covers: a change may only change tables, views and dictionaries of shop',
    ]);
  });

  it('when a change set has several problems, they come in list order', () => {
    const problems = changeSetProblems([change('002', 'DROP DATABASE shop'), change('001', ''), change('x', 'SELECT 1')], 'shop');
    expect(problems.map((p) => [p.index, p.field])).toEqual([
      [0, 'sql'],
      [1, 'version'],
      [1, 'sql'],
      [2, 'version'],
    ]);
  });

  it.each(["it's", 'back`tick', 'semi;colon', 'üñï 名前'])('when the database is named %j, its own qualified writes are fine', (database) => {
    expect(changeSetProblems([change('1', `${create('t;1', database)}; INSERT INTO ${quoteIdentifier(database)}.\`t;1\` VALUES (1)`)], database)).toEqual([]);
  });
});

describe('the statements of a change', () => {
  it('are the split statements of its text, a leading comment staying with its statement', () => {
    expect(statementsOf(change('1', "INSERT INTO t VALUES ('a;b');\n-- then; count\nSELECT 1;\n-- done"))).toEqual([
      "INSERT INTO t VALUES ('a;b')",
      '-- then; count\nSELECT 1',
    ]);
  });
});

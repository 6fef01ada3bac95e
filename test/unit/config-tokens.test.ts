import { ConfigError, loadAuthConfig, loadConfig, parseTokensFile } from '../../src/config';

const token = (c: string) => c.repeat(32);
const entries = [
  { token: token('a'), subject: 'ana', roles: ['approver'] },
  { token: token('o'), subject: 'olivia', roles: ['operator', 'viewer'] },
];

function issuesOf(text: string): string[] {
  try {
    parseTokensFile(text, '/etc/tokens.json');
  } catch (err) {
    if (err instanceof ConfigError) return err.issues;
    throw err;
  }
  return [];
}

describe('the tokens file', () => {
  it('when it lists tokens with subjects and roles, they are read as written', () => {
    expect(parseTokensFile(JSON.stringify(entries), 'f')).toEqual(entries);
  });

  it('when a role is unknown, the message names the file, the entry, its subject and the field', () => {
    const issues = issuesOf(JSON.stringify([entries[0], { ...entries[1], roles: ['operator', 'root'] }]));
    expect(issues).toEqual([expect.stringMatching(/^MIGRATOR_TOKENS_FILE \/etc\/tokens\.json: entry 1 \(subject "olivia"\), field roles\.1: /)]);
  });

  it('when a token is short, the message names its field and does not quote it', () => {
    const issues = issuesOf(JSON.stringify([{ ...entries[0], token: 'hunter2' }]));
    expect(issues).toEqual([expect.stringMatching(/entry 0 \(subject "ana"\), field token: must be at least 24 characters/)]);
    expect(issues.join()).not.toContain('hunter2');
  });

  it('when a field is missing, misspelt or a role list is empty, each is named', () => {
    expect(issuesOf(JSON.stringify([{ token: token('a'), roles: ['viewer'] }]))[0]).toMatch(/entry 0, field subject:/);
    expect(issuesOf(JSON.stringify([{ ...entries[0], role: 'viewer' }]))[0]).toMatch(/entry 0 \(subject "ana"\): .*role/);
    expect(issuesOf(JSON.stringify([{ ...entries[0], roles: [] }]))[0]).toMatch(/field roles: name at least one role/);
  });

  it('when two entries share a token, the second is named', () => {
    expect(issuesOf(JSON.stringify([entries[0], { ...entries[1], token: token('a') }]))).toEqual([expect.stringMatching(/entry 1 \(subject "olivia"\), field token: repeats/)]);
  });

  it('when it is not JSON or not a list, the message says so without quoting the file', () => {
    const broken = issuesOf(`[{"token": "${token('s')}", `);
    expect(broken).toEqual([expect.stringMatching(/not valid JSON/)]);
    expect(broken.join()).not.toContain(token('s'));
    expect(issuesOf('{}')[0]).toMatch(/^MIGRATOR_TOKENS_FILE \/etc\/tokens\.json: /);
    expect(issuesOf('[]')[0]).toMatch(/at least one token/);
  });
});

describe('the API authentication settings', () => {
  const env = { MIGRATOR_SECRET_KEY: 'a-key-of-twenty-chars' };

  it('by default, authentication and four eyes are on', () => {
    expect(loadConfig(env)).toMatchObject({ MIGRATOR_AUTH: 'on', MIGRATOR_FOUR_EYES: 'on' });
  });

  it('when no tokens file is named and auth is not off, the API refuses to start, naming both variables', () => {
    expect(() => loadAuthConfig(loadConfig(env))).toThrow(/MIGRATOR_TOKENS_FILE: required.*MIGRATOR_AUTH=off/);
  });

  it('when auth is off, there are no tokens and no four eyes', () => {
    expect(loadAuthConfig(loadConfig({ ...env, MIGRATOR_AUTH: 'off' }))).toEqual({ mode: 'off', fourEyes: false });
  });

  it('when a tokens file is named, it is read; MIGRATOR_FOUR_EYES=off turns four eyes off', () => {
    const read = () => JSON.stringify(entries);
    const config = loadConfig({ ...env, MIGRATOR_TOKENS_FILE: '/t.json', MIGRATOR_FOUR_EYES: 'off' });
    expect(loadAuthConfig(config, read)).toEqual({ mode: 'tokens', tokens: entries, fourEyes: false });
  });

  it('when the tokens file cannot be read, the message names it and the reason', () => {
    const config = loadConfig({ ...env, MIGRATOR_TOKENS_FILE: '/nowhere/tokens.json' });
    expect(() => loadAuthConfig(config)).toThrow(/MIGRATOR_TOKENS_FILE \/nowhere\/tokens\.json: cannot be read \(ENOENT\)/);
  });

  it('when MIGRATOR_AUTH has another value, the configuration names it', () => {
    expect(() => loadConfig({ ...env, MIGRATOR_AUTH: 'no' })).toThrow(/MIGRATOR_AUTH/);
  });
});

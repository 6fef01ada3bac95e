/**
 * The source password travels to the target inside `remote()` on the server-to-server path. These
 * tests run against a target of their own whose users' profile logs every query, and read its log
 * tables afterwards.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { remoteSource } from '../../src/activities/remote';
import { ClickHouseConnection } from '../../src/clickhouse/connection';
import { quoteIdentifier, quoteString } from '../../src/clickhouse/sql';
import { startClickHouse, type LocalClickHouse } from '../../src/dev/clickhouse-server';
import { freePort } from '../../src/dev/ports';
import { keyringOf } from '../../src/secrets';
import type { EndpointRef, MigrationState, ValidationReport } from '../../src/workflows/types';
import { tableDigest } from './corpus/compare';
import { createDemoLike, DEMO_DATA_TABLES } from './fixtures';
import { connect, dropDatabase, migrationInput, startMigration, uniqueName, useTestServers } from './harness';
import { testStack } from './stack-env';

const servers = useTestServers({ worker: true });

const READER = { name: 'reader', password: 'reader-password', profile: 'readonly' } as const;

let dir: string;
let logged: LocalClickHouse;
let target: ClickHouseConnection;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'clickhouse-migrator-query-log-'));
  // The shared target's user and password, so that the harness's sealed target credentials open this server too.
  const { username, password } = testStack().target;
  logged = await startClickHouse({
    name: 'logged_target',
    dir,
    httpPort: await freePort(),
    tcpPort: await freePort(),
    username,
    password,
    profileSettings: { log_queries: 1 },
    queryLog: true,
    extraUsers: [READER],
  });
  target = new ClickHouseConnection({ url: logged.url, username, password }, { label: 'target', secrets: [] });
});

afterAll(async () => {
  await target?.close();
  await logged?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** `expression` holds `secret`, written so that the statement's own text (which the log keeps) does not. */
function containsExpression(expression: string, secret: string): string {
  return `position(toString(${expression}), unhex(${quoteString(Buffer.from(secret, 'utf8').toString('hex'))})) > 0`;
}

/**
 * For every log table of the server (`system.*log*`), the rows that hold any of `secrets` in any
 * text column (String, FixedString, LowCardinality, Nullable, Array or Map of them).
 */
async function logRowsHolding(conn: ClickHouseConnection, secrets: string[]): Promise<Record<string, number>> {
  await conn.exec('SYSTEM FLUSH LOGS');
  const columns = await conn.rows<{ table: string; name: string }>(
    "SELECT table, name FROM system.columns WHERE database = 'system' AND table LIKE '%log%' AND type LIKE '%String%'",
  );
  const found: Record<string, number> = {};
  for (const table of [...new Set(columns.map((c) => c.table))]) {
    const where = columns
      .filter((c) => c.table === table)
      .flatMap((c) => secrets.map((secret) => containsExpression(quoteIdentifier(c.name), secret)))
      .join(' OR ');
    const [row] = await conn.rows<{ n: string }>(`SELECT count() AS n FROM system.${quoteIdentifier(table)} WHERE ${where}`);
    found[table] = Number(row.n);
  }
  return found;
}

/** The password as it appears raw and inside a quoted SQL literal. */
function passwordForms(password: string): string[] {
  return [...new Set([password, quoteString(password).slice(1, -1)])];
}

async function hasTable(conn: ClickHouseConnection, name: string): Promise<boolean> {
  const rows = await conn.rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = 'system' AND name = ${quoteString(name)}`);
  return rows.length > 0;
}

describe('the source password and the target query log', () => {
  it('when the target logs every query, a server-to-server migration leaves the source password in no log table, and the log holds the run', async () => {
    const db = servers.database('qlog');
    await createDemoLike(servers.source, db, 20_000);
    const input = migrationInput(uniqueName('qlog'), [db], { approvals: { required: false } });
    const handle = await startMigration(servers.client, { ...input, target: { ...input.target, url: logged.url, nativePort: logged.tcpPort } });
    try {
      const final = (await handle.result()) as MigrationState;

      expect(final.status).toBe('completed');
      expect(final.transferPath).toBe('server');
      const validation = final.steps.find((s) => s.name === 'validation')?.result as ValidationReport;
      expect(validation.transfer.reason).toMatch(/kept out of the target's query log/);
      for (const table of DEMO_DATA_TABLES) {
        const [onSource, onTarget] = await Promise.all([tableDigest(servers.source, servers.source, db, table), tableDigest(target, servers.source, db, table)]);
        expect({ table, ...onTarget }).toEqual({ table, ...onSource });
      }
      expect((await tableDigest(target, servers.source, db, 'events')).rows).toBe(20_000);

      const sourcePassword = testStack().source.password;
      const holding = await logRowsHolding(target, passwordForms(sourcePassword));
      expect(Object.keys(holding)).toEqual(expect.arrayContaining(['query_log']));
      expect(holding).toEqual(Object.fromEntries(Object.keys(holding).map((table) => [table, 0])));
      expect(JSON.stringify(final)).not.toContain(sourcePassword);

      // The log was on: it holds the run's other statements (query ids start with the workflow id), none with remote().
      const ofRun = `startsWith(query_id, ${quoteString(`${input.id}/`)})`;
      const [run] = await target.rows<{ statements: string; swaps: string; remote: string }>(
        `SELECT count() AS statements, countIf(position(query, 'REPLACE PARTITION') > 0) AS swaps, countIf(position(query, 'remote(') > 0) AS remote
         FROM system.query_log WHERE ${ofRun}`,
      );
      expect(Number(run.statements)).toBeGreaterThan(50);
      expect(Number(run.swaps)).toBeGreaterThan(0);
      expect(Number(run.remote)).toBe(0);
      if (await hasTable(target, 'query_thread_log')) {
        const [threads] = await target.rows<{ n: string }>(`SELECT count() AS n FROM system.query_thread_log WHERE ${ofRun}`);
        expect(Number(threads.n)).toBeGreaterThan(0);
      }
    } finally {
      await dropDatabase(target, db);
    }
  });

  it('when a statement that carries the source password fails and the server quotes it, the error holds no part of the password, and the log none', async () => {
    const password = "Zq7\n'pass\\word\tend";
    const escaped = quoteString(password).slice(1, -1);
    const stack = testStack();
    const sourceRef: EndpointRef = { url: stack.source.url, username: stack.source.username, password: null, nativePort: stack.source.nativePort };
    // As withConnections opens them: every connection of an activity knows every password of the run.
    const source = new ClickHouseConnection({ url: stack.source.url, username: stack.source.username, password }, { label: 'source', secrets: [password] });
    const withSecrets = new ClickHouseConnection({ ...target.endpoint }, { label: 'target', secrets: [password] });
    try {
      const remote = await remoteSource({ keyring: keyringOf('query-log test, no sealed passwords') }, source, withSecrets, sourceRef);
      if (!remote.ok) throw new Error(remote.reason);
      // A stray comma: the server fails at remote( and quotes 160 characters from there, so the table name's length decides where the quote ends.
      const before = `remote(${[`127.0.0.1:${stack.source.nativePort}`, 'db', '', stack.source.username].map(quoteString).join(', ')}, '`.length;
      const statement = (table: string) => (from: (database: string, table: string) => string) => `SELECT 1, FROM ${from('db', table)}`;
      const messages: string[] = [];
      for (const shown of [1, 2, 5, escaped.length - 1, escaped.length + 10]) {
        const table = 'x'.repeat(Math.max(1, 160 - before - shown));
        const error = await remote.exec(statement(table)).then(
          () => new Error('the statement did not fail'),
          (err: Error) => err,
        );
        messages.push(error.message);
      }

      for (const message of messages) {
        expect(message).toMatch(/Syntax error/);
        // 18.16 quotes from `remote(` or, in some runs, from its parenthesis (seen under load): both show the arguments.
        expect(message).toContain(`('127.0.0.1:${stack.source.nativePort}'`);
        expect(message).not.toContain("'Z");
        expect(message).not.toContain('Zq7');
        expect(message).not.toContain(password);
        expect(message).not.toContain(escaped);
      }
      // The server did quote the password: up to the cut, and whole when the quote reaches past it.
      expect(messages[2]).toMatch(/'default', '\*\*\*\./);
      expect(messages[4]).toContain("'default', '***')");

      const holding = await logRowsHolding(target, ['Zq7']);
      expect(holding).toEqual(Object.fromEntries(Object.keys(holding).map((table) => [table, 0])));
    } finally {
      await Promise.all([source.close(), withSecrets.close()]);
    }
  });

  it('when the target user may not change its settings, the server path is not offered and says why', async () => {
    const reader = new ClickHouseConnection({ url: logged.url, username: READER.name, password: READER.password }, { label: 'target', secrets: [] });
    const source = connect(testStack().source, 'source');
    try {
      expect((await target.server()).capabilities.unloggedStatements).toBe(true);
      expect((await reader.server()).capabilities.unloggedStatements).toBe(false);
      const stack = testStack();
      const remote = await remoteSource({ keyring: keyringOf('query-log test, no sealed passwords') }, source, reader, { url: stack.source.url, username: stack.source.username, password: null, nativePort: stack.source.nativePort });
      expect(remote).toEqual({ ok: false, reason: expect.stringMatching(/user "reader" may not turn its query log off for one statement \(log_queries=0\)/) });
    } finally {
      await Promise.all([reader.close(), source.close()]);
    }
  });
});

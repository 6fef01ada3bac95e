/**
 * The CLI as a user runs it: `bin/clickhouse-migrator.js` as a child process, against the real
 * API (listening on loopback) with a real worker, Temporal and the two test ClickHouse servers.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import { stringify as toYaml } from 'yaml';
import { createApiClient } from '../../src/cli/api-client';
import { EXIT } from '../../src/cli/exit-codes';
import type { ClickHouseConnection } from '../../src/clickhouse/connection';
import type { Role } from '../../src/config';
import { freePort } from '../../src/dev/ports';
import type { MigrationState } from '../../src/workflows/types';
import { createDemoLike, DEMO_DATA_TABLES } from './fixtures';
import { apiEndpoint, connect, dropDatabase, startWorker, tableDigest, testClient, listenTestApi, uniqueName, waitFor } from './harness';
import { testStack } from './stack-env';

const BIN = join(__dirname, '..', '..', 'bin', 'clickhouse-migrator.js');

const PEOPLE = {
  viewer: { subject: 'vera', roles: ['viewer'] },
  operator: { subject: 'olivia', roles: ['operator'] },
  approver: { subject: 'ana', roles: ['approver'] },
} satisfies Record<string, { subject: string; roles: Role[] }>;
type Person = keyof typeof PEOPLE;
const TOKENS = Object.fromEntries(Object.keys(PEOPLE).map((p) => [p, randomBytes(24).toString('hex')])) as Record<Person, string>;

let client: Client;
let worker: { stop(): Promise<void> };
let server: Server;
let apiUrl: string;
let source: ClickHouseConnection;
let target: ClickHouseConnection;
let dir: string;
const databases: string[] = [];
const started: string[] = [];
/** What the API logged as unexpected errors (shown when a test fails on a 500). */
const apiErrors: string[] = [];
/** Everything the CLI printed, checked at the end for secrets. */
const printed: string[] = [];

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI as `who` (the token in MIGRATOR_TOKEN), with a clean environment and `stdin` piped in. */
/** Runs the CLI; `output()` is what it has printed on stdout so far. */
function cli(args: string[], who: Person, options: { env?: Record<string, string>; stdin?: string; timeoutMs?: number } = {}): Promise<CliResult> & { output(): string } {
  let stdout = '';
  const result = new Promise<CliResult>((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', MIGRATOR_API_URL: apiUrl, MIGRATOR_TOKEN: TOKENS[who], ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdin.end(options.stdin ?? '');
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      printed.push(stdout, stderr);
      resolve({ code, stdout, stderr });
    });
  });
  return Object.assign(result, { output: () => stdout });
}

const viewerApi = () => createApiClient({ baseUrl: apiUrl, token: TOKENS.viewer });

function waitForState(id: string, done: (s: MigrationState) => boolean, what: string): Promise<MigrationState> {
  return waitFor(() => viewerApi().get(id), done, what);
}

function endpoints() {
  const { source: s, target: t } = testStack();
  return {
    source: apiEndpoint(s),
    target: apiEndpoint(t),
  };
}

beforeAll(async () => {
  client = await testClient();
  worker = await startWorker();
  const tokens = (Object.keys(PEOPLE) as Person[]).map((p) => ({ token: TOKENS[p], ...PEOPLE[p] }));
  ({ server, url: apiUrl } = await listenTestApi(client, {
    auth: { mode: 'tokens', tokens, fourEyes: true },
    logger: { error: (...args: unknown[]) => apiErrors.push(args.map(String).join(' ')) },
  }));
  source = connect(testStack().source, 'source');
  target = connect(testStack().target, 'target');
  dir = mkdtempSync(join(tmpdir(), 'cli-test-'));
});

afterAll(async () => {
  for (const id of started) {
    const handle = client.workflow.getHandle(id);
    if ((await handle.describe()).status.name !== 'RUNNING') continue;
    await handle.cancel();
    await handle.result().catch(() => undefined);
  }
  for (const db of databases) {
    await dropDatabase(source, db);
    await dropDatabase(target, db);
  }
  await new Promise((resolve) => server.close(resolve));
  await worker.stop();
  await Promise.all([source.close(), target.close(), client.connection.close()]);
  rmSync(dir, { recursive: true, force: true });
});

describe('the clickhouse-migrator CLI against the real API', () => {
  it('starts a run from a YAML file, lists and shows it, approves each step, and watch exits 0 when it completes', async () => {
    const db = uniqueName('cli');
    databases.push(db);
    await createDemoLike(source, db, 20_000);
    const id = uniqueName('cli-run');
    const file = join(dir, 'run.yaml');
    // One partition per unit: the partitioned tables copy in several units, so the run follows them table by table.
    writeFileSync(file, toYaml({ id, ...endpoints(), databases: [db], options: { parallelism: 2, unitBytes: 1 } }));

    const start = await cli(['start', '--file', file, '--json'], 'operator');
    expect(start).toMatchObject({ code: 0, stderr: '' });
    expect(JSON.parse(start.stdout)).toMatchObject({ id, status: 'running', links: { self: `/migrations/${id}` } });
    started.push(id);

    const watch = cli(['watch', id, '--interval', '1'], 'viewer', { timeoutMs: 170_000 });

    const listed = await waitFor(
      () => cli(['list', '--json'], 'viewer'),
      (r) => r.code === 0 && (JSON.parse(r.stdout).migrations as { id: string }[]).some((m) => m.id === id),
      'the run in the list',
    );
    expect(JSON.parse(listed.stdout).migrations.find((m: { id: string }) => m.id === id)).toMatchObject({ id, startedAt: expect.any(String) });
    const table = await cli(['list'], 'viewer');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^ID\s+STATUS\s+STEP\s+STARTED\s+CLOSED$/m);
    expect(table.stdout).toContain(id);

    for (const step of ['configure', 'validation', 'migration']) {
      await waitForState(id, (s) => s.awaitingApproval?.step === step, `approval of ${step}`);
      // The run waits at the gate until approved: approve once watch has shown the wait.
      await waitFor(async () => watch.output(), (out) => out.includes(`awaiting_approval: waiting for approval of "${step}"`), `watch showing the wait for ${step}`);
      const status = await cli(['status', id], 'viewer');
      expect(status.code).toBe(0);
      expect(status.stdout).toContain(`${id}: awaiting_approval`);
      expect(status.stdout).toContain(`waiting for approval of "${step}" by anyone with the approver role except olivia (four eyes)`);
      const approve = await cli(['approve', id, step, '--comment', `${step} looks fine`], 'approver');
      expect(approve.stderr).toBe('');
      expect(approve.code).toBe(0);
      expect(approve.stdout).toContain(`Approved "${step}" of ${id}.`);
      expect(approve.stdout).toContain(`by ana at`);
    }

    const watched = await watch;
    expect(watched.stderr).toBe('');
    expect(watched.code).toBe(EXIT.ok);
    for (const step of ['configure', 'validation', 'migration']) {
      expect(watched.stdout).toMatch(new RegExp(`^\\S+Z ${id} awaiting_approval: waiting for approval of "${step}"`, 'm'));
    }
    expect(watched.stdout).toMatch(new RegExp(`^${id}: completed$`, 'm'));
    expect(watched.stdout).toMatch(/copied [\d,]+ rows/);
    for (const name of DEMO_DATA_TABLES) expect(watched.stdout).toMatch(new RegExp(`${db}\\.${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+[\\d,]+ rows  verified`));
    for (const name of DEMO_DATA_TABLES) expect(await tableDigest(target, db, name)).toEqual(await tableDigest(source, db, name));

    const final = await cli(['watch', id, '--json'], 'viewer');
    expect(final.code).toBe(EXIT.ok);
    const lines = final.stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ etaSeconds: 0, state: { id, status: 'completed', approvals: [{ by: 'ana' }, { by: 'ana' }, { by: 'ana' }] } });
    const followed = (lines[0].state as MigrationState).tableProgress ?? [];
    expect(followed.length).toBeGreaterThan(0);
    for (const t of followed) {
      expect(t.units).toBeGreaterThan(1);
      expect({ table: t.table, copied: t.rowsCopied, planned: t.rows }).toEqual({ table: t.table, copied: (await tableDigest(target, db, t.table)).rows, planned: (await tableDigest(source, db, t.table)).rows });
    }
  });

  it('when the API refuses a field, the CLI names the field and its reason and exits non-zero', async () => {
    const { source: s, target: t } = endpoints();
    const args = ['start', '--source-url', s.url, '--source-password', s.password, '--target-url', t.url, '--database', 'system'];
    const refused = await cli(args, 'operator', { env: { MIGRATOR_TARGET_PASSWORD: t.password } });
    expect(refused.code).toBe(EXIT.apiError);
    expect(refused.stderr).toContain(`error: the API answered 400 invalid_request (POST ${apiUrl}/migrations)`);
    expect(refused.stderr).toContain('  databases.0: system databases cannot be migrated');
    expect(refused.stderr).toMatch(/warning: --source-password puts the password into your shell history/);
    expect(refused.stdout).toBe('');

    const asJson = await cli([...args, '--json'], 'operator', { env: { MIGRATOR_TARGET_PASSWORD: t.password } });
    expect(asJson.code).toBe(EXIT.apiError);
    expect(JSON.parse(asJson.stdout)).toEqual({ error: 'invalid_request', status: 400, issues: [{ path: 'databases.0', message: 'system databases cannot be migrated' }] });
  });

  it('when the API cannot be reached, the CLI names the URL and exits non-zero', async () => {
    const url = `http://127.0.0.1:${await freePort()}`;
    const res = await cli(['--api-url', url, 'status', 'anything'], 'viewer');
    expect(res.code).toBe(EXIT.unreachable);
    expect(res.stderr).toContain(`error: cannot reach the API at ${url}/migrations/anything:`);
  });

  it('when a step is rejected, watch shows who rejected it and why, and exits non-zero', async () => {
    const db = uniqueName('cli_reject');
    databases.push(db);
    await source.exec(`CREATE DATABASE ${db}`);
    const id = uniqueName('cli-reject');
    const { source: s, target: t } = endpoints();
    const start = await cli(
      ['start', '--id', id, '--source-url', s.url, '--source-native-port', String(s.nativePort), '--target-url', t.url, '--target-password-stdin', '-d', db],
      'operator',
      { env: { MIGRATOR_SOURCE_PASSWORD: s.password }, stdin: `${t.password}\n` },
    );
    expect(start.stderr).toBe('');
    expect(start.code).toBe(0);
    expect(start.stdout).toContain(`Started migration ${id}`);
    started.push(id);

    await waitForState(id, (st) => st.awaitingApproval?.step === 'configure', 'approval of configure');
    const watch = cli(['watch', id, '--interval', '1'], 'viewer');
    const reject = await cli(['reject', id, 'configure', '--reason', 'not during business hours'], 'approver');
    expect(reject.code).toBe(0);
    expect(reject.stdout).toContain(`Rejected "configure" of ${id}.`);

    const watched = await watch;
    expect(watched.code).toBe(EXIT.runNotCompleted);
    expect(watched.stdout).toMatch(new RegExp(`^${id}: rejected$`, 'm'));
    expect(watched.stdout).toContain('rejected:   "configure" by ana at');
    expect(watched.stdout).toContain('not during business hours');
  });

  it('never printed a password or a token in any of the runs above, and the API met no unexpected error', () => {
    expect(apiErrors).toEqual([]);
    const { source: s, target: t } = testStack();
    const all = printed.join('\n');
    expect(printed.length).toBeGreaterThan(10);
    for (const secret of [s.password, t.password, ...Object.values(TOKENS)]) expect(all).not.toContain(secret);
  });
});

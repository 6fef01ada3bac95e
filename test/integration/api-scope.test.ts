/**
 * The scope of a transfer through the real API and the CLI (renames, filters, mode, schedule,
 * rate limits): each bad body is answered 400 naming its field and starts nothing; a good one is
 * started, and the run's input, as Temporal holds it, carries what was asked for.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import { join } from 'node:path';
import request from 'supertest';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { decodeFromPayloadsAtIndex } from '@temporalio/common/lib/internal-non-workflow';
import type { ClickHouseConnection } from '../../src/clickhouse/connection';
import { quoteString } from '../../src/clickhouse/sql';
import type { MigrationInput, MigrationState } from '../../src/workflows/types';
import { createDemoLike } from './fixtures';
import { apiEndpoint, connect, dropDatabase, listenTestApi, startWorker, testClient, uniqueName, waitFor } from './harness';
import { testStack } from './stack-env';

const BIN = join(__dirname, '..', '..', 'bin', 'clickhouse-migrator.js');
const TOKENS = { operator: randomBytes(24).toString('hex'), viewer: randomBytes(24).toString('hex') };

let client: Client;
let worker: { stop(): Promise<void> };
let server: Server;
let apiUrl: string;
let source: ClickHouseConnection;
let target: ClickHouseConnection;
/** A source database with the demo's tables, and the names of its tables as the server lists them. */
let db: string;
let tables: string[];
const started: string[] = [];
const apiErrors: string[] = [];

beforeAll(async () => {
  client = await testClient();
  worker = await startWorker();
  const tokens = [
    { token: TOKENS.operator, subject: 'olivia', roles: ['operator' as const] },
    { token: TOKENS.viewer, subject: 'vera', roles: ['viewer' as const] },
  ];
  ({ server, url: apiUrl } = await listenTestApi(client, { auth: { mode: 'tokens', tokens, fourEyes: true }, logger: { error: (...args: unknown[]) => apiErrors.push(args.map(String).join(' ')) } }));
  source = connect(testStack().source, 'source');
  target = connect(testStack().target, 'target');
  db = uniqueName('scope');
  await createDemoLike(source, db, 2_000);
  // The tables a pattern can name: a materialized view's storage table (`.inner.…`) follows its view.
  tables = (await source.rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = ${quoteString(db)} AND NOT startsWith(name, '.inner.') ORDER BY name`)).map((t) => t.name);
});

afterAll(async () => {
  for (const id of started) {
    const handle = client.workflow.getHandle(id);
    if ((await handle.describe()).status.name !== 'RUNNING') continue;
    await handle.cancel();
    await handle.result().catch(() => undefined);
  }
  for (const name of [db, `${db}_v2`, `${db}_cli`]) {
    await dropDatabase(source, name);
    await dropDatabase(target, name);
  }
  await new Promise((resolve) => server.close(resolve));
  await worker.stop();
  await Promise.all([source.close(), target.close(), client.connection.close()]);
});

function body(extra: Record<string, unknown>): Record<string, unknown> {
  const { source: s, target: t } = testStack();
  return { source: apiEndpoint(s), target: apiEndpoint(t), databases: [db], ...extra };
}

const post = (payload: Record<string, unknown>) => request(apiUrl).post('/migrations').set('authorization', `Bearer ${TOKENS.operator}`).send(payload);
const getState = async (id: string): Promise<MigrationState> => (await request(apiUrl).get(`/migrations/${id}`).set('authorization', `Bearer ${TOKENS.viewer}`).expect(200)).body;
const inAnHour = () => new Date(Date.now() + 3600_000).toISOString();
const WINDOW = { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '00:00', durationSeconds: 7200, timeZone: 'Europe/Berlin' };

/** The input the run was started with, from the first event of its history (decoded as workers decode it). */
async function startedInput(id: string): Promise<MigrationInput> {
  const history = await client.workflow.getHandle(id).fetchHistory();
  const payloads = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads;
  return decodeFromPayloadsAtIndex<MigrationInput>(client.options.loadedDataConverter, 0, payloads);
}

/** Cancels a run through the API and waits until Temporal has closed it. */
async function cancelAndEnd(id: string): Promise<string> {
  await request(apiUrl).post(`/migrations/${id}/cancel`).set('authorization', `Bearer ${TOKENS.operator}`).send({ reason: 'test over' }).expect(202);
  await client.workflow.getHandle(id).result().catch(() => undefined);
  return (await client.workflow.getHandle(id).describe()).status.name;
}

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', MIGRATOR_API_URL: apiUrl, MIGRATOR_TOKEN: TOKENS.operator, MIGRATOR_TARGET_PASSWORD: testStack().target.password },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdin.end(`${testStack().source.password}\n`);
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('a transfer\'s scope through the real API', () => {
  const bad: [string, () => Record<string, unknown>, string, RegExp][] = [
    ['a rename onto a database the request also copies', () => ({ databases: [db, { source: `${db}_other`, target: db }] }), 'databases.1.target', /a database this request also copies/],
    ['two sources onto one target', () => ({ databases: [{ source: db, target: 'merged' }, { source: `${db}_other`, target: 'merged' }] }), 'databases.1.target', /two sources onto one target/],
    ['a pattern naming none of the request\'s databases', () => ({ exclude: [`${db}_v2.*`] }), 'exclude.0', /matches no table of the databases in this request/],
    ['notBefore in the past', () => ({ schedule: { notBefore: new Date(Date.now() - 60_000).toISOString() } }), 'schedule.notBefore', /in the future/],
    ['an unknown time zone', () => ({ schedule: { window: { ...WINDOW, timeZone: 'Europe/Atlantis' } } }), 'schedule.window.timeZone', /IANA time zone/],
    ['a window of zero length', () => ({ schedule: { window: { ...WINDOW, durationSeconds: 0 } } }), 'schedule.window.durationSeconds', /zero length/],
  ];

  it.each(bad)('when the body has %s, the answer is 400 naming the field, and no run starts', async (_what, extra, path, message) => {
    const id = uniqueName('scope-bad');
    const res = await post(body({ id, ...extra() }));
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'invalid_request' });
    expect(res.body.issues).toContainEqual({ path, message: expect.stringMatching(message) });
    await expect(client.workflow.getHandle(id).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
  });

  it('a renamed, filtered, scheduled and throttled body is started, its input carries each field, and a cancel ends the run', async () => {
    const id = uniqueName('scope-run');
    const excluded = tables[tables.length - 1];
    const schedule = { notBefore: inAnHour(), window: WINDOW, onWindowEnd: 'fail' };
    const res = await post(
      body({ id, databases: [{ source: db, target: `${db}_v2` }], include: [`${db}.*`], exclude: [`${db}.${excluded}`], mode: 'schema', schedule, options: { maxBytesPerSecond: 20 * 2 ** 20, maxRowsPerSecond: 100_000 } }),
    );
    expect([res.status, res.body.issues]).toEqual([201, undefined]);
    started.push(id);

    const input = await startedInput(id);
    expect(input).toMatchObject({
      databases: [db],
      renames: { [db]: `${db}_v2` },
      include: [`${db}.*`],
      exclude: [`${db}.${excluded}`],
      mode: 'schema',
      schedule,
      options: { maxBytesPerSecond: 20 * 2 ** 20, maxRowsPerSecond: 100_000 },
    });
    expect(JSON.stringify(input)).not.toContain(testStack().source.password);

    await waitFor(() => getState(id), (s) => s.awaitingApproval?.step === 'configure' || s.status !== 'running', 'the first gate');
    expect(await cancelAndEnd(id)).toBe('CANCELLED');
    expect((await getState(id)).status).toBe('cancelled');
    expect(apiErrors).toEqual([]);
  });

  it('the CLI sends the same fields from its flags, and a plain run\'s input holds none of them', async () => {
    const id = uniqueName('scope-cli');
    const { source: s, target: t } = testStack();
    const started1 = await cli([
      'start', '--id', id, '--json',
      '--source-url', s.url, '--source-user', s.username, '--source-password-stdin', '--source-native-port', String(s.nativePort),
      '--target-url', t.url, '--target-user', t.username, '--target-native-port', String(t.nativePort),
      '--rename', `${db}=${db}_cli`, '--exclude', `${db}.${tables[0]}`, '--mode', 'data',
      '--window-days', 'mon-sun', '--window-start', '03:30', '--window-duration', '1h30m', '--window-tz', 'UTC', '--on-window-end', 'finish',
      '--max-bytes-per-second', '20MiB', '--max-rows-per-second', '50k',
    ]);
    expect([started1.code, started1.stderr]).toEqual([0, '']);
    started.push(id);
    expect(await startedInput(id)).toMatchObject({
      databases: [db],
      renames: { [db]: `${db}_cli` },
      exclude: [`${db}.${tables[0]}`],
      mode: 'data',
      schedule: { window: { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '03:30', durationSeconds: 5400, timeZone: 'UTC' }, onWindowEnd: 'finish' },
      options: { maxBytesPerSecond: 20_971_520, maxRowsPerSecond: 50_000 },
    });
    expect(await cancelAndEnd(id)).toBe('CANCELLED');

    const plain = uniqueName('scope-plain');
    expect((await post(body({ id: plain }))).status).toBe(201);
    started.push(plain);
    const input = await startedInput(plain);
    expect(Object.keys(input).filter((key) => ['renames', 'include', 'exclude', 'mode', 'schedule'].includes(key))).toEqual([]);
    expect(input.options).not.toHaveProperty('maxBytesPerSecond');
    expect(await cancelAndEnd(plain)).toBe('CANCELLED');
  });
});

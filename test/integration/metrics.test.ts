/**
 * Logs and metrics of a real run: the worker is `src/worker.ts` in a process of its own (its
 * Temporal runtime, Prometheus endpoint and JSON logs as deployed), the API is in this process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { Server } from 'node:http';
import { join } from 'node:path';
import { qualifiedName, quoteIdentifier } from '../../src/clickhouse/sql';
import type { ClickHouseConnection } from '../../src/clickhouse/connection';
import { freePort } from '../../src/dev/ports';
import { createLogger } from '../../src/logging';
import type { MigrationState } from '../../src/workflows/types';
import { apiEndpoint, TEST_SECRET_KEY, listenTestApi, uniqueName, useTestServers, waitFor } from './harness';
import { testStack } from './stack-env';

const ROOT = join(__dirname, '..', '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');
const TOKENS = { operator: `op-${uniqueName('token')}-${'x'.repeat(16)}`, approver: `ap-${uniqueName('token')}-${'y'.repeat(16)}` };

const servers = useTestServers({ worker: false });
const apiLines: Record<string, unknown>[] = [];
const workerOutput: string[] = [];
let api: Server;
let apiUrl: string;
let worker: ChildProcess;
let workerMetricsUrl: string;

/** The worker as deployed: its own process, JSON logs on stdout, metrics on a port of its own. */
async function startWorkerProcess(): Promise<void> {
  const port = await freePort();
  workerMetricsUrl = `http://127.0.0.1:${port}/metrics`;
  worker = spawn(TSX, ['src/worker.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      TEMPORAL_ADDRESS: testStack().temporalAddress,
      MIGRATOR_SECRET_KEY: TEST_SECRET_KEY,
      WORKER_METRICS_PORT: String(port),
      WORKER_METRICS_REFRESH_SECONDS: '1',
      LOG_LEVEL: 'debug',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  worker.stdout?.on('data', (chunk: Buffer) => workerOutput.push(chunk.toString('utf8')));
  worker.stderr?.on('data', (chunk: Buffer) => workerOutput.push(chunk.toString('utf8')));
  await waitFor(() => Promise.resolve(workerLines()), (lines) => lines.some((l) => l.msg === 'worker polling'), 'the worker to poll', 120_000);
}

/** The worker's stdout and stderr, line by line, as JSON objects (a line that is not JSON is kept as its text). */
function workerLines(): Record<string, unknown>[] {
  return workerOutput
    .join('')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>;
      } catch {
        return { notJson: line };
      }
    });
}

async function stopWorkerProcess(): Promise<void> {
  if (!worker || worker.exitCode !== null) return;
  const exited = new Promise((resolve) => worker.once('exit', resolve));
  worker.kill('SIGTERM');
  const timer = setTimeout(() => worker.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}

beforeAll(async () => {
  ({ server: api, url: apiUrl } = await listenTestApi(servers.client, {
    auth: {
      mode: 'tokens',
      fourEyes: true,
      tokens: [
        { token: TOKENS.operator, subject: 'olivia', roles: ['operator'] },
        { token: TOKENS.approver, subject: 'ana', roles: ['approver'] },
      ],
    },
    logger: createLogger({ service: 'api', level: 'info', destination: { write: (line: string) => void apiLines.push(JSON.parse(line) as Record<string, unknown>) } }),
  }));
  await startWorkerProcess();
});

afterAll(async () => {
  await stopWorkerProcess();
  await new Promise((resolve) => api?.close(resolve));
});

async function call(token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** One sample of a Prometheus text exposition. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseExposition(text: string): Sample[] {
  return text
    .split('\n')
    .filter((line) => line && !line.startsWith('#'))
    .map((line) => {
      const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
      if (!match) throw new Error(`not a Prometheus sample: ${line}`);
      const labels = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
      return { name: match[1], labels, value: Number(match[3]) };
    });
}

async function scrape(url: string): Promise<Sample[]> {
  const res = await fetch(url);
  expect(res.status).toBe(200);
  return parseExposition(await res.text());
}

const total = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((sum, s) => sum + s.value, 0);

/** count() and the sha256 of every row as sorted TSV, read the same way from either server. */
async function tableText(conn: ClickHouseConnection, database: string, table: string, orderBy: string): Promise<{ rows: number; sha256: string }> {
  const name = qualifiedName(database, table);
  const [{ rows }] = await conn.rows<{ rows: string }>(`SELECT count() AS rows FROM ${name}`);
  const tsv = await conn.text(`SELECT * FROM ${name} ORDER BY ${orderBy} FORMAT TabSeparated`);
  return { rows: Number(rows), sha256: createHash('sha256').update(tsv).digest('hex') };
}

async function createSource(db: string): Promise<void> {
  await servers.source.exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
  await servers.source.exec(`CREATE TABLE ${qualifiedName(db, 'events')} (d Date, id UInt64, kind String) ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY id`);
  await servers.source.exec(`INSERT INTO ${qualifiedName(db, 'events')} SELECT toDate('2025-01-01') + number % 120, number, toString(number % 7) FROM system.numbers LIMIT 24000`);
  await servers.source.exec(`CREATE TABLE ${qualifiedName(db, 'kinds')} (kind String, label String) ENGINE = TinyLog`);
  await servers.source.exec(`INSERT INTO ${qualifiedName(db, 'kinds')} VALUES ('0', 'zero'), ('1', 'one'), ('2', 'two')`);
}

describe('logs and metrics of a run', () => {
  it('a migration through the API: the worker counts the rows it copied, the gauge sees the run wait, the API counts the start; logs carry the run and no secret', async () => {
    const { source, target } = testStack();
    const db = servers.database('metrics');
    await createSource(db);
    const id = uniqueName('metrics-run');
    const started = await call(TOKENS.operator, 'POST', '/migrations', {
      id,
      source: apiEndpoint(source),
      target: apiEndpoint(target),
      databases: [db],
      approvals: { required: true },
    });
    expect(started.status).toBe(201);

    const state = async () => (await call(TOKENS.approver, 'GET', `/migrations/${id}`)).body as unknown as MigrationState;
    await waitFor(state, (s) => s.awaitingApproval?.step === 'configure', 'approval of configure');
    const waiting = await waitFor(() => scrape(workerMetricsUrl), (s) => total(s, 'migrator_runs_awaiting_approval') >= 1, 'the gauge to count the waiting run', 30_000);
    expect(total(waiting, 'migrator_runs_awaiting_approval')).toBeGreaterThanOrEqual(1);
    for (const step of ['configure', 'validation', 'migration']) {
      await waitFor(state, (s) => s.awaitingApproval?.step === step, `approval of ${step}`);
      expect((await call(TOKENS.approver, 'POST', `/migrations/${id}/approve`, { step })).status).toBe(202);
    }
    const final = await waitFor(state, (s) => s.status !== 'running' && s.status !== 'awaiting_approval', 'the end of the run');
    expect(final.status).toBe('completed');

    const copied = { events: await tableText(servers.target, db, 'events', 'id'), kinds: await tableText(servers.target, db, 'kinds', 'kind') };
    expect(copied).toEqual({ events: await tableText(servers.source, db, 'events', 'id'), kinds: await tableText(servers.source, db, 'kinds', 'kind') });
    const rowsMigrated = copied.events.rows + copied.kinds.rows;
    expect(rowsMigrated).toBe(24_003);

    const workerSamples = await waitFor(() => scrape(workerMetricsUrl), (s) => total(s, 'migrator_step_duration_seconds_count') > 0, 'the step durations of the finished run', 30_000);
    expect(total(workerSamples, 'migrator_rows_copied_total')).toBe(rowsMigrated);
    expect(total(workerSamples, 'migrator_bytes_copied_total')).toBeGreaterThan(0);
    expect(total(workerSamples, 'migrator_step_duration_seconds_count', { step: 'migration', status: 'completed' })).toBe(1);
    // The SDK's own metrics are on the same endpoint.
    expect(total(workerSamples, 'temporal_workflow_completed_total')).toBeGreaterThanOrEqual(1);
    await waitFor(() => scrape(workerMetricsUrl), (s) => total(s, 'migrator_runs_awaiting_approval') === 0, 'the gauge to drop the finished run', 30_000);

    const apiSamples = await scrape(`${apiUrl}/metrics`);
    expect(total(apiSamples, 'migrator_api_requests_total', { method: 'POST', route: '/migrations', status: '201' })).toBe(1);
    expect(total(apiSamples, 'migrator_api_requests_total', { method: 'POST', route: '/migrations/:id/approve', status: '202' })).toBe(3);
    expect(total(apiSamples, 'migrator_api_request_duration_seconds_count', { method: 'POST', route: '/migrations' })).toBe(1);

    expect(apiLines).toContainEqual(expect.objectContaining({ msg: 'request answered', route: '/migrations', status: 201, migrationId: id, runId: started.body.runId, requestId: expect.any(String) }));
    expect(apiLines).toContainEqual(expect.objectContaining({ msg: 'request answered', route: '/migrations/:id/approve', status: 202, migrationId: id }));
    const lines = workerLines();
    expect(lines).toContainEqual(expect.objectContaining({ service: 'worker', msg: 'activity completed', activity: 'copyUnitRange', migrationId: id, runId: started.body.runId, step: 'migration' }));
    expect(lines).toContainEqual(expect.objectContaining({ msg: 'Workflow started', migrationId: id, runId: started.body.runId, step: 'backup' }));
    expect(lines.filter((l) => 'notJson' in l)).toEqual([]);
    const everything = JSON.stringify(apiLines) + workerOutput.join('');
    expect(everything).not.toContain(source.password);
    expect(everything).not.toContain(target.password);
    expect(everything).not.toContain(TOKENS.operator);
    expect(everything).not.toContain(TOKENS.approver);
    // The worker's options, which the SDK logs at debug, hold the payload codec's keys.
    expect(everything).not.toContain('payloadCodecs');
  });

  it('when the target refuses the password, the failed attempts are logged and counted by activity and failure type', async () => {
    const { source, target } = testStack();
    const db = servers.database('metrics_refused');
    await createSource(db);
    const id = uniqueName('metrics-refused');
    const started = await call(TOKENS.operator, 'POST', '/migrations', {
      id,
      source: apiEndpoint(source),
      target: { ...apiEndpoint(target), password: `${target.password}-wrong` },
      databases: [db],
      approvals: { required: true },
    });
    expect(started.status).toBe(201);
    const final = await waitFor(async () => (await call(TOKENS.approver, 'GET', `/migrations/${id}`)).body as unknown as MigrationState, (s) => s.status === 'failed', 'the run to fail');

    // The worker is another process: its lines may reach this one after the run's state does.
    const failed = await waitFor(
      async () => workerLines().filter((l) => l.msg === 'activity attempt failed' && l.migrationId === id),
      (lines) => lines.length > 0,
      'the failed attempts in the worker\'s log',
    );
    expect(failed.length).toBeGreaterThan(0);
    // ClickHouse's code for a refused password, as the activities name it.
    expect(new Set(failed.map((l) => l.failureType))).toEqual(new Set(['AuthenticationFailed']));
    expect(final.error?.message).toMatch(/AuthenticationFailed|password|Authentication/i);
    const samples = await scrape(workerMetricsUrl);
    for (const activity of new Set(failed.map((l) => String(l.activity)))) {
      const attempts = failed.filter((l) => l.activity === activity).length;
      expect(total(samples, 'migrator_activity_failures_total', { activity, failure_type: 'AuthenticationFailed' })).toBeGreaterThanOrEqual(attempts);
    }
    expect(workerOutput.join('')).not.toContain(target.password);
  });
});

/**
 * Real processes for the fault tests: a Temporal dev server (persisted with `--db-filename`) and
 * a source and a target ClickHouse that a test file starts itself, so that it can stop and start
 * them again without hurting other files; workers and APIs as child processes that a test can
 * SIGKILL; and the independent data check (count and sha256 of the sorted TSV rows).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { decodeOptionalFailureToOptionalError } from '@temporalio/common/lib/internal-non-workflow';
import { ClickHouseConnection } from '../../src/clickhouse/connection';
import { qualifiedName, quoteIdentifier, quoteString } from '../../src/clickhouse/sql';
import { scratchDatabases, stagingPrefix } from '../../src/clickhouse/scratch';
import { startClickHouse, type LocalClickHouse } from '../../src/dev/clickhouse-server';
import { freePort } from '../../src/dev/ports';
import { httpOk, killProcess, logTail, startProcess, stopProcess, waitUntil } from '../../src/dev/processes';
import { startTemporal, type LocalTemporal } from '../../src/dev/temporal-server';
import { seal } from '../../src/secrets';
import { connectClient } from '../../src/temporal';
import { runKeyOf } from '../../src/workflows/state';
import type { MigrationInput, MigrationOptions, MigrationState } from '../../src/workflows/types';
import { migrationInput, TEST_KEY, TEST_SECRET_KEY, waitFor } from './harness';

/**
 * Jest timeout of a fault test: a run with faults waits out the product's retries and timeouts
 * (a worker lost in a quick activity costs that activity's 5-minute start-to-close timeout, and a
 * server that does not come back costs ten attempts of a long activity).
 */
export const FAULT_TEST_TIMEOUT_MS = 20 * 60_000;

const ROOT = join(__dirname, '..', '..');
const TSX = join(ROOT, 'node_modules', '.bin', 'tsx');

/** A ClickHouse server of the fault stack, which the test may stop and start again on the same ports and data. */
export interface FaultClickHouse {
  name: 'source' | 'target';
  url: string;
  username: string;
  password: string;
  nativePort: number;
  running(): boolean;
  stop(): Promise<void>;
  start(): Promise<void>;
  /** A new connection (the test's own: one made before a restart may hold dead sockets). */
  connect(): ClickHouseConnection;
}

/** The Temporal dev server of the fault stack; its state survives a stop and a start. */
export interface FaultTemporal {
  address: string;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** Servers a fault test file owns, and what runs on them. */
export interface FaultStack {
  dir: string;
  temporal: FaultTemporal;
  source: FaultClickHouse;
  target: FaultClickHouse;
  client: Client;
  /** The workflow bundle the stack's workers load (built once: each new worker starts faster). */
  bundlePath: string;
  close(): Promise<void>;
}

async function faultClickHouse(dir: string, name: 'source' | 'target'): Promise<FaultClickHouse> {
  const options = {
    name,
    dir: join(dir, name),
    httpPort: await freePort(),
    tcpPort: await freePort(),
    username: 'default',
    password: `${name}-${randomBytes(8).toString('hex')}`,
  };
  let server: LocalClickHouse | undefined = await startClickHouse(options);
  const url = server.url;
  return {
    name,
    url,
    username: options.username,
    password: options.password,
    nativePort: options.tcpPort,
    running: () => server !== undefined,
    async stop() {
      await server?.stop();
      server = undefined;
    },
    async start() {
      if (!server) server = await startClickHouse(options);
    },
    connect: () => new ClickHouseConnection({ url, username: options.username, password: options.password }, { label: `test ${name}`, secrets: [] }),
  };
}

async function faultTemporal(dir: string): Promise<FaultTemporal> {
  const options = { port: await freePort(), uiPort: await freePort(), logFile: join(dir, 'temporal.log'), dbFile: join(dir, 'temporal.db') };
  let server: LocalTemporal | undefined = await startTemporal(options);
  return {
    address: server.address,
    async stop() {
      await server?.stop();
      server = undefined;
    },
    async start() {
      if (!server) server = await startTemporal(options);
    },
  };
}

async function bundleWorkflows(dir: string): Promise<string> {
  const path = join(dir, 'workflow-bundle.js');
  const logFile = join(dir, 'bundle.log');
  const child = startProcess(TSX, [join(ROOT, 'src', 'bundle-workflows.ts'), path], { logFile, cwd: ROOT });
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  if (code !== 0 || !existsSync(path)) throw new Error(`bundling the workflows failed (${code})\n${logTail(logFile)}`);
  return path;
}

/** Starts a Temporal dev server with a database file and two ClickHouse servers in a new directory. */
export async function startFaultStack(): Promise<FaultStack> {
  const dir = mkdtempSync(join(tmpdir(), 'clickhouse-migrator-faults-'));
  const [temporal, source, target, bundlePath] = await Promise.all([faultTemporal(dir), faultClickHouse(dir, 'source'), faultClickHouse(dir, 'target'), bundleWorkflows(dir)]);
  const client = await connectClient({ TEMPORAL_ADDRESS: temporal.address, TEMPORAL_NAMESPACE: 'default' }, TEST_KEY);
  return {
    dir,
    temporal,
    source,
    target,
    client,
    bundlePath,
    async close() {
      await client.connection.close().catch(() => undefined);
      await Promise.all([temporal.stop(), source.stop(), target.stop()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A child process of the stack (a worker or an API) that a test can kill. */
export interface FaultProcess {
  child: ChildProcess;
  logFile: string;
  /** SIGKILL to its whole process group: no shutdown, no clean-up. */
  kill(): Promise<void>;
  /** SIGTERM, then SIGKILL after a grace period. */
  stop(): Promise<void>;
  log(): string;
}

function spawnTsx(stack: FaultStack, script: string, name: string, env: NodeJS.ProcessEnv): FaultProcess {
  const logFile = join(stack.dir, `${name}.log`);
  const child = startProcess(TSX, [join(ROOT, 'src', script)], {
    logFile,
    cwd: ROOT,
    env: { ...process.env, TEMPORAL_ADDRESS: stack.temporal.address, TEMPORAL_NAMESPACE: 'default', MIGRATOR_SECRET_KEY: TEST_SECRET_KEY, ...env },
  });
  return {
    child,
    logFile,
    kill: () => killProcess(child),
    stop: () => stopProcess(child, 10_000),
    log: () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''),
  };
}

let workers = 0;

/** A worker in its own process (`src/worker.ts`, as deployments run it), polling once it returns. */
export async function spawnWorker(stack: FaultStack): Promise<FaultProcess> {
  const worker = spawnTsx(stack, 'worker.ts', `worker-${++workers}`, { WORKFLOW_BUNDLE_PATH: stack.bundlePath, WORKER_MAX_CONCURRENT_ACTIVITIES: '8' });
  // The worker's JSON log line once it polls (src/worker.ts).
  await waitUntil(async () => worker.log().includes('"msg":"worker polling"'), {
    timeoutMs: 90_000,
    what: `worker ${workers}`,
    child: worker.child,
    logFile: worker.logFile,
  });
  return worker;
}

/** An API process (`src/server.ts`) on `port`, with the tokens file `tokensFile`, answering once it returns. */
export async function spawnApi(stack: FaultStack, port: number, tokensFile: string, name: string): Promise<FaultProcess> {
  const api = spawnTsx(stack, 'server.ts', name, { API_HOST: '127.0.0.1', API_PORT: String(port), MIGRATOR_TOKENS_FILE: tokensFile });
  await waitUntil(() => httpOk(`http://127.0.0.1:${port}/healthz`).catch(() => false), { timeoutMs: 90_000, what: name, child: api.child, logFile: api.logFile });
  return api;
}

/** The workflow input for the stack's servers, passwords sealed as the API seals them; approvals on unless overridden. */
export function faultInput(
  stack: FaultStack,
  id: string,
  databases: string[],
  overrides: Partial<Omit<MigrationInput, 'options' | 'source' | 'target'>> & { options?: Partial<MigrationOptions> } = {},
): MigrationInput {
  const endpoint = (server: FaultClickHouse) => ({ url: server.url, username: server.username, password: seal(server.password, TEST_KEY), nativePort: server.nativePort });
  return migrationInput(id, databases, { ...overrides, source: endpoint(stack.source), target: endpoint(stack.target) });
}

/** A source table of the fault data set. */
export interface FaultTable {
  name: string;
  rows: number;
}

/**
 * Creates `database` on `conn` with three MergeTree tables: `events` (12 monthly partitions),
 * `metrics` (8 partitions by a key), and `users` (no partition key); `scale` rows in `events`,
 * half as many in `metrics` and a tenth in `users`. Values are derived from the row number, so
 * every row is distinct.
 */
export async function createFaultData(conn: ClickHouseConnection, database: string, scale: number): Promise<FaultTable[]> {
  const t = (name: string) => qualifiedName(database, name);
  await conn.exec(`CREATE DATABASE ${quoteIdentifier(database)}`);
  await conn.exec(`CREATE TABLE ${t('events')} (day Date, id UInt64, kind String, amount Float64) ENGINE = MergeTree PARTITION BY toYYYYMM(day) ORDER BY (day, id)`);
  await conn.exec(
    `INSERT INTO ${t('events')} SELECT toDate('2025-01-01') + (number % 365), number, ['view', 'click', 'buy'][number % 3 + 1], (number % 1000) / 10
     FROM system.numbers LIMIT ${scale}`,
  );
  await conn.exec(`CREATE TABLE ${t('metrics')} (host UInt16, ts DateTime, value Float64, note String) ENGINE = MergeTree PARTITION BY host % 8 ORDER BY (host, ts)`);
  await conn.exec(
    `INSERT INTO ${t('metrics')} SELECT number % 64, toDateTime('2025-06-01 00:00:00') + number, number / 7, concat('note-', toString(number))
     FROM system.numbers LIMIT ${Math.floor(scale / 2)}`,
  );
  await conn.exec(`CREATE TABLE ${t('users')} (id UInt64, name String) ENGINE = MergeTree ORDER BY id`);
  await conn.exec(`INSERT INTO ${t('users')} SELECT number, concat('user-', toString(number)) FROM system.numbers LIMIT ${Math.floor(scale / 10)}`);
  return [
    { name: 'events', rows: scale },
    { name: 'metrics', rows: Math.floor(scale / 2) },
    { name: 'users', rows: Math.floor(scale / 10) },
  ];
}

/** A table as the test sees it: `count()`, and the sha256 of its rows as TSV, sorted by every column. */
export interface TableCheck {
  table: string;
  count: number;
  sha256: string;
}

/** The independent check of one table: computed by the test itself, never by the product's fingerprint. */
export async function checkTable(conn: ClickHouseConnection, database: string, table: string): Promise<TableCheck> {
  const columns = await conn.rows<{ name: string }>(`SELECT name FROM system.columns WHERE database = ${quoteString(database)} AND table = ${quoteString(table)}`);
  const order = columns.map((c) => quoteIdentifier(c.name)).join(', ');
  const [{ count }] = await conn.rows<{ count: string }>(`SELECT count() AS count FROM ${qualifiedName(database, table)}`);
  const hash = createHash('sha256');
  const stream = await conn.stream(`SELECT * FROM ${qualifiedName(database, table)} ORDER BY ${order} FORMAT TabSeparated`);
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return { table, count: Number(count), sha256: hash.digest('hex') };
}

/** Both sides of every table: what the test compares, and prints. */
export async function compareTables(stack: FaultStack, database: string, tables: FaultTable[]): Promise<{ source: TableCheck[]; target: TableCheck[] }> {
  const source = stack.source.connect();
  const target = stack.target.connect();
  try {
    const check = (conn: ClickHouseConnection) => Promise.all(tables.map((t) => checkTable(conn, database, t.name)));
    const [s, t] = await Promise.all([check(source), check(target)]);
    console.log(
      [`data check of ${database} (count, sha256 of sorted TSV):`, ...s.map((row, i) => `  ${row.table}: source ${row.count} ${row.sha256.slice(0, 16)}… target ${t[i].count} ${t[i].sha256.slice(0, 16)}…`)].join('\n'),
    );
    return { source: s, target: t };
  } finally {
    await Promise.all([source.close(), target.close()]);
  }
}

/** Asserts that every table holds on the target exactly what it holds on the source, and as many rows as were created. */
export async function expectExactData(stack: FaultStack, database: string, tables: FaultTable[]): Promise<void> {
  const { source, target } = await compareTables(stack, database, tables);
  expect(target).toEqual(source);
  expect(target.map((t) => t.count)).toEqual(tables.map((t) => t.rows));
}

/**
 * What a run left on the target: the databases of `databases` (pass the run's own after a
 * rollback), its scratch databases, its restore point, and any table named with its run key
 * (staging). After a completed run, this is empty however often the run was interrupted.
 */
export async function leftOnTarget(stack: FaultStack, databases: string[], runId: string): Promise<string[]> {
  const runKey = runKeyOf(runId);
  const conn = stack.target.connect();
  try {
    const names = [...databases, ...scratchDatabases(runKey)].map(quoteString).join(', ');
    const rows = await conn.rows<{ name: string }>(
      `SELECT name FROM system.databases WHERE name IN (${names}) OR position(name, ${quoteString(runKey)}) > 0
       UNION ALL SELECT concat(database, '.', name) AS name FROM system.tables WHERE startsWith(name, ${quoteString(stagingPrefix(runKey))}) OR position(name, ${quoteString(runKey)}) > 0`,
    );
    return rows.map((r) => r.name);
  } finally {
    await conn.close();
  }
}

/** Statements of the run still running on `server` (each carries the query id `<workflow id>/…`). */
export async function runningStatements(server: FaultClickHouse, workflowId: string): Promise<number> {
  const conn = server.connect();
  try {
    const [{ n }] = await conn.rows<{ n: string }>(`SELECT count() AS n FROM system.processes WHERE startsWith(query_id, ${quoteString(`${workflowId}/`)})`);
    return Number(n);
  } finally {
    await conn.close();
  }
}

/** The run's state, through the stack's client (fails while no worker answers queries). */
export function stateOf(handle: WorkflowHandle): Promise<MigrationState> {
  return handle.query<MigrationState>('state');
}

function exited(process: FaultProcess): boolean {
  return process.child.exitCode !== null || process.child.signalCode !== null;
}

/**
 * Polls the run's state until `done` holds; tolerates the moments when no worker or server
 * answers, but fails at once when `worker` (the one process that could answer) has exited.
 */
export async function waitForState(
  handle: WorkflowHandle,
  done: (s: MigrationState) => boolean,
  what: string,
  options: { timeoutMs?: number; worker?: FaultProcess } = {},
): Promise<MigrationState> {
  const { worker, timeoutMs = 180_000 } = options;
  const deadline = Date.now() + timeoutMs;
  let last: MigrationState | undefined;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (worker && exited(worker)) throw new Error(`the worker exited (${worker.child.exitCode ?? worker.child.signalCode}) while waiting for ${what}:\n${logTail(worker.logFile)}`);
    try {
      last = await stateOf(handle);
      if (done(last)) return last;
    } catch (err) {
      lastError = err;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out waiting for ${what}; last state: ${JSON.stringify(last?.progress)} ${last?.status}; last error: ${String(lastError)}`);
}

/** A pending activity of the run, as Temporal describes it: its type, its attempt and why the last attempt failed. */
export interface PendingActivity {
  type: string;
  attempt: number;
  lastFailure: string | null;
}

export async function pendingActivities(handle: WorkflowHandle): Promise<PendingActivity[]> {
  const { raw } = await handle.describe();
  // Failure messages are encrypted like every payload: the client's codec opens them.
  const converter = handle.client.options.loadedDataConverter;
  return Promise.all(
    (raw.pendingActivities ?? []).map(async (a) => ({
      type: a.activityType?.name ?? '?',
      attempt: a.attempt ?? 1,
      lastFailure: (await decodeOptionalFailureToOptionalError(converter, a.lastFailure))?.message ?? null,
    })),
  );
}

/** Waits until an activity of `type` has failed at least once (it is pending in its second attempt or later). */
export function waitForFailedAttempt(handle: WorkflowHandle, type: string, timeoutMs = 120_000): Promise<PendingActivity[]> {
  return waitFor(
    () => pendingActivities(handle),
    (pending) => pending.some((a) => a.type === type && (a.attempt > 1 || a.lastFailure !== null)),
    `a failed attempt of ${type}`,
    timeoutMs,
  );
}

/** Attempts of every activity the run's history recorded, by activity type: `{ copyUnitRange: [1, 1, 3, …] }`. */
export async function activityAttempts(handle: WorkflowHandle): Promise<Record<string, number[]>> {
  const history = await handle.fetchHistory();
  const typeOf = new Map<string, string>();
  const attempts: Record<string, number[]> = {};
  for (const event of history.events ?? []) {
    const scheduled = event.activityTaskScheduledEventAttributes;
    if (scheduled) typeOf.set(String(event.eventId), scheduled.activityType?.name ?? '?');
    const started = event.activityTaskStartedEventAttributes;
    if (started) {
      const type = typeOf.get(String(started.scheduledEventId)) ?? '?';
      (attempts[type] ??= []).push(Number(started.attempt ?? 1));
    }
  }
  return attempts;
}

/** Activities that needed more than one attempt, as `type: attempts` (for the test's printout). */
export function retried(attempts: Record<string, number[]>): string {
  const lines = Object.entries(attempts)
    .map(([type, list]) => [type, list.filter((n) => n > 1)] as const)
    .filter(([, list]) => list.length > 0)
    .map(([type, list]) => `${type} ${list.join(',')}`);
  return lines.length > 0 ? lines.join('; ') : 'none';
}

/**
 * Registers a file's beforeAll/afterAll: its own fault stack, and the worker processes the file
 * spawns into `workers`, killed at the end. Read `stack` inside tests (it exists from beforeAll on).
 */
export function useFaultStack(): { readonly stack: FaultStack; workers: FaultProcess[] } {
  let stack: FaultStack | undefined;
  const workers: FaultProcess[] = [];
  beforeAll(async () => {
    stack = await startFaultStack();
  }, 240_000);
  afterAll(async () => {
    for (const worker of workers) await worker.kill();
    await stack?.close();
  });
  return {
    get stack(): FaultStack {
      if (!stack) throw new Error('the fault stack starts in beforeAll');
      return stack;
    },
    workers,
  };
}

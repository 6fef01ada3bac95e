/**
 * Shared pieces of the integration tests: a real worker on the test Temporal server, a client,
 * ClickHouse connections to the test servers, and a polling helper.
 */
import { randomBytes } from 'node:crypto';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createApp, type AppDeps } from '../../src/api/app';
import type { Client, WorkflowHandle, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { DefaultLogger, Runtime, type Worker } from '@temporalio/worker';
import { ClickHouseConnection } from '../../src/clickhouse/connection';
import { READ_SERVER_ID_SQL } from '../../src/clickhouse/identity';
import { IDENTITY_DATABASE, INTERNAL_PREFIX } from '../../src/clickhouse/scratch';
import { qualifiedName, quoteIdentifier, quoteString } from '../../src/clickhouse/sql';
import { keyringOf, seal } from '../../src/secrets';
import { connectClient } from '../../src/temporal';
import { createWorker } from '../../src/worker-factory';
import type { stateQuery } from '../../src/workflows';
import { serverLockId } from '../../src/workflows/target-lock';
import { TASK_QUEUE, WORKFLOW_TYPE, type MigrationInput, type MigrationOptions, type MigrationState } from '../../src/workflows/types';
import { testStack, type TestClickHouse } from './stack-env';

/** The secret key the tests' API and workers share. */
export const TEST_SECRET_KEY = 'integration-tests-secret-key';
/** The keyring of the tests' API, workers and clients. */
export const TEST_KEY = keyringOf(TEST_SECRET_KEY);

export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(4).toString('hex')}`;
}

/** A small seeded generator (mulberry32) of numbers in [0, 1), so that a failing random draw can be replayed from its seed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function connect(server: TestClickHouse, label: string): ClickHouseConnection {
  return new ClickHouseConnection({ url: server.url, username: server.username, password: server.password }, { label, secrets: [] });
}

/**
 * A worker polling the migration task queue inside this test process; `config` overrides the
 * tests' settings (another keyring, a secrets directory).
 */
export async function startWorker(
  wrapActivities?: Parameters<typeof createWorker>[1],
  config: Partial<Parameters<typeof createWorker>[0]> = {},
): Promise<{ stop(): Promise<void> }> {
  quietRuntime();
  const stack = testStack();
  const { worker, connection, client } = await createWorker(
    {
      TEMPORAL_ADDRESS: stack.temporalAddress,
      TEMPORAL_NAMESPACE: 'default',
      MIGRATOR_SECRET_KEY: TEST_SECRET_KEY,
      WORKER_MAX_CONCURRENT_ACTIVITIES: 8,
      ...config,
    },
    wrapActivities,
  );
  const running = worker.run();
  return {
    async stop() {
      stopWorker(worker);
      await running;
      await Promise.all([connection.close(), client.connection.close()]);
    },
  };
}

let runtimeInstalled = false;

/** Keeps the SDK's logs out of test output (failed runs are expected in these tests); errors still show. */
function quietRuntime(): void {
  if (runtimeInstalled) return;
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  runtimeInstalled = true;
}

function stopWorker(worker: Worker): void {
  if (worker.getState() === 'RUNNING') worker.shutdown();
}

export function testClient(): Promise<Client> {
  return connectClient({ TEMPORAL_ADDRESS: testStack().temporalAddress, TEMPORAL_NAMESPACE: 'default' }, TEST_KEY);
}

/** The workflow input for the test servers, passwords sealed as the API seals them. */
export function migrationInput(id: string, databases: string[], overrides: Partial<Omit<MigrationInput, 'options'>> & { options?: Partial<MigrationOptions> } = {}): MigrationInput {
  const stack = testStack();
  const endpoint = (server: TestClickHouse) => ({
    url: server.url,
    username: server.username,
    password: seal(server.password, TEST_KEY),
    nativePort: server.nativePort,
  });
  const { options, ...rest } = overrides;
  return {
    id,
    source: endpoint(stack.source),
    target: endpoint(stack.target),
    databases,
    approvals: { required: true },
    ...rest,
    options: { onConflict: 'fail', parallelism: 2, syncPasses: 3, ...options },
  };
}

export async function startMigration(client: Client, input: MigrationInput): Promise<WorkflowHandleWithFirstExecutionRunId> {
  return client.workflow.start(WORKFLOW_TYPE, { taskQueue: TASK_QUEUE, workflowId: input.id, args: [input] });
}

export function queryState(handle: WorkflowHandle): Promise<MigrationState> {
  return handle.query<MigrationState>('state' satisfies typeof stateQuery.name);
}

/** Polls `read` until `done` holds, or fails with the last value seen. */
export async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      last = await read();
      if (done(last)) return last;
    } catch (err) {
      lastError = err;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(last)}${lastError ? `; last error: ${String(lastError)}` : ''}`);
}

/** Waits until the run waits for approval of `step`. */
export function awaitingApproval(handle: WorkflowHandle, step: string): Promise<MigrationState> {
  return waitFor(() => queryState(handle), (s) => s.awaitingApproval?.step === step, `approval of ${step}`);
}

/**
 * Stops `worker` and sends `signals` while no worker polls, so that they land in one workflow task;
 * then starts a worker again, waits until the history shows that task completed, and returns it.
 */
export async function inOneTask(handle: WorkflowHandle, worker: { stop(): Promise<void> }, signals: [string, object][]): Promise<{ stop(): Promise<void> }> {
  await worker.stop();
  for (const [name, payload] of signals) await handle.signal(name, payload);
  const restarted = await startWorker();
  await waitFor(() => signalsShareATask(handle, signals.length), (together) => together, 'the signals to be handled in one workflow task');
  return restarted;
}

/** Whether the last `count` signals of the history were delivered to one workflow task, and it completed. */
async function signalsShareATask(handle: WorkflowHandle, count: number): Promise<boolean> {
  const events = (await handle.fetchHistory()).events ?? [];
  const signalled = events.flatMap((e, i) => (e.workflowExecutionSignaledEventAttributes ? [i] : [])).slice(-count);
  const between = events.slice(signalled[0], signalled[signalled.length - 1]);
  const after = events.slice(signalled[signalled.length - 1]);
  return signalled.length === count && !between.some((e) => e.workflowTaskStartedEventAttributes) && after.some((e) => e.workflowTaskCompletedEventAttributes);
}

/** Per-table row counts and checksums, computed the same way on either server. */
export async function tableDigest(conn: ClickHouseConnection, database: string, table: string): Promise<{ rows: number; checksum: string }> {
  const columns = await conn.rows<{ name: string; default_kind: string }>(
    `SELECT name, default_kind FROM system.columns WHERE database = ${quoteString(database)} AND table = ${quoteString(table)}`,
  );
  const stored = columns.filter((c) => c.default_kind !== 'MATERIALIZED' && c.default_kind !== 'ALIAS').map((c) => quoteIdentifier(c.name));
  const [row] = await conn.rows<{ rows: string; checksum: string }>(
    `SELECT count() AS rows, toString(sum(cityHash64(${stored.join(', ')}))) AS checksum FROM ${qualifiedName(database, table)}`,
  );
  return { rows: Number(row.rows), checksum: row.checksum };
}

/** A `system.databases` condition for the databases of runs: the migrator's own, but its identity marker, which stays on purpose. */
export const RUN_DATABASES = `startsWith(name, ${quoteString(INTERNAL_PREFIX)}) AND name != ${quoteString(IDENTITY_DATABASE)}`;

/** The lock id runs take for `database` on the server `conn` reaches (from its identity marker, which the first run there created). */
export async function lockIdOn(conn: ClickHouseConnection, database: string): Promise<string> {
  const [row] = await conn.rows<{ id: string }>(READ_SERVER_ID_SQL);
  return serverLockId(row.id, database);
}

export async function dropDatabase(conn: ClickHouseConnection, database: string): Promise<void> {
  await conn.exec(`DROP DATABASE IF EXISTS ${quoteIdentifier(database)}`);
}

/** The connections a test file shares; see {@link useTestServers}. */
export interface TestServers {
  client: Client;
  source: ClickHouseConnection;
  target: ClickHouseConnection;
  /** A fresh database name, dropped from both servers after the file's tests. */
  database(prefix: string): string;
}

/**
 * Registers the file's beforeAll/afterAll: a Temporal client, a connection to each ClickHouse,
 * optionally an in-process worker, and cleanup of every database handed out by `database()`.
 */
export function useTestServers(options: { worker: boolean }): TestServers {
  const databases: string[] = [];
  let worker: { stop(): Promise<void> } | undefined;
  const servers = { database: (prefix: string) => (databases.push(uniqueName(prefix)), databases[databases.length - 1]) } as TestServers;
  beforeAll(async () => {
    if (options.worker) worker = await startWorker();
    servers.client = await testClient();
    servers.source = connect(testStack().source, 'source');
    servers.target = connect(testStack().target, 'target');
  });
  afterAll(async () => {
    for (const db of databases) {
      await dropDatabase(servers.source, db);
      await dropDatabase(servers.target, db);
    }
    await Promise.all([servers.source.close(), servers.target.close(), servers.client.connection.close()]);
    await worker?.stop();
  });
  return servers;
}

/**
 * The API, as `createApp` builds it for the test servers (their Temporal, the tests' keyring),
 * listening on a free loopback port; `auth` and `logger` are the test's own.
 */
export async function listenTestApi(client: Client, deps: Pick<AppDeps, 'auth' | 'logger'>): Promise<{ server: Server; url: string }> {
  const app = createApp({ client, namespace: 'default', temporalUiUrl: testStack().temporalUiUrl, keyring: TEST_KEY, ...deps });
  const server = await new Promise<Server>((resolve) => {
    const listening = app.listen(0, '127.0.0.1', () => resolve(listening));
  });
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** A test server as a `source` or `target` of the `POST /migrations` body: its URL, user, password and native port. */
export function apiEndpoint(server: TestClickHouse): { url: string; username: string; password: string; nativePort: number } {
  return { url: server.url, username: server.username, password: server.password, nativePort: server.nativePort };
}

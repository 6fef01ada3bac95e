/**
 * Secrets end to end: what a run leaves in Temporal is encrypted, passwords given by reference
 * never enter it, keys rotate without stranding runs, and a worker without a key retries instead
 * of failing the run. Everything here runs the real Temporal CLI, server, worker and ClickHouse.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { decodeOptionalFailureToOptionalError } from '@temporalio/common/lib/internal-non-workflow';
import type { Role } from '../../src/config';
import { KEY_ID_METADATA } from '../../src/codec';
import { passwordEnvName, serversEnvName } from '../../src/activities/password-refs';
import { temporalBinary } from '../../src/dev/temporal-server';
import { keyringOf, seal, type Keyring } from '../../src/secrets';
import { connectClient } from '../../src/temporal';
import { approveSignal } from '../../src/workflows/messages';
import type { MigrationState } from '../../src/workflows/types';
import { apiEndpoint, awaitingApproval, migrationInput, testClient, queryState, startMigration, startWorker, listenTestApi, uniqueName, useTestServers, waitFor } from './harness';
import { testStack } from './stack-env';

const run = promisify(execFile);
const servers = useTestServers({ worker: false });
const uniqueRun = (prefix: string) => {
  const id = uniqueName(prefix);
  started.push(id);
  return id;
};

const PEOPLE = { viewer: 'viewer', admin: 'admin' } satisfies Record<string, Role>;
const TOKENS = { viewer: randomBytes(24).toString('hex'), admin: randomBytes(24).toString('hex') };
let api: Server;
let apiUrl: string;

beforeAll(async () => {
  ({ server: api, url: apiUrl } = await listenTestApi(servers.client, {
    auth: {
      mode: 'tokens',
      fourEyes: false,
      tokens: (Object.keys(PEOPLE) as (keyof typeof PEOPLE)[]).map((who) => ({ token: TOKENS[who], subject: who, roles: [PEOPLE[who]] })),
    },
    logger: { error: () => undefined },
  }));
});

/** Runs of this file: some use keys the other files' workers lack, so none may outlive it. */
const started: string[] = [];

afterAll(async () => {
  // The shared client may be closed already (useTestServers' own afterAll): terminate through a fresh one.
  const client = await testClient();
  try {
    for (const id of started) {
      const handle = client.workflow.getHandle(id);
      const { status } = await handle.describe();
      if (status.name === 'RUNNING') await handle.terminate('the test file ended');
    }
  } finally {
    await client.connection.close();
  }
  await new Promise((resolve) => api.close(resolve));
});

/**
 * `temporal workflow show --output json`, raw; or decoded through the API's codec endpoint, with
 * each payload's data (base64 in the JSON) turned back into its text.
 */
async function workflowShow(id: string, codec?: { token: string }): Promise<string> {
  const args = ['workflow', 'show', '--workflow-id', id, '--address', testStack().temporalAddress, '--namespace', 'default', '--output', 'json'];
  if (codec) args.push('--codec-endpoint', `${apiUrl}/codec`, '--codec-auth', `Bearer ${codec.token}`);
  const { stdout } = await run(temporalBinary(), args, { maxBuffer: 64 * 1024 * 1024 });
  if (!codec) return stdout;
  return stdout.replace(/"data": "([A-Za-z0-9+/=]*)"/g, (_all, data: string) => `"data": ${JSON.stringify(Buffer.from(data, 'base64').toString('utf8'))}`);
}

async function apiCall(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${apiUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${TOKENS.admin}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A database with one table on the source, named so that a search of the history can find it. */
async function sourceTable(): Promise<{ db: string; table: string }> {
  const db = servers.database('secret_db');
  const table = uniqueName('ledger_entries');
  await servers.source.exec(`CREATE DATABASE ${db}`);
  await servers.source.exec(`CREATE TABLE ${db}.${table} (id UInt64, memo String) ENGINE = MergeTree ORDER BY id`);
  await servers.source.exec(`INSERT INTO ${db}.${table} SELECT number, concat('row ', toString(number)) FROM system.numbers LIMIT 5000`);
  return { db, table };
}

/** Independent of the product: every row as TSV, sorted, on both servers. */
async function sameRows(db: string, table: string): Promise<void> {
  const read = (conn: typeof servers.source) => conn.text(`SELECT * FROM ${db}.${table} ORDER BY id FORMAT TabSeparated`);
  const [a, b] = await Promise.all([read(servers.source), read(servers.target)]);
  expect(b.split('\n').length).toBe(5001);
  expect(b).toBe(a);
}

function waitForStatus(id: string, status: string): Promise<{ status: number; body: Record<string, unknown> }> {
  return waitFor(() => apiCall('GET', `/migrations/${id}`), (r) => r.body.status === status, `${id} to be ${status}`, 150_000);
}

const stack = () => testStack();

describe('a run in Temporal', () => {
  it('leaves no password, table name or DDL in its raw history; decoded through the codec endpoint, it reads in full', async () => {
    const worker = await startWorker();
    try {
      const { db, table } = await sourceTable();
      const id = uniqueRun('secrets-history');
      const { source, target } = stack();
      const started = await apiCall('POST', '/migrations', {
        id,
        source: apiEndpoint(source),
        target: apiEndpoint(target),
        databases: [db],
        approvals: { required: false },
      });
      expect(started.status).toBe(201);
      await waitForStatus(id, 'completed');
      await sameRows(db, table);

      const raw = await workflowShow(id);
      const found = (needle: string) => raw.includes(needle);
      expect({ sourcePassword: found(source.password), targetPassword: found(target.password), table: found(table), database: found(db), create: found('CREATE'), engine: found('MergeTree') }).toEqual({
        sourcePassword: false,
        targetPassword: false,
        table: false,
        database: false,
        create: false,
        engine: false,
      });
      expect(raw).toContain(Buffer.from('binary/encrypted').toString('base64'));
      // Search attributes stay plain, for filtering.
      expect(raw).toContain('MigrationStatus');

      const decoded = await workflowShow(id, { token: TOKENS.viewer });
      expect(decoded).toContain(table);
      expect(decoded).toContain(db);
      // The DDL stays in the run's manifest on the target: not in the history, encrypted or not.
      expect(decoded).not.toContain('CREATE TABLE');
      // Decoded, the run still holds its passwords sealed.
      expect(decoded).not.toContain(source.password);
      expect(decoded).not.toContain(target.password);
    } finally {
      await worker.stop();
    }
  });

  it('when the codec endpoint is called without a token, with a viewer token to encode, or from another origin, it refuses', async () => {
    const payloads = { payloads: [{ metadata: { encoding: Buffer.from('json/plain').toString('base64') }, data: Buffer.from('"x"').toString('base64') }] };
    const post = (path: string, headers: Record<string, string>) =>
      fetch(`${apiUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(payloads) });
    expect((await post('/codec/decode', {})).status).toBe(401);
    expect((await post('/codec/encode', { authorization: `Bearer ${TOKENS.viewer}` })).status).toBe(403);
    const encoded = await post('/codec/encode', { authorization: `Bearer ${TOKENS.admin}` });
    expect(encoded.status).toBe(200);
    const malformed = await fetch(`${apiUrl}/codec/t/${TOKENS.viewer}/decode`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"payloads": [{"data": 7}]}' });
    expect(malformed.status).toBe(400);
    const roundTrip = await fetch(`${apiUrl}/codec/t/${TOKENS.viewer}/decode`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: await encoded.text() });
    expect(await roundTrip.json()).toEqual(payloads);
    const uiOrigin = new URL(stack().temporalUiUrl).origin;
    const preflight = (origin: string) => fetch(`${apiUrl}/codec/decode`, { method: 'OPTIONS', headers: { origin, 'access-control-request-method': 'POST' } });
    expect((await preflight(uiOrigin)).headers.get('access-control-allow-origin')).toBe(uiOrigin);
    expect((await preflight('http://127.0.0.1:1')).headers.get('access-control-allow-origin')).toBeNull();
  });
});

describe('a password given by reference', () => {
  it('is resolved by the worker, retried while the secret is missing, and never enters the run', async () => {
    const secretsDir = mkdtempSync(join(tmpdir(), 'migrator-secrets-'));
    const sourceVar = passwordEnvName('source-db');
    const sourceServersVar = serversEnvName('source-db');
    const { source: s, target: t } = stack();
    process.env[sourceVar] = s.password;
    // Where each secret may be sent: the source's password to its HTTP and native ports, and to the target inside remote().
    process.env[sourceServersVar] = [new URL(s.url).host, `${new URL(s.url).hostname}:${s.nativePort}`, new URL(t.url).host].join(',');
    writeFileSync(join(secretsDir, 'target-db.servers'), `# the test target\n${new URL(t.url).host}\n`);
    const worker = await startWorker(undefined, { MIGRATOR_SECRETS_DIR: secretsDir });
    try {
      const { db, table } = await sourceTable();
      const id = uniqueRun('secrets-ref');
      const { source, target } = stack();
      const started = await apiCall('POST', '/migrations', {
        id,
        source: { url: source.url, username: source.username, passwordRef: 'source-db', nativePort: source.nativePort },
        target: { url: target.url, username: target.username, passwordRef: 'target-db', nativePort: target.nativePort },
        databases: [db],
        approvals: { required: false },
      });
      expect(started.status).toBe(201);

      // The target's secret is not on the worker yet: the attempt fails, naming the reference only, and retries.
      const handle = servers.client.workflow.getHandle(id);
      const failure = await waitFor(() => lastActivityFailure(servers.client, handle), (m) => m !== undefined, 'a failed attempt');
      expect(failure).toMatch(/the secret "target-db" is not on this worker/);
      writeFileSync(join(secretsDir, 'target-db'), `${target.password}\n`, { mode: 0o600 });

      await waitForStatus(id, 'completed');
      await sameRows(db, table);
      const decoded = await workflowShow(id, { token: TOKENS.viewer });
      expect(decoded).toContain('target-db');
      expect(decoded).not.toContain(source.password);
      expect(decoded).not.toContain(target.password);
    } finally {
      delete process.env[sourceVar];
      delete process.env[sourceServersVar];
      await worker.stop();
      rmSync(secretsDir, { recursive: true, force: true });
    }
  });
});

/** The message of the last failed attempt of the run's pending activity, decoded. */
async function lastActivityFailure(client: Client, handle: WorkflowHandle): Promise<string | undefined> {
  const { raw } = await handle.describe();
  const failure = raw.pendingActivities?.find((a) => a.lastFailure)?.lastFailure;
  const err = await decodeOptionalFailureToOptionalError(client.options.loadedDataConverter, failure);
  return err?.message;
}

describe('a key rotation', () => {
  const OLD = 'the deployment key before the rotation';
  const NEW = 'the deployment key after the rotation';
  const oldKeys = keyringOf(OLD);
  const newKeys = keyringOf(NEW, [OLD]);

  it('lets runs started under the old key finish under the new one; a worker without the old key retries, naming the key id only', async () => {
    const { db, table } = await sourceTable();
    const clients: Client[] = [];
    const clientWith = async (keys: Keyring) => {
      clients.push(await connectClient({ TEMPORAL_ADDRESS: stack().temporalAddress, TEMPORAL_NAMESPACE: 'default' }, keys));
      return clients[clients.length - 1];
    };
    const before = await clientWith(oldKeys);
    const after = await clientWith(newKeys);
    try {
      // Before the rotation: a worker with the old key takes the run through its backup step.
      const { workflowId: id } = await runWaitingAtConfigure(before, db, OLD, 'secrets-rotation');

      // A worker given only the new key cannot read the run: its workflow task fails and is retried.
      let worker = await startWorker(undefined, { MIGRATOR_SECRET_KEY: NEW });
      await after.workflow.getHandle(id).signal(approveSignal, { step: 'configure', by: 'rotation-test' });
      const failedTask = await waitFor(() => workflowTaskFailure(after, id), (m) => m !== undefined, 'a failed workflow task');
      expect(failedTask).toContain(oldKeys.active.id);
      expect(failedTask).not.toMatch(/deployment key|password/i);
      await worker.stop();

      // After the rotation: the new key encrypts, the old one still decrypts; the run finishes.
      worker = await startWorker(undefined, { MIGRATOR_SECRET_KEY: NEW, MIGRATOR_PREVIOUS_SECRET_KEYS: [OLD] });
      try {
        const approve = async (step: 'validation' | 'migration') => {
          await waitFor(() => queryState(after.workflow.getHandle(id)), (s: MigrationState) => s.awaitingApproval?.step === step, `approval of ${step}`);
          await after.workflow.getHandle(id).signal(approveSignal, { step, by: 'rotation-test' });
        };
        await approve('validation');
        await approve('migration');
        await after.workflow.getHandle(id).result();
      } finally {
        await worker.stop();
      }
      await sameRows(db, table);
      const keyIds = new Set<string>();
      collectKeyIds(await after.workflow.getHandle(id).fetchHistory(), keyIds);
      expect([...keyIds].sort()).toEqual([oldKeys.active.id, newKeys.active.id].sort());

      // The old key dropped: the run's result, made under the new key, still reads.
      const newOnly = await clientWith(keyringOf(NEW));
      await expect(newOnly.workflow.getHandle(id).result()).resolves.toMatchObject({ status: 'completed' });
    } finally {
      await Promise.all(clients.map((c) => c.connection.close()));
    }
  });
});

describe('a worker without the key', () => {
  it('does not strand a cancelled run: a worker with the key then rolls it back', async () => {
    const OLD = 'the key the run was started under';
    const STRANGER = 'a key that never saw this run';
    const oldKeys = keyringOf(OLD);
    const { db } = await sourceTable();
    const client = await connectClient({ TEMPORAL_ADDRESS: stack().temporalAddress, TEMPORAL_NAMESPACE: 'default' }, oldKeys);
    try {
      const handle = await runWaitingAtConfigure(client, db, OLD, 'secrets-keyless');
      const id = handle.workflowId;

      let worker = await startWorker(undefined, { MIGRATOR_SECRET_KEY: STRANGER });
      await handle.cancel();
      // The stranger encrypted its report of the failure with its own key: read it with both.
      const reader = await connectClient({ TEMPORAL_ADDRESS: stack().temporalAddress, TEMPORAL_NAMESPACE: 'default' }, keyringOf(OLD, [STRANGER]));
      const failedTask = await waitFor(() => workflowTaskFailure(reader, id), (m) => m !== undefined, 'a failed workflow task').finally(() => reader.connection.close());
      expect(failedTask).toContain(oldKeys.active.id);
      await worker.stop();

      worker = await startWorker(undefined, { MIGRATOR_SECRET_KEY: OLD });
      try {
        await expect(handle.result()).rejects.toThrow();
        const state = await queryState(handle);
        expect(state.status).toBe('cancelled');
        expect(await servers.target.rows(`SELECT name FROM system.databases WHERE name = '${db}' OR name LIKE '\\_\\_migrator%${id}%'`)).toEqual([]);
      } finally {
        await worker.stop();
      }
    } finally {
      await client.connection.close();
    }
  });
});

/**
 * A run started with passwords sealed under the key of `passphrase`, taken through its backup step
 * by a worker holding that key only; the worker is stopped before this returns.
 */
async function runWaitingAtConfigure(client: Client, db: string, passphrase: string, prefix: string): Promise<WorkflowHandle> {
  const keys = keyringOf(passphrase);
  const { source, target } = stack();
  const input = migrationInput(uniqueRun(prefix), [db]);
  input.source.password = seal(source.password, keys);
  input.target.password = seal(target.password, keys);
  const worker = await startWorker(undefined, { MIGRATOR_SECRET_KEY: passphrase });
  try {
    const handle = await startMigration(client, input);
    await awaitingApproval(handle, 'configure');
    return handle;
  } finally {
    await worker.stop();
  }
}

/** The message of the run's first failed workflow task, decoded with the client's keys. */
async function workflowTaskFailure(client: Client, id: string): Promise<string | undefined> {
  const history = await client.workflow.getHandle(id).fetchHistory();
  const failed = history.events?.find((e) => e.workflowTaskFailedEventAttributes)?.workflowTaskFailedEventAttributes;
  const err = await decodeOptionalFailureToOptionalError(client.options.loadedDataConverter, failed?.failure);
  return err ? `${err.message} ${err.cause instanceof Error ? err.cause.message : ''}` : undefined;
}

/** Every key id named in the metadata of a payload of `value`. */
function collectKeyIds(value: unknown, into: Set<string>): void {
  if (!value || typeof value !== 'object') return;
  const metadata = (value as { metadata?: Record<string, Uint8Array> }).metadata;
  const id = metadata?.[KEY_ID_METADATA];
  if (id) into.add(Buffer.from(id).toString('utf8'));
  for (const child of Object.values(value)) collectKeyIds(child, into);
}

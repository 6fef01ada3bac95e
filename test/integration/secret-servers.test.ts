/**
 * A secret goes only to the servers it declares: whoever may start a run cannot have a worker
 * send a password named by `passwordRef` anywhere else, neither as the HTTP credentials of a
 * source or target nor inside the `remote()` call that a server-to-server copy gives the target.
 * The "elsewhere" here is a socket the test listens on: it must see no connection at all.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { EndpointRef, MigrationInput, MigrationState, ValidationReport } from '../../src/workflows/types';
import { migrationInput, queryState, startMigration, startWorker, uniqueName, useTestServers, waitFor } from './harness';
import { testStack, type TestClickHouse } from './stack-env';

const servers = useTestServers({ worker: false });
let secretsDir: string;
let worker: { stop(): Promise<void> };

/** The address of an HTTP URL, as a secret declares it. */
const httpAddress = (server: TestClickHouse) => new URL(server.url).host;
const nativeAddress = (server: TestClickHouse) => `${new URL(server.url).hostname}:${server.nativePort}`;

beforeAll(async () => {
  const { source, target } = testStack();
  secretsDir = mkdtempSync(join(tmpdir(), 'migrator-secret-servers-'));
  const secret = (ref: string, password: string, declared?: string) => {
    writeFileSync(join(secretsDir, ref), `${password}\n`, { mode: 0o600 });
    if (declared !== undefined) writeFileSync(join(secretsDir, `${ref}.servers`), declared);
  };
  // The source's password may reach its HTTP and native ports, and the target, which receives it inside remote().
  secret('source-db', source.password, `# the test source\n${httpAddress(source)}\n${nativeAddress(source)}, ${httpAddress(target)}\n`);
  secret('target-db', target.password, `${httpAddress(target)}\n`);
  // The same password, declared for the source's HTTP port and the target only: not for a native port.
  secret('source-http-only', source.password, `${httpAddress(source)},${httpAddress(target)}`);
  // Declared for the source alone: the target may not be given it.
  secret('source-not-target', source.password, `${httpAddress(source)}\n${nativeAddress(source)}\n`);
  secret('undeclared', source.password);
  worker = await startWorker(undefined, { MIGRATOR_SECRETS_DIR: secretsDir });
});

afterAll(async () => {
  await worker?.stop();
  rmSync(secretsDir, { recursive: true, force: true });
});

/** A loopback socket that counts the connections it is offered and closes each at once. */
async function listener(): Promise<{ port: number; connections: () => number; close(): Promise<void> }> {
  let connections = 0;
  const server: Server = createServer((socket) => {
    connections += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    connections: () => connections,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A database with one small table on the source. */
async function sourceDatabase(): Promise<string> {
  const db = servers.database('secret_servers');
  await servers.source.exec(`CREATE DATABASE ${db}`);
  await servers.source.exec(`CREATE TABLE ${db}.entries (id UInt64, memo String) ENGINE = MergeTree ORDER BY id`);
  await servers.source.exec(`INSERT INTO ${db}.entries SELECT number, toString(number) FROM system.numbers LIMIT 100`);
  return db;
}

function byRef(server: TestClickHouse, passwordRef: string, nativePort = server.nativePort): EndpointRef {
  return { url: server.url, username: server.username, password: null, passwordRef, nativePort };
}

function run(db: string, prefix: string, endpoints: Pick<MigrationInput, 'source' | 'target'>): Promise<WorkflowHandle> {
  return startMigration(servers.client, migrationInput(uniqueName(prefix), [db], { ...endpoints, approvals: { required: false } }));
}

const ENDED = ['completed', 'failed', 'rejected', 'rolled_back', 'cancelled', 'rollback_incomplete'];

/** The run's state once it has ended, or as soon as `stop` holds (the socket was reached, say). */
function ended(handle: WorkflowHandle, stop: () => boolean = () => false): Promise<MigrationState> {
  return waitFor(() => queryState(handle), (s) => ENDED.includes(s.status) || stop(), `${handle.workflowId} to end`, 150_000);
}

describe('a password given by reference', () => {
  it('when an operator names a secret on a server outside its list, the run fails naming the secret and the server, and that server is never reached', async () => {
    const db = await sourceDatabase();
    const elsewhere = await listener();
    try {
      const { source, target } = testStack();
      const handle = await run(db, 'secret-elsewhere', {
        source: byRef(source, 'source-db'),
        target: { url: `http://127.0.0.1:${elsewhere.port}`, username: target.username, password: null, passwordRef: 'source-db' },
      });
      const state = await ended(handle, () => elsewhere.connections() > 0);

      expect(elsewhere.connections()).toBe(0);
      expect(state.status).toBe('failed');
      // The run asks the target which server it is before its first step: that first use of the secret is refused.
      expect(state.steps.map((s) => s.status)).toEqual(['pending', 'pending', 'pending', 'pending']);
      expect(state.error).toEqual({
        type: 'SecretNotForServer',
        message: expect.stringContaining(`the secret "source-db" may not be sent to 127.0.0.1:${elsewhere.port} (the target's HTTP address)`),
      });
      expect(state.error?.message).toContain(`MIGRATOR_SECRETS_DIR/source-db.servers or the environment variable MIGRATOR_PASSWORD_SOURCE_DB_SERVERS`);
      expect(JSON.stringify(state)).not.toContain(source.password);
    } finally {
      await elsewhere.close();
    }
  });

  it('when the native port remote() would use is not in its list, validation fails before the target is given the password, and that port is never reached', async () => {
    const db = await sourceDatabase();
    const native = await listener();
    try {
      const { source, target } = testStack();
      const handle = await run(db, 'secret-native', {
        source: byRef(source, 'source-http-only', native.port),
        target: byRef(target, 'target-db'),
      });
      const state = await ended(handle, () => native.connections() > 0);

      expect(native.connections()).toBe(0);
      expect(state.status).toBe('failed');
      const validation = state.steps.find((s) => s.name === 'validation');
      expect(validation?.status).toBe('failed');
      expect(validation?.error).toEqual({
        type: 'SecretNotForServer',
        message: expect.stringContaining(`the secret "source-http-only" may not be sent to 127.0.0.1:${native.port} (the source's native port, which the target reaches with remote())`),
      });
      expect(JSON.stringify(state)).not.toContain(source.password);
    } finally {
      await native.close();
    }
  });

  it('when its secret declares no servers, the run fails, saying in which file or variable to declare them', async () => {
    const db = await sourceDatabase();
    const { source, target } = testStack();
    const state = await ended(await run(db, 'secret-undeclared', { source: byRef(source, 'undeclared'), target: byRef(target, 'target-db') }));

    expect(state.status).toBe('failed');
    expect(state.error).toEqual({
      type: 'SecretNotForServer',
      message:
        'the secret "undeclared" declares no servers it may be sent to, so it is sent nowhere: list them (host:port or host:*) in ' +
        'the file MIGRATOR_SECRETS_DIR/undeclared.servers or the environment variable MIGRATOR_PASSWORD_UNDECLARED_SERVERS',
    });
  });

  it('reaches the servers it declares: server to server when the target is among them, else through the worker, saying why', async () => {
    const { source, target } = testStack();
    const paths: Record<string, ValidationReport['transfer'] | undefined> = {};
    for (const ref of ['source-db', 'source-not-target']) {
      const db = await sourceDatabase();
      const state = await ended(await run(db, 'secret-declared', { source: byRef(source, ref), target: byRef(target, 'target-db') }));
      expect([state.status, state.error]).toEqual(['completed', null]);
      expect(await servers.target.rows(`SELECT count() AS n FROM ${db}.entries`)).toEqual([{ n: '100' }]);
      paths[ref] = (state.steps.find((s) => s.name === 'validation')?.result as ValidationReport | undefined)?.transfer;
    }
    expect(paths['source-db']?.path).toBe('server');
    expect(paths['source-not-target']).toEqual({
      path: 'worker',
      reason: expect.stringContaining(`the secret "source-not-target" may not be sent to ${httpAddress(target)} (the target, which a server-to-server copy gives it inside remote())`),
    });
  });
});

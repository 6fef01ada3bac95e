/**
 * The servers of a benchmark run, all on loopback: a Temporal dev server, a source and a target
 * ClickHouse, the worker as it is deployed, and (when a scenario needs it) the HTTP API.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { encryptingDataConverter } from '../src/codec';
import { ClickHouseConnection } from '../src/clickhouse/connection';
import { quoteString } from '../src/clickhouse/sql';
import { startClickHouse, type LocalClickHouse } from '../src/dev/clickhouse-server';
import { freePort } from '../src/dev/ports';
import { startTemporal, type LocalTemporal } from '../src/dev/temporal-server';
import { keyringOf, seal, type Keyring } from '../src/secrets';
import type { MigrationInput } from '../src/workflows/types';
import { ApiClient, PEOPLE, type Person } from './api-client';
import { ProductProcess, ROOT } from './processes';
import { QUERY_LOG } from './query-log';

/** Partitions copied at once; the product's default unless BENCH_PARALLELISM says otherwise. */
export const PARALLELISM = Number(process.env.BENCH_PARALLELISM ?? 2);

/** Free space the servers' data may need: the big scenario's source, copies, restore points and raw baselines. */
const SERVER_DATA_BYTES = 8 * 2 ** 30;

/**
 * Where the two ClickHouse servers keep their data: BENCH_DATA_DIR, else /dev/shm (memory) when it
 * has room, else `fallback`. On this machine's virtual disk the time of writing thousands of small
 * parts depends on the disk's burst budget that earlier statements spent, not on the statements
 * themselves: one raw `INSERT` of 5,000 partitions took 2.4, 7.5, 14.9, then 22.9 s in four runs
 * in a row, and 1.8–1.9 s every time in memory. Both the product and the raw baselines run on the
 * same servers, so memory only takes the disk's budget out of the ratios.
 */
function serverDataDir(fallback: string): { dir: string; remove: boolean } {
  const chosen = process.env.BENCH_DATA_DIR?.trim();
  if (chosen) return { dir: mkdtempSync(join(chosen, 'clickhouse-migrator-bench-')), remove: true };
  try {
    const shm = statfsSync('/dev/shm');
    if (shm.bavail * shm.bsize >= SERVER_DATA_BYTES) return { dir: mkdtempSync('/dev/shm/clickhouse-migrator-bench-'), remove: true };
  } catch {
    // No /dev/shm: the servers keep their data beside the bench's logs.
  }
  return { dir: fallback, remove: false };
}

function connectionTo(server: LocalClickHouse, label: string): ClickHouseConnection {
  return new ClickHouseConnection({ url: server.url, username: server.username, password: server.password }, { label, secrets: [] });
}

export class Stack {
  /** The deployment's key: the worker, the API and the bench's client share it. */
  readonly secret = randomBytes(24).toString('hex');
  readonly keyring: Keyring = keyringOf(this.secret);
  private readonly stops: (() => Promise<unknown>)[] = [];
  private apiClient?: Promise<ApiClient>;
  temporal!: LocalTemporal;
  sourceServer!: LocalClickHouse;
  targetServer!: LocalClickHouse;
  source!: ClickHouseConnection;
  target!: ClickHouseConnection;
  client!: Client;
  worker!: ProductProcess;
  /** Where the servers keep their data (see {@link serverDataDir}). */
  serverData!: string;

  private constructor(readonly dir: string) {}

  static async start(dir: string): Promise<Stack> {
    const stack = new Stack(dir);
    try {
      await stack.startServers();
    } catch (err) {
      await stack.stop();
      throw err;
    }
    return stack;
  }

  private async startServers(): Promise<void> {
    this.temporal = await startTemporal({ port: await freePort(), uiPort: await freePort(), logFile: join(this.dir, 'temporal.log') });
    this.stops.push(this.temporal.stop);
    const data = serverDataDir(this.dir);
    this.serverData = data.dir;
    if (data.remove) this.stops.push(async () => rmSync(data.dir, { recursive: true, force: true }));
    const servers: LocalClickHouse[] = [];
    for (const name of ['source', 'target']) {
      const server = await startClickHouse({
        name,
        dir: join(data.dir, name),
        httpPort: await freePort(),
        tcpPort: await freePort(),
        username: 'default',
        password: `${name}-${randomBytes(4).toString('hex')}`,
        ...(QUERY_LOG ? { profileSettings: { log_queries: 1 }, queryLog: true } : {}),
      });
      this.stops.push(server.stop);
      servers.push(server);
    }
    [this.sourceServer, this.targetServer] = servers;
    this.source = connectionTo(this.sourceServer, 'source');
    this.target = connectionTo(this.targetServer, 'target');
    this.stops.push(() => Promise.all([this.source.close(), this.target.close()]));
    const connection = await Connection.connect({ address: this.temporal.address });
    this.client = new Client({ connection, dataConverter: encryptingDataConverter(this.keyring) });
    this.stops.push(() => connection.close());
    // The worker as it is deployed: compiled, with the workflow bundle made ahead of time (scripts/bench.sh builds both).
    this.worker = new ProductProcess(
      'worker.js',
      { TEMPORAL_ADDRESS: this.temporal.address, MIGRATOR_SECRET_KEY: this.secret, WORKFLOW_BUNDLE_PATH: join(ROOT, 'dist', 'workflow-bundle.js') },
      join(this.dir, 'worker.log'),
    );
    this.stops.push(() => this.worker.stop());
  }

  /** The workflow input of a run between the two servers; approvals off unless overridden. */
  input(id: string, databases: string[], overrides: Partial<MigrationInput> = {}, nativePort = this.sourceServer.tcpPort): MigrationInput {
    return {
      id,
      source: { url: this.sourceServer.url, username: this.sourceServer.username, password: seal(this.sourceServer.password, this.keyring), nativePort },
      target: { url: this.targetServer.url, username: this.targetServer.username, password: seal(this.targetServer.password, this.keyring), nativePort: this.targetServer.tcpPort },
      databases,
      approvals: { required: false },
      options: { onConflict: 'fail', parallelism: PARALLELISM, syncPasses: 3 },
      ...overrides,
    };
  }

  /** The body of `POST /migrations` for the same two servers (passwords in clear: the API seals them). */
  startRequest(id: string, databases: string[], approvalsRequired: boolean): Record<string, unknown> {
    const endpoint = (server: LocalClickHouse) => ({ url: server.url, username: server.username, password: server.password, nativePort: server.tcpPort });
    return {
      id,
      source: endpoint(this.sourceServer),
      target: endpoint(this.targetServer),
      databases,
      approvals: { required: approvalsRequired },
      options: { onConflict: 'fail', parallelism: PARALLELISM, syncPasses: 3 },
    };
  }

  /** `remote(…)` of a source table, as the target reads it. */
  remote(database: string, table: string): string {
    const { tcpPort, username, password } = this.sourceServer;
    return `remote(${[`127.0.0.1:${tcpPort}`, database, table, username, password].map(quoteString).join(', ')})`;
  }

  /**
   * The HTTP API as it is deployed (`dist/server.js`), started on first use: a tokens file with
   * one token per person of {@link PEOPLE}, four eyes off, loopback servers only.
   */
  api(): Promise<ApiClient> {
    this.apiClient ??= (async () => {
      const tokens = Object.fromEntries(Object.keys(PEOPLE).map((p) => [p, randomBytes(24).toString('hex')])) as Record<Person, string>;
      const tokensFile = join(this.dir, 'tokens.json');
      const entries = (Object.keys(PEOPLE) as Person[]).map((p) => ({ token: tokens[p], subject: PEOPLE[p].subject, roles: PEOPLE[p].roles }));
      writeFileSync(tokensFile, JSON.stringify(entries), { mode: 0o600 });
      const port = await freePort();
      const api = new ProductProcess(
        'server.js',
        {
          API_HOST: '127.0.0.1',
          API_PORT: String(port),
          TEMPORAL_ADDRESS: this.temporal.address,
          TEMPORAL_UI_URL: this.temporal.uiUrl,
          MIGRATOR_SECRET_KEY: this.secret,
          MIGRATOR_TOKENS_FILE: tokensFile,
          MIGRATOR_FOUR_EYES: 'off',
          MIGRATOR_ENDPOINT_ALLOWLIST: '127.0.0.1:*',
        },
        join(this.dir, 'api.log'),
      );
      this.stops.push(() => api.stop());
      const url = `http://127.0.0.1:${port}`;
      await api.waitForHttp(`${url}/healthz`, 'the API');
      return new ApiClient(url, tokens);
    })();
    return this.apiClient;
  }

  /** Stops everything this stack started, the last started first. */
  async stop(): Promise<void> {
    for (const stop of this.stops.reverse()) await stop().catch(() => undefined);
    this.stops.length = 0;
  }
}

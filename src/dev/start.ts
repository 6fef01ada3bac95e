/**
 * `npm start`: the whole stack on this machine. Temporal with its Web UI, a source and a target
 * ClickHouse (the source seeded with a demo database once), the worker and the API. State lives
 * in `.data/` (or `MIGRATOR_DATA_DIR`), so a second start keeps the data and the workflow history.
 *
 * Ctrl-C, SIGTERM or SIGHUP stops it all, at any moment: every child runs in a process group of
 * its own (see `processes.ts`), so only this process decides when and in what order they stop; a
 * second signal during the shutdown is noted and changes nothing. The exit code is 0 after a stop
 * by signal and 1 after a failed start. Pid files in `<data dir>/pids/` let the next start stop
 * what a start that was killed outright left running (see `pid-files.ts`).
 *
 * The process that `npm start` runs is only a relay (`runRelay`); the stack is run by a supervisor
 * in a process group of its own.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { demoTokenLines, ensureDemoTokensFile } from '../api/demo-tokens';
import { ClickHouseConnection } from '../clickhouse/connection';
import { DEMO_DATABASE, seedDemo } from '../demo/seed';
import { startClickHouse, type LocalClickHouse } from './clickhouse-server';
import { startReplicaSet } from './cluster';
import { startZooKeeper, type LocalZooKeeper } from './zookeeper';
import { assertPortFree } from './ports';
import { removePidFile, START_PID_NAME, stopLeftovers, writePidFile } from './pid-files';
import { httpOk, logTail, recordPidFilesIn, startProcess, stopAllProcesses, stopProcess, waitUntil } from './processes';
import { startTemporal } from './temporal-server';
import type { TokenEntry } from '../config';
import { withDeployedNodeOptions } from './node-options';

const root = join(__dirname, '..', '..');
/** Where the stack keeps its state: `MIGRATOR_DATA_DIR` (relative to the working directory). @default `.data` in the project */
const data = process.env.MIGRATOR_DATA_DIR ? resolve(process.env.MIGRATOR_DATA_DIR) : join(root, '.data');
const logs = join(data, 'logs');
const pids = join(data, 'pids');
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/** Set in the environment of the supervisor, the process that runs the stack. */
const SUPERVISOR_ENV = 'MIGRATOR_START_SUPERVISOR';

/**
 * Starts the supervisor (this file again) in a process group of its own, forwards every stop
 * signal to it, and exits with its exit code. Why a relay: `tsx` SIGKILLs its child when the
 * child takes more than 30 ms to take a signal, which a busy start often does, and a SIGKILLed
 * supervisor could stop nothing. The relay is idle and always answers in time; should it die
 * anyway, the supervisor sees its stdin close and stops the stack. A signal that comes before the
 * supervisor listens for signals waits until it does, so that every stop is the same shutdown.
 */
function runRelay(): void {
  const supervisor = spawn(process.execPath, ['--import', 'tsx', __filename], {
    cwd: root,
    env: { ...process.env, [SUPERVISOR_ENV]: '1' },
    detached: true,
    stdio: ['pipe', 'inherit', 'inherit', 'ipc'],
  });
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  let listening = false;
  let pending: NodeJS.Signals | undefined;
  supervisor.once('message', () => {
    listening = true;
    if (pending) supervisor.kill(pending);
  });
  for (const signal of STOP_SIGNALS) {
    process.on(signal, () => {
      if (listening) supervisor.kill(signal);
      else pending ??= signal;
    });
  }
  supervisor.once('exit', (code) => process.exit(code ?? 1));
}

/** The API and the worker, once started: they stop before the servers they use. */
const services: ChildProcess[] = [];
let shutdown: Promise<void> | undefined;
let ownsDataDir = false;

/** Stops every child, the API and the worker first, and exits with `code`. Later calls change nothing. */
function stopEverything(code: number): Promise<void> {
  shutdown ??= (async () => {
    console.log('\nstopping…');
    const report = (err: unknown) => console.error(String(err));
    await Promise.all(services.map((child) => stopProcess(child, 10_000))).catch(report);
    await stopAllProcesses(20_000).catch(report);
    if (ownsDataDir) removePidFile(pids, START_PID_NAME);
    console.log('stopped');
    process.exit(code);
  })();
  return shutdown;
}

/** Every stop signal starts one shutdown; anything thrown and not caught stops the stack with code 1. */
function stopOnSignals(): void {
  for (const signal of STOP_SIGNALS) {
    process.on(signal, () => {
      if (shutdown) console.log(`${signal}: already stopping`);
      else void stopEverything(0);
    });
  }
  // After a SIGHUP the terminal is gone and writing to it fails: that must not end the shutdown.
  for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
  const fail = (err: unknown) => {
    console.error(err);
    void stopEverything(1);
  };
  process.on('uncaughtException', fail);
  process.on('unhandledRejection', fail);
  // The relay holds the other end of stdin: when it closes, nobody is left to stop the stack.
  process.stdin.once('close', () => void stopEverything(0));
  process.stdin.resume();
  process.send?.('listening');
}

/** Stops what a start that is gone left running, and records this start, before any child starts. */
async function claimDataDir(): Promise<void> {
  const stopped = await stopLeftovers(pids);
  if (stopped.length > 0) console.log(`stopped ${stopped.length} processes that an earlier start left running:\n  ${stopped.join('\n  ')}`);
  writePidFile(pids, START_PID_NAME, process.pid);
  ownsDataDir = true;
  recordPidFilesIn(pids);
}

function port(envVar: string, fallback: number): number {
  const raw = process.env[envVar];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > 65535) throw new Error(`${envVar} must be a port number, not "${raw}"`);
  return value;
}

/** A value generated once and kept in `.data/` (mode 600). */
function persistentSecret(name: string, make: () => string): string {
  const file = join(data, name);
  if (!existsSync(file)) writeFileSync(file, make(), { mode: 0o600 });
  chmodSync(file, 0o600);
  return readFileSync(file, 'utf8').trim();
}

/** Runs a node entry point with tsx; its output goes to `.data/logs/<name>.log`. */
function startNodeService(name: string, entry: string, env: NodeJS.ProcessEnv): ChildProcess {
  const logFile = join(logs, `${name}.log`);
  return startProcess(join(root, 'node_modules', '.bin', 'tsx'), [join(root, entry)], { logFile, env: withDeployedNodeOptions({ ...process.env, ...env }), cwd: root });
}

/** The stack's ports: each one's environment variable and default. */
const PORTS = {
  api: ['API_PORT', 3000],
  temporal: ['TEMPORAL_PORT', 7233],
  ui: ['TEMPORAL_UI_PORT', 8233],
  sourceHttp: ['SOURCE_HTTP_PORT', 8123],
  sourceTcp: ['SOURCE_TCP_PORT', 9000],
  targetHttp: ['TARGET_HTTP_PORT', 8124],
  targetTcp: ['TARGET_TCP_PORT', 9001],
} as const;
/** The extra ports of `CLUSTER=1`: each side's ZooKeeper and second replica, and every replica's interserver port. */
const CLUSTER_PORTS = {
  sourceZooKeeper: ['SOURCE_ZOOKEEPER_PORT', 2181],
  targetZooKeeper: ['TARGET_ZOOKEEPER_PORT', 2182],
  source2Http: ['SOURCE2_HTTP_PORT', 8125],
  source2Tcp: ['SOURCE2_TCP_PORT', 9002],
  target2Http: ['TARGET2_HTTP_PORT', 8126],
  target2Tcp: ['TARGET2_TCP_PORT', 9003],
  sourceInterserver: ['SOURCE_INTERSERVER_PORT', 9009],
  source2Interserver: ['SOURCE2_INTERSERVER_PORT', 9010],
  targetInterserver: ['TARGET_INTERSERVER_PORT', 9011],
  target2Interserver: ['TARGET2_INTERSERVER_PORT', 9012],
} as const;
type ClusterPortName = keyof typeof CLUSTER_PORTS;
/** `CLUSTER=1 npm start`: each side a replica set of two on its own ZooKeeper. */
const CLUSTER = process.env.CLUSTER === '1';
type PortName = keyof typeof PORTS;

function readPorts<K extends string>(table: Record<K, readonly [string, number]>): Record<K, number> {
  return Object.fromEntries((Object.keys(table) as K[]).map((key) => [key, port(table[key][0], table[key][1])])) as Record<K, number>;
}

/** A side's servers: one ClickHouse, or with `CLUSTER=1` a ZooKeeper and two replicas (the first on the side's usual ports). */
interface Side {
  main: LocalClickHouse;
  replicas: LocalClickHouse[];
  cluster?: string;
  zooKeeper?: LocalZooKeeper;
}

async function startSide(name: 'source' | 'target', password: string, ports: Record<PortName, number>, extra: Record<ClusterPortName, number> | null): Promise<Side> {
  const [http, tcp] = name === 'source' ? [ports.sourceHttp, ports.sourceTcp] : [ports.targetHttp, ports.targetTcp];
  if (!extra) {
    const main = await startClickHouse({ name, dir: join(data, name), httpPort: http, tcpPort: tcp, username: 'default', password });
    return { main, replicas: [main] };
  }
  const zooKeeper = await startZooKeeper({ dir: join(data, `${name}-zookeeper`), port: name === 'source' ? extra.sourceZooKeeper : extra.targetZooKeeper });
  const second = name === 'source'
    ? { httpPort: extra.source2Http, tcpPort: extra.source2Tcp, interserverHttpPort: extra.source2Interserver }
    : { httpPort: extra.target2Http, tcpPort: extra.target2Tcp, interserverHttpPort: extra.target2Interserver };
  const first = { httpPort: http, tcpPort: tcp, interserverHttpPort: name === 'source' ? extra.sourceInterserver : extra.targetInterserver };
  const set = await startReplicaSet({ side: name, dir: join(data, 'replicas'), zooKeeper, count: 2, username: 'default', password, ports: [first, second] });
  return { main: set.replicas[0], replicas: set.replicas, cluster: set.cluster, zooKeeper };
}

/** Starts the worker and the API; either exiting on its own stops the stack. Returns the API's URL once it answers. */
async function startWorkerAndApi(env: NodeJS.ProcessEnv, apiPort: number): Promise<string> {
  for (const name of ['worker', 'api'] as const) {
    const child = startNodeService(name, name === 'worker' ? 'src/worker.ts' : 'src/server.ts', env);
    services.push(child);
    child.once('exit', (code, signal) => {
      if (shutdown) return;
      console.error(`the ${name} exited (${code ?? signal}); its log:\n${logTail(join(logs, `${name}.log`))}`);
      void stopEverything(1);
    });
  }
  const apiUrl = `http://127.0.0.1:${apiPort}`;
  await waitUntil(() => httpOk(`${apiUrl}/healthz`), { timeoutMs: 60_000, what: 'the API', child: services[1], logFile: join(logs, 'api.log') });
  return apiUrl;
}

/** What a person needs once the stack runs: every address, the demo passwords, a curl session and the tokens. */
function banner(b: {
  seconds: string;
  apiUrl: string;
  temporal: { uiUrl: string; address: string };
  source: { url: string; tcpPort: number; password: string };
  target: { url: string; tcpPort: number; password: string };
  tokensFile: string;
  tokenLines: string[];
}): string {
  const { apiUrl, temporal, source, target } = b;
  return `
clickhouse-migrator is running (started in ${b.seconds} s). Ctrl-C stops everything.

  API               ${apiUrl}   (GET /healthz, /migrations)
  Temporal Web UI   ${temporal.uiUrl}
  Temporal gRPC     ${temporal.address}
  source ClickHouse ${source.url}  native 127.0.0.1:${source.tcpPort}  user default  password ${source.password}
  target ClickHouse ${target.url}  native 127.0.0.1:${target.tcpPort}  user default  password ${target.password}
  logs              ${logs}

Migrate the demo database:

  curl -s -X POST ${apiUrl}/migrations -H "authorization: Bearer $OPERATOR_TOKEN" -H 'content-type: application/json' -d '{
    "id": "demo-1",
    "source": { "url": "${source.url}", "username": "default", "password": "${source.password}", "nativePort": ${source.tcpPort} },
    "target": { "url": "${target.url}", "username": "default", "password": "${target.password}", "nativePort": ${target.tcpPort} },
    "databases": ["${DEMO_DATABASE}"]
  }'
  curl -s -X POST ${apiUrl}/migrations/demo-1/approve -H "authorization: Bearer $APPROVER_TOKEN" -H 'content-type: application/json' -d '{"step":"configure"}'

API tokens (${b.tokensFile}); paste into your shell first:

${b.tokenLines.map((line) => `  ${line}`).join('\n')}
`;
}

/** Every server of `CLUSTER=1`, and the `replication` field that a run to the target cluster takes. */
function clusterBanner(source: Side, target: Side): string {
  const lines = [source, target].flatMap((side) => [
    `  ${side.cluster}: ZooKeeper 127.0.0.1:${side.zooKeeper?.port}`,
    ...side.replicas.map((r, i) => `    replica ${i + 1}  ${r.url}  native 127.0.0.1:${r.tcpPort}`),
  ]);
  return `Replica sets (CLUSTER=1; the first replica of each side is the server above):

${lines.join('\n')}

  A run to the target cluster adds to its body: "replication": { "cluster": "${target.cluster}" }
`;
}

/**
 * The Web UI decodes runs through the API's codec endpoint. The dev server's UI has no sign-in and
 * cannot send a bearer header, so a viewer's token rides in the path (`/codec/t/<token>`): anyone
 * who can open this loopback UI can read it, and it grants no more than reading runs.
 */
function uiCodecEndpoint(apiPort: number, tokens: readonly TokenEntry[]): string | undefined {
  const viewer = tokens.find((t) => t.roles.length === 1 && t.roles[0] === 'viewer') ?? tokens.find((t) => t.roles.includes('viewer'));
  if (!viewer) {
    console.warn('no token with the role viewer in the tokens file: the Web UI will show runs encrypted');
    return undefined;
  }
  return `http://127.0.0.1:${apiPort}/codec/t/${encodeURIComponent(viewer.token)}`;
}

async function main(): Promise<void> {
  stopOnSignals();
  delete process.env[SUPERVISOR_ENV];
  const began = Date.now();
  const ports = readPorts(PORTS);
  const extra = CLUSTER ? readPorts(CLUSTER_PORTS) : null;
  mkdirSync(logs, { recursive: true });
  await claimDataDir();
  for (const key of Object.keys(ports) as PortName[]) await assertPortFree(ports[key], key, PORTS[key][0]);
  for (const key of Object.keys(extra ?? {}) as ClusterPortName[]) await assertPortFree((extra as Record<ClusterPortName, number>)[key], key, CLUSTER_PORTS[key][0]);

  mkdirSync(join(data, 'temporal'), { recursive: true });
  const secretKey = process.env.MIGRATOR_SECRET_KEY || persistentSecret('secret-key', () => randomBytes(32).toString('hex'));
  // The API's bearer tokens: tokens.json in the data dir (or MIGRATOR_TOKENS_FILE), written once with random demo tokens, mode 600.
  const tokensFile = process.env.MIGRATOR_TOKENS_FILE || join(data, 'tokens.json');
  const demoTokens = ensureDemoTokensFile(tokensFile);
  // Demo servers on loopback: fixed, printed passwords keep the README's curl session copy-pasteable.
  const sourcePassword = process.env.SOURCE_PASSWORD || 'source-demo';
  const targetPassword = process.env.TARGET_PASSWORD || 'target-demo';

  try {
    console.log(`starting Temporal and ClickHouse${CLUSTER ? ' (two replicas per side, each side on its own ZooKeeper)' : ''}…`);
    const [temporal, sourceSide, targetSide] = await Promise.all([
      startTemporal({
        port: ports.temporal,
        uiPort: ports.ui,
        logFile: join(logs, 'temporal.log'),
        dbFile: join(data, 'temporal', 'temporal.db'),
        uiCodecEndpoint: uiCodecEndpoint(ports.api, demoTokens),
      }),
      startSide('source', sourcePassword, ports, extra),
      startSide('target', targetPassword, ports, extra),
    ]);
    const [source, target] = [sourceSide.main, targetSide.main];

    const conn = new ClickHouseConnection({ url: source.url, username: source.username, password: source.password }, { label: 'source', secrets: [] });
    const demoRows = Number(process.env.DEMO_ROWS ?? 1_000_000);
    if (await seedDemo(conn, { rows: demoRows, cluster: sourceSide.cluster })) console.log(`seeded ${DEMO_DATABASE} on the source (${demoRows} rows in ${DEMO_DATABASE}.events)`);
    else console.log(`${DEMO_DATABASE} is already on the source`);
    await conn.close();

    const env = {
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_UI_URL: temporal.uiUrl,
      API_HOST: '127.0.0.1',
      API_PORT: String(ports.api),
      MIGRATOR_SECRET_KEY: secretKey,
      MIGRATOR_TOKENS_FILE: tokensFile,
      // The demo stack reaches loopback servers only.
      MIGRATOR_ENDPOINT_ALLOWLIST: process.env.MIGRATOR_ENDPOINT_ALLOWLIST || '127.0.0.1:*,localhost:*,[::1]:*',
    };
    const apiUrl = await startWorkerAndApi(env, ports.api);

    const seconds = ((Date.now() - began) / 1000).toFixed(1);
    console.log(banner({ seconds, apiUrl, temporal, source, target, tokensFile, tokenLines: demoTokenLines(demoTokens) }));
    if (CLUSTER) console.log(clusterBanner(sourceSide, targetSide));
  } catch (err) {
    // A start cut short by a stop signal fails as its children stop: that is no error to report.
    if (!shutdown) console.error(err instanceof Error ? err.message : err);
    await stopEverything(1);
  }
}

if (!process.env[SUPERVISOR_ENV]) {
  runRelay();
} else {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    void stopEverything(1);
  });
}

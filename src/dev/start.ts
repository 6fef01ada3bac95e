/**
 * `npm start`: the whole stack on this machine. Temporal with its Web UI, a source and a target
 * ClickHouse (the source seeded with a demo database once), the worker and the API. State lives
 * in `.data/`, so a second start keeps the data and the workflow history. Ctrl-C stops it all.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { ClickHouseConnection } from '../clickhouse/connection';
import { DEMO_DATABASE, seedDemo } from '../demo/seed';
import { startClickHouse, type LocalClickHouse } from './clickhouse-server';
import { assertPortFree } from './ports';
import { httpOk, logTail, startProcess, stopProcess, waitUntil } from './processes';
import { startTemporal, type LocalTemporal } from './temporal-server';

const root = join(__dirname, '..', '..');
const data = join(root, '.data');
const logs = join(data, 'logs');

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
  return startProcess(join(root, 'node_modules', '.bin', 'tsx'), [join(root, entry)], { logFile, env: { ...process.env, ...env }, cwd: root });
}

async function main(): Promise<void> {
  const began = Date.now();
  const ports = {
    api: port('API_PORT', 3000),
    temporal: port('TEMPORAL_PORT', 7233),
    ui: port('TEMPORAL_UI_PORT', 8233),
    sourceHttp: port('SOURCE_HTTP_PORT', 8123),
    sourceTcp: port('SOURCE_TCP_PORT', 9000),
    targetHttp: port('TARGET_HTTP_PORT', 8124),
    targetTcp: port('TARGET_TCP_PORT', 9001),
  };
  const envVars: Record<keyof typeof ports, string> = {
    api: 'API_PORT',
    temporal: 'TEMPORAL_PORT',
    ui: 'TEMPORAL_UI_PORT',
    sourceHttp: 'SOURCE_HTTP_PORT',
    sourceTcp: 'SOURCE_TCP_PORT',
    targetHttp: 'TARGET_HTTP_PORT',
    targetTcp: 'TARGET_TCP_PORT',
  };
  for (const key of Object.keys(ports) as (keyof typeof ports)[]) await assertPortFree(ports[key], key, envVars[key]);

  mkdirSync(logs, { recursive: true });
  mkdirSync(join(data, 'temporal'), { recursive: true });
  const secretKey = process.env.MIGRATOR_SECRET_KEY || persistentSecret('secret-key', () => randomBytes(32).toString('hex'));
  // Demo servers on loopback: fixed, printed passwords keep the README's curl session copy-pasteable.
  const sourcePassword = process.env.SOURCE_PASSWORD || 'source-demo';
  const targetPassword = process.env.TARGET_PASSWORD || 'target-demo';

  const stops: (() => Promise<void>)[] = [];
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log('\nstopping…');
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => console.error(String(err)));
    process.exit(code);
  };
  process.once('SIGINT', () => void stopAll(0));
  process.once('SIGTERM', () => void stopAll(0));

  try {
    console.log('starting Temporal and ClickHouse…');
    const [temporal, source, target] = await Promise.all([
      startTemporal({ port: ports.temporal, uiPort: ports.ui, logFile: join(logs, 'temporal.log'), dbFile: join(data, 'temporal', 'temporal.db') }).then(
        (t: LocalTemporal) => (stops.push(t.stop), t),
      ),
      startClickHouse({ name: 'source', dir: join(data, 'source'), httpPort: ports.sourceHttp, tcpPort: ports.sourceTcp, username: 'default', password: sourcePassword }).then(
        (c: LocalClickHouse) => (stops.push(c.stop), c),
      ),
      startClickHouse({ name: 'target', dir: join(data, 'target'), httpPort: ports.targetHttp, tcpPort: ports.targetTcp, username: 'default', password: targetPassword }).then(
        (c: LocalClickHouse) => (stops.push(c.stop), c),
      ),
    ]);

    const conn = new ClickHouseConnection({ url: source.url, username: source.username, password: source.password }, { label: 'source', secrets: [] });
    const demoRows = Number(process.env.DEMO_ROWS ?? 1_000_000);
    if (await seedDemo(conn, { rows: demoRows })) console.log(`seeded ${DEMO_DATABASE} on the source (${demoRows} rows in ${DEMO_DATABASE}.events)`);
    else console.log(`${DEMO_DATABASE} is already on the source`);
    await conn.close();

    const env = {
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: 'default',
      TEMPORAL_UI_URL: temporal.uiUrl,
      API_HOST: '127.0.0.1',
      API_PORT: String(ports.api),
      MIGRATOR_SECRET_KEY: secretKey,
    };
    const services = [startNodeService('worker', 'src/worker.ts', env), startNodeService('api', 'src/server.ts', env)];
    for (const [i, child] of services.entries()) {
      stops.push(() => stopProcess(child, 10_000));
      child.once('exit', (code, signal) => {
        if (stopping) return;
        const name = i === 0 ? 'worker' : 'api';
        console.error(`the ${name} exited (${code ?? signal}); its log:\n${logTail(join(logs, `${name}.log`))}`);
        void stopAll(1);
      });
    }
    const apiUrl = `http://127.0.0.1:${ports.api}`;
    await waitUntil(() => httpOk(`${apiUrl}/healthz`), { timeoutMs: 60_000, what: 'the API', child: services[1], logFile: join(logs, 'api.log') });

    const seconds = ((Date.now() - began) / 1000).toFixed(1);
    console.log(`
clickhouse-migrator is running (started in ${seconds} s). Ctrl-C stops everything.

  API               ${apiUrl}   (GET /healthz, /migrations)
  Temporal Web UI   ${temporal.uiUrl}
  Temporal gRPC     ${temporal.address}
  source ClickHouse ${source.url}  native 127.0.0.1:${source.tcpPort}  user default  password ${source.password}
  target ClickHouse ${target.url}  native 127.0.0.1:${target.tcpPort}  user default  password ${target.password}
  logs              ${logs}

Migrate the demo database:

  curl -s -X POST ${apiUrl}/migrations -H 'content-type: application/json' -d '{
    "id": "demo-1",
    "source": { "url": "${source.url}", "username": "default", "password": "${source.password}", "nativePort": ${source.tcpPort} },
    "target": { "url": "${target.url}", "username": "default", "password": "${target.password}", "nativePort": ${target.tcpPort} },
    "databases": ["${DEMO_DATABASE}"]
  }'
  curl -s -X POST ${apiUrl}/migrations/demo-1/approve -H 'content-type: application/json' -d '{"step":"configure"}'
`);
  } catch (err) {
    console.error(err instanceof Error ? err.message : err);
    await stopAll(1);
  }
}

void main();

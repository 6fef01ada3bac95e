/**
 * `npm run bench`: migrates a 10-million-row table through the workflow (approvals off) on both
 * transfer paths, and compares each phase with a raw `INSERT … SELECT FROM remote()` of the same
 * data between the same servers, timed in the same run. Prints ratios; asserts nothing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection, Client } from '@temporalio/client';
import { ClickHouseConnection } from '../src/clickhouse/connection';
import { qualifiedName, quoteString } from '../src/clickhouse/sql';
import { startClickHouse, type LocalClickHouse } from '../src/dev/clickhouse-server';
import { freePort } from '../src/dev/ports';
import { startTemporal } from '../src/dev/temporal-server';
import { deriveKey, seal } from '../src/secrets';
import { TASK_QUEUE, WORKFLOW_TYPE, type MigrationInput, type MigrationReport, type MigrationState } from '../src/workflows/types';

const ROWS = Number(process.env.BENCH_ROWS ?? 10_000_000);
/** Partitions copied at once; the product's default unless BENCH_PARALLELISM says otherwise. */
const PARALLELISM = Number(process.env.BENCH_PARALLELISM ?? 2);
const DB = 'bench';
const SECRET = randomBytes(24).toString('hex');
const root = join(__dirname, '..');

const seconds = (ms: number) => (ms / 1000).toFixed(2);
const ratio = (a: number, b: number) => (a / b).toFixed(3);

function conn(server: LocalClickHouse, label: string): ClickHouseConnection {
  return new ClickHouseConnection({ url: server.url, username: server.username, password: server.password }, { label, secrets: [] });
}

async function timed<T>(work: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const began = performance.now();
  const value = await work();
  return { ms: performance.now() - began, value };
}

const EVENTS_DDL = (table: string) => `CREATE TABLE ${table} (
  event_date Date, event_time DateTime, user_id UInt64, session_id UInt64,
  kind String, url String, amount Float64, flags UInt32
) ENGINE = MergeTree PARTITION BY toYYYYMM(event_date) ORDER BY (event_date, user_id)`;

/** The worker as its own process; the peak RSS of its node process is sampled on request. */
class WorkerProcess {
  private readonly child: ChildProcess;
  private timer?: NodeJS.Timeout;
  peakBytes = 0;

  constructor(temporalAddress: string, logFile: string) {
    // The worker as it is deployed: compiled, with the workflow bundle made ahead of time (scripts/bench.sh builds both).
    this.child = spawn(process.execPath, [join(root, 'dist', 'worker.js')], {
      cwd: root,
      env: { ...process.env, TEMPORAL_ADDRESS: temporalAddress, MIGRATOR_SECRET_KEY: SECRET, WORKFLOW_BUNDLE_PATH: join(root, 'dist', 'workflow-bundle.js') },
      stdio: ['ignore', 'ignore', openSync(logFile, 'a')],
      detached: true,
    });
  }

  /** RSS of the node processes in the worker's process group (the worker itself). */
  private rss(): number {
    let biggest = 0;
    for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        if (Number(fields[2]) !== this.child.pid) continue;
        const status = readFileSync(`/proc/${pid}/status`, 'utf8');
        if (!/^Name:\s+node/m.test(status)) continue;
        biggest = Math.max(biggest, Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024);
      } catch {
        // the process ended while we looked
      }
    }
    return biggest;
  }

  startSampling(): void {
    this.peakBytes = 0;
    this.timer = setInterval(() => (this.peakBytes = Math.max(this.peakBytes, this.rss())), 100);
  }

  stopSampling(): void {
    clearInterval(this.timer);
  }

  stop(): void {
    try {
      process.kill(-(this.child.pid as number), 'SIGTERM');
    } catch {
      // already gone
    }
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'clickhouse-migrator-bench-'));
  const stops: (() => Promise<void>)[] = [];
  let worker: WorkerProcess | undefined;
  try {
    const temporal = await startTemporal({ port: await freePort(), uiPort: await freePort(), logFile: join(dir, 'temporal.log') });
    stops.push(temporal.stop);
    const servers: LocalClickHouse[] = [];
    for (const name of ['source', 'target']) {
      const server = await startClickHouse({ name, dir: join(dir, name), httpPort: await freePort(), tcpPort: await freePort(), username: 'default', password: `${name}-${randomBytes(4).toString('hex')}` });
      stops.push(server.stop);
      servers.push(server);
    }
    const [sourceServer, targetServer] = servers;
    const source = conn(sourceServer, 'source');
    const target = conn(targetServer, 'target');

    console.log(`generating ${ROWS} rows on the source…`);
    await source.exec(`CREATE DATABASE ${DB}`);
    await source.exec(EVENTS_DDL(qualifiedName(DB, 'events')));
    const generated = await timed(() =>
      source.exec(
        `INSERT INTO ${qualifiedName(DB, 'events')}
         SELECT toDate('2025-01-01') + intDiv(number * 365, ${ROWS}) AS event_date, toDateTime(event_date) + (number % 86400),
                cityHash64(number) % 1000000, intDiv(number, 7), ['view', 'click', 'cart', 'buy'][number % 4 + 1],
                concat('https://shop.example/p/', toString(number % 100000)), (number % 100000) / 100, number % 1024
         FROM system.numbers LIMIT ${ROWS}`,
      ),
    );
    await source.exec(`OPTIMIZE TABLE ${qualifiedName(DB, 'events')} FINAL`);
    const [size] = await source.rows<{ partitions: string; bytes: string; disk: string }>(
      `SELECT uniqExact(partition_id) AS partitions, sum(data_uncompressed_bytes) AS bytes, sum(bytes_on_disk) AS disk
       FROM system.parts WHERE active AND database = '${DB}' AND table = 'events'`,
    );
    const mib = Number(size.bytes) / 2 ** 20;
    console.log(`source: ${ROWS} rows, ${size.partitions} partitions, ${mib.toFixed(0)} MiB uncompressed, ${(Number(size.disk) / 2 ** 20).toFixed(0)} MiB on disk (generated in ${seconds(generated.ms)} s)`);

    // The baseline: the copy the servers can do on their own. Its median of three runs, since
    // one run on two shared cores varies by ±10 %.
    const remote = `remote(${[`127.0.0.1:${sourceServer.tcpPort}`, DB, 'events', sourceServer.username, sourceServer.password].map(quoteString).join(', ')})`;
    const baselines: number[] = [];
    for (let i = 0; i < 3; i++) {
      await target.exec(`CREATE DATABASE baseline`);
      await target.exec(EVENTS_DDL(qualifiedName('baseline', 'events')));
      baselines.push((await timed(() => target.exec(`INSERT INTO ${qualifiedName('baseline', 'events')} SELECT * FROM ${remote}`))).ms);
      await target.exec(`DROP DATABASE baseline`);
    }
    const baseline = { ms: [...baselines].sort((a, b) => a - b)[1] };
    console.log(`baseline: INSERT … SELECT FROM remote() in ${seconds(baseline.ms)} s (median of ${baselines.map(seconds).join(', ')} s)`);

    const client = new Client({ connection: await Connection.connect({ address: temporal.address }) });
    worker = new WorkerProcess(temporal.address, join(dir, 'worker.log'));
    const key = deriveKey(SECRET);
    const input = (id: string, overrides: Partial<MigrationInput> = {}, nativePort = sourceServer.tcpPort): MigrationInput => ({
      id,
      source: { url: sourceServer.url, username: sourceServer.username, password: seal(sourceServer.password, key), nativePort },
      target: { url: targetServer.url, username: targetServer.username, password: seal(targetServer.password, key), nativePort: targetServer.tcpPort },
      databases: [DB],
      approvals: { required: false },
      options: { onConflict: 'fail', parallelism: PARALLELISM, syncPasses: 3 },
      ...overrides,
    });
    const run = async (migration: MigrationInput) => {
      const handle = await client.workflow.start(WORKFLOW_TYPE, { taskQueue: TASK_QUEUE, workflowId: migration.id, args: [migration] });
      const { ms, value } = await timed(() => handle.result() as Promise<MigrationState>);
      if (value.status !== 'completed') throw new Error(`${migration.id} ended ${value.status}`);
      const report = value.steps.find((s) => s.name === 'migration')?.result as MigrationReport;
      if (!report.verification.every((t) => t.match)) throw new Error(`${migration.id}: verification failed`);
      return { ms, state: value, report };
    };

    // Warm-up: the worker bundles the workflow code on start; a small run makes sure it polls.
    await source.exec(`CREATE DATABASE warmup`);
    await source.exec(`CREATE TABLE warmup.t (x UInt8) ENGINE = TinyLog`);
    await run({ ...input('bench-warmup'), databases: ['warmup'] });

    console.log(`migrating with parallelism ${PARALLELISM}`);
    const server = await run(input('bench-server'));
    console.log(`server path: run ${seconds(server.ms)} s, copy ${seconds(server.report.timings.copyMs)} s, verify ${seconds(server.report.timings.verifyAndSyncMs)} s (${server.state.transferPath})`);

    // Backup on a target that already holds the table: the backup step of a second run.
    const backupRun = await client.workflow.start(WORKFLOW_TYPE, {
      taskQueue: TASK_QUEUE,
      workflowId: 'bench-backup',
      args: [input('bench-backup', { approvals: { required: true }, options: { onConflict: 'replace', parallelism: 2, syncPasses: 3 } })],
    });
    let backupState: MigrationState;
    for (;;) {
      backupState = await backupRun.query<MigrationState>('state');
      if (backupState.awaitingApproval) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await backupRun.signal('reject', { step: 'configure', reason: 'benchmark measures the backup only' });
    await backupRun.result();
    const backupStep = backupState.steps[0];
    const backupMs = Date.parse(backupStep.finishedAt as string) - Date.parse(backupStep.startedAt as string);
    const snapshotRows = (backupStep.result as { totalRows: number }).totalRows;
    console.log(`backup step on a target holding ${snapshotRows} rows: ${seconds(backupMs)} s`);

    await target.exec(`DROP DATABASE ${DB}`);
    worker.startSampling();
    const stream = await run(input('bench-worker', {}, 1));
    worker.stopSampling();
    if (stream.state.transferPath !== 'worker') throw new Error('the worker path was not taken');
    console.log(`worker path: run ${seconds(stream.ms)} s, copy ${seconds(stream.report.timings.copyMs)} s, worker peak RSS ${(worker.peakBytes / 2 ** 20).toFixed(0)} MiB`);

    const copySeconds = server.report.timings.copyMs / 1000;
    console.log(`
server path copy:  ${(ROWS / copySeconds).toFixed(0)} rows/s, ${(mib / copySeconds).toFixed(1)} MiB/s (uncompressed)
worker path copy:  ${(ROWS / (stream.report.timings.copyMs / 1000)).toFixed(0)} rows/s, ${(mib / (stream.report.timings.copyMs / 1000)).toFixed(1)} MiB/s
copy phase / baseline, server path:  ${ratio(server.report.timings.copyMs, baseline.ms)}   (target ≤ 1.15)
copy phase / baseline, worker path:  ${ratio(stream.report.timings.copyMs, baseline.ms)}   (target ≤ 1.35)
whole run / baseline (server path):  ${ratio(server.ms, baseline.ms)}   (target ≤ 1.5)
backup step / baseline:              ${ratio(backupMs, baseline.ms)}   (target ≤ 0.02)
worker peak memory:                  ${(worker.peakBytes / 2 ** 20).toFixed(0)} MiB   (target ≤ 300)`);
    console.log(
      `bench: copy_ratio=${ratio(server.report.timings.copyMs, baseline.ms)} stream_ratio=${ratio(stream.report.timings.copyMs, baseline.ms)} ` +
        `total_ratio=${ratio(server.ms, baseline.ms)} backup_ratio=${ratio(backupMs, baseline.ms)} worker_peak_mib=${(worker.peakBytes / 2 ** 20).toFixed(0)}`,
    );
    await Promise.all([source.close(), target.close(), client.connection.close()]);
  } finally {
    worker?.stop();
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});

/**
 * `big`: a table of 10 million rows (12 monthly partitions) migrated on both transfer paths, a
 * backup of a target that already holds it, and two raw baselines between the same servers: one
 * `INSERT … SELECT FROM remote()` of the whole table, and the same per partition at the product's
 * parallelism (tuned).
 */
import { qualifiedName } from '../../src/clickhouse/sql';
import { rejectSignal, stateQuery } from '../../src/workflows/messages';
import { TASK_QUEUE, WORKFLOW_TYPE, type MigrationState } from '../../src/workflows/types';
import { BIG_ROWS, eventsDdl, eventsValues, forEachAtMost, timeRawCopy } from '../data';
import { medianOfThree, mib, ratio, seconds, timed } from '../report';
import { awaitRun, completedReport, reportRun, runMigration } from '../runs';
import { PARALLELISM, type Stack } from '../stack';
import type { Scenario } from './scenario';

const ROWS = BIG_ROWS;
const DB = 'bench';
/** Where the raw copies go on the target. */
const RAW_DB = 'bench_raw';

async function generate(stack: Stack): Promise<number> {
  const { source } = stack;
  console.log(`generating ${ROWS} rows on the source…`);
  await source.exec(`CREATE DATABASE ${DB}`);
  await source.exec(eventsDdl(qualifiedName(DB, 'events')));
  const generated = await timed(() =>
    source.exec(
      `INSERT INTO ${qualifiedName(DB, 'events')}
       SELECT ${eventsValues(ROWS)}
       FROM system.numbers LIMIT ${ROWS}`,
    ),
  );
  await source.exec(`OPTIMIZE TABLE ${qualifiedName(DB, 'events')} FINAL`);
  const [size] = await source.rows<{ partitions: string; bytes: string; disk: string }>(
    `SELECT uniqExact(partition_id) AS partitions, sum(data_uncompressed_bytes) AS bytes, sum(bytes_on_disk) AS disk
     FROM system.parts WHERE active AND database = '${DB}' AND table = 'events'`,
  );
  console.log(`source: ${ROWS} rows, ${size.partitions} partitions, ${mib(Number(size.bytes))} MiB uncompressed, ${mib(Number(size.disk))} MiB on disk (generated in ${seconds(generated.ms)} s)`);
  return Number(size.bytes) / 2 ** 20;
}

/** The raw copy of the whole table into a fresh table: in one statement, or per partition at the product's parallelism. */
async function rawCopy(stack: Stack, perPartition: boolean): Promise<number> {
  const { source, target } = stack;
  const months = (await source.rows<{ partition: string }>(`SELECT DISTINCT partition FROM system.parts WHERE active AND database = '${DB}' AND table = 'events' ORDER BY partition`)).map((p) => p.partition);
  const into = `INSERT INTO ${qualifiedName(RAW_DB, 'events')} SELECT * FROM ${stack.remote(DB, 'events')}`;
  return timeRawCopy(target, RAW_DB, ROWS, {
    prepare: () => target.exec(eventsDdl(qualifiedName(RAW_DB, 'events'))),
    copy: () => (perPartition ? forEachAtMost(months, PARALLELISM, (month) => target.exec(`${into} WHERE toYYYYMM(event_date) = ${Number(month)}`)) : target.exec(into)),
  });
}

/** The backup step of a run on a target that already holds the table; the run is then rejected. */
async function backupOfFullTarget(stack: Stack): Promise<{ ms: number; rows: number }> {
  const handle = await stack.client.workflow.start(WORKFLOW_TYPE, {
    taskQueue: TASK_QUEUE,
    workflowId: 'bench-backup',
    args: [stack.input('bench-backup', [DB], { approvals: { required: true }, options: { onConflict: 'replace', parallelism: PARALLELISM, syncPasses: 3 } })],
  });
  const began = performance.now();
  let state: MigrationState;
  for (;;) {
    state = await handle.query(stateQuery);
    if (state.awaitingApproval) break;
    if (performance.now() - began > 600_000) throw new Error('bench-backup: no approval awaited after 600 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  await handle.signal(rejectSignal, { step: 'configure', reason: 'benchmark measures the backup only' });
  await awaitRun(handle, began);
  const step = state.steps[0];
  return { ms: Date.parse(step.finishedAt as string) - Date.parse(step.startedAt as string), rows: (step.result as { totalRows: number }).totalRows };
}

export const bigScenario: Scenario = {
  name: 'big',
  fields: ['copy_ratio', 'stream_ratio', 'total_ratio', 'backup_ratio', 'worker_peak_mib', 'tuned_copy_ratio'],
  async run(stack, summary) {
    const mibs = await generate(stack);
    const baseline = await medianOfThree('baseline: INSERT … SELECT FROM remote()', () => rawCopy(stack, false));
    const tuned = await medianOfThree(`tuned baseline: INSERT … SELECT FROM remote() per partition, ${PARALLELISM} at once,`, () => rawCopy(stack, true));

    console.log(`migrating with parallelism ${PARALLELISM}`);
    const server = await runMigration(stack, stack.input('bench-server', [DB]));
    await reportRun(stack, 'server path', server);
    const serverReport = completedReport(server);
    summary.copy_ratio = ratio(serverReport.timings.copyMs, baseline);
    summary.total_ratio = ratio(server.ms, baseline);
    summary.tuned_copy_ratio = ratio(serverReport.timings.copyMs, tuned);

    const backup = await backupOfFullTarget(stack);
    console.log(`backup step on a target holding ${backup.rows} rows: ${seconds(backup.ms)} s`);
    summary.backup_ratio = ratio(backup.ms, baseline);

    await stack.target.exec(`DROP DATABASE ${DB}`);
    const peak = stack.worker.measurePeak();
    const stream = await runMigration(stack, stack.input('bench-worker', [DB], {}, 1));
    const peakBytes = peak();
    const streamReport = completedReport(stream);
    if (stream.state?.transferPath !== 'worker') throw new Error('the worker path was not taken');
    console.log(`worker path: run ${seconds(stream.ms)} s, copy ${seconds(streamReport.timings.copyMs)} s, worker peak RSS ${mib(peakBytes)} MiB`);
    summary.stream_ratio = ratio(streamReport.timings.copyMs, baseline);
    summary.worker_peak_mib = mib(peakBytes);

    const copySeconds = serverReport.timings.copyMs / 1000;
    const streamSeconds = streamReport.timings.copyMs / 1000;
    console.log(`
server path copy:  ${(ROWS / copySeconds).toFixed(0)} rows/s, ${(mibs / copySeconds).toFixed(1)} MiB/s (uncompressed)
worker path copy:  ${(ROWS / streamSeconds).toFixed(0)} rows/s, ${(mibs / streamSeconds).toFixed(1)} MiB/s
copy phase / baseline, server path:  ${summary.copy_ratio}   (target ≤ 1.15)
copy phase / tuned baseline:         ${summary.tuned_copy_ratio}   (target ≤ 1.10)
copy phase / baseline, worker path:  ${summary.stream_ratio}   (target ≤ 1.35)
whole run / baseline (server path):  ${summary.total_ratio}   (target ≤ 1.5)
backup step / baseline:              ${summary.backup_ratio}   (target ≤ 0.02)
worker peak memory:                  ${summary.worker_peak_mib} MiB   (target ≤ 200)`);
  },
};

/**
 * `throttle`: the `big` table (BENCH_ROWS rows, 12 monthly partitions) migrated on each transfer
 * path under `maxBytesPerSecond` (BENCH_THROTTLE_MIB, 20 MiB/s by default), and the rate each copy
 * reached against that limit: the bytes the source's catalogue holds (uncompressed, as the run
 * counts them) over the copy phase, measured here, and the run's own `state.rate` beside it.
 * The issue asks for reached/limit within ±10 % on both paths; on two shared cores it is noisy.
 */
import { qualifiedName, quoteString } from '../../src/clickhouse/sql';
import { BIG_ROWS, databaseRows, eventsDdl, eventsValues } from '../data';
import { mib, seconds, timed } from '../report';
import { completedReport, reportRun, runMigration } from '../runs';
import { PARALLELISM, type Stack } from '../stack';
import type { Scenario } from './scenario';

const DB = 'bench_throttle';
const LIMIT = Number(process.env.BENCH_THROTTLE_MIB ?? 20) * 2 ** 20;

async function generate(stack: Stack): Promise<{ rows: number; bytes: number }> {
  const { source } = stack;
  await source.exec(`CREATE DATABASE ${DB}`);
  await source.exec(eventsDdl(qualifiedName(DB, 'events')));
  const generated = await timed(() => source.exec(`INSERT INTO ${qualifiedName(DB, 'events')} SELECT ${eventsValues(BIG_ROWS)} FROM system.numbers LIMIT ${BIG_ROWS}`));
  await source.exec(`OPTIMIZE TABLE ${qualifiedName(DB, 'events')} FINAL`);
  const [size] = await source.rows<{ bytes: string }>(`SELECT sum(data_uncompressed_bytes) AS bytes FROM system.parts WHERE active AND database = ${quoteString(DB)}`);
  const rows = await databaseRows(source, DB);
  console.log(`source: ${rows} rows, ${mib(Number(size.bytes))} MiB uncompressed (generated in ${seconds(generated.ms)} s); limit ${mib(LIMIT)} MiB/s: about ${(Number(size.bytes) / LIMIT).toFixed(0)} s of copy`);
  return { rows, bytes: Number(size.bytes) };
}

/** One throttled run on `path`; returns reached/limit as measured here. */
async function throttledRun(stack: Stack, path: 'server' | 'worker', data: { rows: number; bytes: number }): Promise<string> {
  const input = stack.input(`bench-throttle-${path}`, [DB], { options: { onConflict: 'fail', parallelism: PARALLELISM, syncPasses: 3, maxBytesPerSecond: LIMIT } }, path === 'worker' ? 1 : undefined);
  const outcome = await runMigration(stack, input);
  await reportRun(stack, `${path} path, throttled`, outcome);
  const report = completedReport(outcome);
  if (report.transferPath !== path) throw new Error(`the ${path} path was not taken`);
  const copied = await databaseRows(stack.target, DB);
  if (copied !== data.rows) throw new Error(`the target holds ${copied} rows, the source ${data.rows}`);
  const reached = data.bytes / (report.timings.copyMs / 1000);
  const rate = outcome.state?.rate;
  console.log(
    `${path} path: copy ${seconds(report.timings.copyMs)} s, ${mib(reached)} MiB/s (${(reached / 2 ** 20).toFixed(2)}) against ${mib(LIMIT)} MiB/s: reached/limit ${(reached / LIMIT).toFixed(3)}   (target 0.9–1.1); ` +
      `state.rate ${rate?.bytesPerSecond === null || rate === undefined ? 'n/a' : `${(rate.bytesPerSecond / 2 ** 20).toFixed(2)} MiB/s, ${rate.rowsPerSecond} rows/s`}`,
  );
  await stack.target.exec(`DROP DATABASE ${DB}`);
  return (reached / LIMIT).toFixed(3);
}

export const throttleScenario: Scenario = {
  name: 'throttle',
  fields: ['throttle_server_ratio', 'throttle_worker_ratio'],
  async run(stack, summary) {
    const data = await generate(stack);
    summary.throttle_server_ratio = await throttledRun(stack, 'server', data);
    summary.throttle_worker_ratio = await throttledRun(stack, 'worker', data);
    await stack.source.exec(`DROP DATABASE ${DB}`);
  },
};

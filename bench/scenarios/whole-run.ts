import { databaseRows } from '../data';
import { mib, ratio, seconds } from '../report';
import { completedReport, reportRun, runMigration } from '../runs';
import type { Stack } from '../stack';

/**
 * A whole run (approvals off) of one database, against the raw copy of the same data timed
 * before it: prints the run's figures and the worker's peak memory, checks the rows on the
 * target, and returns the run's wall time over the raw time.
 */
export async function wholeRunAgainstRaw(stack: Stack, options: { label: string; id: string; database: string; rawMs: number; rows: number }): Promise<string> {
  const peak = stack.worker.measurePeak();
  const outcome = await runMigration(stack, stack.input(options.id, [options.database]));
  const peakBytes = peak();
  await reportRun(stack, options.label, outcome);
  console.log(`  worker peak RSS during the run: ${mib(peakBytes)} MiB`);
  completedReport(outcome);
  const rows = await databaseRows(stack.target, options.database);
  if (rows !== options.rows) throw new Error(`${options.id}: the target holds ${rows} rows, the source ${options.rows}`);
  const result = ratio(outcome.ms, options.rawMs);
  console.log(`  ${options.label}: run ${seconds(outcome.ms)} s / raw ${seconds(options.rawMs)} s = ${result}`);
  return result;
}

/**
 * `npm run bench`: migrations through the workflow, each against a raw copy of the same data
 * between the same servers, timed in the same run (see the scenarios in bench/scenarios/). Prints
 * each scenario's figures as it finishes and one summary line at the end; asserts nothing.
 *
 * BENCH_SCENARIOS picks a subset, in this order: big, many-tables, many-partitions, approvals, load,
 * throttle, rollback, replacing. By default (or `all`) every scenario runs but the opt-in ones (rollback,
 * replacing), which run only when named.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { logTail } from '../src/dev/processes';
import { QUERY_LOG } from './query-log';
import { seconds, summaryLine, timed, type Summary } from './report';
import { runMigration } from './runs';
import { approvalsScenario } from './scenarios/approvals';
import { bigScenario } from './scenarios/big';
import { loadScenario } from './scenarios/load';
import { manyPartitionsScenario } from './scenarios/many-partitions';
import { manyTablesScenario } from './scenarios/many-tables';
import { replacingScenario } from './scenarios/replacing';
import { rollbackScenario } from './scenarios/rollback';
import { throttleScenario } from './scenarios/throttle';
import type { Scenario } from './scenarios/scenario';
import { PARALLELISM, Stack } from './stack';

const SCENARIOS: Scenario[] = [bigScenario, manyTablesScenario, manyPartitionsScenario, approvalsScenario, loadScenario, throttleScenario, rollbackScenario, replacingScenario];

function selectedScenarios(setting = process.env.BENCH_SCENARIOS): Scenario[] {
  if (!setting?.trim() || setting.trim() === 'all') return SCENARIOS.filter((s) => !s.optIn);
  const names = setting.split(',').map((s) => s.trim()).filter(Boolean);
  const unknown = names.filter((name) => !SCENARIOS.some((s) => s.name === name));
  if (unknown.length) throw new Error(`BENCH_SCENARIOS: unknown ${unknown.join(', ')}; choose from ${SCENARIOS.map((s) => s.name).join(', ')}`);
  return SCENARIOS.filter((s) => names.includes(s.name));
}

/** The warnings and errors the worker logged since `from` (a byte offset of its log), the first few of each kind. */
function printWorkerWarnings(logFile: string, from: number): void {
  // eslint-disable-next-line no-control-regex
  const lines = readFileSync(logFile).subarray(from).toString('utf8').replace(/\x1b\[[0-9;]*m/g, '').split('\n');
  const notable = lines.filter((line) => /\b(WARN|ERROR)\b/.test(line));
  if (notable.length === 0) return;
  const kinds = new Map<string, { first: string; times: number }>();
  for (const line of notable) {
    const kind = line.replace(/^\S+\s+/, '').replace(/\d+/g, 'N').slice(0, 80);
    const seen = kinds.get(kind) ?? { first: line.trim(), times: 0 };
    seen.times++;
    kinds.set(kind, seen);
  }
  console.log(`  the worker logged ${notable.length} warnings or errors:`);
  for (const { first, times } of [...kinds.values()].slice(0, 5)) console.log(`    ×${times} ${first.slice(0, 400)}`);
}

/** A first run: the worker loads the workflow bundle and starts polling. */
async function warmUp(stack: Stack): Promise<void> {
  await stack.source.exec(`CREATE DATABASE warmup`);
  await stack.source.exec(`CREATE TABLE warmup.t (x UInt8) ENGINE = TinyLog`);
  const outcome = await runMigration(stack, stack.input('bench-warmup', ['warmup']));
  if (outcome.error) throw new Error(`the warm-up run did not complete: ${outcome.error}`);
}

async function main(): Promise<number> {
  const scenarios = selectedScenarios();
  const dir = mkdtempSync(join(tmpdir(), 'clickhouse-migrator-bench-'));
  const summary: Summary = {};
  let failed = 0;
  let stack: Stack | undefined;
  try {
    stack = await Stack.start(dir);
    await warmUp(stack);
    console.log(`scenarios: ${scenarios.map((s) => s.name).join(', ')}; parallelism ${PARALLELISM}; ClickHouse data in ${stack.serverData}`);
    if (QUERY_LOG) console.log('BENCH_QUERY_LOG=1: every statement is logged, the raw copies included, and the product\'s copies are not: ratios are not comparable with other runs');
    for (const scenario of scenarios) {
      console.log(`\n== ${scenario.name} ==`);
      const logStart = statSync(stack.worker.logFile).size;
      try {
        const { ms } = await timed(() => scenario.run(stack as Stack, summary));
        printWorkerWarnings(stack.worker.logFile, logStart);
        console.log(`== ${scenario.name}: done in ${seconds(ms)} s ==`);
      } catch (err) {
        failed++;
        for (const field of scenario.fields) summary[field] ??= 'failed';
        printWorkerWarnings(stack.worker.logFile, logStart);
        console.log(`== ${scenario.name}: FAILED: ${err instanceof Error ? err.message : String(err)} ==`);
        console.log(`last lines of the worker's log:\n${logTail(stack.worker.logFile, 15)}`);
      }
    }
    console.log('');
    console.log(summaryLine(summary));
  } finally {
    await stack?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return failed > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  },
);

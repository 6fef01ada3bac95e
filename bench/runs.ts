/**
 * Runs of the product as the benchmark drives them: start a run, wait for its end with a deadline
 * (a run past it is cut short and terminated), and read where its time went from its state and
 * its history.
 */
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { stateQuery } from '../src/workflows/messages';
import { TASK_QUEUE, WORKFLOW_TYPE, type MigrationInput, type MigrationReport, type MigrationState, type ValidationReport } from '../src/workflows/types';
import { historyFigures, type HistoryFigures } from './history';
import { busiestStatements, QUERY_LOG } from './query-log';
import { kib, mib, seconds } from './report';
import type { Stack } from './stack';

/** How long one product run may take before the benchmark cuts it short. */
export const RUN_TIMEOUT_MS = Number(process.env.BENCH_RUN_TIMEOUT_S ?? 600) * 1000;

export interface RunOutcome {
  id: string;
  handle: WorkflowHandle;
  /** When the start request was sent (wall clock). */
  startedAtMs: number;
  /** Wall time from the start request to the end (or to the cut). */
  ms: number;
  /** The final state (the run's result), or the last one queried when it did not complete. */
  state: MigrationState | null;
  /** Why the run did not complete, in the product's words; null when it completed. */
  error: string | null;
}

const describeError = (err: unknown): string =>
  err instanceof WorkflowFailedError && err.cause ? `${err.cause.name}: ${err.cause.message}` : err instanceof Error ? err.message : String(err);

function progressOf(state: MigrationState | null): string {
  if (!state) return 'no state';
  const p = state.progress;
  return `status ${state.status}, step ${state.currentStep ?? '-'}, tables ${p.tablesDone}/${p.tablesTotal}, units ${p.unitsDone}/${p.unitsTotal}, rows ${p.rowsCopied}/${p.rowsTotal}`;
}

/** Waits for a started run to end; past `timeoutMs` it terminates the run and says how far it got. */
export async function awaitRun(handle: WorkflowHandle, startedAt: number, timeoutMs = RUN_TIMEOUT_MS): Promise<RunOutcome> {
  const id = handle.workflowId;
  const startedAtMs = Date.now() - (performance.now() - startedAt);
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'deadline'>((resolve) => (timer = setTimeout(() => resolve('deadline'), Math.max(0, startedAt + timeoutMs - performance.now()))));
  try {
    const ended = await Promise.race([handle.result().then((state: MigrationState) => ({ state }), (error: unknown) => ({ error })), deadline]);
    const ms = performance.now() - startedAt;
    if (ended === 'deadline') {
      const state = await handle.query(stateQuery).catch(() => null);
      await handle.terminate(`the benchmark cut the run short after ${seconds(ms)} s`).catch(() => undefined);
      return { id, handle, startedAtMs, ms, state, error: `cut short after ${seconds(ms)} s (${progressOf(state)})` };
    }
    if ('error' in ended) {
      const state = await handle.query(stateQuery).catch(() => null);
      return { id, handle, startedAtMs, ms, state, error: describeError(ended.error) };
    }
    const error = ended.state.status === 'completed' ? null : `ended ${ended.state.status}: ${ended.state.error?.message ?? ''}`;
    return { id, handle, startedAtMs, ms, state: ended.state, error };
  } finally {
    clearTimeout(timer);
  }
}

/** Starts a run through the Temporal client; `began` (performance.now()) is when the request was sent, for {@link awaitRun}. */
export async function startRun(stack: Stack, input: MigrationInput): Promise<{ handle: WorkflowHandle; began: number }> {
  const began = performance.now();
  const handle = await stack.client.workflow.start(WORKFLOW_TYPE, { taskQueue: TASK_QUEUE, workflowId: input.id, args: [input] });
  return { handle, began };
}

/** Starts a run through the Temporal client and waits for its end. */
export async function runMigration(stack: Stack, input: MigrationInput, timeoutMs = RUN_TIMEOUT_MS): Promise<RunOutcome> {
  const { handle, began } = await startRun(stack, input);
  return awaitRun(handle, began, timeoutMs);
}

/** The migration report of a completed run whose verification matched; throws otherwise. */
export function completedReport(outcome: RunOutcome): MigrationReport {
  if (outcome.error || !outcome.state) throw new Error(`${outcome.id}: ${outcome.error ?? 'no state'}`);
  const report = outcome.state.steps.find((s) => s.name === 'migration')?.result as MigrationReport;
  if (!report.verification.every((t) => t.match)) throw new Error(`${outcome.id}: verification failed`);
  return report;
}

export interface RunFigures {
  history: HistoryFigures;
  /** From describe(): what the server counts. */
  described: { length: number; bytes: number | null };
  /** JSON bytes of the `state` query's answer, and how long the query took. */
  stateBytes: number | null;
  stateQueryMs: number | null;
}

/** History length and size, and the size of the state document, of a run that has ended. */
export async function runFigures(stack: Stack, outcome: RunOutcome): Promise<RunFigures> {
  const [history, description] = await Promise.all([outcome.handle.fetchHistory(), outcome.handle.describe()]);
  const began = performance.now();
  const state = await outcome.handle.query(stateQuery).catch(() => null);
  const stateQueryMs = state ? performance.now() - began : null;
  return {
    history: await historyFigures(stack.client, history),
    described: { length: description.historyLength, bytes: description.historySize ?? null },
    stateBytes: state ? Buffer.byteLength(JSON.stringify(state)) : null,
    stateQueryMs,
  };
}

const between = (from: string | null | number, to: string | null | number): string => {
  const a = typeof from === 'string' ? Date.parse(from) : from;
  const b = typeof to === 'string' ? Date.parse(to) : to;
  return a === null || b === null || Number.isNaN(a) || Number.isNaN(b) ? '-' : `${seconds(b - a)} s`;
};

/** Prints where a run's time went: per step (workflow time), inside the steps, and its history and state sizes. */
export function printRunFigures(label: string, outcome: RunOutcome, figures: RunFigures | null): void {
  const state = outcome.state;
  console.log(`${label}: run ${seconds(outcome.ms)} s, ${outcome.error ? `NOT COMPLETED: ${outcome.error}` : 'completed'}`);
  if (state) {
    const step = (name: string) => state.steps.find((s) => s.name === name);
    const parts = state.steps.map((s) => `${s.name} ${between(s.startedAt, s.finishedAt)}${s.status === 'completed' ? '' : ` (${s.status})`}`);
    const backupStart = step('backup')?.startedAt ?? null;
    const migrationEnd = step('migration')?.finishedAt ?? null;
    console.log(
      `  steps: start→backup ${between(figures?.history.firstEventMs ?? null, backupStart)}, ${parts.join(', ')}, ` +
        `migration end→run closed ${between(migrationEnd, outcome.error ? null : (figures?.history.lastEventMs ?? null))}`,
    );
    const validation = step('validation')?.result as ValidationReport | undefined;
    if (validation?.timings) console.log(`  validation: inventory ${seconds(validation.timings.inventoryMs)} s, trial copy ${seconds(validation.timings.trialMs)} s`);
    const report = step('migration')?.result as MigrationReport | undefined;
    if (report?.timings) {
      console.log(
        `  migration: schema ${seconds(report.timings.schemaMs)} s, copy ${seconds(report.timings.copyMs)} s, verify and sync ${seconds(report.timings.verifyAndSyncMs)} s ` +
          `(${report.copied.units} units, ${report.copied.rows} rows, ${report.resynced.length} sync passes, path ${report.transferPath})`,
      );
    }
  }
  if (!figures) return;
  const h = figures.history;
  console.log(
    `  history: ${h.events} events, ${h.bytes} bytes (${mib(h.bytes)} MiB); describe(): historyLength ${figures.described.length}, historySize ${figures.described.bytes ?? 'n/a'} bytes; ` +
      `largest event ${h.largestEvent.type} ${kib(h.largestEvent.bytes)} KiB`,
  );
  console.log(`  events by type: ${h.counts.slice(0, 8).map(([type, n]) => `${type} ${n}`).join(', ')}`);
  for (const f of h.failures) console.log(`  in the history: ${f.kind} ×${f.times}: ${f.message}`);
  const activities = h.activities.slice(0, 5).map((a) => `${a.type} ×${a.count} ran ${seconds(a.runningMs)} s, waited ${seconds(a.queuedMs)} s`);
  console.log(`  activities (summed over their attempts' last starts): ${activities.join('; ')}`);
  if (process.env.BENCH_TIMELINE === '1') {
    const ms = (n: number) => (Number.isNaN(n) ? '-' : String(Math.round(n)));
    for (const t of h.timeline.slice(0, 60)) console.log(`    ${ms(t.scheduledMs).padStart(6)} ${ms(t.startedMs).padStart(6)} ${ms(t.closedMs).padStart(6)} ms  ${t.what}`);
  }
  console.log(
    `  state document: ${figures.stateBytes === null ? 'the state query failed' : `${figures.stateBytes} bytes of JSON (${kib(figures.stateBytes)} KiB), query answered in ${figures.stateQueryMs?.toFixed(0)} ms`}`,
  );
}

/** Reads and prints a run's figures, and returns them; a failure to read them is printed, not thrown (then null). */
export async function reportRun(stack: Stack, label: string, outcome: RunOutcome): Promise<RunFigures | null> {
  const read = await runFigures(stack, outcome).catch((err: unknown) => describeError(err));
  const figures = typeof read === 'string' ? null : read;
  printRunFigures(label, outcome, figures);
  if (typeof read === 'string') console.log(`  history figures unavailable: ${read}`);
  if (QUERY_LOG) await printBusiestStatements(stack, outcome);
  return figures;
}

/** With BENCH_QUERY_LOG=1: the statement shapes of the run that took the most server time, on each side. */
async function printBusiestStatements(stack: Stack, outcome: RunOutcome): Promise<void> {
  for (const [side, conn] of [['source', stack.source], ['target', stack.target]] as const) {
    const lines = await busiestStatements(conn, outcome.id, outcome.startedAtMs, outcome.startedAtMs + outcome.ms).catch((err: unknown) => [describeError(err)]);
    console.log(`  ${side} query log (copies through remote() run with log_queries = 0 and are not in it): ${lines.join('\n    ')}`);
  }
}

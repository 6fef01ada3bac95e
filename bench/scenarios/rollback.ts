/**
 * `rollback` (opt-in: only when BENCH_SCENARIOS names it): what undoing a run costs at 1,000
 * tables. The source holds 1,000 item tables and 50 more; the target already holds the same 1,000
 * tables with rows of its own, so the restore point captures 1,000 tables, the run copies into
 * them (`onConflict: 'replace'`) and creates the 50. Once every unit is copied the run is
 * cancelled: its rollback restores 1,000 tables and drops 50. Times, from the history, the
 * rollback activities (scheduled to closed) and the cancel request to the run's close; then checks
 * with the bench's own counts and checksums that a sample of the target tables is as before the
 * run, and that the 50 created tables are gone.
 */
import { INTERNAL_PREFIX } from '../../src/clickhouse/scratch';
import { quoteString } from '../../src/clickhouse/sql';
import { stateQuery } from '../../src/workflows/messages';
import type { MigrationActivities } from '../../src/activities';
import type { MigrationState } from '../../src/workflows/types';
import { ENDED } from '../api-client';
import { createItemsDatabase, databaseRows, itemsDigest } from '../data';
import type { HistoryFigures } from '../history';
import { seconds, timed } from '../report';
import { awaitRun, reportRun, RUN_TIMEOUT_MS, startRun } from '../runs';
import type { Stack } from '../stack';
import type { Scenario } from './scenario';

const TABLES = Number(process.env.BENCH_ROLLBACK_TABLES ?? 1000);
const CREATED = Number(process.env.BENCH_ROLLBACK_CREATED ?? 50);
/** 1,000 rows in each of the 3 monthly partitions, as in many-tables. */
const SOURCE_ROWS = 3000;
/** The target's own rows: other ids, fewer of them, in the same 3 months. */
const TARGET_ROWS = 1500;
const TARGET_FIRST_ID = 1_000_000;
const SAMPLE = 20;
const DB = 'bench_rollback';
const ID = 'bench-rollback';
const ROLLBACK_ACTIVITY = 'rollbackToRestorePoint' satisfies keyof MigrationActivities;
/** The check of a rollback against the restore point's digests, in code that has it (after the rollback). */
const PROVE_ACTIVITY = 'proveRollback';

/** Scheduled to closed of every activity of `type` in the history, summed; null when none closed. */
function activityMs(history: HistoryFigures, type: string): { ms: number; count: number; scheduledAtMs: number } | null {
  const runs = history.timeline.filter((t) => t.what === type);
  if (runs.length === 0) return null;
  return { ms: runs.reduce((n, t) => n + (t.closedMs - t.scheduledMs), 0), count: runs.length, scheduledAtMs: history.firstEventMs + runs[0].scheduledMs };
}

/** Polls the `state` query until every unit of the copy has landed; throws if the run ends first or by the deadline. */
async function waitUntilCopied(stack: Stack, id: string, began: number): Promise<MigrationState> {
  const handle = stack.client.workflow.getHandle(id);
  for (;;) {
    const state = await handle.query(stateQuery);
    const p = state.progress;
    if (p.unitsTotal > 0 && p.unitsDone === p.unitsTotal) return state;
    if (ENDED.includes(state.status)) throw new Error(`${id} ended ${state.status} before its copy finished: ${state.error?.message ?? ''}`);
    if (performance.now() - began > RUN_TIMEOUT_MS) throw new Error(`${id}: units ${p.unitsDone}/${p.unitsTotal} after ${RUN_TIMEOUT_MS / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Tables of `database` on the target, the migrator's own (staging and the like) apart. */
async function tablesOf(stack: Stack, database: string): Promise<{ user: string[]; internal: string[] }> {
  const rows = await stack.target.rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = ${quoteString(database)}`);
  const names = rows.map((r) => r.name);
  return { user: names.filter((n) => !n.startsWith(INTERNAL_PREFIX)), internal: names.filter((n) => n.startsWith(INTERNAL_PREFIX)) };
}

export const rollbackScenario: Scenario = {
  name: 'rollback',
  fields: ['rollback_s', 'rollback_prove_s', 'rollback_cancel_to_end_s'],
  optIn: true,
  async run(stack, summary) {
    const { source, target } = stack;
    const shared = Array.from({ length: TABLES }, (_, i) => `t_${String(i).padStart(4, '0')}`);
    const created = Array.from({ length: CREATED }, (_, i) => `n_${String(i).padStart(3, '0')}`);
    const generated = await timed(() =>
      Promise.all([createItemsDatabase(source, DB, [...shared, ...created], SOURCE_ROWS), createItemsDatabase(target, DB, shared, TARGET_ROWS, TARGET_FIRST_ID)]),
    );
    const targetRowsBefore = await databaseRows(target, DB);
    console.log(
      `source: ${TABLES + CREATED} tables × 3 partitions × ${SOURCE_ROWS / 3} rows in ${DB}; target: the same ${TABLES} tables with ${TARGET_ROWS} rows of its own each ` +
        `(${targetRowsBefore} rows), not the ${CREATED} others (generated in ${seconds(generated.ms)} s)`,
    );
    const sample = Array.from({ length: Math.min(SAMPLE, TABLES) }, (_, i) => shared[Math.floor((i * TABLES) / Math.min(SAMPLE, TABLES))]);
    const before = new Map(await Promise.all(sample.map(async (t) => [t, await itemsDigest(target, DB, t)] as const)));
    const databasesBefore = (await target.rows<{ name: string }>(`SELECT name FROM system.databases`)).map((r) => r.name);

    const input = stack.input(ID, [DB]);
    const { handle, began } = await startRun(stack, { ...input, options: { ...input.options, onConflict: 'replace' } });
    let copied: MigrationState;
    try {
      copied = await waitUntilCopied(stack, ID, began);
    } catch (err) {
      await handle.terminate('the benchmark gave up waiting for the copy').catch(() => undefined);
      throw err;
    }
    const cancelSent = performance.now();
    await handle.cancel();
    console.log(
      `  every unit copied (${copied.progress.unitsDone}/${copied.progress.unitsTotal} units, ${copied.progress.rowsCopied} rows) after ${seconds(cancelSent - began)} s: cancel sent`,
    );
    const outcome = await awaitRun(handle, began);
    const cancelToResultMs = performance.now() - cancelSent;
    const figures = await reportRun(stack, 'rollback run', outcome);
    if (!figures) throw new Error(`${ID}: no history figures`);
    const { history } = figures;
    const status = outcome.state?.status ?? 'unknown';

    const rollback = activityMs(history, ROLLBACK_ACTIVITY);
    const prove = activityMs(history, PROVE_ACTIVITY);
    const cancelToEnd = history.cancelRequestedMs === null ? null : history.lastEventMs - history.cancelRequestedMs;
    summary.rollback_s = rollback ? seconds(rollback.ms) : 'n/a';
    summary.rollback_prove_s = prove ? seconds(prove.ms) : 'n/a';
    summary.rollback_cancel_to_end_s = cancelToEnd === null ? 'n/a' : seconds(cancelToEnd);
    const at = (ms: number | null | undefined) => (ms === null || ms === undefined || history.cancelRequestedMs === null ? '-' : `+${seconds(ms - history.cancelRequestedMs)} s`);
    console.log(
      `  after the cancel request (history): ${ROLLBACK_ACTIVITY} scheduled ${at(rollback?.scheduledAtMs)}${rollback && rollback.count > 1 ? ` (×${rollback.count})` : ''}, ` +
        `${PROVE_ACTIVITY} scheduled ${at(prove?.scheduledAtMs)}${prove && prove.count > 1 ? ` (×${prove.count})` : ''}, run closed ${at(history.lastEventMs)}; ` +
        `the bench saw the result ${seconds(cancelToResultMs)} s after sending the cancel`,
    );
    const report = outcome.state?.rollback;
    if (report) {
      const counts = report.counts ?? { dropped: report.dropped.length, restored: report.restored.length, verified: report.verified.length, matched: report.verified.filter((t) => t.match).length };
      console.log(`  rollback report: dropped ${counts.dropped}, restored ${counts.restored}, verified ${counts.verified}, matched ${counts.matched}`);
    }
    if (outcome.state?.error) console.log(`  state error: ${outcome.state.error.type ?? ''} ${outcome.state.error.message}`);

    const problems: string[] = [];
    const after = await Promise.all(sample.map(async (t) => [t, await itemsDigest(target, DB, t).catch((err: Error) => err.message)] as const));
    const differing = after.filter(([t, digest]) => digest !== before.get(t));
    for (const [t, digest] of differing.slice(0, 5)) console.log(`  ${DB}.${t}: before the run ${before.get(t)}, after the rollback ${digest}`);
    if (differing.length) problems.push(`${differing.length} of ${sample.length} sampled tables differ from before the run`);
    const { user, internal } = await tablesOf(stack, DB);
    const left = created.filter((t) => user.includes(t));
    if (left.length) problems.push(`${left.length} of the ${CREATED} tables the run created are still on the target`);
    const missing = shared.filter((t) => !user.includes(t));
    if (missing.length) problems.push(`${missing.length} of the ${TABLES} target tables are gone`);
    const targetRowsAfter = await databaseRows(target, DB);
    if (targetRowsAfter !== targetRowsBefore) problems.push(`the target holds ${targetRowsAfter} rows in ${DB}, ${targetRowsBefore} before the run`);
    const newDatabases = (await target.rows<{ name: string }>(`SELECT name FROM system.databases`)).map((r) => r.name).filter((d) => !databasesBefore.includes(d));
    if (internal.length || newDatabases.length) console.log(`  left on the target: ${[...internal.map((t) => `${DB}.${t}`), ...newDatabases].slice(0, 10).join(', ')}`);
    const exact = sample.length - differing.length;

    console.log(
      `rollback: tables=${TABLES} created=${CREATED} rollback_s=${summary.rollback_s} prove_s=${summary.rollback_prove_s} cancel_to_end_s=${summary.rollback_cancel_to_end_s} status=${status} ` +
        `sample_exact=${exact}/${sample.length} created_left=${left.length} target_rows=${targetRowsAfter}/${targetRowsBefore}`,
    );
    if (!rollback) problems.push(`no ${ROLLBACK_ACTIVITY} activity closed in the history`);
    if (status === 'completed') problems.push('the run completed despite the cancel: it landed after the last activity that a cancellation stops was scheduled');
    else if (status !== 'cancelled' && status !== 'rolled_back') problems.push(`the run ended ${status}`);
    if (problems.length) throw new Error(problems.join('; '));
  },
};

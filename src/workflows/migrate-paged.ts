import { ApplicationFailure } from '@temporalio/workflow';
import { long, scan, scanToEnd } from './activity-stubs';
import { firstLines, firstOfSelectedFirst } from './bounded';
import { copyRanges, inLanes, reachedRate, type CopyPass } from './copy-scheduler';
import { rangesAt, rangesOf } from './ranges';
import type { RunEnding } from './recovery';
import { replicationOf } from './replication';
import { advanceTableProgress, type TableDetails } from './table-details';
import { showDetails } from './details';
import { noteSourceReplication } from './replica-health';
import { namedList } from './markdown';
import { mergeReplicaReports } from './replica-report';
import { copiesRows, modeOf } from './transfer-modes';
import {
  DETAIL_LIMIT,
  FAILURE_TYPES,
  MANIFEST_LISTS,
  type MigrationInput,
  type MigrationReport,
  type MigrationState,
  type TableVerification,
  type ValidationReport,
  type VerifyPageResult,
} from './types';

/** Objects of the plan one verification activity compares: its verdicts stay far below the payload limit. */
const VERIFY_PAGE = 500;

/** A run whose plan is in its manifest on the target. */
interface PagedRun {
  runKey: string;
  input: MigrationInput;
  state: MigrationState;
  ending: RunEnding;
  details: TableDetails;
  /** Called before each range of units is copied (the maintenance window: see `ScheduleKeeper`). */
  beforeRange?: () => Promise<void>;
}

/**
 * The migration step of a run with a manifest: creates the schema, copies every unit, then
 * verifies and re-copies what differs, up to `syncPasses` times. The objects, the units and what
 * verification lists to copy again stay in the manifest; activities get ranges of it and answer
 * with totals and per-table verdicts, which go to the `tables` query, not to the state.
 */
export async function migrateDataPaged(run: PagedRun, plan: ValidationReport): Promise<MigrationReport> {
  const { runKey, input, state } = run;
  const endpoints = { source: input.source, target: input.target };
  const began = Date.now();
  run.ending.scope = { manifest: true, schemaCreated: false };
  // An exact rollback waits for these to end, as it does for copies; it reads what they recorded.
  const writes = run.ending.exact ? scanToEnd : scan;
  // A schema run writes no rows, so rows on the target are no conflict of its.
  const policy = run.ending.exact && copiesRows(input) ? { onConflict: input.options.onConflict } : {};
  const schema = await writes.createSchemaPaged.executeWithOptions({ summary: schemaSummary(input) }, [{ runKey, target: input.target, ...policy, ...modeOf(input), ...replicationOf(input) }]);
  run.ending.scope = { manifest: true, schemaCreated: true };
  // Only runs with `mode: "schema"` take this turn (see transfer-modes.ts).
  if (!copiesRows(input)) return verifySchemaOnly(run, plan, schema, began);
  const planned = await writes.planCopyPaged.executeWithOptions({ summary: 'plan the copy: units of partitions, grouped by size' }, [
    { runKey, ...endpoints, unitBytes: input.options.unitBytes, parallelism: input.options.parallelism },
  ]);
  state.progress = { tablesTotal: planned.tables, tablesDone: 0, unitsTotal: planned.units, unitsDone: 0, rowsTotal: planned.rows, rowsCopied: 0, bytesCopied: 0 };
  if (planned.largest) state.tableProgress = planned.largest.map((t) => ({ ...t, rowsCopied: 0, bytesCopied: 0 }));
  const pass: CopyPass = { runKey, ...endpoints, path: plan.transfer.path, parallelism: input.options.parallelism, limits: input.options, ...modeOf(input), beforeRange: run.beforeRange };
  const copyBegan = Date.now();
  state.rate = reachedRate(pass.limits, state.progress, 0);
  // Runs planned before ranges were sized by bytes recorded no cuts: they replay with `rangesOf`.
  const ranges = planned.cuts ? rangesAt(MANIFEST_LISTS.units, planned.cuts) : rangesOf([{ list: MANIFEST_LISTS.units, count: planned.units }]);
  const bulk = ranges.map((range, i) => ({ ...range, summary: planned.labels?.[i] }));
  const copied = await copyRanges(bulk, { ...pass, progress: state.progress }, (result) => {
    run.details.copied(result);
    advanceTableProgress(state.tableProgress, result);
    state.rate = reachedRate(pass.limits, state.progress, Date.now() - copyBegan);
    noteSourceReplication(state, plan, result);
    showDetails(state);
  });
  const copyEnded = Date.now();
  const { tables, resynced, replicas } = await verifyAndResync(run, pass, plan.objectCount ?? 0);
  const differing = tables.filter((t) => !t.match);
  if (differing.length > 0) {
    const named = firstLines(differing.map(differenceOf), DETAIL_LIMIT);
    throw ApplicationFailure.create({
      type: FAILURE_TYPES.verificationFailed,
      message: `source and target still differ after ${input.options.syncPasses} sync passes: ${named.join(', ')}`,
      nonRetryable: true,
    });
  }
  return {
    transferPath: plan.transfer.path,
    created: schema.names,
    copied: { ...copied, units: planned.units },
    resynced,
    verification: firstOfSelectedFirst(tables, (t) => !t.match, DETAIL_LIMIT),
    ...(replicas ? { replicas } : {}),
    counts: { created: schema.created, verified: tables.length, matched: tables.length - differing.length },
    timings: { schemaMs: copyBegan - began, copyMs: copyEnded - copyBegan, verifyAndSyncMs: Date.now() - copyEnded },
    skipped: plan.unsupported.map(({ database, name, reason }) => ({ database, name, reason })),
  };
}

/** What the schema activity does in the run's mode, for its summary. */
function schemaSummary(input: MigrationInput): string {
  const dbs = namedList(input.databases);
  return input.mode === 'data' ? `check once more that the target may be written (a data run creates nothing in ${dbs})` : `create the schema of ${dbs}`;
}

/**
 * The rest of a schema run's migration step: its objects are created; verification compares each
 * object's structure on both servers, and no row is copied.
 */
async function verifySchemaOnly(run: PagedRun, plan: ValidationReport, schema: { created: number; names: string[] }, began: number): Promise<MigrationReport> {
  const { input, state } = run;
  state.progress = { tablesTotal: 0, tablesDone: 0, unitsTotal: 0, unitsDone: 0, rowsTotal: 0, rowsCopied: 0, bytesCopied: 0 };
  const pass: CopyPass = { runKey: run.runKey, source: input.source, target: input.target, path: plan.transfer.path, parallelism: input.options.parallelism, ...modeOf(input) };
  const copyEnded = Date.now();
  const tables = (await verifyAll(run, pass, plan.objectCount ?? 0, 0)).flatMap((p) => p.tables);
  const differing = tables.filter((t) => !t.match);
  if (differing.length > 0) {
    throw ApplicationFailure.create({
      type: FAILURE_TYPES.verificationFailed,
      message: `the target's objects differ from the source's: ${firstLines(differing.map(differenceOf), DETAIL_LIMIT).join(', ')}`,
      nonRetryable: true,
    });
  }
  return {
    transferPath: plan.transfer.path,
    created: schema.names,
    copied: { rows: 0, bytes: 0, units: 0 },
    resynced: [],
    verification: firstOfSelectedFirst(tables, (t) => !t.match, DETAIL_LIMIT),
    counts: { created: schema.created, verified: tables.length, matched: tables.length },
    timings: { schemaMs: copyEnded - began, copyMs: 0, verifyAndSyncMs: Date.now() - copyEnded },
    skipped: plan.unsupported.map(({ database, name, reason }) => ({ database, name, reason })),
  };
}

/** How a table differs, for the message of a failed verification. */
function differenceOf(t: TableVerification): string {
  if (t.structure) return `${t.database}.${t.table} (${t.structure.differences.join('; ')})`;
  const defaults = (t.extraColumns ?? []).filter((c) => c.differing);
  if (defaults.length > 0) return `${t.database}.${t.table} (${defaults.map((c) => `${c.differing} rows of ${c.column} do not hold its default`).join('; ')})`;
  return t.final
    ? `${t.database}.${t.table} (reads differently with FINAL: ${t.final.sourceRows} vs ${t.final.targetRows} rows; stored ${t.sourceRows} vs ${t.targetRows})`
    : `${t.database}.${t.table} (${t.sourceRows} vs ${t.targetRows} rows)`;
}

/** Verifies every page of the plan, and copies again what differs, up to `syncPasses` times. */
async function verifyAndResync(run: PagedRun, pass: CopyPass, objects: number) {
  const resynced: MigrationReport['resynced'] = [];
  let pages = await verifyAll(run, pass, objects, 0);
  const again = () => pages.filter((p) => p.resync.units > 0).map((p) => ({ list: p.resync.list, count: p.resync.units }));
  for (let round = 1; round <= run.input.options.syncPasses && again().length > 0; round++) {
    const lists = again();
    const recopied = await copyRanges(rangesOf(lists), pass, () => undefined);
    resynced.push({
      pass: round,
      units: lists.reduce((n, l) => n + l.count, 0),
      rows: recopied.rows,
      partitions: pages.flatMap((p) => p.resync.sample).slice(0, DETAIL_LIMIT),
    });
    pages = await verifyAll(run, pass, objects, round);
  }
  return { tables: pages.flatMap((p) => p.tables), resynced, replicas: mergeReplicaReports(pages.map((p) => p.replicas)) };
}

/** One verification pass over the plan, a page of objects per activity, `parallelism` at once. */
async function verifyAll(run: PagedRun, pass: CopyPass, objects: number, round: number): Promise<VerifyPageResult[]> {
  const pages = Array.from({ length: Math.ceil(objects / VERIFY_PAGE) }, (_, page) => ({ page, from: page * VERIFY_PAGE, to: Math.min(objects, (page + 1) * VERIFY_PAGE) }));
  const results: VerifyPageResult[] = new Array(pages.length);
  await inLanes(pages, pass.parallelism, async (p) => {
    results[p.page] = await long.verifyPage.executeWithOptions({ summary: `verify objects ${p.from + 1}–${p.to} of ${objects}${round > 0 ? ` (after sync pass ${round})` : ''}` }, [
      { runKey: run.runKey, source: pass.source, target: pass.target, ...p, pass: round, ...modeOf(run.input), ...replicationOf(run.input) },
    ]);
    run.details.verified(results[p.page].tables);
  });
  return results;
}

/**
 * A run cancelled at any moment of its migration step is rolled back exactly: nothing of the run
 * stays on the target, the other client's objects and rows stay, and the tables the run copied
 * into hold what they held before it. One reference run measures the step; then a sweep of
 * cancels over its duration, and cancels aimed at each activity of the step, each on fresh
 * databases. The matrix of what each cancel hit and left is printed at the end.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { qualifiedName, quoteIdentifier } from '../../src/clickhouse/sql';
import { runKeyOf } from '../../src/workflows/state';
import type { MigrationState } from '../../src/workflows/types';
import { pendingActivities } from './fault-harness';
import { migrationInput, queryState, startMigration, startWorker, uniqueName, useTestServers, waitFor } from './harness';
import {
  ActivityTracker,
  catalogueShapes,
  checkRows,
  CLIENT_PARTITIONS,
  clientPartitionWrite,
  CLIENT_TABLE,
  clientWrites,
  COPIED_INTO,
  createSource,
  createTarget,
  createTemplates,
  databaseExists,
  expectedClientChecks,
  historyAfterCancel,
  OTHER_APP,
  OUTSIDE_CLIENT_PARTITIONS,
  phaseOf,
  renderTable,
  scratchOfRun,
  sourceWrites,
  tablesIn,
  type ActivityRecord,
  type CasePlan,
  type RowsCheck,
  type TableShape,
} from './rollback-helpers';

const servers = useTestServers({ worker: false });
const tracker = new ActivityTracker();
let worker: { stop(): Promise<void> } | undefined;
let shapes: TableShape[] = [];
let refusedShapes: string[] = [];
let template = '';

/** Cancels at these delays after the schema activity starts: the moments of the old bug. */
const EARLY_DELAYS_MS = [0, 100, 200, 300];
/**
 * Then at these fractions of the reference run's migration step (from its schema start to its last
 * verification). They stop short of its end: a run may go faster than the reference on a shared
 * machine, and the step's last activities are each aimed at (see `cases`).
 */
const SWEEP_FRACTIONS = [0.12, 0.27, 0.42, 0.6];

/** When a case cancels: a delay after the schema activity starts, or once an activity of the step has started. */
type Trigger = { kind: 'delay'; delayMs: () => number } | { kind: 'activity'; what: string; match: (r: ActivityRecord) => boolean; afterMs: number };

interface Case {
  name: string;
  trigger: Trigger;
  prepared?: Promise<Prepared>;
}

interface Prepared {
  plan: CasePlan;
  handle: WorkflowHandle;
  runKey: string;
  /** The target's tables of the case database before the run. */
  tablesBefore: string[];
  /** The independent check of every table the run copies into, before the run (the other client's partition left out). */
  before: Map<string, RowsCheck>;
}

/** One line of the matrix. */
interface MatrixRow {
  name: string;
  moment: string;
  offsetMs: string;
  inFlight: string;
  /** Activities of the run still at work on the worker when the run had ended. */
  orphans: string;
  status: string;
  runLeft: string[];
  othersIntact: boolean;
  copiedIntoRestored: boolean;
  clientPartition: string;
  /** Partitions the rollback reports discarded (`rollback.counts.discarded`), and the first few of them. */
  discards: string;
  cancelToEndMs: number | null;
}

const matrix: MatrixRow[] = [];
const reference: { stepMs: number; phases: string[] } = { stepMs: 0, phases: [] };

const whereOf = (table: string) => (table === CLIENT_PARTITIONS[0].table ? OUTSIDE_CLIENT_PARTITIONS : undefined);
const isCopy = (r: ActivityRecord) => r.type === 'copyUnitRange';
const isBulk = (r: ActivityRecord) => isCopy(r) && r.detail.startsWith('units[');

const cases: Case[] = [
  ...EARLY_DELAYS_MS.map((ms): Case => ({ name: `sweep ${ms} ms`, trigger: { kind: 'delay', delayMs: () => ms } })),
  ...SWEEP_FRACTIONS.map((f): Case => ({ name: `sweep ${Math.round(f * 100)} %`, trigger: { kind: 'delay', delayMs: () => Math.round(f * reference.stepMs) } })),
  { name: 'aimed: restore point', trigger: { kind: 'activity', what: 'the restore point', match: (r) => r.type === 'takeRestorePoint', afterMs: 0 } },
  { name: 'aimed: plan', trigger: { kind: 'activity', what: 'the copy plan', match: (r) => r.type === 'planCopyPaged', afterMs: 0 } },
  { name: 'aimed: first copy', trigger: { kind: 'activity', what: 'the first copy', match: isBulk, afterMs: 30 } },
  { name: 'aimed: verification', trigger: { kind: 'activity', what: 'the first verification', match: (r) => r.type === 'verifyPage', afterMs: 50 } },
  { name: 'aimed: sync pass', trigger: { kind: 'activity', what: 'a sync pass copy', match: (r) => isCopy(r) && r.detail.startsWith('resync_'), afterMs: 0 } },
  { name: 'aimed: verification after sync', trigger: { kind: 'activity', what: 'the verification after a sync pass', match: (r) => r.type === 'verifyPage' && !r.detail.startsWith('pass 0'), afterMs: 0 } },
];

/** The run that is not cancelled: it measures the migration step. */
const referenceCase: Pick<Case, 'prepared'> = {};

/** Builds a case's source and target, starts its run and brings it to the approval of the migration step. */
async function prepare(): Promise<Prepared> {
  const db = servers.database('rbc');
  const db2 = servers.database('rbc2');
  const plan = await createSource(servers.source, template, db, db2, shapes);
  await createTarget(servers.target, template, db);
  const before = new Map<string, RowsCheck>();
  for (const table of COPIED_INTO) before.set(table, await checkRows(servers.target, db, table, whereOf(table)));
  const tablesBefore = await tablesIn(servers.target, [db]);
  const input = migrationInput(uniqueName('rollback-cancel'), [db, db2], { options: { onConflict: 'replace', parallelism: 2, syncPasses: 3, unitBytes: 256 * 1024 } });
  const handle = await startMigration(servers.client, input);
  for (const step of ['configure', 'validation', 'migration'] as const) {
    const state = await waitFor(() => queryState(handle), (s) => s.awaitingApproval?.step === step || !['running', 'awaiting_approval'].includes(s.status), `approval of ${step}`);
    if (state.awaitingApproval?.step !== step) throw new Error(`the run ${handle.workflowId} ended before its ${step} step: ${state.status} ${JSON.stringify(state.error)}`);
    if (step !== 'migration') await handle.signal('approve', { step });
  }
  return { plan, handle, runKey: runKeyOf(handle.firstExecutionRunId), tablesBefore, before };
}

/**
 * Approves the migration step, with the source writer armed: once a bulk copy that holds
 * big_events lands, rows go into every month of the source's big_events (some months already
 * copied), so that verification finds a difference and a sync pass copies again.
 */
async function approveWithWriter(p: Prepared): Promise<{ approvedAt: number; writerDone: () => Promise<boolean> }> {
  const wf = p.handle.workflowId;
  let writer: Promise<unknown> | null = null;
  let lateClient: Promise<unknown> | null = null;
  const unhook = tracker.onChange((r) => {
    if (r.workflowId !== wf || !isBulk(r) || r.outcome !== 'completed') return;
    // The other client writes a second new partition once the copy is under way (after the plan).
    lateClient ??= clientPartitionWrite(servers.target, p.plan.db, 1);
    const copied = r.result as { tables?: { table: string }[] } | undefined;
    if (!writer && copied?.tables?.some((t) => t.table === 'big_events')) writer = sourceWrites(servers.source, p.plan.db).catch((err: unknown) => err);
  });
  const approvedAt = Date.now();
  await p.handle.signal('approve', { step: 'migration' });
  return {
    approvedAt,
    /** Waits for the writers; says whether the other client wrote its second partition. */
    writerDone: async () => {
      unhook();
      await writer;
      await lateClient;
      return lateClient !== null;
    },
  };
}

/** The migration step's restore point, once taken (`ended`) or started. */
function restorePointOf(wf: string, approvedAt: number, ended: boolean): Promise<ActivityRecord> {
  return tracker.first(wf, (r) => r.type === 'takeRestorePoint' && r.startedAt >= approvedAt && (!ended || r.endedAt !== null), 'the restore point of the migration step');
}

/** Waits until `at` (a deliberate delay that picks the cancel moment). */
function until(at: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, at - Date.now())));
}

/** Runs a case to its end: approve, let the other client write, cancel at the case's moment; records its row of the matrix and returns what the test asserts. */
async function runCase(c: Case): Promise<Record<string, unknown>> {
  const p = await (c.prepared as Promise<Prepared>);
  const wf = p.handle.workflowId;
  const { approvedAt, writerDone } = await approveWithWriter(p);
  let t0: number;
  const aimed = c.trigger.kind === 'activity' ? c.trigger : null;
  if (aimed?.what === 'the restore point') {
    // The other client writes while the restore point is being taken.
    t0 = (await restorePointOf(wf, approvedAt, false)).startedAt;
    await clientWrites(servers.target, p.plan.db);
  } else {
    await restorePointOf(wf, approvedAt, true);
    const client = clientWrites(servers.target, p.plan.db);
    t0 = (await tracker.first(wf, (r) => r.type === 'createSchemaPaged', 'the schema activity')).startedAt;
    await client;
    if (aimed) {
      const hit = await tracker.first(wf, (r) => aimed.match(r) && r.startedAt >= t0, aimed.what, 180_000);
      await until(hit.startedAt + aimed.afterMs);
    } else if (c.trigger.kind === 'delay') {
      await until(t0 + c.trigger.delayMs());
    }
  }
  const records = tracker.of(wf).filter((r) => r.startedAt >= approvedAt);
  // The clean-up of a completed step (dropStaging) has begun: this cancel would not land in the migration step.
  if (records.some((r) => r.type === 'dropStaging')) throw new Error(`the cancel of ${c.name} came after the migration step had ended (the reference took ${reference.stepMs} ms): choose earlier moments`);
  const inFlight = records.filter((r) => r.outcome === 'running');
  const bulkDone = records.filter((r) => isBulk(r) && r.outcome === 'completed').length;
  const pending = await pendingActivities(p.handle).catch(() => []);
  const clientRowsAtCancel = await Promise.all(CLIENT_PARTITIONS.map((cp) => countWhere(p.plan.db, cp.where)));
  const cancelledAt = Date.now();
  await p.handle.cancel();
  const ended = await p.handle.result().then(
    () => ({ rejected: false, at: Date.now() }),
    () => ({ rejected: true, at: Date.now() }),
  );
  const orphans = tracker.of(wf).filter((r) => r.outcome === 'running').map((r) => r.type);
  const lateWritten = await writerDone();
  // An activity the workflow stopped waiting for may still be at work: look at the target only once it has stopped.
  await waitFor(async () => tracker.of(wf).filter((r) => r.outcome === 'running').length, (n) => n === 0, `the activities of ${wf} to stop`, 60_000);
  const state = await queryState(p.handle);
  const history = await historyAfterCancel(p.handle);
  const copyStarted = tracker.of(wf).some((r) => r.startedAt >= approvedAt && isCopy(r));
  const moment = inFlight.length > 0 ? [...new Set(inFlight.map((r) => phaseOf(r, bulkDone)))].join(' + ') : `between activities (${pending.map((a) => a.type).join(', ') || 'none pending'})`;
  const found = await inspectTarget(p, state, lateWritten);
  matrix.push({
    name: c.name,
    moment,
    offsetMs: aimed?.what === 'the restore point' ? `${cancelledAt - t0} after its start` : `${cancelledAt - t0}`,
    orphans: orphans.join(', ') || '-',
    inFlight: inFlight.map((r) => `${r.type}${r.detail ? ` ${r.detail}` : ''}`).join(', ') || '-',
    status: history.closedAs === 'completed' ? `${state.status} (cancel recorded; then ${history.completedAfter.join(', ') || 'nothing'} completed)` : state.status,
    runLeft: found.runLeft,
    othersIntact: found.othersMissing.length === 0 && found.othersChanged.length === 0,
    copiedIntoRestored: found.copiedIntoChanged.length === 0,
    clientPartition: `${CLIENT_PARTITIONS.map((cp, i) => `${cp.partitionId}: ${found.clientPartitions[i]}${found.clientPartitions[i] === 'not written' ? '' : ` (${clientRowsAtCancel[i]} at the cancel)`}`).join('; ')}${copyStarted ? '' : '; no copy ran'}`,
    discards: discardsOf(state),
    cancelToEndMs: ended.rejected ? ended.at - cancelledAt : null,
  });
  await dropCase(p);
  return {
    resultRejected: ended.rejected,
    cancelRequestRecorded: history.requested,
    status: state.status,
    runObjectsLeft: { count: found.runLeft.length, first: found.runLeft.slice(0, 10) },
    reportedLeftovers: state.rollback?.leftovers ?? [],
    othersMissing: found.othersMissing,
    othersChanged: found.othersChanged,
    copiedIntoChanged: found.copiedIntoChanged,
    clientPartitions: found.clientPartitions,
  };
}

/** The rollback's discards, as the matrix shows them: how many, and the first three (table partition: rows). */
function discardsOf(state: MigrationState): string {
  const rollback = state.rollback;
  if (!rollback?.discarded) return '-';
  const first = rollback.discarded.slice(0, 3).map((d) => `${d.table} ${d.partitionId}: ${d.rowsDiscarded}`);
  return `${rollback.counts?.discarded ?? rollback.discarded.length}${first.length > 0 ? ` (${first.join(', ')}${rollback.discarded.length > 3 ? ', …' : ''})` : ''}`;
}

/** Rows of the other client's partition (`where`) of the copied table, on the target now. */
async function countWhere(db: string, where: string): Promise<number> {
  const [{ n }] = await servers.target.rows<{ n: string }>(`SELECT count() AS n FROM ${qualifiedName(db, CLIENT_PARTITIONS[0].table)} WHERE ${where}`);
  return Number(n);
}

/** What the target holds after the run, against what it held before and what the other client wrote. */
async function inspectTarget(p: Prepared, state: MigrationState, lateWritten: boolean) {
  const { db, db2 } = p.plan;
  const target = servers.target;
  const expectedTables = new Set([...p.tablesBefore, `${db}.${CLIENT_TABLE}`]);
  const now = await tablesIn(target, [db]);
  const runLeft = [
    ...now.filter((t) => !expectedTables.has(t)),
    ...((await databaseExists(target, db2)) ? [db2, ...(await tablesIn(target, [db2]))] : []),
    ...(await scratchOfRun(target, p.runKey)),
  ];
  const othersMissing = [...expectedTables].filter((t) => !now.includes(t));
  const expected = await expectedClientChecks(target);
  const othersChanged: string[] = [];
  const same = (a: RowsCheck, b: RowsCheck) => a.count === b.count && a.sha256 === b.sha256;
  if (now.includes(`${db}.${OTHER_APP}`) && !same(await checkRows(target, db, OTHER_APP), expected.otherApp)) othersChanged.push(OTHER_APP);
  if (now.includes(`${db}.${CLIENT_TABLE}`) && !same(await checkRows(target, db, CLIENT_TABLE), expected.clientTable)) othersChanged.push(CLIENT_TABLE);
  const copiedIntoChanged: string[] = [];
  for (const table of COPIED_INTO) {
    const after = now.includes(`${db}.${table}`) ? await checkRows(target, db, table, whereOf(table)) : null;
    const was = p.before.get(table) as RowsCheck;
    if (!after || !same(after, was)) copiedIntoChanged.push(`${table} (${was.count} rows before, ${after ? after.count : 'no table'} after)`);
  }
  const rollback = state.rollback;
  const discarded = rollback?.discarded ?? [];
  // The state holds the first discards only (the other client's partitions sort first): the note says when the list is cut.
  const cut = (rollback?.counts?.discarded ?? 0) > discarded.length ? ` among the first ${discarded.length} of ${rollback?.counts?.discarded} discards` : '';
  const clientPartitions: string[] = [];
  for (const [i, cp] of CLIENT_PARTITIONS.entries()) {
    if (i > 0 && !lateWritten) {
      clientPartitions.push('not written');
      continue;
    }
    if (!now.includes(`${db}.${cp.table}`)) {
      clientPartitions.push('LOST: the table is gone');
      continue;
    }
    const rows = await checkRows(target, db, cp.table, cp.where);
    const reported = discarded.find((d) => d.database === db && d.table === cp.table && d.partitionId === cp.partitionId);
    if (same(rows, expected.clientPartitions[i])) clientPartitions.push('intact');
    else if (reported && reported.rowsDiscarded >= cp.rows) clientPartitions.push(`discarded, reported (${reported.rowsDiscarded} rows)`);
    else clientPartitions.push(`LOST: ${rows.count} of ${cp.rows} rows${reported ? `, reported ${reported.rowsDiscarded}` : `, not reported${cut}`}`);
  }
  return { runLeft, othersMissing, othersChanged, copiedIntoChanged, clientPartitions };
}

async function dropCase(p: Prepared): Promise<void> {
  for (const db of [p.plan.db, p.plan.db2]) {
    await servers.source.exec(`DROP DATABASE IF EXISTS ${quoteIdentifier(db)}`);
    await servers.target.exec(`DROP DATABASE IF EXISTS ${quoteIdentifier(db)}`);
  }
}

beforeAll(async () => {
  worker = await startWorker((activities) => tracker.wrap(activities));
  ({ shapes, refused: refusedShapes } = await catalogueShapes(servers.source, uniqueName('rbc_types')));
  template = servers.database('rbc_template');
  await createTemplates(servers.source, servers.target, template);
  // Every run is brought to the approval of its migration step first, so that the reference run
  // and each cancel later have the machine to themselves.
  await prepareAll();
}, 1_200_000);

afterAll(async () => {
  const header = ['case', 'moment hit', 'ms after schema start', 'in flight at cancel', 'still at work after the end', 'status', 'run objects left', 'others intact', 'copied-into restored', 'client partitions of big_events (197101 written as the step starts, 197102 during the copy)', 'rollback discards', 'cancel → end ms'];
  const rows = matrix.map((r) => [
    r.name,
    r.moment,
    r.offsetMs,
    r.inFlight.length > 70 ? `${r.inFlight.slice(0, 67)}...` : r.inFlight,
    r.orphans,
    r.status,
    r.runLeft.length === 0 ? '0' : `${r.runLeft.length} (${r.runLeft.slice(0, 3).join(', ')}${r.runLeft.length > 3 ? ', …' : ''})`,
    r.othersIntact ? 'yes' : 'NO',
    r.copiedIntoRestored ? 'yes' : 'NO',
    r.clientPartition,
    r.discards,
    r.cancelToEndMs === null ? '-' : String(r.cancelToEndMs),
  ]);
  console.log(
    [
      `catalogue tables: ${shapes.length} shapes (column types of system.data_type_families by engine); left out because the server cannot read them back: ${refusedShapes.join('; ') || 'none'}`,
      `reference run: migration step ${reference.stepMs} ms from the schema activity's start to the end of the last verification`,
      ...reference.phases.map((p) => `  ${p}`),
      '',
      'cancel matrix:',
      renderTable(header, rows),
    ].join('\n'),
  );
  await worker?.stop();
});

describe('a run cancelled at any moment of its migration step is rolled back exactly', () => {
  it('a reference run, with the other client and the source writer at work, completes with a sync pass', async () => {
    const p = await (referenceCase.prepared as Promise<Prepared>);
    const wf = p.handle.workflowId;
    const { approvedAt, writerDone } = await approveWithWriter(p);
    await restorePointOf(wf, approvedAt, true);
    await clientWrites(servers.target, p.plan.db);
    const final = (await p.handle.result()) as MigrationState;
    await writerDone();
    const records = tracker.of(wf).filter((r) => r.startedAt >= approvedAt);
    const t0 = (records.find((r) => r.type === 'createSchemaPaged') as ActivityRecord).startedAt;
    reference.stepMs = Math.max(...records.filter((r) => r.type === 'verifyPage').map((r) => r.endedAt ?? 0)) - t0;
    const phases = new Map<string, { from: number; to: number; count: number }>();
    for (const r of records) {
      const phase = phaseOf(r, records.filter((x) => isBulk(x) && x.endedAt !== null && x.endedAt <= r.startedAt).length);
      const span = phases.get(phase) ?? { from: Infinity, to: -Infinity, count: 0 };
      span.from = Math.min(span.from, r.startedAt - t0);
      span.to = Math.max(span.to, (r.endedAt ?? r.startedAt) - t0);
      span.count++;
      phases.set(phase, span);
    }
    reference.phases = [...phases].map(([phase, s]) => `${phase}: ${s.from} → ${s.to} ms (${s.count} activities)`);
    await dropCase(p);

    expect(final.status).toBe('completed');
    expect(records.some((r) => isCopy(r) && r.detail.startsWith('resync_'))).toBe(true);
    expect(reference.stepMs).toBeGreaterThan(1000);
  }, 300_000);

  it.each(cases.map((c) => [c.name, c] as const))('cancelled at %s: cancelled, nothing of the run left, the other client and the copied-into tables intact', async (_name, c) => {
    expect(await runCase(c)).toEqual({
      resultRejected: true,
      cancelRequestRecorded: true,
      status: 'cancelled',
      runObjectsLeft: { count: 0, first: [] },
      reportedLeftovers: [],
      othersMissing: [],
      othersChanged: [],
      copiedIntoChanged: [],
      // The rows the other client wrote into a new partition of a copied table: intact, or named
      // in the rollback's `discarded` with at least as many rows (the matrix says when no copy had
      // run, so that a discard of rows the run never touched shows).
      clientPartitions: CLIENT_PARTITIONS.map(() => expect.stringMatching(/^(intact|discarded, reported|not written)/)),
    });
  }, 300_000);
});

/** Prepares the reference and every case, three at a time (in lanes, in the order of the cases). */
function prepareAll(): Promise<void> {
  const lanes: Promise<unknown>[] = [Promise.resolve(), Promise.resolve(), Promise.resolve()];
  [referenceCase, ...cases].forEach((c, i) => {
    const lane = i % lanes.length;
    c.prepared = lanes[lane].then(() => prepare());
    // A case whose preparation fails fails itself; the others go on.
    lanes[lane] = c.prepared.catch(() => undefined);
  });
  return Promise.all(lanes).then(() => undefined);
}

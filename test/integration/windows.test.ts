/**
 * Maintenance windows on the real servers, in real time: windows of a few seconds that open a
 * little after the run starts. A daily window recurs a day later, so the resume after a pause is
 * proved by the unit tests (test/unit/schedule-wait.test.ts); here the pause itself is.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { temporal } from '@temporalio/proto';
import { qualifiedName, quoteString } from '../../src/clickhouse/sql';
import { FAILURE_CONVERTER_PATH } from '../../src/codec';
import { WORKFLOW_INTERCEPTOR_MODULES, WORKFLOWS_PATH } from '../../src/worker-factory';
import { isFinal } from '../../src/cli/exit-codes';
import { approveUpdate, rejectUpdate } from '../../src/workflows';
import { runKeyOf } from '../../src/workflows/state';
import { WEEKDAYS, type MaintenanceWindow, type MigrationSchedule, type MigrationState } from '../../src/workflows/types';
import { createDemoLike } from './fixtures';
import { migrationInput, queryState, RUN_DATABASES, startMigration, startWorker, tableDigest, uniqueName, useTestServers, waitFor } from './harness';

const servers = useTestServers({ worker: false });
let worker: { stop(): Promise<void> } | null = null;
let bundleDir = '';
/** Workers of this file load one workflow bundle: a worker started again starts in seconds. */
const restartableWorker = () => startWorker(undefined, { WORKFLOW_BUNDLE_PATH: join(bundleDir, 'workflow-bundle.js') });

beforeAll(async () => {
  bundleDir = mkdtempSync(join(tmpdir(), 'windows-test-'));
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, workflowInterceptorModules: WORKFLOW_INTERCEPTOR_MODULES, failureConverterPath: FAILURE_CONVERTER_PATH });
  writeFileSync(join(bundleDir, 'workflow-bundle.js'), code);
  worker = await restartableWorker();
}, 600_000);

afterAll(async () => {
  await worker?.stop();
  rmSync(bundleDir, { recursive: true, force: true });
});

/** Minutes a test of this file may take: runs wait for windows in real time. */
const TEST_TIMEOUT_MS = 10 * 60_000;

/**
 * Extra tables of ten partitions for the tests whose window closes during the copy: over a
 * thousand units, so that the copy outlasts a window of two seconds on an idle machine too.
 */
const MANY_TABLES = 120;

/** Seconds from the start of a run to the opening of its window: enough for the steps before the migration step. */
const LEAD_SECONDS = 25;

/** `HH:MM:SS` of `instant` on the clock of `timeZone`. */
function clockOf(instant: number, timeZone: string): string {
  return new Intl.DateTimeFormat('en-GB', { timeZone, hourCycle: 'h23', hour: '2-digit', minute: '2-digit', second: '2-digit' }).format(instant);
}

/** A daily window that opens `secondsAhead` from now on the clock of `timeZone`, as the API takes it. */
function windowFromNow(secondsAhead: number, durationSeconds: number, timeZone: string): MaintenanceWindow {
  return { days: [...WEEKDAYS], start: clockOf(Date.now() + secondsAhead * 1000, timeZone), durationSeconds, timeZone };
}

/** Approves each gate as it opens (by Update), until `until` holds of the state; returns that state. */
async function driveUntil(handle: WorkflowHandle, until: (s: MigrationState) => boolean, what: string, timeoutMs = 180_000): Promise<MigrationState> {
  return waitFor(
    async () => {
      const state = await queryState(handle);
      if (state.awaitingApproval && !until(state)) await handle.executeUpdate(approveUpdate, { args: [{ step: state.awaitingApproval.step, by: 'jest' }] });
      return state;
    },
    until,
    what,
    timeoutMs,
  );
}

const ended = (s: MigrationState) => isFinal(s.status);

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

function timeOf(event: HistoryEvent): number {
  const t = event.eventTime;
  return Number(String(t?.seconds ?? 0)) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);
}

async function historyOf(handle: WorkflowHandle): Promise<HistoryEvent[]> {
  return (await handle.fetchHistory()).events ?? [];
}

function scheduledOf(events: HistoryEvent[], type: string): HistoryEvent[] {
  return events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === type);
}

/** Every table and view of `db` on the source (from its catalogue) reads the same on the target: count and checksum of its rows. */
async function expectSameData(db: string): Promise<number> {
  const tables = await servers.source.rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = ${quoteString(db)} ORDER BY name`);
  for (const { name } of tables) {
    const [source, target] = await Promise.all([tableDigest(servers.source, db, name), tableDigest(servers.target, db, name)]);
    expect({ table: name, ...target }).toEqual({ table: name, ...source });
  }
  return tables.length;
}

/** Databases of `db`'s name, or of the run `runId` (named by its run key), that are on the target. */
async function leftOnTarget(db: string, runId: string): Promise<string[]> {
  const rows = await servers.target.rows<{ name: string }>(
    `SELECT name FROM system.databases WHERE name = ${quoteString(db)} OR ((${RUN_DATABASES}) AND position(name, ${quoteString(runKeyOf(runId))}) > 0)`,
  );
  return rows.map((r) => r.name);
}

async function sourceDatabase(prefix: string, rows: number, extraTables = 0): Promise<string> {
  const db = servers.database(prefix);
  await createDemoLike(servers.source, db, rows);
  // Tables of ten partitions each: many units, so that the copy outlasts a window of seconds.
  for (let i = 0; i < extraTables; i++) {
    const t = qualifiedName(db, `part_${i}`);
    await servers.source.exec(`CREATE TABLE ${t} (k UInt64, v String) ENGINE = MergeTree PARTITION BY k % 10 ORDER BY k`);
    await servers.source.exec(`INSERT INTO ${t} SELECT number, toString(cityHash64(number, ${i})) FROM system.numbers LIMIT 5000`);
  }
  return db;
}

function start(db: string, schedule: MigrationSchedule, options: { approvals?: boolean; unitBytes?: number } = {}) {
  return startMigration(
    servers.client,
    migrationInput(uniqueName('window'), [db], { schedule, approvals: { required: options.approvals ?? true }, options: { parallelism: 2, ...(options.unitBytes ? { unitBytes: options.unitBytes } : {}) } }),
  );
}

describe('maintenance windows', () => {
  it('when the window opens after the approval, the run shows when and waits; the restore point and the copy come after the opening, and every row arrives', async () => {
    const db = await sourceDatabase('win_wait', 50_000);
    const window = windowFromNow(LEAD_SECONDS, 600, 'America/New_York');
    const handle = await start(db, { window });

    const waiting = await driveUntil(handle, (s) => s.waitingForWindow != null || ended(s), 'the run to wait for its window');
    expect(waiting.waitingForWindow?.opensAt).toBeDefined();
    const opensAt = Date.parse(waiting.waitingForWindow!.opensAt);
    expect(waiting.steps.find((s) => s.name === 'migration')).toMatchObject({ status: 'pending' });
    expect(waiting.restorePoint).toBeNull();
    // The opening is the window's start on New York's clock, as the workflow reads it.
    expect(clockOf(opensAt, 'America/New_York')).toBe(window.start);

    const final = await waitFor(() => queryState(handle), ended, 'the run to end', 300_000);
    expect(final.status).toBe('completed');
    expect(final.waitingForWindow).toBeNull();
    const approvedAt = Date.parse(final.approvals.find((a) => a.step === 'migration')!.at);
    expect(approvedAt).toBeLessThan(opensAt);
    expect(Date.parse(final.restorePoint!.takenAt)).toBeGreaterThanOrEqual(opensAt);
    const events = await historyOf(handle);
    const restorePoint = scheduledOf(events, 'takeRestorePoint').map(timeOf);
    const copies = scheduledOf(events, 'copyUnitRange').map(timeOf);
    expect(copies.length).toBeGreaterThan(0);
    expect(Math.min(...restorePoint.slice(-1), ...copies)).toBeGreaterThanOrEqual(opensAt);
    expect(events.filter((e) => e.timerStartedEventAttributes)).toHaveLength(1);
    await expectSameData(db);
  }, TEST_TIMEOUT_MS);

  it('when the window closes during the copy (onWindowEnd pause), no copy starts after it, the ones in flight land, and the run waits for the next opening; a worker restart meanwhile changes nothing', async () => {
    const db = await sourceDatabase('win_pause', 200_000, MANY_TABLES);
    const window = windowFromNow(LEAD_SECONDS, 2, 'Europe/Berlin');
    const handle = await start(db, { window, onWindowEnd: 'pause' }, { approvals: false, unitBytes: 1 });

    const paused = await waitFor(() => queryState(handle), (s) => (s.waitingForWindow != null && s.progress.unitsTotal > 0) || ended(s), 'the copy to pause', 180_000);
    expect(paused.status).toBe('running');
    const opensAt = Date.parse(paused.waitingForWindow!.opensAt);
    // The next opening is the window a day later (Berlin's clock does not change tonight).
    const closedAt = opensAt - 24 * 3600 * 1000 + window.durationSeconds * 1000;
    const events = await waitFor(() => historyOf(handle), (ev) => scheduledOf(ev, 'copyUnitRange').every((e) => landed(ev, e)), 'the copies in flight to land');
    const copies = scheduledOf(events, 'copyUnitRange');
    expect(copies.every((e) => decidedAt(events, e) < closedAt)).toBe(true);
    expect(Math.min(...scheduledOf(events, 'takeRestorePoint').slice(-1).map((e) => decidedAt(events, e)))).toBeGreaterThanOrEqual(opensAt - 24 * 3600 * 1000);

    const before = await queryState(handle);
    expect(before.progress.unitsDone).toBeLessThan(before.progress.unitsTotal);
    await worker!.stop();
    worker = await restartableWorker();
    const after = await queryState(handle);
    expect(after.waitingForWindow).toEqual({ opensAt: new Date(opensAt).toISOString() });
    expect(after.progress).toEqual(before.progress);
    expect(after.status).toBe('running');
    expect(scheduledOf(await historyOf(handle), 'copyUnitRange')).toHaveLength(copies.length);
    console.log(`paused at ${after.progress.unitsDone}/${after.progress.unitsTotal} units until ${after.waitingForWindow?.opensAt}; ${copies.length} copy activities, all decided before the window closed`);

    await handle.cancel();
    const final = await waitFor(() => queryState(handle), ended, 'the paused run to end after its cancellation', 180_000);
    expect(final.status).toBe('cancelled');
    expect(final.waitingForWindow).toBeNull();
    expect(await leftOnTarget(db, final.runId)).toEqual([]);
  }, TEST_TIMEOUT_MS);

  it('when the window closes during the copy (onWindowEnd fail), the run fails as WindowClosed and rolls back', async () => {
    const db = await sourceDatabase('win_fail', 200_000, MANY_TABLES);
    const window = windowFromNow(LEAD_SECONDS, 2, 'UTC');
    const handle = await start(db, { window, onWindowEnd: 'fail' }, { approvals: false, unitBytes: 1 });

    const final = await waitFor(() => queryState(handle), ended, 'the run to end', 300_000);
    expect(final.status).toBe('rolled_back');
    expect(final.error).toMatchObject({ type: 'WindowClosed', message: expect.stringContaining('the maintenance window closed before the copy ended') });
    expect(final.steps.find((s) => s.name === 'migration')).toMatchObject({ status: 'failed', error: { type: 'WindowClosed' } });
    expect(await leftOnTarget(db, final.runId)).toEqual([]);
  }, TEST_TIMEOUT_MS);

  it('when the worker is stopped while the run waits and started after the opening, the run goes on as if nothing happened', async () => {
    const db = await sourceDatabase('win_restart', 50_000);
    const notBefore = new Date(Date.now() + LEAD_SECONDS * 1000).toISOString();
    const handle = await start(db, { notBefore });

    const waiting = await driveUntil(handle, (s) => s.waitingForWindow != null || ended(s), 'the run to wait for notBefore');
    expect(waiting.waitingForWindow).toEqual({ opensAt: new Date(Date.parse(notBefore)).toISOString() });
    await worker!.stop();
    worker = null;
    // The timer is the server's: it fires with no worker, and the run picks it up when one polls again.
    await waitFor(historyOf.bind(null, handle), (events) => events.some((e) => e.timerFiredEventAttributes), 'the timer to fire while no worker runs');
    worker = await restartableWorker();

    const final = await waitFor(() => queryState(handle), ended, 'the run to end', 300_000);
    expect(final.status).toBe('completed');
    const events = await historyOf(handle);
    expect(events.filter((e) => e.timerStartedEventAttributes)).toHaveLength(1);
    expect(Math.min(...scheduledOf(events, 'copyUnitRange').map(timeOf))).toBeGreaterThanOrEqual(Date.parse(notBefore));
    expect(Date.parse(final.restorePoint!.takenAt)).toBeGreaterThanOrEqual(Date.parse(notBefore));
    await expectSameData(db);
  }, TEST_TIMEOUT_MS);

  it('when the approved step is rejected while it waits, the run ends rejected and the target is left as it was; an approval again is refused', async () => {
    const db = await sourceDatabase('win_reject', 1_000);
    const handle = await start(db, { notBefore: new Date(Date.now() + 10 * LEAD_SECONDS * 1000).toISOString() });

    await driveUntil(handle, (s) => s.waitingForWindow != null || ended(s), 'the run to wait for notBefore');
    await expect(handle.executeUpdate(approveUpdate, { args: [{ step: 'migration', by: 'jest' }] })).rejects.toMatchObject({ cause: { message: '"migration" is already approved' } });
    await handle.executeUpdate(rejectUpdate, { args: [{ step: 'migration', by: 'jest', reason: 'not tonight' }] });

    const final = await waitFor(() => queryState(handle), ended, 'the run to end');
    expect(final.status).toBe('rejected');
    expect(final.rejection).toMatchObject({ step: 'migration', reason: 'not tonight' });
    expect(final.steps.find((s) => s.name === 'migration')).toMatchObject({ status: 'rejected' });
    expect(final.waitingForWindow).toBeNull();
    expect(await leftOnTarget(db, final.runId)).toEqual([]);
  }, TEST_TIMEOUT_MS);

  it('when the run is cancelled while it waits, it ends cancelled with nothing left on the target', async () => {
    const db = await sourceDatabase('win_cancel', 1_000);
    const handle = await start(db, { notBefore: new Date(Date.now() + 10 * LEAD_SECONDS * 1000).toISOString() });

    await driveUntil(handle, (s) => s.waitingForWindow != null || ended(s), 'the run to wait for notBefore');
    await handle.cancel();

    const final = await waitFor(() => queryState(handle), ended, 'the run to end');
    expect(final.status).toBe('cancelled');
    expect(final.waitingForWindow).toBeNull();
    expect(await leftOnTarget(db, final.runId)).toEqual([]);
  }, TEST_TIMEOUT_MS);
});

/** Whether the activity scheduled by `scheduled` has ended (completed, failed, timed out or cancelled). */
function landed(events: HistoryEvent[], scheduled: HistoryEvent): boolean {
  const id = String(scheduled.eventId);
  return events.some((e) =>
    [e.activityTaskCompletedEventAttributes, e.activityTaskFailedEventAttributes, e.activityTaskTimedOutEventAttributes, e.activityTaskCanceledEventAttributes].some(
      (attrs) => attrs != null && String(attrs.scheduledEventId) === id,
    ),
  );
}

/** The workflow time at which the workflow decided on `event`: the start of the workflow task that issued it. */
function decidedAt(events: HistoryEvent[], event: HistoryEvent): number {
  const before = events.filter((e) => Number(String(e.eventId)) < Number(String(event.eventId)) && e.workflowTaskStartedEventAttributes);
  return timeOf(before[before.length - 1]);
}

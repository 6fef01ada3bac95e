/**
 * A run of schema changes cancelled at any moment of its migration step is rolled back to exactly
 * the database it started from: every table's DDL and rows, the tracking table's rows, no scratch
 * of the run, no unfinished mutation. One reference run measures the step; then cancels at
 * fractions of it and cancels aimed at the start of each activity of the step, each on a fresh
 * database with a fresh run. The matrix of what each cancel hit is printed at the end.
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { ClickHouseConnection } from '../../src/clickhouse/connection';
import { qualifiedName, quoteIdentifier, quoteString } from '../../src/clickhouse/sql';
import type { Change } from '../../src/workflows/changes-types';
import { runKeyOf } from '../../src/workflows/state';
import { approveThrough, changesInput, changesState, ended, startChanges, trackedVersions } from './changes-helpers';
import { startWorker, tableDigest, uniqueName, useTestServers, waitFor, RUN_DATABASES } from './harness';
import { ActivityTracker, renderTable, type ActivityRecord } from './rollback-helpers';

const servers = useTestServers({ worker: false });
const tracker = new ActivityTracker();
let worker: { stop(): Promise<void> } | undefined;

const FIRST: Change = { version: '001', name: 'baseline', sql: "ALTER TABLE orders ADD COLUMN note String DEFAULT ''" };
const STATEMENTS = [
  "ALTER TABLE profiles ADD COLUMN email String DEFAULT ''",
  'ALTER TABLE orders MODIFY COLUMN amount UInt64',
  'CREATE TABLE regions (code String, name String) ENGINE = MergeTree ORDER BY code',
  "INSERT INTO regions VALUES ('eu', 'Europe'), ('us', 'Americas')",
  'DROP TABLE audit',
  "INSERT INTO events SELECT 100000 + number, if(number % 3 = 0, 'view', 'click') FROM system.numbers LIMIT 500",
  // Some 5.6 s on the one part of 20,000 rows. 18.16 mutates that part as one block and refuses a
  // call of sleepEachRow that would sleep over 3 s in a block (the mutation then fails forever), so two calls of 2.8 s.
  'ALTER TABLE ledger UPDATE amount = amount + 1 + sleepEachRow(0.00014) + sleepEachRow(0.000141) WHERE 1',
];
const SECOND: Change = { version: '002', name: 'reshape', sql: STATEMENTS.join(';\n') };

/** Cancels at these fractions of the reference migration step, measured from its approval. */
const SWEEP_FRACTIONS = [0.05, 0.2, 0.4, 0.6, 0.8];

/** Everything a user reads of the database: each object's DDL and rows by the test's digest, and the tracking table's rows as they are stored. */
type Snapshot = { objects: Record<string, { ddl: string; rows: number; checksum: string }>; tracking: unknown[] };

async function snapshotOf(conn: ClickHouseConnection, db: string): Promise<Snapshot> {
  const tables = await conn.rows<{ name: string; create_table_query: string }>(`SELECT name, create_table_query FROM system.tables WHERE database = ${quoteString(db)} ORDER BY name`);
  const objects: Snapshot['objects'] = {};
  for (const t of tables) objects[t.name] = { ddl: t.create_table_query, ...(await tableDigest(conn, db, t.name)) };
  const tracking = tables.some((t) => t.name === 'schema_migrations') ? await conn.rows(`SELECT * FROM ${qualifiedName(db, 'schema_migrations')} ORDER BY recorded_at`) : [];
  return { objects, tracking };
}

/**
 * The fixture: a partitioned MergeTree, a Log table, a ReplacingMergeTree with duplicate keys (one
 * part: no merge changes it), a view, a materialized view fed by `events` into `event_counts`, the
 * `ledger` the mutation rewrites, and version 001 applied by a first run.
 */
async function createFixture(db: string): Promise<void> {
  const t = servers.target;
  const q = (name: string) => qualifiedName(db, name);
  await t.exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
  await t.exec(`CREATE TABLE ${q('orders')} (id UInt64, day Date, amount String) ENGINE = MergeTree PARTITION BY toYYYYMM(day) ORDER BY id`);
  await t.exec(`INSERT INTO ${q('orders')} SELECT number, toDate('2024-01-01') + (number % 90), toString(number * 3) FROM system.numbers LIMIT 3000`);
  await t.exec(`CREATE TABLE ${q('audit')} (at DateTime, what String) ENGINE = Log`);
  await t.exec(`INSERT INTO ${q('audit')} SELECT toDateTime('2024-01-01 00:00:00') + number, 'login' FROM system.numbers LIMIT 300`);
  await t.exec(`CREATE TABLE ${q('profiles')} (id UInt32, name String, ver UInt32) ENGINE = ReplacingMergeTree(ver) ORDER BY id`);
  await t.exec(`INSERT INTO ${q('profiles')} SELECT number % 200, concat('p', toString(number)), number FROM system.numbers LIMIT 500`);
  await t.exec(`CREATE VIEW ${q('v_big_orders')} AS SELECT id, amount FROM ${q('orders')} WHERE id % 10 = 0`);
  await t.exec(`CREATE TABLE ${q('events')} (id UInt64, kind String) ENGINE = MergeTree ORDER BY id`);
  await t.exec(`CREATE TABLE ${q('event_counts')} (kind String, n UInt64) ENGINE = SummingMergeTree ORDER BY kind`);
  await t.exec(`CREATE MATERIALIZED VIEW ${q('mv_event_counts')} TO ${q('event_counts')} AS SELECT kind, count() AS n FROM ${q('events')} GROUP BY kind`);
  await t.exec(`INSERT INTO ${q('events')} SELECT number, if(number % 2 = 0, 'view', 'buy') FROM system.numbers LIMIT 1000`);
  await t.exec(`CREATE TABLE ${q('ledger')} (id UInt64, amount UInt64) ENGINE = MergeTree ORDER BY id`);
  await t.exec(`INSERT INTO ${q('ledger')} SELECT number, number FROM system.numbers LIMIT 20000`);
  const first = await approveThrough(await startChanges(servers.client, changesInput(uniqueName('chg-sweep-first'), db, [FIRST])));
  if (first.status !== 'completed') throw new Error(`the first run on ${db} ended ${first.status}: ${JSON.stringify(first.error)}`);
  // Its records in one part, so that no background merge changes the stored rows between the snapshot and the restore point.
  await t.exec(`OPTIMIZE TABLE ${q('schema_migrations')} FINAL`);
}

type Trigger = { kind: 'fraction'; fraction: number } | { kind: 'activity'; type: string; nth: number | 'last' };

interface Case {
  name: string;
  trigger: Trigger;
  prepared?: Promise<Prepared>;
}

interface Prepared {
  db: string;
  handle: WorkflowHandle;
  before: Snapshot;
}

/** The cancel a case sent: when, what was in flight, and whether it hit the activity it was aimed at. */
interface SentCancel {
  at: number;
  inFlight: string;
  hit: boolean;
  sent: Promise<void>;
}

interface MatrixRow {
  name: string;
  inFlight: string;
  atMs: number;
  status: string;
  cancelToEndMs: number;
  verified: string;
}

const matrix: MatrixRow[] = [];
const reference: { stepMs: number; durations: Map<string, number>; recordVersions: number; phases: string[] } = { stepMs: 0, durations: new Map(), recordVersions: 0, phases: [] };

const aimed = (name: string, type: string, nth: number | 'last' = 1): Case => ({ name: `aimed: ${name}`, trigger: { kind: 'activity', type, nth } });
const cases: Case[] = [
  ...SWEEP_FRACTIONS.map((f): Case => ({ name: `sweep ${Math.round(f * 100)} %`, trigger: { kind: 'fraction', fraction: f } })),
  aimed('takeRestorePoint', 'takeRestorePoint'),
  aimed('fingerprintRestorePoint', 'fingerprintRestorePoint'),
  aimed('recordVersion (dirty, before statement 1)', 'recordVersion'),
  ...STATEMENTS.map((_, i) => aimed(`applyStatement ${i + 1}`, 'applyStatement', i + 1)),
  aimed('mutationProgress', 'mutationProgress'),
  aimed('recordVersion (after the last statement)', 'recordVersion', 'last'),
];
const referenceCase: Pick<Case, 'prepared'> = {};

/** The records of the run's migration step (from its approval on), first attempts and retries alike. */
const stepRecords = (wf: string, approvedAt: number) => tracker.of(wf).filter((r) => r.startedAt >= approvedAt);

/** An activity as the matrix names it: its type, and which of its kind it is in the step (the statement index for `applyStatement`). */
function labelOf(r: ActivityRecord, records: ActivityRecord[]): string {
  const same = records.filter((x) => x.type === r.type);
  return same.length > 1 || r.type === 'applyStatement' || r.type === 'recordVersion' ? `${r.type} #${same.indexOf(r) + 1}` : r.type;
}

/** Builds a case's database, starts its run and brings it to the approval of the migration step. */
async function prepare(): Promise<Prepared> {
  const db = servers.database('chg_sweep');
  await createFixture(db);
  const before = await snapshotOf(servers.target, db);
  const handle = await startChanges(servers.client, changesInput(uniqueName('chg-sweep'), db, [FIRST, SECOND]));
  for (const step of ['configure', 'validation', 'migration'] as const) {
    const state = await waitFor(() => changesState(handle), (s) => s.awaitingApproval?.step === step || !['running', 'awaiting_approval'].includes(s.status), `approval of ${step}`);
    if (state.awaitingApproval?.step !== step) throw new Error(`the run ${handle.workflowId} ended before its ${step} step: ${state.status} ${JSON.stringify(state.error)}`);
    if (step !== 'migration') await handle.signal('approve', { step, by: 'reviewer' });
  }
  return { db, handle, before };
}

/** What the run left of itself on the target: scratch databases and tables named by its run key, and unfinished mutations of the database. */
async function leftOf(db: string, runKey: string): Promise<{ scratch: string[]; unfinishedMutations: string[] }> {
  const t = servers.target;
  const scratch = await t.rows<{ name: string }>(
    `SELECT name FROM system.databases WHERE position(name, ${quoteString(runKey)}) > 0
     UNION ALL SELECT concat(database, '.', name) AS name FROM system.tables WHERE position(name, ${quoteString(runKey)}) > 0 OR position(database, ${quoteString(runKey)}) > 0`,
  );
  const mutations = await t.rows<{ m: string }>(`SELECT concat(table, ' ', mutation_id) AS m FROM system.mutations WHERE database = ${quoteString(db)} AND is_done = 0`);
  return { scratch: scratch.map((r) => r.name), unfinishedMutations: mutations.map((r) => r.m) };
}

/** Approves the migration step and cancels at the case's moment; returns what the test asserts, and adds its row to the matrix. */
async function runCase(c: Case) {
  const p = await (c.prepared as Promise<Prepared>);
  const wf = p.handle.workflowId;
  const approvedAt = Date.now();
  let cancel: SentCancel | null = null;
  const sendCancel = (target?: ActivityRecord) => {
    if (cancel) return;
    const records = stepRecords(wf, approvedAt);
    const running = records.filter((r) => r.outcome === 'running');
    const last = records[records.length - 1];
    // The aimed activity is in flight, or it has just ended and nothing after it has started.
    const hit = target !== undefined && (target.outcome === 'running' || last === target);
    const inFlight = running.length > 0 ? running.map((r) => labelOf(r, records)).join(', ') : `between activities, after ${last ? labelOf(last, records) : 'the approval'}`;
    cancel = { at: Date.now(), inFlight, hit, sent: p.handle.cancel().then(() => undefined) };
  };
  let unhook = () => {};
  const trigger = c.trigger;
  if (trigger.kind === 'activity') {
    const nth = trigger.nth === 'last' ? reference.recordVersions : trigger.nth;
    // Into the activity, as far as a third of its reference duration (at most 30 ms).
    const afterMs = Math.min(30, Math.floor((reference.durations.get(trigger.type) ?? 0) / 3));
    unhook = tracker.onChange((r) => {
      if (r.workflowId !== wf || r.type !== trigger.type || r.outcome !== 'running' || r.startedAt < approvedAt) return;
      if (stepRecords(wf, approvedAt).filter((x) => x.type === trigger.type).indexOf(r) + 1 !== nth) return;
      setTimeout(() => sendCancel(r), afterMs);
    });
  }
  await p.handle.signal('approve', { step: 'migration', by: 'reviewer' });
  const ending = p.handle.result().then(
    () => Date.now(),
    () => Date.now(),
  );
  if (trigger.kind === 'fraction') {
    // A deliberate delay that picks the moment of the cancel, not a wait for a state.
    await new Promise((resolve) => setTimeout(resolve, Math.round(trigger.fraction * reference.stepMs)));
    sendCancel();
  }
  const endedAt = await ending;
  unhook();
  const sent = cancel as SentCancel | null;
  await sent?.sent;
  // An activity the workflow stopped waiting for may still be at work: look at the database once it has stopped.
  await waitFor(async () => tracker.of(wf).filter((r) => r.outcome === 'running').length, (n) => n === 0, `the activities of ${wf} to stop`, 60_000);
  const state = await changesState(p.handle);
  const verified = state.rollback?.verified ?? [];
  matrix.push({
    name: c.name,
    inFlight: sent ? `${sent.inFlight}${trigger.kind === 'activity' && !sent.hit ? ' (MISSED)' : ''}` : 'no cancel: the aimed activity never started',
    atMs: sent ? sent.at - approvedAt : -1,
    status: state.status,
    cancelToEndMs: sent ? endedAt - sent.at : -1,
    verified: state.rollback ? `${verified.filter((v) => v.match).length}/${verified.length}` : '-',
  });
  return { state, sent, p, runKey: runKeyOf(state.runId) };
}

beforeAll(async () => {
  worker = await startWorker((activities) => tracker.wrap(activities));
  // Every run is brought to the approval of its migration step first, three at a time, so that the
  // reference run and each cancel have the machine to themselves.
  const lanes: Promise<unknown>[] = [Promise.resolve(), Promise.resolve(), Promise.resolve()];
  [referenceCase, ...cases].forEach((c, i) => {
    const lane = i % lanes.length;
    c.prepared = lanes[lane].then(() => prepare());
    lanes[lane] = c.prepared.catch(() => undefined);
  });
  await Promise.all(lanes);
}, 600_000);

afterAll(async () => {
  const rows = matrix.map((r) => [r.name, r.inFlight, String(r.atMs), r.status, String(r.cancelToEndMs), r.verified]);
  console.log(
    [
      `reference run: migration step ${reference.stepMs} ms from its approval to the end of its last activity`,
      ...reference.phases.map((p) => `  ${p}`),
      '',
      'cancel matrix:',
      renderTable(['case', 'in flight at the cancel', 'ms after approval', 'status', 'cancel → end ms', 'rollback verified (matched/all)'], rows),
    ].join('\n'),
  );
  await worker?.stop();
});

describe('a run of schema changes cancelled at any moment of its migration step is rolled back exactly', () => {
  it('a reference run, not cancelled, applies every statement and waits for the mutation', async () => {
    const p = await (referenceCase.prepared as Promise<Prepared>);
    const approvedAt = Date.now();
    await p.handle.signal('approve', { step: 'migration', by: 'reviewer' });
    const final = await ended(p.handle);
    const records = stepRecords(p.handle.workflowId, approvedAt).filter((r) => r.type !== 'dropStaging' && r.type !== 'dropRestorePoint');
    reference.stepMs = Math.max(...records.map((r) => r.endedAt ?? 0)) - approvedAt;
    reference.recordVersions = records.filter((r) => r.type === 'recordVersion').length;
    for (const r of records) {
      const ms = (r.endedAt ?? r.startedAt) - r.startedAt;
      if (!reference.durations.has(r.type)) reference.durations.set(r.type, ms);
      reference.phases.push(`${labelOf(r, records)}: ${r.startedAt - approvedAt} → ${(r.endedAt ?? r.startedAt) - approvedAt} ms`);
    }

    // The snapshot sees every change of the version, so that a case rolled back short of one of them would show.
    const after = await snapshotOf(servers.target, p.db);
    const names = [...new Set([...Object.keys(p.before.objects), ...Object.keys(after.objects)])].sort();
    const changed = names.filter((n) => JSON.stringify(p.before.objects[n]) !== JSON.stringify(after.objects[n]));

    expect([final.status, final.error]).toEqual(['completed', null]);
    expect(changed).toEqual(['audit', 'event_counts', 'events', 'ledger', 'mv_event_counts', 'orders', 'profiles', 'regions', 'schema_migrations', 'v_big_orders']);
    expect(after.tracking.length).toBeGreaterThan(p.before.tracking.length);
    expect(await trackedVersions(servers.target, p.db)).toEqual([
      expect.objectContaining({ version: '001', dirty: false }),
      expect.objectContaining({ version: '002', statementsApplied: STATEMENTS.length, dirty: false }),
    ]);
    expect(records.filter((r) => r.type === 'applyStatement')).toHaveLength(STATEMENTS.length);
    expect(records.some((r) => r.type === 'mutationProgress')).toBe(true);
    expect(reference.recordVersions).toBe(STATEMENTS.length + 1);
  }, 300_000);

  it.each(cases.map((c) => [c.name, c] as const))('cancelled at %s: the database is as before the run, with nothing of the run left', async (_name, c) => {
    const { state, sent, p, runKey } = await runCase(c);
    const after = await snapshotOf(servers.target, p.db);
    const left = await leftOf(p.db, runKey);
    const outcome = {
      status: state.status,
      // A cancel aimed at an activity must land in it (or just after it, before the next starts).
      aimedHit: c.trigger.kind === 'activity' ? sent?.hit === true : 'not aimed',
      // A cancel that came after the run completed leaves the changes applied: then the tracking table says so.
      database: state.status === 'completed' ? (await trackedVersions(servers.target, p.db)).map((v) => [v.version, v.statementsApplied, v.dirty]) : after,
      ...left,
      unverified: (state.rollback?.verified ?? []).filter((v) => !v.match).map((v) => `${v.database}.${v.table}`),
      leftovers: state.rollback?.leftovers ?? [],
    };
    expect(outcome).toEqual({
      status: c.trigger.kind === 'activity' ? 'cancelled' : expect.stringMatching(/^(cancelled|completed)$/),
      aimedHit: c.trigger.kind === 'activity' ? true : 'not aimed',
      database: state.status === 'completed' ? [['001', 1, false], ['002', STATEMENTS.length, false]] : p.before,
      scratch: [],
      unfinishedMutations: [],
      unverified: [],
      leftovers: [],
    });
  }, 180_000);

  it('most cancels of the sweep land in the migration step, and no scratch database of any run is left', async () => {
    const swept = matrix.filter((r) => r.name.startsWith('sweep'));
    expect(swept.filter((r) => r.status === 'cancelled').length).toBeGreaterThan(swept.length / 2);
    const scratch = await servers.target.rows<{ name: string }>(`SELECT name FROM system.databases WHERE ${RUN_DATABASES}`);
    expect(scratch).toEqual([]);
  });
});

/**
 * Runs of schema changes whose worker is killed with SIGKILL: while a long statement runs on the
 * target (the retry must not send it again; the run rolls back or stops with the version dirty),
 * and while the run waits for a mutation (a new worker resumes the wait and completes the run).
 */
import type { WorkflowHandle } from '@temporalio/client';
import type { ClickHouseConnection } from '../../src/clickhouse/connection';
import { qualifiedName, quoteIdentifier, quoteString } from '../../src/clickhouse/sql';
import { seal } from '../../src/secrets';
import { CHANGES_WORKFLOW_TYPE, type Change, type ChangesFailurePolicy, type ChangesInput, type ChangesState } from '../../src/workflows/changes-types';
import { TASK_QUEUE } from '../../src/workflows/types';
import { trackedVersions } from './changes-helpers';
import {
  activityAttempts,
  pendingActivities,
  retried,
  runningStatements,
  spawnWorker,
  stateOf,
  waitForState,
  type FaultProcess,
  FAULT_TEST_TIMEOUT_MS,
  useFaultStack,
} from './fault-harness';
import { tableDigest, TEST_KEY, uniqueName, waitFor, RUN_DATABASES } from './harness';

const faults = useFaultStack();
const { workers } = faults;

/** One worker, and only one: the kill lands on the worker that runs the statement. */
async function onlyWorker(): Promise<FaultProcess> {
  await Promise.all(workers.splice(0).map((worker) => worker.kill()));
  workers.push(await spawnWorker(faults.stack));
  return workers[0];
}

/** A run of `changes` on the fault stack's target, approvals off (the target's password sealed as `faultInput` seals it). */
function changesOnTarget(id: string, database: string, changes: Change[], onFailure: ChangesFailurePolicy): ChangesInput {
  const { target } = faults.stack;
  return {
    id,
    target: { url: target.url, username: target.username, password: seal(target.password, TEST_KEY), nativePort: target.nativePort },
    database,
    changes,
    approvals: { required: false },
    options: { onFailure },
  };
}

function startRun(input: ChangesInput): Promise<WorkflowHandle> {
  return faults.stack.client.workflow.start(CHANGES_WORKFLOW_TYPE, { taskQueue: TASK_QUEUE, workflowId: input.id, args: [input] });
}

/** Waits for the run to end, whatever way, and returns its final state (a worker must be up to answer). */
async function finalState(handle: WorkflowHandle): Promise<ChangesState> {
  await handle.result().catch(() => undefined);
  return (await stateOf(handle)) as ChangesState;
}

/** Every table of the database as the test sees it: its DDL, and its rows' count and sum of cityHash64. */
async function snapshotOf(conn: ClickHouseConnection, db: string): Promise<Record<string, { ddl: string; rows: number; checksum: string }>> {
  const tables = await conn.rows<{ name: string; ddl: string }>(`SELECT name, create_table_query AS ddl FROM system.tables WHERE database = ${quoteString(db)} ORDER BY name`);
  const snapshot: Record<string, { ddl: string; rows: number; checksum: string }> = {};
  for (const t of tables) snapshot[t.name] = { ddl: t.ddl, ...(await tableDigest(conn, db, t.name)) };
  return snapshot;
}

async function migratorDatabases(conn: ClickHouseConnection): Promise<string[]> {
  const rows = await conn.rows<{ name: string }>(`SELECT name FROM system.databases WHERE ${RUN_DATABASES}`);
  return rows.map((r) => r.name);
}

const SEED_ROWS = 1000;
/** Rows the slow INSERT adds to `seed`. */
const BULK_ROWS = 4 * 65_536;
/**
 * Some 10 s on 18.16: system.numbers yields blocks of 65,536 rows, and 0.04 ms a row keeps each
 * block under the 3 s of sleep the server allows in one block. The marker finds it in system.processes.
 */
const BULK_MARKER = 'sleepEachRow(0.00004)';
const BULK_INSERT = `INSERT INTO seed SELECT 1000000 + number, ${BULK_MARKER} FROM system.numbers LIMIT ${BULK_ROWS}`;
/** A version of three statements whose second is the slow INSERT. */
const BULK_VERSION: Change = {
  version: '001',
  name: 'bulk_seed',
  sql: ["ALTER TABLE notes ADD COLUMN flag UInt8 DEFAULT 0", BULK_INSERT, "ALTER TABLE notes ADD COLUMN done UInt8 DEFAULT 0"].join(';\n'),
};

async function createSeedDatabase(conn: ClickHouseConnection, db: string): Promise<void> {
  await conn.exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
  await conn.exec(`CREATE TABLE ${qualifiedName(db, 'seed')} (id UInt64, pad UInt8) ENGINE = MergeTree ORDER BY id`);
  await conn.exec(`INSERT INTO ${qualifiedName(db, 'seed')} SELECT number, 0 FROM system.numbers LIMIT ${SEED_ROWS}`);
  await conn.exec(`CREATE TABLE ${qualifiedName(db, 'notes')} (id UInt32, text String) ENGINE = MergeTree ORDER BY id`);
  await conn.exec(`INSERT INTO ${qualifiedName(db, 'notes')} SELECT number, concat('note ', toString(number)) FROM system.numbers LIMIT 100`);
}

/**
 * Runs {@link BULK_VERSION} on a fresh database with one worker, SIGKILLs that worker once the
 * slow INSERT runs on the target, starts a new worker, and returns the run's end.
 */
async function killDuringBulkInsert(onFailure: ChangesFailurePolicy, conn: ClickHouseConnection, db: string): Promise<{ handle: WorkflowHandle; final: ChangesState; id: string }> {
  const worker = await onlyWorker();
  const input = changesOnTarget(uniqueName(`chg-kill-${onFailure}`), db, [BULK_VERSION], onFailure);
  const handle = await startRun(input);
  await waitForState(handle, (s) => s.currentStep === 'migration' && (s as ChangesState).changes.current?.statement === 2, 'statement 2 of the migration step', { worker });
  const running = await waitFor(
    () => conn.rows<{ query_id: string; elapsed: number }>(`SELECT query_id, elapsed FROM system.processes WHERE startsWith(query_id, ${quoteString(`${input.id}/`)}) AND position(query, ${quoteString(BULK_MARKER)}) > 0`),
    (rows) => rows.length > 0,
    'the slow INSERT running on the target',
  );
  await worker.kill();
  const seedAtKill = (await tableDigest(conn, db, 'seed')).rows;
  console.log(`${onFailure}: killed the worker with the INSERT ${running[0].elapsed}s in (query ${running[0].query_id}); seed had ${seedAtKill} rows`);
  workers.push(await spawnWorker(faults.stack));
  const final = await finalState(handle);
  console.log(`${onFailure}: end ${final.status}: ${final.error?.message}; activities retried: ${retried(await activityAttempts(handle))}`);
  return { handle, final, id: input.id };
}

const LEDGER_ROWS = 300_000;
/**
 * Some 12 s on the one part of `ledger`: 18.16 mutates a part one block (up to 65,536 rows) at a
 * time and refuses more than 3 s of sleep in a block, whatever the part's size; staging mutates a
 * sample of 10,000 rows in under a second.
 */
const SLOW_LEDGER_MUTATION = 'ALTER TABLE ledger UPDATE amount = amount + 1 + sleepEachRow(0.00004) WHERE 1';

/** `ledger` as one part written by one INSERT: no background merge changes the parts the mutation has to do. */
async function createLedger(conn: ClickHouseConnection, db: string): Promise<void> {
  await conn.exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
  await conn.exec(`CREATE TABLE ${qualifiedName(db, 'ledger')} (id UInt64, amount UInt64) ENGINE = MergeTree ORDER BY id`);
  await conn.exec(`INSERT INTO ${qualifiedName(db, 'ledger')} SELECT number, number FROM system.numbers LIMIT ${LEDGER_ROWS}`);
}

describe('a run of schema changes whose worker is killed with SIGKILL', () => {
  it('while a long INSERT runs, with onFailure rollback, does not send it again and rolls the database back to exactly what it was', async () => {
    const db = uniqueName('faults_chg_rb');
    const conn = faults.stack.target.connect();
    try {
      await createSeedDatabase(conn, db);
      const before = await snapshotOf(conn, db);

      const { final, id } = await killDuringBulkInsert('rollback', conn, db);

      expect(final.status).toBe('rolled_back');
      expect(final.error?.message).toContain('may have run in an earlier attempt');
      expect(await snapshotOf(conn, db)).toEqual(before);
      expect(await tableDigest(conn, db, 'seed')).toEqual({ rows: SEED_ROWS, checksum: before.seed.checksum });
      expect(await migratorDatabases(conn)).toEqual([]);
      expect(await runningStatements(faults.stack.target, id)).toBe(0);
    } finally {
      await conn.close();
    }
  }, FAULT_TEST_TIMEOUT_MS);

  it('while a long INSERT runs, with onFailure stop, does not send it again and leaves the version dirty after the statements before it', async () => {
    const db = uniqueName('faults_chg_stop');
    const conn = faults.stack.target.connect();
    try {
      await createSeedDatabase(conn, db);

      const { final, id } = await killDuringBulkInsert('stop', conn, db);

      expect(final.status).toBe('failed');
      expect(final.error?.message).toContain('may have run in an earlier attempt');
      expect(final.changes.stopped).toEqual({ version: '001', applied: 1, statements: 3 });
      expect(await trackedVersions(conn, db)).toEqual([expect.objectContaining({ version: '001', statementsApplied: 1, dirty: true })]);
      // The run has ended: none of its statements may still write.
      expect(await runningStatements(faults.stack.target, id)).toBe(0);
      const [seed] = await conn.rows<{ rows: string; ids: string }>(`SELECT count() AS rows, uniqExact(id) AS ids FROM ${qualifiedName(db, 'seed')}`);
      const landed = Number(seed.rows) - SEED_ROWS;
      console.log(`stop: the killed INSERT ${landed === 0 ? 'did not land' : landed === BULK_ROWS ? 'landed once, whole' : `landed ${landed} of ${BULK_ROWS} rows`} (seed: ${seed.rows} rows, ${seed.ids} distinct ids)`);
      // Either it did not run, or it ran exactly once: never twice.
      expect([0, BULK_ROWS]).toContain(landed);
      expect(Number(seed.ids)).toBe(Number(seed.rows));
      const columns = await conn.rows<{ name: string }>(`SELECT name FROM system.columns WHERE database = ${quoteString(db)} AND table = 'notes' ORDER BY name`);
      expect(columns.map((c) => c.name)).toEqual(['flag', 'id', 'text']);
      expect(await migratorDatabases(conn)).toEqual([]);
    } finally {
      await conn.close();
    }
  }, FAULT_TEST_TIMEOUT_MS);

  it('while the run waits for a mutation, is resumed by a new worker and completes with every row rewritten once', async () => {
    const db = uniqueName('faults_chg_mut');
    const conn = faults.stack.target.connect();
    try {
      await createLedger(conn, db);
      const worker = await onlyWorker();
      const input = changesOnTarget(uniqueName('chg-kill-mutation'), db, [{ version: '001', name: 'ledger_plus_one', sql: SLOW_LEDGER_MUTATION }], 'rollback');
      const handle = await startRun(input);
      // Between two polls: the mutation has parts left, and no activity is pending (the workflow sleeps).
      await waitForState(handle, (s) => ((s as ChangesState).changes.current?.mutationPartsLeft ?? 0) > 0, 'the run waiting for its mutation', { worker });
      await waitFor(() => pendingActivities(handle), (pending) => pending.length === 0, 'a pause between polls of the mutation');
      await worker.kill();
      const [mutation] = await conn.rows<{ n: string }>(`SELECT count() AS n FROM system.mutations WHERE database = ${quoteString(db)} AND table = 'ledger' AND is_done = 0`);
      console.log(`mutation: killed the worker between polls (unfinished mutations on the server: ${mutation.n})`);
      workers.push(await spawnWorker(faults.stack));

      const final = await finalState(handle);
      console.log(`mutation: end ${final.status}${final.error ? `: ${final.error.message}` : ''}; activities retried: ${retried(await activityAttempts(handle))}`);

      expect(Number(mutation.n)).toBe(1);
      expect(final.status).toBe('completed');
      expect(await trackedVersions(conn, db)).toEqual([expect.objectContaining({ version: '001', statementsApplied: 1, dirty: false })]);
      const [rows] = await conn.rows<{ rows: string; wrong: string }>(`SELECT count() AS rows, countIf(amount != id + 1) AS wrong FROM ${qualifiedName(db, 'ledger')}`);
      expect({ rows: Number(rows.rows), wrong: Number(rows.wrong) }).toEqual({ rows: LEDGER_ROWS, wrong: 0 });
      expect(await migratorDatabases(conn)).toEqual([]);
      expect(await runningStatements(faults.stack.target, input.id)).toBe(0);
    } finally {
      await conn.close();
    }
  }, FAULT_TEST_TIMEOUT_MS);
});

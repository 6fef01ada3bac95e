/**
 * Records the histories that `test/unit/workflow-replay.test.ts` replays: one run of each ending
 * on real servers, saved as JSON in `test/replay/histories/` under a tag (`HISTORY_TAG`).
 * `HISTORY_KIND` picks the workflow: `transfer` (the default; completed, rejected, rolled back,
 * cancelled, rejected-then-approved: signals after a rejection in one workflow task, and
 * scheduled: renamed, filtered, throttled and held for its schedule after its approval) or
 * `changes` (completed, rejected, rolled back, cancelled and stopped). `HISTORY_ENDINGS` (a comma
 * list, e.g. `rejected-then-approved`; all by default) records only those endings, so that adding
 * one to a tag leaves its other files as they are. Record a new tag after a change to the
 * workflow that adds a `patched()` path, so that both paths are replayed; never re-record to make
 * a failing replay pass.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { qualifiedName } from '../../src/clickhouse/sql';
import { temporalBinary } from '../../src/dev/temporal-server';
import { approveUpdate } from '../../src/workflows';
import type { Change, ChangesInput, ChangesState } from '../../src/workflows/changes-types';
import type { MigrationState, MigrationStatus } from '../../src/workflows/types';
import { changesInput, changesState, createAccounts, createReadings, createShop, ended, SLOW_LEDGER_UPDATE, startChanges, THREE_VERSIONS } from '../integration/changes-helpers';
import { createDemoLike } from '../integration/fixtures';
import globalSetup from '../integration/global-setup';
import globalTeardown from '../integration/global-teardown';
import { awaitingApproval, connect, dropDatabase, inOneTask, migrationInput, queryState, startMigration, startWorker, testClient, uniqueName, waitFor } from '../integration/harness';
import { testStack } from '../integration/stack-env';

const OUT = join(__dirname, 'histories');
const KINDS = ['transfer', 'changes'] as const;
/** Which workflow to record: `transfer` (`clickhouseMigration`) or `changes` (`schemaChanges`). */
const KIND = process.env.HISTORY_KIND ?? 'transfer';
/**
 * Names this recording (`v2-completed.json`, `changes-v1-stopped.json`, …): recordings of older
 * workflow code stay beside it.
 */
const TAG = process.env.HISTORY_TAG ?? (KIND === 'changes' ? 'changes-v1' : 'v2');
/** The endings to record (`HISTORY_ENDINGS`, a comma list); all when unset. */
const ENDINGS = process.env.HISTORY_ENDINGS?.split(',').map((e) => e.trim()).filter((e) => e !== '') ?? null;
/** The endings this process recorded, so that a misspelt `HISTORY_ENDINGS` entry fails the recording. */
const recordedEndings = new Set<string>();

/** The in-process worker, held so that a drive can stop it and start another. */
interface WorkerHolder {
  current: { stop(): Promise<void> };
}

function wanted(ending: string): boolean {
  return ENDINGS === null || ENDINGS.includes(ending);
}

/** The run's history as the Temporal CLI prints it: the JSON form that replay reads. */
function historyJson(workflowId: string): string {
  const args = ['workflow', 'show', '--address', testStack().temporalAddress, '--workflow-id', workflowId, '--output', 'json'];
  return execFileSync(temporalBinary(), args, { encoding: 'utf8' });
}

function save(ending: string, workflowId: string): void {
  writeFileSync(join(OUT, `${TAG}-${ending}.json`), historyJson(workflowId));
  recordedEndings.add(ending);
  console.log(`recorded ${TAG}-${ending}`);
}

/** Approves `step` by Update once the run waits for it. */
async function approve(handle: WorkflowHandle, step: 'configure' | 'validation' | 'migration'): Promise<void> {
  await awaitingApproval(handle, step);
  await handle.executeUpdate(approveUpdate, { args: [{ step, by: 'approver' }] });
}

async function recordTransfers(client: Client, worker: WorkerHolder): Promise<void> {
  const source = connect(testStack().source, 'source');
  try {
    const run = async (ending: string, drive: (handle: WorkflowHandle, db: string) => Promise<void>, extra: (db: string) => Parameters<typeof migrationInput>[2] = () => ({})) => {
      if (!wanted(ending)) return;
      const db = uniqueName(`replay_${ending}`);
      await createDemoLike(source, db, 2_000);
      const handle = await startMigration(client, migrationInput(`replay-${ending}`, [db], { requestedBy: 'recorder', ...extra(db) }));
      await drive(handle, db);
      await handle.result().catch(() => undefined);
      save(ending, handle.workflowId);
    };
    await run('completed', async (handle) => {
      await approve(handle, 'configure');
      await awaitingApproval(handle, 'validation');
      await handle.signal('approve', { step: 'validation', by: 'cli' });
      await approve(handle, 'migration');
    });
    await run('rejected', async (handle) => {
      await approve(handle, 'configure');
      await awaitingApproval(handle, 'validation');
      await handle.signal('reject', { step: 'validation', by: 'cli', reason: 'not today' });
    });
    await run('rolled-back', async (handle, db) => {
      await approve(handle, 'configure');
      await approve(handle, 'validation');
      await awaitingApproval(handle, 'migration');
      await source.exec(`ALTER TABLE ${qualifiedName(db, 'users')} DROP COLUMN name`);
      await handle.executeUpdate(approveUpdate, { args: [{ step: 'migration', by: 'approver' }] });
    });
    // Cancelled inside the migration step (from v6 on; earlier tags were cancelled at the validation gate).
    await run('cancelled', async (handle) => {
      await approve(handle, 'configure');
      await approve(handle, 'validation');
      await approve(handle, 'migration');
      await waitFor(() => queryState(handle), (s) => s.currentStep === 'migration' && s.restorePoint !== null, 'the restore point of the migration step');
      await handle.cancel();
    });
    // The signals after the rejection are ignored under the decisions-after-rejection patch, whose marker only such a task writes.
    await run('rejected-then-approved', async (handle) => {
      await approve(handle, 'configure');
      await awaitingApproval(handle, 'validation');
      worker.current = await inOneTask(handle, worker.current, [
        ['reject', { step: 'validation', by: 'cli', reason: 'not today' }],
        ['approve', { step: 'validation', by: 'cli' }],
        ['reject', { step: 'validation', by: 'cli', reason: 'nor tomorrow' }],
      ]);
      const final = (await handle.result()) as MigrationState;
      if (final.status !== 'rejected' || final.ignoredSignals.length !== 2) {
        throw new Error(`the rejected-then-approved run ended ${final.status} with ${final.ignoredSignals.length} ignored signals`);
      }
    });
    // Issue 21's fields at once (from v8 on): renamed, one table left out, throttled, and held after its approval until a moment a few seconds on.
    await run(
      'scheduled',
      async (handle) => {
        await approve(handle, 'configure');
        await approve(handle, 'validation');
        // The approval comes seconds before `notBefore`: the run waits on its timer, then copies.
        await approve(handle, 'migration');
        const final = (await handle.result()) as MigrationState;
        if (final.status !== 'completed') throw new Error(`the scheduled run ended ${final.status}: ${final.error?.message ?? 'no error'}`);
      },
      (db) => ({
        renames: { [db]: `${db}_v2` },
        exclude: [`${db}.event_types`],
        schedule: { notBefore: new Date(Date.now() + 20_000).toISOString() },
        options: { maxBytesPerSecond: 4 * 2 ** 20 },
      }),
    );
  } finally {
    await source.close();
  }
}

/** Passes on the staging copy of `readings` and fails on the real table at statement 4 (see `createReadings`). */
const FAILS_ON_TARGET: Change[] = [
  {
    version: '001',
    name: 'sites',
    sql: [
      "ALTER TABLE readings ADD COLUMN unit String DEFAULT 'kWh'",
      'CREATE TABLE sites (id UInt32, name String) ENGINE = MergeTree ORDER BY id',
      "INSERT INTO sites VALUES (1, 'north'), (2, 'south')",
      'ALTER TABLE readings MODIFY COLUMN value UInt64',
      'ALTER TABLE readings ADD COLUMN site UInt32 DEFAULT 1',
    ].join(';\n'),
  },
];

/** A second version whose last statement is a mutation of seconds on `ledger` (see `createAccounts`). */
const SLOW_MUTATION: Change[] = [
  { version: '001', name: 'baseline', sql: "ALTER TABLE accounts ADD COLUMN note String DEFAULT ''" },
  {
    version: '002',
    name: 'reshape',
    sql: ['ALTER TABLE accounts MODIFY COLUMN balance UInt64', 'DROP TABLE audit', SLOW_LEDGER_UPDATE].join(';\n'),
  },
];

async function recordChanges(client: Client): Promise<void> {
  const target = connect(testStack().target, 'target');
  const databases: string[] = [];
  try {
    const run = async (
      ending: string,
      expected: MigrationStatus,
      arrange: (db: string) => Promise<void>,
      changes: Change[],
      overrides: Partial<ChangesInput>,
      drive: (handle: WorkflowHandle) => Promise<void>,
    ) => {
      if (!wanted(ending)) return;
      const db = uniqueName(`replay_changes_${ending.replace('-', '_')}`);
      databases.push(db);
      await arrange(db);
      const handle = await startChanges(client, changesInput(`replay-changes-${ending}`, db, changes, { requestedBy: 'recorder', ...overrides }));
      await drive(handle);
      const state: ChangesState = await ended(handle);
      // A history is only worth keeping if the run ended the way its file says.
      if (state.status !== expected || (ending === 'stopped') !== (state.changes.stopped !== null)) {
        throw new Error(`the ${ending} run ended ${state.status} (stopped: ${JSON.stringify(state.changes.stopped)}): ${state.error?.message ?? 'no error'}`);
      }
      save(ending, handle.workflowId);
    };
    const shop = (db: string) => createShop(target, db, { badAmount: false });
    const approveAll = async (handle: WorkflowHandle) => {
      for (const step of ['configure', 'validation', 'migration'] as const) await approve(handle, step);
    };
    await run('completed', 'completed', shop, THREE_VERSIONS, {}, async (handle) => {
      await approve(handle, 'configure');
      await awaitingApproval(handle, 'validation');
      await handle.signal('approve', { step: 'validation', by: 'cli' });
      await approve(handle, 'migration');
    });
    await run('rejected', 'rejected', shop, THREE_VERSIONS, {}, async (handle) => {
      await approve(handle, 'configure');
      await awaitingApproval(handle, 'validation');
      await handle.signal('reject', { step: 'validation', by: 'cli', reason: 'not today' });
    });
    await run('rolled-back', 'rolled_back', (db) => createReadings(target, db), FAILS_ON_TARGET, {}, approveAll);
    await run('stopped', 'failed', (db) => createReadings(target, db), FAILS_ON_TARGET, { options: { onFailure: 'stop' } }, approveAll);
    await run('cancelled', 'cancelled', (db) => createAccounts(target, db), SLOW_MUTATION, {}, async (handle) => {
      await approveAll(handle);
      await waitFor(() => changesState(handle), (s) => (s.changes.current?.mutationPartsLeft ?? 0) > 0, 'the run waiting for its mutation');
      await handle.cancel();
    });
  } finally {
    for (const db of databases) await dropDatabase(target, db);
    await target.close();
  }
}

async function main(): Promise<void> {
  if (!(KINDS as readonly string[]).includes(KIND)) throw new Error(`HISTORY_KIND must be one of ${KINDS.join(', ')}, not ${KIND}`);
  await globalSetup();
  const worker: WorkerHolder = { current: await startWorker() };
  const client = await testClient();
  try {
    if (KIND === 'changes') await recordChanges(client);
    else await recordTransfers(client, worker);
    const missing = (ENDINGS ?? []).filter((e) => !recordedEndings.has(e));
    if (missing.length > 0) throw new Error(`no ${KIND} ending is named ${missing.join(', ')}`);
  } finally {
    await client.connection.close();
    await worker.current.stop();
    await globalTeardown();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

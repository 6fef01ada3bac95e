/**
 * A run whose lock is terminated by hand while its migration step runs: it stops there as
 * LockLost and rolls the database back, instead of writing on without its lock (another run may
 * take the lock and write into the same database meanwhile).
 */
import { Context } from '@temporalio/activity';
import { WorkflowFailedError } from '@temporalio/client';
import type { MigrationActivities } from '../../src/activities';
import { qualifiedName, quoteIdentifier } from '../../src/clickhouse/sql';
import type { Change } from '../../src/workflows/changes-types';
import { approveThrough, changesInput, createAccounts, ended, midMutation, SLOW_LEDGER_UPDATE, snapshotOf, startChanges } from './changes-helpers';
import { createDemoLike } from './fixtures';
import { awaitingApproval, migrationInput, queryState, startMigration, startWorker, tableDigest, uniqueName, useTestServers, waitFor } from './harness';

const servers = useTestServers({ worker: false });
let worker: { stop(): Promise<void> } | undefined;

/** Runs (by workflow id) whose copies, once landed, hold until they are cancelled: a migration step that lasts. */
const holding = new Set<string>();
/** The runs of {@link holding} with a copy that landed and now holds. */
const held = new Set<string>();

function holdCopies(activities: MigrationActivities): MigrationActivities {
  return {
    ...activities,
    async copyUnitRange(req) {
      const result = await activities.copyUnitRange(req);
      const context = Context.current();
      const run = context.info.workflowExecution?.workflowId ?? '';
      if (!holding.has(run)) return result;
      held.add(run);
      for (;;) {
        context.heartbeat();
        await context.sleep(200); // rejects once the activity is cancelled
      }
    },
  };
}

beforeAll(async () => {
  worker = await startWorker(holdCopies);
});

afterAll(async () => {
  await worker?.stop();
});

describe('a lock lost during the migration step', () => {
  it('when the lock is terminated while the run waits for its mutation, the run stops as LockLost and rolls the database back', async () => {
    const db = servers.database('lock_lost');
    const t = servers.target;
    await createAccounts(t, db);
    const before = await snapshotOf(t, db);
    // The test's own count and checksum of the two tables the statements change.
    const digest = async (table: string) =>
      (await t.rows<{ n: string; sum: string }>(`SELECT count() AS n, sum(cityHash64(*)) AS sum FROM ${qualifiedName(db, table)}`))[0];
    const ledgerBefore = await digest('ledger');
    const accountsBefore = await digest('accounts');
    const change: Change = { version: '001', name: 'reprice', sql: ['ALTER TABLE accounts MODIFY COLUMN balance UInt64', SLOW_LEDGER_UPDATE].join(';\n') };
    const handle = await startChanges(servers.client, changesInput(uniqueName('lock-lost'), db, [change]));
    const approving = approveThrough(handle);

    // The lock goes once the mutation has rewritten some parts and has others left.
    const waiting = await midMutation(handle, t, db);
    expect(waiting.state.changes.current).toEqual(expect.objectContaining({ version: '001', statement: 2 }));
    expect(waiting.state.changes.current?.mutationPartsLeft).toBeGreaterThan(0);
    const [lock] = waiting.state.locks;
    await servers.client.workflow.getHandle(lock).terminate('a person freed the lock by hand');
    await approving;
    await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
    const state = await ended(handle);

    expect(state.status).toBe('rolled_back');
    expect(state.error).toMatchObject({ type: 'LockLost', message: expect.stringContaining(`the lock ${lock} of ${db} was terminated while this run held it`) });
    expect(state.steps.find((s) => s.name === 'migration')?.status).toBe('failed');
    expect(state.rollback?.verified.every((v) => v.match)).toBe(true);
    expect(await digest('ledger')).toEqual(ledgerBefore);
    expect(await digest('accounts')).toEqual(accountsBefore);
    expect(await snapshotOf(t, db)).toEqual(before);
    expect(await t.rows(`SELECT table FROM system.mutations WHERE database = '${db}' AND is_done = 0`)).toEqual([]);
  });

  it('when the lock of a transfer is terminated while its copy runs, the run stops as LockLost and rolls the target back', async () => {
    const db = servers.database('lock_lost_mig');
    await createDemoLike(servers.source, db, 20_000);
    // The target holds `events` with rows of its own, which the run replaces.
    await servers.target.exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
    await servers.target.exec(
      `CREATE TABLE ${qualifiedName(db, 'events')} (event_date Date, user_id UInt64, kind String, amount Float64) ENGINE = MergeTree PARTITION BY toYYYYMM(event_date) ORDER BY (event_date, user_id)`,
    );
    await servers.target.exec(`INSERT INTO ${qualifiedName(db, 'events')} SELECT toDate('2025-03-01') + (number % 90), number, 'old', 1 FROM system.numbers LIMIT 7000`);
    const before = await tableDigest(servers.target, db, 'events');
    const tables = async () => (await servers.target.rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = '${db}' ORDER BY name`)).map((t) => t.name);
    const input = migrationInput(uniqueName('lock-lost-mig'), [db], { options: { onConflict: 'replace', parallelism: 1 } });
    holding.add(input.id);
    const handle = await startMigration(servers.client, input);
    for (const step of ['configure', 'validation', 'migration'] as const) {
      await awaitingApproval(handle, step);
      await handle.signal('approve', { step });
    }

    const copying = await waitFor(
      () => queryState(handle),
      (s) => held.has(input.id) || !['running', 'awaiting_approval'].includes(s.status),
      'a copy of the run landed and holding',
    );
    expect(held.has(input.id)).toBe(true);
    expect(copying.currentStep).toBe('migration');
    const [lock] = copying.locks;
    await servers.client.workflow.getHandle(lock).terminate('a person freed the lock by hand');
    // Its copy holds until cancelled: a run that does not notice the lost lock never ends.
    const state = await waitFor(() => queryState(handle), (s) => !['running', 'awaiting_approval'].includes(s.status), 'the run to stop after its lock was lost', 60_000);
    await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);

    expect(state.status).toBe('rolled_back');
    expect(state.error).toMatchObject({ type: 'LockLost', message: expect.stringContaining(`the lock ${lock} of ${db} was terminated while this run held it`) });
    expect(state.steps.find((s) => s.name === 'migration')?.status).toBe('failed');
    expect(state.rollback?.verified.every((v) => v.match)).toBe(true);
    expect(await tableDigest(servers.target, db, 'events')).toEqual(before);
    expect(await tables()).toEqual(['events']);
  });
});

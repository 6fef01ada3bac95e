/**
 * A run whose lock is terminated by hand while its migration step runs: it stops there as
 * LockLost and rolls the database back, instead of writing on without its lock (another run may
 * take the lock and write into the same database meanwhile).
 */
import { WorkflowFailedError } from '@temporalio/client';
import { qualifiedName } from '../../src/clickhouse/sql';
import type { Change } from '../../src/workflows/changes-types';
import { approveThrough, changesInput, changesState, createAccounts, ended, SLOW_LEDGER_UPDATE, snapshotOf, startChanges } from './changes-helpers';
import { uniqueName, useTestServers, waitFor } from './harness';

const servers = useTestServers({ worker: true });

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
    const rewritten = async () => Number((await t.rows<{ n: string }>(`SELECT count() AS n FROM ${qualifiedName(db, 'ledger')} WHERE amount != id`))[0].n);

    // The lock goes once the mutation has rewritten some parts and has others left.
    const waiting = await waitFor(
      async () => ({ state: await changesState(handle), rewritten: await rewritten() }),
      ({ state: s, rewritten: n }) => ((s.changes.current?.mutationPartsLeft ?? 0) > 0 && n > 0) || !['running', 'awaiting_approval'].includes(s.status),
      'the run waiting for its mutation, some of it done',
      120_000,
    );
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
});

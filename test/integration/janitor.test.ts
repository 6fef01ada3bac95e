import { randomUUID } from 'node:crypto';
import type { WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { manifestDatabase, restorePointDatabase, stagingTable, trialDatabase } from '../../src/clickhouse/scratch';
import { qualifiedName, quoteIdentifier, quoteString } from '../../src/clickhouse/sql';
import { ensureJanitor } from '../../src/janitor-schedule';
import { keyringOf } from '../../src/secrets';
import { connectClient } from '../../src/temporal';
import { migrationJanitor } from '../../src/workflows';
import { runKeyOf } from '../../src/workflows/state';
import { JANITOR_SCHEDULE_ID, JANITOR_WORKFLOW_TYPE, TASK_QUEUE, type JanitorReport, type MigrationState } from '../../src/workflows/types';
import { createDemoLike } from './fixtures';
import { awaitingApproval, migrationInput, startMigration, uniqueName, useTestServers, waitFor } from './harness';
import { testStack } from './stack-env';

const servers = useTestServers({ worker: true });

/** Scratch objects named as a run names them, standing for what a crash left behind. */
async function leaveBehind(handle: WorkflowHandleWithFirstExecutionRunId | { firstExecutionRunId: string }, db: string): Promise<{ staging: string; trial: string; restore: string }> {
  const runKey = runKeyOf(handle.firstExecutionRunId);
  const names = { staging: stagingTable(runKey, '1', db, 'events', 'all'), trial: trialDatabase(runKey), restore: restorePointDatabase(runKey) };
  await servers.target.exec(`CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(db)}`);
  await servers.target.exec(`CREATE TABLE IF NOT EXISTS ${qualifiedName(db, names.staging)} (x UInt8) ENGINE = Memory`);
  await servers.target.exec(`CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(names.trial)}`);
  await servers.target.exec(`CREATE DATABASE IF NOT EXISTS ${quoteIdentifier(names.restore)}`);
  return names;
}

async function exists(name: string, db?: string): Promise<boolean> {
  const sql = db
    ? `SELECT count() AS n FROM system.tables WHERE database = ${quoteString(db)} AND name = ${quoteString(name)}`
    : `SELECT count() AS n FROM system.databases WHERE name = ${quoteString(name)}`;
  return Number((await servers.target.rows<{ n: string }>(sql))[0].n) > 0;
}

const runJanitor = () => servers.client.workflow.execute(migrationJanitor, { taskQueue: TASK_QUEUE, workflowId: uniqueName('janitor') });

describe('the janitor', () => {
  it('removes what closed runs left, keeps the restore point of a terminated run and lists it, and leaves open runs alone', async () => {
    const start = async (prefix: string) => {
      const db = servers.database(prefix);
      await createDemoLike(servers.source, db, 100);
      const handle = await startMigration(servers.client, migrationInput(uniqueName(prefix), [db]));
      await awaitingApproval(handle, 'configure');
      return { db, handle, left: await leaveBehind(handle, db) };
    };
    const terminated = await start('terminated');
    const rejected = await start('rejected');
    const open = await start('open');
    await terminated.handle.terminate('the operator pulled the plug');
    await rejected.handle.signal('reject', { step: 'configure', by: 'jest', reason: 'not now' });
    await rejected.handle.result();
    // The rejected run dropped its staging and scratch databases; leave them again, as a failed clean-up would.
    rejected.left = await leaveBehind(rejected.handle, rejected.db);

    const report = await waitFor<JanitorReport>(runJanitor, (r) => r.removed.some((o) => o.endsWith(terminated.left.trial)), 'the janitor to see the terminated run closed');
    console.log(`janitor report: ${JSON.stringify(report, null, 1)}`);

    expect([await exists(terminated.left.staging, terminated.db), await exists(terminated.left.trial), await exists(terminated.left.restore)]).toEqual([false, false, true]);
    expect(report.kept).toContainEqual({ object: expect.stringContaining(terminated.left.restore), reason: expect.stringMatching(/ended failed: the restore point may be the only way back/) });
    expect([await exists(rejected.left.staging, rejected.db), await exists(rejected.left.trial), await exists(rejected.left.restore)]).toEqual([false, false, false]);
    expect([await exists(open.left.staging, open.db), await exists(open.left.trial), await exists(open.left.restore)]).toEqual([true, true, true]);

    await open.handle.signal('reject', { step: 'configure', by: 'jest', reason: 'done' });
    expect(((await open.handle.result()) as MigrationState).status).toBe('rejected');
    // What the janitor rightly kept goes now, the terminated run's manifest with its restore point: later files share this target.
    const manifests = [terminated, open].map((run) => manifestDatabase(runKeyOf(run.handle.firstExecutionRunId)));
    for (const name of [terminated.left.restore, open.left.restore, open.left.trial, ...manifests]) await servers.target.exec(`DROP DATABASE IF EXISTS ${quoteIdentifier(name)}`);
  });

  it('when a target holds scratch objects of a run its namespace does not know (as another namespace sharing the target leaves them), it keeps and lists them, leaves an open run\'s alone even when it cannot read its input, and still removes a closed run\'s', async () => {
    const db = servers.database('shared');
    await createDemoLike(servers.source, db, 100);
    const handle = await startMigration(servers.client, migrationInput(uniqueName('closed'), [db]));
    await awaitingApproval(handle, 'configure');
    await handle.signal('reject', { step: 'configure', by: 'jest', reason: 'not now' });
    await handle.result();
    const closed = await leaveBehind(handle, db);
    // A run id no run of this namespace has: the objects of a run of another namespace, on the same target.
    const foreignRunId = randomUUID();
    const foreign = await leaveBehind({ firstExecutionRunId: foreignRunId }, db);
    // An open run of this namespace whose input is sealed under a key the janitor's worker lacks.
    const stranger = await connectClient({ TEMPORAL_ADDRESS: testStack().temporalAddress, TEMPORAL_NAMESPACE: 'default' }, keyringOf('a key the janitor never saw'));
    const sealedRun = await startMigration(stranger, migrationInput(uniqueName('sealed'), [db])).finally(() => stranger.connection.close());
    const sealed = await leaveBehind(sealedRun, db);

    const report = await waitFor<JanitorReport>(runJanitor, (r) => r.removed.some((o) => o.endsWith(closed.trial)), 'the janitor to sweep the closed run');

    expect([await exists(closed.staging, db), await exists(closed.trial), await exists(closed.restore)]).toEqual([false, false, false]);
    expect([await exists(foreign.staging, db), await exists(foreign.trial), await exists(foreign.restore)]).toEqual([true, true, true]);
    const reason = `no run of namespace default has run key ${runKeyOf(foreignRunId)}: it may belong to another namespace or to a run older than 14 days`;
    for (const object of [`${db}.${foreign.staging}`, foreign.trial, foreign.restore]) expect(report.kept).toContainEqual({ object: expect.stringMatching(new RegExp(`${object.replace(/\./g, '\\.')}$`)), reason });
    expect(report.removed.filter((o) => o.includes(runKeyOf(foreignRunId)))).toEqual([]);
    expect([await exists(sealed.staging, db), await exists(sealed.trial), await exists(sealed.restore)]).toEqual([true, true, true]);
    expect([...report.removed, ...report.kept.map((k) => k.object)].filter((o) => o.includes(runKeyOf(sealedRun.firstExecutionRunId)))).toEqual([]);
    await servers.client.workflow.getHandle(sealedRun.workflowId).terminate('the test is over');
    for (const name of [foreign.trial, foreign.restore, sealed.trial, sealed.restore]) await servers.target.exec(`DROP DATABASE IF EXISTS ${quoteIdentifier(name)}`);
  });

  it('is scheduled at worker start, and the schedule runs it at once', async () => {
    await ensureJanitor(servers.client);
    await ensureJanitor(servers.client);

    const schedule = await servers.client.schedule.getHandle(JANITOR_SCHEDULE_ID).describe();
    expect(schedule.action).toMatchObject({ type: 'startWorkflow', workflowType: JANITOR_WORKFLOW_TYPE });
    const runs = await waitFor(
      async () => {
        const found = [];
        for await (const run of servers.client.workflow.list({ query: `WorkflowType = '${JANITOR_WORKFLOW_TYPE}' AND ExecutionStatus = 'Completed'` })) found.push(run);
        return found;
      },
      (found) => found.some((r) => r.workflowId.startsWith(JANITOR_SCHEDULE_ID)),
      'a scheduled janitor run to complete',
    );
    expect(runs.length).toBeGreaterThan(0);
    await servers.client.schedule.getHandle(JANITOR_SCHEDULE_ID).delete();
  });
});

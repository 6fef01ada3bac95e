/**
 * Records the histories that `test/unit/workflow-replay.test.ts` replays: one run of each ending
 * (completed, rejected, rolled back, cancelled) on real servers, saved as JSON in
 * `test/replay/histories/` under a tag (`HISTORY_TAG`). Record a new tag after a change to the
 * workflow that adds a `patched()` path, so that both paths are replayed; never re-record to make
 * a failing replay pass.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import type { WorkflowHandle } from '@temporalio/client';
import { qualifiedName } from '../../src/clickhouse/sql';
import { temporalBinary } from '../../src/dev/temporal-server';
import { approveUpdate } from '../../src/workflows';
import { createDemoLike } from '../integration/fixtures';
import globalSetup from '../integration/global-setup';
import globalTeardown from '../integration/global-teardown';
import { awaitingApproval, connect, migrationInput, queryState, startMigration, startWorker, testClient, uniqueName, waitFor } from '../integration/harness';
import { testStack } from '../integration/stack-env';

const OUT = join(__dirname, 'histories');
/** Names this recording (`v2-completed.json`, …): recordings of older workflow code stay beside it. */
const TAG = process.env.HISTORY_TAG ?? 'v2';

/** The run's history as the Temporal CLI prints it: the JSON form that replay reads. */
function historyJson(workflowId: string): string {
  const args = ['workflow', 'show', '--address', testStack().temporalAddress, '--workflow-id', workflowId, '--output', 'json'];
  return execFileSync(temporalBinary(), args, { encoding: 'utf8' });
}

async function main(): Promise<void> {
  await globalSetup();
  const worker = await startWorker();
  const client = await testClient();
  const source = connect(testStack().source, 'source');
  try {
    const run = async (ending: string, drive: (handle: WorkflowHandle, db: string) => Promise<void>) => {
      const db = uniqueName(`replay_${ending}`);
      await createDemoLike(source, db, 2_000);
      const handle = await startMigration(client, migrationInput(`replay-${ending}`, [db], { requestedBy: 'recorder' }));
      await drive(handle, db);
      await handle.result().catch(() => undefined);
      writeFileSync(join(OUT, `${TAG}-${ending}.json`), historyJson(handle.workflowId));
      console.log(`recorded ${ending}`);
    };
    const approve = async (handle: WorkflowHandle, step: 'configure' | 'validation' | 'migration') => {
      await awaitingApproval(handle, step);
      await handle.executeUpdate(approveUpdate, { args: [{ step, by: 'approver' }] });
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
  } finally {
    await source.close();
    await client.connection.close();
    await worker.stop();
    await globalTeardown();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

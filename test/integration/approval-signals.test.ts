import type { WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { encryptingDataConverter } from '../../src/codec';
import { WORKFLOW_INTERCEPTOR_MODULES } from '../../src/worker-factory';
import { PATCHES } from '../../src/workflows/patches';
import type { MigrationState } from '../../src/workflows/types';
import { createDemoLike } from './fixtures';
import { awaitingApproval, inOneTask, migrationInput, queryState, startMigration, startWorker, TEST_KEY, uniqueName, useTestServers, waitFor } from './harness';

// No worker of the file's own: each test starts one, and stops it so that signals wait for the next.
const servers = useTestServers({ worker: false });

async function runAwaitingConfigure(prefix: string): Promise<WorkflowHandleWithFirstExecutionRunId> {
  const db = servers.database(prefix);
  await createDemoLike(servers.source, db, 100);
  const handle = await startMigration(servers.client, migrationInput(uniqueName(prefix), [db]));
  await awaitingApproval(handle, 'configure');
  return handle;
}

describe('approval signals', () => {
  it('when a reject and then an approve (and a second reject) of the awaited step land in one workflow task, the run ends rejected by the first, and the others are ignored', async () => {
    let worker = await startWorker();
    try {
      const handle = await runAwaitingConfigure('reject-approve');
      worker = await inOneTask(handle, worker, [
        ['reject', { step: 'configure', by: 'rita', reason: 'not this week' }],
        ['approve', { step: 'configure', by: 'adam' }],
        ['reject', { step: 'configure', by: 'otto', reason: 'me too' }],
      ]);
      const final = (await handle.result()) as MigrationState;

      expect(final.status).toBe('rejected');
      expect(final.rejection).toMatchObject({ step: 'configure', by: 'rita', reason: 'not this week', via: 'signal' });
      expect(final.approvals).toEqual([]);
      expect(final.ignoredSignals).toEqual([
        { name: 'approve', step: 'configure', reason: 'the run was rejected at step "configure"', at: expect.any(String) },
        { name: 'reject', step: 'configure', reason: 'the run was rejected at step "configure"', at: expect.any(String) },
      ]);
      // The patched path (its marker written mid-run, in the signals' task) replays as it ran.
      const patches = ((await handle.fetchHistory()).events ?? []).flatMap((e) =>
        (e.markerRecordedEventAttributes?.details?.['patch-data']?.payloads ?? []).map((p) => (JSON.parse(Buffer.from(p.data ?? []).toString('utf8')) as { id: string }).id),
      );
      expect(patches).toContain(PATCHES.decisionsAfterRejection);
      const replay = { workflowsPath: require.resolve('../../src/workflows'), interceptors: { workflowModules: WORKFLOW_INTERCEPTOR_MODULES }, dataConverter: encryptingDataConverter(TEST_KEY) };
      await expect(Worker.runReplayHistory(replay, await handle.fetchHistory(), handle.workflowId)).resolves.toBeUndefined();
    } finally {
      await worker.stop();
    }
  });

  it('when an approve and then a reject of the awaited step land in one workflow task, the approval stands and the reject is ignored', async () => {
    let worker = await startWorker();
    try {
      const handle = await runAwaitingConfigure('approve-reject');
      worker = await inOneTask(handle, worker, [
        ['approve', { step: 'configure', by: 'adam' }],
        ['reject', { step: 'configure', by: 'rita', reason: 'too late' }],
      ]);
      const state = await awaitingApproval(handle, 'validation');

      expect(state.approvals).toEqual([expect.objectContaining({ step: 'configure', by: 'adam' })]);
      expect(state.rejection).toBeNull();
      expect(state.ignoredSignals).toEqual([{ name: 'reject', step: 'configure', reason: '"configure" is already approved', at: expect.any(String) }]);
      await handle.signal('reject', { step: 'validation', by: 'rita', reason: 'done' });
      expect(((await handle.result()) as MigrationState).status).toBe('rejected');
    } finally {
      await worker.stop();
    }
  });

  it('when 100 signals that do not fit arrive, the state lists the latest 20 and counts the 80 before them', async () => {
    const worker = await startWorker();
    try {
      const handle = await runAwaitingConfigure('many-ignored');
      for (let i = 0; i < 100; i++) await handle.signal('approve', { step: `no-such-step-${i}` });
      const state = await waitFor(() => queryState(handle), (s) => s.ignoredSignals.length + (s.ignoredSignalsDropped ?? 0) >= 100, 'the 100 ignored signals');

      expect(state.ignoredSignals.map((s) => s.step)).toEqual(Array.from({ length: 20 }, (_, i) => `no-such-step-${80 + i}`));
      expect(state.ignoredSignalsDropped).toBe(80);
      expect(state.awaitingApproval).toEqual({ step: 'configure' });
      await handle.signal('reject', { step: 'configure', reason: 'done testing' });
      expect(((await handle.result()) as MigrationState).status).toBe('rejected');
    } finally {
      await worker.stop();
    }
  });
});

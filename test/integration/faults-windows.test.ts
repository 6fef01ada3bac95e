import { isFinal } from '../../src/cli/exit-codes';
import { TASK_QUEUE, WORKFLOW_TYPE } from '../../src/workflows/types';
import { uniqueName, waitFor } from './harness';
import { createFaultData, expectExactData, faultInput, leftOnTarget, spawnWorker, useFaultStack, waitForState, FAULT_TEST_TIMEOUT_MS } from './fault-harness';

const faults = useFaultStack();

describe('the Temporal server restarted while a run waits for its maintenance window', () => {
  it('when Temporal is down across the opening, the run, its timer kept in the database file, starts after it and completes with exact data', async () => {
    const { stack } = faults;
    const db = uniqueName('faults_window');
    const source = stack.source.connect();
    const tables = await createFaultData(source, db, 50_000).finally(() => source.close());
    const worker = await spawnWorker(stack);
    faults.workers.push(worker);
    const notBefore = new Date(Date.now() + 40_000).toISOString();
    const input = faultInput(stack, uniqueName('window'), [db], { approvals: { required: false }, schedule: { notBefore } });
    const handle = await stack.client.workflow.start(WORKFLOW_TYPE, { taskQueue: TASK_QUEUE, workflowId: input.id, args: [input] });

    const waiting = await waitForState(handle, (s) => s.waitingForWindow != null || isFinal(s.status), 'the run to wait for notBefore', { worker });
    expect(waiting.waitingForWindow).toEqual({ opensAt: new Date(Date.parse(notBefore)).toISOString() });
    await stack.temporal.stop();
    // Down until the opening has passed: the timer must fire from the server's database file.
    await waitFor(async () => Date.now(), (now) => now > Date.parse(notBefore) + 2_000, 'the opening to pass while Temporal is down');
    await stack.temporal.start();

    const final = await waitForState(handle, (s) => isFinal(s.status), 'the run to end', { timeoutMs: 600_000, worker });
    const events = (await handle.fetchHistory()).events ?? [];
    expect(final.status).toBe('completed');
    expect(final.waitingForWindow).toBeNull();
    expect(Date.parse(final.restorePoint!.takenAt)).toBeGreaterThanOrEqual(Date.parse(notBefore));
    expect(events.filter((e) => e.timerStartedEventAttributes)).toHaveLength(1);
    await expectExactData(stack, db, tables);
    expect(await leftOnTarget(stack, [], final.runId)).toEqual([]);
  }, FAULT_TEST_TIMEOUT_MS);
});

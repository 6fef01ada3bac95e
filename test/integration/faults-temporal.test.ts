import { isFinal } from '../../src/cli/exit-codes';
import { TASK_QUEUE, WORKFLOW_TYPE } from '../../src/workflows/types';
import { uniqueName, waitFor } from './harness';
import {
  activityAttempts,
  createFaultData,
  expectExactData,
  leftOnTarget,
  faultInput,
  retried,
  runningStatements,
  spawnWorker,
  startFaultStack,
  waitForState,
  type FaultProcess,
  type FaultStack,
  FAULT_TEST_TIMEOUT_MS,
} from './fault-harness';

let stack: FaultStack;
let worker: FaultProcess | undefined;

beforeAll(async () => {
  stack = await startFaultStack();
}, 240_000);

afterAll(async () => {
  await worker?.kill();
  await stack?.close();
});

describe('the Temporal server restarted', () => {
  it('in the middle of a copy: the run, kept in its database file, completes with exact data', async () => {
    const db = uniqueName('faults_temporal');
    const source = stack.source.connect();
    const tables = await createFaultData(source, db, 300_000).finally(() => source.close());
    worker = await spawnWorker(stack);
    const input = faultInput(stack, uniqueName('temporal'), [db], { approvals: { required: false }, options: { parallelism: 2, unitBytes: 1 } });
    const handle = await stack.client.workflow.start(WORKFLOW_TYPE, { taskQueue: TASK_QUEUE, workflowId: input.id, args: [input] });

    const before = await waitForState(handle, (s) => s.currentStep === 'migration' && s.progress.unitsDone >= 3, 'three units copied', { worker });
    expect(before.progress.unitsDone).toBeLessThan(before.progress.unitsTotal);
    const copying = await runningStatements(stack.target, input.id);
    await stack.temporal.stop();
    // Down until the copies in flight have ended, so that they report to a server that is not there.
    await waitFor(() => runningStatements(stack.target, input.id), (n) => n === 0, 'the copies in flight to end', 120_000);
    const stoppedAt = `${before.progress.unitsDone}/${before.progress.unitsTotal} units (${copying} statements of the run running on the target as the stop began)`;
    await stack.temporal.start();

    const final = await waitForState(handle, (s) => isFinal(s.status), 'the run to end', { timeoutMs: 600_000, worker });
    const attempts = await activityAttempts(handle);
    const { runId } = await handle.describe();
    console.log(
      `Temporal stopped and started at ${stoppedAt}; the run (run id ${runId} = first ${handle.firstExecutionRunId}) ended ${final.status}, ` +
        `units ${final.progress.unitsDone}/${final.progress.unitsTotal}; activities retried: ${retried(attempts)}; worker still the first: ${worker.child.exitCode === null}`,
    );

    expect(final.status).toBe('completed');
    expect(runId).toBe(handle.firstExecutionRunId);
    await expectExactData(stack, db, tables);
    expect(await leftOnTarget(stack, [], final.runId)).toEqual([]);
  }, FAULT_TEST_TIMEOUT_MS);
});

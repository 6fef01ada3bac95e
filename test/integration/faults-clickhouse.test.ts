import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { isFinal } from '../../src/cli/exit-codes';
import { approveUpdate } from '../../src/workflows/messages';
import { TASK_QUEUE, WORKFLOW_TYPE, type MigrationInput, type MigrationState, type StepName } from '../../src/workflows/types';
import { uniqueName } from './harness';
import {
  activityAttempts,
  createFaultData,
  expectExactData,
  faultInput,
  leftOnTarget,
  retried,
  spawnWorker,
  startFaultStack,
  waitForFailedAttempt,
  waitForState,
  type FaultClickHouse,
  type FaultProcess,
  type FaultStack,
  type FaultTable,
  FAULT_TEST_TIMEOUT_MS,
} from './fault-harness';

let stack: FaultStack;
let worker: FaultProcess;

beforeAll(async () => {
  stack = await startFaultStack();
  worker = await spawnWorker(stack);
}, 240_000);

afterAll(async () => {
  await worker?.kill();
  await stack?.close();
});

/** A fresh source database of the fault data set, and a run over it (started, not yet awaited). */
async function startRun(prefix: string, approvals: boolean): Promise<{ db: string; tables: FaultTable[]; input: MigrationInput; handle: WorkflowHandle }> {
  // A server stopped by an earlier test that failed half-way is back for this one.
  await Promise.all([stack.source.start(), stack.target.start()]);
  const db = uniqueName(prefix);
  const source = stack.source.connect();
  const tables = await createFaultData(source, db, 300_000).finally(() => source.close());
  const input = faultInput(stack, uniqueName(prefix), [db], { approvals: { required: approvals }, options: { parallelism: 2, unitBytes: 1 } });
  const handle = await stack.client.workflow.start(WORKFLOW_TYPE, { taskQueue: TASK_QUEUE, workflowId: input.id, args: [input] });
  return { db, tables, input, handle };
}

async function approve(handle: WorkflowHandle, step: StepName): Promise<void> {
  await waitForState(handle, (s) => s.awaitingApproval?.step === step, `the gate of ${step}`, { worker });
  await handle.executeUpdate(approveUpdate, { args: [{ step, by: 'fault-test' }] });
}

/** Waits until the copy has landed three units, and says how far it is. */
async function midCopy(handle: WorkflowHandle): Promise<string> {
  const s = await waitForState(handle, (st) => st.currentStep === 'migration' && st.progress.unitsDone >= 3, 'three units copied', { worker });
  expect(s.progress.unitsDone).toBeLessThan(s.progress.unitsTotal);
  return `${s.progress.unitsDone}/${s.progress.unitsTotal} units`;
}

/**
 * Stops `server` (and does `whileDown`), waits until an attempt of `activity` has failed against
 * it, and starts it again; returns what that pending activity showed.
 */
async function outage(handle: WorkflowHandle, server: FaultClickHouse, activity: string, whileDown?: () => Promise<void>): Promise<string> {
  await server.stop();
  await whileDown?.();
  const pending = await waitForFailedAttempt(handle, activity);
  await server.start();
  const found = pending.find((a) => a.type === activity && (a.attempt > 1 || a.lastFailure !== null));
  return `${activity} in attempt ${found?.attempt}, last failure "${found?.lastFailure?.slice(0, 160)}"`;
}

async function runEnd(handle: WorkflowHandle): Promise<{ final: MigrationState; attempts: Record<string, number[]> }> {
  const final = await waitForState(handle, (s) => isFinal(s.status), 'the run to end', { timeoutMs: 600_000, worker });
  return { final, attempts: await activityAttempts(handle) };
}

describe('a ClickHouse server stopped', () => {
  it('when the source is down during validation and stops again during the copy, returning each time within the retry budget, the run completes with exact data', async () => {
    const { db, tables, handle } = await startRun('faults_src', true);
    await approve(handle, 'configure');
    // Stopped at the gate and approved while down: validation takes a second or so, shorter than
    // a server's shutdown, so a stop sent after the approval would race the step it is meant for.
    await waitForState(handle, (s) => s.awaitingApproval?.step === 'validation', 'the gate of validation', { worker });
    const inValidation = await outage(handle, stack.source, 'validateSource', () => approve(handle, 'validation'));

    await approve(handle, 'migration');
    const at = await midCopy(handle);
    const inCopy = await outage(handle, stack.source, 'copyUnitRange');
    const { final, attempts } = await runEnd(handle);
    console.log(
      `source stopped at the validation gate, validation approved while it was down (pending: ${inValidation}) and at ${at} (pending: ${inCopy}); ` +
        `the run ended ${final.status}; activities retried: ${retried(attempts)}`,
    );
    expect(final.status).toBe('completed');
    expect(Math.max(...attempts.validateSource)).toBeGreaterThan(1);
    expect(Math.max(...attempts.copyUnitRange)).toBeGreaterThan(1);
    await expectExactData(stack, db, tables);
    expect(await leftOnTarget(stack, [], final.runId)).toEqual([]);
  }, FAULT_TEST_TIMEOUT_MS);

  it('when the target stops during the copy and starts again, the run completes with exact data', async () => {
    const { db, tables, handle } = await startRun('faults_tgt', false);
    const at = await midCopy(handle);
    const inCopy = await outage(handle, stack.target, 'copyUnitRange');
    const { final, attempts } = await runEnd(handle);
    console.log(`target stopped at ${at} (pending: ${inCopy}); the run ended ${final.status}; activities retried: ${retried(attempts)}`);
    expect(final.status).toBe('completed');
    expect(Math.max(...attempts.copyUnitRange)).toBeGreaterThan(1);
    await expectExactData(stack, db, tables);
    expect(await leftOnTarget(stack, [], final.runId)).toEqual([]);
  }, FAULT_TEST_TIMEOUT_MS);

  it('when the source does not come back during the copy, the run ends after its retries, naming the unreachable source, and is rolled back', async () => {
    const { db, handle } = await startRun('faults_gone', false);
    const at = await midCopy(handle);
    await stack.source.stop();

    const { final, attempts } = await runEnd(handle);
    const failure = await handle.result().then(
      () => null,
      (err: unknown) => (err instanceof WorkflowFailedError ? `${err.cause?.message ?? ''}` : String(err)),
    );
    const left = await leftOnTarget(stack, [db], final.runId);
    console.log(
      `source stopped at ${at} and left down: the run ended ${final.status}; error ${JSON.stringify(final.error)}; ` +
        `workflow failure "${failure}"; activities retried: ${retried(attempts)}; rollback ${JSON.stringify(final.rollback?.dropped)}; left on the target: ${JSON.stringify(left)}`,
    );
    await stack.source.start();

    expect(final.status).toBe('rolled_back');
    expect(final.error?.message).toMatch(/source/i);
    expect(final.error?.message).toMatch(/unreachable|refused|connect/i);
    expect(failure).toMatch(/source/i);
    const everything = JSON.stringify({ state: final, failure, history: await handle.fetchHistory(), workerLog: worker.log() });
    for (const secret of [stack.source.password, stack.target.password]) expect(everything).not.toContain(secret);
    expect(final.rollback?.dropped).toEqual(expect.arrayContaining([`${db}.events`, db]));
    expect(left).toEqual([]);
  }, FAULT_TEST_TIMEOUT_MS);
});

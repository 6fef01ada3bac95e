import { randomInt } from 'node:crypto';
import type { WorkflowHandle } from '@temporalio/client';
import { isFinal } from '../../src/cli/exit-codes';
import { approveUpdate } from '../../src/workflows/messages';
import { STEPS, WORKFLOW_TYPE, TASK_QUEUE, type MigrationState, type StepName } from '../../src/workflows/types';
import { qualifiedName, quoteIdentifier, quoteString } from '../../src/clickhouse/sql';
import { seeded, uniqueName, waitFor as waitForValue } from './harness';
import {
  activityAttempts,
  checkTable,
  createFaultData,
  expectExactData,
  leftOnTarget,
  faultInput,
  retried,
  spawnWorker,
  stateOf,
  FAULT_TEST_TIMEOUT_MS,
  useFaultStack,
} from './fault-harness';

/** Where a kill lands: a step, or the copy once `fraction` of its units are done, or the verification after it. */
type Phase = Exclude<StepName, 'migration'> | 'copy' | 'verification';
const PHASES: Phase[] = ['backup', 'configure', 'validation', 'copy', 'verification'];

interface Moment {
  phase: Phase;
  /** For the copy: the share of units done at which to kill. */
  fraction?: number;
}

/** Five moments: two or three in the copy, the others in distinct other steps, in run order. */
function drawMoments(random: () => number): Moment[] {
  const copies = 2 + Math.floor(random() * 2);
  const others = PHASES.filter((p) => p !== 'copy');
  const picked: Moment[] = [];
  while (picked.length < 5 - copies) {
    const phase = others.splice(Math.floor(random() * others.length), 1)[0];
    picked.push({ phase });
  }
  for (let i = 0; i < copies; i++) picked.push({ phase: 'copy', fraction: 0.05 + random() * 0.9 });
  const order = (m: Moment) => PHASES.indexOf(m.phase) + (m.fraction ?? 0);
  return picked.sort((a, b) => order(a) - order(b));
}

/** Where the run is, on the scale of {@link PHASES}: a gate sits half a step before the step it opens. */
function positionOf(state: MigrationState): number {
  const step = state.awaitingApproval?.step ?? state.currentStep;
  // No step yet (the run takes its target locks first), or none any more (the run's clean-up).
  if (!step) return state.steps.every((s) => s.status === 'pending') ? -1 : PHASES.length;
  const index = STEPS.indexOf(step);
  if (state.status === 'awaiting_approval') return index - 0.5;
  if (step !== 'migration') return index;
  const { unitsDone, unitsTotal } = state.progress;
  return unitsTotal > 0 && unitsDone >= unitsTotal ? PHASES.indexOf('verification') : PHASES.indexOf('copy');
}

function reached(state: MigrationState, moment: Moment | null): boolean {
  if (!moment || state.status !== 'running') return false;
  const target = PHASES.indexOf(moment.phase);
  const at = positionOf(state);
  if (at !== target) return at > target;
  if (moment.phase !== 'copy') return true;
  const { unitsDone, unitsTotal } = state.progress;
  return unitsTotal > 0 && unitsDone >= Math.max(1, Math.round((moment.fraction ?? 0) * unitsTotal));
}

function where(state: MigrationState): string {
  return `${state.status} ${state.currentStep ?? '-'} units ${state.progress.unitsDone}/${state.progress.unitsTotal}`;
}

/**
 * Polls the run (every 50 ms: steps before the copy take a second or so), approving each gate as
 * it opens, until `moment` is reached (null: the run's end); returns the state seen then, or the
 * run's end if it ended first.
 */
async function untilMoment(handle: WorkflowHandle, moment: Moment | null, timeoutMs: number): Promise<MigrationState> {
  const deadline = Date.now() + timeoutMs;
  let last: MigrationState | undefined;
  while (Date.now() < deadline) {
    last = await stateOf(handle).catch(() => last);
    if (last && (reached(last, moment) || isFinal(last.status))) return last;
    const gate = last?.awaitingApproval?.step;
    if (gate) await handle.executeUpdate(approveUpdate, { args: [{ step: gate, by: 'fault-test' }] }).catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for the moment ${JSON.stringify(moment)}; last state: ${last ? where(last) : 'none'}`);
}

const faults = useFaultStack();
const { workers } = faults;

describe('a worker killed with SIGKILL', () => {
  it('at five random moments of one run, with a new worker each time, loses and duplicates no row', async () => {
    const seed = Number(process.env.FAULT_SEED ?? randomInt(2 ** 31));
    const moments = drawMoments(seeded(seed));
    console.log(`worker kills: seed ${seed} (FAULT_SEED=${seed} replays it), moments ${moments.map((m) => m.phase + (m.fraction ? `@${m.fraction.toFixed(2)}` : '')).join(', ')}`);

    const db = uniqueName('faults_worker');
    const source = faults.stack.source.connect();
    const tables = await createFaultData(source, db, 300_000).finally(() => source.close());
    const input = faultInput(faults.stack, uniqueName('kill5'), [db], { options: { parallelism: 2, unitBytes: 1 } });
    workers.push(await spawnWorker(faults.stack));
    const handle = await faults.stack.client.workflow.start(WORKFLOW_TYPE, { taskQueue: TASK_QUEUE, workflowId: input.id, args: [input] });

    const kills: string[] = [];
    for (const moment of moments) {
      const seen = await untilMoment(handle, moment, 600_000);
      if (seen.status !== 'running') break;
      await workers[workers.length - 1].kill();
      kills.push(`${moment.phase}${moment.fraction ? `@${moment.fraction.toFixed(2)}` : ''} (seen: ${where(seen)})`);
      workers.push(await spawnWorker(faults.stack));
    }
    const final = await untilMoment(handle, null, 900_000);
    const attempts = await activityAttempts(handle);
    console.log(`worker kills (seed ${seed}):\n  ${kills.join('\n  ')}\nend: ${where(final)}; activities retried: ${retried(attempts)}`);

    expect(kills).toHaveLength(5);
    expect(final.status).toBe('completed');
    await expectExactData(faults.stack, db, tables);
    expect(await leftOnTarget(faults.stack, [], final.runId)).toEqual([]);
  }, FAULT_TEST_TIMEOUT_MS);

  it('during schema creation, then the run cancelled: the rollback drops every table the run created and nothing of anyone else', async () => {
    const db = uniqueName('faults_schema');
    const source = faults.stack.source.connect();
    const target = faults.stack.target.connect();
    try {
      await createFaultData(source, db, 30_000);
      // Enough tables that creating them takes a while: the kill lands among them.
      for (let i = 0; i < 600; i += 50) {
        await Promise.all(Array.from({ length: 50 }, (_, j) => source.exec(`CREATE TABLE ${qualifiedName(db, `t${i + j}`)} (k UInt32, v String) ENGINE = MergeTree ORDER BY k`)));
      }
      await target.exec(`CREATE DATABASE ${quoteIdentifier(db)}`);
      await target.exec(`CREATE TABLE ${qualifiedName(db, 'app_notes')} (note String) ENGINE = TinyLog`);
      await target.exec(`INSERT INTO ${qualifiedName(db, 'app_notes')} VALUES ('theirs')`);
      const notes = await checkTable(target, db, 'app_notes');
      const input = faultInput(faults.stack, uniqueName('killschema'), [db], { approvals: { required: false } });
      // One worker only, so the kill lands on the one creating the schema (the test before leaves its last worker running).
      await Promise.all(workers.splice(0).map((worker) => worker.kill()));
      workers.push(await spawnWorker(faults.stack));
      const handle = await faults.stack.client.workflow.start(WORKFLOW_TYPE, { taskQueue: TASK_QUEUE, workflowId: input.id, args: [input] });
      const tablesNow = async () => Number((await target.rows<{ n: string }>(`SELECT count() AS n FROM system.tables WHERE database = ${quoteString(db)}`))[0].n);
      const seen = await waitForValue(tablesNow, (n) => n >= 40, 'the run creating its tables');
      await workers[workers.length - 1].kill();
      const atKill = await tablesNow();
      await target.exec(`CREATE TABLE ${qualifiedName(db, 'their_new')} (x UInt8) ENGINE = TinyLog`);
      await target.exec(`INSERT INTO ${qualifiedName(db, 'their_new')} VALUES (7)`);
      await handle.cancel();
      workers.push(await spawnWorker(faults.stack));
      const final = await untilMoment(handle, null, 600_000);
      const attempts = await activityAttempts(handle);
      console.log(`schema kill: killed at ${seen} to ${atKill} tables on the target; end: ${where(final)}; rollback dropped ${final.rollback?.counts?.dropped}; activities: ${JSON.stringify(attempts)}`);

      // The worker died with the schema half made (603 tables of the run, and app_notes), and nothing created more after it.
      expect(atKill).toBeLessThan(604);
      expect(final.rollback?.counts?.dropped).toBeLessThan(603);
      const left = await target.rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = ${quoteString(db)} ORDER BY name`);
      expect(left.map((r) => r.name)).toEqual(['app_notes', 'their_new']);
      expect(final.status).toBe('cancelled');
      expect(attempts.createSchemaPaged).toBeDefined();
      expect(await checkTable(target, db, 'app_notes')).toEqual(notes);
      expect(await target.text(`SELECT x FROM ${qualifiedName(db, 'their_new')} FORMAT TSV`)).toBe('7\n');
      expect(await leftOnTarget(faults.stack, [], final.runId)).toEqual([]);
    } finally {
      await Promise.all([source.close(), target.close()]);
    }
  }, FAULT_TEST_TIMEOUT_MS);
});

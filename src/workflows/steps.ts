import { CancellationScope, condition, isCancellation, patched, upsertSearchAttributes } from '@temporalio/workflow';
import { showDetails } from './details';
import { describeFailure } from './failures';
import { PATCHES } from './patches';
import { statusKey, stepKey } from './search-attributes';
import { legacyRunKeyOf, runKeyOf } from './state';
import type { MigrationInput, MigrationState, MigrationStatus, StepName } from './types';

/** Thrown inside the workflow when a person rejects a step. */
export class Rejected extends Error {}

/** Workflow time, as the state document records it. */
export function now(): string {
  return new Date().toISOString();
}

/** What may stop a run (a lock it lost): checked before each step, while it waits for an approval, and while a step runs. */
export interface StepGuard {
  /** Whether the run must stop; a wait for an approval wakes up when this turns true. */
  readonly broken: boolean;
  /** Throws the failure that stops the run, if it must stop. */
  check(): void;
}

/** The key that names the run's objects on the target (patch `distinct-run-keys`). */
export function runKeyOfThisRun(runId: string): string {
  return patched(PATCHES.distinctRunKeys) ? runKeyOf(runId) : legacyRunKeyOf(runId);
}

/**
 * The bookkeeping of a run's steps: status and search attributes, each step's timing, result and
 * error, and the approval gates between steps.
 */
export function stepsOf(input: Pick<MigrationInput, 'approvals'>, state: MigrationState, approved: ReadonlySet<StepName>, guard?: StepGuard) {
  function setStatus(status: MigrationStatus): void {
    state.status = status;
    upsertSearchAttributes([
      { key: statusKey, value: status },
      { key: stepKey, value: state.currentStep ?? 'none' },
    ]);
    showDetails(state);
  }

  function step(name: StepName) {
    const found = state.steps.find((s) => s.name === name);
    if (!found) throw new Error(`unknown step ${name}`);
    return found;
  }

  /** Runs one step's body, recording its status, timing, result or error. */
  async function runStep<T>(name: StepName, body: () => Promise<T>): Promise<T> {
    guard?.check();
    const current = step(name);
    state.currentStep = name;
    current.status = 'running';
    current.startedAt = now();
    setStatus('running');
    try {
      const result = await (guard ? guarded(guard, body) : body());
      current.status = 'completed';
      current.result = result;
      return result;
    } catch (err) {
      current.status = isCancellation(err) ? 'skipped' : 'failed';
      current.error = describeFailure(err);
      throw err;
    } finally {
      current.finishedAt = now();
    }
  }

  /** Waits until a person approves `next` (or approvals are off); throws {@link Rejected} on a rejection. */
  async function gate(next: StepName): Promise<void> {
    if (!input.approvals.required) return;
    const current = step(next);
    current.status = 'awaiting_approval';
    state.awaitingApproval = { step: next };
    state.currentStep = next;
    setStatus('awaiting_approval');
    await condition(() => approved.has(next) || state.rejection !== null || guard?.broken === true);
    state.awaitingApproval = null;
    if (state.rejection) {
      current.status = 'rejected';
      throw new Rejected();
    }
    current.status = 'pending';
    guard?.check();
  }

  return { setStatus, runStep, gate };
}

/**
 * Runs a step's body in a scope of its own, cancelled when `guard` breaks: the step then fails as
 * the guard says (LockLost), not as a cancellation, and the run ends down its failure path
 * (a rollback once the migration step has begun). A cancellation of the run reaches the body as
 * before and stays a cancellation. The scope and the condition add no command to the history, and
 * the guard breaks only under the patch `server-identity-locks`, so older histories replay as they were.
 */
async function guarded<T>(guard: StepGuard, body: () => Promise<T>): Promise<T> {
  const outer = CancellationScope.current();
  const scope = new CancellationScope();
  let ended = false;
  condition(() => ended || guard.broken).then(
    () => {
      if (!ended) scope.cancel();
    },
    () => undefined, // the run was cancelled: the scope hears of it from its parent
  );
  try {
    const result = await scope.run(body);
    // A body that finished although the lock was lost wrote without it: the step fails all the same.
    if (!outer.consideredCancelled) guard.check();
    return result;
  } catch (err) {
    if (!outer.consideredCancelled) guard.check();
    throw err;
  } finally {
    ended = true;
  }
}

import { patched, setHandler } from '@temporalio/workflow';
import { approveSignal, approveUpdate, rejectSignal, rejectUpdate } from './messages';
import { PATCHES } from './patches';
import { decisionRefusal, optionalText, recordIgnoredSignal, type GateState } from './state';
import type { MigrationInput, MigrationState, StepName } from './types';

/**
 * Registers the approval handlers of a run. `approve` and `reject` exist twice, with one rule:
 * as Updates, whose validator refuses what does not fit (nothing reaches the history, and the
 * caller learns why), and as signals, for the Temporal CLI and Web UI, which cannot be refused:
 * one that does not fit is recorded in `ignoredSignals`. Once a decision rejects the run, no
 * other is taken, even one that arrives in the same workflow task. Returns the steps approved so far.
 */
export function handleApprovals(input: Pick<MigrationInput, 'requestedBy'>, state: MigrationState, now: () => string): ReadonlySet<StepName> {
  const approved = new Set<StepName>();
  const gate = (via: 'update' | 'signal', rejecting = false): GateState => {
    const withdrawable = rejecting ? waitingToBegin(state) : null;
    return {
      awaiting: state.awaitingApproval?.step ?? withdrawable,
      approved: withdrawable ? new Set([...approved].filter((s) => s !== withdrawable)) : approved,
      barred: state.fourEyes ? (input.requestedBy ?? null) : null,
      rejected: state.rejection && barsLaterDecisions(via) ? state.rejection.step : null,
    };
  };
  const refuse = (rejecting: boolean) => (payload: unknown) => {
    const reason = decisionRefusal(payload, gate('update', rejecting));
    if (reason) throw new Error(reason);
  };
  const approve = (payload: { step: StepName }, via: 'update' | 'signal') => {
    state.approvals.push({ step: payload.step, by: optionalText(payload, 'by'), comment: optionalText(payload, 'comment'), at: now(), via });
    approved.add(payload.step);
  };
  const reject = (payload: { step: StepName }, via: 'update' | 'signal') => {
    state.rejection = { step: payload.step, by: optionalText(payload, 'by'), reason: optionalText(payload, 'reason') ?? '', at: now(), via };
  };
  const ignored = (name: string, payload: unknown): string | null => {
    const reason = decisionRefusal(payload, gate('signal', name === 'reject'));
    if (!reason) return null;
    const step = (payload as { step?: unknown } | null)?.step;
    recordIgnoredSignal(state, { name, step: typeof step === 'string' ? step : String(step), reason, at: now() });
    return reason;
  };

  setHandler(approveUpdate, (payload) => (approve(payload, 'update'), state), { validator: refuse(false) });
  setHandler(rejectUpdate, (payload) => (reject(payload, 'update'), state), { validator: refuse(true) });
  setHandler(approveSignal, (payload) => {
    if (!ignored('approve', payload)) approve(payload, 'signal');
  });
  setHandler(rejectSignal, (payload) => {
    if (!ignored('reject', payload)) reject(payload, 'signal');
  });
  return approved;
}

/**
 * The approved step that waits for its maintenance window and has not begun (patch
 * `maintenance-windows`): a rejection may still withdraw it, as nothing of it was written.
 */
function waitingToBegin(state: MigrationState): StepName | null {
  const step = state.waitingForWindow ? state.currentStep : null;
  return step && state.steps.find((s) => s.name === step)?.status === 'pending' ? step : null;
}

/**
 * Whether a rejection bars the decisions that follow it in the same workflow task. Signals of runs
 * recorded before {@link PATCHES.decisionsAfterRejection} still count (an approve beside a reject
 * was recorded, a second reject replaced the first), so that they replay as they ran. An Update's
 * validator does not run on replay, so Updates are always refused. Asked only once a run is
 * rejected: the patch's marker is written only in runs where it matters.
 */
function barsLaterDecisions(via: 'update' | 'signal'): boolean {
  return via === 'update' || patched(PATCHES.decisionsAfterRejection);
}

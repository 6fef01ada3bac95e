import { STEPS, type MigrationInput, type MigrationState, type StepName } from './types';

/**
 * The short key that names a run's scratch objects on the target (restore point, staging tables,
 * probe and dry-run databases): the last 16 hex digits of the run id, its random part. Temporal's
 * run ids are time-ordered UUIDs (version 7), whose first digits are a timestamp. Taken from the
 * run id, so every run, and every retry of it, agrees.
 */
export function runKeyOf(runId: string): string {
  return runId.replace(/-/g, '').slice(-16);
}

/**
 * The run key of runs started before the patch `distinct-run-keys`: the first 16 hex digits of the
 * run id, which for a version 7 UUID are a millisecond timestamp and only 12 random bits, so two
 * runs started in one millisecond could share it.
 */
export function legacyRunKeyOf(runId: string): string {
  return runId.replace(/-/g, '').slice(0, 16);
}

/** The state document of a run that has not started any step yet. */
export function initialState(input: Pick<MigrationInput, 'id' | 'approvals' | 'requestedBy'>, runId: string): MigrationState {
  return {
    id: input.id,
    runId,
    status: 'running',
    currentStep: null,
    awaitingApproval: null,
    steps: STEPS.map((name) => ({ name, status: 'pending', startedAt: null, finishedAt: null })),
    progress: { tablesTotal: 0, tablesDone: 0, unitsTotal: 0, unitsDone: 0, rowsTotal: 0, rowsCopied: 0, bytesCopied: 0 },
    approvals: [],
    locks: [],
    lockConflict: null,
    requestedBy: input.requestedBy ?? null,
    fourEyes: fourEyesOn(input),
    transferPath: null,
    ignoredSignals: [],
    rejection: null,
    restorePoint: null,
    rollback: null,
    error: null,
    warnings: [],
  };
}

/** Whether the subject who started the run is barred from approving it. */
export function fourEyesOn(input: Pick<MigrationInput, 'approvals' | 'requestedBy'>): boolean {
  return input.approvals.fourEyes !== false && input.requestedBy !== undefined;
}

/** What an approval or rejection is judged against. */
export interface GateState {
  /** The step the run waits for, or null. */
  awaiting: StepName | null;
  /** Steps already approved. */
  approved: ReadonlySet<StepName>;
  /** The subject barred from deciding (the run's starter, under four eyes), or null. */
  barred: string | null;
  /** The step a rejection ended the run at, or null: after a rejection, no decision is taken. */
  rejected: StepName | null;
}

/**
 * Why an approval or rejection cannot be accepted now (null when it can): a run already rejected
 * (a later decision of the same workflow task would otherwise still count), a step that is not a
 * step, one already approved, one whose gate has not come (or has passed), or a decider the
 * four-eyes rule bars. Updates refuse with this reason; signals record it and are ignored.
 */
export function decisionRefusal(payload: unknown, gate: GateState): string | null {
  if (gate.rejected !== null) return `the run was rejected at step "${gate.rejected}"`;
  const step = (payload as { step?: unknown } | null)?.step;
  if (typeof step !== 'string' || !(STEPS as readonly string[]).includes(step)) return `"step" must be one of ${STEPS.join(', ')}`;
  if (gate.approved.has(step as StepName)) return `"${step}" is already approved`;
  if (gate.awaiting === null) return 'the run is not waiting for an approval';
  if (step !== gate.awaiting) return `the run is waiting for approval of "${gate.awaiting}", not "${step}"`;
  const by = optionalText(payload, 'by');
  if (gate.barred !== null && by === gate.barred) return `"${by}" started this run and may not decide its steps (four eyes)`;
  return null;
}

/** How many ignored signals a run's state keeps: the latest ones; the others are only counted. */
export const IGNORED_SIGNALS_KEPT = 20;

/**
 * Records a signal the run ignored, keeping the latest {@link IGNORED_SIGNALS_KEPT} and counting
 * those it lets go in `ignoredSignalsDropped`: whoever can signal the run cannot grow its state
 * (and every query and Update result) without bound.
 */
export function recordIgnoredSignal(state: Pick<MigrationState, 'ignoredSignals' | 'ignoredSignalsDropped'>, entry: MigrationState['ignoredSignals'][number]): void {
  state.ignoredSignals.push(entry);
  const excess = state.ignoredSignals.length - IGNORED_SIGNALS_KEPT;
  if (excess <= 0) return;
  state.ignoredSignals.splice(0, excess);
  state.ignoredSignalsDropped = (state.ignoredSignalsDropped ?? 0) + excess;
}

/** Optional string fields of a signal payload, or null when absent or of the wrong type. */
export function optionalText(payload: unknown, field: string): string | null {
  const value = (payload as Record<string, unknown> | null)?.[field];
  return typeof value === 'string' ? value : null;
}

/** Splits `items` into consecutive batches of at most `size` (at least 1). */
export function inBatches<T>(items: readonly T[], size: number): T[][] {
  const step = Math.max(1, size);
  const batches: T[][] = [];
  for (let i = 0; i < items.length; i += step) batches.push(items.slice(i, i + step));
  return batches;
}

import { STEPS, type MigrationInput, type MigrationState, type StepName } from './types';

/**
 * The short key that names a run's scratch objects on the target (restore point, staging tables,
 * probe and dry-run databases). Taken from the run id, so every run, and every retry of it, agrees.
 */
export function runKeyOf(runId: string): string {
  return runId.replace(/-/g, '').slice(0, 16);
}

/** The state document of a run that has not started any step yet. */
export function initialState(input: MigrationInput, runId: string): MigrationState {
  return {
    id: input.id,
    runId,
    status: 'running',
    currentStep: null,
    awaitingApproval: null,
    steps: STEPS.map((name) => ({ name, status: 'pending', startedAt: null, finishedAt: null })),
    progress: { tablesTotal: 0, tablesDone: 0, unitsTotal: 0, unitsDone: 0, rowsTotal: 0, rowsCopied: 0, bytesCopied: 0 },
    approvals: [],
    transferPath: null,
    ignoredSignals: [],
    rejection: null,
    restorePoint: null,
    rollback: null,
    error: null,
  };
}

/** Why a signal for `step` does not fit a run waiting for `awaiting` (null when it fits). */
export function signalMismatch(payload: unknown, awaiting: StepName | null): string | null {
  const step = (payload as { step?: unknown } | null)?.step;
  if (typeof step !== 'string' || !(STEPS as readonly string[]).includes(step)) return `"step" must be one of ${STEPS.join(', ')}`;
  if (awaiting === null) return 'the run is not waiting for an approval';
  if (step !== awaiting) return `the run is waiting for approval of "${awaiting}", not "${step}"`;
  return null;
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

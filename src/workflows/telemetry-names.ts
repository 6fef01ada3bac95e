/**
 * Names the worker's metrics and its workflow interceptors share. Pure: the workflow bundle
 * imports it (src/workflows/interceptors.ts), so it must not import Node or metrics libraries.
 */

/** Names of the worker's own metrics; the SDK's are prefixed `temporal_`. */
export const WORKER_METRICS = {
  rowsCopied: 'migrator_rows_copied',
  bytesCopied: 'migrator_bytes_copied',
  activityFailures: 'migrator_activity_failures',
  stepDuration: 'migrator_step_duration_seconds',
  awaitingApproval: 'migrator_runs_awaiting_approval',
} as const;

/** Buckets of the step duration histogram, in seconds: a second to a day. */
export const STEP_DURATION_BUCKETS = [1, 5, 15, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 24 * 3600];

/** Header a migration puts on each activity it schedules: the step it was in (for the activity's logs). */
export const STEP_HEADER = 'migrator-step';

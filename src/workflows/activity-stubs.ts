import { ActivityCancellationType, proxyActivities, type RetryPolicy } from '@temporalio/workflow';
import type { MigrationActivities } from '../activities';

const retry: RetryPolicy = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 };

/**
 * Catalogue work and DDL that grow with the number of tables and partitions (checks of the target,
 * creating the schema, planning the copy, dropping staging and restore points): a statement or
 * two per table, so minutes at 10,000 tables. They heartbeat, so a lost worker is noticed within
 * the heartbeat timeout whatever the start-to-close allows.
 */
export const scan = proxyActivities<MigrationActivities>({ startToCloseTimeout: '4h', heartbeatTimeout: '1m', retry });

/**
 * `scan`, for the activities of the migration step that write to the target (schema, plan): a
 * cancelled run rolls back only once they have ended, so nothing writes while it rolls back.
 */
export const scanToEnd = proxyActivities<MigrationActivities>({
  startToCloseTimeout: '4h',
  heartbeatTimeout: '1m',
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry,
});

/** Data movement and scans: long, so they heartbeat and a lost worker is noticed within the heartbeat timeout. */
export const long = proxyActivities<MigrationActivities>({
  startToCloseTimeout: '12h',
  heartbeatTimeout: '30s',
  // A cancelled run rolls back only after its copies have really stopped.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { ...retry, maximumAttempts: 10 },
});

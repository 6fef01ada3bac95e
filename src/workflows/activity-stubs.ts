import { ActivityCancellationType, proxyActivities, type RetryPolicy } from '@temporalio/workflow';
import type { MigrationActivities } from '../activities';

const retry: RetryPolicy = { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 };

/** Catalogue reads and small DDL. */
export const quick = proxyActivities<MigrationActivities>({ startToCloseTimeout: '5m', retry });

/** Data movement and scans: long, so they heartbeat and a lost worker is noticed within the heartbeat timeout. */
export const long = proxyActivities<MigrationActivities>({
  startToCloseTimeout: '12h',
  heartbeatTimeout: '30s',
  // A cancelled run rolls back only after its copies have really stopped.
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  retry: { ...retry, maximumAttempts: 10 },
});

import { proxyActivities } from '@temporalio/workflow';
import type { MigrationActivities } from '../activities';
import type { JanitorReport } from './types';

const { sweepScratch } = proxyActivities<MigrationActivities>({
  startToCloseTimeout: '1h',
  heartbeatTimeout: '1m',
  retry: { maximumAttempts: 3 },
});

/**
 * Removes the scratch objects (staging tables, scratch databases, restore points of runs that
 * ended cleanly) that closed runs of its namespace left on their targets, and lists what it keeps
 * (restore points that may be the only way back, objects of runs it does not know).
 * Runs at worker start and on the Schedule `migrator-janitor`; its result is its report.
 */
export async function migrationJanitor(): Promise<JanitorReport> {
  return sweepScratch();
}

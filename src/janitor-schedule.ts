import { ScheduleAlreadyRunning, type Client } from '@temporalio/client';
import { JANITOR_SCHEDULE_ID, JANITOR_WORKFLOW_TYPE, TASK_QUEUE } from './workflows/types';

/** How often the janitor runs. @default 1 hour */
const JANITOR_EVERY = '1h';

/**
 * Makes sure the janitor's Schedule exists, and runs the janitor now: at worker start, so that
 * what a crash or a terminated run left is found without waiting for the hour. Safe to call from
 * every worker: the Schedule is created once, and a trigger while a janitor runs is skipped.
 */
export async function ensureJanitor(client: Client): Promise<void> {
  try {
    await client.schedule.create({
      scheduleId: JANITOR_SCHEDULE_ID,
      spec: { intervals: [{ every: JANITOR_EVERY }] },
      action: { type: 'startWorkflow', workflowType: JANITOR_WORKFLOW_TYPE, taskQueue: TASK_QUEUE },
      policies: { overlap: 'SKIP' },
      state: { triggerImmediately: true },
    });
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    await client.schedule.getHandle(JANITOR_SCHEDULE_ID).trigger();
  }
}

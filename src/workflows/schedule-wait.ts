import { ApplicationFailure, condition } from '@temporalio/workflow';
import { showDetails } from './details';
import { Rejected, type StepGuard } from './steps';
import { FAILURE_TYPES, type MigrationSchedule, type MigrationState, type MigrationStatus } from './types';
import { isOpen, nextOpening } from './window';

/**
 * A run's maintenance window, kept by the workflow (patch `maintenance-windows`): the wait for the
 * schedule to open once the migration step is approved, and what the copy does when the window
 * closes (`onWindowEnd`). Waits are durable timers in workflow time, so a restart of the worker
 * or of Temporal changes nothing.
 */
export class ScheduleKeeper {
  private pause: Promise<void> | null = null;

  constructor(
    private readonly schedule: MigrationSchedule,
    private readonly state: MigrationState,
  ) {}

  /** Whether the schedule lets the migration step run now (workflow time). */
  isOpen(): boolean {
    return isOpen(this.schedule, Date.now());
  }

  /**
   * Waits until the schedule opens, showing when in `state.waitingForWindow`; returns early once
   * `stop` turns true (a rejection, a lost lock). A cancellation of the run ends the wait with it.
   */
  async untilOpen(stop: () => boolean = () => false): Promise<void> {
    try {
      for (;;) {
        const { opensAt } = nextOpening(this.schedule, Date.now());
        if (opensAt <= Date.now()) return;
        this.state.waitingForWindow = { opensAt: new Date(opensAt).toISOString() };
        showDetails(this.state);
        if (await condition(stop, opensAt - Date.now())) return;
      }
    } finally {
      this.state.waitingForWindow = null;
    }
  }

  /**
   * Called before each range of units the copy launches. Inside the window it returns at once;
   * once the window has closed: `pause` waits for the next opening (ranges in flight finish, and
   * every lane waits for the one opening), `finish` carries on, `fail` fails the step, which then
   * rolls back once the ranges in flight have landed.
   */
  readonly beforeRange = async (): Promise<void> => {
    const { opensAt } = nextOpening(this.schedule, Date.now());
    if (opensAt <= Date.now()) return;
    const policy = this.schedule.onWindowEnd ?? 'pause';
    if (policy === 'finish') return;
    if (policy === 'fail') {
      throw ApplicationFailure.create({
        type: FAILURE_TYPES.windowClosed,
        message: `the maintenance window closed before the copy ended (onWindowEnd "fail"); the next one opens at ${new Date(opensAt).toISOString()}`,
        nonRetryable: true,
      });
    }
    this.pause ??= this.untilOpen().finally(() => {
      this.pause = null;
    });
    await this.pause;
  };
}

/**
 * Between the approval of the migration step and its start: waits for the schedule to open. A
 * rejection while it waits withdraws the approval and ends the run as `rejected` (nothing was
 * written yet); a lock lost while it waits stops the run as it would at a gate.
 */
export async function waitForSchedule(keeper: ScheduleKeeper, state: MigrationState, guard: StepGuard, setStatus: (status: MigrationStatus) => void): Promise<void> {
  if (keeper.isOpen()) return;
  state.currentStep = 'migration';
  setStatus('running');
  await keeper.untilOpen(() => state.rejection !== null || guard.broken);
  if (state.rejection) {
    const step = state.steps.find((s) => s.name === 'migration');
    if (step) step.status = 'rejected';
    throw new Rejected();
  }
  guard.check();
}

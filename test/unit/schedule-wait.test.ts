/**
 * The copy's side of a maintenance window (`ScheduleKeeper.beforeRange` in the lanes of
 * `inLanes`), on a simulated workflow clock: a daily window of a few seconds recurs only a day
 * later, so the resume after a pause is proved here, where a day passes in one timer.
 */
import { inLanes } from '../../src/workflows/copy-scheduler';
import { ScheduleKeeper } from '../../src/workflows/schedule-wait';
import { initialState } from '../../src/workflows/state';
import type { MigrationSchedule, WindowEndPolicy } from '../../src/workflows/types';
import { isOpen } from '../../src/workflows/window';

let clock = 0;
const timers: number[] = [];

jest.mock('@temporalio/workflow', () => ({
  ...jest.requireActual('@temporalio/workflow'),
  setCurrentDetails: () => undefined,
  // A durable timer on the simulated clock: the wait ends with its timeout unless `fn` already holds.
  condition: async (fn: () => boolean, timeoutMs: number) => {
    if (fn()) return true;
    timers.push(timeoutMs);
    await Promise.resolve();
    clock += timeoutMs;
    return false;
  },
}));

const DAY = 24 * 3600 * 1000;
const MONDAY = Date.parse('2026-12-07T00:00:00Z');

function runCopy(policy: WindowEndPolicy, ranges: number, parallelism: number) {
  const schedule: MigrationSchedule = { window: { days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '00:00:00', durationSeconds: 3, timeZone: 'UTC' }, onWindowEnd: policy };
  const state = initialState({ id: 'w', approvals: { required: true } }, 'run');
  const keeper = new ScheduleKeeper(schedule, state);
  const launched: { range: number; at: number }[] = [];
  const copy = inLanes(
    Array.from({ length: ranges }, (_, i) => i),
    parallelism,
    async (range) => {
      await keeper.beforeRange();
      launched.push({ range, at: clock });
      await Promise.resolve();
      clock += 1000;
    },
  );
  return { schedule, state, launched, copy };
}

beforeEach(() => {
  clock = MONDAY;
  timers.length = 0;
  jest.spyOn(Date, 'now').mockImplementation(() => clock);
});

afterEach(() => jest.restoreAllMocks());

describe('when the window closes during the copy', () => {
  it('pause: no range starts outside the window; the copy resumes at the next opening, every range once, and waitingForWindow is cleared', async () => {
    const run = runCopy('pause', 10, 1);
    await run.copy;
    expect(run.launched.map((l) => l.range)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(run.launched.every((l) => isOpen(run.schedule, l.at))).toBe(true);
    expect(run.launched.map((l) => Math.floor((l.at - MONDAY) / DAY))).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2, 3]);
    expect(timers).toEqual([DAY - 3000, DAY - 3000, DAY - 3000]);
    expect(run.state.waitingForWindow).toBeNull();
  });

  it('pause with several lanes: the lanes wait for one opening together, on one timer per pause, and every range runs once', async () => {
    const run = runCopy('pause', 12, 3);
    await run.copy;
    expect(run.launched.map((l) => l.range).sort((a, b) => a - b)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(run.launched.every((l) => isOpen(run.schedule, l.at))).toBe(true);
    const days = new Set(run.launched.map((l) => Math.floor((l.at - MONDAY) / DAY)));
    expect(timers).toHaveLength(days.size - 1);
  });

  it('fail: the copy fails with WindowClosed once the window has closed, and starts no range after it', async () => {
    const run = runCopy('fail', 10, 1);
    await expect(run.copy).rejects.toMatchObject({ type: 'WindowClosed', nonRetryable: true });
    expect(run.launched.map((l) => l.range)).toEqual([0, 1, 2]);
    expect(timers).toEqual([]);
  });

  it('finish: the copy carries on past the end of the window without waiting', async () => {
    const run = runCopy('finish', 10, 1);
    await run.copy;
    expect(run.launched).toHaveLength(10);
    expect(timers).toEqual([]);
  });
});

describe('before the migration step', () => {
  it('untilOpen shows the opening it waits for, waits on a timer to it, and clears it', async () => {
    const state = initialState({ id: 'w', approvals: { required: true } }, 'run');
    const keeper = new ScheduleKeeper({ notBefore: '2026-12-07T00:00:10Z' }, state);
    expect(keeper.isOpen()).toBe(false);
    const waiting = keeper.untilOpen();
    expect(state.waitingForWindow).toEqual({ opensAt: '2026-12-07T00:00:10.000Z' });
    await waiting;
    expect(timers).toEqual([10_000]);
    expect(state.waitingForWindow).toBeNull();
    expect(keeper.isOpen()).toBe(true);
  });

  it('untilOpen returns at once when stopped (a rejection, a lost lock)', async () => {
    const state = initialState({ id: 'w', approvals: { required: true } }, 'run');
    await new ScheduleKeeper({ notBefore: '2026-12-08T00:00:00Z' }, state).untilOpen(() => true);
    expect(timers).toEqual([]);
    expect(state.waitingForWindow).toBeNull();
  });
});

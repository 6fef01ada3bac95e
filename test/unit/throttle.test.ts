import { BURST_SECONDS, PEAK_FACTOR, Pacer, TokenBucket } from '../../src/activities/throttle';
import { perLane, reachedRate } from '../../src/workflows/copy-scheduler';

const MiB = 2 ** 20;

/** A unit as a copy sees it: bytes and rows as the run counts them, and how long its copy takes unthrottled. */
interface SimUnit {
  bytes: number;
  rows: number;
  copyMs: number;
  /** Bytes its stream carries (worker path), in chunks of `chunk`; absent on the server path. */
  streamed?: number;
  chunk?: number;
  /** Time the unit spends after its stream before it has landed (staging, swapping in). */
  landingMs?: number;
}

/** Runs `units` one after the other against `pacer` on a virtual clock; returns the ms they took, waits included. */
function simulate(pacer: Pacer, units: readonly SimUnit[], pauseBetweenMs = 0): number {
  let now = 0;
  for (const unit of units) {
    if (unit.streamed !== undefined) {
      const chunks = Math.ceil(unit.streamed / (unit.chunk ?? MiB));
      for (let i = 0; i < chunks; i++) {
        const bytes = Math.min(unit.chunk ?? MiB, unit.streamed - i * (unit.chunk ?? MiB));
        now += unit.copyMs / chunks;
        now += pacer.partial(bytes, unit, now);
      }
    } else {
      now += unit.copyMs;
    }
    now += unit.landingMs ?? 0;
    now += pacer.settle(unit, now);
    if (unit !== units[units.length - 1]) now += pauseBetweenMs;
  }
  return now;
}

/** Within `tolerance` (a fraction) of `expected`: a unit's credit left at the end is not spent. */
function expectNear(actual: number, expected: number, tolerance = 0.02): void {
  expect(Math.abs(actual / expected - 1)).toBeLessThanOrEqual(tolerance);
}

const units = (n: number, make: (i: number) => SimUnit): SimUnit[] => Array.from({ length: n }, (_, i) => make(i));
const totalBytes = (list: readonly SimUnit[]) => list.reduce((sum, u) => sum + u.bytes, 0);
const totalRows = (list: readonly SimUnit[]) => list.reduce((sum, u) => sum + u.rows, 0);

describe('TokenBucket', () => {
  it('when it starts, it is empty: the first take waits for its whole amount', () => {
    const bucket = new TokenBucket(10 * MiB, 0);
    expect(bucket.take(5 * MiB, 0)).toBe(500);
  });

  it('when nothing is taken for a long time, it keeps only its burst, or the one amount then taken', () => {
    const small = new TokenBucket(10 * MiB, 0);
    small.take(MiB, 60_000);
    expect(small.take(10 * MiB * BURST_SECONDS, 60_000)).toBe(100);
    const large = new TokenBucket(10 * MiB, 0);
    expect(large.take(50 * MiB, 60_000)).toBe(0);
    expect(large.take(50 * MiB, 60_000)).toBe(5000);
  });

});

describe('Pacer on the server path (a unit copied at full speed, then paid for)', () => {
  it('when the copy is faster than the limit, the average over the copy is the limit, whatever the unit sizes', () => {
    const list = units(40, (i) => ({ bytes: (8 + (i % 7) * 9) * MiB, rows: 1000 * (1 + (i % 5)), copyMs: (8 + (i % 7) * 9) * 20 }));
    const ms = simulate(new Pacer({ bytesPerSecond: 10 * MiB }, 0), list);
    expectNear(totalBytes(list) / (ms / 1000), 10 * MiB);
  });

  it('when the copy is slower than the limit, it never waits', () => {
    const list = units(10, () => ({ bytes: 10 * MiB, rows: 100, copyMs: 2000 }));
    expect(simulate(new Pacer({ bytesPerSecond: 10 * MiB }, 0), list)).toBe(20_000);
  });

  it('when rows are the tighter limit, rows set the pace', () => {
    const list = units(20, () => ({ bytes: MiB, rows: 50_000, copyMs: 10 }));
    const ms = simulate(new Pacer({ bytesPerSecond: 100 * MiB, rowsPerSecond: 100_000 }, 0), list);
    expectNear(totalRows(list) / (ms / 1000), 100_000);
  });

  it('when units pause between them for less than the burst, the pauses are made up for', () => {
    const list = units(30, () => ({ bytes: 20 * MiB, rows: 1, copyMs: 300 }));
    const ms = simulate(new Pacer({ bytesPerSecond: 20 * MiB }, 0), list, 400);
    expectNear(totalBytes(list) / (ms / 1000), 20 * MiB);
  });
});

describe('Pacer on the worker path (the stream smoothed as it passes, the unit settled as counted)', () => {
  it('when the stream carries more bytes than the run counts, the average of the counted bytes is still the limit', () => {
    const list = units(20, () => ({ bytes: 30 * MiB, rows: 300_000, copyMs: 500, streamed: 36 * MiB, chunk: 256 * 1024 }));
    const ms = simulate(new Pacer({ bytesPerSecond: 20 * MiB }, 0), list);
    expectNear(totalBytes(list) / (ms / 1000), 20 * MiB);
  });

  it('when the stream carries fewer bytes than the run counts, the unit pays the rest when it lands', () => {
    const list = units(20, () => ({ bytes: 30 * MiB, rows: 300_000, copyMs: 500, streamed: 24 * MiB, chunk: 256 * 1024 }));
    const ms = simulate(new Pacer({ bytesPerSecond: 20 * MiB }, 0), list);
    expectNear(totalBytes(list) / (ms / 1000), 20 * MiB);
  });

  it('when each unit spends seconds outside its stream (staging, swapping in), that time counts for the average', () => {
    const list = units(12, () => ({ bytes: 54 * MiB, rows: 800_000, copyMs: 1500, streamed: 56 * MiB, chunk: 64 * 1024, landingMs: 1800 }));
    const ms = simulate(new Pacer({ bytesPerSecond: 10 * MiB }, 0), list);
    expectNear(totalBytes(list) / (ms / 1000), 10 * MiB, 0.005);
  });

  it('when every unit is an activity of its own (a fresh pacer each), the average still holds', () => {
    const list = units(12, () => ({ bytes: 54 * MiB, rows: 800_000, copyMs: 1500, streamed: 50 * MiB, chunk: 64 * 1024, landingMs: 900 }));
    const ms = list.reduce((at, unit) => at + simulate(new Pacer({ bytesPerSecond: 10 * MiB }, 0), [unit]), 0);
    expectNear(totalBytes(list) / (ms / 1000), 10 * MiB, 0.005);
  });

  it('when the source streams faster than the limit, the stream passes at no more than PEAK_FACTOR times the share', () => {
    const pacer = new Pacer({ bytesPerSecond: 10 * MiB }, 0);
    const chunks = 200;
    let now = 0;
    for (let i = 0; i < chunks; i++) now += 1 + pacer.partial(MiB / 4, { bytes: 50 * MiB, rows: 500 }, now);
    expectNear((chunks * MiB) / 4 / (now / 1000), PEAK_FACTOR * 10 * MiB, 0.05);
  });

  it('when no limit is set, it is not limited', () => {
    expect(new Pacer({}, 0).limited).toBe(false);
    expect(new Pacer({ rowsPerSecond: 5 }, 0).limited).toBe(true);
  });
});

describe('perLane', () => {
  it('when copies run in several lanes, each keeps its share, and the shares add up to the run limit', () => {
    expect(perLane({ maxBytesPerSecond: 20 * MiB, maxRowsPerSecond: 90_000 }, 4)).toEqual({ bytesPerSecond: 5 * MiB, rowsPerSecond: 22_500 });
    expect(perLane({ maxRowsPerSecond: 1000 }, 0)).toEqual({ rowsPerSecond: 1000 });
  });

  it('when the run has no limits, the lanes get nothing (a plain run schedules what it did before)', () => {
    expect(perLane({}, 4)).toBeUndefined();
    expect(perLane(undefined, 4)).toBeUndefined();
  });
});

describe('reachedRate', () => {
  const progress = { tablesTotal: 1, tablesDone: 0, unitsTotal: 4, unitsDone: 0, rowsTotal: 400, rowsCopied: 0, bytesCopied: 0 };

  it('when nothing has landed yet, it shows the limits and no rate', () => {
    expect(reachedRate({ maxBytesPerSecond: 100 }, progress, 0)).toEqual({ maxBytesPerSecond: 100, maxRowsPerSecond: null, bytesPerSecond: null, rowsPerSecond: null });
  });

  it('when units have landed, it shows the counted bytes and rows over the time of the copy', () => {
    const landed = { ...progress, unitsDone: 2, rowsCopied: 200, bytesCopied: 3000 };
    expect(reachedRate(undefined, landed, 2000)).toEqual({ maxBytesPerSecond: null, maxRowsPerSecond: null, bytesPerSecond: 1500, rowsPerSecond: 100 });
  });
});

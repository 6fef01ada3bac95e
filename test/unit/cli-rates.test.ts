import { etaSeconds, percent, RateWindow } from '../../src/cli/rates';

describe('RateWindow', () => {
  it('when there is one sample, or none, there is no rate yet', () => {
    const w = new RateWindow();
    expect(w.rates()).toEqual({ rowsPerSecond: null, bytesPerSecond: null });
    w.add({ at: 0, rows: 0, bytes: 0 });
    expect(w.rates()).toEqual({ rowsPerSecond: null, bytesPerSecond: null });
  });

  it('when counters grow, the rate is the change per second across the window', () => {
    const w = new RateWindow(10_000);
    w.add({ at: 0, rows: 0, bytes: 0 });
    w.add({ at: 2_000, rows: 1_000, bytes: 4_000 });
    expect(w.rates()).toEqual({ rowsPerSecond: 500, bytesPerSecond: 2_000 });
  });

  it('when samples fall out of the window, the rate follows the recent speed', () => {
    const w = new RateWindow(10_000);
    w.add({ at: 0, rows: 0, bytes: 0 });
    w.add({ at: 10_000, rows: 100_000, bytes: 0 });
    for (let t = 11_000; t <= 30_000; t += 1_000) w.add({ at: t, rows: 100_000 + (t - 10_000) * 0.01, bytes: 0 });
    expect(w.rates().rowsPerSecond).toBeCloseTo(10, 5);
  });

  it('when the counters go back (a new copy), the old samples are dropped', () => {
    const w = new RateWindow();
    w.add({ at: 0, rows: 0, bytes: 0 });
    w.add({ at: 1_000, rows: 5_000, bytes: 5_000 });
    w.add({ at: 2_000, rows: 100, bytes: 100 });
    expect(w.rates()).toEqual({ rowsPerSecond: null, bytesPerSecond: null });
    w.add({ at: 3_000, rows: 600, bytes: 1_100 });
    expect(w.rates()).toEqual({ rowsPerSecond: 500, bytesPerSecond: 1_000 });
  });
});

describe('etaSeconds', () => {
  it('when rows are left and a rate is known, it is the rows left over the rate, rounded up', () => {
    expect(etaSeconds(1_000, 10_000, 1_000)).toBe(9);
    expect(etaSeconds(1_000, 10_000, 4_000)).toBe(3);
  });

  it('when everything is copied, it is zero, even without a rate or beyond the plan', () => {
    expect(etaSeconds(10_000, 10_000, null)).toBe(0);
    expect(etaSeconds(12_000, 10_000, 0)).toBe(0);
  });

  it('when there is no total, no rate or no movement, it cannot be told', () => {
    expect(etaSeconds(0, 0, 100)).toBeNull();
    expect(etaSeconds(5, 10, null)).toBeNull();
    expect(etaSeconds(5, 10, 0)).toBeNull();
  });
});

describe('percent', () => {
  it('is whole percent within 0 to 100', () => {
    expect(percent(1, 3)).toBe(33);
    expect(percent(0, 0)).toBe(0);
    expect(percent(11, 10)).toBe(100);
  });
});

/**
 * Rate limits of a copy, as token buckets. Pure: the caller gives the time and waits as told, so
 * the arithmetic is tested without servers or timers (see `paced.ts` for the waiting).
 */
import type { LaneRate } from '../workflows/copy-scheduler';

/** Seconds of unused rate a bucket keeps: a pause between units (DDL, catalogue reads) is made up for, no more. */
export const BURST_SECONDS = 1;

/**
 * A token bucket that may go into debt: `take` always succeeds and says how long the taker must
 * wait before it goes on, so that what was taken, averaged from the bucket's start, stays at
 * `rate`. It starts empty (no burst at the start). It holds at most {@link BURST_SECONDS} of
 * rate, or more where the taker says so (`holds`): a unit copied at full speed and then paid for
 * is credited with the time its copy took.
 */
export class TokenBucket {
  private tokens = 0;
  private at: number;

  constructor(
    readonly rate: number,
    now: number,
    private readonly capacity = rate * BURST_SECONDS,
  ) {
    this.at = now;
  }

  /** Takes `amount` at `now` (ms), holding up to `holds` if that is more than the burst, and returns the ms to wait. */
  take(amount: number, now: number, holds = 0): number {
    const cap = Math.max(this.capacity, amount, holds);
    this.tokens = Math.min(cap, this.tokens + (Math.max(0, now - this.at) / 1000) * this.rate);
    this.at = Math.max(this.at, now);
    this.tokens = Math.min(cap, this.tokens - amount);
    return this.tokens >= 0 ? 0 : (-this.tokens / this.rate) * 1000;
  }
}

/** A unit of copy as the run counts it: planned bytes (uncompressed) and rows. */
export interface PacedUnit {
  bytes: number;
  rows: number;
}

/** How much faster than its share a stream may pass while a unit copies (worker path); the unit's settlement keeps the average. */
export const PEAK_FACTOR = 2;

/** A bucket per configured limit, each at `factor` times it. */
class Buckets {
  private readonly bytes?: TokenBucket;
  private readonly rows?: TokenBucket;

  constructor(limits: LaneRate, now: number, factor: number) {
    if (limits.bytesPerSecond) this.bytes = new TokenBucket(limits.bytesPerSecond * factor, now);
    if (limits.rowsPerSecond) this.rows = new TokenBucket(limits.rowsPerSecond * factor, now);
  }

  get any(): boolean {
    return Boolean(this.bytes || this.rows);
  }

  /** Takes `bytes` and `rows`, holding up to `holds` of each; returns the longer wait. */
  take(bytes: number, rows: number, now: number, holds?: PacedUnit): number {
    return Math.max(this.bytes?.take(bytes, now, holds?.bytes) ?? 0, this.rows?.take(rows, now, holds?.rows) ?? 0);
  }
}

/**
 * The pace of one copy activity. Each unit is paid for once it has landed, as the run counts it
 * (`settle`): the average, from the activity's start, stays at its share of the limits, the time
 * a unit spends staging and swapping in included, whatever the stream's format adds or leaves out.
 * The buckets of the average hold up to one unit, so a unit copied at full speed and then paid
 * for is credited with the time its copy took. On the worker path the stream is smoothed as well
 * (`partial`): it never passes faster than {@link PEAK_FACTOR} times the share, with a burst of
 * {@link BURST_SECONDS}; on the server path the target copies each unit at its own speed.
 */
export class Pacer {
  private readonly average: Buckets;
  private readonly peak: Buckets;
  /** The most bytes per second a unit's copy may move while it runs; undefined without a byte limit. */
  readonly peakBytesPerSecond?: number;

  constructor(limits: LaneRate, now: number) {
    if (limits.bytesPerSecond) this.peakBytesPerSecond = limits.bytesPerSecond * PEAK_FACTOR;
    this.average = new Buckets(limits, now, 1);
    this.peak = new Buckets(limits, now, PEAK_FACTOR);
  }

  /** Whether any limit applies. */
  get limited(): boolean {
    return this.average.any;
  }

  /** Charges `bytes` of `unit`'s stream as they pass (its rows estimated from its plan); returns the ms to wait before passing them on. */
  partial(bytes: number, unit: PacedUnit, now: number): number {
    return this.peak.take(bytes, (bytes * unit.rows) / Math.max(1, unit.bytes), now);
  }

  /** Charges `unit`, landed, as the run counts it; returns the ms to wait before the next. */
  settle(unit: PacedUnit, now: number): number {
    return this.average.take(unit.bytes, unit.rows, now, unit);
  }
}

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

  /** Takes `amount` at `now` (ms; a negative amount gives back), holding up to `holds` if more than the burst, and returns the ms to wait. */
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

/**
 * The pace of one copy activity: a bucket per configured limit. While a unit streams (worker
 * path), its chunks are charged as they pass (`partial`); once it has landed, it is charged as the
 * run counts it (`settle`), less what its chunks paid already, so the bytes limited are the bytes
 * counted whatever the stream's format adds or leaves out. The buckets hold up to one unit: the
 * time a unit spends outside its stream (staging, swapping in) counts for the average, as it does
 * on the server path, where a unit is only paid for once it has landed.
 */
export class Pacer {
  private readonly bytes?: TokenBucket;
  private readonly rows?: TokenBucket;
  private paidBytes = 0;
  private paidRows = 0;

  constructor(limits: LaneRate, now: number) {
    if (limits.bytesPerSecond) this.bytes = new TokenBucket(limits.bytesPerSecond, now);
    if (limits.rowsPerSecond) this.rows = new TokenBucket(limits.rowsPerSecond, now);
  }

  /** Whether any limit applies. */
  get limited(): boolean {
    return Boolean(this.bytes || this.rows);
  }

  /** Charges `bytes` of `unit`'s stream as they pass (its rows estimated from its plan); returns the ms to wait before passing them on. */
  partial(bytes: number, unit: PacedUnit, now: number): number {
    const rows = (bytes * unit.rows) / Math.max(1, unit.bytes);
    this.paidBytes += bytes;
    this.paidRows += rows;
    return this.charge(bytes, rows, unit, now);
  }

  /** Charges `unit`, landed, as counted, less what its stream paid; returns the ms to wait before the next. */
  settle(unit: PacedUnit, now: number): number {
    const wait = this.charge(unit.bytes - this.paidBytes, unit.rows - this.paidRows, unit, now);
    this.paidBytes = 0;
    this.paidRows = 0;
    return wait;
  }

  private charge(bytes: number, rows: number, unit: PacedUnit, now: number): number {
    return Math.max(this.bytes?.take(bytes, now, unit.bytes) ?? 0, this.rows?.take(rows, now, unit.rows) ?? 0);
  }
}

/**
 * Copy rates and the time left, from the progress the API reports at each poll. The state holds
 * counters only, so a rate is the change between the oldest and newest sample of a short window.
 */

/** Counters of one poll, at a time in milliseconds. */
export interface ProgressSample {
  at: number;
  rows: number;
  bytes: number;
}

export interface Rates {
  /** Null until two samples some time apart exist. */
  rowsPerSecond: number | null;
  bytesPerSecond: number | null;
}

/** The samples of the last `windowMs`, from which {@link RateWindow.rates} computes. */
export class RateWindow {
  private samples: ProgressSample[] = [];

  /** @param windowMs how far back a rate looks. @default 20000 */
  constructor(private readonly windowMs = 20_000) {}

  add(sample: ProgressSample): void {
    const last = this.samples[this.samples.length - 1];
    // Counters that went back belong to a new copy (a retried run): the old samples say nothing about it.
    if (last && (sample.rows < last.rows || sample.bytes < last.bytes)) this.samples = [];
    this.samples.push(sample);
    while (this.samples.length > 2 && sample.at - this.samples[1].at >= this.windowMs) this.samples.shift();
  }

  rates(): Rates {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    const seconds = first && last ? (last.at - first.at) / 1000 : 0;
    if (seconds <= 0) return { rowsPerSecond: null, bytesPerSecond: null };
    return { rowsPerSecond: (last.rows - first.rows) / seconds, bytesPerSecond: (last.bytes - first.bytes) / seconds };
  }
}

/**
 * Seconds until `done` reaches `total` at `perSecond`: 0 when nothing is left, null when it
 * cannot be told (no total, no rate yet, or no movement).
 */
export function etaSeconds(done: number, total: number, perSecond: number | null): number | null {
  if (total <= 0) return null;
  if (done >= total) return 0;
  if (perSecond === null || perSecond <= 0) return null;
  return Math.ceil((total - done) / perSecond);
}

/** Whole percent of `done` out of `total`, within 0 to 100 (a source that grew may copy more than planned). */
export function percent(done: number, total: number): number {
  if (total <= 0) return 0;
  return Math.max(0, Math.min(100, Math.floor((done / total) * 100)));
}

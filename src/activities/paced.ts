/**
 * The waiting side of the rate limits (the arithmetic is in `throttle.ts`): a stream that passes
 * chunks at the pace of a {@link Pacer}, and the pause after a unit has landed.
 */
import { Transform } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import type { LaneRate } from '../workflows/copy-scheduler';
import { Pacer, type PacedUnit } from './throttle';

/** The pacer of one copy activity: none when it has no limits. */
export function pacerOf(limits: LaneRate | undefined): Pacer | undefined {
  const pacer = limits ? new Pacer(limits, performance.now()) : undefined;
  return pacer?.limited ? pacer : undefined;
}

/** A pass-through stream of `unit`'s rows that holds each chunk until `pacer` allows it; the unit is settled as counted once it lands. */
export function pacedStream(pacer: Pacer, unit: PacedUnit): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      const wait = pacer.partial(chunk.length, unit, performance.now());
      if (wait <= 0) return done(null, chunk);
      setTimeout(() => done(null, chunk), wait);
    },
  });
}

/** Charges a landed unit to `pacer` as the run counts it, and waits as long as the pacer says. */
export async function settleUnit(pacer: Pacer | undefined, unit: PacedUnit): Promise<void> {
  const wait = pacer?.settle(unit, performance.now()) ?? 0;
  if (wait > 0) await pause(wait);
}

/** Waits `ms`; inside an activity, a cancellation ends the wait (and the activity) at once. */
async function pause(ms: number): Promise<void> {
  let ctx: Context | undefined;
  try {
    ctx = Context.current();
  } catch {
    return void (await sleep(ms));
  }
  await ctx.sleep(ms);
}

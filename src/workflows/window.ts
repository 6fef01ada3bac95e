/**
 * When a run's migration step may run (its `schedule`): pure and deterministic, so the workflow
 * computes it from workflow time. Wall-clock times are read on the window's time zone with
 * `Intl.DateTimeFormat`, which the workflow isolate provides.
 *
 * Daylight saving time: a window's `start` that does not exist on a day (the clock jumps over it
 * in spring) opens as late as the jump: 02:30 in Europe/Berlin on the last Sunday of March opens
 * at 03:30 CEST, the instant 02:30 CET would have been. A `start` that exists twice (the clock
 * turns back in autumn) opens at the first of the two. `durationSeconds` is elapsed time, so a
 * window over a change of the clock ends an hour earlier or later on the wall clock.
 */
import { WEEKDAYS, type MaintenanceWindow, type MigrationSchedule, type Weekday } from './types';

/** One opening of a schedule: from `opensAt` (ms since the epoch) to `closesAt`, or for good (null). */
export interface Opening {
  opensAt: number;
  closesAt: number | null;
}

const DAY_MS = 24 * 3600 * 1000;

interface WallTime {
  year: number;
  month: number;
  day: number;
  weekday: Weekday;
  /** Milliseconds since the epoch of this wall time read as if it were UTC. */
  asUtc: number;
}

const formats = new Map<string, Intl.DateTimeFormat>();

function formatOf(timeZone: string): Intl.DateTimeFormat {
  let format = formats.get(timeZone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      weekday: 'short',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formats.set(timeZone, format);
  }
  return format;
}

/** The wall-clock time at `instant` in `timeZone`. */
export function wallTimeAt(instant: number, timeZone: string): WallTime {
  const parts: Record<string, string> = {};
  for (const part of formatOf(timeZone).formatToParts(instant)) parts[part.type] = part.value;
  const [year, month, day] = [Number(parts.year), Number(parts.month), Number(parts.day)];
  const ms = ((instant % 1000) + 1000) % 1000;
  const asUtc = Date.UTC(year, month - 1, day, Number(parts.hour) % 24, Number(parts.minute), Number(parts.second), ms);
  return { year, month, day, weekday: parts.weekday.toLowerCase().slice(0, 3) as Weekday, asUtc };
}

/** How far `timeZone`'s clock is ahead of UTC at `instant`, in ms. */
function offsetAt(instant: number, timeZone: string): number {
  return wallTimeAt(instant, timeZone).asUtc - instant;
}

/**
 * The instant at which `timeZone`'s clock shows `wall` (a wall time as UTC ms): the first of two
 * on a fall-back day; on a spring-forward day, a time the clock skips maps to as late as the jump.
 */
export function instantOfWallTime(wall: number, timeZone: string): number {
  const before = offsetAt(wall - DAY_MS / 2, timeZone);
  const after = offsetAt(wall + DAY_MS / 2, timeZone);
  const candidates = [...new Set([before, after])].map((offset) => wall - offset).filter((t) => wallTimeAt(t, timeZone).asUtc === wall);
  if (candidates.length > 0) return Math.min(...candidates);
  return wall - before;
}

/** Seconds after midnight of an `HH:MM` or `HH:MM:SS` time of day. */
export function secondsOfDay(start: string): number {
  const [h, m, s = 0] = start.split(':').map(Number);
  return h * 3600 + m * 60 + s;
}

/** The first opening of `window` that has not closed by `at`: the one `at` is in, or the next. */
export function windowOpeningAt(window: MaintenanceWindow, at: number): Opening {
  const startMs = secondsOfDay(window.start) * 1000;
  const durationMs = window.durationSeconds * 1000;
  const today = wallTimeAt(at, window.timeZone);
  const midnight = Date.UTC(today.year, today.month - 1, today.day);
  // A window opened on an earlier day may still be open; one at most 7 days long opens again within 8.
  const back = Math.ceil(durationMs / DAY_MS) + 1;
  for (let d = -back; d <= 8; d++) {
    const dayMidnight = midnight + d * DAY_MS;
    if (!window.days.includes(weekdayOf(dayMidnight))) continue;
    const opensAt = instantOfWallTime(dayMidnight + startMs, window.timeZone);
    if (opensAt + durationMs > at) return { opensAt, closesAt: opensAt + durationMs };
  }
  throw new Error(`the window on ${window.days.join(', ')} never opens`);
}

/**
 * When the migration step may run, asked at `at`: the opening of `schedule` that has not closed
 * yet, no earlier than `notBefore`. The step may run now when `opensAt <= at`.
 */
export function nextOpening(schedule: MigrationSchedule, at: number): Opening {
  const notBefore = schedule.notBefore ? Date.parse(schedule.notBefore) : at;
  const from = Math.max(at, notBefore);
  if (!schedule.window) return { opensAt: from, closesAt: null };
  const opening = windowOpeningAt(schedule.window, from);
  return { opensAt: Math.max(opening.opensAt, from), closesAt: opening.closesAt };
}

/** Whether `schedule` lets the migration step run at `at`. */
export function isOpen(schedule: MigrationSchedule, at: number): boolean {
  return nextOpening(schedule, at).opensAt <= at;
}

/** The ISO weekday of a UTC midnight. */
function weekdayOf(utcMidnight: number): Weekday {
  return WEEKDAYS[(new Date(utcMidnight).getUTCDay() + 6) % 7];
}

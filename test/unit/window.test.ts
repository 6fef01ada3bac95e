import { instantOfWallTime, isOpen, nextOpening, secondsOfDay, wallTimeAt, windowOpeningAt } from '../../src/workflows/window';
import type { MaintenanceWindow, MigrationSchedule } from '../../src/workflows/types';

const at = (iso: string) => Date.parse(iso);
const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const window = (w: Partial<MaintenanceWindow>): MaintenanceWindow => ({ days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'], start: '00:00', durationSeconds: 3600, timeZone: 'UTC', ...w });
const opening = (w: MaintenanceWindow, from: string) => {
  const o = windowOpeningAt(w, at(from));
  return { opensAt: iso(o.opensAt), closesAt: iso(o.closesAt) };
};

describe('the clock of a time zone', () => {
  it('reads the wall time and weekday of an instant in a zone', () => {
    const wall = wallTimeAt(at('2026-12-07T23:30:00Z'), 'Europe/Berlin');
    expect([wall.year, wall.month, wall.day, wall.weekday]).toEqual([2026, 12, 8, 'tue']);
    expect(iso(wall.asUtc)).toBe('2026-12-08T00:30:00.000Z');
  });

  it('parses HH:MM and HH:MM:SS', () => {
    expect(secondsOfDay('02:30')).toBe(9000);
    expect(secondsOfDay('23:59:59')).toBe(86399);
  });
});

describe('daylight saving time', () => {
  it('when the start does not exist (Berlin springs forward over 02:30), the window opens as late as the jump: 03:30 CEST', () => {
    expect(opening(window({ days: ['sun'], start: '02:30', timeZone: 'Europe/Berlin' }), '2026-03-28T12:00:00Z')).toEqual({
      opensAt: '2026-03-29T01:30:00.000Z',
      closesAt: '2026-03-29T02:30:00.000Z',
    });
  });

  it('when the start does not exist (New York springs forward over 02:15), the window opens at 03:15 EDT', () => {
    expect(iso(instantOfWallTime(at('2026-03-08T02:15:00Z'), 'America/New_York'))).toBe('2026-03-08T07:15:00.000Z');
  });

  it('when the start exists twice (Berlin falls back over 02:30), the window opens at the first: 02:30 CEST', () => {
    expect(opening(window({ days: ['sun'], start: '02:30', timeZone: 'Europe/Berlin' }), '2026-10-24T12:00:00Z').opensAt).toBe('2026-10-25T00:30:00.000Z');
  });

  it('when the start exists twice (New York falls back over 01:30), the window opens at 01:30 EDT, the next day at 01:30 EST', () => {
    const daily = window({ start: '01:30', timeZone: 'America/New_York' });
    expect(opening(daily, '2026-11-01T00:00:00Z').opensAt).toBe('2026-11-01T05:30:00.000Z');
    expect(opening(daily, '2026-11-01T05:30:00Z').opensAt).toBe('2026-11-01T05:30:00.000Z');
    expect(opening(daily, '2026-11-01T06:31:00Z').opensAt).toBe('2026-11-02T06:30:00.000Z');
  });

  it('a window across the change lasts its duration in elapsed time: 8 hours from 22:00 end at 07:00 CEST', () => {
    const night = window({ days: ['sat'], start: '22:00', durationSeconds: 8 * 3600, timeZone: 'Europe/Berlin' });
    expect(opening(night, '2026-03-28T12:00:00Z')).toEqual({ opensAt: '2026-03-28T21:00:00.000Z', closesAt: '2026-03-29T05:00:00.000Z' });
  });

  it('the same wall-clock start is an hour apart in UTC before and after a change', () => {
    const daily = window({ start: '09:00', timeZone: 'Europe/Berlin' });
    expect(opening(daily, '2026-03-28T00:00:00Z').opensAt).toBe('2026-03-28T08:00:00.000Z');
    expect(opening(daily, '2026-03-29T00:00:00Z').opensAt).toBe('2026-03-29T07:00:00.000Z');
  });
});

describe('windowOpeningAt', () => {
  it('when the time is inside a window, the opening is the one it is in', () => {
    expect(opening(window({ start: '10:00' }), '2026-12-07T10:20:00Z')).toEqual({ opensAt: '2026-12-07T10:00:00.000Z', closesAt: '2026-12-07T11:00:00.000Z' });
  });

  it('when a window closes at the instant asked, the next one is given', () => {
    expect(opening(window({ start: '10:00' }), '2026-12-07T11:00:00Z').opensAt).toBe('2026-12-08T10:00:00.000Z');
  });

  it('when a window opened on an earlier day is still open, it is the one given', () => {
    expect(opening(window({ days: ['sat'], start: '20:00', durationSeconds: 30 * 3600 }), '2026-12-07T01:00:00Z')).toEqual({
      opensAt: '2026-12-05T20:00:00.000Z',
      closesAt: '2026-12-07T02:00:00.000Z',
    });
  });

  it('only the named days open, on the clock of the zone: Monday 00:30 in Tokyo is Sunday in UTC', () => {
    expect(opening(window({ days: ['mon'], start: '00:30', timeZone: 'Asia/Tokyo' }), '2026-12-08T00:00:00Z').opensAt).toBe('2026-12-13T15:30:00.000Z');
  });

  it('reads seconds of the start', () => {
    expect(opening(window({ start: '10:00:45', durationSeconds: 5 }), '2026-12-07T09:00:00Z')).toEqual({ opensAt: '2026-12-07T10:00:45.000Z', closesAt: '2026-12-07T10:00:50.000Z' });
  });
});

describe('nextOpening', () => {
  const w = window({ start: '10:00' });

  it('notBefore alone opens at notBefore, for good; a notBefore that has passed opens now', () => {
    const s: MigrationSchedule = { notBefore: '2026-12-07T12:00:00Z' };
    expect(nextOpening(s, at('2026-12-07T11:00:00Z'))).toEqual({ opensAt: at('2026-12-07T12:00:00Z'), closesAt: null });
    expect(nextOpening(s, at('2026-12-07T13:00:00Z'))).toEqual({ opensAt: at('2026-12-07T13:00:00Z'), closesAt: null });
    expect(isOpen(s, at('2026-12-07T11:59:59Z'))).toBe(false);
    expect(isOpen(s, at('2026-12-07T12:00:00Z'))).toBe(true);
  });

  it('notBefore inside a window opens at notBefore and closes with the window', () => {
    expect(nextOpening({ notBefore: '2026-12-07T10:30:00Z', window: w }, at('2026-12-07T09:00:00Z'))).toEqual({ opensAt: at('2026-12-07T10:30:00Z'), closesAt: at('2026-12-07T11:00:00Z') });
  });

  it('notBefore after the window of its day waits for the next window', () => {
    expect(nextOpening({ notBefore: '2026-12-07T11:30:00Z', window: w }, at('2026-12-07T09:00:00Z')).opensAt).toBe(at('2026-12-08T10:00:00Z'));
  });

  it('inside the window the run may go; outside it may not', () => {
    expect(isOpen({ window: w }, at('2026-12-07T10:59:59Z'))).toBe(true);
    expect(isOpen({ window: w }, at('2026-12-07T11:00:00Z'))).toBe(false);
    expect(isOpen({ window: w }, at('2026-12-07T09:59:59Z'))).toBe(false);
  });
});

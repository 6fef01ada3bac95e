/**
 * The `start` flags (and start-file values) that choose what a transfer moves and when: renames,
 * include/exclude, the mode, the schedule, the rate limits and the target's replication. Pure. Values with units (`20MiB`,
 * `2h`, `mon-fri`) become the numbers and lists of the API; the rest goes on as given, for the API
 * to judge.
 */
import { WEEKDAYS } from '../workflows/types';
import { UsageError } from './exit-codes';

/** The scope flags of `start`, named as commander names them. */
export interface ScopeFlags {
  /** `--rename source=target`, repeated. */
  rename?: string[];
  /** `--include`, repeated. */
  include?: string[];
  /** `--exclude`, repeated. */
  exclude?: string[];
  mode?: string;
  notBefore?: string;
  /** `--window-days mon,tue` or `mon-fri`. */
  windowDays?: string;
  windowStart?: string;
  /** `--window-duration 2h`, `90m`, `1h30m`, `7200s` or `7200`. */
  windowDuration?: string;
  windowTz?: string;
  onWindowEnd?: string;
  /** `--max-bytes-per-second 20MiB`. */
  maxBytesPerSecond?: string;
  /** `--max-rows-per-second 50k`. */
  maxRowsPerSecond?: string;
  /** `--target-cluster target_replicas`: `replication.cluster`. */
  targetCluster?: string;
  /** `--zookeeper-path /clickhouse/tables/{shard}/{database}/{table}`: `replication.zooKeeperPath`. */
  zookeeperPath?: string;
}

/** The scope flags by the name `--help` shows (none of them fits a run of changes). */
export const SCOPE_FLAG_NAMES: [keyof ScopeFlags, string][] = [
  ['rename', '--rename'],
  ['include', '--include'],
  ['exclude', '--exclude'],
  ['mode', '--mode'],
  ['notBefore', '--not-before'],
  ['windowDays', '--window-days'],
  ['windowStart', '--window-start'],
  ['windowDuration', '--window-duration'],
  ['windowTz', '--window-tz'],
  ['onWindowEnd', '--on-window-end'],
  ['maxBytesPerSecond', '--max-bytes-per-second'],
  ['maxRowsPerSecond', '--max-rows-per-second'],
  ['targetCluster', '--target-cluster'],
  ['zookeeperPath', '--zookeeper-path'],
];

const BYTE_UNITS: Record<string, number> = { b: 1, kb: 1e3, mb: 1e6, gb: 1e9, tb: 1e12, kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40 };
const COUNT_UNITS: Record<string, number> = { '': 1, k: 1e3, m: 1e6, g: 1e9 };

/** Bytes per second from `20MiB`, `20 MB/s`, `1.5GiB` or `1048576`: KB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB of 1024. */
export function parseByteRate(value: string, name: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*(?:\/\s*s)?\s*$/i.exec(value);
  const factor = m ? (m[2] === '' ? 1 : BYTE_UNITS[m[2].toLowerCase()]) : undefined;
  if (!m || factor === undefined) throw new UsageError(`${name} "${value}" is not a rate in bytes: say e.g. 20MiB (20 × 2^20), 20MB (20 × 10^6) or 1048576`);
  return Math.floor(Number(m[1]) * factor);
}

/** Rows per second from `50000`, `50k` or `1.5M` (k, M, G are powers of 1000). */
export function parseRowRate(value: string, name: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]?)\s*(?:\/\s*s)?\s*$/i.exec(value);
  const factor = m ? COUNT_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || factor === undefined) throw new UsageError(`${name} "${value}" is not a number of rows: say e.g. 50000, 50k or 1.5M`);
  return Math.floor(Number(m[1]) * factor);
}

/** Seconds from `2h`, `90m`, `1h30m`, `7200s`, `1d` or a plain `7200`. */
export function parseDuration(value: string, name: string): number {
  const m = /^\s*(?:(\d+)\s*$|(?:(\d+)d)?\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s)?\s*$)/i.exec(value);
  if (!m || (m[1] === undefined && m.slice(2).every((part) => part === undefined))) {
    throw new UsageError(`${name} "${value}" is not a duration: say e.g. 2h, 90m, 1h30m or 7200s`);
  }
  if (m[1] !== undefined) return Number(m[1]);
  const [d, h, min, s] = m.slice(2).map((part) => Number(part ?? 0));
  return ((d * 24 + h) * 60 + min) * 60 + s;
}

/** Weekdays from `mon,tue`, `mon-fri` or `sat,sun,mon`: ranges run forward and may wrap past Sunday. */
export function parseWeekdays(value: string, name: string): string[] {
  const days: string[] = [];
  for (const part of value.toLowerCase().split(',').map((p) => p.trim()).filter(Boolean)) {
    const [from, to, extra] = part.split('-').map((p) => p.trim());
    if (to === undefined) {
      days.push(from);
      continue;
    }
    const start = WEEKDAYS.indexOf(from as (typeof WEEKDAYS)[number]);
    const end = WEEKDAYS.indexOf(to as (typeof WEEKDAYS)[number]);
    if (start < 0 || end < 0 || extra !== undefined) throw new UsageError(`${name}: "${part}" is not a range of days such as mon-fri (days: ${WEEKDAYS.join(', ')})`);
    for (let i = start; ; i = (i + 1) % 7) {
      days.push(WEEKDAYS[i]);
      if (i === end) break;
    }
  }
  if (days.length === 0) throw new UsageError(`${name} names no day: say e.g. mon,tue or mon-fri`);
  return days;
}

/** `source=target` of `--rename`. */
export function parseRename(value: string): { source: string; target: string } {
  const at = value.indexOf('=');
  const source = value.slice(0, at);
  const target = value.slice(at + 1);
  if (at < 0 || source === '' || target === '') throw new UsageError(`--rename "${value}" must be source=target, e.g. --rename shop=shop_v2`);
  return { source, target };
}

type Body = Record<string, unknown>;

/**
 * Sets the scope fields of `body` (the start file's, already copied) from the flags: each flag
 * overrides its field. A rename replaces the entry of its source in `databases`, or adds one.
 * Rates and a window's duration given with units in the file are turned into numbers too.
 */
export function applyScopeFlags(body: Body, flags: ScopeFlags): void {
  if (flags.rename && flags.rename.length > 0) body.databases = withRenames(Array.isArray(body.databases) ? body.databases : [], flags.rename.map(parseRename));
  if (flags.include && flags.include.length > 0) body.include = flags.include;
  if (flags.exclude && flags.exclude.length > 0) body.exclude = flags.exclude;
  if (flags.mode !== undefined) body.mode = flags.mode;
  applySchedule(body, flags);
  applyRates(body, flags);
  applyReplication(body, flags);
}

function applyReplication(body: Body, flags: ScopeFlags): void {
  if (flags.targetCluster === undefined && flags.zookeeperPath === undefined) return;
  const replication: Body = isRecord(body.replication) ? { ...body.replication } : {};
  if (flags.targetCluster !== undefined) replication.cluster = flags.targetCluster;
  if (flags.zookeeperPath !== undefined) replication.zooKeeperPath = flags.zookeeperPath;
  body.replication = replication;
}

function withRenames(entries: unknown[], renames: { source: string; target: string }[]): unknown[] {
  const result = [...entries];
  for (const rename of renames) {
    const at = result.findIndex((entry) => (isRecord(entry) ? entry.source : entry) === rename.source);
    if (at < 0) result.push(rename);
    else result[at] = rename;
  }
  return result;
}

function applySchedule(body: Body, flags: ScopeFlags): void {
  const schedule: Body = isRecord(body.schedule) ? { ...body.schedule } : {};
  const window: Body = isRecord(schedule.window) ? { ...schedule.window } : {};
  if (flags.windowDays !== undefined) window.days = parseWeekdays(flags.windowDays, '--window-days');
  if (flags.windowStart !== undefined) window.start = flags.windowStart;
  if (flags.windowDuration !== undefined) window.durationSeconds = parseDuration(flags.windowDuration, '--window-duration');
  else if (typeof window.durationSeconds === 'string') window.durationSeconds = parseDuration(window.durationSeconds, 'schedule.window.durationSeconds in the start file');
  if (flags.windowTz !== undefined) window.timeZone = flags.windowTz;
  if (Object.keys(window).length > 0) schedule.window = window;
  if (flags.notBefore !== undefined) schedule.notBefore = flags.notBefore;
  if (flags.onWindowEnd !== undefined) schedule.onWindowEnd = flags.onWindowEnd;
  if (Object.keys(schedule).length > 0) body.schedule = schedule;
}

function applyRates(body: Body, flags: ScopeFlags): void {
  const options: Body = isRecord(body.options) ? { ...body.options } : {};
  const bytes = flags.maxBytesPerSecond ?? options.maxBytesPerSecond;
  const rows = flags.maxRowsPerSecond ?? options.maxRowsPerSecond;
  const from = (flag: string | undefined, field: string) => (flag !== undefined ? `--${field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}` : `options.${field} in the start file`);
  if (typeof bytes === 'string') options.maxBytesPerSecond = parseByteRate(bytes, from(flags.maxBytesPerSecond, 'maxBytesPerSecond'));
  if (typeof rows === 'string') options.maxRowsPerSecond = parseRowRate(rows, from(flags.maxRowsPerSecond, 'maxRowsPerSecond'));
  if (Object.keys(options).length > 0 || isRecord(body.options)) body.options = options;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

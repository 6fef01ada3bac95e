/**
 * Pid files of the local stack: one JSON file per process group that `npm start` runs, in
 * `<data dir>/pids/`. Each records the pid with the boot and the clock tick at which the process
 * started (field 22 of `/proc/<pid>/stat`), so that a pid the kernel has since given to another
 * process is never taken for ours. The command line is recorded for people and messages only: it
 * changes when a script's `#!/usr/bin/env node` line execs node, the start time does not.
 *
 * A start that finds live processes in these files, left by a start that can no longer stop them
 * (it was SIGKILLed, say), stops them rather than reusing them: a left-over server may run with
 * other ports, another password or an older config than this start writes, and a process that is
 * not our child cannot be watched for its exit. Stopping costs a few seconds once and always
 * leaves the same state. A start whose own record is still live is another running start: that
 * one is refused, never stopped.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** What a pid file records. */
export interface PidRecord {
  pid: number;
  /** Clock ticks after boot at which the process started: with `pid` and `bootId`, unique. */
  startTime: string;
  /** `/proc/sys/kernel/random/boot_id`: start times count from the boot. */
  bootId: string;
  /** The command line, arguments separated by spaces. */
  cmdline: string;
}

/** The name of the pid file of the start process itself. */
export const START_PID_NAME = 'start';

interface ProcStat {
  state: string;
  processGroup: number;
  startTime: string;
}

function readProcStat(pid: number): ProcStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name in parentheses may hold spaces and parentheses: fields follow the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0], processGroup: Number(fields[2]), startTime: fields[19] };
  } catch {
    return undefined;
  }
}

function readCmdline(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '').split('\0').join(' ');
  } catch {
    return undefined;
  }
}

/** The record of a running process (a zombie does not count), or undefined when there is none. */
export function processRecord(pid: number): PidRecord | undefined {
  const stat = readProcStat(pid);
  const cmdline = readCmdline(pid);
  if (!stat || stat.state === 'Z' || cmdline === undefined) return undefined;
  return { pid, startTime: stat.startTime, bootId: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(), cmdline };
}

/** True when the process that `record` describes is still running (not a recycled pid). */
export function isSameProcessRunning(record: PidRecord): boolean {
  const now = processRecord(record.pid);
  return now !== undefined && now.startTime === record.startTime && now.bootId === record.bootId;
}

/** Pids of the live (not zombie) members of process group `groupId`. */
export function processGroupMembers(groupId: number): number[] {
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcStat(Number(entry));
    if (stat && stat.processGroup === groupId && stat.state !== 'Z') members.push(Number(entry));
  }
  return members;
}

/** Records the running process `pid` as `<dir>/<name>.pid`; does nothing when it already exited. */
export function writePidFile(dir: string, name: string, pid: number): void {
  const record = processRecord(pid);
  if (!record) return;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, `${name}.pid`), `${JSON.stringify(record)}\n`);
}

/** Removes `<dir>/<name>.pid` if it is there. */
export function removePidFile(dir: string, name: string): void {
  rmSync(join(dir, `${name}.pid`), { force: true });
}

/** Every pid file in `dir` whose process still runs; files of processes that are gone are removed. */
export function livePidFiles(dir: string): { name: string; record: PidRecord }[] {
  if (!existsSync(dir)) return [];
  const live: { name: string; record: PidRecord }[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.pid'))) {
    const name = file.slice(0, -'.pid'.length);
    let record: PidRecord | undefined;
    try {
      record = JSON.parse(readFileSync(join(dir, file), 'utf8')) as PidRecord;
    } catch {
      record = undefined;
    }
    if (record && isSameProcessRunning(record)) live.push({ name, record });
    else removePidFile(dir, name);
  }
  return live;
}

function signalGroup(groupId: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-groupId, signal);
  } catch {
    // the group is already empty
  }
}

async function waitForEmptyGroup(groupId: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (processGroupMembers(groupId).length > 0) {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return true;
}

/** Stops process group `groupId`: SIGTERM, then SIGKILL after `graceMs`; resolves when it is empty. */
export async function stopProcessGroup(groupId: number, graceMs: number): Promise<void> {
  signalGroup(groupId, 'SIGTERM');
  if (await waitForEmptyGroup(groupId, graceMs)) return;
  signalGroup(groupId, 'SIGKILL');
  await waitForEmptyGroup(groupId, 10_000);
}

/**
 * Prepares `dir` for a new start: fails when the start recorded there still runs, and stops the
 * process groups that a start which is gone left behind. Returns the command lines it stopped.
 */
export async function stopLeftovers(dir: string, graceMs = 15_000): Promise<string[]> {
  const live = livePidFiles(dir);
  const owner = live.find((entry) => entry.name === START_PID_NAME);
  if (owner && owner.record.pid !== process.pid) {
    throw new Error(`another start (pid ${owner.record.pid}) is running on ${dir}: stop it first`);
  }
  const leftovers = live.filter((entry) => entry.name !== START_PID_NAME);
  await Promise.all(leftovers.map((entry) => stopProcessGroup(entry.record.pid, graceMs)));
  for (const entry of leftovers) removePidFile(dir, entry.name);
  return leftovers.map((entry) => entry.record.cmdline);
}

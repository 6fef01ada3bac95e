import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync, existsSync } from 'node:fs';
import { basename } from 'node:path';
import { processGroupMembers, removePidFile, stopProcessGroup, writePidFile } from './pid-files';

/**
 * Children that `startProcess` started and that have not been stopped, in start order. Each runs
 * in its own process group (`detached`), so a Ctrl-C in the terminal, which signals the whole
 * foreground group, reaches only this process: the children stop when, and in the order, this
 * process tells them to, never half by themselves.
 */
const children = new Set<ChildProcess>();
let pidFileDir: string | undefined;
let accepting = true;
let exitHookInstalled = false;

/** Kills every child group still running when this process exits, so none outlives it. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of children) signalGroup(child, 'SIGKILL');
  });
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-(child.pid as number), signal);
  } catch {
    // the group is already empty
  }
}

function pidFileName(command: string, pid: number): string {
  return `${basename(command)}-${pid}`;
}

/** From now on, `startProcess` records each child in a pid file in `dir` (see `pid-files.ts`). */
export function recordPidFilesIn(dir: string): void {
  pidFileDir = dir;
}

/** Starts `command` in its own process group, with stdout and stderr appended to `logFile`. */
export function startProcess(command: string, args: string[], options: { logFile: string; env?: NodeJS.ProcessEnv; cwd?: string }): ChildProcess {
  if (!accepting) throw new Error(`not starting ${basename(command)}: the stack is stopping`);
  installExitHook();
  const log = openSync(options.logFile, 'a');
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', log, log],
    detached: true,
  });
  closeSync(log);
  const pid = child.pid;
  if (pid === undefined) {
    child.once('error', () => undefined);
    throw new Error(`could not start ${command}`);
  }
  children.add(child);
  if (pidFileDir) writePidFile(pidFileDir, pidFileName(command, pid), pid);
  const dir = pidFileDir;
  child.once('exit', () => {
    if (processGroupMembers(pid).length > 0) return;
    children.delete(child);
    if (dir) removePidFile(dir, pidFileName(command, pid));
  });
  return child;
}

/** The last lines of a log file, for error messages. */
export function logTail(logFile: string, lines = 20): string {
  if (!existsSync(logFile)) return '(no log)';
  return readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/** Polls `check` until it returns true; fails after `timeoutMs`, or at once if `child` exits. */
export async function waitUntil(
  check: () => Promise<boolean>,
  options: { timeoutMs: number; what: string; child?: ChildProcess; logFile?: string },
): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  while (Date.now() < deadline) {
    if (options.child && (options.child.exitCode !== null || options.child.signalCode !== null)) {
      throw new Error(`${options.what}: the process exited (${options.child.exitCode ?? options.child.signalCode})\n${options.logFile ? logTail(options.logFile) : ''}`);
    }
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
  throw new Error(`${options.what}: not ready after ${options.timeoutMs} ms\n${options.logFile ? logTail(options.logFile) : ''}`);
}

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

/**
 * Stops a child and every process of its group: SIGTERM, then SIGKILL after `graceMs`. Resolves
 * once the group is empty and the child's exit has been seen.
 */
export function stopProcess(child: ChildProcess, graceMs = 10_000): Promise<void> {
  return endProcess(child, (pid) => stopProcessGroup(pid, graceMs));
}

/**
 * Kills a child and every process of its group with SIGKILL at once, with no chance to clean up
 * (a crash, as fault tests need one). Resolves once the group is empty and the exit has been seen.
 */
export function killProcess(child: ChildProcess): Promise<void> {
  return endProcess(child, (pid) => {
    signalGroup(child, 'SIGKILL');
    return stopProcessGroup(pid, 10_000);
  });
}

async function endProcess(child: ChildProcess, end: (pid: number) => Promise<void>): Promise<void> {
  const pid = child.pid;
  if (pid === undefined) return;
  const exited = hasExited(child) ? Promise.resolve() : new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await end(pid);
  await exited;
  children.delete(child);
  if (pidFileDir) removePidFile(pidFileDir, pidFileName(child.spawnfile, pid));
}

/**
 * Refuses new children from now on and stops every child still running, all at once, including
 * those still starting. Safe to call more than once.
 */
export async function stopAllProcesses(graceMs = 15_000): Promise<void> {
  accepting = false;
  await Promise.all([...children].map((child) => stopProcess(child, graceMs)));
}

/** True when an HTTP GET of `url` answers 2xx. */
export async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  return res.ok;
}

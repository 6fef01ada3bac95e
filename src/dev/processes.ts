import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readFileSync, existsSync } from 'node:fs';

const children = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Kills every child still running when this process exits, so none outlives it. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of children) if (child.exitCode === null && child.pid) killGroup(child, 'SIGKILL');
  });
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-(child.pid as number), signal);
  } catch {
    child.kill(signal);
  }
}

/** Starts `command` in its own process group, with stdout and stderr appended to `logFile`. */
export function startProcess(command: string, args: string[], options: { logFile: string; env?: NodeJS.ProcessEnv; cwd?: string }): ChildProcess {
  installExitHook();
  const log = openSync(options.logFile, 'a');
  const child = spawn(command, args, {
    cwd: options.cwd,
    env: options.env ?? process.env,
    stdio: ['ignore', log, log],
    detached: true,
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
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

/** Stops a child and its process group: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopProcess(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  killGroup(child, 'SIGTERM');
  const timer = setTimeout(() => killGroup(child, 'SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** True when an HTTP GET of `url` answers 2xx. */
export async function httpOk(url: string): Promise<boolean> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  return res.ok;
}

import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { processGroupMembers } from '../src/dev/pid-files';
import { httpOk, startProcess, stopProcess, waitUntil } from '../src/dev/processes';
import { withDeployedNodeOptions } from '../src/dev/node-options';

export const ROOT = join(__dirname, '..');

/**
 * A process of the product as it is deployed: compiled JavaScript from `dist/` (scripts/bench.sh
 * builds it), in its own process group. The peak RSS of its node process is sampled on request.
 */
export class ProductProcess {
  readonly child: ChildProcess;
  private timer?: NodeJS.Timeout;
  private readonly windows = new Set<{ peak: number }>();

  constructor(script: string, env: NodeJS.ProcessEnv, readonly logFile: string) {
    this.child = startProcess(process.execPath, [join(ROOT, 'dist', script)], { cwd: ROOT, env: withDeployedNodeOptions({ ...process.env, ...env }), logFile });
  }

  /** RSS of the biggest node process in the group (the product process itself). */
  rss(): number {
    let biggest = 0;
    for (const pid of processGroupMembers(this.child.pid as number)) {
      try {
        const status = readFileSync(`/proc/${pid}/status`, 'utf8');
        if (!/^Name:\s+node/m.test(status)) continue;
        biggest = Math.max(biggest, Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024);
      } catch {
        // the process ended while we looked
      }
    }
    return biggest;
  }

  /**
   * Starts a window of RSS sampling (every 100 ms); the function returned ends it and gives the
   * peak seen in it. Windows may overlap.
   */
  measurePeak(): () => number {
    const window = { peak: this.rss() };
    this.windows.add(window);
    this.timer ??= setInterval(() => {
      const rss = this.rss();
      for (const w of this.windows) w.peak = Math.max(w.peak, rss);
    }, 100);
    return () => {
      this.windows.delete(window);
      if (this.windows.size === 0) {
        clearInterval(this.timer);
        this.timer = undefined;
      }
      return window.peak;
    };
  }

  async waitForHttp(url: string, what: string): Promise<void> {
    await waitUntil(() => httpOk(url), { timeoutMs: 60_000, what, child: this.child, logFile: this.logFile });
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.windows.clear();
    await stopProcess(this.child, 10_000);
  }
}

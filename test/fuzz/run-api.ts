/**
 * Fuzzes the real API with schemathesis (started by scripts/fuzz-api.sh, which installs it): a
 * Temporal dev server, a worker and the API on free loopback ports, schemathesis against the API's
 * own `GET /openapi.json` with every check, a summary, and everything stopped at the end.
 *
 * Nothing leaves loopback. The endpoint allowlist names two loopback ports that nothing listens on,
 * and the document states it (see `describedAllowlist`), so every source and target schemathesis
 * can get accepted is one of them: the runs it starts take their target locks (which needs the
 * worker, or each start would wait 10 s), then retry their first connection against a closed port
 * until the Temporal server, which keeps everything in memory, is stopped.
 *
 * Environment: SCHEMATHESIS (the executable, required), FUZZ_MAX_EXAMPLES (per operation and
 * phase, default 100), FUZZ_SEED (default 1; `random` for a new one each run), FUZZ_MIN_REQUESTS
 * (default 1000), FUZZ_HOLD (set: start everything, print the URL and a token, and wait for Ctrl-C
 * instead of running schemathesis).
 */
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createServer, type Server } from 'node:http';
import { appendFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { appDepsFromConfig, createApp } from '../../src/api/app';
import { describedAllowlist } from '../../src/api/openapi';
import { loadConfig, ROLES } from '../../src/config';
import { freePort } from '../../src/dev/ports';
import { stopAllProcesses } from '../../src/dev/processes';
import { startTemporal } from '../../src/dev/temporal-server';
import { createWorker } from '../../src/worker-factory';
import { plainRule } from './banner';

const ROOT = resolve(__dirname, '../..');

/** The seed, and how often each check passed and failed, from schemathesis's NDJSON report (one event a line). */
function readReport(reportDir: string): { seed: string; checks: { name: string; passed: number; failed: number }[] } {
  const file = readdirSync(reportDir).find((name) => name.endsWith('.ndjson'));
  if (!file) throw new Error(`schemathesis wrote no NDJSON report in ${reportDir}`);
  const counts = new Map<string, { passed: number; failed: number }>();
  let seed = '?';
  for (const line of readFileSync(join(reportDir, file), 'utf8').split('\n')) {
    if (!line.trim()) continue;
    // The seed is a 128-bit integer: read as text, since a JS number would round it.
    if (line.startsWith('{"Initialize"')) seed = /"seed":\s*(\d+)/.exec(line)?.[1] ?? seed;
    const event = JSON.parse(line) as { ScenarioFinished?: { recorder?: { checks?: Record<string, { name: string; status: string }[]> } } };
    for (const list of Object.values(event.ScenarioFinished?.recorder?.checks ?? {})) {
      for (const check of list) {
        const entry = counts.get(check.name) ?? { passed: 0, failed: 0 };
        if (check.status === 'success') entry.passed += 1;
        if (check.status === 'failure') entry.failed += 1;
        counts.set(check.name, entry);
      }
    }
  }
  return { seed, checks: [...counts].map(([name, c]) => ({ name, ...c })).sort((a, b) => a.name.localeCompare(b.name)) };
}

function listen(server: Server, port: number): Promise<void> {
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => ok());
  });
}

async function main(): Promise<number> {
  const schemathesis = process.env.SCHEMATHESIS;
  if (!schemathesis) throw new Error('SCHEMATHESIS must name the schemathesis executable (scripts/fuzz-api.sh sets it)');
  const dir = mkdtempSync(join(tmpdir(), 'clickhouse-migrator-fuzz-'));
  const [temporalPort, uiPort, apiPort, closedA, closedB] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const stops: (() => Promise<unknown>)[] = [];
  try {
    console.log(`fuzz: Temporal on 127.0.0.1:${temporalPort}, API on 127.0.0.1:${apiPort}, ClickHouse endpoints allowed: 127.0.0.1:${closedA} and :${closedB} (nothing listens there)`);
    // The runs' activities fail and retry all along (nothing listens on their ports): the worker logs to a file.
    const workerLog = join(dir, 'worker.log');
    Runtime.install({
      logger: new DefaultLogger('WARN', (entry) => appendFileSync(workerLog, `${entry.level} ${entry.message} ${JSON.stringify(entry.meta ?? {})}\n`)),
      // This script stops the worker itself, in order, after schemathesis.
      shutdownSignals: [],
    });
    const temporal = await startTemporal({ port: temporalPort, uiPort, logFile: join(dir, 'temporal.log') });
    stops.push(() => temporal.stop());

    const tokens = ROLES.map((role) => ({ token: randomBytes(24).toString('base64url'), subject: `fuzz-${role}`, roles: [role] }));
    const tokensFile = join(dir, 'tokens.json');
    writeFileSync(tokensFile, JSON.stringify(tokens), { mode: 0o600 });
    // Only what is set here: the caller's environment must not change what is fuzzed.
    const config = loadConfig({
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_UI_URL: temporal.uiUrl,
      API_HOST: '127.0.0.1',
      API_PORT: String(apiPort),
      MIGRATOR_SECRET_KEY: randomBytes(24).toString('hex'),
      MIGRATOR_TOKENS_FILE: tokensFile,
      MIGRATOR_ENDPOINT_ALLOWLIST: `127.0.0.1:${closedA},127.0.0.1:${closedB}`,
      // schemathesis sends one token, the admin's, which starts every run: with four eyes on, each
      // approve and reject would stop at 403 and never reach the run.
      MIGRATOR_FOUR_EYES: 'off',
    });

    const { worker, connection, client: workerClient } = await createWorker(config);
    const running = worker.run();
    stops.push(async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running.catch(() => undefined);
      await Promise.all([connection.close(), workerClient.connection.close()]);
    });

    const internalErrors: string[] = [];
    const deps = await appDepsFromConfig(config, {
      allowEndpoint: describedAllowlist(config.MIGRATOR_ENDPOINT_ALLOWLIST),
      logger: { error: (message, ...meta) => internalErrors.push([message, ...meta].join('\n')) },
    });
    stops.push(() => deps.client.connection.close());
    const app = createApp(deps);
    const statuses = new Map<number, number>();
    const server = createServer((req, res) => {
      res.once('finish', () => statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1));
      app(req, res);
    });
    await listen(server, apiPort);
    stops.push(() => new Promise((ok) => server.close(ok)));

    const base = `http://127.0.0.1:${apiPort}`;
    const adminToken = tokens.find((t) => t.roles.includes('admin'))?.token ?? '';
    if (process.env.FUZZ_HOLD) {
      // To reproduce a failure by hand with the `curl` line schemathesis prints.
      console.log(`fuzz: holding: ${base}, admin token ${adminToken}; Ctrl-C stops`);
      await new Promise((stop) => process.once('SIGINT', stop));
      rmSync(dir, { recursive: true, force: true });
      return 0;
    }
    const seed = process.env.FUZZ_SEED ?? '1';
    const reportDir = join(dir, 'report');
    const args = [
      '--config-file',
      join(ROOT, 'test/fuzz/schemathesis.toml'),
      'run',
      `${base}/openapi.json`,
      '--checks',
      'all',
      '--max-examples',
      process.env.FUZZ_MAX_EXAMPLES ?? '100',
      ...(seed === 'random' ? [] : ['--seed', seed]),
      // One at a time: Python 3.11's parser is not thread-safe, and hypothesis parses while it generates.
      '--workers',
      '1',
      '--request-timeout',
      '30',
      '--generation-database',
      'none',
      '--report',
      'ndjson',
      '--report-dir',
      reportDir,
      '--no-color',
    ];
    const started = Date.now();
    const code = await new Promise<number>((done, fail) => {
      const child = spawn(schemathesis, args, {
        cwd: dir,
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, FUZZ_TOKEN: adminToken },
      });
      createInterface({ input: child.stdout }).on('line', (line) => console.log(`  ${plainRule(line)}`));
      child.once('error', fail);
      child.once('close', (exitCode, signal) => done(exitCode ?? (signal ? 1 : 0)));
    });
    const seconds = Math.round((Date.now() - started) / 1000);

    const { seed: usedSeed, checks } = readReport(reportDir);
    const total = [...statuses.values()].reduce((a, b) => a + b, 0);
    const serverErrors = [...statuses].filter(([status]) => status >= 500).reduce((a, [, n]) => a + n, 0);
    const minRequests = Number(process.env.FUZZ_MIN_REQUESTS ?? 1000);
    const byStatus = [...statuses].sort(([a], [b]) => a - b).map(([status, n]) => `${status}: ${n}`).join(', ');
    console.log('\nfuzz summary:');
    console.log(`requests the API answered: ${total} in ${seconds} s (schemathesis exit code ${code}, seed ${usedSeed})`);
    console.log(`by status: ${byStatus}`);
    for (const check of checks) console.log(`  ${check.name}: ${check.passed} passed, ${check.failed} failed`);
    const [passed, failed] = checks.reduce(([p, f], c) => [p + c.passed, f + c.failed], [0, 0]);
    console.log(`checks: ${passed} passed, ${failed} failed`);
    for (const error of internalErrors.slice(0, 5)) console.log(`logged 500:\n${error}`);
    const problems = [
      ...(code !== 0 ? [`schemathesis exited with ${code}`] : []),
      ...(failed > 0 ? [`${failed} checks failed`] : []),
      ...(serverErrors > 0 ? [`${serverErrors} answers were 5xx`] : []),
      ...(total < minRequests ? [`only ${total} requests, fewer than ${minRequests}`] : []),
    ];
    if (problems.length > 0) {
      console.log(`fuzz: FAILED: ${problems.join('; ')} (logs in ${dir})`);
      return 1;
    }
    console.log('fuzz: passed');
    rmSync(dir, { recursive: true, force: true });
    return 0;
  } finally {
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => console.error(`fuzz: stopping: ${String(err)}`));
    await stopAllProcesses();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
    void stopAllProcesses().finally(() => process.exit(1));
  },
);

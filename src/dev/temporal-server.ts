import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { Connection } from '@temporalio/client';
import { STATUS_SEARCH_ATTRIBUTE, STEP_SEARCH_ATTRIBUTE } from '../workflows/types';
import { httpOk, startProcess, stopProcess, waitUntil } from './processes';

/** Where `scripts/ensure-tools.sh` installs the Temporal CLI. */
export const TEMPORAL_CLI_DEFAULT = join(homedir(), '.cache', 'clickhouse-migrator', 'bin', 'temporal');

/** The Temporal CLI: `TEMPORAL_CLI_PATH`, the project's cached build, or `temporal` on PATH. */
export function temporalBinary(): string {
  if (process.env.TEMPORAL_CLI_PATH) return process.env.TEMPORAL_CLI_PATH;
  if (existsSync(TEMPORAL_CLI_DEFAULT)) return TEMPORAL_CLI_DEFAULT;
  try {
    return execFileSync('sh', ['-c', 'command -v temporal'], { encoding: 'utf8' }).trim();
  } catch {
    throw new Error('no Temporal CLI found: run `bash scripts/ensure-tools.sh`, or set TEMPORAL_CLI_PATH');
  }
}

/** A Temporal dev server this process started. */
export interface LocalTemporal {
  address: string;
  uiUrl: string;
  logFile: string;
  stop(): Promise<void>;
}

/**
 * Starts `temporal server start-dev` with the Web UI and the project's search attributes.
 * With `dbFile` the history persists across starts; without it the server is in memory.
 */
export async function startTemporal(options: {
  port: number;
  uiPort: number;
  logFile: string;
  dbFile?: string;
  /** The codec endpoint the Web UI decodes payloads with (the API's `/codec`). */
  uiCodecEndpoint?: string;
}): Promise<LocalTemporal> {
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--ui-port',
    String(options.uiPort),
    '--search-attribute',
    `${STATUS_SEARCH_ATTRIBUTE}=Keyword`,
    '--search-attribute',
    `${STEP_SEARCH_ATTRIBUTE}=Keyword`,
    '--log-level',
    'warn',
    ...(options.dbFile ? ['--db-filename', options.dbFile] : []),
    ...(options.uiCodecEndpoint ? ['--ui-codec-endpoint', options.uiCodecEndpoint] : []),
  ];
  const child = startProcess(temporalBinary(), args, { logFile: options.logFile });
  const address = `127.0.0.1:${options.port}`;
  const uiUrl = `http://127.0.0.1:${options.uiPort}`;
  const ready = async () => {
    const connection = await Connection.connect({ address, connectTimeout: 1_000 });
    try {
      await connection.workflowService.getSystemInfo({});
      return await httpOk(uiUrl);
    } finally {
      await connection.close();
    }
  };
  try {
    await waitUntil(ready, { timeoutMs: 60_000, what: `Temporal on ${address}`, child, logFile: options.logFile });
  } catch (err) {
    await stopProcess(child, 2_000);
    throw err;
  }
  return { address, uiUrl, logFile: options.logFile, stop: () => stopProcess(child, 10_000) };
}

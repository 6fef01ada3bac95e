import { randomBytes } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startClickHouse, type LocalClickHouse } from '../../src/dev/clickhouse-server';
import { freePort } from '../../src/dev/ports';
import { startTemporal, type LocalTemporal } from '../../src/dev/temporal-server';
import { STACK_ENV, type TestStack } from './stack-env';

/** What the teardown stops. */
export interface RunningStack {
  dir: string;
  stops: (() => Promise<void>)[];
}

declare global {
  var __MIGRATOR_TEST_STACK__: RunningStack | undefined;
}

/** Starts a Temporal dev server and a source and a target ClickHouse on free ports for this test run. */
export default async function globalSetup(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'clickhouse-migrator-test-'));
  const running: RunningStack = { dir, stops: [] };
  globalThis.__MIGRATOR_TEST_STACK__ = running;
  const clickhouse = async (name: string): Promise<LocalClickHouse> => {
    const server = await startClickHouse({
      name,
      dir: join(dir, name),
      httpPort: await freePort(),
      tcpPort: await freePort(),
      username: 'default',
      password: `${name}-${randomBytes(6).toString('hex')}`,
    });
    running.stops.push(server.stop);
    return server;
  };
  // The Web UI decodes runs through an API that the Web UI test starts on this port, with this token.
  const uiCodec = { apiPort: await freePort(), viewerToken: randomBytes(24).toString('hex') };
  const temporal = async (): Promise<LocalTemporal> => {
    const server = await startTemporal({
      port: await freePort(),
      uiPort: await freePort(),
      logFile: join(dir, 'temporal.log'),
      uiCodecEndpoint: `http://127.0.0.1:${uiCodec.apiPort}/codec/t/${uiCodec.viewerToken}`,
    });
    running.stops.push(server.stop);
    return server;
  };
  const [t, source, target] = await Promise.all([temporal(), clickhouse('source'), clickhouse('target')]);
  const stack: TestStack = {
    temporalAddress: t.address,
    temporalUiUrl: t.uiUrl,
    uiCodec,
    source: { url: source.url, username: source.username, password: source.password, nativePort: source.tcpPort },
    target: { url: target.url, username: target.username, password: target.password, nativePort: target.tcpPort },
  };
  process.env[STACK_ENV] = JSON.stringify(stack);
}

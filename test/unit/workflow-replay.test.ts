import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { encryptingDataConverter } from '../../src/codec';
import { keyringOf } from '../../src/secrets';
import { WORKFLOW_INTERCEPTOR_MODULES } from '../../src/worker-factory';

/**
 * The key the integration tests encrypt with (test/integration/harness.ts): histories from v3 on
 * are encrypted, so replay decodes them with the codec, as a worker does.
 */
const RECORDING_KEY = keyringOf('integration-tests-secret-key');

const HISTORIES = join(__dirname, '..', 'replay', 'histories');

describe('the workflow code replays the recorded histories of real runs', () => {
  beforeAll(() => {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  });

  it('when the current code replays a completed, a rejected, a rolled-back and a cancelled run of each recorded version, none of them diverges', async () => {
    const files = readdirSync(HISTORIES).filter((f) => f.endsWith('.json')).sort();
    const histories = files.map((file) => ({ workflowId: file.replace(/\.json$/, ''), history: JSON.parse(readFileSync(join(HISTORIES, file), 'utf8')) }));
    const results: { workflowId: string; error?: string }[] = [];

    for await (const result of Worker.runReplayHistories({ workflowsPath: require.resolve('../../src/workflows'), interceptors: { workflowModules: WORKFLOW_INTERCEPTOR_MODULES }, dataConverter: encryptingDataConverter(RECORDING_KEY) }, histories)) {
      results.push({ workflowId: result.workflowId, ...(result.error ? { error: String(result.error) } : {}) });
    }

    const endings = ['cancelled', 'completed', 'rejected', 'rolled-back'];
    expect(files).toEqual(['v1', 'v2', 'v3', 'v4', 'v5', 'v6'].flatMap((version) => endings.map((ending) => `${version}-${ending}.json`)));
    expect(results).toEqual(files.map((f) => ({ workflowId: f.replace(/\.json$/, '') })));
  });
});

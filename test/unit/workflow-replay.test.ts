import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { encryptingDataConverter } from '../../src/codec';
import { keyringOf } from '../../src/secrets';
import { WORKFLOW_INTERCEPTOR_MODULES } from '../../src/worker-factory';
import { PATCHES } from '../../src/workflows/patches';

/**
 * The key the integration tests encrypt with (test/integration/harness.ts): histories from v3 on
 * are encrypted, so replay decodes them with the codec, as a worker does.
 */
const RECORDING_KEY = keyringOf('integration-tests-secret-key');

const HISTORIES = join(__dirname, '..', 'replay', 'histories');

/**
 * Endings recorded beside a tag's standard four: signals after a rejection in one workflow task
 * (the only runs that write the decisions-after-rejection marker), and a run with a schedule (the
 * only runs that write the maintenance-windows marker), renamed, filtered and throttled.
 */
const EXTRA_ENDINGS = ['v7-rejected-then-approved.json', 'v8-rejected-then-approved.json', 'v8-scheduled.json', 'v9-rejected-then-approved.json', 'v9-scheduled.json'];

/**
 * Patches that no stored history marks (none: every patch has a recording of its path). A new
 * patch needs one: record a new tag, or an extra ending with `HISTORY_ENDINGS`.
 */
const UNRECORDED_PATCHES: string[] = [];

interface HistoryEvent {
  markerRecordedEventAttributes?: { details?: Record<string, { payloads?: { data?: string }[] }> };
}

/** The patch ids whose markers a stored history holds (the marker's data is base64 JSON `{ id }`). */
function patchMarkers(file: string): string[] {
  const { events } = JSON.parse(readFileSync(join(HISTORIES, file), 'utf8')) as { events: HistoryEvent[] };
  return events.flatMap((e) =>
    (e.markerRecordedEventAttributes?.details?.['patch-data']?.payloads ?? []).map((p) => (JSON.parse(Buffer.from(p.data ?? '', 'base64').toString('utf8')) as { id: string }).id),
  );
}

function historyFiles(): string[] {
  return readdirSync(HISTORIES).filter((f) => f.endsWith('.json')).sort();
}

describe('the workflow code replays the recorded histories of real runs', () => {
  beforeAll(() => {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  });

  it('when the current code replays every recorded ending of each version of the transfer and of schema changes, none of them diverges', async () => {
    const files = historyFiles();
    const histories = files.map((file) => ({ workflowId: file.replace(/\.json$/, ''), history: JSON.parse(readFileSync(join(HISTORIES, file), 'utf8')) }));
    const results: { workflowId: string; error?: string }[] = [];

    for await (const result of Worker.runReplayHistories({ workflowsPath: require.resolve('../../src/workflows'), interceptors: { workflowModules: WORKFLOW_INTERCEPTOR_MODULES }, dataConverter: encryptingDataConverter(RECORDING_KEY) }, histories)) {
      results.push({ workflowId: result.workflowId, ...(result.error ? { error: String(result.error) } : {}) });
    }

    const recorded = (tags: string[], endings: string[]) => tags.flatMap((tag) => endings.map((ending) => `${tag}-${ending}.json`));
    const transfers = recorded(['v1', 'v2', 'v3', 'v4', 'v5', 'v6', 'v7', 'v8', 'v9'], ['cancelled', 'completed', 'rejected', 'rolled-back']);
    const changes = recorded(['changes-v1', 'changes-v2', 'changes-v3'], ['cancelled', 'completed', 'rejected', 'rolled-back', 'stopped']);
    expect(files).toEqual([...transfers, ...EXTRA_ENDINGS, ...changes].sort());
    expect(results).toEqual(files.map((f) => ({ workflowId: f.replace(/\.json$/, '') })));
  });

  it('when a patch is added to the workflows, a stored history holds its marker, so that its path is replayed', () => {
    const marked = new Set(historyFiles().flatMap(patchMarkers));

    const unmarked = Object.values(PATCHES).filter((id) => !marked.has(id));

    expect(unmarked).toEqual(UNRECORDED_PATCHES);
  });
});

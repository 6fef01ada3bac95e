import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isFinal } from '../../src/cli/exit-codes';
import { freePort } from '../../src/dev/ports';
import type { MigrationState } from '../../src/workflows/types';
import { uniqueName, waitFor } from './harness';
import { createFaultData, expectExactData, leftOnTarget, spawnApi, spawnWorker, startFaultStack, type FaultProcess, type FaultStack, FAULT_TEST_TIMEOUT_MS } from './fault-harness';

const OPERATOR = randomBytes(24).toString('hex');
const APPROVER = randomBytes(24).toString('hex');

let stack: FaultStack;
let worker: FaultProcess;
const apis: FaultProcess[] = [];
let port: number;
let tokensFile: string;

beforeAll(async () => {
  stack = await startFaultStack();
  worker = await spawnWorker(stack);
  port = await freePort();
  tokensFile = join(stack.dir, 'tokens.json');
  writeFileSync(
    tokensFile,
    JSON.stringify([
      { token: OPERATOR, subject: 'olivia', roles: ['operator'] },
      { token: APPROVER, subject: 'ana', roles: ['approver'] },
    ]),
  );
}, 240_000);

afterAll(async () => {
  for (const api of apis) await api.kill();
  await worker?.kill();
  await stack?.close();
});

/** One request to the API process on the test's port, as the holder of `token`. */
async function call(token: string, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(30_000),
  });
  return { status: res.status, json: await res.json() };
}

/** Polls `GET /migrations/:id` through whichever API process listens now. */
function stateThroughApi(id: string, done: (s: MigrationState) => boolean, what: string, timeoutMs = 180_000): Promise<MigrationState> {
  return waitFor(
    async () => {
      const { status, json } = await call(OPERATOR, 'GET', `/migrations/${id}`);
      if (status !== 200) throw new Error(`GET answered ${status}: ${JSON.stringify(json)}`);
      return json as MigrationState;
    },
    done,
    what,
    timeoutMs,
  );
}

async function approveThroughApi(id: string, step: string): Promise<number> {
  await stateThroughApi(id, (s) => s.awaitingApproval?.step === step, `the gate of ${step}`);
  return (await call(APPROVER, 'POST', `/migrations/${id}/approve`, { step })).status;
}

describe('the API restarted', () => {
  it('in the middle of a run: approvals before and after go through the API process of the moment, and the run completes', async () => {
    const db = uniqueName('faults_api');
    const source = stack.source.connect();
    const tables = await createFaultData(source, db, 300_000).finally(() => source.close());
    apis.push(await spawnApi(stack, port, tokensFile, 'api-1'));
    const endpoint = (s: FaultStack['source']) => ({ url: s.url, username: s.username, password: s.password, nativePort: s.nativePort });
    const started = await call(OPERATOR, 'POST', '/migrations', {
      source: endpoint(stack.source),
      target: endpoint(stack.target),
      databases: [db],
      options: { parallelism: 2, unitBytes: 1 },
    });
    expect(started.status).toBe(201);
    const { id } = started.json as { id: string };
    const decisions: string[] = [`configure: ${await approveThroughApi(id, 'configure')} (api-1)`];

    // Stopped while the run waits at the validation gate, the way a deployment restarts it.
    await stateThroughApi(id, (s) => s.awaitingApproval?.step === 'validation', 'the gate of validation');
    await apis[0].stop();
    apis.push(await spawnApi(stack, port, tokensFile, 'api-2'));
    decisions.push(`validation: ${await approveThroughApi(id, 'validation')} (api-2)`);
    decisions.push(`migration: ${await approveThroughApi(id, 'migration')} (api-2)`);

    // Killed in the middle of the copy, as a crash would.
    const mid = await stateThroughApi(id, (s) => s.currentStep === 'migration' && s.progress.unitsDone >= 3, 'three units copied');
    await apis[1].kill();
    apis.push(await spawnApi(stack, port, tokensFile, 'api-3'));
    const final = await stateThroughApi(id, (s) => isFinal(s.status), 'the run to end', 600_000);
    console.log(
      `API: approvals ${decisions.join(', ')}; api-1 stopped at the validation gate, api-2 SIGKILLed at ${mid.progress.unitsDone}/${mid.progress.unitsTotal} units; ` +
        `api-3 reads the end: ${final.status}, approvals recorded ${final.approvals.map((a) => `${a.step} by ${a.by} via ${a.via}`).join(', ')}`,
    );

    expect(decisions).toEqual(['configure: 202 (api-1)', 'validation: 202 (api-2)', 'migration: 202 (api-2)']);
    expect(final.status).toBe('completed');
    // The start request carried both passwords in clear: no API process wrote them down.
    const logs = [...apis, worker].map((p) => p.log()).join('\n');
    for (const secret of [stack.source.password, stack.target.password]) expect(logs).not.toContain(secret);
    expect(final.approvals.map((a) => [a.step, a.by])).toEqual([
      ['configure', 'ana'],
      ['validation', 'ana'],
      ['migration', 'ana'],
    ]);
    await expectExactData(stack, db, tables);
    expect(await leftOnTarget(stack, [], final.runId)).toEqual([]);
  }, FAULT_TEST_TIMEOUT_MS);
});

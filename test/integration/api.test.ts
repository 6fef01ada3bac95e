import request from 'supertest';
import type { Client } from '@temporalio/client';
import type { Express } from 'express';
import { createApp } from '../../src/api/app';
import type { ClickHouseConnection } from '../../src/clickhouse/connection';
import type { MigrationState } from '../../src/workflows/types';
import { createDemoLike, DEMO_DATA_TABLES } from './fixtures';
import { connect, dropDatabase, startWorker, tableDigest, testClient, TEST_KEY, uniqueName, waitFor } from './harness';
import { testStack } from './stack-env';

let client: Client;
let app: Express;
let worker: { stop(): Promise<void> };
let source: ClickHouseConnection;
let target: ClickHouseConnection;
const databases: string[] = [];
const started: string[] = [];

beforeAll(async () => {
  client = await testClient();
  app = createApp({ client, namespace: 'default', temporalUiUrl: testStack().temporalUiUrl, secretKey: TEST_KEY, logger: { error: () => undefined } });
  worker = await startWorker();
  source = connect(testStack().source, 'source');
  target = connect(testStack().target, 'target');
});

afterAll(async () => {
  // Cancel, not terminate: a cancelled run drops its restore point, so the shared target stays clean.
  for (const id of started) {
    const handle = client.workflow.getHandle(id);
    const { status } = await handle.describe();
    if (status.name !== 'RUNNING') continue;
    await handle.cancel();
    await handle.result().catch(() => undefined);
  }
  for (const db of databases) {
    await dropDatabase(source, db);
    await dropDatabase(target, db);
  }
  await worker.stop();
  await Promise.all([source.close(), target.close(), client.connection.close()]);
});

function body(db: string, extra: Record<string, unknown> = {}) {
  const { source: s, target: t } = testStack();
  return {
    source: { url: s.url, username: s.username, password: s.password, nativePort: s.nativePort },
    target: { url: t.url, username: t.username, password: t.password, nativePort: t.nativePort },
    databases: [db],
    ...extra,
  };
}

async function start(payload: Record<string, unknown>) {
  const res = await request(app).post('/migrations').send(payload);
  if (res.status === 201) started.push(res.body.id);
  return res;
}

const getState = async (id: string): Promise<MigrationState> => (await request(app).get(`/migrations/${id}`).expect(200)).body;

describe('the HTTP API on a real Temporal server', () => {
  it('runs a migration to the end with three approvals, and the target matches the source', async () => {
    const db = uniqueName('api');
    databases.push(db);
    await createDemoLike(source, db, 50_000);
    const id = uniqueName('api-run');

    const created = await start(body(db, { id }));
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id, status: 'running', links: { self: `/migrations/${id}` } });
    expect(created.body.links.temporalUi).toBe(`${testStack().temporalUiUrl}/namespaces/default/workflows/${id}/${created.body.runId}/history`);

    for (const step of ['configure', 'validation', 'migration']) {
      await waitFor(() => getState(id), (s) => s.awaitingApproval?.step === step, `approval of ${step}`);
      const approved = await request(app).post(`/migrations/${id}/approve`).send({ step, by: 'api-test' });
      expect(approved.status).toBe(202);
      expect(approved.body.approvals.map((a: { step: string }) => a.step)).toContain(step);
    }
    const final = await waitFor(() => getState(id), (s) => s.status !== 'running' && s.status !== 'awaiting_approval', 'the end of the run');

    expect(final.status).toBe('completed');
    for (const table of DEMO_DATA_TABLES) expect(await tableDigest(target, db, table)).toEqual(await tableDigest(source, db, table));
    const history = JSON.stringify(await client.workflow.getHandle(id).fetchHistory());
    expect(history).not.toContain(testStack().source.password);
    expect(history).not.toContain(testStack().target.password);
    const listed = await waitFor(
      async () => (await request(app).get('/migrations').expect(200)).body.migrations as { id: string; status: string }[],
      (list) => list.some((m) => m.id === id && m.status === 'completed'),
      'the finished run in the list',
    );
    expect(listed.find((m) => m.id === id)).toMatchObject({ status: 'completed', currentStep: null, closedAt: expect.any(String) });
  });

  it.each([
    ['malformed JSON', '{"source": ', ''],
    ['an unknown field', JSON.stringify({ ...body('x'), extra: 1 }), ''],
    ['a wrong type', JSON.stringify({ ...body('x'), databases: 'demo' }), 'databases'],
    ['credentials in a URL', JSON.stringify({ ...body('x'), source: { url: 'http://u:p@h:8123' } }), 'source.url'],
  ])('when the body has %s, the answer is 400 naming the field', async (_what, raw, path) => {
    const res = await request(app).post('/migrations').set('content-type', 'application/json').send(raw);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
    expect(res.body.issues[0].path).toBe(path);
    expect(typeof res.body.issues[0].message).toBe('string');
  });

  it('when the body is not JSON at all, the answer is 400, not 500', async () => {
    const res = await request(app).post('/migrations').set('content-type', 'text/plain').send('hello');
    expect(res.status).toBe(400);
    expect(res.body.issues[0].message).toMatch(/JSON object/);
  });

  it('when a migration id is unknown, reading, approving and cancelling it give 404', async () => {
    const read = await request(app).get('/migrations/no-such-run');
    expect(read.status).toBe(404);
    expect(read.body.error).toBe('not_found');
    expect((await request(app).post('/migrations/no-such-run/approve').send({ step: 'configure' })).status).toBe(404);
    expect((await request(app).post('/migrations/no-such-run/cancel').send({})).status).toBe(404);
  });

  it('when a run with the same id is open, a second start is a 409 conflict', async () => {
    const db = uniqueName('dup');
    databases.push(db);
    await source.exec(`CREATE DATABASE ${db}`);
    const id = uniqueName('dup-run');
    expect((await start(body(db, { id }))).status).toBe(201);

    const again = await request(app).post('/migrations').send(body(db, { id }));
    expect(again.status).toBe(409);
    expect(again.body.error).toBe('conflict');
  });

  it('when the run waits for another step, approving gives 409 not_awaiting_approval; cancelling ends it', async () => {
    const db = uniqueName('gate');
    databases.push(db);
    await source.exec(`CREATE DATABASE ${db}`);
    const id = uniqueName('gate-run');
    await start(body(db, { id }));
    await waitFor(() => getState(id), (s) => s.awaitingApproval?.step === 'configure', 'approval of configure');

    const wrong = await request(app).post(`/migrations/${id}/approve`).send({ step: 'migration' });
    expect(wrong.status).toBe(409);
    expect(wrong.body).toMatchObject({ error: 'not_awaiting_approval', awaitingApproval: { step: 'configure' } });

    expect((await request(app).post(`/migrations/${id}/cancel`).send({})).status).toBe(202);
    const final = await waitFor(() => getState(id), (s) => s.status === 'cancelled', 'the cancelled run');
    expect(final.status).toBe('cancelled');
    expect((await request(app).post(`/migrations/${id}/cancel`).send({})).body.error).toBe('not_running');
  });

  it('answers the health check when Temporal does', async () => {
    await request(app).get('/healthz').expect(200, { status: 'ok', temporal: 'ok' });
  });

  it('when a route does not exist, the answer is a JSON 404', async () => {
    expect((await request(app).get('/nope')).body).toMatchObject({ error: 'not_found' });
  });
});

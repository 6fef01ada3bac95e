import { randomBytes } from 'node:crypto';
import request from 'supertest';
import type { Client } from '@temporalio/client';
import type { Express } from 'express';
import { createApp } from '../../src/api/app';
import type { AuthConfig, Role } from '../../src/config';
import type { ClickHouseConnection } from '../../src/clickhouse/connection';
import type { MigrationState } from '../../src/workflows/types';
import { createDemoLike, DEMO_DATA_TABLES } from './fixtures';
import { apiEndpoint, connect, dropDatabase, lockIdOn, startWorker, tableDigest, testClient, TEST_KEY, uniqueName, waitFor } from './harness';
import { testStack } from './stack-env';

let client: Client;
let app: Express;
/** The same API with MIGRATOR_FOUR_EYES=off. */
let appWithoutFourEyes: Express;
let worker: { stop(): Promise<void> };
let source: ClickHouseConnection;
let target: ClickHouseConnection;
const databases: string[] = [];
const started: string[] = [];

/** The people of these tests: `pat` is both operator and approver, to try four eyes. */
const PEOPLE = {
  viewer: { subject: 'vera', roles: ['viewer'] },
  operator: { subject: 'olivia', roles: ['operator'] },
  approver: { subject: 'ana', roles: ['approver'] },
  approver2: { subject: 'ben', roles: ['approver'] },
  admin: { subject: 'adam', roles: ['admin'] },
  pat: { subject: 'pat', roles: ['operator', 'approver'] },
} satisfies Record<string, { subject: string; roles: Role[] }>;
type Person = keyof typeof PEOPLE;
const TOKENS = Object.fromEntries(Object.keys(PEOPLE).map((p) => [p, randomBytes(24).toString('hex')])) as Record<Person, string>;
const tokens = (Object.keys(PEOPLE) as Person[]).map((p) => ({ token: TOKENS[p], ...PEOPLE[p] }));

/** A request as `who`: a person of {@link PEOPLE}, a token nobody holds, or no token at all. */
function as(who: Person | 'unknown' | 'none', method: 'get' | 'post', path: string, target: Express = app) {
  const req = request(target)[method](path);
  if (who === 'none') return req;
  return req.set('authorization', `Bearer ${who === 'unknown' ? randomBytes(24).toString('hex') : TOKENS[who]}`);
}

beforeAll(async () => {
  client = await testClient();
  const deps = { client, namespace: 'default', temporalUiUrl: testStack().temporalUiUrl, keyring: TEST_KEY, logger: { error: () => undefined } };
  const auth: AuthConfig = { mode: 'tokens', tokens, fourEyes: true };
  app = createApp({ ...deps, auth });
  appWithoutFourEyes = createApp({ ...deps, auth: { ...auth, fourEyes: false } });
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
    source: apiEndpoint(s),
    target: apiEndpoint(t),
    databases: [db],
    ...extra,
  };
}

async function start(payload: Record<string, unknown>, who: Person | 'unknown' | 'none' = 'operator', target: Express = app) {
  const res = await as(who, 'post', '/migrations', target).send(payload);
  if (res.status === 201) started.push(res.body.id);
  return res;
}

const getState = async (id: string): Promise<MigrationState> => (await as('viewer', 'get', `/migrations/${id}`).expect(200)).body;

/** An empty source database, dropped after the file. */
async function emptyDatabase(prefix: string): Promise<string> {
  const db = uniqueName(prefix);
  databases.push(db);
  await source.exec(`CREATE DATABASE ${db}`);
  return db;
}

/** The subject the API put into the run's memo when it started it. */
async function requestedBy(id: string): Promise<unknown> {
  return (await client.workflow.getHandle(id).describe()).memo?.requestedBy;
}

describe('the HTTP API on a real Temporal server', () => {
  it('runs a migration to the end with three approvals, and the target matches the source', async () => {
    const db = uniqueName('api');
    databases.push(db);
    await createDemoLike(source, db, 50_000);
    const id = uniqueName('api-run');

    const created = await start(body(db, { id }), 'operator');
    expect(created.status).toBe(201);
    expect(await requestedBy(id)).toBe('olivia');
    expect(created.body).toMatchObject({ id, status: 'running', links: { self: `/migrations/${id}` } });
    expect(created.body.links.temporalUi).toBe(`${testStack().temporalUiUrl}/namespaces/default/workflows/${id}/${created.body.runId}/history`);

    for (const step of ['configure', 'validation', 'migration']) {
      await waitFor(() => getState(id), (s) => s.awaitingApproval?.step === step, `approval of ${step}`);
      const approved = await as('approver', 'post', `/migrations/${id}/approve`).send({ step, comment: 'looks fine' });
      expect(approved.status).toBe(202);
      expect(approved.body.approvals).toContainEqual(expect.objectContaining({ step, by: 'ana', comment: 'looks fine' }));
    }
    const final = await waitFor(() => getState(id), (s) => s.status !== 'running' && s.status !== 'awaiting_approval', 'the end of the run');

    expect(final.status).toBe('completed');
    expect(final).toMatchObject({ requestedBy: 'olivia', fourEyes: true });
    expect(final.approvals.map((a) => [a.by, a.via])).toEqual([['ana', 'update'], ['ana', 'update'], ['ana', 'update']]);
    for (const table of DEMO_DATA_TABLES) expect(await tableDigest(target, db, table)).toEqual(await tableDigest(source, db, table));
    const history = JSON.stringify(await client.workflow.getHandle(id).fetchHistory());
    expect(history).not.toContain(testStack().source.password);
    expect(history).not.toContain(testStack().target.password);
    const listed = await waitFor(
      async () => (await as('viewer', 'get', '/migrations').expect(200)).body.migrations as { id: string; status: string }[],
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
    const res = await as('operator', 'post', '/migrations').set('content-type', 'application/json').send(raw);
    expect(res.status).toBe(400);
    expect(res.body.error).toBe('invalid_request');
    expect(res.body.issues[0].path).toBe(path);
    expect(typeof res.body.issues[0].message).toBe('string');
  });

  it('when the body is not JSON at all, the answer is 400, not 500', async () => {
    const res = await as('operator', 'post', '/migrations').set('content-type', 'text/plain').send('hello');
    expect(res.status).toBe(400);
    expect(res.body.issues[0].message).toMatch(/JSON object/);
  });

  it('when a migration id is unknown, reading, approving and cancelling it give 404', async () => {
    const read = await as('viewer', 'get', '/migrations/no-such-run');
    expect(read.status).toBe(404);
    expect(read.body.error).toBe('not_found');
    expect((await as('approver', 'post', '/migrations/no-such-run/approve').send({ step: 'configure' })).status).toBe(404);
    expect((await as('operator', 'post', '/migrations/no-such-run/cancel').send({})).status).toBe(404);
  });

  it('when a run with the same id is open, a second start is a 409 conflict', async () => {
    const db = await emptyDatabase('dup');
    const id = uniqueName('dup-run');
    expect((await start(body(db, { id }))).status).toBe(201);

    const again = await as('operator', 'post', '/migrations').send(body(db, { id }));
    expect(again.status).toBe(409);
    expect(again.body.error).toBe('conflict');
  });

  it('when the run waits for another step, approving gives 409 not_awaiting_approval; cancelling ends it', async () => {
    const db = await emptyDatabase('gate');
    const id = uniqueName('gate-run');
    await start(body(db, { id }));
    await waitFor(() => getState(id), (s) => s.awaitingApproval?.step === 'configure', 'approval of configure');

    const wrong = await as('approver', 'post', `/migrations/${id}/approve`).send({ step: 'migration' });
    expect(wrong.status).toBe(409);
    expect(wrong.body).toMatchObject({ error: 'not_awaiting_approval', awaitingApproval: { step: 'configure' } });

    expect((await as('operator', 'post', `/migrations/${id}/cancel`).send({})).status).toBe(202);
    const final = await waitFor(() => getState(id), (s) => s.status === 'cancelled', 'the cancelled run');
    expect(final.status).toBe('cancelled');
    expect((await as('operator', 'post', `/migrations/${id}/cancel`).send({})).body.error).toBe('not_running');
  });

  it('answers the health check when Temporal does, without a token', async () => {
    await request(app).get('/healthz').expect(200, { status: 'ok', temporal: 'ok' });
  });

  it('when a route does not exist, the answer is a JSON 404', async () => {
    expect((await request(app).get('/nope')).body).toMatchObject({ error: 'not_found' });
  });
});

type Caller = 'none' | 'unknown' | 'viewer' | 'operator' | 'approver' | 'admin';
const CALLERS: Caller[] = ['none', 'unknown', 'viewer', 'operator', 'approver', 'admin'];
const ENDPOINTS = ['GET /migrations', 'GET /migrations/:id', 'POST /migrations', 'POST /:id/approve', 'POST /:id/reject', 'POST /:id/cancel', 'GET /healthz'] as const;

/**
 * The expected answers. Allowed calls get the route's own answer: 409 for approve and reject
 * because they name a step the run is not waiting for, 202 for cancel of the run the caller
 * started in the POST column.
 */
const EXPECTED: Record<Caller, number[]> = {
  none: [401, 401, 401, 401, 401, 401, 200],
  unknown: [401, 401, 401, 401, 401, 401, 200],
  viewer: [200, 200, 403, 403, 403, 403, 200],
  operator: [200, 200, 201, 403, 403, 202, 200],
  approver: [200, 200, 403, 409, 409, 403, 200],
  admin: [200, 200, 201, 409, 409, 202, 200],
};

function printMatrix(actual: Record<Caller, number[]>): void {
  const header = ['caller', ...ENDPOINTS];
  const widths = header.map((h, i) => Math.max(h.length, ...CALLERS.map((c) => (i === 0 ? c.length : 3))));
  const line = (cells: string[]) => cells.map((cell, i) => cell.padEnd(widths[i])).join(' | ');
  const rows = CALLERS.map((c) => line([c, ...actual[c].map((status, i) => `${status}${status === EXPECTED[c][i] ? '' : '!'}`)]));
  console.log(`authorisation matrix (HTTP status; ! = not as expected)\n${[line(header), ...rows].join('\n')}`);
}

describe('authentication and roles', () => {
  it('answers each caller on each endpoint as the role matrix says', async () => {
    const fixture = uniqueName('matrix-run');
    expect((await start(body(await emptyDatabase('matrix'), { id: fixture }), 'operator')).status).toBe(201);
    await waitFor(() => getState(fixture), (s) => s.awaitingApproval?.step === 'configure', 'approval of configure');
    const actual = {} as Record<Caller, number[]>;
    for (const who of CALLERS) {
      const own = uniqueName(`matrix-${who}`);
      const ownDb = await emptyDatabase('matrix');
      actual[who] = [
        (await as(who, 'get', '/migrations')).status,
        (await as(who, 'get', `/migrations/${fixture}`)).status,
        (await start(body(ownDb, { id: own }), who)).status,
        (await as(who, 'post', `/migrations/${fixture}/approve`).send({ step: 'migration' })).status,
        (await as(who, 'post', `/migrations/${fixture}/reject`).send({ step: 'migration', reason: 'matrix' })).status,
        (await as(who, 'post', `/migrations/${started.includes(own) ? own : fixture}/cancel`).send({})).status,
        (await as(who, 'get', '/healthz')).status,
      ];
    }
    printMatrix(actual);
    expect(actual).toEqual(EXPECTED);
  });

  it('when the token is missing or unknown, the answer is 401 with a Bearer challenge', async () => {
    const missing = await as('none', 'get', '/migrations');
    expect(missing.body).toEqual({ error: 'unauthorized', message: expect.stringMatching(/Bearer/) });
    expect(missing.headers['www-authenticate']).toMatch(/^Bearer realm="clickhouse-migrator"$/);
    const unknown = await as('unknown', 'post', '/migrations').send({});
    expect(unknown.status).toBe(401);
    expect(unknown.headers['www-authenticate']).toMatch(/^Bearer .*error="invalid_token"/);
  });

  it('when a caller lacks the role, the answer is 403 naming the role', async () => {
    const res = await as('viewer', 'post', '/migrations/any-run/cancel').send({});
    expect(res.body).toEqual({ error: 'forbidden', message: expect.stringContaining('vera'), requiredRole: 'operator' });
  });

  it('when an operator starts a run without approvals, the answer is 403 naming admin; an admin may', async () => {
    const db = await emptyDatabase('noapprovals');
    const refused = await start(body(db, { approvals: { required: false } }), 'operator');
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ error: 'forbidden', requiredRole: 'admin' });

    const allowed = await start(body(db, { approvals: { required: false } }), 'admin');
    expect(allowed.status).toBe(201);
    expect(await requestedBy(allowed.body.id)).toBe('adam');
  });

  it('when an approval names "by" in its body, the answer is 400 naming the field', async () => {
    const res = await as('approver', 'post', '/migrations/any-run/approve').send({ step: 'configure', by: 'mallory' });
    expect(res.status).toBe(400);
    expect(res.body.issues).toEqual([{ path: 'by', message: expect.stringMatching(/authenticated subject/) }]);
  });

  it('when the starter approves or rejects its own run, the answer is 403 four_eyes; another approver decides as itself', async () => {
    const id = uniqueName('four-eyes');
    expect((await start(body(await emptyDatabase('foureyes'), { id }), 'pat')).status).toBe(201);
    await waitFor(() => getState(id), (s) => s.awaitingApproval?.step === 'configure', 'approval of configure');

    const approve = await as('pat', 'post', `/migrations/${id}/approve`).send({ step: 'configure' });
    expect(approve.status).toBe(403);
    expect(approve.body).toMatchObject({ error: 'four_eyes', startedBy: 'pat' });
    expect((await as('pat', 'post', `/migrations/${id}/reject`).send({ step: 'configure', reason: 'mine' })).body.error).toBe('four_eyes');
    expect((await getState(id)).approvals).toEqual([]);

    const rejected = await as('approver2', 'post', `/migrations/${id}/reject`).send({ step: 'configure', reason: 'not today' });
    expect(rejected.status).toBe(202);
    const final = await waitFor(() => getState(id), (s) => s.status === 'rejected', 'the rejected run');
    expect(final.rejection).toMatchObject({ step: 'configure', by: 'ben', reason: 'not today' });
  });

  it('when four eyes is off, the starter may approve its own run, recorded as itself', async () => {
    const id = uniqueName('two-eyes');
    expect((await start(body(await emptyDatabase('twoeyes'), { id }), 'pat', appWithoutFourEyes)).status).toBe(201);
    await waitFor(() => getState(id), (s) => s.awaitingApproval?.step === 'configure', 'approval of configure');

    const approved = await as('pat', 'post', `/migrations/${id}/approve`, appWithoutFourEyes).send({ step: 'configure' });
    expect(approved.status).toBe(202);
    expect(approved.body).toMatchObject({ requestedBy: 'pat', fourEyes: false });
    expect(approved.body.approvals).toContainEqual(expect.objectContaining({ step: 'configure', by: 'pat' }));
  });

  it('when four eyes was on at the start, the run itself refuses its starter even if the API no longer checks', async () => {
    const id = uniqueName('run-eyes');
    expect((await start(body(await emptyDatabase('runeyes'), { id }), 'pat')).status).toBe(201);
    await waitFor(() => getState(id), (s) => s.awaitingApproval?.step === 'configure', 'approval of configure');

    const refused = await as('pat', 'post', `/migrations/${id}/approve`, appWithoutFourEyes).send({ step: 'configure' });
    expect(refused.status).toBe(409);
    expect(refused.body).toEqual({ error: 'decision_refused', message: expect.stringMatching(/four eyes/) });
    expect((await getState(id)).approvals).toEqual([]);
  });

  it('when five approvers approve the same step at once, exactly one gets 202 and the audit records one approval', async () => {
    const id = uniqueName('race');
    expect((await start(body(await emptyDatabase('race'), { id }))).status).toBe(201);
    await waitFor(() => getState(id), (s) => s.awaitingApproval?.step === 'configure', 'approval of configure');

    const answers = await Promise.all(
      (['approver', 'approver2', 'admin', 'pat', 'approver'] as const).map((who) => as(who, 'post', `/migrations/${id}/approve`).send({ step: 'configure' })),
    );
    const statuses = answers.map((a) => a.status).sort();
    console.log(`concurrent approvals of one step: ${answers.map((a) => a.status).join(', ')}`);

    expect(statuses).toEqual([202, 409, 409, 409, 409]);
    expect((await getState(id)).approvals.filter((a) => a.step === 'configure')).toHaveLength(1);
  });

  it('when a start overlaps a target database of an open run, the answer is 409 naming that run', async () => {
    const db = await emptyDatabase('overlap');
    const holder = uniqueName('holder');
    expect((await start(body(db, { id: holder }))).status).toBe(201);

    const overlapping = await start(body(db, { id: uniqueName('second') }));

    expect(overlapping.status).toBe(409);
    expect(overlapping.body).toMatchObject({ error: 'target_locked', run: holder, lock: await lockIdOn(target, db) });
  });

  it('when a start names the target database of an open run by another name of its server (localhost for 127.0.0.1), the answer is 409 naming that run', async () => {
    const db = await emptyDatabase('alias');
    const holder = uniqueName('holder');
    expect((await start(body(db, { id: holder }))).status).toBe(201);
    const byName = { ...apiEndpoint(testStack().target), url: testStack().target.url.replace('127.0.0.1', 'localhost') };

    const overlapping = await start(body(db, { id: uniqueName('alias'), target: byName }));

    expect(byName.url).toMatch(/^http:\/\/localhost:\d+$/);
    expect(overlapping.status).toBe(409);
    expect(overlapping.body).toMatchObject({ error: 'target_locked', run: holder, lock: await lockIdOn(target, db) });
  });

  it('when the source and the target are one server under two names (localhost and 127.0.0.1), the start is a 400 naming target.url', async () => {
    const db = uniqueName('same');
    const server = apiEndpoint(testStack().target);
    const sameByName = { ...server, url: server.url.replace('127.0.0.1', 'localhost') };

    const res = await start({ source: sameByName, target: server, databases: [db] });

    expect(sameByName.url).not.toBe(server.url);
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: 'invalid_request', issues: [{ path: 'target.url', message: expect.stringContaining('must be a different server from the source') }] });
    expect(JSON.stringify(res.body)).not.toContain(server.password);
  });
});

import request from 'supertest';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app';
import { describeError } from '../../src/api/error-middleware';
import { approveSchema, rejectSchema, startChangesSchema, startMigrationSchema, startRequestKind } from '../../src/api/schemas';
import { parseAllowlist } from '../../src/endpoint-allowlist';
import { keyringOf, unseal } from '../../src/secrets';
import { CHANGES_WORKFLOW_TYPE, type ChangesInput } from '../../src/workflows/changes-types';
import { TASK_QUEUE, WORKFLOW_TYPE } from '../../src/workflows/types';

const valid = {
  source: { url: 'http://source:8123', password: 's3cret' },
  target: { url: 'https://target.example:8443' },
  databases: ['demo'],
};

function issuesOf(body: unknown): { path: string; message: string }[] {
  const result = startMigrationSchema.safeParse(body);
  if (result.success) return [];
  return result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
}

describe('the start request schema', () => {
  it('applies the defaults a user would expect', () => {
    const parsed = startMigrationSchema.parse(valid);
    expect(parsed.source.username).toBe('default');
    expect(parsed.approvals).toEqual({ required: true });
    expect(parsed.options).toEqual({ onConflict: 'fail', parallelism: 2, syncPasses: 3 });
  });

  it('when the source url embeds a password, the request is rejected on source.url', () => {
    const issues = issuesOf({ ...valid, source: { url: 'http://user:pw@source:8123' } });
    expect(issues).toEqual([{ path: 'source.url', message: expect.stringMatching(/credentials/) }]);
  });

  it('when a field is unknown, it is named', () => {
    expect(issuesOf({ ...valid, dryRun: true })[0]).toMatchObject({ message: expect.stringMatching(/dryRun/) });
    expect(issuesOf({ ...valid, source: { ...valid.source, pasword: 'x' } })[0]).toMatchObject({ path: 'source' });
  });

  it('when databases are empty, repeated, reserved or system, each is refused', () => {
    expect(issuesOf({ ...valid, databases: [] })[0].path).toBe('databases');
    expect(issuesOf({ ...valid, databases: ['a', 'a'] })[0].message).toMatch(/repeat/);
    expect(issuesOf({ ...valid, databases: ['__migrator_x'] })[0]).toMatchObject({ path: 'databases.0', message: expect.stringMatching(/reserved/) });
    expect(issuesOf({ ...valid, databases: ['system'] })[0].path).toBe('databases.0');
  });

  it('when the id holds characters outside the allowed set, it is refused', () => {
    expect(issuesOf({ ...valid, id: 'a b/c' })[0].path).toBe('id');
  });

  it('when source and target are the same server, target.url is refused', () => {
    expect(issuesOf({ ...valid, target: { url: 'http://source:8123/' } })).toEqual([{ path: 'target.url', message: expect.stringMatching(/different server/) }]);
  });

  it('when types are wrong, the path names the field', () => {
    expect(issuesOf({ ...valid, options: { parallelism: 100 } })[0].path).toBe('options.parallelism');
    expect(issuesOf({ ...valid, approvals: { required: 'no' } })[0].path).toBe('approvals.required');
    expect(issuesOf({ ...valid, source: { url: 'ftp://x' } })[0].path).toBe('source.url');
  });
});

const changes = {
  target: { url: 'https://target.example:8443', password: 's3cret' },
  database: 'shop',
  changes: [
    { version: '001', name: 'orders', sql: 'CREATE TABLE orders (id UInt64) ENGINE = MergeTree ORDER BY id' },
    { version: '002', name: 'status', sql: 'ALTER TABLE orders ADD COLUMN status String; ALTER TABLE shop.orders ADD COLUMN note String' },
  ],
};

function changesIssuesOf(body: unknown): { path: string; message: string }[] {
  const result = startChangesSchema.safeParse(body);
  if (result.success) return [];
  return result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
}

const change = (version: string, sql = 'ALTER TABLE orders ADD COLUMN x UInt8') => ({ version, name: `v${version}`, sql });

describe('the start request schema for changes', () => {
  it('applies the defaults a user would expect', () => {
    const parsed = startChangesSchema.parse(changes);
    expect(parsed.approvals).toEqual({ required: true });
    expect(parsed.options).toEqual({ onFailure: 'rollback' });
    expect(parsed.target.username).toBe('default');
  });

  it('when a version appears twice (numerically), the second is refused on its version', () => {
    expect(changesIssuesOf({ ...changes, changes: [change('001'), change('1')] })).toEqual([{ path: 'changes.1.version', message: expect.stringMatching(/appears twice/) }]);
  });

  it('when versions go down, the later one is refused on its version', () => {
    expect(changesIssuesOf({ ...changes, changes: [change('2'), change('10'), change('3')] })).toEqual([{ path: 'changes.2.version', message: 'version 3 comes after 10: versions must increase' }]);
  });

  it('when a version holds no statements, its sql is refused', () => {
    expect(changesIssuesOf({ ...changes, changes: [change('001', '  -- nothing yet\n')] })).toEqual([{ path: 'changes.0.sql', message: expect.stringMatching(/no statements/) }]);
  });

  it('when a statement writes to another database, its sql is refused naming that table', () => {
    expect(changesIssuesOf({ ...changes, changes: [change('001'), change('002', 'ALTER TABLE billing.invoices ADD COLUMN x UInt8')] })).toEqual([
      { path: 'changes.1.sql', message: expect.stringMatching(/writes to billing\.invoices/) },
    ]);
  });

  it('when a statement does not parse, its sql is refused with the line', () => {
    expect(changesIssuesOf({ ...changes, changes: [change('001', "SELECT 1;\nALTER TABLE t COMMENT COLUMN x 'open")] })).toEqual([
      { path: 'changes.0.sql', message: expect.stringMatching(/line 2/) },
    ]);
  });

  it('when a version is not digits, it is refused once, on its version', () => {
    expect(changesIssuesOf({ ...changes, changes: [change('1a')] })).toEqual([{ path: 'changes.0.version', message: expect.stringMatching(/digits/) }]);
  });

  it('when the target is missing, it is named', () => {
    expect(changesIssuesOf({ ...changes, target: undefined })).toEqual([{ path: 'target', message: expect.any(String) }]);
  });

  it('when the list is empty, the database is a system one or onFailure is unknown, each field is named', () => {
    expect(changesIssuesOf({ ...changes, changes: [] })[0].path).toBe('changes');
    expect(changesIssuesOf({ ...changes, database: 'system' })[0].path).toBe('database');
    expect(changesIssuesOf({ ...changes, options: { onFailure: 'ignore' } })[0].path).toBe('options.onFailure');
  });

  it('tells a transfer, a run of changes and both at once apart', () => {
    expect(startRequestKind(valid)).toBe('transfer');
    expect(startRequestKind(changes)).toBe('changes');
    expect(startRequestKind({ target: changes.target, database: 'shop' })).toBe('changes');
    expect(startRequestKind({ ...valid, changes: changes.changes })).toBe('mixed');
    expect(startRequestKind([])).toBe('transfer');
  });
});

describe('POST /migrations with a change set', () => {
  const keyring = keyringOf('a key for the start tests');
  function appWith(allowlist?: string) {
    const start = jest.fn(async (_type: string, _options: { args: unknown[] }) => ({
      firstExecutionRunId: 'run-0',
      query: async () => ({ locks: ['migration-lock-1'], lockConflict: null }),
    }));
    const client = { workflow: { start } } as unknown as Client;
    const app = createApp({
      client,
      namespace: 'default',
      temporalUiUrl: 'http://127.0.0.1:8233',
      keyring,
      logger: { error: () => undefined },
      auth: { mode: 'off', fourEyes: false },
      ...(allowlist ? { allowEndpoint: parseAllowlist(allowlist) } : {}),
    });
    return { app, start };
  }

  it('starts a run of changes with the target password sealed', async () => {
    const { app, start } = appWith();
    const res = await request(app).post('/migrations').send({ ...changes, id: 'shop-002', options: { onFailure: 'stop' } });
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({ id: 'shop-002', runId: 'run-0', status: 'running' });
    const [type, options] = start.mock.calls[0] as unknown as [string, { taskQueue: string; workflowId: string; args: [ChangesInput]; memo: Record<string, unknown> }];
    expect([type, options.taskQueue, options.workflowId]).toEqual([CHANGES_WORKFLOW_TYPE, TASK_QUEUE, 'shop-002']);
    const input = options.args[0];
    expect(input).toMatchObject({ id: 'shop-002', database: 'shop', changes: changes.changes, options: { onFailure: 'stop' }, approvals: { required: true, fourEyes: false } });
    expect(input).not.toHaveProperty('source');
    expect(JSON.stringify(input)).not.toContain('s3cret');
    expect(unseal(input.target.password as NonNullable<ChangesInput['target']['password']>, keyring)).toBe('s3cret');
    expect(options.memo).toHaveProperty('requestedBy');
  });

  it('when the body mixes a transfer with changes, answers 400 on changes and starts nothing', async () => {
    const { app, start } = appWith();
    const res = await request(app).post('/migrations').send({ ...valid, changes: changes.changes });
    expect(res.status).toBe(400);
    expect(res.body.issues).toEqual([{ path: 'changes', message: expect.stringMatching(/not supported yet/) }]);
    expect(start).not.toHaveBeenCalled();
  });

  it('when a version is repeated, answers 400 naming it, never 500', async () => {
    const { app, start } = appWith();
    const res = await request(app).post('/migrations').send({ ...changes, changes: [change('7'), change('007')] });
    expect([res.status, res.body.issues]).toEqual([400, [{ path: 'changes.1.version', message: expect.stringMatching(/appears twice/) }]]);
    expect(start).not.toHaveBeenCalled();
  });

  it('checks the allowlist on the target only, and still starts transfers', async () => {
    const { app, start } = appWith('target.example:8443,source:8123');
    expect((await request(app).post('/migrations').send({ ...changes, target: { url: 'http://elsewhere:8123' } })).body.issues).toEqual([
      { path: 'target.url', message: expect.stringMatching(/MIGRATOR_ENDPOINT_ALLOWLIST/) },
    ]);
    expect((await request(app).post('/migrations').send(changes)).status).toBe(201);
    expect((await request(app).post('/migrations').send(valid)).status).toBe(201);
    expect(start.mock.calls.map(([type]) => type)).toEqual([CHANGES_WORKFLOW_TYPE, WORKFLOW_TYPE]);
  });

  it('reads a change set larger than the 64 KiB the other routes read', async () => {
    const { app } = appWith();
    const big = Array.from({ length: 400 }, (_, i) => change(String(i + 1), `ALTER TABLE orders ADD COLUMN c${i} UInt8 COMMENT '${'x'.repeat(200)}'`));
    expect((await request(app).post('/migrations').send({ ...changes, changes: big })).status).toBe(201);
  });
});

describe('the approve and reject schemas', () => {
  it('accept a known step and refuse an unknown one', () => {
    expect(approveSchema.parse({ step: 'configure', comment: 'ok' })).toEqual({ step: 'configure', comment: 'ok' });
    expect(approveSchema.safeParse({ step: 'deploy' }).success).toBe(false);
  });

  it('when the body names "by", refuse it on that field: the approver is the authenticated subject', () => {
    for (const [schema, extra] of [[approveSchema, {}], [rejectSchema, { reason: 'x' }]] as const) {
      const result = schema.safeParse({ step: 'configure', by: 'ana', ...extra });
      expect(result.error?.issues.map((i) => ({ path: i.path.join('.'), message: i.message }))).toEqual([{ path: 'by', message: expect.stringMatching(/authenticated subject/) }]);
    }
  });

  it('require a reason to reject', () => {
    expect(rejectSchema.safeParse({ step: 'configure' }).success).toBe(false);
  });
});

describe('error mapping', () => {
  it('when Temporal is unreachable, the answer is 503', () => {
    const grpc = Object.assign(new Error('14 UNAVAILABLE: connection refused'), { code: 14, details: '', metadata: {} });
    expect(describeError(grpc)?.status).toBe(503);
  });

  it('when the body is not JSON, the answer is a 400 naming the body', () => {
    expect(describeError({ type: 'entity.parse.failed', status: 400, message: 'Unexpected token' })).toMatchObject({
      status: 400,
      body: { error: 'invalid_request', issues: [{ path: '' }] },
    });
  });

  it('when the error is unknown, it is left for the 500 handler', () => {
    expect(describeError(new Error('boom'))).toBeNull();
  });
});

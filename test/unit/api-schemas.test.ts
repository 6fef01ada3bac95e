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

const FUTURE = new Date(Date.now() + 7 * 24 * 3600 * 1000).toISOString();
const window = { days: ['mon', 'tue'], start: '22:00', durationSeconds: 7200, timeZone: 'Europe/Berlin' };

describe('the scope of a transfer in the start request', () => {
  const two = { ...valid, databases: ['demo', 'logs'] };

  it('accepts a rename, include/exclude, a mode, a schedule and rate limits, and keeps them', () => {
    const body = {
      ...valid,
      databases: [{ source: 'demo', target: 'demo_v2' }, 'logs'],
      include: ['demo.*', 'logs.events_*'],
      exclude: ['*.tmp_*'],
      mode: 'data',
      schedule: { notBefore: FUTURE, window, onWindowEnd: 'finish' },
      options: { maxBytesPerSecond: 20 * 2 ** 20, maxRowsPerSecond: 50_000 },
    };
    expect(issuesOf(body)).toEqual([]);
    expect(startMigrationSchema.parse(body)).toMatchObject({ databases: body.databases, include: body.include, exclude: body.exclude, mode: 'data', schedule: body.schedule, options: body.options });
    expect(startMigrationSchema.parse({ ...valid, schedule: { window } }).schedule).toEqual({ window, onWindowEnd: 'pause' });
    expect(startMigrationSchema.parse({ ...valid, schedule: { notBefore: FUTURE } }).mode).toBe('full');
    // Renaming a database onto its own name, or a chain whose targets are all new, is fine.
    expect(issuesOf({ ...valid, databases: [{ source: 'demo', target: 'demo' }] })).toEqual([]);
    expect(issuesOf({ ...two, databases: [{ source: 'demo', target: 'logs_v2' }, { source: 'logs', target: 'demo_v2' }] })).toEqual([]);
  });

  it('when a rename lands on a database the same request also copies, the rename\'s target is refused', () => {
    expect(issuesOf({ ...two, databases: [{ source: 'demo', target: 'logs' }, 'logs'] })).toContainEqual({ path: 'databases.0.target', message: expect.stringMatching(/renames onto "logs", a database this request also copies/) });
    expect(issuesOf({ ...two, databases: ['logs', { source: 'demo', target: 'logs' }] })).toContainEqual({ path: 'databases.1.target', message: expect.stringMatching(/also copies \(entry 0\)/) });
  });

  it('when two sources are copied onto one target, the second is refused on its target', () => {
    expect(issuesOf({ ...two, databases: [{ source: 'demo', target: 'all' }, { source: 'logs', target: 'all' }] })).toEqual([
      { path: 'databases.1.target', message: expect.stringMatching(/two sources onto one target/) },
    ]);
  });

  it('when a source is named twice (renamed or not), the second is refused', () => {
    expect(issuesOf({ ...valid, databases: ['demo', { source: 'demo', target: 'demo_v2' }] })).toContainEqual({ path: 'databases.1.source', message: expect.stringMatching(/repeats the source database "demo"/) });
  });

  it('when a rename\'s target is reserved or a system database, it is refused on that target', () => {
    expect(issuesOf({ ...valid, databases: [{ source: 'demo', target: 'system' }] })[0].path).toBe('databases.0.target');
    expect(issuesOf({ ...valid, databases: [{ source: 'demo', target: '__migrator_x' }] })[0].path).toBe('databases.0.target');
    expect(issuesOf({ ...valid, databases: [{ source: 'demo', target: 'demo_v2', extra: 1 }] })[0].path).toMatch(/^databases\.0/);
  });

  it('when a pattern names none of the request\'s databases (or a renamed target instead of its source), it is refused on that pattern', () => {
    expect(issuesOf({ ...two, include: ['demo.*', 'shop.orders'] })).toEqual([{ path: 'include.1', message: expect.stringMatching(/matches no table of the databases in this request \(demo, logs\)/) }]);
    expect(issuesOf({ ...valid, databases: [{ source: 'demo', target: 'demo_v2' }], exclude: ['demo_v2.*'] })).toEqual([{ path: 'exclude.0', message: expect.stringMatching(/patterns name source databases/) }]);
    expect(issuesOf({ ...valid, exclude: ['demo.'] })[0].path).toBe('exclude.0');
    expect(issuesOf({ ...valid, include: ['demo'] })).toContainEqual({ path: 'include.0', message: expect.stringMatching(/glob on database\.table/) });
    expect(issuesOf({ ...valid, include: [] })[0].path).toBe('include');
    expect(issuesOf({ ...two, include: ['*.events', 'd?mo.*', 'lo*'] })).toEqual([]);
  });

  it('when notBefore is in the past or not an ISO time with an offset, it is refused on schedule.notBefore', () => {
    expect(issuesOf({ ...valid, schedule: { notBefore: '2020-01-01T00:00:00Z' } })).toEqual([{ path: 'schedule.notBefore', message: 'must be in the future' }]);
    expect(issuesOf({ ...valid, schedule: { notBefore: '2099-01-01T00:00:00' } })[0].path).toBe('schedule.notBefore');
    expect(issuesOf({ ...valid, schedule: { notBefore: 'tomorrow' } })[0].path).toBe('schedule.notBefore');
  });

  it('when the time zone is unknown, it is refused on schedule.window.timeZone', () => {
    expect(issuesOf({ ...valid, schedule: { window: { ...window, timeZone: 'Mars/Olympus_Mons' } } })).toEqual([
      { path: 'schedule.window.timeZone', message: expect.stringMatching(/IANA time zone/) },
    ]);
  });

  it('when the window has zero length, no days or a time that is not one, each field is named', () => {
    expect(issuesOf({ ...valid, schedule: { window: { ...window, durationSeconds: 0 } } })).toEqual([{ path: 'schedule.window.durationSeconds', message: expect.stringMatching(/zero length never opens/) }]);
    expect(issuesOf({ ...valid, schedule: { window: { ...window, days: [] } } })[0].path).toBe('schedule.window.days');
    expect(issuesOf({ ...valid, schedule: { window: { ...window, days: ['mon', 'mon'] } } })[0].path).toBe('schedule.window.days');
    expect(issuesOf({ ...valid, schedule: { window: { ...window, days: ['monday'] } } })[0].path).toBe('schedule.window.days.0');
    expect(issuesOf({ ...valid, schedule: { window: { ...window, start: '24:00' } } })[0].path).toBe('schedule.window.start');
    expect(issuesOf({ ...valid, schedule: { window: { ...window, durationSeconds: 8 * 24 * 3600 } } })[0].path).toBe('schedule.window.durationSeconds');
  });

  it('when the schedule says nothing, the mode or the window-end policy is unknown, or a limit is too small, each field is named', () => {
    expect(issuesOf({ ...valid, schedule: { onWindowEnd: 'fail' } })[0]).toMatchObject({ path: 'schedule', message: expect.stringMatching(/notBefore, window or both/) });
    expect(issuesOf({ ...valid, schedule: { window, onWindowEnd: 'stop' } })[0].path).toBe('schedule.onWindowEnd');
    expect(issuesOf({ ...valid, mode: 'rows' })[0].path).toBe('mode');
    expect(issuesOf({ ...valid, options: { maxBytesPerSecond: 100 } })[0].path).toBe('options.maxBytesPerSecond');
    expect(issuesOf({ ...valid, options: { maxRowsPerSecond: 0 } })[0].path).toBe('options.maxRowsPerSecond');
  });

  it('accepts replication options and keeps them; a path without {database} and {table}, or not absolute, and a cluster name with quotes are refused by field', () => {
    const replication = { zooKeeperPath: '/clickhouse/tables/{shard}/{database}/{table}', cluster: 'target_replicas', maxQueue: 10, maxDelaySeconds: 60, syncTimeoutSeconds: 120 };
    expect(startMigrationSchema.parse({ ...valid, replication }).replication).toEqual(replication);
    expect(issuesOf({ ...valid, replication: { zooKeeperPath: '/clickhouse/tables/{shard}/{table}' } })[0]).toMatchObject({ path: 'replication.zooKeeperPath', message: expect.stringMatching(/\{database\} and \{table\}/) });
    expect(issuesOf({ ...valid, replication: { zooKeeperPath: 'clickhouse/{database}/{table}' } })[0].path).toBe('replication.zooKeeperPath');
    expect(issuesOf({ ...valid, replication: { zooKeeperPath: "/x/{database}/{table}'" } })[0].path).toBe('replication.zooKeeperPath');
    expect(issuesOf({ ...valid, replication: { cluster: "a'b" } })[0].path).toBe('replication.cluster');
    expect(issuesOf({ ...valid, replication: { maxQueue: -1 } })[0].path).toBe('replication.maxQueue');
    expect(issuesOf({ ...valid, replication: { syncTimeoutSeconds: 0 } })[0].path).toBe('replication.syncTimeoutSeconds');
    expect(issuesOf({ ...valid, replication: { shard: '01' } })[0]).toMatchObject({ path: 'replication', message: expect.stringMatching(/shard/) });
  });
});

describe('POST /migrations with a scope', () => {
  function appWithStart() {
    const start = jest.fn(async (_type: string, _options: { args: unknown[] }) => ({ firstExecutionRunId: 'run-0', query: async () => ({ locks: ['migration-lock-1'], lockConflict: null }) }));
    const client = { workflow: { start } } as unknown as Client;
    const app = createApp({ client, namespace: 'default', temporalUiUrl: 'http://127.0.0.1:8233', keyring: keyringOf('scope tests'), logger: { error: () => undefined }, auth: { mode: 'off', fourEyes: false } });
    return { app, start };
  }
  const inputOf = (start: ReturnType<typeof appWithStart>['start']) => (start.mock.calls[0][1].args[0] ?? {}) as Record<string, unknown>;

  it('the workflow input carries source names in databases, the renames, filters, mode, schedule and limits', async () => {
    const { app, start } = appWithStart();
    const schedule = { notBefore: FUTURE, window, onWindowEnd: 'fail' };
    const res = await request(app)
      .post('/migrations')
      .send({ ...valid, databases: [{ source: 'demo', target: 'demo_v2' }, 'logs'], include: ['demo.*', 'logs.*'], exclude: ['demo.tmp'], mode: 'schema', schedule, options: { maxBytesPerSecond: 1 << 20, maxRowsPerSecond: 10 } });
    expect(res.status).toBe(201);
    expect(inputOf(start)).toMatchObject({ databases: ['demo', 'logs'], renames: { demo: 'demo_v2' }, include: ['demo.*', 'logs.*'], exclude: ['demo.tmp'], mode: 'schema', schedule, options: { maxBytesPerSecond: 1 << 20, maxRowsPerSecond: 10 } });
  });

  it('a plain transfer\'s input has none of these fields', async () => {
    const { app, start } = appWithStart();
    expect((await request(app).post('/migrations').send(valid)).status).toBe(201);
    expect(Object.keys(inputOf(start)).filter((k) => ['renames', 'include', 'exclude', 'mode', 'schedule'].includes(k))).toEqual([]);
  });

  it('a bad scope is answered 400 naming the field, and nothing starts', async () => {
    const { app, start } = appWithStart();
    const res = await request(app).post('/migrations').send({ ...valid, databases: ['demo', { source: 'logs', target: 'demo' }] });
    expect(res.status).toBe(400);
    expect(res.body.issues.map((i: { path: string }) => i.path)).toContain('databases.1.target');
    expect(start).not.toHaveBeenCalled();
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

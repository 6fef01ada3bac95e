import request from 'supertest';
import { QueryNotRegisteredError, WorkflowExecutionAlreadyStartedError, WorkflowUpdateFailedError, type Client } from '@temporalio/client';
import { createApp } from '../../src/api/app';
import { describeError } from '../../src/api/error-middleware';
import { describedAllowlist, openApiDocument, ROUTES } from '../../src/api/openapi';
import { approveSchema, cancelSchema, ENDPOINT_URL_PATTERN, migrationIdSchema, rejectSchema, startChangesSchema, startRequestSchema } from '../../src/api/schemas';
import { keyringOf } from '../../src/secrets';
import { ForbiddenError, FourEyesError, InvalidRequestError, MigrationStateConflictError, UnauthorizedError } from '../../src/errors';
import { initialState } from '../../src/workflows/state';
import type { MigrationInput, MigrationState } from '../../src/workflows/types';

type Json = Record<string, unknown>;

/**
 * A JSON Schema 2020-12 validator for the keywords the document uses, written for this test so
 * that the check does not rest on zod's own reading of what it generated. A keyword it does not
 * know fails the test rather than passing unchecked.
 */
const KNOWN = new Set([
  ...['type', 'properties', 'required', 'additionalProperties', 'enum', 'const', 'pattern', 'minLength', 'maxLength', 'minimum', 'maximum'],
  ...['items', 'minItems', 'maxItems', 'uniqueItems', 'anyOf', 'oneOf', 'not', '$ref'],
  // Annotations: they describe, never refuse.
  ...['format', 'default', 'description'],
]);

function resolveRef(doc: Json, ref: string): Json {
  if (!ref.startsWith('#/')) throw new Error(`not a local reference: ${ref}`);
  let at: unknown = doc;
  for (const segment of ref.slice(2).split('/')) {
    at = (at as Json | undefined)?.[segment.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  if (typeof at !== 'object' || at === null) throw new Error(`unresolved reference: ${ref}`);
  return at as Json;
}

const typeOf = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value === 'number' ? (Number.isInteger(value) ? 'integer' : 'number') : typeof value;

function valid(doc: Json, schema: Json, value: unknown): boolean {
  for (const key of Object.keys(schema)) if (!KNOWN.has(key)) throw new Error(`the test's validator does not know the keyword ${key}`);
  const s = schema as Record<string, never>;
  if (s.$ref && !valid(doc, resolveRef(doc, s.$ref), value)) return false;
  const type = typeOf(value);
  if (s.type) {
    const types: string[] = Array.isArray(s.type) ? s.type : [s.type];
    if (!types.some((t) => t === type || (t === 'number' && type === 'integer'))) return false;
  }
  if (s.enum && !(s.enum as unknown[]).some((e) => JSON.stringify(e) === JSON.stringify(value))) return false;
  if ('const' in s && JSON.stringify(s.const) !== JSON.stringify(value)) return false;
  if (typeof value === 'string') {
    const length = [...value].length;
    if ((s.minLength !== undefined && length < s.minLength) || (s.maxLength !== undefined && length > s.maxLength)) return false;
    if (s.pattern && !new RegExp(s.pattern, 'u').test(value)) return false;
  }
  if (typeof value === 'number' && ((s.minimum !== undefined && value < s.minimum) || (s.maximum !== undefined && value > s.maximum))) return false;
  if (Array.isArray(value)) {
    if ((s.minItems !== undefined && value.length < s.minItems) || (s.maxItems !== undefined && value.length > s.maxItems)) return false;
    if (s.uniqueItems && new Set(value.map((v) => JSON.stringify(v))).size !== value.length) return false;
    if (s.items && !value.every((item) => valid(doc, s.items, item))) return false;
  }
  if (type === 'object') {
    const object = value as Json;
    if (s.required && !(s.required as string[]).every((key) => key in object)) return false;
    const properties = (s.properties ?? {}) as Record<string, Json>;
    for (const [key, item] of Object.entries(object)) {
      if (properties[key]) {
        if (!valid(doc, properties[key], item)) return false;
      } else if (s.additionalProperties === false || (typeof s.additionalProperties === 'object' && !valid(doc, s.additionalProperties, item))) return false;
    }
  }
  if (s.anyOf && !(s.anyOf as Json[]).some((branch) => valid(doc, branch, value))) return false;
  if (s.oneOf && (s.oneOf as Json[]).filter((branch) => valid(doc, branch, value)).length !== 1) return false;
  if (s.not && valid(doc, s.not, value)) return false;
  return true;
}

const general = openApiDocument();
const schemaOf = (doc: Json, name: string): Json => resolveRef(doc, `#/components/schemas/${name}`);
const operation = (doc: Json, path: string, method: string): Json => ((doc.paths as Json)[path] as Json)[method] as Json;

describe('the OpenAPI document', () => {
  it('is OpenAPI 3.1 with every route of the API, each with its answers', () => {
    expect(general.openapi).toMatch(/^3\.1\.\d+$/);
    const documented = Object.entries(general.paths as Json).flatMap(([path, methods]) => Object.keys(methods as Json).map((m) => `${m.toUpperCase()} ${path}`));
    expect(documented.sort()).toEqual(
      [
        'GET /healthz',
        'GET /openapi.json',
        'POST /migrations',
        'GET /migrations',
        'GET /migrations/{id}',
        'GET /migrations/{id}/tables',
        'POST /migrations/{id}/approve',
        'POST /migrations/{id}/reject',
        'POST /migrations/{id}/cancel',
      ].sort(),
    );
    for (const route of ROUTES) {
      const op = operation(general, route.path, route.method);
      expect(Object.keys(op.responses as Json).length).toBeGreaterThan(0);
      const templated = [...route.path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      const declared = ((op.parameters ?? []) as Json[]).filter((p) => p.in === 'path').map((p) => p.name);
      expect(declared).toEqual(templated);
    }
  });

  it('when a route needs a role, it names the bearer scheme and answers 401 with the challenge header, and 403', () => {
    expect((general.components as Json).securitySchemes).toEqual({ bearerAuth: expect.objectContaining({ type: 'http', scheme: 'bearer' }) });
    for (const route of ROUTES) {
      const op = operation(general, route.path, route.method);
      const responses = op.responses as Record<string, Json>;
      if (route.role) {
        expect(op.security).toEqual([{ bearerAuth: [] }]);
        expect(responses['401'].headers).toHaveProperty('WWW-Authenticate');
        expect(responses).toHaveProperty('403');
      } else {
        expect(op.security).toEqual([]);
        expect(responses).not.toHaveProperty('401');
      }
    }
  });

  it('every $ref resolves, in the general document and in one narrowed to an allowlist', () => {
    const narrowed = openApiDocument({ endpoints: [{ host: '127.0.0.1', port: 9000 }, { host: 'ch.example', port: null }] });
    for (const doc of [general, narrowed]) {
      const refs: string[] = [];
      const walk = (node: unknown): void => {
        if (Array.isArray(node)) node.forEach(walk);
        else if (node && typeof node === 'object') {
          for (const [key, value] of Object.entries(node)) {
            if (key === '$ref') refs.push(value as string);
            else walk(value);
          }
        }
      };
      walk(doc);
      expect(refs.length).toBeGreaterThan(20);
      for (const ref of refs) expect(() => resolveRef(doc, ref)).not.toThrow();
    }
  });
});

const validStart = {
  source: { url: 'http://source:8123', password: 's3cret', nativePort: 9000 },
  target: { url: 'https://target.example:8443/' },
  databases: ['demo', 'events'],
};

/** Requests the schemas are checked on: what users send, and each way to get a field wrong. */
const startSamples: unknown[] = [
  validStart,
  { ...validStart, id: 'run-1', approvals: { required: false }, options: { onConflict: 'replace', parallelism: 16, syncPasses: 0 } },
  { ...validStart, source: { url: 'http://[::1]:8123', passwordRef: 'source.pw' } },
  { ...validStart, source: { url: 'http://source:8123', passwordRef: 'source.Servers' } },
  { ...validStart, source: { url: 'http://10.0.0.5' }, target: { url: 'http://ch_1.internal:8123' } },
  { ...validStart, source: { url: 'http://source:8123', password: 'x', passwordRef: 'y' } },
  { ...validStart, source: { url: 'http://user:pw@source:8123' } },
  { ...validStart, source: { url: 'http://source:8123/path' } },
  { ...validStart, source: { url: 'ftp://source' } },
  { ...validStart, source: { url: 'HTTP://source:8123' } },
  { ...validStart, source: { url: 'http://source:65536' } },
  { ...validStart, source: { url: 'http://127.1:8123' } },
  { ...validStart, source: { url: 'http://[1::2::3]:8123' } },
  { ...validStart, source: { url: 'http://source:8123', username: '' } },
  { ...validStart, source: { url: 'http://source:8123', nativePort: 0 } },
  { ...validStart, source: { url: 'http://source:8123', pasword: 'typo' } },
  { ...validStart, databases: [] },
  { ...validStart, databases: ['a', 'a'] },
  { ...validStart, databases: ['__migrator_restore'] },
  { ...validStart, databases: ['System'] },
  { ...validStart, databases: ['INFORMATION_SCHEMA'] },
  { ...validStart, databases: ['systems', 'x__migrator_', 'données', '🦆'] },
  { ...validStart, databases: ['x'.repeat(256)] },
  { ...validStart, id: '..' },
  { ...validStart, id: '.hidden' },
  { ...validStart, id: 'a/b' },
  { ...validStart, id: 'x'.repeat(129) },
  { ...validStart, approvals: { required: 'no' } },
  { ...validStart, options: { parallelism: 17 } },
  { ...validStart, options: { syncPasses: 1.5 } },
  { ...validStart, dryRun: true },
  { source: validStart.source, databases: ['demo'] },
  [],
  'text',
  ...scopeSamples(),
];

/** Requests with a scope (renames, filters, mode, schedule, limits): the shapes, not the checks across fields. */
function scopeSamples(): unknown[] {
  const window = { days: ['sat', 'sun'], start: '01:00', durationSeconds: 3600, timeZone: 'UTC' };
  const withWindow = (change: Record<string, unknown>) => ({ ...validStart, schedule: { window: { ...window, ...change } } });
  return [
    {
      ...validStart,
      databases: [{ source: 'demo', target: 'demo_v2' }, 'events'],
      include: ['demo.*', 'events.e?'],
      exclude: ['*.tmp_*'],
      mode: 'data',
      schedule: { notBefore: '2099-01-01T00:00:00Z', window, onWindowEnd: 'finish' },
      options: { maxBytesPerSecond: 20 * 2 ** 20, maxRowsPerSecond: 1 },
    },
    { ...validStart, mode: 'schema', schedule: { notBefore: '2099-01-01T22:00:00+01:00' } },
    { ...validStart, schedule: { window: { ...window, start: '23:59:59', days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] } } },
    { ...validStart, mode: 'rows' },
    { ...validStart, databases: [{ source: 'demo' }] },
    { ...validStart, databases: [{ source: 'demo', target: 'demo_v2', note: 'x' }] },
    { ...validStart, databases: [{ source: 'demo', target: 'System' }] },
    { ...validStart, databases: [{ source: '__migrator_x', target: 'demo_v2' }] },
    { ...validStart, include: [] },
    { ...validStart, exclude: ['a.'.repeat(300)] },
    { ...validStart, include: 'demo.*' },
    { ...validStart, schedule: { notBefore: 'tomorrow' } },
    { ...validStart, schedule: { notBefore: '2099-01-01T00:00:00' } },
    { ...validStart, schedule: { window, onWindowEnd: 'stop' } },
    { ...validStart, schedule: {} },
    { ...validStart, schedule: { onWindowEnd: 'pause' } },
    { ...validStart, schedule: { window, every: 'day' } },
    withWindow({ durationSeconds: 0 }),
    withWindow({ durationSeconds: 1.5 }),
    withWindow({ durationSeconds: 8 * 24 * 3600 }),
    withWindow({ days: [] }),
    withWindow({ days: ['monday'] }),
    withWindow({ days: ['mon', 'mon'] }),
    withWindow({ start: '24:00' }),
    withWindow({ start: '9:00' }),
    withWindow({ timeZone: '' }),
    { ...validStart, schedule: { window: { days: ['mon'], start: '01:00', durationSeconds: 60 } } },
    { ...validStart, options: { maxBytesPerSecond: 1023 } },
    { ...validStart, options: { maxRowsPerSecond: 0 } },
    { ...validStart, options: { maxRowsPerSecond: 2.5 } },
  ];
}

const validChanges = {
  target: { url: 'http://target:8123', passwordRef: 'target.pw' },
  database: 'shop',
  changes: [{ version: '001', name: 'orders', sql: 'CREATE TABLE orders (id UInt64) ENGINE = MergeTree ORDER BY id' }],
};

/** Change requests whose change set is sound: the document states shapes, not the change-set checks (duplicates, order, SQL). */
const changesSamples: unknown[] = [
  validChanges,
  { ...validChanges, id: 'shop-1', approvals: { required: false }, options: { onFailure: 'stop' } },
  { ...validChanges, changes: [{ version: '1.2.10', name: 'x', sql: 'ALTER TABLE orders ADD COLUMN x UInt8' }] },
  { ...validChanges, options: { onFailure: 'ignore' } },
  { ...validChanges, changes: [] },
  { ...validChanges, changes: [{ version: 'v1', name: 'x', sql: 'SELECT 1' }] },
  { ...validChanges, changes: [{ version: '1', name: '', sql: 'SELECT 1' }] },
  { ...validChanges, changes: [{ version: '1', name: 'x', sql: 'SELECT 1', down: 'SELECT 2' }] },
  { ...validChanges, database: 'system' },
  { ...validChanges, database: undefined, databases: ['shop'] },
  { database: 'shop', changes: validChanges.changes },
  { ...validChanges, source: { url: 'http://source:8123' } },
  { ...validStart, changes: validChanges.changes },
];

describe('the document and the zod schemas agree on requests', () => {
  const cases: [string, { safeParse(v: unknown): { success: boolean } }, unknown[]][] = [
    ['StartMigrationRequest', startRequestSchema, [...startSamples.filter((s) => !sameOrigin(s)), ...changesSamples]],
    ['StartChangesRequest', startChangesSchema, changesSamples],
    ['ApproveRequest', approveSchema, [{ step: 'configure' }, { step: 'migration', comment: 'ok' }, { step: 'deploy' }, { step: 'configure', by: 'ana' }, { step: 'configure', comment: 'x'.repeat(2001) }, {}]],
    ['RejectRequest', rejectSchema, [{ step: 'validation', reason: 'no' }, { step: 'validation' }, { step: 'validation', reason: '' }, { step: 'backup', reason: 'x', extra: 1 }]],
    ['CancelRequest', cancelSchema, [{}, { reason: 'stop' }, { reason: 3 }, { why: 'x' }]],
    ['MigrationId', migrationIdSchema, ['demo-1', 'a.b_c-d', '.', '..', '...', '-', '', 'a b', 'ü', 'x'.repeat(128), 'x'.repeat(129)]],
  ];

  it.each(cases)('%s: each sample is accepted by both or refused by both', (name, schema, samples) => {
    const outcomes = samples.map((sample) => {
      const accepted = schema.safeParse(sample).success;
      expect({ sample, document: valid(general, schemaOf(general, name), sample) }).toEqual({ sample, document: accepted });
      return accepted;
    });
    expect(new Set(outcomes)).toEqual(new Set([true, false]));
  });

  it('the endpoint URL pattern accepts only URLs that parse to that server, whatever their shape', () => {
    let seed = 42;
    const next = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const pick = <T>(items: readonly T[]): T => items[next(items.length)];
    const parts = ['a', 'Z', '_', '-', '0', '9', 'x1', '.', ':', '::', '[', ']', '1.2.3.4', '256', '0x1f', 'ff', '%', '@', '/', ' ', 'é', 'xn--'];
    let matched = 0;
    for (let i = 0; i < 20_000; i++) {
      const host = Array.from({ length: 1 + next(6) }, () => pick(parts)).join('');
      const url = `${pick(['http://', 'https://', 'HTTP://', 'http:/'])}${host}${pick(['', ':1', ':80', ':65535', ':65536', ':0', ':08'])}${pick(['', '/', '//', '?a'])}`;
      if (!ENDPOINT_URL_PATTERN.test(url)) continue;
      matched += 1;
      const parsed = new URL(url);
      expect({ url, protocol: parsed.protocol, root: parsed.pathname, extra: parsed.username + parsed.search + parsed.hash }).toEqual({
        url,
        protocol: expect.stringMatching(/^https?:$/),
        root: '/',
        extra: '',
      });
    }
    expect(matched).toBeGreaterThan(1000);
  });
});

function sameOrigin(sample: unknown): boolean {
  const s = sample as { source?: { url?: unknown }; target?: { url?: unknown } };
  try {
    return new URL(String(s.source?.url)).origin === new URL(String(s.target?.url)).origin;
  } catch {
    return false;
  }
}

describe('a document narrowed to the endpoint allowlist', () => {
  /** A client whose start always conflicts: a 409 means the request got past every check of the API. */
  const client = {
    workflow: {
      start: () => Promise.reject(new WorkflowExecutionAlreadyStartedError('exists', 'run-1', 'clickhouseMigration')),
    },
  } as unknown as Client;
  const setting = '127.0.0.1:8123,127.0.0.1:9000,localhost:8124';
  const app = createApp({
    client,
    namespace: 'default',
    temporalUiUrl: 'http://127.0.0.1:8233',
    keyring: keyringOf('a key for the document tests'),
    logger: { error: () => undefined },
    auth: { mode: 'off', fourEyes: false },
    allowEndpoint: describedAllowlist(setting),
  });

  it('is what GET /openapi.json serves, without authentication', async () => {
    const res = await request(app).get('/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body).toEqual(JSON.parse(JSON.stringify(openApiDocument({ endpoints: [
      { host: '127.0.0.1', port: 8123 },
      { host: '127.0.0.1', port: 9000 },
      { host: 'localhost', port: 8124 },
    ] }))));
  });

  it('accepts a start request exactly when the API does (allowlist, different servers, native port)', async () => {
    const doc = (await request(app).get('/openapi.json')).body as Json;
    const endpoint = (url: string, nativePort?: number) => ({ url, ...(nativePort ? { nativePort } : {}) });
    const bodies = [
      [endpoint('http://127.0.0.1:8123', 9000), endpoint('http://localhost:8124')],
      [endpoint('http://127.0.0.1:8123'), endpoint('https://127.0.0.1:9000/')],
      [endpoint('http://LOCALHOST:8124'), endpoint('https://localhost:8124')],
      [endpoint('http://127.0.0.1:8123'), endpoint('http://127.0.0.1:8123/')],
      [endpoint('http://localhost:8124', 9000), endpoint('http://127.0.0.1:8123')],
      [endpoint('http://127.0.0.1:8124'), endpoint('http://localhost:8124')],
      [endpoint('http://127.0.0.2:8123'), endpoint('http://localhost:8124')],
      [endpoint('http://127.0.0.1'), endpoint('http://localhost:8124')],
      [endpoint('http://127.0.0.1:8123', 8124), endpoint('http://localhost:8124')],
    ].map(([source, target]) => ({ source, target, databases: ['demo'] }));
    const changesBodies = ['http://localhost:8124', 'https://127.0.0.1:9000/', 'http://127.0.0.2:8123', 'http://localhost:8123'].map((url) => ({ ...validChanges, target: { url } }));
    const outcomes: boolean[] = [];
    for (const body of [...bodies, ...changesBodies]) {
      const accepted = (await request(app).post('/migrations').send(body)).status === 409;
      expect({ body, accepted: valid(doc, schemaOf(doc, 'StartMigrationRequest'), body) }).toEqual({ body, accepted });
      outcomes.push(accepted);
    }
    expect(outcomes.filter(Boolean).length).toBe(5);
  });

  it('answers 405 with Allow for a method a documented path lacks, and leaves OPTIONS alone', async () => {
    const put = await request(app).put('/healthz');
    expect(put.status).toBe(405);
    expect(put.headers.allow).toBe('GET, HEAD');
    const del = await request(app).delete('/migrations/run-1');
    expect([del.status, del.headers.allow]).toEqual([405, 'GET, HEAD']);
    expect((await request(app).get('/migrations/run-1/approve')).headers.allow).toBe('POST');
    expect((await request(app).options('/migrations')).status).not.toBe(405);
  });
});

describe('the document and the API agree on answers', () => {
  const answers = (path: string, method: string, status: number): Json => {
    const content = ((operation(general, path, method).responses as Record<string, Json>)[String(status)].content as Json)['application/json'] as Json;
    return content.schema as Json;
  };

  it('each error the middleware maps is answered with a body its documented schema accepts', () => {
    const refused = new WorkflowUpdateFailedError('refused', new Error('"configure" is already approved'));
    const grpc = Object.assign(new Error('14 UNAVAILABLE'), { code: 14, details: '', metadata: {} });
    const errors: [unknown, string, string][] = [
      [new InvalidRequestError([{ path: 'source.url', message: 'must use http or https' }]), '/migrations', 'post'],
      [{ type: 'entity.parse.failed', status: 400, message: 'Unexpected token' }, '/migrations', 'post'],
      [{ type: 'entity.too.large', status: 413, message: 'too large' }, '/migrations/{id}/approve', 'post'],
      [{ type: 'charset.unsupported', status: 415, message: 'unsupported charset "LATIN1"' }, '/migrations/{id}/reject', 'post'],
      [new UnauthorizedError('unknown'), '/migrations', 'get'],
      [new ForbiddenError('vera', 'operator', 'starting a migration'), '/migrations', 'post'],
      [new FourEyesError('run-1', 'pat'), '/migrations/{id}/approve', 'post'],
      [new MigrationStateConflictError({ error: 'target_locked', run: 'run-0', lock: 'migration-lock-1' }, 'held'), '/migrations', 'post'],
      [new MigrationStateConflictError({ error: 'not_awaiting_approval', awaitingApproval: { step: 'validation' }, status: 'awaiting_approval' }, 'no'), '/migrations/{id}/approve', 'post'],
      [new MigrationStateConflictError({ error: 'not_running' }, 'ended'), '/migrations/{id}/cancel', 'post'],
      [new WorkflowExecutionAlreadyStartedError('exists', 'run-1', 'clickhouseMigration'), '/migrations', 'post'],
      [refused, '/migrations/{id}/reject', 'post'],
      [grpc, '/migrations/{id}', 'get'],
    ];
    for (const [error, path, method] of errors) {
      const answer = describeError(error);
      expect(answer).not.toBeNull();
      const { status, body } = answer as NonNullable<typeof answer>;
      expect({ path, status, body, valid: valid(general, answers(path, method, status), body) }).toEqual({ path, status, body, valid: true });
    }
  });

  it('a state document of a run that waits for approval fits its schema', () => {
    const input = { id: 'run-1', requestedBy: 'olivia', approvals: { required: true } } as MigrationInput;
    const initial = initialState(input, 'r');
    const at = '2026-01-01T00:00:00.000Z';
    const state: MigrationState = {
      ...initial,
      status: 'awaiting_approval',
      currentStep: 'configure',
      awaitingApproval: { step: 'configure' },
      steps: initial.steps.map((step, i) => (i === 0 ? { ...step, status: 'completed', startedAt: at, finishedAt: at, result: { tables: 1 } } : step)),
      approvals: [{ step: 'backup', by: 'ana', comment: null, at, via: 'update' }],
      locks: ['migration-lock-1'],
    };
    expect(valid(general, schemaOf(general, 'MigrationState'), state)).toBe(true);
    expect(valid(general, schemaOf(general, 'MigrationState'), { ...state, extra: 1 })).toBe(false);
  });
});

describe('an id that names a workflow of another type (a target lock, the janitor)', () => {
  const lock = {
    describe: async () => ({ type: 'targetLock', status: { name: 'RUNNING' }, memo: {} }),
    query: async () => {
      throw new QueryNotRegisteredError('unknown queryType state', 3);
    },
    cancel: jest.fn(),
  };
  const app = createApp({
    client: { workflow: { getHandle: () => lock } } as unknown as Client,
    namespace: 'default',
    temporalUiUrl: 'http://127.0.0.1:8233',
    keyring: keyringOf('a key for the document tests'),
    logger: { error: () => undefined },
    auth: { mode: 'off', fourEyes: false },
  });

  it('is answered 404, as the document says, and a cancel does not reach it', async () => {
    const answers = await Promise.all([
      request(app).get('/migrations/migration-lock-0123456789abcdef'),
      request(app).post('/migrations/migration-lock-0123456789abcdef/approve').send({ step: 'configure' }),
      request(app).post('/migrations/migration-lock-0123456789abcdef/cancel'),
    ]);

    expect(answers.map((res) => [res.status, res.body.error])).toEqual([
      [404, 'not_found'],
      [404, 'not_found'],
      [404, 'not_found'],
    ]);
    expect(lock.cancel).not.toHaveBeenCalled();
  });
});

import { describeError } from '../../src/api/error-middleware';
import { approveSchema, rejectSchema, startMigrationSchema } from '../../src/api/schemas';

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

import request from 'supertest';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app';
import { parseAllowlist } from '../../src/endpoint-allowlist';
import { keyringOf } from '../../src/secrets';

/** The API's own refusals: these requests never reach Temporal. */
const app = createApp({
  client: {} as Client,
  namespace: 'default',
  temporalUiUrl: 'http://127.0.0.1:8233',
  keyring: keyringOf('a key for the path tests'),
  logger: { error: () => undefined },
  auth: { mode: 'off', fourEyes: false },
  allowEndpoint: parseAllowlist('127.0.0.1:*'),
});

describe('malformed path parameters', () => {
  it.each(['/migrations/%E0', '/migrations/%', '/migrations/%C0%AF/approve'])('when the path is %s, the answer is 400 naming the id, not 500', async (path) => {
    const res = await (path.endsWith('approve') ? request(app).post(path).send({ step: 'configure' }) : request(app).get(path));

    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'invalid_request', issues: [{ path: 'id', message: expect.stringMatching(/percent-encoded/) }] });
  });
});

describe('endpoints outside the allowlist', () => {
  it('when the target names a server the allowlist lacks, the answer is 400 naming target.url', async () => {
    const res = await request(app)
      .post('/migrations')
      .send({
        source: { url: 'http://127.0.0.1:8123', username: 'default', password: 'x', nativePort: 9000 },
        target: { url: 'http://127.0.0.2:8124', username: 'default', password: 'y' },
        databases: ['demo'],
      });

    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'invalid_request', issues: [{ path: 'target.url', message: '127.0.0.2:8124 is not in MIGRATOR_ENDPOINT_ALLOWLIST' }] });
  });
});

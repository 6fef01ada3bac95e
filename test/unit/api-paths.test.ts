import request from 'supertest';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app';

/** The API's own handling of malformed paths: these requests never reach Temporal. */
const app = createApp({
  client: {} as Client,
  namespace: 'default',
  temporalUiUrl: 'http://127.0.0.1:8233',
  secretKey: Buffer.alloc(32),
  logger: { error: () => undefined },
  auth: { mode: 'off', fourEyes: false },
});

describe('malformed path parameters', () => {
  it.each(['/migrations/%E0', '/migrations/%', '/migrations/%C0%AF/approve'])('when the path is %s, the answer is 400 naming the id, not 500', async (path) => {
    const res = await (path.endsWith('approve') ? request(app).post(path).send({ step: 'configure' }) : request(app).get(path));

    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'invalid_request', issues: [{ path: 'id', message: expect.stringMatching(/percent-encoded/) }] });
  });
});

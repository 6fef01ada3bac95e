import { ApiError, ApiUnreachableError, createApiClient } from '../../src/cli/api-client';

interface Seen {
  url: string;
  method?: string;
  headers: Record<string, string>;
  body?: unknown;
}

/** A fetch that records each request and answers with `status` and `body`. */
function fakeFetch(status: number, body: string, seen: Seen[] = []): typeof fetch {
  return (async (url: string | URL, init?: RequestInit) => {
    seen.push({ url: String(url), method: init?.method, headers: init?.headers as Record<string, string>, body: init?.body ? JSON.parse(String(init.body)) : undefined });
    return new Response(body, { status, headers: { 'content-type': 'application/json' } });
  }) as typeof fetch;
}

const TOKEN = 'a-token-that-must-never-be-printed-123456';

describe('createApiClient', () => {
  it('when a call succeeds, it sends the bearer token and JSON to the route, and returns the answer', async () => {
    const seen: Seen[] = [];
    const client = createApiClient({ baseUrl: 'http://api:3000/', token: TOKEN, fetch: fakeFetch(202, '{"id":"m/1"}', seen) });
    expect(await client.approve('m/1', 'configure', 'fine')).toEqual({ id: 'm/1' });
    expect(seen[0]).toEqual({
      url: 'http://api:3000/migrations/m%2F1/approve',
      method: 'POST',
      headers: { accept: 'application/json', authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: { step: 'configure', comment: 'fine' },
    });
  });

  it('when each route is called, it uses the method, path and body of the API', async () => {
    const seen: Seen[] = [];
    const client = createApiClient({ baseUrl: 'http://api:3000', fetch: fakeFetch(200, '{}', seen) });
    await client.list('completed');
    await client.list();
    await client.get('m1');
    await client.reject('m1', 'migration', 'not today');
    await client.cancel('m1');
    await client.start({ source: { url: 'http://s:8123' }, target: { url: 'http://t:8123' }, databases: ['d'] });
    expect(seen.map((s) => [s.method, s.url, s.body])).toEqual([
      ['GET', 'http://api:3000/migrations?status=completed', undefined],
      ['GET', 'http://api:3000/migrations', undefined],
      ['GET', 'http://api:3000/migrations/m1', undefined],
      ['POST', 'http://api:3000/migrations/m1/reject', { step: 'migration', reason: 'not today' }],
      ['POST', 'http://api:3000/migrations/m1/cancel', {}],
      ['POST', 'http://api:3000/migrations', { source: { url: 'http://s:8123' }, target: { url: 'http://t:8123' }, databases: ['d'] }],
    ]);
    expect(seen[0].headers).not.toHaveProperty('authorization');
  });

  it('when the API refuses a body, the error carries the status and each field with its reason', async () => {
    const body = { error: 'invalid_request', issues: [{ path: 'databases.0', message: 'system databases cannot be migrated' }] };
    const client = createApiClient({ baseUrl: 'http://api:3000', token: TOKEN, fetch: fakeFetch(400, JSON.stringify(body)) });
    const err = await client.start({} as never).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ status: 400, body, method: 'POST', url: 'http://api:3000/migrations' });
    expect(String((err as Error).message)).not.toContain(TOKEN);
  });

  it('when the answer is not an API error document (a proxy page), the error says the status and a piece of the text', async () => {
    const client = createApiClient({ baseUrl: 'http://api:3000', fetch: fakeFetch(502, '<html>\n  Bad gateway </html>') });
    const err = (await client.get('m1').catch((e: unknown) => e)) as ApiError;
    expect(err.body).toEqual({ error: 'http_502', message: '502: <html> Bad gateway </html>' });
  });

  it('when the API cannot be reached, the error names the URL and the system error', async () => {
    const refused = (async () => {
      throw Object.assign(new TypeError('fetch failed'), { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }) });
    }) as typeof fetch;
    const client = createApiClient({ baseUrl: 'http://127.0.0.1:9', token: TOKEN, fetch: refused });
    const err = await client.get('m1').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiUnreachableError);
    expect((err as Error).message).toBe('cannot reach the API at http://127.0.0.1:9/migrations/m1: connect ECONNREFUSED 127.0.0.1:9');
  });

  it('when the API does not answer in time, the error says how long it waited', async () => {
    const hang = ((_url: string, init?: RequestInit) =>
      new Promise((_resolve, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)))) as typeof fetch;
    const client = createApiClient({ baseUrl: 'http://127.0.0.1:9', timeoutMs: 20, fetch: hang });
    await expect(client.get('m1')).rejects.toThrow('cannot reach the API at http://127.0.0.1:9/migrations/m1: no answer within 20 ms');
  });
});

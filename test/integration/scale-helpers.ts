import { randomBytes } from 'node:crypto';
import request from 'supertest';
import type { Express } from 'express';
import { createApp } from '../../src/api/app';
import type { TablesPage } from '../../src/workflows/types';
import { TEST_KEY, type TestServers } from './harness';
import { testStack } from './stack-env';

/** The API of the test stack, read as a viewer. */
export interface ViewerApi {
  get(path: string, query?: Record<string, string | number>): Promise<request.Response>;
}

/** Registers a beforeAll that builds the API on the file's Temporal client, with one viewer token. */
export function useViewerApi(servers: TestServers): ViewerApi {
  const token = randomBytes(24).toString('hex');
  let app: Express;
  beforeAll(() => {
    app = createApp({
      client: servers.client,
      namespace: 'default',
      temporalUiUrl: testStack().temporalUiUrl,
      keyring: TEST_KEY,
      logger: { error: () => undefined },
      auth: { mode: 'tokens', tokens: [{ token, subject: 'vera', roles: ['viewer'] }], fourEyes: true },
    });
  });
  return { get: async (path, query = {}) => request(app).get(path).query(query).set('authorization', `Bearer ${token}`) };
}

/** Every page of `GET /migrations/:id/tables`, followed cursor by cursor, `limit` tables a page. */
export async function allTablePages(api: ViewerApi, id: string, limit = 1000): Promise<TablesPage['tables']> {
  const tables: TablesPage['tables'] = [];
  let cursor: string | null = null;
  do {
    const res = await api.get(`/migrations/${id}/tables`, { limit, ...(cursor ? { cursor } : {}) });
    if (res.status !== 200) throw new Error(`GET /migrations/${id}/tables answered ${res.status}: ${res.text}`);
    const page = res.body as TablesPage;
    tables.push(...page.tables);
    cursor = page.nextCursor;
  } while (cursor);
  return tables;
}

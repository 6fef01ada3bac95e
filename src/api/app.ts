import express, { type Express } from 'express';
import type { Client } from '@temporalio/client';
import { codecCorsOrigins, keyringOfConfig, loadAuthConfig, type AuthConfig, type Config } from '../config';
import { parseAllowlist, type EndpointAllowlist } from '../endpoint-allowlist';
import { connectClient } from '../temporal';
import type { Keyring } from '../secrets';
import { authenticate } from './auth';
import { codecRoutes } from './codec-routes';
import { errorMiddleware, type Logger } from './error-middleware';
import { openApiRoutes } from './openapi';
import { migrationRoutes } from './routes';

/** What the API needs: a Temporal client, where links point, and the keys that seal passwords and payloads. */
export interface AppDeps {
  client: Client;
  namespace: string;
  /** Base URL of the Temporal Web UI, for `links.temporalUi`. */
  temporalUiUrl: string;
  /** The active key seals passwords; the codec endpoint encrypts and decrypts with the keyring. */
  keyring: Keyring;
  /** Browser origins that may call the codec endpoint. @default the origin of `temporalUiUrl` */
  codecCorsOrigins?: readonly string[];
  /** Bearer tokens and the four-eyes switch, from `loadAuthConfig` (src/config.ts). */
  auth: AuthConfig;
  /** The servers a request may name. @default every server */
  allowEndpoint?: EndpointAllowlist;
  logger?: Logger;
}

/**
 * The API's dependencies as the configuration describes them, with a connected Temporal client;
 * `overrides` replace any of them. Reads the tokens file first, so a bad one fails before connecting.
 */
export async function appDepsFromConfig(config: Config, overrides: Partial<AppDeps> = {}): Promise<AppDeps> {
  const auth = loadAuthConfig(config);
  const keyring = keyringOfConfig(config);
  return {
    client: await connectClient(config, keyring),
    namespace: config.TEMPORAL_NAMESPACE,
    temporalUiUrl: config.TEMPORAL_UI_URL,
    keyring,
    codecCorsOrigins: codecCorsOrigins(config),
    auth,
    allowEndpoint: parseAllowlist(config.MIGRATOR_ENDPOINT_ALLOWLIST),
    ...overrides,
  };
}

/**
 * The HTTP API: thin routes over the Temporal client, one error middleware. `/healthz` is open;
 * `/migrations` authenticates before it reads a body, then each route checks its role.
 */
export function createApp(deps: AppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.get('/healthz', async (_req, res) => {
    try {
      await deps.client.workflowService.getSystemInfo({});
      res.json({ status: 'ok', temporal: 'ok' });
    } catch {
      res.status(503).json({ status: 'unavailable', temporal: 'unreachable' });
    }
  });
  app.use(openApiRoutes(deps)); // GET /openapi.json (open), and 405 for methods a documented path lacks
  app.use('/codec', codecRoutes(deps));
  app.use('/migrations', authenticate(deps.auth), express.json({ limit: '64kb' }), migrationRoutes(deps));
  app.use((_req, res) => {
    res.status(404).json({ error: 'not_found', message: 'no such route' });
  });
  app.use(errorMiddleware(deps.logger ?? console));
  return app;
}

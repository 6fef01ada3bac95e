import { randomUUID } from 'node:crypto';
import express, { type Express, type RequestHandler } from 'express';
import type { Client } from '@temporalio/client';
import { codecCorsOrigins, keyringOfConfig, loadAuthConfig, type AuthConfig, type Config } from '../config';
import { parseAllowlist, type EndpointAllowlist } from '../endpoint-allowlist';
import { connectClient } from '../temporal';
import type { Keyring } from '../secrets';
import { authenticate } from './auth';
import { codecRoutes } from './codec-routes';
import { createLogger, REQUEST_LOCALS } from '../logging';
import { createApiMetrics, metricsHandler, rememberMount, routeLabel, type ApiMetrics } from '../metrics';
import { errorMiddleware, type Logger } from './error-middleware';
import { openApiRoutes } from './openapi';
import { migrationRoutes } from './routes';
import { BODY_LIMIT_BYTES, START_BODY_LIMIT_BYTES } from './schemas';

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
  /** JSON lines, one per request and one per unexpected error. @default a pino logger at `warn` */
  logger?: Logger;
  /** The registry `GET /metrics` serves. @default a registry of this app's own */
  metrics?: ApiMetrics;
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
    logger: createLogger({ service: 'api', level: config.LOG_LEVEL }),
    ...overrides,
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The migration id a `/migrations/:id…` path names, if any (read before the router decodes it). */
function pathMigrationId(path: string): string | undefined {
  const segment = /^\/migrations\/([^/]+)/.exec(path)?.[1];
  if (!segment) return undefined;
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/**
 * Gives each request an id (a UUID the caller sent as `X-Request-Id`, else a new one), answers it
 * in `X-Request-Id`, and writes one line when the answer is sent: method, route template, status,
 * duration, and the migration and run where known. Never the body, the query or a header.
 */
function requestLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const sent = req.get('x-request-id');
    const requestId = sent && UUID.test(sent) ? sent : randomUUID();
    res.locals[REQUEST_LOCALS.requestId] = requestId;
    res.set('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    const migrationId = pathMigrationId(req.path);
    res.on('finish', () => {
      const fields = {
        requestId,
        method: req.method,
        route: routeLabel(req.route, res),
        status: res.statusCode,
        durationMs: Number(process.hrtime.bigint() - started) / 1e6,
        migrationId: res.locals[REQUEST_LOCALS.migrationId] ?? migrationId,
        runId: res.locals[REQUEST_LOCALS.runId],
      };
      if (res.statusCode >= 500) logger.warn?.(fields, 'request answered');
      else logger.info?.(fields, 'request answered');
    });
    next();
  };
}

/** JSON bodies of `/migrations`: a start may carry a change set, so it reads more than the other routes. */
function jsonBody(): RequestHandler {
  const start = express.json({ limit: START_BODY_LIMIT_BYTES });
  const other = express.json({ limit: BODY_LIMIT_BYTES });
  return (req, res, next) => (req.method === 'POST' && req.path === '/' ? start : other)(req, res, next);
}

/**
 * The HTTP API: thin routes over the Temporal client, one error middleware. `/healthz` and
 * `/metrics` are open; `/migrations` authenticates before it reads a body, then each route checks
 * its role. Every request is logged and counted.
 */
export function createApp(deps: AppDeps): Express {
  const app = express();
  const logger = deps.logger ?? createLogger({ service: 'api', level: 'warn' });
  const metrics = deps.metrics ?? createApiMetrics();
  app.disable('x-powered-by');
  app.use(requestLog(logger), metrics.observe);
  app.get('/metrics', metricsHandler(metrics.registry));
  app.get('/healthz', async (_req, res) => {
    try {
      await deps.client.workflowService.getSystemInfo({});
      res.json({ status: 'ok', temporal: 'ok' });
    } catch {
      res.status(503).json({ status: 'unavailable', temporal: 'unreachable' });
    }
  });
  app.use(openApiRoutes(deps)); // GET /openapi.json (open), and 405 for methods a documented path lacks
  app.use('/codec', rememberMount, codecRoutes(deps));
  app.use('/migrations', rememberMount, authenticate(deps.auth), jsonBody(), migrationRoutes(deps));
  app.use((_req, res) => {
    res.status(404).json({ error: 'not_found', message: 'no such route' });
  });
  app.use(errorMiddleware(logger));
  return app;
}

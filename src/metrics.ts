import type { RequestHandler, Response } from 'express';
import { Counter, Histogram, Registry } from 'prom-client';
import type { Client } from '@temporalio/client';
import type { MigrationActivities } from './activities';
import { ApplicationFailure, defaultPayloadConverter, type MetricMeter, type Payload } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import type { PinoLogger } from './logging';
import { errorMessage } from './logging';
import { STEP_HEADER, WORKER_METRICS } from './workflows/telemetry-names';
import { statusKey } from './workflows/search-attributes';
import { RUN_TYPES_CLAUSE } from './workflows/run-types';
import type { MigrationStatus } from './workflows/types';

/** The API's Prometheus registry and the middleware that records every request in it. */
export interface ApiMetrics {
  registry: Registry;
  /** Mount first: counts each request, by route and status, and times it, when its answer is sent. */
  observe: RequestHandler;
}

/** Where a router is mounted (`/migrations`), kept for the route label: Express forgets it when a route fails. */
export const ROUTE_MOUNT_LOCAL = 'routeMount';

/** Mount inside `app.use(path, …)` before a router, so its requests are labelled with the full route. */
export const rememberMount: RequestHandler = (req, res, next) => {
  res.locals[ROUTE_MOUNT_LOCAL] = req.baseUrl;
  next();
};

/** The route template that answered (`/migrations/:id/approve`), or `unmatched`: never a raw path. */
export function routeLabel(route: { path?: unknown } | undefined, res: Response): string {
  if (!route || typeof route.path !== 'string') return 'unmatched';
  const mount = typeof res.locals[ROUTE_MOUNT_LOCAL] === 'string' ? (res.locals[ROUTE_MOUNT_LOCAL] as string) : '';
  return `${mount}${route.path === '/' && mount ? '' : route.path}`;
}

/** A registry of its own per app, so several apps in one process (tests) do not collide. */
export function createApiMetrics(): ApiMetrics {
  const registry = new Registry();
  const requests = new Counter({
    name: 'migrator_api_requests_total',
    help: 'HTTP requests the API answered, by method, route template and status code.',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'migrator_api_request_duration_seconds',
    help: 'Time from a request to its answer, by method and route template.',
    labelNames: ['method', 'route'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  const observe: RequestHandler = (req, res, next) => {
    const stop = latency.startTimer();
    res.on('finish', () => {
      const route = routeLabel(req.route, res);
      requests.inc({ method: req.method, route, status: String(res.statusCode) });
      stop({ method: req.method, route });
    });
    next();
  };
  return { registry, observe };
}

/** `GET /metrics`: the registry in Prometheus' text format. */
export function metricsHandler(registry: Registry): RequestHandler {
  return async (_req, res) => {
    res.set('Content-Type', registry.contentType).send(await registry.metrics());
  };
}

/** The activities that write rows to a target; others report rows too (a plan's totals), which are not copies. */
const COPY_ACTIVITIES: ReadonlySet<string> = new Set(['copyUnits', 'copyUnitRange'] satisfies (keyof MigrationActivities)[]);

/** A copy activity's result: the rows and bytes it wrote; null for any other activity. */
function copiedAmounts(activity: string, result: unknown): { rows: number; bytes: number } | null {
  if (!COPY_ACTIVITIES.has(activity)) return null;
  const { rows, bytes } = (result ?? {}) as { rows?: unknown; bytes?: unknown };
  return typeof rows === 'number' && typeof bytes === 'number' ? { rows, bytes } : null;
}

/** What a failed attempt is counted as: an ApplicationFailure's type, else the error's name. */
export function failureType(err: unknown): string {
  if (err instanceof ApplicationFailure && err.type) return err.type;
  return err instanceof Error ? err.name : 'unknown';
}

/** The step the run was in when it scheduled the activity, from {@link STEP_HEADER}, if it says. */
export function stepOfActivity(headers: Record<string, Payload> | undefined): string | undefined {
  const payload = headers?.[STEP_HEADER];
  if (!payload) return undefined;
  try {
    const step = defaultPayloadConverter.fromPayload(payload);
    return typeof step === 'string' ? step : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Counts what activities do, without touching them: rows and bytes from a copy's result, and
 * each failed attempt by activity and failure type. Logs each attempt's end with its duration.
 */
export function activityMetricsInterceptor(meter: MetricMeter): ActivityInterceptorsFactory {
  const rows = meter.createCounter(WORKER_METRICS.rowsCopied, 'rows', 'Rows written to targets by copy activities.');
  const bytes = meter.createCounter(WORKER_METRICS.bytesCopied, 'bytes', 'Uncompressed bytes written to targets by copy activities.');
  const failures = meter.createCounter(WORKER_METRICS.activityFailures, 'attempts', 'Failed activity attempts, by activity and failure type.');
  return (ctx) => ({
    inbound: {
      async execute(input, next) {
        const activity = ctx.info.activityType;
        const step = stepOfActivity(input.headers);
        const started = Date.now();
        try {
          const result = await next(input);
          const copied = copiedAmounts(activity, result);
          if (copied) {
            rows.add(copied.rows, { activity });
            bytes.add(copied.bytes, { activity });
          }
          ctx.log.info('activity completed', { step, durationMs: Date.now() - started, ...copied });
          return result;
        } catch (err) {
          failures.add(1, { activity, failure_type: failureType(err) });
          ctx.log.warn('activity attempt failed', { step, durationMs: Date.now() - started, failureType: failureType(err), error: errorMessage(err) });
          throw err;
        }
      },
    },
  });
}

/** The visibility query of the runs waiting for an approval. */
export const AWAITING_APPROVAL_QUERY = `${RUN_TYPES_CLAUSE} AND ExecutionStatus = 'Running' AND ${statusKey.name} = '${'awaiting_approval' satisfies MigrationStatus}'`;

/**
 * Sets the gauge of runs waiting for approval from a visibility count, now and every
 * `intervalMs`; returns a function that stops it. A count that fails leaves the last value.
 */
export function refreshAwaitingApproval(client: Client, meter: MetricMeter, intervalMs: number, logger: PinoLogger): () => void {
  const gauge = meter.createGauge(WORKER_METRICS.awaitingApproval, 'int', 'runs', 'Open migrations waiting for an approval (a visibility count).');
  const refresh = () =>
    client.workflow.count(AWAITING_APPROVAL_QUERY).then(
      ({ count }) => gauge.set(count),
      (err: unknown) => logger.warn({ error: errorMessage(err) }, 'could not count the runs waiting for approval'),
    );
  void refresh();
  const timer = setInterval(() => void refresh(), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

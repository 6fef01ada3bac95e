import { randomUUID } from 'node:crypto';
import type { ErrorRequestHandler } from 'express';
import { isGrpcServiceError, QueryNotRegisteredError, WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { ErrorBody } from './responses';
import { REQUEST_LOCALS } from '../logging';
import { routeLabel } from '../metrics';
import { ForbiddenError, FourEyesError, InvalidRequestError, MigrationNotFoundError, MigrationStateConflictError, UnauthorizedError } from '../errors';

/** What the API logs through: a pino logger (src/logging.ts), or anything with its shape. */
export interface Logger {
  error(fields: Record<string, unknown>, message: string): void;
  warn?(fields: Record<string, unknown>, message: string): void;
  info?(fields: Record<string, unknown>, message: string): void;
}


/** How an error is answered: status, JSON body (as the OpenAPI document describes it), and headers where the status needs some. */
export interface ErrorAnswer {
  status: number;
  body: ErrorBody;
  headers?: Record<string, string>;
}

/** RFC 6750: a 401 names the scheme; an unknown token is `invalid_token`. */
function unauthorized(err: UnauthorizedError): ErrorAnswer {
  const challenge = `Bearer realm="clickhouse-migrator"${err.reason === 'unknown' ? ', error="invalid_token"' : ''}`;
  return { status: 401, body: { error: 'unauthorized', message: err.message }, headers: { 'WWW-Authenticate': challenge } };
}

/** Answers for authentication and authorisation errors, or null. */
function describeAuthError(err: unknown): ErrorAnswer | null {
  if (err instanceof UnauthorizedError) return unauthorized(err);
  if (err instanceof ForbiddenError) return { status: 403, body: { error: 'forbidden', message: err.message, requiredRole: err.requiredRole } };
  if (err instanceof FourEyesError) return { status: 403, body: { error: 'four_eyes', message: err.message, startedBy: err.subject } };
  return null;
}

const GRPC_UNAVAILABLE = 14;
const GRPC_DEADLINE_EXCEEDED = 4;

/** The status and JSON body for an error, or null for an unknown one. */
export function describeError(err: unknown): ErrorAnswer | null {
  const auth = describeAuthError(err);
  if (auth) return auth;
  const bodyParser = err as { type?: string; status?: number; message?: string };
  if (bodyParser?.type === 'entity.parse.failed') {
    return { status: 400, body: { error: 'invalid_request', issues: [{ path: '', message: `malformed JSON: ${bodyParser.message}` }] } };
  }
  if (bodyParser?.type === 'entity.too.large') {
    const limit = (err as { limit?: number }).limit;
    return { status: 413, body: { error: 'payload_too_large', message: `the body is larger than ${limit ? `${limit} bytes` : 'this route accepts'}` } };
  }
  if (bodyParser?.type && bodyParser.status && bodyParser.status >= 400 && bodyParser.status < 500) {
    return { status: bodyParser.status, body: { error: 'invalid_request', issues: [{ path: '', message: bodyParser.message ?? 'unreadable body' }] } };
  }
  if (err instanceof InvalidRequestError) return { status: 400, body: { error: 'invalid_request', issues: err.issues } };
  // Express could not percent-decode a path parameter (`/migrations/%E0`).
  if (err instanceof URIError) return { status: 400, body: { error: 'invalid_request', issues: [{ path: 'id', message: 'is not a valid percent-encoded path segment' }] } };
  if (err instanceof MigrationNotFoundError || err instanceof WorkflowNotFoundError) {
    return { status: 404, body: { error: 'not_found', message: err.message } };
  }
  // The id names a workflow of another type (a target lock, the janitor): it has no state query.
  if (err instanceof QueryNotRegisteredError) return { status: 404, body: { error: 'not_found', message: 'no migration with that id' } };
  if (err instanceof WorkflowExecutionAlreadyStartedError) {
    return { status: 409, body: { error: 'conflict', message: `a migration with id "${err.workflowId}" is already running` } };
  }
  if (err instanceof MigrationStateConflictError) return { status: 409, body: { ...err.conflict, message: err.message } };
  // The run's own validator refused the decision (its state changed since the API looked).
  if (err instanceof WorkflowUpdateFailedError) return { status: 409, body: { error: 'decision_refused', message: err.cause?.message ?? err.message } };
  const grpc = grpcCode(err);
  if (grpc === GRPC_UNAVAILABLE) return { status: 503, body: { error: 'temporal_unavailable', message: 'the Temporal server cannot be reached' } };
  if (grpc === GRPC_DEADLINE_EXCEEDED) {
    return { status: 503, body: { error: 'worker_unavailable', message: 'no worker answered in time: is a worker running?' } };
  }
  return null;
}

function grpcCode(err: unknown): number | undefined {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    if (isGrpcServiceError(e)) return e.code;
  }
  return undefined;
}

/** Known errors become JSON with the right status; anything else is a 500 with a request id, logged. */
export function errorMiddleware(logger: Logger): ErrorRequestHandler {
  return (err, req, res, next) => {
    if (res.headersSent) return next(err);
    const known = describeError(err);
    if (known) {
      if (known.headers) res.set(known.headers);
      res.status(known.status).json(known.body);
      return;
    }
    const requestId = typeof res.locals[REQUEST_LOCALS.requestId] === 'string' ? (res.locals[REQUEST_LOCALS.requestId] as string) : randomUUID();
    // Neither the body nor the path is logged: they may hold passwords and tokens (`/codec/t/…`).
    const route = routeLabel(req.route, res);
    const error = err instanceof Error ? err.message : String(err);
    logger.error({ requestId, method: req.method, route, stack: err instanceof Error ? err.stack : undefined }, `request ${requestId} ${req.method} ${route} failed: ${error}`);
    res.status(500).json({ error: 'internal', message: 'an unexpected error occurred', requestId });
  };
}

import pino, { type DestinationStream, type Logger as PinoLogger } from 'pino';
import type { LogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';

export type { PinoLogger };

/** `res.locals` keys the API's request log reads: the request's id, and the run a route started or addressed. */
export const REQUEST_LOCALS = { requestId: 'requestId', migrationId: 'migrationId', runId: 'runId' } as const;

/** Levels `LOG_LEVEL` accepts, most verbose first. */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];

/**
 * Fields the logger replaces with {@link REDACTED} wherever they sit up to three levels deep:
 * passwords, tokens, keys and authorization headers. Redaction is the logger's, so a call that
 * passes a whole endpoint or request by mistake still writes no secret.
 */
const SECRET_FIELDS = ['password', 'token', 'secret', 'authorization', 'cookie', 'apiKey', 'keyring', 'MIGRATOR_SECRET_KEY', 'MIGRATOR_PREVIOUS_SECRET_KEYS'];

/** pino `redact` paths for {@link SECRET_FIELDS}, at the top level and nested up to three levels. */
export const REDACT_PATHS = SECRET_FIELDS.flatMap((field) => [field, `*.${field}`, `*.*.${field}`, `*.*.*.${field}`]);

/** What a redacted value reads as. */
export const REDACTED = '[redacted]';

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** The process: `api` or `worker`; written as `service` on every line. */
  service: string;
  /** @default info */
  level?: LogLevelName;
  /** Where lines go. @default standard output */
  destination?: DestinationStream;
}

/** A JSON logger: one object per line, ISO times, secrets redacted by {@link REDACT_PATHS}. */
export function createLogger(options: LoggerOptions): PinoLogger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: options.service },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT_PATHS, censor: REDACTED },
    },
    options.destination,
  );
}

/** The SDK's names for what our lines call `migrationId`, `runId` and `activity`. */
const TEMPORAL_FIELDS: Record<string, string> = {
  workflowId: 'migrationId',
  workflowRunId: 'runId',
  activityType: 'activity',
};

/**
 * SDK metadata never written: an activity's task token lets its holder complete the activity, and
 * the worker's options (logged at debug when it is created) hold the payload codec and its keys.
 */
const DROPPED_TEMPORAL_FIELDS = new Set(['taskToken', 'options']);

/** Temporal's log metadata with the migrator's field names: a workflow's id is the migration id. */
export function renameTemporalFields(meta: LogMetadata | undefined): Record<string, unknown> {
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(meta ?? {})) {
    if (!DROPPED_TEMPORAL_FIELDS.has(key)) fields[TEMPORAL_FIELDS[key] ?? key] = value;
  }
  return fields;
}

/**
 * The Temporal SDK's logger interface over a pino logger, for `Runtime.install({ logger })`: the
 * SDK's own lines, the workflows' and the activities' (`log` of either package) come out as the
 * migrator's JSON lines, with the same redaction.
 */
export function temporalLogger(logger: PinoLogger): TemporalLogger {
  const write = (level: LogLevel, message: string, meta?: LogMetadata) => {
    logger[level.toLowerCase() as LogLevelName](renameTemporalFields(meta), message);
  };
  return {
    log: write,
    trace: (message, meta) => write('TRACE', message, meta),
    debug: (message, meta) => write('DEBUG', message, meta),
    info: (message, meta) => write('INFO', message, meta),
    warn: (message, meta) => write('WARN', message, meta),
    error: (message, meta) => write('ERROR', message, meta),
  };
}

/** A one-line message for an unknown thrown value. */
export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

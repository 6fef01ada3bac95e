/**
 * The bodies the API answers with, as zod schemas: the OpenAPI document (src/api/openapi.ts) is
 * generated from them, the routes type their answers with them, and the type assertions at the end
 * fail the typecheck when the workflow's state document and its schema part ways.
 */
import { z } from 'zod';
import { ROLES } from '../config';
import type { ChangesState } from '../workflows/changes-types';
import { MIGRATION_STATUSES, STEPS, type MigrationState, type TablesPage } from '../workflows/types';

const step = z.enum(STEPS);
const status = z.enum(MIGRATION_STATUSES);
const timestamp = z.iso.datetime();
const count = z.number().int().min(0);
const failure = z.strictObject({ type: z.string(), message: z.string() });

/** `GET /healthz` when Temporal answers. */
export const healthySchema = z.strictObject({ status: z.literal('ok'), temporal: z.literal('ok') });
/** `GET /healthz` when Temporal does not answer. */
export const unhealthySchema = z.strictObject({ status: z.literal('unavailable'), temporal: z.literal('unreachable') });

/** `POST /migrations`: the run started. */
export const migrationStartedSchema = z.strictObject({
  id: z.string(),
  runId: z.string(),
  status: z.literal('running'),
  links: z.strictObject({
    /** The state document of the run. */
    self: z.string(),
    /** The run in the Temporal Web UI. */
    temporalUi: z.string(),
  }),
});
export type MigrationStarted = z.infer<typeof migrationStartedSchema>;

/** One run of `GET /migrations`. */
export const migrationSummarySchema = z.strictObject({
  id: z.string(),
  runId: z.string(),
  status,
  currentStep: step.nullable(),
  startedAt: timestamp,
  closedAt: timestamp.nullable(),
});
export type MigrationSummary = z.infer<typeof migrationSummarySchema>;

/** `GET /migrations`: the latest runs (at most 100), finished ones included. */
export const migrationListSchema = z.strictObject({ migrations: z.array(migrationSummarySchema).max(100) });

/** `POST /migrations/{id}/cancel`: the run was asked to stop; it rolls the target back. */
export const cancelAcceptedSchema = z.strictObject({ id: z.string(), status: z.literal('cancelling') });
export type CancelAccepted = z.infer<typeof cancelAcceptedSchema>;

const partitionDigest = z.strictObject({ partitionId: z.string(), rows: count, checksum: z.string() });
const decisionVia = z.enum(['update', 'signal']);

/** The document of `GET /migrations/{id}`, and of the answers to approve and reject. */
export const migrationStateSchema = z.strictObject({
  id: z.string(),
  runId: z.string(),
  status,
  currentStep: step.nullable(),
  awaitingApproval: z.strictObject({ step }).nullable(),
  steps: z.array(
    z.strictObject({
      name: step,
      status: z.enum(['pending', 'awaiting_approval', 'running', 'completed', 'failed', 'rejected', 'skipped']),
      startedAt: timestamp.nullable(),
      finishedAt: timestamp.nullable(),
      /** The step's report: backup and configure a target report, validation the plan, migration what it copied and verified. */
      result: z.unknown().optional(),
      error: failure.optional(),
    }),
  ),
  progress: z.strictObject({
    tablesTotal: count,
    tablesDone: count,
    unitsTotal: count,
    unitsDone: count,
    rowsTotal: count,
    rowsCopied: count,
    bytesCopied: count,
  }),
  /** The largest tables that copy in several units, each with what has landed (absent before the copy is planned). */
  tableProgress: z
    .array(z.strictObject({ database: z.string(), table: z.string(), units: count, rows: count, bytes: count, rowsCopied: count, bytesCopied: count }))
    .optional(),
  approvals: z.array(z.strictObject({ step, by: z.string().nullable(), comment: z.string().nullable(), at: timestamp, via: decisionVia })),
  locks: z.array(z.string()),
  lockConflict: z.string().nullable(),
  requestedBy: z.string().nullable(),
  fourEyes: z.boolean(),
  transferPath: z.enum(['server', 'worker']).nullable(),
  ignoredSignals: z.array(z.strictObject({ name: z.string(), step: z.string(), reason: z.string(), at: timestamp })),
  /** How many earlier ignored signals the list above no longer holds (it keeps the latest 20); absent while none. */
  ignoredSignalsDropped: count.optional(),
  rejection: z.strictObject({ step, by: z.string().nullable(), reason: z.string(), at: timestamp, via: decisionVia }).nullable(),
  restorePoint: z
    .strictObject({
      database: z.string(),
      takenAt: timestamp,
      totalRows: count,
      digests: z.array(z.strictObject({ database: z.string(), table: z.string(), partitions: z.array(partitionDigest) })),
    })
    .nullable(),
  rollback: z
    .strictObject({
      dropped: z.array(z.string()),
      restored: z.array(z.strictObject({ database: z.string(), table: z.string(), partitions: count })),
      verified: z.array(
        z.strictObject({
          database: z.string(),
          table: z.string(),
          before: z.array(partitionDigest),
          after: z.array(partitionDigest),
          match: z.boolean(),
          /** What `SELECT … FINAL` reads, for engines that merge rows by their order. */
          final: z.strictObject({ before: z.array(partitionDigest), after: z.array(partitionDigest) }).optional(),
        }),
      ),
      kept: z.array(z.strictObject({ database: z.string(), objects: z.array(z.string()) })).optional(),
      discarded: z
        .array(z.strictObject({ database: z.string(), table: z.string(), partitionId: z.string(), rowsRestored: count, rowsDiscarded: count }))
        .optional(),
      leftovers: z.array(z.string()).optional(),
      /** Totals, in runs whose lists hold only the first entries. */
      counts: z.strictObject({ dropped: count, restored: count, verified: count, matched: count, discarded: count.optional(), leftovers: count.optional() }).optional(),
    })
    .nullable(),
  error: failure.nullable(),
  warnings: z.array(z.string()),
  scope: z
    .strictObject({
      tables: count,
      rows: count,
      bytes: count,
      excluded: count,
      leftOut: z.array(z.strictObject({ database: z.string(), name: z.string(), field: z.enum(['include', 'exclude']), pattern: z.string() })).optional(),
      problems: z.array(z.string()).optional(),
    })
    .optional(),
  waitingForWindow: z.strictObject({ opensAt: z.string() }).nullable().optional(),
  rate: z
    .strictObject({ maxBytesPerSecond: count.nullable(), maxRowsPerSecond: count.nullable(), bytesPerSecond: z.number().nullable(), rowsPerSecond: z.number().nullable() })
    .optional(),
  /** The source's replication during the copy (its largest replica delay and queue) against the largest delay before it; absent without replicated tables. */
  sourceReplication: z
    .strictObject({ baselineMaxDelaySeconds: count.nullable(), maxDelaySecondsDuringCopy: count, maxQueueDuringCopy: count, samples: count })
    .optional(),
});

/** `GET /migrations/{id}/tables`: a page of per-table detail, by database and table name. */
export const tablesPageSchema = z.strictObject({
  tables: z.array(
    z.strictObject({
      database: z.string(),
      table: z.string(),
      rowsCopied: count,
      sourceRows: count.nullable(),
      targetRows: count.nullable(),
      /** The last verification's verdict; null until the table is verified. */
      match: z.boolean().nullable(),
      /** Rows on the source when the run listed its scope, before its first gate. */
      rows: count.optional(),
      /** Bytes on disk on the source when the run listed its scope. */
      bytes: count.optional(),
    }),
  ),
  /** Pass it as `cursor` for the next page; null after the last page. */
  nextCursor: z.string().nullable(),
  /** Tables the run knows of so far. */
  total: count,
});

const message = z.string();

/** 400: the request does not fit its schema; each issue names a field (`""` for the body itself). */
export const invalidRequestSchema = z.strictObject({
  error: z.literal('invalid_request'),
  issues: z.array(z.strictObject({ path: z.string(), message })).min(1),
});
/** 401: no bearer token, or an unknown one. */
export const unauthorizedSchema = z.strictObject({ error: z.literal('unauthorized'), message });
/** 403: the token's subject lacks the role the request needs. */
export const forbiddenSchema = z.strictObject({ error: z.literal('forbidden'), message, requiredRole: z.enum(ROLES) });
/** 403: the subject who started the run may not decide on its steps. */
export const fourEyesSchema = z.strictObject({ error: z.literal('four_eyes'), message, startedBy: z.string() });
/** 404: no migration with that id, or no such route. */
export const notFoundSchema = z.strictObject({ error: z.literal('not_found'), message });
/** 409: a run with that id is open. */
export const conflictSchema = z.strictObject({ error: z.literal('conflict'), message });
/** 409: another open run holds the lock of a target database (`run` is its id, when known). */
export const targetLockedSchema = z.strictObject({ error: z.literal('target_locked'), message, run: z.string().nullable(), lock: z.string() });
/** 409: the run does not wait for the approval of that step; the answer says what it waits for. */
export const notAwaitingApprovalSchema = z.strictObject({
  error: z.literal('not_awaiting_approval'),
  message,
  awaitingApproval: z.strictObject({ step }).nullable(),
  status,
});
/** 409: the run itself refused the decision (its state changed since the API looked). */
export const decisionRefusedSchema = z.strictObject({ error: z.literal('decision_refused'), message });
/** 409: the run has already ended. */
export const notRunningSchema = z.strictObject({ error: z.literal('not_running'), message });
/** 413: the body is larger than the API reads. */
export const payloadTooLargeSchema = z.strictObject({ error: z.literal('payload_too_large'), message });
/** 503: Temporal cannot be reached, or no worker answered a query in time. */
export const unavailableSchema = z.strictObject({ error: z.enum(['temporal_unavailable', 'worker_unavailable']), message });
/** 500: an unexpected error, logged under `requestId`. */
export const internalErrorSchema = z.strictObject({ error: z.literal('internal'), message, requestId: z.uuid() });

/** Every error body the API answers with. */
export const errorBodySchema = z.discriminatedUnion('error', [
  invalidRequestSchema,
  unauthorizedSchema,
  forbiddenSchema,
  fourEyesSchema,
  notFoundSchema,
  conflictSchema,
  targetLockedSchema,
  notAwaitingApprovalSchema,
  decisionRefusedSchema,
  notRunningSchema,
  payloadTooLargeSchema,
  unavailableSchema,
  internalErrorSchema,
]);
export type ErrorBody = z.infer<typeof errorBodySchema>;

/** The state document of a run of schema changes: a transfer's, with the changes' own progress. */
export const changesStateSchema = migrationStateSchema.extend({
  kind: z.literal('changes'),
  changes: z.strictObject({
    database: z.string(),
    versionsTotal: count,
    versionsDone: count,
    /** The statement at work; `sql` shows it with literals that may be credentials masked. */
    current: z
      .strictObject({ version: z.string(), name: z.string(), statement: count, statements: count, sql: z.string(), mutationPartsLeft: count.nullable() })
      .nullable(),
    /** A version left dirty by a failure under `onFailure: "stop"`. */
    stopped: z.strictObject({ version: z.string(), applied: count, statements: count }).nullable(),
  }),
});

/** `true` when A and B are exactly the same type. */
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Assert<T extends true> = T;
/** The state document the workflow returns is exactly what its schema says: the typecheck fails otherwise. */
export type StateSchemaMatchesWorkflow = Assert<Same<z.infer<typeof migrationStateSchema>, MigrationState>>;
/** The same for the pages of the `tables` query. */
export type TablesPageSchemaMatchesWorkflow = Assert<Same<z.infer<typeof tablesPageSchema>, TablesPage>>;
/** The same for the state document of a run of changes. */
export type ChangesStateSchemaMatchesWorkflow = Assert<Same<z.infer<typeof changesStateSchema>, ChangesState>>;

import { z } from 'zod';
import { changeSetProblems, VERSION_PATTERN, type ChangeProblem } from '../changes/change-set';
import { sameOrigin } from '../clickhouse/identity';
import { INTERNAL_PREFIX } from '../clickhouse/scratch';
import { MIGRATION_STATUSES, PASSWORD_REF_PATTERN, STEPS } from '../workflows/types';
import { databaseEntrySchema, modeSchema, patternsSchema, replicationSchema, scheduleSchema, scopeIssues } from './transfer-schemas';
import { TABLES_PAGE_DEFAULT, TABLES_PAGE_MAX } from '../workflows/table-details';

/**
 * A migration id: also the workflow ID, and a path segment of `/migrations/{id}`, so not `.` or
 * `..` (HTTP clients resolve those away, and the run could not be addressed).
 */
export const migrationIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^(?!\.\.?$)[A-Za-z0-9._-]+$/, 'may contain only letters, digits, ".", "_" and "-", and may not be "." or ".."');

const IPV4_OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])';
const IPV4 = `${IPV4_OCTET}(?:\\.${IPV4_OCTET}){3}`;
const H16 = '[0-9A-Fa-f]{1,4}';
const LS32 = `(?:${H16}:${H16}|${IPV4})`;
/** RFC 3986's IPv6address, alternative by alternative. */
const IPV6 = [
  `(?:${H16}:){6}${LS32}`,
  `::(?:${H16}:){5}${LS32}`,
  `(?:${H16})?::(?:${H16}:){4}${LS32}`,
  `(?:(?:${H16}:){0,1}${H16})?::(?:${H16}:){3}${LS32}`,
  `(?:(?:${H16}:){0,2}${H16})?::(?:${H16}:){2}${LS32}`,
  `(?:(?:${H16}:){0,3}${H16})?::${H16}:${LS32}`,
  `(?:(?:${H16}:){0,4}${H16})?::${LS32}`,
  `(?:(?:${H16}:){0,5}${H16})?::${H16}`,
  `(?:(?:${H16}:){0,6}${H16})?::`,
].join('|');
const LABEL = '[A-Za-z0-9_]+(?:-[A-Za-z0-9_]+)*';
/** The last label starts with a letter or `_`, so that a URL parser never reads the host as a number. */
const LAST_LABEL = '[A-Za-z_][A-Za-z0-9_]*(?:-[A-Za-z0-9_]+)*';
/** A host of an endpoint URL: a dotted IPv4 address (no leading zeros), a bracketed IPv6 address, or an ASCII host name. */
export const URL_HOST_SOURCE = `(?:${IPV4}|\\[(?:${IPV6})\\]|(?:${LABEL}\\.)*${LAST_LABEL})`;
/** A port from 1 to 65535, without leading zeros. */
export const URL_PORT_SOURCE = '(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3})';

/**
 * The URL of a source or target: `http` or `https`, a host, an optional port and at most a trailing
 * `/`. One regular expression, which the OpenAPI document states as the field's `pattern`: every
 * string it matches parses (WHATWG URL) to exactly that server, and nothing else is accepted, so a
 * client can check a URL before sending it.
 */
export const ENDPOINT_URL_PATTERN = new RegExp(`^https?://${URL_HOST_SOURCE}(?::${URL_PORT_SOURCE})?/?$`);

/** Why a string is not an endpoint URL, in the words a person needs to fix it. */
function urlProblem(value: unknown): string {
  let url: URL;
  try {
    url = new URL(String(value));
  } catch {
    return 'must be an http or https URL, e.g. http://clickhouse:8123';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must use http or https';
  if (url.username || url.password) return 'must not hold credentials: use the username and password fields';
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) return 'must be the server root, without a path or query';
  return 'must be http(s)://host[:port]/ with a lower-case scheme, a host name, a dotted IPv4 address or a bracketed IPv6 address, and a port from 1 to 65535';
}

const endpointSchema = z
  .strictObject({
    url: z.string().regex(ENDPOINT_URL_PATTERN, { error: (issue) => urlProblem(issue.input) }),
    username: z.string().min(1).max(256).default('default'),
    password: z.string().max(1024).optional(),
    /**
     * The name of a secret the worker resolves (its environment or its secrets directory, see
     * src/activities/password-refs.ts) instead of an inline password: the run never carries it.
     */
    passwordRef: z
      .string()
      .min(1)
      .max(128)
      .regex(PASSWORD_REF_PATTERN, 'may contain only letters, digits, ".", "_" and "-", must start with a letter or digit, and may not end in ".servers", "_servers" or "-servers"')
      .optional(),
    /** The server's native-protocol port, for server-to-server copies. */
    nativePort: z.number().int().min(1).max(65535).optional(),
  })
  .refine((e) => e.password === undefined || e.passwordRef === undefined, {
    path: ['passwordRef'],
    message: 'give either password or passwordRef, not both',
  });

/**
 * A regular expression source that matches `text` literally; with `anyCase`, its ASCII letters in
 * either case (`[Ss][Yy]…`), since JSON Schema patterns have no flags.
 */
export function literalPattern(text: string, anyCase = false): string {
  const escaped = text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  return anyCase ? escaped.replace(/[A-Za-z]/g, (c) => `[${c.toUpperCase()}${c.toLowerCase()}]`) : escaped;
}

const RESERVED_DATABASE = new RegExp(`^${literalPattern(INTERNAL_PREFIX)}`);
const SYSTEM_DATABASE = new RegExp(`^(?:${['system', 'information_schema'].map((name) => literalPattern(name, true)).join('|')})$`);

const databaseNameSchema = z
  .string()
  .min(1)
  .max(255)
  .refine((name) => !RESERVED_DATABASE.test(name), `names starting with ${INTERNAL_PREFIX} are reserved for the migrator`)
  .refine((name) => !SYSTEM_DATABASE.test(name), 'system databases cannot be migrated')
  // The two refinements above, for the OpenAPI document.
  .meta({ not: { anyOf: [{ pattern: RESERVED_DATABASE.source }, { pattern: SYSTEM_DATABASE.source }] } });

/** Body of `POST /migrations`. */
export const startMigrationSchema = z
  .strictObject({
    id: migrationIdSchema.optional(),
    source: endpointSchema,
    target: endpointSchema,
    /** Source databases; an entry `{ "source": "shop", "target": "shop_v2" }` copies one under another name. */
    databases: z.array(databaseEntrySchema(databaseNameSchema)).min(1, 'name at least one database').max(1000).meta({ uniqueItems: true }),
    /** Only tables matching one of these globs on `database.table` (source names) are in scope. */
    include: patternsSchema.optional(),
    /** Tables matching one of these globs on `database.table` (source names) are left out. */
    exclude: patternsSchema.optional(),
    /** `full` (objects and rows), `schema` (objects only) or `data` (rows into tables that exist on the target). */
    mode: modeSchema.default('full'),
    /** When the migration step may run, after its approval: not before a time, and/or within a recurring window. */
    schedule: scheduleSchema.optional(),
    /** Replicated tables: the target's ZooKeeper path template and cluster, and the replica-health limits. */
    replication: replicationSchema.optional(),
    approvals: z.strictObject({ required: z.boolean() }).default({ required: true }),
    options: z
      .strictObject({
        onConflict: z.enum(['fail', 'replace']).default('fail'),
        parallelism: z.number().int().min(1).max(16).default(2),
        syncPasses: z.number().int().min(0).max(10).default(3),
        /**
         * Uncompressed bytes up to which small partitions of a table are copied together by one
         * statement; a larger partition goes alone. Smaller means finer progress and retries. @default 64 MiB
         */
        unitBytes: z.number().int().min(1).max(2 ** 40).optional(),
        /** The most uncompressed bytes per second the copy moves, on either path. */
        maxBytesPerSecond: z.number().int().min(1024).max(2 ** 40).optional(),
        /** The most rows per second the copy moves, on either path. */
        maxRowsPerSecond: z.number().int().min(1).max(2 ** 40).optional(),
      })
      .default({ onConflict: 'fail', parallelism: 2, syncPasses: 3 }),
  })
  .superRefine((body, ctx) => {
    // The cheap check, at once; the run asks the servers themselves too (src/clickhouse/identity.ts).
    if (sameOrigin(body.source.url, body.target.url)) {
      ctx.addIssue({ code: 'custom', path: ['target', 'url'], message: 'must be a different server from the source' });
    }
    for (const issue of scopeIssues(body)) ctx.addIssue({ code: 'custom', ...issue });
  });

export type StartMigrationRequest = z.infer<typeof startMigrationSchema>;

/** The most versions one run of changes takes. */
export const MAX_CHANGES = 10_000;
/** The longest SQL text of one version, in UTF-16 code units (1 MiB of ASCII). */
export const MAX_CHANGE_SQL = 1024 * 1024;

/**
 * The largest body `POST /migrations` reads: room for a change set, yet under the 2 MB that
 * Temporal accepts as a workflow's input (a larger set would fail at the start, past validation).
 * Every other route reads at most {@link BODY_LIMIT_BYTES}.
 */
export const START_BODY_LIMIT_BYTES = 1536 * 1024;
/** The largest body the other routes read. */
export const BODY_LIMIT_BYTES = 64 * 1024;

const changeSchema = z.strictObject({
  version: z.string().max(255).regex(VERSION_PATTERN, 'must be digits, optionally dot-separated (001, 20240101120000, 1.2.3)'),
  name: z.string().min(1).max(255),
  sql: z.string().max(MAX_CHANGE_SQL),
});

/** Why a body with both `source` and `changes` is refused (on `changes`). */
export const TRANSFER_THEN_CHANGES_UNSUPPORTED =
  'a transfer followed by changes (source and databases with changes) is not supported yet: start the transfer, then start the changes with target, database and changes';

/** A refinement runs only on a body of the right shape, so that a field the shape refused is not named twice. */
const onlyWellShaped = { when: (payload: { issues: readonly unknown[] }) => payload.issues.length === 0 };

/**
 * Body of `POST /migrations` for a run of versioned schema changes to one database of the target
 * (no `source`). Beyond the shapes, the change set itself is checked (changeSetProblems): each
 * problem is an issue on `changes.<index>.<field>`.
 */
export const startChangesSchema = z
  .strictObject({
    id: migrationIdSchema.optional(),
    target: endpointSchema,
    database: databaseNameSchema,
    changes: z.array(changeSchema).min(1, 'give at least one version').max(MAX_CHANGES),
    approvals: z.strictObject({ required: z.boolean() }).default({ required: true }),
    options: z
      .strictObject({
        /**
         * What a failed statement does: `rollback` restores every table, `stop` leaves what was
         * applied and records the version dirty, for a later run to resume. @default 'rollback'
         */
        onFailure: z.enum(['rollback', 'stop']).default('rollback'),
      })
      .default({ onFailure: 'rollback' }),
  })
  .superRefine((body, ctx) => {
    let problems: ChangeProblem[];
    try {
      problems = changeSetProblems(body.changes, body.database);
    } catch (err) {
      // A statement the checker cannot read is the request's problem, never a 500.
      ctx.addIssue({ code: 'custom', path: ['changes'], message: `cannot be checked: ${err instanceof Error ? err.message : String(err)}` });
      return;
    }
    for (const problem of problems) {
      ctx.addIssue({ code: 'custom', path: problem.index < 0 ? ['changes'] : ['changes', problem.index, problem.field], message: problem.message });
    }
  }, onlyWellShaped);

export type StartChangesRequest = z.infer<typeof startChangesSchema>;

/**
 * Body of `POST /migrations` as the OpenAPI document states it: exactly one of the two shapes. The
 * route itself tells them apart with {@link startRequestKind}, so that its 400 names the fields of
 * the shape the client meant rather than the issues of both.
 */
export const startRequestSchema = z.xor([startMigrationSchema, startChangesSchema]);

/**
 * Which request a start body is: a transfer names a `source` (and `databases`), a run of changes
 * `changes` (or a single `database`) without a source. Both at once (a transfer followed by
 * changes) is `mixed`, which the API refuses on `changes` ({@link TRANSFER_THEN_CHANGES_UNSUPPORTED}).
 * Anything else counts as a transfer, whose schema then names what is missing.
 */
export function startRequestKind(body: unknown): 'transfer' | 'changes' | 'mixed' {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return 'transfer';
  const transfer = 'source' in body || 'databases' in body;
  if ('changes' in body) return transfer ? 'mixed' : 'changes';
  return !transfer && 'database' in body ? 'changes' : 'transfer';
}

const stepSchema = z.enum(STEPS);

/**
 * `by` is refused rather than ignored: the approver recorded is the authenticated subject, and a
 * client that sends a name should learn that it is not the one recorded.
 */
const noBy = z.never({ error: 'is the authenticated subject: remove this field' }).optional();

/** Body of `POST /migrations/:id/approve`. */
export const approveSchema = z.strictObject({
  step: stepSchema,
  by: noBy,
  comment: z.string().max(2000).optional(),
});

/** Body of `POST /migrations/:id/reject`. */
export const rejectSchema = z.strictObject({
  step: stepSchema,
  by: noBy,
  reason: z.string().min(1).max(2000),
});

/** Body of `POST /migrations/:id/cancel` (optional). */
export const cancelSchema = z.strictObject({ reason: z.string().max(2000).optional() });

/** Query of `GET /migrations/:id/tables`: `cursor` is the `nextCursor` of the previous page. */
export const tablesQuerySchema = z.strictObject({
  cursor: z.string().regex(/^[0-9]{1,9}$/, 'must be the nextCursor of a previous page').optional(),
  limit: z.coerce.number().int().min(1).max(TABLES_PAGE_MAX).default(TABLES_PAGE_DEFAULT),
});

/** Query of `GET /migrations`. */
export const listQuerySchema = z.strictObject({ status: z.enum(MIGRATION_STATUSES).optional() });

import { z } from 'zod';
import { INTERNAL_PREFIX } from '../clickhouse/scratch';
import { MIGRATION_STATUSES, STEPS } from '../workflows/types';

/** A migration id: also the workflow ID. */
export const migrationIdSchema = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9._-]+$/, 'may contain only letters, digits, ".", "_" and "-"');

const endpointSchema = z
  .strictObject({
    url: z
      .string()
      .superRefine((value, ctx) => {
        let url: URL;
        try {
          url = new URL(value);
        } catch {
          ctx.addIssue({ code: 'custom', message: 'must be an http or https URL, e.g. http://clickhouse:8123' });
          return;
        }
        if (url.protocol !== 'http:' && url.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: 'must use http or https' });
        if (url.username || url.password) ctx.addIssue({ code: 'custom', message: 'must not hold credentials: use the username and password fields' });
        if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) {
          ctx.addIssue({ code: 'custom', message: 'must be the server root, without a path or query' });
        }
      }),
    username: z.string().min(1).max(256).default('default'),
    password: z.string().max(1024).optional(),
    /** The server's native-protocol port, for server-to-server copies. */
    nativePort: z.number().int().min(1).max(65535).optional(),
  });

const databaseNameSchema = z
  .string()
  .min(1)
  .max(255)
  .refine((name) => !name.startsWith(INTERNAL_PREFIX), `names starting with ${INTERNAL_PREFIX} are reserved for the migrator`)
  .refine((name) => !['system', 'information_schema'].includes(name.toLowerCase()), 'system databases cannot be migrated');

/** Body of `POST /migrations`. */
export const startMigrationSchema = z
  .strictObject({
    id: migrationIdSchema.optional(),
    source: endpointSchema,
    target: endpointSchema,
    databases: z
      .array(databaseNameSchema)
      .min(1, 'name at least one database')
      .max(1000)
      .refine((names) => new Set(names).size === names.length, 'must not repeat a database'),
    approvals: z.strictObject({ required: z.boolean() }).default({ required: true }),
    options: z
      .strictObject({
        onConflict: z.enum(['fail', 'replace']).default('fail'),
        parallelism: z.number().int().min(1).max(16).default(2),
        syncPasses: z.number().int().min(0).max(10).default(3),
      })
      .default({ onConflict: 'fail', parallelism: 2, syncPasses: 3 }),
  })
  .superRefine((body, ctx) => {
    if (sameServer(body.source.url, body.target.url)) {
      ctx.addIssue({ code: 'custom', path: ['target', 'url'], message: 'must be a different server from the source' });
    }
  });

export type StartMigrationRequest = z.infer<typeof startMigrationSchema>;

function sameServer(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
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

/** Query of `GET /migrations`. */
export const listQuerySchema = z.strictObject({ status: z.enum(MIGRATION_STATUSES).optional() });

import { z } from 'zod';
import { canMatchDatabase } from '../workflows/table-patterns';
import { TRANSFER_MODES, WEEKDAYS, WINDOW_END_POLICIES } from '../workflows/types';

/**
 * The parts of a transfer's start body that choose what moves and when: renames, filters, the
 * mode and the schedule. Their shapes, and the checks across fields that need no server.
 */

/** An entry of `databases`: a name, or a source database copied under another name. */
export function databaseEntrySchema(name: z.ZodType<string>) {
  return z.union([name, z.strictObject({ source: name, target: name })]);
}

/** A glob on `database.table` (`*` any characters, `?` one). */
const patternSchema = z
  .string()
  .min(3)
  .max(512)
  .refine((p) => p.includes('.') || p.includes('*'), 'must be a glob on database.table, such as "demo.events_*" or "*.tmp_*"');

export const patternsSchema = z.array(patternSchema).min(1).max(1000);

export const modeSchema = z.enum(TRANSFER_MODES);

/** Whether `zone` is an IANA time zone this runtime knows. */
function knownTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const windowSchema = z.strictObject({
  days: z
    .array(z.enum(WEEKDAYS))
    .min(1, 'name at least one day')
    .max(7)
    .refine((days) => new Set(days).size === days.length, 'must not repeat a day')
    .meta({ uniqueItems: true }),
  start: z.string().regex(/^(?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9])?$/, 'must be a time of day, HH:MM or HH:MM:SS'),
  durationSeconds: z
    .number()
    .int()
    .min(1, 'must be at least 1: a window of zero length never opens')
    .max(7 * 24 * 3600),
  timeZone: z.string().min(1).max(64).refine(knownTimeZone, 'must be an IANA time zone, such as "UTC" or "Europe/Berlin"'),
});

export const scheduleSchema = z
  .strictObject({
    notBefore: z.iso
      .datetime({ offset: true })
      .refine((at) => Date.parse(at) > Date.now(), 'must be in the future')
      .optional(),
    window: windowSchema.optional(),
    onWindowEnd: z.enum(WINDOW_END_POLICIES).default('pause'),
  })
  .refine((s) => s.notBefore !== undefined || s.window !== undefined, 'give notBefore, window or both')
  .meta({ anyOf: [{ required: ['notBefore'] }, { required: ['window'] }] });

/** The source and target name of each entry of `databases`. */
export function databasePairs(entries: readonly (string | { source: string; target: string })[]): { source: string; target: string }[] {
  return entries.map((entry) => (typeof entry === 'string' ? { source: entry, target: entry } : entry));
}

/**
 * Issues across the fields of a transfer's scope: a source named twice, two sources onto one
 * target, a rename onto a database the same request also copies, and a pattern whose database
 * part names none of the request's databases.
 */
export function scopeIssues(body: {
  databases: readonly (string | { source: string; target: string })[];
  include?: readonly string[];
  exclude?: readonly string[];
}): { path: (string | number)[]; message: string }[] {
  const issues: { path: (string | number)[]; message: string }[] = [];
  const pairs = databasePairs(body.databases);
  const sources = new Map<string, number>();
  const targets = new Map<string, number>();
  pairs.forEach(({ source, target }, i) => {
    const renamed = typeof body.databases[i] !== 'string';
    if (sources.has(source)) issues.push({ path: ['databases', i, ...(renamed ? ['source'] : [])], message: `repeats the source database "${source}" (entry ${sources.get(source)})` });
    else sources.set(source, i);
    if (targets.has(target)) issues.push({ path: ['databases', i, ...(renamed ? ['target'] : [])], message: `writes to the target database "${target}" that entry ${targets.get(target)} writes to: two sources onto one target` });
    else targets.set(target, i);
  });
  pairs.forEach(({ source, target }, i) => {
    if (source === target || typeof body.databases[i] === 'string') return;
    const copied = sources.get(target);
    if (copied !== undefined && copied !== i) issues.push({ path: ['databases', i, 'target'], message: `renames onto "${target}", a database this request also copies (entry ${copied})` });
  });
  for (const field of ['include', 'exclude'] as const) {
    body[field]?.forEach((pattern, i) => {
      // A pattern that is not a glob on database.table has its own issue from the shape.
      if (!pattern.includes('.') && !pattern.includes('*')) return;
      if (!pairs.some(({ source }) => canMatchDatabase(pattern, source))) {
        issues.push({ path: [field, i], message: `matches no table of the databases in this request (${pairs.map((p) => p.source).join(', ')}); patterns name source databases` });
      }
    });
  }
  return issues;
}

/** `replication` of the start body (see `ReplicationOptions` in src/workflows/types.ts). */
export const replicationSchema = z.strictObject({
  /** Template of a target table's ZooKeeper path; `{database}` and `{table}` are required, so that no two tables share a path. */
  zooKeeperPath: z
    .string()
    .max(1000)
    .regex(/^\/[\w{}./-]*$/, 'must be an absolute ZooKeeper path (starting with "/"; letters, digits, "_", "-", ".", "/" and macros in braces)')
    .refine((path) => path.includes('{database}') && path.includes('{table}'), 'must contain {database} and {table}, so that no two tables share a path')
    .optional(),
  /** The target's cluster in its `system.clusters`: objects are created `ON CLUSTER` it. */
  cluster: z.string().min(1).max(255).regex(/^[A-Za-z0-9_.-]+$/, 'must be a cluster name (letters, digits, "_", ".", "-")').optional(),
  maxQueue: z.number().int().min(0).max(1_000_000).optional(),
  maxDelaySeconds: z.number().int().min(0).max(86_400 * 30).optional(),
  syncTimeoutSeconds: z.number().int().min(1).max(86_400).optional(),
});

import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DEFAULT_SECRET_SALT, keyringOf, keySettingIssue, type Keyring } from './secrets';
import { LOG_LEVELS } from './logging';

/** Thrown when the environment does not describe a usable configuration. */
export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid configuration: ${issues.join('; ')}`);
    this.name = 'ConfigError';
  }
}

const port = z.coerce.number().int().min(1).max(65535);

/** A key setting's issue, without the setting: it is a secret. */
function keySetting(setting: string, ctx: z.RefinementCtx): void {
  const issue = keySettingIssue(setting);
  if (issue) ctx.addIssue({ code: 'custom', message: issue });
}

/** Every environment variable the worker and the API read. */
const envSchema = z.object({
  /** Temporal frontend, host:port. @default 127.0.0.1:7233 */
  TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233'),
  /** @default default */
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  /** Base URL of the Temporal Web UI, used to build links. @default http://127.0.0.1:8233 */
  TEMPORAL_UI_URL: z.url().default('http://127.0.0.1:8233'),
  /** Address the API listens on. @default 127.0.0.1 */
  API_HOST: z.string().min(1).default('127.0.0.1'),
  /** @default 3000 */
  API_PORT: port.default(3000),
  /**
   * The active key: the payload codec encrypts every payload of every run under it (src/codec),
   * and ClickHouse passwords are sealed under it, each use with a key of its own derived from it.
   * A raw key (64 hex digits, or `base64:` and 32 bytes) is used as it is; anything else is a
   * passphrase, stretched with scrypt under MIGRATOR_SECRET_SALT. The API, every worker and every
   * client of the deployment must share it. Required: a raw key, or at least 16 characters.
   */
  MIGRATOR_SECRET_KEY: z.string().superRefine(keySetting),
  /**
   * Earlier keys, comma separated, written as MIGRATOR_SECRET_KEY is: they decrypt, never encrypt.
   * To rotate, move the old MIGRATOR_SECRET_KEY here and set a new one, on every process. @default none
   */
  MIGRATOR_PREVIOUS_SECRET_KEYS: z
    .string()
    .default('')
    .transform((list) => list.split(',').map((s) => s.trim()).filter(Boolean))
    .superRefine((keys, ctx) => keys.forEach((k) => keySetting(k, ctx))),
  /**
   * The salt passphrase keys are stretched with. Not secret, but the same on every process of the
   * deployment (they must all derive the same keys); set a value of your own, once, before the
   * first run (changing it later strands the runs made under a passphrase since). Raw keys ignore
   * it. @default clickhouse-migrator
   */
  MIGRATOR_SECRET_SALT: z.string().min(1).default(DEFAULT_SECRET_SALT),
  /**
   * Where a worker resolves an endpoint's `passwordRef`: a file of that name in this directory
   * (as Docker and Kubernetes mount secrets), else the environment variable
   * `MIGRATOR_PASSWORD_<REF>` (upper case, `.` and `-` as `_`). The servers each secret may be
   * sent to: the file `<ref>.servers` here, else `MIGRATOR_PASSWORD_<REF>_SERVERS`; a secret
   * that declares none is sent nowhere (src/activities/password-refs.ts). @default none: the environment only
   */
  MIGRATOR_SECRETS_DIR: z.string().min(1).optional(),
  /**
   * Origins allowed to call the codec endpoint from a browser (the Temporal Web UI), comma
   * separated. @default the origin of TEMPORAL_UI_URL
   */
  MIGRATOR_CODEC_CORS_ORIGINS: z.string().optional(),
  /**
   * A workflow bundle made by `npm run bundle` (src/bundle-workflows.ts). Without it the worker
   * bundles the workflow code at start, which costs time and about 150 MiB of memory it keeps.
   */
  WORKFLOW_BUNDLE_PATH: z.string().min(1).optional(),
  /** Activities one worker runs at once. @default 8 */
  WORKER_MAX_CONCURRENT_ACTIVITIES: z.coerce.number().int().min(1).max(256).default(8),
  /**
   * The API's bearer tokens: a JSON file read at start (see {@link tokensFileSchema}). The API
   * refuses to start without it unless `MIGRATOR_AUTH=off`. The worker does not read it.
   */
  MIGRATOR_TOKENS_FILE: z.string().min(1).optional(),
  /**
   * `off` turns authentication off: every request acts as the subject `anonymous` with the role
   * `admin`, and the API warns at start. Only for a machine of one's own. @default on
   */
  MIGRATOR_AUTH: z.enum(['on', 'off']).default('on'),
  /**
   * `off` lets the subject who started a run approve or reject its steps. @default on
   */
  MIGRATOR_FOUR_EYES: z.enum(['on', 'off']).default('on'),
  /**
   * The ClickHouse servers sources and targets may name: `host:port`, `host:*` or `*`, comma
   * separated (see src/endpoint-allowlist.ts). `npm start` allows loopback only. @default *
   */
  MIGRATOR_ENDPOINT_ALLOWLIST: z.string().default('*'),
  /** Lowest level the JSON logs of the API and the worker write: trace, debug, info, warn or error. @default info */
  LOG_LEVEL: z.enum(LOG_LEVELS).default('info'),
  /**
   * Address the worker's Prometheus endpoint (`/metrics`: the Temporal SDK's metrics and the
   * migrator's own) listens on. @default 127.0.0.1
   */
  WORKER_METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  /** Port of the worker's Prometheus endpoint. @default 9464 */
  WORKER_METRICS_PORT: port.default(9464),
  /** How often a worker counts the runs waiting for approval, for its gauge. @default 15 */
  WORKER_METRICS_REFRESH_SECONDS: z.coerce.number().int().min(1).max(3600).default(15),
});

export type Config = z.infer<typeof envSchema>;

/** The browser origins that may call the codec endpoint: the Web UI's, unless configured. */
export function codecCorsOrigins(config: Pick<Config, 'TEMPORAL_UI_URL'> & Partial<Pick<Config, 'MIGRATOR_CODEC_CORS_ORIGINS'>>): string[] {
  const listed = (config.MIGRATOR_CODEC_CORS_ORIGINS ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return listed.length > 0 ? listed : [new URL(config.TEMPORAL_UI_URL).origin];
}

/** The keyring of the configuration: the active key first, then the previous ones. */
export function keyringOfConfig(config: Pick<Config, 'MIGRATOR_SECRET_KEY'> & Partial<Pick<Config, 'MIGRATOR_PREVIOUS_SECRET_KEYS' | 'MIGRATOR_SECRET_SALT'>>): Keyring {
  return keyringOf(config.MIGRATOR_SECRET_KEY, config.MIGRATOR_PREVIOUS_SECRET_KEYS ?? [], config.MIGRATOR_SECRET_SALT ?? DEFAULT_SECRET_SALT);
}

/** Names of every environment variable the worker and the API read. */
export const CONFIG_KEYS = Object.keys(envSchema.shape) as (keyof Config)[];

/** Parses the environment once, at start-up; every default is documented on {@link envSchema}. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  return parsed.data;
}

/** The API's roles. Only `admin` grants the others; `operator` and `approver` also grant `viewer`. */
export const ROLES = ['viewer', 'operator', 'approver', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** Shortest token the tokens file accepts: a guessable token is no token. */
export const MIN_TOKEN_LENGTH = 24;

/** One entry of the tokens file: a bearer token, who holds it, and what it may do. */
const tokenEntrySchema = z.strictObject({
  token: z.string().min(MIN_TOKEN_LENGTH, `must be at least ${MIN_TOKEN_LENGTH} characters`).regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces'),
  /** Who holds the token: recorded as the approver and as the run's starter. */
  subject: z.string().trim().min(1).max(200),
  roles: z.array(z.enum(ROLES)).min(1, 'name at least one role'),
});

export type TokenEntry = z.infer<typeof tokenEntrySchema>;

/** The file `MIGRATOR_TOKENS_FILE` names: a JSON list of entries, no token twice. */
export const tokensFileSchema = z
  .array(tokenEntrySchema)
  .min(1, 'list at least one token')
  .superRefine((entries, ctx) => {
    const seen = new Set<string>();
    entries.forEach((entry, i) => {
      if (seen.has(entry.token)) ctx.addIssue({ code: 'custom', path: [i, 'token'], message: 'repeats the token of an earlier entry' });
      seen.add(entry.token);
    });
  });

/** How the API authenticates: with the tokens of a file, or not at all. */
export type AuthConfig = { mode: 'tokens'; tokens: TokenEntry[]; fourEyes: boolean } | { mode: 'off'; fourEyes: false };

/**
 * Parses the text of a tokens file. Errors name the entry (with its subject) and the field, and
 * never quote the file: it holds secrets.
 */
export function parseTokensFile(text: string, fileName: string): TokenEntry[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    const at = /position (\d+)/.exec(String(err))?.[1];
    throw new ConfigError([`MIGRATOR_TOKENS_FILE ${fileName}: not valid JSON${at ? ` (at character ${at})` : ''}`]);
  }
  const parsed = tokensFileSchema.safeParse(raw);
  if (parsed.success) return parsed.data;
  throw new ConfigError(parsed.error.issues.map((issue) => `MIGRATOR_TOKENS_FILE ${fileName}: ${tokenIssuePlace(raw, issue.path)}${issue.message}`));
}

function tokenIssuePlace(raw: unknown, path: PropertyKey[]): string {
  if (path.length === 0) return '';
  const [index, ...field] = path;
  const subject = Array.isArray(raw) ? (raw[index as number] as { subject?: unknown } | undefined)?.subject : undefined;
  const who = typeof subject === 'string' ? ` (subject "${subject}")` : '';
  return `entry ${String(index)}${who}${field.length ? `, field ${field.map(String).join('.')}` : ''}: `;
}

/** The API's authentication, from the configuration: reads and checks the tokens file once. */
export function loadAuthConfig(config: Pick<Config, 'MIGRATOR_TOKENS_FILE' | 'MIGRATOR_AUTH' | 'MIGRATOR_FOUR_EYES'>, read = (file: string) => readFileSync(file, 'utf8')): AuthConfig {
  if (config.MIGRATOR_AUTH === 'off') return { mode: 'off', fourEyes: false };
  const file = config.MIGRATOR_TOKENS_FILE;
  if (!file) {
    throw new ConfigError(['MIGRATOR_TOKENS_FILE: required, a JSON list of {token, subject, roles}; set MIGRATOR_AUTH=off to run the API without authentication']);
  }
  let text: string;
  try {
    text = read(file);
  } catch (err) {
    throw new ConfigError([`MIGRATOR_TOKENS_FILE ${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`]);
  }
  return { mode: 'tokens', tokens: parseTokensFile(text, file), fourEyes: config.MIGRATOR_FOUR_EYES === 'on' };
}

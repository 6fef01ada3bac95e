import { z } from 'zod';

/** Thrown when the environment does not describe a usable configuration. */
export class ConfigError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid configuration: ${issues.join('; ')}`);
    this.name = 'ConfigError';
  }
}

const port = z.coerce.number().int().min(1).max(65535);

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
   * Passphrase that seals ClickHouse passwords before they enter workflow history. The API and
   * every worker must share it. Required: at least 16 characters.
   */
  MIGRATOR_SECRET_KEY: z.string().min(16, 'must be at least 16 characters'),
  /**
   * A workflow bundle made by `npm run bundle` (src/bundle-workflows.ts). Without it the worker
   * bundles the workflow code at start, which costs time and about 150 MiB of memory it keeps.
   */
  WORKFLOW_BUNDLE_PATH: z.string().min(1).optional(),
  /** Activities one worker runs at once. @default 8 */
  WORKER_MAX_CONCURRENT_ACTIVITIES: z.coerce.number().int().min(1).max(256).default(8),
});

export type Config = z.infer<typeof envSchema>;

/** Names of every environment variable the worker and the API read. */
export const CONFIG_KEYS = Object.keys(envSchema.shape) as (keyof Config)[];

/** Parses the environment once, at start-up; every default is documented on {@link envSchema}. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(env);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  return parsed.data;
}

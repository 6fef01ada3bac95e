import { appDepsFromConfig, createApp } from './api/app';
import { ConfigError, loadConfig, type AuthConfig } from './config';

/** One line at start on how requests are authenticated: subjects and roles, never tokens. */
function describeAuth(auth: AuthConfig): void {
  if (auth.mode === 'off') {
    console.warn('WARNING: MIGRATOR_AUTH=off: the API does not authenticate; every request acts as "anonymous" with the role admin');
    return;
  }
  const subjects = auth.tokens.map((t) => `${t.subject} (${t.roles.join(', ')})`).join('; ');
  console.log(`authentication: ${auth.tokens.length} bearer tokens: ${subjects}`);
  if (!auth.fourEyes) console.warn('WARNING: MIGRATOR_FOUR_EYES=off: the subject who started a run may approve its steps');
}

async function main(): Promise<void> {
  const config = loadConfig();
  const deps = await appDepsFromConfig(config);
  describeAuth(deps.auth);
  const { client } = deps;
  const app = createApp(deps);
  const server = app.listen(config.API_PORT, config.API_HOST, () => {
    console.log(`API listening on http://${config.API_HOST}:${config.API_PORT}`);
  });
  const shutdown = () => {
    server.close(() => void client.connection.close().finally(() => process.exit(0)));
    setTimeout(() => process.exit(0), 5_000).unref();
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((err) => {
  console.error(err instanceof ConfigError ? err.message : err instanceof Error ? err.message : err);
  process.exit(1);
});

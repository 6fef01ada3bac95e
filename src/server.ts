import { appDepsFromConfig, createApp } from './api/app';
import { ConfigError, loadConfig, type AuthConfig } from './config';
import { createLogger, errorMessage, type PinoLogger } from './logging';

/** One line at start on how requests are authenticated: subjects and roles, never tokens. */
function describeAuth(auth: AuthConfig, logger: PinoLogger): void {
  if (auth.mode === 'off') {
    logger.warn('MIGRATOR_AUTH=off: the API does not authenticate; every request acts as "anonymous" with the role admin');
    return;
  }
  const subjects = auth.tokens.map((t) => `${t.subject} (${t.roles.join(', ')})`).join('; ');
  logger.info({ tokens: auth.tokens.length }, `authentication: ${auth.tokens.length} bearer tokens: ${subjects}`);
  if (!auth.fourEyes) logger.warn('MIGRATOR_FOUR_EYES=off: the subject who started a run may approve its steps');
}

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ service: 'api', level: config.LOG_LEVEL });
  const deps = await appDepsFromConfig(config, { logger });
  describeAuth(deps.auth, logger);
  const { client } = deps;
  const app = createApp(deps);
  const server = app.listen(config.API_PORT, config.API_HOST, () => {
    logger.info({ url: `http://${config.API_HOST}:${config.API_PORT}` }, 'API listening');
  });
  const shutdown = () => {
    server.close(() => void client.connection.close().finally(() => process.exit(0)));
    setTimeout(() => process.exit(0), 5_000).unref();
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((err) => {
  // The configuration may not have loaded: this line is written without the logger.
  const message = err instanceof ConfigError ? err.message : errorMessage(err);
  console.error(JSON.stringify({ level: 'error', service: 'api', time: new Date().toISOString(), msg: message }));
  process.exit(1);
});

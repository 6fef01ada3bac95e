import { createApp } from './api/app';
import { ConfigError, loadConfig } from './config';
import { deriveKey } from './secrets';
import { connectClient } from './temporal';

async function main(): Promise<void> {
  const config = loadConfig();
  const client = await connectClient(config);
  const app = createApp({
    client,
    namespace: config.TEMPORAL_NAMESPACE,
    temporalUiUrl: config.TEMPORAL_UI_URL,
    secretKey: deriveKey(config.MIGRATOR_SECRET_KEY),
  });
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

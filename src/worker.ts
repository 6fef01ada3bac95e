import { loadConfig } from './config';
import { ensureJanitor } from './janitor-schedule';
import { createWorker } from './worker-factory';

async function main(): Promise<void> {
  const { worker, connection, client } = await createWorker(loadConfig());
  console.log(`worker polling task queue ${worker.options.taskQueue}`);
  const running = worker.run();
  await ensureJanitor(client).catch((err: unknown) => console.error(`the janitor could not be scheduled: ${err instanceof Error ? err.message : String(err)}`));
  try {
    await running;
  } finally {
    await Promise.all([connection.close(), client.connection.close()]);
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});

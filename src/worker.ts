import { loadConfig } from './config';
import { createWorker } from './worker-factory';

async function main(): Promise<void> {
  const { worker, connection } = await createWorker(loadConfig());
  console.log(`worker polling task queue ${worker.options.taskQueue}`);
  try {
    await worker.run();
  } finally {
    await connection.close();
  }
}

main().catch((err) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});

import { loadConfig } from './config';
import { ensureJanitor } from './janitor-schedule';
import { createLogger, errorMessage } from './logging';
import { refreshAwaitingApproval } from './metrics';
import { createWorker, installWorkerRuntime } from './worker-factory';

async function main(): Promise<void> {
  const config = loadConfig();
  const logger = createLogger({ service: 'worker', level: config.LOG_LEVEL });
  const { runtime, metricsUrl } = installWorkerRuntime(config, logger);
  const { worker, connection, client } = await createWorker(config);
  logger.info({ taskQueue: worker.options.taskQueue, metrics: metricsUrl }, 'worker polling');
  const stopGauge = refreshAwaitingApproval(client, runtime.metricMeter, config.WORKER_METRICS_REFRESH_SECONDS * 1000, logger);
  const running = worker.run();
  await ensureJanitor(client).catch((err: unknown) => logger.error({ error: errorMessage(err) }, 'the janitor could not be scheduled'));
  try {
    await running;
  } finally {
    stopGauge();
    await Promise.all([connection.close(), client.connection.close()]);
  }
}

main().catch((err) => {
  // The configuration may not have loaded: this line is written without the logger.
  console.error(JSON.stringify({ level: 'error', service: 'worker', time: new Date().toISOString(), msg: errorMessage(err) }));
  process.exit(1);
});

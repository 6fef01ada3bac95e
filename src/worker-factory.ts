import type { Client } from '@temporalio/client';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { parseAllowlist } from './endpoint-allowlist';
import { connectClient } from './temporal';
import { createMigrationActivities, type MigrationActivities } from './activities';
import { keyringOfConfig, type Config } from './config';
import { encryptingDataConverter } from './codec';
import { passwordResolver } from './activities/password-refs';
import { TASK_QUEUE } from './workflows/types';
import { errorMessage, temporalLogger, type PinoLogger } from './logging';
import { activityMetricsInterceptor } from './metrics';
import { STEP_DURATION_BUCKETS, WORKER_METRICS } from './workflows/telemetry-names';

/** The module the worker bundles when no pre-built bundle is given. */
export const WORKFLOWS_PATH = require.resolve('./workflows');

/** Workflow interceptor modules bundled with the workflows: step on logs and activities, step durations. */
export const WORKFLOW_INTERCEPTOR_MODULES = [require.resolve('./workflows/interceptors')];

/** Prometheus export of the SDK's metrics and the migrator's own at WORKER_METRICS_HOST:PORT. */
function prometheusExport(config: Pick<Config, 'WORKER_METRICS_HOST' | 'WORKER_METRICS_PORT'>) {
  return {
    prometheus: {
      bindAddress: `${config.WORKER_METRICS_HOST}:${config.WORKER_METRICS_PORT}`,
      countersTotalSuffix: true,
      useSecondsForDurations: true,
      histogramBucketOverrides: { [WORKER_METRICS.stepDuration]: STEP_DURATION_BUCKETS },
    },
  };
}

/**
 * Installs the process's Temporal runtime, once, before any worker or connection: the SDK's logs
 * (its own, Core's at WARN and above, and those of workflows and activities) go to `logger`, and
 * its metrics, with the migrator's own, to a Prometheus endpoint. A port that is taken costs the
 * metrics, not the migrations: the worker logs an error naming WORKER_METRICS_PORT and runs on.
 */
export function installWorkerRuntime(
  config: Pick<Config, 'WORKER_METRICS_HOST' | 'WORKER_METRICS_PORT'>,
  logger: PinoLogger,
): { runtime: Runtime; metricsUrl: string | null } {
  const options = { logger: temporalLogger(logger), telemetryOptions: { logging: { forward: {}, filter: { core: 'WARN', other: 'ERROR' } } as const } };
  try {
    const runtime = Runtime.install({ ...options, telemetryOptions: { ...options.telemetryOptions, metrics: prometheusExport(config) } });
    return { runtime, metricsUrl: `http://${config.WORKER_METRICS_HOST}:${config.WORKER_METRICS_PORT}/metrics` };
  } catch (err) {
    logger.error(
      { error: errorMessage(err), bindAddress: prometheusExport(config).prometheus.bindAddress },
      'the metrics endpoint could not start: this worker runs without it (set WORKER_METRICS_HOST and WORKER_METRICS_PORT to a free address)',
    );
    return { runtime: Runtime.install(options), metricsUrl: null };
  }
}

/** The longest a heartbeat of an activity waits before it is sent to Temporal. */
const HEARTBEAT_THROTTLE = '2s';

/** A worker for the migration task queue; the caller runs and shuts it down. */
export async function createWorker(
  config: Pick<Config, 'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE' | 'MIGRATOR_SECRET_KEY' | 'WORKER_MAX_CONCURRENT_ACTIVITIES'> &
    Partial<Pick<Config, 'WORKFLOW_BUNDLE_PATH' | 'MIGRATOR_ENDPOINT_ALLOWLIST' | 'MIGRATOR_PREVIOUS_SECRET_KEYS' | 'MIGRATOR_SECRET_SALT' | 'MIGRATOR_SECRETS_DIR'>>,
  /** Wraps the activities before the worker registers them (fault injection in tests). */
  wrapActivities: (activities: MigrationActivities) => MigrationActivities = (activities) => activities,
): Promise<{ worker: Worker; connection: NativeConnection; client: Client }> {
  const connection = await NativeConnection.connect({ address: config.TEMPORAL_ADDRESS });
  // The janitor's activity reads which runs are open and where their targets are.
  const keyring = keyringOfConfig(config);
  const client = await connectClient(config, keyring);
  const worker = await Worker.create({
    connection,
    dataConverter: encryptingDataConverter(keyring),
    namespace: config.TEMPORAL_NAMESPACE,
    taskQueue: TASK_QUEUE,
    // A pre-built bundle carries the workflow interceptors already (src/bundle-workflows.ts).
    ...(config.WORKFLOW_BUNDLE_PATH ? { workflowBundle: { codePath: config.WORKFLOW_BUNDLE_PATH } } : { workflowsPath: WORKFLOWS_PATH }),
    interceptors: {
      activity: [activityMetricsInterceptor(Runtime.instance().metricMeter)],
      ...(config.WORKFLOW_BUNDLE_PATH ? {} : { workflowModules: WORKFLOW_INTERCEPTOR_MODULES }),
    },
    activities: wrapActivities(createMigrationActivities({
        keyring,
        passwords: passwordResolver({ secretsDir: config.MIGRATOR_SECRETS_DIR }),
        temporal: client,
        allowEndpoint: parseAllowlist(config.MIGRATOR_ENDPOINT_ALLOWLIST ?? '*'),
      })),
    maxConcurrentActivityTaskExecutions: config.WORKER_MAX_CONCURRENT_ACTIVITIES,
    // A cancellation reaches an activity with the answer to a heartbeat: heartbeats go out at
    // least every 2 s (not 80 % of the heartbeat timeout), so a cancelled run stops its writes,
    // and can roll back, within seconds.
    maxHeartbeatThrottleInterval: HEARTBEAT_THROTTLE,
  });
  return { worker, connection, client };
}

import type { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { parseAllowlist } from './endpoint-allowlist';
import { connectClient } from './temporal';
import { createMigrationActivities, type MigrationActivities } from './activities';
import { keyringOfConfig, type Config } from './config';
import { encryptingDataConverter } from './codec';
import { passwordResolver } from './activities/password-refs';
import { TASK_QUEUE } from './workflows/types';

/** The module the worker bundles when no pre-built bundle is given. */
export const WORKFLOWS_PATH = require.resolve('./workflows');

/** A worker for the migration task queue; the caller runs and shuts it down. */
export async function createWorker(
  config: Pick<Config, 'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE' | 'MIGRATOR_SECRET_KEY' | 'WORKER_MAX_CONCURRENT_ACTIVITIES'> &
    Partial<Pick<Config, 'WORKFLOW_BUNDLE_PATH' | 'MIGRATOR_ENDPOINT_ALLOWLIST' | 'MIGRATOR_PREVIOUS_SECRET_KEYS' | 'MIGRATOR_SECRETS_DIR'>>,
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
    ...(config.WORKFLOW_BUNDLE_PATH ? { workflowBundle: { codePath: config.WORKFLOW_BUNDLE_PATH } } : { workflowsPath: WORKFLOWS_PATH }),
    activities: wrapActivities(createMigrationActivities({
        keyring,
        passwords: passwordResolver({ secretsDir: config.MIGRATOR_SECRETS_DIR }),
        temporal: client,
        allowEndpoint: parseAllowlist(config.MIGRATOR_ENDPOINT_ALLOWLIST ?? '*'),
      })),
    maxConcurrentActivityTaskExecutions: config.WORKER_MAX_CONCURRENT_ACTIVITIES,
  });
  return { worker, connection, client };
}

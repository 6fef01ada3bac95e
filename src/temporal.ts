import { Connection, Client, type WorkflowExecutionInfo } from '@temporalio/client';
import { statusKey } from './workflows/search-attributes';
import type { MigrationStatus } from './workflows/types';
import type { Config } from './config';
import { encryptingDataConverter } from './codec';
import type { Keyring } from './secrets';

/**
 * A Temporal client for the configured frontend and namespace, with the deployment's codec: what
 * it sends is encrypted with the active key, and it reads what any key of the keyring encrypted.
 */
export async function connectClient(config: Pick<Config, 'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE'>, keyring: Keyring): Promise<Client> {
  const connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS });
  return new Client({ connection, namespace: config.TEMPORAL_NAMESPACE, dataConverter: encryptingDataConverter(keyring) });
}

/** The status a list shows: the workflow's own attribute, reconciled with how the execution closed. */
export function listedStatus(info: Pick<WorkflowExecutionInfo, 'status' | 'typedSearchAttributes'>): MigrationStatus {
  const recorded = info.typedSearchAttributes.get(statusKey) as MigrationStatus | undefined;
  switch (info.status.name) {
    case 'RUNNING':
      return recorded ?? 'running';
    case 'COMPLETED':
      return recorded ?? 'completed';
    case 'CANCELLED':
      return recorded && recorded !== 'running' ? recorded : 'cancelled';
    // Terminated or timed-out runs had no chance to clean up: they count as failed.
    case 'TERMINATED':
    case 'TIMED_OUT':
      return 'failed';
    default:
      return recorded && !['running', 'awaiting_approval'].includes(recorded) ? recorded : 'failed';
  }
}

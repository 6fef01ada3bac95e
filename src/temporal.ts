import { Connection, Client, type WorkflowExecutionInfo } from '@temporalio/client';
import { statusKey } from './workflows/search-attributes';
import type { MigrationInput, MigrationStatus } from './workflows/types';
import type { ChangesInput } from './workflows/changes-types';
import type { Config } from './config';
import { encryptingDataConverter } from './codec';
import type { Keyring } from './secrets';
import { markdownText, namedList } from './workflows/markdown';

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

/** `host:port` of an endpoint URL: never its user, password, path or query. */
export function endpointAddress(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}:${parsed.port || (parsed.protocol === 'https:' ? '443' : '80')}`;
}

/** The Web UI's one line for a run: "source → target: databases", addresses only. */
export function runSummary(input: Pick<MigrationInput, 'source' | 'target' | 'databases'>): string {
  return `${endpointAddress(input.source.url)} → ${endpointAddress(input.target.url)}: ${namedList(input.databases.map(markdownText))}`;
}

/** The Web UI's details of a run, as markdown: who started it, where from and to, what, how. No credentials. */
export function runDetails(input: Pick<MigrationInput, 'source' | 'target' | 'databases' | 'approvals' | 'requestedBy' | 'options'>): string {
  const { options } = input;
  const settings = [`on conflict: ${options.onConflict}`, `parallelism: ${options.parallelism}`, `sync passes: ${options.syncPasses}`];
  if (options.unitBytes) settings.push(`unit bytes: ${options.unitBytes}`);
  return [
    `Started by **${markdownText(input.requestedBy ?? 'an unknown subject')}** through the API.`,
    '',
    `- **Source:** ${endpointAddress(input.source.url)}`,
    `- **Target:** ${endpointAddress(input.target.url)}`,
    `- **Databases:** ${input.databases.map(markdownText).join(', ')}`,
    `- **Approvals:** ${approvalGates(input.approvals)}`,
    `- **Options:** ${settings.join(', ')}`,
  ].join('\n');
}

function approvalGates(approvals: MigrationInput['approvals']): string {
  return approvals.required ? `required before each step${approvals.fourEyes === false ? '' : ', never from the starter (four eyes)'}` : 'not required';
}

/** The Web UI's one line for a run of changes: "target/database: versions first…last", addresses only. */
export function changesSummary(input: Pick<ChangesInput, 'target' | 'database' | 'changes'>): string {
  const first = input.changes[0]?.version;
  const last = input.changes[input.changes.length - 1]?.version;
  const versions = first === last ? `version ${markdownText(first ?? '')}` : `versions ${markdownText(first ?? '')}…${markdownText(last ?? '')}`;
  return `changes to ${endpointAddress(input.target.url)}/${markdownText(input.database)}: ${versions}`;
}

/** The Web UI's details of a run of changes, as markdown: who started it, where, which versions, how. No credentials, no SQL. */
export function changesDetails(input: Pick<ChangesInput, 'target' | 'database' | 'changes' | 'approvals' | 'requestedBy' | 'options'>): string {
  return [
    `Started by **${markdownText(input.requestedBy ?? 'an unknown subject')}** through the API.`,
    '',
    `- **Target:** ${endpointAddress(input.target.url)}`,
    `- **Database:** ${markdownText(input.database)}`,
    `- **Versions:** ${input.changes.length} (${input.changes.map((c) => markdownText(c.version)).slice(0, 20).join(', ')}${input.changes.length > 20 ? ', …' : ''})`,
    `- **Approvals:** ${approvalGates(input.approvals)}`,
    `- **On failure:** ${input.options.onFailure}`,
  ].join('\n');
}

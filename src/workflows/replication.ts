import type { MigrationInput, ReplicationOptions } from './types';

/** The replication options of `input`, only where given: a run without them sends its activities what it always did. */
export function replicationOf(input: Pick<MigrationInput, 'replication'>): { replication?: ReplicationOptions } {
  return input.replication ? { replication: input.replication } : {};
}

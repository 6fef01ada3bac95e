import { isCancellation } from '@temporalio/workflow';
import { scan } from './activity-stubs';
import { describeFailure } from './failures';
import { replicationOf } from './replication';
import { filtersOf } from './scope';
import { FAILURE_TYPES, type MigrationInput, type MigrationState, type RangeCopyResult, type ValidationReport } from './types';

/**
 * Checks the replica sets of both sides before the run's first gate (patch `replica-health`):
 * an unhealthy one (read-only, a replica missing, a queue or delay above the limits) fails the
 * run here (`ReplicaSetUnhealthy`), before any lock or restore point, and the API answers the
 * start with a 400 naming the numbers. Any other failure leaves a warning: configure checks again.
 */
export async function checkReplicaHealth(input: MigrationInput, state: MigrationState): Promise<void> {
  const request = {
    source: input.source,
    target: input.target,
    databases: input.databases,
    ...(input.renames ? { renames: input.renames } : {}),
    ...filtersOf(input),
    ...replicationOf(input),
  };
  try {
    await scan.checkReplicaHealth.executeWithOptions({ summary: 'check the replica sets of the source and the target' }, [request]);
  } catch (err) {
    const failure = describeFailure(err);
    if (isCancellation(err) || failure.type === FAILURE_TYPES.replicaSetUnhealthy) throw err;
    state.warnings.push(`the replica sets could not be checked before the first gate (${failure.message}); configure checks them`);
  }
}

/**
 * Adds what a copy activity measured of the source's replication to `state.sourceReplication`
 * (the worst delay and queue over every sample), beside the delay validation measured before the
 * copy. No command: the state only.
 */
export function noteSourceReplication(state: MigrationState, plan: Pick<ValidationReport, 'topology'>, result: Pick<RangeCopyResult, 'sourceReplication'>): void {
  const sample = result.sourceReplication;
  if (!sample) return;
  const seen = state.sourceReplication ?? {
    baselineMaxDelaySeconds: plan.topology ? (plan.topology.replicated.maxDelaySeconds?.value ?? 0) : null,
    maxDelaySecondsDuringCopy: 0,
    maxQueueDuringCopy: 0,
    samples: 0,
  };
  state.sourceReplication = {
    ...seen,
    maxDelaySecondsDuringCopy: Math.max(seen.maxDelaySecondsDuringCopy, sample.maxDelaySeconds),
    maxQueueDuringCopy: Math.max(seen.maxQueueDuringCopy, sample.maxQueue),
    samples: seen.samples + sample.samples,
  };
}

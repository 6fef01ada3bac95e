import { REPLICA_NAMES, type ReplicaOutcome, type ReplicaReport } from './types';

/**
 * One report of the target's replicas from those of several verification pages: the longest
 * wait, and per replica the sums of its pages. Nothing when no page checked replicas.
 */
export function mergeReplicaReports(reports: readonly (ReplicaReport | undefined)[]): ReplicaReport | undefined {
  const present = reports.filter((r): r is ReplicaReport => r !== undefined);
  if (present.length === 0) return undefined;
  const byName = new Map<string, ReplicaOutcome>();
  for (const outcome of present.flatMap((r) => r.replicas)) {
    const sum = byName.get(outcome.replica);
    byName.set(outcome.replica, sum ? addOutcomes(sum, outcome) : { ...outcome });
  }
  const onlyConnected = present.find((r) => r.onlyConnected)?.onlyConnected;
  return { waitedSeconds: Math.max(...present.map((r) => r.waitedSeconds)), ...(onlyConnected ? { onlyConnected } : {}), replicas: [...byName.values()] };
}

function addOutcomes(a: ReplicaOutcome, b: ReplicaOutcome): ReplicaOutcome {
  const names = [...(a.firstMismatched ?? []), ...(b.firstMismatched ?? [])].slice(0, REPLICA_NAMES);
  return { replica: a.replica, tables: a.tables + b.tables, mismatched: a.mismatched + b.mismatched, queue: a.queue + b.queue, ...(names.length > 0 ? { firstMismatched: names } : {}) };
}

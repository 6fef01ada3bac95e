import { mergeReplicaReports } from '../../src/workflows/replica-report';
import { REPLICA_NAMES } from '../../src/workflows/types';

describe('mergeReplicaReports', () => {
  it('when no verification page checked replicas, there is no report', () => {
    expect(mergeReplicaReports([undefined, undefined])).toBeUndefined();
  });

  it('when pages checked replicas, each replica sums its pages, the wait is the longest, and at most a few tables are named', () => {
    const many = Array.from({ length: REPLICA_NAMES }, (_, i) => `db.t${i}`);
    const merged = mergeReplicaReports([
      { waitedSeconds: 2, replicas: [{ replica: 'r1', tables: 500, mismatched: 0, queue: 0 }, { replica: 'r2', tables: 500, mismatched: 3, queue: 0, firstMismatched: many }] },
      undefined,
      { waitedSeconds: 7, onlyConnected: 'no cluster', replicas: [{ replica: 'r2', tables: 20, mismatched: 1, queue: 1, firstMismatched: ['db.last'] }] },
    ]);
    expect(merged).toEqual({
      waitedSeconds: 7,
      onlyConnected: 'no cluster',
      replicas: [
        { replica: 'r1', tables: 500, mismatched: 0, queue: 0 },
        { replica: 'r2', tables: 520, mismatched: 4, queue: 1, firstMismatched: many },
      ],
    });
  });
});

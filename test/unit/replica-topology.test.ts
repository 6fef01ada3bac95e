import { DEFAULT_MAX_DELAY_SECONDS, DEFAULT_MAX_QUEUE, replicaLimitsOf, replicaProblems, summariseTopology, type TopologyFacts } from '../../src/clickhouse/topology-summary';
import type { ClusterHost, LocalReplica, PeerReplica } from '../../src/clickhouse/topology';
import { unhealthyMessage } from '../../src/activities/replica-health';
import { noteSourceReplication } from '../../src/workflows/replica-health';
import { describeSourceReplication } from '../../src/cli/render';
import { DETAIL_LIMIT, type MigrationState } from '../../src/workflows/types';

const replica = (table: string, overrides: Partial<LocalReplica> = {}): LocalReplica => ({
  database: 'db',
  table,
  replica: 'r1',
  zooKeeperPath: `/clickhouse/tables/01/db/${table}`,
  readonly: false,
  queueSize: 0,
  insertsInQueue: 0,
  delaySeconds: 0,
  totalReplicas: 2,
  activeReplicas: 2,
  ...overrides,
});
const peer = (table: string, overrides: Partial<PeerReplica> = {}): PeerReplica => ({ database: 'db', table, replica: 'r2', active: true, queueSize: 0, delaySeconds: 0, ...overrides });
const host = (cluster: string, replicaNum: number, port: number): ClusterHost => ({ cluster, shard: 1, replica: replicaNum, host: '127.0.0.1', port });
const facts = (overrides: Partial<TopologyFacts> = {}): TopologyFacts => ({ hosts: [], macros: {}, replicas: [], peers: [], peersChecked: 0, ...overrides });
const limits = replicaLimitsOf(undefined);

describe('replicaLimitsOf', () => {
  it('when the run names no limits, the defaults apply; a limit it names replaces its default', () => {
    expect(limits).toEqual({ maxQueue: DEFAULT_MAX_QUEUE, maxDelaySeconds: DEFAULT_MAX_DELAY_SECONDS });
    expect(replicaLimitsOf({ maxQueue: 0 })).toEqual({ maxQueue: 0, maxDelaySeconds: 300 });
  });
});

describe('summariseTopology', () => {
  it('when a server has no replicated table and only clusters of itself, it is a single server', () => {
    const topology = summariseTopology(facts({ hosts: [host('default', 1, 9000), host('self', 1, 9000)] }), limits);
    expect(topology.summary).toMatch(/^single server/);
    expect(topology.clusters).toEqual([]);
    expect(topology.singleHostClusters).toBe(2);
    expect(topology.problems).toEqual([]);
  });

  it('when a replica set is healthy, the summary names tables, replicas, clusters and macros, and no problem', () => {
    const topology = summariseTopology(
      facts({ hosts: [host('pair', 1, 9000), host('pair', 2, 9001)], macros: { shard: '01', replica: 'r1' }, replicas: [replica('a'), replica('b', { queueSize: 2, delaySeconds: 1 })], peers: [peer('a')], peersChecked: 2 }),
      limits,
    );
    expect(topology.clusters).toEqual([{ name: 'pair', shards: 1, replicas: 2, hosts: ['127.0.0.1:9000', '127.0.0.1:9001'] }]);
    expect(topology.replicated).toMatchObject({ tables: 2, replicas: 2, readonly: 0, inactive: 0, maxQueue: { value: 2, table: 'db.b', replica: 'r1' }, maxDelaySeconds: { value: 1, table: 'db.b' }, peersChecked: 2 });
    expect(topology.summary).toBe('2 replicated tables (up to 2 replicas each); longest queue 2 (db.b on r1); largest delay 1 s (db.b on r1); cluster pair: 1 shard × 2 replicas; macros {shard}=01 {replica}=r1');
    expect(topology.problems).toEqual([]);
  });

  it('when thousands of tables are replicated, the topology stays bounded and names the worst table', () => {
    const replicas = Array.from({ length: 5000 }, (_, i) => replica(`t${i}`, { readonly: true, queueSize: i }));
    const topology = summariseTopology(facts({ replicas }), limits);
    expect(topology.replicated.tables).toBe(5000);
    expect(topology.replicated.readonly).toBe(5000);
    expect(topology.replicated.maxQueue).toEqual({ value: 4999, table: 'db.t4999', replica: 'r1' });
    expect(topology.problems).toHaveLength(DETAIL_LIMIT + 1);
    expect(topology.problems.at(-1)).toMatch(/^… and \d+ more$/);
  });
});

describe('replicaProblems', () => {
  it('when a replica is read-only, one is down, or a queue or delay is above its limit, each is named with its value and limit', () => {
    const problems = replicaProblems(
      {
        replicas: [replica('ro', { readonly: true }), replica('down', { activeReplicas: 1 }), replica('q', { queueSize: 101 })],
        peers: [peer('down', { active: false }), peer('late', { delaySeconds: 301 })],
      },
      limits,
    );
    expect(problems).toEqual([
      'replica r1 of db.ro is read-only (is_readonly = 1: it lost its ZooKeeper session, or its metadata)',
      'db.down has 1 of 2 replicas active (not active: r2)',
      'replica r1 of db.q has 101 entries in its replication queue, above replication.maxQueue = 100',
      'replica r2 of db.late is 301 s behind (absolute_delay), above replication.maxDelaySeconds = 300',
    ]);
  });

  it('when a value is at its limit, it is no problem', () => {
    expect(replicaProblems({ replicas: [replica('a', { queueSize: 100, delaySeconds: 300 })], peers: [] }, limits)).toEqual([]);
  });
});

describe('unhealthyMessage', () => {
  it('when either side has a problem, the message names the side and the options to change; a healthy pair has none', () => {
    const sick = summariseTopology(facts({ replicas: [replica('a', { queueSize: 3 })] }), { maxQueue: 0, maxDelaySeconds: 300 });
    const well = summariseTopology(facts(), limits);
    expect(unhealthyMessage({ source: sick, target: well })).toMatch(/on the source, replica r1 of db\.a has 3 entries in its replication queue, above replication\.maxQueue = 0.*maxQueue, maxDelaySeconds/);
    expect(unhealthyMessage({ source: well, target: well })).toBeNull();
  });
});

describe('noteSourceReplication', () => {
  it('keeps the worst delay and queue of every copy, beside the baseline validation measured', () => {
    const state = {} as MigrationState;
    const plan = { topology: summariseTopology(facts({ replicas: [replica('a', { delaySeconds: 1 })] }), limits) };
    noteSourceReplication(state, plan, {});
    expect(state.sourceReplication).toBeUndefined();
    noteSourceReplication(state, plan, { sourceReplication: { maxDelaySeconds: 4, maxQueue: 1, samples: 3 } });
    noteSourceReplication(state, plan, { sourceReplication: { maxDelaySeconds: 2, maxQueue: 5, samples: 2 } });
    expect(state.sourceReplication).toEqual({ baselineMaxDelaySeconds: 1, maxDelaySecondsDuringCopy: 4, maxQueueDuringCopy: 5, samples: 5 });
    expect(describeSourceReplication(state.sourceReplication!)).toBe('largest delay 4 s during the copy (before it: 1 s), largest queue 5, 5 samples');
  });
});

/**
 * The migration workflow's contract: names, inputs, step results and the state document.
 * Pure types and constants only, shared by the workflow, the activities, the worker and the API.
 */
import type { ObjectKind } from '../clickhouse/catalog';
import type { PartitionDigest } from '../clickhouse/fingerprint';
import type { ScopeReport } from './scope';

/** Workflow type name. */
export const WORKFLOW_TYPE = 'clickhouseMigration';
/** Workflow type of the janitor, and the id of the Schedule that runs it. */
export const JANITOR_WORKFLOW_TYPE = 'migrationJanitor';
export const JANITOR_SCHEDULE_ID = 'migrator-janitor';

/** What a janitor run did: the targets it swept, what it removed, and what it kept on purpose. */
export interface JanitorReport {
  targets: number;
  removed: string[];
  kept: { object: string; reason: string }[];
  /** Targets no run's credentials reached from this worker (each failure's message, secrets redacted). */
  unreachable: { target: string; reason: string }[];
}
/** Task queue the worker polls. */
export const TASK_QUEUE = 'clickhouse-migrations';
/** Keyword search attribute holding {@link MigrationStatus}. */
export const STATUS_SEARCH_ATTRIBUTE = 'MigrationStatus';
/** Keyword search attribute holding the current {@link StepName}. */
export const STEP_SEARCH_ATTRIBUTE = 'MigrationStep';

/** The steps, in the order they run. */
export const STEPS = ['backup', 'configure', 'validation', 'migration'] as const;
export type StepName = (typeof STEPS)[number];

export const MIGRATION_STATUSES = [
  'running',
  'awaiting_approval',
  'completed',
  'failed',
  'rejected',
  'rolled_back',
  'cancelled',
  /** A rollback whose proof found an object of the run left, or a restored partition that differs: the restore point is kept. */
  'rollback_incomplete',
] as const;
export type MigrationStatus = (typeof MIGRATION_STATUSES)[number];

/**
 * The failure types of the migrator, in one list: the `type` of every ApplicationFailure that an
 * activity or the workflow raises. Errors a ClickHouse server answers with carry the server's
 * own name for its error code instead (see `src/clickhouse/errors.ts`).
 */
export const FAILURE_TYPES = {
  targetNotReady: 'TargetNotReady',
  sourceInvalid: 'SourceInvalid',
  trialFailed: 'TrialCopyFailed',
  transferPathUnavailable: 'TransferPathUnavailable',
  verificationFailed: 'VerificationFailed',
  /** A replica of the target did not drain its replication queue, or answer, within `replication.syncTimeoutSeconds`. */
  replicaNotSynced: 'ReplicaNotSynced',
  rollbackIncomplete: 'RollbackIncomplete',
  /** When the migration step starts, the target holds data or objects that configure did not see. */
  targetConflict: 'TargetConflict',
  /** A sealed password whose key this worker lacks (retried: another worker may hold it). */
  secretUnsealFailed: 'SecretUnsealFailed',
  /** A `passwordRef` this worker cannot resolve (retried: another worker may hold it). */
  passwordRefUnresolved: 'PasswordRefUnresolved',
  /** A source or target outside the worker's endpoint allowlist. */
  endpointNotAllowed: 'EndpointNotAllowed',
  /** A `passwordRef` whose secret does not declare the server it would be sent to (or declares none). */
  secretNotForServer: 'SecretNotForServer',
  /** Another open run holds the lock of a target database. */
  targetLocked: 'TargetLocked',
  /** The source and the target are one server (under two names): the server's identity marker says so. */
  sameServer: 'SameServer',
  /** The lock of a target database was terminated while the run held it: the run stops at its next step. */
  lockLost: 'LockLost',
  /** The maintenance window closed while the copy ran, and the run's `onWindowEnd` is `fail`: it rolls back. */
  windowClosed: 'WindowClosed',
  /** The run's manifest on the target holds a row its worker did not sign, or lacks one: the run stops without acting on it. */
  manifestTampered: 'ManifestTampered',
  /** An `include` or `exclude` pattern matches no table or view of the source: the message starts with its field (`exclude[1]`). */
  scopeInvalid: 'ScopeInvalid',
  /** A replica set of the source (tables in scope) or of the target is read-only, missing a replica, or behind the run's limits (`replication`). */
  replicaSetUnhealthy: 'ReplicaSetUnhealthy',
  /** A server did not answer or broke off: retried with backoff. */
  clickhouseUnavailable: 'ClickHouseUnavailable',
  cancelled: 'Cancelled',
  migrationRolledBack: 'MigrationRolledBack',
  migrationFailed: 'MigrationFailed',
} as const;

/**
 * What a `passwordRef` may look like: a file name in a secrets directory and part of an
 * environment variable's name. It may not end in `.servers`, `_servers` or `-servers` (any case):
 * those name where a secret declares its servers (`<ref>.servers`, `MIGRATOR_PASSWORD_<REF>_SERVERS`).
 */
export const PASSWORD_REF_PATTERN = /^(?!.*[._-][Ss][Ee][Rr][Vv][Ee][Rr][Ss]$)[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** A secret sealed with the deployment's key (AES-256-GCM); only workers can open it. */
export interface SealedSecret {
  sealed: string;
}

/** A ClickHouse server as the workflow carries it: the password is sealed. */
export interface EndpointRef {
  url: string;
  username: string;
  password: SealedSecret | null;
  /** The name of a secret each worker resolves itself; the run never carries that password. */
  passwordRef?: string;
  /** Native-protocol port, for server-to-server copies with `remote()`. */
  nativePort?: number;
}

/** What to do when a table in scope already holds data on the target. */
export type ConflictPolicy = 'fail' | 'replace';

export interface MigrationOptions {
  /** @default 'fail' */
  onConflict: ConflictPolicy;
  /** Partitions copied at once. @default 2 */
  parallelism: number;
  /** Verify-and-recopy passes after the bulk copy. @default 3 */
  syncPasses: number;
  /** Uncompressed bytes up to which small partitions of a table are copied together (see `GROUP_BYTES`). */
  unitBytes?: number;
  /** The most bytes (uncompressed) per second the copy may move, on either path; absent for no limit. */
  maxBytesPerSecond?: number;
  /** The most rows per second the copy may move, on either path; absent for no limit. */
  maxRowsPerSecond?: number;
}

/** What a transfer moves: objects and rows (`full`), objects only (`schema`), or rows into tables that exist (`data`). */
export const TRANSFER_MODES = ['full', 'schema', 'data'] as const;
export type TransferMode = (typeof TRANSFER_MODES)[number];

/** What happens to a copy still running when its maintenance window closes. */
export const WINDOW_END_POLICIES = ['pause', 'finish', 'fail'] as const;
export type WindowEndPolicy = (typeof WINDOW_END_POLICIES)[number];

/** The days of a recurring window, as ISO weekday abbreviations. */
export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** A recurring maintenance window: on `days`, from `start` (wall-clock time in `timeZone`) for `durationSeconds`. */
export interface MaintenanceWindow {
  days: Weekday[];
  /** `HH:MM` or `HH:MM:SS`, on the clock of `timeZone`. */
  start: string;
  durationSeconds: number;
  /** An IANA time zone, such as `Europe/Berlin`. */
  timeZone: string;
}

/** When the migration step may run (see src/workflows/window.ts). */
export interface MigrationSchedule {
  /** An ISO time before which the migration step does not start. */
  notBefore?: string;
  window?: MaintenanceWindow;
  /** @default 'pause' */
  onWindowEnd?: WindowEndPolicy;
}

/**
 * How a run treats replicated tables and replica sets (see docs/replication.md). Every field has
 * a default, so a run without it still gives each replicated table a ZooKeeper path of the target's.
 */
export interface ReplicationOptions {
  /**
   * Template of a target table's ZooKeeper path: the run puts in `{database}` and `{table}`, each
   * target server its own macros (`{shard}`). @default the template the target's replicated
   * tables follow, else `/clickhouse/tables/{shard}/{database}/{table}`
   */
  zooKeeperPath?: string;
  /**
   * The target's cluster (`system.clusters`): objects are created and dropped `ON CLUSTER` it, and
   * Distributed tables are recreated to read it. @default none: the target server alone
   */
  cluster?: string;
  /** A replica set is refused when a replica's replication queue holds more entries. @default 100 */
  maxQueue?: number;
  /** A replica set is refused when a replica is more seconds behind (`absolute_delay`). @default 300 */
  maxDelaySeconds?: number;
  /** How long verification waits for the target's replicas to catch up. @default 300 */
  syncTimeoutSeconds?: number;
}

/** The workflow's input. */
export interface MigrationInput {
  id: string;
  source: EndpointRef;
  target: EndpointRef;
  databases: string[];
  approvals: {
    required: boolean;
    /**
     * Four eyes: the subject who started the run may not approve or reject its steps.
     * @default true
     */
    fourEyes?: boolean;
  };
  /** The authenticated subject who started the run; absent when it was started outside the API. */
  requestedBy?: string;
  options: MigrationOptions;
  /**
   * Source databases copied under another name: source name → target name. A database not named
   * here keeps its name. `databases` always holds the source names.
   */
  renames?: Record<string, string>;
  /** Glob patterns on `database.table` (source names): only matching tables are in scope. Absent for every table. */
  include?: string[];
  /** Glob patterns on `database.table` (source names): matching tables are left out. */
  exclude?: string[];
  /** @default 'full' */
  mode?: TransferMode;
  /** When the migration step may run; absent for as soon as it is approved. */
  schedule?: MigrationSchedule;
  /** Replicated tables and replica sets; absent for the defaults. */
  replication?: ReplicationOptions;
}

/** Payload of the `approve` signal: authorises `step` to run. */
export interface ApprovePayload {
  step: StepName;
  by?: string;
  comment?: string;
}

/** Payload of the `reject` signal: ends the run as `rejected`. */
export interface RejectPayload {
  step: StepName;
  by?: string;
  reason: string;
}

/** A table captured in a restore point. */
export interface RestorePointTable {
  database: string;
  name: string;
  kind: ObjectKind;
  /** Name of the copy inside the restore-point database; absent for views (DDL only). */
  snapshotTable?: string;
  createTableQuery: string;
  /** Rows per partition at the time of the restore point (from `system.parts`, or a count). */
  partitions: { partitionId: string; rows: number }[];
}

/**
 * The backup step's result: enough to put every in-scope object back as it was. Its tables are in
 * the run's manifest on the target (runs started before the manifest carry them here, in `tables`).
 */
export interface RestorePoint {
  database: string;
  takenAt: string;
  /** In-scope databases that already existed on the target. */
  existingDatabases: string[];
  /** The captured tables, for runs that predate the manifest. */
  tables?: RestorePointTable[];
  /** How many tables the restore point captured. */
  tableCount?: number;
  totalRows: number;
}

/** Per-partition counts and checksums of a restore point's tables, recorded before the migration. */
export type RestorePointDigests = { database: string; table: string; partitions: PartitionDigest[] }[];

export interface TableConflict {
  database: string;
  table: string;
  rows: number;
  sameSchema: boolean;
}

/**
 * A side's replication as its server sees it, bounded whatever the number of tables (see
 * src/clickhouse/topology-summary.ts): its clusters of other servers, macros, replicated tables
 * counted with the worst queue and delay, and what is above the run's limits.
 */
export interface ReplicaTopology {
  /** One line: `single server …`, or the replicated tables, the worst values, clusters and macros. */
  summary: string;
  /** Clusters of more than one host (the first {@link DETAIL_LIMIT}), each with its first hosts. */
  clusters: { name: string; shards: number; replicas: number; hosts: string[] }[];
  /** Clusters of one host: the server alone. */
  singleHostClusters: number;
  macros: Record<string, string>;
  replicated: {
    tables: number;
    readonly: number;
    /** Tables with fewer active replicas than replicas. */
    inactive: number;
    /** Replicas per table, at most. */
    replicas: number;
    maxQueue: { value: number; table: string; replica: string } | null;
    maxDelaySeconds: { value: number; table: string; replica: string } | null;
    /** Tables whose other replicas were read from ZooKeeper (the first ones, when there are many). */
    peersChecked: number;
  };
  /** What is above the limits (the first {@link DETAIL_LIMIT}): a run refuses to start on any. */
  problems: string[];
}

/** The configure step's report on the target. */
export interface TargetReport {
  version: string;
  capabilities: {
    systemDisks: boolean;
    remote: boolean;
    remoteSecure: boolean;
    maxInsertThreads: boolean;
    /** The target user may send `log_queries=0` with a statement: server-to-server copies stay out of its query log. */
    unloggedStatements?: boolean;
  };
  /** What is in scope and what the filters leave out (see src/activities/scope-report.ts); absent in runs from before. */
  scope?: ScopeReport;
  /**
   * How the run creates replicated tables on the target: the ZooKeeper path template (the run's
   * option, the one the target's replicated tables follow, or the default), and the cluster
   * objects are created `ON CLUSTER` (absent: the target server alone). Absent in runs from before.
   */
  replication?: { zooKeeperPath: string; from: 'option' | 'target' | 'default'; cluster?: string };
  /** The backup step's rehearsal of the restore point (tables and rows it captured), and when the real one is taken. */
  restorePoint: { tables: number; rows: number; takenAt: string } | null;
  /** Version-dependent DDL features the source uses, and whether the target accepted each when probed. */
  ddlFeatures: Record<string, { usedBy: string[]; supported: boolean; detail?: string }>;
  /**
   * The target's answer to creating each object in a scratch database: how many it accepted,
   * the views it could not check before their tables exist, and each refusal in its own words.
   */
  ddl: { accepted: number; deferred: string[]; refused: { object: string; message: string }[] };
  /** Free bytes, or "unknown" where the server cannot tell (before 19.15). */
  freeBytes: number | 'unknown';
  requiredBytes: number;
  conflicts: TableConflict[];
  /** The replication of the target, and of the source (both re-checked against the limits); absent in runs from before. */
  topology?: { target: ReplicaTopology; source: ReplicaTopology };
  /** Things that block the migration; configure fails when this is not empty. */
  problems: string[];
  warnings: string[];
}

/** One object the migration will create, in creation order. */
export interface PlannedObject {
  /** The database on the target (see src/workflows/database-map.ts). */
  database: string;
  /** The database on the source, where it is renamed (absent: `database`). */
  sourceDatabase?: string;
  name: string;
  engine: string;
  kind: ObjectKind;
  inner: boolean;
  createTableQuery: string;
  rows: number;
  bytesOnDisk: number;
  partitions: number;
}

export type TransferPath = 'server' | 'worker';

/** The validation step's result, and the plan the migration step carries out. */
export interface ValidationReport {
  sourceVersion: string;
  /** The planned objects, for runs that predate the manifest; newer runs keep them in the manifest. */
  objects?: PlannedObject[];
  /** How many objects the plan (in the manifest) holds, views and schema-only tables included. */
  objectCount?: number;
  unsupported: { database: string; name: string; engine: string; reason: string }[];
  totals: { tables: number; views: number; partitions: number; rows: number; bytesOnDisk: number };
  transfer: { path: TransferPath; reason: string };
  /**
   * The trial copy: a few rows of one table per shape (engine and columns) copied into a scratch
   * database and fingerprinted on both sides; `covers` counts the tables those shapes stand for.
   */
  trial: { tables: number; covers?: number; rows: number; database: string; warnings: string[] };
  /** Where the step's time went: inventory and checks, then the trial copy with its fingerprints. */
  timings: { inventoryMs: number; trialMs: number };
  /** The source's replication, its delay the baseline of `state.sourceReplication`; absent in runs from before. */
  topology?: ReplicaTopology;
}

/** One unit of copy: a partition of a partitioned table, or a whole small table (`all`). */
export interface CopyUnit {
  /** The database on the target. */
  database: string;
  /** The database on the source, where it is renamed (absent: `database`). */
  sourceDatabase?: string;
  table: string;
  /** The unit's partition, or the first of its group (`all` for a table without partitions). */
  partitionId: string;
  /** Every partition of a group of small partitions, copied by one statement; absent for one partition. */
  partitionIds?: string[];
  partitioned: boolean;
  rows: number;
  bytes: number;
  /**
   * A condition on the partition key that selects this partition (or group) and lets the source
   * prune parts, such as `(toYYYYMM(d)) = 202401`; without one, the copy selects by `_partition_id`.
   */
  selector?: string;
  /** The unit is every partition the table had when planned: it is copied without a condition. */
  whole?: boolean;
  /**
   * Written straight into the live table, not through staging: the run created the table, and no
   * materialized view reads from it (see `planUnits` in src/activities/copy-plan.ts).
   */
  direct?: boolean;
  /**
   * The table's engine merges rows by their order (see `mergesByOrder` in
   * src/clickhouse/catalog.ts): the unit is copied part by part, in block order, each part's rows
   * as stored, and never directly.
   */
  ordered?: boolean;
  /**
   * The table is replicated (`Replicated*MergeTree`): its staging table is a twin without
   * replication (see `createTwin` in src/clickhouse/table-ops.ts).
   */
  replicated?: boolean;
}

export interface CopyResult {
  rows: number;
  bytes: number;
}

/** Per-table outcome of verification. */
export interface TableVerification {
  database: string;
  table: string;
  sourceRows: number;
  targetRows: number;
  sourceChecksum: string;
  targetChecksum: string;
  /** The rows are equal; for an engine that merges rows by their order, what `SELECT … FINAL` reads is (see `final`). */
  match: boolean;
  /** What `SELECT … FINAL` reads on each side, for a table whose engine merges rows by their order. */
  final?: { sourceRows: number; targetRows: number; sourceChecksum: string; targetChecksum: string; match: boolean };
  /** A `data` run: the target's columns the source lacks, and the rows where each does not hold its default (null: not checkable). */
  extraColumns?: { column: string; differing: number | null }[];
  /** A `schema` run: how the object's structure on the target differs from the source's (rows are not compared). */
  structure?: { differences: string[] };
}

/** What verification found: tables, and the units to copy again. */
export interface VerificationReport {
  tables: TableVerification[];
  mismatched: CopyUnit[];
  /** Target partitions that the source does not have. */
  extra: CopyUnit[];
  /** The target's replicas, checked once every table matched on the connected one. */
  replicas?: ReplicaReport;
}

/**
 * The target's replicas as verification found them once their replication queues drained:
 * counts per replica, never lists, so it stays small for any number of tables.
 */
export interface ReplicaReport {
  /** Seconds verification waited for the queues to drain (the longest wait of its pages). */
  waitedSeconds: number;
  /** Why only the connected replica was checked, when so (no `replication.cluster`, say). */
  onlyConnected?: string;
  replicas: ReplicaOutcome[];
}

/** One replica of the target: its replicated tables of the plan, how many differ from the connected replica, its queue when compared. */
export interface ReplicaOutcome {
  /** The replica's name (`{replica}`), or host:port where it did not answer. */
  replica: string;
  tables: number;
  mismatched: number;
  queue: number;
  /** The first tables that differ ({@link REPLICA_NAMES} at most). */
  firstMismatched?: string[];
}

/** Tables a replica report names at most. */
export const REPLICA_NAMES = 5;

export interface MigrationReport {
  transferPath: TransferPath;
  /** The objects the run created (the first {@link DETAIL_LIMIT} in runs with a manifest; `counts.created` says how many). */
  created: string[];
  copied: CopyResult & { units: number };
  /** Sync passes after the bulk copy: the units that differed and were copied again (first 100 named). */
  resynced: { pass: number; units: number; rows: number; partitions: { database: string; table: string; partitionId: string }[] }[];
  /**
   * Per-table verification; in runs with a manifest, the tables that differ first, then the
   * others, at most {@link DETAIL_LIMIT} of them: every table is served by the `tables` query.
   */
  verification: TableVerification[];
  /** The target's replicas after their queues drained, where the plan has replicated tables. */
  replicas?: ReplicaReport;
  /** How many objects were created, and how many tables were verified and matched. */
  counts?: { created: number; verified: number; matched: number };
  /** Where the step's time went, in workflow time. */
  timings: { schemaMs: number; copyMs: number; verifyAndSyncMs: number };
  skipped: { database: string; name: string; reason: string }[];
}

/**
 * What a rollback did. In runs with a manifest each list holds at most {@link DETAIL_LIMIT}
 * entries (tables that do not match first) and each digest list {@link DIGEST_LIMIT}; `counts`
 * gives the totals.
 */
export interface RollbackReport {
  /** The objects and databases of the run that the rollback dropped. */
  dropped: string[];
  restored: { database: string; table: string; partitions: number }[];
  /** The proof: each restored table's partitions, as recorded at the restore point and as they are after the rollback. */
  verified: {
    database: string;
    table: string;
    before: PartitionDigest[];
    after: PartitionDigest[];
    match: boolean;
    /** What `SELECT … FINAL` reads of the partitions, in the restore point and after, for an engine that merges rows by their order. */
    final?: { before: PartitionDigest[]; after: PartitionDigest[] };
  }[];
  /** Databases the run created that the rollback kept, because objects of others are in them (named). */
  kept?: { database: string; objects: string[] }[];
  /**
   * The partitions the run had written that the rollback put back, with the rows it put back (as
   * the restore point had them, or as they were just before the run wrote them, when others had
   * written there since the restore point) and the rows it discarded (the run's copy, and whatever
   * others wrote into the partition after the run did).
   */
  discarded?: RollbackDiscard[];
  /** Objects of the run that the proof still found on the target: a rollback with any is incomplete. */
  leftovers?: string[];
  counts?: { dropped: number; restored: number; verified: number; matched: number; discarded?: number; leftovers?: number };
}

/** One partition a rollback put back (see {@link RollbackReport.discarded}). */
export interface RollbackDiscard {
  database: string;
  table: string;
  partitionId: string;
  rowsRestored: number;
  rowsDiscarded: number;
}

/** What a rollback's proof found (see `proveRollback`). */
export interface RollbackProof {
  verified: RollbackReport['verified'];
  leftovers: string[];
  counts: { verified: number; matched: number; leftovers: number };
}

/**
 * One entry of a run's intent (the manifest list `intent`): an object (`name` set) or a
 * database (`name` absent) that the run is about to create, recorded before it creates any.
 */
export interface IntentEntry {
  database: string;
  name?: string;
  /** The cluster it is created `ON CLUSTER` (see `ReplicationOptions.cluster`); a rollback drops it there too. */
  cluster?: string;
}

/**
 * What a rollback undoes: the objects the run created (`db.name`, null when unknown) and the
 * tables it copied into (`tableKey`s; `db.name` in runs before them); or, for a run with a
 * manifest, whether its schema step finished (then the manifest lists what it created) — the
 * tables copied into are the plan's.
 */
export type RollbackScope = { created: string[] | null; tables: string[] } | { manifest: true; schemaCreated: boolean };

/** Entries a list of the state document holds at most; the rest is counted, and served by page where it is per table. */
export const DETAIL_LIMIT = 20;
/** Partition digests the state document holds at most per table. */
export const DIGEST_LIMIT = 100;

/** What the run knows of one table: rows copied, and the verdict of the last verification. */
export interface TableDetail {
  database: string;
  table: string;
  rowsCopied: number;
  sourceRows: number | null;
  targetRows: number | null;
  /** Null until the table is verified. */
  match: boolean | null;
  /** Rows and bytes on disk on the source when the run listed its scope (runs with patch `transfer-scope`). */
  rows?: number;
  bytes?: number;
}

/** What the `tables` query is asked for: a page of at most `limit` tables after `cursor`. */
export interface TablesPageRequest {
  /** Opaque: the `nextCursor` of the previous page; absent for the first page. */
  cursor?: string;
  /** @default 100 */
  limit?: number;
}

/** A page of the `tables` query, by database and table name. */
export interface TablesPage {
  tables: TableDetail[];
  /** The cursor of the next page, or null after the last. */
  nextCursor: string | null;
  total: number;
}

/**
 * The lists of a run's manifest on the target (see `src/activities/manifest.ts`), one table each.
 */
export const MANIFEST_LISTS = {
  /** Every planned object with its DDL, in creation order (`PlannedObject`). */
  objects: 'objects',
  /** The restore point's tables (`RestorePointTable`). */
  restore: 'restore',
  /** The restore point's per-partition digests, one entry per table. */
  digests: 'digests',
  /** The objects the migration created (`db.name`). */
  created: 'created',
  /**
   * What the migration step is about to create (`IntentEntry`), written once, before it creates
   * anything: a rollback drops exactly these, where they exist.
   */
  intent: 'intent',
  /**
   * The partitions the run wrote into tables of its restore point, noted before it wrote each
   * (a flat table, not JSON documents: see `src/activities/journal.ts`).
   */
  journal: 'journal',
  /** The units of the bulk copy (`ManifestUnit`), table by table. */
  units: 'units',
} as const;

/** The manifest list of the units that verification page `page` of pass `pass` found to copy again. */
export function resyncList(pass: number, page: number): string {
  return `${RESYNC_PREFIX}${pass}_${page}`;
}

/** The start of the names of the manifest lists of sync passes (see {@link resyncList}). */
export const RESYNC_PREFIX = 'resync_';

/** A unit of copy as the manifest holds it: `last` marks the last unit of its table. */
export type ManifestUnit = CopyUnit & { last?: boolean };

/** Where a copy activity finds its units: indexes `from` (inclusive) to `to` (exclusive) of a manifest list. */
export interface UnitRange {
  list: string;
  from: number;
  to: number;
}

/** What a copy of a range of units did: totals, the tables it finished, and rows per table. */
export interface RangeCopyResult extends CopyResult {
  units: number;
  tablesDone: number;
  /** Rows (and, from workers that count them, bytes) copied per table. */
  tables: { database: string; table: string; rows: number; bytes?: number }[];
  /** The source's replication while this range copied (replicated tables only; see src/activities/replication-sampler.ts). */
  sourceReplication?: ReplicationSample;
}

/** The worst of the source replicas' delay and queue over a copy's samples. */
export interface ReplicationSample {
  maxDelaySeconds: number;
  maxQueue: number;
  samples: number;
}

/** The plan of the bulk copy, as `planCopyPaged` summarises the manifest's units. */
export interface CopyPlanSummary {
  units: number;
  tables: number;
  rows: number;
  bytes: number;
  /**
   * Where the bulk copy is cut into ranges: the end of each (see `rangeCuts`). Absent in runs
   * planned before ranges were sized by bytes: those cut with `rangesOf`.
   */
  cuts?: number[];
  /** A summary of each range of the bulk copy, in the order of `cuts` (or of `rangesOf`; absent in runs planned before there were summaries). */
  labels?: string[];
  /** The largest tables that copy in more than one unit, at most PROGRESS_TABLES: their progress is followed table by table. */
  largest?: TablePlan[];
}

/** Tables whose progress the state follows one by one, at most (the largest of those copied in several units). */
export const PROGRESS_TABLES = 50;

/** What the plan copies of one table. */
export interface TablePlan {
  database: string;
  table: string;
  units: number;
  rows: number;
  bytes: number;
}

/** A table's copy as it goes: its plan, and what has landed. */
export interface TableProgress extends TablePlan {
  rowsCopied: number;
  bytesCopied: number;
}

/** What one page of verification found: each table's verdict, and the units it listed to copy again. */
export interface VerifyPageResult {
  tables: TableVerification[];
  /** The target's replicas, where the page has replicated tables and they all matched on the connected one. */
  replicas?: ReplicaReport;
  resync: { list: string; units: number; sample: { database: string; table: string; partitionId: string }[] };
}

export type StepStatus = 'pending' | 'awaiting_approval' | 'running' | 'completed' | 'failed' | 'rejected' | 'skipped';

export interface StepState {
  name: StepName;
  status: StepStatus;
  startedAt: string | null;
  finishedAt: string | null;
  result?: unknown;
  error?: { type: string; message: string };
}

export interface Progress {
  tablesTotal: number;
  tablesDone: number;
  /** Units of copy: partitions, or whole small tables. */
  unitsTotal: number;
  unitsDone: number;
  rowsTotal: number;
  rowsCopied: number;
  bytesCopied: number;
}

export interface ApprovalRecord {
  step: StepName;
  by: string | null;
  comment: string | null;
  at: string;
  /** How it arrived: a validated Update (the API), or a signal (the Temporal CLI or Web UI). */
  via: 'update' | 'signal';
}

/** The document the `state` query returns and `GET /migrations/:id` serves. */
export interface MigrationState {
  id: string;
  runId: string;
  status: MigrationStatus;
  currentStep: StepName | null;
  awaitingApproval: null | { step: StepName };
  steps: StepState[];
  progress: Progress;
  /**
   * Progress of the largest tables that copy in several units (see {@link PROGRESS_TABLES}), as
   * their units land; smaller tables land whole, and the `tables` route lists every table.
   */
  tableProgress?: TableProgress[];
  approvals: ApprovalRecord[];
  /** The lock workflows this run holds, one per target database (see `target-lock.ts`). */
  locks: string[];
  /** The lock another open run held when this run tried to take it (the run then failed). */
  lockConflict: string | null;
  /** Who started the run, and whether that subject was barred from approving it (four eyes). */
  requestedBy: string | null;
  fourEyes: boolean;
  transferPath: TransferPath | null;
  /** Signals that were received but did not fit the run's state, and why: the latest 20. */
  ignoredSignals: { name: string; step: string; reason: string; at: string }[];
  /** How many earlier ignored signals `ignoredSignals` no longer lists (absent while none). */
  ignoredSignalsDropped?: number;
  rejection: { step: StepName; by: string | null; reason: string; at: string; via: 'update' | 'signal' } | null;
  /** The restore point and the digests recorded from it, once they are known. */
  restorePoint: { database: string; takenAt: string; totalRows: number; digests: RestorePointDigests } | null;
  rollback: RollbackReport | null;
  error: { type: string; message: string } | null;
  /** Things that went wrong without changing how the run ends, such as a clean-up that failed after verification. */
  warnings: string[];
  /** What is in scope (and left out), known from the first gate on; per-table detail is served by the `tables` query. */
  scope?: {
    tables: number;
    rows: number;
    /** Bytes on disk on the source (compressed), as `system.parts` counts them. */
    bytes: number;
    excluded: number;
    /** The first tables and views left out, each with the field and pattern that left it out. */
    leftOut?: { database: string; name: string; field: 'include' | 'exclude'; pattern: string }[];
    /** Views in scope that read, or write TO, a table left out (the first of them): configure fails on them. */
    problems?: string[];
  };
  /** The approved migration step waits for its maintenance window (or `notBefore`) to open. */
  waitingForWindow?: { opensAt: string } | null;
  /** The configured limits of the copy and what it reached (bytes and rows per second, over the copy so far). */
  rate?: { maxBytesPerSecond: number | null; maxRowsPerSecond: number | null; bytesPerSecond: number | null; rowsPerSecond: number | null };
  /**
   * The source's replication during the copy, which the run never stops nor slows: the largest
   * delay (`absolute_delay`) and queue of its replicas over the samples, against the largest delay
   * when validation measured it (null: the source has no replicated table in scope).
   */
  sourceReplication?: { baselineMaxDelaySeconds: number | null; maxDelaySecondsDuringCopy: number; maxQueueDuringCopy: number; samples: number };
}

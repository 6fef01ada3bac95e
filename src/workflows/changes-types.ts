/**
 * The contract of the second kind of run: versioned schema changes applied to one database of a
 * target. Pure types and constants, shared by the workflow, its activities, the API and the CLI.
 */
import type { EndpointRef, MigrationInput, MigrationState } from './types';

/** One version of a change set: its number, a name, and its SQL text (one or more statements). */
export interface Change {
  version: string;
  name: string;
  sql: string;
}

/** Workflow type name of a run of schema changes. */
export const CHANGES_WORKFLOW_TYPE = 'schemaChanges';

/** The table in the target database that records every version applied to it. */
export const TRACKING_TABLE = 'schema_migrations';

/**
 * Rows per partition that the staging copy takes from each table: enough that a value a change
 * cannot convert is likely among them, few enough that staging a database of thousands of
 * partitions stays minutes, not hours. A table with fewer rows is staged whole.
 */
export const SAMPLE_ROWS_PER_PARTITION = 10_000;

/** The failure types of runs of changes (see `FAILURE_TYPES` for those both kinds share). */
export const CHANGES_FAILURE_TYPES = {
  /** The text of a version already applied has changed since. */
  drift: 'ChangesDrift',
  /** A statement failed on the staging copy: nothing real was changed. */
  stagingFailed: 'ChangeFailedInStaging',
  /** A statement (or the mutation it started) failed on the target. */
  changeFailed: 'ChangeFailed',
} as const;

/** What a run does when a statement fails in its migration step. */
export type ChangesFailurePolicy = 'rollback' | 'stop';

export interface ChangesOptions {
  /**
   * `rollback`: the restore point brings every table back. `stop`: what was applied stays, the
   * failed version is recorded dirty with the statements applied, and a later run resumes after
   * them. A cancellation always rolls back.
   * @default 'rollback'
   */
  onFailure: ChangesFailurePolicy;
}

/** The workflow's input: the versions to apply, in order, to `database` on `target`. */
export interface ChangesInput extends Pick<MigrationInput, 'id' | 'approvals' | 'requestedBy'> {
  target: EndpointRef;
  /** The database the changes apply to; unqualified names resolve to it. */
  database: string;
  changes: Change[];
  options: ChangesOptions;
}

/** A version as the tracking table records it (the latest record of it). */
export interface TrackedVersion {
  version: string;
  name: string;
  checksum: string;
  statementChecksums: string[];
  statementsApplied: number;
  dirty: boolean;
  approvedBy: string;
  runId: string;
  startedAt: string;
  finishedAt: string | null;
}

/** One record of a version's progress. */
export interface TrackingRecord {
  version: string;
  name: string;
  checksum: string;
  statementChecksums: string[];
  applied: number;
  dirty: boolean;
  approvedBy: string;
  runId: string;
  /** Unix seconds. */
  startedAt: number;
  finishedAt: number | null;
}

/** Where a version stands against the tracking table. */
export type VersionStatus = 'applied' | 'pending' | 'resume' | 'drift';

/** What a statement reaches: a table of the database with its size now (null when it does not exist yet). */
export interface TouchedTable {
  table: string;
  rows: number | null;
  bytes: number | null;
}

/** One pending statement, as the plan shows it. */
export interface PlannedStatement {
  /** 1-based, within its version. */
  index: number;
  /**
   * The statement as the plan shows it: literals that may be credentials (`PASSWORD '…'`, the user
   * and password of `remote(…)`) as `'***'`. The statement itself is read from the run's input,
   * and checked against its checksum, by the activity that runs it.
   */
  sql: string;
  kind: string;
  touches: TouchedTable[];
  /** The statement rewrites stored data (`ALTER … UPDATE/DELETE`, a type change), with the bytes it may rewrite. */
  heavy: { reason: string; bytes: number } | null;
}

/** One version of the change set, as the plan sees it. */
export interface PlannedVersion {
  version: string;
  name: string;
  status: VersionStatus;
  /** Statements in the version. */
  statements: number;
  /** The sha256 of the version's text, and of each of its statements, as the tracking table records them. */
  checksum: string;
  statementChecksums: string[];
  /** The first statement to apply (1 for a pending version, N + 1 to resume a dirty one). */
  from: number;
  /** The pending statements (empty for an applied version). */
  pending: PlannedStatement[];
  /** Why the version is drift, when it is. */
  drift?: string;
}

/** A difference between the live schema and the one recorded after the last applied version. */
export interface UntrackedChange {
  object: string;
  column?: string;
  change: 'added' | 'removed' | 'changed';
  detail: string;
}

/** The configure step's plan for a run of changes. */
export interface ChangesPlan {
  version: string;
  database: string;
  /** Whether the tracking table exists yet (the run creates it). */
  tracked: boolean;
  versions: PlannedVersion[];
  pendingVersions: number;
  pendingStatements: number;
  untracked: UntrackedChange[];
  problems: string[];
  warnings: string[];
}

/** The validation step's report: what staging built, loaded and ran. */
export interface StagingReport {
  shadowDatabase: string;
  tables: number;
  sampledRows: number;
  rowsPerPartition: number;
  statements: number;
  /** Objects not built in the shadow (engines with effects outside the database), each with why. */
  notStaged: { object: string; reason: string }[];
}

/** What one applied statement did: the mutations it started, to wait for. */
export interface AppliedStatement {
  mutations: { table: string; mutationId: string }[];
}

/** Mutations still running, with the parts they have left, or the failure of one. */
export interface MutationProgress {
  partsLeft: number;
  running: number;
  failed: { table: string; mutationId: string; reason: string } | null;
  /** The server says why a mutation fails (`latest_fail_reason`, 20.x on); before that, one that keeps failing only stops progressing. */
  failuresKnown?: boolean;
}

/** The migration step's report. */
export interface ChangesReport {
  applied: { version: string; name: string; statements: number; from: number }[];
  statements: number;
}

/** Progress of a run of changes, as the state, the Web UI and `watch` show it. */
export interface ChangesProgress {
  database: string;
  versionsTotal: number;
  versionsDone: number;
  current: { version: string; name: string; statement: number; statements: number; sql: string; mutationPartsLeft: number | null } | null;
  /** A version left dirty by a failure under `onFailure: "stop"`: a later run resumes after `applied`. */
  stopped: { version: string; applied: number; statements: number } | null;
}

/** The state document of a run of changes: the transfer's, with the changes' own progress. */
export interface ChangesState extends MigrationState {
  kind: 'changes';
  changes: ChangesProgress;
}

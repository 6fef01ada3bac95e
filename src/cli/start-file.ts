/**
 * The body of `POST /migrations` from a start file (JSON or YAML, the same shape as the body) and
 * the `start` flags, which override the file. Pure: the caller reads the file and stdin. The API
 * stays the one judge of the body: fields are passed on as given, and its 400 names what is wrong.
 */
import { extname } from 'node:path';
import { parse as parseYaml } from 'yaml';
import type { Change } from '../changes/change-set';
import type { StartRequest } from './api-client';
import { UsageError } from './exit-codes';
import { applyScopeFlags, SCOPE_FLAG_NAMES, type ScopeFlags } from './start-scope';

/** Environment variables a password may come from, so that it stays out of argv and shell history. */
export const PASSWORD_ENV = { source: 'MIGRATOR_SOURCE_PASSWORD', target: 'MIGRATOR_TARGET_PASSWORD' } as const;

export type Side = keyof typeof PASSWORD_ENV;
export const SIDES: readonly Side[] = ['source', 'target'];

/** The `start` flags, named as commander names them (the scope flags: see start-scope.ts). */
export interface StartFlags extends ScopeFlags {
  id?: string;
  sourceUrl?: string;
  sourceUser?: string;
  sourcePassword?: string;
  sourcePasswordStdin?: boolean;
  sourcePasswordRef?: string;
  sourceNativePort?: number;
  targetUrl?: string;
  targetUser?: string;
  targetPassword?: string;
  targetPasswordStdin?: boolean;
  targetPasswordRef?: string;
  targetNativePort?: number;
  /** `--database`, repeated. */
  database?: string[];
  onConflict?: string;
  parallelism?: number;
  syncPasses?: number;
  /** False for `--no-approvals`; absent when the flag was not given. */
  approvalsRequired?: boolean;
  /** `--changes-dir`: the folder the changes were read from (a run of changes, not a transfer). */
  changesDir?: string;
  /** `--on-failure`, for a run of changes. */
  onFailure?: string;
}

export interface StartSources {
  flags: StartFlags;
  /** The parsed start file, if `--file` was given. */
  file?: unknown;
  env: Record<string, string | undefined>;
  /** What stdin held, read only when a `--…-password-stdin` flag asks for it. */
  stdin?: string;
  /** The versions read from `--changes-dir`: the request is then a run of changes to the target. */
  changes?: Change[];
}

export interface BuiltStart {
  body: StartRequest;
  /** Things to tell the user on stderr (a password on the command line). */
  warnings: string[];
}

/** Parses a start file: JSON for `.json`, otherwise YAML (which reads JSON too). */
export function parseStartFile(text: string, path: string): unknown {
  let parsed: unknown;
  try {
    parsed = extname(path).toLowerCase() === '.json' ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new UsageError(`${path} cannot be parsed: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!isRecord(parsed)) throw new UsageError(`${path} must hold a mapping with the fields of the start request (source, target, databases, …)`);
  return parsed;
}

/** Which sides read their password from stdin, in the order their lines come. */
export function stdinSides(flags: StartFlags): Side[] {
  return SIDES.filter((side) => flags[`${side}PasswordStdin`]);
}

/**
 * Splits what stdin held into one password per side that asked for it: the first line for the
 * source, the next for the target. A trailing newline is not part of a password; an empty line
 * is an empty password, but empty stdin (nothing piped in) is a mistake.
 */
export function passwordsFromStdin(text: string, sides: readonly Side[]): Partial<Record<Side, string>> {
  const lines = text === '' ? [] : text.split(/\r?\n/);
  if (lines.length > 1 && lines[lines.length - 1] === '') lines.pop();
  if (lines.length < sides.length) {
    const flags = sides.map((s) => `--${s}-password-stdin`).join(' and ');
    throw new UsageError(`stdin holds ${lines.length} line(s), but ${flags} ${sides.length === 1 ? 'needs one line' : 'need one line each (source first)'}`);
  }
  return Object.fromEntries(sides.map((side, i) => [side, lines[i]]));
}

/** The start flags that only a transfer takes, by the name `--help` shows. */
const TRANSFER_FLAGS: [keyof StartFlags, string][] = [
  ['sourceUrl', '--source-url'],
  ['sourceUser', '--source-user'],
  ['sourcePassword', '--source-password'],
  ['sourcePasswordStdin', '--source-password-stdin'],
  ['sourcePasswordRef', '--source-password-ref'],
  ['sourceNativePort', '--source-native-port'],
  ['onConflict', '--on-conflict'],
  ['parallelism', '--parallelism'],
  ['syncPasses', '--sync-passes'],
  ...SCOPE_FLAG_NAMES,
];

/**
 * Refuses flags that do not fit the kind of start: a transfer's flags with `--changes-dir` (`changes`
 * true), or `--on-failure` without it. The caller checks before it reads the folder or stdin.
 */
export function assertChangesFlags(flags: StartFlags, changes: boolean): void {
  if (!changes) {
    if (flags.onFailure !== undefined) throw new UsageError('--on-failure applies to a run of changes: give --changes-dir too');
    return;
  }
  const given = TRANSFER_FLAGS.filter(([key]) => flags[key] !== undefined && !(Array.isArray(flags[key]) && flags[key].length === 0)).map(([, name]) => name);
  if (given.length > 0) throw new UsageError(`--changes-dir applies changes to the target only: leave out ${given.join(', ')} (a transfer followed by changes is not supported yet)`);
  if (flags.database && flags.database.length > 1) throw new UsageError(`--changes-dir applies to one database, but --database was given ${flags.database.length} times`);
}

/**
 * The start request: the file's fields, each overridden by the flag that names it. With `changes`
 * (read from `--changes-dir`) it is a run of changes to one database of the target, and the flags
 * of a transfer are refused.
 */
export function buildStartRequest(sources: StartSources): BuiltStart {
  const { flags, file, changes } = sources;
  assertChangesFlags(flags, changes !== undefined);
  if (changes === undefined) return buildRequest(sources);
  if (isRecord(file) && ('source' in file || 'databases' in file)) {
    throw new UsageError('--changes-dir applies changes to the target only: the start file holds "source" or "databases" (a transfer followed by changes is not supported yet)');
  }
  // A source password in the environment (left there for transfers) does not make a run of changes a transfer.
  const env = { ...sources.env, [PASSWORD_ENV.source]: undefined };
  const built = buildRequest({ ...sources, env, flags: { ...flags, database: undefined } });
  const body = built.body as Record<string, unknown>;
  if (flags.database?.length === 1) body.database = flags.database[0];
  if (body.database === undefined) throw new UsageError('--changes-dir needs the database the changes apply to: give --database');
  body.changes = changes;
  if (flags.onFailure !== undefined) body.options = { ...(isRecord(body.options) ? body.options : {}), onFailure: flags.onFailure };
  return built;
}

function buildRequest({ flags, file, env, stdin }: StartSources): BuiltStart {
  const body: Record<string, unknown> = file === undefined ? {} : structuredClone(file as Record<string, unknown>);
  const warnings: string[] = [];
  const fromStdin = stdin === undefined ? {} : passwordsFromStdin(stdin, stdinSides(flags));
  for (const side of SIDES) {
    const endpoint = endpointFrom(side, body[side], flags, env, fromStdin[side], warnings);
    if (endpoint !== undefined) body[side] = endpoint;
  }
  if (flags.id !== undefined) body.id = flags.id;
  if (flags.database && flags.database.length > 0) body.databases = flags.database;
  const options = { onConflict: flags.onConflict, parallelism: flags.parallelism, syncPasses: flags.syncPasses };
  if (Object.values(options).some((v) => v !== undefined)) {
    body.options = { ...(isRecord(body.options) ? body.options : {}), ...withoutUndefined(options) };
  }
  if (flags.approvalsRequired !== undefined) body.approvals = { required: flags.approvalsRequired };
  applyScopeFlags(body, flags);
  return { body: body as StartRequest, warnings };
}

function endpointFrom(side: Side, fromFile: unknown, flags: StartFlags, env: StartSources['env'], stdinPassword: string | undefined, warnings: string[]): unknown {
  if (fromFile !== undefined && !isRecord(fromFile)) {
    throw new UsageError(`"${side}" in the start file must be a mapping (url, username, password or passwordRef, nativePort)`);
  }
  const endpoint: Record<string, unknown> = { ...(fromFile ?? {}) };
  const set = (key: string, value: unknown) => {
    if (value !== undefined) endpoint[key] = value;
  };
  set('url', flags[`${side}Url`]);
  set('username', flags[`${side}User`]);
  set('nativePort', flags[`${side}NativePort`]);

  const argv = flags[`${side}Password`];
  const ref = flags[`${side}PasswordRef`];
  const given = [argv !== undefined && `--${side}-password`, stdinPassword !== undefined && `--${side}-password-stdin`, ref !== undefined && `--${side}-password-ref`].filter(Boolean);
  if (given.length > 1) throw new UsageError(`give only one of ${given.join(', ')}`);
  if (argv !== undefined) {
    warnings.push(
      `--${side}-password puts the password into your shell history and the process list; prefer --${side}-password-stdin, ${PASSWORD_ENV[side]} or --${side}-password-ref`,
    );
  }
  const password = argv ?? stdinPassword;
  if (password !== undefined) {
    endpoint.password = password;
    delete endpoint.passwordRef;
  } else if (ref !== undefined) {
    endpoint.passwordRef = ref;
    delete endpoint.password;
  } else if (endpoint.password === undefined && endpoint.passwordRef === undefined && env[PASSWORD_ENV[side]] !== undefined) {
    endpoint.password = env[PASSWORD_ENV[side]];
  }
  return fromFile === undefined && Object.keys(endpoint).length === 0 ? undefined : endpoint;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function withoutUndefined(values: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined));
}

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseServerList, type EndpointAllowlist } from '../endpoint-allowlist';
import { PASSWORD_REF_PATTERN } from '../workflows/types';

/**
 * Where a worker finds the secrets endpoints name by `passwordRef`: the password each holds, and
 * the servers each may be sent to.
 */
export interface PasswordResolver {
  /** The password the secret holds. */
  password(ref: string): string;
  /** The servers the secret declares it may be sent to (see `passwordResolver`). */
  servers(ref: string): EndpointAllowlist;
}

/** Thrown when no secret of that name is on this worker; the message names the reference only. */
export class PasswordRefError extends Error {
  constructor(readonly ref: string) {
    super(`the secret "${ref}" is not on this worker: put it in the file MIGRATOR_SECRETS_DIR/${ref} or in the environment variable ${passwordEnvName(ref)}`);
    this.name = 'PasswordRefError';
  }
}

/**
 * Thrown when a secret may not be sent where a run would send it: it declares no servers, its
 * declaration cannot be read, or the server is not among those it declares. Names the reference
 * and the server, never the password.
 */
export class SecretNotForServerError extends Error {
  constructor(readonly ref: string, message: string) {
    super(message);
    this.name = 'SecretNotForServerError';
  }
}

/** `MIGRATOR_PASSWORD_<REF>`: upper case, every character other than a letter or digit as `_`. */
export function passwordEnvName(ref: string): string {
  return `MIGRATOR_PASSWORD_${ref.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** `MIGRATOR_PASSWORD_<REF>_SERVERS`: where a secret's servers are declared in the environment. */
export function serversEnvName(ref: string): string {
  return `${passwordEnvName(ref)}_SERVERS`;
}

/** The file in the secrets directory that declares a secret's servers. */
export function serversFileName(ref: string): string {
  return `${ref}.servers`;
}

/** Where to declare the servers of `ref`, for messages. */
function declareHow(ref: string): string {
  return `the file MIGRATOR_SECRETS_DIR/${serversFileName(ref)} or the environment variable ${serversEnvName(ref)}`;
}

/**
 * Refuses to send `ref`'s password to `host:port` unless the secret declares that server; `what`
 * says which use it is (e.g. "the source's native port").
 */
export function requireDeclaredServer(servers: EndpointAllowlist, ref: string, host: string, port: number, what: string): void {
  if (servers(host, port)) return;
  throw new SecretNotForServerError(
    ref,
    `the secret "${ref}" may not be sent to ${host}:${port} (${what}): it is declared for other servers only. ` +
      `If it may go there, add ${host}:${port} to ${declareHow(ref)}`,
  );
}

/**
 * Reads the secrets endpoints name by `passwordRef`, at each use, so a secret replaced on disk is
 * picked up without a restart.
 *
 * The password: the file of that name in the secrets directory (one trailing newline dropped),
 * else its environment variable. The reference pattern has no `/` and cannot start with a dot,
 * so it never leaves the directory.
 *
 * The servers it may be sent to: the file `<ref>.servers` beside it (`host:port` or `host:*`, one
 * a line or comma separated, `#` starts a comment), else `MIGRATOR_PASSWORD_<REF>_SERVERS` (comma
 * separated). A bare `*` is refused: whoever may start a run could then have the secret sent to a
 * server of their own. A secret that declares none is sent nowhere (and one this worker lacks
 * altogether is reported as missing, as `password` reports it). No reference ends in
 * `.servers` (nor `_servers`, `-servers`: see PASSWORD_REF_PATTERN), so no declaration is ever
 * read as a password.
 */
export function passwordResolver(options: { secretsDir?: string; env?: NodeJS.ProcessEnv }): PasswordResolver {
  const env = options.env ?? process.env;
  const fromDir = (name: string, ref: string): string | undefined => {
    if (!options.secretsDir) return undefined;
    try {
      return readFileSync(join(options.secretsDir, name), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new PasswordRefError(ref);
    }
  };
  const password = (ref: string): string => {
    if (!PASSWORD_REF_PATTERN.test(ref)) throw new PasswordRefError(ref);
    const value = fromDir(ref, ref)?.replace(/\r?\n$/, '') ?? env[passwordEnvName(ref)];
    if (value === undefined) throw new PasswordRefError(ref);
    return value;
  };
  return {
    password,
    servers(ref) {
      if (!PASSWORD_REF_PATTERN.test(ref)) throw new PasswordRefError(ref);
      const file = fromDir(serversFileName(ref), ref);
      const [where, list] =
        file === undefined
          ? [serversEnvName(ref), env[serversEnvName(ref)] ?? '']
          : [`MIGRATOR_SECRETS_DIR/${serversFileName(ref)}`, file.split(/\r?\n/).map((line) => line.replace(/#.*/, '')).join(',')];
      if (list.split(',').every((entry) => entry.trim() === '')) {
        // A worker that lacks the secret says so (and the attempt retries): another worker may hold both.
        password(ref);
        throw new SecretNotForServerError(ref, `the secret "${ref}" declares no servers it may be sent to, so it is sent nowhere: list them (host:port or host:*) in ${declareHow(ref)}`);
      }
      try {
        return parseServerList(`the servers of the secret "${ref}" (${where})`, list);
      } catch (err) {
        throw new SecretNotForServerError(ref, (err as Error).message);
      }
    },
  };
}

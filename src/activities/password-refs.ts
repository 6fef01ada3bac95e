import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PASSWORD_REF_PATTERN } from '../workflows/types';

/** Resolves the name of a secret to the password it holds. */
export type PasswordResolver = (ref: string) => string;

/** Thrown when no secret of that name is on this worker; the message names the reference only. */
export class PasswordRefError extends Error {
  constructor(readonly ref: string) {
    super(`the secret "${ref}" is not on this worker: put it in the file MIGRATOR_SECRETS_DIR/${ref} or in the environment variable ${passwordEnvName(ref)}`);
    this.name = 'PasswordRefError';
  }
}

/** `MIGRATOR_PASSWORD_<REF>`: upper case, every character other than a letter or digit as `_`. */
export function passwordEnvName(ref: string): string {
  return `MIGRATOR_PASSWORD_${ref.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/**
 * Where a worker finds the password an endpoint names by `passwordRef`: the file of that name in
 * the secrets directory (one trailing newline dropped), else its environment variable. Read at
 * each use, so a secret replaced on disk is picked up without a restart. The reference pattern
 * has no `/` and cannot start with a dot, so it never leaves the directory.
 */
export function passwordResolver(options: { secretsDir?: string; env?: NodeJS.ProcessEnv }): PasswordResolver {
  const env = options.env ?? process.env;
  return (ref) => {
    if (!PASSWORD_REF_PATTERN.test(ref)) throw new PasswordRefError(ref);
    if (options.secretsDir) {
      try {
        return readFileSync(join(options.secretsDir, ref), 'utf8').replace(/\r?\n$/, '');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new PasswordRefError(ref);
      }
    }
    const value = env[passwordEnvName(ref)];
    if (value === undefined) throw new PasswordRefError(ref);
    return value;
  };
}

/** The failure messages of users' statements. */
import { redact } from '../../clickhouse/errors';
import { maskSecrets, secretValues } from '../../clickhouse/statements';

/**
 * The message of a user's statement that failed: where, the statement (cut to 500 characters) and
 * the server's words, with every literal that may be a credential left out of all three.
 */
export function statementFailure(where: string, sql: string, reason: string): string {
  const shown = maskSecrets(sql);
  return redact(`${where}: ${shown.length > 500 ? `${shown.slice(0, 500)}…` : shown}: ${reason}`, secretValues(sql));
}

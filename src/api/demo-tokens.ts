import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseTokensFile, type Role, type TokenEntry } from '../config';

/** The people of the demo (`npm start`), and the shell variable each token is printed as. */
export const DEMO_SUBJECTS: readonly { variable: string; subject: string; roles: Role[] }[] = [
  { variable: 'OPERATOR_TOKEN', subject: 'olivia', roles: ['operator'] },
  { variable: 'APPROVER_TOKEN', subject: 'ana', roles: ['approver'] },
  { variable: 'APPROVER2_TOKEN', subject: 'ben', roles: ['approver'] },
  { variable: 'VIEWER_TOKEN', subject: 'vera', roles: ['viewer'] },
  { variable: 'ADMIN_TOKEN', subject: 'adam', roles: ['admin'] },
];

/**
 * The demo tokens file: written once with random tokens (mode 600), then read back on every start,
 * so tokens survive restarts and edits to the file are kept.
 */
export function ensureDemoTokensFile(file: string): TokenEntry[] {
  if (!existsSync(file)) {
    const entries = DEMO_SUBJECTS.map(({ subject, roles }) => ({ token: randomBytes(24).toString('base64url'), subject, roles }));
    writeFileSync(file, `${JSON.stringify(entries, null, 2)}\n`, { mode: 0o600 });
  }
  chmodSync(file, 0o600);
  return parseTokensFile(readFileSync(file, 'utf8'), file);
}

/** Lines for the start-up banner: `export VARIABLE=token  # subject (roles)`, ready to paste into a shell. */
export function demoTokenLines(entries: readonly TokenEntry[]): string[] {
  return entries.map((entry, i) => {
    const variable = DEMO_SUBJECTS.find((d) => d.subject === entry.subject)?.variable ?? `TOKEN_${i}`;
    return `export ${variable}=${entry.token}   # ${entry.subject} (${entry.roles.join(', ')})`;
  });
}

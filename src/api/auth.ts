import { createHash, timingSafeEqual } from 'node:crypto';
import type { RequestHandler, Response } from 'express';
import type { AuthConfig, Role, TokenEntry } from '../config';
import { ForbiddenError, UnauthorizedError } from '../errors';

/** Who sent a request, as the tokens file names them. */
export interface Identity {
  subject: string;
  roles: readonly Role[];
}

/** The identity of every request when `MIGRATOR_AUTH=off`. */
export const ANONYMOUS: Identity = { subject: 'anonymous', roles: ['admin'] };

/** The roles that grant `role` besides itself: admin grants everything, operator and approver grant viewer. */
const GRANTED_BY: Record<Role, readonly Role[]> = {
  viewer: ['operator', 'approver', 'admin'],
  operator: ['admin'],
  approver: ['admin'],
  admin: [],
};

/** Whether `identity` holds `role`, directly or through a role that grants it. */
export function hasRole(identity: Identity, role: Role): boolean {
  return identity.roles.some((held) => held === role || GRANTED_BY[role].includes(held));
}

const digest = (token: string) => createHash('sha256').update(token, 'utf8').digest();

/**
 * Finds the identity of a bearer token. Tokens are compared as SHA-256 digests with
 * `timingSafeEqual`, against every entry without stopping early, so the time taken does not tell
 * how much of a token matched or which entry did.
 */
export function tokenLookup(entries: readonly TokenEntry[]): (token: string) => Identity | null {
  const known = entries.map((e) => ({ hash: digest(e.token), identity: { subject: e.subject, roles: e.roles } }));
  return (token) => {
    const presented = digest(token);
    let found: Identity | null = null;
    for (const entry of known) {
      if (timingSafeEqual(entry.hash, presented)) found = entry.identity;
    }
    return found;
  };
}

/** The token of an `authorization: Bearer <token>` header, or null. */
export function bearerToken(header: string | undefined): string | null {
  const match = /^Bearer[ ]+([^ ]+)[ ]*$/i.exec(header ?? '');
  return match ? match[1] : null;
}

/** Authenticates every request it sees, or answers 401; the identity is kept for {@link identityOf}. */
export function authenticate(auth: AuthConfig): RequestHandler {
  if (auth.mode === 'off') {
    return (_req, res, next) => {
      res.locals.identity = ANONYMOUS;
      next();
    };
  }
  const lookup = tokenLookup(auth.tokens);
  return (req, res, next) => {
    const token = bearerToken(req.get('authorization'));
    if (token === null) throw new UnauthorizedError('missing');
    const identity = lookup(token);
    if (!identity) throw new UnauthorizedError('unknown');
    res.locals.identity = identity;
    next();
  };
}

/** The identity {@link authenticate} found for this request. */
export function identityOf(res: Response): Identity {
  const identity = res.locals.identity as Identity | undefined;
  if (!identity) throw new Error('the request was not authenticated: mount authenticate() before the route');
  return identity;
}

/** Throws a ForbiddenError naming `role` unless the identity holds it. */
export function assertRole(identity: Identity, role: Role, what: string): void {
  if (!hasRole(identity, role)) throw new ForbiddenError(identity.subject, role, what);
}

/** Route middleware: the request needs `role` (see {@link hasRole}). */
export function requireRole(role: Role, what: string): RequestHandler {
  return (_req, res, next) => {
    assertRole(identityOf(res), role, what);
    next();
  };
}

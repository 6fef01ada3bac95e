import { WorkflowUpdateFailedError } from '@temporalio/client';
import { bearerToken, hasRole, tokenLookup, type Identity } from '../../src/api/auth';
import { describeError } from '../../src/api/error-middleware';
import { ROLES, type Role } from '../../src/config';
import { ForbiddenError, FourEyesError, UnauthorizedError } from '../../src/errors';

const who = (...roles: Role[]): Identity => ({ subject: 's', roles });

describe('the role check', () => {
  it('when a role is held, it grants itself; admin grants every role', () => {
    for (const role of ROLES) expect(hasRole(who(role), role)).toBe(true);
    for (const role of ROLES) expect(hasRole(who('admin'), role)).toBe(true);
  });

  it('when operator or approver is held, viewer is granted and nothing else', () => {
    expect(hasRole(who('operator'), 'viewer')).toBe(true);
    expect(hasRole(who('approver'), 'viewer')).toBe(true);
    expect(hasRole(who('operator'), 'approver')).toBe(false);
    expect(hasRole(who('approver'), 'operator')).toBe(false);
    expect(hasRole(who('operator'), 'admin')).toBe(false);
  });

  it('when only viewer is held, no change is allowed', () => {
    expect(['operator', 'approver', 'admin'].map((r) => hasRole(who('viewer'), r as Role))).toEqual([false, false, false]);
  });

  it('when roles are combined, each is granted', () => {
    expect(hasRole(who('operator', 'approver'), 'approver')).toBe(true);
    expect(hasRole(who(), 'viewer')).toBe(false);
  });
});

describe('the token lookup', () => {
  const lookup = tokenLookup([
    { token: 'a'.repeat(32), subject: 'ana', roles: ['approver'] },
    { token: 'b'.repeat(32), subject: 'ben', roles: ['viewer'] },
  ]);

  it('when a token is known, it finds its subject and roles', () => {
    expect(lookup('b'.repeat(32))).toEqual({ subject: 'ben', roles: ['viewer'] });
  });

  it('when a token is unknown, a prefix or a different length, it finds nobody', () => {
    expect(lookup('c'.repeat(32))).toBeNull();
    expect(lookup('a'.repeat(31))).toBeNull();
    expect(lookup('a'.repeat(33))).toBeNull();
    expect(lookup('')).toBeNull();
  });
});

describe('the authorization header', () => {
  it('when it is "Bearer <token>", in any case, the token is read', () => {
    expect(bearerToken('Bearer abc')).toBe('abc');
    expect(bearerToken('bearer  abc ')).toBe('abc');
  });

  it('when it is absent, another scheme or empty, there is no token', () => {
    expect([bearerToken(undefined), bearerToken('Basic YTpi'), bearerToken('Bearer '), bearerToken('Bearer a b')]).toEqual([null, null, null, null]);
  });
});

describe('error mapping of authentication and roles', () => {
  it('when the token is missing or unknown, the answer is 401 with a Bearer challenge', () => {
    expect(describeError(new UnauthorizedError('missing'))).toEqual({
      status: 401,
      body: { error: 'unauthorized', message: expect.any(String) },
      headers: { 'WWW-Authenticate': 'Bearer realm="clickhouse-migrator"' },
    });
    expect(describeError(new UnauthorizedError('unknown'))?.headers?.['WWW-Authenticate']).toMatch(/error="invalid_token"/);
  });

  it('when a role is missing, the answer is 403 naming it', () => {
    expect(describeError(new ForbiddenError('vera', 'operator', 'starting a migration'))).toEqual({
      status: 403,
      body: { error: 'forbidden', message: 'starting a migration needs the role operator; "vera" does not have it', requiredRole: 'operator' },
    });
  });

  it('when the starter decides on its own run, the answer is 403 four_eyes', () => {
    expect(describeError(new FourEyesError('run-1', 'pat'))).toMatchObject({ status: 403, body: { error: 'four_eyes', startedBy: 'pat' } });
  });
});

describe('error mapping of decisions', () => {
  it('when the run itself refuses an approval, the answer is 409 with its reason', () => {
    const refused = new WorkflowUpdateFailedError('Workflow Update failed', new Error('"configure" is already approved'));
    expect(describeError(refused)).toEqual({ status: 409, body: { error: 'decision_refused', message: '"configure" is already approved' } });
  });
});

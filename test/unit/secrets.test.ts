import { ClickHouseQueryError, redact, toClickHouseQueryError } from '../../src/clickhouse/errors';
import { deriveKey, seal, SecretUnsealError, unseal } from '../../src/secrets';

describe('sealed secrets', () => {
  const key = deriveKey('a test key of some length');

  it('when sealed and opened with the same key, the password comes back', () => {
    const sealed = seal("p@ss'word\\", key);
    expect(sealed.sealed).not.toContain('p@ss');
    expect(unseal(sealed, key)).toBe("p@ss'word\\");
  });

  it('when opened with another key, it fails with a message that names the setting', () => {
    expect(() => unseal(seal('secret', key), deriveKey('another key entirely'))).toThrow(SecretUnsealError);
    expect(() => unseal({ sealed: 'v1.AAAA' }, key)).toThrow(/MIGRATOR_SECRET_KEY/);
  });

  it('seals the same password differently each time', () => {
    expect(seal('same', key).sealed).not.toBe(seal('same', key).sealed);
  });
});

describe('redaction', () => {
  it('removes a secret in plain, SQL-escaped and URL-encoded form', () => {
    const secret = "it's/a secret";
    const text = `remote('h', 'd', 't', 'u', 'it\\'s/a secret') ${secret} ${encodeURIComponent(secret)}`;
    expect(redact(text, [secret])).toBe("remote('h', 'd', 't', 'u', '***') *** ***");
  });

  it('when ClickHouse rejects a password, the error is permanent and carries no secret', () => {
    const raw = Object.assign(new Error('Code: 193, e.displayText() = DB::Exception: Wrong password for user default: hunter22'), { code: '193' });
    const err = toClickHouseQueryError(raw, 'source', ['hunter22']);
    expect(err).toBeInstanceOf(ClickHouseQueryError);
    expect(err.permanentType).toBe('AuthenticationFailed');
    expect(err.message).not.toContain('hunter22');
    expect(err.message).toMatch(/^source ClickHouse: /);
  });

  it('when the server cannot be reached, the error may be retried', () => {
    const raw = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    expect(toClickHouseQueryError(raw, 'target', []).permanentType).toBeUndefined();
  });
});

import { ClickHouseQueryError, redact, toClickHouseQueryError } from '../../src/clickhouse/errors';
import { deploymentKey, keyringOf, legacyKey, purposeKey, seal, SecretKeyError, unseal } from '../../src/secrets';
import { inspect } from 'node:util';
import { previousKeyId, previousSeal } from './previous-release';

describe('sealed secrets', () => {
  const key = keyringOf('a test key of some length');

  it('when sealed and opened with the same key, the password comes back', () => {
    const sealed = seal("p@ss'word\\", key);
    expect(sealed.sealed).not.toContain('p@ss');
    expect(sealed.sealed.split('.').slice(0, 2)).toEqual(['v3', key.active.id]);
    expect(unseal(sealed, key)).toBe("p@ss'word\\");
  });

  it('when the key is missing, the error names its id and nothing else', () => {
    const other = keyringOf('another key entirely');
    const err = (() => {
      try {
        unseal(seal('secret', key), other);
      } catch (e) {
        return e as SecretKeyError;
      }
    })();
    expect(err).toBeInstanceOf(SecretKeyError);
    expect(err?.keyId).toBe(key.active.id);
    expect(err?.message).toContain(key.active.id);
    expect(err?.message).not.toMatch(/secret'|a test key/);
  });

  it('after a rotation, the new key seals and the old one still opens what it sealed', () => {
    const rotated = keyringOf('the next key of some length', ['a test key of some length']);
    const old = seal('before', key);
    expect(unseal(old, rotated)).toBe('before');
    expect(seal('after', rotated).sealed).toContain(`.${rotated.active.id}.`);
    expect(() => unseal(seal('after', rotated), key)).toThrow(SecretKeyError);
  });

  it('when a seal was changed, the key rejects it', () => {
    const [v, id, body] = seal('secret', key).sealed.split('.');
    const raw = Buffer.from(body, 'base64');
    raw[raw.length - 1] ^= 1;
    expect(() => unseal({ sealed: `${v}.${id}.${raw.toString('base64')}` }, key)).toThrow(/did not open/);
  });

  it('opens seals of the previous release with its legacy keys: version 2 by key id, version 1 with whichever made it', () => {
    const upgraded = keyringOf('the current key of the deployment', ['an old deployment key']);
    expect(unseal(previousSeal('an old deployment key', 'v2 password'), upgraded)).toBe('v2 password');
    expect(unseal(previousSeal('an old deployment key', 'v1 password', 'v1'), upgraded)).toBe('v1 password');
    expect(() => unseal(previousSeal('an old deployment key', 'v1 password', 'v1'), key)).toThrow(SecretKeyError);
    expect(() => unseal(previousSeal('an old deployment key', 'v2 password'), key)).toThrow(new SecretKeyError(previousKeyId('an old deployment key'), 'missing'));
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

describe('a keyring written out', () => {
  it('shows its key ids and never its key bytes, as JSON or as util.inspect prints it', () => {
    const keyring = keyringOf('the-active-passphrase', ['the-previous-passphrase']);
    const written = [JSON.stringify(keyring), JSON.stringify([...keyring.byId.values(), ...keyring.legacyById.values()]), inspect(keyring, { depth: 10 })];
    const keys = ['the-active-passphrase', 'the-previous-passphrase'].flatMap((secret) => [deploymentKey(secret), legacyKey(secret)]);
    keys.push(...(['payload', 'seal', 'manifest'] as const).map((purpose) => purposeKey(keyring.active, purpose)));
    for (const key of keys) {
      for (const text of written) {
        expect(text).not.toContain(key.toString('hex'));
        expect(text).not.toContain(key.toString('base64'));
        expect(text).not.toContain(inspect(key));
      }
    }
    expect(written[2]).toContain(keyring.active.id);
    expect(keyring.active.key.equals(deploymentKey('the-active-passphrase'))).toBe(true);
  });
});

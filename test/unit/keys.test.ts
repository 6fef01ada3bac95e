import { createHash, randomBytes, scryptSync } from 'node:crypto';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { EncryptionCodec, KEY_ID_METADATA } from '../../src/codec';
import { keyringOfConfig, loadConfig, type ConfigError } from '../../src/config';
import { DEFAULT_SECRET_SALT, keyringOf, purposeKey, seal, SecretKeyError, unseal } from '../../src/secrets';
import { previousKeyId, previousPayload, previousSeal } from './previous-release';

const PASSPHRASE = 'a deployment passphrase of some length';
const payload = defaultPayloadConverter.toPayload({ table: 'shop.events' });
const text = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? new Uint8Array()).toString('utf8');
const sealBody = (sealed: { sealed: string }) => Buffer.from(sealed.sealed.split('.')[2], 'base64');
const asPayload = (data: Uint8Array, keyId: string): Payload => ({ metadata: { encoding: Buffer.from('binary/encrypted'), [KEY_ID_METADATA]: Buffer.from(keyId) }, data });

describe('the deployment key of a setting', () => {
  it('when the setting is 64 hex digits or base64: and 32 bytes, the bytes are the key as they are', () => {
    const raw = randomBytes(32);
    expect(keyringOf(raw.toString('hex')).active.key.equals(raw)).toBe(true);
    expect(keyringOf(`base64:${raw.toString('base64')}`).active.key.equals(raw)).toBe(true);
    expect(keyringOf(raw.toString('hex')).active.id).toBe(keyringOf(`base64:${raw.toString('base64')}`).active.id);
  });

  it('when the setting is a passphrase, it is stretched with scrypt under the salt, not hashed once', () => {
    const key = keyringOf(PASSPHRASE).active.key;
    expect(key.equals(scryptSync(PASSPHRASE, DEFAULT_SECRET_SALT, 32, { N: 2 ** 16, r: 8, p: 1, maxmem: 128 * 1024 * 1024 }))).toBe(true);
    expect(key.equals(createHash('sha256').update(PASSPHRASE).digest())).toBe(false);
  });

  it('when the salt changes, a passphrase gives another key and key id; a raw key stays itself', () => {
    const salted = keyringOf(PASSPHRASE, [], 'deployment-42');
    expect(salted.active.key.equals(keyringOf(PASSPHRASE).active.key)).toBe(false);
    expect(salted.active.id).not.toBe(keyringOf(PASSPHRASE).active.id);
    const raw = randomBytes(32).toString('hex');
    expect(keyringOf(raw, [], 'deployment-42').active.key.equals(keyringOf(raw).active.key)).toBe(true);
  });

  it('gives each purpose a key of its own, none of them the deployment key', () => {
    const { active } = keyringOf(PASSPHRASE);
    const keys = (['payload', 'seal', 'manifest'] as const).map((purpose) => purposeKey(active, purpose).toString('hex'));
    expect(new Set([...keys, active.key.toString('hex')]).size).toBe(4);
    expect(purposeKey(active, 'seal').toString('hex')).toBe(keys[1]);
  });

  it('keeps the previous release\'s key of each setting as a legacy key, under its old id, apart from the current keys', () => {
    const keyring = keyringOf(PASSPHRASE, ['an earlier passphrase']);
    expect([...keyring.legacyById.keys()]).toEqual([previousKeyId(PASSPHRASE), previousKeyId('an earlier passphrase')]);
    for (const id of keyring.legacyById.keys()) expect(keyring.byId.has(id)).toBe(false);
  });
});

describe('the configuration of keys', () => {
  const env = { MIGRATOR_SECRET_KEY: PASSPHRASE };

  it('uses the documented salt unless MIGRATOR_SECRET_SALT is set, and every process of one setting derives the same key', () => {
    expect(loadConfig(env).MIGRATOR_SECRET_SALT).toBe(DEFAULT_SECRET_SALT);
    expect(keyringOfConfig(loadConfig(env)).active.id).toBe(keyringOf(PASSPHRASE).active.id);
    const salted = loadConfig({ ...env, MIGRATOR_SECRET_SALT: 'deployment-42' });
    expect(keyringOfConfig(salted).active.id).toBe(keyringOf(PASSPHRASE, [], 'deployment-42').active.id);
  });

  it('when a key is a short passphrase or a base64: key of the wrong length, names the variable and never the setting', () => {
    const bad = `base64:${randomBytes(16).toString('base64')}`;
    const refused = (e: NodeJS.ProcessEnv) => {
      try {
        loadConfig(e);
      } catch (err) {
        return err as ConfigError;
      }
      throw new Error('accepted');
    };
    const short = refused({ MIGRATOR_SECRET_KEY: 'too short' });
    expect(short.message).toMatch(/MIGRATOR_SECRET_KEY: must be at least 16 characters/);
    expect(short.message).not.toContain('too short');
    const wrong = refused({ ...env, MIGRATOR_PREVIOUS_SECRET_KEYS: bad });
    expect(wrong.message).toMatch(/MIGRATOR_PREVIOUS_SECRET_KEYS: a key written base64:… must be 32 bytes/);
    expect(wrong.message).not.toContain(bad.slice(7));
  });
});

describe('seals and payloads', () => {
  const keyring = keyringOf(PASSPHRASE);

  it('when a seal\'s body is given to the payload codec under its key id, it does not open, even where legacy keys open', async () => {
    const sealed = seal('hunter22', keyring);
    const posing = asPayload(sealBody(sealed), keyring.active.id);
    await expect(new EncryptionCodec(keyring, 'open').decode([posing])).rejects.toThrow(new SecretKeyError(keyring.active.id, 'rejected'));
  });

  it('when a payload is given as a seal, it does not open', async () => {
    const [encoded] = await new EncryptionCodec(keyring).encode([payload]);
    const posing = { sealed: `v3.${keyring.active.id}.${Buffer.from(encoded.data ?? new Uint8Array()).toString('base64')}` };
    expect(() => unseal(posing, keyring)).toThrow(new SecretKeyError(keyring.active.id, 'rejected'));
  });

  it('workers open the previous release\'s payloads and seals; a codec that refuses legacy keys opens neither', async () => {
    const upgraded = keyringOf(randomBytes(32).toString('hex'), [PASSPHRASE]);
    const old = previousPayload(PASSPHRASE, payload);
    const [decoded] = await new EncryptionCodec(upgraded).decode([old]);
    expect(defaultPayloadConverter.fromPayload(decoded)).toEqual({ table: 'shop.events' });
    expect(unseal(previousSeal(PASSPHRASE, 'hunter22'), upgraded)).toBe('hunter22');
    const refusing = new EncryptionCodec(upgraded, 'refuse');
    await expect(refusing.decode([old])).rejects.toThrow(new SecretKeyError(previousKeyId(PASSPHRASE), 'legacy'));
    await expect(refusing.decode([asPayload(sealBody(previousSeal(PASSPHRASE, 'hunter22')), previousKeyId(PASSPHRASE))])).rejects.toThrow(/legacy key/);
  });

  it('names the payload key in the metadata: the active key\'s id', async () => {
    const [encoded] = await new EncryptionCodec(keyring).encode([payload]);
    expect(text(encoded.metadata?.[KEY_ID_METADATA])).toBe(keyring.active.id);
  });
});

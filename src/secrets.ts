import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, scryptSync } from 'node:crypto';
import type { SealedSecret } from './workflows/types';

/**
 * The deployment's keys. The active key encrypts; every key decrypts, so a key can be rotated
 * without stranding the runs, payloads and sealed passwords made under the one before. Nothing is
 * encrypted with a deployment key itself: each use has a key of its own under it ({@link purposeKey}).
 */
export interface Keyring {
  active: SecretKey;
  /** Every key by its id, the active one included. */
  byId: ReadonlyMap<string, SecretKey>;
  /**
   * The keys releases before per-purpose keys used (SHA-256 of each setting, under their old ids),
   * decrypt-only: they open what runs in flight at the upgrade carry. Payloads and sealed passwords
   * shared these keys and their associated data, so the codec endpoint never decrypts with them.
   */
  legacyById: ReadonlyMap<string, SecretKey>;
}

export interface SecretKey {
  /** Derived from the key itself: two different keys never share an id, and the id tells nothing of the key. */
  id: string;
  key: Buffer;
}

/**
 * Thrown when a key id names a key this process does not hold, when the key does not open what it
 * should (tampered with, or made for another purpose), or when a legacy key is asked to decrypt
 * where legacy keys are not used. The message names the key id and nothing else.
 */
export class SecretKeyError extends Error {
  constructor(readonly keyId: string, readonly reason: 'missing' | 'rejected' | 'legacy') {
    super(
      {
        missing: `no key with id ${keyId} on this process: add the key to MIGRATOR_SECRET_KEY or MIGRATOR_PREVIOUS_SECRET_KEYS`,
        rejected: `the key with id ${keyId} did not open the data sealed with it`,
        legacy: `the key with id ${keyId} is a legacy key (from before per-purpose keys): it opens data for workers only`,
      }[reason],
    );
    this.name = 'SecretKeyError';
  }
}

/** The salt passphrases are stretched with when MIGRATOR_SECRET_SALT is not set. */
export const DEFAULT_SECRET_SALT = 'clickhouse-migrator';

/** scrypt's cost: 64 MiB and about 0.2 s per passphrase, once per process (cached). */
const SCRYPT = { N: 2 ** 16, r: 8, p: 1, maxmem: 128 * 1024 * 1024 } as const;
const KEY_BYTES = 32;
const BASE64_PREFIX = 'base64:';

/**
 * The 32 bytes a key setting gives as they are: `base64:` and 32 bytes in base64, or 64 hex
 * digits. Undefined for a passphrase.
 */
function rawKeyOf(setting: string): Buffer | undefined {
  if (/^[0-9a-fA-F]{64}$/.test(setting)) return Buffer.from(setting, 'hex');
  if (!setting.startsWith(BASE64_PREFIX)) return undefined;
  const issue = keySettingIssue(setting);
  if (issue) throw new Error(`a key setting: ${issue}`);
  return Buffer.from(setting.slice(BASE64_PREFIX.length), 'base64');
}

/** What is wrong with a key setting (MIGRATOR_SECRET_KEY and friends), or undefined when it is usable. */
export function keySettingIssue(setting: string): string | undefined {
  if (setting.startsWith(BASE64_PREFIX)) {
    const text = setting.slice(BASE64_PREFIX.length);
    const ok = /^[A-Za-z0-9+/_-]+={0,2}$/.test(text) && Buffer.from(text, 'base64').length === KEY_BYTES;
    return ok ? undefined : `a key written base64:… must be ${KEY_BYTES} bytes in base64`;
  }
  return setting.length >= 16 ? undefined : 'must be at least 16 characters (or a raw key: 64 hex digits, or base64: and 32 bytes)';
}

const stretched = new Map<string, Buffer>();

/** scrypt of a passphrase under `salt`, once per process for each pair (keyrings are built often). */
function stretch(passphrase: string, salt: string): Buffer {
  const cacheKey = createHash('sha256').update(JSON.stringify([salt, passphrase])).digest('hex');
  let key = stretched.get(cacheKey);
  if (!key) {
    key = scryptSync(passphrase, salt, KEY_BYTES, SCRYPT);
    stretched.set(cacheKey, key);
  }
  return key;
}

/**
 * The deployment key of a setting: a raw key as it is, a passphrase stretched with scrypt under
 * `salt` (MIGRATOR_SECRET_SALT, the same on every process of the deployment).
 */
export function deploymentKey(setting: string, salt: string = DEFAULT_SECRET_SALT): Buffer {
  return rawKeyOf(setting) ?? stretch(setting, salt);
}

/** The key releases before per-purpose keys made of a setting: SHA-256 of its text. Decrypt-only. */
export function legacyKey(setting: string): Buffer {
  return createHash('sha256').update(setting, 'utf8').digest();
}

/** What a key derived from a deployment key is for: each purpose gets a key of its own. */
export type KeyPurpose = 'payload' | 'seal' | 'manifest';

const derived = new WeakMap<SecretKey, Map<KeyPurpose, Buffer>>();

/** The 32-byte key of `purpose` under `key`: HKDF-SHA256 with a distinct `info` per purpose. */
export function purposeKey(key: SecretKey, purpose: KeyPurpose): Buffer {
  const mine = derived.get(key) ?? new Map<KeyPurpose, Buffer>();
  derived.set(key, mine);
  let found = mine.get(purpose);
  if (!found) {
    found = Buffer.from(hkdfSync('sha256', key.key, Buffer.alloc(0), `clickhouse-migrator ${purpose}`, KEY_BYTES));
    mine.set(purpose, found);
  }
  return found;
}

/** `k` and 12 hex digits of an HMAC of a fixed label: names a key without telling anything about it. */
export function keyIdOf(key: Buffer): string {
  return `k${createHmac('sha256', key).update('clickhouse-migrator key id').digest('hex').slice(0, 12)}`;
}

/** A SecretKey whose bytes stay out of JSON, logs and util.inspect. */
function secretKey(key: Buffer): SecretKey {
  // Not enumerable: a keyring that reaches a log line or a debug dump of options (the SDK logs
  // a worker's options at debug) shows its key ids, never the key bytes.
  return Object.defineProperty({ id: keyIdOf(key) } as SecretKey, 'key', { value: key, enumerable: false });
}

/**
 * A keyring from key settings (raw keys or passphrases): the first encrypts, all decrypt; and the
 * legacy key of each setting, for what runs in flight at the upgrade carry.
 */
export function keyringOf(active: string, previous: readonly string[] = [], salt: string = DEFAULT_SECRET_SALT): Keyring {
  const settings = [active, ...previous];
  const keys = settings.map((setting) => secretKey(deploymentKey(setting, salt)));
  const legacy = settings.map((setting) => secretKey(legacyKey(setting)));
  return { active: keys[0], byId: new Map(keys.map((k) => [k.id, k])), legacyById: new Map(legacy.map((k) => [k.id, k])) };
}

/** The key with `id`, or a SecretKeyError naming it. Legacy keys are not among them. */
export function keyById(keyring: Keyring, id: string): SecretKey {
  const found = keyring.byId.get(id);
  if (!found) throw new SecretKeyError(id, 'missing');
  return found;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** AES-256-GCM: a random IV, the tag, then the ciphertext; `aad` is bound to it. */
function encrypt(plaintext: Uint8Array, key: Buffer, aad: string): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

/** Opens what {@link encrypt} made with the same key and `aad`; anything else is a SecretKeyError naming `keyId`. */
function decrypt(sealed: Uint8Array, key: Buffer, aad: string | null, keyId: string): Buffer {
  const raw = Buffer.from(sealed);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
    if (aad !== null) decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
  } catch {
    throw new SecretKeyError(keyId, 'rejected');
  }
}

/** The purposes data is encrypted for: each has its own key and names itself in the associated data. */
export type CipherPurpose = 'payload' | 'seal';

/**
 * Encrypts for `purpose` under `key`: AES-256-GCM with the purpose's own key and `<purpose>:<key id>`
 * as associated data, so that nothing made for one purpose opens as another, or under another key id.
 */
export function encryptFor(purpose: CipherPurpose, plaintext: Uint8Array, key: SecretKey): Buffer {
  return encrypt(plaintext, purposeKey(key, purpose), `${purpose}:${key.id}`);
}

/** Opens what {@link encryptFor} made for the same purpose and key; anything else is a SecretKeyError. */
export function decryptFor(purpose: CipherPurpose, sealed: Uint8Array, key: SecretKey): Buffer {
  return decrypt(sealed, purposeKey(key, purpose), `${purpose}:${key.id}`, key.id);
}

/**
 * Opens what releases before per-purpose keys encrypted (payloads and version 2 seals: the key id
 * as associated data; version 1 seals: none). Only for workers and clients, never the codec endpoint.
 */
export function decryptLegacy(sealed: Uint8Array, key: SecretKey, aad: string | null = key.id): Buffer {
  return decrypt(sealed, key.key, aad, key.id);
}

/**
 * Seals a password inside the workflow input with the active key's seal key: `v3.<key id>.<base64>`.
 * The payload codec encrypts the whole input as well, with another key; so whoever may decode runs
 * (the codec endpoint, the Web UI) still cannot open passwords.
 */
export function seal(plaintext: string, keyring: Keyring): SealedSecret {
  const { active } = keyring;
  return { sealed: `v3.${active.id}.${encryptFor('seal', Buffer.from(plaintext, 'utf8'), active).toString('base64')}` };
}

/**
 * Opens a sealed password. Seals of earlier releases open with the legacy keys: version 2 names its
 * key, version 1 (no key id, no associated data) is tried with each.
 */
export function unseal(secret: SealedSecret, keyring: Keyring): string {
  const [version, ...rest] = secret.sealed.split('.');
  const body = (text: string) => Buffer.from(text, 'base64');
  if (version === 'v3' && rest.length === 2) return decryptFor('seal', body(rest[1]), keyById(keyring, rest[0])).toString('utf8');
  if (version === 'v2' && rest.length === 2) {
    const legacy = keyring.legacyById.get(rest[0]);
    if (!legacy) throw new SecretKeyError(rest[0], 'missing');
    return decryptLegacy(body(rest[1]), legacy).toString('utf8');
  }
  if (version === 'v1' && rest.length === 1) {
    for (const key of keyring.legacyById.values()) {
      try {
        return decryptLegacy(body(rest[0]), key, null).toString('utf8');
      } catch {
        // Try the next key: version 1 seals do not say which key made them.
      }
    }
    throw new SecretKeyError('(version 1 seal, no key id)', 'missing');
  }
  throw new SecretKeyError('(unreadable seal)', 'missing');
}

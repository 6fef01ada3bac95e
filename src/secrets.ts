import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import type { SealedSecret } from './workflows/types';

/**
 * The deployment's AES-256 keys. The active key encrypts; every key decrypts, so a key can be
 * rotated without stranding the runs, payloads and sealed passwords made under the one before.
 */
export interface Keyring {
  active: SecretKey;
  /** Every key by its id, the active one included. */
  byId: ReadonlyMap<string, SecretKey>;
}

export interface SecretKey {
  /** Derived from the key itself: two different keys never share an id. */
  id: string;
  key: Buffer;
}

/**
 * Thrown when a key id names a key this process does not hold, or when the key does not open
 * what it should (tampered with). The message names the key id and nothing else.
 */
export class SecretKeyError extends Error {
  constructor(readonly keyId: string, reason: 'missing' | 'rejected') {
    super(
      reason === 'missing'
        ? `no key with id ${keyId} on this process: add the key to MIGRATOR_SECRET_KEY or MIGRATOR_PREVIOUS_SECRET_KEYS`
        : `the key with id ${keyId} did not open the data sealed with it`,
    );
    this.name = 'SecretKeyError';
  }
}

/** The AES-256 key of a passphrase (MIGRATOR_SECRET_KEY and friends). */
export function deriveKey(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** What a key derived from a deployment key is for: each purpose gets a key of its own. */
export type KeyPurpose = 'payload' | 'seal' | 'manifest';

/** The 32-byte key of `purpose` under `key`: HKDF-SHA256 with a distinct `info` per purpose. */
export function purposeKey(key: SecretKey, purpose: KeyPurpose): Buffer {
  return Buffer.from(hkdfSync('sha256', key.key, Buffer.alloc(0), `clickhouse-migrator ${purpose}`, 32));
}

/** `k` and 12 hex digits of an HMAC of a fixed label: names a key without telling anything about it. */
export function keyIdOf(key: Buffer): string {
  return `k${createHmac('sha256', key).update('clickhouse-migrator key id').digest('hex').slice(0, 12)}`;
}

/** A keyring from passphrases: the first encrypts, all decrypt. */
export function keyringOf(active: string, previous: readonly string[] = []): Keyring {
  const keys = [active, ...previous].map((secret): SecretKey => {
    const key = deriveKey(secret);
    // Not enumerable: a keyring that reaches a log line or a debug dump of options (the SDK logs
    // a worker's options at debug) shows its key ids, never the key bytes.
    return Object.defineProperty({ id: keyIdOf(key) } as SecretKey, 'key', { value: key, enumerable: false });
  });
  return { active: keys[0], byId: new Map(keys.map((k) => [k.id, k])) };
}

/** The key with `id`, or a SecretKeyError naming it. */
export function keyById(keyring: Keyring, id: string): SecretKey {
  const found = keyring.byId.get(id);
  if (!found) throw new SecretKeyError(id, 'missing');
  return found;
}

const IV_BYTES = 12;
const TAG_BYTES = 16;

/** AES-256-GCM with the key id as associated data, so a payload cannot be relabelled to another key. */
export function encrypt(plaintext: Uint8Array, key: SecretKey): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key.key, iv);
  cipher.setAAD(Buffer.from(key.id, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

/** Opens what {@link encrypt} made with the same key; a wrong key or a change is a SecretKeyError. */
export function decrypt(sealed: Uint8Array, key: SecretKey, aad: string | null = key.id): Buffer {
  const raw = Buffer.from(sealed);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key.key, raw.subarray(0, IV_BYTES));
    if (aad !== null) decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]);
  } catch {
    throw new SecretKeyError(key.id, 'rejected');
  }
}

/**
 * Seals a password inside the workflow input with the active key: `v2.<key id>.<base64>`. The
 * payload codec encrypts the whole input as well; the seal keeps the password closed to those
 * who may decode runs (the codec endpoint, the Web UI) but not open passwords.
 */
export function seal(plaintext: string, keyring: Keyring): SealedSecret {
  const { active } = keyring;
  return { sealed: `v2.${active.id}.${encrypt(Buffer.from(plaintext, 'utf8'), active).toString('base64')}` };
}

/** Opens a sealed password. Version 1 seals (no key id, no associated data) are tried with every key. */
export function unseal(secret: SealedSecret, keyring: Keyring): string {
  const parts = secret.sealed.split('.');
  if (parts[0] === 'v2' && parts.length === 3) {
    return decrypt(Buffer.from(parts[2], 'base64'), keyById(keyring, parts[1])).toString('utf8');
  }
  if (parts[0] === 'v1' && parts.length === 2) {
    for (const key of keyring.byId.values()) {
      try {
        return decrypt(Buffer.from(parts[1], 'base64'), key, null).toString('utf8');
      } catch {
        // Try the next key: version 1 seals do not say which key made them.
      }
    }
    throw new SecretKeyError('(version 1 seal, no key id)', 'missing');
  }
  throw new SecretKeyError('(unreadable seal)', 'missing');
}

import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import type { SealedSecret } from './workflows/types';

const VERSION = 'v1';

/** Thrown when a sealed secret cannot be opened: wrong key, or tampered with. */
export class SecretUnsealError extends Error {
  constructor() {
    super('a sealed secret could not be opened: the API and the workers must share MIGRATOR_SECRET_KEY');
    this.name = 'SecretUnsealError';
  }
}

/** The AES-256 key derived from the deployment's MIGRATOR_SECRET_KEY. */
export function deriveKey(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

/** Seals `plaintext` with AES-256-GCM so it can travel through workflow history unreadable. */
export function seal(plaintext: string, key: Buffer): SealedSecret {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return { sealed: `${VERSION}.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64')}` };
}

/** Opens a secret sealed by {@link seal} with the same key. */
export function unseal(secret: SealedSecret, key: Buffer): string {
  const [version, payload] = secret.sealed.split('.');
  if (version !== VERSION || !payload) throw new SecretUnsealError();
  const raw = Buffer.from(payload, 'base64');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, 12));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  } catch {
    throw new SecretUnsealError();
  }
}

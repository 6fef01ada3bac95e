/**
 * What the release before per-purpose keys wrote, made here the way it made it (AES-256-GCM under
 * SHA-256 of the key setting, the key id as associated data), independently of src/secrets.ts.
 */
import { createCipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { temporal } from '@temporalio/proto';
import type { Payload } from '@temporalio/common';

const oldKey = (setting: string) => createHash('sha256').update(setting, 'utf8').digest();

/** The key id the previous release gave a setting. */
export function previousKeyId(setting: string): string {
  return `k${createHmac('sha256', oldKey(setting)).update('clickhouse-migrator key id').digest('hex').slice(0, 12)}`;
}

function oldEncrypt(setting: string, plaintext: Uint8Array, aad: string | null): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', oldKey(setting), iv);
  if (aad !== null) cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

/** A version 2 seal (`v2.<key id>.<base64>`), or with `v1` one without key id or associated data. */
export function previousSeal(setting: string, password: string, version: 'v1' | 'v2' = 'v2'): { sealed: string } {
  const id = previousKeyId(setting);
  const body = oldEncrypt(setting, Buffer.from(password, 'utf8'), version === 'v2' ? id : null).toString('base64');
  return { sealed: version === 'v2' ? `v2.${id}.${body}` : `v1.${body}` };
}

/** A payload as the previous release's codec encrypted it. */
export function previousPayload(setting: string, payload: Payload): Payload {
  const id = previousKeyId(setting);
  return {
    metadata: { encoding: Buffer.from('binary/encrypted'), 'encryption-key-id': Buffer.from(id) },
    data: oldEncrypt(setting, temporal.api.common.v1.Payload.encode(payload).finish(), id),
  };
}

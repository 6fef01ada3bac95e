import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { EncryptionCodec, ENCRYPTED_ENCODING, KEY_ID_METADATA } from '../../src/codec';
import { keyringOf, SecretKeyError } from '../../src/secrets';

const text = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? new Uint8Array()).toString('utf8');

describe('the payload codec', () => {
  const before = keyringOf('the key before the rotation');
  const after = keyringOf('the key after the rotation', ['the key before the rotation']);
  const payload = defaultPayloadConverter.toPayload({ table: 'shop.events', ddl: 'CREATE TABLE shop.events (id UInt64) ENGINE = MergeTree ORDER BY id' });

  it('encrypts the whole payload, metadata included, and names the key in clear', async () => {
    const [encoded] = await new EncryptionCodec(before).encode([payload]);
    expect(text(encoded.metadata?.encoding)).toBe(ENCRYPTED_ENCODING);
    expect(text(encoded.metadata?.[KEY_ID_METADATA])).toBe(before.active.id);
    const raw = Buffer.from(encoded.data ?? new Uint8Array()).toString('latin1');
    for (const word of ['shop', 'events', 'CREATE', 'json/plain']) expect(raw).not.toContain(word);
    const [decoded] = await new EncryptionCodec(before).decode([encoded]);
    expect(defaultPayloadConverter.fromPayload(decoded)).toEqual(defaultPayloadConverter.fromPayload(payload));
  });

  it('after a rotation, the new key encrypts and the previous one still decrypts', async () => {
    const [old] = await new EncryptionCodec(before).encode([payload]);
    const [fresh] = await new EncryptionCodec(after).encode([payload]);
    expect(text(fresh.metadata?.[KEY_ID_METADATA])).toBe(after.active.id);
    const decoded = await new EncryptionCodec(after).decode([old, fresh]);
    expect(decoded.map((p) => defaultPayloadConverter.fromPayload(p))).toEqual([0, 1].map(() => defaultPayloadConverter.fromPayload(payload)));
  });

  it('when the key is missing, decoding fails naming the key id only', async () => {
    const [fresh] = await new EncryptionCodec(after).encode([payload]);
    await expect(new EncryptionCodec(before).decode([fresh])).rejects.toThrow(new SecretKeyError(after.active.id, 'missing'));
  });

  it('refuses a payload relabelled to another key id or changed', async () => {
    const [encoded] = await new EncryptionCodec(after).encode([payload]);
    const relabelled: Payload = { ...encoded, metadata: { ...encoded.metadata, [KEY_ID_METADATA]: Buffer.from(before.active.id) } };
    await expect(new EncryptionCodec(after).decode([relabelled])).rejects.toThrow(/did not open/);
    const data = Buffer.from(encoded.data ?? new Uint8Array());
    data[20] ^= 1;
    await expect(new EncryptionCodec(after).decode([{ ...encoded, data }])).rejects.toThrow(/did not open/);
  });

  it('passes payloads that were never encrypted through (histories from before the codec)', async () => {
    expect(await new EncryptionCodec(after).decode([payload])).toEqual([payload]);
  });

  it('gives different keys different ids', () => {
    expect(before.active.id).not.toBe(after.active.id);
    expect(after.byId.has(before.active.id)).toBe(true);
  });
});

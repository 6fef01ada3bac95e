import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter } from '@temporalio/common';
import { encodeErrorToFailure, decodeOptionalFailureToOptionalError, loadDataConverter } from '@temporalio/common/lib/internal-non-workflow';
import { EncryptionCodec, encryptingDataConverter, KEY_ID_METADATA } from '../../src/codec';
import { keyringOfConfig, loadConfig } from '../../src/config';
import { seal, SecretKeyError, unseal } from '../../src/secrets';

/**
 * The README's "Rotating the key", step by step, through the configuration every process reads:
 * key A; then B active with A previous; then A dropped.
 */
describe('a key rotation as the README describes it', () => {
  const A = 'the key before the rotation (a passphrase)';
  const B = randomBytes(32).toString('hex');
  const SALT = 'deployment-7';
  const keyringOfEnv = (env: Record<string, string>) => keyringOfConfig(loadConfig({ MIGRATOR_SECRET_SALT: SALT, ...env }));
  const payload = defaultPayloadConverter.toPayload({ table: 'shop.events' });
  const keyIdOf = (p: { metadata?: Record<string, Uint8Array | null> | null }) => Buffer.from(p.metadata?.[KEY_ID_METADATA] ?? new Uint8Array()).toString();
  const read = async (keys: ReturnType<typeof keyringOfEnv>, encoded: typeof payload) => defaultPayloadConverter.fromPayload((await new EncryptionCodec(keys).decode([encoded]))[0]);

  it('keeps what key A made readable while B encrypts, and after A is dropped reads what B made', async () => {
    const before = keyringOfEnv({ MIGRATOR_SECRET_KEY: A });
    const [oldPayload] = await new EncryptionCodec(before).encode([payload]);
    const oldSeal = seal('password-a', before);

    // Step 1: every process moves A to the previous keys and sets B.
    const rotated = keyringOfEnv({ MIGRATOR_SECRET_KEY: B, MIGRATOR_PREVIOUS_SECRET_KEYS: A });
    expect(rotated.active.id).not.toBe(before.active.id);
    // Step 2: what A made still opens; what is made now is made with B.
    expect(await read(rotated, oldPayload)).toEqual({ table: 'shop.events' });
    expect(unseal(oldSeal, rotated)).toBe('password-a');
    const [newPayload] = await new EncryptionCodec(rotated).encode([payload]);
    const newSeal = seal('password-b', rotated);
    expect(keyIdOf(newPayload)).toBe(rotated.active.id);
    expect(newSeal.sealed.split('.')[1]).toBe(rotated.active.id);

    // Step 3: A is dropped; what B made opens, what A made is refused naming A's id only.
    const after = keyringOfEnv({ MIGRATOR_SECRET_KEY: B });
    expect(await read(after, newPayload)).toEqual({ table: 'shop.events' });
    expect(unseal(newSeal, after)).toBe('password-b');
    await expect(new EncryptionCodec(after).decode([oldPayload])).rejects.toThrow(new SecretKeyError(before.active.id, 'missing'));
    expect(() => unseal(oldSeal, after)).toThrow(new SecretKeyError(before.active.id, 'missing'));
  });

  it('encrypts failures (message and stack) with the payload key of the active key, and opens them after the rotation', async () => {
    const before = loadDataConverter(encryptingDataConverter(keyringOfEnv({ MIGRATOR_SECRET_KEY: A })));
    const failure = await encodeErrorToFailure(before, new Error('table shop.events is locked'));
    expect(JSON.stringify(failure)).not.toContain('shop.events');
    expect(keyIdOf(failure.encodedAttributes ?? {})).toBe(keyringOfEnv({ MIGRATOR_SECRET_KEY: A }).active.id);

    const rotated = loadDataConverter(encryptingDataConverter(keyringOfEnv({ MIGRATOR_SECRET_KEY: B, MIGRATOR_PREVIOUS_SECRET_KEYS: A })));
    expect((await decodeOptionalFailureToOptionalError(rotated, failure))?.message).toBe('table shop.events is locked');
  });
});

import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { decryptFor, decryptLegacy, encryptFor, SecretKeyError, type Keyring } from '../secrets';

/** The `encoding` of an encrypted payload, and the metadata key that names its key. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';

const text = (bytes: Uint8Array | null | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : undefined);

/**
 * Whether a codec opens payloads under legacy keys (releases before per-purpose keys): workers and
 * clients do, for runs in flight at the upgrade; the codec endpoint does not, because legacy
 * payloads and legacy sealed passwords share key and associated data and cannot be told apart.
 */
export type LegacyPayloads = 'open' | 'refuse';

/**
 * The payload codec every client and worker of the deployment uses: each payload (its metadata
 * and data, serialised) is encrypted with AES-256-GCM under the payload key of the keyring's
 * active key, with `payload:<key id>` as associated data, and the key id travels in clear in the
 * metadata, so that any holder of that key, active or previous, opens it. Payloads that are not
 * encrypted (histories from before the codec) pass through unchanged.
 */
export class EncryptionCodec implements PayloadCodec {
  constructor(
    private readonly keyring: Keyring,
    private readonly legacy: LegacyPayloads = 'open',
  ) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const { active } = this.keyring;
    return payloads.map((payload) => ({
      metadata: {
        encoding: Buffer.from(ENCRYPTED_ENCODING),
        [KEY_ID_METADATA]: Buffer.from(active.id),
      },
      data: encryptFor('payload', temporal.api.common.v1.Payload.encode(payload).finish(), active),
    }));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (text(payload.metadata?.encoding) !== ENCRYPTED_ENCODING) return payload;
      const keyId = text(payload.metadata?.[KEY_ID_METADATA]);
      if (!keyId) throw new SecretKeyError('(none given)', 'missing');
      return temporal.api.common.v1.Payload.decode(this.open(payload.data ?? new Uint8Array(), keyId)) as Payload;
    });
  }

  private open(data: Uint8Array, keyId: string): Buffer {
    const key = this.keyring.byId.get(keyId);
    if (key) return decryptFor('payload', data, key);
    const legacy = this.keyring.legacyById.get(keyId);
    if (!legacy) throw new SecretKeyError(keyId, 'missing');
    if (this.legacy === 'refuse') throw new SecretKeyError(keyId, 'legacy');
    return decryptLegacy(data, legacy);
  }
}

/** The module of the failure converter: clients and workers load it by path (workers into the sandbox too). */
export const FAILURE_CONVERTER_PATH = require.resolve('./failure-converter');

/** The data converter of every client and worker: the codec, and failures whose text is encrypted too. */
export function encryptingDataConverter(keyring: Keyring): DataConverter {
  return { payloadCodecs: [new EncryptionCodec(keyring)], failureConverterPath: FAILURE_CONVERTER_PATH };
}

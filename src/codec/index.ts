import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { decrypt, encrypt, keyById, SecretKeyError, type Keyring } from '../secrets';

/** The `encoding` of an encrypted payload, and the metadata key that names its key. */
export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';

const text = (bytes: Uint8Array | null | undefined) => (bytes ? Buffer.from(bytes).toString('utf8') : undefined);

/**
 * The payload codec every client and worker of the deployment uses: each payload (its metadata
 * and data, serialised) is encrypted with AES-256-GCM under the keyring's active key, and the key
 * id travels in clear in the metadata, so that any holder of that key, active or previous, opens it.
 * Payloads that are not encrypted (histories from before the codec) pass through unchanged.
 */
export class EncryptionCodec implements PayloadCodec {
  constructor(private readonly keyring: Keyring) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const { active } = this.keyring;
    return payloads.map((payload) => ({
      metadata: {
        encoding: Buffer.from(ENCRYPTED_ENCODING),
        [KEY_ID_METADATA]: Buffer.from(active.id),
      },
      data: encrypt(temporal.api.common.v1.Payload.encode(payload).finish(), active),
    }));
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((payload) => {
      if (text(payload.metadata?.encoding) !== ENCRYPTED_ENCODING) return payload;
      const keyId = text(payload.metadata?.[KEY_ID_METADATA]);
      if (!keyId) throw new SecretKeyError('(none given)', 'missing');
      const plain = decrypt(payload.data ?? new Uint8Array(), keyById(this.keyring, keyId));
      return temporal.api.common.v1.Payload.decode(plain) as Payload;
    });
  }
}

/** The module of the failure converter: clients and workers load it by path (workers into the sandbox too). */
export const FAILURE_CONVERTER_PATH = require.resolve('./failure-converter');

/** The data converter of every client and worker: the codec, and failures whose text is encrypted too. */
export function encryptingDataConverter(keyring: Keyring): DataConverter {
  return { payloadCodecs: [new EncryptionCodec(keyring)], failureConverterPath: FAILURE_CONVERTER_PATH };
}

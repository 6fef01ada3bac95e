import request from 'supertest';
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { createApp } from '../../src/api/app';
import { EncryptionCodec, ENCRYPTED_ENCODING, KEY_ID_METADATA } from '../../src/codec';
import { keyringOf, seal } from '../../src/secrets';
import { previousKeyId, previousPayload, previousSeal } from './previous-release';

/** The API's codec endpoint, as the Web UI calls it with a viewer's token. */
const OLD_SETTING = 'the key of the release before the upgrade';
const keyring = keyringOf('the key of the codec route tests', [OLD_SETTING]);
const VIEWER = 'a-viewer-token-of-some-length-000';
const app = createApp({
  client: {} as Client,
  namespace: 'default',
  temporalUiUrl: 'http://127.0.0.1:8233',
  keyring,
  logger: { error: () => undefined },
  auth: { mode: 'tokens', fourEyes: false, tokens: [{ token: VIEWER, subject: 'vera', roles: ['viewer'] }] },
});

const b64 = (bytes: Uint8Array | null | undefined) => Buffer.from(bytes ?? new Uint8Array()).toString('base64');
const json = (p: Payload) => ({ metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, b64(v)])), data: b64(p.data) });
const decode = (...payloads: Payload[]) => request(app).post('/codec/decode').set('authorization', `Bearer ${VIEWER}`).send({ payloads: payloads.map(json) });
/** The body of a sealed password, posted as the data of an encrypted payload under the seal's key id. */
const sealAsPayload = (sealed: { sealed: string }): Payload => {
  const [, keyId, body] = sealed.sealed.split('.');
  return { metadata: { encoding: Buffer.from(ENCRYPTED_ENCODING), [KEY_ID_METADATA]: Buffer.from(keyId) }, data: Buffer.from(body, 'base64') };
};
const plain = defaultPayloadConverter.toPayload({ table: 'shop.events' });

describe('the codec endpoint and sealed passwords', () => {
  it('when a viewer posts a password seal as a payload under its key id, the answer is 400 naming the payload, and nothing is decoded', async () => {
    // A password that is also a serialised Payload (its data field): a seal opened as a payload would show it.
    const password = `\x12\x08hunter22`;
    const [encoded] = await new EncryptionCodec(keyring).encode([plain]);
    const res = await decode(encoded, sealAsPayload(seal(password, keyring)));

    expect(res.status).toBe(400);
    expect(res.body).toEqual({ error: 'invalid_request', issues: [{ path: 'payloads.1', message: expect.stringMatching(/never a sealed password/) }] });
    expect(JSON.stringify(res.body)).not.toContain(Buffer.from('hunter22').toString('base64'));
    expect(JSON.stringify(res.body)).not.toContain('shop.events');
  });

  it('when a viewer posts a version 2 seal of the previous release under its legacy key id, the answer is 400: the endpoint does not decrypt with legacy keys', async () => {
    const res = await decode(sealAsPayload(previousSeal(OLD_SETTING, 'hunter22-legacy')));

    expect(res.status).toBe(400);
    expect(res.body.issues).toEqual([{ path: 'payloads.0', message: expect.stringContaining(`key ${previousKeyId(OLD_SETTING)} is a legacy key`) }]);
    expect(JSON.stringify(res.body)).not.toContain('hunter22');
  });

  it('when a payload of the previous release is posted, it is refused alike: legacy payloads and seals cannot be told apart', async () => {
    const res = await decode(previousPayload(OLD_SETTING, plain));

    expect(res.status).toBe(400);
    expect(JSON.stringify(res.body)).not.toContain('shop.events');
  });

  it('when payloads of the current keys are posted, they come back decoded; a key the API lacks returns the payload as it was', async () => {
    const [encoded] = await new EncryptionCodec(keyring).encode([plain]);
    const [foreign] = await new EncryptionCodec(keyringOf('a key this API never held')).encode([plain]);
    const res = await decode(encoded, foreign, plain);

    expect(res.status).toBe(200);
    expect(res.body.payloads).toEqual([json(plain), json(foreign), json(plain)]);
  });
});

import express, { Router, type RequestHandler } from 'express';
import type { Payload } from '@temporalio/common';
import { z } from 'zod';
import { EncryptionCodec } from '../codec';
import { SecretKeyError } from '../secrets';
import { InvalidRequestError } from '../errors';
import type { AppDeps } from './app';
import { authenticate, requireRole } from './auth';

const base64 = z.string().max(4 * 1024 * 1024).regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'must be base64');

/** A Payload in the protobuf JSON mapping: metadata values and data are base64. */
const payloadSchema = z.object({ metadata: z.record(z.string(), base64).optional(), data: base64.optional() });

/** Body and answer of `/codec/encode` and `/codec/decode`, as Temporal's codec protocol defines them. */
export const codecBodySchema = z.object({ payloads: z.array(payloadSchema).max(10_000) });
type JsonPayload = z.infer<typeof payloadSchema>;

const fromJson = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data ?? '', 'base64'),
});
const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')])),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

/**
 * CORS for the Web UI, which calls the codec from the browser: the configured origins only, with
 * the headers the UI sends. A preflight is answered before authentication, as browsers send none.
 */
function cors(origins: readonly string[]): RequestHandler {
  return (req, res, next) => {
    const origin = req.get('origin');
    res.vary('Origin');
    if (origin && origins.includes(origin)) {
      res.set({
        'Access-Control-Allow-Origin': origin,
        'Access-Control-Allow-Credentials': 'true',
        'Access-Control-Allow-Methods': 'POST, OPTIONS',
        'Access-Control-Allow-Headers': 'authorization, content-type, x-namespace',
        'Access-Control-Max-Age': '600',
      });
    }
    if (req.method === 'OPTIONS') {
      res.status(204).end();
      return;
    }
    next();
  };
}

/**
 * A browser UI without single sign-on cannot send a bearer header, so the token may also sit in
 * the path: `/codec/t/<token>/decode` (the protocol looks only at the last segment).
 */
const tokenFromPath: RequestHandler = (req, _res, next) => {
  const token = req.params.token;
  if (typeof token === 'string' && !req.get('authorization')) req.headers.authorization = `Bearer ${token}`;
  next();
};

/**
 * Why the codec endpoint refuses a payload it could not decode, or undefined when it returns the
 * payload as it was (a key this process lacks, or no encrypted payload at all).
 */
function refusalOf(err: unknown): string | undefined {
  if (!(err instanceof SecretKeyError) || err.reason === 'missing') return undefined;
  if (err.reason === 'legacy') {
    return `key ${err.keyId} is a legacy key: the codec endpoint does not decode under it, because sealed passwords shared it (workers still read these payloads)`;
  }
  return `did not open as a payload under key ${err.keyId}: the codec endpoint decodes payloads only, never a sealed password or altered data`;
}

/**
 * Temporal's remote codec endpoint, so that the Web UI and `temporal` CLI show decoded runs.
 * Decoding needs the role viewer: it shows what a run carries (never an inline password, which
 * stays sealed inside, under a key of its own). Encoding needs operator. A payload under a key
 * this process lacks is returned as it is, so one old payload does not blank a whole page. A
 * payload that does not open as a payload (a sealed password's body, altered data), or that is
 * under a legacy key, is refused with a 400 naming it: nothing of the request is decoded.
 */
export function codecRoutes(deps: Pick<AppDeps, 'keyring' | 'auth' | 'codecCorsOrigins' | 'temporalUiUrl'>): Router {
  const codec = new EncryptionCodec(deps.keyring, 'refuse');
  const origins = deps.codecCorsOrigins ?? [new URL(deps.temporalUiUrl).origin];
  const router = Router({ mergeParams: true });
  const body = (value: unknown) => {
    const parsed = codecBodySchema.safeParse(value);
    if (parsed.success) return parsed.data.payloads.map(fromJson);
    throw new InvalidRequestError(parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })));
  };
  const decodeEach = async (payloads: Payload[]) => {
    const issues: { path: string; message: string }[] = [];
    const decoded = await Promise.all(
      payloads.map((p, i) =>
        codec.decode([p]).then(
          ([d]) => d,
          (err: unknown) => {
            const refusal = refusalOf(err);
            if (refusal) issues.push({ path: `payloads.${i}`, message: refusal });
            return p;
          },
        ),
      ),
    );
    if (issues.length > 0) throw new InvalidRequestError(issues);
    return decoded;
  };
  const allowBrowser = cors(origins);
  const guard = [allowBrowser, tokenFromPath, authenticate(deps.auth), express.json({ limit: '8mb' })];
  for (const prefix of ['', '/t/:token']) {
    router.options(`${prefix}/:operation`, allowBrowser);
    router.post(`${prefix}/decode`, ...guard, requireRole('viewer', 'decoding payloads'), async (req, res) => {
      res.json({ payloads: (await decodeEach(body(req.body))).map(toJson) });
    });
    router.post(`${prefix}/encode`, ...guard, requireRole('operator', 'encoding payloads'), async (req, res) => {
      res.json({ payloads: (await codec.encode(body(req.body))).map(toJson) });
    });
  }
  return router;
}

// Webhook signatures: HMAC-SHA256 with the webhook's secret over
// `${timestamp}.${body}`, sent as
//   x-riskstream-timestamp: <unix seconds>
//   x-riskstream-signature: v1=<hex>
// The secret (e.g. `whsec_…`) is used as the HMAC key exactly as returned at
// registration (its UTF-8 bytes). Each attempt is signed with a fresh
// timestamp, so receivers can refuse anything older than a few minutes.

import { createHmac, timingSafeEqual } from 'node:crypto';

export const TIMESTAMP_HEADER = 'x-riskstream-timestamp';
export const SIGNATURE_HEADER = 'x-riskstream-signature';
export const SIGNATURE_SCHEME = 'v1';

function mac(secret: string, timestamp: string, body: string | Buffer): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest();
}

/** The signature header value for a body sent at `timestamp` (unix seconds): `v1=<hex>`. */
export function signWebhook(secret: string, timestamp: number | string, body: string | Buffer): string {
  return `${SIGNATURE_SCHEME}=${mac(secret, String(timestamp), body).toString('hex')}`;
}

/**
 * Verifies a delivery: `timestamp` and `signature` are the header values,
 * `body` the raw request body (bytes as received, before any JSON parsing).
 * True when one `v1=` entry of the signature header (several may be given,
 * comma-separated) matches, compared in constant time, and the timestamp is
 * within `toleranceSec` of now (replay window, default 300 s).
 */
export function verifyWebhookSignature(
  secret: string,
  timestamp: string | number | undefined,
  body: string | Buffer,
  signature: string | undefined,
  toleranceSec = 300,
  nowSec: number = Date.now() / 1000,
): boolean {
  if (timestamp === undefined || signature === undefined || secret === '') return false;
  const ts = String(timestamp).trim();
  if (!/^\d{1,12}$/.test(ts)) return false;
  if (Math.abs(nowSec - Number(ts)) > toleranceSec) return false;
  const expected = mac(secret, ts, body);
  let ok = false;
  for (const part of signature.split(',')) {
    const [scheme, value] = part.trim().split('=', 2);
    if (scheme !== SIGNATURE_SCHEME || !value || !/^[0-9a-f]{64}$/i.test(value)) continue;
    // No early exit: every candidate is compared.
    if (timingSafeEqual(Buffer.from(value, 'hex'), expected)) ok = true;
  }
  return ok;
}

// The RSA key that signs Security Event Tokens (RS256). Taken from the
// environment (PEM text, e.g. RISKSTREAM_SSF_SIGNING_KEY) or generated once and
// kept in the data directory as `ssf-signing-key.pem` (PKCS8 PEM, mode 0600).
// The key id (`kid`) is the RFC 7638 JWK thumbprint of the public key, so the
// same key always has the same kid.

import { createPrivateKey, createPublicKey, generateKeyPair as generateRsa, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import { calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import { readOrCreateKeyFile } from '../../config/key-file.js';

export const SSF_KEY_FILE = 'ssf-signing-key.pem';

export interface SsfSigningKey {
  kid: string;
  alg: 'RS256';
  privateKey: KeyObject;
  /** Public key as a JWK with kid, alg and use. */
  publicJwk: JWK;
  /** The JWKS document served at the jwks_uri. */
  jwks(): { keys: JWK[] };
}

export async function signingKeyFromPem(pem: string): Promise<SsfSigningKey> {
  const privateKey = createPrivateKey({ key: pem, format: 'pem' });
  if (privateKey.asymmetricKeyType !== 'rsa') throw new Error(`SSF signing key must be an RSA key, got ${privateKey.asymmetricKeyType}`);
  const bits = privateKey.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < 2048) throw new Error(`SSF signing key must be at least 2048 bits, got ${bits}`);
  const jwk = await exportJWK(createPublicKey(privateKey));
  const kid = await calculateJwkThumbprint(jwk, 'sha256');
  const publicJwk: JWK = { ...jwk, kid, alg: 'RS256', use: 'sig' };
  return { kid, alg: 'RS256', privateKey, publicJwk, jwks: () => ({ keys: [publicJwk] }) };
}

/**
 * Loads the SET signing key: `pem` when given (from the environment), else
 * `<dataDir>/ssf-signing-key.pem`, generated (RSA 2048) when absent.
 */
export async function loadSsfSigningKey(opts: { dataDir: string; pem?: string | undefined }): Promise<SsfSigningKey> {
  if (opts.pem && opts.pem.trim() !== '') return signingKeyFromPem(opts.pem.replace(/\\n/g, '\n'));
  const pem = await readOrCreateKeyFile(opts.dataDir, SSF_KEY_FILE, async () => {
    const { privateKey } = await promisify(generateRsa)('rsa', { modulusLength: 2048 });
    return privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  });
  return signingKeyFromPem(pem);
}

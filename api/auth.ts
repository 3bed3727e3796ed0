// Bearer tokens for the API: JWTs signed by the server (HS256) carrying a role
// and a tenant. The key is given by environment (RISKSTREAM_JWT_SECRET) or
// generated once and kept in the data directory, readable only by its owner.

import { randomBytes, randomUUID } from 'node:crypto';
import { jwtVerify, SignJWT, errors as joseErrors } from 'jose';
import { readOrCreateKeyFile } from '../config/key-file.js';

export const ROLES = ['token_server', 'analyst', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export interface Principal {
  subject: string;
  role: Role;
  tenant: string;
  /** Token id, the key for per-token rate limiting. */
  tokenId: string;
}

const ISSUER = 'riskstream';
const AUDIENCE = 'riskstream-api';

export class AuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AuthError';
  }
}

/** Loads the signing key: from the environment, else from `<dataDir>/jwt.key`, created when absent. */
export async function loadSigningKey(dataDir: string, fromEnv: string | undefined): Promise<Uint8Array> {
  if (fromEnv) {
    const key = Buffer.from(fromEnv, 'utf8');
    if (key.length < 32) throw new Error('RISKSTREAM_JWT_SECRET must be at least 32 bytes');
    return key;
  }
  const text = await readOrCreateKeyFile(dataDir, 'jwt.key', () => randomBytes(32).toString('base64'));
  return Buffer.from(text.trim(), 'base64');
}

/** Parses durations like 30s, 15m, 8h, 7d. */
export function parseDuration(text: string): number {
  const m = /^(\d+)\s*(s|m|h|d)$/.exec(text.trim());
  if (!m) throw new Error(`invalid duration ${JSON.stringify(text)} (use e.g. 30m, 8h, 7d)`);
  const n = Number(m[1]);
  const unit = { s: 1, m: 60, h: 3600, d: 86400 }[m[2] as 's' | 'm' | 'h' | 'd'];
  return n * unit;
}

export class TokenAuthority {
  constructor(private readonly key: Uint8Array) {}

  async issue(opts: { role: Role; tenant: string; subject?: string; ttlSeconds: number }): Promise<string> {
    if (!ROLES.includes(opts.role)) throw new Error(`role must be one of ${ROLES.join(', ')}`);
    if (!opts.tenant) throw new Error('tenant is required');
    return new SignJWT({ role: opts.role, tenant: opts.tenant })
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setSubject(opts.subject ?? `${opts.role}@${opts.tenant}`)
      .setIssuer(ISSUER)
      .setAudience(AUDIENCE)
      .setIssuedAt()
      .setJti(randomUUID())
      .setExpirationTime(Math.floor(Date.now() / 1000) + opts.ttlSeconds)
      .sign(this.key);
  }

  async verify(token: string): Promise<Principal> {
    try {
      const { payload } = await jwtVerify(token, this.key, { issuer: ISSUER, audience: AUDIENCE, algorithms: ['HS256'] });
      const role = payload.role;
      const tenant = payload.tenant;
      if (typeof role !== 'string' || !(ROLES as readonly string[]).includes(role)) throw new AuthError('token has no valid role');
      if (typeof tenant !== 'string' || tenant === '') throw new AuthError('token has no tenant');
      return { subject: payload.sub ?? 'unknown', role: role as Role, tenant, tokenId: payload.jti ?? token.slice(-16) };
    } catch (err) {
      if (err instanceof AuthError) throw err;
      if (err instanceof joseErrors.JWTExpired) throw new AuthError('token expired');
      throw new AuthError('invalid token');
    }
  }
}

// Authentication and authorisation for the /v1 scope. Every route in the scope
// declares the roles it admits (`config.roles`); a request without a valid
// bearer token gets 401, one whose role is not admitted gets 403. The tenant
// always comes from the token, never from the request, so a token for one
// tenant cannot reach another tenant's data.
//
// Verified tokens are cached (VerifiedTokenCache): verifying an HS256 JWT
// costs far more than the risk lookup it guards, and a token server sends the
// same bearer token on every call. Only successful verifications are cached,
// an entry never outlives the token's `exp` (nor `maxAgeMs`), and the cache is
// bounded (oldest entries are evicted first).

import fp from 'fastify-plugin';
import type { FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { decodeJwt } from 'jose';
import { AuthError, type Principal, type Role, type TokenAuthority } from '../auth.js';

declare module 'fastify' {
  interface FastifyRequest {
    principal: Principal | null;
  }
  interface FastifyContextConfig {
    /** Roles admitted to the route; a /v1 route without it admits nobody. */
    roles?: readonly Role[];
  }
}

export interface AuthenticateOptions {
  authority: TokenAuthority;
  /** Verified tokens kept in the cache (default 10,000; 0 disables it). */
  tokenCacheSize?: number;
  /** Longest time a verified token is trusted without verifying it again, ms (default 5 min). */
  tokenCacheMaxAgeMs?: number;
}

interface CachedToken {
  principal: Principal;
  /** Epoch ms after which the entry must not be used: min(exp, cached at + max age). */
  until: number;
}

/**
 * A bounded cache of verified bearer tokens: raw token → principal. An entry
 * is used only while `now < until`, where `until` is at most the token's
 * `exp` (the instant the token expires, as jose decides it), so an expired
 * token is never accepted from the cache. Insertion-ordered: when full, the
 * oldest entry is evicted.
 */
export class VerifiedTokenCache {
  private readonly entries = new Map<string, CachedToken>();

  constructor(
    readonly capacity = 10_000,
    readonly maxAgeMs = 5 * 60_000,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(token: string, now = Date.now()): Principal | undefined {
    const e = this.entries.get(token);
    if (e === undefined) return undefined;
    if (now >= e.until) {
      this.entries.delete(token);
      return undefined;
    }
    return e.principal;
  }

  /** Caches a successfully verified token expiring at `expMs` (epoch ms); tokens without an expiry are not cached. */
  set(token: string, principal: Principal, expMs: number | undefined, now = Date.now()): void {
    if (this.capacity <= 0 || expMs === undefined || !Number.isFinite(expMs)) return;
    const until = Math.min(expMs, now + this.maxAgeMs);
    if (until <= now) return;
    this.entries.delete(token);
    while (this.entries.size >= this.capacity) {
      const oldest = this.entries.keys().next();
      if (oldest.done) break;
      this.entries.delete(oldest.value);
    }
    this.entries.set(token, { principal: Object.freeze({ ...principal }), until });
  }

  clear(): void {
    this.entries.clear();
  }
}

/** The `exp` of a token already verified, in epoch ms (undefined when absent). */
function expiryMs(token: string): number | undefined {
  try {
    const { exp } = decodeJwt(token);
    return typeof exp === 'number' ? exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

export const authenticate = fp<AuthenticateOptions>(
  async (app, { authority, tokenCacheSize, tokenCacheMaxAgeMs }) => {
    const cache = new VerifiedTokenCache(tokenCacheSize ?? 10_000, tokenCacheMaxAgeMs ?? 5 * 60_000);

    /** Admits the principal to the route, or answers 403. */
    const authorize = (request: FastifyRequest, reply: FastifyReply, principal: Principal, done: HookHandlerDoneFunction): void => {
      request.principal = principal;
      const roles = request.routeOptions.config.roles ?? [];
      if (!roles.includes(principal.role)) {
        reply.code(403).send({ error: 'forbidden', message: `role ${principal.role} may not use this route` });
        return;
      }
      done();
    };

    const unauthorized = (reply: FastifyReply, err: unknown): void => {
      const message = err instanceof AuthError ? err.message : 'invalid token';
      reply.code(401).header('www-authenticate', 'Bearer error="invalid_token"').send({ error: 'unauthorized', message });
    };

    app.decorateRequest('principal', null);
    // Callback style (not async): a cached token is admitted synchronously,
    // without a promise per request. Replying ends the chain (done is not called).
    app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
      const header = request.headers.authorization;
      const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
      if (!match) {
        reply
          .code(401)
          .header('www-authenticate', 'Bearer realm="riskstream"')
          .send({ error: 'unauthorized', message: 'missing bearer token (Authorization: Bearer <token>)' });
        return;
      }
      const token = match[1]!;
      const cached = cache.get(token);
      if (cached !== undefined) {
        authorize(request, reply, cached, done);
        return;
      }
      authority
        .verify(token)
        .then(
          (principal) => {
            cache.set(token, principal, expiryMs(token));
            authorize(request, reply, principal, done);
          },
          (err: unknown) => unauthorized(reply, err),
        )
        .catch((err: Error) => done(err));
    });
  },
  { name: 'riskstream-authenticate' },
);

/** The authenticated principal of a /v1 request (set by `authenticate`). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new Error('route is outside the authenticated scope');
  return request.principal;
}

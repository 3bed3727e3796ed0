// Authentication and authorisation for the /v1 scope. Every route in the scope
// declares the roles it admits (`config.roles`); a request without a valid
// bearer token gets 401, one whose role is not admitted gets 403. The tenant
// always comes from the token, never from the request, so a token for one
// tenant cannot reach another tenant's data.

import fp from 'fastify-plugin';
import type { FastifyReply, FastifyRequest } from 'fastify';
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
}

export const authenticate = fp<AuthenticateOptions>(
  async (app, { authority }) => {
    app.decorateRequest('principal', null);
    app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      const header = request.headers.authorization;
      const match = header ? /^Bearer\s+(\S+)$/i.exec(header) : null;
      if (!match) {
        return reply
          .code(401)
          .header('www-authenticate', 'Bearer realm="riskstream"')
          .send({ error: 'unauthorized', message: 'missing bearer token (Authorization: Bearer <token>)' });
      }
      try {
        request.principal = await authority.verify(match[1]!);
      } catch (err) {
        const message = err instanceof AuthError ? err.message : 'invalid token';
        return reply.code(401).header('www-authenticate', 'Bearer error="invalid_token"').send({ error: 'unauthorized', message });
      }
      const roles = request.routeOptions.config.roles ?? [];
      if (!roles.includes(request.principal.role)) {
        return reply.code(403).send({ error: 'forbidden', message: `role ${request.principal.role} may not use this route` });
      }
    });
  },
  { name: 'riskstream-authenticate' },
);

/** The authenticated principal of a /v1 request (set by `authenticate`). */
export function principalOf(request: FastifyRequest): Principal {
  if (!request.principal) throw new Error('route is outside the authenticated scope');
  return request.principal;
}

// Example token server that asks riskstream before issuing an access token.
//
//   POST /token  { "agent_id": "...", "scopes": ["User.Read", ...] }
//
// For each request it calls riskstream's GET /v1/risk/agents/:id with its own
// token_server bearer token and decides:
//
//   high                 → 403 { error: "access_denied", reason }
//   medium               → a token with the scopes narrowed to a read-only subset
//                          (privileged scopes dropped); 403 when nothing is left
//   low / none / unknown → a token with every scope asked for
//   riskstream unreachable, slow (> riskTimeoutMs), or answering anything but 200
//                        → fail closed for privileged scopes: treated like medium
//                          (read-only scopes are still issued so agents keep
//                          working); 503 { error: "temporarily_unavailable" }
//                          when every scope asked for is privileged
//
// Privileged scopes: `*.ReadWrite*`, `Directory.*`, `RoleManagement.*`,
// `AppRoleAssignment.*` and `Application.ReadWrite.All`, matched on the scope
// name after any resource prefix (`https://graph.microsoft.com/Directory.Read.All`
// is `Directory.Read.All`).
//
// This is an example: it trusts the agent_id in the body. A real token
// server authenticates the client first (client credentials, a federated
// assertion, mTLS) and takes the agent id from that.
//
// Run: RISKSTREAM_URL=http://127.0.0.1:8080 RISKSTREAM_TOKEN=$(riskstream token --role token_server --tenant T) \
//      TOKEN_SERVER_KEY=<at least 32 bytes> npx tsx examples/token-server/server.ts

import { randomBytes, randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import { SignJWT } from 'jose';

export type RiskLevel = 'none' | 'low' | 'medium' | 'high';

/** riskstream's answer for one agent (GET /v1/risk/agents/:id). */
export interface AgentRisk {
  agent_id: string;
  level: RiskLevel;
  state: string;
  score: number;
  updated_at: string | null;
  reasons: { detector: string; severity: string; summary: string }[];
}

export interface TokenServerOptions {
  /** riskstream's base URL, e.g. http://127.0.0.1:8080. */
  riskstreamUrl: string;
  /** A riskstream bearer token with role token_server. */
  riskstreamToken: string;
  /** HS256 key of the tokens this server issues (at least 32 bytes). */
  signingKey: Uint8Array;
  issuer?: string;
  audience?: string;
  /** Lifetime of issued tokens (default 3600 s). */
  ttlSeconds?: number;
  /** How long to wait for riskstream before failing closed (default 500 ms). */
  riskTimeoutMs?: number;
  logger?: boolean;
}

const PRIVILEGED = ['*.ReadWrite*', 'Directory.*', 'RoleManagement.*', 'AppRoleAssignment.*', 'Application.ReadWrite.All'].map(
  (glob) => new RegExp(`^${glob.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`),
);

/** True for scopes a risky (or unassessed) agent must not get. */
export function isPrivilegedScope(scope: string): boolean {
  const name = scope.slice(scope.lastIndexOf('/') + 1);
  return PRIVILEGED.some((re) => re.test(name));
}

/** Splits scopes into the read-only ones kept and the privileged ones dropped. */
export function narrowScopes(scopes: readonly string[]): { kept: string[]; dropped: string[] } {
  const kept: string[] = [];
  const dropped: string[] = [];
  for (const s of scopes) (isPrivilegedScope(s) ? dropped : kept).push(s);
  return { kept, dropped };
}

export type RiskLookup = { ok: true; risk: AgentRisk } | { ok: false; reason: string };

/** Asks riskstream for an agent's risk; never throws. */
export async function lookupRisk(options: Pick<TokenServerOptions, 'riskstreamUrl' | 'riskstreamToken' | 'riskTimeoutMs'>, agentId: string): Promise<RiskLookup> {
  // riskstream takes ids up to 256 characters in the path; the batch route is kept for anything longer.
  const long = agentId.length > 100;
  const url = new URL(long ? '/v1/risk/agents:batch' : `/v1/risk/agents/${encodeURIComponent(agentId)}`, options.riskstreamUrl);
  try {
    const res = await fetch(url, {
      method: long ? 'POST' : 'GET',
      headers: {
        authorization: `Bearer ${options.riskstreamToken}`,
        accept: 'application/json',
        ...(long && { 'content-type': 'application/json' }),
      },
      ...(long && { body: JSON.stringify({ ids: [agentId] }) }),
      signal: AbortSignal.timeout(options.riskTimeoutMs ?? 500),
    });
    if (res.status !== 200) {
      await res.body?.cancel();
      return { ok: false, reason: `riskstream answered ${res.status}` };
    }
    const body = (await res.json()) as AgentRisk | { agents: AgentRisk[] };
    const risk = 'agents' in body ? body.agents[0] : body;
    if (!risk || !['none', 'low', 'medium', 'high'].includes(risk.level)) return { ok: false, reason: 'riskstream answered without a risk level' };
    return { ok: true, risk };
  } catch (err) {
    const e = err as Error & { cause?: { code?: string } };
    return { ok: false, reason: `riskstream unreachable (${e.name === 'TimeoutError' ? 'timeout' : (e.cause?.code ?? e.message)})` };
  }
}

interface TokenRequest {
  agent_id: string;
  scopes: string[];
}

export async function buildTokenServer(options: TokenServerOptions): Promise<FastifyInstance> {
  if (options.signingKey.length < 32) throw new Error('signingKey must be at least 32 bytes');
  const issuer = options.issuer ?? 'example-token-server';
  const audience = options.audience ?? 'example-resource';
  const ttl = options.ttlSeconds ?? 3600;
  const app = Fastify({ logger: options.logger ?? false });

  app.post<{ Body: TokenRequest }>(
    '/token',
    {
      schema: {
        body: {
          type: 'object',
          required: ['agent_id', 'scopes'],
          additionalProperties: false,
          properties: {
            agent_id: { type: 'string', minLength: 1, maxLength: 256 },
            scopes: { type: 'array', minItems: 1, maxItems: 100, items: { type: 'string', minLength: 1, maxLength: 256 } },
          },
        },
      },
    },
    async (request, reply) => {
      const { agent_id, scopes } = request.body;
      const lookup = await lookupRisk(options, agent_id);

      let granted: string[] = scopes;
      let dropped: string[] = [];
      let level: RiskLevel | 'unknown';
      if (!lookup.ok) {
        // Fail closed for privileged scopes: without an answer, only read-only scopes.
        level = 'unknown';
        ({ kept: granted, dropped } = narrowScopes(scopes));
        request.log.warn({ agent_id, reason: lookup.reason }, 'risk unavailable; privileged scopes withheld');
        if (granted.length === 0) {
          return reply.code(503).send({ error: 'temporarily_unavailable', reason: `${lookup.reason}; every requested scope is privileged` });
        }
      } else {
        const risk = lookup.risk;
        level = risk.level;
        if (risk.level === 'high') {
          const why = risk.reasons[0]?.summary;
          return reply.code(403).send({ error: 'access_denied', reason: `agent risk is high${why ? `: ${why}` : ''}` });
        }
        if (risk.level === 'medium') {
          ({ kept: granted, dropped } = narrowScopes(scopes));
          if (granted.length === 0) {
            return reply.code(403).send({ error: 'access_denied', reason: 'agent risk is medium and every requested scope is privileged' });
          }
        }
      }

      const accessToken = await new SignJWT({ scp: granted.join(' '), risk_level: level })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setSubject(agent_id)
        .setIssuer(issuer)
        .setAudience(audience)
        .setIssuedAt()
        .setJti(randomUUID())
        .setExpirationTime(Math.floor(Date.now() / 1000) + ttl)
        .sign(options.signingKey);
      return {
        access_token: accessToken,
        token_type: 'Bearer',
        expires_in: ttl,
        scope: granted.join(' '),
        risk_level: level,
        dropped_scopes: dropped,
        ...(lookup.ok ? {} : { risk_unavailable: lookup.reason }),
      };
    },
  );
  return app;
}

async function main(): Promise<void> {
  const riskstreamToken = process.env.RISKSTREAM_TOKEN;
  if (!riskstreamToken) throw new Error('RISKSTREAM_TOKEN (a riskstream token with role token_server) is required');
  let signingKey: Uint8Array;
  if (process.env.TOKEN_SERVER_KEY) {
    signingKey = Buffer.from(process.env.TOKEN_SERVER_KEY, 'utf8');
  } else {
    signingKey = randomBytes(32);
    console.warn('TOKEN_SERVER_KEY not set: issuing tokens with a random key that lasts until exit');
  }
  const app = await buildTokenServer({
    riskstreamUrl: process.env.RISKSTREAM_URL ?? 'http://127.0.0.1:8080',
    riskstreamToken,
    signingKey,
    logger: true,
  });
  await app.listen({ host: process.env.HOST ?? '127.0.0.1', port: Number(process.env.PORT ?? 8090) });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: Error) => {
    console.error(err.message);
    process.exit(1);
  });
}

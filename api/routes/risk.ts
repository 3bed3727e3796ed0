// Risk lookup for token servers and policy engines: the current risk of an
// agent of the caller's tenant, answered from the in-memory RiskView.
//
//   GET  /v1/risk/agents/:id        one agent
//   POST /v1/risk/agents:batch      { "ids": [...] } up to 100 agents, answers in the same order
//
// An agent riskstream knows nothing about answers 200 with level "none",
// state "none", score 0, updated_at null and no reasons: a token server must
// always get an answer it can act on, never an error for an unknown agent.
//
// The hot path does two map reads and sends a string the view serialised
// when the risk changed; the response schemas below describe (and document in
// OpenAPI) exactly that string. Successful lookups are not logged (route
// config `requestLogging: 'errors'`): at thousands of lookups per second the
// request log would cost more than the lookups.
//
// Rate limit: per token, like the rest of /v1, but with its own budget
// (`rateLimitPerMinute`, default 600,000 a minute, i.e. 10,000/s: a token
// server asks once per token it issues) and its own limiter: a fixed
// one-minute window per token id, checked synchronously in the handler.
// @fastify/rate-limit (used by the other /v1 routes) is switched off here
// because its asynchronous hook, LRU store and three headers on every answer
// cost more than the rest of the route: in A/B runs it added about 5-15 µs of
// server CPU per request, where the lookup itself takes under 1 µs. Past the budget the answer is 429 { error: "rate_limited" } with
// Retry-After; successful answers carry no x-ratelimit-* headers.

import type { FastifyPluginAsync, FastifyReply } from 'fastify';
import type { RiskView } from '../../publish/risk-view.js';
import { principalOf } from '../plugins/authenticate.js';

export const MAX_BATCH_IDS = 100;

export interface RiskRoutesOptions {
  /** Requests per minute per token on the risk routes, both routes together (default 600,000). */
  rateLimitPerMinute?: number;
}

interface Window {
  start: number;
  count: number;
}

/**
 * Fixed-window request counter per key (token id). Bounded: past `capacity`
 * keys, expired windows are dropped, then the oldest.
 */
export class PerTokenLimiter {
  private readonly windows = new Map<string, Window>();

  constructor(
    readonly max: number,
    readonly windowMs = 60_000,
    readonly capacity = 10_000,
  ) {}

  get size(): number {
    return this.windows.size;
  }

  /** Counts one request; returns 0 when it is allowed, else the seconds until the window ends. */
  take(key: string, now = Date.now()): number {
    let w = this.windows.get(key);
    if (w === undefined) {
      if (this.windows.size >= this.capacity) this.evict(now);
      w = { start: now, count: 0 };
      this.windows.set(key, w);
    } else if (now - w.start >= this.windowMs) {
      w.start = now;
      w.count = 0;
    }
    if (++w.count <= this.max) return 0;
    return Math.max(1, Math.ceil((w.start + this.windowMs - now) / 1000));
  }

  private evict(now: number): void {
    for (const [key, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(key);
    while (this.windows.size >= this.capacity) {
      const oldest = this.windows.keys().next();
      if (oldest.done) break;
      this.windows.delete(oldest.value);
    }
  }
}

const agentIdSchema = { type: 'string', minLength: 1, maxLength: 256 } as const;

const reasonSchema = {
  type: 'object',
  required: ['detector', 'severity', 'summary'],
  properties: {
    detector: { type: 'string', description: 'Detector id, or `admin` for an analyst decision' },
    severity: { type: 'string', enum: ['low', 'medium', 'high'] },
    summary: { type: 'string' },
  },
} as const;

export const agentRiskSchema = {
  type: 'object',
  required: ['agent_id', 'level', 'state', 'score', 'updated_at', 'reasons'],
  properties: {
    agent_id: { type: 'string' },
    level: { type: 'string', enum: ['none', 'low', 'medium', 'high'] },
    state: { type: 'string', enum: ['none', 'atRisk', 'confirmedCompromised', 'confirmedSafe', 'dismissed', 'remediated'] },
    score: { type: 'number', minimum: 0, maximum: 1 },
    updated_at: {
      type: ['string', 'null'],
      format: 'date-time',
      description: 'Event time of the latest risk change (RFC 3339); null when riskstream has no risk recorded for the agent',
    },
    reasons: { type: 'array', maxItems: 3, items: reasonSchema, description: 'Top reasons, most important first' },
  },
} as const;

const errorBody = {
  type: 'object',
  required: ['error', 'message'],
  properties: { error: { type: 'string' }, message: { type: 'string' } },
} as const;

const JSON_UTF8 = 'application/json; charset=utf-8';

/** The risk lookup routes over `view`, as a /v1 plugin (for `buildApi`'s `v1Plugins`). */
export function riskRoutes(view: RiskView, options: RiskRoutesOptions = {}): FastifyPluginAsync {
  const perMinute = options.rateLimitPerMinute ?? 600_000;
  const limiter = new PerTokenLimiter(perMinute);
  const config = { roles: ['token_server', 'analyst', 'admin'] as const, requestLogging: 'errors' as const, rateLimit: false as const };
  const errors = { 400: errorBody, 401: errorBody, 403: errorBody, 429: errorBody };

  /** False (and the 429 sent) when the token is over its budget. */
  const allowed = (tokenId: string, reply: FastifyReply): boolean => {
    const retryAfter = limiter.take(tokenId);
    if (retryAfter === 0) return true;
    reply
      .code(429)
      .header('retry-after', String(retryAfter))
      .send({ error: 'rate_limited', message: `more than ${perMinute} risk lookups a minute with this token; retry in ${retryAfter} s` });
    return false;
  };

  return async (app) => {
    app.get<{ Params: { id: string } }>(
      '/risk/agents/:id',
      {
        config,
        schema: {
          summary: 'Current risk of an agent of the caller’s tenant',
          description:
            'An agent with no recorded risk answers 200 with level "none", state "none", score 0, updated_at null and no reasons. ' +
            'Ids longer than 256 characters (the router’s path-parameter limit) are answered 414.',
          tags: ['risk'],
          security: [{ bearer: [] }],
          params: { type: 'object', required: ['id'], properties: { id: agentIdSchema } },
          response: { 200: agentRiskSchema, ...errors },
        },
      },
      (request, reply) => {
        const { tenant, tokenId } = principalOf(request);
        // Synchronous handler: send and return nothing (returning the reply would send it twice).
        if (allowed(tokenId, reply)) reply.header('content-type', JSON_UTF8).send(view.json(tenant, request.params.id));
      },
    );

    app.post<{ Body: { ids: string[] } }>(
      // `::` is Fastify's escape for a literal colon: the path is /risk/agents:batch.
      '/risk/agents::batch',
      {
        config,
        schema: {
          summary: 'Current risk of up to 100 agents of the caller’s tenant',
          description: `Answers in the order of \`ids\` (unknown agents as level "none"); more than ${MAX_BATCH_IDS} ids is a 400 naming \`ids\`. A batch counts as one request for the rate limit.`,
          tags: ['risk'],
          security: [{ bearer: [] }],
          body: {
            type: 'object',
            required: ['ids'],
            additionalProperties: false,
            properties: { ids: { type: 'array', minItems: 1, maxItems: MAX_BATCH_IDS, items: agentIdSchema } },
          },
          response: {
            200: { type: 'object', required: ['agents'], properties: { agents: { type: 'array', items: agentRiskSchema } } },
            ...errors,
          },
        },
      },
      (request, reply) => {
        const { tenant, tokenId } = principalOf(request);
        if (allowed(tokenId, reply)) reply.header('content-type', JSON_UTF8).send(view.jsonMany(tenant, request.body.ids));
      },
    );
  };
}

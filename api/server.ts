// The HTTP API: health outside authentication, everything under /v1 behind
// bearer-token authentication with per-route roles and per-token rate limits.
// Each concern is an encapsulated Fastify plugin; route schemas feed the
// OpenAPI document at /openapi.json and the docs page at /docs.

import Fastify, {
  LogController,
  type FastifyError,
  type FastifyInstance,
  type FastifyPluginAsync,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import rateLimit from '@fastify/rate-limit';
import type { ClickHouseClient } from '@clickhouse/client';
import type { TokenAuthority } from './auth.js';
import { HttpError } from './errors.js';
import { authenticate } from './plugins/authenticate.js';
import { eventRoutes } from './routes/events.js';
import { adminRoutes, type AdminActionsOptions } from './routes/admin.js';
import { agentRoutes } from './routes/agents.js';
import { detectionRoutes } from './routes/detections.js';
import { ledgerRoutes } from './routes/ledger.js';
import { riskyAgentRoutes, type LiveRisk } from './routes/risky-agents.js';
import { statsRoutes } from './routes/stats.js';
import { healthRoutes, type ReadinessCheck } from './routes/health.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /**
     * Request logging of the route: 'all' (default) logs every request at info
     * ("incoming request", "request completed"); 'errors' logs only failures
     * (5xx and errored responses), for hot routes such as the risk lookup,
     * where two log lines per request cost more than the lookup itself.
     */
    requestLogging?: 'all' | 'errors';
  }
}

const quietRoute = (request: FastifyRequest): boolean => request.routeOptions.config?.requestLogging === 'errors';

/** Fastify's request logging, skipping successful requests of routes with `requestLogging: 'errors'`. */
export class ApiLogController extends LogController {
  override incomingRequest(request: FastifyRequest, reply: FastifyReply, metadata?: Record<string, unknown>): void {
    if (!quietRoute(request)) super.incomingRequest(request, reply, metadata);
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply, metadata?: Record<string, unknown>): void {
    if (!error && reply.statusCode < 500 && quietRoute(request)) return;
    super.requestCompleted(error, request, reply, metadata);
  }
}

export interface ApiOptions {
  store: ClickHouseClient;
  authority: TokenAuthority;
  readiness: ReadinessCheck[];
  /** Requests per minute per token on /v1. */
  rateLimitPerMinute?: number;
  logLevel?: string;
  /** Plugins registered at the root, outside authentication (e.g. SSF discovery and JWKS). */
  publicPlugins?: FastifyPluginAsync[];
  /** Further /v1 plugins (detections, risk lookup, admin...), registered inside the authenticated scope. */
  v1Plugins?: FastifyPluginAsync[];
  /** Live risk of every agent (the detection pipeline) for /v1/risky-agents and /v1/agents/:id; without it they read the ledger only. */
  liveRisk?: LiveRisk;
  /** How admin actions change risk and where they are recorded; without it the admin routes answer 503. */
  adminActions?: AdminActionsOptions;
  /** /v1/ledger/verify: uncovered rows younger than this are not reported (default 60 s). */
  ledgerGraceMs?: number;
}

export async function buildApi(options: ApiOptions): Promise<FastifyInstance> {
  const app = Fastify({
    // Agent ids may be long (up to 256 characters in the risk lookup schemas).
    routerOptions: { maxParamLength: 256 },
    logger: {
      level: options.logLevel ?? 'info',
      // Tokens must never reach the logs.
      redact: { paths: ['req.headers.authorization', 'req.headers.cookie'], remove: true },
    },
    logController: new ApiLogController(),
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
    trustProxy: false,
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.validation) {
      // e.g. "querystring/limit must be <= 1000": names the field at fault.
      const context = error.validationContext ?? 'request';
      const first = error.validation[0];
      const field = first?.instancePath ? first.instancePath.replace(/^\//, '').replace(/\//g, '.') : (first?.params as { missingProperty?: string; additionalProperty?: string } | undefined)?.missingProperty ?? (first?.params as { additionalProperty?: string } | undefined)?.additionalProperty;
      const message = field ? `${context}.${field}: ${first?.message ?? 'is invalid'}` : `${context}: ${error.message}`;
      return reply.code(400).send({ error: 'bad_request', message });
    }
    if (error instanceof HttpError) return reply.code(error.statusCode).send({ error: error.code, message: error.message });
    if (error.name === 'BadCursorError') return reply.code(400).send({ error: 'bad_request', message: `cursor: ${error.message}` });
    if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      return reply.code(error.statusCode).send({ error: 'bad_request', message: error.message });
    }
    request.log.error({ err: error }, 'request failed');
    return reply.code(500).send({ error: 'internal', message: 'internal error' });
  });

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'riskstream API', version: '0.1.0', description: 'Risk lookup, audit queries and admin actions for AI-agent identities.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  await app.register(healthRoutes, { checks: options.readiness });
  for (const plugin of options.publicPlugins ?? []) await app.register(plugin);

  await app.register(
    async (v1) => {
      await v1.register(authenticate, { authority: options.authority });
      await v1.register(rateLimit, {
        global: true,
        max: options.rateLimitPerMinute ?? 6000,
        timeWindow: 60_000,
        hook: 'preHandler',
        keyGenerator: (request) => request.principal?.tokenId ?? request.ip,
      });
      await v1.register(eventRoutes, { store: options.store });
      await v1.register(detectionRoutes, { store: options.store });
      await v1.register(riskyAgentRoutes, { liveRisk: options.liveRisk });
      await v1.register(agentRoutes, { store: options.store, liveRisk: options.liveRisk });
      await v1.register(statsRoutes, { store: options.store });
      await v1.register(ledgerRoutes, { store: options.store, ...(options.ledgerGraceMs !== undefined && { graceMs: options.ledgerGraceMs }) });
      await v1.register(adminRoutes, { admin: options.adminActions });
      for (const plugin of options.v1Plugins ?? []) await v1.register(plugin);
    },
    { prefix: '/v1' },
  );

  return app;
}

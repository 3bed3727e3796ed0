// Liveness and readiness, outside the authenticated scope: orchestrators and
// load balancers call them without credentials, and they reveal nothing.

import type { FastifyPluginAsync } from 'fastify';

export interface ReadinessCheck {
  name: string;
  check: () => Promise<boolean>;
}

export const healthRoutes: FastifyPluginAsync<{ checks: ReadinessCheck[] }> = async (app, { checks }) => {
  app.get(
    '/healthz',
    {
      schema: {
        summary: 'Process is up',
        tags: ['health'],
        response: { 200: { type: 'object', required: ['status'], properties: { status: { type: 'string', enum: ['ok'] } } } },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        summary: 'Store reachable and pipeline running',
        tags: ['health'],
        response: {
          '2xx': {
            type: 'object',
            required: ['status', 'checks'],
            properties: {
              status: { type: 'string', enum: ['ready', 'not_ready'] },
              checks: { type: 'object', additionalProperties: { type: 'boolean' } },
            },
          },
          503: {
            type: 'object',
            required: ['status', 'checks'],
            properties: {
              status: { type: 'string', enum: ['ready', 'not_ready'] },
              checks: { type: 'object', additionalProperties: { type: 'boolean' } },
            },
          },
        },
      },
    },
    async (_request, reply) => {
      const results: Record<string, boolean> = {};
      await Promise.all(
        checks.map(async (c) => {
          results[c.name] = await c.check().catch(() => false);
        }),
      );
      const ready = Object.values(results).every(Boolean);
      return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not_ready', checks: results });
    },
  );
};

// Counts over time for the caller's tenant, from the per-agent, per-hour
// statistics ClickHouse's materialized views maintain (agent_hourly_stats):
//
//   GET /v1/stats/detections?from=&to=&interval=hour|day[&agent_id=]   detections by detector
//   GET /v1/stats/events?from=&to=&interval=hour|day[&agent_id=]       events and failures by type
//
// Buckets are dense (empty ones included), aligned to UTC hours or days;
// `from` is rounded down to the interval. Default range: the last 24 hours
// (hour) or 30 days (day).

import type { FastifyPluginAsync } from 'fastify';
import type { ClickHouseClient } from '@clickhouse/client';
import { INTERVAL_MS, MAX_BUCKETS, statsBuckets, type StatsInterval } from '../../store/audit-queries.js';
import { badRequest } from '../errors.js';
import { principalOf } from '../plugins/authenticate.js';
import { parseTimeRange } from './common.js';
import { agentIdSchema, authErrors, timeSchema } from './schemas.js';

interface Query {
  from?: string;
  to?: string;
  interval: StatsInterval;
  agent_id?: string;
}

const querystring = {
  type: 'object',
  additionalProperties: false,
  properties: {
    from: { type: 'string', format: 'date-time', description: 'Start (RFC 3339), rounded down to the interval; default: 24 h (hour) or 30 days (day) before `to`' },
    to: { type: 'string', format: 'date-time', description: 'Exclusive end (RFC 3339); default: now' },
    interval: { type: 'string', enum: ['hour', 'day'], default: 'hour' },
    agent_id: agentIdSchema,
  },
} as const;

const counts = { type: 'object', additionalProperties: { type: 'integer' } } as const;

function range(q: Query): { from: number; to: number } {
  const r = parseTimeRange(q.from, q.to);
  const step = INTERVAL_MS[q.interval];
  const to = r.to ?? Math.ceil(Date.now() / step) * step;
  const from = r.from ?? to - (q.interval === 'hour' ? 24 : 30) * step;
  if (from >= to) throw badRequest('from: must be before to');
  if (Math.ceil((to - Math.floor(from / step) * step) / step) > MAX_BUCKETS) {
    throw badRequest(`from: at most ${MAX_BUCKETS} ${q.interval} buckets per request`);
  }
  return { from, to };
}

const sum = (o: Record<string, number>) => Object.values(o).reduce((a, n) => a + n, 0);

export const statsRoutes: FastifyPluginAsync<{ store: ClickHouseClient }> = async (app, { store }) => {
  const config = { roles: ['analyst', 'admin'] as const };

  /** The tenant's buckets of these kinds for the query's range and agent, and the answer's interval and bounds. */
  async function bucketsOf(q: Query, tenant: string, kinds: Parameters<typeof statsBuckets>[1]['kinds']) {
    const { from, to } = range(q);
    const buckets = await statsBuckets(store, { tenant_id: tenant, kinds, interval: q.interval, from, to, ...(q.agent_id && { agent_id: q.agent_id }) });
    const head = { interval: q.interval, from: buckets[0]?.start ?? new Date(from).toISOString(), to: new Date(to).toISOString() };
    return { head, buckets };
  }

  app.get<{ Querystring: Query }>(
    '/stats/detections',
    {
      config,
      schema: {
        summary: 'Detections per detector over time',
        tags: ['stats'],
        security: [{ bearer: [] }],
        querystring,
        response: {
          200: {
            type: 'object',
            required: ['interval', 'from', 'to', 'detectors', 'buckets'],
            properties: {
              interval: { type: 'string', enum: ['hour', 'day'] },
              from: timeSchema,
              to: timeSchema,
              detectors: { type: 'array', items: { type: 'string' }, description: 'Detectors with at least one detection in the range' },
              buckets: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['start', 'total', 'by_detector'],
                  properties: { start: timeSchema, total: { type: 'integer' }, by_detector: counts },
                },
              },
            },
          },
          ...authErrors,
        },
      },
    },
    async (request) => {
      const { head, buckets } = await bucketsOf(request.query, principalOf(request).tenant, ['detection']);
      const detectors = new Set<string>();
      const out = buckets.map((b) => {
        const by = b.counts.detection ?? {};
        for (const k of Object.keys(by)) detectors.add(k);
        return { start: b.start, total: sum(by), by_detector: by };
      });
      return { ...head, detectors: [...detectors].sort(), buckets: out };
    },
  );

  app.get<{ Querystring: Query }>(
    '/stats/events',
    {
      config,
      schema: {
        summary: 'Events and failures per event type over time',
        description: 'Failures are failed sign-ins, blocked tokens and blocked network requests.',
        tags: ['stats'],
        security: [{ bearer: [] }],
        querystring,
        response: {
          200: {
            type: 'object',
            required: ['interval', 'from', 'to', 'buckets'],
            properties: {
              interval: { type: 'string', enum: ['hour', 'day'] },
              from: timeSchema,
              to: timeSchema,
              buckets: {
                type: 'array',
                items: {
                  type: 'object',
                  required: ['start', 'events', 'failures', 'by_type', 'failures_by_type'],
                  properties: { start: timeSchema, events: { type: 'integer' }, failures: { type: 'integer' }, by_type: counts, failures_by_type: counts },
                },
              },
            },
          },
          ...authErrors,
        },
      },
    },
    async (request) => {
      const { head, buckets } = await bucketsOf(request.query, principalOf(request).tenant, ['event', 'failure']);
      return {
        ...head,
        buckets: buckets.map((b) => {
          const byType = b.counts.event ?? {};
          const failures = b.counts.failure ?? {};
          return { start: b.start, events: sum(byType), failures: sum(failures), by_type: byType, failures_by_type: failures };
        }),
      };
    },
  );
};

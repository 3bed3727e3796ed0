// One agent of the caller's tenant, for analysts:
//
//   GET /v1/agents/:id             current risk, blueprint, sponsors, first and last seen
//   GET /v1/agents/:id/timeline    events, detections, risk changes and admin actions, newest first
//   GET /v1/agents/:id/provenance  blueprint, sponsors, credentials, users acted for, resources, agents called / calling
//
// The tenant always comes from the token: the same agent id in another tenant
// is another agent, invisible here.

import type { FastifyPluginAsync } from 'fastify';
import type { ClickHouseClient } from '@clickhouse/client';
import { agentProvenance, agentSummary, agentTimeline, latestRiskChange, TIMELINE_KINDS } from '../../store/audit-queries.js';
import { notFound } from '../errors.js';
import { principalOf } from '../plugins/authenticate.js';
import { pagedListSchema, parseTimeRange } from './common.js';
import type { LiveRisk } from './risky-agents.js';
import { agentParams, authErrors, errorBody, nullableTime, riskSchema, timeSchema } from './schemas.js';

export interface AgentRiskOut {
  level: string;
  score: number;
  state: string;
  reasons: unknown[];
  updated_at: string | null;
  source: 'live' | 'ledger' | 'none';
}

/** The agent's current risk: the live engine's, else the latest stored change, else none. */
export async function currentRisk(store: ClickHouseClient, liveRisk: LiveRisk | undefined, tenant: string, agent: string): Promise<AgentRiskOut> {
  const live = liveRisk?.risk(tenant, agent);
  if (live) {
    return { level: live.level, score: live.score, state: live.state, reasons: live.reasons, updated_at: new Date(live.updated_at).toISOString(), source: 'live' };
  }
  const stored = await latestRiskChange(store, tenant, agent);
  if (stored) return { level: stored.level, score: stored.score, state: stored.state, reasons: stored.reasons, updated_at: stored.time, source: 'ledger' };
  return { level: 'none', score: 0, state: 'none', reasons: [], updated_at: null, source: 'none' };
}

const sponsorSchema = {
  type: 'object',
  required: ['sponsor_id', 'added_by', 'added_at'],
  properties: { sponsor_id: { type: 'string' }, added_by: { type: ['string', 'null'] }, added_at: timeSchema },
} as const;

const agentSchema = {
  type: 'object',
  required: ['agent_id', 'agent_type', 'blueprint_id', 'blueprints', 'status', 'sponsors', 'first_seen', 'last_seen', 'events', 'detections', 'risk'],
  properties: {
    agent_id: { type: 'string' },
    agent_type: { type: ['string', 'null'] },
    blueprint_id: { type: ['string', 'null'], description: 'Blueprint of the latest event that named one' },
    blueprints: { type: 'array', items: { type: 'string' } },
    status: { type: 'string', enum: ['enabled', 'disabled', 'deleted', 'unknown'], description: 'From the latest created/enabled/disabled/deleted lifecycle event' },
    sponsors: { type: 'array', items: sponsorSchema, description: 'Current sponsors (lifecycle sponsor_added minus sponsor_removed)' },
    first_seen: nullableTime,
    last_seen: nullableTime,
    events: { type: 'integer', description: 'Distinct events stored' },
    detections: { type: 'integer' },
    risk: riskSchema,
  },
} as const;

const linkSchema = {
  type: 'object',
  required: ['agent_id', 'requests', 'first_seen', 'last_seen'],
  properties: { agent_id: { type: 'string' }, requests: { type: 'integer' }, first_seen: timeSchema, last_seen: timeSchema },
} as const;

const provenanceSchema = {
  type: 'object',
  required: ['agent_id', 'blueprint_id', 'blueprints', 'status', 'sponsors', 'credentials', 'permissions', 'acted_for', 'resources', 'calls', 'called_by', 'truncated'],
  properties: {
    agent_id: { type: 'string' },
    blueprint_id: { type: ['string', 'null'] },
    blueprints: { type: 'array', items: { type: 'string' } },
    status: { type: 'string', enum: ['enabled', 'disabled', 'deleted', 'unknown'] },
    sponsors: {
      type: 'object',
      required: ['current', 'history'],
      properties: {
        current: { type: 'array', items: sponsorSchema },
        history: {
          type: 'array',
          items: {
            type: 'object',
            required: ['sponsor_id', 'action', 'actor', 'time', 'event_id'],
            properties: {
              sponsor_id: { type: 'string' },
              action: { type: 'string', enum: ['added', 'removed'] },
              actor: { type: ['string', 'null'] },
              time: timeSchema,
              event_id: { type: 'string' },
            },
          },
        },
      },
    },
    credentials: {
      type: 'array',
      description: 'Credentials from lifecycle events (who added/removed them, when) and sign-ins (type, use)',
      items: {
        type: 'object',
        required: ['credential_id', 'credential_type', 'status', 'added_by', 'added_at', 'removed_by', 'removed_at', 'signins', 'first_used', 'last_used'],
        properties: {
          credential_id: { type: 'string' },
          credential_type: { type: ['string', 'null'] },
          status: { type: 'string', enum: ['active', 'removed', 'unknown'] },
          added_by: { type: ['string', 'null'] },
          added_at: nullableTime,
          removed_by: { type: ['string', 'null'] },
          removed_at: nullableTime,
          signins: { type: 'integer' },
          first_used: nullableTime,
          last_used: nullableTime,
        },
      },
    },
    permissions: {
      type: 'array',
      items: {
        type: 'object',
        required: ['permission', 'granted_by', 'granted_at'],
        properties: { permission: { type: 'string' }, granted_by: { type: ['string', 'null'] }, granted_at: timeSchema },
      },
    },
    acted_for: {
      type: 'array',
      description: 'Users the agent acted for (on-behalf-of sign-ins and tokens)',
      items: {
        type: 'object',
        required: ['user_id', 'events', 'first_seen', 'last_seen'],
        properties: { user_id: { type: 'string' }, events: { type: 'integer' }, first_seen: timeSchema, last_seen: timeSchema },
      },
    },
    resources: {
      type: 'array',
      description: 'Resources of its sign-ins and tokens',
      items: {
        type: 'object',
        required: ['resource', 'signins', 'tokens', 'last_seen'],
        properties: { resource: { type: 'string' }, signins: { type: 'integer' }, tokens: { type: 'integer' }, last_seen: timeSchema },
      },
    },
    calls: { type: 'array', items: linkSchema, description: 'Agents it sent requests to' },
    called_by: { type: 'array', items: linkSchema, description: 'Agents that sent requests to it' },
    truncated: { type: 'array', items: { type: 'string' }, description: 'Lists cut at `limit` entries' },
  },
} as const;

const timelineItemSchema = {
  type: 'object',
  required: ['kind', 'time', 'id', 'data'],
  properties: {
    kind: { type: 'string', enum: [...TIMELINE_KINDS] },
    time: timeSchema,
    id: { type: 'string' },
    data: { type: 'object', additionalProperties: true, description: 'The event record, detection, risk change or admin action' },
  },
} as const;

const withNotFound = { ...authErrors, 404: errorBody } as const;

export interface AgentRoutesOptions {
  store: ClickHouseClient;
  liveRisk?: LiveRisk | undefined;
}

export const agentRoutes: FastifyPluginAsync<AgentRoutesOptions> = async (app, { store, liveRisk }) => {
  const config = { roles: ['analyst', 'admin'] as const };

  app.get<{ Params: { id: string } }>(
    '/agents/:id',
    {
      config,
      schema: {
        summary: 'An agent of the caller’s tenant: current risk, blueprint, sponsors, first and last seen',
        tags: ['audit'],
        security: [{ bearer: [] }],
        params: agentParams,
        response: { 200: agentSchema, ...withNotFound },
      },
    },
    async (request) => {
      const { tenant } = principalOf(request);
      const id = request.params.id;
      const summary = await agentSummary(store, tenant, id);
      const risk = await currentRisk(store, liveRisk, tenant, id);
      if (!summary && risk.source === 'none') throw notFound(`agent ${id} is unknown`);
      return {
        ...(summary ?? {
          agent_id: id,
          agent_type: null,
          blueprint_id: null,
          blueprints: [],
          status: 'unknown',
          sponsors: [],
          first_seen: null,
          last_seen: null,
          events: 0,
          detections: 0,
        }),
        risk,
      };
    },
  );

  app.get<{ Params: { id: string }; Querystring: { from?: string; to?: string; limit: number; cursor?: string } }>(
    '/agents/:id/timeline',
    {
      config,
      schema: pagedListSchema({
        summary: 'An agent’s events, detections, risk changes and admin actions, newest first',
        description: 'Ordered by (time, kind, id) descending; at equal times admin actions, then risk changes, then detections, then events.',
        params: agentParams,
        filters: {},
        listKey: 'items',
        items: timelineItemSchema,
      }),
    },
    async (request) => {
      const { tenant } = principalOf(request);
      const q = request.query;
      return agentTimeline(store, {
        tenant_id: tenant,
        agent_id: request.params.id,
        ...parseTimeRange(q.from, q.to),
        limit: q.limit,
        cursor: q.cursor ?? null,
      });
    },
  );

  app.get<{ Params: { id: string }; Querystring: { limit: number } }>(
    '/agents/:id/provenance',
    {
      config,
      schema: {
        summary: 'Where an agent comes from and what it touched',
        description:
          'Blueprint, sponsors (current and history), credentials (who added them, when, their use), permissions, users it acted for, resources it reached, agents it called and agents that called it. Each list holds at most `limit` entries.',
        tags: ['audit'],
        security: [{ bearer: [] }],
        params: agentParams,
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } },
        },
        response: { 200: provenanceSchema, ...withNotFound },
      },
    },
    async (request) => {
      const { tenant } = principalOf(request);
      const p = await agentProvenance(store, tenant, request.params.id, request.query.limit);
      if (!p) throw notFound(`agent ${request.params.id} is unknown`);
      return p;
    },
  );
};

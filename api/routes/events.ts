// Audit query over stored events: filters and keyset cursor pagination, always
// within the caller's tenant.

import type { FastifyPluginAsync } from 'fastify';
import type { ClickHouseClient } from '@clickhouse/client';
import { EVENT_TYPES } from '../../contract/events.js';
import { queryEvents } from '../../store/queries.js';
import { principalOf } from '../plugins/authenticate.js';
import { pagedListSchema, parseTimeRange } from './common.js';

interface EventsQuery {
  type?: string;
  agent_id?: string;
  user_id?: string;
  blueprint_id?: string;
  ip?: string;
  resource?: string;
  from?: string;
  to?: string;
  limit: number;
  cursor?: string;
}

export const eventRoutes: FastifyPluginAsync<{ store: ClickHouseClient }> = async (app, { store }) => {
  app.get<{ Querystring: EventsQuery }>(
    '/events',
    {
      config: { roles: ['analyst', 'admin'] },
      schema: pagedListSchema({
        summary: 'Events of the caller’s tenant, newest first',
        filters: {
          type: { type: 'string', enum: [...EVENT_TYPES] },
          agent_id: { type: 'string', minLength: 1, maxLength: 256 },
          user_id: { type: 'string', minLength: 1, maxLength: 256 },
          blueprint_id: { type: 'string', minLength: 1, maxLength: 256 },
          ip: { type: 'string', minLength: 1, maxLength: 64 },
          resource: { type: 'string', minLength: 1, maxLength: 1024 },
        },
        listKey: 'events',
        items: { type: 'object', additionalProperties: true },
      }),
    },
    async (request) => {
      const { tenant } = principalOf(request);
      const q = request.query;
      const range = parseTimeRange(q.from, q.to);
      return queryEvents(store, {
        tenant_id: tenant,
        ...(q.type && { type: q.type }),
        ...(q.agent_id && { agent_id: q.agent_id }),
        ...(q.user_id && { user_id: q.user_id }),
        ...(q.blueprint_id && { blueprint_id: q.blueprint_id }),
        ...(q.ip && { ip: q.ip }),
        ...(q.resource && { resource: q.resource }),
        ...range,
        limit: q.limit,
        cursor: q.cursor ?? null,
      });
    },
  );
};

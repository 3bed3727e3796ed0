// GET /v1/detections: the caller's tenant's detections, newest first, with
// filters and keyset cursor pagination (stable while rows are inserted).

import type { FastifyPluginAsync } from 'fastify';
import type { ClickHouseClient } from '@clickhouse/client';
import { queryDetections } from '../../store/queries.js';
import { principalOf } from '../plugins/authenticate.js';
import { pagedListSchema, parseTimeRange } from './common.js';
import { agentIdSchema, detectionSchema, SEVERITIES } from './schemas.js';

interface Query {
  detector?: string;
  severity?: string;
  agent_id?: string;
  from?: string;
  to?: string;
  limit: number;
  cursor?: string;
}

export const detectionRoutes: FastifyPluginAsync<{ store: ClickHouseClient }> = async (app, { store }) => {
  app.get<{ Querystring: Query }>(
    '/detections',
    {
      config: { roles: ['analyst', 'admin'] },
      schema: pagedListSchema({
        summary: 'Detections of the caller’s tenant, newest first',
        filters: {
          detector: { type: 'string', minLength: 1, maxLength: 128, description: 'Detector id, e.g. impossible-travel' },
          severity: { type: 'string', enum: [...SEVERITIES] },
          agent_id: agentIdSchema,
        },
        listKey: 'detections',
        items: detectionSchema,
      }),
    },
    async (request) => {
      const { tenant } = principalOf(request);
      const q = request.query;
      return queryDetections(store, {
        tenant_id: tenant,
        ...(q.detector && { detector: q.detector }),
        ...(q.severity && { severity: q.severity }),
        ...(q.agent_id && { agent_id: q.agent_id }),
        ...parseTimeRange(q.from, q.to),
        limit: q.limit,
        cursor: q.cursor ?? null,
      });
    },
  );
};

// GET /v1/risky-agents: the caller's tenant's agents at risk, like Microsoft
// Graph's riskyAgents (riskLevel, riskState, riskDetail, riskLastUpdatedDateTime),
// from the live risk state of the detection pipeline's engine.
//
// Ordered by level (high first), then latest update (newest first), then
// agent id; `next_cursor` continues after the last agent of a page. The list
// is live: an agent whose risk changes between two page fetches may move.

import type { FastifyPluginAsync } from 'fastify';
import type { AgentRisk } from '../../detectors/engine.js';
import type { RiskState } from '../../detectors/types.js';
import { badRequest } from '../errors.js';
import { principalOf } from '../plugins/authenticate.js';
import { pagedListSchema } from './common.js';
import { reasonSchema, STATES, timeSchema } from './schemas.js';

/** The live risk state the audit routes read (the detection pipeline satisfies it). */
export interface LiveRisk {
  /** An agent's current risk; undefined when the engine holds no state for it. */
  risk(tenantId: string, agentId: string): AgentRisk | undefined;
  /** Every agent at level low or above, all tenants. */
  risks(): Iterable<AgentRisk>;
}

const RANK = { none: 0, low: 1, medium: 2, high: 3 } as const;

/** Graph's riskDetail for a risk state. */
export function riskDetail(state: RiskState): string {
  switch (state) {
    case 'confirmedCompromised':
      return 'adminConfirmedAgentCompromised';
    case 'confirmedSafe':
      return 'adminConfirmedAgentSafe';
    case 'dismissed':
      return 'adminDismissedAllRiskForAgent';
    case 'remediated':
      return 'remediated';
    default:
      return 'none';
  }
}

interface Position {
  rank: number;
  t: number;
  id: string;
}

function encodeCursor(p: Position): string {
  return Buffer.from(JSON.stringify([1, 'k', p.rank, p.t, p.id]), 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): Position {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw badRequest('cursor: not a cursor');
  }
  if (!Array.isArray(v) || v.length !== 5 || v[0] !== 1 || v[1] !== 'k') throw badRequest('cursor: not a cursor of this listing');
  const [, , rank, t, id] = v as unknown[];
  if (typeof rank !== 'number' || typeof t !== 'number' || !Number.isFinite(t) || typeof id !== 'string') throw badRequest('cursor: bad position');
  return { rank, t, id };
}

/** Sort order: rank DESC, time DESC, id ASC; negative when a comes first. */
function compare(a: Position, b: Position): number {
  return b.rank - a.rank || b.t - a.t || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

interface Query {
  level?: 'low' | 'medium' | 'high';
  state?: RiskState;
  limit: number;
  cursor?: string;
}

export const riskyAgentSchema = {
  type: 'object',
  required: ['agent_id', 'risk_level', 'risk_state', 'risk_detail', 'risk_last_updated_at', 'score', 'reasons'],
  properties: {
    agent_id: { type: 'string' },
    risk_level: { type: 'string', enum: ['low', 'medium', 'high'], description: 'Graph riskLevel' },
    risk_state: { type: 'string', enum: [...STATES], description: 'Graph riskState' },
    risk_detail: { type: 'string', description: 'Graph riskDetail, e.g. none, adminConfirmedAgentCompromised' },
    risk_last_updated_at: { ...timeSchema, description: 'Graph riskLastUpdatedDateTime (event time of the latest change)' },
    score: { type: 'number', minimum: 0, maximum: 1 },
    reasons: { type: 'array', items: reasonSchema, description: 'Why the agent is at risk, most important first' },
  },
} as const;

export const riskyAgentRoutes: FastifyPluginAsync<{ liveRisk?: LiveRisk | undefined }> = async (app, { liveRisk }) => {
  app.get<{ Querystring: Query }>(
    '/risky-agents',
    {
      config: { roles: ['analyst', 'admin'] },
      schema: pagedListSchema({
        summary: 'Agents of the caller’s tenant at risk (level low or above), like Graph riskyAgents',
        description:
          'From the live risk engine. Filters: `level` (exactly that level) and `state`. Agents cleared to level none (dismissed, confirmed safe) are not listed; GET /v1/agents/{id} shows their state.',
        filters: {
          level: { type: 'string', enum: ['low', 'medium', 'high'] },
          state: { type: 'string', enum: [...STATES] },
        },
        // Live risk has no time range; its cursor is an opaque position.
        paging: {
          limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          cursor: { type: 'string', minLength: 1, maxLength: 1024, pattern: '^[A-Za-z0-9_-]+$', description: 'next_cursor of the previous page' },
        },
        listKey: 'risky_agents',
        items: riskyAgentSchema,
      }),
    },
    async (request) => {
      const { tenant } = principalOf(request);
      const q = request.query;
      const after = q.cursor ? decodeCursor(q.cursor) : undefined;
      const found: { pos: Position; r: AgentRisk }[] = [];
      for (const r of liveRisk?.risks() ?? []) {
        if (r.tenant_id !== tenant || r.level === 'none') continue;
        if (q.level && r.level !== q.level) continue;
        if (q.state && r.state !== q.state) continue;
        const pos = { rank: RANK[r.level], t: r.updated_at, id: r.agent_id };
        if (after && compare(pos, after) <= 0) continue;
        found.push({ pos, r });
      }
      found.sort((a, b) => compare(a.pos, b.pos));
      const page = found.slice(0, q.limit);
      const last = page[page.length - 1];
      return {
        risky_agents: page.map(({ r }) => ({
          agent_id: r.agent_id,
          risk_level: r.level,
          risk_state: r.state,
          risk_detail: riskDetail(r.state),
          risk_last_updated_at: new Date(r.updated_at).toISOString(),
          score: r.score,
          reasons: r.reasons,
        })),
        next_cursor: found.length > q.limit && last ? encodeCursor(last.pos) : null,
      };
    },
  );
};

// Queries that rebuild the current risk of every agent from the ledger's
// `risk_changes` table (the in-memory RiskView is loaded from it at start).
//
// The latest change of an agent is the one with the greatest
// (time, sequence, change_id), where sequence is the numeric last segment of
// change_id (`${tenant}/${agent}/${time}/${sequence}`, see detectors/engine.ts).
// Comparing the sequence as a number matters: two changes of one agent in the
// same millisecond with sequences 9 and 10 compare the wrong way as text.
// RiskView.apply orders live changes by the same key, so a view rebuilt from
// the store equals the view the live changes built.
//
// Every value a caller passes is a query parameter ({name:Type}).

import type { ClickHouseClient } from '@clickhouse/client';
import type { RiskLevel } from '../contract/events.js';
import type { KnownRisk } from '../detectors/engine.js';
import type { AdminAction, RiskReason, RiskState } from '../detectors/types.js';

/** The latest stored change of one agent: what the engine and the risk view start from. */
export type LatestRiskRow = KnownRisk;

export interface LatestRiskQuery {
  /** Only this tenant's agents; all tenants when absent. */
  tenant_id?: string;
}

const LATEST_SQL = (where: string) => `
SELECT
    tenant_id,
    agent_id,
    toUnixTimestamp64Milli(max(time)) AS t,
    argMax(change_id, k) AS change_id,
    argMax(level, k) AS level,
    argMax(score, k) AS score,
    argMax(state, k) AS state,
    argMax(reasons, k) AS reasons
FROM
(
    SELECT
        tenant_id,
        agent_id,
        time,
        change_id,
        level,
        score,
        state,
        reasons,
        (time, toUInt64OrZero(splitByChar('/', change_id)[-1]), change_id) AS k
    FROM risk_changes
    ${where}
)
GROUP BY tenant_id, agent_id`;

interface Row {
  tenant_id: string;
  agent_id: string;
  t: string | number;
  change_id: string;
  level: string;
  score: number | string;
  state: string;
  reasons: string;
}

function toLatest(r: Row): LatestRiskRow {
  let reasons: RiskReason[];
  try {
    const value = JSON.parse(r.reasons) as unknown;
    reasons = Array.isArray(value) ? (value as RiskReason[]) : [];
  } catch {
    reasons = [];
  }
  return {
    tenant_id: r.tenant_id,
    agent_id: r.agent_id,
    change_id: r.change_id,
    time: Number(r.t),
    level: r.level as RiskLevel,
    score: Number(r.score),
    state: r.state as RiskState,
    reasons,
  };
}

/**
 * Streams the latest risk change of every agent (optionally of one tenant),
 * one row per (tenant_id, agent_id), in no particular order. Rows are parsed
 * as they arrive, so memory stays proportional to what the caller keeps.
 */
export async function* latestRiskPerAgent(client: ClickHouseClient, q: LatestRiskQuery = {}): AsyncGenerator<LatestRiskRow> {
  const params: Record<string, unknown> = {};
  let where = '';
  if (q.tenant_id !== undefined) {
    where = 'WHERE tenant_id = {tenant_id:String}';
    params.tenant_id = q.tenant_id;
  }
  const rs = await client.query({ query: LATEST_SQL(where), query_params: params, format: 'JSONEachRow' });
  for await (const rows of rs.stream<Row>()) {
    for (const row of rows) yield toLatest(row.json());
  }
}

/** A user's latest stored risk level (from `user_risk` events). */
export interface LatestUserRiskRow {
  tenant_id: string;
  user_id: string;
  level: RiskLevel;
  /** Event time of the user-risk event, epoch ms. */
  time: number;
}

/**
 * Streams, per (tenant, user), the level of the latest `user_risk` event
 * (latest by event time, then event id), for users whose latest level is in
 * `levels` (default medium and high: the levels agents inherit).
 */
export async function* latestUserRisk(
  client: ClickHouseClient,
  levels: readonly RiskLevel[] = ['medium', 'high'],
): AsyncGenerator<LatestUserRiskRow> {
  const rs = await client.query({
    query: `
SELECT tenant_id, user_id, level, t FROM
(
    SELECT tenant_id, assumeNotNull(user_id) AS user_id, argMax(level, (time, event_id)) AS level, toUnixTimestamp64Milli(max(time)) AS t
    FROM events
    WHERE type = 'user_risk' AND user_id IS NOT NULL
    GROUP BY tenant_id, user_id
)
WHERE level IN {levels:Array(String)}`,
    query_params: { levels: [...levels] },
    format: 'JSONEachRow',
  });
  for await (const rows of rs.stream<{ tenant_id: string; user_id: string; level: string; t: string | number }>()) {
    for (const row of rows) {
      const r = row.json();
      yield { tenant_id: r.tenant_id, user_id: r.user_id, level: r.level as RiskLevel, time: Number(r.t) };
    }
  }
}

/**
 * Streams the admin actions recorded at or after `since` (epoch ms, the
 * action's time), oldest first: what a detection state saved before them
 * does not know (they are not in the event stream it can read again).
 */
export async function* adminActionsSince(client: ClickHouseClient, since: number): AsyncGenerator<AdminAction> {
  const rs = await client.query({
    query: `
SELECT DISTINCT action_id, tenant_id, agent_id, action, actor, reason, toUnixTimestamp64Milli(time) AS t
FROM admin_actions
WHERE time >= fromUnixTimestamp64Milli({since:Int64})
ORDER BY t, action_id`,
    query_params: { since: Math.trunc(since) },
    format: 'JSONEachRow',
  });
  type Row = { action_id: string; tenant_id: string; agent_id: string; action: string; actor: string; reason: string; t: string | number };
  for await (const rows of rs.stream<Row>()) {
    for (const row of rows) {
      const r = row.json();
      yield { action_id: r.action_id, tenant_id: r.tenant_id, agent_id: r.agent_id, action: r.action as AdminAction['action'], actor: r.actor, reason: r.reason, time: Number(r.t) };
    }
  }
}

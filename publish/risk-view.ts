// The current risk of every agent, in memory, for the risk lookup API that
// token servers and policy engines call before issuing a token.
//
// - Keyed by (tenant_id, agent_id): a map of tenants, each a map of agents,
//   so a lookup for one tenant can never see another tenant's entry.
// - Fed by the pipeline's durable risk changes (`apply`) and, at start, by
//   the latest change per agent stored in ClickHouse (`rebuild`). Both keep
//   the latest change by (time, sequence) and ignore older ones, so the order
//   in which they arrive does not matter and a rebuilt view equals the live one.
// - Each entry holds only the answer, already serialised as the API's JSON
//   (agent_id, level, state, score, updated_at, top reasons), plus the
//   (time, sequence) that orders it: the lookup does two map reads and sends
//   the string as is.
// - Bounded: reasons are cut to the top `maxReasons` (3) with summaries of at
//   most `maxSummaryChars`; past `maxEntries`, new agents at level none are
//   not stored (they answer none anyway, only without reasons) while agents
//   at low or above always are, so a risky agent is never forgotten.

import type { ClickHouseClient } from '@clickhouse/client';
import type { RiskLevel } from '../contract/events.js';
import type { RiskChange, RiskReason, RiskState } from '../detectors/types.js';
import { changeSequence, type KnownRisk } from '../detectors/engine.js';
import { latestRiskPerAgent } from '../store/risk-queries.js';

/** The answer of the risk lookup API for one agent. */
export interface AgentRiskAnswer {
  agent_id: string;
  level: RiskLevel;
  state: RiskState;
  score: number;
  /** Event time of the latest change (RFC 3339, UTC, ms); null when the agent has no recorded risk. */
  updated_at: string | null;
  /** The top reasons, most important first (at most 3). */
  reasons: RiskReason[];
}

export interface RiskViewOptions {
  /** Reasons kept per agent (default 3). */
  maxReasons?: number;
  /** Longer reason summaries are cut to this many characters (default 300). */
  maxSummaryChars?: number;
  /** Past this many entries, new agents at level none are not stored (default 2,000,000). */
  maxEntries?: number;
}

export interface RiskViewStats {
  /** Changes that replaced (or created) an entry. */
  applied: number;
  /** Changes older than the entry they would replace, ignored. */
  ignoredOlder: number;
  /** New level-none agents not stored because the view was full. */
  droppedWhenFull: number;
}

interface Entry {
  /** Event time, epoch ms (truncated as stored). */
  t: number;
  seq: number;
  /** The AgentRiskAnswer, serialised. */
  json: string;
}

/** The shape of a change the view accepts: a RiskChange, or an agent's latest change in the store. */
type ChangeLike = KnownRisk;

const WIDE = /[^\u0000-\u00ff]/;
const WIDE_ALL = /[^\u0000-\u00ff]/g;

const UNKNOWN_TAIL = ',"level":"none","state":"none","score":0,"updated_at":null,"reasons":[]}';

/** The answer for an agent the view holds nothing about. */
export function unknownAgentJson(agentId: string): string {
  return `{"agent_id":${JSON.stringify(agentId)}${UNKNOWN_TAIL}`;
}

export function unknownAgent(agentId: string): AgentRiskAnswer {
  return { agent_id: agentId, level: 'none', state: 'none', score: 0, updated_at: null, reasons: [] };
}

export class RiskView {
  private readonly tenants = new Map<string, Map<string, Entry>>();
  private count = 0;
  private readonly maxReasons: number;
  private readonly maxSummaryChars: number;
  private readonly maxEntries: number;
  readonly stats: RiskViewStats = { applied: 0, ignoredOlder: 0, droppedWhenFull: 0 };

  constructor(options: RiskViewOptions = {}) {
    this.maxReasons = options.maxReasons ?? 3;
    this.maxSummaryChars = options.maxSummaryChars ?? 300;
    this.maxEntries = options.maxEntries ?? 2_000_000;
  }

  /** Agents held. */
  get size(): number {
    return this.count;
  }

  /** Applies risk changes in any order: each replaces its agent's entry only when it is newer. Returns how many did. */
  apply(changes: readonly RiskChange[]): number {
    let n = 0;
    for (const c of changes) if (this.put(c)) n++;
    return n;
  }

  /** True when the view holds an entry for the agent. */
  has(tenantId: string, agentId: string): boolean {
    return this.tenants.get(tenantId)?.has(agentId) ?? false;
  }

  /** The agent's current risk; level none with no reasons when the view holds nothing about it. */
  get(tenantId: string, agentId: string): AgentRiskAnswer {
    const e = this.tenants.get(tenantId)?.get(agentId);
    return e ? (JSON.parse(e.json) as AgentRiskAnswer) : unknownAgent(agentId);
  }

  /** get() for each id, in order. */
  getMany(tenantId: string, agentIds: readonly string[]): AgentRiskAnswer[] {
    return agentIds.map((id) => this.get(tenantId, id));
  }

  /** The serialised answer for one agent (the API's hot path). */
  json(tenantId: string, agentId: string): string {
    const e = this.tenants.get(tenantId)?.get(agentId);
    return e ? e.json : unknownAgentJson(agentId);
  }

  /** The serialised batch answer `{"agents":[...]}`, in the order of `agentIds`. */
  jsonMany(tenantId: string, agentIds: readonly string[]): string {
    const agents = this.tenants.get(tenantId);
    let out = '{"agents":[';
    for (let i = 0; i < agentIds.length; i++) {
      const id = agentIds[i]!;
      if (i > 0) out += ',';
      out += agents?.get(id)?.json ?? unknownAgentJson(id);
    }
    return out + ']}';
  }

  /** Every entry as [tenant, agent, answer] (for tests and diagnostics). */
  *entries(): IterableIterator<[string, string, AgentRiskAnswer]> {
    for (const [tenant, agents] of this.tenants) {
      for (const [agent, e] of agents) yield [tenant, agent, JSON.parse(e.json) as AgentRiskAnswer];
    }
  }

  clear(): void {
    this.tenants.clear();
    this.count = 0;
  }

  /**
   * Loads the latest stored change of every agent from the `risk_changes`
   * table and merges it in (the newer of view and store wins, so changes
   * applied while the query runs are kept). Returns the rows read.
   */
  async rebuild(client: ClickHouseClient, options: { tenant_id?: string } = {}): Promise<number> {
    let rows = 0;
    for await (const row of latestRiskPerAgent(client, options)) {
      this.put(row);
      rows++;
    }
    return rows;
  }

  private put(c: ChangeLike): boolean {
    const t = Math.trunc(c.time);
    const seq = changeSequence(c.change_id);
    let agents = this.tenants.get(c.tenant_id);
    const existing = agents?.get(c.agent_id);
    if (existing) {
      if (t < existing.t || (t === existing.t && seq < existing.seq)) {
        this.stats.ignoredOlder++;
        return false;
      }
      existing.t = t;
      existing.seq = seq;
      existing.json = this.serialise(c, t);
      this.stats.applied++;
      return true;
    }
    if (this.count >= this.maxEntries && c.level === 'none') {
      this.stats.droppedWhenFull++;
      return false;
    }
    if (!agents) {
      agents = new Map();
      this.tenants.set(c.tenant_id, agents);
    }
    agents.set(c.agent_id, { t, seq, json: this.serialise(c, t) });
    this.count++;
    this.stats.applied++;
    return true;
  }

  private serialise(c: ChangeLike, t: number): string {
    const reasons: RiskReason[] = [];
    for (const r of c.reasons) {
      if (reasons.length >= this.maxReasons) break;
      const summary = typeof r.summary === 'string' ? r.summary : String(r.summary);
      reasons.push({
        detector: String(r.detector),
        severity: r.severity,
        summary: summary.length > this.maxSummaryChars ? `${summary.slice(0, this.maxSummaryChars - 3)}...` : summary,
      });
    }
    const answer: AgentRiskAnswer = {
      agent_id: c.agent_id,
      level: c.level,
      state: c.state,
      score: Number.isFinite(c.score) ? c.score : 0,
      updated_at: new Date(t).toISOString(),
      reasons,
    };
    // JSON.stringify yields one flat string. Characters beyond Latin-1 are
    // written as \u escapes (the same JSON), so that V8 keeps the string at
    // one byte per character instead of two.
    const json = JSON.stringify(answer);
    return WIDE.test(json) ? json.replace(WIDE_ALL, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`) : json;
  }
}

// Analyst queries over the ledger for one agent (summary, provenance, merged
// timeline) and over the per-hour statistics the materialized views maintain.
//
// Every value a caller passes is a query parameter ({name:Type}); the only
// SQL fragments chosen by input are fixed strings picked from enumerations.
// Queries on one agent filter on (tenant_id, agent_id), the events table's
// sort-key prefix. Counts of events use uniqExact(event_id): an event stored
// twice under two batch tokens counts once.

import type { ClickHouseClient } from '@clickhouse/client';
import { BadCursorError } from './queries.js';

async function select<T>(client: ClickHouseClient, query: string, query_params: Record<string, unknown>): Promise<T[]> {
  const rs = await client.query({ query, query_params, format: 'JSONEachRow' });
  return rs.json<T>();
}

const iso = (ms: number | string | null | undefined): string | null => {
  if (ms === null || ms === undefined) return null;
  const n = Number(ms);
  return Number.isFinite(n) ? new Date(n).toISOString() : null;
};
const isoOf = (ms: number | string) => new Date(Number(ms)).toISOString();

function checkEpoch(name: string, v: number): number {
  if (!Number.isSafeInteger(v)) throw new RangeError(`${name} must be epoch milliseconds (an integer), got ${v}`);
  return v;
}

function checkLimit(limit: number, max: number): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > max) throw new RangeError(`limit must be an integer in [1, ${max}], got ${limit}`);
  return limit;
}

// ---------------------------------------------------------------------------
// Lifecycle: status, sponsors, credentials, permissions

interface LifecycleRow {
  t: string | number;
  event_id: string;
  action: string;
  actor: string | null;
  sponsor_id: string | null;
  credential_id: string | null;
  permission: string | null;
}

export interface SponsorChange {
  sponsor_id: string;
  action: 'added' | 'removed';
  actor: string | null;
  time: string;
  event_id: string;
}

export interface CurrentSponsor {
  sponsor_id: string;
  added_by: string | null;
  added_at: string;
}

export interface CredentialRecord {
  credential_id: string;
  /** Credential type seen in sign-ins (lifecycle events do not carry it). */
  credential_type: string | null;
  /** active: added and not removed; removed; unknown: only seen in sign-ins. */
  status: 'active' | 'removed' | 'unknown';
  added_by: string | null;
  added_at: string | null;
  removed_by: string | null;
  removed_at: string | null;
  signins: number;
  first_used: string | null;
  last_used: string | null;
}

export interface PermissionRecord {
  permission: string;
  granted_by: string | null;
  granted_at: string;
}

interface Lifecycle {
  status: 'enabled' | 'disabled' | 'deleted' | 'unknown';
  sponsors: CurrentSponsor[];
  sponsorHistory: SponsorChange[];
  credentials: Map<string, CredentialRecord>;
  permissions: PermissionRecord[];
}

const MAX_LIFECYCLE = 10_000;

async function lifecycle(client: ClickHouseClient, tenant: string, agent: string): Promise<Lifecycle> {
  const rows = await select<LifecycleRow>(
    client,
    `SELECT toUnixTimestamp64Milli(time) AS t, event_id, toString(action) AS action, actor, sponsor_id, credential_id, toString(permission) AS permission
     FROM events
     WHERE tenant_id = {tenant:String} AND agent_id = {agent:String} AND type = 'lifecycle'
     ORDER BY time, event_id
     LIMIT {max:UInt32}`,
    { tenant, agent, max: MAX_LIFECYCLE },
  );
  const out: Lifecycle = { status: 'unknown', sponsors: [], sponsorHistory: [], credentials: new Map(), permissions: [] };
  const sponsors = new Map<string, CurrentSponsor>();
  const permissions = new Map<string, PermissionRecord>();
  const seen = new Set<string>();
  for (const r of rows) {
    if (seen.has(r.event_id)) continue; // the same event stored under two batch tokens
    seen.add(r.event_id);
    const time = isoOf(r.t);
    switch (r.action) {
      case 'created':
      case 'enabled':
        out.status = 'enabled';
        break;
      case 'disabled':
        out.status = 'disabled';
        break;
      case 'deleted':
        out.status = 'deleted';
        break;
      case 'sponsor_added':
      case 'sponsor_removed':
        if (r.sponsor_id) {
          const added = r.action === 'sponsor_added';
          out.sponsorHistory.push({ sponsor_id: r.sponsor_id, action: added ? 'added' : 'removed', actor: r.actor, time, event_id: r.event_id });
          if (added) sponsors.set(r.sponsor_id, { sponsor_id: r.sponsor_id, added_by: r.actor, added_at: time });
          else sponsors.delete(r.sponsor_id);
        }
        break;
      case 'credential_added':
      case 'credential_removed':
        if (r.credential_id) {
          const c = out.credentials.get(r.credential_id) ?? credential(r.credential_id);
          if (r.action === 'credential_added') {
            c.added_by = r.actor;
            c.added_at = time;
            c.removed_by = null;
            c.removed_at = null;
            c.status = 'active';
          } else {
            c.removed_by = r.actor;
            c.removed_at = time;
            c.status = 'removed';
          }
          out.credentials.set(r.credential_id, c);
        }
        break;
      case 'permission_granted':
        if (r.permission) permissions.set(r.permission, { permission: r.permission, granted_by: r.actor, granted_at: time });
        break;
      case 'permission_revoked':
        if (r.permission) permissions.delete(r.permission);
        break;
    }
  }
  out.sponsors = [...sponsors.values()];
  out.permissions = [...permissions.values()];
  return out;
}

function credential(id: string): CredentialRecord {
  return {
    credential_id: id,
    credential_type: null,
    status: 'unknown',
    added_by: null,
    added_at: null,
    removed_by: null,
    removed_at: null,
    signins: 0,
    first_used: null,
    last_used: null,
  };
}

// ---------------------------------------------------------------------------
// Summary

export interface AgentSummary {
  agent_id: string;
  agent_type: string | null;
  blueprint_id: string | null;
  /** Every blueprint the agent's events named (normally one). */
  blueprints: string[];
  status: Lifecycle['status'];
  sponsors: CurrentSponsor[];
  first_seen: string | null;
  last_seen: string | null;
  events: number;
  detections: number;
}

/** What the ledger knows about an agent; null when it holds no event and no detection of it. */
export async function agentSummary(client: ClickHouseClient, tenant: string, agent: string): Promise<AgentSummary | null> {
  const [e] = await select<Record<string, unknown>>(
    client,
    `SELECT uniqExact(event_id) AS n,
            toUnixTimestamp64Milli(min(time)) AS first_seen,
            toUnixTimestamp64Milli(max(time)) AS last_seen,
            toString(argMaxIf(agent_type, time, agent_type IS NOT NULL)) AS latest_agent_type,
            argMaxIf(blueprint_id, time, blueprint_id IS NOT NULL) AS latest_blueprint,
            groupUniqArrayIf(assumeNotNull(blueprint_id), blueprint_id IS NOT NULL) AS blueprints
     FROM events
     WHERE tenant_id = {tenant:String} AND agent_id = {agent:String}`,
    { tenant, agent },
  );
  const [d] = await select<{ n: string | number }>(
    client,
    'SELECT uniqExact(detection_id) AS n FROM detections WHERE tenant_id = {tenant:String} AND agent_id = {agent:String}',
    { tenant, agent },
  );
  const events = Number(e?.n ?? 0);
  const detections = Number(d?.n ?? 0);
  if (events === 0 && detections === 0) return null;
  const lc = await lifecycle(client, tenant, agent);
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : null);
  return {
    agent_id: agent,
    agent_type: events > 0 ? str(e?.latest_agent_type) : null,
    blueprint_id: events > 0 ? str(e?.latest_blueprint) : null,
    blueprints: Array.isArray(e?.blueprints) ? (e.blueprints as string[]).slice().sort() : [],
    status: lc.status,
    sponsors: lc.sponsors,
    first_seen: events > 0 ? iso(e?.first_seen as string) : null,
    last_seen: events > 0 ? iso(e?.last_seen as string) : null,
    events,
    detections,
  };
}

// ---------------------------------------------------------------------------
// Provenance

export interface UserActedFor {
  user_id: string;
  events: number;
  first_seen: string;
  last_seen: string;
}

export interface ResourceReached {
  resource: string;
  signins: number;
  tokens: number;
  last_seen: string;
}

export interface AgentLink {
  agent_id: string;
  requests: number;
  first_seen: string;
  last_seen: string;
}

export interface AgentProvenance {
  agent_id: string;
  blueprint_id: string | null;
  blueprints: string[];
  status: Lifecycle['status'];
  sponsors: { current: CurrentSponsor[]; history: SponsorChange[] };
  credentials: CredentialRecord[];
  permissions: PermissionRecord[];
  /** Users it acted for (on-behalf-of sign-ins and tokens). */
  acted_for: UserActedFor[];
  /** Resources of its sign-ins and tokens. */
  resources: ResourceReached[];
  /** Agents it sent requests to (network dest_agent_id). */
  calls: AgentLink[];
  /** Agents that sent requests to it. */
  called_by: AgentLink[];
  /** Lists cut at `limit` entries. */
  truncated: string[];
}

type Agg = Record<string, unknown> & { n: string | number; first: string | number; last: string | number };

/** Where the agent comes from, who answers for it, what it used and reached. Null when the ledger knows nothing of it. */
export async function agentProvenance(client: ClickHouseClient, tenant: string, agent: string, limit = 100): Promise<AgentProvenance | null> {
  checkLimit(limit, 1000);
  const summary = await agentSummary(client, tenant, agent);
  if (!summary) return null;
  const p = { tenant, agent, limit: limit + 1 };
  const lc = await lifecycle(client, tenant, agent);
  const truncated: string[] = [];
  const cut = <T>(name: string, items: T[]): T[] => {
    if (items.length > limit) {
      truncated.push(name);
      return items.slice(0, limit);
    }
    return items;
  };

  const used = await select<Agg & { id: string; ctype: string | null }>(
    client,
    `SELECT credential_id AS id, toString(any(credential_type)) AS ctype, uniqExact(event_id) AS n,
            toUnixTimestamp64Milli(min(time)) AS first, toUnixTimestamp64Milli(max(time)) AS last
     FROM events
     WHERE tenant_id = {tenant:String} AND agent_id = {agent:String} AND type = 'signin' AND credential_id IS NOT NULL
     GROUP BY credential_id ORDER BY max(time) DESC, credential_id LIMIT {limit:UInt32}`,
    p,
  );
  const credentials = lc.credentials;
  for (const u of used) {
    const c = credentials.get(u.id) ?? credential(u.id);
    c.credential_type = u.ctype || null;
    c.signins = Number(u.n);
    c.first_used = iso(u.first);
    c.last_used = iso(u.last);
    credentials.set(u.id, c);
  }
  if (used.length > limit) truncated.push('credentials');
  const credentialList = [...credentials.values()].sort(
    (a, b) => (b.last_used ?? b.added_at ?? '').localeCompare(a.last_used ?? a.added_at ?? '') || a.credential_id.localeCompare(b.credential_id),
  );

  const users = await select<Agg & { uid: string }>(
    client,
    `SELECT assumeNotNull(user_id) AS uid, uniqExact(event_id) AS n,
            toUnixTimestamp64Milli(min(time)) AS first, toUnixTimestamp64Milli(max(time)) AS last
     FROM events
     WHERE tenant_id = {tenant:String} AND agent_id = {agent:String} AND type IN ('signin', 'token')
       AND flow = 'on_behalf_of' AND user_id IS NOT NULL
     GROUP BY uid ORDER BY n DESC, uid LIMIT {limit:UInt32}`,
    p,
  );
  const resources = await select<Agg & { res: string; signins: string | number; tokens: string | number }>(
    client,
    `SELECT toString(assumeNotNull(resource)) AS res,
            uniqExactIf(event_id, type = 'signin') AS signins, uniqExactIf(event_id, type = 'token') AS tokens,
            uniqExact(event_id) AS n, toUnixTimestamp64Milli(min(time)) AS first, toUnixTimestamp64Milli(max(time)) AS last
     FROM events
     WHERE tenant_id = {tenant:String} AND agent_id = {agent:String} AND type IN ('signin', 'token') AND resource IS NOT NULL
     GROUP BY res ORDER BY n DESC, res LIMIT {limit:UInt32}`,
    p,
  );
  const calls = await select<Agg & { id: string }>(
    client,
    `SELECT assumeNotNull(dest_agent_id) AS id, uniqExact(event_id) AS n,
            toUnixTimestamp64Milli(min(time)) AS first, toUnixTimestamp64Milli(max(time)) AS last
     FROM events
     WHERE tenant_id = {tenant:String} AND agent_id = {agent:String} AND type = 'network' AND dest_agent_id IS NOT NULL
     GROUP BY dest_agent_id ORDER BY n DESC, id LIMIT {limit:UInt32}`,
    p,
  );
  const calledBy = await select<Agg & { id: string }>(
    client,
    `SELECT agent_id AS id, uniqExact(event_id) AS n,
            toUnixTimestamp64Milli(min(time)) AS first, toUnixTimestamp64Milli(max(time)) AS last
     FROM events
     WHERE tenant_id = {tenant:String} AND dest_agent_id = {agent:String} AND type = 'network'
     GROUP BY agent_id ORDER BY n DESC, id LIMIT {limit:UInt32}`,
    p,
  );
  const link = (r: Agg & { id: string }): AgentLink => ({ agent_id: r.id, requests: Number(r.n), first_seen: isoOf(r.first), last_seen: isoOf(r.last) });

  return {
    agent_id: agent,
    blueprint_id: summary.blueprint_id,
    blueprints: summary.blueprints,
    status: lc.status,
    sponsors: { current: lc.sponsors, history: lc.sponsorHistory },
    credentials: cut('credentials', credentialList),
    permissions: lc.permissions,
    acted_for: cut(
      'acted_for',
      users.map((u) => ({ user_id: u.uid, events: Number(u.n), first_seen: isoOf(u.first), last_seen: isoOf(u.last) })),
    ),
    resources: cut(
      'resources',
      resources.map((r) => ({ resource: r.res, signins: Number(r.signins), tokens: Number(r.tokens), last_seen: isoOf(r.last) })),
    ),
    calls: cut('calls', calls.map(link)),
    called_by: cut('called_by', calledBy.map(link)),
    truncated: [...new Set(truncated)],
  };
}

// ---------------------------------------------------------------------------
// Timeline: events, detections, risk changes and admin actions merged

export const TIMELINE_KINDS = ['event', 'detection', 'risk_change', 'admin_action'] as const;
export type TimelineKind = (typeof TIMELINE_KINDS)[number];

export interface TimelineItem {
  kind: TimelineKind;
  /** RFC 3339, UTC, ms. */
  time: string;
  /** event_id, detection_id, change_id or action_id. */
  id: string;
  data: Record<string, unknown>;
}

export interface TimelineQuery {
  tenant_id: string;
  agent_id: string;
  from?: number;
  to?: number;
  limit: number;
  cursor?: string | null;
}

export interface TimelinePage {
  items: TimelineItem[];
  next_cursor: string | null;
}

interface TimelinePos {
  t: number;
  rank: number;
  id: string;
}

// At equal times: admin action, risk change, detection, event (a change
// follows from a detection, which follows from an event).
const RANK: Record<TimelineKind, number> = { event: 0, detection: 1, risk_change: 2, admin_action: 3 };

function encodeTimelineCursor(p: TimelinePos): string {
  return Buffer.from(JSON.stringify([1, 't', p.t, p.rank, p.id]), 'utf8').toString('base64url');
}

function decodeTimelineCursor(cursor: string): TimelinePos {
  if (!/^[A-Za-z0-9_-]{1,2048}$/.test(cursor)) throw new BadCursorError('not a cursor (expected a base64url token)');
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new BadCursorError('not a cursor (undecodable)');
  }
  if (!Array.isArray(v) || v.length !== 5 || v[0] !== 1) throw new BadCursorError('not a cursor (unknown format)');
  if (v[1] !== 't') throw new BadCursorError('cursor of another listing');
  const [, , t, rank, id] = v as unknown[];
  if (typeof t !== 'number' || !Number.isSafeInteger(t) || typeof rank !== 'number' || !Number.isInteger(rank) || rank < 0 || rank > 3) {
    throw new BadCursorError('not a cursor (bad position)');
  }
  if (typeof id !== 'string' || id.length > 1024) throw new BadCursorError('not a cursor (bad position)');
  return { t, rank, id };
}

interface SourceSpec {
  kind: TimelineKind;
  table: string;
  idColumn: string;
  select: string;
  data(row: Record<string, unknown>): Record<string, unknown>;
}

const parseJson = (s: unknown): unknown => {
  try {
    return JSON.parse(String(s));
  } catch {
    return s;
  }
};

const SOURCES: SourceSpec[] = [
  { kind: 'event', table: 'events', idColumn: 'event_id', select: 'raw', data: (r) => parseJson(r.raw) as Record<string, unknown> },
  {
    kind: 'detection',
    table: 'detections',
    idColumn: 'detection_id',
    select: 'detector, severity, summary, evidence, event_ids',
    data: (r) => ({ detection_id: r.k, detector: r.detector, severity: r.severity, summary: r.summary, evidence: parseJson(r.evidence), event_ids: r.event_ids }),
  },
  {
    kind: 'risk_change',
    table: 'risk_changes',
    idColumn: 'change_id',
    select: 'level, previous_level, score, state, reasons',
    data: (r) => ({
      change_id: r.k,
      level: r.level,
      previous_level: r.previous_level,
      score: Number(r.score),
      state: r.state,
      reasons: parseJson(r.reasons),
    }),
  },
  {
    kind: 'admin_action',
    table: 'admin_actions',
    idColumn: 'action_id',
    select: 'action, actor, reason',
    data: (r) => ({ action_id: r.k, action: r.action, actor: r.actor, reason: r.reason }),
  },
];

/** A page of an agent's timeline, newest first: (time, kind, id) descending. */
export async function agentTimeline(client: ClickHouseClient, q: TimelineQuery): Promise<TimelinePage> {
  const limit = checkLimit(q.limit, 1000);
  const pos = q.cursor ? decodeTimelineCursor(q.cursor) : undefined;
  const merged: (TimelineItem & { t: number; rank: number })[] = [];
  let anyFull = false;
  for (const src of SOURCES) {
    const rank = RANK[src.kind];
    const clauses = ['tenant_id = {tenant:String}', 'agent_id = {agent:String}'];
    const params: Record<string, unknown> = { tenant: q.tenant_id, agent: q.agent_id, limit: limit + 1 };
    if (q.from !== undefined) {
      clauses.push(`time >= fromUnixTimestamp64Milli({from:Int64}, 'UTC')`);
      params.from = checkEpoch('from', q.from);
    }
    if (q.to !== undefined) {
      clauses.push(`time < fromUnixTimestamp64Milli({to:Int64}, 'UTC')`);
      params.to = checkEpoch('to', q.to);
    }
    if (pos) {
      params.ct = pos.t;
      const ct = `fromUnixTimestamp64Milli({ct:Int64}, 'UTC')`;
      if (rank < pos.rank) clauses.push(`time <= ${ct}`);
      else if (rank > pos.rank) clauses.push(`time < ${ct}`);
      else {
        clauses.push(`time <= ${ct}`, `(time < ${ct} OR ${src.idColumn} < {cid:String})`);
        params.cid = pos.id;
      }
    }
    const rows = await select<Record<string, unknown>>(
      client,
      `SELECT toUnixTimestamp64Milli(time) AS t, ${src.idColumn} AS k, ${src.select}
       FROM ${src.table}
       WHERE ${clauses.join(' AND ')}
       ORDER BY time DESC, ${src.idColumn} DESC
       LIMIT {limit:UInt32}`,
      params,
    );
    if (rows.length > limit) anyFull = true;
    let last: string | undefined;
    for (const r of rows) {
      const key = `${String(r.t)}\u0000${String(r.k)}`;
      if (key === last) continue; // copies of one row stored under two batch tokens
      last = key;
      merged.push({ kind: src.kind, time: isoOf(r.t as string), id: String(r.k), data: src.data(r), t: Number(r.t), rank });
    }
  }
  merged.sort((a, b) => b.t - a.t || b.rank - a.rank || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0));
  const page = merged.slice(0, limit);
  const more = merged.length > limit || anyFull;
  const tail = page[page.length - 1];
  return {
    items: page.map(({ kind, time, id, data }) => ({ kind, time, id, data })),
    next_cursor: more && tail ? encodeTimelineCursor({ t: tail.t, rank: tail.rank, id: tail.id }) : null,
  };
}

// ---------------------------------------------------------------------------
// Statistics (agent_hourly_stats, fed by materialized views)

export type StatsInterval = 'hour' | 'day';
export type StatsKind = 'event' | 'failure' | 'detection';

export const INTERVAL_MS: Record<StatsInterval, number> = { hour: 3_600_000, day: 86_400_000 };
const BUCKET_SQL: Record<StatsInterval, string> = {
  hour: 'toUnixTimestamp(hour)',
  day: 'toUnixTimestamp(toStartOfDay(hour))',
};
export const MAX_BUCKETS = 2000;

export interface StatsQuery {
  tenant_id: string;
  kinds: readonly StatsKind[];
  interval: StatsInterval;
  /** Epoch ms; rounded down to the interval. */
  from: number;
  /** Epoch ms, exclusive. */
  to: number;
  agent_id?: string;
}

export interface StatsBucket {
  /** Start of the bucket, RFC 3339. */
  start: string;
  /** kind → name → count. */
  counts: Record<string, Record<string, number>>;
}

/** Dense buckets [floor(from), to) with counts per kind and name (zero buckets included). */
export async function statsBuckets(client: ClickHouseClient, q: StatsQuery): Promise<StatsBucket[]> {
  const step = INTERVAL_MS[q.interval];
  const start = Math.floor(checkEpoch('from', q.from) / step) * step;
  const end = checkEpoch('to', q.to);
  if (end <= start) return [];
  const n = Math.ceil((end - start) / step);
  if (n > MAX_BUCKETS) throw new RangeError(`too many buckets (${n}, at most ${MAX_BUCKETS})`);
  const clauses = [
    'tenant_id = {tenant:String}',
    'kind IN {kinds:Array(String)}',
    `hour >= fromUnixTimestamp64Milli({start:Int64}, 'UTC')`,
    `hour < fromUnixTimestamp64Milli({end:Int64}, 'UTC')`,
  ];
  const params: Record<string, unknown> = { tenant: q.tenant_id, kinds: [...q.kinds], start, end };
  if (q.agent_id !== undefined) {
    clauses.push('agent_id = {agent:String}');
    params.agent = q.agent_id;
  }
  const rows = await select<{ b: string | number; kind: string; name: string; n: string | number }>(
    client,
    `SELECT ${BUCKET_SQL[q.interval]} AS b, toString(kind) AS kind, toString(name) AS name, sum(count) AS n
     FROM agent_hourly_stats
     WHERE ${clauses.join(' AND ')}
     GROUP BY b, kind, name
     ORDER BY b, kind, name`,
    params,
  );
  const buckets: StatsBucket[] = [];
  for (let i = 0; i < n; i++) {
    const counts: Record<string, Record<string, number>> = {};
    for (const k of q.kinds) counts[k] = {};
    buckets.push({ start: new Date(start + i * step).toISOString(), counts });
  }
  for (const r of rows) {
    const i = Math.floor((Number(r.b) * 1000 - start) / step);
    const bucket = buckets[i];
    if (!bucket) continue;
    const byName = bucket.counts[r.kind];
    if (byName) byName[r.name] = (byName[r.name] ?? 0) + Number(r.n);
  }
  return buckets;
}

// ---------------------------------------------------------------------------
// Latest stored risk change of one agent

export interface LatestRisk {
  change_id: string;
  time: string;
  level: string;
  score: number;
  state: string;
  reasons: unknown[];
}

/** The agent's latest stored risk change by (time, sequence), or null. */
export async function latestRiskChange(client: ClickHouseClient, tenant: string, agent: string): Promise<LatestRisk | null> {
  const [r] = await select<Record<string, unknown>>(
    client,
    `SELECT change_id, toUnixTimestamp64Milli(time) AS t, toString(level) AS level, score, toString(state) AS state, reasons
     FROM risk_changes
     WHERE tenant_id = {tenant:String} AND agent_id = {agent:String}
     ORDER BY time DESC, toUInt64OrZero(splitByChar('/', change_id)[-1]) DESC, change_id DESC
     LIMIT 1`,
    { tenant, agent },
  );
  if (!r) return null;
  const reasons = parseJson(r.reasons);
  return {
    change_id: String(r.change_id),
    time: isoOf(r.t as string),
    level: String(r.level),
    score: Number(r.score),
    state: String(r.state),
    reasons: Array.isArray(reasons) ? reasons : [],
  };
}

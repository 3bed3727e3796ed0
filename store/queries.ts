// Read queries over the ledger, newest first, with keyset cursor pagination.
//
// Every filter value is a ClickHouse query parameter ({name:Type}); nothing a
// caller passes is ever spliced into SQL text. Pages are ordered by
// (time DESC, id DESC) and a cursor is an opaque base64url token of the last
// row's (time, id): the next page is the rows strictly after it in that order.
// Rows inserted between page fetches therefore never shift a page: newer rows
// sort before the cursor and are not repeated, older ones appear where they
// belong, and nothing that existed is skipped or returned twice.
//
// The ledger is append-only, so the same event delivered under two different
// batch tokens is stored twice; a page never returns the same (time, event_id)
// twice (copies are adjacent in the order and collapsed, and the strict keyset
// comparison skips copies behind a page boundary).

import type { ClickHouseClient } from '@clickhouse/client';

/** A cursor that is not one this module issued for the listing it is used with. */
export class BadCursorError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'BadCursorError';
  }
}

export const MAX_LIMIT = 10_000;

/** Common filters: epoch-ms time bounds (`from` inclusive, `to` exclusive), page size, cursor. */
interface PageQuery {
  tenant_id: string;
  agent_id?: string;
  from?: number;
  to?: number;
  limit: number;
  cursor?: string | null;
}

export interface EventQuery extends PageQuery {
  type?: string;
  user_id?: string;
  blueprint_id?: string;
  ip?: string;
  resource?: string;
}

export interface DetectionQuery extends PageQuery {
  detector?: string;
  severity?: string;
}

export type RiskChangeQuery = PageQuery;
export type AdminActionQuery = PageQuery;

export interface EventPage {
  /** Events in their JSON record form (as `toJsonRecord` returns them). */
  events: Record<string, unknown>[];
  next_cursor: string | null;
}

export interface DetectionRecord {
  detection_id: string;
  detector: string;
  severity: string;
  tenant_id: string;
  agent_id: string;
  /** RFC 3339, UTC, milliseconds. */
  time: string;
  summary: string;
  evidence: Record<string, unknown>;
  event_ids: string[];
}

export interface RiskChangeRecord {
  change_id: string;
  tenant_id: string;
  agent_id: string;
  time: string;
  level: string;
  previous_level: string;
  score: number;
  state: string;
  reasons: unknown[];
}

export interface AdminActionRecord {
  action_id: string;
  tenant_id: string;
  agent_id: string;
  action: string;
  actor: string;
  reason: string;
  time: string;
}

export interface DetectionPage {
  detections: DetectionRecord[];
  next_cursor: string | null;
}
export interface RiskChangePage {
  risk_changes: RiskChangeRecord[];
  next_cursor: string | null;
}
export interface AdminActionPage {
  admin_actions: AdminActionRecord[];
  next_cursor: string | null;
}

// ---------------------------------------------------------------------------
// Cursors

type CursorKind = 'e' | 'd' | 'r' | 'a';
interface Position {
  t: number;
  id: string;
}

const CURSOR_TEXT = /^[A-Za-z0-9_-]{1,2048}$/;

export function encodeCursor(kind: CursorKind, pos: Position): string {
  return Buffer.from(JSON.stringify([1, kind, pos.t, pos.id]), 'utf8').toString('base64url');
}

export function decodeCursor(kind: CursorKind, cursor: string): Position {
  if (typeof cursor !== 'string' || !CURSOR_TEXT.test(cursor)) throw new BadCursorError('not a cursor (expected a base64url token)');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new BadCursorError('not a cursor (undecodable)');
  }
  if (!Array.isArray(parsed) || parsed.length !== 4 || parsed[0] !== 1) throw new BadCursorError('not a cursor (unknown format)');
  const [, k, t, id] = parsed as unknown[];
  if (k !== kind) throw new BadCursorError('cursor of another listing');
  if (typeof t !== 'number' || !Number.isSafeInteger(t)) throw new BadCursorError('not a cursor (bad position)');
  if (typeof id !== 'string' || id.length > 1024) throw new BadCursorError('not a cursor (bad position)');
  return { t, id };
}

// ---------------------------------------------------------------------------
// Query building: only fixed SQL fragments; values go to `params`.

class Where {
  readonly clauses: string[] = [];
  readonly params: Record<string, unknown> = {};

  eq(column: string, param: string, value: string | undefined, type = 'String'): void {
    if (value === undefined) return;
    this.clauses.push(`${column} = {${param}:${type}}`);
    this.params[param] = value;
  }

  timeRange(from: number | undefined, to: number | undefined): void {
    if (from !== undefined) {
      this.clauses.push(`time >= fromUnixTimestamp64Milli({from:Int64}, 'UTC')`);
      this.params.from = epochMs('from', from);
    }
    if (to !== undefined) {
      this.clauses.push(`time < fromUnixTimestamp64Milli({to:Int64}, 'UTC')`);
      this.params.to = epochMs('to', to);
    }
  }

  /** Rows strictly after `pos` in (time DESC, idColumn DESC) order. */
  after(idColumn: string, pos: Position | undefined): void {
    if (pos === undefined) return;
    // The first conjunct lets ClickHouse prune partitions and granules by time.
    this.clauses.push(
      `time <= fromUnixTimestamp64Milli({cursor_t:Int64}, 'UTC')`,
      `(time < fromUnixTimestamp64Milli({cursor_t:Int64}, 'UTC') OR ${idColumn} < {cursor_id:String})`,
    );
    this.params.cursor_t = pos.t;
    this.params.cursor_id = pos.id;
  }

  sql(): string {
    return this.clauses.join('\n  AND ');
  }
}

function epochMs(name: string, v: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new RangeError(`${name} must be epoch milliseconds (an integer), got ${v}`);
  return v;
}

function epochLike(name: string, v: number): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw new RangeError(`${name} must be an integer, got ${v}`);
  return v;
}

function checkLimit(limit: number): number {
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
    throw new RangeError(`limit must be an integer in [1, ${MAX_LIMIT}], got ${limit}`);
  }
  return limit;
}

function baseWhere(q: PageQuery): Where {
  if (typeof q.tenant_id !== 'string') throw new TypeError('tenant_id is required');
  const w = new Where();
  w.eq('tenant_id', 'tenant_id', q.tenant_id);
  w.eq('agent_id', 'agent_id', q.agent_id);
  w.timeRange(q.from, q.to);
  return w;
}

interface Keyed {
  t: number | string;
  k: string;
}

/**
 * Runs a keyset page query: fetches limit + 1 rows, collapses adjacent copies
 * of the same (time, id), and derives the next cursor.
 */
async function page<R extends Keyed, T>(
  client: ClickHouseClient,
  kind: CursorKind,
  table: string,
  idColumn: string,
  select: string,
  where: Where,
  q: PageQuery,
  map: (row: R) => T,
): Promise<{ items: T[]; next_cursor: string | null }> {
  const limit = checkLimit(q.limit);
  if (q.cursor !== undefined && q.cursor !== null) where.after(idColumn, decodeCursor(kind, q.cursor));
  where.params.limit = limit + 1;
  const rs = await client.query({
    query: `SELECT toUnixTimestamp64Milli(time) AS t, ${idColumn} AS k, ${select}
FROM ${table}
WHERE ${where.sql()}
ORDER BY time DESC, ${idColumn} DESC
LIMIT {limit:UInt32}`,
    query_params: where.params,
    format: 'JSONEachRow',
  });
  const rows = await rs.json<R>();
  const items: T[] = [];
  let last: Position | undefined;
  for (let i = 0; i < rows.length && items.length < limit; i++) {
    const row = rows[i] as R;
    const t = Number(row.t);
    if (last !== undefined && last.t === t && last.id === row.k) continue;
    items.push(map(row));
    last = { t, id: row.k };
  }
  const more = rows.length > limit;
  return { items, next_cursor: more && last !== undefined ? encodeCursor(kind, last) : null };
}

const iso = (ms: number | string) => new Date(Number(ms)).toISOString();

// ---------------------------------------------------------------------------
// Events

/** A page of a tenant's events, newest first, filtered; each event in its JSON record form. */
export async function queryEvents(client: ClickHouseClient, q: EventQuery): Promise<EventPage> {
  const w = baseWhere(q);
  w.eq('type', 'type', q.type);
  w.eq('user_id', 'user_id', q.user_id);
  w.eq('blueprint_id', 'blueprint_id', q.blueprint_id);
  w.eq('ip', 'ip', q.ip);
  w.eq('resource', 'resource', q.resource);
  const { items, next_cursor } = await page(client, 'e', 'events', 'event_id', 'raw', w, q, (row: Keyed & { raw: string }) =>
    JSON.parse(row.raw) as Record<string, unknown>,
  );
  return { events: items, next_cursor };
}

/** Number of stored event rows of a tenant (copies stored under different tokens count separately). */
export async function countEvents(client: ClickHouseClient, tenant_id: string): Promise<number> {
  const rs = await client.query({
    query: 'SELECT count() AS n FROM events WHERE tenant_id = {tenant_id:String}',
    query_params: { tenant_id },
    format: 'JSONEachRow',
  });
  const rows = await rs.json<{ n: number | string }>();
  return Number(rows[0]?.n ?? 0);
}

/**
 * Which offsets in [first, last] of `source` already have a row in `events`.
 * The pipeline uses it to skip records of a redelivered batch that were
 * stored before a crash (the batch token may differ when the batch is cut
 * differently on redelivery).
 */
export async function storedOffsets(client: ClickHouseClient, source: string, first: number, last: number): Promise<Set<number>> {
  const rs = await client.query({
    query: `SELECT DISTINCT source_offset AS o FROM events
WHERE source = {source:String} AND source_offset >= {first:Int64} AND source_offset <= {last:Int64}`,
    query_params: { source, first: epochLike('first', first), last: epochLike('last', last) },
    format: 'JSONEachRow',
  });
  const rows = await rs.json<{ o: number | string }>();
  return new Set(rows.map((r) => Number(r.o)));
}

// ---------------------------------------------------------------------------
// Detections, risk changes, admin actions

export async function queryDetections(client: ClickHouseClient, q: DetectionQuery): Promise<DetectionPage> {
  const w = baseWhere(q);
  w.eq('detector', 'detector', q.detector);
  w.eq('severity', 'severity', q.severity);
  type Row = Keyed & Omit<DetectionRecord, 'time' | 'evidence'> & { evidence: string };
  const { items, next_cursor } = await page(
    client,
    'd',
    'detections',
    'detection_id',
    'detection_id, detector, severity, tenant_id, agent_id, summary, evidence, event_ids',
    w,
    q,
    (r: Row): DetectionRecord => ({
      detection_id: r.detection_id,
      detector: r.detector,
      severity: r.severity,
      tenant_id: r.tenant_id,
      agent_id: r.agent_id,
      time: iso(r.t),
      summary: r.summary,
      evidence: JSON.parse(r.evidence) as Record<string, unknown>,
      event_ids: r.event_ids,
    }),
  );
  return { detections: items, next_cursor };
}

export async function queryRiskChanges(client: ClickHouseClient, q: RiskChangeQuery): Promise<RiskChangePage> {
  const w = baseWhere(q);
  type Row = Keyed & Omit<RiskChangeRecord, 'time' | 'reasons'> & { reasons: string };
  const { items, next_cursor } = await page(
    client,
    'r',
    'risk_changes',
    'change_id',
    'change_id, tenant_id, agent_id, level, previous_level, score, state, reasons',
    w,
    q,
    (r: Row): RiskChangeRecord => ({
      change_id: r.change_id,
      tenant_id: r.tenant_id,
      agent_id: r.agent_id,
      time: iso(r.t),
      level: r.level,
      previous_level: r.previous_level,
      score: Number(r.score),
      state: r.state,
      reasons: JSON.parse(r.reasons) as unknown[],
    }),
  );
  return { risk_changes: items, next_cursor };
}

export async function queryAdminActions(client: ClickHouseClient, q: AdminActionQuery): Promise<AdminActionPage> {
  const w = baseWhere(q);
  type Row = Keyed & Omit<AdminActionRecord, 'time'>;
  const { items, next_cursor } = await page(
    client,
    'a',
    'admin_actions',
    'action_id',
    'action_id, tenant_id, agent_id, action, actor, reason',
    w,
    q,
    (r: Row): AdminActionRecord => ({
      action_id: r.action_id,
      tenant_id: r.tenant_id,
      agent_id: r.agent_id,
      action: r.action,
      actor: r.actor,
      reason: r.reason,
      time: iso(r.t),
    }),
  );
  return { admin_actions: items, next_cursor };
}

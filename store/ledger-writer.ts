// The ledger writer: appends one pipeline batch (events with their provenance,
// the detections and risk changes derived from them, admin actions) to the
// ClickHouse ledger, idempotently.
//
// Idempotency: every table's insert carries the ClickHouse setting
// `insert_deduplication_token = <token>:<table>`. The tables are MergeTree
// with `non_replicated_deduplication_window`, so ClickHouse remembers the
// tokens of the last 10000 inserted blocks per table (on disk, surviving
// restarts) and silently skips a block whose token it has seen. A batch
// delivered again (same token) therefore inserts nothing twice. The caller
// must derive the token from what the batch IS (e.g. topic/partition/offset
// range) and give the same token the same rows in the same order: rows are
// written in input order, never re-sorted here.
//
// Failure: an insert that fails is retried with exponential backoff, a bounded
// number of times; after the last attempt writeBatch throws LedgerWriteError
// and the caller must not commit its source offsets. Nothing is dropped
// silently; a retry after a partial success is safe because of the token.
//
// Tamper evidence (store/ledger-chain.ts): every row carries its batch's token
// in `batch_token`, and after the rows each batch appends, per (tenant, table)
// with rows, a link to the tenant's hash chain in `ledger_chain` (one insert,
// deduplicated like the rows). The chain's head per tenant (seq, hash) is kept
// here, loaded from the table on first use, and advanced only after the links'
// insert succeeded (reloaded after a failure), under a lock, so links are
// numbered without gaps or forks by one writer per database. Before inserting,
// the writer asks what the token already has in the store: a table already
// linked under it gets no second link (a redelivered batch does not advance
// the chain), and a table that already had rows under it (a redelivery after a
// crash between rows and link, whose re-derived rows may differ and were
// deduplicated) is linked from the rows actually stored, read back.
//
// This module only ever INSERTs.

import { createHash } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import type { AgentEvent } from '../contract/events.js';
import { eventToJson } from '../contract/json.js';
import type { AdminAction, Detection, RiskChange } from '../detectors/types.js';
import { dedupToken, insertBody, tsvEscape } from './clickhouse.js';
import { EVENT_INSERT_COLUMNS } from './migrations/001_events.js';
import { RowBuffer, writeEventRow } from './event-rows.js';
import { DEFAULT_RETRY, withRetry, type RetryOptions } from './retry.js';
import {
  CHAINED_TABLES,
  JSON_COLUMNS,
  RowGroup,
  canonicalJsonLine,
  digestGroup,
  eventCanonicalLine,
  loadChainHeads,
  nextLink,
  priorState,
  storedGroups,
  type ChainHead,
  type ChainLink,
  type ChainedTable,
  type GroupDigest,
  type PriorState,
} from './ledger-chain.js';

/** The columns of the writer's `events` rows (TabSeparated), in order. */
export const EVENT_ROW_COLUMNS = [...EVENT_INSERT_COLUMNS, 'batch_token'] as const;

/** One event and where it was read from. */
export interface LedgerEvent {
  event: AgentEvent;
  /** e.g. `kafka:riskstream.signin/0`, `file:events.ndjson`, `generator`. */
  source: string;
  /** Offset within the source (Kafka offset, line number, sequence). */
  offset: number | bigint | string;
}

/** A run of consecutive events from one source: event i has offset `firstOffset + i`. */
export interface LedgerEventRun {
  source: string;
  firstOffset: number;
  events: readonly AgentEvent[];
}

export interface LedgerBatch {
  /**
   * Identity of the batch, stable across redeliveries (e.g.
   * `kafka:riskstream.signin/0:1200-1399`). Tokens made only of
   * [A-Za-z0-9._:/=@+,-] are used as they are; others are replaced by their
   * SHA-256 (deterministically, so dedup still holds).
   */
  token: string;
  events?: readonly LedgerEvent[] | LedgerEventRun;
  detections?: readonly Detection[];
  riskChanges?: readonly RiskChange[];
  adminActions?: readonly AdminAction[];
  /**
   * The caller knows nothing can be stored under this token yet (e.g. Kafka
   * offsets never delivered before and beyond anything stored): the writer
   * skips asking the store what the token already has. Leave unset when
   * unsure; a wrong `true` could link rows a redelivery did not insert.
   */
  fresh?: boolean;
}

export type LedgerTable = 'events' | 'detections' | 'risk_changes' | 'admin_actions';
/** Tables the writer inserts into: the ledger tables and the hash chain. */
export type WrittenTable = LedgerTable | 'ledger_chain';

export { DEFAULT_RETRY, type RetryOptions } from './retry.js';

export interface RetryInfo {
  table: WrittenTable;
  /** The attempt that failed (1-based). */
  attempt: number;
  error: unknown;
  /** Delay before the next attempt. */
  delayMs: number;
}

export interface LedgerWriterOptions {
  retry?: Partial<RetryOptions>;
  /** Called after each failed attempt that will be retried (for logs/metrics). */
  onRetry?: (info: RetryInfo) => void;
  /** Append hash-chain links (default true; false only for measurements). */
  chain?: boolean;
}

/** Rows handed to ClickHouse per table (0 when the table was skipped). */
export interface WriteResult {
  events: number;
  detections: number;
  risk_changes: number;
  admin_actions: number;
}

export class LedgerWriteError extends Error {
  constructor(
    readonly table: WrittenTable,
    readonly attempts: number,
    cause: unknown,
  ) {
    super(
      `insert into ${table} failed after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${
        cause instanceof Error ? cause.message : String(cause)
      }`,
      { cause },
    );
    this.name = 'LedgerWriteError';
  }
}

// ---------------------------------------------------------------------------
// Row building

const OFFSET_TEXT = /^-?\d{1,19}$/;

function offsetText(offset: number | bigint | string): string {
  if (typeof offset === 'number') {
    if (Number.isSafeInteger(offset)) return String(offset);
  } else if (typeof offset === 'bigint') {
    return offset.toString();
  } else if (typeof offset === 'string' && OFFSET_TEXT.test(offset)) {
    // As ClickHouse stores it ("007" is 7): the line is also the canonical form.
    return BigInt(offset).toString();
  }
  throw new TypeError(`source offset must be an integer, got ${JSON.stringify(String(offset))}`);
}

/**
 * The `events` row of an event as one TabSeparated line (EVENT_ROW_COLUMNS):
 * time (epoch ms, which DateTime64(3) reads exactly), raw (the toJsonRecord
 * text), source, source offset, batch token. The typed columns are computed
 * by ClickHouse from `raw` (see migrations/001_events.ts). JSON text never
 * contains a raw tab or newline, so escaping `raw` only has to double its
 * backslashes. The line is also the row's canonical form for the hash chain.
 */
export function eventLine(event: AgentEvent, sourceField: string, offset: number | bigint | string, token = ''): string {
  return eventCanonicalLine(Math.trunc(event.time), eventToJson(event), sourceField, offsetText(offset), token);
}

/** Stable id of a detection: SHA-256 of (detector, tenant, agent, time, event ids), 32 hex chars. */
export function detectionId(d: Detection): string {
  return createHash('sha256')
    .update(JSON.stringify([d.detector, d.tenant_id, d.agent_id, d.time, d.event_ids]))
    .digest('hex')
    .slice(0, 32);
}

export function detectionRow(d: Detection): Record<string, unknown> {
  return {
    detection_id: detectionId(d),
    detector: d.detector,
    severity: d.severity,
    tenant_id: d.tenant_id,
    agent_id: d.agent_id,
    time: Math.trunc(d.time),
    summary: d.summary,
    evidence: JSON.stringify(d.evidence),
    event_ids: d.event_ids,
  };
}

export function riskChangeRow(c: RiskChange): Record<string, unknown> {
  return {
    change_id: c.change_id,
    tenant_id: c.tenant_id,
    agent_id: c.agent_id,
    time: Math.trunc(c.time),
    level: c.level,
    previous_level: c.previous_level,
    score: c.score,
    state: c.state,
    reasons: JSON.stringify(c.reasons),
  };
}

export function adminActionRow(a: AdminAction): Record<string, unknown> {
  return {
    action_id: a.action_id,
    tenant_id: a.tenant_id,
    agent_id: a.agent_id,
    action: a.action,
    actor: a.actor,
    reason: a.reason,
    time: Math.trunc(a.time),
  };
}

/** Per tenant, the canonical lines of a part's rows (for the hash chain). */
export type TenantGroups = Map<string, RowGroup>;

function groupOf(groups: TenantGroups, tenant: string): RowGroup {
  let g = groups.get(tenant);
  if (g === undefined) groups.set(tenant, (g = new RowGroup()));
  return g;
}

/**
 * The `events` body (TabSeparated, EVENT_ROW_COLUMNS, UTF-8) of a batch, rows
 * in input order, each carrying `token`; with `groups`, each row is also added
 * to its tenant's group (as its bytes in the body).
 */
export function eventsBody(events: LedgerBatch['events'], token = '', groups?: TenantGroups): { body: Buffer; rows: number } {
  if (events === undefined) return { body: Buffer.alloc(0), rows: 0 };
  const run = 'events' in events ? events : undefined;
  const n = run !== undefined ? run.events.length : (events as readonly LedgerEvent[]).length;
  // Rows go straight into the body as bytes (store/event-rows.ts): the same
  // bytes as eventLine's text, without building it.
  const out = new RowBuffer(n);
  if (run !== undefined) {
    const source = tsvEscape(run.source);
    for (let i = 0; i < n; i++) writeEventRow(out, run.events[i] as AgentEvent, source, offsetText(run.firstOffset + i), token);
  } else {
    const sources = new Map<string, string>();
    for (const { event, source, offset } of events as readonly LedgerEvent[]) {
      let field = sources.get(source);
      if (field === undefined) sources.set(source, (field = tsvEscape(source)));
      writeEventRow(out, event, field, offsetText(offset), token);
    }
  }
  const body = out.finish();
  if (groups) {
    const { starts } = out;
    for (let i = 0; i < n; i++) {
      const event = run !== undefined ? (run.events[i] as AgentEvent) : (events as readonly LedgerEvent[])[i]!.event;
      groupOf(groups, event.tenant_id).addBytes(body, starts[i]!, starts[i + 1]!, Math.trunc(event.time));
    }
  }
  return { body, rows: n };
}

function jsonLines<T>(
  items: readonly T[] | undefined,
  row: (item: T) => Record<string, unknown>,
  columns: readonly string[],
  token: string,
  groups: TenantGroups,
): { body: string; rows: number } {
  let body = '';
  for (const item of items ?? []) {
    const r = row(item);
    r.batch_token = token;
    const line = canonicalJsonLine(columns, r);
    body += line;
    groupOf(groups, String(r.tenant_id)).add(line, Number(r.time));
  }
  return { body, rows: items?.length ?? 0 };
}

const INSERT_SETTINGS: Record<string, number> = {
  // A bulk replay spanning many months must not fail forever on the default
  // limit of 100 partitions per insert.
  max_partitions_per_insert_block: 0,
};

/** What a fresh token has in the store: nothing. */
const nothingPrior = (): PriorState => ({ rows: new Map(), linked: new Set() });


// ---------------------------------------------------------------------------

interface Part {
  table: LedgerTable;
  /** UTF-8 rows, ready for the engine. */
  body: Buffer;
  rows: number;
  /** Per tenant with rows, the digest of its rows (for the hash chain). */
  digests: Map<string, GroupDigest>;
}

/** The digest of each non-empty tenant group. */
function digestGroups(groups: TenantGroups): Map<string, GroupDigest> {
  const out = new Map<string, GroupDigest>();
  for (const [tenant, group] of groups) if (group.size > 0) out.set(tenant, digestGroup(group));
  return out;
}

/** A batch serialised by {@link LedgerWriter.prepare}, ready to write. */
export interface PreparedLedgerBatch {
  readonly token: string;
  readonly fresh: boolean;
  readonly parts: readonly Part[];
}

export class LedgerWriter {
  readonly retry: RetryOptions;
  readonly #client: ClickHouseClient;
  readonly #onRetry: ((info: RetryInfo) => void) | undefined;
  readonly #chain: boolean;
  /** Per tenant, the last link appended (undefined: load from the table first). */
  #heads: Map<string, ChainHead> | undefined;
  /** Tail of the chain-append lock. */
  #chainTail: Promise<void> = Promise.resolve();

  constructor(client: ClickHouseClient, options: LedgerWriterOptions = {}) {
    this.#client = client;
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    if (!Number.isInteger(this.retry.attempts) || this.retry.attempts < 1) {
      throw new RangeError(`retry.attempts must be an integer >= 1, got ${this.retry.attempts}`);
    }
    this.#onRetry = options.onRetry;
    this.#chain = options.chain ?? true;
  }

  /**
   * Appends a batch: events, then detections, risk changes and admin actions,
   * each in one insert deduplicated by `<token>:<table>`; empty parts are
   * skipped. Then the batch's hash-chain links (one insert). Resolves once
   * every part is durably inserted (or recognised as a duplicate); throws
   * LedgerWriteError when a part still fails after the configured attempts.
   */
  async writeBatch(batch: LedgerBatch): Promise<WriteResult> {
    return this.write(this.prepare(batch));
  }

  /**
   * Serialises a batch for {@link write}, synchronously: every row body and
   * the rows' hash-chain groups. A row that cannot be serialised throws here,
   * before anything is written. The pipeline prepares a batch on the JS
   * thread while the engine is still inserting the previous one.
   */
  prepare(batch: LedgerBatch): PreparedLedgerBatch {
    const token = dedupToken(batch.token);
    const eventGroups: TenantGroups = new Map();
    // The digests of the rows as sent, for the links (hashing is JS work: done here, before the inserts).
    const part = (table: LedgerTable, built: { body: string | Buffer; rows: number }, groups: TenantGroups): Part => ({
      table,
      body: typeof built.body === 'string' ? Buffer.from(built.body, 'utf8') : built.body,
      rows: built.rows,
      digests: digestGroups(groups),
    });
    const g = () => new Map<string, RowGroup>();
    const dg = g();
    const rg = g();
    const ag = g();
    return {
      token,
      fresh: batch.fresh === true,
      parts: [
        part('events', eventsBody(batch.events, token, this.#chain ? eventGroups : undefined), eventGroups),
        part('detections', jsonLines(batch.detections, detectionRow, JSON_COLUMNS.detections, token, dg), dg),
        part('risk_changes', jsonLines(batch.riskChanges, riskChangeRow, JSON_COLUMNS.risk_changes, token, rg), rg),
        part('admin_actions', jsonLines(batch.adminActions, adminActionRow, JSON_COLUMNS.admin_actions, token, ag), ag),
      ],
    };
  }

  /** Writes a prepared batch (see {@link writeBatch}). */
  async write(prepared: PreparedLedgerBatch): Promise<WriteResult> {
    const { token, parts } = prepared;
    // What the token already has in the store decides where each table's link
    // comes from. Unknown (null) when the store cannot say: the links are then
    // built from what is stored after the inserts.
    const prior = !this.#chain ? null : prepared.fresh ? nothingPrior() : await priorState(this.#client, token).catch(() => null);
    const result: WriteResult = { events: 0, detections: 0, risk_changes: 0, admin_actions: 0 };
    for (const { table, body, rows } of parts) {
      if (rows === 0) continue;
      await this.#insert(table, body, `${token}:${table}`);
      result[table] = rows;
    }
    if (this.#chain) await this.#appendLinks(token, parts, prior);
    return result;
  }

  /** Appends the links of a batch whose rows are stored. */
  async #appendLinks(token: string, parts: readonly Part[], prior: PriorState | null): Promise<void> {
    const linked = prior?.linked ?? (await this.#retrying('ledger_chain', () => priorState(this.#client, token))).linked;
    // Per table to link, the digest of each tenant's rows.
    const sources: [ChainedTable, Map<string, GroupDigest>][] = [];
    for (const table of CHAINED_TABLES) {
      if (linked.has(table)) continue; // a redelivery: the chain already covers it
      const sent = parts.find((p) => p.table === table);
      if (prior !== null && (prior.rows.get(table) ?? 0) === 0) {
        if (sent && sent.rows > 0) sources.push([table, sent.digests]);
      } else {
        // Rows were stored under this token before (or it is unknown): link what is stored.
        const stored = await this.#retrying('ledger_chain', () => storedGroups(this.#client, table, token));
        if (stored.size > 0) sources.push([table, digestGroups(stored)]);
      }
    }
    if (sources.length === 0) return;

    const digests: { tenant: string; table: ChainedTable; digest: GroupDigest }[] = [];
    const tenants = [...new Set(sources.flatMap(([, groups]) => [...groups.keys()]))].sort();
    for (const tenant of tenants) {
      for (const [table, groups] of sources) {
        const digest = groups.get(tenant);
        if (digest !== undefined) digests.push({ tenant, table, digest });
      }
    }
    const linkToken = `${token}:ledger_chain:${sources.map(([t]) => t).join('+')}`;

    await this.#exclusive(async () => {
      const heads = (this.#heads ??= await this.#retrying('ledger_chain', () => loadChainHeads(this.#client)));
      const next = new Map<string, ChainHead>();
      const links: ChainLink[] = [];
      let body = '';
      for (const { tenant, table, digest } of digests) {
        const link = nextLink(next.get(tenant) ?? heads.get(tenant), tenant, token, table, digest);
        next.set(tenant, { seq: link.seq, hash: link.chain_hash });
        links.push(link);
        body += `${JSON.stringify(link)}\n`;
      }
      try {
        await this.#insert('ledger_chain', body, linkToken);
      } catch (err) {
        // The links may or may not be stored: read the heads again next time.
        this.#heads = undefined;
        throw err;
      }
      for (const [tenant, head] of next) heads.set(tenant, head);
    });
  }

  #exclusive(fn: () => Promise<void>): Promise<void> {
    const run = this.#chainTail.then(fn);
    this.#chainTail = run.catch(() => undefined);
    return run;
  }

  async #insert(table: WrittenTable, body: string | Buffer, token: string): Promise<void> {
    await this.#retrying(table, () =>
      insertBody(this.#client, {
        table,
        body,
        token,
        settings: INSERT_SETTINGS,
        ...(table === 'events' ? { format: 'TabSeparated', columns: EVENT_ROW_COLUMNS } : { format: 'JSONEachRow' }),
      }),
    );
  }

  async #retrying<T>(table: WrittenTable, fn: () => Promise<T>): Promise<T> {
    try {
      return await withRetry(fn, this.retry, (attempt, error, delayMs) => this.#onRetry?.({ table, attempt, error, delayMs }));
    } catch (error) {
      throw new LedgerWriteError(table, this.retry.attempts, error);
    }
  }
}

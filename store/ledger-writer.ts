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
// This module only ever INSERTs.

import { createHash } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import type { AgentEvent } from '../contract/events.js';
import { toJsonRecord } from '../contract/validate.js';
import type { AdminAction, Detection, RiskChange } from '../detectors/types.js';
import { dedupToken, insertBody, tsvEscape } from './clickhouse.js';
import { EVENT_INSERT_COLUMNS } from './migrations/001_events.js';

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
}

export type LedgerTable = 'events' | 'detections' | 'risk_changes' | 'admin_actions';

export interface RetryOptions {
  /** Total attempts per insert, including the first (>= 1). */
  attempts: number;
  /** Delay before the first retry; doubled for each further retry. */
  initialDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryOptions = { attempts: 5, initialDelayMs: 100, maxDelayMs: 5000 };

export interface RetryInfo {
  table: LedgerTable;
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
    readonly table: LedgerTable,
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
    return offset;
  }
  throw new TypeError(`source offset must be an integer, got ${JSON.stringify(String(offset))}`);
}

/**
 * The `events` row of an event as one TabSeparated line: time (epoch ms,
 * which DateTime64(3) reads exactly), raw (the toJsonRecord text), source,
 * source offset. The typed columns are computed by ClickHouse from `raw` (see
 * migrations/001_events.ts). JSON text never contains a raw tab or newline, so
 * escaping `raw` only has to double its backslashes.
 */
export function eventLine(event: AgentEvent, sourceField: string, offset: number | bigint | string): string {
  const raw = JSON.stringify(toJsonRecord(event));
  return `${Math.trunc(event.time)}\t${raw.includes('\\') ? raw.replace(BACKSLASH, '\\\\') : raw}\t${sourceField}\t${offsetText(offset)}\n`;
}
const BACKSLASH = /\\/g;

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

/** The `events` body (TabSeparated, EVENT_INSERT_COLUMNS) of a batch, rows in input order. */
export function eventsBody(events: LedgerBatch['events']): { body: string; rows: number } {
  if (events === undefined) return { body: '', rows: 0 };
  let body = '';
  if ('events' in events) {
    const run = events;
    const source = tsvEscape(run.source);
    for (let i = 0; i < run.events.length; i++) body += eventLine(run.events[i] as AgentEvent, source, run.firstOffset + i);
    return { body, rows: run.events.length };
  }
  const sources = new Map<string, string>();
  for (const { event, source, offset } of events) {
    let json = sources.get(source);
    if (json === undefined) sources.set(source, (json = tsvEscape(source)));
    body += eventLine(event, json, offset);
  }
  return { body, rows: events.length };
}

function jsonLines<T>(items: readonly T[] | undefined, row: (item: T) => Record<string, unknown>): { body: string; rows: number } {
  let body = '';
  for (const item of items ?? []) body += `${JSON.stringify(row(item))}\n`;
  return { body, rows: items?.length ?? 0 };
}

const INSERT_SETTINGS: Record<string, number> = {
  // A bulk replay spanning many months must not fail forever on the default
  // limit of 100 partitions per insert.
  max_partitions_per_insert_block: 0,
};

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------

export class LedgerWriter {
  readonly retry: RetryOptions;
  readonly #client: ClickHouseClient;
  readonly #onRetry: ((info: RetryInfo) => void) | undefined;

  constructor(client: ClickHouseClient, options: LedgerWriterOptions = {}) {
    this.#client = client;
    this.retry = { ...DEFAULT_RETRY, ...options.retry };
    if (!Number.isInteger(this.retry.attempts) || this.retry.attempts < 1) {
      throw new RangeError(`retry.attempts must be an integer >= 1, got ${this.retry.attempts}`);
    }
    this.#onRetry = options.onRetry;
  }

  /**
   * Appends a batch: events, then detections, risk changes and admin actions,
   * each in one insert deduplicated by `<token>:<table>`; empty parts are
   * skipped. Resolves once every part is durably inserted (or recognised as a
   * duplicate); throws LedgerWriteError when a part still fails after the
   * configured attempts.
   */
  async writeBatch(batch: LedgerBatch): Promise<WriteResult> {
    const token = dedupToken(batch.token);
    // Build every body before the first insert: a row that cannot be
    // serialised fails the batch before anything is written.
    const parts: [LedgerTable, { body: string; rows: number }][] = [
      ['events', eventsBody(batch.events)],
      ['detections', jsonLines(batch.detections, detectionRow)],
      ['risk_changes', jsonLines(batch.riskChanges, riskChangeRow)],
      ['admin_actions', jsonLines(batch.adminActions, adminActionRow)],
    ];
    const result: WriteResult = { events: 0, detections: 0, risk_changes: 0, admin_actions: 0 };
    for (const [table, { body, rows }] of parts) {
      if (rows === 0) continue;
      await this.#insert(table, body, `${token}:${table}`);
      result[table] = rows;
    }
    return result;
  }

  async #insert(table: LedgerTable, body: string, token: string): Promise<void> {
    const { attempts, initialDelayMs, maxDelayMs } = this.retry;
    for (let attempt = 1; ; attempt++) {
      try {
        await insertBody(this.#client, {
          table,
          body,
          token,
          settings: INSERT_SETTINGS,
          ...(table === 'events' ? { format: 'TabSeparated', columns: EVENT_INSERT_COLUMNS } : { format: 'JSONEachRow' }),
        });
        return;
      } catch (error) {
        if (attempt >= attempts) throw new LedgerWriteError(table, attempt, error);
        const delayMs = Math.min(maxDelayMs, initialDelayMs * 2 ** (attempt - 1));
        this.#onRetry?.({ table, attempt, error, delayMs });
        await sleep(delayMs);
      }
    }
  }
}

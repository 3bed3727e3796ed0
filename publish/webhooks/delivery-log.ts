// The record of webhook delivery attempts: one entry per HTTP attempt (or
// refusal), append-only. In memory for tests and single-process runs; in
// ClickHouse (`webhook_deliveries`, see publish/webhook-deliveries-sql.ts) for
// an audit trail that survives restarts.

import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { ClickHouseClient } from '@clickhouse/client';
import type { WebhookEventKind } from './store.js';

export type AttemptOutcome = 'success' | 'failure' | 'refused';

export interface DeliveryAttempt {
  /** One event to one webhook; shared by all its attempts. */
  delivery_id: string;
  webhook_id: string;
  tenant_id: string;
  event_id: string;
  event_kind: WebhookEventKind;
  url: string;
  /** 1-based. */
  attempt: number;
  outcome: AttemptOutcome;
  http_status: number | null;
  error: string | null;
  duration_ms: number;
  /** True on the last attempt of the delivery (success, refusal or attempts exhausted). */
  final: boolean;
  /** Epoch ms when the attempt started. */
  time: number;
}

export interface DeliveryLog {
  record(attempt: DeliveryAttempt): Promise<void>;
  /** Attempts of one webhook of a tenant, newest first. */
  list(tenantId: string, webhookId: string, opts?: { limit?: number }): Promise<DeliveryAttempt[]>;
}

export class MemoryDeliveryLog implements DeliveryLog {
  readonly attempts: DeliveryAttempt[] = [];

  constructor(private readonly capacity = 100_000) {}

  async record(attempt: DeliveryAttempt): Promise<void> {
    this.attempts.push({ ...attempt });
    if (this.attempts.length > this.capacity) this.attempts.splice(0, this.attempts.length - this.capacity);
  }

  async list(tenantId: string, webhookId: string, opts: { limit?: number } = {}): Promise<DeliveryAttempt[]> {
    const out: DeliveryAttempt[] = [];
    const limit = opts.limit ?? 100;
    for (let i = this.attempts.length - 1; i >= 0 && out.length < limit; i--) {
      const a = this.attempts[i]!;
      if (a.tenant_id === tenantId && a.webhook_id === webhookId) out.push({ ...a });
    }
    return out;
  }
}

interface Row {
  delivery_id: string;
  webhook_id: string;
  tenant_id: string;
  event_id: string;
  event_kind: string;
  url: string;
  attempt: number | string;
  outcome: string;
  http_status: number | string | null;
  error: string | null;
  duration_ms: number | string;
  final: boolean | number;
  time: number | string;
}

/**
 * Appends attempts to `webhook_deliveries` (the table must exist: register the
 * migration). Each row is inserted with a deduplication token derived from
 * (delivery_id, attempt, time), so a retried insert does not write it twice.
 */
export class ClickHouseDeliveryLog implements DeliveryLog {
  constructor(
    private readonly client: ClickHouseClient,
    private readonly table = 'webhook_deliveries',
  ) {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(table)) throw new Error(`invalid table name ${JSON.stringify(table)}`);
  }

  async record(a: DeliveryAttempt): Promise<void> {
    const row = {
      delivery_id: a.delivery_id,
      webhook_id: a.webhook_id,
      tenant_id: a.tenant_id,
      event_id: a.event_id,
      event_kind: a.event_kind,
      url: a.url,
      attempt: a.attempt,
      outcome: a.outcome,
      http_status: a.http_status,
      error: a.error,
      duration_ms: Math.max(0, Math.round(a.duration_ms)),
      final: a.final,
      time: Math.trunc(a.time),
    };
    // Settings in the INSERT's own SETTINGS clause (never clickhouse_settings,
    // which stay set on an embedded chdb session); synchronous, so the row is
    // on disk when this resolves. The token is hex: nothing to escape.
    const token = createHash('sha256').update(`webhook_deliveries:${a.delivery_id}:${a.attempt}:${Math.trunc(a.time)}`).digest('hex');
    const r = await this.client.exec({
      query: `INSERT INTO ${this.table} SETTINGS async_insert = 0, insert_deduplication_token = '${token}' FORMAT JSONEachRow`,
      values: Readable.from([`${JSON.stringify(row)}\n`], { objectMode: false }),
    });
    r.stream.resume();
    await finished(r.stream);
  }

  async list(tenantId: string, webhookId: string, opts: { limit?: number } = {}): Promise<DeliveryAttempt[]> {
    const rs = await this.client.query({
      query: `SELECT delivery_id, webhook_id, tenant_id, event_id, event_kind, url, attempt, outcome, http_status, error,
                     duration_ms, final, toUnixTimestamp64Milli(time) AS time
              FROM ${this.table}
              WHERE tenant_id = {tenant:String} AND webhook_id = {webhook:String}
              ORDER BY time DESC, attempt DESC
              LIMIT {limit:UInt32}`,
      query_params: { tenant: tenantId, webhook: webhookId, limit: opts.limit ?? 100 },
      format: 'JSONEachRow',
    });
    const rows = await rs.json<Row>();
    return rows.map((r) => ({
      delivery_id: r.delivery_id,
      webhook_id: r.webhook_id,
      tenant_id: r.tenant_id,
      event_id: r.event_id,
      event_kind: r.event_kind as WebhookEventKind,
      url: r.url,
      attempt: Number(r.attempt),
      outcome: r.outcome as AttemptOutcome,
      http_status: r.http_status === null ? null : Number(r.http_status),
      error: r.error,
      duration_ms: Number(r.duration_ms),
      final: r.final === true || Number(r.final) === 1,
      time: Number(r.time),
    }));
  }
}

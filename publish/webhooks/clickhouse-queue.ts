// Pending webhook deliveries in ClickHouse (`webhook_queue`, store migration
// 011), append-only: an `add` row per delivery and a `done` row when it
// finishes; pending = added and not done. Marks of done are buffered and
// written together within `doneFlushMs` (default 2 s) and on close: one lost
// in a crash only means that delivery is made again after the restart.

import type { ClickHouseClient } from '@clickhouse/client';
import { insertBody } from '../../store/clickhouse.js';
import { withRetry, type RetryOptions } from '../../store/retry.js';
import { Coalescer } from '../util.js';
import type { QueuedDelivery, WebhookQueue } from './queue.js';
import type { WebhookEventKind } from './store.js';

const TABLE = 'webhook_queue';

export interface ClickHouseWebhookQueueOptions {
  retry?: RetryOptions;
  /** Longest wait before marks of done are written (ms). */
  doneFlushMs?: number;
}

export class ClickHouseWebhookQueue implements WebhookQueue {
  /** Marks of done not written yet, written together. */
  private readonly marks: Coalescer<{ hook_id: string; delivery_id: string; at: number }>;

  constructor(
    private readonly client: ClickHouseClient,
    private readonly options: ClickHouseWebhookQueueOptions = {},
  ) {
    this.marks = new Coalescer((marks) => {
      const rows = marks.map((m) => ({ hook_id: m.hook_id, tenant_id: '', delivery_id: m.delivery_id, event_id: '', kind: 'risk_change', body: '', enqueued_at: m.at, op: 'done' }));
      return this.append(rows, `webhook-done:${marks.length}:${marks.map((m) => m.delivery_id).join(',')}:${marks[0]!.at}`);
    }, options.doneFlushMs ?? 2000);
  }

  async add(deliveries: readonly QueuedDelivery[]): Promise<void> {
    if (deliveries.length === 0) return;
    const rows = deliveries.map((d) => ({ ...d, op: 'add', enqueued_at: Math.trunc(d.enqueued_at) }));
    // Delivery ids are stable per (hook, event): the batch's ids name a retried insert.
    await this.append(rows, `webhook-add:${deliveries.length}:${deliveries.map((d) => d.delivery_id).join(',')}`);
  }

  async done(deliveries: readonly { hook_id: string; delivery_id: string }[]): Promise<void> {
    const at = Date.now();
    this.marks.add(deliveries.map((d) => ({ hook_id: d.hook_id, delivery_id: d.delivery_id, at })));
  }

  /** Writes the buffered marks of done in one insert (see Coalescer). */
  flush(): Promise<void> {
    return this.marks.flush();
  }

  async pending(): Promise<QueuedDelivery[]> {
    await this.flush();
    const rs = await this.client.query({
      query: `SELECT hook_id, delivery_id, anyIf(tenant_id, op = 'add') AS queued_tenant, anyIf(event_id, op = 'add') AS queued_event,
                     anyIf(kind, op = 'add') AS queued_kind, anyIf(body, op = 'add') AS queued_body,
                     toUnixTimestamp64Milli(minIf(enqueued_at, op = 'add')) AS queued_at
              FROM ${TABLE}
              GROUP BY hook_id, delivery_id
              HAVING countIf(op = 'done') = 0 AND countIf(op = 'add') > 0
              ORDER BY queued_at, hook_id, delivery_id`,
      format: 'JSONEachRow',
    });
    type Row = { hook_id: string; delivery_id: string; queued_tenant: string; queued_event: string; queued_kind: string; queued_body: string; queued_at: string | number };
    return (await rs.json<Row>()).map((r) => ({
      hook_id: r.hook_id,
      tenant_id: r.queued_tenant,
      delivery_id: r.delivery_id,
      event_id: r.queued_event,
      kind: r.queued_kind as WebhookEventKind,
      body: r.queued_body,
      enqueued_at: Number(r.queued_at),
    }));
  }

  async close(): Promise<void> {
    await this.flush();
  }

  private async append(rows: object[], token: string): Promise<void> {
    const body = rows.map((r) => `${JSON.stringify(r)}\n`).join('');
    await withRetry(() => insertBody(this.client, { table: TABLE, format: 'JSONEachRow', body, token }), this.options.retry);
  }
}

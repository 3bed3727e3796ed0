// Webhook deliveries not yet finished, kept where a restart finds them. The
// dispatcher adds a batch's deliveries before the batch is acknowledged, and
// marks each one done when it reaches its final outcome (delivered, failed
// after its attempts, refused, or dropped with its hook). What is still
// pending when the process stops — queued, or waiting between attempts — is
// delivered after the next start (at least once: receivers de-duplicate on
// `x-riskstream-event-id`).
//
// The in-memory queue below keeps nothing across restarts (tests,
// embedding); `riskstream run` keeps the queue in ClickHouse
// (clickhouse-queue.ts).

import type { WebhookEventKind } from './store.js';

export interface QueuedDelivery {
  hook_id: string;
  tenant_id: string;
  /** Stable per (hook, event). */
  delivery_id: string;
  event_id: string;
  kind: WebhookEventKind;
  /** The signed envelope's JSON text (signed again at each attempt). */
  body: string;
  /** Epoch ms. */
  enqueued_at: number;
}

export interface WebhookQueue {
  /** Adds deliveries; resolves once they would survive a restart. */
  add(deliveries: readonly QueuedDelivery[]): Promise<void>;
  /** Marks deliveries finished; may be written a little later (a repeat after a crash is harmless). */
  done(deliveries: readonly { hook_id: string; delivery_id: string }[]): Promise<void>;
  /** Every delivery added and not done, oldest first. */
  pending(): Promise<QueuedDelivery[]>;
  /** Writes anything buffered. */
  close?(): Promise<void>;
}

export class MemoryWebhookQueue implements WebhookQueue {
  private readonly items = new Map<string, QueuedDelivery>();

  async add(deliveries: readonly QueuedDelivery[]): Promise<void> {
    for (const d of deliveries) this.items.set(`${d.hook_id}\u0000${d.delivery_id}`, { ...d });
  }

  async done(deliveries: readonly { hook_id: string; delivery_id: string }[]): Promise<void> {
    for (const d of deliveries) this.items.delete(`${d.hook_id}\u0000${d.delivery_id}`);
  }

  async pending(): Promise<QueuedDelivery[]> {
    return [...this.items.values()].map((d) => ({ ...d }));
  }
}

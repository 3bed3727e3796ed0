// Registered webhooks. The dispatcher reads and writes them through this
// interface. The in-memory implementation below is for tests and embedding
// (registrations are lost on restart); `riskstream run` keeps them in
// ClickHouse (clickhouse-store.ts). A store must keep the secret, which signs
// every delivery.

import type { Severity } from '../../detectors/types.js';

export const WEBHOOK_EVENT_KINDS = ['risk_change', 'detection'] as const;
export type WebhookEventKind = (typeof WEBHOOK_EVENT_KINDS)[number];

export interface LastDelivery {
  delivery_id: string;
  event_id: string;
  outcome: 'success' | 'failure' | 'refused';
  attempts: number;
  http_status: number | null;
  last_error: string | null;
  /** Epoch ms of the last attempt. */
  at: number;
}

export interface Webhook {
  id: string;
  tenant_id: string;
  url: string;
  /** Lowest level (risk changes) / severity (detections) delivered. */
  min_level: Severity;
  events: WebhookEventKind[];
  description: string | null;
  /** HMAC key of the signatures; returned to the admin once, at creation. */
  secret: string;
  enabled: boolean;
  disabled_reason: string | null;
  disabled_at: number | null;
  /** Failed deliveries (all attempts failed) since the last success. */
  consecutive_failures: number;
  last_delivery: LastDelivery | null;
  created_at: number;
  created_by: string;
}

export interface WebhookStore {
  /** The tenant's webhooks, oldest first. */
  list(tenantId: string): Promise<Webhook[]>;
  get(tenantId: string, id: string): Promise<Webhook | null>;
  /** Creates or replaces. */
  save(hook: Webhook): Promise<void>;
  /** False when there was none. */
  delete(tenantId: string, id: string): Promise<boolean>;
  /** Writes anything still buffered (the dispatcher calls it when it closes). */
  close?(): Promise<void>;
}

export class MemoryWebhookStore implements WebhookStore {
  private readonly hooks = new Map<string, Webhook>();

  async list(tenantId: string): Promise<Webhook[]> {
    return [...this.hooks.values()].filter((h) => h.tenant_id === tenantId).map((h) => structuredClone(h));
  }

  async get(tenantId: string, id: string): Promise<Webhook | null> {
    const h = this.hooks.get(id);
    return h && h.tenant_id === tenantId ? structuredClone(h) : null;
  }

  async save(hook: Webhook): Promise<void> {
    this.hooks.set(hook.id, structuredClone(hook));
  }

  async delete(tenantId: string, id: string): Promise<boolean> {
    const h = this.hooks.get(id);
    if (!h || h.tenant_id !== tenantId) return false;
    this.hooks.delete(id);
    return true;
  }
}

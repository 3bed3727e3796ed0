// Registered webhooks that survive a restart: every save and deletion is
// appended to `webhook_registrations` (store migration 010) as a new version
// of the registration, and `open` reads back the latest version of each. The
// dispatcher asks for a tenant's webhooks on every batch, so the registrations
// are also held in memory and answered from there; a write reaches the store
// (retried) before the memory, so what the dispatcher sees is always stored.
//
// The signing secret is sealed (StateCipher, bound to the tenant and webhook
// id); the rest of the registration is stored as JSON. One process writes a
// tenant's registrations: other instances sharing the store see them when
// they next start.

import type { ClickHouseClient } from '@clickhouse/client';
import { insertBody } from '../../store/clickhouse.js';
import { withRetry, type RetryOptions } from '../../store/retry.js';
import type { StateCipher } from '../state-cipher.js';
import type { Webhook, WebhookStore } from './store.js';

const TABLE = 'webhook_registrations';

/** The latest version of a registration, as `open` reads it. */
interface StoredRow {
  tenant_id: string;
  webhook_id: string;
  last_version: string | number;
  last_deleted: boolean | number;
  last_record: string;
  last_secret_sealed: string;
}

/** What is sealed with a webhook's secret: a sealed secret copied to another registration does not open. */
function sealContext(tenantId: string, id: string): string {
  return `webhook:${tenantId}:${id}`;
}

export class ClickHouseWebhookStore implements WebhookStore {
  private readonly hooks = new Map<string, Webhook>();
  /** Last version written, per webhook id: versions only grow, even when the clock does not. */
  private readonly versions = new Map<string, number>();

  private constructor(
    private readonly client: ClickHouseClient,
    private readonly cipher: StateCipher,
    private readonly retry: RetryOptions | undefined,
  ) {}

  /** Loads the stored registrations (the latest version of each, deleted ones left out). */
  static async open(client: ClickHouseClient, cipher: StateCipher, options: { retry?: RetryOptions } = {}): Promise<ClickHouseWebhookStore> {
    const store = new ClickHouseWebhookStore(client, cipher, options.retry);
    const rs = await client.query({
      // Aliases differ from the columns: ClickHouse would otherwise read the alias inside the aggregates.
      query: `SELECT tenant_id, webhook_id, max(version) AS last_version, argMax(deleted, version) AS last_deleted,
                     argMax(record, version) AS last_record, argMax(secret_sealed, version) AS last_secret_sealed
              FROM ${TABLE}
              GROUP BY tenant_id, webhook_id
              ORDER BY tenant_id, webhook_id`,
      format: 'JSONEachRow',
    });
    for (const row of await rs.json<StoredRow>()) {
      store.versions.set(row.webhook_id, Number(row.last_version));
      if (row.last_deleted === true || Number(row.last_deleted) === 1) continue;
      const secret = cipher.open(row.last_secret_sealed, sealContext(row.tenant_id, row.webhook_id));
      const hook = { ...(JSON.parse(row.last_record) as Omit<Webhook, 'secret'>), secret } as Webhook;
      store.hooks.set(hook.id, hook);
    }
    return store;
  }

  async list(tenantId: string): Promise<Webhook[]> {
    const out: Webhook[] = [];
    for (const h of this.hooks.values()) if (h.tenant_id === tenantId) out.push(structuredClone(h));
    return out.sort((a, b) => a.created_at - b.created_at || (a.id < b.id ? -1 : 1));
  }

  async get(tenantId: string, id: string): Promise<Webhook | null> {
    const h = this.hooks.get(id);
    return h && h.tenant_id === tenantId ? structuredClone(h) : null;
  }

  async save(hook: Webhook): Promise<void> {
    const { secret, ...record } = hook;
    await this.append(hook.tenant_id, hook.id, false, JSON.stringify(record), this.cipher.seal(secret, sealContext(hook.tenant_id, hook.id)));
    this.hooks.set(hook.id, structuredClone(hook));
  }

  async delete(tenantId: string, id: string): Promise<boolean> {
    const h = this.hooks.get(id);
    if (!h || h.tenant_id !== tenantId) return false;
    await this.append(tenantId, id, true, '', '');
    this.hooks.delete(id);
    return true;
  }

  private async append(tenantId: string, id: string, deleted: boolean, record: string, secretSealed: string): Promise<void> {
    const version = Math.max(Date.now() * 1000, (this.versions.get(id) ?? 0) + 1);
    this.versions.set(id, version);
    const row = { tenant_id: tenantId, webhook_id: id, version, deleted, record, secret_sealed: secretSealed };
    // The token names this version: a retried insert that did land is not written twice.
    await withRetry(
      () => insertBody(this.client, { table: TABLE, format: 'JSONEachRow', body: `${JSON.stringify(row)}\n`, token: `webhook:${id}:${version}` }),
      this.retry,
    );
  }
}

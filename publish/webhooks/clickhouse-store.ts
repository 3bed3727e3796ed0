// Registered webhooks that survive a restart: every save and deletion is
// appended to `webhook_registrations` (store migration 010) as a new version
// of the registration, and `open` reads back the latest version of each. The
// dispatcher asks for a tenant's webhooks on every batch, so the registrations
// are also held in memory and answered from there; a write reaches the store
// (retried) before the memory, so what the dispatcher sees is always stored.
//
// The signing secret is sealed (StateCipher, bound to the tenant and webhook
// id); the rest of the registration is stored as JSON. Instances sharing the
// store (several `riskstream run` on one consumer group, each delivering for
// its own partitions) read the latest versions again every `refreshMs`
// (default 10 s): a hook registered, changed or removed through one instance
// reaches the others within that time. The newest version of a hook wins.
//
// The dispatcher saves a hook after every delivery (its last delivery and
// failure count). Written one row per delivery, a busy hook would make one
// insert — one part for the engine to merge — per delivery; so such
// status-only changes are written within `statusFlushMs` (default 5 s), all
// pending hooks in one insert, and on close. A change of anything else
// (registration, enabled or disabled) is written at once.

import type { ClickHouseClient } from '@clickhouse/client';
import { insertBody } from '../../store/clickhouse.js';
import { withRetry, type RetryOptions } from '../../store/retry.js';
import { Coalescer } from '../util.js';
import type { StateCipher } from '../state-cipher.js';
import type { Webhook, WebhookStore } from './store.js';

const TABLE = 'webhook_registrations';
/** How far back (µs of version) a refresh reads before the newest version it has seen. */
const REFRESH_OVERLAP_US = 60_000_000;

/** The latest version of a registration, as `refresh` reads it. */
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

export interface ClickHouseWebhookStoreOptions {
  retry?: RetryOptions;
  /** Longest wait before a status-only change (last delivery, failure count) is written (ms). */
  statusFlushMs?: number;
  /** How often the versions other instances wrote are read (ms); 0: only at open. */
  refreshMs?: number;
}

/** Fields that change with every delivery; a save that changes only these is coalesced. */
function statusOnly(before: Webhook, after: Webhook): boolean {
  const strip = ({ last_delivery: _l, consecutive_failures: _c, ...rest }: Webhook) => rest;
  return JSON.stringify(strip(before)) === JSON.stringify(strip(after));
}

export class ClickHouseWebhookStore implements WebhookStore {
  private readonly hooks = new Map<string, Webhook>();
  /** Last version written, per webhook id: versions only grow, even when the clock does not. */
  private readonly versions = new Map<string, number>();
  /** Hooks whose latest change is a status-only one not written yet; a later full write or removal supersedes it. */
  private readonly statusDirty = new Set<string>();
  private readonly statusWrites: Coalescer<string>;
  private refreshTimer: NodeJS.Timeout | undefined;
  /** The newest version read from the store so far. */
  private newestSeen = 0;

  private constructor(
    private readonly client: ClickHouseClient,
    private readonly cipher: StateCipher,
    private readonly options: ClickHouseWebhookStoreOptions,
  ) {
    this.statusWrites = new Coalescer(async (ids) => {
      const dirty = [...new Set(ids)].filter((id) => this.statusDirty.has(id) && this.hooks.has(id));
      if (dirty.length === 0) return;
      await this.append(dirty.map((id) => this.row(this.hooks.get(id)!, false)));
      for (const id of dirty) this.statusDirty.delete(id);
    }, options.statusFlushMs ?? 5000);
  }

  /** Loads the stored registrations (the latest version of each, deleted ones left out). */
  static async open(client: ClickHouseClient, cipher: StateCipher, options: ClickHouseWebhookStoreOptions = {}): Promise<ClickHouseWebhookStore> {
    const store = new ClickHouseWebhookStore(client, cipher, options);
    await store.refresh();
    const every = options.refreshMs ?? 10_000;
    if (every > 0) {
      store.refreshTimer = setInterval(() => void store.refresh().catch(() => undefined), every).unref();
    }
    return store;
  }

  /**
   * Reads the latest version of every registration and takes those newer
   * than what this instance holds (written by another instance): changed
   * hooks are replaced, removed ones dropped. A newer version replaces a
   * status change of this instance not yet written.
   */
  async refresh(): Promise<void> {
    // Only versions written since the last refresh, less a minute for
    // instances whose clocks lag (versions are microseconds of the writer's
    // clock): the table grows with every status write, the read need not.
    const since = Math.max(0, this.newestSeen - REFRESH_OVERLAP_US);
    const rs = await this.client.query({
      // Aliases differ from the columns: ClickHouse would otherwise read the alias inside the aggregates.
      query: `SELECT tenant_id, webhook_id, max(version) AS last_version, argMax(deleted, version) AS last_deleted,
                     argMax(record, version) AS last_record, argMax(secret_sealed, version) AS last_secret_sealed
              FROM ${TABLE}
              WHERE version > {since:UInt64}
              GROUP BY tenant_id, webhook_id
              ORDER BY tenant_id, webhook_id`,
      query_params: { since },
      format: 'JSONEachRow',
    });
    for (const row of await rs.json<StoredRow>()) {
      const version = Number(row.last_version);
      if (version > this.newestSeen) this.newestSeen = version;
      if (version <= (this.versions.get(row.webhook_id) ?? 0)) continue;
      this.versions.set(row.webhook_id, version);
      this.statusDirty.delete(row.webhook_id);
      if (row.last_deleted === true || Number(row.last_deleted) === 1) {
        this.hooks.delete(row.webhook_id);
        continue;
      }
      const secret = this.cipher.open(row.last_secret_sealed, sealContext(row.tenant_id, row.webhook_id));
      const hook = { ...(JSON.parse(row.last_record) as Omit<Webhook, 'secret'>), secret } as Webhook;
      this.hooks.set(hook.id, hook);
    }
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
    const before = this.hooks.get(hook.id);
    if (before !== undefined && before.tenant_id === hook.tenant_id && statusOnly(before, hook)) {
      this.hooks.set(hook.id, structuredClone(hook));
      this.statusDirty.add(hook.id);
      this.statusWrites.add([hook.id]);
      return;
    }
    await this.append([this.row(hook, false)]);
    this.statusDirty.delete(hook.id);
    this.hooks.set(hook.id, structuredClone(hook));
  }

  async delete(tenantId: string, id: string): Promise<boolean> {
    const h = this.hooks.get(id);
    if (!h || h.tenant_id !== tenantId) return false;
    await this.append([this.row(h, true)]);
    this.statusDirty.delete(id);
    this.hooks.delete(id);
    return true;
  }

  /** Writes the pending status-only changes in one insert (see Coalescer). */
  flush(): Promise<void> {
    return this.statusWrites.flush();
  }

  /** Stops refreshing and writes what is pending; the store may still be read afterwards. */
  async close(): Promise<void> {
    clearInterval(this.refreshTimer);
    this.refreshTimer = undefined;
    await this.flush();
  }

  /** The next version of a hook's row: a deletion keeps only ids. */
  private row(hook: Webhook, deleted: boolean): object {
    const version = Math.max(Date.now() * 1000, (this.versions.get(hook.id) ?? 0) + 1);
    this.versions.set(hook.id, version);
    if (deleted) return { tenant_id: hook.tenant_id, webhook_id: hook.id, version, deleted, record: '', secret_sealed: '' };
    const { secret, ...record } = hook;
    const sealed = this.cipher.seal(secret, sealContext(hook.tenant_id, hook.id));
    return { tenant_id: hook.tenant_id, webhook_id: hook.id, version, deleted, record: JSON.stringify(record), secret_sealed: sealed };
  }

  private async append(rows: object[]): Promise<void> {
    const body = rows.map((r) => `${JSON.stringify(r)}\n`).join('');
    // The token names these versions: a retried insert that did land is not written twice.
    const token = `webhooks:${rows.map((r) => `${(r as { webhook_id: string }).webhook_id}@${(r as { version: number }).version}`).join(',')}`;
    await withRetry(() => insertBody(this.client, { table: TABLE, format: 'JSONEachRow', body, token }), this.options.retry);
  }
}

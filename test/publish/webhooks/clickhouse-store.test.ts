// Webhook registrations kept in ClickHouse (real embedded engine): what one
// store instance saves, deletes and updates, a fresh instance opened on the
// same database reads back; secrets are sealed, never stored in clear; the
// table only grows.

import type { ClickHouseClient } from '@clickhouse/client';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StateCipher } from '../../../publish/state-cipher.js';
import { ClickHouseWebhookStore } from '../../../publish/webhooks/clickhouse-store.js';
import type { Webhook } from '../../../publish/webhooks/store.js';
import { openMigrated, selectRows } from '../../store/helpers.js';

let client: ClickHouseClient;
const cipher = new StateCipher(randomBytes(32));

beforeAll(async () => {
  client = await openMigrated('publish_webhook_store');
});

afterAll(async () => {
  await client?.close();
});

function hook(id: string, o: Partial<Webhook> = {}): Webhook {
  return {
    id,
    tenant_id: 'tenant-a',
    url: `https://hooks.example.com/${id}`,
    min_level: 'medium',
    events: ['risk_change'],
    description: null,
    secret: `whsec_${randomBytes(24).toString('base64url')}`,
    enabled: true,
    disabled_reason: null,
    disabled_at: null,
    consecutive_failures: 0,
    last_delivery: null,
    created_at: Date.UTC(2026, 10, 22, 8, 0, 0),
    created_by: 'admin@tenant-a',
    ...o,
  };
}

describe('ClickHouseWebhookStore', () => {
  it('reads back, in a fresh instance, what another saved, updated and deleted', async () => {
    const store = await ClickHouseWebhookStore.open(client, cipher);
    const kept = hook('h-kept');
    const updated = hook('h-updated', { created_at: kept.created_at + 1 });
    const removed = hook('h-removed', { created_at: kept.created_at + 2 });
    const other = hook('h-other', { tenant_id: 'tenant-b' });
    for (const h of [kept, updated, removed, other]) await store.save(h);
    const delivery = { delivery_id: 'd-1', event_id: 'rc-1', outcome: 'failure' as const, attempts: 5, http_status: 500, last_error: 'HTTP 500', at: kept.created_at + 60_000 };
    await store.save({ ...updated, consecutive_failures: 5, enabled: false, disabled_reason: 'failing', disabled_at: delivery.at, last_delivery: delivery });
    expect(await store.delete('tenant-a', 'h-removed')).toBe(true);
    expect(await store.delete('tenant-a', 'h-removed')).toBe(false);
    expect(await store.delete('tenant-a', 'h-other')).toBe(false); // another tenant's

    const reopened = await ClickHouseWebhookStore.open(client, cipher);
    expect(await reopened.list('tenant-a')).toEqual([
      kept,
      { ...updated, consecutive_failures: 5, enabled: false, disabled_reason: 'failing', disabled_at: delivery.at, last_delivery: delivery },
    ]);
    expect(await reopened.list('tenant-b')).toEqual([other]);
    expect(await reopened.get('tenant-a', 'h-removed')).toBeNull();
    expect(await reopened.get('tenant-b', 'h-kept')).toBeNull();
    expect(await reopened.get('tenant-a', 'h-kept')).toEqual(kept);

    // Deleting in the reopened store sticks too.
    expect(await reopened.delete('tenant-a', 'h-kept')).toBe(true);
    expect(await (await ClickHouseWebhookStore.open(client, cipher)).list('tenant-a')).toEqual([
      { ...updated, consecutive_failures: 5, enabled: false, disabled_reason: 'failing', disabled_at: delivery.at, last_delivery: delivery },
    ]);
  });

  it('never stores a secret in clear, and appends a row per change instead of rewriting', async () => {
    const store = await ClickHouseWebhookStore.open(client, cipher);
    const h = hook('h-secret', { tenant_id: 'tenant-s' });
    await store.save(h);
    await store.save({ ...h, enabled: false, disabled_reason: 'paused by test', disabled_at: h.created_at + 1 });
    await store.delete('tenant-s', 'h-secret');
    const rows = await selectRows<{ deleted: boolean; record: string; secret_sealed: string }>(
      client,
      "SELECT deleted, record, secret_sealed FROM webhook_registrations WHERE tenant_id = 'tenant-s' ORDER BY version",
    );
    expect(rows.map((r) => r.deleted)).toEqual([false, false, true]);
    for (const r of rows) {
      expect(JSON.stringify(r)).not.toContain(h.secret);
      if (r.record) expect(JSON.parse(r.record)).not.toHaveProperty('secret');
    }
    expect(cipher.open(rows[0]!.secret_sealed, 'webhook:tenant-s:h-secret')).toBe(h.secret);
  });

  it('coalesces delivery-status saves into one insert, and writes other changes at once', async () => {
    const store = await ClickHouseWebhookStore.open(client, cipher, { statusFlushMs: 60_000 });
    const h = hook('h-busy', { tenant_id: 'tenant-busy' });
    await store.save(h);
    let current = h;
    for (let i = 1; i <= 50; i++) {
      current = { ...current, consecutive_failures: i % 3, last_delivery: { delivery_id: `d-${i}`, event_id: `rc-${i}`, outcome: 'success', attempts: 1, http_status: 200, last_error: null, at: h.created_at + i } };
      await store.save(current);
    }
    const versions = () => selectRows<{ n: string }>(client, "SELECT count() AS n FROM webhook_registrations WHERE webhook_id = 'h-busy'").then((r) => Number(r[0]!.n));
    expect(await versions()).toBe(1); // 50 deliveries, nothing written yet
    expect(await store.get('tenant-busy', 'h-busy')).toEqual(current); // but read back at once
    await store.flush();
    expect(await versions()).toBe(2);
    expect(await (await ClickHouseWebhookStore.open(client, cipher)).get('tenant-busy', 'h-busy')).toEqual(current);

    // Disabling is not a status-only change: written at once, with the status pending before it.
    const disabled = { ...current, consecutive_failures: 5, enabled: false, disabled_reason: '5 consecutive failed deliveries', disabled_at: h.created_at + 100 };
    await store.save({ ...current, consecutive_failures: 4 });
    await store.save(disabled);
    expect(await versions()).toBe(3);
    expect(await (await ClickHouseWebhookStore.open(client, cipher)).get('tenant-busy', 'h-busy')).toEqual(disabled);
    await store.flush();
    expect(await versions()).toBe(3); // nothing was left pending

    // close() writes what is pending.
    await store.save({ ...disabled, last_delivery: null });
    await store.close();
    expect(await versions()).toBe(4);
  });

  it('another instance sharing the store sees registrations, changes and removals on its next refresh', async () => {
    const a = await ClickHouseWebhookStore.open(client, cipher, { refreshMs: 0 });
    const b = await ClickHouseWebhookStore.open(client, cipher, { refreshMs: 0 });
    const h = hook('h-shared', { tenant_id: 'tenant-x' });
    await a.save(h);
    expect(await b.get('tenant-x', 'h-shared')).toBeNull();
    await b.refresh();
    expect(await b.get('tenant-x', 'h-shared')).toEqual(h);

    // B's own delivery status, not yet written, gives way to A's newer change.
    await b.save({ ...h, consecutive_failures: 2 });
    const disabled = { ...h, enabled: false, disabled_reason: 'by admin on a', disabled_at: h.created_at + 5 };
    await a.save(disabled);
    await b.refresh();
    expect(await b.get('tenant-x', 'h-shared')).toEqual(disabled);
    await b.flush();
    expect(await (await ClickHouseWebhookStore.open(client, cipher, { refreshMs: 0 })).get('tenant-x', 'h-shared')).toEqual(disabled);

    expect(await a.delete('tenant-x', 'h-shared')).toBe(true);
    await b.refresh();
    expect(await b.list('tenant-x')).toEqual([]);

    // On its own, every refreshMs.
    const c = await ClickHouseWebhookStore.open(client, cipher, { refreshMs: 20 });
    const later = hook('h-later', { tenant_id: 'tenant-x' });
    await a.save(later);
    const until = Date.now() + 5000;
    while ((await c.get('tenant-x', 'h-later')) === null && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(await c.get('tenant-x', 'h-later')).toEqual(later);
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  it('will not open registrations sealed under another key', async () => {
    const store = await ClickHouseWebhookStore.open(client, cipher);
    await store.save(hook('h-key', { tenant_id: 'tenant-k' }));
    await expect(ClickHouseWebhookStore.open(client, new StateCipher(randomBytes(32)))).rejects.toThrow(/RISKSTREAM_STATE_KEY/);
  });
});

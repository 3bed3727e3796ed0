// Per-agent, per-hour counts kept by ClickHouse materialized views: events by
// type, failures, detections by detector; a redelivered batch is not counted
// twice; rows stored before the migration are backfilled once.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import type { AgentEvent } from '../../contract/events.js';
import { statsBuckets } from '../../store/audit-queries.js';
import { LedgerWriter, type LedgerBatch } from '../../store/ledger-writer.js';
import { MIGRATIONS, runMigrations } from '../../store/migrations.js';
import { openMigrated, openTestClient } from './helpers.js';
import { ALL_SAMPLES, detection } from './samples.js';

const H = 3_600_000;
const T0 = Date.UTC(2025, 4, 6, 7, 0, 0);

function samples(tenant: string, tag: string, time: number): AgentEvent[] {
  return ALL_SAMPLES.map((e, i) => ({ ...e, tenant_id: tenant, event_id: `${e.event_id}-${tag}`, time: time + i }) as AgentEvent);
}

function batch(token: string, tenant: string, tag: string, time: number): LedgerBatch {
  return {
    token,
    events: samples(tenant, tag, time).map((event, i) => ({ event, source: 'generator', offset: i })),
    detections: [
      { ...detection, tenant_id: tenant, time },
      { ...detection, tenant_id: tenant, time: time + 1, detector: 'signin-spike', severity: 'medium' },
    ],
  };
}

// ALL_SAMPLES: 2 of each type; failures: the signin with result failure, the
// token with decision blocked, the network request with action blocked.
const PER_BATCH = { signin: 2, token: 2, network: 2, user_risk: 2, lifecycle: 2 };
const FAILURES = { signin: 1, token: 1, network: 1 };

describe('hourly statistics', { timeout: 120_000 }, () => {
  let client: ClickHouseClient;

  beforeAll(async () => {
    client = await openMigrated('store_stats');
  });
  afterAll(async () => {
    await client?.close();
  });

  it('counts events, failures and detections per hour, once per batch token', async () => {
    const w = new LedgerWriter(client);
    await w.writeBatch(batch('s:1', 'tenant-s', 'a', T0 + 10));
    await w.writeBatch(batch('s:1', 'tenant-s', 'a', T0 + 10)); // redelivery
    await w.writeBatch(batch('s:2', 'tenant-s', 'b', T0 + H + 5));
    await w.writeBatch(batch('s:3', 'tenant-other', 'c', T0 + 10));

    const buckets = await statsBuckets(client, { tenant_id: 'tenant-s', kinds: ['event', 'failure', 'detection'], interval: 'hour', from: T0 - H, to: T0 + 3 * H });
    expect(buckets.map((b) => b.start)).toEqual([0, 1, 2, 3].map((i) => new Date(T0 + (i - 1) * H).toISOString()));
    expect(buckets[0]!.counts).toEqual({ event: {}, failure: {}, detection: {} });
    for (const b of [buckets[1]!, buckets[2]!]) {
      expect(b.counts.event).toEqual(PER_BATCH);
      expect(b.counts.failure).toEqual(FAILURES);
      expect(b.counts.detection).toEqual({ 'unfamiliar-resource': 1, 'signin-spike': 1 });
    }
    const days = await statsBuckets(client, { tenant_id: 'tenant-s', kinds: ['detection'], interval: 'day', from: T0, to: T0 + 2 * H });
    expect(days).toEqual([{ start: new Date(Date.UTC(2025, 4, 6)).toISOString(), counts: { detection: { 'unfamiliar-resource': 2, 'signin-spike': 2 } } }]);
    const agent = await statsBuckets(client, { tenant_id: 'tenant-s', kinds: ['event'], interval: 'day', from: T0, to: T0 + 2 * H, agent_id: 'agent-1' });
    expect(agent[0]!.counts.event).toEqual({ signin: 4, token: 4, network: 4, lifecycle: 4 });
  });

  it('backfills rows stored before the migration, once', async () => {
    const db = await openTestClient('store_stats_backfill');
    try {
      await runMigrations(db, MIGRATIONS.filter((m) => m.version < 7));
      await new LedgerWriter(db, { chain: false }).writeBatch(batch('old:1', 'tenant-b', 'old', T0));
      await runMigrations(db);
      await runMigrations(db);
      const [b] = await statsBuckets(db, { tenant_id: 'tenant-b', kinds: ['event', 'detection'], interval: 'hour', from: T0, to: T0 + H });
      expect(b!.counts).toEqual({ event: PER_BATCH, detection: { 'unfamiliar-resource': 1, 'signin-spike': 1 } });
      // New inserts go through the views.
      await new LedgerWriter(db).writeBatch(batch('new:1', 'tenant-b', 'new', T0 + 1000));
      const [c] = await statsBuckets(db, { tenant_id: 'tenant-b', kinds: ['detection'], interval: 'hour', from: T0, to: T0 + H });
      expect(c!.counts.detection).toEqual({ 'unfamiliar-resource': 2, 'signin-spike': 2 });
    } finally {
      await db.close();
    }
  });

  it('counts the same after migration 009 replaces the two event views with one', async () => {
    const db = await openTestClient('store_stats_upgrade');
    try {
      await runMigrations(db, MIGRATIONS.filter((m) => m.version < 9));
      await new LedgerWriter(db).writeBatch(batch('up:1', 'tenant-u', 'before', T0));
      await runMigrations(db);
      await new LedgerWriter(db).writeBatch(batch('up:2', 'tenant-u', 'after', T0 + 1000));
      await new LedgerWriter(db).writeBatch(batch('up:2', 'tenant-u', 'after', T0 + 1000)); // redelivery
      const [b] = await statsBuckets(db, { tenant_id: 'tenant-u', kinds: ['event', 'failure'], interval: 'hour', from: T0, to: T0 + H });
      const twice = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, 2 * v]));
      expect(b!.counts).toEqual({ event: twice(PER_BATCH), failure: twice(FAILURES) });
    } finally {
      await db.close();
    }
  });
});

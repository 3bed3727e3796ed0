// A batch delivered again under the same token inserts nothing twice, in every
// table, also after the client is closed and the engine reopened on the same
// path in the same process; a different token inserts again.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import type { AgentEvent } from '../../contract/events.js';
import { LedgerWriter, type LedgerBatch } from '../../store/ledger-writer.js';
import { countEvents, queryEvents } from '../../store/queries.js';
import { realisticEvents } from './realistic.js';
import { count, openMigrated, openTestClient } from './helpers.js';
import { ALL_SAMPLES, TENANT, adminAction, detection, riskChange } from './samples.js';

const DB = 'store_idempotency';
const TABLES = ['events', 'detections', 'risk_changes', 'admin_actions'] as const;

function batch(token: string, events: AgentEvent[] = ALL_SAMPLES): LedgerBatch {
  return {
    token,
    events: events.map((event, i) => ({ event, source: 'kafka:riskstream.signin/0', offset: 100 + i })),
    detections: [detection, { ...detection, agent_id: 'agent-2' }],
    riskChanges: [riskChange],
    adminActions: [adminAction],
  };
}

async function counts(client: ClickHouseClient): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const t of TABLES) out[t] = await count(client, t);
  return out;
}

describe('idempotent writes', { timeout: 120_000 }, () => {
  let client: ClickHouseClient;

  beforeAll(async () => {
    client = await openMigrated(DB);
  });
  afterAll(async () => {
    await client?.close();
  });

  it('the same batch twice (same token) leaves one row per item', async () => {
    const writer = new LedgerWriter(client);
    await writer.writeBatch(batch('kafka:riskstream.signin/0:100-109'));
    const once = await counts(client);
    expect(once).toEqual({ events: ALL_SAMPLES.length, detections: 2, risk_changes: 1, admin_actions: 1 });

    await writer.writeBatch(batch('kafka:riskstream.signin/0:100-109'));
    await new LedgerWriter(client).writeBatch(batch('kafka:riskstream.signin/0:100-109'));
    expect(await counts(client)).toEqual(once);
  });

  it('still deduplicates after closing and reopening the engine on the same path', async () => {
    const before = await counts(client);
    await client.close();
    // Reopen: same data directory (the only one this process may use), same database.
    client = await openMigrated(DB);
    expect(await counts(client)).toEqual(before);
    await new LedgerWriter(client).writeBatch(batch('kafka:riskstream.signin/0:100-109'));
    expect(await counts(client)).toEqual(before);
  });

  it('a different token inserts again (the ledger is append-only)', async () => {
    const before = await counts(client);
    await new LedgerWriter(client).writeBatch(batch('kafka:riskstream.signin/0:100-109:redelivered'));
    const after = await counts(client);
    for (const t of TABLES) expect(after[t]).toBe(before[t]! * 2);
    // Reads never show the same (time, event_id) twice.
    const page = await queryEvents(client, { tenant_id: TENANT, limit: 1000 });
    expect(page.events).toHaveLength(ALL_SAMPLES.length);
    expect(await countEvents(client, TENANT)).toBe(ALL_SAMPLES.length * 2);
  });

  it('a retried batch whose events were stored before a failure only adds what was missing', async () => {
    const events = ALL_SAMPLES.map((e) => ({ ...e, event_id: `${e.event_id}-partial`, tenant_id: 'tenant-partial' }) as AgentEvent);
    const writer = new LedgerWriter(client);
    // First attempt got as far as the events insert.
    await writer.writeBatch({ token: 'partial:1', events: events.map((event, i) => ({ event, source: 's', offset: i })) });
    const before = await counts(client);
    // The whole batch is retried.
    await writer.writeBatch({
      token: 'partial:1',
      events: events.map((event, i) => ({ event, source: 's', offset: i })),
      detections: [{ ...detection, tenant_id: 'tenant-partial' }],
    });
    const after = await counts(client);
    expect(after.events).toBe(before.events);
    expect(after.detections).toBe(before.detections! + 1);
  });

  it('deduplicates a large multi-partition batch as a whole', async () => {
    // 30k events (~30 MB of JSON) spanning several months: several blocks/partitions per insert.
    const events = realisticEvents(30_000, 11, Date.UTC(2024, 0, 1)).map((e, i) => ({ ...e, time: e.time + (i % 4) * 40 * 86_400_000 }) as AgentEvent);
    const writer = new LedgerWriter(client);
    const b: LedgerBatch = { token: 'big:1', events: { source: 'generator', firstOffset: 0, events } };
    const before = await count(client, 'events');
    await writer.writeBatch(b);
    const once = await count(client, 'events');
    expect(once - before).toBe(30_000);
    await writer.writeBatch(b);
    expect(await count(client, 'events')).toBe(once);
    const partitions = await openTestClient(DB).then(async (c) => {
      try {
        const rs = await c.query({
          query: "SELECT uniqExact(partition) AS n FROM system.parts WHERE database = currentDatabase() AND table = 'events' AND active",
          format: 'JSONEachRow',
        });
        return Number((await rs.json<{ n: string }>())[0]?.n);
      } finally {
        await c.close();
      }
    });
    expect(partitions).toBeGreaterThanOrEqual(4);
  });
});

// Hostile filter values are data, never SQL: they match nothing and leave the
// ledger intact. Hostile values inside events and batch tokens are stored
// verbatim or hashed, never executed.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import type { AgentEvent } from '../../contract/events.js';
import { toJsonRecord } from '../../contract/validate.js';
import { LedgerWriter } from '../../store/ledger-writer.js';
import {
  countEvents,
  encodeCursor,
  queryAdminActions,
  queryDetections,
  queryEvents,
  queryRiskChanges,
  storedOffsets,
} from '../../store/queries.js';
import { count, openMigrated, selectRows } from './helpers.js';
import { ALL_SAMPLES, TENANT, adminAction, detection, riskChange, signin } from './samples.js';

const HOSTILE = [
  "' OR 1=1 --",
  "\\'; DROP TABLE events; --",
  "'; DROP TABLE events; --",
  '`events`',
  '` OR 1=1 --',
  '{x:String}',
  '{tenant_id:String}',
  "x' UNION ALL SELECT raw FROM events --",
  '" OR ""="',
  '\\',
  '\n; TRUNCATE TABLE events',
  '\t\\N',
  '%',
  '*',
];

describe('SQL injection', { timeout: 120_000 }, () => {
  let client: ClickHouseClient;
  let total: Record<string, number>;

  const totals = async () => ({
    events: await count(client, 'events'),
    detections: await count(client, 'detections'),
    risk_changes: await count(client, 'risk_changes'),
    admin_actions: await count(client, 'admin_actions'),
  });

  beforeAll(async () => {
    client = await openMigrated('store_injection');
    await new LedgerWriter(client).writeBatch({
      token: 'injection:seed',
      events: ALL_SAMPLES.map((event, i) => ({ event, source: 'generator', offset: i })),
      detections: [detection],
      riskChanges: [riskChange],
      adminActions: [adminAction],
    });
    total = await totals();
  });
  afterAll(async () => {
    await client?.close();
  });

  it('every filter of every query treats hostile strings as values', async () => {
    for (const bad of HOSTILE) {
      const base = { tenant_id: TENANT, limit: 100 };
      const filters = ['type', 'agent_id', 'user_id', 'blueprint_id', 'ip', 'resource'] as const;
      for (const f of filters) {
        expect((await queryEvents(client, { ...base, [f]: bad })).events, `${f}=${bad}`).toEqual([]);
      }
      expect((await queryEvents(client, { ...base, tenant_id: bad })).events).toEqual([]);
      expect(await countEvents(client, bad)).toBe(0);
      // A well-formed cursor carrying a hostile id is bound as a value too.
      const page = await queryEvents(client, { ...base, cursor: encodeCursor('e', { t: Date.UTC(2100, 0, 1), id: bad }) });
      expect(page.events).toHaveLength(ALL_SAMPLES.length);

      for (const f of ['detector', 'severity', 'agent_id'] as const) {
        expect((await queryDetections(client, { ...base, [f]: bad })).detections).toEqual([]);
      }
      expect((await queryDetections(client, { ...base, tenant_id: bad })).detections).toEqual([]);
      expect((await queryRiskChanges(client, { ...base, agent_id: bad })).risk_changes).toEqual([]);
      expect((await queryAdminActions(client, { ...base, agent_id: bad })).admin_actions).toEqual([]);
      expect((await storedOffsets(client, bad, 0, 1000)).size).toBe(0);
    }
    expect(await totals()).toEqual(total);
    const tables = await selectRows<{ name: string }>(client, 'SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name');
    expect(tables.map((t) => t.name)).toEqual([
      'admin_actions',
      'agent_hourly_detections_mv',
      'agent_hourly_event_stats_mv',
      'agent_hourly_stats',
      'detections',
      'events',
      'ledger_chain',
      'risk_changes',
      'schema_migrations',
      'ssf_queue',
      'ssf_streams',
      'webhook_deliveries',
      'webhook_queue',
      'webhook_registrations',
    ]);
  });

  it('stores hostile values inside events verbatim and hashes unsafe batch tokens', async () => {
    const events: AgentEvent[] = HOSTILE.map((bad, i) => ({
      ...signin,
      tenant_id: 'tenant-hostile',
      event_id: `hostile-${i}-${bad}`,
      agent_id: bad,
      user_agent: bad,
      error_code: bad,
    }));
    const writer = new LedgerWriter(client);
    for (const bad of HOSTILE) {
      await writer.writeBatch({
        token: `tok:${bad}`,
        events: events.map((event, i) => ({ event, source: `file:${bad}`, offset: i })),
      });
    }
    // One batch per hostile token, each inserted exactly once...
    expect(await countEvents(client, 'tenant-hostile')).toBe(HOSTILE.length * HOSTILE.length);
    // ...and deduplicated when delivered again.
    await writer.writeBatch({ token: `tok:${HOSTILE[1]}`, events: events.map((event, i) => ({ event, source: `file:${HOSTILE[1]}`, offset: i })) });
    expect(await countEvents(client, 'tenant-hostile')).toBe(HOSTILE.length * HOSTILE.length);

    for (const [i, bad] of HOSTILE.entries()) {
      const page = await queryEvents(client, { tenant_id: 'tenant-hostile', agent_id: bad, limit: 100 });
      expect(page.events).toEqual([toJsonRecord(events[i]!)]);
      expect((await storedOffsets(client, `file:${bad}`, 0, 100)).size).toBe(HOSTILE.length);
    }
    expect({ ...(await totals()), events: total.events }).toEqual(total);
  });
});

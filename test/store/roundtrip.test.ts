// Every event type survives the ledger with every field intact: the JSON
// record read back equals toJsonRecord of the event written, and every typed
// column holds the event's value (NULL / '' / [] for columns the type lacks).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import { EVENT_TYPES, type AgentEvent } from '../../contract/events.js';
import { fieldNames, toJsonRecord } from '../../contract/validate.js';
import { LedgerWriter, detectionId } from '../../store/ledger-writer.js';
import { EVENT_TYPED_COLUMNS } from '../../store/migrations/001_events.js';
import { countEvents, queryAdminActions, queryDetections, queryEvents, queryRiskChanges, storedOffsets } from '../../store/queries.js';
import { openMigrated, selectRows } from './helpers.js';
import { ALL_SAMPLES, TENANT, adminAction, detection, riskChange } from './samples.js';

const EVENT_COLUMNS = [
  'agent_type', 'blueprint_id', 'flow', 'user_id', 'credential_id', 'credential_type', 'ip', 'asn', 'country', 'lat', 'lon',
  'user_agent', 'resource', 'result', 'error_code', 'token_id', 'scopes', 'lifetime_s', 'decision', 'dest_host', 'dest_ip',
  'dest_port', 'category', 'action', 'bytes_out', 'bytes_in', 'file_type', 'threat', 'dest_agent_id', 'level', 'reason',
  'actor', 'sponsor_id', 'permission',
];

/** Numbers may come back as JSON strings (64-bit ints); compare as numbers. */
function norm(v: unknown): unknown {
  return typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v) ? Number(v) : v;
}

describe('round trip', { timeout: 60_000 }, () => {
  let client: ClickHouseClient;

  beforeAll(async () => {
    client = await openMigrated('store_roundtrip');
    const writer = new LedgerWriter(client);
    const result = await writer.writeBatch({
      token: 'roundtrip:1',
      events: ALL_SAMPLES.map((event, i) => ({ event, source: 'file:samples.ndjson', offset: i + 1 })),
      detections: [detection],
      riskChanges: [riskChange],
      adminActions: [adminAction],
    });
    expect(result).toEqual({ events: ALL_SAMPLES.length, detections: 1, risk_changes: 1, admin_actions: 1 });
  }, 60_000);
  afterAll(async () => {
    await client?.close();
  });

  it('has a typed column for every field of every event type', async () => {
    const contract = new Set(['type', ...EVENT_TYPES.flatMap((t) => fieldNames(t))]);
    const columns = await selectRows<{ name: string }>(
      client,
      "SELECT name FROM system.columns WHERE database = currentDatabase() AND table = 'events'",
    );
    const names = new Set(columns.map((c) => c.name));
    for (const field of contract) expect(names.has(field), field).toBe(true);
    expect(EVENT_TYPED_COLUMNS.map(([name]) => name).every((n) => contract.has(n))).toBe(true);
  });

  it('reads every event back as its JSON record, field for field', async () => {
    const page = await queryEvents(client, { tenant_id: TENANT, limit: 100 });
    expect(page.next_cursor).toBeNull();
    expect(page.events).toHaveLength(ALL_SAMPLES.length);
    const byId = new Map(page.events.map((e) => [e.event_id, e]));
    for (const event of ALL_SAMPLES) {
      const back = byId.get(event.event_id);
      expect(back).toStrictEqual(toJsonRecord(event));
      // Key order too (the raw text is exactly toJsonRecord's).
      expect(Object.keys(back!)).toEqual(Object.keys(toJsonRecord(event)));
    }
    expect(await countEvents(client, TENANT)).toBe(ALL_SAMPLES.length);
    expect(await countEvents(client, 'another-tenant')).toBe(0);
  });

  it('stores the raw text byte for byte', async () => {
    const rows = await selectRows<{ event_id: string; raw: string }>(client, 'SELECT event_id, raw FROM events');
    const raw = new Map(rows.map((r) => [r.event_id, r.raw]));
    for (const event of ALL_SAMPLES) expect(raw.get(event.event_id)).toBe(JSON.stringify(toJsonRecord(event)));
  });

  it('fills every typed column with the event value, and only those of its type', async () => {
    const rows = await selectRows<Record<string, unknown>>(
      client,
      'SELECT *, toUnixTimestamp64Milli(time) AS time_ms FROM events ORDER BY source_offset',
    );
    expect(rows).toHaveLength(ALL_SAMPLES.length);
    ALL_SAMPLES.forEach((event: AgentEvent, i) => {
      const row = rows[i]!;
      const e = event as unknown as Record<string, unknown>;
      const own = new Set(fieldNames(event.type));
      expect(row.type).toBe(event.type);
      expect(row.event_id).toBe(event.event_id);
      expect(row.tenant_id).toBe(event.tenant_id);
      expect(Number(row.time_ms)).toBe(event.time);
      expect(row.agent_id).toBe(event.type === 'user_risk' ? '' : e.agent_id);
      for (const col of EVENT_COLUMNS) {
        const expected = own.has(col) ? e[col] : col === 'scopes' ? [] : null;
        expect([col, norm(row[col])]).toEqual([col, expected]);
      }
      expect(row.source).toBe('file:samples.ndjson');
      expect(Number(row.source_offset)).toBe(i + 1);
      expect(typeof row.ingested_at).toBe('string');
    });
  });

  it('reports which offsets of a source are stored', async () => {
    const stored = await storedOffsets(client, 'file:samples.ndjson', 0, 1000);
    expect([...stored].sort((a, b) => a - b)).toEqual(ALL_SAMPLES.map((_, i) => i + 1));
    expect((await storedOffsets(client, 'file:samples.ndjson', 3, 4)).size).toBe(2);
    expect((await storedOffsets(client, 'file:other.ndjson', 0, 1000)).size).toBe(0);
  });

  it('round-trips detections, risk changes and admin actions', async () => {
    const d = await queryDetections(client, { tenant_id: TENANT, limit: 10 });
    expect(d).toEqual({
      detections: [
        {
          detection_id: detectionId(detection),
          detector: detection.detector,
          severity: detection.severity,
          tenant_id: TENANT,
          agent_id: detection.agent_id,
          time: new Date(detection.time).toISOString(),
          summary: detection.summary,
          evidence: detection.evidence,
          event_ids: detection.event_ids,
        },
      ],
      next_cursor: null,
    });
    expect(detectionId(detection)).toMatch(/^[0-9a-f]{32}$/);
    expect(detectionId({ ...detection, summary: 'other text' })).toBe(detectionId(detection));
    expect(detectionId({ ...detection, event_ids: ['evt-network-1'] })).not.toBe(detectionId(detection));

    const r = await queryRiskChanges(client, { tenant_id: TENANT, limit: 10 });
    expect(r).toEqual({
      risk_changes: [{ ...riskChange, time: new Date(riskChange.time).toISOString() }],
      next_cursor: null,
    });
    const a = await queryAdminActions(client, { tenant_id: TENANT, limit: 10 });
    expect(a).toEqual({
      admin_actions: [{ ...adminAction, time: new Date(adminAction.time).toISOString() }],
      next_cursor: null,
    });
  });
});

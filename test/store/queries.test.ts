// Keyset pagination and filters of the read queries.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import type { AgentEvent, SigninEvent } from '../../contract/events.js';
import type { Detection } from '../../detectors/types.js';
import { LedgerWriter } from '../../store/ledger-writer.js';
import {
  BadCursorError,
  decodeCursor,
  encodeCursor,
  queryDetections,
  queryEvents,
  queryRiskChanges,
} from '../../store/queries.js';
import { openMigrated } from './helpers.js';
import { ALL_SAMPLES, TENANT, detection, riskChange, signin } from './samples.js';

const T0 = Date.UTC(2025, 2, 1);
let token = 0;

function fleetEvent(tenant: string, i: number, time: number): SigninEvent {
  return {
    ...signin,
    tenant_id: tenant,
    event_id: `e-${String(i).padStart(5, '0')}`,
    time,
    agent_id: `agent-${i % 7}`,
    blueprint_id: i % 2 === 0 ? 'bp-even' : null,
    user_id: i % 3 === 0 ? 'user-3' : null,
    flow: i % 3 === 0 ? 'on_behalf_of' : 'client_credentials',
    ip: `10.0.0.${i % 5}`,
    resource: i % 4 === 0 ? 'https://a.example/' : 'https://b.example/',
  };
}

async function write(client: ClickHouseClient, events: AgentEvent[], detections: Detection[] = []): Promise<void> {
  await new LedgerWriter(client).writeBatch({
    token: `queries:${token++}`,
    events: events.map((event, i) => ({ event, source: 'generator', offset: i })),
    detections,
  });
}

/** Every page of a listing, following next_cursor, with optional work between fetches. */
async function allPages(
  fetch: (cursor: string | null) => Promise<{ events: Record<string, unknown>[]; next_cursor: string | null }>,
  between?: (pageNo: number, cursor: string) => Promise<void>,
): Promise<{ pages: number[]; ids: string[]; times: string[] }> {
  const out = { pages: [] as number[], ids: [] as string[], times: [] as string[] };
  let cursor: string | null = null;
  for (let pageNo = 0; ; pageNo++) {
    const page = await fetch(cursor);
    out.pages.push(page.events.length);
    for (const e of page.events) {
      out.ids.push(e.event_id as string);
      out.times.push(e.time as string);
    }
    if (page.next_cursor === null) return out;
    cursor = page.next_cursor;
    await between?.(pageNo, cursor);
  }
}

function expectNewestFirst(ids: string[], times: string[]): void {
  for (let i = 1; i < ids.length; i++) {
    const prev = [times[i - 1]!, ids[i - 1]!];
    const cur = [times[i]!, ids[i]!];
    // (time DESC, event_id DESC), strictly.
    expect(prev[0]! > cur[0]! || (prev[0] === cur[0] && prev[1]! > cur[1]!)).toBe(true);
  }
}

describe('queries', { timeout: 120_000 }, () => {
  let client: ClickHouseClient;

  beforeAll(async () => {
    client = await openMigrated('store_queries');
    await write(client, ALL_SAMPLES);
  });
  afterAll(async () => {
    await client?.close();
  });

  it('pages over 250 events with limit 100: each exactly once, newest first', async () => {
    const tenant = 'tenant-pages';
    // Groups of three events share a millisecond, so the event_id tiebreak matters.
    const events = Array.from({ length: 250 }, (_, i) => fleetEvent(tenant, i, T0 + Math.floor(i / 3) * 1000));
    await write(client, events);
    const got = await allPages((cursor) => queryEvents(client, { tenant_id: tenant, limit: 100, cursor }));
    expect(got.pages).toEqual([100, 100, 50]);
    expect(new Set(got.ids).size).toBe(250);
    expect([...got.ids].sort()).toEqual(events.map((e) => e.event_id).sort());
    expectNewestFirst(got.ids, got.times);
    // A page boundary that falls exactly at the end yields no empty extra page.
    const exact = await allPages((cursor) => queryEvents(client, { tenant_id: tenant, limit: 125, cursor }));
    expect(exact.pages).toEqual([125, 125]);
  });

  it('stays exact when rows are inserted between page fetches', async () => {
    const tenant = 'tenant-moving';
    const original = Array.from({ length: 250 }, (_, i) => fleetEvent(tenant, i, T0 + i * 1000));
    await write(client, original);
    let extra = 1000;
    const inserted = { newer: [] as string[], older: [] as string[], atCursorBefore: [] as string[], atCursorAfter: [] as string[] };
    const got = await allPages(
      (cursor) => queryEvents(client, { tenant_id: tenant, limit: 100, cursor }),
      async (pageNo, cursor) => {
        // Newer than everything (before the cursor: must not appear), older than
        // the cursor (after it: must appear), and at the cursor's exact time
        // with an id on either side of it.
        const newer = fleetEvent(tenant, extra++, T0 + 10_000_000 + pageNo);
        const older = fleetEvent(tenant, extra++, T0 + 10 * 1000 + pageNo);
        const at = decodeCursor('e', cursor); // the last row of the page just read
        const before = { ...fleetEvent(tenant, extra++, at.t), event_id: `${at.id}-z` }; // sorts before the cursor
        const after = { ...fleetEvent(tenant, extra++, at.t), event_id: at.id.slice(0, -1) }; // after it
        expect(before.event_id > at.id && after.event_id < at.id).toBe(true);
        await write(client, [newer, older, before, after]);
        inserted.newer.push(newer.event_id);
        inserted.older.push(older.event_id);
        inserted.atCursorBefore.push(before.event_id);
        inserted.atCursorAfter.push(after.event_id);
      },
    );
    const ids = new Set(got.ids);
    expect(ids.size).toBe(got.ids.length); // no duplicates
    for (const e of original) expect(ids.has(e.event_id)).toBe(true); // nothing skipped
    for (const id of inserted.newer) expect(ids.has(id)).toBe(false);
    for (const id of inserted.older) expect(ids.has(id)).toBe(true);
    for (const id of inserted.atCursorBefore) expect(ids.has(id)).toBe(false);
    for (const id of inserted.atCursorAfter) expect(ids.has(id)).toBe(true);
    expect(inserted.older).toHaveLength(2);
    expectNewestFirst(got.ids, got.times);
    expect(got.ids.length).toBe(250 + inserted.older.length + inserted.atCursorAfter.length);
  });

  it('filters by type, agent, user, blueprint, ip, resource and time range', async () => {
    const tenant = 'tenant-filters';
    const events = Array.from({ length: 84 }, (_, i) => fleetEvent(tenant, i, T0 + i * 60_000));
    await write(client, events);
    const ids = async (q: Partial<Parameters<typeof queryEvents>[1]>) =>
      (await queryEvents(client, { tenant_id: tenant, limit: 1000, ...q })).events.map((e) => e.event_id).sort();
    const expected = (pred: (e: SigninEvent) => boolean) => events.filter(pred).map((e) => e.event_id).sort();

    expect(await ids({})).toEqual(expected(() => true));
    expect(await ids({ type: 'signin' })).toEqual(expected(() => true));
    expect(await ids({ type: 'network' })).toEqual([]);
    expect(await ids({ agent_id: 'agent-3' })).toEqual(expected((e) => e.agent_id === 'agent-3'));
    expect(await ids({ user_id: 'user-3' })).toEqual(expected((e) => e.user_id === 'user-3'));
    expect(await ids({ blueprint_id: 'bp-even' })).toEqual(expected((e) => e.blueprint_id === 'bp-even'));
    expect(await ids({ ip: '10.0.0.2' })).toEqual(expected((e) => e.ip === '10.0.0.2'));
    expect(await ids({ resource: 'https://a.example/' })).toEqual(expected((e) => e.resource === 'https://a.example/'));
    const from = T0 + 10 * 60_000;
    const to = T0 + 20 * 60_000;
    expect(await ids({ from, to })).toEqual(expected((e) => e.time >= from && e.time < to));
    expect(await ids({ from, to, agent_id: 'agent-1', ip: '10.0.0.1' })).toEqual(
      expected((e) => e.time >= from && e.time < to && e.agent_id === 'agent-1' && e.ip === '10.0.0.1'),
    );
    // Tenants never see each other's events.
    expect((await queryEvents(client, { tenant_id: 'nobody', limit: 10 })).events).toEqual([]);
    // User-risk events (no agent) are found by user.
    const ur = await queryEvents(client, { tenant_id: TENANT, type: 'user_risk', user_id: 'user-1', limit: 10 });
    expect(ur.events.map((e) => e.type)).toEqual(['user_risk', 'user_risk']);
  });

  it('rejects bad cursors with BadCursorError and bad limits with RangeError', async () => {
    const q = (cursor: string) => queryEvents(client, { tenant_id: TENANT, limit: 10, cursor });
    for (const bad of ['', 'not a cursor!', 'AAAA', Buffer.from('{"t":1}').toString('base64url'), 'x'.repeat(5000)]) {
      await expect(q(bad)).rejects.toBeInstanceOf(BadCursorError);
    }
    // A cursor of another listing.
    await expect(q(encodeCursor('d', { t: 1, id: 'x' }))).rejects.toBeInstanceOf(BadCursorError);
    await expect(q(Buffer.from(JSON.stringify([1, 'e', 1.5, 'x'])).toString('base64url'))).rejects.toBeInstanceOf(BadCursorError);
    expect(decodeCursor('e', encodeCursor('e', { t: 123, id: 'évt/1' }))).toEqual({ t: 123, id: 'évt/1' });
    for (const limit of [0, -1, 1.5, 10_001]) {
      await expect(queryEvents(client, { tenant_id: TENANT, limit })).rejects.toBeInstanceOf(RangeError);
    }
    await expect(queryEvents(client, { tenant_id: TENANT, limit: 1, from: Number.NaN })).rejects.toBeInstanceOf(RangeError);
  });

  it('pages and filters detections and risk changes the same way', async () => {
    const tenant = 'tenant-detections';
    const detections: Detection[] = Array.from({ length: 45 }, (_, i) => ({
      ...detection,
      tenant_id: tenant,
      agent_id: `agent-${i % 3}`,
      detector: i % 2 === 0 ? 'unfamiliar-resource' : 'token-burst',
      severity: i % 5 === 0 ? 'high' : 'low',
      time: T0 + Math.floor(i / 2) * 1000,
      event_ids: [`e-${i}`],
    }));
    await write(client, [], detections);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await queryDetections(client, { tenant_id: tenant, limit: 20, cursor });
      seen.push(...page.detections.map((d) => d.detection_id));
      cursor = page.next_cursor;
      pages++;
    } while (cursor !== null);
    expect(pages).toBe(3);
    expect(new Set(seen).size).toBe(45);
    const hi = await queryDetections(client, { tenant_id: tenant, severity: 'high', detector: 'unfamiliar-resource', limit: 100 });
    expect(hi.detections.map((d) => d.event_ids[0]).sort()).toEqual(
      detections.filter((d) => d.severity === 'high' && d.detector === 'unfamiliar-resource').map((d) => d.event_ids[0]).sort(),
    );
    const a1 = await queryDetections(client, { tenant_id: tenant, agent_id: 'agent-1', from: T0 + 5000, to: T0 + 15_000, limit: 100 });
    expect(a1.detections.every((d) => d.agent_id === 'agent-1' && d.time >= new Date(T0 + 5000).toISOString() && d.time < new Date(T0 + 15_000).toISOString())).toBe(true);
    expect(a1.detections.length).toBeGreaterThan(0);
    // A detections cursor is not accepted for events.
    const page = await queryDetections(client, { tenant_id: tenant, limit: 1 });
    await expect(queryEvents(client, { tenant_id: tenant, limit: 1, cursor: page.next_cursor })).rejects.toBeInstanceOf(BadCursorError);

    const changes = Array.from({ length: 12 }, (_, i) => ({ ...riskChange, tenant_id: tenant, change_id: `c-${i}`, time: T0 + i }));
    await new LedgerWriter(client).writeBatch({ token: 'queries:changes', riskChanges: changes });
    const p1 = await queryRiskChanges(client, { tenant_id: tenant, limit: 5 });
    const p2 = await queryRiskChanges(client, { tenant_id: tenant, limit: 5, cursor: p1.next_cursor });
    const p3 = await queryRiskChanges(client, { tenant_id: tenant, limit: 5, cursor: p2.next_cursor });
    expect([...p1.risk_changes, ...p2.risk_changes, ...p3.risk_changes].map((c) => c.change_id)).toEqual(
      changes.map((c) => c.change_id).reverse(),
    );
    expect(p3.next_cursor).toBeNull();
    const ranged = await queryRiskChanges(client, { tenant_id: tenant, agent_id: riskChange.agent_id, from: T0 + 3, to: T0 + 6, limit: 10 });
    expect(ranged.risk_changes.map((c) => c.change_id)).toEqual(['c-5', 'c-4', 'c-3']);
  });
});

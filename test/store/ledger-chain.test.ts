// The tamper-evident hash chain: one link per (tenant, table) per batch,
// appended with the batch and idempotently; verification recomputes it from
// the stored rows and names the first broken link and the row at fault, for
// rows changed through raw SQL (ALTER TABLE ... UPDATE / DELETE) and forged
// rows inserted under an existing batch token.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import type { AgentEvent } from '../../contract/events.js';
import { insertBody } from '../../store/clickhouse.js';
import { GENESIS_HASH, RowGroup, digestGroup, linkHash, verifyChain } from '../../store/ledger-chain.js';
import { LedgerWriter, detectionId, type LedgerBatch } from '../../store/ledger-writer.js';
import { count, openMigrated, selectRows } from './helpers.js';
import { ALL_SAMPLES, adminAction, detection, riskChange } from './samples.js';

interface LinkRow {
  tenant_id: string;
  seq: string;
  batch_token: string;
  table_name: string;
  row_count: string;
  content_hash: string;
  prev_hash: string;
  chain_hash: string;
}

const links = (client: ClickHouseClient, tenant: string) =>
  selectRows<LinkRow>(
    client,
    `SELECT tenant_id, seq, batch_token, table_name, row_count, content_hash, prev_hash, chain_hash
     FROM ledger_chain WHERE tenant_id = {t:String} ORDER BY seq`,
    { t: tenant },
  );

/** The samples, renamed into `tenant` with ids unique to `tag`. */
function events(tenant: string, tag: string): AgentEvent[] {
  return ALL_SAMPLES.map((e) => ({ ...e, tenant_id: tenant, event_id: `${e.event_id}-${tag}` }) as AgentEvent);
}

function batch(token: string, tenant: string, tag: string, offset = 0): LedgerBatch {
  return {
    token,
    events: events(tenant, tag).map((event, i) => ({ event, source: 'kafka:riskstream.signin/0', offset: offset + i })),
    detections: [{ ...detection, tenant_id: tenant, summary: `${detection.summary} ${tag}` }],
    riskChanges: [{ ...riskChange, tenant_id: tenant, change_id: `${tenant}/agent-1/${riskChange.time}/${tag}`, score: 0.1 + 0.2 }],
    adminActions: [{ ...adminAction, tenant_id: tenant, action_id: `act-${tag}` }],
  };
}

describe('ledger hash chain', { timeout: 120_000 }, () => {
  let client: ClickHouseClient;

  beforeAll(async () => {
    client = await openMigrated('store_ledger_chain');
  });
  afterAll(async () => {
    await client?.close();
  });

  it('digests do not depend on row order and hash into a chain from the genesis hash', () => {
    const a = new RowGroup();
    const b = new RowGroup();
    const lines = ['x\n', 'y\n', 'z\n', 'x\n'];
    lines.forEach((l, i) => a.add(l, i));
    [...lines].reverse().forEach((l, i) => b.add(l, i));
    expect(digestGroup(a)).toEqual(digestGroup(b));
    const f = { tenant_id: 't', seq: 1, batch_token: 'b', table_name: 'events', row_count: 4, content_hash: digestGroup(a).content_hash, min_time: 0, max_time: 3 };
    expect(linkHash(GENESIS_HASH, f)).toMatch(/^[0-9a-f]{64}$/);
    expect(linkHash(GENESIS_HASH, { ...f, row_count: 5 })).not.toBe(linkHash(GENESIS_HASH, f));
  });

  it('digests rows held as bytes of a body exactly like the same rows held as strings', () => {
    const lines = ['b\tétoile\n', 'a\t\u{1F600}\n', 'c\n', 'a\t\u{1F600}\n'];
    const body = Buffer.from(lines.join(''), 'utf8');
    const asBytes = new RowGroup();
    const asText = new RowGroup();
    let at = 0;
    lines.forEach((l, i) => {
      const end = at + Buffer.byteLength(l);
      asBytes.addBytes(body, at, end, i);
      asText.add(l, i);
      at = end;
    });
    expect(digestGroup(asBytes)).toEqual(digestGroup(asText));
    expect(asBytes.line(1)).toBe(lines[1]);
    expect(() => asBytes.addBytes(Buffer.from('other\n'), 0, 6, 9)).toThrow(/one body/);
  });

  it('appends one link per tenant and table for each batch, chained per tenant', async () => {
    const writer = new LedgerWriter(client);
    const mixed: LedgerBatch = {
      token: 'chain:1',
      events: [...events('t-one', 'b1'), ...events('t-two', 'b1')].map((event, i) => ({ event, source: 'generator', offset: i })),
      detections: [{ ...detection, tenant_id: 't-one' }],
    };
    await writer.writeBatch(mixed);
    await writer.writeBatch(batch('chain:2', 't-one', 'b2', 100));

    const one = await links(client, 't-one');
    expect(one.map((l) => [Number(l.seq), l.batch_token, l.table_name])).toEqual([
      [1, 'chain:1', 'events'],
      [2, 'chain:1', 'detections'],
      [3, 'chain:2', 'events'],
      [4, 'chain:2', 'detections'],
      [5, 'chain:2', 'risk_changes'],
      [6, 'chain:2', 'admin_actions'],
    ]);
    expect(one[0]!.prev_hash).toBe(GENESIS_HASH);
    for (let i = 1; i < one.length; i++) expect(one[i]!.prev_hash).toBe(one[i - 1]!.chain_hash);
    expect(Number(one[0]!.row_count)).toBe(ALL_SAMPLES.length);
    const two = await links(client, 't-two');
    expect(two.map((l) => [Number(l.seq), l.table_name])).toEqual([[1, 'events']]);

    // Rows carry their batch token.
    const tokens = await selectRows<{ batch_token: string; n: string }>(
      client,
      "SELECT batch_token, count() AS n FROM events WHERE tenant_id = 't-one' GROUP BY batch_token ORDER BY batch_token",
    );
    expect(tokens.map((t) => [t.batch_token, Number(t.n)])).toEqual([
      ['chain:1', ALL_SAMPLES.length],
      ['chain:2', ALL_SAMPLES.length],
    ]);

    for (const t of ['t-one', 't-two']) {
      const v = await verifyChain(client, t, { graceMs: 0 });
      expect(v, t).toMatchObject({ ok: true, first_broken: null });
    }
    const v = await verifyChain(client, 't-one', { graceMs: 0 });
    expect(v.batches_checked).toBe(6);
    expect(v.rows_checked).toBe(2 * ALL_SAMPLES.length + 2 + 1 + 1);
    expect(v.head).toEqual({ seq: 6, chain_hash: one[5]!.chain_hash });
  });

  it('a redelivered batch adds no second link, even through a new writer', async () => {
    const before = await count(client, 'ledger_chain');
    await new LedgerWriter(client).writeBatch(batch('chain:2', 't-one', 'b2', 100));
    const writer = new LedgerWriter(client);
    await writer.writeBatch(batch('chain:2', 't-one', 'b2', 100));
    expect(await count(client, 'ledger_chain')).toBe(before);
    // The chain continues where it was (the head is loaded from the table).
    await writer.writeBatch(batch('chain:3', 't-one', 'b3', 200));
    const one = await links(client, 't-one');
    expect(one.map((l) => Number(l.seq))).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    expect(one[6]!.prev_hash).toBe(one[5]!.chain_hash);
    expect((await verifyChain(client, 't-one', { graceMs: 0 })).ok).toBe(true);
  });

  it('links what is stored when a batch redelivered after a crash carries other rows than the first attempt', async () => {
    // First attempt: rows stored, then the process died before the links.
    await new LedgerWriter(client, { chain: false }).writeBatch(batch('chain:crash', 't-crash', 'first'));
    expect(await links(client, 't-crash')).toEqual([]);
    // The redelivery re-derives different detections (fresh detector state)
    // and the runner drops the events it finds stored: only new detections.
    await new LedgerWriter(client).writeBatch({
      token: 'chain:crash',
      detections: [{ ...detection, tenant_id: 't-crash', summary: 'a different summary' }],
    });
    const l = await links(client, 't-crash');
    expect(l.map((x) => x.table_name).sort()).toEqual(['admin_actions', 'detections', 'events', 'risk_changes']);
    // The detections link covers the row actually stored (the first attempt's), so verification passes.
    expect(await verifyChain(client, 't-crash', { graceMs: 0 })).toMatchObject({ ok: true, first_broken: null });
  });

  it('names an event changed with ALTER TABLE ... UPDATE (raw and typed column)', async () => {
    const w = new LedgerWriter(client);
    await w.writeBatch(batch('tamper:1', 't-tamper', 'x1'));
    await w.writeBatch(batch('tamper:2', 't-tamper', 'x2', 100));
    expect((await verifyChain(client, 't-tamper', { graceMs: 0 })).ok).toBe(true);

    await client.command({
      query: `ALTER TABLE events UPDATE raw = replaceOne(raw, '"ip":"10.0.0.1"', '"ip":"10.9.9.9"'), ip = '10.9.9.9'
              WHERE tenant_id = 't-tamper' AND event_id = 'evt-token-1-x2' SETTINGS mutations_sync = 2`,
    });
    const v = await verifyChain(client, 't-tamper', { graceMs: 0 });
    expect(v.ok).toBe(false);
    expect(v.first_broken).toMatchObject({ seq: 5, token: 'tamper:2', table: 'events', reason: 'row_modified', row: { id: 'evt-token-1-x2' } });
    // Only the first broken link is reported, and the links before it were checked.
    expect(v.batches_checked).toBeGreaterThanOrEqual(4);
  });

  it('names an event whose typed column alone was changed', async () => {
    await new LedgerWriter(client).writeBatch(batch('tamper:typed', 't-typed', 'y1'));
    await client.command({
      query: `ALTER TABLE events UPDATE user_id = 'someone-else' WHERE tenant_id = 't-typed' AND event_id = 'evt-signin-1-y1' SETTINGS mutations_sync = 2`,
    });
    const v = await verifyChain(client, 't-typed', { graceMs: 0 });
    expect(v.first_broken).toMatchObject({ seq: 1, table: 'events', reason: 'row_modified', row: { id: 'evt-signin-1-y1' } });
  });

  it('names a detection changed with ALTER TABLE ... UPDATE', async () => {
    await new LedgerWriter(client).writeBatch(batch('tamper:det', 't-det', 'z1'));
    await client.command({
      query: `ALTER TABLE detections UPDATE severity = 'low' WHERE tenant_id = 't-det' SETTINGS mutations_sync = 2`,
    });
    const v = await verifyChain(client, 't-det', { graceMs: 0 });
    expect(v.first_broken).toMatchObject({
      seq: 2,
      token: 'tamper:det',
      table: 'detections',
      reason: 'row_modified',
      row: { id: detectionId({ ...detection, tenant_id: 't-det' }) },
    });
  });

  it('names a forged row inserted under an existing batch token', async () => {
    await new LedgerWriter(client).writeBatch(batch('tamper:forge', 't-forge', 'f1'));
    const forged = { ...ALL_SAMPLES[0]!, tenant_id: 't-forge', event_id: 'evt-forged' } as AgentEvent;
    await insertBody(client, {
      table: 'events',
      columns: ['time', 'raw', 'source', 'source_offset', 'batch_token'],
      format: 'JSONEachRow',
      body: `${JSON.stringify({ time: forged.time, raw: JSON.stringify(forged), source: 'kafka:riskstream.signin/0', source_offset: 5, batch_token: 'tamper:forge' })}\n`,
      token: '',
    });
    const v = await verifyChain(client, 't-forge', { graceMs: 0 });
    expect(v.first_broken).toMatchObject({ seq: 1, token: 'tamper:forge', table: 'events', reason: 'row_added', row: { id: 'evt-forged' } });
  });

  it('reports a deleted row, a forged link and rows no link covers', async () => {
    await new LedgerWriter(client).writeBatch(batch('tamper:del', 't-del', 'd1'));
    await client.command({ query: `ALTER TABLE risk_changes DELETE WHERE tenant_id = 't-del' SETTINGS mutations_sync = 2` });
    expect((await verifyChain(client, 't-del', { graceMs: 0 })).first_broken).toMatchObject({ seq: 3, table: 'risk_changes', reason: 'row_missing' });

    await new LedgerWriter(client).writeBatch(batch('tamper:link', 't-link', 'l1'));
    await client.command({ query: `ALTER TABLE ledger_chain UPDATE row_count = 7 WHERE tenant_id = 't-link' AND seq = 2 SETTINGS mutations_sync = 2` });
    expect((await verifyChain(client, 't-link', { graceMs: 0 })).first_broken).toMatchObject({ seq: 2, reason: 'chain_hash_mismatch' });

    await new LedgerWriter(client).writeBatch(batch('tamper:new', 't-new', 'n1'));
    await insertBody(client, {
      table: 'admin_actions',
      format: 'JSONEachRow',
      body: `${JSON.stringify({ ...adminAction, tenant_id: 't-new', action_id: 'act-forged', batch_token: 'made-up' })}\n`,
      token: '',
    });
    const v = await verifyChain(client, 't-new', { graceMs: 0 });
    expect(v.first_broken).toMatchObject({ seq: null, token: 'made-up', table: 'admin_actions', reason: 'unchained_rows', row: { id: 'act-forged' } });
    // A fresh uncovered row is not reported within the grace period (its link may be being written).
    expect((await verifyChain(client, 't-new')).ok).toBe(true);
  });

  it('verifies only the links around a time range', async () => {
    const w = new LedgerWriter(client);
    const T = Date.UTC(2025, 0, 1);
    for (let i = 0; i < 3; i++) {
      const ev = events('t-range', `r${i}`).map((e) => ({ ...e, time: T + i * 86_400_000 }) as AgentEvent);
      await w.writeBatch({ token: `range:${i}`, events: ev.map((event, k) => ({ event, source: 'generator', offset: i * 100 + k })) });
    }
    await client.command({
      query: `ALTER TABLE events UPDATE raw = replaceOne(raw, 'agent-1', 'agent-X') WHERE tenant_id = 't-range' AND event_id = 'evt-signin-1-r0' SETTINGS mutations_sync = 2`,
    });
    const later = await verifyChain(client, 't-range', { from: T + 86_400_000, to: T + 3 * 86_400_000, graceMs: 0 });
    expect(later).toMatchObject({ ok: true, batches_checked: 2 });
    const all = await verifyChain(client, 't-range', { graceMs: 0 });
    expect(all.first_broken).toMatchObject({ seq: 1, reason: 'row_modified', row: { id: 'evt-signin-1-r0' } });
  });
});

// SSF transmitter state kept in ClickHouse (real embedded engine): streams
// (with a push receiver's credential sealed), deletions, and the queue of
// SETs per stream, read back by a fresh instance as the transmitter does on
// start.

import type { ClickHouseClient } from '@clickhouse/client';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ClickHouseSsfStateStore } from '../../../publish/ssf/clickhouse-store.js';
import type { QueuedSet, StreamRecord } from '../../../publish/ssf/store.js';
import { StateCipher } from '../../../publish/state-cipher.js';
import { openMigrated, selectRows } from '../../store/helpers.js';

let client: ClickHouseClient;
const cipher = new StateCipher(randomBytes(32));
const T = Date.UTC(2026, 10, 22, 8, 0, 0);

beforeAll(async () => {
  client = await openMigrated('publish_ssf_store');
});

afterAll(async () => {
  await client?.close();
});

function stream(id: string, o: Partial<StreamRecord> = {}): StreamRecord {
  return {
    stream_id: id,
    tenant_id: 'tenant-a',
    created_by: 'admin@tenant-a',
    aud: 'https://receiver.example.com',
    events_requested: ['https://schemas.openid.net/secevent/caep/event-type/risk-level-change'],
    delivery: { method: 'urn:ietf:rfc:8936', endpoint_url: `https://rs.example.com/v1/ssf/poll/${id}` },
    description: null,
    status: 'enabled',
    status_reason: null,
    created_at: T,
    updated_at: T,
    last_verification_at: null,
    ...o,
  };
}

const set = (jti: string, at: number): QueuedSet => ({ jti, set: `eyJhbGciOiJSUzI1NiJ9.${jti}.sig`, event: 'https://schemas.openid.net/secevent/caep/event-type/risk-level-change', enqueued_at: at });

describe('ClickHouseSsfStateStore', () => {
  it('reads back the latest version of each live stream, with the push credential', async () => {
    const store = new ClickHouseSsfStateStore(client, cipher);
    const push = stream('s-push', {
      delivery: { method: 'urn:ietf:rfc:8935', endpoint_url: 'https://receiver.example.com/ssf', authorization_header: 'Bearer receiver-secret-7f3a' },
    });
    await store.saveStream(push);
    await store.saveStream(stream('s-poll'));
    await store.saveStream({ ...push, status: 'paused', status_reason: 'maintenance', updated_at: T + 1000 });
    await store.saveStream(stream('s-gone'));
    await store.deleteStream('s-gone');

    const loaded = await new ClickHouseSsfStateStore(client, cipher).loadStreams();
    // By stream id.
    expect(loaded).toEqual([stream('s-poll'), { ...push, status: 'paused', status_reason: 'maintenance', updated_at: T + 1000 }]);
    expect(await store.deletedStreams()).toEqual(['s-gone']);

    const rows = await selectRows<{ record: string; authorization_sealed: string }>(client, "SELECT record, authorization_sealed FROM ssf_streams WHERE stream_id = 's-push'");
    expect(rows).toHaveLength(2);
    for (const r of rows) {
      expect(JSON.stringify(r)).not.toContain('receiver-secret-7f3a');
      expect(JSON.parse(r.record).delivery).not.toHaveProperty('authorization_header');
    }
  });

  it('queues SETs in order and forgets the removed ones', async () => {
    const store = new ClickHouseSsfStateStore(client, cipher);
    await store.saveStream(stream('s-queue'));
    await store.enqueue('s-queue', [set('j1', T), set('j2', T + 1), set('j3', T + 2)]);
    await store.enqueue('s-queue', [set('j4', T + 3)]);
    await store.remove('s-queue', ['j2', 'unknown-jti']);
    await store.enqueue('s-other', [set('j9', T)]);
    // Removals are buffered: nothing written until the flush (the same instance flushes before it reads).
    const removals = () => selectRows<{ n: string }>(client, "SELECT count() AS n FROM ssf_queue WHERE stream_id = 's-queue' AND op = 'remove'").then((r) => Number(r[0]!.n));
    expect(await removals()).toBe(0);
    await store.flush();
    expect(await removals()).toBe(2);

    const fresh = new ClickHouseSsfStateStore(client, cipher);
    expect(await fresh.loadQueue('s-queue')).toEqual([set('j1', T), set('j3', T + 2), set('j4', T + 3)]);
    expect(await fresh.loadQueue('s-other')).toEqual([set('j9', T)]);
    expect(await fresh.loadQueue('s-none')).toEqual([]);

    await fresh.remove('s-queue', ['j1', 'j3']);
    await fresh.remove('s-queue', ['j4']);
    expect(await fresh.loadQueue('s-queue')).toEqual([]); // flushed before reading
    await fresh.remove('s-other', ['j9']);
    await fresh.close();
    expect(await store.loadQueue('s-other')).toEqual([]);
  });
});

// SSF transmitter state that survives a restart, in ClickHouse (store
// migration 010), append-only: each stream change is a new version in
// `ssf_streams` (a deletion is a version marked deleted), each queued SET an
// `enqueue` row in `ssf_queue` and each delivered, acknowledged or dropped one
// a `remove` row. The transmitter keeps its working state in memory and reads
// this back only when it starts.
//
// A push stream's Authorization header (the receiver's credential) is sealed
// (StateCipher, bound to the stream id), never stored in clear.
//
// A pushed SET is removed as soon as its receiver accepts it: one insert per
// SET would make one part per SET for the engine to merge. Removals are
// written together within `removeFlushMs` (default 2 s) and on close; one
// lost in a crash only means that SET is delivered again after the restart
// (SET receivers tell repeats apart by jti).

import type { ClickHouseClient } from '@clickhouse/client';
import { insertBody } from '../../store/clickhouse.js';
import { withRetry, type RetryOptions } from '../../store/retry.js';
import { Coalescer } from '../util.js';
import type { StateCipher } from '../state-cipher.js';
import type { QueuedSet, SsfStateStore, StreamRecord } from './store.js';

function sealContext(streamId: string): string {
  return `ssf-stream:${streamId}:authorization`;
}

export interface ClickHouseSsfStateStoreOptions {
  retry?: RetryOptions;
  /** Longest wait before removals are written (ms). */
  removeFlushMs?: number;
}

export class ClickHouseSsfStateStore implements SsfStateStore {
  /** Last version written, per stream: versions only grow, even when the clock does not. */
  private readonly versions = new Map<string, number>();
  /** Removals not written yet, written together. */
  private readonly removals: Coalescer<{ stream_id: string; jti: string; at: number }>;

  constructor(
    private readonly client: ClickHouseClient,
    private readonly cipher: StateCipher,
    private readonly options: ClickHouseSsfStateStoreOptions = {},
  ) {
    this.removals = new Coalescer((marks) => {
      const rows = marks.map((m) => ({ stream_id: m.stream_id, jti: m.jti, op: 'remove', set_jws: '', event: '', enqueued_at: m.at }));
      const [first, last] = [marks[0]!, marks[marks.length - 1]!];
      return this.appendQueue(rows, `ssf-remove:${first.stream_id}:${first.jti}:${last.stream_id}:${last.jti}:${marks.length}`);
    }, options.removeFlushMs ?? 2000);
  }

  async loadStreams(): Promise<StreamRecord[]> {
    const rs = await this.client.query({
      // Aliases differ from the columns: ClickHouse would otherwise read the alias inside the aggregates.
      query: `SELECT stream_id, max(version) AS last_version, argMax(deleted, version) AS last_deleted,
                     argMax(record, version) AS last_record, argMax(authorization_sealed, version) AS last_authorization_sealed
              FROM ssf_streams
              GROUP BY stream_id
              ORDER BY stream_id`,
      format: 'JSONEachRow',
    });
    const out: StreamRecord[] = [];
    type Latest = { stream_id: string; last_version: string | number; last_deleted: boolean | number; last_record: string; last_authorization_sealed: string };
    for (const row of await rs.json<Latest>()) {
      this.versions.set(row.stream_id, Math.max(this.versions.get(row.stream_id) ?? 0, Number(row.last_version)));
      if (row.last_deleted === true || Number(row.last_deleted) === 1) continue;
      const record = JSON.parse(row.last_record) as StreamRecord;
      if (row.last_authorization_sealed !== '') {
        record.delivery = { ...record.delivery, authorization_header: this.cipher.open(row.last_authorization_sealed, sealContext(row.stream_id)) };
      }
      out.push(record);
    }
    return out;
  }

  async deletedStreams(): Promise<string[]> {
    const rs = await this.client.query({
      query: 'SELECT stream_id FROM ssf_streams GROUP BY stream_id HAVING argMax(deleted, version) = 1 ORDER BY stream_id',
      format: 'JSONEachRow',
    });
    return (await rs.json<{ stream_id: string }>()).map((r) => r.stream_id);
  }

  async saveStream(stream: StreamRecord): Promise<void> {
    const { authorization_header: authorization, ...delivery } = stream.delivery;
    const record = { ...stream, delivery };
    const sealed = authorization === undefined ? '' : this.cipher.seal(authorization, sealContext(stream.stream_id));
    await this.appendStream(stream.stream_id, stream.tenant_id, false, JSON.stringify(record), sealed);
  }

  async deleteStream(streamId: string): Promise<void> {
    // Its queue rows stay (append-only) but are never read again: only live streams' queues are loaded.
    await this.appendStream(streamId, '', true, '', '');
  }

  async loadQueue(streamId: string): Promise<QueuedSet[]> {
    await this.flush();
    const rs = await this.client.query({
      query: `SELECT jti, anyIf(set_jws, op = 'enqueue') AS queued_set, anyIf(event, op = 'enqueue') AS queued_event,
                     toUnixTimestamp64Milli(minIf(enqueued_at, op = 'enqueue')) AS queued_at
              FROM ssf_queue
              WHERE stream_id = {stream:String}
              GROUP BY jti
              HAVING countIf(op = 'remove') = 0 AND countIf(op = 'enqueue') > 0
              ORDER BY queued_at, jti`,
      query_params: { stream: streamId },
      format: 'JSONEachRow',
    });
    return (await rs.json<{ jti: string; queued_set: string; queued_event: string; queued_at: string | number }>()).map((r) => ({
      jti: r.jti,
      set: r.queued_set,
      event: r.queued_event,
      enqueued_at: Number(r.queued_at),
    }));
  }

  async enqueue(streamId: string, sets: readonly QueuedSet[]): Promise<void> {
    if (sets.length === 0) return;
    const rows = sets.map((s) => ({ stream_id: streamId, jti: s.jti, op: 'enqueue', set_jws: s.set, event: s.event, enqueued_at: Math.trunc(s.enqueued_at) }));
    // jtis are unique: the first and last name the batch for deduplication of a retried insert.
    await this.appendQueue(rows, `ssf-enqueue:${streamId}:${sets[0]!.jti}:${sets[sets.length - 1]!.jti}:${sets.length}`);
  }

  async remove(streamId: string, jtis: readonly string[]): Promise<void> {
    const at = Date.now();
    this.removals.add(jtis.map((jti) => ({ stream_id: streamId, jti, at })));
  }

  /** Writes the buffered removals in one insert (see Coalescer). */
  flush(): Promise<void> {
    return this.removals.flush();
  }

  async close(): Promise<void> {
    await this.flush();
  }

  private async appendStream(streamId: string, tenantId: string, deleted: boolean, record: string, sealed: string): Promise<void> {
    const version = Math.max(Date.now() * 1000, (this.versions.get(streamId) ?? 0) + 1);
    this.versions.set(streamId, version);
    const row = { stream_id: streamId, tenant_id: tenantId, version, deleted, record, authorization_sealed: sealed };
    await withRetry(
      () => insertBody(this.client, { table: 'ssf_streams', format: 'JSONEachRow', body: `${JSON.stringify(row)}\n`, token: `ssf-stream:${streamId}:${version}` }),
      this.options.retry,
    );
  }

  private async appendQueue(rows: object[], token: string): Promise<void> {
    const body = rows.map((r) => `${JSON.stringify(r)}\n`).join('');
    await withRetry(() => insertBody(this.client, { table: 'ssf_queue', format: 'JSONEachRow', body, token }), this.options.retry);
  }
}

// Persistence of the SSF transmitter: stream configurations and the SETs
// queued per stream. The transmitter keeps its working state in memory and
// writes every change through this interface, and reads it back on start.
// The in-memory implementation below is for tests and embedding (state is
// lost on restart); `riskstream run` keeps it in ClickHouse
// (clickhouse-store.ts).

export type StreamStatus = 'enabled' | 'paused' | 'disabled';

export interface StreamDelivery {
  /** `urn:ietf:rfc:8935` (push) or `urn:ietf:rfc:8936` (poll). */
  method: string;
  /** Push: the receiver's URL. Poll: the transmitter's poll URL. */
  endpoint_url: string;
  /** Push: value of the Authorization header sent to the receiver (write-only, never returned). */
  authorization_header?: string;
}

export interface StreamRecord {
  stream_id: string;
  /** The tenant the stream belongs to (from the creating token). */
  tenant_id: string;
  /** Subject of the token that created it. */
  created_by: string;
  aud: string | string[];
  events_requested: string[];
  delivery: StreamDelivery;
  description: string | null;
  status: StreamStatus;
  status_reason: string | null;
  /** Epoch ms. */
  created_at: number;
  updated_at: number;
  last_verification_at: number | null;
}

export interface QueuedSet {
  jti: string;
  /** The signed SET (compact JWS). */
  set: string;
  /** Event type URI of its one event. */
  event: string;
  /** Epoch ms. */
  enqueued_at: number;
}

export interface SsfStateStore {
  loadStreams(): Promise<StreamRecord[]>;
  /**
   * Ids of deleted streams (for instances sharing the store, which learn of
   * a deletion made elsewhere from it). Optional: without it, deletions made
   * through another instance are seen at the next start.
   */
  deletedStreams?(): Promise<string[]>;
  saveStream(stream: StreamRecord): Promise<void>;
  /** Deletes a stream and its queue. */
  deleteStream(streamId: string): Promise<void>;
  /** Queued SETs of a stream, oldest first. */
  loadQueue(streamId: string): Promise<QueuedSet[]>;
  enqueue(streamId: string, sets: readonly QueuedSet[]): Promise<void>;
  /** Removes SETs (delivered, acknowledged, given up or dropped); unknown jtis are ignored. */
  remove(streamId: string, jtis: readonly string[]): Promise<void>;
  /** Writes anything still buffered (the transmitter calls it when it closes). */
  close?(): Promise<void>;
}

export class MemorySsfStateStore implements SsfStateStore {
  private readonly streams = new Map<string, StreamRecord>();
  private readonly queues = new Map<string, Map<string, QueuedSet>>();
  private readonly deleted = new Set<string>();

  async loadStreams(): Promise<StreamRecord[]> {
    return [...this.streams.values()].map((s) => structuredClone(s));
  }

  async deletedStreams(): Promise<string[]> {
    return [...this.deleted];
  }

  async saveStream(stream: StreamRecord): Promise<void> {
    this.streams.set(stream.stream_id, structuredClone(stream));
  }

  async deleteStream(streamId: string): Promise<void> {
    this.streams.delete(streamId);
    this.queues.delete(streamId);
    this.deleted.add(streamId);
  }

  async loadQueue(streamId: string): Promise<QueuedSet[]> {
    return [...(this.queues.get(streamId)?.values() ?? [])];
  }

  async enqueue(streamId: string, sets: readonly QueuedSet[]): Promise<void> {
    let q = this.queues.get(streamId);
    if (!q) this.queues.set(streamId, (q = new Map()));
    for (const s of sets) q.set(s.jti, s);
  }

  async remove(streamId: string, jtis: readonly string[]): Promise<void> {
    const q = this.queues.get(streamId);
    if (!q) return;
    for (const j of jtis) q.delete(j);
  }
}

// The ingest stage's interface: a source delivers batches of validated events
// (and the records it had to reject) and acknowledges a batch upstream only
// after the handler has made it durable.

import type { AgentEvent } from '../contract/events.js';

/** A validated event and where it came from, for provenance. */
export interface IngestRecord {
  event: AgentEvent;
  /** e.g. `kafka:riskstream.signin/0`, `ndjson:events.ndjson`, `generator`. */
  source: string;
  /** Kafka offset, or line number for NDJSON, or sequence for the generator. */
  offset: number;
}

/** A record that failed to decode or validate, with what is needed to find and fix it. */
export interface RejectedRecord {
  source: string;
  topic?: string;
  partition?: number;
  offset: number;
  key: Buffer | string | null;
  value: Buffer | string | null;
  /** The reason, naming the field where one is at fault. */
  error: string;
  field?: string;
}

export interface SourceBatch {
  /**
   * Identity of the batch, stable across redelivery: the same records delivered
   * again after a crash carry the same token, which makes store inserts idempotent.
   */
  token: string;
  records: IngestRecord[];
  rejected: RejectedRecord[];
  /**
   * True when some of these records may already be stored: the first batch of
   * a Kafka partition after a (re)assignment starts at the last committed
   * offset, and a crash between store and commit leaves stored records after it.
   * The store then skips records it already holds.
   */
  redelivery?: boolean;
  /**
   * The last offset of its source the batch covers, rejected records
   * included: once the batch is acknowledged, the source resumes after it.
   */
  position?: { source: string; offset: number };
}

export type BatchHandler = (batch: SourceBatch) => Promise<void>;

export interface Source {
  readonly name: string;
  /**
   * Delivers batches to `handle` until the input ends or `stop` is called. A
   * batch is acknowledged (Kafka offsets committed) only after `handle`
   * resolves; when `handle` rejects, the source stops without acknowledging,
   * so the batch is delivered again on restart.
   */
  run(handle: BatchHandler): Promise<void>;
  stop(): Promise<void>;
  /**
   * Where the source will resume, per source (e.g. `kafka:<topic>/<partition>`):
   * the offset of the next record it will deliver, for sources that resume
   * where they were acknowledged (Kafka: the group's committed offsets).
   * Absent for sources that start over.
   */
  resumePoints?(): Promise<Map<string, number>>;
  /**
   * Before `run`: start these sources at these offsets instead of where they
   * would resume (to read acknowledged records again; their batches come as
   * redeliveries).
   */
  seekOnStart?(offsets: ReadonlyMap<string, number>): void;
}

/** Where rejected records go: a dead-letter topic on Kafka, a dead-letter file otherwise. */
export interface DeadLetterSink {
  write(records: RejectedRecord[]): Promise<void>;
  close(): Promise<void>;
}

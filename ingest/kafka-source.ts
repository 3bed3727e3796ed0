// Events from Kafka: one consumer group over the five event topics, Avro values
// in the Confluent wire format, processed with eachBatch. Offsets are committed
// only after the handler has made a batch durable; a record that cannot be
// decoded or validated is handed over as rejected (for the dead-letter topic)
// and never stops its neighbours.

import { Kafka, logLevel, type Consumer, type EachBatchPayload, type KafkaMessage } from 'kafkajs';
import { AvroCodec } from './avro/codec.js';
import type { BatchHandler, IngestRecord, RejectedRecord, Source } from './source.js';
import type { TopicNames } from './topics.js';

export interface KafkaSourceOptions {
  brokers: string[];
  clientId: string;
  groupId: string;
  topics: TopicNames;
  codec: AvroCodec;
  /** Most records per handed-over batch; a fetched batch is cut into chunks of this size. */
  maxBatchRecords: number;
  /** Chunks handed over before the oldest is durable (pipelining decode/detection with the store). Default 2. */
  maxInFlightBatches?: number;
  /** Read topics from the beginning when the group has no committed offset. */
  fromBeginning?: boolean;
  /**
   * When a batch fails (the store stayed down through its own retries), retry
   * it and restart the consumer (default). False makes the first failure final,
   * which tests use to simulate a crash between store and commit.
   */
  retryOnFailure?: boolean;
  /** Called when the consumer crashes (after kafkajs's own retries). */
  onCrash?: (error: Error) => void;
}

export class KafkaSource implements Source {
  readonly name = 'kafka';
  private readonly kafka: Kafka;
  private consumer: Consumer | undefined;
  // Partitions that delivered since the last (re)assignment: the first batch of
  // a partition after an assignment may repeat records stored before a crash.
  private readonly delivered = new Set<string>();
  private stopping = false;
  private starting: Promise<void> | undefined;
  private readonly seeks = new Map<string, number>();

  constructor(private readonly options: KafkaSourceOptions) {
    this.kafka = new Kafka({ clientId: options.clientId, brokers: options.brokers, logLevel: logLevel.WARN });
  }

  async run(handle: BatchHandler): Promise<void> {
    const consumer = this.kafka.consumer({
      groupId: this.options.groupId,
      maxBytesPerPartition: 16 * 1024 * 1024,
      maxBytes: 64 * 1024 * 1024,
      maxWaitTimeInMs: 100,
      sessionTimeout: 45_000,
      heartbeatInterval: 3_000,
      retry: this.options.retryOnFailure === false ? { retries: 0, restartOnFailure: async () => false } : { retries: 8 },
    });
    this.consumer = consumer;
    consumer.on(consumer.events.GROUP_JOIN, () => this.delivered.clear());
    // kafkajs may announce STOP before CRASH when a crash is final, so the
    // outcome is settled a tick after either event, once both are known.
    let finalError: Error | undefined;
    const ended = new Promise<void>((resolve, reject) => {
      const settle = () => setImmediate(() => (finalError ? reject(finalError) : resolve()));
      consumer.on(consumer.events.CRASH, (e) => {
        const error = e.payload.error;
        this.options.onCrash?.(error);
        if (!e.payload.restart) {
          finalError = error;
          settle();
        }
      });
      consumer.on(consumer.events.STOP, settle);
    });
    // stop() waits for this before disconnecting: a consumer disconnected
    // half-way through its start would never announce STOP.
    this.starting = (async () => {
      await consumer.connect();
      await consumer.subscribe({ topics: this.options.topics.inputs, fromBeginning: this.options.fromBeginning ?? true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: 1,
        eachBatch: (payload) => this.onBatch(payload, handle),
      });
      // Applied when the partitions are assigned, before their first fetch.
      for (const [source, offset] of this.seeks) {
        const m = /^kafka:(.+)\/(\d+)$/.exec(source);
        if (m) consumer.seek({ topic: m[1]!, partition: Number(m[2]), offset: String(offset) });
      }
    })();
    await this.starting;
    await ended;
  }

  private async onBatch(payload: EachBatchPayload, handle: BatchHandler): Promise<void> {
    const { batch, resolveOffset, heartbeat, isRunning, isStale } = payload;
    const { topic, partition } = batch;
    const source = `kafka:${topic}/${partition}`;
    const partitionKey = `${topic}/${partition}`;
    const expectedType = this.options.topics.typeOf.get(topic);
    const max = this.options.maxBatchRecords;
    const maxInFlight = this.options.maxInFlightBatches ?? 2;

    // Chunks are handed over without waiting for the previous one to be
    // durable (the handler persists them in order), so decoding and detection
    // of one chunk overlap the store insert of the one before. Offsets are
    // committed strictly in order, each after its own chunk is durable.
    const inFlight: Promise<void>[] = [];
    let committed: Promise<void> = Promise.resolve();
    try {
      for (let start = 0; start < batch.messages.length; start += max) {
        if (!isRunning() || isStale() || this.stopping) break;
        const messages = batch.messages.slice(start, start + max);
        const chunk = await this.decodeChunk(topic, partition, source, expectedType, messages);
        const first = Number(messages[0]!.offset);
        const last = Number(messages[messages.length - 1]!.offset);
        const durable = handle({
          token: `${source}:${first}-${last}`,
          records: chunk.records,
          rejected: chunk.rejected,
          redelivery: !this.delivered.has(partitionKey),
          position: { source, offset: last },
        });
        this.delivered.add(partitionKey);
        committed = Promise.all([committed, durable]).then(async () => {
          resolveOffset(String(last));
          await this.consumer!.commitOffsets([{ topic, partition, offset: String(last + 1) }]);
          await heartbeat();
        });
        inFlight.push(committed);
        if (inFlight.length >= maxInFlight) await inFlight.shift();
      }
    } finally {
      // Never return to kafkajs with work outstanding: the next fetch starts
      // from the resolved offset. A failure surfaces here (after the others settle).
      await Promise.allSettled(inFlight);
    }
    await committed;
  }

  private async decodeChunk(
    topic: string,
    partition: number,
    source: string,
    expectedType: string | undefined,
    messages: KafkaMessage[],
  ): Promise<{ records: IngestRecord[]; rejected: RejectedRecord[] }> {
    const decoded = await this.options.codec.decodeMany(messages.map((m) => m.value));
    const records: IngestRecord[] = [];
    const rejected: RejectedRecord[] = [];
    for (let i = 0; i < messages.length; i++) {
      const m = messages[i]!;
      const d = decoded[i]!;
      const offset = Number(m.offset);
      if (d.ok && d.event.type === expectedType) {
        records.push({ event: d.event, source, offset });
        continue;
      }
      const error = d.ok ? `a ${d.event.type} record does not belong on topic ${topic}` : d.error.message;
      const r: RejectedRecord = { source, topic, partition, offset, key: m.key, value: m.value, error };
      if (!d.ok && d.error.field) r.field = d.error.field;
      rejected.push(r);
    }
    return { records, rejected };
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.starting?.catch(() => undefined);
    await this.consumer?.disconnect();
  }

  seekOnStart(offsets: ReadonlyMap<string, number>): void {
    for (const [source, offset] of offsets) this.seeks.set(source, offset);
  }

  /** The group's committed offsets, per partition of the input topics that has one. */
  async resumePoints(): Promise<Map<string, number>> {
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      const out = new Map<string, number>();
      const topics = await admin.fetchOffsets({ groupId: this.options.groupId, topics: this.options.topics.inputs });
      for (const { topic, partitions } of topics) {
        for (const { partition, offset } of partitions) {
          const n = Number(offset);
          if (n >= 0) out.set(`kafka:${topic}/${partition}`, n);
        }
      }
      return out;
    } finally {
      await admin.disconnect();
    }
  }
}

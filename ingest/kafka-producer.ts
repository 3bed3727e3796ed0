// Produces contract events to their Kafka topics as Avro in the Confluent wire
// format, keyed by agent id (user id for user-risk). Used by
// `riskstream produce`, the integration tests and the benchmark.

import { CompressionTypes, Kafka, logLevel, type Producer } from 'kafkajs';
import { EVENT_TYPES, eventKey, type AgentEvent, type EventType } from '../contract/events.js';
import type { AvroCodec } from './avro/codec.js';
import type { TopicNames } from './topics.js';

/** Creates the input topics and the dead-letter topic when missing. */
export async function ensureTopics(
  brokers: string[],
  topics: TopicNames,
  opts: { partitions?: number; clientId?: string } = {},
): Promise<void> {
  const kafka = new Kafka({ clientId: opts.clientId ?? 'riskstream-admin', brokers, logLevel: logLevel.WARN });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const wanted = [...topics.inputs, topics.deadLetter].filter((t) => !existing.has(t));
    if (wanted.length > 0) {
      await admin.createTopics({
        waitForLeaders: true,
        topics: wanted.map((topic) => ({ topic, numPartitions: opts.partitions ?? 1, replicationFactor: 1 })),
      });
    }
  } finally {
    await admin.disconnect();
  }
}

export class EventProducer {
  private readonly producer: Producer;
  private encoders = new Map<EventType, (e: AgentEvent) => Buffer>();

  constructor(
    brokers: string[],
    private readonly topics: TopicNames,
    private readonly codec: AvroCodec,
    clientId = 'riskstream-producer',
  ) {
    const kafka = new Kafka({ clientId, brokers, logLevel: logLevel.WARN });
    this.producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  }

  async connect(): Promise<void> {
    await this.producer.connect();
    for (const type of EVENT_TYPES) this.encoders.set(type, await this.codec.encoder(this.topics.byType[type], type));
  }

  /** Sends events (in order per topic) and resolves when all are acknowledged by the broker. */
  async send(events: AgentEvent[]): Promise<void> {
    const byTopic = new Map<string, { key: string; value: Buffer }[]>();
    for (const event of events) {
      const topic = this.topics.byType[event.type];
      let list = byTopic.get(topic);
      if (!list) byTopic.set(topic, (list = []));
      list.push({ key: eventKey(event), value: this.encoders.get(event.type)!(event) });
    }
    await this.sendRaw([...byTopic].map(([topic, messages]) => ({ topic, messages })));
  }

  /** Sends pre-encoded (or deliberately malformed) messages. */
  async sendRaw(topicMessages: { topic: string; messages: { key: string | Buffer | null; value: Buffer | null }[] }[]): Promise<void> {
    if (topicMessages.length === 0) return;
    await this.producer.sendBatch({ topicMessages, acks: -1, compression: CompressionTypes.None });
  }

  async disconnect(): Promise<void> {
    await this.producer.disconnect();
  }
}

// Integration test for scripts/kafka/kafka.ts: the broker started by test/global-setup.ts
// is a real Kafka that round-trips messages through a consumer group.
import { describe, expect, it } from 'vitest';
import { Partitioners } from 'kafkajs';
import { createTopics, kafkaBrokers, kafkaClient, uniqueTopicPrefix, withAdmin } from '../helpers/kafka.js';

describe('local Kafka broker', () => {
  it('describeCluster reports exactly one broker on 127.0.0.1', async () => {
    const port = kafkaBrokers().split(',')[0]!.split(':')[1];
    const cluster = await withAdmin((admin) => admin.describeCluster());
    expect(cluster.brokers).toHaveLength(1);
    expect(cluster.brokers[0]!.host).toBe('127.0.0.1');
    expect(String(cluster.brokers[0]!.port)).toBe(port);
    expect(cluster.clusterId).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });

  it('createTopics is idempotent', async () => {
    const topic = `${uniqueTopicPrefix('idem')}events`;
    await createTopics([topic], { partitions: 2, configs: { 'retention.ms': '3600000' } });
    await createTopics([topic, topic], { partitions: 2 });
    const meta = await withAdmin((admin) => admin.fetchTopicMetadata({ topics: [topic] }));
    expect(meta.topics[0]!.partitions).toHaveLength(2);
  });

  it('produces 100 keyed messages and consumes them back in order with a consumer group', async () => {
    const prefix = uniqueTopicPrefix('roundtrip');
    const topic = `${prefix}events`;
    await createTopics([topic], { partitions: 1 });

    const kafka = kafkaClient({ clientId: 'roundtrip' });
    const sent = Array.from({ length: 100 }, (_, i) => ({
      key: `key-${i % 7}`,
      value: JSON.stringify({ seq: i, at: `2025-01-01T00:00:${String(i % 60).padStart(2, '0')}Z` }),
    }));

    const producer = kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
      idempotent: true,
    });
    await producer.connect();
    try {
      // several batches, so ordering across produce requests is exercised too
      for (let i = 0; i < sent.length; i += 25) {
        await producer.send({ topic, acks: -1, messages: sent.slice(i, i + 25) });
      }
    } finally {
      await producer.disconnect();
    }

    const received: { key: string; value: string; offset: string }[] = [];
    const consumer = kafka.consumer({ groupId: `${prefix}group`, maxWaitTimeInMs: 200 });
    await consumer.connect();
    try {
      await consumer.subscribe({ topics: [topic], fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`only ${received.length}/100 messages consumed within 30 s`)),
          30_000,
        );
        consumer
          .run({
            eachMessage: async ({ message }) => {
              received.push({
                key: message.key?.toString() ?? '',
                value: message.value?.toString() ?? '',
                offset: message.offset,
              });
              if (received.length >= sent.length) {
                clearTimeout(timer);
                resolve();
              }
            },
          })
          .catch(reject);
      });
    } finally {
      await consumer.disconnect();
    }

    expect(received).toHaveLength(100);
    expect(received.map((m) => m.key)).toEqual(sent.map((m) => m.key));
    expect(received.map((m) => m.value)).toEqual(sent.map((m) => m.value));
    expect(received.map((m) => Number(m.offset))).toEqual(sent.map((_, i) => i));

    // the group committed its position at the end of the topic
    const offsets = await withAdmin((admin) => admin.fetchOffsets({ groupId: `${prefix}group`, topics: [topic] }));
    expect(offsets[0]!.partitions[0]!.offset).toBe('100');
  });
});

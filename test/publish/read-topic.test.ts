// Reading a topic to its end (real broker): every record of every partition
// up to the high watermarks as they were when the read started, nothing of an
// aborted transaction with read_committed, and at once for an empty topic.

import { describe, expect, it } from 'vitest';
import { readTopicToEnd } from '../../publish/read-topic.js';
import { createTopics, kafkaClient, uniqueTopicPrefix } from '../helpers/kafka.js';

describe('readTopicToEnd', { timeout: 60_000 }, () => {
  it('reads every partition to its end, skipping an aborted transaction', async () => {
    const topic = `${uniqueTopicPrefix('read')}topic`;
    await createTopics(topic, { partitions: 3 });
    const kafka = kafkaClient();
    const producer = kafka.producer({ idempotent: true, transactionalId: `${topic}-tx`, maxInFlightRequests: 1 });
    await producer.connect();
    await producer.send({ topic, messages: Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, value: `v${i}`, partition: i % 3 })) });
    const txn = await producer.transaction();
    await txn.send({ topic, messages: [{ key: 'aborted', value: 'never seen', partition: 1 }] });
    await txn.abort();
    await producer.disconnect();

    const seen: string[] = [];
    const partitions = new Set<number>();
    await readTopicToEnd(kafka, topic, (p, m) => (partitions.add(p), seen.push(m.value!.toString())), { groupPrefix: 'read-test', timeoutMs: 20_000 });
    expect(seen.sort()).toEqual(Array.from({ length: 30 }, (_, i) => `v${i}`).sort());
    expect([...partitions].sort()).toEqual([0, 1, 2]);

    const all: string[] = [];
    await readTopicToEnd(kafka, topic, (_p, m) => all.push(m.value!.toString()), { groupPrefix: 'read-test', readUncommitted: true, timeoutMs: 20_000 });
    expect(all).toContain('never seen');
  });

  it('returns at once for an empty topic', async () => {
    const topic = `${uniqueTopicPrefix('read-empty')}topic`;
    await createTopics(topic, { partitions: 2 });
    let calls = 0;
    // Waiting for records would end in the timeout's rejection.
    await readTopicToEnd(kafkaClient(), topic, () => calls++, { groupPrefix: 'read-test', timeoutMs: 1000 });
    expect(calls).toBe(0);
  });
});

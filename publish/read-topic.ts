// Reads a Kafka topic from the beginning to its end as it is when the read
// starts (the high watermark of every partition), with a throwaway consumer
// group that commits nothing. The publisher reads its progress record this
// way at start; tests read what was published.

import { randomUUID } from 'node:crypto';
import type { Kafka, KafkaMessage } from 'kafkajs';

export interface ReadTopicOptions {
  /** Prefix of the throwaway group id. */
  groupPrefix: string;
  /** See aborted transactions' records too (default false: read_committed). */
  readUncommitted?: boolean;
  /** Fails the read when the end is not reached within this (ms; default 30 000). */
  timeoutMs?: number;
}

/** Calls `onMessage` for every record of `topic` up to its current end, in order within each partition. */
export async function readTopicToEnd(
  kafka: Kafka,
  topic: string,
  onMessage: (partition: number, message: KafkaMessage) => void,
  opts: ReadTopicOptions,
): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  let offsets: { partition: number; high: string; low: string }[];
  try {
    offsets = await admin.fetchTopicOffsets(topic);
  } finally {
    await admin.disconnect();
  }
  // Partitions still to read, and the last offset to reach in each.
  const pending = new Map<number, bigint>();
  for (const o of offsets) if (BigInt(o.high) > BigInt(o.low)) pending.set(o.partition, BigInt(o.high) - 1n);
  if (pending.size === 0) return;
  const consumer = kafka.consumer({
    groupId: `${opts.groupPrefix}.${randomUUID()}`,
    readUncommitted: opts.readUncommitted ?? false,
    maxWaitTimeInMs: 100,
    allowAutoTopicCreation: false,
  });
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => (resolveDone = r));
  // A partition is done when a batch or a record reaches its last offset (with
  // read_committed, the last offsets may be transaction markers no record reaches).
  const reached = (partition: number, offset: string | null | undefined) => {
    const target = pending.get(partition);
    if (target === undefined || offset === null || offset === undefined) return;
    if (BigInt(offset) >= target) {
      pending.delete(partition);
      if (pending.size === 0) resolveDone();
    }
  };
  consumer.on(consumer.events.END_BATCH_PROCESS, (e) => reached(e.payload.partition, e.payload.lastOffset));
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        onMessage(partition, message);
        reached(partition, message.offset);
      },
    });
    const limit = opts.timeoutMs ?? 30_000;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`reading ${topic} did not reach its end within ${limit} ms`)), limit);
    });
    try {
      await Promise.race([done, timeout]);
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await consumer.disconnect().catch(() => {});
  }
}

/** Helpers for tests that talk to the Kafka broker provided by test/global-setup.ts. */
import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { Kafka, logLevel, type Admin, type KafkaConfig } from 'kafkajs';

/** Bootstrap servers ("127.0.0.1:PORT") of the test broker. */
export function kafkaBrokers(): string {
  let brokers: string | undefined;
  try {
    brokers = inject('kafkaBrokers');
  } catch {
    // not inside a vitest worker
  }
  brokers ||= process.env.KAFKA_BROKERS;
  if (!brokers) {
    throw new Error('no Kafka broker: run through vitest (test/global-setup.ts) or set KAFKA_BROKERS');
  }
  return brokers;
}

/** A kafkajs client for the test broker, quiet (WARN) by default. */
export function kafkaClient(config: Partial<KafkaConfig> = {}): Kafka {
  return new Kafka({
    clientId: 'riskstream-test',
    logLevel: logLevel.WARN,
    ...config,
    brokers: config.brokers ?? kafkaBrokers().split(','),
  });
}

/** Run `fn` with a connected admin client, always disconnecting afterwards. */
export async function withAdmin<T>(fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = kafkaClient({ clientId: 'riskstream-test-admin' }).admin();
  await admin.connect();
  try {
    return await fn(admin);
  } finally {
    await admin.disconnect();
  }
}

export interface CreateTopicsOptions {
  /** Default 1. */
  partitions?: number;
  /** Topic-level configs, e.g. { 'cleanup.policy': 'compact' }. */
  configs?: Record<string, string>;
}

/**
 * Create topics (single replica) and wait for their leaders. Idempotent: topics that already
 * exist are left as they are (their partitions/configs are not changed).
 */
export async function createTopics(names: string | string[], opts: CreateTopicsOptions = {}): Promise<void> {
  const wanted = [...new Set(Array.isArray(names) ? names : [names])];
  if (wanted.length === 0) return;
  await withAdmin(async (admin) => {
    const existing = new Set(await admin.listTopics());
    const missing = wanted.filter((t) => !existing.has(t));
    if (missing.length > 0) {
      // returns false (no throw) when all of them already exist, e.g. created concurrently
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((topic) => ({
          topic,
          numPartitions: opts.partitions ?? 1,
          replicationFactor: 1,
          configEntries: Object.entries(opts.configs ?? {}).map(([name, value]) => ({ name, value })),
        })),
      });
    }
    // make sure every wanted topic has a leader for each partition before returning
    await admin.fetchTopicMetadata({ topics: wanted });
  });
}

/**
 * A prefix unique to this call, for topic and group names: `t-<label>-<time>-<random>-`.
 * Only [a-zA-Z0-9-] (no '.' or '_', which Kafka treats as colliding in metric names).
 */
export function uniqueTopicPrefix(label = 'test'): string {
  const safe = label.replace(/[^a-zA-Z0-9-]+/g, '-').slice(0, 40) || 'test';
  return `t-${safe}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}-`;
}

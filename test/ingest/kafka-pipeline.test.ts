// End to end against the real broker and the embedded ClickHouse: Avro events
// of every type produced to Kafka come out as rows with every field intact,
// bad records go to the dead-letter topic while their neighbours are stored,
// and a batch processed again after a crash (stored, not committed) leaves
// exactly one row per event.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import type { AgentEvent } from '../../contract/events.js';
import { toJsonRecord } from '../../contract/validate.js';
import { DetectionPipeline } from '../../detectors/pipeline.js';
import { AvroCodec } from '../../ingest/avro/codec.js';
import { BuiltInSchemaRegistry } from '../../ingest/avro/registry.js';
import { DLQ_HEADERS, KafkaDeadLetterSink } from '../../ingest/dead-letter.js';
import { EventProducer, ensureTopics } from '../../ingest/kafka-producer.js';
import { KafkaSource } from '../../ingest/kafka-source.js';
import { topicNames } from '../../ingest/topics.js';
import { LedgerWriter } from '../../store/ledger-writer.js';
import { queryEvents, storedOffsets } from '../../store/queries.js';
import { PipelineRunner } from '../../cli/runner.js';
import { kafkaBrokers, kafkaClient, uniqueTopicPrefix } from '../helpers/kafka.js';
import { ALL_SAMPLES, TENANT } from '../store/samples.js';
import { count, openMigrated, selectRows } from '../store/helpers.js';

const quietLogger = { info() {}, warn() {}, error() {} };

async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function runnerFor(store: ClickHouseClient, source: KafkaSource, brokers: string[], dlqTopic: string) {
  return new PipelineRunner({
    source,
    deadLetters: new KafkaDeadLetterSink(brokers, 'test', dlqTopic),
    detection: new DetectionPipeline(),
    ledger: new LedgerWriter(store),
    storedOffsets: (s, a, b) => storedOffsets(store, s, a, b),
    logger: quietLogger,
  });
}

describe('Kafka → decode → validate → ClickHouse', () => {
  let store: ClickHouseClient;
  const brokers = () => kafkaBrokers().split(',');

  beforeAll(async () => {
    store = await openMigrated('kafka_pipeline');
  });
  afterAll(async () => {
    await store.close();
  });

  it('stores every type with every field intact and dead-letters bad records without losing neighbours', async () => {
    const topics = topicNames(uniqueTopicPrefix('e2e'));
    await ensureTopics(brokers(), topics);
    const codec = new AvroCodec(new BuiltInSchemaRegistry());
    const producer = new EventProducer(brokers(), topics, codec);
    await producer.connect();
    const tenant = `${TENANT}-e2e`;
    const good: AgentEvent[] = ALL_SAMPLES.map((e) => ({ ...e, tenant_id: tenant }));
    const encodeSignin = await codec.encoder(topics.byType.signin, 'signin');
    const before = good.filter((e) => e.type === 'signin');
    // Good signins around two bad records on the same partition: garbage bytes and an invalid country.
    await producer.send(before.slice(0, 1));
    await producer.sendRaw([
      {
        topic: topics.byType.signin,
        messages: [
          { key: 'agent-bad-1', value: Buffer.from('not avro at all') },
          { key: 'agent-bad-2', value: encodeSignin({ ...before[0]!, event_id: 'bad-country', country: 'Germany' } as AgentEvent) },
        ],
      },
    ]);
    await producer.send(good.filter((e) => e !== before[0]));
    await producer.disconnect();

    const source = new KafkaSource({ brokers: brokers(), clientId: 'test', groupId: `${topics.deadLetter}-group`, topics, codec, maxBatchRecords: 1000 });
    const runner = runnerFor(store, source, brokers(), topics.deadLetter);
    const done = runner.start();
    await waitFor('all good events stored', async () => (await queryEvents(store, { tenant_id: tenant, limit: 100 })).events.length === good.length);
    await runner.stop();
    await done.catch(() => undefined);

    const page = await queryEvents(store, { tenant_id: tenant, limit: 100 });
    const byId = new Map(page.events.map((e) => [e.event_id as string, e]));
    for (const e of good) expect(byId.get(e.event_id)).toEqual(toJsonRecord(e));
    expect(byId.has('bad-country')).toBe(false);

    // The dead-letter topic holds both bad records with their reasons and origin.
    const consumer = kafkaClient().consumer({ groupId: `${topics.deadLetter}-reader` });
    await consumer.connect();
    await consumer.subscribe({ topic: topics.deadLetter, fromBeginning: true });
    const dead: { key: string; headers: Record<string, string> }[] = [];
    await consumer.run({
      eachMessage: async ({ message }) => {
        const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)]));
        dead.push({ key: String(message.key), headers });
      },
    });
    await waitFor('dead letters', async () => dead.length >= 2);
    await consumer.disconnect();
    expect(dead.map((d) => d.key)).toEqual(['agent-bad-1', 'agent-bad-2']);
    expect(dead[0]!.headers[DLQ_HEADERS.topic]).toBe(topics.byType.signin);
    expect(dead[0]!.headers[DLQ_HEADERS.offset]).toBe('1');
    expect(dead[0]!.headers[DLQ_HEADERS.partition]).toBe('0');
    expect(dead[0]!.headers[DLQ_HEADERS.error]).toMatch(/magic byte/);
    expect(dead[1]!.headers[DLQ_HEADERS.field]).toBe('country');
    expect(dead[1]!.headers[DLQ_HEADERS.error]).toMatch(/ISO 3166/);
  });

  it('leaves exactly one row per event when a stored but uncommitted batch is processed again', async () => {
    const topics = topicNames(uniqueTopicPrefix('crash'));
    await ensureTopics(brokers(), topics);
    const codec = new AvroCodec(new BuiltInSchemaRegistry());
    const producer = new EventProducer(brokers(), topics, codec);
    await producer.connect();
    const tenant = `${TENANT}-crash`;
    const signin = ALL_SAMPLES.find((e) => e.type === 'signin')!;
    const events: AgentEvent[] = Array.from({ length: 300 }, (_, i) => ({ ...signin, tenant_id: tenant, event_id: `crash-${i}`, time: signin.time + i }));
    await producer.send(events.slice(0, 200));
    await producer.disconnect();
    const groupId = `${topics.deadLetter}-group`;

    // First consumer: stores its first batch, then "crashes" before committing.
    const crashing = new KafkaSource({ brokers: brokers(), clientId: 'test', groupId, topics, codec, maxBatchRecords: 1000, retryOnFailure: false });
    const firstRunner = runnerFor(store, crashing, brokers(), topics.deadLetter);
    let crashed = false;
    const firstRun = crashing.run(async (batch) => {
      await firstRunner.handle(batch);
      crashed = true;
      throw new Error('simulated crash after store, before commit');
    });
    await expect(firstRun).rejects.toThrow(/simulated crash/);
    expect(crashed).toBe(true);
    await crashing.stop();
    expect(await storedCount(store, tenant)).toBe(200);

    // More events arrive meanwhile, so the redelivered fetch is cut differently.
    const more = new EventProducer(brokers(), topics, codec);
    await more.connect();
    await more.send(events.slice(200));
    await more.disconnect();

    const restarted = new KafkaSource({ brokers: brokers(), clientId: 'test', groupId, topics, codec, maxBatchRecords: 1000 });
    const runner = runnerFor(store, restarted, brokers(), topics.deadLetter);
    const done = runner.start();
    await waitFor('all 300 events', async () => (await storedCount(store, tenant)) >= 300);
    await new Promise((r) => setTimeout(r, 500));
    await runner.stop();
    await done.catch(() => undefined);

    expect(await storedCount(store, tenant)).toBe(300);
    const dup = await selectRows<{ n: string }>(store, 'SELECT count() AS n FROM (SELECT event_id FROM events WHERE tenant_id = {t:String} GROUP BY event_id HAVING count() > 1)', { t: tenant });
    expect(Number(dup[0]!.n)).toBe(0);
    expect(runner.stats.skippedAsStored).toBe(200);
    expect(await count(store, 'events')).toBeGreaterThanOrEqual(300);
  });
});

async function storedCount(store: ClickHouseClient, tenant: string): Promise<number> {
  const rows = await selectRows<{ n: string }>(store, 'SELECT count() AS n FROM events WHERE tenant_id = {t:String}', { t: tenant });
  return Number(rows[0]!.n);
}

// The Kafka side of publication against the real test broker: the compacted
// agent-risk topic materialises the latest level per agent, and a batch
// republished after a crash (before or after its commit) is seen exactly once
// by read_committed consumers.

import { afterAll, describe, expect, it } from 'vitest';
import { BuiltInSchemaRegistry } from '../../ingest/avro/registry.js';
import { PublishAvroCodec } from '../../publish/avro.js';
import { KafkaRiskPublisher, PublisherFencedError } from '../../publish/kafka-publisher.js';
import { agentKey, parseAgentKey, publishTopicNames } from '../../publish/topics.js';
import type { RiskChange } from '../../detectors/types.js';
import { kafkaBrokers, uniqueTopicPrefix, withAdmin } from '../helpers/kafka.js';
import { detection, readTopic, riskChange } from './helpers.js';

const open: KafkaRiskPublisher[] = [];
afterAll(async () => {
  await Promise.all(open.map((p) => p.disconnect()));
});

function publisher(prefix: string, registry: BuiltInSchemaRegistry, transactionalId: string, hooks?: { beforeCommit?: (token: string) => Promise<void> }) {
  const p = new KafkaRiskPublisher({
    brokers: kafkaBrokers().split(','),
    registry,
    transactionalId,
    topics: publishTopicNames(prefix.replace(/-$/, '')),
    ...(hooks && { hooks }),
  });
  open.push(p);
  return p;
}

async function changeIdCounts(topic: string, codec: PublishAvroCodec, readUncommitted = false): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (const m of await readTopic(topic, { readUncommitted })) {
    const c = await codec.decodeAgentRisk(m.value!);
    counts.set(c.change_id, (counts.get(c.change_id) ?? 0) + 1);
  }
  return counts;
}

describe('KafkaRiskPublisher', () => {
  it('produces Avro AgentRisk to a compacted topic from which a consumer materialises the latest level per agent', async () => {
    const prefix = uniqueTopicPrefix('pub-mat');
    const registry = new BuiltInSchemaRegistry();
    const pub = publisher(prefix, registry, `${prefix}tx`);
    await pub.connect();
    const topics = pub.topics;

    const b1 = [riskChange('t1', 'a1', 'low', 'none'), riskChange('t1', 'a2', 'medium', 'none'), riskChange('t2', 'a1', 'high', 'none')];
    const b2 = [riskChange('t1', 'a1', 'high', 'low'), riskChange('t1', 'a2', 'none', 'medium', { state: 'dismissed' })];
    const b3 = [riskChange('t1', 'a1', 'medium', 'high'), riskChange('t1', 'a/3', 'low', 'none')];
    const d = detection('t1', 'a1');
    expect((await pub.publish({ token: 'kafka:in/0:0-99', riskChanges: b1, detections: [d] })).skipped).toBe(false);
    await pub.publish({ token: 'kafka:in/0:100-199', riskChanges: b2, detections: [] });
    await pub.publish({ token: 'kafka:in/0:200-299', riskChanges: b3, detections: [] });

    const configs = await withAdmin((admin) =>
      admin.describeConfigs({ includeSynonyms: false, resources: [{ type: 2, name: topics.agentRisk, configNames: ['cleanup.policy'] }] }),
    );
    expect(configs.resources[0]?.configEntries.find((e) => e.configName === 'cleanup.policy')?.configValue).toBe('compact');

    // A policy engine's view: the latest record per key is the current risk.
    const codec = new PublishAvroCodec(registry);
    const current = new Map<string, RiskChange>();
    const messages = await readTopic(topics.agentRisk);
    expect(messages).toHaveLength(7);
    for (const m of messages) current.set(m.key!.toString(), await codec.decodeAgentRisk(m.value!));
    const levels = Object.fromEntries([...current].map(([k, v]) => [k, v.level]));
    expect(levels).toEqual({ 't1/a1': 'medium', 't1/a2': 'none', 't2/a1': 'high', 't1/a%2F3': 'low' });
    expect(parseAgentKey('t1/a%2F3')).toEqual({ tenant_id: 't1', agent_id: 'a/3' });
    expect(current.get(agentKey('t1', 'a2'))).toMatchObject({ state: 'dismissed', previous_level: 'medium', reasons: [] });
    // The whole record round-trips.
    expect(current.get('t1/a1')).toEqual(b3[0]);

    const dets = await readTopic(topics.detections);
    expect(dets).toHaveLength(1);
    const decoded = await codec.decodeDetection(dets[0]!.value!);
    expect(decoded).toMatchObject({ detector: 'impossible-travel', tenant_id: 't1', agent_id: 'a1', severity: 'high', event_ids: d.event_ids });
    expect(JSON.parse(decoded.evidence_json)).toEqual(d.evidence);
    expect(decoded.detection_id).toMatch(/^[0-9a-f]{32}$/);
  });

  it('crash before commit: the restarted instance fences the old one and read_committed sees each change once', async () => {
    const prefix = uniqueTopicPrefix('pub-crash1');
    const registry = new BuiltInSchemaRegistry();
    const txId = `${prefix}tx`;
    let hookCalled!: () => void;
    const inHook = new Promise<void>((r) => (hookCalled = r));
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    // Instance A sends its batch and then "hangs" before committing (a crash
    // or a long GC pause: its transaction stays open on the broker).
    const a = publisher(prefix, registry, txId, {
      beforeCommit: async () => {
        hookCalled();
        await released;
      },
    });
    await a.connect();
    const t1 = [riskChange('t1', 'a1', 'high', 'none'), riskChange('t1', 'a2', 'low', 'none')];
    const t2 = [riskChange('t1', 'a1', 'medium', 'high')];
    const aPublish = a.publish({ token: 'b-1', riskChanges: t1, detections: [detection('t1', 'a1')] });
    await inHook;

    // Instance B restarts with the same transactional id; upstream redelivers
    // the unacknowledged batch b-1, then b-2.
    const b = publisher(prefix, registry, txId);
    await b.connect();
    expect(b.isPublished('b-1')).toBe(false);
    expect((await b.publish({ token: 'b-1', riskChanges: t1, detections: [] })).skipped).toBe(false);
    expect((await b.publish({ token: 'b-2', riskChanges: t2, detections: [] })).skipped).toBe(false);

    // The zombie wakes up: its commit is refused.
    release();
    await expect(aPublish).rejects.toBeInstanceOf(PublisherFencedError);
    await expect(a.publish({ token: 'b-3', riskChanges: t2, detections: [] })).rejects.toBeInstanceOf(PublisherFencedError);

    const codec = new PublishAvroCodec(registry);
    const committed = await changeIdCounts(b.topics.agentRisk, codec);
    expect(Object.fromEntries(committed)).toEqual(Object.fromEntries([...t1, ...t2].map((c) => [c.change_id, 1])));
    // The aborted copies are really in the log: an uncommitted reader sees them.
    const raw = await changeIdCounts(b.topics.agentRisk, codec, true);
    expect(raw.get(t1[0]!.change_id)).toBe(2);
    // The detection of the aborted transaction is not visible either.
    expect(await readTopic(b.topics.detections)).toHaveLength(0);
  });

  it('crash after commit, before the upstream ack: a restart skips the tokens already published', async () => {
    const prefix = uniqueTopicPrefix('pub-crash2');
    const registry = new BuiltInSchemaRegistry();
    const txId = `${prefix}tx`;
    const a = publisher(prefix, registry, txId);
    await a.connect();
    const batches = [
      { token: 'kafka:riskstream.signin/0:0-9', riskChanges: [riskChange('t1', 'a1', 'low', 'none')], detections: [detection('t1', 'a1', 'low')] },
      { token: 'kafka:riskstream.signin/0:10-19', riskChanges: [riskChange('t1', 'a1', 'high', 'low'), riskChange('t1', 'a2', 'medium', 'none')], detections: [] },
    ];
    for (const batch of batches) await a.publish(batch);
    await a.disconnect(); // crash: nothing acknowledged upstream

    const b = publisher(prefix, registry, txId);
    await b.connect();
    for (const batch of batches) expect((await b.publish(batch)).skipped).toBe(true);
    const t3 = { token: 'kafka:riskstream.signin/0:20-29', riskChanges: [riskChange('t1', 'a1', 'none', 'high', { state: 'remediated' })], detections: [] };
    expect((await b.publish(t3)).skipped).toBe(false);
    expect((await b.publish(t3)).skipped).toBe(true);

    // Another instance (another transactional id) keeps its own progress.
    const other = publisher(prefix, registry, `${prefix}tx-other`);
    await other.connect();
    expect(other.isPublished(batches[0]!.token)).toBe(false);
    await other.disconnect();

    const codec = new PublishAvroCodec(registry);
    const counts = await changeIdCounts(b.topics.agentRisk, codec, true);
    const all = [...batches.flatMap((x) => x.riskChanges), ...t3.riskChanges];
    expect(Object.fromEntries(counts)).toEqual(Object.fromEntries(all.map((c) => [c.change_id, 1])));
    expect(await readTopic(b.topics.detections)).toHaveLength(1);
  });
});

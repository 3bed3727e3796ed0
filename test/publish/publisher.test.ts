// The whole publish stage as the lead wires it (createPublishStage + buildApi):
// one publish() reaches Kafka, an SSF poll stream and a webhook; publishing
// the same token again (a redelivered batch) adds nothing anywhere.

import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../config/index.js';
import { BuiltInSchemaRegistry } from '../../ingest/avro/registry.js';
import { PublishAvroCodec } from '../../publish/avro.js';
import { loadPublishConfig } from '../../publish/config.js';
import { createPublishStage, type PublishStage } from '../../publish/publisher.js';
import { POLL_METHOD } from '../../publish/ssf/transmitter.js';
import { verifyWebhookSignature } from '../../publish/webhooks/signature.js';
import { kafkaBrokers, uniqueTopicPrefix } from '../helpers/kafka.js';
import { buildTestApi, detection, readTopic, riskChange, startReceiver, type Receiver } from './helpers.js';

let stage: PublishStage | undefined;
let receiver: Receiver | undefined;
let dataDir: string | undefined;
afterAll(async () => {
  await stage?.close();
  await receiver?.close();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

describe('loadPublishConfig', () => {
  it('reads defaults and validates variables', () => {
    expect(loadPublishConfig({})).toMatchObject({ publicUrl: 'http://127.0.0.1:8080', outboundAllowedHosts: [], transactionalId: 'riskstream-publish-0', webhookMaxAttempts: 5 });
    expect(loadPublishConfig({ RISKSTREAM_OUTBOUND_ALLOWED_HOSTS: 'a.example.com, *.corp.example', RISKSTREAM_PUBLIC_URL: 'https://rs.example.com/' })).toMatchObject({
      outboundAllowedHosts: ['a.example.com', '*.corp.example'],
      publicUrl: 'https://rs.example.com',
    });
    expect(() => loadPublishConfig({ RISKSTREAM_OUTBOUND_ALLOWED_HOSTS: 'a/b' })).toThrow(ConfigError);
    expect(() => loadPublishConfig({ RISKSTREAM_PUBLIC_URL: 'ftp://x' })).toThrow(/RISKSTREAM_PUBLIC_URL/);
    expect(() => loadPublishConfig({ RISKSTREAM_WEBHOOK_MAX_ATTEMPTS: '0' })).toThrow(/RISKSTREAM_WEBHOOK_MAX_ATTEMPTS/);
  });
});

describe('createPublishStage', () => {
  it('publishes a batch to Kafka, SSF and webhooks once, also when the batch is published again', async () => {
    const prefix = uniqueTopicPrefix('pub-stage').replace(/-$/, '');
    dataDir = await mkdtemp(path.join(os.tmpdir(), 'riskstream-stage-'));
    receiver = await startReceiver();
    const registry = new BuiltInSchemaRegistry();
    stage = await createPublishStage({
      config: loadPublishConfig({ RISKSTREAM_PUBLIC_URL: 'https://rs.example.test', RISKSTREAM_OUTBOUND_ALLOWED_HOSTS: '127.0.0.1', RISKSTREAM_PUBLISH_TRANSACTIONAL_ID: `${prefix}-tx` }),
      dataDir,
      brokers: kafkaBrokers().split(','),
      topicPrefix: prefix,
      registry,
    });
    await stage.start();
    const s = stage;
    const api = await buildTestApi({ v1Plugins: s.v1Plugins, root: async (app) => void (await app.register(s.publicPlugin)) });
    try {
      expect((await api.app.inject({ method: 'GET', url: '/.well-known/ssf-configuration' })).json()).toMatchObject({ issuer: 'https://rs.example.test' });
      const headers = await api.auth('admin', 'tenant-1');
      const stream = (await api.app.inject({ method: 'POST', url: '/v1/ssf/streams', headers, payload: { delivery: { method: POLL_METHOD } } })).json() as { stream_id: string };
      const hook = (await api.app.inject({ method: 'POST', url: '/v1/webhooks', headers, payload: { url: receiver.url, min_level: 'medium', events: ['risk_change'] } })).json() as { secret: string };

      const batch = { token: 'kafka:riskstream.signin/0:0-499', riskChanges: [riskChange('tenant-1', 'agent-1', 'high', 'none')], detections: [detection('tenant-1', 'agent-1')] };
      expect(await s.publisher.publish(batch)).toMatchObject({ kafka: { skipped: false, riskChanges: 1, detections: 1 }, setsQueued: 1, webhookDeliveries: 1 });
      expect(await s.publisher.publish(batch)).toMatchObject({ kafka: { skipped: true }, setsQueued: 0, webhookDeliveries: 0 });

      await receiver.waitFor(1);
      await s.webhooks.idle();
      expect(receiver.requests).toHaveLength(1);
      const req = receiver.requests[0]!;
      expect(verifyWebhookSignature(hook.secret, req.headers['x-riskstream-timestamp'] as string, req.body, req.headers['x-riskstream-signature'] as string)).toBe(true);

      const polled = (await api.app.inject({ method: 'POST', url: `/v1/ssf/poll/${stream.stream_id}`, headers, payload: { returnImmediately: true } })).json() as { sets: Record<string, string> };
      expect(Object.keys(polled.sets)).toHaveLength(1);

      const codec = new PublishAvroCodec(registry);
      const messages = await readTopic(s.kafka!.topics.agentRisk);
      expect(messages).toHaveLength(1);
      expect(await codec.decodeAgentRisk(messages[0]!.value!)).toEqual(batch.riskChanges[0]);
    } finally {
      await api.app.close();
    }
  });
});

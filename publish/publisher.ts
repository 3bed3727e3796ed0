// The publish stage as the pipeline sees it: `publish({ token, riskChanges,
// detections })`, called after the batch is durable in the ledger and before
// its source is acknowledged.
//
// Order: Kafka first (exactly once per token, see kafka-publisher.ts), then
// the SSF transmitter and the webhooks (queued; delivered asynchronously). If
// any step throws, publish() throws: the caller must not acknowledge the
// batch and must publish it again with the same token. Kafka then skips it;
// the transmitter and the dispatcher skip changes they queued recently (same
// jti / event id), and their receivers can de-duplicate on those ids: SSF and
// webhooks are at-least-once.

import type { FastifyPluginAsync } from 'fastify';
import type { ClickHouseClient } from '@clickhouse/client';
import type { SchemaRegistry } from '../ingest/avro/registry.js';
import { HostAllowlist } from './allowlist.js';
import { loadStateCipher } from './state-cipher.js';
import type { PublishConfig } from './config.js';
import { KafkaRiskPublisher, type KafkaPublishResult, type PublishBatch } from './kafka-publisher.js';
import { ssfManagementPlugin, ssfWellKnownRoutes } from './ssf/routes.js';
import { ClickHouseSsfStateStore } from './ssf/clickhouse-store.js';
import { loadSsfSigningKey } from './ssf/signing-key.js';
import type { SsfStateStore } from './ssf/store.js';
import { SsfTransmitter } from './ssf/transmitter.js';
import { publishTopicNames } from './topics.js';
import { ClickHouseWebhookQueue } from './webhooks/clickhouse-queue.js';
import { ClickHouseWebhookStore } from './webhooks/clickhouse-store.js';
import { ClickHouseDeliveryLog, MemoryDeliveryLog } from './webhooks/delivery-log.js';
import { WebhookDispatcher } from './webhooks/dispatcher.js';
import { webhookPlugin } from './webhooks/routes.js';
import type { WebhookStore } from './webhooks/store.js';

export type { PublishBatch };

export interface PublishReport {
  token: string;
  /** null when no Kafka publisher is configured. */
  kafka: KafkaPublishResult | null;
  /** SETs queued on SSF streams. */
  setsQueued: number;
  /** Webhook deliveries queued. */
  webhookDeliveries: number;
}

export interface PublisherParts {
  kafka?: KafkaRiskPublisher | null;
  ssf?: SsfTransmitter | null;
  webhooks?: WebhookDispatcher | null;
}

export class Publisher {
  constructor(private readonly parts: PublisherParts) {}

  async publish(batch: PublishBatch): Promise<PublishReport> {
    const kafka = this.parts.kafka ? await this.parts.kafka.publish(batch) : null;
    const setsQueued = this.parts.ssf ? await this.parts.ssf.publishRiskChanges(batch.riskChanges) : 0;
    const webhookDeliveries = this.parts.webhooks ? await this.parts.webhooks.dispatch(batch) : 0;
    return { token: batch.token, kafka, setsQueued, webhookDeliveries };
  }
}

export interface PublishStageOptions {
  config: PublishConfig;
  dataDir: string;
  /** Kafka brokers; empty: no Kafka publication (SSF and webhooks still work). */
  brokers: string[];
  /** Topic prefix (default `riskstream`). */
  topicPrefix?: string;
  clientId?: string;
  registry: SchemaRegistry;
  /**
   * When given, webhook attempts are recorded in its `webhook_deliveries` table, and webhook
   * registrations with their pending deliveries and SSF streams with their queues are kept in
   * it across restarts (store migrations 005, 010 and 011), secrets sealed with the state key.
   */
  clickhouse?: ClickHouseClient;
  /** Mount prefix of the authenticated scope (default `/v1`). */
  managementPrefix?: string;
  ssfStore?: SsfStateStore;
  webhookStore?: WebhookStore;
}

export interface PublishStage {
  publisher: Publisher;
  kafka: KafkaRiskPublisher | null;
  transmitter: SsfTransmitter;
  webhooks: WebhookDispatcher;
  /** Register at the root (outside /v1): SSF discovery and JWKS. */
  publicPlugin: FastifyPluginAsync;
  /** Add to ApiOptions.v1Plugins: SSF management + poll, webhook management. */
  v1Plugins: FastifyPluginAsync[];
  /** Connects Kafka (fencing older incarnations) and resumes SSF delivery. */
  start(): Promise<void>;
  close(): Promise<void>;
}

/** Builds the whole publish stage from configuration. */
export async function createPublishStage(opts: PublishStageOptions): Promise<PublishStage> {
  const { config } = opts;
  const allowlist = new HostAllowlist(config.outboundAllowedHosts);
  const signingKey = await loadSsfSigningKey({ dataDir: opts.dataDir, pem: config.ssfSigningKeyPem });
  let { ssfStore, webhookStore } = opts;
  if (opts.clickhouse && (!ssfStore || !webhookStore)) {
    const cipher = await loadStateCipher({ dataDir: opts.dataDir, key: config.stateKey });
    ssfStore ??= new ClickHouseSsfStateStore(opts.clickhouse, cipher);
    webhookStore ??= await ClickHouseWebhookStore.open(opts.clickhouse, cipher);
  }
  const transmitter = new SsfTransmitter({
    issuer: config.publicUrl,
    signingKey,
    pushAllowlist: allowlist,
    managementPrefix: opts.managementPrefix ?? '/v1',
    push: { maxAttempts: config.ssfPushMaxAttempts },
    ...(ssfStore && { store: ssfStore }),
  });
  const webhooks = new WebhookDispatcher({
    allowlist,
    log: opts.clickhouse ? new ClickHouseDeliveryLog(opts.clickhouse) : new MemoryDeliveryLog(),
    maxAttempts: config.webhookMaxAttempts,
    disableAfterFailures: config.webhookDisableAfter,
    ...(webhookStore && { store: webhookStore }),
    ...(opts.clickhouse && { queue: new ClickHouseWebhookQueue(opts.clickhouse) }),
    onError: (err, what) => console.error(`[publish] ${what}: ${(err as Error).message}`),
  });
  const kafka =
    opts.brokers.length > 0
      ? new KafkaRiskPublisher({
          brokers: opts.brokers,
          registry: opts.registry,
          transactionalId: config.transactionalId,
          topics: publishTopicNames(opts.topicPrefix ?? 'riskstream'),
          clientId: opts.clientId ?? 'riskstream-publisher',
          ensureTopics: { partitions: config.partitions },
        })
      : null;
  const publisher = new Publisher({ kafka, ssf: transmitter, webhooks });
  return {
    publisher,
    kafka,
    transmitter,
    webhooks,
    publicPlugin: async (app) => {
      await app.register(ssfWellKnownRoutes, { transmitter });
    },
    v1Plugins: [ssfManagementPlugin(transmitter), webhookPlugin(webhooks)],
    async start() {
      await transmitter.start();
      await webhooks.start();
      if (kafka) await kafka.connect();
    },
    async close() {
      await webhooks.close();
      await transmitter.close();
      if (kafka) await kafka.disconnect();
    },
  };
}

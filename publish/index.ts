// The publish stage: Kafka (exactly once), CAEP over SSF, remediation webhooks.
// See docs/publish.md.

export { HostAllowlist } from './allowlist.js';
export { AGENT_RISK_SCHEMA, DETECTION_SCHEMA, PublishAvroCodec, detectionId, type PublishedDetection } from './avro.js';
export { loadPublishConfig, type PublishConfig } from './config.js';
export {
  KafkaRiskPublisher,
  PublishError,
  PublisherFencedError,
  tokenHash,
  type KafkaPublishResult,
  type KafkaRiskPublisherOptions,
  type PublishBatch,
} from './kafka-publisher.js';
export { Publisher, createPublishStage, type PublishReport, type PublishStage, type PublishStageOptions, type PublisherParts } from './publisher.js';
export { agentKey, ensurePublishTopics, parseAgentKey, publishTopicNames, type PublishTopicNames } from './topics.js';
export {
  CAEP_RISK_LEVEL_CHANGE,
  SSF_VERIFICATION,
  agentSubject,
  caepLevel,
  riskLevelChangeClaims,
  riskLevelChangeEvent,
  riskReason,
  type CaepLevel,
} from './ssf/caep.js';
export { ssfManagementPlugin, ssfManagementRoutes, ssfWellKnownRoutes, type SsfManagementOptions, type SsfWellKnownOptions } from './ssf/routes.js';
export { loadSsfSigningKey, signingKeyFromPem, type SsfSigningKey } from './ssf/signing-key.js';
export { ClickHouseSsfStateStore } from './ssf/clickhouse-store.js';
export { MemorySsfStateStore, type QueuedSet, type SsfStateStore, type StreamRecord, type StreamStatus } from './ssf/store.js';
export { EVENTS_SUPPORTED, POLL_METHOD, PUSH_METHOD, SsfTransmitter, type SsfTransmitterOptions } from './ssf/transmitter.js';
export { WEBHOOK_DELIVERIES_STATEMENTS, CREATE_WEBHOOK_DELIVERIES, webhookDeliveriesMigration } from './webhook-deliveries-sql.js';
export { ClickHouseDeliveryLog, MemoryDeliveryLog, type DeliveryAttempt, type DeliveryLog } from './webhooks/delivery-log.js';
export { WebhookDispatcher, type RegisterWebhookInput, type WebhookDispatcherOptions, type WebhookEnvelope } from './webhooks/dispatcher.js';
export { webhookPlugin, webhookRoutes, type WebhookRoutesOptions } from './webhooks/routes.js';
export { SIGNATURE_HEADER, TIMESTAMP_HEADER, signWebhook, verifyWebhookSignature } from './webhooks/signature.js';
export { ClickHouseWebhookQueue } from './webhooks/clickhouse-queue.js';
export { ClickHouseWebhookStore } from './webhooks/clickhouse-store.js';
export { MemoryWebhookQueue, type QueuedDelivery, type WebhookQueue } from './webhooks/queue.js';
export { MemoryWebhookStore, type Webhook, type WebhookStore } from './webhooks/store.js';
export { loadStateCipher, StateCipher } from './state-cipher.js';
export { seededRandom } from './util.js';

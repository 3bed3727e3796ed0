// Kafka topics of the publish stage and their message keys.
//
// - `<prefix>.agent-risk`        compacted; key = agent key; value = Avro AgentRisk
// - `<prefix>.detections`        delete (time retention); key = agent key; value = Avro Detection
// - `<prefix>.publish-progress`  compacted, 1 partition; key = transactional id;
//                                value = JSON of the batch tokens already published

import { Kafka, logLevel } from 'kafkajs';

export interface PublishTopicNames {
  agentRisk: string;
  detections: string;
  progress: string;
}

export function publishTopicNames(prefix = 'riskstream'): PublishTopicNames {
  return {
    agentRisk: `${prefix}.agent-risk`,
    detections: `${prefix}.detections`,
    progress: `${prefix}.publish-progress`,
  };
}

/** Percent-encodes the two characters that would make a key ambiguous. */
function keyPart(s: string): string {
  return s.replace(/%/g, '%25').replace(/\//g, '%2F');
}

/**
 * The message key of an agent on `agent-risk` and `detections`:
 * `<tenant_id>/<agent_id>`, with `%` and `/` inside either id percent-encoded
 * (`%25`, `%2F`), so that the key is unique per (tenant, agent) and, for the
 * usual GUID ids, reads as the plain pair.
 */
export function agentKey(tenantId: string, agentId: string): string {
  return `${keyPart(tenantId)}/${keyPart(agentId)}`;
}

/** Inverse of {@link agentKey}. */
export function parseAgentKey(key: string): { tenant_id: string; agent_id: string } {
  const i = key.indexOf('/');
  if (i < 0) throw new Error(`not an agent key: ${JSON.stringify(key)}`);
  return { tenant_id: decodeURIComponent(key.slice(0, i)), agent_id: decodeURIComponent(key.slice(i + 1)) };
}

export interface EnsurePublishTopicsOptions {
  /** Partitions of agent-risk and detections (default 1). The progress topic always has 1. */
  partitions?: number;
  replicationFactor?: number;
  clientId?: string;
}

/** Creates the publish topics when missing (existing topics are left as they are). */
export async function ensurePublishTopics(brokers: string[], topics: PublishTopicNames, opts: EnsurePublishTopicsOptions = {}): Promise<void> {
  const kafka = new Kafka({ clientId: opts.clientId ?? 'riskstream-publish-admin', brokers, logLevel: logLevel.WARN });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const replicationFactor = opts.replicationFactor ?? 1;
    const specs = [
      { topic: topics.agentRisk, numPartitions: opts.partitions ?? 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
      { topic: topics.detections, numPartitions: opts.partitions ?? 1, configEntries: [{ name: 'cleanup.policy', value: 'delete' }] },
      { topic: topics.progress, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] },
    ].filter((s) => !existing.has(s.topic));
    if (specs.length > 0) {
      await admin.createTopics({ waitForLeaders: true, topics: specs.map((s) => ({ ...s, replicationFactor })) });
    }
    await admin.fetchTopicMetadata({ topics: [topics.agentRisk, topics.detections, topics.progress] });
  } finally {
    await admin.disconnect();
  }
}

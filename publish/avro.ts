// Avro schemas of what the publish stage produces, and their codec in the
// Confluent wire format (magic byte 0, 4-byte big-endian schema id, Avro
// binary body). Schemas are registered through the SchemaRegistry interface
// under the topic's value subject (TopicNameStrategy), like the input topics.

import { createHash } from 'node:crypto';
import avro from 'avsc';
import { RISK_LEVELS } from '../contract/events.js';
import type { Detection, RiskChange, RiskState } from '../detectors/types.js';
import { valueSubject, type AvroSchemaJson, type SchemaRegistry } from '../ingest/avro/registry.js';

const timestampMillis = { type: 'long', logicalType: 'timestamp-millis' };
const RISK_STATES: readonly RiskState[] = ['none', 'atRisk', 'confirmedCompromised', 'confirmedSafe', 'dismissed', 'remediated'];
const SEVERITIES = ['low', 'medium', 'high'] as const;

/** `io.riskstream.publish.AgentRisk`: one risk change of one agent (value of `riskstream.agent-risk`). */
export const AGENT_RISK_SCHEMA: AvroSchemaJson = {
  type: 'record',
  name: 'AgentRisk',
  namespace: 'io.riskstream.publish',
  doc: 'A change of an agent identity\'s risk level or state. The latest record per key is the agent\'s current risk.',
  fields: [
    { name: 'tenant_id', type: 'string' },
    { name: 'agent_id', type: 'string' },
    { name: 'level', type: { type: 'enum', name: 'RiskLevel', symbols: [...RISK_LEVELS], default: 'none' } },
    { name: 'previous_level', type: 'RiskLevel' },
    { name: 'score', type: 'double' },
    { name: 'state', type: { type: 'enum', name: 'RiskState', symbols: [...RISK_STATES], default: 'none' } },
    {
      name: 'reasons',
      type: {
        type: 'array',
        items: {
          type: 'record',
          name: 'RiskReason',
          fields: [
            { name: 'detector', type: 'string' },
            { name: 'severity', type: { type: 'enum', name: 'Severity', symbols: [...SEVERITIES], default: 'low' } },
            { name: 'summary', type: 'string' },
          ],
        },
      },
    },
    { name: 'time', type: timestampMillis, doc: 'Event time of the change (epoch ms)' },
    { name: 'change_id', type: 'string', doc: 'Stable id of the change; the de-duplication key' },
  ],
};

/** `io.riskstream.publish.Detection`: one detection (value of `riskstream.detections`). */
export const DETECTION_SCHEMA: AvroSchemaJson = {
  type: 'record',
  name: 'Detection',
  namespace: 'io.riskstream.publish',
  doc: 'A detection raised by a detector. evidence_json is the Evidence object as JSON text.',
  fields: [
    { name: 'detection_id', type: 'string', doc: 'Deterministic id (SHA-256 of tenant, agent, detector, time, event ids)' },
    { name: 'tenant_id', type: 'string' },
    { name: 'agent_id', type: 'string' },
    { name: 'detector', type: 'string' },
    { name: 'severity', type: { type: 'enum', name: 'Severity', symbols: [...SEVERITIES], default: 'low' } },
    { name: 'time', type: timestampMillis },
    { name: 'summary', type: 'string' },
    { name: 'evidence_json', type: 'string' },
    { name: 'event_ids', type: { type: 'array', items: 'string' } },
  ],
};

/** Wire value of a decoded `Detection` record. */
export interface PublishedDetection {
  detection_id: string;
  tenant_id: string;
  agent_id: string;
  detector: string;
  severity: Detection['severity'];
  time: number;
  summary: string;
  evidence_json: string;
  event_ids: string[];
}

/** A deterministic id of a detection, stable across re-publication. */
export function detectionId(d: Detection): string {
  const h = createHash('sha256');
  for (const part of [d.tenant_id, d.agent_id, d.detector, String(d.time), ...d.event_ids]) h.update(part).update('\u0000');
  return h.digest('hex').slice(0, 32);
}

const MAGIC_BYTE = 0;
const HEADER_BYTES = 5;

function frame(id: number): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  header[0] = MAGIC_BYTE;
  header.writeUInt32BE(id, 1);
  return header;
}

/** Encodes/decodes the publish records; call `prepare(topics)` before encoding. */
export class PublishAvroCodec {
  private readonly agentRiskType = avro.Type.forSchema(AGENT_RISK_SCHEMA as avro.Schema);
  private readonly detectionType = avro.Type.forSchema(DETECTION_SCHEMA as avro.Schema);
  private agentRiskHeader: Buffer | null = null;
  private detectionHeader: Buffer | null = null;
  private readonly readers = new Map<string, Promise<(body: Buffer) => unknown>>();

  constructor(private readonly registry: SchemaRegistry) {}

  /** Registers both schemas under the value subjects of the topics. */
  async prepare(topics: { agentRisk: string; detections: string }): Promise<void> {
    this.agentRiskHeader = frame(await this.registry.register(valueSubject(topics.agentRisk), AGENT_RISK_SCHEMA));
    this.detectionHeader = frame(await this.registry.register(valueSubject(topics.detections), DETECTION_SCHEMA));
  }

  encodeAgentRisk(c: RiskChange): Buffer {
    if (!this.agentRiskHeader) throw new Error('PublishAvroCodec.prepare() was not called');
    const record = {
      tenant_id: c.tenant_id,
      agent_id: c.agent_id,
      level: c.level,
      previous_level: c.previous_level,
      score: c.score,
      state: c.state,
      reasons: c.reasons.map((r) => ({ detector: r.detector, severity: r.severity, summary: r.summary })),
      time: c.time,
      change_id: c.change_id,
    };
    return Buffer.concat([this.agentRiskHeader, this.agentRiskType.toBuffer(record)]);
  }

  encodeDetection(d: Detection): Buffer {
    if (!this.detectionHeader) throw new Error('PublishAvroCodec.prepare() was not called');
    const record: PublishedDetection = {
      detection_id: detectionId(d),
      tenant_id: d.tenant_id,
      agent_id: d.agent_id,
      detector: d.detector,
      severity: d.severity,
      time: d.time,
      summary: d.summary,
      evidence_json: JSON.stringify(d.evidence),
      event_ids: [...d.event_ids],
    };
    return Buffer.concat([this.detectionHeader, this.detectionType.toBuffer(record)]);
  }

  /** Decodes an AgentRisk value written with any registered version of the schema. */
  async decodeAgentRisk(value: Buffer): Promise<RiskChange> {
    return (await this.decode(value, this.agentRiskType)) as RiskChange;
  }

  async decodeDetection(value: Buffer): Promise<PublishedDetection> {
    return (await this.decode(value, this.detectionType)) as PublishedDetection;
  }

  private async decode(value: Buffer, readerType: avro.Type): Promise<unknown> {
    if (value.length < HEADER_BYTES || value[0] !== MAGIC_BYTE) throw new Error('value is not in the Confluent wire format');
    const id = value.readUInt32BE(1);
    const key = `${readerType.name ?? ''}:${id}`;
    let reader = this.readers.get(key);
    if (!reader) {
      reader = this.registry.getById(id).then((schema) => {
        const writerType = avro.Type.forSchema(schema as avro.Schema);
        const resolver = readerType.createResolver(writerType);
        return (body: Buffer) => readerType.fromBuffer(body, resolver, false);
      });
      reader.catch(() => this.readers.delete(key));
      this.readers.set(key, reader);
    }
    const read = await reader;
    const out = read(value.subarray(HEADER_BYTES)) as Record<string, unknown>;
    // avsc returns records as class instances; hand out plain objects.
    return JSON.parse(JSON.stringify(out));
  }
}

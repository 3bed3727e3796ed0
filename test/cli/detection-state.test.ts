// Detector baselines across a clean restart on Kafka (real broker, embedded
// ClickHouse): an agent that learned its resources before the restart is
// flagged for an unfamiliar one right after it, as if it had never stopped —
// and the saved state is used only when the group resumes exactly where the
// state left off. The state file's own format is checked on its own first.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { startRiskstream, type Riskstream } from '../../cli/app.js';
import { DETECTION_STATE_FILE, loadDetectionState, restoreDetectionState, resumesAfter, saveDetectionState } from '../../cli/detection-state.js';
import { loadConfig } from '../../config/index.js';
import type { AgentEvent, SigninEvent } from '../../contract/events.js';
import { DetectionPipeline } from '../../detectors/pipeline.js';
import { AvroCodec } from '../../ingest/avro/codec.js';
import { BuiltInSchemaRegistry } from '../../ingest/avro/registry.js';
import { EventProducer } from '../../ingest/kafka-producer.js';
import { topicNames } from '../../ingest/topics.js';
import { kafkaBrokers, uniqueTopicPrefix, withAdmin } from '../helpers/kafka.js';
import { testDataDir } from '../store/helpers.js';

const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);
const MIN = 60_000;
const TENANT = 'contoso';

let n = 0;
function signin(time: number, resource: string): SigninEvent {
  return {
    type: 'signin', event_id: `si-${++n}`, time, tenant_id: TENANT, agent_id: 'agent-1', agent_type: 'agent_identity', blueprint_id: 'bp-1',
    flow: 'client_credentials', user_id: null, credential_id: 'cred-1', credential_type: 'certificate', ip: '20.0.0.1', asn: 8075,
    country: 'US', lat: 38.9, lon: -77.0, user_agent: 'azsdk-js-identity/1.2.0', resource, result: 'success', error_code: null,
  };
}

/** 30 sign-ins to one resource over 45 minutes: enough history for the agent's own baseline. */
const WARMUP: AgentEvent[] = Array.from({ length: 30 }, (_, i) => signin(T0 + i * 90_000, 'https://graph.microsoft.com'));
const UNFAMILIAR = signin(T0 + 50 * MIN, 'https://vault.azure.net');

describe('the state file', () => {
  let dir: string;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('round-trips a pipeline snapshot with its positions, and restores only when the source resumes right after them', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'riskstream-state-'));
    const file = path.join(dir, DETECTION_STATE_FILE);
    const learned = new DetectionPipeline();
    learned.processBatch(WARMUP);
    const positions = new Map([['kafka:t.signin/0', 29]]);
    await saveDetectionState(file, { identity: 'kafka:g:t.signin', positions, snapshot: learned.snapshot() });
    const loaded = await loadDetectionState(file);
    expect(loaded).toMatchObject({ identity: 'kafka:g:t.signin', positions });
    expect(JSON.parse(JSON.stringify(loaded!.snapshot))).toEqual(JSON.parse(JSON.stringify(learned.snapshot())));

    expect(resumesAfter(positions, new Map([['kafka:t.signin/0', 30]]))).toBe(true);
    expect(resumesAfter(positions, new Map([['kafka:t.signin/0', 31], ['kafka:t.token/0', 5]]))).toBe(false);
    expect(resumesAfter(positions, new Map())).toBe(false);
    expect(resumesAfter(new Map(), new Map([['kafka:t.signin/0', 30]]))).toBe(false);

    // Another stream's state, or a source that moved on: a fresh pipeline, and the file is gone.
    const other = await restoreDetectionState(() => new DetectionPipeline(), { file, identity: 'kafka:other:t.signin', resumePoints: async () => new Map([['kafka:t.signin/0', 30]]) });
    expect(other.outcome).toEqual({ restored: false, reason: 'other stream', detail: 'kafka:g:t.signin' });
    expect(other.detection.directory.size).toBe(0);
    expect(await loadDetectionState(file)).toBeNull();

    await saveDetectionState(file, { identity: 'kafka:g:t.signin', positions, snapshot: learned.snapshot() });
    const moved = await restoreDetectionState(() => new DetectionPipeline(), { file, identity: 'kafka:g:t.signin', resumePoints: async () => new Map([['kafka:t.signin/0', 35]]) });
    expect(moved.outcome).toEqual({ restored: false, reason: 'source moved on' });

    await saveDetectionState(file, { identity: 'kafka:g:t.signin', positions, snapshot: learned.snapshot() });
    const ok = await restoreDetectionState(() => new DetectionPipeline(), { file, identity: 'kafka:g:t.signin', resumePoints: async () => new Map([['kafka:t.signin/0', 30]]) });
    expect(ok.outcome).toEqual({ restored: true, agents: 1, positions: 1 });
    expect(ok.positions).toEqual(positions);
    expect(ok.detection.process(UNFAMILIAR).detections.map((d) => d.detector)).toEqual(['unfamiliar-resource']);

    // Garbage is set aside, not fatal.
    await writeFile(file, gzipSync('{"format":"something else"}\n'));
    const bad = await restoreDetectionState(() => new DetectionPipeline(), { file, identity: 'kafka:g:t.signin', resumePoints: async () => new Map() });
    expect(bad.outcome).toMatchObject({ restored: false, reason: 'unreadable' });
    expect(await loadDetectionState(file)).toBeNull();
  });
});

/** A riskstream config on topics and a consumer group of its own (one embedded engine per process: same data directory). */
function kafkaSetup(label: string) {
  const prefix = uniqueTopicPrefix(label).replace(/-$/, '');
  const config = loadConfig({
    RISKSTREAM_DATA_DIR: testDataDir(),
    RISKSTREAM_PORT: '0',
    RISKSTREAM_LOG_LEVEL: 'warn',
    CLICKHOUSE_DATABASE: 'cli_detection_state',
    KAFKA_BROKERS: kafkaBrokers(),
    KAFKA_TOPIC_PREFIX: prefix,
    KAFKA_GROUP_ID: `${prefix}-group`,
  });
  const topics = topicNames(prefix);
  async function produce(events: AgentEvent[]): Promise<void> {
    const producer = new EventProducer(config.kafka.brokers, topics, new AvroCodec(new BuiltInSchemaRegistry()));
    await producer.connect();
    await producer.send(events);
    await producer.disconnect();
  }
  return { config, topics, produce };
}

async function consumed(run: Riskstream, events: number): Promise<void> {
  const until = Date.now() + 60_000;
  while (run.runner.stats.events < events) {
    if (run.runner.state === 'failed') throw run.runner.failure;
    if (Date.now() > until) throw new Error(`consumed ${run.runner.stats.events} of ${events} events`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a clean restart on Kafka', { timeout: 120_000 }, () => {
  let rs: Riskstream | undefined;
  afterAll(async () => {
    await rs?.stop();
  });

  it('carries the baselines over, and only when the group resumes where the state left off', async () => {
    const { config, topics, produce } = kafkaSetup('state');
    // The control: without the learned baseline the same event is not flagged.
    expect(new DetectionPipeline().process(UNFAMILIAR).detections).toEqual([]);

    rs = await startRiskstream(config, { api: false });
    expect(rs.detectionState).toEqual({ restored: false, reason: 'none' });
    await produce(WARMUP);
    await consumed(rs, WARMUP.length);
    await rs.stop();
    rs = undefined;

    await produce([UNFAMILIAR]);
    rs = await startRiskstream(config, { api: false });
    expect(rs.detectionState).toEqual({ restored: true, agents: 1, positions: 1 });
    await consumed(rs, 1);
    expect(rs.detection.risk(TENANT, 'agent-1')).toMatchObject({ level: 'low', reasons: [{ detector: 'unfamiliar-resource' }] });
    await rs.stop();
    rs = undefined;

    // Someone moves the group's offsets on while riskstream is down: the saved state no longer fits.
    await withAdmin((admin) => admin.setOffsets({ groupId: config.kafka.groupId, topic: topics.byType.signin, partitions: [{ partition: 0, offset: '0' }] }));
    rs = await startRiskstream(config, { api: false });
    expect(rs.detectionState).toEqual({ restored: false, reason: 'source moved on' });
    await rs.stop();
    rs = undefined;
  });

  it('keeps the positions of partitions a run did not read, so a later move of them is still noticed', async () => {
    const { config, topics, produce } = kafkaSetup('state-merge');
    await rm(path.join(config.dataDir, DETECTION_STATE_FILE), { force: true });
    const token = (time: number): AgentEvent => ({
      type: 'token', event_id: `tk-${++n}`, time, tenant_id: TENANT, agent_id: 'agent-1', blueprint_id: 'bp-1', token_id: `tok-${n}`,
      flow: 'client_credentials', user_id: null, resource: 'https://graph.microsoft.com', scopes: ['User.Read'], ip: '20.0.0.1', lifetime_s: 3600, decision: 'granted',
    });

    // Run 1 reads sign-ins; run 2 only tokens (the sign-in partition has nothing new).
    rs = await startRiskstream(config, { api: false });
    await produce(WARMUP.slice(0, 5));
    await consumed(rs, 5);
    await rs.stop();
    await produce([token(T0 + 10 * MIN)]);
    rs = await startRiskstream(config, { api: false });
    expect(rs.detectionState).toEqual({ restored: true, agents: 1, positions: 1 });
    await consumed(rs, 1);
    await rs.stop();

    // The state saved by run 2 still covers the sign-in partition: moving it is noticed.
    await withAdmin((admin) => admin.setOffsets({ groupId: config.kafka.groupId, topic: topics.byType.signin, partitions: [{ partition: 0, offset: '2' }] }));
    rs = await startRiskstream(config, { api: false });
    expect(rs.detectionState).toEqual({ restored: false, reason: 'source moved on' });
  });
});

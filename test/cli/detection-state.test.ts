// Detector baselines across a clean restart on Kafka (real broker, embedded
// ClickHouse): an agent that learned its resources before the restart is
// flagged for an unfamiliar one right after it, as if it had never stopped —
// and the saved state is used only when the group resumes exactly where the
// state left off. The state file's own format is checked on its own first.

import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { startRiskstream, type Riskstream } from '../../cli/app.js';
import { DETECTION_STATE_FILE, loadDetectionState, restoreDetectionState, resumePlan, saveDetectionState } from '../../cli/detection-state.js';
import { loadConfig } from '../../config/index.js';
import type { AgentEvent, SigninEvent } from '../../contract/events.js';
import { DetectionPipeline } from '../../detectors/pipeline.js';
import { AvroCodec } from '../../ingest/avro/codec.js';
import { BuiltInSchemaRegistry } from '../../ingest/avro/registry.js';
import { EventProducer } from '../../ingest/kafka-producer.js';
import { topicNames } from '../../ingest/topics.js';
import { kafkaBrokers, uniqueTopicPrefix, withAdmin } from '../helpers/kafka.js';
import { openTestClient, selectRows, testDataDir } from '../store/helpers.js';
import { LedgerWriter } from '../../store/ledger-writer.js';

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

/**
 * 45 sign-ins to one resource over 45 minutes: enough history for the agent's
 * own baseline, and enough accesses (40) for a lone new resource to be
 * confirmed medium 10 minutes on.
 */
const WARMUP: AgentEvent[] = Array.from({ length: 45 }, (_, i) => signin(T0 + i * MIN, 'https://graph.microsoft.com'));
const UNFAMILIAR = signin(T0 + 50 * MIN, 'https://vault.azure.net');

describe('the state file', () => {
  let dir: string;
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('round-trips a pipeline snapshot with its positions, and lines the source up with it', async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'riskstream-state-'));
    const file = path.join(dir, DETECTION_STATE_FILE);
    const learned = new DetectionPipeline();
    learned.processBatch(WARMUP);
    const positions = new Map([['kafka:t.signin/0', 29]]);
    await saveDetectionState(file, { identity: 'kafka:g:t.signin', positions, takenAt: T0, snapshot: learned.snapshot() });
    const loaded = await loadDetectionState(file);
    expect(loaded).toMatchObject({ identity: 'kafka:g:t.signin', positions, takenAt: T0 });
    expect(JSON.parse(JSON.stringify(loaded!.snapshot))).toEqual(JSON.parse(JSON.stringify(learned.snapshot())));

    // Right after the state: nothing to do. Later: read again from after it. Earlier: skip what it has seen.
    const none = { seekTo: new Map(), skipUpTo: new Map() };
    expect(resumePlan(positions, new Map([['kafka:t.signin/0', 30]]))).toEqual(none);
    expect(resumePlan(positions, new Map([['kafka:t.signin/0', 31], ['kafka:t.token/0', 5]]))).toEqual({ ...none, seekTo: new Map([['kafka:t.signin/0', 30]]) });
    expect(resumePlan(positions, new Map([['kafka:t.signin/0', 12]]))).toEqual({ ...none, skipUpTo: new Map([['kafka:t.signin/0', 29]]) });
    expect(resumePlan(positions, new Map())).toBeNull();
    expect(resumePlan(new Map(), new Map([['kafka:t.signin/0', 30]]))).toBeNull();

    // Another stream's state, or a source that lost its place: a fresh pipeline, and the file is gone.
    const other = await restoreDetectionState(() => new DetectionPipeline(), { file, identity: 'kafka:other:t.signin', resumePoints: async () => new Map([['kafka:t.signin/0', 30]]) });
    expect(other.outcome).toEqual({ restored: false, reason: 'other stream', detail: 'kafka:g:t.signin' });
    expect(other.detection.directory.size).toBe(0);
    expect(await loadDetectionState(file)).toBeNull();

    await saveDetectionState(file, { identity: 'kafka:g:t.signin', positions, takenAt: T0, snapshot: learned.snapshot() });
    const lost = await restoreDetectionState(() => new DetectionPipeline(), { file, identity: 'kafka:g:t.signin', resumePoints: async () => new Map() });
    expect(lost.outcome).toEqual({ restored: false, reason: 'no resume point' });

    await saveDetectionState(file, { identity: 'kafka:g:t.signin', positions, takenAt: T0, snapshot: learned.snapshot() });
    const later = await restoreDetectionState(() => new DetectionPipeline(), { file, identity: 'kafka:g:t.signin', resumePoints: async () => new Map([['kafka:t.signin/0', 35]]) });
    expect(later.outcome).toEqual({ restored: true, agents: 1, positions: 1, sought: 1, skipping: 0 });
    expect(later.seekTo).toEqual(new Map([['kafka:t.signin/0', 30]]));

    await saveDetectionState(file, { identity: 'kafka:g:t.signin', positions, takenAt: T0, snapshot: learned.snapshot() });
    const ok = await restoreDetectionState(() => new DetectionPipeline(), { file, identity: 'kafka:g:t.signin', resumePoints: async () => new Map([['kafka:t.signin/0', 30]]) });
    expect(ok.outcome).toEqual({ restored: true, agents: 1, positions: 1, sought: 0, skipping: 0 });
    expect(ok.positions).toEqual(positions);
    expect(ok.takenAt).toBe(T0);
    expect(ok.detection.process(UNFAMILIAR).detections.map((d) => d.detector)).toEqual(['unfamiliar-resource']);

    // Garbage is set aside, not fatal.
    await writeFile(file, gzipSync('{"format":"something else"}\n'));
    const bad = await restoreDetectionState(() => new DetectionPipeline(), { file, identity: 'kafka:g:t.signin', resumePoints: async () => new Map() });
    expect(bad.outcome).toMatchObject({ restored: false, reason: 'unreadable' });
    expect(await loadDetectionState(file)).toBeNull();
  });
});

/** A riskstream config on topics and a consumer group of its own (one embedded engine per process: same data directory). */
function kafkaSetup(label: string, env: Record<string, string> = {}) {
  const prefix = uniqueTopicPrefix(label).replace(/-$/, '');
  const config = loadConfig({
    RISKSTREAM_DATA_DIR: testDataDir(),
    RISKSTREAM_PORT: '0',
    RISKSTREAM_LOG_LEVEL: 'warn',
    CLICKHOUSE_DATABASE: 'cli_detection_state',
    KAFKA_BROKERS: kafkaBrokers(),
    KAFKA_TOPIC_PREFIX: prefix,
    KAFKA_GROUP_ID: `${prefix}-group`,
    ...env,
  });
  const topics = topicNames(prefix);
  async function produce(events: AgentEvent[]): Promise<void> {
    const producer = new EventProducer(config.kafka.brokers, topics, new AvroCodec(new BuiltInSchemaRegistry()));
    await producer.connect();
    await producer.send(events);
    await producer.disconnect();
  }
  return { config, topics, produce, stateFile: path.join(config.dataDir, DETECTION_STATE_FILE) };
}

/** Waits until the run has stored `events` new events and skipped `skipped` already stored ones. */
async function consumed(run: Riskstream, events: number, skipped = 0): Promise<void> {
  const until = Date.now() + 60_000;
  while (run.runner.stats.events < events || run.runner.stats.skippedAsStored < skipped) {
    if (run.runner.state === 'failed') throw run.runner.failure;
    if (Date.now() > until) throw new Error(`stored ${run.runner.stats.events} of ${events} events, skipped ${run.runner.stats.skippedAsStored} of ${skipped}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function until(what: string, check: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + 30_000;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('restarts on Kafka', { timeout: 120_000 }, () => {
  let rs: Riskstream | undefined;
  afterAll(async () => {
    await rs?.stop();
  });

  it('carries the baselines over a clean stop, and skips what the state has seen when offsets move back', async () => {
    const { config, topics, produce, stateFile } = kafkaSetup('state');
    await rm(stateFile, { force: true });
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
    expect(rs.detectionState).toEqual({ restored: true, agents: 1, positions: 1, sought: 0, skipping: 0 });
    await consumed(rs, 1);
    expect(rs.detection.risk(TENANT, 'agent-1')).toMatchObject({ level: 'low', reasons: [{ detector: 'unfamiliar-resource' }] });
    await rs.stop();
    rs = undefined;

    // The group's offsets are moved back to the start while riskstream is down: every record
    // comes again, all of them stored and all of them in the state: nothing is detected twice.
    await withAdmin((admin) => admin.setOffsets({ groupId: config.kafka.groupId, topic: topics.byType.signin, partitions: [{ partition: 0, offset: '0' }] }));
    rs = await startRiskstream(config, { api: false });
    expect(rs.detectionState).toEqual({ restored: true, agents: 1, positions: 1, sought: 0, skipping: 1 });
    await consumed(rs, 0, WARMUP.length + 1);
    expect(rs.runner.stats.detections).toBe(0);
    expect(rs.detection.stats().events).toBe(WARMUP.length + 1);
    await rs.stop();
    rs = undefined;
  });

  it('after a crash, reads again what was acknowledged since the last checkpoint, for detection only', async () => {
    const { config, produce, stateFile } = kafkaSetup('state-crash', { RISKSTREAM_STATE_CHECKPOINT_MS: '1' });
    await rm(stateFile, { force: true });
    const atCheckpoint = `${stateFile}.at-checkpoint`;
    // After the warm-up, the agent starts using the vault: new to it, and then familiar.
    const VAULT = [1, 2, 3].map((i) => signin(T0 + (45 + i) * MIN, 'https://vault.azure.net'));
    const LATER = signin(T0 + 60 * MIN, 'https://vault.azure.net');

    rs = await startRiskstream(config, { api: false });
    await produce(WARMUP);
    await consumed(rs, WARMUP.length);
    await until('the checkpoint after the warm-up', async () => (await loadDetectionState(stateFile).catch(() => null))?.positions.values().next().value === WARMUP.length - 1);
    await copyFile(stateFile, atCheckpoint);
    await produce(VAULT);
    await consumed(rs, WARMUP.length + VAULT.length);
    expect(rs.runner.stats.detections).toBe(1); // the first vault access: unfamiliar
    await rs.stop();
    rs = undefined;
    // An admin confirms the agent compromised after the checkpoint (recorded in the ledger, as the API does).
    const store = await openTestClient(config.clickhouse.database);
    await new LedgerWriter(store).writeBatch({
      token: 'admin:state-crash',
      adminActions: [{ action_id: 'act-1', tenant_id: TENANT, agent_id: 'agent-1', action: 'confirm_compromised', actor: 'soc@contoso', reason: 'test', time: Date.now() }],
    });
    await store.close();
    // A crash right after the first checkpoint: the later checkpoints and the clean stop's save never happened.
    await copyFile(atCheckpoint, stateFile);

    await produce([LATER]);
    rs = await startRiskstream(config, { api: false });
    expect(rs.detectionState).toEqual({ restored: true, agents: 1, positions: 1, sought: 1, skipping: 0 });
    await consumed(rs, 1, VAULT.length);
    // The vault accesses were read again (not stored again) and taught the state: the later one is
    // familiar. The one detection is the first access confirmed (medium) 10 minutes on, which the
    // crashed run never reached: no other agent of the blueprint took the vault up.
    expect(rs.runner.stats.detections).toBe(1);
    // The admin action after the checkpoint is not in the stream: it was applied again.
    expect(rs.detection.risk(TENANT, 'agent-1')).toMatchObject({ level: 'high', state: 'confirmedCompromised' });
    // Without reading them again it would have been flagged.
    const checkpoint = await loadDetectionState(atCheckpoint);
    const stale = new DetectionPipeline();
    stale.restore(checkpoint!.snapshot);
    expect(stale.process(LATER).detections.map((d) => d.detector)).toEqual(['unfamiliar-resource']);
    await rs.stop();
    rs = undefined;
    // In the ledger, once each: the first access (low) and its confirmation (medium), both on its event.
    const ledger = await openTestClient(config.clickhouse.database);
    const rows = await selectRows<{ detector: string; severity: string }>(
      ledger,
      'SELECT detector, severity FROM detections WHERE tenant_id = {t:String} AND agent_id = {a:String} AND has(event_ids, {id:String}) ORDER BY time, severity',
      { t: TENANT, a: 'agent-1', id: VAULT[0]!.event_id },
    );
    await ledger.close();
    expect(rows).toEqual([
      { detector: 'unfamiliar-resource', severity: 'low' },
      { detector: 'unfamiliar-resource', severity: 'medium' },
    ]);
  });

  it('keeps the positions of partitions a run did not read', async () => {
    const { config, topics, produce, stateFile } = kafkaSetup('state-merge');
    await rm(stateFile, { force: true });
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
    expect(rs.detectionState).toEqual({ restored: true, agents: 1, positions: 1, sought: 0, skipping: 0 });
    await consumed(rs, 1);
    await rs.stop();

    // The state saved by run 2 still covers the sign-in partition: moved back, its records are skipped.
    await withAdmin((admin) => admin.setOffsets({ groupId: config.kafka.groupId, topic: topics.byType.signin, partitions: [{ partition: 0, offset: '2' }] }));
    rs = await startRiskstream(config, { api: false });
    expect(rs.detectionState).toEqual({ restored: true, agents: 1, positions: 2, sought: 0, skipping: 1 });
  });
});

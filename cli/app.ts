// Composition root: builds the whole pipeline from configuration. With no
// configuration it runs on embedded defaults: a generated fleet as the source,
// in-process ClickHouse under ./data, the API on 127.0.0.1:8080.

import path from 'node:path';
import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Config } from '../config/index.js';
import { DetectionPipeline } from '../detectors/pipeline.js';
import { liveEventStream } from '../fixtures/live.js';
import { AvroCodec } from '../ingest/avro/codec.js';
import { createSchemaRegistry } from '../ingest/avro/registry.js';
import { FileDeadLetterSink, KafkaDeadLetterSink } from '../ingest/dead-letter.js';
import { GeneratorSource } from '../ingest/generator-source.js';
import { KafkaSource } from '../ingest/kafka-source.js';
import { ensureTopics } from '../ingest/kafka-producer.js';
import { NdjsonSource } from '../ingest/ndjson-source.js';
import type { DeadLetterSink, Source } from '../ingest/source.js';
import { topicNames } from '../ingest/topics.js';
import { loadSigningKey, TokenAuthority } from '../api/auth.js';
import { buildApi } from '../api/server.js';
import { riskRoutes } from '../api/routes/risk.js';
import { RiskView } from '../publish/risk-view.js';
import { adminActionsSince, latestRiskPerAgent, latestUserRisk } from '../store/risk-queries.js';
import { createPublishStage } from '../publish/publisher.js';
import { openClickHouse, ping } from '../store/clickhouse.js';
import { LedgerWriter } from '../store/ledger-writer.js';
import { runMigrations } from '../store/migrations.js';
import { storedOffsets } from '../store/queries.js';
import { PipelineRunner, type PipelineRunnerOptions } from './runner.js';
import { DETECTION_STATE_FILE, restoreDetectionState, saveDetectionState, type RestoreOutcome, type Restored } from './detection-state.js';

/** Tenant ids of the generated fleet (the default source), named in the README's examples. */
export const GENERATED_TENANTS = ['contoso', 'fabrikam', 'northwind'];

export interface StartOptions {
  /** NDJSON input: a path, `-` for stdin, or a stream. Without it: Kafka when brokers are configured, else the generator. */
  input?: string | Readable;
  /** Start the HTTP API (default true). */
  api?: boolean;
}

export interface Riskstream {
  config: Config;
  store: ClickHouseClient;
  runner: PipelineRunner;
  detection: DetectionPipeline;
  /** Current risk per agent, served by GET /v1/risk/agents/:id; fed by every durable batch. */
  riskView: RiskView;
  api: FastifyInstance | undefined;
  /** Where the API listens, e.g. http://127.0.0.1:8080. */
  url: string | undefined;
  /** Settles when the source ends (file input) or the pipeline fails. */
  done: Promise<void>;
  /** Whether detection carried on from the state a clean stop saved (Kafka sources). */
  detectionState: RestoreOutcome;
  stop(): Promise<void>;
}

/** Which stream a saved detection state belongs to: the consumer group and its topics. */
function sourceIdentity(config: Config): string {
  return `kafka:${config.kafka.groupId}:${topicNames(config.kafka.topicPrefix).inputs.join(',')}`;
}

function chooseSource(config: Config, options: StartOptions, codec: AvroCodec): { source: Source; deadLetters: DeadLetterSink } {
  const fileDeadLetters = () => new FileDeadLetterSink(path.join(config.dataDir, 'dead-letters.ndjson'));
  if (options.input !== undefined) {
    return { source: new NdjsonSource({ input: options.input, batchLines: config.batch.maxEvents }), deadLetters: fileDeadLetters() };
  }
  if (config.kafka.brokers.length > 0) {
    const topics = topicNames(config.kafka.topicPrefix);
    return {
      source: new KafkaSource({
        brokers: config.kafka.brokers,
        clientId: config.kafka.clientId,
        groupId: config.kafka.groupId,
        topics,
        codec,
        maxBatchRecords: config.batch.maxEvents,
      }),
      deadLetters: new KafkaDeadLetterSink(config.kafka.brokers, config.kafka.clientId, topics.deadLetter),
    };
  }
  const startTime = Date.now();
  const { seed, eventsPerSecond, agents } = config.generator;
  return {
    source: new GeneratorSource({
      events: liveEventStream({ seed, eventsPerSecond, agents, startTime, tenantIds: GENERATED_TENANTS }),
      name: `generator:seed=${seed}:start=${startTime}`,
    }),
    deadLetters: fileDeadLetters(),
  };
}

export async function startRiskstream(config: Config, options: StartOptions = {}): Promise<Riskstream> {
  const store = await openClickHouse({ ...config.clickhouse, dataDir: config.dataDir });
  await runMigrations(store);

  const registry = createSchemaRegistry(config.schemaRegistryUrl);
  const codec = new AvroCodec(registry);
  if (config.kafka.brokers.length > 0 && options.input === undefined) {
    await ensureTopics(config.kafka.brokers, topicNames(config.kafka.topicPrefix));
  }
  const { source, deadLetters } = chooseSource(config, options, codec);
  // Detector baselines carry over restarts and crashes (cli/detection-state.ts):
  // for a source that resumes where it was acknowledged (Kafka).
  const stateFile = path.join(config.dataDir, DETECTION_STATE_FILE);
  const stateIdentity = source.resumePoints ? sourceIdentity(config) : null;
  const restored: Restored =
    stateIdentity !== null
      ? await restoreDetectionState(() => new DetectionPipeline(), { file: stateFile, identity: stateIdentity, resumePoints: () => source.resumePoints!() })
      : { detection: new DetectionPipeline(), outcome: { restored: false, reason: 'none' }, positions: new Map(), seekTo: new Map(), skipUpTo: new Map(), takenAt: null };
  const { detection } = restored;
  if (restored.seekTo.size > 0) source.seekOnStart?.(restored.seekTo);
  // Admin actions are not in the event stream the state can read again: those
  // taken after its snapshot are applied again (a few seconds of overlap: an
  // action applied twice leaves the same state).
  if (restored.takenAt !== null) {
    for await (const action of adminActionsSince(store, restored.takenAt - 5_000)) detection.applyAdminAction(action);
  }
  // The risk lookup answers from memory: loaded from the stored risk changes
  // before anything new is consumed, then kept current by each durable batch.
  const riskView = new RiskView();
  await riskView.rebuild(store);
  // Detection carries on from the stored risk too (a restart must not lower
  // an agent at high, or forget a confirmed compromise, on its next
  // detection): each agent's latest risk change, each user's latest risk.
  await seedDetection(detection, store);

  let api: FastifyInstance | undefined;
  const logger = {
    info: (o: object, m?: string) => api?.log.info(o, m),
    warn: (o: object, m?: string) => api?.log.warn(o, m) ?? console.warn(m, o),
    error: (o: object, m?: string) => api?.log.error(o, m) ?? console.error(m, o),
  };
  // One writer per database: it keeps the head of each tenant's hash chain
  // (store/ledger-chain.ts); the pipeline and the admin routes share it.
  const ledger = new LedgerWriter(store, {
    onRetry: (info) => logger.warn({ table: info.table, attempt: info.attempt, delayMs: info.delayMs, err: String(info.error) }, 'store insert failed; retrying'),
  });
  // Publication back to policy engines: the compacted risk topic (with Kafka),
  // CAEP security events over SSF, and remediation webhooks.
  const publish = await createPublishStage({
    config: config.publish,
    dataDir: config.dataDir,
    brokers: config.kafka.brokers,
    topicPrefix: config.kafka.topicPrefix,
    clientId: config.kafka.clientId,
    registry,
    clickhouse: store,
  });
  await publish.start();
  // Where durable risk changes go, from the pipeline's batches and from admin
  // actions alike. A failed publication fails the batch: it is not acknowledged
  // and comes again, and the publisher skips what it already published.
  const publishDurable: NonNullable<PipelineRunnerOptions['onDurable']> = async (out) => {
    // The view first: the changes are durable in the store whatever happens to publication.
    riskView.apply(out.riskChanges);
    await publish.publisher.publish(out);
  };
  // Saved states are written one after another, in the background: a
  // checkpoint takes its snapshot while the runner holds detection (nothing
  // else is detected until it is taken), then the pipeline goes on while it
  // is compressed and written.
  let stateWrites: Promise<void> = Promise.resolve();
  const writeState = async (positions: ReadonlyMap<string, number>): Promise<void> => {
    const takenAt = Date.now();
    // A part at a time: the API keeps answering between parts.
    const snapshot = await detection.snapshotInParts(() => new Promise((resolve) => setImmediate(resolve)));
    const state = { identity: stateIdentity!, positions: new Map([...restored.positions, ...positions]), takenAt, snapshot };
    stateWrites = stateWrites
      .then(() => saveDetectionState(stateFile, state))
      .catch((err: Error) => logger.warn({ err: err.message }, 'detection state not saved'));
  };
  const runner = new PipelineRunner({
    source,
    deadLetters,
    detection,
    ledger,
    storedOffsets: (s, first, last) => storedOffsets(store, s, first, last),
    onDurable: publishDurable,
    logger,
    skipDetectionUpTo: restored.skipUpTo,
    ...(stateIdentity !== null && config.stateCheckpointMs > 0 && { checkpoint: { everyMs: config.stateCheckpointMs, take: writeState } }),
  });

  let url: string | undefined;
  // The API reads through a client of its own: statements on one embedded
  // connection run one at a time, and an analyst query must not hold up inserts.
  let apiStore: ClickHouseClient | undefined;
  if (options.api !== false) {
    const authority = new TokenAuthority(await loadSigningKey(config.dataDir, process.env.RISKSTREAM_JWT_SECRET));
    apiStore = await openClickHouse({ ...config.clickhouse, dataDir: config.dataDir });
    api = await buildApi({
      store: apiStore,
      authority,
      logLevel: config.logLevel,
      readiness: [
        { name: 'store', check: async () => (await ping(store)).ok },
        { name: 'pipeline', check: async () => runner.state === 'running' || runner.state === 'finished' },
      ],
      publicPlugins: [publish.publicPlugin],
      v1Plugins: [riskRoutes(riskView), ...publish.v1Plugins],
      liveRisk: detection,
      adminActions: { pipeline: detection, ledger, publish: publishDurable },
    });
    url = await api.listen({ host: config.api.host, port: config.api.port });
  }
  if (restored.outcome.restored || restored.outcome.reason !== 'none') logger.info({ file: stateFile, ...restored.outcome }, 'detection state at start');

  const done = runner.start();
  done.catch(() => undefined);

  return {
    config,
    store,
    runner,
    detection,
    riskView,
    api,
    url,
    done,
    detectionState: restored.outcome,
    async stop() {
      await runner.stop();
      // The API goes first: an admin action taken after the snapshot below would be missing from it.
      await api?.close();
      if (stateIdentity !== null && runner.state === 'stopped' && restored.positions.size + runner.durablePositions().size > 0) {
        // Every batch handed over is durable and acknowledged by now: the state
        // has seen exactly the records up to these positions.
        await writeState(runner.durablePositions());
      }
      await stateWrites;
      await publish.close();
      await apiStore?.close();
      await store.close();
    },
  };
}

/** Starts the detection pipeline from the store: every agent's last risk change and every risky user's level. */
export async function seedDetection(detection: DetectionPipeline, store: ClickHouseClient): Promise<{ agents: number; users: number }> {
  let agents = 0;
  for await (const row of latestRiskPerAgent(store)) if (detection.engine.seed(row)) agents++;
  let users = 0;
  for await (const row of latestUserRisk(store)) {
    detection.seedUserRisk(row.tenant_id, row.user_id, row.level, row.time);
    users++;
  }
  return { agents, users };
}

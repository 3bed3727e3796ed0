// Produces risk changes and detections to Kafka exactly once per batch token,
// also across crashes and restarts.
//
// Mechanism (see docs/publish.md):
// - One transactional producer per pipeline instance (`transactionalId` stable
//   across restarts of that instance, idempotent, max one request in flight).
// - Each batch is one Kafka transaction holding its AgentRisk messages, its
//   Detection messages AND one record on the compacted `publish-progress`
//   topic, keyed by the transactional id, listing the hashes of the last
//   `tokenWindow` batch tokens published by this instance.
// - On start the producer initialises its transactional id, which fences any
//   previous incarnation and aborts its open transaction; then the publisher
//   reads its own progress record with read_committed. A batch whose token is
//   in the window is acknowledged without producing anything again.
// So a batch redelivered after a crash (before or after its commit) ends up in
// the topics exactly once for read_committed consumers. Consumers that cannot
// read committed data only can de-duplicate on `change_id` / `detection_id`.

import { createHash } from 'node:crypto';
import { CompressionTypes, Kafka, logLevel as LogLevel, Partitioners, type logCreator, type Message, type Producer } from 'kafkajs';
import type { Detection, RiskChange } from '../detectors/types.js';
import type { SchemaRegistry } from '../ingest/avro/registry.js';
import { PublishAvroCodec } from './avro.js';
import { agentKey, ensurePublishTopics, publishTopicNames, type EnsurePublishTopicsOptions, type PublishTopicNames } from './topics.js';
import { readTopicToEnd } from './read-topic.js';
import { SerialQueue } from './util.js';

/** One pipeline batch, after it is durable in the ledger. */
export interface PublishBatch {
  /** Identity of the batch, stable across redelivery (the ledger batch token). */
  token: string;
  riskChanges: readonly RiskChange[];
  detections: readonly Detection[];
}

export interface KafkaPublishResult {
  token: string;
  /** True when the token had already been published: nothing was produced. */
  skipped: boolean;
  riskChanges: number;
  detections: number;
}

export interface KafkaRiskPublisherOptions {
  brokers: string[];
  registry: SchemaRegistry;
  /** Stable per pipeline instance (e.g. `riskstream-publish-0`); two live instances must never share one. */
  transactionalId: string;
  topics?: PublishTopicNames;
  clientId?: string;
  /** How many recent batch tokens the progress record remembers (default 1000). */
  tokenWindow?: number;
  /** Kafka transaction timeout (default 60 000 ms). */
  transactionTimeoutMs?: number;
  /** Retries of one Kafka request before publish() fails (default 10). */
  retries?: number;
  /** Create missing topics on connect (default true). */
  ensureTopics?: boolean | EnsurePublishTopicsOptions;
  /** Limit on reading the progress record at start (default 30 000 ms). */
  progressReadTimeoutMs?: number;
  logLevel?: LogLevel;
  /** Test seams: called inside the transaction, after sending, before commit. */
  hooks?: { beforeCommit?: (token: string) => Promise<void> };
}

export class PublishError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PublishError';
  }
}

/**
 * Another producer with the same transactional id has started: this instance
 * is a zombie and must stop (it will never publish again).
 */
export class PublisherFencedError extends PublishError {
  constructor(transactionalId: string, options?: { cause?: unknown }) {
    super(`publisher ${transactionalId} was fenced by a newer instance with the same transactional id`, options);
    this.name = 'PublisherFencedError';
  }
}

/** Hash of a batch token as stored in the progress record (128 bits, hex). */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token).digest('hex').slice(0, 32);
}

interface ProgressRecord {
  v: 1;
  /** Token hashes, oldest first. */
  tokens: string[];
  last_token: string;
  committed_at: number;
}

const FENCED_TYPES = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED']);

function isFenced(err: unknown): boolean {
  const seen = new Set<unknown>();
  let e: unknown = err;
  while (e && typeof e === 'object' && !seen.has(e)) {
    seen.add(e);
    const x = e as { type?: string; code?: number; cause?: unknown; originalError?: unknown };
    if ((x.type && FENCED_TYPES.has(x.type)) || x.code === 47 || x.code === 90) return true;
    e = x.cause ?? x.originalError;
  }
  return false;
}

// Conditions kafkajs logs at ERROR although it retries them and they are part
// of normal operation here (a restart completing the previous incarnation's
// transaction, a consumer group coordinator still loading). Fencing is
// reported to the caller as PublisherFencedError instead.
const EXPECTED = [
  'Limiting retries for the idempotent producer', // bounded on purpose: a failed transaction is aborted
  'another concurrent operation on the same transaction',
  'group coordinator is not available',
  'not the correct coordinator',
  'Producer attempted an operation with an old epoch',
];

/** kafkajs logger at `level`, without the noise of expected, retried conditions. */
function quietLogCreator(level: LogLevel): logCreator {
  return () => (entry) => {
    if (entry.level > level || entry.level === LogLevel.NOTHING) return;
    const text = `${entry.log.message} ${String(entry.log.error ?? '')}`;
    if (EXPECTED.some((e) => text.includes(e))) return;
    const { message, timestamp: _t, ...extra } = entry.log;
    const line = `[kafkajs ${entry.label}] ${entry.namespace}: ${message} ${JSON.stringify(extra)}`;
    if (entry.level === LogLevel.ERROR) console.error(line);
    else console.warn(line);
  };
}

export class KafkaRiskPublisher {
  readonly topics: PublishTopicNames;
  private readonly kafka: Kafka;
  private readonly codec: PublishAvroCodec;
  private readonly serial = new SerialQueue();
  private readonly tokenWindow: number;
  private producer: Producer | null = null;
  private window: string[] = [];
  private windowSet = new Set<string>();
  private ready = false;
  private prepared = false;
  private fenced: PublisherFencedError | null = null;

  constructor(private readonly opts: KafkaRiskPublisherOptions) {
    if (!opts.transactionalId) throw new Error('transactionalId is required');
    this.topics = opts.topics ?? publishTopicNames();
    this.tokenWindow = opts.tokenWindow ?? 1000;
    this.codec = new PublishAvroCodec(opts.registry);
    this.kafka = new Kafka({
      clientId: opts.clientId ?? 'riskstream-publisher',
      brokers: opts.brokers,
      logLevel: opts.logLevel ?? LogLevel.WARN,
      logCreator: quietLogCreator(opts.logLevel ?? LogLevel.WARN),
    });
  }

  /** Creates topics (unless disabled), registers schemas, fences older incarnations and loads the progress record. */
  connect(): Promise<void> {
    return this.serial.run(() => this.init());
  }

  /**
   * Publishes one batch in one transaction; resolves once it is committed (or
   * was committed before). Rejects with PublishError when it could not be
   * committed: the caller must not acknowledge the batch upstream and should
   * call again with the same token (the publisher re-initialises itself).
   * Rejects with PublisherFencedError for good when a newer instance took over.
   */
  publish(batch: PublishBatch): Promise<KafkaPublishResult> {
    return this.serial.run(() => this.publishNow(batch));
  }

  /** Whether the token is known to be published (within the window). */
  isPublished(token: string): boolean {
    return this.windowSet.has(tokenHash(token));
  }

  async disconnect(): Promise<void> {
    await this.serial.run(async () => {
      this.ready = false;
      const p = this.producer;
      this.producer = null;
      if (p) await p.disconnect().catch(() => {});
    });
  }

  private async init(): Promise<void> {
    if (this.fenced) throw this.fenced;
    if (!this.prepared) {
      if (this.opts.ensureTopics !== false) {
        await ensurePublishTopics(this.opts.brokers, this.topics, typeof this.opts.ensureTopics === 'object' ? this.opts.ensureTopics : {});
      }
      await this.codec.prepare(this.topics);
      this.prepared = true;
    }
    const producer = this.kafka.producer({
      transactionalId: this.opts.transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: this.opts.transactionTimeoutMs ?? 60_000,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      retry: { retries: this.opts.retries ?? 10 },
    });
    await producer.connect();
    this.producer = producer;
    try {
      // InitProducerId for the transactional id: bumps the epoch (fencing any
      // older producer with this id) and completes its open transaction by
      // aborting it, before we read what was committed.
      const t = await producer.transaction();
      await t.abort();
      await this.loadProgress();
    } catch (err) {
      this.producer = null;
      await producer.disconnect().catch(() => {});
      throw new PublishError(`publisher ${this.opts.transactionalId} failed to start: ${(err as Error).message}`, { cause: err });
    }
    this.ready = true;
  }

  private async recover(): Promise<void> {
    const old = this.producer;
    this.producer = null;
    if (old) await old.disconnect().catch(() => {});
    await this.init();
  }

  private async publishNow(batch: PublishBatch): Promise<KafkaPublishResult> {
    if (this.fenced) throw this.fenced;
    if (!this.ready || !this.producer) await this.recover();
    const producer = this.producer!;
    const hash = tokenHash(batch.token);
    const counts = { riskChanges: batch.riskChanges.length, detections: batch.detections.length };
    if (this.windowSet.has(hash)) return { token: batch.token, skipped: true, ...counts };
    if (counts.riskChanges === 0 && counts.detections === 0) return { token: batch.token, skipped: false, ...counts };

    const risk: Message[] = batch.riskChanges.map((c) => ({ key: agentKey(c.tenant_id, c.agent_id), value: this.codec.encodeAgentRisk(c) }));
    const detections: Message[] = batch.detections.map((d) => ({ key: agentKey(d.tenant_id, d.agent_id), value: this.codec.encodeDetection(d) }));
    const nextWindow = [...this.window, hash].slice(-this.tokenWindow);
    const progress: ProgressRecord = { v: 1, tokens: nextWindow, last_token: batch.token.slice(0, 512), committed_at: Date.now() };
    const topicMessages = [
      ...(risk.length > 0 ? [{ topic: this.topics.agentRisk, messages: risk }] : []),
      ...(detections.length > 0 ? [{ topic: this.topics.detections, messages: detections }] : []),
      { topic: this.topics.progress, messages: [{ key: this.opts.transactionalId, value: JSON.stringify(progress) }] },
    ];

    let txn: Awaited<ReturnType<Producer['transaction']>> | null = null;
    try {
      txn = await producer.transaction();
      await txn.sendBatch({ topicMessages, acks: -1, compression: CompressionTypes.None });
      await this.opts.hooks?.beforeCommit?.(batch.token);
      await txn.commit();
    } catch (err) {
      this.ready = false;
      if (txn?.isActive()) await txn.abort().catch(() => {});
      if (isFenced(err)) {
        this.fenced = new PublisherFencedError(this.opts.transactionalId, { cause: err });
        this.producer = null;
        await producer.disconnect().catch(() => {});
        throw this.fenced;
      }
      throw new PublishError(`publishing batch ${batch.token} failed: ${(err as Error).message}`, { cause: err });
    }
    this.window = nextWindow;
    this.windowSet = new Set(nextWindow);
    return { token: batch.token, skipped: false, ...counts };
  }

  /** Reads this instance's progress record (read_committed) up to the end of the progress topic. */
  private async loadProgress(): Promise<void> {
    let latest: string | null = null;
    await readTopicToEnd(
      this.kafka,
      this.topics.progress,
      (_partition, message) => {
        if (message.key?.toString() === this.opts.transactionalId && message.value) latest = message.value.toString();
      },
      { groupPrefix: `${this.opts.transactionalId}.progress-reader`, timeoutMs: this.opts.progressReadTimeoutMs ?? 30_000 },
    );
    let tokens: string[] = [];
    if (latest !== null) {
      const record = JSON.parse(latest) as Partial<ProgressRecord>;
      if (record.v !== 1 || !Array.isArray(record.tokens)) throw new Error(`unreadable progress record for ${this.opts.transactionalId}`);
      tokens = record.tokens.filter((t): t is string => typeof t === 'string').slice(-this.tokenWindow);
    }
    this.window = tokens;
    this.windowSet = new Set(tokens);
  }
}

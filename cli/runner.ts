// The live pipeline: source → detection → ledger (→ publication), one batch at
// a time. A batch is acknowledged to its source only after its dead letters,
// events, detections and risk changes are durable; any failure that survives
// the store's retries stops the pipeline without acknowledging, so the batch
// is delivered again on restart and the idempotent inserts absorb the repeat.

import type { DetectionPipeline } from '../detectors/pipeline.js';
import type { Detection, RiskChange } from '../detectors/types.js';
import type { DeadLetterSink, IngestRecord, Source, SourceBatch } from '../ingest/source.js';
import type { LedgerWriter } from '../store/ledger-writer.js';

export interface RunnerLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface RunnerStats {
  batches: number;
  events: number;
  rejected: number;
  detections: number;
  riskChanges: number;
  skippedAsStored: number;
  lastBatchAt: number | null;
  /** Milliseconds spent in detection and in persistence (store + publication), for tuning. */
  detectMs: number;
  persistMs: number;
}

export interface PipelineRunnerOptions {
  source: Source;
  deadLetters: DeadLetterSink;
  detection: DetectionPipeline;
  ledger: LedgerWriter;
  /** Which of these offsets of `source` are already stored (for redelivered batches). */
  storedOffsets: (source: string, first: number, last: number) => Promise<Set<number>>;
  /** Called with every batch's outputs after they are durable (publication to policy engines); `token` is the batch identity. */
  onDurable?: (out: { token: string; detections: Detection[]; riskChanges: RiskChange[] }) => Promise<void>;
  logger: RunnerLogger;
}

interface PreparedBatch {
  /** The records to store (all of them, unless some were already stored). */
  records: IngestRecord[];
  detections: Detection[];
  riskChanges: RiskChange[];
}

export type RunnerStatus = 'idle' | 'running' | 'finished' | 'failed' | 'stopped';

export class PipelineRunner {
  private status: RunnerStatus = 'idle';
  private done: Promise<void> | undefined;
  readonly stats: RunnerStats = {
    batches: 0,
    events: 0,
    rejected: 0,
    detections: 0,
    riskChanges: 0,
    skippedAsStored: 0,
    lastBatchAt: null,
    detectMs: 0,
    persistMs: 0,
  };
  failure: Error | undefined;

  constructor(private readonly options: PipelineRunnerOptions) {}

  get state(): RunnerStatus {
    return this.status;
  }

  /** Starts consuming; the returned promise settles when the source ends, stops or fails. */
  start(): Promise<void> {
    if (this.done) return this.done;
    this.status = 'running';
    this.done = this.options.source.run((batch) => this.handle(batch)).then(
      () => {
        if (this.status === 'running') this.status = 'finished';
      },
      (err: Error) => {
        this.status = 'failed';
        this.failure = err;
        this.options.logger.error({ err }, 'pipeline stopped: a batch could not be made durable');
        throw err;
      },
    );
    return this.done;
  }

  async stop(): Promise<void> {
    if (this.status === 'running') this.status = 'stopped';
    await this.options.source.stop();
    await this.done?.catch(() => undefined);
    await this.options.deadLetters.close();
  }

  // Batches are persisted one after another in arrival order; this is the tail
  // of that chain. Detection of the next batch runs (on the JS thread) while
  // the previous one is being inserted (on the engine's threads).
  private persisting: Promise<void> = Promise.resolve();
  // Set while a batch's detection waits for a store lookup; later batches queue behind it.
  private detectBarrier: Promise<void> | undefined;

  /**
   * Processes one batch; resolves only when everything in it is durable.
   * Detection runs synchronously at the call, in call order, so a source may
   * hand over the next batch before this one resolves; persistence (and
   * therefore each returned promise) completes strictly in call order, and a
   * failure fails every batch handed over after it.
   */
  handle(batch: SourceBatch): Promise<void> {
    let prepared: PreparedBatch | Promise<PreparedBatch>;
    if (batch.redelivery || this.detectBarrier) {
      // Rare (first batch of a partition after an assignment): which records
      // are already stored must be looked up before their outputs are kept,
      // and batches handed over meanwhile wait their turn so detectors still
      // see events in arrival order.
      const pending = (this.detectBarrier ?? Promise.resolve()).then(async () =>
        this.detect(batch, batch.redelivery ? await this.withoutStored(batch.records) : batch.records),
      );
      const barrier = pending.then(
        () => undefined,
        () => undefined,
      );
      this.detectBarrier = barrier;
      void barrier.then(() => {
        if (this.detectBarrier === barrier) this.detectBarrier = undefined;
      });
      prepared = pending;
    } else {
      prepared = this.detect(batch, batch.records);
    }
    const after = this.persisting.then(async () => this.persist(batch, await prepared));
    this.persisting = after;
    return after;
  }

  private detect(batch: SourceBatch, toStore: IngestRecord[]): PreparedBatch {
    const started = performance.now();
    try {
      return this.detectRecords(batch, toStore);
    } finally {
      this.stats.detectMs += performance.now() - started;
    }
  }

  private detectRecords(batch: SourceBatch, toStore: IngestRecord[]): PreparedBatch {
    const { detection } = this.options;
    const out = { detections: [] as Detection[], riskChanges: [] as RiskChange[] };
    if (toStore === batch.records) {
      for (const record of batch.records) detection.processInto(record.event, out);
    } else {
      // Every record goes through detection, even one already stored: detector
      // state must see it. Outputs of already-stored records were stored with them.
      const keep = new Set(toStore);
      const scratch = { detections: [] as Detection[], riskChanges: [] as RiskChange[] };
      for (const record of batch.records) {
        scratch.detections.length = 0;
        scratch.riskChanges.length = 0;
        detection.processInto(record.event, scratch);
        if (!keep.has(record)) continue;
        for (const d of scratch.detections) out.detections.push(d);
        for (const c of scratch.riskChanges) out.riskChanges.push(c);
      }
    }
    return { records: toStore, ...out };
  }

  private async persist(batch: SourceBatch, prepared: PreparedBatch): Promise<void> {
    const started = performance.now();
    const { ledger, deadLetters } = this.options;
    if (batch.rejected.length > 0) {
      await deadLetters.write(batch.rejected);
      for (const r of batch.rejected) this.options.logger.warn({ source: r.source, offset: r.offset, field: r.field, reason: r.error }, 'record sent to dead letters');
    }
    const { records, detections, riskChanges } = prepared;
    await ledger.writeBatch({
      token: batch.token,
      events: records.map((r) => ({ event: r.event, source: r.source, offset: r.offset })),
      detections,
      riskChanges,
    });
    await this.options.onDurable?.({ token: batch.token, detections, riskChanges });

    const s = this.stats;
    s.batches++;
    s.events += records.length;
    s.rejected += batch.rejected.length;
    s.detections += detections.length;
    s.riskChanges += riskChanges.length;
    s.skippedAsStored += batch.records.length - records.length;
    s.lastBatchAt = Date.now();
    s.persistMs += performance.now() - started;
  }

  private async withoutStored(records: IngestRecord[]): Promise<IngestRecord[]> {
    if (records.length === 0) return records;
    const bySource = new Map<string, { first: number; last: number }>();
    for (const r of records) {
      const range = bySource.get(r.source);
      if (!range) bySource.set(r.source, { first: r.offset, last: r.offset });
      else {
        range.first = Math.min(range.first, r.offset);
        range.last = Math.max(range.last, r.offset);
      }
    }
    const stored = new Map<string, Set<number>>();
    for (const [source, { first, last }] of bySource) stored.set(source, await this.options.storedOffsets(source, first, last));
    const kept = records.filter((r) => !stored.get(r.source)!.has(r.offset));
    if (kept.length === records.length) return records;
    this.options.logger.info({ skipped: records.length - kept.length }, 'redelivered records already stored were skipped');
    return kept;
  }
}

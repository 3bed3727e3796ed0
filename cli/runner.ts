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
}

export interface PipelineRunnerOptions {
  source: Source;
  deadLetters: DeadLetterSink;
  detection: DetectionPipeline;
  ledger: LedgerWriter;
  /** Which of these offsets of `source` are already stored (for redelivered batches). */
  storedOffsets: (source: string, first: number, last: number) => Promise<Set<number>>;
  /** Called with every batch's outputs after they are durable (publication to policy engines). */
  onDurable?: (out: { detections: Detection[]; riskChanges: RiskChange[] }) => Promise<void>;
  logger: RunnerLogger;
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

  /** Processes one batch; resolves only when everything in it is durable. */
  async handle(batch: SourceBatch): Promise<void> {
    const { detection, ledger, deadLetters } = this.options;
    if (batch.rejected.length > 0) {
      await deadLetters.write(batch.rejected);
      for (const r of batch.rejected) this.options.logger.warn({ source: r.source, offset: r.offset, field: r.field, reason: r.error }, 'record sent to dead letters');
    }

    const records = batch.redelivery ? await this.withoutStored(batch.records) : batch.records;
    const detections: Detection[] = [];
    const riskChanges: RiskChange[] = [];
    // Every record goes through detection, even one already stored: detector
    // state must see it. Outputs of already-stored records were stored with them.
    const storedSet = records === batch.records ? null : new Set(records);
    for (const record of batch.records) {
      const out = detection.process(record.event);
      if (storedSet && !storedSet.has(record)) continue;
      for (const d of out.detections) detections.push(d);
      for (const c of out.riskChanges) riskChanges.push(c);
    }

    await ledger.writeBatch({
      token: batch.token,
      events: records.map((r) => ({ event: r.event, source: r.source, offset: r.offset })),
      detections,
      riskChanges,
    });
    await this.options.onDurable?.({ detections, riskChanges });

    const s = this.stats;
    s.batches++;
    s.events += records.length;
    s.rejected += batch.rejected.length;
    s.detections += detections.length;
    s.riskChanges += riskChanges.length;
    s.skippedAsStored += batch.records.length - records.length;
    s.lastBatchAt = Date.now();
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

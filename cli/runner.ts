// The live pipeline: source → detection → ledger (→ publication), one batch at
// a time. A batch is acknowledged to its source only after its dead letters,
// events, detections and risk changes are durable; any failure that survives
// the store's retries stops the pipeline without acknowledging, so the batch
// is delivered again on restart and the idempotent inserts absorb the repeat.

import type { DetectionPipeline } from '../detectors/pipeline.js';
import type { Detection, RiskChange } from '../detectors/types.js';
import type { DeadLetterSink, IngestRecord, Source, SourceBatch } from '../ingest/source.js';
import type { LedgerWriter, PreparedLedgerBatch } from '../store/ledger-writer.js';

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
  /** Milliseconds spent in detection, in serialising ledger rows, and in persistence (store + publication), for tuning. */
  detectMs: number;
  serializeMs: number;
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
  /** Offsets looked up at a time when finding what a redelivery already stored (bounds memory when a whole stored topic is replayed). */
  storedLookupWindow?: number;
  /**
   * Per source, the last offset the detection state has already seen (it was
   * restored from a saved state): records up to it are not run through
   * detection again when they come again.
   */
  skipDetectionUpTo?: ReadonlyMap<string, number>;
  /**
   * Checkpoints of the detection state: at most every `everyMs` (wall time),
   * when a batch has become durable and no later batch has been handed over,
   * `take` is called with the durable positions, which the detection state
   * then reflects exactly; batches handed over meanwhile wait for its
   * promise (the snapshot taken) before they are detected.
   */
  checkpoint?: { everyMs: number; take(positions: ReadonlyMap<string, number>): Promise<void> };
}

interface PreparedBatch {
  /** How many records the batch had, and how many of them are stored by this batch (the others were already). */
  received: number;
  stored: number;
  detections: Detection[];
  riskChanges: RiskChange[];
  /** The ledger rows, serialised while the previous batch is being inserted. */
  ledger: PreparedLedgerBatch;
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
    serializeMs: 0,
    persistMs: 0,
  };
  failure: Error | undefined;
  private readonly durable = new Map<string, number>();
  /** Batches handed over, and made durable: equal when nothing is detected beyond what is durable. */
  private handed = 0;
  private madeDurable = 0;
  private lastCheckpointAt = Date.now();
  /** See PipelineRunnerOptions.skipDetectionUpTo; a source is forgotten once a batch has passed it. */
  private readonly skipUpTo: Map<string, number>;

  constructor(private readonly options: PipelineRunnerOptions) {
    this.skipUpTo = new Map(options.skipDetectionUpTo ?? []);
  }

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
   * Per source, offsets at or after a redelivery's start that are already
   * stored: a run stores batches ahead of its commits, so after a crash more
   * than the first redelivered batch may be stored, and the redelivered
   * batches need not have the same boundaries (tokens) as the stored ones.
   * Looked up once per redelivery, a window of offsets at a time; forgotten
   * once the source has passed them.
   */
  private readonly storedAhead = new Map<string, { max: number; checkedUpTo: number; offsets: Set<number> }>();

  /**
   * Processes one batch; resolves only when everything in it is durable.
   * Detection runs synchronously at the call, in call order, so a source may
   * hand over the next batch before this one resolves; persistence (and
   * therefore each returned promise) completes strictly in call order, and a
   * failure fails every batch handed over after it.
   */
  handle(batch: SourceBatch): Promise<void> {
    this.handed++;
    let prepared: PreparedBatch | Promise<PreparedBatch>;
    if (batch.redelivery || this.detectBarrier || this.beyondStoredWindow(batch.records)) {
      // Rare (first batch of a partition after an assignment): which records
      // are already stored must be looked up before their outputs are kept,
      // and batches handed over meanwhile wait their turn so detectors still
      // see events in arrival order.
      const pending = (this.detectBarrier ?? Promise.resolve()).then(async () => {
        if (batch.redelivery || this.beyondStoredWindow(batch.records)) await this.lookUpStored(batch.records, batch.redelivery === true);
        return this.detect(batch);
      });
      this.holdDetection(pending);
      prepared = pending;
    } else {
      try {
        prepared = this.detect(batch);
      } catch (err) {
        // Fails this batch (and so every later one) through the persist chain, like a store failure.
        prepared = Promise.reject(err as Error);
        prepared.catch(() => undefined);
      }
    }
    // Persistence needs the batch's token and dead letters, not its records:
    // the events die young once serialised, instead of living (and being
    // promoted by the GC) until the insert completes.
    const { token, rejected, position } = batch;
    const after = this.persisting.then(async () => this.persist(token, rejected, await prepared, position));
    this.persisting = after;
    return after;
  }

  private detect(batch: SourceBatch): PreparedBatch {
    const started = performance.now();
    const { toStore, mayBeStored } = this.withoutStored(batch.records);
    const found = this.detectRecords(batch, toStore);
    const detected = performance.now();
    this.stats.detectMs += detected - started;
    // Serialising the rows is JS work too: done here, it overlaps the engine's
    // insert of the previous batch instead of following it.
    const ledger = this.options.ledger.prepare({
      token: batch.token,
      events: toStore.map((r) => ({ event: r.event, source: r.source, offset: r.offset })),
      detections: found.detections,
      riskChanges: found.riskChanges,
      // The source says these offsets were never delivered since its
      // assignment, and no earlier run stored any of them: nothing can be
      // stored under this token, and the writer need not ask.
      fresh: batch.redelivery === false && !mayBeStored,
    });
    this.stats.serializeMs += performance.now() - detected;
    return { ...found, ledger };
  }

  /** Offsets a record of `records` has beyond its source's looked-up window of stored offsets. */
  private beyondStoredWindow(records: IngestRecord[]): boolean {
    if (this.storedAhead.size === 0 || records.length === 0) return false;
    for (const r of records) {
      const ahead = this.storedAhead.get(r.source);
      if (ahead !== undefined && r.offset > ahead.checkedUpTo) return true;
    }
    return false;
  }

  /** Looks up which offsets from the batch's first one onwards (a window of them) each of its sources has stored. */
  private async lookUpStored(records: IngestRecord[], redelivery: boolean): Promise<void> {
    const ranges = new Map<string, { first: number; last: number }>();
    for (const r of records) {
      const range = ranges.get(r.source);
      if (range === undefined) ranges.set(r.source, { first: r.offset, last: r.offset });
      else {
        if (r.offset < range.first) range.first = r.offset;
        if (r.offset > range.last) range.last = r.offset;
      }
    }
    for (const [source, range] of ranges) {
      const known = redelivery ? undefined : this.storedAhead.get(source);
      // Within the window already looked up: nothing to ask. Past it: the next window.
      if (known !== undefined && range.last <= known.checkedUpTo) continue;
      const first = known !== undefined ? known.checkedUpTo + 1 : range.first;
      const checkedUpTo = first + (this.options.storedLookupWindow ?? 1 << 20) - 1;
      const offsets = await this.options.storedOffsets(source, first, checkedUpTo);
      if (offsets.size === 0) {
        if (known === undefined) this.storedAhead.delete(source);
        else known.checkedUpTo = checkedUpTo;
        continue;
      }
      if (known !== undefined) for (const o of known.offsets) if (o >= range.first) offsets.add(o);
      let max = -Infinity;
      for (const o of offsets) if (o > max) max = o;
      this.storedAhead.set(source, { max, checkedUpTo, offsets });
      this.options.logger.info({ source, from: first, stored: offsets.size, upTo: max }, 'redelivered offsets already stored will be skipped');
    }
  }

  /**
   * The records not already stored, by the offsets looked up at redelivery;
   * `mayBeStored` when the batch reaches into those offsets. Forgets a
   * source's stored offsets once a batch has passed the last of them.
   */
  private withoutStored(records: IngestRecord[]): { toStore: IngestRecord[]; mayBeStored: boolean } {
    if (this.storedAhead.size === 0 || records.length === 0) return { toStore: records, mayBeStored: false };
    let mayBeStored = false;
    const kept: IngestRecord[] = [];
    const passed = new Set<string>();
    for (const r of records) {
      const ahead = this.storedAhead.get(r.source);
      if (ahead === undefined) {
        kept.push(r);
        continue;
      }
      if (r.offset <= ahead.max) mayBeStored = true;
      else passed.add(r.source);
      if (!ahead.offsets.has(r.offset)) kept.push(r);
    }
    for (const source of passed) this.storedAhead.delete(source);
    if (kept.length !== records.length) this.options.logger.info({ skipped: records.length - kept.length }, 'redelivered records already stored were skipped');
    return { toStore: kept.length === records.length ? records : kept, mayBeStored };
  }

  private detectRecords(batch: SourceBatch, toStore: IngestRecord[]): Omit<PreparedBatch, 'ledger'> {
    const { detection } = this.options;
    const out = { detections: [] as Detection[], riskChanges: [] as RiskChange[] };
    const skip = this.skipUpTo;
    // Records a restored detection state has already seen.
    const seen = (r: IngestRecord) => r.offset <= (skip.get(r.source) ?? -Infinity);
    const skipping = skip.size > 0 && batch.records.some(seen);
    if (toStore === batch.records && !skipping) {
      for (const record of batch.records) detection.processInto(record.event, out);
    } else {
      // Every other record goes through detection, even one already stored:
      // detector state must see it. Outputs of already-stored records were
      // stored with them.
      const keep = toStore === batch.records ? null : new Set(toStore);
      const scratch = { detections: [] as Detection[], riskChanges: [] as RiskChange[] };
      for (const record of batch.records) {
        if (skipping && seen(record)) continue;
        scratch.detections.length = 0;
        scratch.riskChanges.length = 0;
        detection.processInto(record.event, scratch);
        if (keep !== null && !keep.has(record)) continue;
        for (const d of scratch.detections) out.detections.push(d);
        for (const c of scratch.riskChanges) out.riskChanges.push(c);
      }
    }
    // A source past its skip offset never needs the check again.
    const p = batch.position;
    if (skip.size > 0 && p !== undefined && p.offset > (skip.get(p.source) ?? Infinity)) skip.delete(p.source);
    return { received: batch.records.length, stored: toStore.length, ...out };
  }

  private async persist(token: string, rejected: SourceBatch['rejected'], prepared: PreparedBatch, position: SourceBatch['position']): Promise<void> {
    const started = performance.now();
    const { ledger, deadLetters } = this.options;
    if (rejected.length > 0) {
      await deadLetters.write(rejected);
      for (const r of rejected) this.options.logger.warn({ source: r.source, offset: r.offset, field: r.field, reason: r.error }, 'record sent to dead letters');
    }
    const { detections, riskChanges } = prepared;
    await ledger.write(prepared.ledger);
    await this.options.onDurable?.({ token, detections, riskChanges });

    const s = this.stats;
    s.batches++;
    s.events += prepared.stored;
    s.rejected += rejected.length;
    s.detections += detections.length;
    s.riskChanges += riskChanges.length;
    s.skippedAsStored += prepared.received - prepared.stored;
    s.lastBatchAt = Date.now();
    s.persistMs += performance.now() - started;
    if (position !== undefined && position.offset > (this.durable.get(position.source) ?? -1)) this.durable.set(position.source, position.offset);
    this.madeDurable++;
    const checkpoint = this.options.checkpoint;
    if (checkpoint !== undefined && this.handed === this.madeDurable && Date.now() - this.lastCheckpointAt >= checkpoint.everyMs) {
      this.lastCheckpointAt = Date.now();
      // Nothing is being detected now; later batches wait until the snapshot is taken.
      const taken = checkpoint.take(new Map(this.durable)).catch((err: Error) => this.options.logger.warn({ err: err.message }, 'detection checkpoint failed'));
      this.holdDetection(taken);
    }
  }

  /** Batches handed over from now on are detected only after `until` settles. */
  private holdDetection(until: Promise<unknown>): void {
    const barrier = until.then(
      () => undefined,
      () => undefined,
    );
    this.detectBarrier = barrier;
    void barrier.then(() => {
      if (this.detectBarrier === barrier) this.detectBarrier = undefined;
    });
  }

  /**
   * Per source, the last offset of the batches made durable so far (for
   * sources that report positions). Batches are detected in order and made
   * durable in order, so the detection state has seen exactly the records up
   * to these offsets once no batch is in flight (after `stop`).
   */
  durablePositions(): ReadonlyMap<string, number> {
    return this.durable;
  }
}

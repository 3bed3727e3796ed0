// The pipeline runner against the real embedded ClickHouse, fed by a scripted
// source: after a crash, a run may have stored batches beyond its last
// commit, and the redelivered batches need not have the same boundaries. Every
// record already stored must be skipped, whichever batch brings it back, and
// the hash chain must still verify.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import type { AgentEvent } from '../../contract/events.js';
import { DetectionPipeline } from '../../detectors/pipeline.js';
import type { BatchHandler, IngestRecord, Source, SourceBatch } from '../../ingest/source.js';
import { FileDeadLetterSink } from '../../ingest/dead-letter.js';
import { LedgerWriter } from '../../store/ledger-writer.js';
import { verifyChain } from '../../store/ledger-chain.js';
import { storedOffsets } from '../../store/queries.js';
import { PipelineRunner, type PipelineRunnerOptions } from '../../cli/runner.js';
import { ALL_SAMPLES } from '../store/samples.js';
import { openMigrated, selectRows, testDataDir } from '../store/helpers.js';
import path from 'node:path';

const quiet = { info() {}, warn() {}, error() {} };

/** A source that hands over the given batches in order, like a Kafka source does, and ends. */
class ScriptedSource implements Source {
  readonly name = 'scripted';
  constructor(private readonly batches: SourceBatch[]) {}
  async run(handle: BatchHandler): Promise<void> {
    // Handed over without waiting, as the Kafka source pipelines its chunks.
    await Promise.all(this.batches.map((b) => handle(b)));
  }
  async stop(): Promise<void> {}
}

/** Each test's own partition (a source is identified by topic and partition, whatever the tenant). */
const sourceOf = (tenant: string) => `kafka:riskstream.signin.${tenant}/0`;

function records(tenant: string, first: number, last: number): IngestRecord[] {
  const signin = ALL_SAMPLES.find((e) => e.type === 'signin')!;
  const out: IngestRecord[] = [];
  for (let o = first; o <= last; o++) {
    const event = { ...signin, tenant_id: tenant, event_id: `ev-${o}`, time: signin.time + o * 1000 } as AgentEvent;
    out.push({ event, source: sourceOf(tenant), offset: o });
  }
  return out;
}

function batch(tenant: string, first: number, last: number, redelivery: boolean): SourceBatch {
  return { token: `${sourceOf(tenant)}:${first}-${last}`, records: records(tenant, first, last), rejected: [], redelivery };
}

describe('PipelineRunner redelivery', () => {
  let store: ClickHouseClient;
  beforeAll(async () => {
    store = await openMigrated('runner_redelivery');
  });
  afterAll(async () => {
    await store.close();
  });

  async function run(batches: SourceBatch[], window?: number, more: Partial<PipelineRunnerOptions> = {}): Promise<PipelineRunner> {
    const runner = new PipelineRunner({
      source: new ScriptedSource(batches),
      deadLetters: new FileDeadLetterSink(path.join(testDataDir(), 'runner-dlq.ndjson')),
      detection: new DetectionPipeline(),
      ledger: new LedgerWriter(store),
      storedOffsets: (s, a, b) => storedOffsets(store, s, a, b),
      logger: quiet,
      ...(window !== undefined ? { storedLookupWindow: window } : {}),
      ...more,
    });
    await runner.start();
    return runner;
  }

  async function offsetsOf(tenant: string): Promise<number[]> {
    const rows = await selectRows<{ o: string }>(store, 'SELECT source_offset AS o FROM events WHERE tenant_id = {t:String} ORDER BY o', { t: tenant });
    return rows.map((r) => Number(r.o));
  }

  for (const window of [undefined, 8]) {
    it(`skips every stored record after a crash, also beyond the first redelivered batch (lookup window ${window ?? 'default'})`, async () => {
      const tenant = `t-redelivery-${window ?? 'default'}`;
      // The crashed run stored 0-19 in two batches; its commits never happened.
      const first = await run([batch(tenant, 0, 9, true), batch(tenant, 10, 19, false)], window);
      expect(first.stats.events).toBe(20);

      // The restarted run gets 0-29 cut differently: only the first batch is flagged.
      const again = await run(
        [batch(tenant, 0, 4, true), batch(tenant, 5, 14, false), batch(tenant, 15, 24, false), batch(tenant, 25, 29, false)],
        window,
      );
      expect(again.stats.skippedAsStored).toBe(20);
      expect(again.stats.events).toBe(10);
      expect(await offsetsOf(tenant)).toEqual(Array.from({ length: 30 }, (_, i) => i));
      const verified = await verifyChain(store, tenant, { graceMs: 0 });
      expect(verified.ok).toBe(true);
    });
  }

  it('writes nothing twice when the same batches come again unflagged after a clean stop', async () => {
    const tenant = 't-again';
    await run([batch(tenant, 0, 9, true)]);
    // Not flagged as a redelivery, so the writer is told nothing about it: deduplication by token still holds.
    const again = await run([{ ...batch(tenant, 0, 9, false), redelivery: undefined }]);
    expect(again.stats.events).toBe(10);
    expect(await offsetsOf(tenant)).toEqual(Array.from({ length: 10 }, (_, i) => i));
    expect((await verifyChain(store, tenant, { graceMs: 0 })).ok).toBe(true);
  });

  it('checkpoints only when nothing is detected beyond what is durable, and skips records a restored state has seen', async () => {
    const tenant = 't-checkpoint';
    const withPosition = (b: SourceBatch): SourceBatch => ({ ...b, position: { source: sourceOf(tenant), offset: b.records.at(-1)!.offset } });
    const taken: { positions: [string, number][]; events: number }[] = [];
    const detection = new DetectionPipeline();
    // Three batches handed over at once: only after the last is durable is detection quiescent.
    await run([withPosition(batch(tenant, 0, 9, true)), withPosition(batch(tenant, 10, 19, false)), withPosition(batch(tenant, 20, 29, false))], undefined, {
      detection,
      checkpoint: {
        everyMs: 0,
        take: async (positions) => {
          taken.push({ positions: [...positions], events: detection.stats().events });
        },
      },
    });
    expect(taken).toEqual([{ positions: [[sourceOf(tenant), 29]], events: 30 }]);

    // A restored state that has seen up to offset 14: those records are stored (they are new
    // here) but not detected again.
    const restored = new DetectionPipeline();
    const skipped = (b: SourceBatch): SourceBatch => ({ ...b, position: { source: sourceOf('t-skip'), offset: b.records.at(-1)!.offset } });
    // The first batch spans the skip offset; the second is past it.
    const again = await run([skipped(batch('t-skip', 0, 19, true)), skipped(batch('t-skip', 20, 24, false))], undefined, {
      detection: restored,
      skipDetectionUpTo: new Map([[sourceOf('t-skip'), 14]]),
    });
    expect(again.stats.events).toBe(25);
    expect(restored.stats().events).toBe(10);
  });
});

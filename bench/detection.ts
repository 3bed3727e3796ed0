// Detection throughput in one process, Avro decode included, and heap bytes
// per tracked agent. Events are encoded before the clock starts; the timed
// loop decodes each framed value, validates it and runs the full pipeline.

import { EVENT_TYPES } from '../contract/events.js';
import { DetectionPipeline } from '../detectors/pipeline.js';
import { AvroCodec } from '../ingest/avro/codec.js';
import { BuiltInSchemaRegistry } from '../ingest/avro/registry.js';
import { topicNames } from '../ingest/topics.js';
import { syntheticStream } from './synthetic.js';

export interface DetectionBench {
  eventsPerSecond: number;
  decodePerSecond: number;
  bytesPerAgent: number;
  agents: number;
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

export async function benchDetection(total: number, agents = 100_000): Promise<DetectionBench> {
  const codec = new AvroCodec(new BuiltInSchemaRegistry());
  const topics = topicNames();
  const encoders = new Map(await Promise.all(EVENT_TYPES.map(async (t) => [t, await codec.encoder(topics.byType[t], t)] as const)));
  const stream = syntheticStream({ seed: 11, agents, start: Date.UTC(2026, 10, 1), stepMs: 5 });
  const values: Buffer[] = new Array(total);
  for (let i = 0; i < total; i++) {
    const e = stream.next().value;
    values[i] = encoders.get(e.type)!(e);
  }
  await codec.prepare(values.slice(0, 1000).map((v) => AvroCodec.schemaIdOf(v)));
  await codec.decodeMany(values.slice(0, 5000)); // resolve every writer schema id before timing

  // Decode alone, for reference.
  let t0 = performance.now();
  for (let i = 0; i < total; i++) codec.decode(values[i]!);
  const decodePerSecond = total / ((performance.now() - t0) / 1000);

  let pipeline = new DetectionPipeline();
  const out = { detections: [] as unknown[], riskChanges: [] as unknown[] };
  t0 = performance.now();
  for (let i = 0; i < total; i++) {
    pipeline.processInto(codec.decode(values[i]!), out as never);
    if (out.detections.length > 10_000) out.detections.length = 0;
    if (out.riskChanges.length > 10_000) out.riskChanges.length = 0;
  }
  const eventsPerSecond = total / ((performance.now() - t0) / 1000);

  // Memory: a fresh pipeline fed the same stream, heap measured around it with
  // everything else released, so only the pipeline's retained state counts.
  values.length = 0;
  pipeline = undefined as unknown as DetectionPipeline;
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  const measured = new DetectionPipeline();
  const again = syntheticStream({ seed: 11, agents, start: Date.UTC(2026, 10, 1), stepMs: 5 });
  for (let i = 0; i < total; i++) {
    measured.processInto(again.next().value, out as never);
    if (out.detections.length > 10_000) out.detections.length = 0;
    if (out.riskChanges.length > 10_000) out.riskChanges.length = 0;
  }
  out.detections.length = 0;
  out.riskChanges.length = 0;
  gc();
  const heapAfter = process.memoryUsage().heapUsed;
  const tracked = measured.stats().trackedAgents;
  return { eventsPerSecond, decodePerSecond, bytesPerAgent: (heapAfter - heapBefore) / Math.max(1, tracked), agents: tracked };
}

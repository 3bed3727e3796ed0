// Detection throughput in one process, Avro decode included, and heap bytes
// per tracked agent. Events are encoded before the clock starts; each timed
// pass decodes every framed value, validates it and runs it through a fresh
// pipeline. The host this runs on is shared and noisy, so every workload is
// run several times and the median and the range are reported.
//
// Two workloads:
//  - a replay of a generated fleet (fixtures/, the evaluation's large fleet
//    over 48 h): realistic events (GUID ids, real user agents, heavy-tailed
//    traffic, attacks and look-alikes), a few thousand agents;
//  - a stress stream (bench/synthetic.ts): events spread uniformly over
//    100,000 agents, about ten each, so almost every event reaches state that
//    is not in any CPU cache and a tenth of them create an agent. The memory
//    per agent is measured on it.

import { EVENT_TYPES, type AgentEvent } from '../contract/events.js';
import { DetectionPipeline, type PipelineOutput } from '../detectors/pipeline.js';
import { streamDataset } from '../fixtures/generator.js';
import { AvroCodec } from '../ingest/avro/codec.js';
import { BuiltInSchemaRegistry } from '../ingest/avro/registry.js';
import { topicNames } from '../ingest/topics.js';
import { syntheticStream } from './synthetic.js';

export interface Throughput {
  /** Events/s of each pass, in run order. */
  passes: number[];
  median: number;
  min: number;
  max: number;
}

export interface WorkloadBench {
  events: number;
  agents: number;
  /** Mean size of a framed Avro value (bytes). */
  meanValueBytes: number;
  detection: Throughput;
  decodeAlone: Throughput;
}

export interface DetectionBench {
  fleet: WorkloadBench;
  stress: WorkloadBench;
  bytesPerAgent: number;
  memoryAgents: number;
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** Garbage collection until the heap stops shrinking (at most 5 rounds): one full collection can leave garbage that only the next frees. */
function settleHeap(): number {
  let used = Infinity;
  for (let i = 0; i < 5; i++) {
    gc();
    const now = process.memoryUsage().heapUsed;
    if (now >= used - 64 * 1024) return now;
    used = now;
  }
  return process.memoryUsage().heapUsed;
}

function summarise(passes: number[]): Throughput {
  const sorted = [...passes].sort((a, b) => a - b);
  return { passes, median: sorted[Math.floor(sorted.length / 2)]!, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

async function encodeAll(codec: AvroCodec, events: Iterable<AgentEvent>): Promise<Buffer[]> {
  const topics = topicNames();
  const encoders = new Map(await Promise.all(EVENT_TYPES.map(async (t) => [t, await codec.encoder(topics.byType[t], t)] as const)));
  const values: Buffer[] = [];
  for (const e of events) values.push(encoders.get(e.type)!(e));
  // Resolve every writer schema id before timing.
  await codec.prepare(new Set(values.map((v) => AvroCodec.schemaIdOf(v))));
  return values;
}

/** Keeps the outputs from growing without bound (a consumer would take them). */
function drain(out: PipelineOutput): void {
  if (out.detections.length > 10_000) out.detections.length = 0;
  if (out.riskChanges.length > 10_000) out.riskChanges.length = 0;
}

async function measure(values: Buffer[], codec: AvroCodec, repeat: number): Promise<Omit<WorkloadBench, 'meanValueBytes'>> {
  const total = values.length;
  const decodePasses: number[] = [];
  const detectPasses: number[] = [];
  let agents = 0;
  for (let r = 0; r < repeat; r++) {
    gc();
    let t0 = performance.now();
    for (let i = 0; i < total; i++) codec.decode(values[i]!);
    decodePasses.push(total / ((performance.now() - t0) / 1000));

    let pipeline: DetectionPipeline | undefined = new DetectionPipeline();
    const out: PipelineOutput = { detections: [], riskChanges: [] };
    gc();
    t0 = performance.now();
    for (let i = 0; i < total; i++) {
      pipeline.processInto(codec.decode(values[i]!), out);
      drain(out);
    }
    pipeline.flush(out);
    detectPasses.push(total / ((performance.now() - t0) / 1000));
    agents = pipeline.stats().trackedAgents;
    pipeline = undefined;
  }
  return { events: total, agents, detection: summarise(detectPasses), decodeAlone: summarise(decodePasses) };
}

/** The evaluation's large fleet (6 tenants × 8 blueprints × 50 agents, attacks and look-alikes) over `hours` of event time. */
export function fleetEvents(hours = 48): Generator<AgentEvent> {
  const stream = streamDataset({
    seed: 1,
    start: Date.UTC(2026, 9, 1),
    durationMs: hours * 3_600_000,
    tenants: 6,
    blueprintsPerTenant: 8,
    agentsPerBlueprint: 50,
    attacksPerScenario: 20,
  });
  return (function* () {
    for (const batch of stream.batches()) yield* batch;
  })();
}

function* take<T>(it: Iterator<T>, n: number): Generator<T> {
  for (let i = 0; i < n; i++) yield it.next().value as T;
}

export async function benchDetection(opts: { stressEvents: number; stressAgents?: number; repeat?: number }): Promise<DetectionBench> {
  const repeat = opts.repeat ?? 3;
  const stressAgents = opts.stressAgents ?? 100_000;
  const mean = (values: Buffer[]) => values.reduce((n, v) => n + v.length, 0) / Math.max(1, values.length);

  let codec = new AvroCodec(new BuiltInSchemaRegistry());
  let values: Buffer[] = await encodeAll(codec, fleetEvents());
  const fleet: WorkloadBench = { ...(await measure(values, codec, repeat)), meanValueBytes: mean(values) };

  codec = new AvroCodec(new BuiltInSchemaRegistry());
  const stressStream = () => syntheticStream({ seed: 11, agents: stressAgents, start: Date.UTC(2026, 10, 1), stepMs: 5 });
  values = await encodeAll(codec, take(stressStream(), opts.stressEvents));
  const stress: WorkloadBench = { ...(await measure(values, codec, repeat)), meanValueBytes: mean(values) };

  // Memory: a fresh pipeline fed the stress stream; the heap it frees when
  // released is its retained state.
  values = [];
  const out: PipelineOutput = { detections: [], riskChanges: [] };
  settleHeap();
  let measured: DetectionPipeline | undefined = new DetectionPipeline();
  const again = stressStream();
  for (let i = 0; i < opts.stressEvents; i++) {
    measured.processInto(again.next().value, out);
    drain(out);
  }
  out.detections.length = 0;
  out.riskChanges.length = 0;
  const heapWith = settleHeap();
  const memoryAgents = measured.stats().trackedAgents;
  // What the pipeline retains is what its release frees: measured this way, anything an earlier
  // workload left for the collector to take meanwhile cannot offset it.
  measured = undefined;
  const heapWithout = settleHeap();
  return { fleet, stress, bytesPerAgent: (heapWith - heapWithout) / Math.max(1, memoryAgents), memoryAgents };
}

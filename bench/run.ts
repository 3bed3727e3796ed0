// `npm run bench`: throughput and memory numbers, printed, never asserted.
//
//  1. ingest end to end: Kafka → decode → validate → detect → ClickHouse insert
//     (events/s), next to the bare read rate of the same topics by a plain
//     consumer (the ceiling), and their ratio;
//  2. detection in one process, Avro decode included (events/s): a replay of
//     a generated fleet (~1.5M events) and a stress stream of ≥1M events over
//     100k agents, each run BENCH_REPEAT times (default 3); and heap bytes per
//     tracked agent;
//  3. (when present) the risk lookup under HTTP load.
//
// It starts its own Kafka broker (or uses KAFKA_BROKERS) and an embedded
// ClickHouse in a temporary directory. Sizes: BENCH_EVENTS (default 500000),
// BENCH_DETECT_EVENTS (default 1000000, the stress stream).

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import { startKafka, type KafkaBroker } from '../scripts/kafka/kafka.js';
import { AvroCodec } from '../ingest/avro/codec.js';
import { BuiltInSchemaRegistry } from '../ingest/avro/registry.js';
import { EventProducer, ensureTopics } from '../ingest/kafka-producer.js';
import { KafkaSource } from '../ingest/kafka-source.js';
import { FileDeadLetterSink } from '../ingest/dead-letter.js';
import { topicNames } from '../ingest/topics.js';
import { DetectionPipeline } from '../detectors/pipeline.js';
import { openClickHouse } from '../store/clickhouse.js';
import { LedgerWriter } from '../store/ledger-writer.js';
import { runMigrations } from '../store/migrations.js';
import { storedOffsets } from '../store/queries.js';
import { PipelineRunner } from '../cli/runner.js';
import { syntheticStream } from './synthetic.js';
import { benchDetection, type Throughput, type WorkloadBench } from './detection.js';
import { printLookupBench } from './lookup.js';

const E2E_EVENTS = Number(process.env.BENCH_EVENTS ?? 500_000);
const DETECT_EVENTS = Number(process.env.BENCH_DETECT_EVENTS ?? 1_000_000);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** CPU seconds used so far by a process (user + system), from /proc; null where unreadable (not Linux, or gone). */
function procCpuSeconds(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command (which may contain spaces), 1-based from the state: utime is 14, stime 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return null;
  }
}
const CLOCK_TICKS = 100;

/** CPU seconds spent by this process and by the broker (when known) while `fn` runs. */
async function withCpu<T>(brokerPid: number | undefined, fn: () => Promise<T>): Promise<{ value: T; self: number; broker: number | null }> {
  const b0 = brokerPid === undefined ? null : procCpuSeconds(brokerPid);
  const c0 = process.cpuUsage();
  const value = await fn();
  const c = process.cpuUsage(c0);
  const b1 = brokerPid === undefined ? null : procCpuSeconds(brokerPid);
  return { value, self: (c.user + c.system) / 1e6, broker: b0 === null || b1 === null ? null : b1 - b0 };
}

/** "x.x cores here + y.y in the broker" over `seconds` of wall time. */
function cores(cpu: { self: number; broker: number | null }, seconds: number): string {
  const here = `${(cpu.self / seconds).toFixed(2)} cores in this process`;
  return cpu.broker === null ? here : `${here} + ${(cpu.broker / seconds).toFixed(2)} in the broker`;
}

async function produceAll(brokers: string[], prefix: string): Promise<{ topics: ReturnType<typeof topicNames>; seconds: number }> {
  const topics = topicNames(prefix);
  await ensureTopics(brokers, topics, { partitions: 1 });
  const producer = new EventProducer(brokers, topics, new AvroCodec(new BuiltInSchemaRegistry()));
  await producer.connect();
  const t0 = performance.now();
  const stream = syntheticStream({ seed: 7, agents: 20_000, start: Date.UTC(2026, 10, 1) });
  let batch = [];
  for (let i = 0; i < E2E_EVENTS; i++) {
    batch.push(stream.next().value);
    if (batch.length === 10_000) {
      await producer.send(batch);
      batch = [];
    }
  }
  await producer.send(batch);
  await producer.disconnect();
  return { topics, seconds: (performance.now() - t0) / 1000 };
}

/** Reads every message of the topics with a plain consumer, doing nothing with them. */
async function bareRead(brokers: string[], topics: string[], expected: number): Promise<number> {
  const kafka = new Kafka({ clientId: 'bench-bare', brokers, logLevel: logLevel.NOTHING });
  const consumer = kafka.consumer({ groupId: `bench-bare-${Date.now()}`, maxBytesPerPartition: 16 * 1024 * 1024, maxBytes: 64 * 1024 * 1024, maxWaitTimeInMs: 100 });
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  let seen = 0;
  // Timed like the end-to-end run: from the start of consumption (group join
  // included) to the last message, so the two numbers compare like for like.
  const t0 = performance.now();
  const done = new Promise<number>((resolve) => {
    void consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        seen += batch.messages.length;
        if (seen >= expected) resolve((performance.now() - t0) / 1000);
      },
    });
  });
  const seconds = await done;
  await consumer.disconnect();
  return expected / seconds;
}

async function endToEnd(brokers: string[], topics: ReturnType<typeof topicNames>, dataDir: string): Promise<number> {
  const store = await openClickHouse({ url: undefined, user: 'default', password: '', database: 'bench', dataDir });
  await runMigrations(store);
  const codec = new AvroCodec(new BuiltInSchemaRegistry());
  const source = new KafkaSource({ brokers, clientId: 'bench', groupId: `bench-e2e-${Date.now()}`, topics, codec, maxBatchRecords: 20_000 });
  const runner = new PipelineRunner({
    source,
    deadLetters: new FileDeadLetterSink(path.join(dataDir, 'dlq.ndjson')),
    detection: new DetectionPipeline(),
    ledger: new LedgerWriter(store),
    storedOffsets: (s, a, b) => storedOffsets(store, s, a, b),
    logger: { info() {}, warn() {}, error: (o, m) => console.error(m, o) },
  });
  const t0 = performance.now();
  void runner.start();
  // Timed from the start of consumption to the moment the last event is durable.
  while (runner.stats.events < E2E_EVENTS) {
    if (runner.state === 'failed') throw runner.failure;
    await new Promise((r) => setTimeout(r, 20));
  }
  const seconds = (performance.now() - t0) / 1000;
  console.log(
    `  wall ${seconds.toFixed(1)} s: detection ${(runner.stats.detectMs / 1000).toFixed(1)} s, row serialisation ${(runner.stats.serializeMs / 1000).toFixed(1)} s, store ${(runner.stats.persistMs / 1000).toFixed(1)} s (overlapping), batches ${runner.stats.batches}, detections ${runner.stats.detections}, risk changes ${runner.stats.riskChanges}`,
  );
  await runner.stop();
  await store.close();
  return E2E_EVENTS / seconds;
}

// BENCH_ONLY=detection,ingest,lookup runs a subset of the sections.
const ONLY = new Set((process.env.BENCH_ONLY ?? 'detection,ingest,lookup').split(',').map((x) => x.trim()));

async function main(): Promise<void> {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'riskstream-bench-'));
  let broker: KafkaBroker | undefined;
  try {
    console.log(`riskstream bench — ${os.cpus().length} cores, Node ${process.version}\n`);

    if (ONLY.has('detection')) {
      console.log(`## Detection (one process, Avro decode included, ${REPEAT} pass${REPEAT === 1 ? '' : 'es'} per workload: median [min–max])`);
      const d = await benchDetection({ stressEvents: DETECT_EVENTS, repeat: REPEAT });
      const rate = (t: Throughput) => `${fmt(t.median)} events/s [${fmt(t.min)}–${fmt(t.max)}]`;
      const workload = (name: string, w: WorkloadBench) => {
        console.log(`${name}: ${fmt(w.events)} events over ${fmt(w.agents)} agents, ${Math.round(w.meanValueBytes)} bytes per value`);
        console.log(`  detector throughput:        ${rate(w.detection)} (target ≥ 300,000 per core)`);
        console.log(`  decode alone:               ${rate(w.decodeAlone)}`);
      };
      workload('fleet replay (fixtures, large fleet, 48 h)', d.fleet);
      workload('stress (uniform over 100k agents)', d.stress);
      console.log(`memory per tracked agent:     ${fmt(d.bytesPerAgent)} bytes over ${fmt(d.memoryAgents)} agents (target ≤ 4,096)`);
      console.log('');
    }
    if (ONLY.has('ingest')) {

      let brokers = process.env.KAFKA_BROKERS?.split(',').filter(Boolean);
      if (!brokers?.length) {
        broker = await startKafka();
        brokers = [broker.brokers];
      }
      console.log(`## Ingest end to end (${fmt(E2E_EVENTS)} events, broker ${brokers.join(',')})`);
      const { topics, seconds } = await produceAll(brokers, `bench-${Date.now()}`);
      console.log(`produced in ${seconds.toFixed(1)} s`);
      const bare = await withCpu(broker?.pid, () => bareRead(brokers, topics.inputs, E2E_EVENTS));
      const ceiling = bare.value;
      console.log(`bare read rate (ceiling):     ${fmt(ceiling)} events/s (${cores(bare, E2E_EVENTS / ceiling)})`);
      const run = await withCpu(broker?.pid, () => endToEnd(brokers, topics, dataDir));
      const e2e = run.value;
      console.log(`end to end (Kafka → decode → validate → detect → ClickHouse): ${fmt(e2e)} events/s (target ≥ 50,000)`);
      console.log(`  CPU: ${cores(run, E2E_EVENTS / e2e)}; ${((run.self * 1e6) / E2E_EVENTS).toFixed(1)} µs per event here (JS thread and embedded ClickHouse's threads)`);
      console.log(`ratio to the bare read rate:  ${(e2e / ceiling).toFixed(2)} (target ≥ 0.5)`);
    }
  } finally {
    await broker?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }

  // After the broker is stopped, so that it does not share the CPU with the servers measured.
  if (ONLY.has('lookup')) {
    console.log('');
    await printLookupBench();
  }
}

await main();
process.exit(0);

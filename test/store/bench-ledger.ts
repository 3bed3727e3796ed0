// Insert throughput of LedgerWriter into embedded chdb.
//   npx tsx test/store/bench-ledger.ts [events=200000] [batch=20000]
// Generates realistic signin/network events (mixed), writes them in batches,
// and reports rows/s for the whole writeBatch (row building + JSON + insert)
// and for row building alone.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openClickHouse } from '../../store/clickhouse.js';
import { LedgerWriter, eventsBody } from '../../store/ledger-writer.js';
import { runMigrations } from '../../store/migrations.js';
import { realisticEvents } from './realistic.js';

const TOTAL = Number(process.argv[2] ?? 200_000);
const BATCH = Number(process.argv[3] ?? 20_000);

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'riskstream-bench-'));
  const client = await openClickHouse({ url: undefined, user: 'default', password: '', database: 'bench', dataDir });
  await runMigrations(client);
  const events = realisticEvents(TOTAL);
  const writer = new LedgerWriter(client);

  // Row building alone (what writeBatch does before handing rows to the client).
  let t0 = performance.now();
  let bytes = 0;
  for (let off = 0; off < events.length; off += BATCH) {
    bytes += eventsBody({ source: 'kafka:riskstream.signin/0', firstOffset: off, events: events.slice(off, off + BATCH) }).body.length;
  }
  const buildMs = performance.now() - t0;

  // Warm-up batch in another tenant-free database is not needed: the first batch
  // includes the engine's lazy initialisation, so report it separately.
  const batches: number[] = [];
  const cpu0 = process.cpuUsage();
  t0 = performance.now();
  for (let off = 0; off < events.length; off += BATCH) {
    const b0 = performance.now();
    const slice = events.slice(off, off + BATCH);
    await writer.writeBatch({
      token: `bench:${off}-${off + slice.length - 1}`,
      events: { source: 'kafka:riskstream.signin/0', firstOffset: off, events: slice },
    });
    batches.push(performance.now() - b0);
  }
  const totalMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;

  // Overlapped: two batches in flight, so building batch N+1 (JS thread) runs
  // while batch N is in the engine (its own threads), as a pipeline that
  // processes the next batch while the previous one is being stored would.
  const db2 = await openClickHouse({ url: undefined, user: 'default', password: '', database: 'bench_overlap', dataDir });
  await runMigrations(db2);
  const writer2 = new LedgerWriter(db2);
  const cpu1 = process.cpuUsage();
  const t1 = performance.now();
  const inFlight: Promise<unknown>[] = [];
  for (let off = 0; off < events.length; off += BATCH) {
    const slice = events.slice(off, off + BATCH);
    if (inFlight.length >= 2) await inFlight.shift();
    inFlight.push(
      writer2.writeBatch({ token: `bench2:${off}`, events: { source: 'kafka:riskstream.signin/0', firstOffset: off, events: slice } }),
    );
  }
  await Promise.all(inFlight);
  const overlapMs = performance.now() - t1;
  const cpuO = process.cpuUsage(cpu1);
  await db2.close();

  const rs = await client.query({ query: 'SELECT count() AS n FROM events', format: 'JSONEachRow' });
  const stored = Number((await rs.json<{ n: string }>())[0]?.n);
  console.log(JSON.stringify({
    events: TOTAL, batch: BATCH, stored,
    json_mb: +(bytes / 1e6).toFixed(1),
    build_rows_per_s: Math.round(TOTAL / (buildMs / 1000)),
    write_rows_per_s: Math.round(TOTAL / (totalMs / 1000)),
    // CPU of the whole process (JS thread + the in-process engine's threads,
    // including background merges) per event: independent of other load.
    cpu_us_per_event: +((cpuMs * 1000) / TOTAL).toFixed(1),
    rows_per_cpu_s: Math.round(TOTAL / (cpuMs / 1000)),
    batch_ms: batches.map((b) => Math.round(b)),
    overlapped_rows_per_s: Math.round(TOTAL / (overlapMs / 1000)),
    overlapped_cpu_us_per_event: +(((cpuO.user + cpuO.system) / TOTAL)).toFixed(1),
    cpus: os.cpus().length,
  }));
  await client.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});

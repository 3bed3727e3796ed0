// Risk lookup under HTTP load: the real API (buildApi + risk routes, with
// authentication, rate limiting and logging as configured in production)
// against a bare Fastify route returning a constant from a Map, both in this
// process, both driven by autocannon from a second process (load-worker.ts)
// with the same connections and total duration (in alternating rounds, so
// other load on the machine weighs on both alike); then the lookup at a fixed
// 5,000 requests/s from an open-loop paced generator for its latency (see
// load-worker.ts for why autocannon's overallRate is not used for that).
//
// Targets: lookup throughput ≥ 0.8 × bare; p99 ≤ 2 ms at 5,000 requests/s.
// Everything listens on 127.0.0.1. Sizes: BENCH_LOOKUP_AGENTS (default
// 100000, over 2 tenants), BENCH_LOOKUP_SECONDS (default 10),
// BENCH_LOOKUP_CONNECTIONS (default 50), BENCH_LOOKUP_RATE (default 5000),
// BENCH_LOOKUP_ROUNDS (default 5).

import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import type { ClickHouseClient } from '@clickhouse/client';
import { TokenAuthority } from '../api/auth.js';
import { buildApi } from '../api/server.js';
import { riskRoutes } from '../api/routes/risk.js';
import { RiskView, type AgentRiskAnswer } from '../publish/risk-view.js';
import type { RiskLevel } from '../contract/events.js';
import type { RiskChange, RiskReason } from '../detectors/types.js';
import type { LoadJob, LoadResult } from './load-worker.js';

export interface LookupBenchResult {
  agents: number;
  bytesPerEntry: number | null;
  bare: LoadResult;
  lookup: LoadResult;
  ratio: number;
  fixedRate: number;
  atRate: LoadResult;
  /** The bare route under the same paced load (the floor of what the machine can measure). */
  bareAtRate: LoadResult;
  /** CPU time of the server process per request (µs) in the closed-loop runs. */
  cpuPerRequest: { bare: number; lookup: number };
}

const HOST = '127.0.0.1';
const TENANTS = ['tenant-0', 'tenant-1'];

const REASONS: RiskReason[] = [
  { detector: 'token-replay', severity: 'high', summary: 'Token tok-8f2c issued to the agent at 10.1.2.3 was used from 203.0.113.9 (AS64500, NL) 40 s later' },
  { detector: 'unfamiliar-resource', severity: 'medium', summary: 'Agent requested https://vault.azure.net, a resource neither it nor its 49 peers used in 30 days' },
  { detector: 'signin-spike', severity: 'low', summary: 'Agent signed in 212 times in 10 min, 14× its usual 15.1 (low threshold 60.0, UTC hour 14)' },
  { detector: 'gateway-threat', severity: 'high', summary: 'Gateway blocked malware download of payload.exe from cdn-update.example.net' },
];

function levelOf(i: number): RiskLevel {
  const r = (i * 2654435761) % 100;
  return r < 10 ? 'high' : r < 30 ? 'medium' : r < 85 ? 'low' : 'none';
}

/** `agents` risk changes over TENANTS, levels mixed (10% high, 20% medium, 55% low, 15% none). */
export function benchChanges(agents: number, start = Date.UTC(2026, 0, 5)): RiskChange[] {
  const out: RiskChange[] = [];
  for (let i = 0; i < agents; i++) {
    const tenant = TENANTS[i % TENANTS.length]!;
    const agent = `agent-${i}`;
    const level = levelOf(i);
    const n = level === 'none' ? 1 : 1 + (i % 3);
    const reasons = level === 'none' ? [{ detector: 'admin', severity: 'low' as const, summary: 'risk dismissed by analyst@contoso: known load test' }] : REASONS.slice(i % 2, (i % 2) + n);
    const time = start + i * 37;
    out.push({
      tenant_id: tenant,
      agent_id: agent,
      time,
      level,
      previous_level: 'none',
      score: level === 'high' ? 0.91 : level === 'medium' ? 0.63 : level === 'low' ? 0.28 : 0,
      state: level === 'none' ? 'dismissed' : 'atRisk',
      reasons,
      change_id: `${tenant}/${agent}/${time}/1`,
    });
  }
  return out;
}

/** Fills the view; the changes are garbage when it returns (so the heap delta is the view's). */
function fill(view: RiskView, agents: number): void {
  view.apply(benchChanges(agents));
}

function gc(): void {
  (globalThis as { gc?: () => void }).gc?.();
}

/** A store that must not be touched: the lookup never queries ClickHouse. */
const noStore = new Proxy({} as ClickHouseClient, {
  get(_t, prop) {
    if (prop === 'then') return undefined;
    throw new Error(`bench: the lookup must not use the store (${String(prop)})`);
  },
});

function workerPath(): string {
  const self = fileURLToPath(import.meta.url);
  return self.replace(/lookup\.(ts|js)$/, 'load-worker.$1');
}

/** Runs load jobs, in order, in one child process. */
function drive(jobs: LoadJob[]): Promise<LoadResult[]> {
  return new Promise((resolve, reject) => {
    const child = fork(workerPath(), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let settled = false;
    child.once('message', (m: { ok: boolean; results?: LoadResult[]; error?: string }) => {
      settled = true;
      if (m.ok && m.results) resolve(m.results);
      else reject(new Error(`load worker failed: ${m.error}`));
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (!settled) reject(new Error(`load worker exited with ${code}`));
    });
    child.send(jobs);
  });
}

/** Sums closed-loop rounds of one server into one result (latency: the median round's). */
function combine(rounds: LoadResult[]): LoadResult {
  const requests = rounds.reduce((n, r) => n + r.requests, 0);
  const seconds = rounds.reduce((n, r) => n + r.seconds, 0);
  const byP99 = [...rounds].sort((x, y) => x.latencyMs.p99 - y.latencyMs.p99);
  const median = byP99[Math.floor(byP99.length / 2)]!;
  return {
    name: median.name,
    requests,
    seconds,
    requestsPerSecond: requests / seconds,
    non2xx: rounds.reduce((n, r) => n + r.non2xx, 0),
    errors: rounds.reduce((n, r) => n + r.errors, 0),
    latencyMs: median.latencyMs,
  };
}

async function listen(app: FastifyInstance): Promise<string> {
  // Keep the "server listening" line out of the bench output.
  const level = app.log.level;
  app.log.level = 'warn';
  const url = await app.listen({ host: HOST, port: 0 });
  app.log.level = level;
  return url;
}

export async function benchLookup(
  opts: { agents?: number; seconds?: number; connections?: number; rate?: number; rounds?: number } = {},
): Promise<LookupBenchResult> {
  const agents = opts.agents ?? Number(process.env.BENCH_LOOKUP_AGENTS ?? 100_000);
  const seconds = opts.seconds ?? Number(process.env.BENCH_LOOKUP_SECONDS ?? 10);
  const connections = opts.connections ?? Number(process.env.BENCH_LOOKUP_CONNECTIONS ?? 50);
  const rate = opts.rate ?? Number(process.env.BENCH_LOOKUP_RATE ?? 5000);
  const rounds_ = opts.rounds ?? Number(process.env.BENCH_LOOKUP_ROUNDS ?? 5);

  gc();
  const heap0 = process.memoryUsage().heapUsed;
  const view = new RiskView();
  fill(view, agents);
  gc();
  const bytesPerEntry = (globalThis as { gc?: unknown }).gc ? (process.memoryUsage().heapUsed - heap0) / view.size : null;

  // Ids asked: tenant-0's agents, 1 in 10 unknown.
  const ids: string[] = [];
  for (let i = 0; i < Math.min(agents, 20_000); i++) ids.push(i % 10 === 9 ? `unknown-${i}` : `agent-${i * TENANTS.length}`);

  // The real API, as cli/app.ts builds it (info logging, per-token rate limit, authentication).
  const authority = new TokenAuthority(randomBytes(32));
  const api = await buildApi({
    store: noStore,
    authority,
    readiness: [],
    logLevel: 'info',
    // High enough never to trip in the bench: the limiter runs on every request but never answers 429.
    v1Plugins: [riskRoutes(view, { rateLimitPerMinute: 1_000_000_000 })],
  });
  const token = await authority.issue({ role: 'token_server', tenant: 'tenant-0', ttlSeconds: 3600 });
  const apiUrl = await listen(api);

  // The bare baseline: one route, a constant from a Map, nothing else.
  const bareMap = new Map<string, AgentRiskAnswer>();
  for (const [tenant, agent, answer] of view.entries()) if (tenant === 'tenant-0') bareMap.set(agent, answer);
  const unknown: AgentRiskAnswer = { agent_id: '', level: 'none', state: 'none', score: 0, updated_at: null, reasons: [] };
  const bare = Fastify();
  bare.get<{ Params: { id: string } }>('/agents/:id', async (request) => bareMap.get(request.params.id) ?? unknown);
  const bareUrl = await listen(bare);

  // Same connections and total duration for both, in alternating rounds so
  // that anything else running on the machine weighs on both alike.
  const rounds = Math.max(1, Math.min(rounds_, seconds));
  const slice = seconds / rounds;
  const auth = { authorization: `Bearer ${token}` };
  const bareJob = { kind: 'closed' as const, name: 'bare', method: 'GET' as const, url: bareUrl, pathPrefix: '/agents/', ids, headers: {}, connections };
  const lookupJob = { ...bareJob, name: 'lookup', url: apiUrl, pathPrefix: '/v1/risk/agents/', headers: auth };
  const warmups: LoadJob[] = [
    { ...bareJob, name: 'warmup', durationSeconds: 2 },
    { ...lookupJob, name: 'warmup', durationSeconds: 2 },
  ];
  const measured: LoadJob[] = [];
  for (let i = 0; i < rounds; i++) measured.push({ ...bareJob, durationSeconds: slice }, { ...lookupJob, durationSeconds: slice });
  measured.push({ ...lookupJob, kind: 'paced', name: 'paced', durationSeconds: seconds, rate });
  // The same paced load on the bare route: the latency floor of this machine and generator.
  measured.push({ ...bareJob, kind: 'paced', name: 'paced-bare', durationSeconds: seconds, rate });
  try {
    await drive(warmups);
    // One child per job, so that this process's CPU time (the servers') is known per job.
    const results: LoadResult[] = [];
    const cpuMicros = new Map<string, number>();
    for (const job of measured) {
      const c0 = process.cpuUsage();
      const [r] = await drive([job]);
      const c = process.cpuUsage(c0);
      results.push(r!);
      cpuMicros.set(job.name, (cpuMicros.get(job.name) ?? 0) + c.user + c.system);
    }
    for (const r of results) {
      if (r.non2xx > 0 || r.errors > 0) throw new Error(`${r.name} run had ${r.non2xx} non-2xx answers and ${r.errors} errors`);
    }
    const bareResult = combine(results.filter((r) => r.name === 'bare'));
    const lookupResult = combine(results.filter((r) => r.name === 'lookup'));
    const atRate = results.find((r) => r.name === 'paced')!;
    const bareAtRate = results.find((r) => r.name === 'paced-bare')!;
    const cpuPerRequest = { bare: cpuMicros.get('bare')! / bareResult.requests, lookup: cpuMicros.get('lookup')! / lookupResult.requests };
    return {
      agents: view.size,
      bytesPerEntry,
      bare: bareResult,
      lookup: lookupResult,
      ratio: lookupResult.requestsPerSecond / bareResult.requestsPerSecond,
      fixedRate: rate,
      atRate,
      bareAtRate,
      cpuPerRequest,
    };
  } finally {
    await api.close();
    await bare.close();
  }
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** Prints the section of `npm run bench`. */
export async function printLookupBench(): Promise<LookupBenchResult> {
  const agents = Number(process.env.BENCH_LOOKUP_AGENTS ?? 100_000);
  const seconds = Number(process.env.BENCH_LOOKUP_SECONDS ?? 10);
  const connections = Number(process.env.BENCH_LOOKUP_CONNECTIONS ?? 50);
  console.log(`## Risk lookup under HTTP load (${fmt(agents)} agents over 2 tenants, ${connections} connections, ${seconds} s, load from a second process)`);
  const load = os.loadavg()[0]!;
  const r = await benchLookup({ agents, seconds, connections });
  if (r.bytesPerEntry !== null) console.log(`risk view memory:             ${fmt(r.bytesPerEntry)} bytes per agent`);
  console.log(`bare Fastify route (Map):     ${fmt(r.bare.requestsPerSecond)} req/s (p99 ${r.bare.latencyMs.p99} ms)`);
  console.log(`GET /v1/risk/agents/:id:      ${fmt(r.lookup.requestsPerSecond)} req/s (p99 ${r.lookup.latencyMs.p99} ms)`);
  console.log(`ratio to the bare route:      ${r.ratio.toFixed(2)} (target ≥ 0.8)`);
  console.log(
    `server CPU per request:       bare ${r.cpuPerRequest.bare.toFixed(1)} µs, lookup ${r.cpuPerRequest.lookup.toFixed(1)} µs (ratio ${(r.cpuPerRequest.bare / r.cpuPerRequest.lookup).toFixed(2)}: the throughput ratio when the server, not the generator or other work, is the limit)`,
  );
  console.log(
    `p99 at ${fmt(r.fixedRate)} req/s (paced):    ${r.atRate.latencyMs.p99} ms (p50 ${r.atRate.latencyMs.p50} ms, max ${r.atRate.latencyMs.max} ms, ${fmt(r.atRate.requestsPerSecond)} req/s achieved; target ≤ 2 ms; generator dispatch lag p99 ${r.atRate.dispatchLagMs?.p99 ?? '?'} ms)`,
  );
  console.log(
    `  same paced load, bare route: p99 ${r.bareAtRate.latencyMs.p99} ms (p50 ${r.bareAtRate.latencyMs.p50} ms; generator dispatch lag p99 ${r.bareAtRate.dispatchLagMs?.p99 ?? '?'} ms), for reference`,
  );
  // Server and load generator already take two cores; other work on the
  // machine (a load average well above 0 before the run) shows as latency.
  console.log(`load average before the run:  ${load.toFixed(2)} (1 min, ${os.cpus().length} cores; other work on the machine inflates the latencies above)`);
  return r;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await printLookupBench();
  process.exit(0);
}

// Benchmark of the detection pipeline (all detectors of the catalogue + the
// risk engine): events per second on one core and heap bytes per tracked
// agent. Builds a synthetic, realistic, benign stream in memory (a local
// generator: tenants, blueprints with their resources and regions, agents
// with heavy-tailed activity, daily cycle, batch bursts, ephemeral agents).
//
//   node --expose-gc --import tsx bench/detectors.ts [events] [agents] [sessions]
//   (or: npx tsx bench/detectors.ts — without --expose-gc the memory figure is rough)
//
// Targets: ≥ 300k events/s; ≤ 4 KB per tracked agent (100k agents).

import type { AgentEvent } from '../contract/events.js';
import { DetectionPipeline, type PipelineOutput } from '../detectors/pipeline.js';
import { createCatalogue } from '../detectors/catalogue.js';
import { seededRandom } from '../publish/util.js';

const EVENTS = Number(process.argv[2] ?? process.env.BENCH_EVENTS ?? 1_000_000);
const AGENTS = Number(process.argv[3] ?? process.env.BENCH_AGENTS ?? 100_000);
/**
 * Concurrent sessions. Agents work in sessions (a sign-in, a token or two, a
 * few calls), interleaved with other agents' sessions; 0 = every event from an
 * independently drawn agent (no locality at all: the worst case for caches).
 */
const SESSIONS = Number(process.argv[4] ?? process.env.BENCH_SESSIONS ?? 2000);

const REGIONS = [
  { country: 'US', lat: 38.9, lon: -77.0, asn: 8075 },
  { country: 'US', lat: 47.6, lon: -122.3, asn: 8075 },
  { country: 'NL', lat: 52.4, lon: 4.9, asn: 8075 },
  { country: 'IE', lat: 53.3, lon: -6.3, asn: 16509 },
  { country: 'DE', lat: 50.1, lon: 8.7, asn: 16509 },
  { country: 'JP', lat: 35.7, lon: 139.7, asn: 15169 },
];
const RESOURCES = [
  'https://graph.microsoft.com',
  'https://vault.azure.net',
  'https://storage.azure.com',
  'https://management.azure.com',
  'https://api.contoso.com',
  'https://database.windows.net',
  'https://servicebus.azure.net',
  'https://cognitiveservices.azure.com',
];
const HOSTS = ['api.openai.com', 'api.contoso.com', 'mcp.contoso.com', 'blob.core.windows.net', 'graph.microsoft.com'];
const CATEGORIES = ['llm_provider', 'api', 'mcp_server', 'storage', 'api'];

interface Bp {
  tenant: string;
  id: string;
  resources: string[];
  region: number;
  ua: string;
}

function buildGenerator(seed: number, agents: number, sessions: number) {
  const rnd = seededRandom(seed);
  const tenants = 8;
  const bps: Bp[] = [];
  for (let i = 0; i < Math.max(1, Math.floor(agents / 500)); i++) {
    const r0 = Math.floor(rnd() * RESOURCES.length);
    bps.push({
      tenant: `tenant-${i % tenants}`,
      id: `bp-${i}`,
      resources: [RESOURCES[r0]!, RESOURCES[(r0 + 1) % RESOURCES.length]!, RESOURCES[(r0 + 3) % RESOURCES.length]!],
      region: Math.floor(rnd() * REGIONS.length),
      ua: `azsdk-js-identity/1.${Math.floor(rnd() * 9)}.0 node/20`,
    });
  }
  // Heavy-tailed activity: agent weights ~ Pareto; sample by the inverse CDF over a cumulative table.
  const cum = new Float64Array(agents);
  let total = 0;
  for (let a = 0; a < agents; a++) {
    total += 1 / Math.pow(1 - rnd() * 0.999, 0.8);
    cum[a] = total;
  }
  const pick = (): number => {
    const x = rnd() * total;
    let lo = 0;
    let hi = agents - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cum[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const start = Date.parse('2026-01-05T00:00:00Z');
  const spanMs = 6 * 3600_000;
  let seq = 0;
  let users = 0;
  const slotAgent = new Int32Array(Math.max(1, sessions));
  const slotLeft = new Int32Array(Math.max(1, sessions));
  const slotStep = new Int32Array(Math.max(1, sessions));
  return (i: number, n: number): AgentEvent => {
    // Event time: spread over the span with ±30 s jitter (out of order).
    const base = start + (i / n) * spanMs;
    const time = Math.round(base + (rnd() - 0.5) * 60_000);
    let a: number;
    let step = -1;
    if (sessions > 0) {
      const k = Math.floor(rnd() * sessions);
      if (slotLeft[k]! <= 0) {
        slotAgent[k] = pick();
        slotLeft[k] = 4 + Math.floor(rnd() * 7);
        slotStep[k] = 0;
      }
      a = slotAgent[k]!;
      slotLeft[k]!--;
      step = slotStep[k]!++;
    } else a = pick();
    const bp = bps[a % bps.length]!;
    const tenant = bp.tenant;
    const agent = `agent-${a}`;
    const region = REGIONS[bp.region]!;
    const id = `ev-${seq++}`;
    // Within a session: a sign-in, then tokens, then calls; otherwise by mix.
    const r0 = rnd();
    const r = step < 0 ? r0 : r0 < 0.005 ? r0 : step === 0 ? 0.3 : step <= 2 ? 0.6 : 0.9;
    if (r < 0.004) {
      const actions = ['created', 'sponsor_added', 'credential_added', 'permission_granted'] as const;
      const action = actions[Math.floor(rnd() * actions.length)]!;
      return {
        type: 'lifecycle', event_id: id, time, tenant_id: tenant, agent_id: agent, action, blueprint_id: bp.id,
        actor: `admin-${a % 50}`, sponsor_id: action === 'created' || action === 'sponsor_added' ? `user-${a % 997}` : null,
        credential_id: action === 'credential_added' ? `cred-${a}-new` : null, permission: action === 'permission_granted' ? 'Files.Read' : null,
      };
    }
    if (r < 0.005) {
      users++;
      return { type: 'user_risk', event_id: id, time, tenant_id: tenant, user_id: `user-${users % 997}`, level: rnd() < 0.9 ? 'low' : 'none', reason: null };
    }
    if (r < 0.42) {
      const obo = rnd() < 0.2;
      const fail = rnd() < 0.01;
      return {
        type: 'signin', event_id: id, time, tenant_id: tenant, agent_id: agent, agent_type: 'agent_identity', blueprint_id: bp.id,
        flow: obo ? 'on_behalf_of' : 'client_credentials', user_id: obo ? `user-${a % 997}` : null,
        credential_id: `cred-${a}`, credential_type: 'federated', ip: `10.${a & 255}.${(a >> 8) & 255}.${bp.region}`,
        asn: region.asn, country: region.country, lat: region.lat, lon: region.lon, user_agent: bp.ua,
        resource: bp.resources[Math.floor(rnd() * bp.resources.length)]!, result: fail ? 'failure' : 'success',
        error_code: fail ? 'temporarily_unavailable' : null,
      };
    }
    if (r < 0.7) {
      return {
        type: 'token', event_id: id, time, tenant_id: tenant, agent_id: agent, blueprint_id: bp.id, token_id: `tok-${a}-${Math.floor(time / 3600_000)}`,
        flow: 'client_credentials', user_id: null, resource: bp.resources[Math.floor(rnd() * bp.resources.length)]!,
        scopes: ['.default'], ip: `10.${a & 255}.${(a >> 8) & 255}.${bp.region}`, lifetime_s: 3600, decision: 'granted',
      };
    }
    const h = Math.floor(rnd() * HOSTS.length);
    return {
      type: 'network', event_id: id, time, tenant_id: tenant, agent_id: agent, blueprint_id: bp.id, ip: `10.${a & 255}.${(a >> 8) & 255}.${bp.region}`,
      token_id: `tok-${a}-${Math.floor(time / 3600_000)}`, dest_host: HOSTS[h]!, dest_ip: null, dest_port: 443, category: CATEGORIES[h]!,
      action: 'allowed', bytes_out: Math.floor(200 + rnd() * 5000), bytes_in: Math.floor(1000 + rnd() * 50_000), file_type: null, threat: 'none', dest_agent_id: null,
    };
  };
}

function gc(): void {
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
}

async function main(): Promise<void> {
  gc();
  const gen = buildGenerator(42, AGENTS, SESSIONS);
  const heap0 = process.memoryUsage().heapUsed;
  // BENCH_ONLY=id,id,... runs a subset of the catalogue (e.g. to attribute cost); 'none' runs none.
  const only = process.env.BENCH_ONLY?.split(',').filter(Boolean);
  const detectors = only ? createCatalogue().filter((d) => only.includes(d.meta.id)) : createCatalogue();
  const pipeline = new DetectionPipeline({ detectors });
  const out: PipelineOutput = { detections: [], riskChanges: [] };
  let elapsed = 0;
  let detections = 0;
  let changes = 0;
  const byDetector: Record<string, number> = {};
  // Events are generated in small batches outside the timed region (a batch of
  // 1,000 fits in the CPU cache, as after a decoder), then the batch is timed.
  const BATCH = 1000;
  const batch: AgentEvent[] = new Array(BATCH);
  for (let done = 0; done < EVENTS; done += BATCH) {
    const n = Math.min(BATCH, EVENTS - done);
    for (let i = 0; i < n; i++) batch[i] = gen(done + i, EVENTS);
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < n; i++) pipeline.processInto(batch[i]!, out);
    elapsed += Number(process.hrtime.bigint() - t0) / 1e9;
    if (out.detections.length + out.riskChanges.length > 0) {
      for (const d of out.detections) byDetector[d.detector] = (byDetector[d.detector] ?? 0) + 1;
      detections += out.detections.length;
      changes += out.riskChanges.length;
      out.detections.length = 0;
      out.riskChanges.length = 0;
    }
  }
  batch.length = 0;
  gc();
  const heap1 = process.memoryUsage().heapUsed;
  const stats = pipeline.stats();
  const perAgent = (heap1 - heap0) / Math.max(1, stats.trackedAgents);
  let medium = 0;
  for (const r of pipeline.risks()) if (r.level === 'medium' || r.level === 'high') medium++;
  const eps = EVENTS / elapsed;
  console.log(`detectors:         ${detectors.length}${only ? ` (${only.join(',')})` : ' (full catalogue)'}`);
  console.log(`events:            ${EVENTS} (${SESSIONS > 0 ? `${SESSIONS} concurrent sessions` : 'independent events'})`);
  console.log(`elapsed (process): ${elapsed.toFixed(2)} s`);
  console.log(`throughput:        ${Math.round(eps).toLocaleString('en-US')} events/s  (target ≥ 300,000)`);
  console.log(`tracked agents:    ${stats.trackedAgents}`);
  console.log(`heap delta:        ${((heap1 - heap0) / 1048576).toFixed(1)} MiB${(globalThis as { gc?: unknown }).gc ? '' : '  (no --expose-gc: rough)'}`);
  console.log(`heap per agent:    ${Math.round(perAgent)} bytes  (target ≤ 4096)`);
  console.log(`keys per detector: ${JSON.stringify(stats.keysPerDetector)}`);
  console.log(`detections:        ${detections} ${JSON.stringify(byDetector)}`);
  console.log(`risk changes:      ${changes}; agents at medium+ (all benign): ${medium} (${((100 * medium) / Math.max(1, stats.trackedAgents)).toFixed(3)}%)`);
}

await main();

// Helpers for the detection-core tests: event builders with defaults, and
// running detectors through a real DetectionPipeline (real agent directory,
// user-risk table, watermark and risk engine).

import type { AgentEvent, SigninEvent } from '../../contract/events.js';
import type { Detector } from '../../detectors/detector.js';
import { DetectionPipeline, type PipelineOptions } from '../../detectors/pipeline.js';
import type { Detection, RiskChange } from '../../detectors/types.js';
import { eventBuilders, MIN, SEC } from './helpers/events.js';

/** Monday 2025-01-06 08:00:00 UTC. */
export const T0 = Date.UTC(2025, 0, 6, 8, 0, 0);

export { SEC, MIN, HOUR, DAY } from './helpers/events.js';

// The defaults these tests were written against, where they differ from the common ones.
export const { resetIds, signin, token, network, lifecycle, userRisk } = eventBuilders({
  time: T0,
  signin: { credential_type: 'federated', ip: '20.0.0.1', lat: 38.9, lon: -77.0, user_agent: 'azsdk-js-identity/1.2.0' },
  token: { scopes: ['.default'], ip: '20.0.0.1' },
  network: { ip: '20.0.0.1', dest_host: 'api.contoso.com', bytes_out: 1000, bytes_in: 5000 },
  lifecycle: { actor: 'admin-1' },
  userRisk: { user_id: 'u1', level: 'medium' },
});

export interface RunResult {
  pipeline: DetectionPipeline;
  detections: Detection[];
  riskChanges: RiskChange[];
}

/** Runs events (in the given arrival order) through a pipeline with these detectors. */
export function run(detectors: Detector[], events: AgentEvent[], options: PipelineOptions = {}, flush = true): RunResult {
  const pipeline = new DetectionPipeline({ ...options, detectors });
  const out = pipeline.processBatch(events);
  if (flush) pipeline.flush(out);
  return { pipeline, detections: out.detections, riskChanges: out.riskChanges };
}

/** Continues a run with more events. */
export function more(r: RunResult, events: AgentEvent[], flush = true): RunResult {
  const out = r.pipeline.processBatch(events);
  if (flush) r.pipeline.flush(out);
  return { pipeline: r.pipeline, detections: out.detections, riskChanges: out.riskChanges };
}

/**
 * Runs `events` uninterrupted, and again with a snapshot taken after `split`
 * events (JSON round trip) restored into a fresh pipeline with a fresh detector;
 * returns both runs' detections after the split.
 */
export function snapshotRoundTrip(
  factory: () => Detector,
  events: AgentEvent[],
  split: number,
): { uninterrupted: Detection[]; restored: Detection[] } {
  const a = new DetectionPipeline({ detectors: [factory()] });
  a.processBatch(events.slice(0, split));
  const snap = JSON.parse(JSON.stringify(a.snapshot()));
  const rest = events.slice(split);
  const uninterrupted = a.processBatch(rest).detections;
  const b = new DetectionPipeline({ detectors: [factory()] });
  b.restore(snap);
  const restored = b.processBatch(rest).detections;
  return { uninterrupted, restored };
}

/**
 * A warmed-up blueprint: `agents` agents of `bp` each signing in every `everyMs`
 * for `durationMs` from `start`, cycling over `resources`.
 */
export function warmup(opts: {
  tenant?: string;
  bp?: string;
  agents: string[];
  resources?: string[];
  start?: number;
  durationMs?: number;
  everyMs?: number;
  extra?: Partial<SigninEvent>;
  kind?: 'signin' | 'token';
}): AgentEvent[] {
  const out: AgentEvent[] = [];
  const resources = opts.resources ?? ['https://graph.microsoft.com', 'https://vault.azure.net'];
  const start = opts.start ?? T0;
  const duration = opts.durationMs ?? 40 * MIN;
  const every = opts.everyMs ?? MIN;
  let i = 0;
  for (let t = start; t < start + duration; t += every) {
    for (const agent of opts.agents) {
      const resource = resources[i++ % resources.length]!;
      out.push(
        signin({
          tenant_id: opts.tenant ?? 't1',
          blueprint_id: opts.bp ?? 'bp1',
          agent_id: agent,
          credential_id: `cred-${agent}`,
          time: t,
          resource,
          ...opts.extra,
        }),
      );
    }
  }
  return out;
}

/** A small stream with benign warm-up traffic and a few attacks. */
export function mixedStream(): AgentEvent[] {
  const events: AgentEvent[] = [...warmup({ agents: ['a1', 'a2', 'a3', 'a4'], durationMs: 45 * MIN })];
  const end = T0 + 45 * MIN;
  events.push(signin({ agent_id: 'a1', credential_id: 'cred-a1', time: end, lat: 55.75, lon: 37.6, asn: 64500, country: 'RU', ip: '198.51.100.4', user_agent: 'curl/8.0' }));
  events.push(userRisk({ level: 'high', time: end + SEC }));
  events.push(token({ agent_id: 'a2', flow: 'on_behalf_of', user_id: 'u1', time: end + 2 * SEC }));
  for (let i = 0; i < 6; i++) events.push(signin({ agent_id: `v${i}`, result: 'failure', error_code: 'AADSTS7000215', ip: '203.0.113.50', time: end + 3 * SEC + i * SEC }));
  events.push(lifecycle({ agent_id: 'a3', action: 'sponsor_removed', sponsor_id: 'x', time: end + 4 * SEC }));
  events.push(token({ agent_id: 'a4', time: end + 5 * SEC, resource: 'https://secrets.example.com' }));
  events.push(userRisk({ level: 'none', time: end + 10 * MIN }));
  events.push(...warmup({ agents: ['a1', 'a2', 'a3', 'a4'], start: end + 11 * MIN, durationMs: 10 * MIN }));
  return events;
}

// Detector 19 — secret-enumeration: an agent reads a secrets store (Azure Key
// Vault, AWS Secrets Manager or Parameter Store, Google Secret Manager, a
// HashiCorp Vault) far faster than it and its blueprint ever do (T1555.006
// Credentials from Password Stores: Cloud Secrets Management Stores).
//
// An attacker running code in an agent's runtime (a poisoned dependency, an
// injected tool call) uses the agent's own token from the agent's own host to
// list and read every secret it can reach: the host, the resource, the token
// and the address are all the agent's, only the rate is not. An agent reads
// its few secrets at start-up and on rotation; a few hundred reads in minutes
// is a dump.
//
// Per agent that calls a secrets store: calls to secret stores over a sliding
// 10 minutes (five 2-minute sub-windows), and the highest completed 10-minute
// count it had at least an hour ago (its peak, decaying with a half-life of
// 3 days: a weekly rotation job is remembered; a burst does not raise its own
// bar); per blueprint, the highest peak of its agents.
// Rule: at least 50 calls within 10 minutes, 10× the agent's own peak and 5×
// its blueprint's (once it has called secret stores for an hour; before that
// 10× its blueprint's) → medium; without any baseline (a new blueprint), 200
// calls. The blueprint's peak is its busiest agent's: at 10× one busy peer
// would hide a dump by every quiet one. From 20 calls over that bar, under
// the medium floor: low (a smaller vault read whole;
// with another finding the agent rises). When 2 other
// agents of the blueprint went over their thresholds within 10 minutes, it is
// a rollout (every pod reading its secrets at start-up): low. Once per agent
// per hour; windows of an agent that fired in the last hour do not raise its
// peak.
//
// State: only for agents that call secret stores (a few numbers each); per
// blueprint a peak and its latest bursts.

import type { AgentEvent, NetworkEvent } from '../contract/events.js';
import type { Detection, DetectorMeta } from './types.js';
import { peerGroupId, peerGroupName, type Detector } from './detector.js';
import { NO_DETECTIONS, TenantMap, clone, hashString, type Timed } from './agent-directory.js';
import { RING_SUBS, ringAdd, ringSlide, ringSum, type SubWindowRing } from './sub-window-ring.js';
import { memoByHost } from './host-memo.js';

export interface SecretEnumerationOptions {
  /** The sliding window, ms (five sub-windows). */
  windowMs?: number;
  /** Least calls within the window that can be a finding (medium), and a low one. */
  minCalls?: number;
  lowCalls?: number;
  /** Multiple of the agent's own peak (of its blueprint's for an agent without history)... */
  factor?: number;
  /** ...and of its blueprint's peak for an agent with its own history. */
  peerFactor?: number;
  /** Calls within the window that fire without any baseline. */
  noBaselineCalls?: number;
  /** Half-life of a peak, ms. */
  peakHalfLifeMs?: number;
  /** The agent's own peak counts once it has called secret stores this long, ms. */
  learnMs?: number;
  /** Other agents of the blueprint over their thresholds within this long make a rollout, and how many. */
  rolloutWindowMs?: number;
  rolloutAgents?: number;
  /** One finding per agent per this, ms. */
  refireMs?: number;
  maxAgents?: number;
}

const DEFAULTS: Required<SecretEnumerationOptions> = {
  windowMs: 10 * 60_000,
  minCalls: 50,
  lowCalls: 20,
  factor: 10,
  peerFactor: 5,
  noBaselineCalls: 200,
  peakHalfLifeMs: 3 * 24 * 3_600_000,
  learnMs: 60 * 60_000,
  rolloutWindowMs: 10 * 60_000,
  rolloutAgents: 2,
  refireMs: 60 * 60_000,
  maxAgents: 1_000_000,
};

/** Per agent that calls secret stores; its ring holds the calls per sub-window. Times in seconds. */
interface SecretReader extends Timed, SubWindowRing {
  g: string;
  /** Peak: the highest sliding count at least an hour old (decayed as of `pt`). */
  peak: number;
  pt: number;
  /** The highest sliding count in hour `ca`, and in the hour before it: each becomes the peak an hour later (a burst does not raise its own bar). */
  cand: number;
  pv: number;
  ca: number;
  /** First call to a secret store (s); last finding (s, 0 when none); last low finding (s, 0 when none; absent in older snapshots). */
  first: number;
  fired: number;
  lf?: number;
  ids: string[];
}

interface SecretGroup extends Timed {
  /** Highest agent peak, decayed as of `pt` (s). */
  peak: number;
  pt: number;
  /** Flat [agent hash, time (s)] of recent bursts. */
  bursts: number[];
}

/** Hosts of cloud secret stores, by suffix; and a self-hosted HashiCorp Vault named `vault.<domain>`. */
const SECRET_STORE_SUFFIXES = ['.vault.azure.net', '.vault.usgovcloudapi.net', '.vault.azure.cn', '.managedhsm.azure.net', 'secretmanager.googleapis.com'];
const AWS_SECRET_SERVICES = /^(secretsmanager|ssm)(-fips)?\.[a-z0-9-]+\.amazonaws\.com$/;

/** True when `host` is a secrets store (Key Vault, Secrets Manager, Parameter Store, Secret Manager, a HashiCorp Vault). */
export function isSecretStoreHost(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  for (const s of SECRET_STORE_SUFFIXES) if (h.endsWith(s) || h === s.slice(1)) return true;
  return AWS_SECRET_SERVICES.test(h) || (h.startsWith('vault.') && h.split('.').length >= 3);
}

/** isSecretStoreHost per host string, remembered. */
const secretStore = memoByHost(isSecretStoreHost);

export const secretEnumerationMeta: DetectorMeta = {
  id: 'secret-enumeration',
  title: 'Secrets store read in bulk',
  severity: 'medium',
  mitre: { id: 'T1555.006', name: 'Credentials from Password Stores: Cloud Secrets Management Stores' },
  description:
    'An agent calls a secrets store (Azure Key Vault or Managed HSM, AWS Secrets Manager or Parameter Store, Google Secret Manager, a HashiCorp Vault) at least 50 times within 10 minutes, 10× the most it ever did in 10 minutes and 5× the most its blueprint\'s busiest agent did (10× for an agent calling them for less than an hour; peaks decay with a half-life of 3 days; without any baseline, 200 calls): code running in the agent\'s runtime dumping every secret with the agent\'s own token, from its own host. ' +
    'Medium; low when 2 other agents of the blueprint did the same within 10 minutes (a rollout reading its secrets at start-up), and low from 20 calls over those multiples under the medium floor. Once per agent per hour.',
};

export function createSecretEnumerationDetector(options: SecretEnumerationOptions = {}): Detector {
  const o: Required<SecretEnumerationOptions> = { ...DEFAULTS, ...options };
  const agents = new TenantMap<SecretReader>(o.maxAgents);
  const groups = new TenantMap<SecretGroup>(o.maxAgents);
  const subS = o.windowMs / RING_SUBS / 1000;
  const halfLifeS = o.peakHalfLifeMs / 1000;

  const decayed = (v: number, since: number, now: number): number => (now > since ? v * Math.pow(0.5, (now - since) / halfLifeS) : v);

  function groupOf(e: NetworkEvent, gid: string, now: number): SecretGroup {
    let g = groups.get(e.tenant_id, gid);
    if (g === undefined) {
      g = { at: e.time, peak: 0, pt: now, bursts: [] };
      groups.set(e.tenant_id, gid, g);
    } else if (e.time > g.at) g.at = e.time;
    return g;
  }

  function promote(a: SecretReader, g: SecretGroup, v: number, now: number): void {
    if (v <= 0) return;
    if (v > decayed(a.peak, a.pt, now)) {
      a.peak = v;
      a.pt = now;
    }
    if (v > decayed(g.peak, g.pt, now)) {
      g.peak = v;
      g.pt = now;
    }
  }

  /**
   * Before the ring slides on: its sum (the sliding count as of the last
   * call) is a candidate for the hour, unless the agent fired lately; the
   * candidates of an hour become the peak an hour after it.
   */
  function slide(a: SecretReader, g: SecretGroup, sb: number, now: number): void {
    if (sb <= a.sub) return;
    const hour = Math.floor(now / 3600);
    if (hour > a.ca) {
      promote(a, g, a.pv, now);
      if (hour === a.ca + 1) a.pv = a.cand;
      else {
        promote(a, g, a.cand, now);
        a.pv = 0;
      }
      a.cand = 0;
      a.ca = hour;
    }
    // The sum as of the ring's newest sub-window (the agent may have been idle since): not a
    // candidate when the agent had fired within the hour before it.
    const sum = ringSum(a);
    if (sum > a.cand && (a.fired === 0 || a.sub * subS - a.fired >= o.refireMs / 1000)) a.cand = sum;
    ringSlide(a, sb);
  }

  function onNetwork(e: NetworkEvent): Detection[] {
    if (e.dest_agent_id != null || e.action !== 'allowed' || !secretStore(e.dest_host)) return NO_DETECTIONS;
    const now = Math.floor(e.time / 1000);
    const sb = Math.floor(now / subS);
    const gid = peerGroupId(e.blueprint_id, e.agent_id);
    const g = groupOf(e, gid, now);
    let a = agents.get(e.tenant_id, e.agent_id);
    if (a === undefined) {
      a = { at: e.time, g: gid, r0: 0, r1: 0, r2: 0, r3: 0, r4: 0, sub: sb, peak: 0, pt: now, cand: 0, pv: 0, ca: Math.floor(now / 3600), first: now, fired: 0, ids: [] };
      agents.set(e.tenant_id, e.agent_id, a);
    } else if (e.time > a.at) a.at = e.time;
    slide(a, g, sb, now);
    if (!ringAdd(a, sb, 1)) return NO_DETECTIONS;
    if (a.ids.length >= 8) a.ids.shift();
    a.ids.push(e.event_id);
    const calls = ringSum(a);
    if (calls < o.lowCalls) return NO_DETECTIONS;
    if (a.fired !== 0 && now - a.fired < o.refireMs / 1000) return NO_DETECTIONS;
    const known = now - a.first >= o.learnMs / 1000;
    const own = known ? decayed(a.peak, a.pt, now) : 0;
    const peers = decayed(g.peak, g.pt, now);
    const base = Math.max(own, peers);
    // An agent with its own history: 10x its own peak and 5x its blueprint's (the peak of its busiest
    // agent: one busy peer must not hide a dump by a quiet one); a new agent: 10x its blueprint's.
    const bar = known ? Math.max(o.factor * own, o.peerFactor * peers) : o.factor * peers;
    const threshold = base > 0 ? Math.max(o.minCalls, bar) : o.noBaselineCalls;
    if (calls < threshold) {
      // Under the medium floor but over the bar: low, once an hour (evidence; with another finding the agent rises).
      if (base === 0 || calls < bar || (a.lf !== undefined && a.lf !== 0 && now - a.lf < o.refireMs / 1000)) return NO_DETECTIONS;
      a.lf = now;
      return [finding(e, a, 'low', calls, base, own, peers, Math.max(o.lowCalls, bar), 0)];
    }
    a.fired = now;
    // The dump's first minutes may already be this hour's candidate (sampled before it crossed the
    // threshold), or the last hour's when it began before the hour: neither becomes a peak.
    a.cand = 0;
    if (now - a.ca * 3600 < o.windowMs / 1000) a.pv = 0;
    // A rollout: other agents of the blueprint bursting too within the window.
    const ah = hashString(e.agent_id);
    const span = o.rolloutWindowMs / 1000;
    let others = 0;
    for (let i = 0; i < g.bursts.length; i += 2) if (g.bursts[i] !== ah && now - g.bursts[i + 1]! <= span) others++;
    if (g.bursts.length >= 32) g.bursts.splice(0, 2);
    g.bursts.push(ah, now);
    const rollout = others >= o.rolloutAgents;
    return [finding(e, a, rollout ? 'low' : 'medium', calls, base, own, peers, threshold, others)];
  }

  function finding(e: NetworkEvent, a: SecretReader, severity: 'low' | 'medium', calls: number, base: number, own: number, peers: number, threshold: number, others: number): Detection {
    return {
      detector: secretEnumerationMeta.id,
      severity,
      tenant_id: e.tenant_id,
      agent_id: e.agent_id,
      time: e.time,
      summary:
        `Agent ${e.agent_id} called the secrets store ${e.dest_host} ${calls} times within ${o.windowMs / 60_000} min` +
        (base === 0 ? ', with no history of its blueprint' : own > 0 ? `, ${Math.round(calls / own)}× the most it did before (${Math.round(own)}), ${peers > 0 ? `${Math.round(calls / peers)}× its blueprint\'s busiest agent (${Math.round(peers)})` : 'its blueprint none'}` : `, ${Math.round(calls / base)}× the most its blueprint did before (${Math.round(base)})`) +
        (others >= o.rolloutAgents ? `; ${others} other agents of its blueprint did the same (a rollout)` : ''),
      evidence: {
        observed: { calls, window_ms: o.windowMs, dest_host: e.dest_host },
        baseline: { agent_peak_calls: own > 0 ? Math.round(own) : null, blueprint_peak_calls: peers > 0 ? Math.round(peers) : null, other_agents_bursting: others },
        threshold: Math.round(threshold),
        peer_group: peerGroupName(e.blueprint_id) ?? `agent:${e.agent_id}`,
      },
      event_ids: a.ids.slice(),
    };
  }

  return {
    meta: secretEnumerationMeta,
    types: ['network'] as const,
    observe(e: AgentEvent): Detection[] {
      return e.type === 'network' ? onNetwork(e) : NO_DETECTIONS;
    },
    evict(before: number): void {
      agents.evict(before);
      groups.evict(before);
    },
    size(): number {
      return agents.size + groups.size;
    },
    snapshot(): unknown {
      return clone({ version: 1, agents: agents.snapshot(), groups: groups.snapshot() });
    },
    restore(snapshot: unknown): void {
      const s = clone(snapshot) as { version: number; agents: [string, string, SecretReader][]; groups: [string, string, SecretGroup][] };
      if (s?.version !== 1) throw new Error('secret-enumeration: unsupported snapshot');
      agents.restore(s.agents);
      groups.restore(s.groups);
    },
  };
}

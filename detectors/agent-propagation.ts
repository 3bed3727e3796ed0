// Detector 11 — agent propagation: an agent called by a high-risk agent may be
// next. The detection is for the CALLED agent (low severity; the risk engine
// decays it), at most once per caller → callee pair per hour.
//
// A call is a network event with dest_agent_id (caller = agent_id). It fires
// when the caller's current risk (ctx.agentRisk) is in `callerLevels` (default
// high). The caller's risk often rises a little after the calls it made (its
// own detections may complete later, or arrive late), so calls are kept for
// `lookbackMs` (15 min of event time) and re-checked as the watermark advances
// (every `recheckMs`): a call made up to 15 minutes before the caller became
// high-risk propagates too.

import type { AgentEvent, NetworkEvent, RiskLevel } from '../contract/events.js';
import { NO_DETECTIONS, clone } from './agent-directory.js';
import { peerGroupName, type Detector, type DetectorContext } from './detector.js';
import type { Detection, DetectorMeta } from './types.js';

export interface AgentPropagationOptions {
  /** Caller risk levels that propagate (default ['high']). */
  callerLevels?: RiskLevel[];
  /** The same caller → callee pair fires at most once per this, ms. */
  refireMs?: number;
  /** Calls are re-checked for this long after they happen (event time), ms. */
  lookbackMs?: number;
  /** Minimum watermark progress between re-checks, ms. */
  recheckMs?: number;
  /** Calls kept for re-checking (oldest dropped first). */
  maxPending?: number;
  /** Pairs remembered as fired. */
  maxFired?: number;
}

const DEFAULTS: Required<AgentPropagationOptions> = {
  callerLevels: ['high'],
  refireMs: 60 * 60_000,
  lookbackMs: 15 * 60_000,
  recheckMs: 10_000,
  maxPending: 16_384,
  maxFired: 65_536,
};

interface Call {
  tenant: string;
  caller: string;
  callee: string;
  bp: string | null;
  t: number;
  id: string;
  host: string;
}

export const agentPropagationMeta: DetectorMeta = {
  id: 'agent-propagation',
  title: 'Called by a high-risk agent',
  severity: 'low',
  mitre: { id: 'T1021', name: 'Remote Services' },
  description:
    'An agent was called by an agent currently at high risk (or became so within 15 minutes of the call): it may be the ' +
    'next step of a compromise. Low severity, raised once per caller/callee pair per hour.',
};

export function createAgentPropagationDetector(options: AgentPropagationOptions = {}): Detector {
  const o: Required<AgentPropagationOptions> = { ...DEFAULTS, ...options };
  const levels = new Set<RiskLevel>(o.callerLevels);
  /** Recent calls by pair key, in arrival order. */
  let pending = new Map<string, Call>();
  /** Pair key → time it last fired. */
  let fired = new Map<string, number>();
  let lastCheck = Number.MIN_SAFE_INTEGER;

  function pairKey(tenant: string, caller: string, callee: string): string {
    return `${tenant}\u0000${caller}\u0000${callee}`;
  }

  function detection(c: Call, level: RiskLevel, time: number, ctx: DetectorContext): Detection {
    const calleeBp = ctx.agent(c.tenant, c.callee)?.blueprint_id ?? null;
    return {
      detector: agentPropagationMeta.id,
      severity: 'low',
      tenant_id: c.tenant,
      agent_id: c.callee,
      time,
      summary: `Agent ${c.callee} was called by agent ${c.caller}, which is at ${level} risk`,
      evidence: {
        observed: { caller: c.caller, caller_risk: level, call_time: c.t, via_host: c.host },
        baseline: { callee_risk: ctx.agentRisk(c.tenant, c.callee) },
        threshold: `caller risk in [${[...levels].join(', ')}]`,
        peer_group: peerGroupName(calleeBp),
        caller_blueprint: c.bp,
      },
      event_ids: [c.id],
    };
  }

  function markFired(key: string, time: number): void {
    fired.delete(key);
    fired.set(key, time);
    if (fired.size > o.maxFired) fired.delete(fired.keys().next().value as string);
  }

  function onCall(e: NetworkEvent, callee: string, ctx: DetectorContext): Detection[] {
    const key = pairKey(e.tenant_id, e.agent_id, callee);
    const last = fired.get(key);
    if (last !== undefined && Math.abs(e.time - last) < o.refireMs) return NO_DETECTIONS;
    const call: Call = { tenant: e.tenant_id, caller: e.agent_id, callee, bp: e.blueprint_id, t: e.time, id: e.event_id, host: e.dest_host };
    const level = ctx.agentRisk(e.tenant_id, e.agent_id);
    if (levels.has(level)) {
      pending.delete(key);
      markFired(key, e.time);
      return [detection(call, level, e.time, ctx)];
    }
    const prev = pending.get(key);
    if (prev !== undefined) {
      if (e.time <= prev.t) return NO_DETECTIONS;
      pending.delete(key);
    }
    pending.set(key, call);
    if (pending.size > o.maxPending) pending.delete(pending.keys().next().value as string);
    return NO_DETECTIONS;
  }

  return {
    types: ['network'] as const,
    meta: agentPropagationMeta,
    observe(e: AgentEvent, ctx: DetectorContext): Detection[] {
      if (e.type !== 'network') return NO_DETECTIONS;
      const callee = e.dest_agent_id;
      if (callee === null || callee === e.agent_id) return NO_DETECTIONS;
      return onCall(e, callee, ctx);
    },
    advance(watermark: number, ctx: DetectorContext): Detection[] {
      if (pending.size === 0 || watermark - lastCheck < o.recheckMs) return NO_DETECTIONS;
      lastCheck = watermark;
      let out: Detection[] = NO_DETECTIONS;
      // forEach: no entry array per pending call (this runs every few seconds of event time).
      pending.forEach((c, key) => {
        if (c.t < watermark - o.lookbackMs) {
          pending.delete(key);
          return;
        }
        const level = ctx.agentRisk(c.tenant, c.caller);
        if (!levels.has(level)) return;
        pending.delete(key);
        const time = Math.max(c.t, watermark);
        markFired(key, time);
        const d = detection(c, level, time, ctx);
        if (out === NO_DETECTIONS) out = [d];
        else out.push(d);
      });
      return out;
    },
    evict(before: number): void {
      for (const [k, c] of pending) if (c.t < before) pending.delete(k);
      for (const [k, t] of fired) if (t < before) fired.delete(k);
    },
    size(): number {
      return pending.size + fired.size;
    },
    snapshot(): unknown {
      return clone({ version: 1, pending: [...pending.values()], fired: [...fired], lastCheck });
    },
    restore(snapshot: unknown): void {
      const s = clone(snapshot) as { version: number; pending: Call[]; fired: [string, number][]; lastCheck: number };
      if (s?.version !== 1) throw new Error('agent-propagation: unsupported snapshot');
      pending = new Map(s.pending.map((c) => [pairKey(c.tenant, c.caller, c.callee), c]));
      fired = new Map(s.fired);
      lastCheck = s.lastCheck;
    },
  };
}

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
//
// Injected callers: an agent that took in content with a prompt-injection
// verdict the gateway let through (threat prompt_injection, allowed) carries
// the instruction in its context for the rest of its task; its calls to
// other agents within the hour pass it on (a prompt worm): the callee is low,
// whatever the caller's own level.
//
// Agents outside the tenant (a network call of category agent without a
// dest_agent_id) are learned the same way, each host a blueprint of its
// own: a partner's agent the orchestrators never talked to counts as one
// new callee blueprint, so turns from it followed by a task to an internal
// agent of another new blueprint is medium for the caller (A2A session
// smuggling).
//
// Unfamiliar call edges: each caller blueprint learns which blueprints its
// agents call (its first hour and 20 calls; later, a callee blueprint 3 of
// its agents take up within 30 minutes is a rollout). A call to an agent of a
// blueprint the caller's blueprint never called is low for the callee (an
// instruction from an unusual source: the callee of an injected orchestrator
// acts on it), and a caller reaching agents of 2 such blueprints within 10
// minutes is medium: an agent steered into lateral movement tasks agents
// outside its workflow, a new integration adds one callee blueprint. The
// medium waits 5 minutes: when by then 2 other agents of the caller's
// blueprint called agents of those blueprints too, leaving fewer than 2 new
// to it, the caller was the first of a release (a framework upgrade that
// delegates to new specialists on every orchestrator). A
// blueprint whose first call to an agent comes from an agent known for a day
// has learned that it calls none (quiet): one of its agents calling an agent
// now and then is not telling (a copilot handing a question to a specialist),
// but reaching two blueprints' agents within 10 minutes is medium, and the
// callees from the second on are low (an app agent steered into tasking
// agents).
//
// Discovery: an agent of a quiet blueprint contacting 8 or more distinct
// agents within 10 minutes (fetching their agent cards one after another) is
// medium: an app agent steered into mapping the tenant's agents, whoever's
// blueprint they are, its own included. A copilot handing a question to a
// specialist calls one or two. The agents it then sends a task to (a call
// carrying 64 KiB or more within 30 minutes) are low.
//
// A new workflow: a call made while the caller's blueprint calls no agents
// (quiet), or in the first hour after it began to, by an agent active for an
// hour before that, propagates from a caller at medium risk too (or one
// that gets there within 15 minutes): sibling workers that never tasked one
// another now do (an A2A worm), and the source's own findings come minutes
// after its calls.
//
// Calls from a foreign address: each caller learns the subnets (/24, IPv6
// /48) its calls to agents leave from. A call from a subnet it has not
// called from for an hour, by a caller that has (its calls learned), is the
// caller's identity at work somewhere else: a thief driving the tenant's
// agents with a stolen orchestrator credential from his VPS. Such a call
// propagates from a caller at medium risk too (or that gets there within
// 15 minutes), not only high.

import type { AgentEvent, NetworkEvent, RiskLevel } from '../contract/events.js';
import {
  GroupStore,
  NO_DETECTIONS,
  TenantMap,
  clone,
  hashString,
  peerAdopt,
  peerFamiliarToOthers,
  peerVerdictCode,
  restoreGroups,
  peerGroup,
  snapshotGroups,
  type PeerGroup,
  type PeerGroupSnapshot,
  type Timed,
} from './agent-directory.js';
import { formatDuration, peerGroupId, peerGroupName, type Detector, type DetectorContext } from './detector.js';
import { DueQueue, type DueItem } from './due-queue.js';
import { subnetKey } from './addresses.js';
import { categoryKey } from './categories.js';
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
  /** A caller blueprint learns the blueprints its agents call for this long and this many calls. */
  edgeLearnMs?: number;
  edgeLearnCalls?: number;
  /** This many of its agents calling a new callee blueprint within edgeAdoptSpanMs is a rollout. */
  edgeAdoptAgents?: number;
  edgeAdoptSpanMs?: number;
  /**
   * A caller's medium for new callee blueprints waits this long, ms: when by
   * then other agents of its blueprint took them up (edgeAdoptAgents within
   * edgeAdoptSpanMs, this one included), it was the first of a release.
   */
  edgeConfirmMs?: number;
  /** A caller reaching agents of this many new callee blueprints within edgeWindowMs is medium. */
  edgeBlueprints?: number;
  edgeWindowMs?: number;
  /**
   * A blueprint's first call to an agent, made by an agent known for this
   * long while the detector has watched its tenant's traffic this long too
   * (an agent created days before the stream began says nothing of what its
   * blueprint calls), finds the blueprint's learning done (it calls no
   * agents), ms.
   */
  quietCallerMs?: number;
  /** Calls made this long after an allowed prompt-injection verdict on the caller propagate it, ms. */
  injectionCarryMs?: number;
  /** A call source subnet is the caller's own once it has called from it this long before, ms (see the header). */
  sourceLearnMs?: number;
  /** Caller risk levels that propagate through calls from a foreign address (default ['medium', 'high']). */
  foreignCallerLevels?: RiskLevel[];
  /** A caller of a quiet blueprint contacting this many distinct agents within edgeWindowMs is medium (discovery). */
  discoveryAgents?: number;
  /** After a discovery, calls carrying this many bytes within discoveryTaskMs are tasks: low for the callee. */
  discoveryTaskBytes?: number;
  discoveryTaskMs?: number;
}

const DEFAULTS: Required<AgentPropagationOptions> = {
  callerLevels: ['high'],
  refireMs: 60 * 60_000,
  lookbackMs: 15 * 60_000,
  recheckMs: 10_000,
  maxPending: 16_384,
  maxFired: 65_536,
  edgeLearnMs: 60 * 60_000,
  edgeLearnCalls: 20,
  edgeAdoptAgents: 3,
  edgeAdoptSpanMs: 30 * 60_000,
  edgeBlueprints: 2,
  edgeConfirmMs: 5 * 60_000,
  edgeWindowMs: 10 * 60_000,
  quietCallerMs: 24 * 3_600_000,
  injectionCarryMs: 60 * 60_000,
  sourceLearnMs: 60 * 60_000,
  foreignCallerLevels: ['medium', 'high'],
  discoveryAgents: 8,
  discoveryTaskBytes: 64 * 1024,
  discoveryTaskMs: 30 * 60_000,
};

/** Call source subnets remembered per caller. */
const MAX_SOURCES = 8;

/** The subnets a caller's calls leave from: flat [subnet hash, first call (s)] pairs, oldest first. */
interface CallSources extends Timed {
  s: number[];
}


/** An agent that took in an allowed prompt injection: when (ms) and the verdict's event. */
interface Injected extends Timed {
  t: number;
  id: string;
}

/** Callee blueprints remembered per caller blueprint. */
const MAX_CALLEE_BLUEPRINTS = 64;

/** A caller's calls to blueprints new to its own (see onEdge): flat [callee blueprint hash, time] pairs, and when it last fired. */
interface NewEdges extends Timed {
  e: number[];
  f: number;
  /** Of a quiet blueprint's caller: flat [callee agent hash, time] pairs within the window, and its latest discovery (see the header). */
  a?: number[];
  d?: number;
}

/** A caller's medium for new callee blueprints, held (see edgeConfirmMs): its blueprint, the callee blueprints' hashes, the caller's hash. */
interface HeldEdges extends DueItem {
  gid: string;
  hs: number[];
  ah: number;
  d: Detection;
}

/** Callee agents remembered per quiet caller (enough for discoveryAgents). */
const MAX_DISCOVERY_CALLEES = 32;

/**
 * Flat [hash, time] pairs: those of `prev` within `windowMs` of `t` other
 * than `h` (of the newest `keep` - 1 pairs), then [h, t].
 */
function withinWindow(prev: number[], h: number, t: number, windowMs: number, keep: number): number[] {
  const out: number[] = [];
  for (let i = Math.max(0, prev.length - 2 * (keep - 1)); i < prev.length; i += 2) {
    if (Math.abs(t - prev[i + 1]!) <= windowMs && prev[i] !== h) out.push(prev[i]!, prev[i + 1]!);
  }
  out.push(h, t);
  return out;
}

interface Call {
  tenant: string;
  caller: string;
  callee: string;
  bp: string | null;
  t: number;
  id: string;
  host: string;
  /** Made from a subnet foreign to the caller's calls (see the header); absent otherwise. */
  f?: 1;
  /** Made as the caller's blueprint took up calling agents, or while it calls none (see newWorkflow); absent otherwise. */
  u?: 1;
}

export const agentPropagationMeta: DetectorMeta = {
  id: 'agent-propagation',
  title: 'Agent-to-agent propagation',
  severity: 'low',
  mitre: { id: 'T1021', name: 'Remote Services' },
  description:
    'An agent was called by an agent currently at high risk (or became so within 15 minutes of the call), or by one that took in content with a prompt-injection verdict the gateway let through within the hour (a prompt worm passing the instruction on): it may be the ' +
    'next step of a compromise. Low severity, raised once per caller/callee pair per hour. ' +
    "A call to an agent of a blueprint the caller's blueprint never called (once it has learned its callees: 1 hour and 20 calls, or at once when its first call to any agent comes from an agent known for a day, and then the callee is low only once the caller reaches a second new blueprint; 3 of its agents taking a callee blueprint up within 30 minutes is a rollout) " +
    'is low for the callee, and a caller reaching agents of 2 such blueprints within 10 minutes is medium 5 minutes later unless 2 other agents of its blueprint took them up meanwhile (an agent steered into tasking agents outside its workflow, not the first of a release); an agent outside the tenant its blueprint never talked to counts as one (A2A session smuggling). ' +
    'A call from a subnet the caller\'s calls have not left from for an hour (its identity at work elsewhere: a stolen orchestrator credential driving agents from a VPS), or one made while the caller\'s blueprint calls no agents or within the hour after it began to, the caller active for an hour before (a worm among sibling workers), propagates from a caller at medium risk too.',
};

/**
 * Prefix of the pseudo-blueprint an agent endpoint outside the tenant stands
 * for (its host): a caller's blueprint learns its outside agents like its
 * callee blueprints, and a new one counts among the new edges of a caller
 * (A2A session smuggling: turns injected by a partner's agent, then an
 * internal agent tasked that the caller never called).
 */
const EXTERNAL = '\u0002';

export function createAgentPropagationDetector(options: AgentPropagationOptions = {}): Detector {
  const o: Required<AgentPropagationOptions> = { ...DEFAULTS, ...options };
  const levels = new Set<RiskLevel>(o.callerLevels);
  const foreignLevels = new Set<RiskLevel>([...o.callerLevels, ...o.foreignCallerLevels]);
  /** Per caller, the subnets its calls leave from (see the header). */
  const sources = new TenantMap<CallSources>();

  /**
   * Records the call's source subnet for its caller; true when the caller
   * has called from a subnet for sourceLearnMs, but not from this one (or
   * only lately).
   */
  function foreignSource(e: NetworkEvent): boolean {
    const sec = Math.floor(e.time / 1000);
    const h = hashString(subnetKey(e.ip));
    let c = sources.get(e.tenant_id, e.agent_id);
    if (c === undefined) {
      c = { at: e.time, s: [] };
      sources.set(e.tenant_id, e.agent_id, c);
    } else if (e.time > c.at) c.at = e.time;
    const learn = o.sourceLearnMs / 1000;
    let learned = false;
    let first = -1;
    for (let i = 0; i < c.s.length; i += 2) {
      if (sec - c.s[i + 1]! >= learn) learned = true;
      if (c.s[i] === h) first = c.s[i + 1]!;
    }
    if (first < 0) {
      if (c.s.length >= 2 * MAX_SOURCES) c.s.splice(0, 2);
      c.s.push(h, sec);
    } else if (sec < first) {
      for (let i = 0; i < c.s.length; i += 2) if (c.s[i] === h) c.s[i + 1] = sec;
    }
    return learned && (first < 0 || sec - first < learn);
  }
  /** Recent calls by pair key, in arrival order. */
  let pending = new Map<string, Call>();
  /** Pair key → time it last fired. */
  let fired = new Map<string, number>();
  let lastCheck = Number.MIN_SAFE_INTEGER;
  /**
   * The engine's level-change count at the last full look at the pending
   * calls (see advance), and whether a kept call has since taken a foreign
   * flag it was not judged with.
   */
  let lastChanges = -1;
  let reflagged = false;
  const injected = new TenantMap<Injected>();
  /** Per caller blueprint (peer group), the blueprints its agents call (see onEdge). */
  const edges = new GroupStore<PeerGroup>(1_000_000);
  /** Per tenant, the earliest network event the detector saw of it (see quietCallerMs); the last tenant looked at, to skip the lookup. */
  const watchedSince = new Map<string, number>();
  let lastTenant = '';
  /** Callers with recent calls to blueprints new to their own. */
  const newEdges = new TenantMap<NewEdges>();
  /** Callers' mediums for new callee blueprints, waiting for the rest of their blueprint (see edgeConfirmMs). */
  const edgeHold = new DueQueue<HeldEdges>(16_384);

  /** A held caller medium: reported unless its blueprint took up enough of the new callee blueprints meanwhile. */
  function decideEdges(p: HeldEdges): Detection | null {
    const g = edges.get(p.tenant_id, p.gid);
    let unfamiliar = 0;
    for (const h of p.hs) if (g === undefined || !peerFamiliarToOthers(g, h, p.ah, p.due, o.edgeAdoptSpanMs, o.edgeAdoptAgents)) unfamiliar++;
    if (unfamiliar < o.edgeBlueprints) return null; // the first of a release its blueprint's agents followed
    return { ...p.d, time: p.due };
  }

  /**
   * A call to an agent of another blueprint than the caller's own has ever
   * called (see the header): low for the callee, medium for a caller reaching
   * edgeBlueprints such blueprints within edgeWindowMs.
   */
  function onEdge(e: NetworkEvent, callee: string | null, ctx: DetectorContext): Detection[] {
    // An agent endpoint outside the tenant (no dest_agent_id) stands for a blueprint of its own: its host.
    const calleeBp = callee === null ? `${EXTERNAL}${e.dest_host.toLowerCase()}` : (ctx.agent(e.tenant_id, callee)?.blueprint_id ?? null);
    if (calleeBp === null) return NO_DETECTIONS; // an agent not seen yet: no blueprint to judge by
    const t = e.time;
    const groupId = peerGroupId(e.blueprint_id, e.agent_id);
    let g = edges.find(ctx, e.tenant_id, groupId);
    if (g !== undefined) {
      if (t > g.at) g.at = t;
    } else {
      g = peerGroup(t);
      edges.set(e.tenant_id, groupId, g);
      // The blueprint's first call to an agent. From an agent known for a day, that is not the
      // start of learning but something learned: its blueprint calls no agents (an app agent
      // steered into tasking agents). From a younger one, the blueprint learns its callees.
      const caller = ctx.agent(e.tenant_id, e.agent_id);
      const watched = watchedSince.get(e.tenant_id);
      if (caller !== undefined && t - caller.first_seen >= o.quietCallerMs && watched !== undefined && t - watched >= o.quietCallerMs) {
        g.first = t - o.edgeLearnMs;
        g.events = o.edgeLearnCalls - 1;
      }
    }
    if (t < g.first) g.first = t;
    if (g.events < o.edgeLearnCalls) g.events++;
    const h = hashString(calleeBp);
    const ah = hashString(e.agent_id) | 1;
    const code = peerVerdictCode(g, h, ah, t, o.edgeAdoptSpanMs);
    const learning = t - g.first < o.edgeLearnMs || g.events < o.edgeLearnCalls;
    const known = learning || (code & 1) !== 0 || code >>> 1 >= o.edgeAdoptAgents;
    if (known) {
      peerAdopt(g, h, ah, t, true, MAX_CALLEE_BLUEPRINTS);
      return NO_DETECTIONS;
    }
    // Quiet: the blueprint calls no agents cleanly (it learned that it calls none, see the header).
    let quiet = true;
    for (const v of g.values.values()) if (v.clean > 0) quiet = false;
    peerAdopt(g, h, ah, t, false, MAX_CALLEE_BLUEPRINTS);
    const out: Detection[] = [];
    // The caller: how many new callee blueprints lately?
    let n = newEdges.get(e.tenant_id, e.agent_id);
    if (n === undefined) {
      n = { at: t, e: [], f: Number.MIN_SAFE_INTEGER };
      newEdges.set(e.tenant_id, e.agent_id, n);
    } else if (t > n.at) n.at = t;
    n.e = withinWindow(n.e, h, t, o.edgeWindowMs, Infinity);
    const distinct = n.e.length / 2;
    // A blueprint that calls no agents at all (quiet, see the header) calling one now and then
    // (a copilot handing a user's question to a specialist) is not telling; reaching a second
    // blueprint's agents within minutes is. (An outside agent has no callee here to warn.)
    const key = callee === null ? '' : pairKey(e.tenant_id, e.agent_id, callee) + '\u0000edge';
    if (callee !== null && (!quiet || distinct >= o.edgeBlueprints) && !firedLately(key, t)) {
      markFired(key, t);
      out.push(
        calleeLow(e, callee, `Agent ${callee} (blueprint ${calleeBp}) was called by agent ${e.agent_id}, whose blueprint ${e.blueprint_id ?? '(none)'} never called agents of that blueprint`, {
          observed: { caller: e.agent_id, caller_blueprint: e.blueprint_id, callee_blueprint: calleeBp, via_host: e.dest_host, bytes_out: e.bytes_out },
          baseline: { callee_blueprints_known: g.values.size, caller_blueprint_calls: g.events },
          threshold: `a callee blueprint not called by the caller's blueprint (${o.edgeAdoptAgents} of its agents within ${o.edgeAdoptSpanMs / 60_000} min = rollout)`,
          peer_group: peerGroupName(calleeBp),
        }),
      );
    }
    if (quiet && callee !== null) discovery(e, callee, calleeBp, n, out);
    if (distinct >= o.edgeBlueprints && Math.abs(t - n.f) >= o.refireMs) {
      n.f = t;
      const d =
        callerMedium(
          e,
          `Agent ${e.agent_id} called agents of ${distinct} blueprints its blueprint ${e.blueprint_id ?? '(none)'} never called within ${o.edgeWindowMs / 60_000} min (latest ${callee === null ? `the outside agent at ${e.dest_host}` : `${callee} of ${calleeBp}`})`,
          {
            observed: { new_callee_blueprints: distinct, latest_callee: callee ?? e.dest_host, latest_callee_blueprint: callee === null ? 'outside the tenant' : calleeBp },
            baseline: { callee_blueprints_known: g.values.size },
            threshold: `${o.edgeBlueprints} callee blueprints new to the caller's blueprint within ${o.edgeWindowMs / 60_000} min, not taken up by ${o.edgeAdoptAgents - 1} other agents of it within ${o.edgeConfirmMs / 60_000} min`,
            peer_group: peerGroupName(e.blueprint_id),
          },
        );
      if (o.edgeConfirmMs <= 0) out.push(d);
      else {
        const hs: number[] = [];
        for (let i = 0; i < n.e.length; i += 2) hs.push(n.e[i]!);
        edgeHold.add({ tenant_id: e.tenant_id, agent_id: e.agent_id, due: t + o.edgeConfirmMs, gid: groupId, hs, ah, d });
      }
    }
    return out;
  }

  /**
   * A quiet blueprint's caller: medium once it contacted discoveryAgents
   * distinct agents within edgeWindowMs; after that, a callee it sends a
   * task to (discoveryTaskBytes) within discoveryTaskMs is low.
   */
  function discovery(e: NetworkEvent, callee: string, calleeBp: string, n: NewEdges, out: Detection[]): void {
    const t = e.time;
    n.a = withinWindow(n.a ?? [], hashString(callee), t, o.edgeWindowMs, MAX_DISCOVERY_CALLEES);
    const callees = n.a.length / 2;
    if (callees >= o.discoveryAgents && (n.d === undefined || Math.abs(t - n.d) >= o.refireMs)) {
      n.d = t;
      out.push(
        callerMedium(
          e,
          `Agent ${e.agent_id}, of a blueprint (${e.blueprint_id ?? '(none)'}) that calls no agents, contacted ${callees} distinct agents within ${o.edgeWindowMs / 60_000} min (latest ${callee}): discovery of the tenant's agents`,
          {
            observed: { distinct_callees: callees, latest_callee: callee, latest_callee_blueprint: calleeBp, via_host: e.dest_host },
            baseline: { caller_blueprint_calls_agents: false },
            threshold: `${o.discoveryAgents} distinct agents within ${o.edgeWindowMs / 60_000} min by an agent of a blueprint that calls none`,
            peer_group: peerGroupName(e.blueprint_id),
          },
        ),
      );
      return;
    }
    if (n.d === undefined || t < n.d || t - n.d > o.discoveryTaskMs || e.bytes_out < o.discoveryTaskBytes) return;
    const key = pairKey(e.tenant_id, e.agent_id, callee) + '\u0000task';
    if (firedLately(key, t)) return;
    markFired(key, t);
    out.push(
      calleeLow(e, callee, `Agent ${callee} was sent a task (${Math.round(e.bytes_out / 1024)} KiB) by agent ${e.agent_id} ${formatDuration(t - n.d)} after that agent's discovery of the tenant's agents`, {
        observed: { caller: e.agent_id, bytes_out: e.bytes_out, via_host: e.dest_host, discovery_at: n.d },
        baseline: null,
        threshold: `a call carrying ${o.discoveryTaskBytes / 1024} KiB or more within ${formatDuration(o.discoveryTaskMs)} after the caller contacted ${o.discoveryAgents} agents`,
        peer_group: peerGroupName(calleeBp),
      }),
    );
  }

  function pairKey(tenant: string, caller: string, callee: string): string {
    return `${tenant}\u0000${caller}\u0000${callee}`;
  }

  function detection(c: Call, level: RiskLevel, time: number, ctx: DetectorContext, injection?: Injected): Detection {
    const calleeBp = ctx.agent(c.tenant, c.callee)?.blueprint_id ?? null;
    return {
      detector: agentPropagationMeta.id,
      severity: 'low',
      tenant_id: c.tenant,
      agent_id: c.callee,
      time,
      summary:
        injection === undefined
          ? `Agent ${c.callee} was called by agent ${c.caller}, which is at ${level} risk${c.f === 1 ? ', from an address that agent\'s calls do not leave from (its identity at work elsewhere)' : c.u === 1 ? ', as its blueprint, which did not call agents, began to' : ''}`
          : `Agent ${c.callee} was called by agent ${c.caller} ${formatDuration(c.t - injection.t)} after that agent took in content the gateway flagged as a prompt injection (and let through)`,
      evidence: {
        observed: { caller: c.caller, caller_risk: level, call_time: c.t, via_host: c.host, ...(c.f === 1 ? { foreign_source: true } : {}), ...(c.u === 1 ? { new_workflow: true } : {}), ...(injection ? { caller_injected_at: injection.t } : {}) },
        baseline: { callee_risk: ctx.agentRisk(c.tenant, c.callee) },
        threshold:
          injection === undefined
            ? `caller risk in [${[...(c.f === 1 || c.u === 1 ? foreignLevels : levels)].join(', ')}]${c.f === 1 ? ' for a call from a foreign address' : c.u === 1 ? ' for a call of a blueprint taking up calling agents' : ''}`
            : `a prompt injection let through to the caller within ${formatDuration(o.injectionCarryMs)} before the call`,
        peer_group: peerGroupName(calleeBp),
        caller_blueprint: c.bp,
      },
      event_ids: injection === undefined ? [c.id] : [injection.id, c.id],
    };
  }

  /** The caller's allowed prompt injection the call may carry on, if any. */
  function carriedInjection(e: NetworkEvent): Injected | undefined {
    if (injected.size === 0) return undefined;
    const inj = injected.get(e.tenant_id, e.agent_id);
    return inj !== undefined && e.time >= inj.t && e.time - inj.t <= o.injectionCarryMs ? inj : undefined;
  }

  /** A low finding for the callee of call `e`, dated at the call. */
  /** Medium for the calling agent itself (calls into unfamiliar blueprints, discovery). */
  function callerMedium(e: NetworkEvent, summary: string, evidence: Detection['evidence']): Detection {
    return { detector: agentPropagationMeta.id, severity: 'medium', tenant_id: e.tenant_id, agent_id: e.agent_id, time: e.time, summary, evidence, event_ids: [e.event_id] };
  }

  function calleeLow(e: NetworkEvent, callee: string, summary: string, evidence: Detection['evidence']): Detection {
    return { detector: agentPropagationMeta.id, severity: 'low', tenant_id: e.tenant_id, agent_id: callee, time: e.time, summary, evidence, event_ids: [e.event_id] };
  }

  /** The key fired within refireMs of `t`. */
  function firedLately(key: string, t: number): boolean {
    const last = fired.get(key);
    return last !== undefined && Math.abs(t - last) < o.refireMs;
  }

  function markFired(key: string, time: number): void {
    fired.delete(key);
    fired.set(key, time);
    if (fired.size > o.maxFired) fired.delete(fired.keys().next().value as string);
  }

  /**
   * True when the caller's blueprint calls no agents (quiet: nothing learned
   * clean), or took up calling them within edgeLearnMs of `e` while the
   * caller was active for edgeLearnMs before that: a blueprint that worked
   * without tasking agents now does (an A2A worm among sibling workers, an
   * injected app agent). Such a call propagates from a medium caller too.
   */
  function newWorkflow(e: NetworkEvent, callee: string, ctx: DetectorContext): boolean {
    const g = edges.find(ctx, e.tenant_id, peerGroupId(e.blueprint_id, e.agent_id));
    // Calls to agents not seen yet teach the blueprint nothing (see onEdge): no telling whether it calls agents.
    if (g === undefined && ctx.agent(e.tenant_id, callee)?.blueprint_id == null) return false;
    if (g !== undefined) {
      let quiet = true;
      for (const v of g.values.values()) if (v.clean > 0) quiet = false;
      if (quiet) return true;
    }
    const start = g === undefined ? e.time : g.first;
    if (e.time - start >= o.edgeLearnMs) return false;
    const caller = ctx.agent(e.tenant_id, e.agent_id);
    return caller !== undefined && start - caller.first_seen >= o.edgeLearnMs;
  }

  function onCall(e: NetworkEvent, callee: string, ctx: DetectorContext): Detection[] {
    const foreign = foreignSource(e);
    const key = pairKey(e.tenant_id, e.agent_id, callee);
    if (firedLately(key, e.time)) return NO_DETECTIONS;
    const call: Call = { tenant: e.tenant_id, caller: e.agent_id, callee, bp: e.blueprint_id, t: e.time, id: e.event_id, host: e.dest_host };
    if (foreign) call.f = 1;
    if (newWorkflow(e, callee, ctx)) call.u = 1;
    const level = ctx.agentRisk(e.tenant_id, e.agent_id);
    const propagates = (foreign || call.u === 1 ? foreignLevels : levels).has(level);
    const injection = propagates ? undefined : carriedInjection(e);
    if (propagates || injection !== undefined) {
      pending.delete(key);
      markFired(key, e.time);
      return [detection(call, level, e.time, ctx, injection)];
    }
    const prev = pending.get(key);
    if (prev !== undefined) {
      if (e.time <= prev.t) return NO_DETECTIONS;
      pending.delete(key);
      if (prev.u === 1) call.u = 1;
      // A later call from home does not make the pair's foreign call forgotten.
      if (prev.f === 1 && !foreign) {
        reflagged = true;
        call.f = 1;
        call.t = prev.t;
        call.id = prev.id;
      }
    }
    pending.set(key, call);
    if (pending.size > o.maxPending) pending.delete(pending.keys().next().value as string);
    return NO_DETECTIONS;
  }

  /** Pending calls re-judged by their callers' levels (see the header). */
  function advanceCalls(watermark: number, ctx: DetectorContext): Detection[] {
    if (pending.size === 0 || watermark - lastCheck < o.recheckMs) return NO_DETECTIONS;
    lastCheck = watermark;
    // Each call was judged when it came, at its caller's level then: with no level moved since the last
    // look (a fleet's calls far outnumber its level changes), only the calls past the look-back go, oldest first.
    const changes = ctx.riskChangeCount?.() ?? -1;
    if (changes >= 0 && changes === lastChanges && !reflagged) {
      for (const [key, c] of pending) {
        if (c.t >= watermark - o.lookbackMs) break;
        pending.delete(key);
      }
      return NO_DETECTIONS;
    }
    lastChanges = changes;
    reflagged = false;
    let out: Detection[] = NO_DETECTIONS;
    // forEach: no entry array per pending call (this runs every few seconds of event time).
    pending.forEach((c, key) => {
      if (c.t < watermark - o.lookbackMs) {
        pending.delete(key);
        return;
      }
      const level = ctx.agentRisk(c.tenant, c.caller);
      if (!(c.f === 1 || c.u === 1 ? foreignLevels : levels).has(level)) return;
      pending.delete(key);
      const time = Math.max(c.t, watermark);
      markFired(key, time);
      const d = detection(c, level, time, ctx);
      if (out === NO_DETECTIONS) out = [d];
      else out.push(d);
    });
    return out;
  }

  return {
    types: ['network'] as const,
    meta: agentPropagationMeta,
    observe(e: AgentEvent, ctx: DetectorContext): Detection[] {
      if (e.type !== 'network') return NO_DETECTIONS;
      if (e.tenant_id !== lastTenant) {
        lastTenant = e.tenant_id;
        const w = watchedSince.get(e.tenant_id);
        if (w === undefined || e.time < w) watchedSince.set(e.tenant_id, e.time);
      }
      if (e.threat === 'prompt_injection' && e.action === 'allowed') {
        const inj = injected.get(e.tenant_id, e.agent_id);
        if (inj === undefined) injected.set(e.tenant_id, e.agent_id, { at: e.time, t: e.time, id: e.event_id });
        else if (e.time > inj.t) Object.assign(inj, { at: e.time, t: e.time, id: e.event_id });
      }
      const callee = e.dest_agent_id;
      // An agent endpoint outside the tenant (category agent, no dest_agent_id): an edge of its own (see EXTERNAL).
      if (callee === null) return e.action === 'allowed' && categoryKey(e.category) === 'agent' ? onEdge(e, null, ctx) : NO_DETECTIONS;
      if (callee === e.agent_id) return NO_DETECTIONS;
      const propagated = onCall(e, callee, ctx);
      const edge = onEdge(e, callee, ctx);
      return edge.length === 0 ? propagated : propagated.length === 0 ? edge : propagated.concat(edge);
    },
    advance(watermark: number, ctx: DetectorContext): Detection[] {
      const held = edgeHold.size === 0 ? NO_DETECTIONS : edgeHold.takeDue(watermark, decideEdges);
      const calls = advanceCalls(watermark, ctx);
      return held.length === 0 ? calls : calls.length === 0 ? held : held.concat(calls);
    },
    settle(): Detection[] {
      return edgeHold.takeDue(Infinity, decideEdges);
    },
    evict(before: number): void {
      for (const [k, c] of pending) if (c.t < before) pending.delete(k);
      for (const [k, t] of fired) if (t < before) fired.delete(k);
      edges.evict(before);
      newEdges.evict(before);
      injected.evict(before);
      sources.evict(before);
      edgeHold.evict(before);
    },
    size(): number {
      return pending.size + fired.size + edges.size + newEdges.size + injected.size + sources.size + edgeHold.size;
    },
    snapshot(): unknown {
      return clone({ version: 1, pending: [...pending.values()], fired: [...fired], lastCheck, edges: snapshotGroups(edges), newEdges: newEdges.snapshot(), injected: injected.snapshot(), sources: sources.snapshot(), edgeHold: edgeHold.snapshot(), watched: [...watchedSince] });
    },
    restore(snapshot: unknown): void {
      const s = clone(snapshot) as {
        version: number;
        pending: Call[];
        fired: [string, number][];
        lastCheck: number;
        edges?: [string, string, PeerGroupSnapshot][];
        newEdges?: [string, string, NewEdges][];
        injected?: [string, string, Injected][];
        /** Absent from snapshots taken before call sources were learned. */
        sources?: [string, string, CallSources][];
        /** Absent from snapshots taken before callers' mediums were held. */
        edgeHold?: HeldEdges[];
        /** Absent from snapshots taken before the watch of each tenant was kept (no blueprint is taken for quiet until a day after). */
        watched?: [string, number][];
      };
      if (s?.version !== 1) throw new Error('agent-propagation: unsupported snapshot');
      pending = new Map(s.pending.map((c) => [pairKey(c.tenant, c.caller, c.callee), c]));
      fired = new Map(s.fired);
      lastCheck = s.lastCheck;
      lastChanges = -1;
      // Snapshots from before call edges were learned: every caller blueprint learns afresh.
      restoreGroups(edges, s.edges ?? []);
      newEdges.restore(s.newEdges ?? []);
      injected.restore(s.injected ?? []);
      sources.restore(s.sources ?? []);
      edgeHold.restore(s.edgeHold ?? []);
      watchedSince.clear();
      for (const [tenant, t] of s.watched ?? []) watchedSince.set(tenant, t);
      lastTenant = '';
    },
  };
}

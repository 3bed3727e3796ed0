// Detector 29 — session-harvest: one token of an agent makes far more calls
// than a session of its blueprint ever does (T1213 Data from Information
// Repositories).
//
// An agent that works for a user (on behalf of them) or for a job makes a
// handful of calls with each token: a copilot answers a question with two or
// three Graph calls, an HR helper pulls the one record it was asked about.
// A harvest goes through the same agent, the same token and the same API:
// an insider scripting the copilot to page through every worker record, an
// injected ticket sending the agent on a Microsoft Search spree for
// "password" and "vpn", a stolen session enumerating a CRM. Nothing in it is
// new (resource, network, scopes are the agent's own) and each call is
// small: bulk-collection's volume bars and exfiltration never see it. What
// is new is how many calls one session makes.
//
// Per agent, the calls made with each of its two latest tokens over a
// window of 10 minutes from the token's first call in it (a token used
// longer starts a new window). Per blueprint, what its sessions made: a
// histogram of the windows' call counts (exact up to 16) and the largest
// one, decaying with a half-life of 3 days.
// Rule: once the blueprint has learned 20 windows over 2 hours at least
// (from fewer than 3 of its agents with a floor of 60 calls: a blueprint of
// one or two agents is judged on their own sessions, a thinner norm;
// a window counts once it ended or its token sat unused for 2 minutes, not
// when an agent alternating between tokens cuts it short), a window reaching
// max(30 calls, 6× the blueprint's 95th percentile, 1.5× its largest) is
// medium 3 minutes later, unless another agent of the blueprint crossed its
// bar, or went past two thirds of it, within 10 minutes of it (a scheduled
// report run by the blueprint's agents together, a release that pages
// through results differently on every agent, a change pushed by three
// agents whose windows are out of step): then low. An insider or an intruder
// drives one agent. Once per agent per hour; a window that crossed the bar
// is not learned. Calls to a
// model provider are prompts, not reads of a repository (an agent loop calls
// its model with one cached token at every step): not counted.
//
// Calls without a token to a query tool (web search, an MCP server,
// translation: what an agent sends free text to with an API key) are
// counted the same way per host, against the blueprint's own norm for them
// (learned from 10 windows; at least 60 calls, a research task runs dozens
// of searches): an injected copilot smuggling a mailbox out in search
// queries sends a few KB per call, hundreds of calls, to a host its
// blueprint uses every day.
//
// State: per agent that presents tokens, the two tokens' counts (eleven small
// integers and two ids); per blueprint a histogram of 20 counters and its
// latest rises, and a second histogram once its agents call a query tool.

import type { AgentEvent, NetworkEvent } from '../contract/events.js';
import type { Detection, DetectorMeta } from './types.js';
import { peerGroupId, peerGroupName, type Detector, type DetectorContext } from './detector.js';
import { AgentStore, TenantMap, GroupStore, NO_DETECTIONS, clone, hashString, msOfSec, sec, type SlotState, type Timed } from './agent-directory.js';
import { DueQueue, type DueItem } from './due-queue.js';
import { categoryInfo, categoryKey } from './categories.js';
import { isDnsFlow } from './dns-flows.js';
import { memoByHost, memoByLabel } from './host-memo.js';

export interface SessionHarvestOptions {
  /** A token's calls are counted over this long from its first call in the window, ms. */
  windowMs?: number;
  /** Fewest calls in one window that can be a finding; for calls without a token to a query tool (a research task runs dozens of searches). */
  minCalls?: number;
  minQueryCalls?: number;
  /** Multiple of the blueprint's 95th percentile of a window's calls, and of its largest (decayed). */
  percentileFactor?: number;
  maxFactor?: number;
  /** Windows a blueprint learns over at least `learnMs` before its bar counts; learned from fewer than `learnAgents` of its agents, the floor doubles. */
  learnWindows?: number;
  /** The same for calls without a token to a query tool (fewer: an agent queries its tools now and then). */
  learnQueryWindows?: number;
  learnAgents?: number;
  learnMs?: number;
  /** Half-life of the blueprint's largest window, ms. */
  maxHalfLifeMs?: number;
  /** A finding waits this long for the blueprint's other agents, ms; `wideAgents` of them crossing within `wideWindowMs` make it blueprint-wide (low). */
  confirmMs?: number;
  wideAgents?: number;
  wideWindowMs?: number;
  /** One finding per agent per this, ms. */
  refireMs?: number;
  maxAgents?: number;
}

const DEFAULTS: Required<SessionHarvestOptions> = {
  windowMs: 10 * 60_000,
  minCalls: 30,
  minQueryCalls: 60,
  percentileFactor: 6,
  maxFactor: 1.5,
  learnWindows: 20,
  learnQueryWindows: 10,
  learnAgents: 3,
  learnMs: 2 * 3_600_000,
  maxHalfLifeMs: 3 * 24 * 3_600_000,
  confirmMs: 3 * 60_000,
  wideAgents: 1,
  wideWindowMs: 10 * 60_000,
  refireMs: 3_600_000,
  maxAgents: 2_000_000,
};

/** Hashes kept as 30-bit small integers (unboxed in objects). */
const SMALL = 0x3fffffff;
/** Histogram buckets: calls 1..16 exactly, then 17-32, 33-64, 65-128, 129 and more. */
const EXACT = 16;
const BUCKETS = EXACT + 4;
/** The largest count each bucket stands for (the 95th percentile is read as its bucket's bound). */
const BUCKET_BOUND = [...Array.from({ length: EXACT }, (_, i) => i + 1), 32, 64, 128, 256];
/** A histogram whose total reaches this is halved (recent sessions weigh most). */
const HIST_HALVE_AT = 4096;
/** Rises a blueprint remembers. */
const MAX_RISES = 8;
/** Session flags: the window crossed its bar; the session is a host's (calls without a token); the window went past two thirds of its bar (see judge). */
const CROSSED = 1;
const HOST_KEYED = 2;
const NEAR_BAR = 4;
/** Kinds of destination (see kindOf). */
const OTHER = 0;
const QUERY_TOOL = 1;
const MODEL = 2;
/**
 * Categories of the tools an agent sends free text to with an API key (no
 * token): web search, MCP servers, translation. Their calls are counted per
 * host: a search API queried hundreds of times in minutes carries data out
 * in its query strings (what each call sends is small, under every volume
 * bar), to a third party that logs it.
 */
const QUERY_TOOL_CATEGORIES = new Set(['search_engine', 'search_engines', 'search_engines_and_portals', 'web_search', 'search', 'mcp_server', 'translation', 'translators']);

/** Event ids kept per finding. */
const MAX_IDS = 6;

function bucketOf(calls: number): number {
  if (calls <= EXACT) return calls - 1;
  if (calls <= 32) return EXACT;
  if (calls <= 64) return EXACT + 1;
  if (calls <= 128) return EXACT + 2;
  return EXACT + 3;
}

/** Per agent: its two latest tokens being counted (slot 0 and 1). Times in seconds (see `sec`). */
interface Sessions extends SlotState {
  /**
   * Session key (a token's hash, or a query tool's host hash for calls
   * without a token), calls in the window, window start, last call, and
   * flags: 1 once the window crossed its bar, 2 for a host-keyed session.
   */
  h0: number;
  c0: number;
  w0: number;
  l0: number;
  k0: number;
  h1: number;
  c1: number;
  w1: number;
  l1: number;
  k1: number;
  /** The window's first call (its event id), for the evidence. */
  i0: string;
  i1: string;
  /** Last finding (s), 0 none. */
  fired: number;
}

/** What one kind of session of a blueprint made. */
interface Norm {
  /** Windows per call count (see bucketOf), halved now and then. */
  hist: number[];
  /** Windows learned (not halved), the first's time (s), and the first agents (hashes, up to learnAgents) they came from. */
  n: number;
  f: number;
  ag: number[];
  /** The largest window learned, decayed as of `mt` (s). */
  max: number;
  mt: number;
  /** The bar in force (0 while learning): recomputed as windows are learned. */
  bar: number;
  p95: number;
  /** The fewest calls that can be a finding for this kind of session. */
  min: number;
}

/** Per blueprint: what its token sessions made, and its calls without a token to a query tool (null until one ends). */
interface SessionNorm extends Timed {
  t: Norm;
  q: Norm | null;
  /** Latest rises: flat [agent hash, time (s)]. */
  rises: number[];
}

interface PendingHarvest extends DueItem {
  gid: string;
  ah: number;
  at: number;
  d: Detection;
}

export const sessionHarvestMeta: DetectorMeta = {
  id: 'session-harvest',
  title: 'One session far busier than its blueprint\'s',
  severity: 'medium',
  mitre: { id: 'T1213', name: 'Data from Information Repositories' },
  description:
    "One token of an agent makes far more calls than a session of its blueprint ever does: within 10 minutes of its first call, max(30, 6x the blueprint's 95th percentile of calls per token and window, 1.5x its largest window, decaying over 3 days), once the blueprint learned 20 windows over 2 hours (from fewer than 3 of its agents, at 60 calls at least). " +
    'Medium after 3 minutes, low when another agent of the blueprint crossed its bar, or two thirds of it, within 10 minutes (a scheduled report, a release paging through results on every agent, a change pushed by agents out of step); an agent carrying such a blueprint-wide job on past the hour, without a pause, is not reported again. Calls to a model provider are prompts, not reads: not counted. ' +
    'This is a harvest through the agent\'s own session: an insider scripting a copilot to pull every record, an injected task searching the user\'s files for secrets, a stolen token enumerating an API, with nothing new but the number of calls. ' +
    'Calls without a token to a query tool (web search, MCP server, translation) are counted per host against the blueprint\'s own norm for them (at least 60 calls; learned from 10 windows): data smuggled out in search queries. Once per agent an hour.',
};

/** What a destination's category makes its calls: a model's prompts (not counted), a query tool's, or any other. */
const kindOf = memoByLabel((category) => (categoryInfo(category).modelProvider ? MODEL : QUERY_TOOL_CATEGORIES.has(categoryKey(category)) ? QUERY_TOOL : OTHER));
/** A host's session key (salted apart from token hashes). */
const hostKey = memoByHost((host) => hashString(host, 0x5bd1e995) & SMALL);

export function createSessionHarvestDetector(options: SessionHarvestOptions = {}): Detector {
  const o: Required<SessionHarvestOptions> = { ...DEFAULTS, ...options };
  const agents = new AgentStore<Sessions>(o.maxAgents);
  const groups = new GroupStore<SessionNorm>(o.maxAgents);
  const pending = new DueQueue<PendingHarvest>(16_384);
  /** Agents whose latest finding was blueprint-wide: its time (s). A burst carried on past the refire time stays low (see judge). */
  const wideAt = new TenantMap<{ at: number; t: number }>(o.maxAgents);
  const windowS = o.windowMs / 1000;
  const halfLifeS = o.maxHalfLifeMs / 1000;
  const learnS = o.learnMs / 1000;
  /** A token unused this long has finished its session, s. */
  const idleS = 120;
  const agentHash = (e: NetworkEvent) => hashString(e.agent_id) & SMALL;

  function group(ctx: DetectorContext, e: NetworkEvent): SessionNorm {
    const gid = peerGroupId(e.blueprint_id, e.agent_id);
    let g = groups.find(ctx, e.tenant_id, gid);
    if (g === undefined) {
      g = { at: e.time, t: newNorm(o.minCalls), q: null, rises: [] };
      groups.set(e.tenant_id, gid, g);
    } else if (e.time > g.at) g.at = e.time;
    return g;
  }

  function newNorm(min: number): Norm {
    return { hist: new Array<number>(BUCKETS).fill(0), n: 0, f: 0, ag: [], max: 0, mt: 0, bar: 0, p95: 0, min };
  }

  /** The norm of a session's kind (flags `k`), created for host-keyed sessions on first use. */
  function normOf(g: SessionNorm, k: number): Norm {
    if ((k & HOST_KEYED) === 0) return g.t;
    return (g.q ??= newNorm(o.minQueryCalls));
  }

  function decayedMax(g: Norm, now: number): number {
    return g.max * Math.pow(0.5, Math.max(0, now - g.mt) / halfLifeS);
  }

  /** Learns a finished window of `calls` by agent `ah`, and sets the blueprint's bar. */
  function learn(g: Norm, calls: number, now: number, ah: number, windows: number): void {
    const hist = g.hist;
    hist[bucketOf(calls)]!++;
    if (g.n === 0) g.f = now;
    if (g.n < 1_000_000) g.n++;
    if (g.ag.length < o.learnAgents && !g.ag.includes(ah)) g.ag.push(ah);
    const max = decayedMax(g, now);
    if (calls >= max) {
      g.max = calls;
      g.mt = now;
    }
    let total = 0;
    for (let i = 0; i < BUCKETS; i++) total += hist[i]!;
    if (total >= HIST_HALVE_AT) {
      total = 0;
      for (let i = 0; i < BUCKETS; i++) total += hist[i] = hist[i]! >> 1;
    }
    // Over 2 hours whatever the number of agents: a blueprint of one or two agents (an intake agent, a pair
    // of filers) is judged on its own sessions, with a higher floor (floorOf) for that thinner norm.
    if (g.n < windows || now - g.f < learnS) return;
    let cum = 0;
    let p95 = BUCKET_BOUND[BUCKETS - 1]!;
    for (let i = 0; i < BUCKETS; i++) {
      cum += hist[i]!;
      if (cum >= 0.95 * total) {
        p95 = BUCKET_BOUND[i]!;
        break;
      }
    }
    g.p95 = p95;
    g.bar = Math.max(floorOf(g), o.percentileFactor * p95, Math.ceil(o.maxFactor * Math.max(g.max, decayedMax(g, now))));
  }

  /**
   * The fewest calls a finding needs: doubled for a blueprint whose sessions came from fewer than
   * learnAgents agents (one or two agents' habits are a thinner norm: a conflicts check of a long
   * creditor list is their job too, a dump of the whole database is not).
   */
  function floorOf(g: Norm): number {
    return g.ag.length >= o.learnAgents ? g.min : 2 * g.min;
  }

  /** The blueprint's bar as of `now` (its largest window decays meanwhile), 0 while it learns. */
  function barOf(g: Norm, now: number): number {
    if (g.bar === 0) return 0;
    return Math.max(floorOf(g), o.percentileFactor * g.p95, Math.ceil(o.maxFactor * decayedMax(g, now)));
  }

  /** Learns a session's window that is over (flags `k`: its kind). */
  function learnWindow(ctx: DetectorContext, e: NetworkEvent, k: number, calls: number, now: number): void {
    const host = (k & HOST_KEYED) !== 0;
    learn(normOf(group(ctx, e), k), calls, now, agentHash(e), host ? o.learnQueryWindows : o.learnWindows);
  }

  /** Whether a session (flags `k`) at `calls` may be judged: enough calls for its kind, not judged in this window yet. */
  function judgeable(k: number, calls: number): boolean {
    return calls >= o.minCalls && (k & CROSSED) === 0 && ((k & HOST_KEYED) === 0 || calls >= o.minQueryCalls);
  }

  /** A call in session `h` (a token's hash, or a host's when `kind` is HOST_KEYED). The two slots are spelt out field by field: unboxed small integers, no per-call array. */
  function onNetwork(e: NetworkEvent, ctx: DetectorContext, h: number, kind: number): Detection[] {
    const now = sec(e.time);
    let s = agents.get(ctx, e.tenant_id, e.agent_id);
    if (s === undefined) {
      s = { e: 0, at: now, h0: h, c0: 1, w0: now, l0: now, k0: kind, h1: 0, c1: 0, w1: 0, l1: 0, k1: 0, i0: e.event_id, i1: '', fired: 0 };
      agents.set(ctx, e.tenant_id, e.agent_id, s);
      return NO_DETECTIONS;
    }
    if (now > s.at) s.at = now;
    let calls: number;
    if (s.h0 === h) {
      if (now - s.w0 >= windowS) {
        if ((s.k0 & CROSSED) === 0) learnWindow(ctx, e, s.k0, s.c0, now);
        s.c0 = 0;
        s.w0 = now;
        s.k0 &= HOST_KEYED;
        s.i0 = e.event_id;
      }
      s.l0 = now;
      calls = ++s.c0;
      if (!judgeable(s.k0, calls)) return NO_DETECTIONS;
      return judge(e, ctx, s, 0, calls, now);
    }
    if (s.h1 === h) {
      if (now - s.w1 >= windowS) {
        if ((s.k1 & CROSSED) === 0) learnWindow(ctx, e, s.k1, s.c1, now);
        s.c1 = 0;
        s.w1 = now;
        s.k1 &= HOST_KEYED;
        s.i1 = e.event_id;
      }
      s.l1 = now;
      calls = ++s.c1;
      if (!judgeable(s.k1, calls)) return NO_DETECTIONS;
      return judge(e, ctx, s, 1, calls, now);
    }
    // A third token: it takes the place of the one whose window is over (the least recently used of two), else of the one with fewer calls.
    // A window is learned when it is over: ended, or its token idle for idleS (a session done);
    // not the counts of tokens an agent alternates between, cut short.
    const ended0 = now - s.w0 >= windowS || now - s.l0 >= idleS;
    const ended1 = now - s.w1 >= windowS || now - s.l1 >= idleS;
    const into0 = ended0 !== ended1 ? ended0 : ended0 ? s.l0 <= s.l1 : s.c0 <= s.c1;
    if (into0) {
      if (ended0 && s.c0 > 0 && (s.k0 & CROSSED) === 0) learnWindow(ctx, e, s.k0, s.c0, now);
      s.h0 = h;
      s.c0 = 1;
      s.w0 = now;
      s.l0 = now;
      s.k0 = kind;
      s.i0 = e.event_id;
    } else {
      if (ended1 && s.c1 > 0 && (s.k1 & CROSSED) === 0) learnWindow(ctx, e, s.k1, s.c1, now);
      s.h1 = h;
      s.c1 = 1;
      s.w1 = now;
      s.l1 = now;
      s.k1 = kind;
      s.i1 = e.event_id;
    }
    return NO_DETECTIONS;
  }

  /** Notes that agent `ah` of the group rose at `now` (the latest MAX_RISES kept). */
  function rise(grp: SessionNorm, ah: number, now: number): void {
    if (grp.rises.length >= 2 * MAX_RISES) grp.rises.splice(0, 2);
    grp.rises.push(ah, now);
  }

  function judge(e: NetworkEvent, ctx: DetectorContext, s: Sessions, slot: 0 | 1, calls: number, now: number): Detection[] {
    const grp = group(ctx, e);
    const byHost = ((slot === 0 ? s.k0 : s.k1) & HOST_KEYED) !== 0;
    const g = normOf(grp, byHost ? HOST_KEYED : 0);
    const bar = barOf(g, now);
    if (bar === 0) return NO_DETECTIONS;
    const k = slot === 0 ? s.k0 : s.k1;
    if (calls < bar) {
      // Past two thirds of the bar (so past the largest window the blueprint learned), short of the bar: a
      // rise all the same for its siblings' findings (three agents pushing one change through, their windows
      // out of step, cross one by one: the first would be alone when its finding is decided).
      if ((k & NEAR_BAR) === 0 && calls >= Math.max(o.minCalls, Math.ceil(bar / o.maxFactor))) {
        if (slot === 0) s.k0 |= NEAR_BAR;
        else s.k1 |= NEAR_BAR;
        rise(grp, agentHash(e), now);
      }
      return NO_DETECTIONS;
    }
    if (slot === 0) s.k0 |= CROSSED;
    else s.k1 |= CROSSED;
    const ah = agentHash(e);
    if ((k & NEAR_BAR) === 0) rise(grp, ah, now);
    if (s.fired !== 0 && now - s.fired < o.refireMs / 1000) return NO_DETECTIONS;
    // Its last finding was blueprint-wide and this one follows it without a pause (at the refire time,
    // within a window): the blueprint's job carried on by an agent that runs longer than its siblings.
    const wide = s.fired !== 0 ? wideAt.get(e.tenant_id, e.agent_id) : undefined;
    const carried = wide !== undefined && wide.t === s.fired && now - s.fired <= (o.refireMs + o.windowMs) / 1000;
    s.fired = now;
    const start = slot === 0 ? s.w0 : s.w1;
    const first = slot === 0 ? s.i0 : s.i1;
    const d: Detection = {
      detector: sessionHarvestMeta.id,
      severity: 'medium',
      tenant_id: e.tenant_id,
      agent_id: e.agent_id,
      time: e.time,
      summary: byHost
        ? `Agent ${e.agent_id} made ${calls} calls without a token to ${e.dest_host} (${e.category}) in ${Math.max(1, Math.round((now - start) / 60))} min, ` +
          `where its blueprint's agents make ${g.p95} there in 10 minutes at the 95th percentile: data carried out in queries to a tool it uses`
        : `Agent ${e.agent_id} made ${calls} calls with token ${e.token_id} in ${Math.max(1, Math.round((now - start) / 60))} min (last to ${e.dest_host}), ` +
          `where a session of its blueprint makes ${g.p95} at the 95th percentile: a harvest through its own session`,
      evidence: {
        observed: { token_id: e.token_id, calls, since: msOfSec(start), dest_host: e.dest_host, category: e.category, window_min: o.windowMs / 60_000 },
        baseline: { p95_calls_per_window: g.p95, largest_window: Math.round(decayedMax(g, now)), windows_learned: g.n },
        threshold: `max(${floorOf(g)}, ${o.percentileFactor}x the 95th percentile, ${o.maxFactor}x the largest window) = ${bar} calls ${byHost ? 'without a token to one query tool' : 'with one token'} within ${o.windowMs / 60_000} min; medium unless ${o.wideAgents} other agent(s) of the blueprint cross their bars (or two thirds of them) within ${o.wideWindowMs / 60_000} min`,
        peer_group: peerGroupName(e.blueprint_id) ?? `agent:${e.agent_id}`,
      },
      event_ids: [first, e.event_id].slice(0, MAX_IDS),
    };
    if (carried) {
      // Reported an hour ago as the blueprint's job, and nothing new since.
      wide.t = now;
      wide.at = e.time;
      return NO_DETECTIONS;
    }
    if (o.confirmMs <= 0) return [d];
    pending.add({ tenant_id: e.tenant_id, agent_id: e.agent_id, due: e.time + o.confirmMs, gid: peerGroupId(e.blueprint_id, e.agent_id), ah, at: now, d });
    return NO_DETECTIONS;
  }

  function decide(p: PendingHarvest): Detection {
    const rises = groups.get(p.tenant_id, p.gid)?.rises ?? [];
    const others = new Set<number>();
    for (let i = 0; i < rises.length; i += 2) {
      if (rises[i] !== p.ah && Math.abs(rises[i + 1]! - p.at) <= o.wideWindowMs / 1000) others.add(rises[i]!);
    }
    if (others.size >= o.wideAgents) {
      wideAt.set(p.tenant_id, p.agent_id, { at: p.due, t: p.at });
      return {
        ...p.d,
        time: p.due,
        severity: 'low',
        summary: `${p.d.summary}; ${others.size} other agent${others.size === 1 ? '' : 's'} of its blueprint did the same within ${o.wideWindowMs / 60_000} min, a blueprint-wide change`,
      };
    }
    return { ...p.d, time: p.due };
  }

  return {
    meta: sessionHarvestMeta,
    types: ['network'] as const,
    observe(e: AgentEvent, ctx: DetectorContext): Detection[] {
      if (e.type !== 'network') return NO_DETECTIONS;
      const kind = kindOf(e.category);
      if (kind === MODEL) return NO_DETECTIONS;
      if (e.token_id !== null) return onNetwork(e, ctx, hashString(e.token_id) & SMALL, 0);
      if (kind !== QUERY_TOOL || e.action !== 'allowed' || e.dest_agent_id !== null || isDnsFlow(e)) return NO_DETECTIONS;
      return onNetwork(e, ctx, hostKey(e.dest_host), HOST_KEYED);
    },
    advance: (watermark: number): Detection[] => pending.takeDue(watermark, decide),
    settle: (): Detection[] => pending.takeDue(Infinity, decide),
    evict(before: number): void {
      agents.evict(before);
      groups.evict(before);
      pending.evict(before);
      wideAt.evict(before);
    },
    size(): number {
      return agents.size + groups.size + pending.size + wideAt.size;
    },
    snapshot(): unknown {
      return clone({ version: 2, agents: agents.rows(), groups: groups.snapshot(), pending: pending.snapshot(), wideAt: wideAt.snapshot() });
    },
    restore(snapshot: unknown): void {
      const s = clone(snapshot) as { version: number; agents: [string, string, Sessions][]; groups: [string, string, SessionNorm][]; pending: PendingHarvest[] };
      if (s?.version !== 2) throw new Error('session-harvest: unsupported snapshot');
      agents.restore(s.agents, false);
      groups.restore(s.groups);
      pending.restore(s.pending);
      wideAt.restore((s as { wideAt?: [string, string, { at: number; t: number }][] }).wideAt ?? []);
    },
  };
}

// A burst of one kind of call by one agent, far above its own and its
// blueprint's usual peaks: the counting core shared by the detectors that
// judge a call rate (secret-enumeration: reads of a secrets store;
// mass-send: requests that carry data out to an API; password-spray:
// requests to an identity provider).
//
// Per agent that made such a call: the calls over a sliding window (five
// sub-windows), and the highest completed window count it had at least an
// hour ago (its peak, decaying with a half-life: last week's rotation job is
// remembered; a burst does not raise its own bar); per blueprint, the highest
// peak of its agents and its latest bursts.
// Verdict: at least `minCalls` within the window, `factor`× the agent's own
// peak (and its latest windows that ended before this one began, not yet
// promoted) and `peerFactor`× its blueprint's (once it has made such calls for
// `learnMs`, or this burst is its first and it has been active that long
// when the detector says so; before that `factor`× its blueprint's) → medium; without any baseline (a young
// agent of a blueprint whose agents never did it), `noBaselineCalls`. The blueprint's peak is its busiest agent's:
// at `factor`× one busy peer would hide a burst by every quiet one. From
// `lowCalls` over that bar, under the medium floor: low. When `rolloutAgents`
// other agents of the blueprint went over their bars within the rollout
// window, it is a rollout (every pod doing the same at start-up): low; and
// when `wideAgents` other agents of it went over their bars (low or medium)
// within it (a whole blueprint misbehaving at once: a bad configuration
// pushed to every pod, each rising a little, the quickest over the floor). Once
// per agent per `refireMs` (lows too); windows of an agent that fired within
// that long do not raise its peak. When `recurAfterMs` is set, a burst
// `recurAfterMs` to `recurWithinMs` after the agent's previous one is a
// recurring job: low. A burst at the refire time that follows, without a
// pause, one found to be a rollout is the blueprint's job carried on by the
// agent that runs longest: not reported again (its peak never learned the
// job, so it would otherwise be a medium of its own).

import type { AgentEvent, NetworkEvent } from '../contract/events.js';
import type { Detection, DetectorMeta } from './types.js';
import { formatDuration, peerGroupId, peerGroupName, type Detector, type DetectorContext } from './detector.js';
import { NO_DETECTIONS, TenantMap, clone, hashString, type Timed } from './agent-directory.js';
import { DueQueue, type DueItem } from './due-queue.js';
import { RING_SUBS, ringAdd, ringSlide, ringSum, type SubWindowRing } from './sub-window-ring.js';

export interface CallBurstOptions {
  /** The sliding window, ms (five sub-windows). */
  windowMs: number;
  /** Least calls within the window that can be a finding (medium), and a low one. */
  minCalls: number;
  lowCalls: number;
  /** Multiple of the agent's own peak (of its blueprint's for an agent without history)... */
  factor: number;
  /** ...and of its blueprint's peak for an agent with its own history. */
  peerFactor: number;
  /** Calls within the window that fire without any baseline. */
  noBaselineCalls: number;
  /** Half-life of a peak, ms. */
  peakHalfLifeMs: number;
  /** The agent's own peak counts once it has made such calls this long, ms. */
  learnMs: number;
  /** Other agents of the blueprint over their bars within this long make a rollout, and how many. */
  rolloutWindowMs: number;
  rolloutAgents: number;
  /** One finding per agent per this, ms. */
  refireMs: number;
  maxAgents: number;
  /**
   * When over 0: an agent gets its record (ring, peaks) only once it makes
   * this many such calls within one window; until then a number in a map
   * counts them (a few bytes instead of a record for every agent that ever
   * makes such a call). Peaks under it are not learned.
   */
  stageCalls?: number;
  /**
   * When over 0: a medium finding waits this long (event time) and is a
   * rollout (low) when `rolloutAgents` other agents of the blueprint burst
   * within the rollout window of it, before or after: the first agents of a
   * blueprint-wide job are not reported as attacks before the rest start.
   */
  confirmMs?: number;
  /**
   * When over 0: this many other agents of the blueprint over their bars
   * (a low finding or a burst) within the rollout window make a rollout too.
   */
  wideAgents?: number;
  /**
   * When over 0: a burst by an agent that burst (medium) between
   * `recurAfterMs` and `recurWithinMs` before is a recurring job (low): the
   * daily sweep an analyst saw reported yesterday, not a new attack.
   */
  recurAfterMs?: number;
  recurWithinMs?: number;
}

/** Per agent that made such calls; its ring holds the calls per sub-window. Times in seconds. */
export interface BurstAgent extends Timed, SubWindowRing {
  g: string;
  /** Peak: the highest sliding count at least an hour old (decayed as of `pt`). */
  peak: number;
  pt: number;
  /** The highest sliding count in hour `ca`, and in the hour before it: each becomes the peak an hour later (a burst does not raise its own bar). */
  cand: number;
  pv: number;
  ca: number;
  /** The newest sub-window of the window `cand` and `pv` were counted over (absent in older snapshots). */
  cs?: number;
  ps?: number;
  /** First call (s); last finding (s, 0 when none); last low finding (s, 0 when none; absent in older snapshots). */
  first: number;
  fired: number;
  lf?: number;
  /** The finding time (s) of its latest burst found to be a rollout; absent until one (see observe: a rollout carried on). */
  rb?: number;
  /** The latest calls' event ids (up to 8), once the window holds half the least finding's calls. */
  ids: string[];
}

export interface BurstGroup extends Timed {
  /** Highest agent peak, decayed as of `pt` (s). */
  peak: number;
  pt: number;
  /** Flat [agent hash, time (s)] of recent bursts; a negative time (-s) is a low finding (over the bar, under the floor). */
  bursts: number[];
}

/** A burst found: what it is compared with. */
export interface BurstVerdict {
  severity: 'low' | 'medium';
  calls: number;
  /** The higher of `own` and `peers` (0: none, see `known`). */
  base: number;
  /** The agent's own history counts (with a base of 0: an agent active for the learning time that never did this before). */
  known: boolean;
  /** The agent's own peak (0 while it learns), its blueprint's. */
  own: number;
  peers: number;
  threshold: number;
  /** Other agents of the blueprint that burst within the rollout window. */
  others: number;
  rollout: boolean;
  /** The agent's previous burst (s ago) when this one recurs after it (see recurAfterMs); 0 otherwise. */
  recurs: number;
  /** The event ids behind it (a copy). */
  ids: string[];
}

/** The ids of an agent far from a burst: none kept (shared, never written). */
const NO_IDS: string[] = [];

export interface CallBurstSnapshot {
  agents: [string, string, BurstAgent][];
  groups: [string, string, BurstGroup][];
  /** Staged agents: [tenant, agent, window index × STAGE_SCALE + calls]; absent in older snapshots. */
  staged?: [string, string, number][];
}

/** A staged agent's value: its window index times this, plus its calls in that window (< this). */
const STAGE_SCALE = 64;

/** Latest entries kept per blueprint (pairs). */
const MAX_BURSTS = 16;

function pushBurst(g: BurstGroup, agentHash: number, time: number): void {
  if (g.bursts.length >= MAX_BURSTS * 2) g.bursts.splice(0, 2);
  g.bursts.push(agentHash, time);
}

/**
 * Distinct other agents with a burst within `span` (s) of `now` (before it,
 * or either side when `around`), and distinct other agents with a burst or a
 * low finding then.
 */
function othersOf(g: BurstGroup, self: number, now: number, span: number, around: boolean): { others: number; wide: number } {
  const b = g.bursts;
  let others = 0;
  let wide = 0;
  for (let i = 0; i < b.length; i += 2) {
    const h = b[i]!;
    if (h === self) continue;
    const raw = b[i + 1]!;
    const t = raw < 0 ? -raw : raw;
    const d = now - t;
    if (d > span || (around && d < -span)) continue;
    // Counted once per agent: its earlier entries within the window were counted already.
    let seenBurst = false;
    let seenAny = false;
    for (let j = 0; j < i; j += 2) {
      if (b[j] !== h) continue;
      const rj = b[j + 1]!;
      const tj = rj < 0 ? -rj : rj;
      const dj = now - tj;
      if (dj > span || (around && dj < -span)) continue;
      seenAny = true;
      if (rj >= 0) seenBurst = true;
    }
    if (!seenAny) wide++;
    if (raw >= 0 && !seenBurst) others++;
  }
  return { others, wide };
}

export class CallBurstWatch {
  private readonly agents: TenantMap<BurstAgent>;
  private readonly groups: TenantMap<BurstGroup>;
  private readonly subS: number;
  private readonly halfLifeS: number;
  /** Agents counted before they get a record (see stageCalls): tenant → agent → window × STAGE_SCALE + calls. */
  private readonly staged = new Map<string, Map<string, number>>();
  private stagedCount = 0;

  /** Other agents bursting within the rollout window that make a burst a rollout. */
  get rolloutAgents(): number {
    return this.o.rolloutAgents;
  }

  /** How long a medium burst waits for the rest of its blueprint (0: reported at once). */
  get confirmMs(): number {
    return this.o.confirmMs ?? 0;
  }

  constructor(private readonly o: CallBurstOptions) {
    this.agents = new TenantMap<BurstAgent>(o.maxAgents);
    this.groups = new TenantMap<BurstGroup>(o.maxAgents);
    this.subS = o.windowMs / RING_SUBS / 1000;
    this.halfLifeS = o.peakHalfLifeMs / 1000;
  }

  private decayed(v: number, since: number, now: number): number {
    return now > since ? v * Math.pow(0.5, (now - since) / this.halfLifeS) : v;
  }

  private groupOf(e: NetworkEvent, gid: string): BurstGroup {
    let g = this.groups.get(e.tenant_id, gid);
    if (g === undefined) {
      g = { at: e.time, peak: 0, pt: Math.floor(e.time / 1000), bursts: [] };
      this.groups.set(e.tenant_id, gid, g);
    } else if (e.time > g.at) g.at = e.time;
    return g;
  }

  private promote(a: BurstAgent, g: BurstGroup, v: number, now: number): void {
    if (v <= 0) return;
    if (v > this.decayed(a.peak, a.pt, now)) {
      a.peak = v;
      a.pt = now;
    }
    if (v > this.decayed(g.peak, g.pt, now)) {
      g.peak = v;
      g.pt = now;
    }
  }

  /**
   * Before the ring slides on: its sum (the sliding count as of the last
   * call) is a candidate for the hour, unless the agent fired lately; the
   * candidates of an hour become the peak an hour after it.
   */
  private slide(a: BurstAgent, g: BurstGroup, sb: number, now: number): void {
    if (sb <= a.sub) return;
    const hour = Math.floor(now / 3600);
    if (hour > a.ca) {
      this.promote(a, g, a.pv, now);
      if (hour === a.ca + 1) {
        a.pv = a.cand;
        a.ps = a.cs;
      } else {
        this.promote(a, g, a.cand, now);
        a.pv = 0;
      }
      a.cand = 0;
      a.ca = hour;
    }
    // The sum as of the ring's newest sub-window (the agent may have been idle since): not a
    // candidate when the agent had fired within the hour before it.
    const sum = ringSum(a);
    if (sum > a.cand && (a.fired === 0 || a.sub * this.subS - a.fired >= this.o.refireMs / 1000)) {
      a.cand = sum;
      a.cs = a.sub;
    }
    ringSlide(a, sb);
  }

  /**
   * Counts one call of the kind watched; a verdict when it makes a burst,
   * else null. `activeSince` (ms), when given, is when the agent was first
   * seen at all: an agent active for the learning time whose first such
   * calls are this burst never did this (a baseline of none, not no
   * baseline).
   */
  observe(e: NetworkEvent, activeSince = Infinity): BurstVerdict | null {
    const o = this.o;
    const now = Math.floor(e.time / 1000);
    const sb = Math.floor(now / this.subS);
    const gid = peerGroupId(e.blueprint_id, e.agent_id);
    const g = this.groupOf(e, gid);
    let a = this.agents.get(e.tenant_id, e.agent_id);
    let earlier = 0;
    if (a === undefined) {
      if ((o.stageCalls ?? 0) > 0) {
        earlier = this.stage(e);
        if (earlier < 0) return null;
      }
      a = { at: e.time, g: gid, r0: 0, r1: 0, r2: 0, r3: 0, r4: 0, sub: sb, peak: 0, pt: now, cand: 0, pv: 0, ca: Math.floor(now / 3600), first: now, fired: 0, ids: NO_IDS };
      this.agents.set(e.tenant_id, e.agent_id, a);
      // The staged calls came within the window: counted in its newest sub-window.
      if (earlier > 0) ringAdd(a, sb, earlier);
    } else if (e.time > a.at) a.at = e.time;
    this.slide(a, g, sb, now);
    if (!ringAdd(a, sb, 1)) return null;
    const calls = ringSum(a);
    // The latest calls' ids, kept only once the window holds half the least finding's calls: most
    // agents never get there, and ids are strings the state would retain.
    if (calls * 2 >= o.lowCalls) {
      if (a.ids === NO_IDS) a.ids = [];
      else if (a.ids.length >= 8) a.ids.shift();
      a.ids.push(e.event_id);
    } else if (a.ids !== NO_IDS) a.ids = NO_IDS;
    if (calls < o.lowCalls) return null;
    const refireS = o.refireMs / 1000;
    if (a.fired !== 0 && now - a.fired < refireS) return null;
    const learnS = o.learnMs / 1000;
    // Active for the learning time (when the caller knows): a peak of none is a baseline too. Its
    // first such calls are this burst: it never did this.
    const active = now - Math.floor(activeSince / 1000) >= learnS;
    const known = (active && now - a.first < o.windowMs / 1000) || now - a.first >= learnS;
    // Its own peak, and the candidates not yet promoted whose windows ended before this window began
    // (a job that ran an hour ago counts now, not in two hours; the start of this burst does not).
    const early = sb - RING_SUBS;
    const pending = Math.max((a.cs ?? Infinity) <= early ? a.cand : 0, (a.ps ?? Infinity) <= early ? a.pv : 0);
    const own = known ? Math.max(this.decayed(a.peak, a.pt, now), pending) : 0;
    const peers = this.decayed(g.peak, g.pt, now);
    const base = Math.max(own, peers);
    const baselined = base > 0 || (active && known);
    // An agent with its own history: factor x its own peak and peerFactor x its blueprint's (the
    // peak of its busiest agent: one busy peer must not hide a burst by a quiet one); a new agent:
    // factor x its blueprint's.
    const bar = known ? Math.max(o.factor * own, o.peerFactor * peers) : o.factor * peers;
    const threshold = baselined ? Math.max(o.minCalls, bar) : o.noBaselineCalls;
    const since = a.fired === 0 ? 0 : now - a.fired;
    // Its last burst was a rollout and this one follows it without a pause (at the refire time, within a
    // window): the blueprint's job carried on, by an agent that runs longer than its siblings.
    const carried = a.rb !== undefined && a.rb === a.fired && since <= refireS + o.windowMs / 1000;
    const recurs = (o.recurAfterMs ?? 0) > 0 && since >= (o.recurAfterMs ?? 0) / 1000 && since <= (o.recurWithinMs ?? 0) / 1000 ? since : 0;
    if (calls < threshold) {
      // Under the medium floor but over the bar: low, once per refire time (evidence; with another finding the agent rises).
      if (!baselined || calls < bar || (a.lf !== undefined && a.lf !== 0 && now - a.lf < refireS)) return null;
      a.lf = now;
      if ((o.wideAgents ?? 0) > 0) pushBurst(g, hashString(e.agent_id), -now);
      return { severity: 'low', calls, base, known, own, peers, threshold: Math.max(o.lowCalls, bar), others: 0, rollout: false, recurs, ids: a.ids.slice() };
    }
    a.fired = now;
    // The burst's first minutes may already be this hour's candidate (sampled before it crossed the
    // threshold), or the last hour's when it began before the hour: neither becomes a peak.
    a.cand = 0;
    if (now - a.ca * 3600 < o.windowMs / 1000) a.pv = 0;
    // A rollout: other agents of the blueprint bursting too within the window.
    const ah = hashString(e.agent_id);
    const { others, wide } = othersOf(g, ah, now, o.rolloutWindowMs / 1000, false);
    pushBurst(g, ah, now);
    const rollout = carried || this.isRollout(others, wide);
    if (rollout) a.rb = now;
    // Carried on: reported an hour ago as the blueprint's job, and nothing new since.
    if (carried) return null;
    // A recurring job already reported low on its way up this hour: once is enough.
    if (recurs > 0 && a.lf !== undefined && a.lf !== 0 && now - a.lf < refireS) return null;
    return { severity: rollout || recurs > 0 ? 'low' : 'medium', calls, base, known, own, peers, threshold, others: rollout ? Math.max(others, wide) : others, rollout, recurs, ids: a.ids.slice() };
  }

  /**
   * Counts a call of an agent without a record: -1 while it stays under
   * stageCalls within its window, else the calls counted before this one
   * (the agent gets its record now).
   */
  private stage(e: NetworkEvent): number {
    const wi = Math.floor(e.time / this.o.windowMs);
    let m = this.staged.get(e.tenant_id);
    if (m === undefined) {
      m = new Map();
      this.staged.set(e.tenant_id, m);
    }
    const v = m.get(e.agent_id);
    const vw = v === undefined ? -1 : Math.floor(v / STAGE_SCALE);
    // A late call of the window before still counts with the current one.
    const n = v !== undefined && vw >= wi - 1 ? (v % STAGE_SCALE) + 1 : 1;
    if (n < (this.o.stageCalls ?? 0)) {
      if (v === undefined) this.stagedCount++;
      m.set(e.agent_id, Math.max(wi, vw) * STAGE_SCALE + Math.min(n, STAGE_SCALE - 1));
      return -1;
    }
    if (v !== undefined) {
      m.delete(e.agent_id);
      this.stagedCount--;
      if (m.size === 0) this.staged.delete(e.tenant_id);
    }
    return n - 1;
  }

  evict(before: number): void {
    this.agents.evict(before);
    this.groups.evict(before);
    const wi = Math.floor(before / this.o.windowMs);
    for (const [tenant, m] of this.staged) {
      m.forEach((v, agent) => {
        if (Math.floor(v / STAGE_SCALE) < wi) {
          m.delete(agent);
          this.stagedCount--;
        }
      });
      if (m.size === 0) this.staged.delete(tenant);
    }
  }

  /**
   * Other agents of the event's blueprint that burst within the rollout
   * window of `t` (ms), before or after it, and (`wide`) the other agents
   * over their bars then, bursts and low findings alike.
   */
  othersAround(e: NetworkEvent, t: number): { others: number; wide: number } {
    const g = this.groups.get(e.tenant_id, peerGroupId(e.blueprint_id, e.agent_id));
    if (g === undefined) return { others: 0, wide: 0 };
    return othersOf(g, hashString(e.agent_id), Math.floor(t / 1000), this.o.rolloutWindowMs / 1000, true);
  }

  /** A rollout: `rolloutAgents` others bursting, or `wideAgents` others over their bars. */
  /** Records that the agent's latest burst (found at `e`'s time) turned out a rollout (a held finding, decided). */
  markRollout(e: NetworkEvent): void {
    const a = this.agents.get(e.tenant_id, e.agent_id);
    if (a !== undefined && a.fired === Math.floor(e.time / 1000)) a.rb = a.fired;
  }

  isRollout(others: number, wide: number): boolean {
    const w = this.o.wideAgents ?? 0;
    return others >= this.o.rolloutAgents || (w > 0 && wide >= w);
  }

  /** When the agent first made a call of the kind watched (s), or NaN when it is not tracked. */
  firstCall(tenant: string, agent: string): number {
    return this.agents.get(tenant, agent)?.first ?? NaN;
  }

  get size(): number {
    return this.agents.size + this.groups.size + this.stagedCount;
  }

  snapshot(): CallBurstSnapshot {
    const staged: [string, string, number][] = [];
    for (const [tenant, m] of this.staged) for (const [agent, v] of m) staged.push([tenant, agent, v]);
    return { agents: this.agents.snapshot(), groups: this.groups.snapshot(), staged };
  }

  restore(s: CallBurstSnapshot): void {
    this.agents.restore(s.agents.map(([t, id, a]) => [t, id, a.ids.length === 0 ? { ...a, ids: NO_IDS } : a]));
    this.groups.restore(s.groups);
    this.staged.clear();
    this.stagedCount = 0;
    for (const [tenant, agent, v] of s.staged ?? []) {
      let m = this.staged.get(tenant);
      if (m === undefined) {
        m = new Map();
        this.staged.set(tenant, m);
      }
      if (!m.has(agent)) this.stagedCount++;
      m.set(agent, v);
    }
  }
}

/** What a detector around a CallBurstWatch does with its network events. */
export interface CallBurstJudge {
  /** The watch's verdict on the event: null when it is not a call of the kind watched, or makes no burst. */
  verdict(e: NetworkEvent, ctx: DetectorContext): BurstVerdict | null;
  /** The finding of a verdict. */
  finding(e: NetworkEvent, v: BurstVerdict): Detection;
}

/** A medium burst waiting `confirmMs` to see whether the blueprint follows (see CallBurstOptions.confirmMs). */
interface HeldBurst extends DueItem {
  e: NetworkEvent;
  v: BurstVerdict;
}

/** Medium bursts that wait at most (beyond it a burst is reported at once). */
const MAX_HELD_BURSTS = 100_000;

/**
 * A detector around a CallBurstWatch: `judge` tells its verdicts and builds
 * their findings; a medium one waits the watch's `confirmMs` when set (a
 * rollout is low); eviction, size and snapshots are the watch's and the
 * queue's.
 */
export function callBurstDetector(meta: DetectorMeta, watch: CallBurstWatch, judge: CallBurstJudge): Detector {
  const held = new DueQueue<HeldBurst>(MAX_HELD_BURSTS);
  const confirmMs = watch.confirmMs;

  function decide(p: HeldBurst): Detection {
    const { others, wide } = watch.othersAround(p.e, p.e.time);
    const rollout = p.v.rollout || watch.isRollout(others, wide);
    if (rollout) watch.markRollout(p.e);
    const v = rollout && !p.v.rollout ? { ...p.v, others: Math.max(others, wide), rollout: true, severity: 'low' as const } : p.v;
    return { ...judge.finding(p.e, v), time: p.due };
  }

  return {
    meta,
    types: ['network'] as const,
    observe(e: AgentEvent, ctx: DetectorContext): Detection[] {
      if (e.type !== 'network') return NO_DETECTIONS;
      const v = judge.verdict(e, ctx);
      if (v === null) return NO_DETECTIONS;
      if (v.severity === 'medium' && confirmMs > 0 && (held.has(e.tenant_id, e.agent_id) || held.add({ tenant_id: e.tenant_id, agent_id: e.agent_id, due: e.time + confirmMs, e, v }))) {
        return NO_DETECTIONS;
      }
      return [judge.finding(e, v)];
    },
    advance: (watermark: number) => held.takeDue(watermark, decide),
    settle: () => held.takeDue(Infinity, decide),
    evict(before: number): void {
      watch.evict(before);
      held.evict(before);
    },
    size(): number {
      return watch.size + held.size;
    },
    snapshot(): unknown {
      return clone({ version: 1, ...watch.snapshot(), held: held.snapshot() });
    },
    restore(snapshot: unknown): void {
      const s = clone(snapshot) as { version: number; held?: HeldBurst[] } & CallBurstSnapshot;
      if (s?.version !== 1) throw new Error(`${meta.id}: unsupported snapshot`);
      watch.restore(s);
      held.restore(s.held);
    },
  };
}

/** How a finding of a CallBurstWatch detector describes its burst. */
export interface BurstFindingText {
  /** The summary up to the comparison: who made how many of what, within how long. */
  headline: string;
  /** Said instead of a comparison when the agent (active for the learning time) and its blueprint never did this. */
  never: string;
  /** What a rollout of the whole blueprint is called here ("a rollout", "a campaign"). */
  rollout: string;
  /** The evidence's observed values. */
  observed: Record<string, unknown>;
  /** The noun of the baseline keys: `agent_peak_${noun}`, `blueprint_peak_${noun}`. */
  noun: string;
}

/** The finding of a CallBurstWatch verdict: summary (how the burst compares with its baselines) and evidence. */
export function burstFinding(meta: DetectorMeta, e: NetworkEvent, v: BurstVerdict, text: BurstFindingText): Detection {
  const { own, peers, others } = v;
  return {
    detector: meta.id,
    severity: v.severity,
    tenant_id: e.tenant_id,
    agent_id: e.agent_id,
    time: e.time,
    summary:
      text.headline +
      burstComparison(v, text.never) +
      (v.rollout ? `; ${others} other agents of its blueprint did the same (${text.rollout})` : '') +
      (v.recurs > 0 ? `; it did the same ${formatDuration(v.recurs * 1000)} before (reported then): a recurring job` : ''),
    evidence: {
      observed: text.observed,
      baseline: {
        [`agent_peak_${text.noun}`]: own > 0 ? Math.round(own) : null,
        [`blueprint_peak_${text.noun}`]: peers > 0 ? Math.round(peers) : null,
        other_agents_bursting: others,
        ...(v.recurs > 0 ? { previous_burst_s_ago: v.recurs } : {}),
      },
      threshold: Math.round(v.threshold),
      peer_group: peerGroupName(e.blueprint_id) ?? `agent:${e.agent_id}`,
    },
    event_ids: v.ids,
  };
}

/** How a burst compares with its baselines, for a finding's summary. */
function burstComparison(v: BurstVerdict, never: string): string {
  const { calls, base, own, peers } = v;
  if (base === 0) return v.known ? never : ', with no history of its blueprint';
  if (own === 0) return `, ${Math.round(calls / base)}× the most its blueprint did before (${Math.round(base)})`;
  return `, ${Math.round(calls / own)}× the most it did before (${Math.round(own)})` + (peers > 0 ? `, ${Math.round(calls / peers)}× its blueprint's busiest agent (${Math.round(peers)})` : '');
}

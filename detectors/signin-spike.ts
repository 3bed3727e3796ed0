// Detector 2 — signin-spike: an agent's sign-ins over a sliding 10-minute
// window far above both its own baseline and its blueprint peers' baseline
// for that hour of the day.
//
// - Own baseline: the agent's mean sign-ins per window (exponentially
//   weighted, zero windows included) and a slowly decaying peak (half-life one
//   day), so daily cycles and regular batch bursts (a job every 15 minutes)
//   are part of what is normal once seen.
// - Peer baseline: per blueprint and UTC hour of day, the 95th percentile of
//   the agents' active-window counts (a bounded sample), so an agent minutes
//   old is compared with its peers at that time of day; and the 95th
//   percentile of the windows its agents had in their first 30 minutes (the
//   last 64), when higher: new agents are compared with new agents too.
// - Learning: no alert until the agent has 30 minutes of history or its
//   blueprint has enough samples (for this hour, else all hours together);
//   never below absolute minimums.
// - Low above max(12, 4 × mean, 1.5 × peak, peer p95); medium above
//   max(15, 6 × mean, 2 × peak, 1.5 × peer p95). An agent without its own
//   baseline yet: low above max(12, 2.5 × peer p95), medium above
//   max(15, 4 × peer p95).
// - Sustained: a rate over the low threshold for 30 minutes (no closed window
//   under 3/4 of it meanwhile) is medium: a burst job ends, an attacker
//   working at a few times the usual rate does not. The threshold is the one
//   the rate first crossed: the windows of the episode raise the learned peak
//   (capped at the threshold), which must not hide the episode's own rate.
// - Blueprint-wide: when at least 2 other agents of the blueprint were over
//   their own low thresholds within the last 10 minutes too, the whole
//   blueprint changed its rate at once (a release that stops caching tokens,
//   a load surge): a deployment, not an attack. It stays low. The first
//   mover of such a change is tens of seconds ahead of the rest: in a
//   blueprint of 3 or more agents, a rise to medium that no other agent
//   shares yet is low, and medium 2 minutes after the rise began unless one
//   has risen by then.
// - Not counted: failures of the holder retrying (an expired secret, a
//   drifted clock), the provider's transient errors, and invalid credentials
//   or refusals for a resource presented from the subnet of the agent's
//   latest successful sign-ins (its own replicas retrying a broken
//   certificate, or an API a bad release points at): failed-access judges
//   those.
// The count slides over the last 10 minutes in five 2-minute sub-windows, so a
// burst straddling a window boundary is not split.
// Thresholds are computed once per window; per event the cost is a counter.

import { quantileSorted } from 'simple-statistics';
import type { AgentEvent } from '../contract/events.js';
import type { Detection, Severity } from './types.js';
import type { Detector, DetectorContext } from './detector.js';
import { ownSigninAddress, peerGroupName } from './detector.js';
import { classifyFailure, type FailureClass } from './failed-access.js';
import { AgentStore, GroupStore, NO_DETECTIONS, blueprintOf, clone, hashString, msOfSec, sec, type SlotState, type Timed } from './agent-directory.js';
import { DueQueue, type DueItem } from './due-queue.js';
import { RING_SUBS, ringAdd, ringSlide, ringSum, type SubWindowRing } from './sub-window-ring.js';

export interface SigninSpikeOptions {
  windowMs?: number;
  /** Absolute minimum sliding count for low / medium. */
  minLow?: number;
  minMedium?: number;
  /** Multipliers of the agent's mean per window. */
  meanFactorLow?: number;
  meanFactorMedium?: number;
  /** Multipliers of the agent's decaying peak. */
  peakFactorLow?: number;
  peakFactorMedium?: number;
  /** Multipliers of the peers' quantile for an agent with its own baseline... */
  peerFactorLow?: number;
  peerFactorMedium?: number;
  /** ...and for a new agent, judged on its peers only. */
  newPeerFactorLow?: number;
  newPeerFactorMedium?: number;
  /** Half-life of the agent's own peak. */
  peakHalfLifeMs?: number;
  /** Weight of a new window in the agent's mean. */
  meanAlpha?: number;
  /** Own baseline needs this much history and this many active windows. */
  agentLearnMs?: number;
  agentLearnWindows?: number;
  /** Per blueprint and hour: samples kept, and needed before the peer baseline is used. */
  peerSamples?: number;
  peerLearnSamples?: number;
  /** Peer baseline quantile. */
  peerQuantile?: number;
  /** A rate over the low threshold this long is medium. */
  sustainMs?: number;
  /**
   * Other agents of the blueprint over their low thresholds within `wideMs`
   * that make a spike blueprint-wide (low at most).
   */
  wideAgents?: number;
  wideMs?: number;
  /**
   * A rise to medium that no other agent of a blueprint of 3 or more shares
   * yet is medium this long after it began, unless one has risen by then
   * (the first mover of a blueprint-wide change is tens of seconds ahead of
   * the rest), ms; 0: medium at once.
   */
  firstMoverMs?: number;
}

/** Per agent; its ring (SubWindowRing) holds the sign-ins per sub-window (windowMs / RING_SUBS each): the sliding count is their sum. */
interface AgentState extends SlotState, SubWindowRing {
  first: number;
  bucket: number;
  count: number;
  /** Mean sign-ins per window × 1000 (an integer: no boxed double per agent). */
  meanK: number;
  /** Decayed peak of closed windows × 1000, as of bucket `bucket`. */
  peakK: number;
  windows: number;
  /** Thresholds, whole sign-ins. */
  low: number;
  medium: number;
  /** 0 none, 1 low, 2 medium reported in the current episode. */
  fired: number;
  /** Since when (seconds) the rate is over the low threshold; 0 = it is not. */
  since: number;
  /** The low threshold when that began. */
  sinceLow: number;
  /** 1 when the current episode was found blueprint-wide (it stays low to its end). */
  wide: number;
  /**
   * The agent's own rate at each UTC hour on earlier days, kept once a window
   * of it went over the low threshold (null until then: most agents never
   * do): per hour, [max of earlier days (decayed), max today, today], so a
   * nightly job at 02:00 is judged against the agent's previous nights.
   */
  hp?: number[] | null;
}

/** Daily decay of an hour's remembered rate (a job that stopped is forgotten within a few weeks). */
const HOUR_PEAK_DAILY_DECAY = 0.8;

interface GroupState extends Timed {
  /** Agents of the blueprint met (counted when their state is created: approximate, never decreases). */
  n?: number;
  /** Per UTC hour: recent active-window counts (ring). */
  samples: number[][];
  /** Agents (hashes) recently over their low thresholds, and when (seconds), oldest first; at most HOT entries. */
  hotAgents?: number[];
  hotTimes?: number[];
  /**
   * Agents (hashes) recently at WARM_MEAN_FACTOR times their mean rate or
   * more (elevated, maybe not over their thresholds), and when; like hotAgents.
   */
  warmAgents?: number[];
  warmTimes?: number[];
  /** Per hour: cached quantile (-1 = none yet). */
  q: number[];
  /**
   * Windows of the blueprint's agents in their learning period (the first
   * minutes of an ephemeral agent, which does its work in a burst), the last
   * YOUNG_SAMPLES; their quantile (-1 = none yet) and samples since it was
   * computed. Absent until the first (and in older snapshots).
   */
  yg?: number[];
  yq?: number;
  yd?: number;
  dirty: number[];
}

interface Snapshot {
  agents: [string, string, AgentState][];
  groups: [string, string, GroupState][];
  /** Absent in snapshots from before first movers were held. */
  movers?: FirstMover[];
}

/** A first mover's medium waiting for the blueprint's other agents to rise with it (see firstMoverMs). */
interface FirstMover extends DueItem {
  bp: string;
  ah: number;
  d: Detection;
}

/** No threshold yet (learning); a small integer so it stays unboxed and JSON-safe. */
const NO_THRESHOLD = 1 << 30;
/** Failures that are a legitimate client retrying, not counted as sign-ins. */
const RETRIES: ReadonlySet<FailureClass> = new Set<FailureClass>(['expired', 'transient']);
const REFRESH = 8;
/** Learning-period windows kept per blueprint, and needed before they are used. */
const YOUNG_SAMPLES = 64;
const YOUNG_LEARN_SAMPLES = 8;
/**
 * An agent at this many times its mean rate, and at WARM_MIN sign-ins per
 * window or more, is elevated: warm. Below the absolute low bar on purpose:
 * a surge that takes every agent of a blueprint to 4x (a market sell-off,
 * a vessel's discharge) leaves most of them at 6-12 a window, and the one
 * that crosses its own bar is riding it.
 */
const WARM_MEAN_FACTOR = 3;
const WARM_MIN = 8;
/** Agents remembered per blueprint as recently over their low thresholds. */
const HOT = 16;

const DEFAULTS: Required<SigninSpikeOptions> = {
  windowMs: 10 * 60_000,
  minLow: 12,
  minMedium: 15,
  meanFactorLow: 4,
  meanFactorMedium: 6,
  peakFactorLow: 1.5,
  peakFactorMedium: 2,
  peerFactorLow: 1,
  peerFactorMedium: 1.5,
  newPeerFactorLow: 2.5,
  newPeerFactorMedium: 4,
  peakHalfLifeMs: 24 * 3600_000,
  meanAlpha: 1 / 36,
  agentLearnMs: 30 * 60_000,
  agentLearnWindows: 1,
  peerSamples: 48,
  peerLearnSamples: 8,
  peerQuantile: 0.95,
  sustainMs: 30 * 60_000,
  wideAgents: 2,
  wideMs: 10 * 60_000,
  firstMoverMs: 2 * 60_000,
};

export function createSigninSpikeDetector(options: SigninSpikeOptions = {}): Detector<Snapshot> {
  const o = { ...DEFAULTS, ...options };
  const agents = new AgentStore<AgentState>();
  const groups = new GroupStore<GroupState>();
  const movers = new DueQueue<FirstMover>(65_536);
  const decayPerWindow = Math.pow(0.5, o.windowMs / o.peakHalfLifeMs);
  const keepPerWindow = 1 - o.meanAlpha;
  const subMs = o.windowMs / RING_SUBS;

  function hourOf(bucket: number): number {
    return Math.floor((bucket * o.windowMs) / 3600_000) % 24;
  }

  /** Sorting space for the peer quantile: every sample of a group fits (24 hours × peerSamples). */
  const scratch = new Float64Array(24 * o.peerSamples);

  /** The peer quantile of the first `n` values of `values`, sorted in `scratch` (numeric, native, no allocation). */
  function quantileOf(values: ArrayLike<number>, n: number): number {
    // Samples restored from a snapshot taken with a larger peerSamples may not fit: sort a copy.
    if (n > scratch.length) return quantileSorted(Array.from(values).slice(0, n).sort((x, y) => x - y), o.peerQuantile);
    if (values !== scratch) for (let i = 0; i < n; i++) scratch[i] = values[i]!;
    const sorted = scratch.subarray(0, n).sort();
    return quantileSorted(sorted as unknown as number[], o.peerQuantile);
  }

  /**
   * Records that agent `ah` is over its low threshold at `ts` (seconds) and
   * returns how many other agents of the group were within the last wideMs.
   */
  function markHot(g: GroupState, ah: number, ts: number): number {
    return mark((g.hotAgents ??= []), (g.hotTimes ??= []), ah, ts);
  }

  /**
   * Fewer agents than the blueprint-wide quorum besides any one of them: the
   * only groups where an elevated agent counts (warm marks are kept for them
   * alone; a group never shrinks, so none is missed).
   */

  /** Like markHot, for elevated agents (see warmAgents). */
  function markWarm(g: GroupState, ah: number, ts: number): number {
    return mark((g.warmAgents ??= []), (g.warmTimes ??= []), ah, ts);
  }

  function mark(agentsHot: number[], times: number[], ah: number, ts: number): number {
    let others = 0;
    let own = -1;
    for (let i = 0; i < agentsHot.length; i++) {
      if (agentsHot[i] === ah) own = i;
      else if (ts - times[i]! <= o.wideMs / 1000) others++;
    }
    if (own >= 0) {
      agentsHot.splice(own, 1);
      times.splice(own, 1);
    } else if (agentsHot.length >= HOT) {
      agentsHot.shift();
      times.shift();
    }
    agentsHot.push(ah);
    times.push(ts);
    return others;
  }

  function peerBaseline(g: GroupState | undefined, hour: number): number {
    if (!g) return -1;
    let q = g.q[hour]!;
    // Recomputed only after several new samples (the sort is per hour, not per event).
    if (q < 0 || g.dirty[hour]! >= REFRESH) {
      const s = g.samples[hour]!;
      if (s.length >= o.peerLearnSamples) {
        q = quantileOf(s, s.length);
      } else {
        // Not enough for this hour: all hours together.
        let n = 0;
        for (let h = 0; h < 24; h++) n += g.samples[h]!.length;
        if (n >= o.peerLearnSamples) {
          const into: number[] | Float64Array = n <= scratch.length ? scratch : new Array<number>(n);
          let k = 0;
          for (let h = 0; h < 24; h++) for (const x of g.samples[h]!) into[k++] = x;
          q = quantileOf(into, k);
        } else q = -1;
      }
      g.q[hour] = q;
      g.dirty[hour] = 0;
    }
    return q;
  }

  /** The quantile of the blueprint's learning-period windows; -1 while it has too few. */
  function youngBaseline(g: GroupState): number {
    const yg = g.yg;
    if (!yg || yg.length < YOUNG_LEARN_SAMPLES) return -1;
    if (g.yq === undefined || g.yq < 0 || (g.yd ?? 0) >= REFRESH) {
      g.yq = quantileOf(yg, yg.length);
      g.yd = 0;
    }
    return g.yq;
  }

  function close(a: AgentState, g: GroupState | undefined, newBucket: number): void {
    const gap = newBucket - a.bucket;
    // What is learned of an anomalous window is capped, so an attack does not become the baseline.
    const learned = a.count >= a.low ? Math.min(a.count, a.low) : a.count;
    // The first closed window seeds the mean (an EWMA from 0 would take hours to warm up).
    const mean =
      a.windows === 0 && a.meanK === 0
        ? learned * Math.pow(keepPerWindow, gap - 1)
        : ((a.meanK / 1000) * keepPerWindow + o.meanAlpha * learned) * Math.pow(keepPerWindow, gap - 1);
    a.meanK = Math.round(mean * 1000);
    a.peakK = Math.round(Math.max(a.peakK / 1000, learned) * Math.pow(decayPerWindow, gap) * 1000);
    if (a.count > 0) {
      a.windows++;
      if (g) {
        const h = hourOf(a.bucket);
        const s = g.samples[h]!;
        if (s.length >= o.peerSamples) s.shift();
        s.push(learned);
        g.dirty[h]!++;
        // A window of the agent's learning period: what new agents of the blueprint do.
        if (sec((a.bucket + 1) * o.windowMs) - a.first < o.agentLearnMs / 1000) {
          const yg = (g.yg ??= []);
          if (yg.length >= YOUNG_SAMPLES) yg.shift();
          yg.push(learned);
          g.yd = (g.yd ?? 0) + 1;
        }
      }
    }
    if (a.count >= a.low && a.low !== NO_THRESHOLD) rememberHour(a, a.bucket, a.count);
    if (a.count < a.low) a.fired = 0;
    // A quiet window ends a sustained rate (3/4 of the threshold: a window a little under it does not).
    if (a.count * 4 < a.sinceLow * 3 || gap > 1) {
      a.since = 0;
      a.wide = 0;
    }
    a.bucket = newBucket;
    a.count = 0;
  }

  /** Records a window over the low threshold at its UTC hour (uncapped: the agent's own habit at that hour). */
  function rememberHour(a: AgentState, bucket: number, count: number): void {
    const i = 3 * hourOf(bucket);
    const day = dayOf(bucket);
    const hp = a.hp ?? (a.hp = new Array<number>(72).fill(0));
    if (hp[i + 2]! !== day) {
      hp[i] = Math.max(hp[i]! * Math.pow(HOUR_PEAK_DAILY_DECAY, Math.max(0, day - hp[i + 2]!)), hp[i + 1]!);
      hp[i + 1] = 0;
      hp[i + 2] = day;
    }
    if (count > hp[i + 1]!) hp[i + 1] = count;
  }

  /** The agent's highest window at this bucket's UTC hour on earlier days; 0 when none is known. */
  function earlierDays(a: AgentState, bucket: number): number {
    const hp = a.hp;
    if (!hp) return 0;
    const i = 3 * hourOf(bucket);
    const day = dayOf(bucket);
    const gap = day - hp[i + 2]!;
    if (gap <= 0) return hp[i]!; // today's windows are not yet an earlier day's
    return Math.max(hp[i]!, hp[i + 1]!) * Math.pow(HOUR_PEAK_DAILY_DECAY, gap - 1);
  }

  function dayOf(bucket: number): number {
    return Math.floor((bucket * o.windowMs) / 86_400_000);
  }

  function thresholds(a: AgentState, g: GroupState | undefined, t: number): void {
    const agentReady = a.windows >= o.agentLearnWindows && sec(t) - a.first >= o.agentLearnMs / 1000;
    const peer = peerBaseline(g, hourOf(a.bucket));
    if (!agentReady && peer < 0) {
      a.low = NO_THRESHOLD;
      a.medium = NO_THRESHOLD;
      return;
    }
    let low = o.minLow;
    let medium = o.minMedium;
    if (agentReady) {
      const mean = a.meanK / 1000;
      const peak = a.peakK / 1000;
      // A rate the agent had at this hour on earlier days is its habit (a nightly job), not a spike.
      const habit = earlierDays(a, a.bucket);
      low = Math.max(low, o.meanFactorLow * mean, o.peakFactorLow * peak, o.peakFactorLow * habit);
      medium = Math.max(medium, o.meanFactorMedium * mean, o.peakFactorMedium * peak, o.peakFactorMedium * habit);
    }
    if (peer >= 0) {
      // An agent without a history of its own is compared with its peers at this hour and, when
      // higher, with what new agents of its blueprint do in their first minutes.
      const base = agentReady ? peer : Math.max(peer, youngBaseline(g!));
      low = Math.max(low, (agentReady ? o.peerFactorLow : o.newPeerFactorLow) * base);
      medium = Math.max(medium, (agentReady ? o.peerFactorMedium : o.newPeerFactorMedium) * base);
    }
    a.low = Math.ceil(low);
    a.medium = Math.ceil(Math.max(medium, low));
  }

  function observe(e: AgentEvent, ctx: DetectorContext): Detection[] {
    if (e.type !== 'signin') return NO_DETECTIONS;
    // The holder's retries of a stale credential or a drifted clock, and the provider's own hiccups,
    // are no one signing in more: failed-access judges them.
    if (e.result !== 'success') {
      const kind = classifyFailure(e.error_code);
      if (RETRIES.has(kind)) return NO_DETECTIONS;
      // So is its own host retrying a wrong credential (a broken certificate, a chaos test), or a resource
      // it is refused (a release pointing at an API that does not exist): failed-access judges those too.
      if ((kind === 'credential' || kind === 'resource') && ownSigninAddress(ctx.agent(e.tenant_id, e.agent_id), e.ip) !== null) return NO_DETECTIONS;
    }
    const t = e.time;
    const b = Math.floor(t / o.windowMs);
    const bp = blueprintOf(e, ctx);
    let g: GroupState | undefined;
    if (bp !== null) {
      g = groups.find(ctx, e.tenant_id, bp);
      if (!g) {
        g = { at: t, samples: Array.from({ length: 24 }, () => []), q: new Array<number>(24).fill(-1), dirty: new Array<number>(24).fill(0) };
        groups.set(e.tenant_id, bp, g);
      }
      if (t > g.at) g.at = t;
    }
    let a = agents.get(ctx, e.tenant_id, e.agent_id);
    if (!a) {
      a = { at: sec(t), e: 0, first: sec(t), bucket: b, count: 0, r0: 0, r1: 0, r2: 0, r3: 0, r4: 0, sub: Math.floor(t / subMs), meanK: 0, peakK: 0, windows: 0, low: NO_THRESHOLD, medium: NO_THRESHOLD, fired: 0, since: 0, sinceLow: 0, wide: 0 };
      agents.set(ctx, e.tenant_id, e.agent_id, a);
      if (g) g.n = (g.n ?? 0) + 1;
      thresholds(a, g, t);
    } else if (b > a.bucket) {
      close(a, g, b);
      thresholds(a, g, t);
    }
    // Sliding count over the last windowMs, in sub-windows (late events land in theirs).
    const sb = Math.floor(t / subMs);
    ringSlide(a, sb);
    ringAdd(a, sb, 1);
    if (b < a.bucket) return NO_DETECTIONS; // late event of a closed window: counted above only
    const ts = sec(t);
    if (ts > a.at) a.at = ts;
    if (ts < a.first) a.first = ts;
    a.count++;
    const sliding = ringSum(a);
    const episode = a.since !== 0 && sliding >= a.sinceLow;
    if (sliding < a.low && !episode) {
      if (g && sliding >= WARM_MIN && sliding * 1000 >= WARM_MEAN_FACTOR * a.meanK && a.meanK > 0) markWarm(g, hashString(e.agent_id), ts);
      return NO_DETECTIONS;
    }
    if (a.since === 0) {
      a.since = ts;
      a.sinceLow = a.low;
    }
    // Over the low threshold, or still in an episode that began over it: hot.
    const ah = g ? hashString(e.agent_id) : 0;
    const others = g ? markHot(g, ah, ts) : 0;
    const warmOthers = g ? markWarm(g, ah, ts) : 0;
    const sustained = ts - a.since >= o.sustainMs / 1000;
    let level = sliding >= a.medium || sustained ? 2 : sliding >= a.low ? 1 : 0;
    // Once blueprint-wide, the whole episode is: the others' episodes may end first. A blueprint
    // of two agents is blueprint-wide when both rise (a one-agent blueprint never is). Other agents
    // count once elevated (WARM_MEAN_FACTOR × their mean), even short of their own thresholds: new
    // staff onboarded to every copilot raise each a little, and the one that crosses its bar first
    // is the blueprint's workload rising, not a spike of its own.
    const wideAgents = g ? Math.min(o.wideAgents, Math.max(1, (g.n ?? 0) - 1)) : o.wideAgents;
    if (g && (others >= wideAgents || warmOthers >= wideAgents)) a.wide = 1;
    const wide = a.wide === 1;
    if (wide && level === 2) level = 1;
    // Another agent of the blueprint rising too, short of blueprint-wide: maybe the first movers of a
    // blueprint-wide change. Low until more follow (wide) or its rise is over wideMs ago (medium then).
    else if (level === 2 && !sustained && others > 0) level = 1;
    // Alone so far, in a blueprint that could rise with it: low until firstMoverMs after its rise began (see decideMover).
    let mover = false;
    if (level === 2 && !sustained && !wide && o.firstMoverMs > 0 && g !== undefined && (g.n ?? 0) > o.wideAgents && ts - a.since < o.firstMoverMs / 1000) {
      level = 1;
      mover = !movers.has(e.tenant_id, e.agent_id);
    }
    if (level <= a.fired && !mover) return NO_DETECTIONS;
    const firedBefore = a.fired;
    if (level > a.fired) a.fired = level;
    const hourPeer = g ? peerBaseline(g, hourOf(b)) : -1;
    const agentReady = a.windows >= o.agentLearnWindows && ts - a.first >= o.agentLearnMs / 1000;
    const young = g && !agentReady ? youngBaseline(g) : -1;
    const peer = Math.max(hourPeer, young);
    const mean = a.meanK / 1000;
    const base = agentReady && mean > 0 ? mean : peer > 0 ? peer : 0;
    const count = Math.round(sliding);
    const minutes = o.windowMs / 60_000;
    const spike = (lv: number, time: number, held: boolean): Detection => {
      const severity: Severity = lv === 2 ? 'medium' : 'low';
      const threshold = lv === 2 ? a.medium : a.low;
      return {
        detector: 'signin-spike',
        severity,
        tenant_id: e.tenant_id,
        agent_id: e.agent_id,
        time,
        summary: `Agent ${e.agent_id} signed in ${count} times in ${minutes} min${base > 0 ? `, ${(count / base).toFixed(0)}× its ${agentReady ? 'usual' : "peers'"} ${base.toFixed(1)}` : ''}${sliding < a.medium && sustained ? ` (over the low threshold ${a.sinceLow} for ${Math.round((ts - a.since) / 60)} min: sustained` : ` (${severity} threshold ${threshold}`}, UTC hour ${hourOf(b)})${wide ? '; other agents of its blueprint rose with it (a blueprint-wide change, not medium)' : ''}${held ? `; no other agent of its blueprint rose with it within ${o.firstMoverMs / 60_000} min` : ''}`,
        evidence: {
          observed: { signins: count, window_s: o.windowMs / 1000, over_low_s: ts - a.since, peers_over_low: others },
          baseline: {
            agent_mean: agentReady ? round2(mean) : null,
            agent_peak: agentReady ? round2(a.peakK / 1000) : null,
            peer_quantile: hourPeer < 0 ? null : round2(hourPeer),
            new_agents_quantile: young < 0 ? null : round2(young),
            hour_utc: hourOf(b),
          },
          threshold: { low: a.low, medium: a.medium, sustained_s: o.sustainMs / 1000, blueprint_wide_agents: wideAgents },
          peer_group: peerGroupName(bp),
        },
        event_ids: [e.event_id],
      };
    };
    if (mover) {
      movers.add({ tenant_id: e.tenant_id, agent_id: e.agent_id, due: msOfSec(a.since) + o.firstMoverMs, bp: bp!, ah: hashString(e.agent_id), d: spike(2, msOfSec(a.since) + o.firstMoverMs, true) });
      return firedBefore >= 1 ? NO_DETECTIONS : [spike(1, t, false)];
    }
    return [spike(level, t, false)];
  }

  /** A held first mover: medium unless another agent of its blueprint rose within wideMs by now, or it already went medium. */
  function decideMover(p: FirstMover): Detection | null {
    const a = agents.peek(p.tenant_id, p.agent_id);
    if (a !== undefined && a.fired >= 2) return null;
    const g = groups.get(p.tenant_id, p.bp);
    const now = sec(p.due);
    let others = 0;
    const hot = g?.hotAgents ?? [];
    for (let i = 0; i < hot.length; i++) if (hot[i] !== p.ah && now - g!.hotTimes![i]! <= o.wideMs / 1000) others++;
    if (others > 0) return null;

    if (a !== undefined) a.fired = 2;
    return p.d;
  }

  return {
    types: ['signin'] as const,
    meta: {
      id: 'signin-spike',
      title: 'Sign-in rate spike',
      severity: 'medium',
      description:
        "An agent's sign-ins over a sliding 10-minute window far exceed its own mean and decaying peak and its blueprint peers' 95th percentile for that hour of day. Daily cycles and regular batch bursts are learned as normal, and so is a rate the agent itself had at the same UTC hour on earlier days (a nightly job; decaying by a fifth a day). Low above max(12, 4× mean, 1.5× peak, peers); medium above max(15, 6× mean, 2× peak, 1.5× peers), or above the low threshold for 30 minutes; a new agent needs 2.5× / 4× its peers (the blueprint's agents at that hour, or what its new agents do in their first 30 minutes when more: ephemeral agents work in a burst). Failures of a client retrying an expired credential or a drifted clock, transient failures, and invalid credentials or refused resources from the subnet of the agent's latest successful sign-ins (its own host retrying), are not counted. A rise that 2 other agents of the blueprint share within 10 minutes (the other agent of a two-agent blueprint), over their own thresholds or elevated to 3× their mean and 8 sign-ins or more, is blueprint-wide and stays low; while one other agent rises with it, a spike stays low until more follow or that rise is 10 minutes old. In a blueprint of 3 or more agents, a rise no other agent shares yet is medium 2 minutes after it began unless one rises by then (the first mover of a blueprint-wide change is tens of seconds ahead of the rest).",
      mitre: { id: 'T1110', name: 'Brute Force' },
    },
    observe,
    advance: (watermark) => movers.takeDue(watermark, decideMover),
    settle: () => movers.takeDue(Infinity, decideMover),
    evict(before) {
      agents.evict(before);
      groups.evict(before);
      movers.evict(before);
    },
    size: () => agents.size + groups.size + movers.size,
    snapshot: () => ({ agents: agents.snapshot(), groups: clone(groups.snapshot()), movers: movers.snapshot() }),
    restore(s) {
      movers.restore(s.movers);
      // `since` and `sinceLow` are absent from older snapshots (appended last: the same field order).
      agents.restore(s.agents.map(([t, id, a]) => [t, id, { ...a, since: a.since ?? 0, sinceLow: a.sinceLow ?? 0, wide: a.wide ?? 0 }]));
      groups.restore(clone(s.groups));
    },
  };
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

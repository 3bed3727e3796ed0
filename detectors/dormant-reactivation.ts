// Detector 12 — dormant reactivation: an agent silent for a long time (30 days
// by default) acts again.
//
// Activity = the agent acting: a successful sign-in, a granted token or a
// network event. Failed sign-ins and lifecycle events (done TO the agent, e.g.
// a credential added while it sleeps) do not count, so someone knocking on a
// dormant agent neither wakes it nor resets its silence.
//
// Severity of a wake-up:
// - low: plain reactivation;
// - medium: a credential was added during the silence, at most
//   `credentialWindowMs` (7 days) before the wake-up, by someone who is not one of
//   the agent's sponsors (AgentInfo.sponsors / credentials_added) nor its owner
//   of record (who added one of its credentials before the silence: the admin
//   who set it up, the principal that renews it each quarter); OR the
//   wake-up sign-in comes from a new place (an ASN or country absent from the
//   agent's history, or from its blueprint's when the agent has none); OR it
//   signs in with a client secret where it only ever used a certificate, a
//   federated credential or a managed identity (neither has its blueprint):
//   the credential an attacker creates, downgraded from the one the workload
//   was built with, whoever added it (a phished sponsor adds it too);
// - high: two of them.
// A shorter silence (7 to 30 days) is no finding on its own, but it outlasts
// every other detector's memory (idle state is forgotten after 3 days), so
// nothing else judges the wake-up: there a non-sponsor credential or a new
// place is low, and both together medium; so is a wake-up from a country
// neither the agent nor its blueprint ever used (a workload does not change
// countries in its sleep; a blueprint that moves teaches it the country).
// A silence within 25 % of the agent's previous one (a quarterly
// certification bot, a monthly close job) is its schedule: judged like a
// short silence, a plain wake-up on schedule is no finding.
// The wake-up opens a 10-minute episode: later (or late-arriving) sign-ins and
// credential events of the episode can raise the severity (one more detection
// each time it rises), never lower it.
//
// Retention: the signal is long silence, while the pipeline forgets idle keys
// after a few days. This detector therefore keeps its small per-agent record
// (last activity + a few ASNs/countries/sponsor hashes, ~150 bytes) for
// `retainMs` (400 days: yearly jobs included) after the agent's last activity:
// evict(before) drops keys idle since before min(before, newest event time −
// retainMs). Deleted agents are dropped at once; the key count is capped
// (`maxAgents`, least recently inserted dropped first). Without its own record
// it falls back to ctx.previousLastSeen.

import type { AgentEvent, LifecycleEvent, SigninEvent } from '../contract/events.js';
import { AgentStore, GroupStore, NO_DETECTIONS, atMs, clone, hashString, setAtMs, type MsState, type Timed } from './agent-directory.js';
import { identityKey, isRiskyActor, isVouchingSponsor, peerGroupName, type AgentInfo, type Detector, type DetectorContext } from './detector.js';
import type { Detection, DetectorMeta, Severity } from './types.js';

export interface DormantReactivationOptions {
  /** Silence after which activity is a reactivation, ms. */
  dormantMs?: number;
  /** Shorter silence after which a wake-up with a non-sponsor credential or from a new place is reported (one severity lower), ms. */
  shortDormantMs?: number;
  /** A credential added at most this long before the wake-up counts, ms. */
  credentialWindowMs?: number;
  /** How long after the wake-up its episode can still be escalated, ms. */
  episodeMs?: number;
  /** Per-agent records are kept at least this long after the agent's last activity, ms. */
  retainMs?: number;
  /** ASNs and countries remembered per agent. */
  maxPlaces?: number;
  /** ASNs and countries remembered per blueprint. */
  maxGroupPlaces?: number;
  maxAgents?: number;
}

const DAY = 24 * 3600_000;

const DEFAULTS: Required<DormantReactivationOptions> = {
  dormantMs: 30 * DAY,
  shortDormantMs: 7 * DAY,
  credentialWindowMs: 7 * DAY,
  episodeMs: 10 * 60_000,
  retainMs: 400 * DAY,
  maxPlaces: 4,
  maxGroupPlaces: 64,
  maxAgents: 2_000_000,
};

const NEVER = Number.MIN_SAFE_INTEGER;
/** Shared empty list, replaced by a fresh array on first write (most agents never need one). */
const EMPTY: number[] = [];
const RANK: Record<Severity, number> = { low: 1, medium: 2, high: 3 };

/** Wake-up episode. */
interface Episode {
  /** Wake-up time, previous activity, event id. */
  t: number;
  prev: number;
  id: string;
  /** Highest severity rank reported so far. */
  s: number;
  /** Facts found so far. */
  place: string | null;
  cred: string | null;
  /** The new place is a country neither the agent nor its blueprint ever used (absent in older snapshots). */
  pc?: boolean;
  /** The silence matched the previous one (the agent's schedule, see PERIOD_TOLERANCE). */
  per?: boolean;
  /** A client secret where the agent only used stronger credentials (see downgrade); absent in older snapshots. */
  dg?: string | null;
}

/** A credential added to the agent (lifecycle). */
interface CredentialAdd {
  t: number;
  actor: string;
  id: string | null;
  /** The actor was a sponsor when he added it (a sponsor who hands over later still rotated it sanctioned). */
  v?: boolean;
}

/** The agent's last activity (also used for eviction), to the millisecond: atMs (MsState). */
interface Dormant extends MsState {
  /** Place history: ASNs and country codes (as small ints) of successful sign-ins. */
  asn: number[];
  cc: number[];
  /** Hashes of the agent's sponsors (kept here too: the directory forgets idle agents after days). */
  sp: number[];
  /** Latest credentials added (at most 2), null when none. */
  cr: CredentialAdd[] | null;
  ep: Episode | null;
  /** The silence before the previous wake-up, ms (absent until one: see PERIOD_TOLERANCE). */
  ps?: number;
  /** Credential types of its successful sign-ins, as TYPE_BIT flags (absent until one). */
  ct?: number;
}

/** Credential types as flags (see Dormant.ct). */
const TYPE_BIT: Record<string, number> = { certificate: 1, client_secret: 2, federated: 4, managed_identity: 8 };
const SECRET = 2;

/**
 * A wake-up after a silence within this fraction of the previous one is the
 * agent's schedule (a quarterly certification bot, a monthly close job): it
 * is judged like a short silence (a plain wake-up is no finding).
 */
const PERIOD_TOLERANCE = 0.25;

interface GroupPlaces extends Timed {
  asn: number[];
  cc: number[];
  /** Credential types its agents signed in with (TYPE_BIT flags; absent until one). */
  ct?: number;
}

export const dormantReactivationMeta: DetectorMeta = {
  id: 'dormant-reactivation',
  title: 'Dormant agent reactivated',
  severity: 'medium',
  mitre: { id: 'T1078.004', name: 'Valid Accounts: Cloud Accounts' },
  description:
    'An agent silent for 30 days or more acts again: low on its own, medium when a credential was added within the week before by someone ' +
    'other than its sponsors (at the time it was added; a sponsor who appointed himself does not count) and its owner of record (who added one of its credentials before the silence), when it signs in from an ASN/country new to it and to its blueprint, ' +
    'or when it signs in with a client secret where it and its blueprint only used certificates, federated credentials or managed identities (a downgrade, whoever added the secret); high when two of them. ' +
    'After 7 to 30 days of silence, or a silence within 25 % of the agent\'s previous one (its schedule: a quarterly job), one of those facts is low and both medium, as is a country new to the agent and its blueprint.',
};

function countryCode(c: string | null): number {
  return c === null || c.length < 2 ? -1 : (c.charCodeAt(0) << 8) | c.charCodeAt(1);
}

function codeCountry(n: number): string {
  return String.fromCharCode(n >> 8, n & 255);
}

/** `list` with `v` added (oldest dropped beyond `cap`), as a new exact-size array (push and spread reserve 17 slots). */
function withCapped(list: number[], v: number, cap: number): number[] {
  if (list.indexOf(v) >= 0) return list;
  return list.length >= cap ? list.slice(list.length - cap + 1).concat(v) : list.concat(v);
}

export function createDormantReactivationDetector(options: DormantReactivationOptions = {}): Detector {
  const o: Required<DormantReactivationOptions> = { ...DEFAULTS, ...options };
  const agents = new AgentStore<Dormant>(o.maxAgents, true);
  const groups = new GroupStore<GroupPlaces>(o.maxAgents);
  /** Newest event time seen (a field: a double in a closure variable would box a new heap number per event). */
  const clock = { newest: NEVER };

  function groupId(tenant: string, agentId: string, bp: string | null, ctx: DetectorContext): string | null {
    return bp ?? ctx.agent(tenant, agentId)?.blueprint_id ?? null;
  }

  /**
   * Why the sign-in's place is new, or null (known, or no history to judge
   * by). New means new to the agent and to its blueprint: a dormant agent
   * waking up where its blueprint has moved meanwhile is not somewhere new.
   */
  /** Set by newPlace: the place it found new is a country neither the agent nor its blueprint used. */
  let newCountry = false;

  function newPlace(s: Dormant, e: SigninEvent, ctx: DetectorContext): string | null {
    newCountry = false;
    const asn = e.asn;
    const cc = countryCode(e.country);
    const gid = groupId(e.tenant_id, e.agent_id, e.blueprint_id, ctx);
    const g = gid === null ? undefined : groups.find(ctx, e.tenant_id, gid);
    const own = s.asn.length > 0 || s.cc.length > 0;
    if (!own && !g) return null;
    const whose = own ? (g ? 'agent and blueprint' : 'agent') : 'blueprint';
    const asns = own ? s.asn : g!.asn;
    const ccs = own ? s.cc : g!.cc;
    const why: string[] = [];
    if (cc >= 0 && ccs.length > 0 && ccs.indexOf(cc) < 0 && (!g || g.cc.indexOf(cc) < 0)) {
      newCountry = true;
      why.push(`country ${e.country} not in ${whose} history [${(g && own ? union(ccs, g.cc) : ccs).map(codeCountry).join(', ')}]`);
    }
    if (asn !== null && asns.length > 0 && asns.indexOf(asn) < 0 && (!g || g.asn.indexOf(asn) < 0)) {
      why.push(`ASN ${asn} not in ${whose} history [${(g && own ? union(asns, g.asn) : asns).join(', ')}]`);
    }
    return why.length ? why.join('; ') : null;
  }

  /**
   * Why the sign-in's credential is a downgrade, or null: a client secret
   * where the agent signed in only with stronger credentials before, and no
   * agent of its blueprint uses secrets.
   */
  function downgrade(s: Dormant, e: SigninEvent, ctx: DetectorContext): string | null {
    const own = s.ct ?? 0;
    if (e.credential_type !== 'client_secret' || own === 0 || (own & SECRET) !== 0) return null;
    const gid = groupId(e.tenant_id, e.agent_id, e.blueprint_id, ctx);
    const g = gid === null ? undefined : groups.find(ctx, e.tenant_id, gid);
    if (g !== undefined && ((g.ct ?? 0) & SECRET) !== 0) return null;
    const used = Object.keys(TYPE_BIT).filter((k) => (own & TYPE_BIT[k]!) !== 0);
    return `a client secret (${e.credential_id ?? 'unknown id'}) where the agent signed in only with ${used.join(', ')}`;
  }

  /** Learns the sign-in's credential type for the agent (and, unless it is being judged, its blueprint). */
  function learnType(s: Dormant, e: SigninEvent, ctx: DetectorContext, shared: boolean): void {
    const bit = e.credential_type === null ? 0 : (TYPE_BIT[e.credential_type] ?? 0);
    if (bit === 0 || ((s.ct ?? 0) & bit) !== 0) return;
    s.ct = (s.ct ?? 0) | bit;
    if (!shared) return;
    const g = touchGroup(e, ctx);
    if (g !== undefined) g.ct = (g.ct ?? 0) | bit;
  }

  /** The places of the sign-in's blueprint, created when absent, its last activity moved up; undefined without a blueprint. */
  function touchGroup(e: SigninEvent, ctx: DetectorContext): GroupPlaces | undefined {
    const gid = groupId(e.tenant_id, e.agent_id, e.blueprint_id, ctx);
    if (gid === null) return undefined;
    let g = groups.find(ctx, e.tenant_id, gid);
    if (!g) {
      g = { at: e.time, asn: [], cc: [], ct: 0 };
      groups.set(e.tenant_id, gid, g);
    } else if (e.time > g.at) g.at = e.time;
    return g;
  }

  /**
   * A credential added during the silence, shortly before the wake-up, by a
   * non-sponsor who is not the agent's owner of record either (the actor who
   * added one of its credentials before the silence: the admin who set it
   * up, the rotation principal renewing it each quarter); null when none.
   */
  function nonSponsorCredential(ep: Episode, s: Dormant, info: AgentInfo | undefined): string | null {
    const addedBefore = (actorKey: string, before: number): boolean =>
      (s.cr !== null && s.cr.some((c) => c.t <= before && identityKey(c.actor) === actorKey)) ||
      (info !== undefined && info.credentials_added.some((c) => c.time <= before && identityKey(c.actor) === actorKey));
    // Self-appointed sponsors vouch for nothing (AgentInfo.self_sponsored).
    const sponsors = info === undefined ? [] : info.self_sponsored.length === 0 ? info.sponsors : info.sponsors.filter((x) => !info.self_sponsored.includes(x));
    const check = (time: number, actor: string, id: string | null): string | null => {
      if (time <= ep.prev || time < ep.t - o.credentialWindowMs || time > ep.t + o.episodeMs) return null;
      const actorKey = identityKey(actor);
      // The detector's own record of sponsors outlives the directory's (which forgets an agent idle
      // for days and then knows only the sponsors appointed since): it decides when it has any.
      if (s.sp.length > 0 ? s.sp.includes(hashString(actorKey)) : sponsors.some((x) => identityKey(x) === actorKey)) return null;
      // The agent's owner of record: who added its credential before the silence renews it after.
      if (addedBefore(actorKey, ep.prev)) return null;
      const who = sponsors.length || s.sp.length ? 'not a sponsor' : 'agent has no known sponsor';
      return `credential ${id ?? '(unknown)'} added by ${actor} at ${new Date(time).toISOString()}, ${who}`;
    };
    if (s.cr !== null) {
      for (const c of s.cr) {
        const why = c.v === true ? null : check(c.t, c.actor, c.id);
        if (why !== null) return why;
      }
    }
    if (info) {
      for (const c of info.credentials_added) {
        if (s.cr !== null && s.cr.some((x) => x.v === true && x.t === c.time && x.actor === c.actor)) continue; // vouched for when added
        const why = check(c.time, c.actor, c.credential_id);
        if (why !== null) return why;
      }
    }
    return null;
  }

  /** Re-evaluates an episode; returns a detection when its severity rose. */
  function evaluate(e: AgentEvent & { agent_id: string }, s: Dormant, ep: Episode, ctx: DetectorContext): Detection | null {
    const info = ctx.agent(e.tenant_id, e.agent_id);
    if (ep.cred === null) ep.cred = nonSponsorCredential(ep, s, info);
    const n = (ep.cred !== null ? 1 : 0) + (ep.place !== null ? 1 : 0) + (ep.dg ? 1 : 0);
    const short = ep.t - ep.prev < o.dormantMs;
    // A short silence is one severity lower, and nothing without a fact; except a wake-up from a
    // country neither the agent nor its blueprint ever used: the silence outlasted every other
    // detector's memory, and a workload does not change countries in its sleep unless its
    // blueprint moves (which teaches the blueprint the country).
    const rank = short || ep.per === true ? n + (ep.pc === true ? 1 : 0) : n + 1;
    if (rank <= ep.s) return null;
    const severity: Severity = rank >= 3 ? 'high' : rank === 2 ? 'medium' : 'low';
    ep.s = rank;
    const days = (ep.t - ep.prev) / DAY;
    const facts = [ep.cred, ep.place, ep.dg ?? null].filter((x): x is string => x !== null);
    const bp = info?.blueprint_id ?? ('blueprint_id' in e ? e.blueprint_id : null);
    return {
      detector: dormantReactivationMeta.id,
      severity,
      tenant_id: e.tenant_id,
      agent_id: e.agent_id,
      time: Math.max(e.time, ep.t),
      summary:
        `Agent ${e.agent_id} active again after ${days.toFixed(1)} days of silence` + (facts.length ? `: ${facts.join('; ')}` : ''),
      evidence: {
        observed: { wake_time: ep.t, silence_days: Math.round(days * 10) / 10, new_place: ep.place, non_sponsor_credential: ep.cred, credential_downgrade: ep.dg ?? null },
        baseline: {
          last_activity: ep.prev,
          known_asns: s.asn.slice(),
          known_countries: s.cc.map(codeCountry),
          sponsors: info ? info.sponsors.slice() : [],
          known_sponsor_count: Math.max(s.sp.length, info?.sponsors.length ?? 0),
        },
        threshold: short
          ? `silence ≥ ${o.shortDormantMs / DAY} days with a non-sponsor credential or a new place (≥ ${o.dormantMs / DAY} days on its own)`
          : ep.per === true
            ? `silence ≥ ${o.dormantMs / DAY} days on the agent's schedule (within ${PERIOD_TOLERANCE * 100} % of its previous silence): with a non-sponsor credential or a new place`
            : `silence ≥ ${o.dormantMs / DAY} days`,
        peer_group: peerGroupName(bp),
      },
      event_ids: e.event_id === ep.id ? [ep.id] : [ep.id, e.event_id],
    };
  }

  function learnPlace(s: Dormant, e: SigninEvent, ctx: DetectorContext, shared: boolean): void {
    const cc = countryCode(e.country);
    const newAsn = e.asn !== null && s.asn.indexOf(e.asn) < 0;
    const newCc = cc >= 0 && s.cc.indexOf(cc) < 0;
    if (!newAsn && !newCc) return;
    if (newAsn) s.asn = withCapped(s.asn, e.asn!, o.maxPlaces);
    if (newCc) s.cc = withCapped(s.cc, cc, o.maxPlaces);
    if (!shared) return;
    const g = touchGroup(e, ctx);
    if (g === undefined) return;
    if (newAsn) g.asn = withCapped(g.asn, e.asn!, o.maxGroupPlaces);
    if (newCc) g.cc = withCapped(g.cc, cc, o.maxGroupPlaces);
  }

  function record(e: AgentEvent & { agent_id: string }, ctx: DetectorContext): Dormant {
    let s = agents.get(ctx, e.tenant_id, e.agent_id);
    if (!s) {
      // First sight: silence is measured from the directory's last sight, else from now.
      const prev = ctx.previousLastSeen(e.tenant_id, e.agent_id);
      // Every field in the literal: one added later would give each record a separate property array.
      s = { at: 0, am: 0, e: 0, asn: EMPTY, cc: EMPTY, sp: EMPTY, cr: null, ep: null, ct: 0 };
      setAtMs(s, prev !== undefined && prev < e.time ? prev : e.time);
      agents.set(ctx, e.tenant_id, e.agent_id, s);
    }
    return s;
  }

  function onLifecycle(e: LifecycleEvent, ctx: DetectorContext): Detection[] {
    switch (e.action) {
      case 'deleted':
        agents.delete(ctx, e.tenant_id, e.agent_id);
        return NO_DETECTIONS;
      case 'created':
      case 'sponsor_added':
        if (e.sponsor_id !== null) {
          const s = record(e, ctx);
          const h = hashString(identityKey(e.sponsor_id));
          // One who appoints himself sponsor while the agent has others vouches for nothing (see AgentInfo.self_sponsored).
          const others = (s.sp.length > 0 && !s.sp.includes(h)) || ctx.agent(e.tenant_id, e.agent_id)?.self_sponsored.includes(e.sponsor_id) === true;
          const self = e.action === 'sponsor_added' && identityKey(e.actor) === identityKey(e.sponsor_id) && others;
          if (!self) s.sp = withCapped(s.sp, h, o.maxPlaces);
        }
        return NO_DETECTIONS;
      case 'sponsor_removed': {
        const s = agents.get(ctx, e.tenant_id, e.agent_id);
        if (s && e.sponsor_id !== null) {
          const i = s.sp.indexOf(hashString(identityKey(e.sponsor_id)));
          if (i >= 0) s.sp = s.sp.length === 1 ? EMPTY : s.sp.slice(0, i).concat(s.sp.slice(i + 1));
        }
        return NO_DETECTIONS;
      }
      case 'credential_added': {
        const s = record(e, ctx);
        const info = ctx.agent(e.tenant_id, e.agent_id);
        const actorKey = identityKey(e.actor);
        // A sponsor whose own user risk is medium or high vouches for nothing (his account may be the attacker's).
        const vouched = (s.sp.length > 0 ? s.sp.includes(hashString(actorKey)) : info !== undefined && isVouchingSponsor(info, e.actor)) && !isRiskyActor(ctx, e.tenant_id, e.actor);
        const add: CredentialAdd = { t: e.time, actor: e.actor, id: e.credential_id, v: vouched };
        s.cr = s.cr === null ? [add] : [s.cr[s.cr.length - 1]!, add];
        // A late credential event can raise an open episode.
        const ep = s.ep;
        if (!ep || ep.cred !== null || Math.abs(e.time - ep.t) > o.credentialWindowMs + o.episodeMs) return NO_DETECTIONS;
        const d = evaluate(e, s, ep, ctx);
        return d ? [d] : NO_DETECTIONS;
      }
      default:
        return NO_DETECTIONS;
    }
  }

  function onActivity(e: AgentEvent & { agent_id: string }, ctx: DetectorContext): Detection[] {
    const t = e.time;
    const s = record(e, ctx);
    let out: Detection[] = NO_DETECTIONS;
    const signin = e.type === 'signin' ? e : null;
    const last = atMs(s);
    if (t - last >= o.shortDormantMs) {
      // Wake-up: a new episode.
      const ep: Episode = { t, prev: last, id: e.event_id, s: 0, place: null, cred: null };
      const silence = t - last;
      if (s.ps !== undefined && Math.abs(silence - s.ps) <= PERIOD_TOLERANCE * s.ps) ep.per = true;
      s.ps = silence;
      s.ep = ep;
      if (signin) {
        ep.place = newPlace(s, signin, ctx);
        if (newCountry) ep.pc = true;
        ep.dg = downgrade(s, signin, ctx);
      }
      const d = evaluate(e, s, ep, ctx);
      if (d) out = [d];
    } else if (s.ep !== null) {
      const ep = s.ep;
      if (Math.abs(t - ep.t) <= o.episodeMs) {
        if (signin && ep.place === null) {
          ep.place = newPlace(s, signin, ctx);
          if (newCountry) ep.pc = true;
        }
        if (signin && !ep.dg) ep.dg = downgrade(s, signin, ctx);
        const d = evaluate(e, s, ep, ctx);
        if (d) out = [d];
      } else if (t > ep.t + o.episodeMs) s.ep = null;
    }
    if (t > last) setAtMs(s, t);
    // A place new to a waking agent is not its blueprint's: another dormant agent woken from there is no less suspect.
    if (signin) {
      learnPlace(s, signin, ctx, !(s.ep !== null && s.ep.place !== null && Math.abs(t - s.ep.t) <= o.episodeMs));
      learnType(s, signin, ctx, !(s.ep !== null && !!s.ep.dg && Math.abs(t - s.ep.t) <= o.episodeMs));
    }
    return out;
  }

  return {
    // dormant-reactivation tracks the newest event time of every type (retention)
    types: ['signin', 'token', 'network', 'lifecycle', 'user_risk'] as const,
    meta: dormantReactivationMeta,
    observe(e: AgentEvent, ctx: DetectorContext): Detection[] {
      if (e.time > clock.newest) clock.newest = e.time;
      switch (e.type) {
        case 'signin':
          return e.result === 'success' ? onActivity(e, ctx) : NO_DETECTIONS;
        case 'token':
          return e.decision === 'granted' ? onActivity(e, ctx) : NO_DETECTIONS;
        case 'network':
          return onActivity(e, ctx);
        case 'lifecycle':
          return onLifecycle(e, ctx);
        default:
          return NO_DETECTIONS;
      }
    },
    evict(before: number): void {
      const cutoff = Math.min(before, clock.newest - o.retainMs);
      agents.evict(cutoff);
      groups.evict(cutoff);
    },
    size(): number {
      return agents.size + groups.size;
    },
    snapshot(): unknown {
      return clone({ version: 1, newest: clock.newest, agents: agents.rows(), groups: groups.snapshot() });
    },
    restore(snapshot: unknown): void {
      const s = clone(snapshot) as { version: number; newest: number; agents: [string, string, Dormant][]; groups: [string, string, GroupPlaces][] };
      if (s?.version !== 1) throw new Error('dormant-reactivation: unsupported snapshot');
      clock.newest = s.newest;
      const shared = (l: number[]) => (l.length === 0 ? EMPTY : l);
      agents.restore(s.agents.map(([t, id, a]) => [t, id, { ...a, asn: shared(a.asn), cc: shared(a.cc), sp: shared(a.sp) }]), false);
      groups.restore(s.groups);
    },
  };
}

/** The members of `a`, then those of `b` not in `a`. */
function union(a: readonly number[], b: readonly number[]): number[] {
  const out = a.slice();
  for (const x of b) if (out.indexOf(x) < 0) out.push(x);
  return out;
}

// Detector 14 — revoked-agent-activity: an agent acts after it was disabled
// or deleted.
//
// Disabling or deleting an agent identity (incident response, a lifecycle
// workflow, an ephemeral agent's end) stops the identity provider from issuing
// it new tokens, but access tokens already issued stay valid until they expire
// (about an hour; a day for managed identities). So:
// - a successful sign-in or a granted token more than the allowed lateness
//   (60 s) after the agent was disabled or deleted is medium: the provider
//   should have refused it (a missed re-enable event at best, a bypass of the
//   revocation at worst);
// - a network event after every token the agent held at that moment has
//   expired (plus the lateness) is medium: a token that outlives its identity
//   (forged, or obtained where the revocation does not reach).
// Activity within the lifetime of the tokens held is the normal tail of a
// disabled agent's work, and so is a sign-in or token within 3 minutes of the
// revocation from the subnet where the agent last signed in successfully
// before it: the identity provider honours the identity until the change
// has replicated (an ephemeral agent's shutdown hook flushing its results
// 65-100 s after its controller deleted it).
// 'enabled' lifts a disable, 'created' a delete. Each
// kind fires once per revocation. A re-enable within an hour by someone who
// is neither who disabled the agent nor its sponsor, or by a user at medium
// or high user risk, lifts nothing: an attacker whose admin account survived
// the response undoes the containment. Nor does a re-enable within a day by
// a principal the tenant's audit log never showed acting on an agent (no
// lifecycle action, never appointed a sponsor): no one the organisation
// knows as an administrator of its agents.
//
// Audit logs come from another feed than sign-ins, late and with their own
// clock: a re-enable can arrive after the first sign-in it allowed. So an act
// is decided once the watermark has passed it by `skewMs` (10 s): every
// lifecycle event up to then has arrived, and a lift stamped no later than
// `skewMs` after the act explains it.
//
// State: per agent the latest expiry of the tokens it was granted (one small
// integer in an object attached to the agent's directory record); per
// disabled or deleted agent a small record, kept for `retainMs` (30 days)
// although the pipeline forgets idle agents after days: the point is activity
// long after the revocation.

import type { AgentEvent, LifecycleEvent } from '../contract/events.js';
import { AgentStore, NO_DETECTIONS, TenantMap, clone, hashString, msOfSec, sec, type SlotState, type Timed } from './agent-directory.js';
import { ALLOWED_LATENESS_MS, formatDuration, identityKey, isRiskyActor, isVouchingSponsor, peerGroupName, type Detector, type DetectorContext } from './detector.js';
import { DueQueue } from './due-queue.js';
import { sameSubnet } from './addresses.js';
import type { Detection, DetectorMeta } from './types.js';

export interface RevokedAgentActivityOptions {
  /** Events may arrive this late: activity up to this long after the revocation is not judged, ms. */
  allowedLatenessMs?: number;
  /** Clock difference tolerated between the audit log and the activity logs: a lift this long after an act explains it, ms. */
  skewMs?: number;
  /** Revocation records are kept this long after the revocation, ms. */
  retainMs?: number;
  /**
   * A re-enable within this long of a disable by someone who is neither who
   * disabled the agent nor its sponsor (or by a user at medium or high user
   * risk, at any time) does not lift the disable: containment reversed by a
   * third party, the attacker's move when his admin account survived, ms.
   */
  contestMs?: number;
  /** A re-enable within this long by a principal never seen acting on the tenant's agents lifts nothing either, ms. */
  strangerContestMs?: number;
  /**
   * A sign-in or token within this long of the revocation, from the subnet
   * where the agent last signed in successfully before it, is the provider
   * still honouring the identity while the change replicates (an ephemeral
   * agent's shutdown hook flushing its results), not judged, ms.
   */
  replicationMs?: number;
  maxAgents?: number;
}

/** After a contested re-enable, acts are looked up in the revocation map (not spared by the directory's flags) this long, ms. */
const CONTEST_WATCH_MS = 24 * 3600_000;

const DEFAULTS: Required<RevokedAgentActivityOptions> = {
  allowedLatenessMs: ALLOWED_LATENESS_MS,
  skewMs: 10_000,
  retainMs: 30 * 24 * 3600_000,
  contestMs: 60 * 60_000,
  strangerContestMs: 24 * 3600_000,
  replicationMs: 3 * 60_000,
  maxAgents: 2_000_000,
};

/** Latest expiry of the tokens granted to an agent, seconds (see `sec`). */
interface Tokens extends SlotState {
  x: number;
}

/** A disabled or deleted agent. `at` is the revocation time (ms): it is kept retainMs from then. */
interface Revocation extends Timed {
  action: 'disabled' | 'deleted';
  actor: string;
  eventId: string;
  /** Latest expiry (ms) of the tokens the agent held when revoked; 0 when none known. */
  tokensUntil: number;
  /** Address of the agent's latest successful sign-in before the revocation (see replicationMs); absent when unknown. */
  home?: string | null;
  /** Already reported: a sign-in or granted token, a network event. */
  firedAuth: boolean;
  firedUse: boolean;
  /** When the revocation was lifted (enabled, created again), ms; 0 while it stands. */
  lifted?: number;
  /**
   * A re-enable that does not lift the disable (see contestMs): when, and by
   * whom. Absent when there was none.
   */
  contested?: number;
  contestedBy?: string;
}

/** An act of a revoked agent waiting for the audit log to catch up (see skewMs). */
interface PendingAct {
  tenant_id: string;
  agent_id: string;
  due: number;
  time: number;
  auth: boolean;
  type: string;
  what: string;
  eventId: string;
}

export const revokedAgentActivityMeta: DetectorMeta = {
  id: 'revoked-agent-activity',
  title: 'Activity of a disabled or deleted agent',
  severity: 'medium',
  mitre: { id: 'T1550.001', name: 'Use Alternate Authentication Material: Application Access Token' },
  description:
    'An agent that was disabled or deleted signs in successfully or is granted a token more than 60 s later (the identity provider should refuse it), ' +
    'or makes network calls after every token it held at the revocation has expired (medium). Calls within the lifetime of tokens already issued are the normal tail. ' +
    'A sign-in or token within 3 min of the revocation from the subnet where the agent last signed in successfully is the change still replicating (an ephemeral agent\'s shutdown flush), not judged. ' +
    'An act is decided 10 s after it in event time, once the audit log has caught up: a re-enable delivered late, or stamped up to 10 s after the act (another clock), explains it. ' +
    'A re-enable within an hour of the disable by someone who is neither who disabled the agent nor its sponsor, within a day by a principal never seen acting on the tenant\'s agents, or at any time by a user whose own user risk is medium or high, lifts nothing: containment reversed by a third party.',
};

export function createRevokedAgentActivityDetector(options: RevokedAgentActivityOptions = {}): Detector {
  const o: Required<RevokedAgentActivityOptions> = { ...DEFAULTS, ...options };
  const tokens = new AgentStore<Tokens>(o.maxAgents);
  const revoked = new TenantMap<Revocation>(o.maxAgents);
  /** Per tenant (id ''), hashes of the principals seen acting on its agents or appointed sponsors, the latest 512. */
  const principals = new TenantMap<{ at: number; h: number[] }>(1_000_000);

  function knownPrincipal(tenant: string, who: string): boolean {
    return principals.get(tenant, '')?.h.includes(hashString(identityKey(who))) ?? false;
  }

  function notePrincipal(tenant: string, who: string | null, t: number): void {
    if (who === null || who === '') return;
    let p = principals.get(tenant, '');
    if (p === undefined) {
      p = { at: t, h: [] };
      principals.set(tenant, '', p);
    } else if (t > p.at) p.at = t;
    const h = hashString(identityKey(who));
    if (p.h.includes(h)) return;
    if (p.h.length >= 512) p.h.shift();
    p.h.push(h);
  }

  /** Newest event time seen (a field: a double in a closure variable would box a new heap number per event). */
  const clock = { newest: Number.MIN_SAFE_INTEGER, contestedUntil: Number.MIN_SAFE_INTEGER };

  function onLifecycle(e: LifecycleEvent, ctx: DetectorContext): void {
    judgeLifecycle(e, ctx);
    // After the judgement: a stranger's own re-enable does not make him known.
    notePrincipal(e.tenant_id, e.actor, e.time);
    if (e.action === 'sponsor_added') notePrincipal(e.tenant_id, e.sponsor_id, e.time);
  }

  function judgeLifecycle(e: LifecycleEvent, ctx: DetectorContext): void {
    switch (e.action) {
      case 'disabled':
      case 'deleted': {
        const held = tokens.get(ctx, e.tenant_id, e.agent_id);
        const prior = revoked.get(e.tenant_id, e.agent_id);
        // A delete after a disable keeps the first revocation (the earlier time is the stricter one).
        if (prior !== undefined && !prior.lifted && prior.at <= e.time) return;
        if (prior !== undefined && prior.lifted && prior.lifted > e.time) return; // lifted after: an older revocation
        revoked.set(e.tenant_id, e.agent_id, {
          at: e.time,
          action: e.action,
          actor: e.actor,
          eventId: e.event_id,
          tokensUntil: held === undefined ? 0 : msOfSec(held.x),
          home: ctx.agent(e.tenant_id, e.agent_id)?.signin_ip ?? null,
          firedAuth: false,
          firedUse: false,
        });
        return;
      }
      // A lift is kept (not the record deleted): acts waiting for their verdict compare their time to it.
      case 'enabled': {
        const r = revoked.get(e.tenant_id, e.agent_id);
        if (r === undefined || r.action !== 'disabled' || e.time < r.at || r.lifted) return;
        const info = ctx.agent(e.tenant_id, e.agent_id);
        const thirdParty = identityKey(e.actor) !== identityKey(r.actor) && !(info !== undefined && isVouchingSponsor(info, e.actor));
        const stranger = thirdParty && e.time - r.at <= o.strangerContestMs && !knownPrincipal(e.tenant_id, e.actor);
        if (isRiskyActor(ctx, e.tenant_id, e.actor) || (thirdParty && e.time - r.at <= o.contestMs) || stranger) {
          r.contested = e.time;
          r.contestedBy = e.actor;
          // The directory now says enabled: its flag no longer spares the lookup (see observe).
          clock.contestedUntil = Math.max(clock.contestedUntil, e.time + CONTEST_WATCH_MS);
        } else r.lifted = e.time;
        return;
      }
      case 'created': {
        const r = revoked.get(e.tenant_id, e.agent_id);
        if (r !== undefined && e.time >= r.at && !r.lifted) r.lifted = e.time;
        return;
      }
      default:
        return;
    }
  }

  function learnToken(e: AgentEvent & { type: 'token' }, ctx: DetectorContext): void {
    const x = sec(e.time + e.lifetime_s * 1000);
    const s = tokens.get(ctx, e.tenant_id, e.agent_id);
    if (s === undefined) tokens.set(ctx, e.tenant_id, e.agent_id, { e: 0, at: sec(e.time), x });
    else {
      if (x > s.x) s.x = x;
      const at = sec(e.time);
      if (at > s.at) s.at = at;
    }
  }

  /**
   * Acts of revoked agents waiting for the audit log: sign-ins and tokens, and
   * calls (each kind fires once per revocation; one waiting act per agent and
   * kind, the first stands).
   */
  const pendingAuth = new DueQueue<PendingAct>();
  const pendingUse = new DueQueue<PendingAct>();

  /** True when the act at `t` is explained by a lift of the revocation stamped no later than skewMs after it. */
  function liftedBy(r: Revocation, t: number): boolean {
    return r.lifted !== undefined && r.lifted > 0 && r.lifted <= t + o.skewMs;
  }

  /** An act of a revoked agent: waits for its verdict (see `decide`) when it is past the tail the revocation allows. */
  function judge(e: AgentEvent & { agent_id: string }, r: Revocation): void {
    const auth = e.type === 'signin' || e.type === 'token';
    if (auth ? r.firedAuth : r.firedUse) return;
    if (liftedBy(r, e.time)) return;
    if (e.time - r.at <= o.allowedLatenessMs) return;
    if ((e.type === 'signin' || e.type === 'token') && e.time - r.at <= o.replicationMs && r.home && sameSubnet(e.ip, r.home)) return;
    if (!auth && e.time <= r.tokensUntil + o.allowedLatenessMs) return;
    const what =
      e.type === 'signin'
        ? `signed in successfully to ${e.resource}`
        : e.type === 'token'
          ? `was granted a token for ${e.resource}`
          : `called ${e.type === 'network' ? e.dest_host : ''}${e.type === 'network' && e.token_id !== null ? ` with token ${e.token_id}` : ''}`;
    (auth ? pendingAuth : pendingUse).add({ tenant_id: e.tenant_id, agent_id: e.agent_id, due: e.time + o.skewMs, time: e.time, auth, type: e.type, what, eventId: e.event_id });
  }

  /** An act whose audit log has caught up: reported unless the revocation was lifted by then (or it was reported meanwhile). */
  function decide(p: PendingAct, watermark: number, ctx: DetectorContext): Detection | null {
    const r = revoked.get(p.tenant_id, p.agent_id);
    if (r === undefined || liftedBy(r, p.time) || (p.auth ? r.firedAuth : r.firedUse)) return null;
    if (p.auth) r.firedAuth = true;
    else r.firedUse = true;
    const after = p.time - r.at;
    const expiry = r.tokensUntil > 0 ? new Date(r.tokensUntil).toISOString() : null;
    const info = ctx.agent(p.tenant_id, p.agent_id);
    return {
      detector: revokedAgentActivityMeta.id,
      severity: 'medium',
      tenant_id: p.tenant_id,
      agent_id: p.agent_id,
      time: Math.max(p.time, Math.min(watermark, p.due)),
      summary:
        `Agent ${p.agent_id} ${p.what} ${formatDuration(after)} after it was ${r.action} by ${r.actor}` +
        (r.contested !== undefined && r.contested <= p.time + o.skewMs ? ` and re-enabled by ${r.contestedBy} ${formatDuration(r.contested - r.at)} later (neither who disabled it nor its sponsor, or a risky user)` : '') +
        (p.auth ? ': the identity provider should have refused it' : expiry ? `, after the last token it held expired (${expiry})` : ', holding no token known to have been issued before'),
      evidence: {
        observed: { event_type: p.type, seconds_after_revocation: Math.round(after / 1000) },
        baseline: {
          revoked: r.action,
          revoked_at: new Date(r.at).toISOString(),
          revoked_by: r.actor,
          tokens_valid_until: expiry,
          ...(r.contested !== undefined ? { reenabled_at: new Date(r.contested).toISOString(), reenabled_by: r.contestedBy } : {}),
        },
        threshold: p.auth ? `no sign-in or token later than ${o.allowedLatenessMs / 1000} s after a revocation` : 'no call after the tokens held at the revocation expired',
        peer_group: peerGroupName(info?.blueprint_id ?? null),
      },
      event_ids: [r.eventId, p.eventId],
    };
  }

  function observe(e: AgentEvent, ctx: DetectorContext): Detection[] {
    if (e.time > clock.newest) clock.newest = e.time;
    if (e.type === 'user_risk') return NO_DETECTIONS;
    if (e.type === 'lifecycle') {
      onLifecycle(e, ctx);
      return NO_DETECTIONS;
    }
    let acting: boolean;
    if (e.type === 'token') {
      if (e.decision !== 'granted') return NO_DETECTIONS;
      learnToken(e, ctx);
      acting = true;
    } else acting = e.type === 'network' || e.result === 'success';
    if (!acting || revoked.size === 0) return NO_DETECTIONS;
    // The directory's flags spare a lookup for the agents that were never revoked. Its
    // record of an agent idle for days may be new (flags cleared): then the map decides.
    const rec = ctx.agent(e.tenant_id, e.agent_id);
    if (rec !== undefined && !rec.disabled && !rec.deleted && rec.first_seen < e.time && e.time > clock.contestedUntil) return NO_DETECTIONS;
    const r = revoked.get(e.tenant_id, e.agent_id);
    if (r !== undefined) judge(e, r);
    return NO_DETECTIONS;
  }

  return {
    types: ['signin', 'token', 'network', 'lifecycle'] as const,
    meta: revokedAgentActivityMeta,
    observe,
    advance(watermark, ctx) {
      const auth = pendingAuth.takeDue(watermark, (p) => decide(p, watermark, ctx));
      const use = pendingUse.takeDue(watermark, (p) => decide(p, watermark, ctx));
      return use.length === 0 ? auth : auth.concat(use);
    },
    // End of a replay: every act is decided with what has arrived, dated when it was due.
    settle(ctx) {
      return pendingAuth.takeDue(Infinity, (p) => decide(p, p.due, ctx)).concat(pendingUse.takeDue(Infinity, (p) => decide(p, p.due, ctx)));
    },
    evict(before: number): void {
      tokens.evict(before);
      revoked.evict(Math.min(before, clock.newest - o.retainMs));
      principals.evict(Math.min(before, clock.newest - o.retainMs));
      pendingAuth.evict(before);
      pendingUse.evict(before);
    },
    size(): number {
      return tokens.size + revoked.size + pendingAuth.size + pendingUse.size + principals.size;
    },
    snapshot(): unknown {
      return clone({ version: 1, newest: clock.newest, contestedUntil: clock.contestedUntil, tokens: tokens.rows(), revoked: revoked.snapshot(), pending: [...pendingAuth.snapshot(), ...pendingUse.snapshot()], principals: principals.snapshot() });
    },
    restore(snapshot: unknown): void {
      const s = clone(snapshot) as { version: number; newest: number; contestedUntil?: number; tokens: [string, string, Tokens][]; revoked: [string, string, Revocation][]; pending?: PendingAct[]; principals?: [string, string, { at: number; h: number[] }][] };
      if (s?.version !== 1) throw new Error('revoked-agent-activity: unsupported snapshot');
      clock.newest = s.newest;
      clock.contestedUntil = s.contestedUntil ?? Number.MIN_SAFE_INTEGER;
      tokens.restore(s.tokens);
      revoked.restore(s.revoked);
      principals.restore(s.principals ?? []);
      pendingAuth.restore((s.pending ?? []).filter((p) => p.auth));
      pendingUse.restore((s.pending ?? []).filter((p) => !p.auth));
    },
  };
}

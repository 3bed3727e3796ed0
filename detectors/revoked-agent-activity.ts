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
// disabled agent's work. 'enabled' lifts a disable, 'created' a delete. Each
// kind fires once per revocation.
//
// State: per agent the latest expiry of the tokens it was granted (one small
// integer in an object attached to the agent's directory record); per
// disabled or deleted agent a small record, kept for `retainMs` (30 days)
// although the pipeline forgets idle agents after days: the point is activity
// long after the revocation.

import type { AgentEvent, LifecycleEvent } from '../contract/events.js';
import { AgentStore, NO_DETECTIONS, TenantMap, clone, msOfSec, sec, type SlotState, type Timed } from './agent-directory.js';
import { ALLOWED_LATENESS_MS, formatDuration, peerGroupName, type Detector, type DetectorContext } from './detector.js';
import type { Detection, DetectorMeta } from './types.js';

export interface RevokedAgentActivityOptions {
  /** Events may arrive this late: activity up to this long after the revocation is not judged, ms. */
  allowedLatenessMs?: number;
  /** Revocation records are kept this long after the revocation, ms. */
  retainMs?: number;
  maxAgents?: number;
}

const DEFAULTS: Required<RevokedAgentActivityOptions> = {
  allowedLatenessMs: ALLOWED_LATENESS_MS,
  retainMs: 30 * 24 * 3600_000,
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
  /** Already reported: a sign-in or granted token, a network event. */
  firedAuth: boolean;
  firedUse: boolean;
}

export const revokedAgentActivityMeta: DetectorMeta = {
  id: 'revoked-agent-activity',
  title: 'Activity of a disabled or deleted agent',
  severity: 'medium',
  mitre: { id: 'T1550.001', name: 'Use Alternate Authentication Material: Application Access Token' },
  description:
    'An agent that was disabled or deleted signs in successfully or is granted a token more than 60 s later (the identity provider should refuse it), ' +
    'or makes network calls after every token it held at the revocation has expired (medium). Calls within the lifetime of tokens already issued are the normal tail.',
};

export function createRevokedAgentActivityDetector(options: RevokedAgentActivityOptions = {}): Detector {
  const o: Required<RevokedAgentActivityOptions> = { ...DEFAULTS, ...options };
  const tokens = new AgentStore<Tokens>(o.maxAgents);
  const revoked = new TenantMap<Revocation>(o.maxAgents);
  /** Newest event time seen (a field: a double in a closure variable would box a new heap number per event). */
  const clock = { newest: Number.MIN_SAFE_INTEGER };

  function onLifecycle(e: LifecycleEvent, ctx: DetectorContext): void {
    switch (e.action) {
      case 'disabled':
      case 'deleted': {
        const held = tokens.get(ctx, e.tenant_id, e.agent_id);
        const prior = revoked.get(e.tenant_id, e.agent_id);
        // A delete after a disable keeps the first revocation (the earlier time is the stricter one).
        if (prior !== undefined && prior.at <= e.time) return;
        revoked.set(e.tenant_id, e.agent_id, {
          at: e.time,
          action: e.action,
          actor: e.actor,
          eventId: e.event_id,
          tokensUntil: held === undefined ? 0 : msOfSec(held.x),
          firedAuth: false,
          firedUse: false,
        });
        return;
      }
      case 'enabled': {
        const r = revoked.get(e.tenant_id, e.agent_id);
        if (r !== undefined && r.action === 'disabled' && e.time >= r.at) revoked.delete(e.tenant_id, e.agent_id);
        return;
      }
      case 'created': {
        const r = revoked.get(e.tenant_id, e.agent_id);
        if (r !== undefined && e.time >= r.at) revoked.delete(e.tenant_id, e.agent_id);
        return;
      }
      default:
        return;
    }
  }

  function learnToken(e: AgentEvent & { type: 'token' }, ctx: DetectorContext): void {
    const x = sec(e.time + e.lifetime_s * 1000);
    const s = tokens.get(ctx, e.tenant_id, e.agent_id);
    if (s === undefined) tokens.set(ctx, e.tenant_id, e.agent_id, { at: sec(e.time), e: 0, x });
    else {
      if (x > s.x) s.x = x;
      const at = sec(e.time);
      if (at > s.at) s.at = at;
    }
  }

  function judge(e: AgentEvent & { agent_id: string }, r: Revocation, ctx: DetectorContext): Detection[] {
    const auth = e.type === 'signin' || e.type === 'token';
    if (auth ? r.firedAuth : r.firedUse) return NO_DETECTIONS;
    const after = e.time - r.at;
    if (after <= o.allowedLatenessMs) return NO_DETECTIONS;
    if (!auth && e.time <= r.tokensUntil + o.allowedLatenessMs) return NO_DETECTIONS;
    if (auth) r.firedAuth = true;
    else r.firedUse = true;
    const what =
      e.type === 'signin'
        ? `signed in successfully to ${e.resource}`
        : e.type === 'token'
          ? `was granted a token for ${e.resource}`
          : `called ${e.type === 'network' ? e.dest_host : ''}${e.type === 'network' && e.token_id !== null ? ` with token ${e.token_id}` : ''}`;
    const expiry = r.tokensUntil > 0 ? new Date(r.tokensUntil).toISOString() : null;
    const info = ctx.agent(e.tenant_id, e.agent_id);
    return [
      {
        detector: revokedAgentActivityMeta.id,
        severity: 'medium',
        tenant_id: e.tenant_id,
        agent_id: e.agent_id,
        time: e.time,
        summary:
          `Agent ${e.agent_id} ${what} ${formatDuration(after)} after it was ${r.action} by ${r.actor}` +
          (auth ? ': the identity provider should have refused it' : expiry ? `, after the last token it held expired (${expiry})` : ', holding no token known to have been issued before'),
        evidence: {
          observed: { event_type: e.type, seconds_after_revocation: Math.round(after / 1000) },
          baseline: { revoked: r.action, revoked_at: new Date(r.at).toISOString(), revoked_by: r.actor, tokens_valid_until: expiry },
          threshold: auth ? `no sign-in or token later than ${o.allowedLatenessMs / 1000} s after a revocation` : 'no call after the tokens held at the revocation expired',
          peer_group: peerGroupName(info?.blueprint_id ?? null),
        },
        event_ids: [r.eventId, e.event_id],
      },
    ];
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
    if (rec !== undefined && !rec.disabled && !rec.deleted && rec.first_seen < e.time) return NO_DETECTIONS;
    const r = revoked.get(e.tenant_id, e.agent_id);
    return r === undefined ? NO_DETECTIONS : judge(e, r, ctx);
  }

  return {
    types: ['signin', 'token', 'network', 'lifecycle'] as const,
    meta: revokedAgentActivityMeta,
    observe,
    evict(before: number): void {
      tokens.evict(before);
      revoked.evict(Math.min(before, clock.newest - o.retainMs));
    },
    size(): number {
      return tokens.size + revoked.size;
    },
    snapshot(): unknown {
      return clone({ version: 1, newest: clock.newest, tokens: tokens.map.snapshot(), revoked: revoked.snapshot() });
    },
    restore(snapshot: unknown): void {
      const s = clone(snapshot) as { version: number; newest: number; tokens: [string, string, Tokens][]; revoked: [string, string, Revocation][] };
      if (s?.version !== 1) throw new Error('revoked-agent-activity: unsupported snapshot');
      clock.newest = s.newest;
      tokens.restore(s.tokens);
      revoked.restore(s.revoked);
    },
  };
}

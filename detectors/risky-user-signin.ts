// Detector 4 — risky-user-signin: an agent signs in or obtains a token on
// behalf of a user whose current user risk (ctx.userRisk) is medium or high.
//
// - Fires once per (agent, user) per risk episode, with the user's level as
//   severity (medium/high); again if the user's risk escalates.
// - A verdict often lands minutes after the delegated sign-ins it is about,
//   while the agent keeps working with the access token it obtained for the
//   user. So when a user's risk rises, the unexpired tokens agents obtained on
//   the user's behalf are watched, and an agent that uses one afterwards (a
//   network event carrying its token id) inherits the risk, as if it had
//   signed in again.
// - The verdict comes from another feed than the sign-ins and may arrive up
//   to the allowed lateness after acts stamped later than itself: when it
//   lands, agents whose latest act for the user is stamped at or after it are
//   reported then, dated at that act.
// - Optionally (lookbackMs), when a user's risk rises, agents that acted for
//   that user recently are reported at once.
// - An agent user account (flow agent_user) acts as a user of its own: the
//   user risk of that account (its user_id, or the agent's id when user_id
//   is absent) is the agent's own. It is reported on the account's next
//   sign-in or token, and at once when the verdict lands on an account seen
//   acting as itself: no later act is needed to inherit a risk that is its
//   own.
// - Risk fan-in: when 3 or more users an agent acted for within the day
//   before their verdict (a user's first verdict of the day: raised from
//   medium to high, it was flagged at the first) are flagged medium or high
//   within an hour, the agent is how they were
//   reached (a lure it was steered to send, a tool server phishing them
//   through it): medium for the agent itself, whoever it acts for next,
//   judged 5 minutes after the third verdict. Not when they are under half of
//   the users flagged in the tenant in that hour (and those 5 minutes), or
//   under twice the agent's share of the tenant's users
//   (a phishing wave reaching everyone), nor for an agent serving half or
//   more of the tenant's users (every wave reaches its users), nor for the
//   users it first acted for after their verdict (the self-service reset the
//   security team sends phished users to did not reach them). Once per agent
//   per 6 hours.
// - Low-risk users never trigger. When the user's risk is remediated
//   (none/low) the episode ends; the risk engine drops the inherited risk
//   (evidence.user_id tells it which user the agent inherits from).

import type { AgentEvent, RiskLevel, SigninEvent, TokenEvent } from '../contract/events.js';
import type { Detection, Severity } from './types.js';
import type { Detector, DetectorContext } from './detector.js';
import { ALLOWED_LATENESS_MS, formatDuration, identityKey, peerGroupName } from './detector.js';
import { NO_DETECTIONS, TenantMap, blueprintOf, clone, type Timed } from './agent-directory.js';
import { DueQueue, type DueItem } from './due-queue.js';

export interface RiskyUserSigninOptions {
  /**
   * Agents that acted for a user this recently are reported when the user's
   * risk rises (0, the default, disables it: an agent is reported when it acts
   * for the risky user, which is what inherits the risk).
   */
  lookbackMs?: number;
  /** Recent agents remembered per user. */
  agentsPerUser?: number;
}

interface UserState extends Timed {
  /** The agent that signs in as this user account (an agent user account, flow agent_user), when one was seen. */
  account?: string;
  agents: string[];
  times: number[];
  /**
   * Per agent, the start of its current run of service (its first act for the user after a day without one):
   * whether it acted for the user before a verdict, not only after (see servedBefore). Absent in older snapshots.
   */
  firsts?: number[];
  eventIds: string[];
  /** Agents notified in the current episode, and the level they were notified at (2 medium, 3 high). */
  notified: string[];
  notifiedLevel: number[];
  /** Latest tokens obtained on the user's behalf (a ring of TOKENS_PER_USER, next slot `tokenNext`): id, agent, expiry (ms), issuing event. */
  tokenNext: number;
  tokens: string[];
  tokenAgents: string[];
  tokenExp: number[];
  tokenEvents: string[];
}

/** A token obtained for a user before the user's risk rose, watched until it expires (`at`). */
interface WatchedToken extends Timed {
  user: string;
  agent: string;
  issuedBy: string;
}

interface Snapshot {
  users: [string, string, UserState][];
  watched?: [string, string, WatchedToken][];
  /** Absent in snapshots from before the risk fan-in. */
  flagged?: [string, Flagged][];
  fanIns?: [string, string, FanIn][];
  fanPending?: PendingFanIn[];
}

const DEFAULTS: Required<RiskyUserSigninOptions> = { lookbackMs: 0, agentsPerUser: 16 };

/** Risk fan-in: users flagged within this long of each other... */
const FANIN_WINDOW_MS = 60 * 60_000;
/** ...that the agent acted for within this long before... */
const FANIN_SERVED_MS = 24 * 3_600_000;
/** ...this many of them; once per agent per FANIN_REFIRE_MS. */
const FANIN_USERS = 3;
const FANIN_REFIRE_MS = 6 * 3_600_000;
/** A fan-in is judged this long after its third verdict: a wave reaching the tenant's other users shows by then. */
const FANIN_HOLD_MS = 5 * 60_000;
/** Medium or high verdicts remembered per tenant. */
const FLAGGED_CAP = 256;

/** A tenant's latest medium or high verdicts, one per user (its first within the day): user key, time, event id; oldest first. */
interface Flagged {
  users: string[];
  times: number[];
  ids: string[];
}

/** When an agent was last reported for a risk fan-in. */
interface FanIn extends Timed {
  t: number;
}

/** A fan-in waiting for its verdict: the third verdict's time `t`. */
interface PendingFanIn extends DueItem {
  t: number;
}
/** Tokens remembered per user. */
const TOKENS_PER_USER = 16;
const RANK: Record<RiskLevel, number> = { none: 0, low: 1, medium: 2, high: 3 };

/**
 * The user an act is for: the delegating user, or, for an agent user account
 * acting as itself (flow agent_user) without a user id, its own account.
 */
function actingUser(e: SigninEvent | TokenEvent): string | null {
  if (e.user_id !== null) return e.user_id;
  return e.flow === 'agent_user' ? e.agent_id : null;
}

export function createRiskyUserSigninDetector(options: RiskyUserSigninOptions = {}): Detector<Snapshot> {
  const o = { ...DEFAULTS, ...options };
  const users = new TenantMap<UserState>();
  /** (tenant, token id) → a token of a user whose risk rose while it was valid. */
  const watched = new TenantMap<WatchedToken>();
  const flagged = new Map<string, Flagged>();
  const fanIns = new TenantMap<FanIn>();
  const fanPending = new DueQueue<PendingFanIn>(65_536);

  /** Records a medium or high verdict on `key` in its tenant's list. */
  function noteFlagged(tenant: string, key: string, t: number, id: string): void {
    let f = flagged.get(tenant);
    if (f === undefined) {
      f = { users: [], times: [], ids: [] };
      flagged.set(tenant, f);
    }
    const i = f.users.indexOf(key);
    if (i >= 0) {
      // Raised again within the day (medium to high): flagged when first flagged (see servedBefore).
      if (t - f.times[i]! <= FANIN_SERVED_MS && t >= f.times[i]!) return;
      f.users.splice(i, 1);
      f.times.splice(i, 1);
      f.ids.splice(i, 1);
    }
    if (f.users.length >= FLAGGED_CAP) {
      f.users.shift();
      f.times.shift();
      f.ids.shift();
    }
    f.users.push(key);
    f.times.push(t);
    f.ids.push(id);
  }

  /** Whether the user state shows `agent` acting for the user within FANIN_SERVED_MS before `t` (or after it). */
  function served(u: UserState | undefined, agent: string, t: number): boolean {
    if (u === undefined) return false;
    const i = u.agents.indexOf(agent);
    return i >= 0 && t - u.times[i]! <= FANIN_SERVED_MS;
  }

  /**
   * The agent acted for the user within the day before a verdict at `t`
   * (up to the allowed lateness after it): its service began before the
   * verdict. An agent the user turned to after being flagged (the
   * self-service reset the security team sends phished users to) did not
   * reach them.
   */
  function servedBefore(u: UserState | undefined, agent: string, t: number): boolean {
    if (u === undefined) return false;
    const i = u.agents.indexOf(agent);
    if (i < 0 || t - u.times[i]! > FANIN_SERVED_MS) return false;
    return (u.firsts?.[i] ?? u.times[i]!) <= t + ALLOWED_LATENESS_MS;
  }

  /**
   * Risk fan-in (see the header): each agent the newly flagged user was
   * served by with 3 or more of its users flagged within the hour waits
   * FANIN_HOLD_MS, to see whether the verdicts are a wave reaching the
   * tenant's other users too.
   */
  function fanIn(tenant: string, u: UserState, t: number): void {
    const f = flagged.get(tenant);
    if (f === undefined) return;
    for (let j = 0; j < u.agents.length; j++) {
      const agent = u.agents[j]!;
      if (t - u.times[j]! > FANIN_SERVED_MS || u.account === agent || fanPending.has(tenant, agent)) continue;
      const prev = fanIns.get(tenant, agent);
      if (prev !== undefined && t - prev.t < FANIN_REFIRE_MS) continue;
      if (countFlagged(tenant, f, agent, t - FANIN_WINDOW_MS, t).mine.length >= FANIN_USERS) fanPending.add({ tenant_id: tenant, agent_id: agent, t, due: t + FANIN_HOLD_MS });
    }
  }

  /** The tenant's users flagged within [from, to], and those of them the agent acted for within the day before their verdict. */
  function countFlagged(tenant: string, f: Flagged, agent: string, from: number, to: number): { mine: string[]; ids: string[]; all: number } {
    const mine: string[] = [];
    const ids: string[] = [];
    let all = 0;
    for (let i = 0; i < f.users.length; i++) {
      const ft = f.times[i]!;
      if (ft < from || ft > to) continue;
      all++;
      if (servedBefore(users.get(tenant, f.users[i]!), agent, ft)) {
        mine.push(f.users[i]!);
        ids.push(f.ids[i]!);
      }
    }
    return { mine, ids, all };
  }

  function decideFanIn(p: PendingFanIn, ctx: DetectorContext): Detection | null {
    const f = flagged.get(p.tenant_id);
    if (f === undefined) return null;
    const prev = fanIns.get(p.tenant_id, p.agent_id);
    if (prev !== undefined && p.t - prev.t < FANIN_REFIRE_MS) return null;
    const { mine, ids, all } = countFlagged(p.tenant_id, f, p.agent_id, p.t - FANIN_WINDOW_MS, p.due);
    if (mine.length < FANIN_USERS || mine.length * 2 < all) return null;
    // The agent's share of the tenant's users (acted for within the day): an agent serving most of
    // them sees its users in every wave.
    let population = 0;
    let its = 0;
    users.forEachIn(p.tenant_id, (v) => {
      if (p.t - v.at > FANIN_SERVED_MS) return;
      population++;
      if (served(v, p.agent_id, p.t)) its++;
    });
    // Its users must stand out among the flagged: half of them at least, and twice its share of the tenant's users.
    if (its * 2 >= population || mine.length < all * Math.max(0.5, (2 * its) / population)) return null;
    fanIns.set(p.tenant_id, p.agent_id, { at: p.due, t: p.t });
    const agent = p.agent_id;
    return {
      detector: 'risky-user-signin',
      severity: 'medium',
      tenant_id: p.tenant_id,
      agent_id: agent,
      time: p.due,
      summary:
        `${mine.length} users agent ${agent} acted for within the day were flagged at medium or high risk within ${formatDuration(FANIN_WINDOW_MS)} (${mine.slice(0, 5).join(', ')}${mine.length > 5 ? ', ...' : ''}), ` +
        `${mine.length} of the ${all} users flagged in the tenant then, where it serves ${its} of ${population}: the agent is how they were reached`,
      evidence: {
        observed: { flagged_users_served: mine.length, users: mine.slice(0, 16), tenant_users_flagged: all },
        baseline: { users_served: its, tenant_users_active: population },
        threshold: `${FANIN_USERS} of its users flagged within ${formatDuration(FANIN_WINDOW_MS)}, half or more of the tenant's flagged users and twice its share of the tenant's users (judged ${formatDuration(FANIN_HOLD_MS)} later), an agent serving under half of them`,
        peer_group: peerGroupName(ctx.agent(p.tenant_id, agent)?.blueprint_id ?? null),
      },
      event_ids: ids.slice(0, 16),
    };
  }

  /** Starts (rank ≥ 2) or stops watching the user's unexpired tokens. */
  function watchTokens(tenant: string, u: UserState, user: string, rank: number, t: number): void {
    for (let i = 0; i < u.tokens.length; i++) {
      if (rank < 2) watched.delete(tenant, u.tokens[i]!);
      else if (u.tokenExp[i]! > t) watched.set(tenant, u.tokens[i]!, { at: u.tokenExp[i]!, user, agent: u.tokenAgents[i]!, issuedBy: u.tokenEvents[i]! });
    }
  }

  function rememberToken(u: UserState, e: { token_id: string; agent_id: string; time: number; lifetime_s: number; event_id: string }): void {
    // A ring: overwriting the oldest slot costs no array shifts on this per-token path.
    const i = u.tokenNext;
    u.tokens[i] = e.token_id;
    u.tokenAgents[i] = e.agent_id;
    u.tokenExp[i] = e.time + e.lifetime_s * 1000;
    u.tokenEvents[i] = e.event_id;
    u.tokenNext = (i + 1) % TOKENS_PER_USER;
  }

  /** A network event using a watched token: its agent inherits the user's current risk. */
  function onTokenUse(e: AgentEvent & { type: 'network' }, ctx: DetectorContext): Detection[] {
    const w = watched.get(e.tenant_id, e.token_id!);
    if (w === undefined || w.agent !== e.agent_id) return NO_DETECTIONS;
    if (e.time > w.at) {
      watched.delete(e.tenant_id, e.token_id!);
      return NO_DETECTIONS;
    }
    const level = ctx.userRisk(e.tenant_id, w.user);
    const rank = RANK[level];
    const u = users.get(e.tenant_id, identityKey(w.user));
    if (rank < 2 || u === undefined || !markNotified(u, e.agent_id, rank)) return NO_DETECTIONS;
    const how = `kept using token ${e.token_id} (to ${e.dest_host}), obtained`;
    return [notify(e.tenant_id, e.agent_id, w.user, level, e.time, how, [w.issuedBy, e.event_id], blueprintOf(e, ctx), u.account === e.agent_id)];
  }

  function notify(
    tenant: string,
    agent: string,
    user: string,
    level: RiskLevel,
    time: number,
    how: string,
    ids: string[],
    bp: string | null,
    /** The agent is the user account itself (an agent user account), not acting for someone. */
    own: boolean,
  ): Detection {
    const severity: Severity = level === 'high' ? 'high' : 'medium';
    return {
      detector: 'risky-user-signin',
      severity,
      tenant_id: tenant,
      agent_id: agent,
      time,
      summary: own
        ? `Agent user account ${agent} ${how}, and its own user risk is ${level}`
        : `Agent ${agent} ${how} on behalf of user ${user}, whose risk is ${level}`,
      evidence: {
        observed: { user_id: user, user_risk: level },
        baseline: 'delegated access only for users at risk none or low',
        threshold: 'user risk medium',
        peer_group: peerGroupName(bp),
        user_id: user,
      },
      event_ids: ids,
    };
  }

  /** Marks `agent` notified at `rank`; returns false when it already was at that rank or above. */
  function markNotified(u: UserState, agent: string, rank: number): boolean {
    const i = u.notified.indexOf(agent);
    if (i >= 0) {
      if (u.notifiedLevel[i]! >= rank) return false;
      u.notifiedLevel[i] = rank;
      return true;
    }
    if (u.notified.length >= 256) {
      u.notified.shift();
      u.notifiedLevel.shift();
    }
    u.notified.push(agent);
    u.notifiedLevel.push(rank);
    return true;
  }

  function observe(e: AgentEvent, ctx: DetectorContext): Detection[] {
    if (e.type === 'network') return watched.size === 0 || e.token_id === null ? NO_DETECTIONS : onTokenUse(e, ctx);
    if (e.type === 'user_risk') {
      const level = ctx.userRisk(e.tenant_id, e.user_id);
      const key = identityKey(e.user_id);
      const rank = RANK[level];
      if (RANK[e.level] >= 2) noteFlagged(e.tenant_id, key, e.time, e.event_id);
      const u = users.get(e.tenant_id, key);
      if (!u) return NO_DETECTIONS;
      if (e.time > u.at) u.at = e.time;
      watchTokens(e.tenant_id, u, e.user_id, rank, e.time);
      if (rank < 2) {
        u.notified = [];
        u.notifiedLevel = [];
        return NO_DETECTIONS;
      }
      let out: Detection[] | null = null;
      for (let i = 0; i < u.agents.length; i++) {
        const agent = u.agents[i]!;
        // The account's own risk is the agent's at once; agents acting for a user, when they act again
        // (or, with lookbackMs, if they acted recently). A verdict from another feed may arrive after
        // acts stamped later than itself (up to the allowed lateness): those acted for a risky user.
        const own = u.account === agent;
        const actedAfter = u.times[i]! >= e.time;
        if (!own && !actedAfter && (o.lookbackMs <= 0 || e.time - u.times[i]! > o.lookbackMs)) continue;
        if (!markNotified(u, agent, rank)) continue;
        const bp = ctx.agent(e.tenant_id, agent)?.blueprint_id ?? null;
        const how = own
          ? `was flagged (${e.reason ?? 'no reason given'})`
          : actedAfter
            ? `acted ${formatDuration(u.times[i]! - e.time)} after the user's risk rose (the verdict arrived late)`
            : 'recently acted';
        (out ??= []).push(notify(e.tenant_id, agent, e.user_id, level, actedAfter && !own ? u.times[i]! : e.time, how, [u.eventIds[i]!, e.event_id], bp, own));
      }
      if (RANK[e.level] >= 2) fanIn(e.tenant_id, u, e.time);
      return out ?? NO_DETECTIONS;
    }

    let user: string | null;
    let how: string;
    if (e.type === 'signin') {
      if (e.result !== 'success' || e.flow === 'client_credentials') return NO_DETECTIONS;
      user = actingUser(e);
      how = `signed in to ${e.resource}`;
    } else if (e.type === 'token') {
      if (e.decision !== 'granted') return NO_DETECTIONS;
      user = actingUser(e);
      how = `obtained a token for ${e.resource}`;
    } else return NO_DETECTIONS;
    if (user === null) return NO_DETECTIONS;

    const t = e.time;
    const key = identityKey(user);
    let u = users.get(e.tenant_id, key);
    if (!u) {
      u = { at: t, agents: [], times: [], eventIds: [], notified: [], notifiedLevel: [], tokenNext: 0, tokens: [], tokenAgents: [], tokenExp: [], tokenEvents: [] };
      users.set(e.tenant_id, key, u);
    }
    if (t > u.at) u.at = t;
    if (e.flow === 'agent_user') u.account = e.agent_id;
    const i = u.agents.indexOf(e.agent_id);
    const firsts = u.firsts ?? (u.firsts = u.times.slice());
    if (i >= 0) {
      if (t - u.times[i]! > FANIN_SERVED_MS) firsts[i] = t; // a new run of service
      else if (t < firsts[i]!) firsts[i] = t;
      if (t >= u.times[i]!) {
        u.times[i] = t;
        u.eventIds[i] = e.event_id;
      }
    } else {
      if (u.agents.length >= o.agentsPerUser) {
        u.agents.shift();
        u.times.shift();
        u.eventIds.shift();
        firsts.shift();
      }
      u.agents.push(e.agent_id);
      u.times.push(t);
      u.eventIds.push(e.event_id);
      firsts.push(t);
    }

    if (e.type === 'token') rememberToken(u, e);
    const level = ctx.userRisk(e.tenant_id, user);
    const rank = RANK[level];
    if (rank < 2 || !markNotified(u, e.agent_id, rank)) return NO_DETECTIONS;
    return [notify(e.tenant_id, e.agent_id, user, level, t, how, [e.event_id], blueprintOf(e, ctx), u.account === e.agent_id)];
  }

  return {
    types: ['user_risk', 'signin', 'token', 'network'] as const,
    meta: {
      id: 'risky-user-signin',
      title: 'Delegated access for a risky user',
      severity: 'medium',
      description:
        'An agent signs in or obtains a token on behalf of a user whose current user risk is medium or high (severity follows the user), or keeps using a token it obtained for the user before the risk rose, once per agent and risk episode. Risk fan-in: 3 or more users the agent acted for within the day before their first verdict (not a self-service reset they were sent to once flagged) flagged medium or high within an hour, half or more of the users flagged in the tenant then and twice the agent\'s share of its users, for an agent serving under half of the tenant\'s users, is medium for the agent itself (it is how they were reached: a lure it sent, a tool phishing through it), judged 5 minutes after the third verdict, once per 6 hours. A verdict that arrives after on-behalf-of acts stamped later than itself (another feed, up to the allowed lateness) reaches those agents when it lands. The agent inherits the risk while it lasts and drops it when the user is remediated. An agent user account acting as itself (flow `agent_user`) has the user risk of its own account, from the moment the verdict lands.',
      mitre: { id: 'T1078', name: 'Valid Accounts' },
    },
    observe,
    advance: (watermark: number, ctx: DetectorContext) => fanPending.takeDue(watermark, (p) => decideFanIn(p, ctx)),
    settle: (ctx: DetectorContext) => fanPending.takeDue(Infinity, (p) => decideFanIn(p, ctx)),
    evict(before) {
      users.evict(before);
      watched.evict(before);
      fanIns.evict(before);
      fanPending.evict(before);
      for (const [tenant, f] of flagged) {
        let n = 0;
        while (n < f.times.length && f.times[n]! < before) n++;
        if (n === f.times.length) flagged.delete(tenant);
        else if (n > 0) {
          f.users.splice(0, n);
          f.times.splice(0, n);
          f.ids.splice(0, n);
        }
      }
    },
    size: () => users.size + watched.size + fanIns.size + flagged.size + fanPending.size,
    snapshot: () => ({ users: clone(users.snapshot()), watched: clone(watched.snapshot()), flagged: clone([...flagged]), fanIns: clone(fanIns.snapshot()), fanPending: clone(fanPending.snapshot()) }),
    restore(s) {
      // Users of older snapshots have no token lists.
      users.restore(clone(s.users).map(([t, k, u]) => [t, k, { ...u, tokenNext: u.tokenNext ?? 0, tokens: u.tokens ?? [], tokenAgents: u.tokenAgents ?? [], tokenExp: u.tokenExp ?? [], tokenEvents: u.tokenEvents ?? [] }]));
      watched.restore(clone(s.watched ?? []));
      flagged.clear();
      for (const [tenant, f] of clone(s.flagged ?? [])) flagged.set(tenant, f);
      fanIns.restore(clone(s.fanIns ?? []));
      fanPending.restore(clone(s.fanPending ?? []));
    },
  };
}

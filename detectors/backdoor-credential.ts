// Detector 15 — backdoor-credential: a credential added to an agent by
// someone who does not vouch for it, used from another network while the
// agent's own credential stays in use.
//
// The classic persistence on an application identity (T1098.001): an
// attacker with an administrator role adds a secret or certificate of his own
// to an agent and signs in with it from his host. The agent keeps working
// with its own credential from its own host, so two credentials are in use
// at once from two networks. Each sign-in on its own looks ordinary: same
// cloud, same country, the SDK's user agent copied, the credential added
// through the directory like any rotation. What no rotation does is run the
// old and the new credential side by side from different places:
// - a rotation replaces the credential where the agent runs (both from the
//   same /24 or /48 while the new one rolls out);
// - a migration moves the agent: the old credential stops where it was.
//
// Vouching (see isSanctionedActor): a credential added by one of the agent's
// sponsors appointed by someone else is theirs to add. For an agent known to
// have lost its last sponsor (orphaned) nobody vouches, and a sponsor who
// appointed himself on such an agent vouches for nothing either (see the
// directory): both are how an ownerless agent is taken over. A user at
// medium or high user risk vouches for nothing. Nor does a sponsor for a
// credential it adds within the hour after its appointment (sponsor_added,
// an hour or more after the agent appeared: not its owner set up with it):
// a compromised administrator appointing an account of the attacker's as a
// sponsor, so that the credential it then adds looks vouched for (a sponsor
// taking over an agent rotates it where the agent runs, which this rule never
// reports). Its credential used from outside the /24 of the agent's own
// credential's latest use (within 90 minutes) is medium at once, without
// waiting for the own credential's next use; so is a credential an agent
// added to itself (addPassword on its own identity: an injected tool call
// keeping a way back in), whenever it is first used from elsewhere.
//
// Rule: a successful sign-in with a credential added within the last 7 days
// by an actor who does not vouch for it, from outside the /24 (IPv6 /48) of
// the latest use of another credential of the agent; that other credential,
// in use before (seen before, or not added to the agent since: the watch may
// begin with the thief's first sign-in, seconds after the addition, or after
// it when the addition is delivered late: the directory's sighting of the
// credential used before tells the uses the watch missed), is used
// again after the added one's first use and within
// 90 minutes of its latest use → medium, once per added credential. (An
// agent caching its tokens signs in about once an hour: its own credential's
// next sign-in may come that late.) A managed identity's own credential is
// in use for a day after its latest sign-in without signing in again (the
// platform hands it tokens that live a day, where it runs): a credential
// added to it (a federated credential planted on a backup identity) used
// from another subnet within that day is medium at its first use.
//
// Provisioning: the actor that created the agent for its sponsor (a
// provisioning pipeline) gives it its first credential within the hour; that
// credential is the agent's own, as if its sponsor had added it.
//
// The blueprint's credential: an agent of a blueprint also signs in with a
// credential added to its blueprint's principal (the principal's certificate
// exchanged for the agent's token, a federated sign-in presenting it). Added
// by someone whom neither the agent's sponsors nor the principal's vouch for,
// it is judged as if added to the agent: a phished application administrator
// planting a certificate on the blueprint reaches every agent of it, and no
// addition to an agent shows it.
//
// A swap: the actor adds his credential and removes the agent's; the agent's
// workload, still running where it ran, keeps presenting its credential and
// is rejected (invalid or expired credential). Those rejected attempts count
// as the own credential in use: the added one used from another subnet
// within 90 minutes of them is medium too. A migration stops the old
// workload; a rotation puts the new credential to use where the agent runs.
//
// The actor, when it is another agent of the tenant (an agent with owner
// rights over others, Application.ReadWrite.OwnedBy: the Midnight Blizzard
// pivot), is medium too: its rights were the intruder's way in. Such an
// actor's credential used from the actor's own sign-in /24 (not one where the
// agent itself signed in: two agents behind one NAT gateway) is medium at
// once for both: the agent that minted it signs in as the agent it owns (a
// poisoned pipeline validating the secrets it planted from its runner).
// A credential added by someone who does not vouch for it and used from a
// rented hosting network (a hosting provider's other than the hyperscalers',
// where organisations run their workloads) that the agent's own credential,
// in use within 90 minutes, does not sign in from is medium at once too,
// for both: an intruder validates his credential from a box rented by the
// hour, and the agent's own may not sign in again before he is done.
//
// A spree: one actor adding credentials to 4 or more agents within 10
// minutes: an administrator account planting credentials across the fleet
// before it uses any, which no single agent's view shows. Each agent of it is
// judged 10 minutes after its addition: low, unless the agent has signed in
// with the actor's new credential from the subnet it signed in from before
// (a rotation: an administrator renewing expired secrets fleet-wide, put
// to use where the agents run), or the agent was created within the hour
// before and the actor is its sponsor (provisioning: a sponsor standing up
// several agents gives each its first credential). An actor whose sprees began 12 hours or more
// before is a rotation principal renewing credentials on its schedule:
// nothing.
//
// A wipe: one actor removing credentials from 4 or more agents within 10
// minutes that it does not sponsor, none of them given a credential in the
// day before (no rotation: nothing replaced what was removed), is low on each
// at once: an administrator account locking the fleet out (sabotage,
// extortion; T1531 Account Access Removal), the agents' next sign-ins failing.
// A rotation principal (sprees 12 hours or more apart) removes old
// credentials on its schedule: nothing.
//
// State: only for agents with a credential added by an actor who does not
// vouch for it within the last 7 days (rare): the latest use of up to 4
// credentials; per credential added, its holder, blueprint and actor; per
// agent created by someone other than its sponsor, its creator. Every other
// sign-in costs an array length check and a map lookup.

import type { AgentEvent, LifecycleEvent, SigninEvent } from '../contract/events.js';
import type { Detection, DetectorMeta } from './types.js';
import type { AgentInfo, Detector, DetectorContext } from './detector.js';
import { ALLOWED_LATENESS_MS, identityKey, isRiskyActor, isSanctionedActor, isVouchingSponsor, ownSigninAddress, peerGroupName, unvouchedAddition } from './detector.js';
import { sameSubnet, wideNetworkOf } from './addresses.js';
import { isRentedNetwork } from './unfamiliar-signin-properties.js';
import { AgentStore, NO_DETECTIONS, TenantMap, sec, type SlotState } from './agent-directory.js';
import { ActorSprees, unreported, type ActorSpreesSnapshot } from './actor-sprees.js';
import { DueQueue } from './due-queue.js';
import { classifyFailure } from './failed-access.js';

/** A credential its sponsor adds within this long of its appointment (sponsor_added) is not vouched for, ms. */
const FRESH_SPONSOR_MS = 60 * 60_000;

/** A credential its sponsor adds to an agent within this long of the agent's creation is its provisioning, ms. */
const PROVISIONING_MS = 60 * 60_000;

export interface BackdoorCredentialOptions {
  /** A credential added this long ago or less is watched, ms. */
  addedWithinMs?: number;
  /** The agent's other credential used within this long of the added one's latest use: both in use, ms. */
  concurrentMs?: number;
  /** A spree: credentials added by one actor to this many agents within spreeWindowMs; a rotation principal went on sprees rotatorAfterMs before. */
  spreeAgents?: number;
  spreeWindowMs?: number;
  rotatorAfterMs?: number;
  /** Each agent of a spree is judged this long after its addition (see the header), ms. */
  spreeConfirmMs?: number;
  maxAgents?: number;
}

const DEFAULTS: Required<BackdoorCredentialOptions> = {
  addedWithinMs: 7 * 24 * 3_600_000,
  concurrentMs: 90 * 60_000,
  spreeAgents: 4,
  spreeWindowMs: 10 * 60_000,
  rotatorAfterMs: 12 * 3_600_000,
  spreeConfirmMs: 10 * 60_000,
  maxAgents: 2_000_000,
};

/**
 * A managed identity's credential counts as in use this long after its
 * latest sign-in, ms. The platform holds it where the agent runs and hands
 * the agent tokens that live a day: the workload signs in about once a day
 * and keeps working meanwhile, so no second sign-in shows it still there.
 * Nobody rotates or moves it either: a credential added to a managed
 * identity and used elsewhere runs beside it.
 */
const MANAGED_IN_USE_MS = 24 * 3_600_000;

/** A credential added this long before a removal replaced it (a rotation), ms. */
const REPLACEMENT_MS = 24 * 3_600_000;

/** Credentials remembered per watched agent. */
const MAX_CREDENTIALS = 4;

/** The latest use of one credential of a watched agent. */
interface CredentialUse {
  credential_id: string;
  ip: string;
  /** First and latest successful sign-in with it (epoch ms), and the latest's event id. */
  first: number;
  last: number;
  event_id: string;
  firstEventId: string;
  /** Who added it, when it was added by an actor who does not vouch for it (else null). */
  addedBy: string | null;
  addedAt: number;
  fired: boolean;
  /** The latest use was a failed attempt with a rejected credential (the agent's workload locked out where it runs); absent: false. */
  locked?: boolean;
  /** A managed identity's credential (see MANAGED_IN_USE_MS); absent: false. */
  managed?: true;
  /** The network (AS number) of its latest sign-in seen; absent: unknown (a use seeded from the directory, an older snapshot). */
  asn?: number;
  /** The identity of the agent's blueprint the credential was added to (its blueprint principal), when not the agent; absent: the agent. */
  holder?: string;
}

interface WatchState extends SlotState {
  uses: CredentialUse[];
}

interface Snapshot {
  agents: [string, string, WatchState][];
  /** Absent from snapshots taken before it was kept. */
  sprees?: ActorSpreesSnapshot;
  /** Agents already reported for a spree (tenant, agent), absent likewise. */
  spreeReported?: [string, string, { at: number }][];
  /** Spree findings waiting for their agent to show a rotation, absent likewise. */
  spreePending?: PendingSpree[];
  /** Credential removals per actor, and the agents reported for a wipe; absent likewise. */
  wipes?: ActorSpreesSnapshot;
  wipeReported?: [string, string, { at: number }][];
  /** Each agent's latest sponsor appointment (sponsor key, time as at); absent likewise. */
  appointed?: [string, string, { at: number; s: string }][];
  /** Agents created by someone other than their sponsor (creator key, creation time as at); absent likewise. */
  creators?: [string, string, { at: number; s: string }][];
  /** Credentials added to any identity, by credential id (see Addition); absent likewise. */
  additions?: [string, string, Addition][];
}

/** A credential added to an identity of the tenant: when (as at), to which (h), of which blueprint (b), by whom (s). */
interface Addition {
  at: number;
  h: string;
  b: string;
  s: string;
}

/** A spree finding waiting to see whether its agent puts the new credential to use where it runs. */
interface PendingSpree {
  tenant_id: string;
  agent_id: string;
  due: number;
  actor: string;
  /** When the spree was seen (the agent's addition at or before it). */
  since: number;
  d: Detection;
}

export const backdoorCredentialMeta: DetectorMeta = {
  id: 'backdoor-credential',
  title: "Added credential used beside the agent's own",
  severity: 'medium',
  mitre: { id: 'T1098.001', name: 'Account Manipulation: Additional Cloud Credentials' },
  description:
    'A credential added to an agent within the last 7 days by someone who does not vouch for it (not a sponsor appointed by someone else, who was not at medium or high risk then, more than an hour before adding it; for an agent that lost its last sponsor, anyone, including a sponsor who appointed himself; or a user at medium or high user risk) ' +
    "signs in from outside the /24 (IPv6 /48) of the agent's other credential, while that credential stays in use: used again after the added one's first use and within 90 minutes of its latest use (an agent caching its tokens signs in about hourly; medium), or a managed identity's, signed in within the day before (its tokens live a day: medium at the added one's first use), or presented and rejected as invalid or expired there (a swap: the actor removed the agent's credential and its workload is locked out). " +
    "A credential the agent's creator (not its sponsor) adds within the hour of creating it is provisioning: the agent's own. A credential added to the blueprint's principal by someone neither the agent's nor the principal's sponsors vouch for, presented by an agent of the blueprint (a federated sign-in), is judged as if added to the agent. " +
    "When the actor is another agent of the tenant (owner rights over other agents), it is medium too; at once, for both, when the credential is used from that agent's own sign-in /24 (not one the target signs in from): it signs in as the agents it owns. So is one used from a rented hosting network (a hosting provider's other than Microsoft's, AWS's and Google's) that the agent's own credential, in use within the 90 minutes before, does not sign in from: an intruder validating what he planted from a machine rented by the hour. " +
    'One actor adding credentials to 4 or more agents within 10 minutes is low on each, 10 minutes later (credentials planted across the fleet), unless the agent signed in with the new credential from the subnet it signed in from before (a rotation in place), its sponsor added it within the hour of the agent\'s creation (provisioning) or the actor\'s sprees began 12 hours or more before (a rotation principal). ' +
    'A rotation replaces the credential where the agent runs, a migration moves the agent; an attacker\'s added secret or certificate runs beside the agent\'s own, from his host. ' +
    'One actor removing credentials from 4 or more agents it does not sponsor within 10 minutes, none of them given a credential in the day before, is low on each (the fleet locked out: sabotage), unless its sprees began 12 hours or more before.',
};

export function createBackdoorCredentialDetector(options: BackdoorCredentialOptions = {}): Detector<Snapshot> {
  const o = { ...DEFAULTS, ...options };
  const agents = new AgentStore<WatchState>(o.maxAgents);
  const sprees = new ActorSprees();
  /** Agents reported for a spree (once per agent while it is remembered). */
  const spreeReported = new TenantMap<{ at: number }>(o.maxAgents);
  const spreePending = new DueQueue<PendingSpree>(65_536);
  /** Credential removals per actor (wipes), and the agents reported for one. */
  const wipes = new ActorSprees('credential_removed');
  const wipeReported = new TenantMap<{ at: number }>(o.maxAgents);
  /** Each agent's latest sponsor appointment: the sponsor (identityKey) and when (ms, as `at`). */
  const appointed = new TenantMap<{ at: number; s: string }>(o.maxAgents);
  /** Agents created by someone other than their sponsor: the creator (identityKey) and when (ms, as `at`). What it adds within the hour is provisioning. */
  const creators = new TenantMap<{ at: number; s: string }>(o.maxAgents);
  /**
   * Every credential added, by its id. An agent signs in with its blueprint's credential too: the blueprint
   * principal's certificate exchanged for the agent's token (a federated sign-in presenting it). A credential added
   * to the principal is a way into every agent of the blueprint, where no addition to the agent shows.
   */
  const additions = new TenantMap<Addition>(o.maxAgents);

  /**
   * The latest addition of `cid` within the window before `t` by someone who
   * does not vouch for it (see unvouchedAddition), or by a sponsor appointed
   * within FRESH_SPONSOR_MS before adding it; null when none.
   */
  function unvouched(info: AgentInfo, cid: string, t: number, ctx: DetectorContext): AgentInfo['credentials_added'][number] | null {
    const found = unvouchedAddition(info, cid, t, o.addedWithinMs, ctx);
    if (found !== null) return byCreator(info, found.actor, found.time, ctx) ? null : found;
    const ap = appointed.get(info.tenant_id, info.agent_id);
    if (ap === undefined) return null;
    let fresh: AgentInfo['credentials_added'][number] | null = null;
    for (const c of info.credentials_added) {
      if (c.credential_id !== cid || t - c.time > o.addedWithinMs) continue;
      if (identityKey(c.actor) !== ap.s || c.time < ap.at || c.time - ap.at > FRESH_SPONSOR_MS) return null; // (also) added by a sponsor of longer standing
      if (fresh === null || c.time > fresh.time) fresh = c;
    }
    return fresh;
  }

  /**
   * True when `actor` created the agent (its sponsor being someone else) and `time` is within the hour after,
   * and is not at medium or high user risk: the provisioning pipeline giving a new agent its first credential,
   * as its sponsor would.
   */
  function byCreator(info: AgentInfo, actor: string, time: number, ctx: DetectorContext): boolean {
    const c = creators.get(info.tenant_id, info.agent_id);
    return c !== undefined && c.s === identityKey(actor) && time >= c.at && time - c.at <= PROVISIONING_MS && !isRiskyActor(ctx, info.tenant_id, actor);
  }

  /**
   * The addition of `cid`, within the window before `t`, to another identity of the agent's blueprint (its
   * principal), when neither the agent's sponsors nor that identity's vouch for its actor (nor did its creator
   * add it as it set the identity up); null when none, when it was added to the agent itself (see unvouched), or
   * vouched for.
   */
  function borrowed(info: AgentInfo, cid: string, t: number, ctx: DetectorContext): Addition | null {
    if (info.blueprint_id === null || additions.size === 0) return null;
    const a = additions.get(info.tenant_id, cid);
    if (a === undefined || a.h === info.agent_id || a.b !== info.blueprint_id || t - a.at > o.addedWithinMs || a.at - t > ALLOWED_LATENESS_MS) return null;
    for (const c of info.credentials_added) if (c.credential_id === cid) return null;
    if (isSanctionedActor(info, a.s, ctx)) return null;
    const holder = ctx.agent(info.tenant_id, a.h);
    if (holder !== undefined && ((holder.sponsors.length > 0 && isSanctionedActor(holder, a.s, ctx)) || byCreator(holder, a.s, a.at, ctx))) return null;
    return a;
  }

  /** When the credential's adder was appointed sponsor within FRESH_SPONSOR_MS before adding it: that appointment's time, else null. */
  function freshSponsorSince(info: AgentInfo, added: CredentialUse): number | null {
    const ap = appointed.get(info.tenant_id, info.agent_id);
    if (ap === undefined || added.addedBy === null || identityKey(added.addedBy) !== ap.s || added.addedAt < ap.at || added.addedAt - ap.at > FRESH_SPONSOR_MS) return null;
    return ap.at;
  }

  /** A credential removed: one more agent in its actor's wipe? Low at once for each agent of it that got no replacement. */
  function onCredentialRemoved(e: LifecycleEvent, ctx: DetectorContext): Detection[] {
    wipes.note(e);
    const wipe = wipes.spree(e.tenant_id, e.actor, e.time, o.spreeWindowMs, o.spreeAgents, o.rotatorAfterMs);
    if (wipe === null || wipe.repeated) return NO_DETECTIONS;
    const actor = identityKey(e.actor);
    // Agents the actor sponsors, or that got a credential in the day before (a rotation: removal after
    // replacement), do not count.
    const wiped = wipe.agentIds.filter((id) => {
      const info = id === '' ? undefined : ctx.agent(e.tenant_id, id);
      if (info === undefined) return false;
      if (info.sponsors.some((sp) => identityKey(sp) === actor)) return false;
      return !info.credentials_added.some((c) => c.time <= e.time && e.time - c.time <= REPLACEMENT_MS);
    });
    if (wiped.length < o.spreeAgents) return NO_DETECTIONS;
    const out: Detection[] = [];
    for (const agentId of unreported(wipeReported, e.tenant_id, wiped, e.time)) {
      out.push({
        detector: backdoorCredentialMeta.id,
        severity: 'low',
        tenant_id: e.tenant_id,
        agent_id: agentId,
        time: e.time,
        summary: `${e.actor}, a sponsor of none of them, removed credentials from ${wiped.length} agents within ${o.spreeWindowMs / 60_000} min, this one among them, replacing none (the agents locked out: sabotage?)`,
        evidence: {
          observed: { actor: e.actor, agents: wiped.length, window_ms: o.spreeWindowMs, action: 'credential_removed' },
          baseline: 'a rotation removes a credential after adding its replacement; a rotation principal works on a schedule (sprees 12 h or more apart)',
          threshold: o.spreeAgents,
          peer_group: null,
          spree_agents: wiped.slice(0, 16),
          mitre: 'T1531 Account Access Removal',
        },
        event_ids: [e.event_id],
      });
    }
    return out;
  }

  /**
   * A spree finding whose time came: none when the agent signed in since
   * with a credential the actor added, from the subnet of its sign-in
   * before (a rotation in place); else low, dated when due.
   */
  function decideSpree(p: PendingSpree, ctx: DetectorContext): Detection | null {
    const info = ctx.agent(p.tenant_id, p.agent_id);
    // A new agent's first credential, added by its sponsor within the hour of its creation: provisioning, not planting
    // (a sponsor standing up several agents at once gives each its credential).
    if (info !== undefined && info.created_seen && p.since - info.first_seen <= PROVISIONING_MS && (isVouchingSponsor(info, p.actor, ctx) || byCreator(info, p.actor, p.since, ctx))) return null;
    const cur = info?.signin_cred ?? null;
    const prev = info?.signin_cred_prev ?? null;
    if (info !== undefined && cur !== null && prev !== null && cur.time >= p.since - o.spreeWindowMs && sameSubnet(cur.ip, prev.ip)) {
      const actor = identityKey(p.actor);
      if (info.credentials_added.some((c) => c.credential_id === cur.credential_id && identityKey(c.actor) === actor)) return null;
    }
    return { ...p.d, time: p.due };
  }

  /** A credential added: one more agent in its actor's spree? Low for each agent of a spree not yet reported. */
  function onCredentialAdded(e: LifecycleEvent): Detection[] {
    sprees.note(e);
    const spree = sprees.spree(e.tenant_id, e.actor, e.time, o.spreeWindowMs, o.spreeAgents, o.rotatorAfterMs);
    if (spree === null || spree.repeated) return NO_DETECTIONS;
    for (const agentId of unreported(spreeReported, e.tenant_id, spree.agentIds, e.time)) {
      const d: Detection = {
        detector: backdoorCredentialMeta.id,
        severity: 'low',
        tenant_id: e.tenant_id,
        agent_id: agentId,
        time: e.time,
        summary: `${e.actor} added credentials to ${spree.agentIds.length} agents within ${o.spreeWindowMs / 60_000} min, this one among them (credentials planted across the fleet?)`,
        evidence: {
          observed: { actor: e.actor, agents: spree.agentIds.length, window_ms: o.spreeWindowMs },
          baseline: 'one person adds a credential to one agent; a rotation principal renews them on a schedule (sprees 12 h or more apart)',
          threshold: o.spreeAgents,
          peer_group: null,
          spree_agents: spree.agentIds.slice(0, 16),
        },
        event_ids: [e.event_id],
      };
      spreePending.add({ tenant_id: e.tenant_id, agent_id: agentId, due: e.time + o.spreeConfirmMs, actor: e.actor, since: e.time, d });
    }
    return NO_DETECTIONS;
  }

  /** True when the credential was added to the agent at `since` or later (a newer credential, not the agent's own of before). */
  function addedSince(info: AgentInfo, credentialId: string, since: number): boolean {
    for (const c of info.credentials_added) if (c.credential_id === credentialId && c.time >= since) return true;
    return false;
  }

  /** True when the agent has a credential added within the window by an actor who does not vouch for it. */
  function watched(info: AgentInfo, t: number, ctx: DetectorContext): boolean {
    for (const c of info.credentials_added) {
      if (c.credential_id !== null && unvouched(info, c.credential_id, t, ctx) !== null) return true;
    }
    return false;
  }

  function record(w: WatchState, e: SigninEvent, info: AgentInfo, ctx: DetectorContext): CredentialUse {
    const t = e.time;
    const cid = e.credential_id!;
    for (const u of w.uses) {
      if (u.credential_id !== cid) continue;
      if (t >= u.last) {
        u.last = t;
        u.ip = e.ip;
        u.event_id = e.event_id;
        u.locked = e.result !== 'success';
        if (e.asn !== null) u.asn = e.asn;
      }
      if (t < u.first) {
        u.first = t;
        u.firstEventId = e.event_id;
      }
      return u;
    }
    const use = firstUse(cid, e.ip, t, e.event_id, e.credential_type === 'managed_identity', info, ctx);
    if (e.result !== 'success') use.locked = true;
    if (e.asn !== null) use.asn = e.asn;
    if (w.uses.length >= MAX_CREDENTIALS) {
      // The least recently used goes.
      let victim = 0;
      for (let i = 1; i < w.uses.length; i++) if (w.uses[i]!.last < w.uses[victim]!.last) victim = i;
      w.uses.splice(victim, 1);
    }
    w.uses.push(use);
    return use;
  }

  /**
   * A watch begins at the first sign-in after an addition is known; the
   * addition may have been delivered late (the audit log lags the sign-in
   * log), after the added credential's first use, or the agent's own
   * credential may have been used just before. The directory's sighting of
   * the credential used before this one is that use: without it, an own
   * credential used between the thief's first sign-in and the late
   * addition would only count at its next use, up to an hour later.
   */
  function seedPrevious(w: WatchState, e: SigninEvent, info: AgentInfo, ctx: DetectorContext): void {
    const prev = info.signin_cred_prev ?? null;
    if (prev === null || prev.credential_id === e.credential_id || Math.abs(e.time - prev.time) > (prev.managed === true ? MANAGED_IN_USE_MS : o.concurrentMs)) return;
    w.uses.push(firstUse(prev.credential_id, prev.ip, prev.time, prev.event_id, prev.managed === true, info, ctx));
  }

  /** A credential's first use seen (a managed identity's when `managed`), with who added it when that was someone who does not vouch for it. */
  function firstUse(cid: string, ip: string, t: number, eventId: string, managed: boolean, info: AgentInfo, ctx: DetectorContext): CredentialUse {
    const added = unvouched(info, cid, t, ctx);
    const lent = added === null ? borrowed(info, cid, t, ctx) : null;
    const use: CredentialUse = {
      credential_id: cid,
      ip,
      first: t,
      last: t,
      event_id: eventId,
      firstEventId: eventId,
      addedBy: added !== null ? added.actor : lent !== null ? lent.s : null,
      addedAt: added !== null ? added.time : lent !== null ? lent.at : 0,
      fired: false,
    };
    if (managed) use.managed = true;
    if (lent !== null) use.holder = lent.h;
    return use;
  }

  /**
   * The other credential `added` runs beside: in use before the added one's
   * first use (seen then, or not added to the agent since the added one was:
   * the watch may begin with the thief's first sign-in), used again after
   * it, within concurrentMs of its latest use, from another subnet. Null
   * when none.
   */
  function besideOwn(w: WatchState, added: CredentialUse, info: AgentInfo): CredentialUse | null {
    for (const own of w.uses) {
      if (own === added || own.addedBy !== null) continue;
      if (own.managed === true) {
        // In use without signing in again (see MANAGED_IN_USE_MS).
        if (added.first - own.last > MANAGED_IN_USE_MS || added.first < own.first) continue;
      } else {
        if (own.last <= added.first) continue;
        if (own.first >= added.first && addedSince(info, own.credential_id, added.addedAt)) continue;
        if (Math.abs(own.last - added.last) > o.concurrentMs) continue;
      }
      if (sameSubnet(own.ip, added.ip)) continue;
      return own;
    }
    return null;
  }

  /**
   * The finding, and one for the actor when the actor is another agent of the
   * tenant (its id is in the directory): an agent with owner rights over
   * others (Application.ReadWrite.OwnedBy, an app owner) that mints a
   * credential then used beside the target's own is itself taken over, its
   * rights the intruder's way into the next agent. Medium for both.
   */
  function withActor(d: Detection, added: CredentialUse, ctx: DetectorContext, actorSummary?: string): Detection[] {
    const actor = added.addedBy;
    if (actor === null || actor === d.agent_id || ctx.agent(d.tenant_id, actor) === undefined) return [d];
    return [
      d,
      {
        ...d,
        agent_id: actor,
        summary:
          actorSummary ??
          `Agent ${actor} added credential ${added.credential_id} to agent ${d.agent_id}, which is then used from ${added.ip} beside that agent's own credential: its owner rights over other agents are an intruder's way into them`,
        evidence: { ...d.evidence, observed: { ...(d.evidence.observed as Record<string, unknown>), target_agent_id: d.agent_id } },
      },
    ];
  }

  /** The agent's own credential (none that someone who does not vouch for it added) used most recently, other than `added`; null when none. */
  function latestOwn(w: WatchState, added: CredentialUse): CredentialUse | null {
    let own: CredentialUse | null = null;
    for (const u of w.uses) if (u.addedBy === null && u !== added && (own === null || u.last > own.last)) own = u;
    return own;
  }

  /**
   * The use of a credential added by a sponsor appointed within the hour
   * before (see FRESH_SPONSOR_MS), from outside the /24 (IPv6 /48) of the
   * agent's own credential's latest use: medium at once. A laundered
   * sponsorship has one purpose; the agent's own credential, cached for an
   * hour, may not sign in again before the intruder is done.
   */
  function freshSponsorUse(e: SigninEvent, added: CredentialUse, w: WatchState, info: AgentInfo): Detection | null {
    const since = freshSponsorSince(info, added);
    // Or added by the agent itself (addPassword on its own identity, an injected tool call), kept for later.
    const self = since === null && added.addedBy !== null && identityKey(added.addedBy) === identityKey(e.agent_id);
    if (since === null && !self) return null;
    const own = latestOwn(w, added);
    if (own === null || sameSubnet(added.ip, own.ip) || added.first - own.last > o.concurrentMs) return null;
    const d = detection(e, added, own, info);
    d.summary =
      (since !== null
        ? `Credential ${added.credential_id} added to agent ${e.agent_id} by ${added.addedBy}, appointed its sponsor ${Math.max(0, Math.round((added.addedAt - since) / 60_000))} min before (a sponsor that new vouches for nothing), `
        : `Credential ${added.credential_id}, which agent ${e.agent_id} added to itself ${formatAgo(added.first - added.addedAt)} before, `) +
      `is used from ${added.ip}, away from where the agent's own credential ${own.credential_id} was last used (${own.ip}, ${Math.round((added.first - own.last) / 60_000)} min before)`;
    d.evidence.threshold = `a credential added by ${since !== null ? `a sponsor appointed under ${FRESH_SPONSOR_MS / 60_000} min before` : 'the agent itself'}, used outside the /24 (IPv6 /48) of the agent's own credential's latest use within ${o.concurrentMs / 60_000} min`;
    return d;
  }

  /**
   * The use of a credential that another agent of the tenant added (not vouched for), from that agent's own
   * sign-in address (see ownSigninAddress): medium at once, for both. The actor holds the target's credential
   * where it runs itself: a poisoned pipeline minting secrets for the agents it owns and signing in as them
   * from its runner. A rotation hands the new secret to the agent, which uses it where the agent runs; a
   * provisioning pipeline setting up an agent it created is its creator (see byCreator), not judged here.
   */
  function actorHostUse(e: SigninEvent, added: CredentialUse, w: WatchState, ctx: DetectorContext): Detection[] | null {
    const actor = added.addedBy;
    if (actor === null || added.holder !== undefined || identityKey(actor) === identityKey(e.agent_id)) return null;
    // (Null too for an actor the directory does not know: a person.)
    const home = ownSigninAddress(ctx.agent(e.tenant_id, actor), e.ip);
    if (home === null) return null;
    // Not where the agent itself runs (the two behind one NAT gateway: a rotation put to use in place).
    const info = ctx.agent(e.tenant_id, e.agent_id);
    const before = [info?.signin_ip_prev ?? null, info?.signin_cred_prev?.ip ?? null];
    for (const u of w.uses) if (u !== added && u.addedBy === null) before.push(u.ip);
    for (const ip of before) if (ip !== null && sameSubnet(ip, e.ip)) return null;
    added.fired = true;
    const d: Detection = {
      detector: backdoorCredentialMeta.id,
      severity: 'medium',
      tenant_id: e.tenant_id,
      agent_id: e.agent_id,
      time: e.time,
      summary: `Credential ${added.credential_id}, added to agent ${e.agent_id} by agent ${actor} ${formatAgo(added.first - added.addedAt)} before, is used from ${e.ip}, where ${actor} itself signs in (${home}): the agent's credential held by the agent that minted it`,
      evidence: {
        observed: { credential_id: added.credential_id, ip: added.ip, first_use: added.first, added_by: actor, added_at: added.addedAt, actor_signin_ip: home },
        baseline: { sponsors: info?.sponsors.length ?? 0 },
        threshold: `a credential added by another agent of the tenant that does not vouch for it, used from that agent's own sign-in /24 (IPv6 /48)`,
        peer_group: peerGroupName(info?.blueprint_id ?? null),
      },
      event_ids: [added.firstEventId, e.event_id],
    };
    return withActor(d, added, ctx, `Agent ${actor} added credential ${added.credential_id} to agent ${e.agent_id} and it is used from ${e.ip}, where ${actor} itself signs in: it signs in as the agents it owns (its owner rights over them an intruder's way in)`);
  }

  /**
   * The use of a credential added by someone who does not vouch for it from a rented network (a hosting
   * provider's other than the hyperscalers': see isRentedNetwork) that is not the network of the agent's own
   * credential, in use within concurrentMs before: medium at once, for both when the actor is an agent. A
   * machine rented by the hour is where an intruder validates the credential he planted; the agent's own
   * keeps running where it runs, and may not sign in again before he is done. A rotation or a migration by
   * its owners is vouched for; one to a rented box while the agent still runs elsewhere is what this is.
   */
  function rentedHostUse(e: SigninEvent, added: CredentialUse, w: WatchState, info: AgentInfo): Detection | null {
    if (!isRentedNetwork(e.asn)) return null;
    const own = latestOwn(w, added);
    if (own === null || own.locked === true || added.first - own.last > o.concurrentMs || own.last > added.first + o.concurrentMs) return null;
    // The agent's own credential on that network too (the organisation runs there), or seen only from the directory in the same /16.
    if (own.asn === undefined ? wideNetworkOf(own.ip) === wideNetworkOf(e.ip) : own.asn === e.asn) return null;
    const d = detection(e, added, own, info);
    d.summary =
      `Credential ${added.credential_id} added to agent ${e.agent_id} by ${added.addedBy}, who does not vouch for it, ${formatAgo(added.first - added.addedAt)} before, ` +
      `is used from ${e.ip}, a rented hosting network (AS${e.asn}) the agent's own credential ${own.credential_id} does not sign in from (${own.ip}, ${Math.round(Math.abs(added.first - own.last) / 60_000)} min ${own.last <= added.first ? 'before' : 'after'})`;
    d.evidence.threshold = `a credential added by an actor who does not vouch for it, used from a hosting provider's network other than the hyperscalers' and the agent's own credential's, within ${o.concurrentMs / 60_000} min of the own credential's use`;
    return d;
  }

  function formatAgo(ms: number): string {
    return ms >= 3_600_000 ? `${(ms / 3_600_000).toFixed(1)} h` : `${Math.max(0, Math.round(ms / 60_000))} min`;
  }

  function detection(e: SigninEvent, added: CredentialUse, own: CredentialUse, info: AgentInfo): Detection {
    added.fired = true;
    const orphan = info.sponsors.length === 0 && info.orphaned === true;
    const appointedAt = freshSponsorSince(info, added);
    const who =
      appointedAt !== null
        ? `, appointed its sponsor ${Math.max(0, Math.round((added.addedAt - appointedAt) / 60_000))} min before (a sponsor that new vouches for nothing),`
        : orphan
          ? ' (the agent has no sponsor)'
          : ', who does not vouch for it,';
    return {
      detector: backdoorCredentialMeta.id,
      severity: 'medium',
      tenant_id: e.tenant_id,
      agent_id: e.agent_id,
      time: e.time,
      summary:
        (added.holder !== undefined
          ? `Credential ${added.credential_id}, added to ${added.holder} of the agent's blueprint by ${added.addedBy}, who does not vouch for it, is presented by agent ${e.agent_id}: it `
          : `Credential ${added.credential_id} added to agent ${e.agent_id} by ${added.addedBy}${who} `) +
        (own.locked === true
          ? `is used from ${added.ip} while the agent's own workload keeps presenting its credential ${own.credential_id}, now rejected, from ${own.ip} (locked out of its own identity)`
          : `is used from ${added.ip} while the agent's own credential ${own.credential_id} stays in use from ${own.ip}`),
      evidence: {
        observed: { credential_id: added.credential_id, ip: added.ip, first_use: added.first, last_use: added.last, added_by: added.addedBy, added_at: added.addedAt, ...(added.holder !== undefined ? { added_to: added.holder } : {}), ...(appointedAt !== null ? { adder_appointed_sponsor_at: appointedAt } : {}) },
        baseline: { credential_id: own.credential_id, ip: own.ip, first_use: own.first, last_use: own.last, last_use_rejected: own.locked === true, sponsors: info.sponsors.length, orphaned: orphan },
        threshold: `a credential added within ${o.addedWithinMs / 86_400_000} days by an actor who does not vouch for it, used outside the /24 (IPv6 /48) of another credential of the agent that is used again after its first use, within ${o.concurrentMs / 60_000} min`,
        peer_group: peerGroupName(info.blueprint_id),
      },
      event_ids: [added.firstEventId, added.event_id, own.event_id],
    };
  }

  /**
   * A sign-in rejected for its credential (invalid or expired secret,
   * mis-signed assertion) by a watched agent: its own workload presenting
   * its own credential where it runs — after a swap (the actor adds his
   * credential and removes the agent's), locked out of its identity. It
   * counts as the own credential still in use: the added one used from
   * elsewhere meanwhile runs beside it. The thief failing with his own
   * added credential counts for nothing.
   */
  function onRejected(e: SigninEvent, ctx: DetectorContext): Detection[] {
    const kind = classifyFailure(e.error_code);
    if (kind !== 'credential' && kind !== 'expired') return NO_DETECTIONS;
    const info = ctx.agent(e.tenant_id, e.agent_id);
    if (info === undefined || info.credentials_added.length === 0) return NO_DETECTIONS;
    let w = agents.get(ctx, e.tenant_id, e.agent_id);
    if (w === undefined && !watched(info, e.time, ctx)) return NO_DETECTIONS;
    // The credential it presents: named, else the agent's own it last signed in with (not one an
    // actor who does not vouch for it added: the thief's successes are the latest sign-ins by then).
    let cid = e.credential_id;
    if (cid === null) {
      for (const c of [info.signin_cred ?? null, info.signin_cred_prev ?? null]) {
        if (c !== null && unvouched(info, c.credential_id, e.time, ctx) === null) {
          cid = c.credential_id;
          break;
        }
      }
      if (cid === null && w !== undefined) {
        let latest: CredentialUse | null = null;
        for (const u of w.uses) if (u.addedBy === null && (latest === null || u.last > latest.last)) latest = u;
        cid = latest?.credential_id ?? null;
      }
      if (cid === null) return NO_DETECTIONS;
    } else if (unvouched(info, cid, e.time, ctx) !== null) return NO_DETECTIONS;
    if (w === undefined) {
      w = { at: sec(e.time), e: 0, uses: [] };
      agents.set(ctx, e.tenant_id, e.agent_id, w);
    } else if (sec(e.time) > w.at) w.at = sec(e.time);
    const own = record(w, e.credential_id === cid ? e : { ...e, credential_id: cid }, info, ctx);
    for (const added of w.uses) {
      if (added.addedBy === null || added.fired || added === own) continue;
      if (besideOwn(w, added, info) === own) return withActor(detection(e, added, own, info), added, ctx);
    }
    return NO_DETECTIONS;
  }

  function observe(e: AgentEvent, ctx: DetectorContext): Detection[] {
    if (e.type === 'lifecycle') {
      if (e.action === 'sponsor_added' && e.sponsor_id !== null) {
        // A sponsor appointed as the agent is set up (within the hour of its first sighting) is its owner from the start:
        // what it adds then is provisioning.
        const info = ctx.agent(e.tenant_id, e.agent_id);
        if (info !== undefined && e.time - info.first_seen <= PROVISIONING_MS) return NO_DETECTIONS;
        const prev = appointed.get(e.tenant_id, e.agent_id);
        if (prev === undefined || e.time >= prev.at) appointed.set(e.tenant_id, e.agent_id, { at: e.time, s: identityKey(e.sponsor_id) });
        return NO_DETECTIONS;
      }
      if (e.action === 'created') {
        if (e.sponsor_id === null || identityKey(e.sponsor_id) !== identityKey(e.actor)) creators.set(e.tenant_id, e.agent_id, { at: e.time, s: identityKey(e.actor) });
        return NO_DETECTIONS;
      }
      if (e.action === 'credential_added' && e.credential_id !== null && e.blueprint_id !== null) {
        additions.set(e.tenant_id, e.credential_id, { at: e.time, h: e.agent_id, b: e.blueprint_id, s: e.actor });
      }
      return e.action === 'credential_added' ? onCredentialAdded(e) : e.action === 'credential_removed' ? onCredentialRemoved(e, ctx) : NO_DETECTIONS;
    }
    if (e.type !== 'signin') return NO_DETECTIONS;
    if (e.result !== 'success') return onRejected(e, ctx);
    if (e.credential_id === null) return NO_DETECTIONS;
    const info = ctx.agent(e.tenant_id, e.agent_id);
    if (info === undefined) return NO_DETECTIONS;
    let w = agents.get(ctx, e.tenant_id, e.agent_id);
    if (w === undefined) {
      // Most agents: no credential added lately, nothing to watch.
      if ((info.credentials_added.length === 0 || !watched(info, e.time, ctx)) && borrowed(info, e.credential_id, e.time, ctx) === null) return NO_DETECTIONS;
      w = { at: sec(e.time), e: 0, uses: [] };
      agents.set(ctx, e.tenant_id, e.agent_id, w);
      seedPrevious(w, e, info, ctx);
    } else if (sec(e.time) > w.at) w.at = sec(e.time);
    const use = record(w, e, info, ctx);
    // A fresh sponsor's credential used away from where the agent's own runs: no need to wait for the own one's next use.
    if (use.addedBy !== null && !use.fired) {
      const laundered = freshSponsorUse(e, use, w, info);
      if (laundered !== null) return withActor(laundered, use, ctx);
      const held = actorHostUse(e, use, w, ctx);
      if (held !== null) return held;
      const rented = rentedHostUse(e, use, w, info);
      if (rented !== null) return withActor(rented, use, ctx);
    }
    // This use may show an added credential beside the agent's own (either being the one just used).
    for (const added of w.uses) {
      if (added.addedBy === null || added.fired) continue;
      if (added !== use && use.addedBy !== null) continue;
      const own = besideOwn(w, added, info);
      if (own !== null) return withActor(detection(e, added, own, info), added, ctx);
    }
    return NO_DETECTIONS;
  }

  return {
    meta: backdoorCredentialMeta,
    types: ['signin', 'lifecycle'] as const,
    observe,
    advance: (watermark, ctx) => spreePending.takeDue(watermark, (p) => decideSpree(p, ctx)),
    settle: (ctx) => spreePending.takeDue(Infinity, (p) => decideSpree(p, ctx)),
    evict(before) {
      agents.evict(before);
      sprees.evict(before);
      spreeReported.evict(before);
      spreePending.evict(before);
      wipes.evict(before);
      wipeReported.evict(before);
      appointed.evict(before);
      creators.evict(before);
      additions.evict(before);
    },
    size: () => agents.size + sprees.size + spreeReported.size + spreePending.size + wipes.size + wipeReported.size + appointed.size + creators.size + additions.size,
    snapshot: () => ({
      agents: agents.snapshot(),
      sprees: sprees.snapshot(),
      spreeReported: spreeReported.snapshot().map(([t, a, v]) => [t, a, { ...v }]),
      spreePending: spreePending.snapshot(),
      wipes: wipes.snapshot(),
      wipeReported: wipeReported.snapshot().map(([t, a, v]) => [t, a, { ...v }]),
      appointed: appointed.snapshot().map(([t, a, v]) => [t, a, { ...v }]),
      creators: creators.snapshot().map(([t, a, v]) => [t, a, { ...v }]),
      additions: additions.snapshot().map(([t, c, v]) => [t, c, { ...v }]),
    }),
    restore(s) {
      agents.restore(s.agents);
      sprees.restore(s.sprees);
      spreeReported.restore((s.spreeReported ?? []).map(([t, a, v]) => [t, a, { ...v }]));
      spreePending.restore(s.spreePending);
      wipes.restore(s.wipes);
      wipeReported.restore((s.wipeReported ?? []).map(([t, a, v]) => [t, a, { ...v }]));
      appointed.restore((s.appointed ?? []).map(([t, a, v]) => [t, a, { ...v }]));
      creators.restore((s.creators ?? []).map(([t, a, v]) => [t, a, { ...v }]));
      additions.restore((s.additions ?? []).map(([t, c, v]) => [t, c, { ...v }]));
    },
  };
}

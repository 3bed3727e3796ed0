// The contract between a detector and the detection pipeline.
//
// A detector is pure: no I/O, no wall clock, no randomness. Everything it knows
// comes from the events it is shown (in arrival order, which may be up to 60 s
// out of event-time order) and from the read-only context. Given the same
// events it must produce the same detections, so a replay of history answers
// exactly as the live stream did.

import type { AgentEvent, EventType, RiskLevel } from '../contract/events.js';
import type { Detection, DetectorMeta } from './types.js';
import { sameSubnet } from './addresses.js';

/** What the pipeline knows about one agent, maintained from lifecycle and sign-in events. */
export interface AgentInfo {
  tenant_id: string;
  agent_id: string;
  blueprint_id: string | null;
  /** Event time the agent was created (lifecycle), or first seen. */
  first_seen: number;
  /** Event time of the latest event of this agent before the current one. */
  last_seen: number;
  /** True when a lifecycle `created` event was seen for it. */
  created_seen: boolean;
  sponsors: string[];
  /**
   * True when the agent lost its last sponsor (lifecycle sponsor_removed)
   * and no one has appointed a sponsor for it since (a sponsor appointing
   * himself does not count): nobody vouches for changes to it. Absent from
   * snapshots taken before it was kept (false).
   */
  orphaned?: boolean;
  /**
   * Sponsors who appointed themselves (lifecycle sponsor_added with the
   * sponsor as actor) while the agent had other sponsors, or who were
   * appointed by an actor at medium or high risk (a user, or an agent of the
   * tenant): listed among `sponsors`, but they vouch for nothing until
   * someone else appoints them.
   */
  self_sponsored: string[];
  /** Credentials added by lifecycle events: id, actor, time. Bounded. */
  credentials_added: { credential_id: string | null; actor: string; time: number }[];
  /**
   * Credentials removed by lifecycle events (credential_removed): id, actor,
   * time. Bounded. Absent from snapshots taken before they were kept.
   */
  credentials_removed?: { credential_id: string | null; actor: string; time: number }[];
  /** Permissions granted by lifecycle events: permission, actor, time. Bounded. */
  permissions_granted: { permission: string | null; actor: string; time: number }[];
  deleted: boolean;
  disabled: boolean;
  /**
   * The address of the agent's latest successful sign-in, and the distinct
   * one before it (null until seen): where the agent is known to hold its
   * credential. Absent from snapshots taken before they were kept.
   */
  signin_ip?: string | null;
  signin_ip_prev?: string | null;
  /**
   * When the agent's sign-ins moved to `signin_ip`: the event time of the
   * first successful sign-in from there since the address before it, in
   * `sec()` units (whole seconds since 2020, a small integer: stored unboxed
   * in every agent's record); 0 unknown. Absent from snapshots taken before
   * it was kept.
   */
  signin_ip_since?: number;
  /**
   * The credential of the agent's latest successful sign-in (its latest use:
   * time, address, event), and the latest use of the credential in use before
   * it (null until seen): lets a watch that begins late (a credential's
   * addition delivered after its first use) know the uses it missed. Absent
   * from snapshots taken before they were kept.
   */
  signin_cred?: CredentialSighting | null;
  signin_cred_prev?: CredentialSighting | null;
}

/** The latest successful sign-in of an agent with one credential. */
export interface CredentialSighting {
  credential_id: string;
  time: number;
  ip: string;
  event_id: string;
  /** Set when the credential is a managed identity's: the platform holds it and its tokens live a day (absent otherwise: no field for the rest). */
  managed?: true;
}

/** A sighting of credential `credentialId` (of type `type`) used at `t`, from `ip`. */
export function credentialSighting(credentialId: string, type: string | null, t: number, ip: string, eventId: string): CredentialSighting {
  return type === 'managed_identity' ? { credential_id: credentialId, time: t, ip, event_id: eventId, managed: true } : { credential_id: credentialId, time: t, ip, event_id: eventId };
}

/** How late (event time) an event may arrive and still be in order: the contract's 60 s. */
export const ALLOWED_LATENESS_MS = 60_000;

/** Read-only view of shared state that detectors may consult. */
export interface DetectorContext {
  /** The agent this event belongs to, after the pipeline has updated it with this event. Null for user_risk events. */
  agent(tenantId: string, agentId: string): AgentInfo | undefined;
  /** The agent's info as it was BEFORE the current event (e.g. its previous last_seen). */
  previousLastSeen(tenantId: string, agentId: string): number | undefined;
  /** Current risk level of a human user (from user_risk events); 'none' when unknown. */
  userRisk(tenantId: string, userId: string): RiskLevel;
  /** Current risk level of an agent according to the risk engine. */
  agentRisk(tenantId: string, agentId: string): RiskLevel;
  /**
   * How many times the risk engine has changed an agent's level so far: the
   * same count as at an earlier look means no level has moved since. Absent
   * when unknown (then every look must ask agentRisk again).
   */
  riskChangeCount?(): number;
  /** Highest event time seen so far minus the allowed lateness (60 s): a time before which nothing more is expected. */
  watermark(): number;
}

export interface Detector<Snapshot = unknown> {
  readonly meta: DetectorMeta;
  /**
   * The event types `observe` acts on; the pipeline shows the detector only
   * those (for any other type `observe` must do nothing and return no
   * detections). Absent: every type.
   */
  readonly types?: readonly EventType[];
  /** Handles one event; returns the detections it completes (usually none). */
  observe(event: AgentEvent, ctx: DetectorContext): Detection[];
  /**
   * Called when the watermark advances; lets a detector close windows or raise
   * findings that depend on the passage of event time (e.g. orphaned agents).
   */
  advance?(watermark: number, ctx: DetectorContext): Detection[];
  /**
   * End of a replay's input: decides the findings that wait for event time to
   * pass (confirmation windows, grace periods) as if the stream had gone
   * quiet, each dated when it was due. Never called on a live stream.
   */
  settle?(ctx: DetectorContext): Detection[];
  /** Forgets per-key state whose last activity is before `before` (event time). */
  evict(before: number): void;
  /** Number of keys (agents, blueprints, tokens...) this detector holds, for memory accounting. */
  size(): number;
  /** Serialisable state, restored with `restore` after a restart or rebalance. */
  snapshot(): Snapshot;
  restore(snapshot: Snapshot): void;
}

/**
 * The form in which user and sponsor ids are compared. Entra object ids
 * (GUIDs) and user principal names are case-insensitive, and sources disagree
 * on case (a risk feed may write a user's GUID in upper case, the sign-in
 * logs in lower case): compared as written, the two would be two users.
 */
export function identityKey(id: string): string {
  return id.toLowerCase();
}

/** Key of an agent: the same agent id in two tenants is two agents. */
export function agentKey(tenantId: string, agentId: string): string {
  return `${tenantId}\u0000${agentId}`;
}

/** Key of a blueprint's peer group, within its tenant. */
export function blueprintKey(tenantId: string, blueprintId: string | null): string {
  return `${tenantId}\u0000${blueprintId ?? '(none)'}`;
}

/**
 * Id of an agent's peer group within its tenant, for detectors that keep
 * per-group state: its blueprint id, or for an agent without a blueprint a
 * group of its own (the \u0001 prefix cannot start a blueprint id).
 */
export function peerGroupId(blueprintId: string | null, agentId: string): string {
  return blueprintId ?? `\u0001${agentId}`;
}

/** Human name of a peer group, for evidence. */
export function peerGroupName(blueprintId: string | null): string | null {
  return blueprintId ? `blueprint:${blueprintId}` : null;
}

/** A duration for summaries: seconds under a minute, minutes under an hour, hours under two days, then days. */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 3600_000) return `${Math.round(ms / 60_000)} min`;
  if (ms < 48 * 3600_000) return `${(ms / 3600_000).toFixed(1)} h`;
  return `${(ms / 86_400_000).toFixed(1)} days`;
}

/**
 * Whether `actor` may change the agent (add a credential, grant a
 * permission): one of its sponsors who did not appoint himself, or, when no
 * sponsor is known, anyone but the agent itself, unless the agent is known
 * to have lost its last sponsor (orphaned: an ownerless agent is how an
 * attacker with an administrator role persists unnoticed, and nobody is left
 * to vouch for a change to it).
 */
export function isSanctionedActor(info: AgentInfo, actor: string, ctx?: UserRiskView): boolean {
  if (ctx !== undefined && isRiskyActor(ctx, info.tenant_id, actor)) return false;
  if (info.sponsors.length > 0) return isVouchingSponsor(info, actor);
  return info.orphaned !== true && actor !== info.agent_id;
}

/**
 * The latest addition of `credentialId` to the agent within `windowMs`
 * before `at`, when no one who added it then vouches for it (see
 * isSanctionedActor); null when it was not added lately, or a sponsor did.
 */
export function unvouchedAddition(info: AgentInfo, credentialId: string, at: number, windowMs: number, ctx?: UserRiskView): AgentInfo['credentials_added'][number] | null {
  let found: AgentInfo['credentials_added'][number] | null = null;
  for (const c of info.credentials_added) {
    if (c.credential_id !== credentialId || at - c.time > windowMs) continue;
    if (isSanctionedActor(info, c.actor, ctx)) return null; // (also) added by someone who vouches for it
    if (found === null || c.time > found.time) found = c;
  }
  return found;
}

/**
 * The address of one of the agent's two latest successful sign-ins whose
 * subnet (/24, IPv6 /48) `ip` is in, or null: a request from there comes
 * from the agent's own host (its replicas, its NAT).
 */
export function ownSigninAddress(info: AgentInfo | undefined, ip: string): string | null {
  if (info === undefined) return null;
  const a = info.signin_ip ?? null;
  if (a !== null && sameSubnet(ip, a)) return a;
  const b = info.signin_ip_prev ?? null;
  return b !== null && sameSubnet(ip, b) ? b : null;
}

/** The part of the context that tells a user's current risk. */
export type UserRiskView = Pick<DetectorContext, 'userRisk'>;

/**
 * True when the actor of a change is a user whose own risk is medium or
 * high right now (Identity Protection's verdict on the administrator): a
 * possibly compromised account's grants and credentials vouch for nothing.
 */
export function isRiskyActor(ctx: UserRiskView, tenantId: string, actor: string): boolean {
  const level = ctx.userRisk(tenantId, actor);
  return level === 'medium' || level === 'high';
}

/** A lifecycle grant of a permission to an agent. */
export type Grant = AgentInfo['permissions_granted'][number];

/** The last part of a scope or permission (`https://graph.microsoft.com/Mail.Send` → `mail.send`), for matching the two. */
export function permissionName(s: string): string {
  const slash = s.lastIndexOf('/');
  return (slash >= 0 ? s.slice(slash + 1) : s).toLowerCase();
}

/**
 * The agent's grant (lifecycle permission_granted) of a permission named
 * `name` (see permissionName) within `windowMs` before `t` (or up to the
 * allowed lateness after it) that `vouched` accepts; null when none.
 */
export function grantOf(info: AgentInfo, name: string, t: number, windowMs: number, vouched: (g: Grant) => boolean): Grant | null {
  for (const g of info.permissions_granted) {
    if (g.permission === null || t - g.time > windowMs || g.time > t + ALLOWED_LATENESS_MS) continue;
    if (permissionName(g.permission) === name && vouched(g)) return g;
  }
  return null;
}

/** True when `actor` is a sponsor of the agent appointed by someone else (see AgentInfo.self_sponsored). */
export function isVouchingSponsor(info: AgentInfo, actor: string, ctx?: UserRiskView): boolean {
  if (ctx !== undefined && isRiskyActor(ctx, info.tenant_id, actor)) return false;
  return info.sponsors.includes(actor) && (info.self_sponsored.length === 0 || !info.self_sponsored.includes(actor));
}

// Detector 8 — scope escalation: an agent obtains (or asks for) permission
// scopes its blueprint's agents never use, above all privileged ones.
//
// Baseline: per peer group (the blueprint within its tenant; an agent without
// blueprint is its own group) the set of scopes its agents were granted, as
// 64-bit-ish hashes. A group learns everything it sees during its learning
// period (30 min and 20 token events, or 50 token events), then judges; a
// privileged scope is learned only once `adoptAgents` (3) of its agents used
// it (one agent's tier-0 grant is not the blueprint's pattern): the agents
// that used it while learning got a low finding, later ones are judged.
//
// After learning, for each scope of a token event that the group has not
// established:
// - privileged scope (Directory.*, RoleManagement*.*, AppRoleAssignment.*,
//   Application.ReadWrite.All, PrivilegedAccess.*, ...): fires at once, high
//   when granted, medium when the request was blocked;
// - other scope, granted: reported after `adoptWindowMs` (10 min) unless
//   meanwhile `adoptAgents` (3) distinct agents of the group adopted it:
//   medium for a sensitive scope (tenant-wide `*.All`, any write, send or
//   full control, mailboxes: the data an attacker is after) that no other
//   agent of the group took up within the hour (nor two others ever: the
//   blueprint's rare scope), low otherwise;
//   blocked requests for non-privileged scopes are ignored (misconfiguration);
// - `adoptAgents` distinct agents adopting the same scope within `adoptSpanMs`
//   (1 h) is a deployment: the scope becomes established and stops firing
//   (the first adopters were already reported: a gap for privileged scopes).
//   Agents that used a privileged scope while the blueprint learned count
//   whenever the next one comes: two helpdesk agents reading the directory
//   from the blueprint's first half hour, the third doing so hours later.
// - a scope granted to the agent by its sponsor (a lifecycle
//   permission_granted whose actor is a sponsor, or, for a scope neither
//   privileged nor sensitive, anyone but the agent itself when it has no
//   known sponsor) within
//   the last 7 days is a sanctioned change: low, so that it stays on the
//   record without raising the agent; so is a permission one
//   actor granted to `adoptAgents` agents of the blueprint within
//   `adoptSpanMs` (an administrator's consent for the blueprint: lifecycle
//   events are watched for it), and a delegated scope (not privileged) of an
//   on-behalf-of token granted by the token's own user (incremental consent:
//   she lets the copilot write her calendar, and the token reaches her data
//   only); a grant of a sensitive scope by anyone
//   else, to that agent alone (no other agent of the blueprint got it from
//   them within the hour, nor by 2 minutes after the use), makes its use
//   judged then, not after the adoption window.
// - an application permission (a client-credentials token) is not the
//   delegated scope of the same name: Mail.Read on behalf of a user reads
//   that user's mailbox, as an application permission every mailbox. The
//   two are learned apart, and an application permission whose delegated
//   form the blueprint uses (its users' data, now everyone's) is sensitive
//   whatever its name: an on-behalf-of copilot switched to app-only.
// - a grant spree: one actor granting sensitive or privileged permissions
//   to `spreeAgents` (5) agents of `spreeGroups` (3) blueprints or more
//   within `spreeWindowMs` (10 min) that it does not sponsor (its own
//   agents neither count nor are reported): an
//   administrator account seeding access across the fleet (consent for one
//   blueprint is one blueprint; an owner grants his own agents). Low for each
//   agent at once (granted, not yet used), and a scope that actor granted is
//   judged at once when used, like a risky user's grant (high privileged,
//   medium sensitive). An actor whose sprees began 12 hours or more before
//   is a provisioning principal on its schedule: nothing.
// - a permission taken from the agent (lifecycle permission_revoked) by
//   someone who neither sponsors it nor granted it, followed within the day
//   by a refused token request for that permission: medium, once (defences
//   impaired: a security agent cut off from the mail it triages before a
//   phishing wave; at the least, an agent broken by someone else's change).
//   An entitlement's expiry is revoked by its granter, an access review's
//   clean-up takes permissions from 3 or more agents within the half hour,
//   users take back their own consent, and responders cut an agent already
//   at risk (a blocked injection in what it read) off its data: nothing.
// - a sensitive or privileged permission granted on a blueprint's principal
//   (the record whose agent id is its blueprint's: every agent of the
//   blueprint inherits it) by an actor the tenant's lifecycle events never
//   showed (no agent created, sponsored, credentialed or granted by them)
//   once 6 hours of them were watched: low, medium for a privileged one (a
//   compromised administrator reaching a whole blueprint at once).
// Each agent fires at most once per (scope, decision, flow kind).

import type { AgentEvent, LifecycleEvent, TokenEvent } from '../contract/events.js';
import { ActorSprees, unreported, type ActorSpreesSnapshot } from './actor-sprees.js';
import { grantedToAgents, pushGrant } from './blueprint-grants.js';
import { GroupStore, NO_DETECTIONS, TenantMap, clone, hashString, type Timed } from './agent-directory.js';
import { ALLOWED_LATENESS_MS, grantOf, identityKey, isRiskyActor, isSanctionedActor, isVouchingSponsor, permissionName, peerGroupId, type Grant, peerGroupName, type AgentInfo, type Detector, type DetectorContext } from './detector.js';
import type { Detection, DetectorMeta, Severity } from './types.js';

export interface ScopeEscalationOptions {
  /** Which scopes are privileged (default: isPrivilegedScope). */
  isPrivileged?: (scope: string) => boolean;
  /** Which non-privileged scopes are sensitive: new to the blueprint, medium rather than low (default: isSensitiveScope). */
  isSensitive?: (scope: string) => boolean;
  /** A group learns (no alerts) until it has this much history (ms) and `learnMinEvents` token events... */
  learnMs?: number;
  learnMinEvents?: number;
  /** ...or, regardless of time, this many token events. */
  learnMaxEvents?: number;
  /** Distinct agents of a group adopting a scope within `adoptSpanMs` make it a deployment. */
  adoptAgents?: number;
  adoptSpanMs?: number;
  /** A new non-privileged scope is reported after this delay unless it became a deployment (ms). */
  adoptWindowMs?: number;
  /** A scope granted to the agent by its sponsor this recently (lifecycle permission_granted) is sanctioned: low (ms). */
  grantWindowMs?: number;
  /** A grant spree: sensitive or privileged permissions granted by one actor to this many agents of `spreeGroups` blueprints within `spreeWindowMs`. */
  spreeAgents?: number;
  spreeGroups?: number;
  spreeWindowMs?: number;
  /** An actor whose grant sprees began this long before is a provisioning principal (ms). */
  rotatorAfterMs?: number;
  maxScopesPerGroup?: number;
  maxPending?: number;
  maxGroups?: number;
  /**
   * A sensitive or privileged permission granted on a blueprint's principal
   * (inherited by every agent of the blueprint) by an actor never seen in
   * the tenant's lifecycle events (see strangerOnBlueprint), once the tenant's
   * have been watched this long (ms).
   */
  actorLearnMs?: number;
}

const DEFAULTS: Required<ScopeEscalationOptions> = {
  isPrivileged: isPrivilegedScope,
  isSensitive: isSensitiveScope,
  learnMs: 30 * 60_000,
  learnMinEvents: 20,
  learnMaxEvents: 50,
  adoptAgents: 3,
  adoptSpanMs: 60 * 60_000,
  grantWindowMs: 7 * 24 * 3600_000,
  adoptWindowMs: 10 * 60_000,
  spreeAgents: 5,
  spreeGroups: 3,
  spreeWindowMs: 10 * 60_000,
  rotatorAfterMs: 12 * 3_600_000,
  maxScopesPerGroup: 256,
  maxPending: 4096,
  maxGroups: 1_000_000,
  actorLearnMs: 6 * 3_600_000,
};

/** Actors remembered per tenant (see strangerOnBlueprint). */
const MAX_ACTORS = 262_144;
/** An actor who granted permissions to this many agents, the first this long before, is the tenant's administrator for them (see establishedGranter). */
const ESTABLISHED_GRANTEES = 5;
const ESTABLISHED_GRANTER_MS = 24 * 3_600_000;
/**
 * Such an administrator's grant explains the permission's first use within
 * this (the change it was made for, rolled out); a permission granted days
 * before and first used now is judged by its use (an insider reaching for a
 * dormant override), ms.
 */
const ADMIN_GRANT_USE_MS = 12 * 3_600_000;

/** An actor of the tenant's lifecycle events: latest time; for a granter, its first grant (ms) and the agents it granted to (hashes, up to ESTABLISHED_GRANTEES). */
interface ActorSeen extends Timed {
  gf?: number;
  gn?: number[];
}

/**
 * Microsoft Graph permissions of the tenant-takeover class: directory and role
 * management (any RoleManagement* family, role schedules, PIM), app role and
 * delegated grants, writing applications (all, or those owned: either adds
 * credentials to an app), domains, tenant-wide policies (conditional access,
 * authentication methods, permission grants...), users' authentication
 * methods, the organisation, entitlement management, identity-risk writes
 * (dismissing risk hides a compromise), device management writes (scripts
 * run on managed devices), and Exchange Online's full_access_as_app (every
 * mailbox through EWS) and Exchange.ManageAsApp.
 */
const PRIVILEGED = new RegExp(
  '^(?:' +
    [
      'Directory\\.',
      'RoleManagement[A-Za-z]*\\.',
      'RoleAssignmentSchedule\\.',
      'RoleEligibilitySchedule\\.',
      'PrivilegedAccess\\.',
      'PrivilegedAssignmentSchedule\\.',
      'PrivilegedEligibilitySchedule\\.',
      'AppRoleAssignment\\.',
      'DelegatedPermissionGrant\\.ReadWrite',
      'Application\\.ReadWrite\\.(?:All|OwnedBy)$',
      'Domain\\.ReadWrite\\.All$',
      'Policy\\.ReadWrite\\.',
      'UserAuthenticationMethod\\.ReadWrite',
      'Organization\\.ReadWrite\\.All$',
      'EntitlementManagement\\.ReadWrite\\.All$',
      'IdentityRisk[A-Za-z]*\\.ReadWrite',
      'DeviceManagement[A-Za-z]*\\.ReadWrite',
      // Exchange Online: every mailbox through EWS (Midnight Blizzard's grant), Exchange administration as the app.
      'full_access_as_app$',
      'Exchange\\.ManageAsApp$',
    ].join('|') +
    ')',
  'i',
);

/** Privileged Microsoft Graph permissions (tenant-takeover class); a resource prefix (`https://…/`) is ignored. */
export function isPrivilegedScope(scope: string): boolean {
  const slash = scope.lastIndexOf('/');
  return PRIVILEGED.test(slash >= 0 ? scope.slice(slash + 1) : scope);
}

/**
 * Scopes that reach data broadly, below the tenant-takeover class: anything
 * tenant-wide (`Files.Read.All`, `User.ReadWrite.All`), any write, send,
 * full-control or manage permission, and mailboxes. What an attacker holding
 * an agent wants next; a blueprint that never used one gaining it is worth
 * more than a low. So are the actions of a business API that move money or
 * destroy records, however the API names them (`Transaction.Reverse`,
 * `Pix.Payments.Initiate`, `B2C.Payout`, `Records.Delete`): app roles a
 * reconciler reading settlements never used, and the whole point of taking it.
 * And those that change or erase a record of what happened, or who may act:
 * `Declarations.Amend`, `Alerts.Close`, `Alerts.Dismiss`, `Demurrage.Waive`,
 * `Release.Override`, `Roles.Assign` (a compliance alert closed, a customs
 * declaration amended, a charge waived).
 */
const SENSITIVE =
  /(?:\.All$|ReadWrite|\.Write(?:\.|$)|\.Send|FullControl|\.Manage|^Mail\.|\.(?:Reverse|Refund|Payout|Disburse|Transfer|Withdraw|Initiate|Approve|Execute|Create|Update|Delete|Purge|Amend|Modify|Edit|Cancel|Close|Dismiss|Suppress|Waive|Override|Release|Reissue|Unblock|Disable|Revoke|Reset|Assign|Grant)(?:\.|$))/i;

/**
 * Tenant-wide reads of the service's own health and announcements (the
 * message center): operational status every monitoring agent reads, no
 * one's data.
 */
const OPERATIONAL_READ = /^(?:ServiceHealth|ServiceMessage)\.Read\.All$/i;

/** A sensitive scope (see SENSITIVE); a resource prefix (`https://…/`) is ignored. */
export function isSensitiveScope(scope: string): boolean {
  const slash = scope.lastIndexOf('/');
  const name = slash >= 0 ? scope.slice(slash + 1) : scope;
  return SENSITIVE.test(name) && !OPERATIONAL_READ.test(name);
}

/**
 * The scopes of a token event, one per item. OAuth writes a token's scopes as
 * one space-delimited string (the `scp` claim); a source that copies it into
 * the array as a single item must not hide a privileged scope behind an
 * ordinary first one.
 */
export function scopeList(scopes: string[]): string[] {
  for (let i = 0; i < scopes.length; i++) {
    if (scopes[i]!.indexOf(' ') >= 0) return scopes.flatMap((s) => s.split(' ').filter((x) => x !== ''));
  }
  return scopes;
}

/** How a group knows one scope (for one decision). */
interface ScopeEntry {
  /** First and last time (event time) seen in the group. */
  f: number;
  l: number;
  /** Established: learned, or adopted by enough agents (a deployment). */
  e: boolean;
  /** Hashes of the agents that adopted it while not established, and when (null once established). */
  ag: number[] | null;
  at: number[] | null;
}

interface Group extends Timed {
  bp: string | null;
  /** First token event time and token events seen. */
  f: number;
  n: number;
  /** Scope key (see scopeKey: granted or blocked, delegated or application) → entry. */
  s: Map<number, ScopeEntry>;
  /**
   * Restored from a snapshot taken before application permissions were told
   * from delegated scopes: an application permission the group has not
   * established yet is looked up under its delegated key too.
   */
  v1?: boolean;
  /** (agent, privileged scope) pairs already reported while the group was learning (hashes), null when none. */
  lr?: number[] | null;
  /**
   * Recent grants to the group's agents (lifecycle permission_granted): flat
   * quadruples [permission hash, actor hash, agent hash, time (s)], the last
   * MAX_GROUP_GRANTS; null when none.
   */
  gr?: number[] | null;
}

/** Grants remembered per group. */
const MAX_GROUP_GRANTS = 64;
/** A group created by a grant before any token: its first token sets its learning start. */
const NO_TOKEN_YET = Number.MAX_SAFE_INTEGER;

interface Pending {
  tenant: string;
  agent: string;
  group: string;
  bp: string | null;
  scope: string;
  h: number;
  t: number;
  id: string;
  resource: string;
  /** The sponsor's grant of this scope, when the agent had one (sanctioned: low). */
  grant?: Grant | null;
  /** Obtained as an application permission (client credentials: app-only). */
  app?: boolean;
  /** Who granted the scope to the agent lately when no one who vouches did (a grant spree's actor is judged at once). */
  by?: string;
  /** `by` is an agent of the tenant (see grantorFinding). */
  byAgent?: boolean;
  /**
   * A sensitive scope granted to the agent alone by someone who does not
   * vouch for it (no other agent of the blueprint got it from them within
   * the hour), with no consent for the blueprint: judged 2 minutes after its
   * use (LONE_GRANT_HOLD_MS), not after the adoption window.
   */
  now?: boolean;
}

/**
 * A permission taken from an agent by someone who neither sponsors it nor
 * granted it: the permission (see permissionName), by whom, when (ms), the
 * event's id, and whether a refusal of it was reported.
 */
interface Revocation extends Timed {
  p: string;
  actor: string;
  t: number;
  id: string;
  fired: boolean;
}

/** A sensitive scope granted to one agent by someone who does not vouch for it is judged this long after its use, ms (other agents' grants by then are a rollout). */
const LONE_GRANT_HOLD_MS = 2 * 60_000;

/** One actor revoking permissions from this many agents within REVOCATION_SPREE_MS either side is cleaning up (an access review). */
const REVOCATION_SPREE_AGENTS = 3;
const REVOCATION_SPREE_MS = 30 * 60_000;

/** How long after a revocation a refused request for the permission is judged, ms. */
const REVOCATION_WATCH_MS = 24 * 3_600_000;

/** An actor seen on a grant spree: when, over how many agents and blueprints. */
interface SpreeActor extends Timed {
  /** When the spree was first seen. */
  since: number;
  agents: number;
  groups: number;
}


const BLOCKED_SEED = 0x3c6ef372;
const APP_SEED = 0x5be0cd19;
const APP_BLOCKED_SEED = 0x1f83d9ab;

/**
 * The key of a scope in a group: granted or blocked, and delegated (on
 * behalf of a user, or an agent user acting as itself) or an application
 * permission (client credentials). The same name is two permissions: Mail.Read
 * delegated reads the signed-in user's mailbox, as an application permission
 * every mailbox of the tenant. A blueprint whose copilots read their users'
 * mail has not shown that its agents read everyone's.
 */
function scopeKey(scope: string, granted: boolean, app: boolean): number {
  return app ? hashString(scope, granted ? APP_SEED : APP_BLOCKED_SEED) : granted ? hashString(scope) : hashString(scope, BLOCKED_SEED);
}

/** Scope names that mean no data of their own: `.default` (whatever was consented) and the impersonation scope of an API. */
const NO_DATA_SCOPE = /(?:^|\/)(?:\.default|user_impersonation)$/i;

/**
 * An application permission is tenant-wide by nature (not limited to a
 * signed-in user's data): one whose delegated form the blueprint uses
 * (Calendars.Read, Notes.Read...) is that data widened to every user, unless
 * the scope names no data.
 */
export function namesData(scope: string): boolean {
  return !NO_DATA_SCOPE.test(scope);
}
/** Adopters remembered per not-yet-established scope (for per-agent dedupe and deployment counting). */
const MAX_ADOPTERS = 8;
/** (agent, scope) pairs remembered per group as reported while it learns. */
const MAX_LEARNING_REPORTS = 64;

export const scopeEscalationMeta: DetectorMeta = {
  id: 'scope-escalation',
  title: 'Scope escalation',
  severity: 'high',
  mitre: { id: 'T1098.003', name: 'Account Manipulation: Additional Cloud Roles' },
  description:
    "An agent obtains or requests permission scopes outside its blueprint's observed set: privileged scopes " +
    '(Directory.*, RoleManagement.*, AppRoleAssignment.*, Application.ReadWrite.All...) fire at once (high when granted, ' +
    'medium when blocked); other new scopes, reported after 10 minutes unless several agents of the blueprint adopt them together (a deployment), ' +
    'are medium when sensitive (tenant-wide *.All, writes, send, full control, mailboxes, and a business API\'s actions that move money or destroy records: *.Reverse, *.Refund, *.Payout, *.Transfer, *.Initiate, *.Approve, *.Delete...) or change or erase a record of what happened (*.Amend, *.Close, *.Dismiss, *.Waive, *.Override, *.Assign...), and low otherwise. ' +
    "An application permission (client credentials) is not the delegated scope of the same name: the two are learned apart, and the application form of a delegated scope the blueprint uses (its users' data widened to every user: an on-behalf-of copilot switched to app-only) is sensitive. " +
    'While a blueprint learns, its first use of a privileged scope is low, and the scope is learned only once 3 of its agents used it; an agent without a blueprint is judged on privileged scopes from its first token. ' +
    "A scope the agent's sponsor granted it (lifecycle permission_granted) within 7 days is a sanctioned change: low (not from a sponsor who appointed himself while the agent had others; for an ordinary scope, anyone but the agent itself when it has no known sponsor, but a privileged or sensitive one needs a known sponsor); so is a permission one administrator granted to 3 agents of the blueprint within an hour (consent for the blueprint), a sensitive (not privileged) one granted by the tenant\'s administrator for permissions (an actor who granted permissions to 5 agents or more, the first a day or more before: in Entra app roles are an administrator\'s to assign, not a sponsor\'s) and first used within 12 hours of the grant (a permission granted days before and first used now is judged by its use), and a delegated scope (not privileged) of an on-behalf-of token that the token\'s own user granted (incremental consent: her data only). A sensitive scope granted by anyone else to that agent alone is judged 2 minutes after its use, not after the adoption window. A grant by a user whose own user risk is medium or high vouches for nothing and makes no deployment: the scope is judged at once (high privileged, medium sensitive, low otherwise). A token request of the agent's own (not on behalf of a user, who may take back his consent) refused for a permission that someone who neither sponsors the agent nor granted it revoked within the day is medium (an agent cut off from what it works with: defences impaired), unless that actor revoked permissions from 3 or more agents within half an hour (an access review's clean-up) or the agent was at risk (low or above) when they were revoked (responders containing an agent exposed to an injection). " +
    'An agent of the tenant that granted another agent a privileged or sensitive permission none of its sponsors sanctioned is medium when that agent\'s use of it is reported (medium or high): its identity handed out the privilege. ' +
    'A grant spree (one actor granting sensitive or privileged permissions to 5 or more agents of 3 or more blueprints within 10 minutes, counting only agents it does not sponsor, and not on such sprees 12 hours or more before) is low for each agent at once, and a scope that actor granted is judged at once when used, like a risky user\'s grant. ' +
    "A sensitive or privileged permission granted on a blueprint's principal (inherited by every agent of the blueprint) by an actor never seen in the tenant's lifecycle events (6 hours of them watched) is low, medium when privileged.",
};

export function createScopeEscalationDetector(options: ScopeEscalationOptions = {}): Detector {
  const o: Required<ScopeEscalationOptions> = { ...DEFAULTS, ...options };
  const groups = new GroupStore<Group>(o.maxGroups);
  let pending: Pending[] = [];
  /** Per tenant and granting agent: its last grantor finding (ms), once an hour (see grantorFinding). */
  const grantors = new Map<string, number>();

  /**
   * An agent of the tenant granted another agent a privileged or sensitive
   * permission none of the grantee's sponsors sanctioned, and the grantee's
   * use of it was reported (high or medium): the granting agent is medium
   * too. Its own identity (AppRoleAssignment.ReadWrite.All for its
   * provisioning runs) was used to hand a compromised or colluding agent
   * what it should not have: the actor of the escalation, not only its
   * beneficiary. Once per granting agent an hour.
   */
  function grantorFinding(tenant: string, actor: string, grantee: string, scope: string, privileged: boolean, t: number, id: string): Detection | null {
    const key = `${tenant}\u0000${actor}`;
    const last = grantors.get(key);
    if (last !== undefined && t - last < 3_600_000) return null;
    if (grantors.size >= 100_000) grantors.delete(grantors.keys().next().value as string);
    grantors.set(key, t);
    return {
      detector: scopeEscalationMeta.id,
      severity: 'medium',
      tenant_id: tenant,
      agent_id: actor,
      time: t,
      summary: `Agent ${actor} granted agent ${grantee} the ${privileged ? 'privileged' : 'sensitive'} permission ${scope}, which no sponsor of ${grantee} sanctioned, and ${grantee}'s use of it was reported: an agent handing out privileges`,
      evidence: {
        observed: { granted_scope: scope, grantee, privileged },
        baseline: 'permissions granted to an agent by its sponsors, or to its blueprint by an administrator',
        threshold: 'a privileged or sensitive permission an agent granted another agent without a sponsor\'s sanction, reported at its use',
        peer_group: `tenant:${tenant}`,
      },
      event_ids: [id],
    };
  }

  /** The granting agent of an unsanctioned grant of `scope` to `info`'s agent, when an agent of the tenant (not the agent itself) granted it. */
  function grantingAgent(info: AgentInfo | undefined, scope: string, t: number, ctx: DetectorContext): string | null {
    if (info === undefined) return null;
    const by = unvouchedGrant(info, scope, t, ctx)?.actor;
    return by !== undefined && by !== info.agent_id && ctx.agent(info.tenant_id, by) !== undefined ? by : null;
  }
  /** Grants of sensitive or privileged permissions, per actor (see the grant spree in the header). */
  const grantSprees = new ActorSprees('permission_granted', (e) => e.permission !== null && (o.isSensitive(e.permission) || o.isPrivileged(e.permission)));
  /** Actors seen on a grant spree, per tenant. */
  const spreeActors = new TenantMap<SpreeActor>(1_000_000);
  /** Agents already reported for a grant spree, per tenant. */
  const spreeReported = new TenantMap<Timed>(o.maxGroups);
  /** Per agent, the latest revocation of a permission by someone who neither sponsors it nor granted it (see onRevoke). */
  const revocations = new TenantMap<Revocation>(o.maxGroups);
  /** Who revoked permissions from how many agents lately: an access review's clean-up takes them from many at once. */
  const revokeSprees = new ActorSprees('permission_revoked');

  /**
   * The sponsor's recent grant of `scope` to the agent (lifecycle
   * permission_granted), if any. A privileged or sensitive scope (`strict`)
   * needs a known sponsor's grant: without one, nobody vouches for a tier-0
   * permission or another's mailbox.
   */
  function sanctionedGrant(
    info: AgentInfo | undefined,
    g: Group,
    scope: string,
    strict: boolean,
    t: number,
    ctx: DetectorContext,
    consenter: string | null = null,
    privileged = false,
  ): Grant | null {
    if (!info || info.permissions_granted.length === 0) return null;
    const name = permissionName(scope);
    const self = consenter === null ? null : identityKey(consenter);
    return grantOf(
      info,
      name,
      t,
      o.grantWindowMs,
      (p) =>
        (strict ? isVouchingSponsor(info, p.actor, ctx) : isSanctionedActor(info, p.actor, ctx)) ||
        (p.actor !== info.agent_id &&
          !isRiskyActor(ctx, info.tenant_id, p.actor) &&
          (grantedToBlueprint(g, name, p.actor, p.time) || (self !== null && identityKey(p.actor) === self) || (!privileged && t - p.time <= ADMIN_GRANT_USE_MS && establishedGranter(info.tenant_id, p.actor, p.time)))),
    );
  }

  /**
   * Whether `actor` is one of the tenant's administrators for permissions:
   * it granted permissions to ESTABLISHED_GRANTEES agents or more, the first
   * a day or more before `t`. Entra's app-role assignments are an
   * administrator's to make, not a sponsor's: the one who handles the
   * tenant's grants vouches for a sensitive one as a sponsor would (not for
   * a privileged one: tier-0 needs the agent's own sponsor), when the
   * permission's use follows the grant within ADMIN_GRANT_USE_MS. A
   * stranger's grants, a spree by an account never seen granting, do not
   * make one.
   */
  function establishedGranter(tenant: string, actor: string, t: number): boolean {
    const a = actors.get(tenant, identityKey(actor));
    return a !== undefined && a.gn !== undefined && a.gn.length >= ESTABLISHED_GRANTEES && a.gf! <= t - ESTABLISHED_GRANTER_MS;
  }

  /** The agent's recent grant of `scope` by a user whose own user risk is medium or high; null when none. */
  function riskyGrant(info: AgentInfo | undefined, scope: string, t: number, ctx: DetectorContext): Grant | null {
    if (!info || info.permissions_granted.length === 0) return null;
    return grantOf(info, permissionName(scope), t, o.grantWindowMs, (p) => isRiskyActor(ctx, info.tenant_id, p.actor));
  }

  /**
   * True when `actor` granted `permission` to adoptAgents agents of the group
   * within adoptSpanMs of `t`: an administrator consenting for the whole
   * blueprint, a change as deliberate as a sponsor's grant to one agent.
   */
  function grantedToBlueprint(g: Group, permission: string, actor: string, t: number): boolean {
    return !!g.gr && grantedToAgents(g.gr, permission, actor, t, o.adoptAgents, o.adoptSpanMs);
  }

  /** Whether `actor` granted `scope` to another agent of the group within adoptSpanMs of `t` (a rollout under way: the adoption window is waited). */
  function grantedToOthers(g: Group, scope: string, actor: string, agent: string, t: number): boolean {
    const gr = g.gr;
    if (!gr) return false;
    const ph = hashString(permissionName(scope));
    const xh = hashString(identityKey(actor));
    const ah = hashString(agent);
    for (let i = 0; i < gr.length; i += 4) if (gr[i] === ph && gr[i + 1] === xh && gr[i + 2] !== ah && Math.abs(gr[i + 3]! * 1000 - t) <= o.adoptSpanMs) return true;
    return false;
  }

  /**
   * The agent's recent grant of `scope` by an actor seen on a grant spree;
   * null when none, or when a sponsor who vouches for the agent granted it
   * too.
   */
  function spreeGrant(info: AgentInfo | undefined, scope: string, t: number, ctx: DetectorContext): Grant | null {
    if (!info || spreeActors.size === 0) return null;
    return unvouchedGrant(info, scope, t, ctx, (p) => spreeActors.get(info.tenant_id, identityKey(p.actor)) !== undefined);
  }

  /**
   * The agent's recent grant of `scope` that `by` accepts (any, by default),
   * when no sponsor who vouches for the agent granted it; null otherwise.
   */
  function unvouchedGrant(info: AgentInfo, scope: string, t: number, ctx: DetectorContext, by: (g: Grant) => boolean = () => true): Grant | null {
    if (info.permissions_granted.length === 0) return null;
    const name = permissionName(scope);
    if (grantOf(info, name, t, o.grantWindowMs, (p) => isVouchingSponsor(info, p.actor, ctx)) !== null) return null;
    return grantOf(info, name, t, o.grantWindowMs, by);
  }

  /** Says in a detection that its scope was granted by an actor on a grant spree. */
  function spreeTaint(d: Detection, grant: Grant, tenant: string): void {
    const s = spreeActors.get(tenant, identityKey(grant.actor));
    d.summary += `; granted to it by ${grant.actor}, who granted sensitive permissions to ${s?.agents ?? o.spreeAgents} agents of ${s?.groups ?? o.spreeGroups} blueprints within ${o.spreeWindowMs / 60_000} min`;
    (d.evidence.observed as Record<string, unknown>).granted_in_spree = { actor: grant.actor, time: grant.time, agents: s?.agents, blueprints: s?.groups };
  }

  /**
   * A grant of a sensitive or privileged permission: one more agent in its
   * actor's spree? Low for each agent of a spree not yet reported, and the
   * actor is remembered (his grants are judged at once when used).
   */
  function onSpreeGrant(e: LifecycleEvent, bp: string | null, ctx: DetectorContext): Detection[] {
    grantSprees.note(e, bp);
    const spree = grantSprees.spree(e.tenant_id, e.actor, e.time, o.spreeWindowMs, o.spreeAgents, o.rotatorAfterMs);
    if (spree === null || spree.repeated || spree.groups < o.spreeGroups) return NO_DETECTIONS;
    // Granting his own agents a new permission is a sponsor's change: only the agents the actor
    // does not sponsor count (an administrator who sponsors one of them is a stranger to the rest).
    const strangers: string[] = [];
    const strangerGroups: string[] = [];
    for (const id of spree.agentIds) {
      const info = ctx.agent(e.tenant_id, id);
      if (info !== undefined && isVouchingSponsor(info, e.actor)) continue;
      strangers.push(id);
      const gid = peerGroupId(info?.blueprint_id ?? null, id);
      if (!strangerGroups.includes(gid)) strangerGroups.push(gid);
    }
    if (strangers.length < o.spreeAgents || strangerGroups.length < o.spreeGroups) return NO_DETECTIONS;
    const actorKey = identityKey(e.actor);
    const known = spreeActors.get(e.tenant_id, actorKey);
    if (known === undefined) spreeActors.set(e.tenant_id, actorKey, { at: e.time, since: e.time, agents: strangers.length, groups: strangerGroups.length });
    else {
      if (e.time > known.at) known.at = e.time;
      known.agents = Math.max(known.agents, strangers.length);
      known.groups = Math.max(known.groups, strangerGroups.length);
    }
    let out: Detection[] = NO_DETECTIONS;
    for (const id of unreported(spreeReported, e.tenant_id, strangers, e.time)) {
      const d: Detection = {
        detector: scopeEscalationMeta.id,
        severity: 'low',
        tenant_id: e.tenant_id,
        agent_id: id,
        time: e.time,
        summary:
          `${e.actor}, a sponsor of none of them, granted sensitive permissions to ${strangers.length} agents of ${strangerGroups.length} blueprints ` +
          `within ${o.spreeWindowMs / 60_000} min, this one among them (access seeded across the fleet?)`,
        evidence: {
          observed: { actor: e.actor, agents: strangers.length, blueprints: strangerGroups.length, window_ms: o.spreeWindowMs, last_permission: e.permission },
          baseline: "a sponsor grants his own agents; an administrator consents for one blueprint; a provisioning principal grants on a schedule (sprees 12 h or more apart)",
          threshold: `${o.spreeAgents} agents of ${o.spreeGroups} blueprints within ${o.spreeWindowMs / 60_000} min`,
          peer_group: null,
          spree_agents: strangers.slice(0, 16),
        },
        event_ids: [e.event_id],
      };
      if (out === NO_DETECTIONS) out = [d];
      else out.push(d);
    }
    return out;
  }

  /** A lifecycle permission_granted: remembered for the agent's group (see grantedToBlueprint) and its actor's spree. */
  function onGrant(e: LifecycleEvent, ctx: DetectorContext): Detection[] {
    if (e.permission === null) return NO_DETECTIONS;
    const bp = e.blueprint_id ?? ctx.agent(e.tenant_id, e.agent_id)?.blueprint_id ?? null;
    const gid = peerGroupId(bp, e.agent_id);
    let g = groups.find(ctx, e.tenant_id, gid);
    if (!g) {
      g = { at: e.time, bp: e.blueprint_id, f: NO_TOKEN_YET, n: 0, s: new Map() };
      groups.set(e.tenant_id, gid, g);
    } else if (e.time > g.at) g.at = e.time;
    pushGrant(g.gr ?? (g.gr = []), e, MAX_GROUP_GRANTS);
    return onSpreeGrant(e, bp, ctx);
  }

  function learned(g: Group, t: number): boolean {
    return (t - g.f >= o.learnMs && g.n >= o.learnMinEvents) || g.n >= o.learnMaxEvents;
  }

  function addEntry(g: Group, h: number, entry: ScopeEntry): void {
    if (g.s.size >= o.maxScopesPerGroup) {
      // Drop the least recently seen eighth.
      const lasts: number[] = [];
      for (const v of g.s.values()) lasts.push(v.l);
      lasts.sort((a, b) => a - b);
      const cut = lasts[Math.max(0, (lasts.length >> 3) - 1)]!;
      for (const [k, v] of g.s) if (v.l <= cut) g.s.delete(k);
    }
    g.s.set(h, entry);
  }

  function established(g: Group): number {
    let n = 0;
    for (const v of g.s.values()) if (v.e) n++;
    return n;
  }

  function detection(
    tenant: string,
    agent: string,
    g: Group,
    entry: ScopeEntry | undefined,
    scope: string,
    decision: 'granted' | 'blocked',
    severity: Severity,
    privileged: boolean,
    time: number,
    eventId: string,
    resource: string,
    grant: Grant | null = null,
  ): Detection {
    const bpName = g.bp ?? '(none)';
    return {
      detector: scopeEscalationMeta.id,
      severity,
      tenant_id: tenant,
      agent_id: agent,
      time,
      summary:
        `Agent ${agent} ${decision === 'granted' ? 'obtained' : 'requested (blocked)'} ` +
        `${privileged ? 'privileged ' : ''}scope ${scope} on ${resource}, never used by its blueprint ${bpName}` +
        (grant ? `; granted to it by ${grant.actor} at ${new Date(grant.time).toISOString()} (a sanctioned change)` : ''),
      evidence: {
        observed: { scope, decision, resource, privileged, ...(grant ? { granted_by: { actor: grant.actor, time: grant.time } } : {}) },
        baseline: {
          established_scopes: established(g),
          group_token_events: g.n,
          group_first_seen: g.f,
          other_adopters: entry?.ag ? Math.max(0, entry.ag.length - 1) : 0,
        },
        threshold: `scope not used by the peer group; ${o.adoptAgents} distinct agents within ${o.adoptSpanMs / 60_000} min = deployment`,
        peer_group: peerGroupName(g.bp) ?? `agent:${agent}`,
      },
      event_ids: [eventId],
    };
  }

  /**
   * A privileged scope seen while the group learns is learned, but not in
   * silence: a group of one agent without a blueprint has no peers to learn
   * from, so it is judged as after learning (high when granted, medium when
   * blocked); a blueprint still learning gets a low finding for its first
   * use of the scope (a new blueprint may be meant to hold it, or be the
   * attack); later uses find it learned.
   */
  function learningPrivileged(e: TokenEvent, g: Group, scope: string, h: number, granted: boolean): Detection | null {
    if (!o.isPrivileged(scope)) return null;
    const key = (hashString(e.agent_id) ^ h) | 0;
    if (g.lr?.includes(key)) return null;
    const lr = g.lr ?? (g.lr = []);
    if (lr.length >= MAX_LEARNING_REPORTS) lr.shift();
    lr.push(key);
    const alone = g.bp === null;
    const severity: Severity = alone ? (granted ? 'high' : 'medium') : 'low';
    const d = detection(e.tenant_id, e.agent_id, g, undefined, scope, e.decision, severity, true, e.time, e.event_id, e.resource);
    d.summary = alone
      ? `Agent ${e.agent_id}, which has no blueprint, ${granted ? 'obtained' : 'requested (blocked)'} privileged scope ${scope} on ${e.resource}`
      : `Agent ${e.agent_id} ${granted ? 'obtained' : 'requested (blocked)'} privileged scope ${scope} on ${e.resource} while its blueprint ${g.bp} is new (still learning its scopes)`;
    d.evidence.threshold = alone ? 'privileged scope for an agent without blueprint peers' : 'privileged scope while the blueprint learns (reported, then learned)';
    return d;
  }

  /** Counts an agent using a privileged scope while its blueprint learns; established at `adoptAgents` distinct agents. */
  function learnPrivilegedAdopter(g: Group, h: number, entry: ScopeEntry | undefined, agentHash: number, t: number): void {
    let cur = entry;
    if (cur === undefined) {
      cur = { f: t, l: t, e: false, ag: [], at: [] };
      addEntry(g, h, cur);
    }
    if (t > cur.l) cur.l = t;
    if (cur.e) return;
    const ag = cur.ag ?? (cur.ag = []);
    const at = cur.at ?? (cur.at = []);
    if (ag.includes(agentHash)) return;
    if (ag.length + 1 >= o.adoptAgents) {
      cur.e = true;
      cur.ag = cur.at = null;
      return;
    }
    ag.push(agentHash);
    at.push(t);
  }

  /**
   * Sensitive when new to a blueprint: by name, or as the application
   * permission of a delegated scope the blueprint uses (its users' data, now
   * everyone's: see namesData).
   */
  function sensitiveFor(g: Group, scope: string, app: boolean): boolean {
    if (o.isSensitive(scope)) return true;
    if (!app || !namesData(scope)) return false;
    const delegated = g.s.get(scopeKey(scope, true, false));
    return delegated !== undefined && delegated.e;
  }

  /**
   * For a group restored from a snapshot that did not tell application
   * permissions apart: the scope's delegated entry stands for it (what the
   * group established then, it had seen under either flow), copied under the
   * application key so the lookup happens once.
   */
  function legacyEntry(g: Group, h: number, scope: string, granted: boolean): ScopeEntry | undefined {
    const old = g.s.get(scopeKey(scope, granted, false));
    if (old === undefined || !old.e) return undefined;
    const entry: ScopeEntry = { f: old.f, l: old.l, e: true, ag: null, at: null };
    addEntry(g, h, entry);
    return entry;
  }

  function onToken(e: TokenEvent, ctx: DetectorContext): Detection[] {
    if (e.decision === 'blocked' && revocations.size !== 0) {
      const cut = refusedAfterRevocation(e);
      if (cut !== null) return [cut, ...onTokenScopes(e, ctx)];
    }
    return onTokenScopes(e, ctx);
  }

  /**
   * A permission taken from the agent by someone who neither sponsors it nor
   * granted it (an entitlement's expiry is its granter's), recorded for the
   * refusals that follow (see refusedAfterRevocation).
   */
  function onRevoke(e: LifecycleEvent, ctx: DetectorContext): Detection[] {
    if (e.permission === null || e.actor === e.agent_id) return NO_DETECTIONS;
    revokeSprees.note(e);
    const info = ctx.agent(e.tenant_id, e.agent_id);
    if (info !== undefined && isVouchingSponsor(info, e.actor, ctx)) return NO_DETECTIONS;
    // An agent already under suspicion (at low risk or above: a blocked prompt injection in what it read)
    // losing its permissions is being contained by the responders, not blinded by an attacker.
    if (ctx.agentRisk(e.tenant_id, e.agent_id) !== 'none') return NO_DETECTIONS;
    const name = permissionName(e.permission);
    const g = groups.get(e.tenant_id, peerGroupId(e.blueprint_id ?? info?.blueprint_id ?? null, e.agent_id));
    if (g?.gr) {
      const ph = hashString(name);
      const xh = hashString(identityKey(e.actor));
      const ah = hashString(e.agent_id);
      for (let i = 0; i < g.gr.length; i += 4) if (g.gr[i] === ph && g.gr[i + 1] === xh && g.gr[i + 2] === ah) return NO_DETECTIONS;
    }
    revocations.set(e.tenant_id, e.agent_id, { at: e.time, p: name, actor: e.actor, t: e.time, id: e.event_id, fired: false });
    return NO_DETECTIONS;
  }

  /**
   * A refused token request (not on behalf of a user: users take back their
   * own consent) for a permission someone who neither sponsors the agent nor
   * granted the permission took from it within the day: the
   * agent still needs what was taken, and whoever took it is not the one who
   * runs it. Medium, once: an agent cut off from the permissions it works
   * with (a security agent blinded before the attack it would catch), or at
   * the least an agent broken by someone else's change.
   */
  function refusedAfterRevocation(e: TokenEvent): Detection | null {
    // A user's own consent taken back refuses that user's delegated tokens: a privacy review, not the agent's loss.
    if (e.flow === 'on_behalf_of') return null;
    const r = revocations.get(e.tenant_id, e.agent_id);
    if (r === undefined || r.fired || e.time - r.t > REVOCATION_WATCH_MS || r.t - e.time > ALLOWED_LATENESS_MS) return null;
    let asked = false;
    for (const s of e.scopes) if (permissionName(s) === r.p) asked = true;
    if (!asked) return null;
    // Taken from 3 or more agents by that actor within the half hour: an access review's clean-up.
    if (revokeSprees.agentsAround(e.tenant_id, r.actor, r.t, REVOCATION_SPREE_MS) >= REVOCATION_SPREE_AGENTS) return null;
    r.fired = true;
    if (e.time > r.at) r.at = e.time;
    return {
      detector: scopeEscalationMeta.id,
      severity: 'medium',
      tenant_id: e.tenant_id,
      agent_id: e.agent_id,
      time: e.time,
      summary: `Agent ${e.agent_id}'s token request for ${r.p} was refused after ${r.actor}, who is not its sponsor and did not grant it, revoked that permission at ${new Date(r.t).toISOString()}: an agent cut off from a permission it works with (defences impaired, or broken by someone else's change)`,
      evidence: {
        observed: { revoked_permission: r.p, revoked_by: r.actor, revoked_at: r.t, refused_scopes: e.scopes.slice(), resource: e.resource },
        baseline: 'permissions are taken from an agent by its sponsors, or expire with their grant',
        threshold: `a refused request for the permission within ${REVOCATION_WATCH_MS / 3_600_000} h of its revocation by a non-sponsor who did not grant it`,
        peer_group: peerGroupName(e.blueprint_id),
      },
      event_ids: [r.id, e.event_id],
    };
  }

  function onTokenScopes(e: TokenEvent, ctx: DetectorContext): Detection[] {
    const t = e.time;
    const gid = peerGroupId(e.blueprint_id, e.agent_id);
    let g = groups.find(ctx, e.tenant_id, gid);
    if (!g) {
      g = { at: t, bp: e.blueprint_id, f: t, n: 0, s: new Map() };
      groups.set(e.tenant_id, gid, g);
    } else {
      if (t > g.at) g.at = t;
      if (t < g.f) g.f = t;
    }
    g.n++;
    const granted = e.decision === 'granted';
    const app = e.flow === 'client_credentials';
    const isLearning = !learned(g, t);
    const scopes = scopeList(e.scopes);
    let out: Detection[] = NO_DETECTIONS;
    let agentHash = 0;
    for (let i = 0; i < scopes.length; i++) {
      const scope = scopes[i]!;
      const h = scopeKey(scope, granted, app);
      let entry = g.s.get(h);
      if (entry === undefined && app && g.v1 === true) entry = legacyEntry(g, h, scope, granted);
      if (entry !== undefined && entry.e) {
        if (t > entry.l) entry.l = t;
        continue;
      }
      if (isLearning) {
        // A privileged scope is learned for a blueprint only once several of
        // its agents use it: a new blueprint whose single agent was granted a
        // tier-0 scope has not shown that its agents hold it.
        if (g.bp !== null && o.isPrivileged(scope)) {
          if (agentHash === 0) agentHash = hashString(e.agent_id) | 1;
          learnPrivilegedAdopter(g, h, entry, agentHash, t);
        } else if (entry) {
          entry.e = true;
          entry.ag = entry.at = null;
          if (t > entry.l) entry.l = t;
        } else addEntry(g, h, { f: t, l: t, e: true, ag: null, at: null });
        // One low per blueprint and scope (its first use), not one per agent while it learns.
        const d = g.bp === null || entry === undefined ? learningPrivileged(e, g, scope, h, granted) : null;
        if (d !== null) {
          if (out === NO_DETECTIONS) out = [d];
          else out.push(d);
        }
        continue;
      }
      if (!granted) {
        // A blocked request for a scope the group is granted is no escalation.
        const ok = g.s.get(scopeKey(scope, true, app));
        if (ok !== undefined && ok.e) continue;
      }
      const privileged = o.isPrivileged(scope);
      if (!granted && !privileged) continue;
      if (agentHash === 0) agentHash = hashString(e.agent_id) | 1;
      let cur = entry;
      if (cur === undefined) {
        cur = { f: t, l: t, e: false, ag: [], at: [] };
        addEntry(g, h, cur);
      }
      if (t > cur.l) cur.l = t;
      const ag = cur.ag ?? (cur.ag = []);
      const at = cur.at ?? (cur.at = []);
      if (ag.includes(agentHash)) continue; // this agent already counted (and reported)
      // Granted by a user at medium or high user risk: no deployment (the attacker grants to several
      // agents at once as easily as to one), judged at once as if nobody had granted it.
      // So is a grant by an actor seen on a grant spree.
      const info = granted ? ctx.agent(e.tenant_id, e.agent_id) : undefined;
      const risky = granted ? riskyGrant(info, scope, t, ctx) : null;
      const tainted = risky ?? (granted ? spreeGrant(info, scope, t, ctx) : null);
      if (tainted !== null) {
        if (ag.length >= MAX_ADOPTERS) {
          ag.shift();
          at.shift();
        }
        ag.push(agentHash);
        at.push(t);
        const d = detection(e.tenant_id, e.agent_id, g, cur, scope, e.decision, privileged ? 'high' : sensitiveFor(g, scope, app) ? 'medium' : 'low', privileged, t, e.event_id, e.resource);
        if (risky !== null) {
          const risk = ctx.userRisk(e.tenant_id, tainted.actor);
          d.summary += `; granted to it by ${tainted.actor}, whose user risk is ${risk}`;
          (d.evidence.observed as Record<string, unknown>).granted_by_risky_user = { actor: tainted.actor, time: tainted.time, user_risk: risk };
        } else spreeTaint(d, tainted, e.tenant_id);
        if (out === NO_DETECTIONS) out = [d];
        else out.push(d);
        continue;
      }
      // Adopters within the hour make a deployment; so do those that used it while the blueprint learned
      // (counted from its first token event: `learned` also waits for events), whenever: the blueprint's
      // own pattern from its start, which the last of its agents joins later.
      let recent = 1;
      for (let j = 0; j < at.length; j++) if (Math.abs(t - at[j]!) <= o.adoptSpanMs || at[j]! - g.f <= o.learnMs) recent++;
      if (recent >= o.adoptAgents) {
        cur.e = true; // deployment: the blueprint adopted it
        cur.ag = cur.at = null;
        continue;
      }
      if (ag.length >= MAX_ADOPTERS) {
        ag.shift();
        at.shift();
      }
      ag.push(agentHash);
      at.push(t);
      // A privileged or sensitive scope needs a known sponsor's grant (or the blueprint's consent): an agent
      // with no known sponsor is not anyone's to hand a mailbox or a tier-0 role.
      // A delegated scope the token's own user consented to (incremental consent) reaches only that user's data.
      const consenter = !privileged && !app && e.flow === 'on_behalf_of' ? e.user_id : null;
      const grant = granted ? sanctionedGrant(info, g, scope, privileged || sensitiveFor(g, scope, app), t, ctx, consenter, privileged) : null;
      if (privileged) {
        const d = detection(
          e.tenant_id, e.agent_id, g, cur, scope, e.decision, grant ? 'low' : granted ? 'high' : 'medium', true, t, e.event_id, e.resource, grant,
        );
        if (out === NO_DETECTIONS) out = [d];
        else out.push(d);
        const actor = !grant && granted ? grantingAgent(info, scope, t, ctx) : null;
        const gd = actor === null ? null : grantorFinding(e.tenant_id, actor, e.agent_id, scope, true, t, e.event_id);
        if (gd !== null) out.push(gd);
      } else {
        if (pending.length >= o.maxPending) pending.shift();
        // Who granted it, when no sponsor who vouches did: the grant spree that actor is on may come to light before the window closes.
        const by = info !== undefined ? unvouchedGrant(info, scope, t, ctx)?.actor : undefined;
        const byAgent = by !== undefined && by !== e.agent_id && ctx.agent(e.tenant_id, by) !== undefined;
        pending.push({ tenant: e.tenant_id, agent: e.agent_id, group: gid, bp: e.blueprint_id, scope, h, t, id: e.event_id, resource: e.resource, grant, ...(app ? { app } : {}), ...(by !== undefined ? { by } : {}), ...(byAgent ? { byAgent } : {}), ...(by !== undefined && grant === null && sensitiveFor(g, scope, app) && !grantedToOthers(g, scope, by, e.agent_id, t) ? { now: true } : {}) });
      }
    }
    return out;
  }

  /** Whether no other adopter of a not-yet-established scope is within `adoptSpanMs` of `t`, and fewer than two ever were. */
  function aloneWith(entry: ScopeEntry, agentHash: number, t: number): boolean {
    const ag = entry.ag ?? [];
    const at = entry.at ?? [];
    let others = 0;
    for (let j = 0; j < ag.length; j++) {
      if (ag[j] === agentHash) continue;
      if (Math.abs(t - at[j]!) <= o.adoptSpanMs) return false;
      others++;
    }
    return others < 2;
  }

  /** New non-privileged scopes whose adoption window closed by `watermark`: reported unless the blueprint adopted them. */
  function decidePending(watermark: number): Detection[] {
    if (pending.length === 0) return NO_DETECTIONS;
    let out: Detection[] = NO_DETECTIONS;
    const keep: Pending[] = [];
    for (const p of pending) {
      // Granted by an actor on a grant spree: judged at once (see the header), not after the adoption window.
      const spree = p.by !== undefined ? spreeActors.get(p.tenant, identityKey(p.by)) : undefined;
      if (spree === undefined && p.t + (p.now === true ? LONE_GRANT_HOLD_MS : o.adoptWindowMs) > watermark) {
        keep.push(p);
        continue;
      }
      if (spree === undefined && p.now === true) {
        // Granted to other agents of the blueprint by then: a rollout under way, the adoption window is waited.
        const g0 = groups.get(p.tenant, p.group);
        if (g0 !== undefined && grantedToOthers(g0, p.scope, p.by!, p.agent, p.t)) {
          p.now = false;
          if (p.t + o.adoptWindowMs > watermark) {
            keep.push(p);
            continue;
          }
        }
      }
      const g = groups.get(p.tenant, p.group);
      const entry = g?.s.get(p.h);
      if (spree !== undefined && g && entry) {
        const d = detection(p.tenant, p.agent, g, entry, p.scope, 'granted', sensitiveFor(g, p.scope, p.app === true) ? 'medium' : 'low', false, Math.max(p.t, spree.since), p.id, p.resource);
        spreeTaint(d, { actor: p.by!, time: spree.since, permission: p.scope }, p.tenant);
        if (out === NO_DETECTIONS) out = [d];
        else out.push(d);
        continue;
      }
      if (!g || !entry || entry.e) continue; // deployment (or forgotten)
      // Sensitive and alone: no other agent of the blueprint took the scope up within the hour (a
      // slow rollout at night has a second adopter within minutes, an attacker's grant does not),
      // nor two others ever (the blueprint's rare scope). One other agent hours ago vouches for
      // nothing: its use was reported too, and may have been the same attacker's.
      const app = p.app === true;
      const sensitive = sensitiveFor(g, p.scope, app) && aloneWith(entry, hashString(p.agent) | 1, p.t);
      const grant = p.grant ?? null;
      // Dated when the adoption window closed (not when the watermark got there: a sparse stream would date it late).
      const d = detection(p.tenant, p.agent, g, entry, p.scope, 'granted', sensitive && !grant ? 'medium' : 'low', false, p.now === true ? p.t + LONE_GRANT_HOLD_MS : p.t + o.adoptWindowMs, p.id, p.resource, grant);
      if (p.now === true && p.by !== undefined) {
        d.summary += `; granted to it by ${p.by}, who is not a sponsor of the agent`;
        (d.evidence.observed as Record<string, unknown>).granted_by_non_sponsor = p.by;
      }
      if (app) {
        d.summary = d.summary.replace(`scope ${p.scope}`, `scope ${p.scope} as an application permission (app-only: every user's data, not a signed-in user's)`);
        (d.evidence.observed as Record<string, unknown>).flow = 'client_credentials';
      }
      if (sensitive) d.summary = d.summary.replace(`scope ${p.scope}`, `sensitive scope ${p.scope}`);
      if (out === NO_DETECTIONS) out = [d];
      else out.push(d);
      const gd = d.severity === 'medium' && p.byAgent === true ? grantorFinding(p.tenant, p.by!, p.agent, p.scope, false, d.time, p.id) : null;
      if (gd !== null) out.push(gd);
    }
    pending = keep;
    return out;
  }

  /** Per tenant, the actors (and sponsors) of its lifecycle events, by identity key, with their latest (see strangerOnBlueprint). */
  const actors = new TenantMap<ActorSeen>(MAX_ACTORS);
  /** Per tenant, its first lifecycle event (ms). */
  const watchedSince = new Map<string, number>();

  function noteActors(e: LifecycleEvent): void {
    if (!watchedSince.has(e.tenant_id)) watchedSince.set(e.tenant_id, e.time);
    for (const who of [e.actor, e.sponsor_id]) {
      if (who === null || who === '') continue;
      const k = identityKey(who);
      let a = actors.get(e.tenant_id, k);
      if (a === undefined) actors.set(e.tenant_id, k, (a = { at: e.time }));
      else if (e.time > a.at) a.at = e.time;
      if (who === e.actor && e.action === 'permission_granted') {
        if (a.gf === undefined || e.time < a.gf) a.gf = e.time;
        const gn = (a.gn ??= []);
        const h = hashString(e.agent_id);
        if (gn.length < ESTABLISHED_GRANTEES && !gn.includes(h)) gn.push(h);
      }
    }
  }

  /**
   * A sensitive or privileged permission granted on a blueprint's principal
   * (its record's agent id is the blueprint's: every agent of the blueprint
   * inherits what it is granted) by an actor the tenant's lifecycle events
   * never showed (no agent created, sponsored, credentialed or granted by
   * them), once they have been watched actorLearnMs: a compromised
   * administrator's account reaching every agent of a blueprint at once.
   * Low for a sensitive permission, medium for a privileged one; the agents'
   * use of it is judged on its own.
   */
  function strangerOnBlueprint(e: LifecycleEvent): Detection | null {
    if (e.permission === null || e.blueprint_id === null || e.agent_id !== e.blueprint_id) return null;
    const privileged = o.isPrivileged(e.permission);
    if (!privileged && !o.isSensitive(e.permission)) return null;
    const since = watchedSince.get(e.tenant_id);
    if (since === undefined || e.time - since < o.actorLearnMs) return null;
    if (actors.get(e.tenant_id, identityKey(e.actor)) !== undefined) return null;
    return {
      detector: scopeEscalationMeta.id,
      severity: privileged ? 'medium' : 'low',
      tenant_id: e.tenant_id,
      agent_id: e.agent_id,
      time: e.time,
      summary:
        `${privileged ? 'Privileged' : 'Sensitive'} permission ${e.permission} was granted on blueprint ${e.blueprint_id}'s principal, inherited by every agent of the blueprint, ` +
        `by ${e.actor}, an actor never seen creating, sponsoring, credentialing or granting any agent of the tenant`,
      evidence: {
        observed: { permission: e.permission, actor: e.actor, privileged },
        baseline: { tenant_actors_known: actors.sizeIn(e.tenant_id), watched_since: since },
        threshold: `a sensitive or privileged permission on a blueprint principal by an actor absent from ${Math.round((e.time - since) / 3_600_000)} h of the tenant's lifecycle events`,
        peer_group: peerGroupName(e.blueprint_id) ?? `agent:${e.agent_id}`,
      },
      event_ids: [e.event_id],
    };
  }

  return {
    types: ['token', 'lifecycle'] as const,
    meta: scopeEscalationMeta,
    observe(e: AgentEvent, ctx: DetectorContext): Detection[] {
      if (e.type === 'token') return onToken(e, ctx);
      if (e.type !== 'lifecycle') return NO_DETECTIONS;
      let out = NO_DETECTIONS;
      if (e.action === 'permission_granted') {
        const stranger = strangerOnBlueprint(e);
        out = onGrant(e, ctx);
        if (stranger !== null) out = out.length === 0 ? [stranger] : [...out, stranger];
      } else if (e.action === 'permission_revoked') out = onRevoke(e, ctx);
      noteActors(e);
      return out;
    },
    advance: (watermark: number): Detection[] => decidePending(watermark),
    // End of a replay: every new scope still waiting is decided (dated when its adoption window closed).
    settle: (): Detection[] => decidePending(Infinity),
    evict(before: number): void {
      groups.evict(before);
      if (pending.length > 0) pending = pending.filter((p) => p.t >= before);
      grantSprees.evict(before);
      spreeActors.evict(before);
      spreeReported.evict(before);
      revocations.evict(before);
      revokeSprees.evict(before);
      for (const [k, t] of grantors) if (t < before) grantors.delete(k);
      actors.evict(before);
    },
    size(): number {
      return groups.size + pending.length + grantSprees.size + spreeActors.size + spreeReported.size + revocations.size + revokeSprees.size + actors.size;
    },
    snapshot(): unknown {
      const rows: [string, string, Omit<Group, 's'> & { s: [number, ScopeEntry][] }][] = [];
      for (const [t, id, g] of groups.entries()) rows.push([t, id, { at: g.at, bp: g.bp, f: g.f, n: g.n, s: [...g.s], ...(g.v1 ? { v1: true } : {}), ...(g.gr ? { gr: g.gr } : {}), ...(g.lr ? { lr: g.lr } : {}) }]);
      return clone({ version: 2, groups: rows, pending, sprees: grantSprees.snapshot(), spreeActors: spreeActors.snapshot(), spreeReported: spreeReported.snapshot(), revocations: revocations.snapshot(), revokeSprees: revokeSprees.snapshot(), grantors: [...grantors], actors: actors.snapshot(), watchedSince: [...watchedSince] });
    },
    restore(snapshot: unknown): void {
      const s = clone(snapshot) as {
        version: number;
        groups: [string, string, Omit<Group, 's'> & { s: [number, ScopeEntry][] }][];
        pending: Pending[];
        /** Absent in snapshots taken before grant sprees were watched. */
        sprees?: ActorSpreesSnapshot;
        spreeActors?: [string, string, SpreeActor][];
        spreeReported?: [string, string, Timed][];
        /** Absent in snapshots taken before revocations were watched. */
        revocations?: [string, string, Revocation][];
        revokeSprees?: ActorSpreesSnapshot;
        /** Absent in snapshots taken before granting agents were reported. */
        grantors?: [string, number][];
        /** Absent in snapshots taken before actors were remembered. */
        actors?: [string, string, ActorSeen][];
        watchedSince?: [string, number][];
      };
      if (s?.version !== 1 && s?.version !== 2) throw new Error('scope-escalation: unsupported snapshot');
      // Version 1 keyed application permissions as delegated scopes (see legacyEntry).
      const v1 = s.version === 1;
      groups.restore(s.groups.map(([t, id, g]) => [t, id, { ...g, s: new Map(g.s), ...(v1 ? { v1: true } : {}) }]));
      pending = s.pending;
      grantSprees.restore(s.sprees);
      spreeActors.restore(s.spreeActors ?? []);
      spreeReported.restore(s.spreeReported ?? []);
      revocations.restore(s.revocations ?? []);
      revokeSprees.restore(s.revokeSprees);
      grantors.clear();
      for (const [k, t] of s.grantors ?? []) grantors.set(k, t);
      actors.restore(s.actors ?? []);
      watchedSince.clear();
      for (const [t, at] of s.watchedSince ?? []) watchedSince.set(t, at);
    },
  };
}

// Detector 5 — unfamiliar-signin-properties: a successful sign-in with
// properties (ASN, country, user agent, credential type, credential id) that
// are new to the agent AND to its blueprint's peers.
//
// - A value the blueprint's peers already use is familiar; several distinct
//   agents of the blueprint adopting the same new value within a short window
//   is a deployment (e.g. a move to a new region) and benign.
// - A credential recently added by a sponsor (or by an administrator other than
//   the agent itself when no sponsor is known) and then used is rotation.
// - User agents are compared without digits: a version bump is not a new client.
// - Weighted by how many properties are new at once: one is low; two or more
//   (e.g. a new network and country together) are medium. A value other agents
//   of the tenant already use (another blueprint's network) weighs half; a
//   country does not when the network is new to the whole tenant (the
//   tenant's workloads in that country run elsewhere: a VPS there is not
//   one of them).
// - Medium is confirmed after 3 minutes of event time: reported low at once,
//   then medium unless other agents of the blueprint adopted the same values
//   meanwhile (the first movers of a region move are not attacks). When one
//   other agent has followed by then, but not yet the several that make a
//   deployment, the decision waits until 10 minutes after the sign-in: a
//   staggered rollout moves an agent every few minutes, while a thief's new
//   place is followed by no one. It waits too when fewer than 3 sign-ins of
//   other agents of the blueprint came in meanwhile: a quiet blueprint has
//   not yet shown whether it follows; but not when the sign-in presents a
//   credential added within the week by no one who vouches for it (see
//   unvouchedAddition): no rollout sanctioned that credential.
// - A credential one of the agent's sponsors (appointed by someone else, at
//   no medium or high user risk) added within the last 24 hours, presented
//   from a new place with a new client, is that sponsor running the agent
//   (an on-call engineer debugging it from a laptop with a temporary
//   secret): low, on the record, never medium by itself. Not once the agent
//   has signed in with it before (a credential put to use where the agent
//   runs is the agent's own: a copy of it used elsewhere is no sponsor's
//   first try of a new secret). Not when that
//   sponsor added credentials to 4 or more agents within 10 minutes of it
//   (see ActorSprees): that is no one debugging one agent, but a
//   rotation service or an administrator account planting credentials
//   across the fleet, and a credential from it used from a new place with a
//   new client is judged like any other.
// - An agent that took up a network its blueprint adopted within the
//   deployment window (so not judged) is watched for an hour: a sign-in
//   from its previous network, or a call from there a minute or more after,
//   means it never moved with the others: low. A blueprint that moves
//   leaves its old network; a host signing in as several agents with their
//   blueprint's shared credential leaves them where they are.
// - A new user agent of offensive tooling (roadtx, ROADrecon, GraphRunner,
//   AADInternals, TokenTactics, AzureHound...: see isOffensiveClient) weighs
//   one more and is medium at once, even before the baselines have learned:
//   no deployment moves to it, and no sponsor debugs an agent with it.
// - An unaudited credential: a new credential id that no addition record
//   (credential_added) names, presented from another subnet than the
//   credential the agent used before it, which was in use within the hour,
//   weighs one more (the new id and this: medium, confirmed like the rest).
//   A rotation is recorded and moves the agent to the new credential where
//   it runs; a certificate put on the app object past the audit feed (by
//   another compromised principal) runs beside the agent's own, from the
//   thief's host. An addition record that arrives late, before the
//   confirmation, takes the extra weight back. A managed identity's
//   credentials rotate unrecorded: never.
// - A new client that is a bare HTTP client or shell (python-requests,
//   curl, Go's net/http, axios, Postman, PowerShell: see RAW_HTTP_CLIENT)
//   weighs double for a workload signing in with client credentials (medium,
//   confirmed like the rest): a workload signs in through its identity SDK;
//   a person who found its secret pastes it into a script. So does a new
//   client on a desktop operating system (Windows 10 or 11 client builds,
//   macOS: see DESKTOP_OS): its certificate exported to a laptop, or to a PC
//   in an internet café.
// - A new network that is a consumer broadband or mobile ISP (see
//   CONSUMER_ASNS) weighs double for a workload signing in with client
//   credentials (medium, confirmed like the rest): no cloud workload runs in
//   a home; a stolen secret sent through a residential proxy to look local
//   does. Carriers that also host data centres are not listed.
// - A new network of a hosting provider (see HOSTING_ASNS) that none of the
//   tenant's workloads signs in from weighs double for a workload signing in
//   with client credentials (medium, confirmed like the rest): a machine
//   rented by the hour in the agent's own country, the SDK's user agent
//   copied, is where a stolen credential is used; a blueprint that moves to
//   a new cloud moves together (its peers follow: low).
// - A workload alone on a network new to the tenant, nothing else new (low),
//   is watched for the hour: working from its own network within 3 minutes
//   after a use from the new one, and from the new one again within 3
//   minutes after that, it has one credential in two places at once (a
//   client assertion replayed, a key copied to a VPS in the same country
//   with the SDK's user agent): medium. A move stops the old host; a
//   failover to a backup line does not run both lines at once.
// - A sponsor who created the agent within the day and never created or
//   credentialed another agent of its blueprint vouches for nothing: the
//   delete-and-recreate of an impersonator is not an engineer debugging.

import type { AgentEvent, NetworkEvent, SigninEvent } from '../contract/events.js';
import type { Detection, Severity } from './types.js';
import type { AgentInfo, Detector, DetectorContext } from './detector.js';
import { ALLOWED_LATENESS_MS, formatDuration, isSanctionedActor, isVouchingSponsor, peerGroupId, peerGroupName, unvouchedAddition, type CredentialSighting, type UserRiskView } from './detector.js';
import { isPrivateAddress, sameSubnet } from './addresses.js';
import { DueQueue } from './due-queue.js';
import { ActorSprees, type ActorSpreesSnapshot } from './actor-sprees.js';
import {
  NO_DETECTIONS,
  AgentStore,
  GroupStore,
  TenantMap,
  type SlotState,
  blueprintOf,
  compactAddAll,
  clientHash,
  hashInt,
  hashString,
  peerAdopt,
  peerGroup,
  touchPeerGroup,
  peerFamiliar,
  peerVerdictCode,
  sec,
  restoreGroups,
  snapshotGroups,
  tagHash,
  type PeerGroup,
  type PeerGroupSnapshot,
  type Timed,
} from './agent-directory.js';

export interface UnfamiliarSigninPropertiesOptions {
  /** Property values remembered per agent (all properties together). */
  agentCap?: number;
  peerCap?: number;
  agentLearnEvents?: number;
  agentLearnMs?: number;
  /** A quiet agent's baseline is ready after this many sign-ins over this long. */
  quietAgentLearnEvents?: number;
  quietAgentLearnMs?: number;
  peerLearnAgents?: number;
  peerLearnEvents?: number;
  peerLearnMs?: number;
  deploymentAgents?: number;
  deploymentWindowMs?: number;
  /** A credential added this recently by a sponsor/admin is rotation when first used. */
  rotationWindowMs?: number;
  /** New properties with a credential one of the agent's sponsors added this recently are low at most, ms. */
  sponsorCredentialMs?: number;
  /**
   * Unless that sponsor added credentials to this many agents within
   * spreeWindowMs of it (a spree: no one debugging one agent).
   */
  spreeAgents?: number;
  spreeWindowMs?: number;
  /** Summed weight of new properties for low / medium. */
  lowWeight?: number;
  mediumWeight?: number;
  /**
   * A value (network, country, client, credential type) that at least this
   * many agents elsewhere in the tenant use without being flagged is less
   * novel: it weighs tenantFamiliarWeight instead of its full weight.
   */
  tenantFamiliarAgents?: number;
  tenantFamiliarWeight?: number;
  /**
   * A medium finding is confirmed this long after the sign-in (event time):
   * reported low at once, then medium unless other agents of the blueprint
   * adopted the same values meanwhile (the first movers of a deployment).
   * 0 reports medium at once.
   */
  confirmMs?: number;
  /**
   * When another agent of the blueprint adopted one of the new values by the
   * confirmation time (a rollout under way?), the decision waits until this
   * long after the sign-in instead.
   */
  followMs?: number;
  /**
   * Sign-ins by the blueprint (any agent) after the agent's that the
   * confirmation wants to have seen: in a quieter blueprint the others may not
   * have signed in since, followers included, and the decision waits until
   * `followMs` too.
   */
  witnessSignins?: number;
  /**
   * An unaudited credential: a new credential id no addition record
   * (credential_added) explains, presented from another subnet than the
   * credential the agent used before it, which was in use within this
   * window (ms): weighs `unauditedWeight` more.
   */
  unauditedConcurrentMs?: number;
  unauditedWeight?: number;
  /**
   * An agent that took up a network its blueprint adopted within the
   * deployment window and signs in from its previous network again within
   * this long did not move with it: low, ms.
   */
  returnWithinMs?: number;
  /** A call from the previous network counts this long after the sign-in elsewhere, ms. */
  settleMs?: number;
  /**
   * An agent alone on a network new to it, its blueprint and the tenant
   * (low) that works from its own network within this long after a use from
   * the new one, and from the new one again within this long after that:
   * one credential in two places at once, medium, ms.
   */
  interleaveMs?: number;
  /** A new user agent of offensive tooling (see isOffensiveClient) weighs this much more, and is medium at once. */
  offensiveClientWeight?: number;
}

const PROPS = ['country', 'asn', 'user_agent', 'credential_type', 'credential_id'] as const;
type Prop = (typeof PROPS)[number];
const WEIGHT: Record<Prop, number> = { country: 1, asn: 1, user_agent: 1, credential_type: 0.5, credential_id: 1 };
const TENANT_GROUP = '\u0000tenant';
const COUNTRY = 0;
const ASN = 1;
const UA = 2;
const CTYPE = 3;
const CID = 4;

interface AgentState extends SlotState {
  first: number;
  n: number;
  known: number[];
}

interface Snapshot {
  agents: [string, string, AgentState][];
  groups: [string, string, PeerGroupSnapshot][];
  tenants: [string, string, PeerGroupSnapshot][];
  pending: Pending[];
  /** Absent from snapshots taken before it was kept. */
  sprees?: ActorSpreesSnapshot;
  /** Absent from snapshots taken before creators were kept. */
  creations?: ActorSpreesSnapshot;
  /** Absent from snapshots taken before moves were watched. */
  moved?: [string, string, Moved][];
}

const DEFAULTS: Required<UnfamiliarSigninPropertiesOptions> = {
  agentCap: 24,
  peerCap: 512,
  agentLearnEvents: 10,
  agentLearnMs: 10 * 60_000,
  quietAgentLearnEvents: 5,
  quietAgentLearnMs: 2 * 3_600_000,
  peerLearnAgents: 3,
  peerLearnEvents: 10,
  peerLearnMs: 30 * 60_000,
  deploymentAgents: 3,
  deploymentWindowMs: 30 * 60_000,
  rotationWindowMs: 7 * 24 * 3600_000,
  sponsorCredentialMs: 24 * 3600_000,
  spreeAgents: 4,
  spreeWindowMs: 10 * 60_000,
  lowWeight: 1,
  mediumWeight: 2,
  tenantFamiliarAgents: 3,
  tenantFamiliarWeight: 0.5,
  confirmMs: 3 * 60_000,
  followMs: 10 * 60_000,
  witnessSignins: 3,
  unauditedConcurrentMs: 60 * 60_000,
  unauditedWeight: 1,
  offensiveClientWeight: 1,
  returnWithinMs: 60 * 60_000,
  settleMs: 60_000,
  interleaveMs: 3 * 60_000,
};

/**
 * Clients of offensive tooling against Entra ID and Microsoft 365 (token
 * theft and replay, directory reconnaissance, password spraying, Graph
 * post-exploitation) and of generic attack tools, by the names their user
 * agents carry by default. A workload's own code never presents them; an
 * intruder on the agent's host running them with its credential does
 * (ROADtools and AADInternals in Entra intrusions, GraphRunner after them).
 */
const OFFENSIVE_CLIENT =
  /(?:^|[^a-z0-9])(?:roadtx|roadrecon|roadtools|roadlib|graphrunner|aadinternals|tokentactics(?:v2)?|azurehound|microburst|powerzure|graphspy|o365spray|msolspray|teamfiltration|trevorspray|spray365|mfasweep|evilginx2?|stormspotter|impacket|sqlmap|nuclei|masscan|nmap)(?:$|[^a-z0-9])/i;

export function isOffensiveClient(userAgent: string): boolean {
  return OFFENSIVE_CLIENT.test(userAgent);
}

/** A sign-in whose new properties would make it medium, waiting to see whether the blueprint follows. */
interface Pending {
  tenant_id: string;
  agent_id: string;
  blueprint_id: string;
  agentHash: number;
  time: number;
  due: number;
  event_id: string;
  names: string[];
  values: (string | number | null)[];
  hashes: number[];
  weights: number[];
  /** The decision was put off to `followMs` after the sign-in (another agent followed, or the blueprint was quiet). */
  extended?: boolean;
  /** The sign-in presented a credential added within the rotation window by no one who vouches for it (see unvouchedAddition). */
  unvouched?: boolean;
  /** The unaudited credential weighed in (see unauditedConcurrentMs): its id, until a late addition record explains it. */
  unaudited?: string;
}

/** An agent watched after taking up a network with its blueprint (see watchMove). */
interface Moved extends Timed {
  home: string;
  ip: string;
  t: number;
  id: string;
  asn: number | null;
  adopters: number;
  bp: string | null;
  /** Watched alone (no deployment took it there; see watchSolo): the latest use from the new network, the first from home after it (ms) and its event. */
  solo?: boolean;
  lf?: number;
  hb?: number;
  hid?: string;
}

/** The pseudo-property an unaudited credential adds to a finding. */
const UNAUDITED = 'unaudited_credential';

/** Successful sign-ins of a blueprint remembered (time and agent state), to tell a quiet blueprint from one that did not follow. */
const WITNESSES = 8;

/** A peer group with a ring of its latest successful sign-ins (transient: not in snapshots). */
interface WitnessedGroup extends PeerGroup {
  wt?: number[];
  wa?: (AgentState | null)[];
  /** Next slot of the ring; sign-ins recorded (at most WITNESSES). */
  wi?: number;
  wn?: number;
}

function witness(g: WitnessedGroup, t: number, a: AgentState): void {
  if (g.wt === undefined) {
    g.wt = new Array<number>(WITNESSES).fill(0);
    g.wa = new Array<AgentState | null>(WITNESSES).fill(null);
    g.wi = 0;
    g.wn = 0;
  }
  const i = g.wi!;
  g.wt[i] = t;
  g.wa![i] = a;
  g.wi = (i + 1) % WITNESSES;
  if (g.wn! < WITNESSES) g.wn!++;
}

/**
 * Whether fewer than `needed` sign-ins of other agents of the group fell in
 * (from, to] — the blueprint was too quiet to show that it did not follow.
 * When the ring has already moved past `from` (a busy blueprint), it was not.
 */
function quietBetween(g: WitnessedGroup, own: AgentState | undefined, from: number, to: number, needed: number): boolean {
  const n = g.wn ?? 0;
  let others = 0;
  let oldest = Infinity;
  for (let i = 0; i < n; i++) {
    const ti = g.wt![i]!;
    if (ti < oldest) oldest = ti;
    if (ti > from && ti <= to && g.wa![i] !== own) others++;
  }
  if (n === WITNESSES && oldest > from) return false;
  return others < needed;
}

function valueOf(e: SigninEvent, p: number): string | number | null {
  switch (p) {
    case COUNTRY:
      return e.country;
    case ASN:
      return e.asn;
    case UA:
      return e.user_agent;
    case CTYPE:
      return e.credential_type;
    default:
      return e.credential_id;
  }
}

/**
 * The weight of property p when new: its WEIGHT, except a credential type
 * that is a client secret, where the agent and its blueprint used stronger
 * credentials (certificates, federated, managed identities), which weighs as
 * much as a new network (and is not halved when other blueprints of the
 * tenant use secrets): a secret is what an insider takes home, not what a
 * deployment moves to.
 */
/**
 * Consumer broadband and mobile networks (cable and mobile ISPs whose
 * addresses are homes and phones, not data centres): Comcast 7922, Charter
 * Spectrum 20115 11426 11427 12271 20001 10796 33363 11351 7843, Cox 22773,
 * Frontier 5650, Mediacom 30036, Altice Optimum 6128, WOW 12083, T-Mobile US
 * 21928, Verizon Wireless 6167 22394, AT&T Mobility 20057, Virgin Media 5089,
 * Sky 5607, TalkTalk 13285, Ziggo 33915, Free 12322, SFR 15557, Bouygues 5410,
 * Vodafone Kabel 3209, Rogers 812, Shaw 6327. Carriers that also run data
 * centres and corporate lines (AT&T 7018, Verizon 701, Deutsche Telekom 3320)
 * are not listed: a company's own site may sit there.
 */
const CONSUMER_ASNS = new Set([
  7922, 20115, 11426, 11427, 12271, 20001, 10796, 33363, 11351, 7843, 22773, 5650, 30036, 6128, 12083, 21928, 6167, 22394, 20057, 5089, 5607, 13285, 33915, 12322, 15557, 5410, 3209, 812,
  6327,
]);

/**
 * A workload's sign-in (client credentials, not an agent user account) from
 * a consumer network: no cloud workload runs in a home; a residential proxy
 * does (the stolen secret sent through it to look local).
 */
function consumerNetworkWorkload(e: SigninEvent): boolean {
  return e.asn !== null && e.flow === 'client_credentials' && e.agent_type !== 'agent_user' && CONSUMER_ASNS.has(e.asn);
}

/**
 * Hosting and cloud providers' networks (AS numbers): where anyone rents a
 * machine by the hour. AWS 16509 14618, Microsoft 8075, Google Cloud 396982
 * 15169, Oracle Cloud 31898, Alibaba Cloud 45102 37963, Tencent Cloud 132203
 * 45090, Huawei Cloud 136907 55990, IBM Cloud 36351, DigitalOcean 14061,
 * Linode 63949, Vultr 20473, OVHcloud 16276, Hetzner 24940 213230, M247
 * 9009, Contabo 51167, Scaleway 12876, Leaseweb 60781 28753 16265, Hostinger
 * 47583, Kamatera 36007, UpCloud 202053, Fly.io 40509, Equinix Metal 54825,
 * Rackspace 27357 33070, G-Core 199524 202422, Datacamp 60068, Zenlayer
 * 21859, Psychz 40676, QuadraNet 8100, ColoCrossing 36352, Stark Industries
 * 44477, Aeza 210644, Yandex Cloud 200350, Selectel 49505.
 */
const HOSTING_ASNS = new Set([
  16509, 14618, 8075, 396982, 15169, 31898, 45102, 37963, 132203, 45090, 136907, 55990, 36351, 14061, 63949, 20473, 16276, 24940, 213230, 9009, 51167, 12876, 60781, 28753, 16265,
  47583, 36007, 202053, 40509, 54825, 27357, 33070, 199524, 202422, 60068, 21859, 40676, 8100, 36352, 44477, 210644, 200350, 49505,
]);

/** Hyperscalers among HOSTING_ASNS: where organisations run their own workloads (Microsoft 8075, AWS 16509 14618, Google 15169 396982). */
const HYPERSCALER_ASNS = new Set([8075, 16509, 14618, 15169, 396982]);

/**
 * A network where anyone rents a machine by the hour and few organisations
 * run their workloads: a hosting provider's (HOSTING_ASNS) other than the
 * hyperscalers'.
 */
export function isRentedNetwork(asn: number | null): boolean {
  return asn !== null && HOSTING_ASNS.has(asn) && !HYPERSCALER_ASNS.has(asn);
}

/**
 * A workload's sign-in (client credentials, not an agent user account) from
 * a hosting provider's network. New to the whole tenant, it is a cloud none
 * of the tenant's workloads runs in: a machine rented by the hour, where a
 * stolen credential is used with the SDK's user agent copied, in the
 * agent's own country (a VPS in the same city as the agent's region).
 */
function hostingNetworkWorkload(e: SigninEvent): boolean {
  return e.asn !== null && e.flow === 'client_credentials' && e.agent_type !== 'agent_user' && HOSTING_ASNS.has(e.asn);
}

/**
 * Bare HTTP clients and shells (python-requests, curl, wget, Go's net/http,
 * axios, node-fetch, Postman, Insomnia, HTTPie, PowerShell): what a person
 * holding a secret types it into. A workload signs in through its identity
 * SDK (MSAL, azure-identity, azidentity), whose name its user agent carries.
 */
const RAW_HTTP_CLIENT = /(?:^|[\s(;])(?:python-requests|python-urllib\d?|curl|wget|go-http-client|axios|node-fetch|postmanruntime|insomnia|httpie|powershell|windowspowershell|libwww-perl)\//i;

/** A workload's sign-in (client credentials, not an agent user account) with a bare HTTP client (see RAW_HTTP_CLIENT). */
function rawClientWorkload(e: SigninEvent): boolean {
  return e.user_agent !== null && e.flow === 'client_credentials' && e.agent_type !== 'agent_user' && RAW_HTTP_CLIENT.test(e.user_agent);
}

/**
 * A desktop operating system in a client's user agent: Windows 10 and 11
 * client builds (10.0.19041-19045, 10.0.22000-22631: no Windows Server has
 * them; the servers' 14393, 17763, 20348 and 26100 are not matched) or
 * macOS. A workload runs on a server or a container; its credential on a
 * desktop is in a person's hands (exported to a laptop, a PC in an internet
 * café).
 */
const DESKTOP_OS = /(?:^|[^\d])10\.0\.(?:1904[1-5]|22[0-6]\d\d)(?!\d)|\bmac ?os ?x\b|\bmacos\b|\bmacintosh\b/i;

/** A workload's sign-in (client credentials, not an agent user account) from a desktop operating system (see DESKTOP_OS). */
function desktopClientWorkload(e: SigninEvent): boolean {
  return e.user_agent !== null && e.flow === 'client_credentials' && e.agent_type !== 'agent_user' && DESKTOP_OS.test(e.user_agent);
}

/**
 * A property's weight; a new network that is a consumer one for a workload weighs double (see
 * consumerNetworkWorkload), and so does one of a hosting provider none of the tenant's workloads uses
 * (`tenantKnown` false: see hostingNetworkWorkload), and a new client that is a bare HTTP client (see
 * rawClientWorkload).
 */
function propWeight(p: number, e: SigninEvent, tenantKnown = false): number {
  if (p === ASN) return consumerNetworkWorkload(e) || (!tenantKnown && hostingNetworkWorkload(e)) ? 2 * WEIGHT.asn : WEIGHT.asn;
  if (p === UA) return rawClientWorkload(e) || desktopClientWorkload(e) ? 2 * WEIGHT.user_agent : WEIGHT.user_agent;
  return p === CTYPE && e.credential_type === 'client_secret' ? 1 : WEIGHT[PROPS[p]!];
}

function propHash(e: SigninEvent, p: number): number {
  switch (p) {
    case COUNTRY:
      return e.country === null ? 0 : tagHash(hashString(e.country), p);
    case ASN:
      return e.asn === null ? 0 : tagHash(hashInt(e.asn), p);
    case UA:
      return e.user_agent === null ? 0 : tagHash(clientHash(e.user_agent), p);
    case CTYPE:
      return e.credential_type === null ? 0 : tagHash(hashString(e.credential_type), p);
    default:
      return e.credential_id === null ? 0 : tagHash(hashString(e.credential_id), p);
  }
}

/** The latest addition of the credential within `windowMs` before `at` by one of the agent's vouching sponsors (see isVouchingSponsor), or null. */
function sponsorAddition(info: AgentInfo | undefined, credentialId: string, at: number, windowMs: number, ctx: UserRiskView): AgentInfo['credentials_added'][number] | null {
  if (!info || info.sponsors.length === 0) return null;
  let found: AgentInfo['credentials_added'][number] | null = null;
  for (const c of info.credentials_added) {
    if (c.credential_id !== credentialId || at - c.time > windowMs || c.time > at + ALLOWED_LATENESS_MS) continue;
    if (isVouchingSponsor(info, c.actor, ctx) && (found === null || c.time > found.time)) found = c;
  }
  return found;
}

/** True when the credential was recently added by someone who may rotate it (a sponsor, or an admin other than the agent). */
function isRotation(info: AgentInfo | undefined, credentialId: string, at: number, windowMs: number, ctx: UserRiskView): boolean {
  if (!info) return false;
  for (const c of info.credentials_added) {
    if (c.credential_id !== credentialId) continue;
    if (at - c.time > windowMs) continue;
    if (isSanctionedActor(info, c.actor, ctx)) return true;
  }
  return false;
}

export function createUnfamiliarSigninPropertiesDetector(
  options: UnfamiliarSigninPropertiesOptions = {},
): Detector<Snapshot> {
  const o = { ...DEFAULTS, ...options };

  /** The credential was added within the rotation window by no one who vouches for it: no rollout sanctioned it. */
  function unvouchedCredential(info: AgentInfo | undefined, credentialId: string, at: number, ctx: UserRiskView): boolean {
    return info !== undefined && unvouchedAddition(info, credentialId, at, o.rotationWindowMs, ctx) !== null;
  }

  /**
   * The agent's use of the credential it presented before, when the new one
   * (`e`'s, new to the agent) is unaudited: no addition record names it,
   * and it comes from another subnet while that credential was in use
   * within unauditedConcurrentMs. A rotation is recorded and moves the agent
   * to the new credential where it runs; a credential planted past the
   * audit feed (on the app object by another compromised principal) runs
   * beside the agent's own, from the thief's host. A managed identity's
   * credentials rotate without a record: never.
   */
  function unauditedBeside(info: AgentInfo | undefined, e: SigninEvent): CredentialSighting | null {
    if (info === undefined || e.credential_id === null || e.credential_type === 'managed_identity') return null;
    for (const c of info.credentials_added) if (c.credential_id === e.credential_id) return null;
    const prev = info.signin_cred_prev ?? null;
    if (prev === null || prev.credential_id === e.credential_id || e.time - prev.time > o.unauditedConcurrentMs || sameSubnet(prev.ip, e.ip)) return null;
    return prev;
  }

  const agents = new AgentStore<AgentState>();
  const groups = new GroupStore<PeerGroup>();
  /** One peer group per tenant (key TENANT_GROUP): values used anywhere in the tenant. */
  const tenants = new TenantMap<PeerGroup>();
  const hashes = [0, 0, 0, 0, 0];
  /** The hashes new to the agent, in property order (scratch). */
  const added = [0, 0, 0, 0, 0];
  const pending = new DueQueue<Pending>();
  const sprees = new ActorSprees();
  // Who created which agents: a creator who never managed another agent of the blueprint vouches for nothing he just made.
  const creations = new ActorSprees('created');

  function describe(names: string[], values: (string | number | null)[]): string {
    return names.map((n, i) => `${n.replace('_', ' ')} ${typeof values[i] === 'string' ? JSON.stringify(values[i]) : String(values[i])}`).join(', ');
  }

  /**
   * Agents adopting one value within the deployment window that make it a
   * deployment: deploymentAgents, or every agent of a smaller blueprint (both
   * agents of a two-agent one failing over together), never one alone.
   */
  function quorum(g: PeerGroup): number {
    return Math.max(2, Math.min(o.deploymentAgents, g.agents));
  }

  /** A medium finding whose confirmation time came: medium unless the blueprint adopted enough of its values meanwhile. */
  function decide(p: Pending): Detection | null {
    const g = groups.get(p.tenant_id, p.blueprint_id);
    let weight = 0;
    const names: string[] = [];
    const values: (string | number | null)[] = [];
    const followed: string[] = [];
    let following = false;
    for (let i = 0; i < p.names.length; i++) {
      let deployed = false;
      if (g && p.names[i] !== 'credential_id' && p.names[i] !== UNAUDITED) {
        const code = peerVerdictCode(g, p.hashes[i]!, p.agentHash, p.time, o.deploymentWindowMs);
        deployed = (code & 1) !== 0 || code >>> 1 >= quorum(g);
        if (!deployed && code >>> 1 >= 2) following = true;
      }
      if (deployed) followed.push(p.names[i]!);
      else {
        weight += p.weights[i]!;
        names.push(p.names[i]!);
        values.push(p.values[i]!);
      }
    }
    if (weight < o.mediumWeight) return null;
    const quiet = g !== undefined && !p.extended && quietBetween(g, agents.peek(p.tenant_id, p.agent_id), p.time, p.due + ALLOWED_LATENESS_MS, o.witnessSignins);
    // A quiet blueprint may yet follow a rollout; a credential no one vouched for is no rollout.
    if ((following || (quiet && p.unvouched !== true)) && !p.extended && o.followMs > o.confirmMs) {
      p.extended = true;
      p.due = p.time + o.followMs;
      pending.add(p);
      return null;
    }
    const observed: Record<string, string | number | null> = {};
    names.forEach((n, i) => (observed[n] = values[i]!));
    return {
      detector: 'unfamiliar-signin-properties',
      severity: 'medium',
      tenant_id: p.tenant_id,
      agent_id: p.agent_id,
      time: p.due,
      summary: `Agent ${p.agent_id} signed in with ${describe(names, values)}, new to it and adopted by ${p.extended ? 'too few other agents' : 'no other agent'} of blueprint ${p.blueprint_id} within ${Math.round((p.due - p.time) / 60_000)} min (not a deployment)`,
      evidence: {
        observed,
        baseline: { adopted_by_peers: followed },
        threshold: { medium_weight: o.mediumWeight, deployment_agents: g ? quorum(g) : o.deploymentAgents, confirm_s: (p.due - p.time) / 1000 },
        peer_group: peerGroupName(p.blueprint_id),
        new_properties: names,
        weight,
      },
      event_ids: [p.event_id],
    };
  }

  /**
   * An addition record that came after the credential's first use (the
   * audit feed lags the sign-in log): the pending finding's unaudited
   * weight goes, and the credential is judged by who added it.
   */
  function explainLate(tenant: string, agent: string, credentialId: string, ctx: DetectorContext): void {
    const p = pending.get(tenant, agent);
    if (p === undefined || p.unaudited !== credentialId) return;
    const i = p.names.indexOf(UNAUDITED);
    if (i >= 0) {
      p.names.splice(i, 1);
      p.values.splice(i, 1);
      p.hashes.splice(i, 1);
      p.weights.splice(i, 1);
    }
    delete p.unaudited;
    if (unvouchedCredential(ctx.agent(tenant, agent), credentialId, p.time, ctx)) p.unvouched = true;
    else delete p.unvouched;
  }

  /**
   * Agents that took up a network several agents of their blueprint adopted
   * within minutes (a deployment, so not judged), watched for a sign-in
   * from their previous network: a blueprint that moves leaves it; one host
   * signing in as several agents with their (or their blueprint's shared)
   * credential leaves the agents where they are.
   */
  const moved = new TenantMap<Moved>();

  function watchMove(e: SigninEvent, ctx: DetectorContext, adopters: number, bp: string | null): void {
    const home = homeToWatch(e, ctx);
    if (home !== null) moved.set(e.tenant_id, e.agent_id, { at: e.time, home, ip: e.ip, t: e.time, id: e.event_id, asn: e.asn, adopters, bp });
  }

  /**
   * The agent's previous sign-in address, when a sign-in from elsewhere (not
   * its subnet, not a private address) is worth watching: null when not, or
   * when a watch of it is already running.
   */
  function homeToWatch(e: SigninEvent, ctx: DetectorContext): string | null {
    const info = ctx.agent(e.tenant_id, e.agent_id);
    const home = info === undefined ? null : info.signin_ip === e.ip ? (info.signin_ip_prev ?? null) : (info.signin_ip ?? null);
    if (home === null || sameSubnet(home, e.ip) || isPrivateAddress(e.ip)) return null;
    const w = moved.get(e.tenant_id, e.agent_id);
    return w !== undefined && e.time - w.t <= o.returnWithinMs ? null : home;
  }

  /**
   * Watches an agent alone on a network new to it, its blueprint and the
   * tenant (a low finding): see interleaved.
   */
  function watchSolo(e: SigninEvent, ctx: DetectorContext, bp: string | null): void {
    const home = homeToWatch(e, ctx);
    if (home !== null) moved.set(e.tenant_id, e.agent_id, { at: e.time, home, ip: e.ip, t: e.time, id: e.event_id, asn: e.asn, adopters: 0, bp, solo: true, lf: e.time });
  }

  /**
   * A solo watch (see watchSolo): the agent works from its own network
   * within interleaveMs after a use from the new one (a minute or more after
   * the sign-in there: calls in flight before a move do not count), and
   * the new network is used again within interleaveMs after that. A move
   * stops the old host, a failover to a backup line does not run both lines
   * at once: the credential is in two places (medium).
   */
  function interleaved(e: SigninEvent | NetworkEvent, w: Moved): Detection | null {
    if (sameSubnet(e.ip, w.ip)) {
      if (w.hb !== undefined && e.time - w.hb <= o.interleaveMs && e.time >= w.hb) {
        moved.delete(e.tenant_id, e.agent_id);
        return {
          detector: 'unfamiliar-signin-properties',
          severity: 'medium',
          tenant_id: e.tenant_id,
          agent_id: e.agent_id,
          time: e.time,
          summary:
            `Agent ${e.agent_id}'s credential signed in from ${w.ip} (ASN ${String(w.asn)}, new to the agent, its blueprint and the tenant) ${formatDuration(e.time - w.t)} ago, ` +
            `and the agent worked from its own network ${w.home} ${formatDuration(w.hb - (w.lf ?? w.t))} after a use from there and ${formatDuration(e.time - w.hb)} before the next: ` +
            'one credential in two places at once (a replayed assertion or a copied key), not a move',
          evidence: {
            observed: { ip: w.ip, asn: w.asn, home_ip: w.home, home_at: w.hb, foreign_again_at: e.time },
            baseline: { previous_ip: w.home },
            threshold: { interleave_within_s: o.interleaveMs / 1000, watch_s: o.returnWithinMs / 1000 },
            peer_group: peerGroupName(w.bp),
            new_properties: ['asn'],
          },
          event_ids: [w.id, w.hid ?? e.event_id, e.event_id],
        };
      }
      if (w.lf === undefined || e.time > w.lf) w.lf = e.time;
      return null;
    }
    if (!sameSubnet(e.ip, w.home) || e.time <= w.t + (e.type === 'network' ? o.settleMs : 0)) return null;
    if (w.hb === undefined || e.time - w.hb > o.interleaveMs) {
      if (e.time - (w.lf ?? w.t) <= o.interleaveMs) {
        w.hb = e.time;
        w.hid = e.event_id;
      } else delete w.hb;
    }
    return null;
  }

  /**
   * A watched agent signing in from its previous network again within
   * returnWithinMs, or calling from there a minute or more after (calls in
   * flight before a move do not count): it never moved (low).
   */
  function backHome(e: SigninEvent | NetworkEvent): Detection | null {
    const w = moved.get(e.tenant_id, e.agent_id);
    if (w === undefined || (w.solo !== true && e.time <= w.t + (e.type === 'network' ? o.settleMs : 0))) return null;
    if (e.time - w.t > o.returnWithinMs) {
      moved.delete(e.tenant_id, e.agent_id);
      return null;
    }
    if (w.solo === true) return interleaved(e, w);
    if (!sameSubnet(e.ip, w.home)) return null;
    moved.delete(e.tenant_id, e.agent_id);
    return {
      detector: 'unfamiliar-signin-properties',
      severity: 'low',
      tenant_id: e.tenant_id,
      agent_id: e.agent_id,
      time: e.time,
      summary:
        `Agent ${e.agent_id} signed in from ${w.ip} (ASN ${String(w.asn)}), a network ${w.adopters} agents of blueprint ${w.bp ?? '?'} took up within minutes, ` +
        `and ${e.type === 'network' ? `called ${e.dest_host} from its own network ${e.ip}` : `signed in again from its own network ${e.ip}`} ${formatDuration(e.time - w.t)} later: it did not move with them (one host signing in as several agents?)`,
      evidence: {
        observed: { ip: w.ip, asn: w.asn, back_home_ip: e.ip, back_after_s: Math.round((e.time - w.t) / 1000) },
        baseline: { previous_ip: w.home, agents_adopting_network: w.adopters },
        threshold: { return_within_s: o.returnWithinMs / 1000 },
        peer_group: peerGroupName(w.bp),
        new_properties: ['asn'],
      },
      event_ids: [w.id, e.event_id],
    };
  }

  /**
   * The sponsor `actor` who created the agent within `sponsorCredentialMs`
   * before `t` and never created, nor added a credential to, another agent
   * of its blueprint (among the latest actions kept per actor); null when he
   * did, or did not create it.
   */
  function strangerCreator(tenant: string, agentId: string, bp: string, actor: string, t: number, ctx: DetectorContext): { actor: string; created: number } | null {
    const info = ctx.agent(tenant, agentId);
    if (info === undefined || !info.created_seen || t - info.first_seen > o.sponsorCredentialMs) return null;
    const gid = peerGroupId(bp, agentId);
    const made = creations.actedOn(tenant, actor, agentId, gid);
    if (!made.self || made.peers || sprees.actedOn(tenant, actor, agentId, gid).peers) return null;
    return { actor, created: info.first_seen };
  }

  function advance(watermark: number): Detection[] {
    return pending.takeDue(watermark, decide);
  }

  function observe(e: AgentEvent, ctx: DetectorContext): Detection[] {
    if (e.type === 'lifecycle') {
      sprees.note(e);
      creations.note(e);
      if (e.action === 'credential_added' && e.credential_id !== null) explainLate(e.tenant_id, e.agent_id, e.credential_id, ctx);
      return NO_DETECTIONS;
    }
    if (e.type === 'network') {
      const back = moved.size === 0 ? null : backHome(e);
      return back === null ? NO_DETECTIONS : [back];
    }
    if (e.type !== 'signin' || e.result !== 'success') return NO_DETECTIONS;
    const back = moved.size === 0 ? null : backHome(e);
    if (back !== null) return [back];
    const t = e.time;
    const ts = sec(t);
    const bp = blueprintOf(e, ctx);
    let g: PeerGroup | undefined;
    if (bp !== null) {
      g = touchPeerGroup(groups, ctx, e.tenant_id, bp, t);
      g.events++;
      if (t < g.first) g.first = t;
    }
    let a = agents.get(ctx, e.tenant_id, e.agent_id);
    if (!a) {
      a = { e: 0, at: ts, first: ts, n: 0, known: [] };
      agents.set(ctx, e.tenant_id, e.agent_id, a);
      if (g) g.agents++;
    }
    if (g) witness(g, t, a);
    const seenBefore = a.n;
    a.n++;
    if (ts > a.at) a.at = ts;
    if (ts < a.first) a.first = ts;

    // Fast path: every present property already known to the agent.
    let unknown = 0;
    for (let p = 0; p < 5; p++) {
      const h = propHash(e, p);
      hashes[p] = h;
      if (h !== 0 && a.known.indexOf(h) < 0) unknown |= 1 << p;
    }
    if (unknown === 0) return NO_DETECTIONS;

    const agentHash = hashString(e.agent_id);
    // A busy agent learns in minutes; a quiet one (a filer signing in a few times a day) over hours: the
    // same few values on a handful of sign-ins spread over two hours are its settled pattern.
    const agentReady =
      (seenBefore >= o.agentLearnEvents && ts - a.first >= o.agentLearnMs / 1000) ||
      (seenBefore >= o.quietAgentLearnEvents && ts - a.first >= o.quietAgentLearnMs / 1000);
    const peerReady =
      g !== undefined && g.agents >= o.peerLearnAgents && g.events >= o.peerLearnEvents && t - g.first >= o.peerLearnMs;
    const judging = agentReady || peerReady;
    const rotation =
      (unknown & (1 << CID)) !== 0 && e.credential_id !== null
        ? isRotation(ctx.agent(e.tenant_id, e.agent_id), e.credential_id, t, o.rotationWindowMs, ctx)
        : false;

    let tg = tenants.get(e.tenant_id, TENANT_GROUP);
    if (!tg) {
      tg = peerGroup(t);
      tenants.set(e.tenant_id, TENANT_GROUP, tg);
    }
    if (t > tg.at) tg.at = t;

    let weight = 0;
    let novel = 0;
    let tenantKnown = 0;
    let movedWith = 0;
    for (let p = 0; p < 5; p++) {
      if ((unknown & (1 << p)) === 0) continue;
      const h = hashes[p]!;
      let familiar = false;
      if (g) {
        familiar = peerFamiliar(g, h, agentHash, t, o.deploymentWindowMs, quorum(g));
      }
      // A rotation explains a new credential, and a new type of it, except a client secret where the
      // agent used something stronger: a secret is what an insider takes home, not what a rotation moves to.
      if (rotation && (p === CID || (p === CTYPE && e.credential_type !== 'client_secret'))) familiar = true;
      // A network familiar only because agents of the blueprint took it up within the deployment window.
      if (p === ASN && familiar && judging && g) {
        const v = g.values.get(h);
        if (v !== undefined && t - v.first <= o.deploymentWindowMs) movedWith = v.adopters;
      }
      // A credential id is usually the agent's own: its peers cannot vouch for
      // it, so it is judged on the agent's own history only.
      if (!familiar && (p === CID ? agentReady : judging)) {
        novel |= 1 << p;
        // Another blueprint's secrets do not make this one's switch to a secret familiar.
        const tv = p === CID || (p === CTYPE && e.credential_type === 'client_secret') ? undefined : tg.values.get(h);
        if (tv !== undefined && tv.clean >= o.tenantFamiliarAgents) {
          tenantKnown |= 1 << p;
          weight += propWeight(p, e, true) * o.tenantFamiliarWeight;
        } else weight += propWeight(p, e);
      }
    }
    // A country other workloads of the tenant run in says nothing of a network none of them uses:
    // with the network new to the whole tenant, the country weighs in full.
    const foreignNetwork = (novel & (1 << ASN)) !== 0 && (tenantKnown & (1 << ASN)) === 0;
    if (foreignNetwork && (tenantKnown & (1 << COUNTRY)) !== 0) {
      tenantKnown &= ~(1 << COUNTRY);
      weight += propWeight(COUNTRY, e) * (1 - o.tenantFamiliarWeight);
    }
    // A client of offensive tooling is never a deployment's, nor a baseline still learning.
    const offensive = (unknown & (1 << UA)) !== 0 && e.user_agent !== null && isOffensiveClient(e.user_agent);
    if (offensive) {
      if ((novel & (1 << UA)) === 0) weight += propWeight(UA, e);
      else if ((tenantKnown & (1 << UA)) !== 0) weight += propWeight(UA, e) * (1 - o.tenantFamiliarWeight);
      novel |= 1 << UA;
      tenantKnown &= ~(1 << UA);
      weight += o.offensiveClientWeight;
    }
    const beside = (novel & (1 << CID)) !== 0 ? unauditedBeside(ctx.agent(e.tenant_id, e.agent_id), e) : null;
    if (beside !== null) weight += o.unauditedWeight;
    const fire = weight >= o.lowWeight;
    let k = 0;
    for (let p = 0; p < 5; p++) if ((unknown & (1 << p)) !== 0) added[k++] = hashes[p]!;
    a.known = compactAddAll(a.known, added, k, o.agentCap);
    for (let p = 0; p < 5; p++) {
      if ((unknown & (1 << p)) === 0) continue;
      const h = hashes[p]!;
      const clean = !(fire && (novel & (1 << p)) !== 0);
      if (g) peerAdopt(g, h, agentHash, t, clean, o.peerCap);
      if (p !== CID) peerAdopt(tg, h, agentHash, t, clean, o.peerCap * 2);
    }
    if (movedWith > 0 && !fire) watchMove(e, ctx, movedWith, bp);
    if (!fire) return NO_DETECTIONS;

    // The sponsor running the agent with a credential he just added: on the record, not medium by itself.
    // Not a credential the agent already signed in with: put to use where the agent runs, it is the
    // agent's own by now, and its use from a new place is no sponsor's first try of it.
    let bySponsor =
      weight >= o.mediumWeight && e.credential_id !== null && !offensive && (unknown & (1 << CID)) !== 0
        ? sponsorAddition(ctx.agent(e.tenant_id, e.agent_id), e.credential_id, t, o.sponsorCredentialMs, ctx)
        : null;
    const spree = bySponsor === null ? 0 : sprees.agentsAround(e.tenant_id, bySponsor.actor, bySponsor.time, o.spreeWindowMs);
    if (spree >= o.spreeAgents) bySponsor = null;
    // An agent its sponsor created himself within the day, with no other agent of the blueprint ever made or
    // credentialed by him (as far as kept): the swap of an impersonator (delete a worker, create its look-alike,
    // sponsor it, give it a secret), not the sponsor of a known agent debugging it.
    const stranger = bySponsor !== null && bp !== null ? strangerCreator(e.tenant_id, e.agent_id, bp, bySponsor.actor, t, ctx) : null;
    if (stranger !== null) bySponsor = null;
    const wantsMedium = weight >= o.mediumWeight && bySponsor === null;
    const confirm = wantsMedium && bp !== null && o.confirmMs > 0 && !offensive;
    const severity: Severity = wantsMedium && !confirm ? 'medium' : 'low';
    // A workload alone on a network no one in the tenant uses, with nothing else new: watch whether it ever left home.
    if (
      severity === 'low' && !confirm && novel === 1 << ASN && (tenantKnown & (1 << ASN)) === 0 && bySponsor === null && stranger === null &&
      e.flow === 'client_credentials' && movedWith === 0
    )
      watchSolo(e, ctx, bp);
    const observed: Record<string, string | number | null> = {};
    const names: string[] = [];
    const parts: string[] = [];
    for (let p = 0; p < 5; p++) {
      if ((novel & (1 << p)) === 0) continue;
      const name = PROPS[p]!;
      const value = valueOf(e, p);
      observed[name] = value;
      names.push(name);
      const rented = p === ASN && (tenantKnown & (1 << ASN)) === 0 && !consumerNetworkWorkload(e) && hostingNetworkWorkload(e);
      parts.push(
        `${name.replace('_', ' ')} ${typeof value === 'string' ? JSON.stringify(value) : String(value)}${p === UA && offensive ? ' (offensive tooling)' : ''}${rented ? " (a hosting provider's, where none of the tenant's workloads runs)" : ''}`,
      );
    }
    let besideText: string | null = null;
    if (beside !== null) {
      besideText = `no addition record, beside credential ${beside.credential_id} used from ${beside.ip} ${formatDuration(Math.max(0, t - beside.time))} before`;
      observed[UNAUDITED] = besideText;
      names.push(UNAUDITED);
      parts.push(`an unaudited credential (${besideText})`);
    }
    const peer = peerGroupName(bp);
    if (confirm && bp !== null) {
      if (!pending.has(e.tenant_id, e.agent_id)) {
        const ps: number[] = [];
        const weights: number[] = [];
        for (let p = 0; p < 5; p++) {
          if ((novel & (1 << p)) === 0) continue;
          ps.push(hashes[p]!);
          weights.push((tenantKnown & (1 << p)) !== 0 ? propWeight(p, e, true) * o.tenantFamiliarWeight : propWeight(p, e));
        }
        if (beside !== null) {
          ps.push(0);
          weights.push(o.unauditedWeight);
        }
        pending.add({
          tenant_id: e.tenant_id,
          agent_id: e.agent_id,
          blueprint_id: bp,
          agentHash,
          time: t,
          due: t + o.confirmMs,
          event_id: e.event_id,
          names: [...names],
          values: names.map((n) => observed[n]!),
          hashes: ps,
          weights,
          // An unaudited credential is no rollout's either (see decide), until a late record says who added it.
          ...((e.credential_id !== null && unvouchedCredential(ctx.agent(e.tenant_id, e.agent_id), e.credential_id, t, ctx)) || beside !== null ? { unvouched: true } : {}),
          ...(beside !== null ? { unaudited: e.credential_id! } : {}),
        });
      }
    }
    return [
      {
        detector: 'unfamiliar-signin-properties',
        severity,
        tenant_id: e.tenant_id,
        agent_id: e.agent_id,
        time: t,
        summary: `Agent ${e.agent_id} signed in with ${names.length} new propert${names.length === 1 ? 'y' : 'ies'}: ${parts.join(', ')} (unseen for the agent${bp ? ` and blueprint ${bp}` : ''})${confirm ? `; medium unless its peers follow within ${Math.round(o.confirmMs / 60_000)} min` : ''}${bySponsor !== null ? `; the credential was added by its sponsor ${bySponsor.actor} ${formatDuration(Math.max(0, t - bySponsor.time))} before (low)` : ''}${stranger !== null ? `; its sponsor ${stranger.actor} created it ${formatDuration(Math.max(0, t - stranger.created))} before and never managed another agent of its blueprint: his credential vouches for nothing` : ''}`,
        evidence: {
          observed,
          baseline: {
            agent_known_values: a.known.length,
            agent_signins: seenBefore,
            agent_baseline_ready: agentReady,
            peer_agents: g?.agents ?? 0,
            peer_baseline_ready: peerReady,
          },
          threshold: { low_weight: o.lowWeight, medium_weight: o.mediumWeight, deployment_agents: g ? quorum(g) : o.deploymentAgents },
          peer_group: peer,
          new_properties: names,
          known_elsewhere_in_tenant: names.filter((n) => (tenantKnown & (1 << PROPS.indexOf(n as Prop))) !== 0),
          weight,
          ip: e.ip,
          confirmation: confirm ? 'pending' : null,
          ...(offensive ? { offensive_client: e.user_agent } : {}),
          ...(bySponsor !== null ? { sponsor_credential: { added_by: bySponsor.actor, added_at: bySponsor.time } } : {}),
          ...(stranger !== null ? { stranger_creator: { actor: stranger.actor, created_at: stranger.created } } : {}),
        },
        event_ids: [e.event_id],
      },
    ];
  }

  return {
    types: ['signin', 'lifecycle', 'network'] as const,
    meta: {
      id: 'unfamiliar-signin-properties',
      title: 'Sign-in with properties unfamiliar to the agent and its blueprint',
      severity: 'low',
      description:
        'A successful sign-in from a network (ASN), country, client (user agent), credential type or credential that neither the agent nor the peers of its blueprint have used. Blueprint-wide moves (3 agents, or both agents of a two-agent blueprint) are deployments and a credential just added by a sponsor is rotation. One new property is low; two or more at once are medium (confirmed after 3 min unless the blueprint peers follow, 10 min when one has followed by then or the blueprint was quiet, unless the credential was just added by no one who vouches for it), but low with a credential one of the agent\'s sponsors added within 24 hours, at its first use by the agent (the sponsor running it from elsewhere: an on-call engineer debugging from a laptop), unless that sponsor added credentials to 4 or more agents within 10 minutes of it (a spree across the fleet); values used elsewhere in the tenant weigh half (a country in full when the network is new to the whole tenant). A new credential that no addition record explains, presented from another subnet than the credential the agent used within the hour before it (not a managed identity), weighs one more: a credential planted past the audit feed, running beside the agent\'s own. A new user agent of offensive tooling (roadtx, ROADrecon, GraphRunner, AADInternals, TokenTactics, AzureHound...) is medium at once. A new network that is a consumer broadband or mobile ISP (Comcast, Spectrum, Cox, T-Mobile, Virgin Media...) weighs double for a workload signing in with client credentials: no cloud workload runs in a home, a residential proxy does. So does a new network of a hosting provider (Oracle Cloud, Tencent Cloud, DigitalOcean, Hetzner, M247...) that none of the tenant\'s workloads signs in from: a machine rented by the hour where a stolen credential is used. So does a new client that is a bare HTTP client or shell (python-requests, curl, Go\'s net/http, axios, Postman, PowerShell): a workload signs in through its identity SDK, a person holding its secret through a script. So does a new client on a desktop operating system (Windows 10 or 11 client builds, macOS): a workload runs on servers and containers, its certificate on a desktop is in a person\'s hands. An agent a deployment took to a new network that signs in or calls from its own network again within the hour did not move with it (one host signing in as several agents): low. A workload alone on a network new to the tenant, with nothing else new (low), that works from its own network within 3 minutes after a use from the new one and from the new one again within 3 minutes after that, within the hour, has one credential in two places at once (a replayed assertion, a copied key): medium. A sponsor who created the agent within the day and never created or credentialed another agent of its blueprint vouches for nothing.',
      mitre: { id: 'T1078.004', name: 'Valid Accounts: Cloud Accounts' },
    },
    observe,
    advance,
    settle: () => pending.takeDue(Infinity, decide),
    evict(before) {
      agents.evict(before);
      groups.evict(before);
      tenants.evict(before);
      pending.evict(before);
      sprees.evict(before);
      creations.evict(before);
      moved.evict(before);
    },
    size: () => agents.size + groups.size + tenants.size + pending.size + sprees.size + creations.size + moved.size,
    snapshot: () => ({
      agents: agents.snapshot(),
      groups: snapshotGroups(groups),
      tenants: snapshotGroups(tenants),
      pending: pending.snapshot(),
      sprees: sprees.snapshot(),
      creations: creations.snapshot(),
      moved: moved.snapshot(),
    }),
    restore(s) {
      agents.restore(s.agents);
      restoreGroups(groups, s.groups);
      restoreGroups(tenants, s.tenants);
      pending.restore(s.pending);
      sprees.restore(s.sprees);
      creations.restore(s.creations);
      moved.restore(s.moved ?? []);
    },
  };
}

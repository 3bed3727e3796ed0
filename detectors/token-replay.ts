// Detector 7 — token replay: an access token used from an address other than
// the one it was issued to.
//
// State per agent (tenant + agent): its live tokens (at most 6, the least
// recently used replaced first; 64-bit hash of the token id, issuing IP,
// expiry, last use, issuing event id; dropped 10 min after expiry) and,
// briefly (2 min), uses of unknown tokens from addresses the agent has no
// token for: the token event may arrive after its first use (up to 60 s of
// lateness) and completes the detection then. ~150 bytes per live token.
//
// Rule: a network event carrying a token of the agent fires (high) when its
// source IP is not "near" any address the agent was recently issued tokens at.
// The agent's issuing networks of the last 24 h are kept apart from its token
// slots (4 networks: /24 and /16 hashes, last issue): a host now issued
// tokens over IPv6 still calls from its IPv4 address, a host restarted on
// another subnet of its own /16 keeps using its cached tokens (not once the
// agent is deleted or disabled: its work ends where it ran). After the
// blueprint has learned (below), a use from a network that fits nothing is
// reported 45 s later (`foreignConfirmMs`) unless a token is issued near it
// meanwhile, to the agent or to 2 other agents of its blueprint: a NAT
// gateway that gained a second public address issues tokens there too, a
// thief's host never does. From the /8 of the issuing address (IPv4: most
// likely the same provider's space, a NAT gateway's second prefix or the
// paired region of a failover) it waits 5 minutes: time for the
// deployment's agents to get tokens there. An agent whose token-less calls,
// or other cached tokens, leave from that network too, with no call from where it gets its tokens,
// moved with its traffic (a route change: cached tokens now leave through
// another egress): its use is held up to 20 minutes for a token issued there
// (its next sign-in, a batch's next run), and reported at once when it calls
// from home again (a thief replaying a token does not carry the agent's
// other traffic with him). So is a use from where one other agent of the
// blueprint was issued a token (two clear it), while the agent makes no call
// from home: a site failing over to its backup line, whose agents sign in
// there one by one as their cached tokens run out; a thief's network is not
// where the agent's siblings get their tokens.
// "Near" = equal, or in the same /24 (IPv4) or /64 (IPv6) when `sameSubnet` is
// on (default). Why the subnet tolerance: cloud egress goes through NAT/SNAT
// pools that hand out adjacent public addresses, so the token request and a
// later call of one agent routinely leave from two addresses of one pool; a
// replay from inside the agent's own /24 would need the attacker inside the
// same hosting subnet, which is not the threat this detector is for. The
// agent's other recent issuing addresses count too (an agent with several
// egress IPs gets tokens at each of them). The check is otherwise strict.
// A token the detector does not hold (an agent that requests a token per
// request can push the replayed one out of its 6 slots) used from an address
// that is not near any of the agent's issuing addresses is reported too, once
// no token event for it has arrived within 2 minutes (`advance`); only for
// agents whose token addresses are known. One detection per token.
//
// Deployments differ in how a token's use leaves: dual-stack hosts get tokens
// over IPv6 and call over IPv4, a firewall's SNAT pool spans several prefixes.
// So each blueprint learns its use networks during its first 30 minutes and
// 20 token uses: a network of the other address family than an issuing
// address, or in its /16 or /48, at once; any other network once a second
// agent of the blueprint uses it too, so a use from it waits 2 minutes to be
// judged (the first token use a blueprint shows may be the thief's). Later,
// any network 3 distinct agents use within 30 minutes is a deployment (the
// first two were reported), for each agent that left its old network: one
// still calling from where it gets its tokens within 10 minutes of the use is
// reported (a thief replaying tokens of several agents from one host). A use
// from a learned network is no replay. An attacker's network is neither.
// A token presented by another agent of the tenant than the one it was
// issued to (an on-behalf-of token forwarded in an agent-to-agent task and
// used by a compromised worker) is reported wherever it is used from: high
// for the presenter, medium for the owner. Every granted token is indexed by
// its hash until it expires (about 100 bytes each); a use whose token event
// is late is looked at again once that event can no longer come.
// A use from a private address (RFC 1918, shared or link-local space, IPv6
// unique-local) of a token issued at a public one is traffic from inside the
// organisation (a private endpoint for its storage or vault, while other
// calls still leave through the NAT): such a network is one /16 (a VNet),
// and the use is judged 10 minutes later (whether its token event came
// before it or late), no replay if another agent of the
// blueprint uses that private network by then, else low: no internet replayer
// has such an address (a small blueprint's first agent behind a new private
// endpoint; at worst a neighbour inside the network). So is a use from the
// egress of a cloud security edge (Zscaler, Netskope, Umbrella, Cloudflare
// Gateway: see isSecurityEdgeAddress): the company steering its workloads
// through its web gateway, the first agent moved before its peers.
// Token passthrough: a token of the agent for a Microsoft first-party
// resource whose hosts are known (Graph, ARM, Key Vault, Storage, SQL,
// Exchange: see audienceCode) presented to a public host that is neither
// that resource's nor any Microsoft service's (a Graph download redirected
// to SharePoint stays with Microsoft) is medium at once, once per token: the token handed to a third
// party that can use it as the agent (an MCP server asking for "your
// Microsoft 365 session", the token passthrough the MCP specification
// forbids; an injected tool call posting the Authorization header out).
// Another tenant's tokens: an agent presenting, from where it gets its
// tokens, tokens no agent of its tenant was issued (their token events
// never came) at a Microsoft resource its blueprint never got a token for
// (Graph, for a batch that never used it) works in another tenant: an
// implant taking its commands from drafts in an attacker's mailbox and
// leaving its results there. 5 such uses within 30 minutes are medium, once
// the blueprint has been watched for an hour and longer than its agent's
// tokens live (a token issued before the stream began is no stranger).

import type { AgentEvent, NetworkEvent, TokenEvent } from '../contract/events.js';
import {
  AgentStore,
  GroupStore,
  NO_DETECTIONS,
  atMs,
  clone,
  H1,
  H2,
  hash2,
  hashString,
  peerAdopt,
  peerVerdictCode,
  restoreGroups,
  sec,
  TenantMap,
  setAtMs,
  snapshotGroups,
  touchPeerGroup,
  type MsState,
  type PeerGroup,
  type PeerGroupSnapshot,
  type Timed,
} from './agent-directory.js';
import { peerGroupId, peerGroupName, type Detector, type DetectorContext } from './detector.js';
import { DueQueue } from './due-queue.js';
import { isIpv6, isPrivateAddress, isSecurityEdgeAddress, subnetOf, wideNetworkOf } from './addresses.js';
import type { Detection, DetectorMeta } from './types.js';
import { audienceAccepts, audienceCode, audienceUri, audiencesNamed, hostAudiences } from './resources.js';

export interface TokenReplayOptions {
  /** Tokens remembered per agent; the least recently used (or issued) is replaced when full. */
  maxTokensPerAgent?: number;
  /** Token lifetimes above this are clamped (bounds how long a token is kept), seconds. */
  maxLifetimeS?: number;
  /** Expired tokens are forgotten this long after expiry, ms. */
  expiryGraceMs?: number;
  /** Uses of unknown tokens are kept this long (event time) waiting for a late token event, ms. */
  pendingMs?: number;
  /** Unmatched uses kept per agent. */
  maxPendingPerAgent?: number;
  /** Unmatched uses waiting for a verdict, all agents together. */
  maxQueue?: number;
  /** Treat the same /24 (IPv4) or /64 (IPv6) as the same address (NAT pools). */
  sameSubnet?: boolean;
  maxAgents?: number;
  /**
   * A blueprint's use networks: while its agents' first token uses come in
   * (egressLearnMs and egressLearnUses), the networks they use tokens from,
   * other than the issuing ones, are learned as its egress; later, one that
   * egressAdoptAgents distinct agents use within egressAdoptSpanMs is too.
   */
  egressLearnMs?: number;
  egressLearnUses?: number;
  egressAdoptAgents?: number;
  egressAdoptSpanMs?: number;
  /**
   * After its group has learned, a use from a network the agent's group does
   * not use is judged this long later (event time): long enough for the
   * agent, or two other agents of its blueprint, to be issued a token there
   * (a NAT gateway's second address), ms.
   */
  foreignConfirmMs?: number;
  /**
   * The same for a use from the /8 of the token's issuing address (IPv4): the
   * same provider's space, as often as not (a NAT gateway's second public
   * prefix, the paired region of a failover), where the deployment's agents
   * are issued tokens within minutes; a thief's host never is, ms.
   */
  sameBlockConfirmMs?: number;
  /** Issuing networks an agent is remembered for (its /24 and /16), and for how long, ms. */
  issuingHistoryMs?: number;
  /**
   * After its group has learned, how long an agent whose token is used from a
   * network several agents took up at once is watched for calls from where it
   * gets its tokens (see decideDeferred), ms.
   */
  moveConfirmMs?: number;
  /**
   * An agent alone on a network (no token issued near it, no other agent of
   * its blueprint there) whose token-less calls leave from there too, and
   * none from where it gets its tokens, is held this long for a token issued
   * there (it moved: a route change, a batch between runs) or a call from
   * home (a replay) before it is reported, ms.
   */
  moveAloneConfirmMs?: number;
  /**
   * A use from a private address (see isPrivateAddress: a private endpoint,
   * an internal proxy) of a token issued at a public one is judged this long
   * later: no replay if another agent of the blueprint uses that private
   * network meanwhile, ms.
   */
  privateConfirmMs?: number;
  /**
   * Uses of tokens no agent of the tenant was issued, from where the agent
   * gets its tokens, at a Microsoft resource its blueprint never got a token
   * for (see foreignTenantUse): foreignUses within foreignSpanMs are medium,
   * once per agent per foreignRefireMs; judged once the blueprint has been
   * watched foreignWarmupMs, and longer than its agent's tokens live, ms.
   */
  foreignUses?: number;
  foreignSpanMs?: number;
  foreignRefireMs?: number;
  foreignWarmupMs?: number;
}

const DEFAULTS: Required<TokenReplayOptions> = {
  maxTokensPerAgent: 6,
  maxLifetimeS: 24 * 3600,
  expiryGraceMs: 10 * 60_000,
  pendingMs: 2 * 60_000,
  maxPendingPerAgent: 4,
  maxQueue: 16_384,
  sameSubnet: true,
  maxAgents: 2_000_000,
  egressLearnMs: 30 * 60_000,
  egressLearnUses: 20,
  egressAdoptAgents: 3,
  egressAdoptSpanMs: 30 * 60_000,
  foreignConfirmMs: 45_000,
  sameBlockConfirmMs: 5 * 60_000,
  issuingHistoryMs: 24 * 3_600_000,
  moveConfirmMs: 10 * 60_000,
  moveAloneConfirmMs: 20 * 60_000,
  privateConfirmMs: 10 * 60_000,
  foreignUses: 5,
  foreignSpanMs: 30 * 60_000,
  foreignRefireMs: 6 * 3_600_000,
  foreignWarmupMs: 60 * 60_000,
};

/** Whether two IPv4 addresses share their first octet (a /8: likely one provider's space); false for IPv6. */
function sameBlock(a: string, b: string): boolean {
  const i = a.indexOf('.');
  if (i <= 0 || a.indexOf(':') >= 0 || b.indexOf(':') >= 0) return false;
  return b.length > i && b.charCodeAt(i) === 46 && a.startsWith(b.slice(0, i));
}

/** Issuing networks remembered per agent. */
const MAX_ISSUING_NETWORKS = 4;
/** Distinct other agents of a blueprint issued tokens at a network that make it the blueprint's egress. */
const GROUP_ISSUERS = 2;
/** Issuances remembered per group (its agents' networks, re-recorded at most hourly per agent and network). */
const MAX_GROUP_ISSUANCES = 128;
/** Hashes kept as 30-bit small integers (stored unboxed in arrays and objects). */
const SMALL = 0x3fffffff;
/** An agent's issuance at a network it already holds is re-recorded for its group at most this often, s. */
const REISSUE_S = 3600;
/** A call from home this long after a token's use elsewhere shows the agent did not move, s. */
const CONCURRENT_S = 10;
/**
 * An agent with no token call from where it gets its tokens for this long
 * before a use from a private address (nor since) uses its tokens only
 * inside the organisation's network (see decideDeferred), s.
 */
const INSIDE_ONLY_S = 3600;
/** How often a use waiting on its agent's move is looked at again (event time), ms. */
const RECHECK_MS = 30_000;

/** Use networks remembered per peer group (the least recently adopted go first when full). */
const MAX_USE_NETWORKS = 96;

/**
 * A pending use is kept this many `pendingMs` after its time: its verdict in
 * `advance` comes once the WATERMARK (event time less the allowed lateness,
 * moved in steps) is `pendingMs` past it, later than the newest event time
 * is. Dropped at `pendingMs` of event time, the use of a hoarded token by an
 * agent that requests tokens every few seconds was gone, unjudged, before
 * its verdict.
 */
const PENDING_KEEP = 3;

/** A use of a token not (yet) known, from an address the agent has no token for, waiting for its token event. */
interface PendingUse {
  /** Token id hashes. */
  h1: number;
  h2: number;
  ip: string;
  t: number;
  id: string;
  host: string;
}

/** A token granted to the agent. */
interface Slot {
  /** Two independent 32-bit hashes of the token id (64 bits: no practical collisions; no string kept). */
  h1: number;
  h2: number;
  /** Issuing IP. */
  ip: string;
  /** Expiry and last use (or issue), epoch SECONDS (small integers: stored unboxed). */
  ex: number;
  u: number;
  /** Issuing event id. */
  ev: string;
  /** Already fired for this token. */
  fired: boolean;
  /** The tenant and agent it was issued to (the event's own strings, shared: see `owners`). */
  tn: string;
  ag: string;
  /** Its audience's code when a Microsoft first-party resource whose hosts are known (see audienceCode), else 0; absent in older snapshots. */
  r?: number;
}

/** Last activity to the millisecond (MsState). */
interface AgentTokens extends MsState {
  /** Exact-size array (replaced, not grown: a pushed-to array reserves 17 slots). */
  slots: Slot[];
  pend: PendingUse[] | null;
  /** Hashes (h1) of unknown tokens already reported, null when none. */
  fu: number[] | null;
  /**
   * Networks the agent was issued tokens at, whatever became of the tokens:
   * flat triples [hash of the /24 or /64, hash of the /16 or /48, last issue
   * (epoch s)], at most MAX_ISSUING_NETWORKS, null when none. They outlive the
   * token slots: a host that now gets its tokens over IPv6 still calls from
   * its IPv4 address, a host moved within its network keeps its cached tokens.
   */
  nets: number[] | null;
  /** The address of the last issuance recorded in `nets`, and its triple's index (skips rehashing it). */
  nip: string;
  ni: number;
  /** Last call with a token from an address the agent gets tokens at (see `sec`). */
  hu: number;
  /** Audience codes (see audienceCode) the agent was issued tokens for, as bits (code c at bit c - 1). */
  au: number;
  /** The longest lifetime of a token issued to the agent, s. */
  lt: number;
}

/** A peer group of token-replay: its use networks, and its agents' recent issuances (see recordIssuance). */
interface ReplayGroup extends PeerGroup {
  /** Flat triples [network hash, agent hash, time (see `sec`)], oldest first; absent until the first. */
  iss?: number[];
  /** Audience codes its agents were issued tokens for, as bits (see AgentTokens.au); absent until the first. */
  au?: number;
}

/** An agent's uses of tokens its tenant never issued, at a Microsoft resource its blueprint never got tokens for (see foreignTenantUse). */
interface ForeignUses extends Timed {
  n: number;
  t0: number;
  host: string;
  ids: string[];
  fired: number;
}

/** Granted tokens indexed at most (the oldest dropped beyond). */
const MAX_OWNERS = 1_000_000;
/** Tokens living longer than this (managed identities' day-long tokens) are indexed apart, s. */
const LONG_LIFETIME_S = 2 * 3600;

/**
 * Granted tokens by their first hash, until they expire (see `owners`): two
 * maps, one for tokens of up to LONG_LIFETIME_S and one for longer ones, so
 * that each holds tokens of similar lifetimes in about the order they expire
 * and a sweep stops at the first live one (a full scan of every live token
 * at each step would cost more than the index).
 */
class TokenOwners {
  private readonly short = new OwnerQueue();
  private readonly long = new OwnerQueue();

  get size(): number {
    return this.short.map.size + this.long.map.size;
  }

  get(h1: number): Slot | undefined {
    return this.short.map.get(h1) ?? this.long.map.get(h1);
  }

  add(slot: Slot, lifetimeS: number): void {
    if (this.size >= MAX_OWNERS) (this.short.map.size >= this.long.map.size ? this.short : this.long).dropOldest();
    (lifetimeS > LONG_LIFETIME_S ? this.long : this.short).add(slot);
  }

  /** Forgets tokens expired before `before` (epoch s) from the front of each queue. */
  sweep(before: number): void {
    this.short.sweep(before);
    this.long.sweep(before);
  }

  /** Forgets every token expired before `before` (epoch s): a full scan, for the periodic eviction. */
  evict(before: number): void {
    this.short.evict(before);
    this.long.evict(before);
  }

  clear(): void {
    this.short.clear();
    this.long.clear();
  }
}

/**
 * Tokens by first hash, and in the order they were indexed (an array with a
 * head: iterating a Map from its front after many deletions walks every
 * deleted entry again).
 */
class OwnerQueue {
  readonly map = new Map<number, Slot>();
  private order: Slot[] = [];
  private head = 0;

  add(slot: Slot): void {
    this.map.set(slot.h1, slot);
    this.order.push(slot);
  }

  private forget(slot: Slot): void {
    if (this.map.get(slot.h1) === slot) this.map.delete(slot.h1);
  }

  dropOldest(): void {
    while (this.head < this.order.length) {
      const slot = this.order[this.head++]!;
      if (this.map.get(slot.h1) === slot) {
        this.map.delete(slot.h1);
        break;
      }
    }
    this.compact();
  }

  sweep(before: number): void {
    const order = this.order;
    let head = this.head;
    while (head < order.length && order[head]!.ex < before) this.forget(order[head++]!);
    this.head = head;
    this.compact();
  }

  evict(before: number): void {
    const kept: Slot[] = [];
    for (let i = this.head; i < this.order.length; i++) {
      const slot = this.order[i]!;
      if (slot.ex < before) this.forget(slot);
      else if (this.map.get(slot.h1) === slot) kept.push(slot);
    }
    this.order = kept;
    this.head = 0;
  }

  private compact(): void {
    if (this.head > 4096 && this.head * 2 > this.order.length) {
      this.order = this.order.slice(this.head);
      this.head = 0;
    }
  }

  clear(): void {
    this.map.clear();
    this.order = [];
    this.head = 0;
  }
}

/** A pending use waiting for its verdict (see `advance`), with its agent. */
interface QueuedUse extends PendingUse {
  tenant: string;
  agent: string;
  bp: string | null;
}

/**
 * An agent with a token use from a foreign network waiting to be judged (see
 * movedAlone): that network's hash, the first such use and the latest
 * token-less calls from it and from where the agent gets its tokens (see
 * `sec`); `at` in ms, for eviction.
 */
interface MovingAgent extends Timed {
  net: number;
  since: number;
  away: number;
  home: number;
  /** The first token used from there (its first hash, see SMALL); absent in older snapshots. */
  tk?: number;
}

/** A use of a known token from a network that fit nothing while its group learned, waiting to be judged. */
interface DeferredUse {
  tenant_id: string;
  agent_id: string;
  due: number;
  use: NetworkEvent;
  slot: Slot;
  tokenId: string;
  /** Deferred after the group learned (foreignConfirmMs): only issuances can clear it, not other agents' uses. */
  confirm?: boolean;
  /** From a private address (privateConfirmMs): cleared by another agent of the group using that private network. */
  internal?: boolean;
}

/** Where a token was used from, for its group (see useNetwork). */
const KNOWN = 0;
const UNSURE = 1;
const FOREIGN = 2;
/** After the group learned: a network several agents took up at once (a deployment, or a thief replaying several agents' tokens). */
const ADOPTED = 3;
type UseNetwork = typeof KNOWN | typeof UNSURE | typeof FOREIGN | typeof ADOPTED;

const NO_SLOTS: Slot[] = [];
const NO_PENDING: PendingUse[] = [];


export const tokenReplayMeta: DetectorMeta = {
  id: 'token-replay',
  title: 'Token replay',
  severity: 'high',
  mitre: { id: 'T1550.001', name: 'Use Alternate Authentication Material: Application Access Token' },
  description:
    'An access token issued to an agent is used from a network address other than the one it was issued to ' +
    '(outside the /24 or /64 of every address the agent obtained tokens at in the last 24 hours, outside the /16 or /48 of those, and off the networks its blueprint uses tokens from), ' +
    'a sign of a stolen token being replayed; and a token for a Microsoft first-party resource (Graph, ARM, Key Vault, Storage, SQL, Exchange) presented to a host outside Microsoft\'s services (medium, once per token: handed to a third party, such as an MCP server asking for the agent\'s Microsoft 365 session). It is reported 45 s after the use (5 minutes from the /8 of the issuing address: likely the same provider\'s space, a NAT gateway\'s second prefix or a failover\'s paired region) unless a token is issued near that address meanwhile, to the agent or to 2 other agents of its blueprint (a NAT gateway with a second address); an agent whose token-less calls or other cached tokens leave from there too, and nothing from home, moved with its traffic (a route change): held up to 20 minutes for a token issued there, reported at once when it calls from home again; so is one whose use comes from where another agent of its blueprint was just issued a token (a site failing over to its backup line, its agents signing in there as their cached tokens run out). ' +
    'A blueprint learns its use networks (dual-stack hosts, NAT pools over several prefixes) ' +
    'in its first 30 minutes and 20 token uses (the other address family or the /16 of an issuing address at once, another network once a second agent uses it, else judged 2 minutes on). ' +
    'Later, a network 3 agents take up within 30 minutes is a deployment for the agents that left their old one; an agent that keeps calling from where it gets its tokens within the next 10 minutes is reported (a thief replaying several agents\' tokens from one host). ' +
    'A use from a private address (a private endpoint) or from the egress of a cloud security edge (the company\'s web gateway: Zscaler, Netskope, Umbrella, Cloudflare Gateway) is judged 10 minutes later: no replay once another agent of the blueprint uses that network, nor for an agent that presented no token from where it gets them for the hour before nor since (its tokens are used only inside, its API behind a private endpoint), else low, once per network (no internet replayer has such an address). ' +
    'A token presented by another agent of the tenant than its owner is reported wherever it is used from: high for the presenter, medium for the owner; so is a token used from the address another agent of the tenant called its owner from within 10 minutes (outside the issuing /24): the caller had it handed over in the call and replays it. ' +
    "Tokens no agent of the tenant was issued, presented from the agent's own address to a Microsoft resource its blueprint never got a token for (another tenant's: an implant working in an attacker's tenant, its commands in that tenant's mailbox), are medium at the fifth use within 30 minutes, once the blueprint has been watched an hour and longer than its agent's tokens live.",
};

export function createTokenReplayDetector(options: TokenReplayOptions = {}): Detector {
  const o: Required<TokenReplayOptions> = { ...DEFAULTS, ...options };
  const agents = new AgentStore<AgentTokens>(o.maxAgents, true);
  /**
   * Per peer group (a blueprint within its tenant; an agent without one is its
   * own group), the networks its agents use tokens from, in the shared peer
   * registry: `first` and `events` are its first token use and its token uses
   * (counted up to egressLearnUses); a network learned, or used without being
   * reported, is clean; recent adopters tell a deployment.
   */
  const groups = new GroupStore<ReplayGroup>(1_000_000);

  /** The group of a network event's agent, counting the event when it carries a token. */
  function touchGroup(e: NetworkEvent, ctx: DetectorContext): void {
    const g = touchPeerGroup(groups, ctx, e.tenant_id, peerGroupId(e.blueprint_id, e.agent_id), e.time);
    if (e.time < g.first) g.first = e.time;
    if (g.events < o.egressLearnUses) g.events++;
  }

  /**
   * Whether `ip` is on a use network of the agent's group: KNOWN when used by
   * enough agents recently (a deployment), or while the group learns when it
   * fits a deployment (see fitsIssuing) or another agent of the group uses it
   * too; otherwise, while the group learns, UNSURE (judged a little later,
   * once other agents have had time to show it is theirs, see `deferred`),
   * and after it, FOREIGN. The first token use a blueprint shows may be the
   * thief's. Records this agent's use either way (clean when it is no replay).
   */
  function useNetwork(ctx: DetectorContext, tenant: string, agent: string, bp: string | null, ip: string, t: number, s: AgentTokens): UseNetwork {
    const g = touchPeerGroup(groups, ctx, tenant, peerGroupId(bp, agent), t);
    const h = networkHash(ip);
    const ah = hashString(agent) | 1;
    const learning = t - g.first < o.egressLearnMs || g.events < o.egressLearnUses;
    const code = peerVerdictCode(g, h, ah, t, o.egressAdoptSpanMs);
    const shared = learning && (fitsIssuing(s, ip) || code >>> 1 >= 2);
    const adopted = code >>> 1 >= o.egressAdoptAgents;
    const known = shared || (code & 1) !== 0 || (learning && adopted) || issuedNear(g, s, ip, h, ah, t, revokedAgent(ctx, tenant, agent));
    peerAdopt(g, h, ah, t, known, MAX_USE_NETWORKS);
    return known ? KNOWN : learning ? UNSURE : adopted ? ADOPTED : FOREIGN;
  }

  /**
   * True when tokens were issued near `ip` (network hash `h`) within the
   * issuing history: to the agent itself in that /16 or /48 (its own hosting
   * range: a host moved to another subnet of it keeps its cached tokens), or
   * to GROUP_ISSUERS other agents of its blueprint in that /24 or IPv6 /48
   * (the blueprint's egress: a NAT gateway with a second public address, the
   * site of dual-stack hosts that each have a /64 of it). A thief
   * replays from his own network, where no token of the blueprint is issued.
   * The agent's own /16 or /48 does not count once it is `revoked` (deleted or
   * disabled): a host moves and keeps its cached tokens while its identity
   * lives; a deleted agent's work ends where it ran, so its token turning up
   * on another subnet is someone else holding it (a token printed in a CI
   * log, replayed from a VM rented in the same cloud region).
   */
  function issuedNear(g: ReplayGroup, s: AgentTokens, ip: string, h: number, ah: number, t: number, revoked: boolean): boolean {
    const nets = s.nets;
    const now = sec(t);
    const span = o.issuingHistoryMs / 1000;
    if (nets !== null && o.sameSubnet && !revoked) {
      const wide = wideHash(ip);
      for (let i = 0; i < nets.length; i += 3) if (nets[i + 1] === wide && Math.abs(nets[i + 2]! - now) <= span) return true;
    }
    return othersIssuedNear(g, ip, h, ah, t, GROUP_ISSUERS) >= GROUP_ISSUERS;
  }

  /** Distinct other agents of the group issued tokens in that network within the history (counted up to `enough`). */
  function othersIssuedNear(g: ReplayGroup, ip: string, h: number, ah: number, t: number, enough: number): number {
    const iss = g.iss;
    if (!iss) return 0;
    const now = sec(t);
    const span = o.issuingHistoryMs / 1000;
    const net = groupNetHash(ip, h);
    const self = ah & SMALL;
    const others: number[] = [];
    for (let i = 0; i < iss.length; i += 3) {
      if (iss[i] !== net || iss[i + 1] === self || Math.abs(iss[i + 2]! - now) > span || others.includes(iss[i + 1]!)) continue;
      others.push(iss[i + 1]!);
      if (others.length >= enough) break;
    }
    return others.length;
  }

  /**
   * Another agent of the blueprint was issued a token in the network of the
   * use (one: two clear it, see issuedNear), and the agent made no call from
   * where it gets its tokens since: a site's egress failing over (a control
   * centre's fibre cut, its router on the 4G backup), whose agents each sign
   * in there when their cached tokens run out. A thief's network is not where
   * the agent's siblings get their tokens.
   */
  function siblingMoved(g: ReplayGroup | undefined, tenant: string, agent: string, s: AgentTokens, ip: string, h: number, ah: number, t: number): boolean {
    if (g === undefined || othersIssuedNear(g, ip, h, ah, t, 1) === 0) return false;
    const useS = sec(t);
    const m = moving.get(tenant, agent);
    return (m === undefined || m.home < useS + CONCURRENT_S) && s.hu < useS + CONCURRENT_S;
  }

  /** The agent is deleted or disabled (see issuedNear). */
  function revokedAgent(ctx: DetectorContext, tenant: string, agent: string): boolean {
    const info = ctx.agent(tenant, agent);
    return info !== undefined && (info.deleted || info.disabled);
  }

  /** Records that the agent was issued a token at `ip` at `t`: in its issuing networks, and its group's. */
  function recordIssuance(ctx: DetectorContext, e: TokenEvent, s: AgentTokens): void {
    const now = sec(e.time);
    let nets = s.nets;
    if (nets !== null && e.ip === s.nip) {
      const last = nets[s.ni + 2]!;
      if (now > last) nets[s.ni + 2] = now;
      if (now - last < REISSUE_S) return;
    }
    const h = networkHash(e.ip) & SMALL;
    let i = 0;
    if (nets === null) {
      nets = s.nets = [h, wideHash(e.ip), now];
    } else {
      while (i < nets.length && nets[i] !== h) i += 3;
      if (i < nets.length) {
        if (now > nets[i + 2]!) nets[i + 2] = now;
      } else if (nets.length < 3 * MAX_ISSUING_NETWORKS) {
        nets.push(h, wideHash(e.ip), now);
      } else {
        i = 0; // full: the least recently issued at goes
        for (let j = 3; j < nets.length; j += 3) if (nets[j + 2]! < nets[i + 2]!) i = j;
        nets[i] = h;
        nets[i + 1] = wideHash(e.ip);
        nets[i + 2] = now;
      }
    }
    s.nip = e.ip;
    s.ni = i;
    // The group's ring of recent issuances (the oldest go first when full).
    const g: ReplayGroup = touchPeerGroup(groups, ctx, e.tenant_id, peerGroupId(e.blueprint_id, e.agent_id), e.time);
    const iss = g.iss ?? (g.iss = []);
    if (iss.length >= 3 * MAX_GROUP_ISSUANCES) iss.splice(0, 3);
    iss.push(groupNetHash(e.ip, h), (hashString(e.agent_id) | 1) & SMALL, now);
  }

  /**
   * The network of an issuance among a blueprint's: the /24 of an IPv4
   * address (`h`, its networkHash), the /48 of an IPv6 one. Dual-stack hosts
   * each get a /64 of their site's /48: agents of one blueprint share no /64
   * but do share the /48, and a thief's IPv6 host is not in it.
   */
  function groupNetHash(ip: string, h: number): number {
    return isIpv6(ip) && !isPrivateAddress(ip) ? wideHash(ip) : h & SMALL;
  }

  /**
   * A use from inside the organisation of a token issued outside it: from a
   * private address (a private endpoint, an internal host) or through its
   * cloud security edge, of a token issued at a public address.
   */
  function internalUse(useIp: string, issuedIp: string): boolean {
    return (isPrivateAddress(useIp) && !isPrivateAddress(issuedIp)) || (isSecurityEdgeAddress(useIp) && !isSecurityEdgeAddress(issuedIp));
  }

  /** The network event of a use that waited for its (late) token event, as far as a verdict needs it. */
  function lateUse(e: TokenEvent, p: PendingUse): NetworkEvent {
    return {
      type: 'network', event_id: p.id, time: p.t, tenant_id: e.tenant_id, agent_id: e.agent_id, blueprint_id: e.blueprint_id, ip: p.ip, token_id: e.token_id,
      dest_host: p.host, dest_ip: null, dest_port: 0, category: 'unknown', action: 'allowed', bytes_out: 0, bytes_in: 0, file_type: null, threat: 'none', dest_agent_id: null,
    };
  }

  /** A use a late token event completes from outside the organisation: judged at once (it already waited for its token). */
  function isForeign(net: UseNetwork): boolean {
    return net === UNSURE || net === FOREIGN;
  }

  function networkHash(ip: string): number {
    // A private network is one site's (a VNet spans a /16): its hosts are one network, not many /24s.
    if (o.sameSubnet && isPrivateAddress(ip)) return hashString(wideNetworkOf(ip) ?? ip);
    return hashString((o.sameSubnet ? subnetOf(ip) : null) ?? ip);
  }

  /**
   * Uses of a known token from a network that fit nothing: while the group
   * learned, decided `pendingMs` later; after, `foreignConfirmMs` later.
   */
  const deferred = new DueQueue<DeferredUse>(o.maxQueue);
  /** Per agent another agent of the tenant called (dest_agent_id), the latest caller and the address it called from (see calledFrom). */
  const callers = new TenantMap<CallerSeen>(o.maxAgents);
  /** Agents with a foreign use waiting (see movedAlone): where their token-less calls leave from meanwhile. */
  const moving = new TenantMap<MovingAgent>(o.maxAgents);

  /** A token-less call of an agent watched in `moving`: from the foreign network, or from home. */
  function noteMoving(e: NetworkEvent): void {
    const m = moving.get(e.tenant_id, e.agent_id);
    if (m === undefined) return;
    if (e.time > m.at) m.at = e.time;
    const now = sec(e.time);
    if (networkHash(e.ip) === m.net) {
      if (now > m.away) m.away = now;
      return;
    }
    const s = agents.peek(e.tenant_id, e.agent_id);
    if (s !== undefined && knownAddress(s, e.ip, e.time) && now > m.home) m.home = now;
  }

  /** Starts watching where the agent's token-less calls leave from, after a foreign use at `t` from `ip`. */
  function watchMoving(tenant: string, agent: string, ip: string, t: number, token: number): void {
    const now = sec(t);
    const net = networkHash(ip);
    const m = moving.get(tenant, agent);
    if (m !== undefined && m.net === net) {
      // Another of its cached tokens used from there too: the agent's traffic moved, not one token.
      if (token !== m.tk && now > m.away) m.away = now;
      if (t > m.at) m.at = t;
      return;
    }
    moving.set(tenant, agent, { at: t, net, since: now, away: 0, home: 0, tk: token });
  }

  /**
   * The agent left with its traffic: since its token was used from the
   * foreign network, its token-less calls, or its other cached tokens, leave
   * from there too (a thief holding one token replays that one), and it made
   * no call from where it gets its tokens (with or without a token). A thief
   * replaying a token does not carry the agent's other traffic with him;
   * an agent whose route changed (an ExpressRoute maintenance sending its
   * egress through the hub firewall) does, with cached tokens, until it next
   * signs in there.
   */
  function movedAlone(tenant: string, agent: string, s: AgentTokens, useS: number): boolean {
    const m = moving.get(tenant, agent);
    if (m === undefined || m.away < useS) return false;
    return m.home < useS + CONCURRENT_S && s.hu < useS + CONCURRENT_S;
  }

  /**
   * A deferred use whose time came. No replay when a token has been issued
   * near its network since (see issuedNear), or, while the group learned,
   * when another agent of the group uses the network too. After the group
   * learned, a network egressAdoptAgents agents took up at once is a
   * deployment only if the agent left its old one: an agent still calling
   * from where it gets its tokens while its token is used elsewhere is being
   * replayed (a thief replaying several agents' tokens from one host looks
   * like a deployment otherwise). That is watched for moveConfirmMs; a replay
   * is reported as soon as the agent calls from home again.
   */
  function decideDeferred(q: DeferredUse, watermark: number, ctx: DetectorContext): Detection | null {
    const e = q.use;
    const s = agents.peek(e.tenant_id, e.agent_id);
    if (!s) return null;
    const g = groups.get(e.tenant_id, peerGroupId(e.blueprint_id, e.agent_id));
    const h = networkHash(e.ip);
    const ah = hashString(e.agent_id) | 1;
    if (knownAddress(s, e.ip, e.time) || (g && issuedNear(g, s, e.ip, h, ah, e.time, revokedAgent(ctx, e.tenant_id, e.agent_id)))) {
      if (moving.size !== 0) moving.delete(e.tenant_id, e.agent_id);
      return null;
    }
    const code = g ? peerVerdictCode(g, h, ah, e.time, o.egressAdoptSpanMs) : 2;
    if (q.internal) {
      // Private endpoints carry part of a deployment's traffic (its storage, its vault) while
      // the rest still leaves from where it gets its tokens: whether the agent moved says nothing.
      // An agent that presents no token from where it gets them (none for an hour before this use,
      // nor since) uses its tokens only inside: its API sits behind a private endpoint, and this is
      // its own runtime. A neighbour replaying a stolen token does so beside the agent's own use.
      if (code >>> 1 >= 2 || (code & 1) !== 0 || s.hu < sec(e.time) - INSIDE_ONLY_S) {
        if (g) peerAdopt(g, h, ah, e.time, true, MAX_USE_NETWORKS);
        return null;
      }
    } else if (!q.confirm) {
      if (code >>> 1 >= 2 || (code & 1) !== 0) return null;
    } else if ((code & 1) !== 0) {
      return null; // another agent's use of it was judged clean meanwhile
    } else if (code >>> 1 >= o.egressAdoptAgents && s.hu < sec(e.time) + CONCURRENT_S) {
      if (watermark < e.time + o.moveConfirmMs) {
        // Looked at again shortly (until moveConfirmMs): a call from home ends the wait.
        deferred.add({ ...q, due: Math.min(e.time + o.moveConfirmMs, watermark + RECHECK_MS) });
        return null;
      }
      peerAdopt(g!, h, ah, e.time, true, MAX_USE_NETWORKS); // the agent moved with its blueprint
      return null;
    }
    if (
      q.confirm &&
      !q.internal &&
      watermark < e.time + o.moveAloneConfirmMs &&
      (movedAlone(e.tenant_id, e.agent_id, s, sec(e.time)) || siblingMoved(g, e.tenant_id, e.agent_id, s, e.ip, h, ah, e.time))
    ) {
      // Looked at again shortly: a token issued there (it moved) or a call from home (a replay) ends the wait.
      deferred.add({ ...q, due: Math.min(e.time + o.moveAloneConfirmMs, watermark + RECHECK_MS) });
      return null;
    }
    // The agent's slot of the token now (a restored snapshot holds a copy of it).
    let slot = q.slot;
    for (const x of s.slots) if (x.h1 === slot.h1 && x.h2 === slot.h2) slot = x;
    if (slot.fired) return null;
    if (moving.size !== 0) moving.delete(e.tenant_id, e.agent_id);
    const d = detection(e, s, slot, { ip: e.ip, t: e.time, id: e.event_id, host: e.dest_host }, q.tokenId, ctx);
    d.time = Math.max(e.time, watermark);
    if (q.internal) {
      // No internet replayer has an address of the organisation's own network: a private endpoint one
      // agent alone reaches (the first of its small blueprint to move), or a neighbour inside it; nor,
      // as a rule, of its security edge (the first agent steered through the company's web gateway). Low,
      // once: the network's later uses (the agent's next tokens) are the same finding.
      d.severity = 'low';
      if (g) peerAdopt(g, h, ah, e.time, true, MAX_USE_NETWORKS);
      d.summary += isPrivateAddress(e.ip)
        ? ' (a private address, inside the organisation\'s network: low unless more follows)'
        : ' (an egress address of a cloud security edge, the organisation\'s web gateway: low unless more follows)';
    }
    return d;
  }

  function fresh(e: TokenEvent | NetworkEvent): AgentTokens {
    const s: AgentTokens = { at: 0, am: 0, e: 0, slots: NO_SLOTS, pend: null, fu: null, nets: null, nip: '', ni: 0, hu: 0, au: 0, lt: 0 };
    setAtMs(s, e.time);
    return s;
  }

  /** Unknown-token uses from foreign addresses of agents whose tokens we know, in arrival order. */
  let queue: QueuedUse[] = [];

  /**
   * Every granted token of the tenants, by its first hash, until it expires:
   * a token presented by an agent it was not issued to (an on-behalf-of token
   * forwarded in an agent-to-agent task and used by a compromised worker)
   * comes from an address that may well be the presenter's own.
   */
  const owners = new TokenOwners();
  /** Owners' detections found by `verdict` (which returns the presenter's), for `advance` to add. */
  let crossFound: Detection[] = [];
  /**
   * Uses of unknown tokens from an address the agent gets tokens at (no
   * replay), in arrival order, kept until their token event can no longer
   * come: then a token issued to another agent is still caught.
   */
  let homeQueue: QueuedUse[] = [];

  /** The home uses whose token event can no longer come: presented by another agent than the owner? */
  function decideHomeUses(watermark: number, out: Detection[]): void {
    let n = 0;
    while (n < homeQueue.length && homeQueue[n]!.t + o.pendingMs <= watermark) {
      const q = homeQueue[n]!;
      n++;
      // Dated when decided (at the end of a replay: when it was due).
      const at = watermark === Infinity ? q.t + o.pendingMs : watermark;
      const found = crossAgent(q.tenant, q.agent, q.bp, q.h1, q.h2, q, null, at);
      for (const d of found) out.push(d);
      if (found.length === 0 && owners.get(q.h1) === undefined) {
        const d = foreignTenantUse(q, at);
        if (d !== null) out.push(d);
      }
    }
    if (n > 0) homeQueue = homeQueue.slice(n);
  }

  /** Per agent, its latest uses of tokens its tenant never issued (see foreignTenantUse). */
  const foreign = new TenantMap<ForeignUses>(o.maxAgents);

  /**
   * A use, from where the agent gets its tokens, of a token its tenant never
   * issued (no agent of the tenant holds it, and its token event did not
   * come), at a Microsoft resource (Graph, ARM, Key Vault, Storage, SQL,
   * Exchange) its blueprint never got a token for: a token of another
   * tenant. foreignUses of them within foreignSpanMs are medium: the agent
   * working in an attacker's tenant (commands left as drafts in its mailbox,
   * results uploaded there), which no issuance of its own tenant shows.
   * Judged once the blueprint has been watched longer than its agent's
   * tokens live (an hour at least): a token issued before the stream began
   * is no stranger.
   */
  function foreignTenantUse(q: QueuedUse, at: number): Detection | null {
    const mask = hostAudiences(q.host);
    if (mask === 0) return null;
    const s = agents.peek(q.tenant, q.agent);
    const g = groups.get(q.tenant, peerGroupId(q.bp, q.agent));
    if (s === undefined || g === undefined || ((g.au ?? 0) & mask) !== 0) return null;
    if (q.t - g.first < Math.max(o.foreignWarmupMs, s.lt * 1000)) return null;
    let f = foreign.get(q.tenant, q.agent);
    if (f === undefined || q.t - f.t0 > o.foreignSpanMs || f.host !== q.host) {
      const fired = f?.fired ?? 0;
      f = { at: q.t, n: 0, t0: q.t, host: q.host, ids: [], fired };
      foreign.set(q.tenant, q.agent, f);
    }
    if (q.t > f.at) f.at = q.t;
    f.n++;
    if (f.ids.length < 8) f.ids.push(q.id);
    if (f.n < o.foreignUses || (f.fired !== 0 && q.t - f.fired < o.foreignRefireMs)) return null;
    f.fired = q.t;
    const aud = audiencesNamed(mask);
    return {
      detector: tokenReplayMeta.id,
      severity: 'medium',
      tenant_id: q.tenant,
      agent_id: q.agent,
      time: at,
      summary:
        `Agent ${q.agent} presented tokens its tenant never issued to ${q.host} ${f.n} times within ${Math.max(1, Math.round((q.t - f.t0) / 60_000))} min, from its own address, ` +
        `where its blueprint never got a token for ${aud}: a token of another tenant (the agent working in an attacker's tenant)`,
      evidence: {
        observed: { dest_host: q.host, uses: f.n, since: f.t0, use_ip: q.ip },
        baseline: { blueprint_audiences: audiencesNamed(g.au ?? 0), watched_since: g.first },
        threshold: `${o.foreignUses} uses within ${o.foreignSpanMs / 60_000} min of tokens no agent of the tenant was issued, at a Microsoft resource the blueprint never got a token for`,
        peer_group: peerGroupName(q.bp) ?? `agent:${q.agent}`,
      },
      event_ids: f.ids.slice(),
    };
  }

  /** Forgets tokens expired (with the grace) before the watermark. */
  function sweepOwners(watermark: number): void {
    owners.sweep(Math.floor((watermark - o.expiryGraceMs) / 1000));
  }

  /**
   * The token (h1, h2) presented by agent `agent` of `tenant` was issued to
   * another agent of the tenant: high for the presenter, medium for the
   * owner, whose token is out of its hands. Once per token (as a replay).
   */
  function crossAgent(tenant: string, agent: string, bp: string | null, h1: number, h2: number, use: { ip: string; t: number; id: string; host: string }, tokenId: string | null, time: number): Detection[] {
    const w = owners.get(h1);
    if (w === undefined || w.h2 !== h2 || w.tn !== tenant || w.ag === agent || w.fired) return NO_DETECTIONS;
    w.fired = true;
    const owner = w.ag;
    const name = tokenId ?? 'a token';
    const issued = ` (issued at ${w.ip})`;
    const evidence = (observed: Record<string, unknown>): Detection['evidence'] => ({
      observed,
      baseline: { owner_agent_id: owner, issued_ip: w.ip, expires_at: w.ex * 1000 },
      threshold: 'a token is presented only by the agent it was issued to',
      peer_group: peerGroupName(bp),
      ...(tokenId === null ? {} : { token_id: tokenId }),
    });
    const ids = [w.ev, use.id];
    return [
      {
        detector: tokenReplayMeta.id,
        severity: 'high',
        tenant_id: tenant,
        agent_id: agent,
        time,
        summary: `Agent ${agent} presented ${name}, issued to agent ${owner}${issued}, from ${use.ip} (to ${use.host})`,
        evidence: evidence({ presenter_agent_id: agent, use_ip: use.ip, use_time: use.t, dest_host: use.host }),
        event_ids: ids,
      },
      {
        detector: tokenReplayMeta.id,
        severity: 'medium',
        tenant_id: tenant,
        agent_id: owner,
        time,
        summary: `${tokenId === null ? 'A token' : `Token ${tokenId}`} of agent ${owner}${issued} was presented by another agent, ${agent}, from ${use.ip} (to ${use.host})`,
        evidence: evidence({ presenter_agent_id: agent, use_ip: use.ip, use_time: use.t, dest_host: use.host }),
        event_ids: ids,
      },
    ];
  }

  /** True when `ip` is of the other address family than one of the agent's issuing addresses, or in the /16 or /48 of one. */
  function fitsIssuing(s: AgentTokens, ip: string): boolean {
    const slots = s.slots;
    if (slots.length === 0) return false;
    const v6 = isIpv6(ip);
    const wide = wideNetworkOf(ip);
    for (let i = 0; i < slots.length; i++) {
      const other = slots[i]!.ip;
      if (isIpv6(other) !== v6) return true;
      if (wide !== null && wideNetworkOf(other) === wide) return true;
    }
    return false;
  }

  /**
   * True when `ip` is an address (or in the subnet of one) the agent holds a
   * token of, or was issued tokens at within the issuing history of `t`.
   */
  function knownAddress(s: AgentTokens, ip: string, t: number): boolean {
    const slots = s.slots;
    for (let i = 0; i < slots.length; i++) if (slots[i]!.ip === ip) return true;
    const nets = s.nets;
    if (!o.sameSubnet || (slots.length === 0 && nets === null)) return false;
    const net = subnetOf(ip);
    if (net === null) return false;
    for (let i = 0; i < slots.length; i++) if (subnetOf(slots[i]!.ip) === net) return true;
    if (nets !== null) {
      const h = hashString(net) & SMALL;
      const span = o.issuingHistoryMs / 1000;
      const now = sec(t);
      // Issued there within the history before the use, or since (a decision taken later).
      for (let i = 0; i < nets.length; i += 3) if (nets[i] === h && Math.abs(nets[i + 2]! - now) <= span) return true;
    }
    return false;
  }

  function detection(
    e: TokenEvent | NetworkEvent,
    s: AgentTokens,
    slot: Slot,
    use: { ip: string; t: number; id: string; host: string },
    tokenId: string,
    ctx: DetectorContext,
  ): Detection {
    slot.fired = true;
    const others: string[] = [];
    for (const x of s.slots) if (x.ip !== slot.ip && !others.includes(x.ip)) others.push(x.ip);
    const info = ctx.agent(e.tenant_id, e.agent_id);
    const bp = e.blueprint_id ?? info?.blueprint_id ?? null;
    const revoked = info?.deleted ? 'deleted' : info?.disabled ? 'disabled' : null;
    return {
      detector: tokenReplayMeta.id,
      severity: 'high',
      tenant_id: e.tenant_id,
      agent_id: e.agent_id,
      time: e.time,
      summary: `Token ${tokenId} of agent ${e.agent_id} issued to ${slot.ip} was used from ${use.ip} (to ${use.host})${revoked === null ? '' : `, after the agent was ${revoked}`}`,
      evidence: {
        observed: { use_ip: use.ip, use_time: use.t, dest_host: use.host, ...(revoked === null ? {} : { agent_state: revoked }) },
        baseline: { issued_ip: slot.ip, other_issuing_ips: others },
        threshold: o.sameSubnet
          ? 'use address within the /24 (IPv4) or /64 (IPv6) of an address the agent was issued tokens at'
          : 'use address equal to an address the agent was issued tokens at',
        peer_group: peerGroupName(bp),
        token_id: tokenId,
        expires_at: slot.ex * 1000,
      },
      event_ids: [slot.ev, use.id],
    };
  }

  /** A queued unknown-token use whose token event never came: a replay unless explained meanwhile. */
  function verdict(q: QueuedUse, watermark: number, ctx: DetectorContext): Detection | null {
    const s = agents.peek(q.tenant, q.agent);
    const pend = s?.pend;
    if (!s || !pend) return null;
    let i = 0;
    while (i < pend.length && !(pend[i]!.h1 === q.h1 && pend[i]!.h2 === q.h2 && pend[i]!.ip === q.ip && pend[i]!.t === q.t)) i++;
    if (i === pend.length) return null; // matched by its token event (or dropped)
    s.pend = pend.length === 1 ? null : pend.slice(0, i).concat(pend.slice(i + 1));
    // Its token event came late, but for another agent.
    const cross = owners.size === 0 ? NO_DETECTIONS : crossAgent(q.tenant, q.agent, q.bp, q.h1, q.h2, q, null, Math.max(q.t, watermark));
    if (cross.length !== 0) {
      crossFound.push(...cross.slice(1));
      return cross[0]!;
    }
    if (s.slots.length === 0 || knownAddress(s, q.ip, q.t)) return null;
    if (s.fu !== null && s.fu.includes(q.h1)) return null;
    // Decided 2 minutes on already: a network other agents did not take up by now is foreign.
    const net = useNetwork(ctx, q.tenant, q.agent, q.bp, q.ip, q.t, s);
    if (net === KNOWN || net === ADOPTED) return null;
    s.fu = s.fu === null ? [q.h1] : s.fu.slice(-3).concat(q.h1);
    const ips: string[] = [];
    for (const x of s.slots) if (!ips.includes(x.ip)) ips.push(x.ip);
    const bp = ctx.agent(q.tenant, q.agent)?.blueprint_id ?? null;
    // From inside the organisation while the agent gets its tokens outside it (a token issued before the
    // stream began, used from the agent's own private address): low, as for a known token (see decideDeferred).
    let internal = true;
    for (const x of ips) if (!internalUse(q.ip, x)) internal = false;
    return {
      detector: tokenReplayMeta.id,
      severity: internal ? 'low' : 'high',
      tenant_id: q.tenant,
      agent_id: q.agent,
      time: Math.max(q.t, watermark),
      summary:
        `A token of agent ${q.agent} not issued at any of its addresses (${ips.join(', ')}) was used from ${q.ip} (to ${q.host})` +
        (!internal ? '' : isPrivateAddress(q.ip) ? ' (a private address, inside the organisation\'s network: low unless more follows)' : ' (an egress address of a cloud security edge, the organisation\'s web gateway: low unless more follows)'),
      evidence: {
        observed: { use_ip: q.ip, use_time: q.t, dest_host: q.host },
        baseline: { issuing_ips: ips, token_known: false },
        threshold: 'use address near an address the agent was issued tokens at, or a token event for it within ' + o.pendingMs / 1000 + ' s',
        peer_group: peerGroupName(bp),
      },
      event_ids: [q.id],
    };
  }

  function onToken(e: TokenEvent, ctx: DetectorContext): Detection[] {
    if (e.decision !== 'granted') return NO_DETECTIONS;
    let s = agents.get(ctx, e.tenant_id, e.agent_id);
    if (!s) {
      s = fresh(e);
      agents.set(ctx, e.tenant_id, e.agent_id, s);
    } else if (e.time > atMs(s)) setAtMs(s, e.time);
    hash2(e.token_id);
    const h1 = H1;
    const h2 = H2;
    const slots = s.slots;
    for (let i = 0; i < slots.length; i++) if (slots[i]!.h1 === h1 && slots[i]!.h2 === h2) return NO_DETECTIONS; // duplicate
    const lifetimeS = Math.min(Math.max(e.lifetime_s, 0), o.maxLifetimeS);
    // Forget tokens long expired, then make room (the least recently used goes when full);
    // the kept slots and the new one go into one exact-size array (no intermediate arrays).
    const nowS = Math.floor((e.time - o.expiryGraceMs) / 1000);
    let kept = 0;
    for (let i = 0; i < slots.length; i++) if (slots[i]!.ex >= nowS) kept++;
    let victim = -1;
    if (kept >= o.maxTokensPerAgent) {
      for (let i = 0; i < slots.length; i++) {
        const x = slots[i]!;
        if (x.ex >= nowS && (victim < 0 || x.u < slots[victim]!.u)) victim = i;
      }
      kept--;
    }
    // Share the address string with a kept slot when equal (one copy per agent).
    let ip = e.ip;
    for (let i = 0; i < slots.length; i++) if (i !== victim && slots[i]!.ex >= nowS && slots[i]!.ip === ip) ip = slots[i]!.ip;
    const sec = Math.floor(e.time / 1000);
    const slot: Slot = { h1, h2, ip, ex: sec + lifetimeS, u: sec, ev: e.event_id, fired: false, tn: e.tenant_id, ag: e.agent_id, r: audienceCode(e.resource) };
    const next = new Array<Slot>(kept + 1);
    let n = 0;
    for (let i = 0; i < slots.length; i++) if (i !== victim && slots[i]!.ex >= nowS) next[n++] = slots[i]!;
    next[n] = slot;
    s.slots = next;
    recordIssuance(ctx, e, s);
    owners.add(slot, lifetimeS);
    if (lifetimeS > s.lt) s.lt = lifetimeS;
    const code = slot.r ?? 0;
    if (code !== 0 && (s.au & (1 << (code - 1))) === 0) {
      // A resource new to the agent: its blueprint's too (rare: once per agent and resource).
      s.au |= 1 << (code - 1);
      const g: ReplayGroup = touchPeerGroup(groups, ctx, e.tenant_id, peerGroupId(e.blueprint_id, e.agent_id), e.time);
      g.au = (g.au ?? 0) | s.au;
    }

    const pend = s.pend;
    if (pend === null) return NO_DETECTIONS;
    let out: Detection[] = NO_DETECTIONS;
    for (let i = pend.length - 1; i >= 0; i--) {
      const p = pend[i]!;
      if (p.t < e.time - PENDING_KEEP * o.pendingMs) {
        pend.splice(i, 1); // judged by now (see PENDING_KEEP)
      } else if (p.t >= e.time - o.pendingMs && p.h1 === h1 && p.h2 === h2) {
        // (a use older than pendingMs is not one of a token issued now: it waits for its verdict)
        pend.splice(i, 1);
        if (!slot.fired && !knownAddress(s, p.ip, p.t)) {
          const net = useNetwork(ctx, e.tenant_id, e.agent_id, e.blueprint_id, p.ip, p.t, s);
          if (!isForeign(net)) continue;
          if (internalUse(p.ip, slot.ip)) {
            // From inside the organisation's network: judged like a use whose token came first
            // (privateConfirmMs after the use: the blueprint's other agents may show it is theirs).
            deferred.add({ tenant_id: e.tenant_id, agent_id: e.agent_id, due: Math.max(p.t + o.privateConfirmMs, e.time), use: lateUse(e, p), slot, tokenId: e.token_id, confirm: net !== UNSURE, internal: true });
          } else {
            out = [detection(e, s, slot, p, e.token_id, ctx)];
          }
        }
      }
    }
    if (pend.length === 0) s.pend = null;
    return out;
  }

  /** An agent-to-agent call: its callee's latest caller, and where from. */
  function noteCaller(e: NetworkEvent): void {
    const c = callers.get(e.tenant_id, e.dest_agent_id!);
    if (c === undefined) callers.set(e.tenant_id, e.dest_agent_id!, { at: e.time, c: e.agent_id, ip: e.ip, t: e.time, id: e.event_id });
    else if (e.time >= c.t) {
      c.at = e.time;
      c.c = e.agent_id;
      c.ip = e.ip;
      c.t = e.time;
      c.id = e.event_id;
    }
  }

  /**
   * The agent's token presented from the address another agent of the tenant
   * called it from within CALLER_WINDOW_MS before, outside the /24 of the
   * token's issuing address: the caller had it hand over its token (an
   * injected "include your Authorization header" task) and replays it. High
   * for the caller, medium for the agent; once per token.
   */
  function calledFrom(e: NetworkEvent, slot: Slot, tokenId: string): Detection[] | null {
    const c = callers.get(e.tenant_id, e.agent_id);
    if (c === undefined || c.ip !== e.ip || c.c === e.agent_id || e.time < c.t || e.time - c.t > CALLER_WINDOW_MS) return null;
    const net = subnetOf(e.ip);
    if (net !== null && net === subnetOf(slot.ip)) return null;
    slot.fired = true;
    const after = Math.round((e.time - c.t) / 1000);
    const evidence: Detection['evidence'] = {
      observed: { use_ip: e.ip, dest_host: e.dest_host, caller_agent_id: c.c, called_at: c.t, token_id: tokenId },
      baseline: { issued_ip: slot.ip, expires_at: slot.ex * 1000 },
      threshold: `a token used from the address another agent called its owner from within ${CALLER_WINDOW_MS / 60_000} min, outside the issuing /24`,
      peer_group: peerGroupName(e.blueprint_id),
    };
    const ids = [slot.ev, c.id, e.event_id];
    return [
      {
        detector: tokenReplayMeta.id,
        severity: 'medium',
        tenant_id: e.tenant_id,
        agent_id: e.agent_id,
        time: e.time,
        summary: `Token ${tokenId} of agent ${e.agent_id} (issued at ${slot.ip}) was used from ${e.ip} (to ${e.dest_host}), the address agent ${c.c} called it from ${after} s before: its token was handed to its caller`,
        evidence,
        event_ids: ids,
      },
      {
        detector: tokenReplayMeta.id,
        severity: 'high',
        tenant_id: e.tenant_id,
        agent_id: c.c,
        time: e.time,
        summary: `Agent ${c.c} called agent ${e.agent_id} from ${e.ip}, and ${after} s later that agent's token ${tokenId} was used from the same address (to ${e.dest_host}): it harvested the agent's token over the call and replays it`,
        evidence,
        event_ids: ids,
      },
    ];
  }

  /**
   * The agent's token for a Microsoft first-party resource (Graph, ARM, Key
   * Vault, Storage, SQL, Exchange) presented to a host outside Microsoft's
   * services: handed to a third party, which can use it as the agent (an
   * MCP server asking for "your Microsoft 365 session", token passthrough
   * the MCP specification forbids; an injected tool call posting the
   * Authorization header out). Medium, once per token.
   */
  function passedThrough(e: NetworkEvent, slot: Slot, tokenId: string): Detection {
    const audience = audienceUri(slot.r!);
    return {
      detector: tokenReplayMeta.id,
      severity: 'medium',
      tenant_id: e.tenant_id,
      agent_id: e.agent_id,
      time: e.time,
      summary: `Agent ${e.agent_id} presented its token ${tokenId} for ${audience} to ${e.dest_host} (${e.category}), a host outside Microsoft's services: the token handed to a third party, which can use it as the agent`,
      evidence: {
        observed: { token_id: tokenId, audience, dest_host: e.dest_host, dest_ip: e.dest_ip, category: e.category, use_ip: e.ip },
        baseline: { issued_ip: slot.ip, expires_at: slot.ex * 1000 },
        threshold: `a token for ${audience} is taken only by ${audience}'s own hosts, and presented nowhere outside Microsoft's services`,
        peer_group: peerGroupName(e.blueprint_id),
      },
      event_ids: [slot.ev, e.event_id],
    };
  }

  function onNetwork(e: NetworkEvent, ctx: DetectorContext): Detection[] {
    if (e.dest_agent_id !== null && e.dest_agent_id !== e.agent_id) noteCaller(e);
    const tokenId = e.token_id;
    if (tokenId === null) {
      if (moving.size !== 0) noteMoving(e);
      return NO_DETECTIONS;
    }
    touchGroup(e, ctx);
    let s = agents.get(ctx, e.tenant_id, e.agent_id);
    hash2(tokenId);
    const h1 = H1;
    const h2 = H2;
    if (s) {
      const slots = s.slots;
      for (let i = 0; i < slots.length; i++) {
        const slot = slots[i]!;
        if (slot.h1 !== h1 || slot.h2 !== h2) continue;
        const useS = Math.floor(e.time / 1000);
        if (useS > slot.u) slot.u = useS;
        // Its token presented outside Microsoft's services (a Graph token sent to a third party's MCP server).
        if (slot.r && !slot.fired && e.action === 'allowed' && !audienceAccepts(slot.r, e.dest_host) && !isPrivateAddress(e.dest_ip ?? e.dest_host)) {
          slot.fired = true;
          return [passedThrough(e, slot, tokenId)];
        }
        if (slot.ip === e.ip || knownAddress(s, e.ip, e.time)) {
          const now = sec(e.time);
          if (now > s.hu) s.hu = now;
          return NO_DETECTIONS;
        }
        if (slot.fired) return NO_DETECTIONS;
        // From the address another agent called this one from minutes before: that agent holds its token.
        if (callers.size !== 0) {
          const harvested = calledFrom(e, slot, tokenId);
          if (harvested !== null) return harvested;
        }
        const net = useNetwork(ctx, e.tenant_id, e.agent_id, e.blueprint_id, e.ip, e.time, s);
        if (net === KNOWN) return NO_DETECTIONS;
        // Judged a little later either way: while the group learns, whether its agents take the
        // network up; after, whether a token is issued there (see decideDeferred).
        const confirm = net !== UNSURE;
        // A use from inside the organisation's network waits longer: for the blueprint's other agents to show it is theirs.
        // So does a use through the organisation's cloud security edge (its web gateway's egress).
        const internal = internalUse(e.ip, slot.ip);
        const wait = internal ? o.privateConfirmMs : confirm ? (sameBlock(e.ip, slot.ip) ? o.sameBlockConfirmMs : o.foreignConfirmMs) : o.pendingMs;
        deferred.add({ tenant_id: e.tenant_id, agent_id: e.agent_id, due: e.time + wait, use: e, slot, tokenId, confirm, internal });
        if (confirm && !internal) watchMoving(e.tenant_id, e.agent_id, e.ip, e.time, h1 & SMALL);
        return NO_DETECTIONS;
      }
    }
    // Not a token of the agent's: another agent's, wherever it is presented from?
    if (owners.size !== 0) {
      const cross = crossAgent(e.tenant_id, e.agent_id, e.blueprint_id, h1, h2, { ip: e.ip, t: e.time, id: e.event_id, host: e.dest_host }, tokenId, e.time);
      if (cross.length !== 0) return cross;
      // Another agent's token, reported already: its later uses are the same finding.
      const w = owners.get(h1);
      if (w !== undefined && w.fired && w.h2 === h2 && w.tn === e.tenant_id && w.ag !== e.agent_id) return NO_DETECTIONS;
    }
    if (s) {
      // Unknown token from an address the agent gets tokens at: whatever the token, no replay;
      // unless its token event, late, shows it is another agent's (looked at when it can no longer come).
      if (knownAddress(s, e.ip, e.time)) {
        const now = sec(e.time);
        if (now > s.hu) s.hu = now;
        if (homeQueue.length >= o.maxQueue) homeQueue.shift();
        homeQueue.push({ h1, h2, ip: e.ip, t: e.time, id: e.event_id, host: e.dest_host, tenant: e.tenant_id, agent: e.agent_id, bp: e.blueprint_id });
        return NO_DETECTIONS;
      }
    }
    // Token not known (yet): keep the use briefly, in case its token event is late.
    if (!s) {
      s = fresh(e);
      agents.set(ctx, e.tenant_id, e.agent_id, s);
    } else if (e.time > atMs(s)) setAtMs(s, e.time);
    let pend = s.pend ?? NO_PENDING;
    for (let i = 0; i < pend.length; i++) {
      const p = pend[i]!;
      if (p.h1 === h1 && p.h2 === h2 && p.ip === e.ip) return NO_DETECTIONS;
    }
    const horizon = e.time - PENDING_KEEP * o.pendingMs;
    let stale = 0;
    for (let i = 0; i < pend.length; i++) if (pend[i]!.t < horizon) stale++;
    if (stale > 0) pend = pend.filter((p) => p.t >= horizon);
    if (pend.length >= o.maxPendingPerAgent) pend = pend.slice(pend.length - o.maxPendingPerAgent + 1);
    const use: PendingUse = { h1, h2, ip: e.ip, t: e.time, id: e.event_id, host: e.dest_host };
    s.pend = pend.concat([use]);
    // When we know where this agent gets its tokens, an unknown token from elsewhere
    // that no late token event explains is a replay too (its token may simply be
    // one we no longer hold): `advance` decides once the token event cannot come.
    if (s.slots.length > 0 && (s.fu === null || !s.fu.includes(h1))) {
      if (queue.length >= o.maxQueue) queue.shift();
      queue.push({ ...use, tenant: e.tenant_id, agent: e.agent_id, bp: e.blueprint_id });
    }
    return NO_DETECTIONS;
  }

  return {
    types: ['token', 'network'] as const,
    meta: tokenReplayMeta,
    observe(e: AgentEvent, ctx: DetectorContext): Detection[] {
      if (e.type === 'network') return onNetwork(e, ctx);
      if (e.type === 'token') return onToken(e, ctx);
      return NO_DETECTIONS;
    },
    advance(watermark: number, ctx: DetectorContext): Detection[] {
      if (owners.size !== 0) sweepOwners(watermark);
      let out = deferred.takeDue(watermark, (q) => decideDeferred(q, watermark, ctx));
      if (queue.length !== 0 && queue[0]!.t + o.pendingMs <= watermark) {
        let n = 0;
        while (n < queue.length && queue[n]!.t + o.pendingMs <= watermark) {
          const d = verdict(queue[n]!, watermark, ctx);
          if (d !== null) {
            if (out === NO_DETECTIONS) out = [d];
            else out.push(d);
          }
          n++;
        }
        queue = queue.slice(n);
      }
      if (homeQueue.length !== 0 && homeQueue[0]!.t + o.pendingMs <= watermark) decideHomeUses(watermark, crossFound);
      if (crossFound.length !== 0) {
        out = out === NO_DETECTIONS ? crossFound : out.concat(crossFound);
        crossFound = [];
      }
      return out;
    },
    // End of a replay: every use waiting for its late token event, or for other agents to take its
    // network up, is decided as if the stream had gone quiet, dated when it was due.
    settle(ctx: DetectorContext): Detection[] {
      const out: Detection[] = deferred.takeDue(Infinity, (q) => decideDeferred(q, q.due, ctx)).slice();
      for (const q of queue) {
        const d = verdict(q, q.t + o.pendingMs, ctx);
        if (d !== null) out.push(d);
      }
      queue = [];
      decideHomeUses(Infinity, out);
      out.push(...crossFound);
      crossFound = [];
      return out.length === 0 ? NO_DETECTIONS : out;
    },
    evict(before: number): void {
      agents.evict(before);
      groups.evict(before);
      callers.evict(before);
      moving.evict(before);
      foreign.evict(before);
      if (queue.length > 0) queue = queue.filter((q) => q.t >= before);
      if (homeQueue.length > 0) homeQueue = homeQueue.filter((q) => q.t >= before);
      // Tokens expired before the horizon (the sweep in `advance` forgets them sooner, as the watermark moves).
      owners.evict(Math.floor(before / 1000));
      deferred.evict(before);
    },
    size(): number {
      return agents.size + groups.size + queue.length + deferred.size + owners.size + homeQueue.length + callers.size + moving.size + foreign.size;
    },
    snapshot(): unknown {
      const issuance: [string, string, number[]][] = [];
      const audiences: [string, string, number][] = [];
      for (const [t, id, g] of groups.entries()) {
        if (g.iss) issuance.push([t, id, g.iss]);
        if (g.au) audiences.push([t, id, g.au]);
      }
      return clone({ version: 1, agents: agents.rows(), queue, useNetworks: snapshotGroups(groups), issuance, audiences, deferred: deferred.snapshot(), homeQueue, callers: callers.snapshot(), moving: moving.snapshot(), foreign: foreign.snapshot() });
    },
    restore(snapshot: unknown): void {
      const s = clone(snapshot) as {
        version: number;
        agents: [string, string, AgentTokens][];
        queue: QueuedUse[];
        useNetworks?: [string, string, PeerGroupSnapshot][];
        issuance?: [string, string, number[]][];
        deferred?: DeferredUse[];
        homeQueue?: QueuedUse[];
        /** Absent in snapshots taken before callers were kept. */
        callers?: [string, string, CallerSeen][];
        /** Absent in snapshots taken before moves were watched. */
        moving?: [string, string, MovingAgent][];
        /** Absent in snapshots taken before audiences and foreign-tenant tokens were kept. */
        audiences?: [string, string, number][];
        foreign?: [string, string, ForeignUses][];
      };
      if (s?.version !== 1) throw new Error('token-replay: unsupported snapshot');
      // Agents from before issuing networks were kept: none known yet.
      agents.restore(
        s.agents.map(([t, a, v]) => [t, a, { ...v, slots: v.slots.length === 0 ? NO_SLOTS : v.slots, nets: v.nets ?? null, nip: v.nip ?? '', ni: v.ni ?? 0, hu: v.hu ?? 0, au: v.au ?? 0, lt: v.lt ?? 0 }]),
        false,
      );
      // Queued uses and groups from before use networks were learned: no blueprint known, no networks learned yet.
      queue = s.queue.map((q) => (q.bp === undefined ? { ...q, bp: null } : q));
      restoreGroups(groups, s.useNetworks ?? []);
      // Issuances of groups (absent from snapshots taken before they were kept).
      for (const [t, id, iss] of s.issuance ?? []) {
        const g = groups.get(t, id);
        if (g) g.iss = iss;
      }
      for (const [t, id, au] of s.audiences ?? []) {
        const g = groups.get(t, id);
        if (g) g.au = au;
      }
      deferred.restore(s.deferred);
      // The owner index is the agents' token slots (their tenant and agent set again: absent in older snapshots).
      owners.clear();
      for (const [t, a, v] of agents.rows()) {
        for (const slot of v.slots) {
          slot.tn = t;
          slot.ag = a;
          owners.add(slot, slot.ex - slot.u);
        }
      }
      crossFound = [];
      homeQueue = s.homeQueue ?? [];
      callers.restore(s.callers ?? []);
      moving.restore(s.moving ?? []);
      foreign.restore(s.foreign ?? []);
    },
  };
}

/** The latest agent-to-agent call to an agent: when (ms), the caller, its address, the call's event id. */
interface CallerSeen {
  at: number;
  c: string;
  ip: string;
  t: number;
  id: string;
}

/** A token used from its caller's address this long after the call is the caller's replay, ms. */
const CALLER_WINDOW_MS = 10 * 60_000;

/** A 30-bit hash (a small integer: stored unboxed) of the /16 or /48 of an address. */
function wideHash(ip: string): number {
  return hashString(wideNetworkOf(ip) ?? ip) & SMALL;
}

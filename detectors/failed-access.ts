// Detector 3 — failed-access: bursts of access failures that mean something:
// failed sign-ins, and access refused further on (a token request the token
// server blocked, a call the network gateway blocked).
//
// Error codes are classified: invalid credentials (AADSTS7000215 invalid
// secret, AADSTS700027 invalid assertion, invalid_client...), expired
// credentials (AADSTS7000222: counted as other failures, as invalid credentials
// from a network foreign to the tenant), unauthorized resource (AADSTS500011, AADSTS65001,
// AADSTS50105, AADSTS90094, access_denied...), transient (AADSTS50196,
// AADSTS90033, temporarily_unavailable, timeouts, throttling) and other.
// Transient failures never count, nor do invalid-credential failures that
// present a credential removed from the agent within the hour, from the
// subnet of one of its latest successful sign-ins (replicas refreshing with a
// secret an emergency rotation revoked, until they restart with the new one).
//
// Per agent, in a 5-minute window (started by the first failure):
// - invalid-credential burst (≥ 5): medium — credential stuffing / a stolen
//   identifier used with guessed secrets; low when the failures come from the
//   subnet (/24, IPv6 /48) of one of the agent's two latest successful
//   sign-ins: its own host presenting a wrong or stale credential (a secret
//   ID pasted for its value), which also never counts as slow guessing;
// - refused access (≥ 5 refusals with a new resource among them, or ≥ 3
//   distinct new resources): low, medium when ≥ 4 distinct new resources are
//   probed (enumeration; 6 hosts for blocked calls). Refusals are sign-ins
//   denied for the resource (unauthorized codes), token requests the token
//   server blocked (the token's resource) and calls the gateway blocked by
//   policy (the destination host; threat verdicts are gateway-threat's).
//   A resource is not new when it was refused to the agent in an earlier
//   window, or to 3 agents of its blueprint within the hour (a policy that
//   blocks a deployment's telemetry host, a scope nobody consented): it
//   counts towards the burst only, and a burst of nothing new is learned as
//   the agent's usual level;
// - other failures: low at ≥ 10;
// - slow guessing (about one invalid-credential failure every 4 minutes or
//   faster, sustained): medium when their count, decayed with a 30-minute
//   half-life, reaches 10 (and 2× the agent's usual level).
// Thresholds rise with the agent's own decaying failure peak, so an agent that
// habitually fails does not fire on its usual noise.
//
// Per tenant and source (an IPv4 address, an IPv6 /48; or, for a failure from
// an ASN none of the tenant's successful sign-ins came from in the tenant's
// first 30 minutes and since, that ASN: a sprayer rotating through a proxy
// pool's addresses, one guess per address; else, for an IPv4 /24 none of them
// came from, that /24: a sprayer's VM rotating through its few addresses in
// a cloud the tenant also uses): credential failures
// across ≥ 5 distinct agents within 10 minutes, or ≥ 6 within an hour (a slow
// spray), or, from such an unfamiliar ASN, ≥ 4 within 6 hours with at most 3
// guesses per target on average (a paced spray: tools throttle to one guess
// every 10-20 minutes; a deployment with a broken secret retries each agent
// over and over), is a password spray: every target gets a low detection (including
// later ones), and a target that then signs in successfully from that source
// gets a medium one.
// Per tenant, every credential failure from an ASN none of its agents signs
// in from is also counted together: a distributed spray through residential
// proxies uses a new address and network for nearly every guess, so no
// source above ever sees more than one or two. 5 distinct agents within 30
// minutes, from at least 3 such networks, tried at most 3 times each on
// average, is a spray too: every target gets a low detection (once,
// whichever count fires first). (Not the foreign /24s of the tenant's own
// ASNs: a cloud's outbound addresses spread over many /24s, and a
// deployment of agents with a wrong secret would look distributed.)

import type { AgentEvent, NetworkEvent, SigninEvent, TokenEvent } from '../contract/events.js';
import type { Detection, Severity } from './types.js';
import type { Detector, DetectorContext } from './detector.js';
import { ALLOWED_LATENESS_MS, ownSigninAddress, peerGroupId, peerGroupName } from './detector.js';
import { ipv6Site } from './addresses.js';
import { isMaliciousCategory, isPhishingCategory } from './categories.js';
import {
  AgentStore,
  GroupStore,
  NO_DETECTIONS,
  TenantMap,
  type SlotState,
  blueprintOf,
  clone,
  hashString,
  peerAdopt,
  peerVerdictCode,
  restoreGroups,
  sec,
  snapshotGroups,
  touchPeerGroup,
  type PeerGroup,
  type PeerGroupSnapshot,
  type Timed,
} from './agent-directory.js';

export interface FailedAccessOptions {
  windowMs?: number;
  credentialBurst?: number;
  resourceBurst?: number;
  resourceDistinct?: number;
  resourceDistinctMedium?: number;
  /** Distinct new hosts of blocked calls for medium (calls reach more hosts than sign-ins reach resources). */
  blockedHostsMedium?: number;
  otherBurst?: number;
  /** Half-life of the agent's failure peak. */
  peakHalfLifeMs?: number;
  /** Thresholds are at least peakFactor × the agent's usual failures per window. */
  peakFactor?: number;
  sprayWindowMs?: number;
  sprayAgents?: number;
  /** A slow spray: this many distinct agents within slowSprayWindowMs (one guess every few minutes). */
  slowSprayWindowMs?: number;
  slowSprayAgents?: number;
  /**
   * A paced spray from a network no agent of the tenant signs in from (an
   * ASN source, see networkLearnMs): this many distinct agents within
   * pacedSprayWindowMs, each tried at most pacedSprayGuesses times on
   * average. Spray tools throttle to one guess every 10-20 minutes to stay
   * under lockout and alert thresholds; a few guesses per target is what
   * tells them from a deployment retrying a broken secret all day.
   */
  pacedSprayWindowMs?: number;
  pacedSprayAgents?: number;
  pacedSprayGuesses?: number;
  /**
   * A distributed spray: credential failures from networks (ASNs) none of
   * the tenant's agents signs in from (see sourceOf), counted together per
   * tenant: this many distinct agents within
   * distributedSprayWindowMs, from at least distributedSprayNetworks such
   * networks, each tried at most pacedSprayGuesses times on average.
   */
  distributedSprayWindowMs?: number;
  distributedSprayAgents?: number;
  distributedSprayNetworks?: number;
  /** Targets remembered per spraying IP. */
  sprayCap?: number;
  /** A success from a spraying IP this long after its last failure counts as a spray success. */
  spraySuccessMs?: number;
  /**
   * Slow guessing: invalid-credential failures counted with this half-life
   * reaching slowCredentialFailures (and slowPeakFactor × the agent's usual
   * failures per window) is medium, however they are spread over windows.
   */
  slowHalfLifeMs?: number;
  slowCredentialFailures?: number;
  slowPeakFactor?: number;
  /** A resource refused to this many agents of a blueprint within peerRefusalSpanMs is a routine refusal, not probing. */
  peerRefusalAgents?: number;
  peerRefusalSpanMs?: number;
  /**
   * A tenant's successful sign-ins are watched this long before a network
   * (ASN) none of them came from counts as unfamiliar, ms. Credential
   * failures from unfamiliar networks are counted as one spray source per
   * ASN: a sprayer rotating through a proxy pool's addresses stays in a few
   * networks no agent of the tenant works from.
   */
  networkLearnMs?: number;
  /**
   * An invalid-credential failure presenting a credential added to the agent
   * (lifecycle credential_added) at most this long before is the new
   * credential not yet replicated, not a guess: an other failure, ms.
   */
  replicationLagMs?: number;
  /**
   * A failure presenting a credential removed from the agent this long
   * before, from its own subnet, is a replica not yet restarted with the new
   * one, or one restarted from a stale copy of its configuration (a GitOps
   * repository reapplying the secret rotated out yesterday): not counted at
   * all (the rotation explains it), ms.
   */
  revokedStaleMs?: number;
}

/** Habitual refusals remembered per agent, and refused resources per blueprint. */
const KNOWN_REFUSALS = 8;
const PEER_REFUSALS = 64;

export type FailureClass = 'transient' | 'credential' | 'expired' | 'resource' | 'other';

// An expired secret (AADSTS7000222) is the legitimate holder failing with an
// old credential, not someone guessing: it counts with other failures and never
// towards a spray — unless it comes from a network none of the tenant's agents
// signs in from (see foreignNetwork): the holder runs where the agent runs, and
// an expired secret tried from elsewhere is one taken from a dump or an old
// config, so it counts as an invalid credential. So does a client assertion outside its validity window
// (AADSTS700024): the holder's clock has drifted, which no guess produces.
const EXPIRED_CODES = new Set(['AADSTS7000222', 'AADSTS700082', 'AADSTS7000112', 'AADSTS700024']);

const CREDENTIAL_CODES = new Set([
  'AADSTS7000215',
  'AADSTS700027',
  // Forged or mis-signed client assertions, and federated credentials that
  // match no federated identity record (issuer, audience, subject).
  'AADSTS50012',
  'AADSTS50013',
  'AADSTS50027',
  'AADSTS70002',
  'AADSTS700212',
  'AADSTS700213',
  'AADSTS700016',
  'AADSTS50126',
  'AADSTS700211',
  'AADSTS70021',
  'AADSTS50034',
]);
const RESOURCE_CODES = new Set([
  'AADSTS500011',
  'AADSTS65001',
  'AADSTS50105',
  'AADSTS90094',
  'AADSTS50020',
  'AADSTS501051',
  'AADSTS650057',
  'AADSTS50053',
  'AADSTS53003',
]);
const TRANSIENT_CODES = new Set(['AADSTS50196', 'AADSTS90033', 'AADSTS50158', 'AADSTS50076', 'AADSTS90072']);

/**
 * The AADSTS form of an Entra error code however the source wrote it: the
 * sign-in logs' numeric `errorCode` (7000215), the code with its prefix in any
 * case, or an error description that starts with it ("AADSTS7000215: Invalid
 * client secret provided..."). Other codes come back upper-cased.
 */
export function normaliseErrorCode(code: string): string {
  const m = /^\s*(?:aadsts)?(\d{4,7})(?!\d)/i.exec(code);
  return m ? `AADSTS${m[1]}` : code.trim().toUpperCase();
}

/** Classifies a sign-in error code. */
export function classifyFailure(code: string | null): FailureClass {
  if (code === null) return 'other';
  const upper = normaliseErrorCode(code);
  if (CREDENTIAL_CODES.has(upper)) return 'credential';
  if (EXPIRED_CODES.has(upper)) return 'expired';
  if (RESOURCE_CODES.has(upper)) return 'resource';
  if (TRANSIENT_CODES.has(upper)) return 'transient';
  const c = code.toLowerCase();
  if (/temporar|unavailable|timeout|timed_out|throttl|too_many|retry|busy|server_error|internal|429|503|504/.test(c))
    return 'transient';
  if (/expired/.test(c)) return 'expired';
  if (/invalid_client|invalid_grant|bad_credential|invalid_secret|invalid_cert|unauthorized_client|invalid_assertion|credential/.test(c))
    return 'credential';
  if (/access_denied|forbidden|not_assigned|consent|insufficient|permission|resource|not_found|unauthori/.test(c))
    return 'resource';
  return 'other';
}

interface AgentState extends SlotState {
  start: number;
  cred: number;
  res: number;
  other: number;
  resources: number[];
  /** Refused resources of this window that are news: neither refused to the agent in an earlier window nor routinely to its peers. */
  novel: number;
  /** Resources refused to the agent in earlier windows (hashes, oldest first): its habitual refusals, not probing. */
  known: number[];
  ids: string[];
  /** Invalid-credential failures of this window from the agent's own network (see ownSigninAddress). */
  home: number;
  /** Bit per kind already reported in this window: 1 cred, 2 res low, 4 res medium, 8 other, 16 cred at home. */
  fired: number;
  peak: number;
  peakAt: number;
  /** Invalid-credential failures, decayed (half-life slowHalfLifeMs), as of `slowAt`; the slow tier has fired while `slowFired`. */
  slow: number;
  slowAt: number;
  slowFired: boolean;
}

interface SprayState extends Timed {
  last: number;
  agents: string[];
  /** Time of each target's first failure from this source (same order as agents). */
  times: number[];
  /** Credential failures of each target from this source (same order; absent in older snapshots). */
  guesses: number[];
  ids: string[];
  fired: boolean;
  /** Targets already told about a successful sign-in from this IP. */
  succeeded: string[];
  /** The distributed count only (see DISTRIBUTED): each target's source (same order as agents). */
  srcs?: string[];
}

/**
 * Key of a tenant's distributed-spray count among its spray sources (no
 * address, /48, /24 or ASN name starts with `*`).
 */
const DISTRIBUTED = '*foreign networks';

/** The networks (ASNs) a tenant's agents sign in from successfully, and since when they are watched. */
interface TenantNetworks {
  since: number;
  asns: Set<number>;
  /** IPv4 /24s (see net24) its agents signed in from successfully (absent in older snapshots: none yet). */
  nets: Set<number>;
}

/** /24s remembered per tenant. */
const MAX_TENANT_NETS = 16_384;

/**
 * A number for the /24 of an IPv4 address (its first three octets), -1 for
 * anything else (IPv6, malformed): no string built per sign-in.
 */
export function net24(ip: string): number {
  let n = 0;
  let octet = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) {
      if (++dots === 3) return n * 256 + octet;
      n = n * 256 + octet;
      octet = 0;
    } else if (c >= 48 && c <= 57) {
      octet = octet * 10 + (c - 48);
      if (octet > 255) return -1;
    } else return -1;
  }
  return -1;
}

interface Snapshot {
  agents: [string, string, AgentState][];
  sprays: [string, string, SprayState][];
  /** Absent in snapshots from before sprays were also keyed by unfamiliar networks. */
  networks?: [string, number, number[], number[]?][];
  /** Absent in snapshots from before refusals were shared with peers. */
  refusals?: [string, string, PeerGroupSnapshot][];
}

const DEFAULTS: Required<FailedAccessOptions> = {
  windowMs: 5 * 60_000,
  credentialBurst: 5,
  resourceBurst: 5,
  resourceDistinct: 3,
  resourceDistinctMedium: 4,
  blockedHostsMedium: 6,
  otherBurst: 10,
  peakHalfLifeMs: 24 * 3600_000,
  peakFactor: 2,
  sprayWindowMs: 10 * 60_000,
  sprayAgents: 5,
  slowSprayWindowMs: 60 * 60_000,
  slowSprayAgents: 6,
  pacedSprayWindowMs: 6 * 3_600_000,
  pacedSprayAgents: 4,
  pacedSprayGuesses: 3,
  distributedSprayWindowMs: 30 * 60_000,
  distributedSprayAgents: 5,
  distributedSprayNetworks: 3,
  sprayCap: 64,
  peerRefusalAgents: 3,
  peerRefusalSpanMs: 60 * 60_000,
  spraySuccessMs: 30 * 60_000,
  slowHalfLifeMs: 30 * 60_000,
  slowCredentialFailures: 10,
  slowPeakFactor: 2,
  replicationLagMs: 15 * 60_000,
  revokedStaleMs: 7 * 24 * 3_600_000,
  networkLearnMs: 30 * 60_000,
};

/** ASNs remembered per tenant. */
const MAX_TENANT_ASNS = 4096;

const MAX_IDS = 5;

/** The spray source name of an IPv4 address's /24 (`a.b.c.0/24`). */
function net24Name(ip: string): string {
  return `${ip.slice(0, ip.lastIndexOf('.'))}.0/24`;
}

/**
 * The source a spray is counted by: an IPv4 address as it is (NAT puts many
 * innocent callers behind one /24; a /24 none of the tenant's agents signs in
 * from is counted whole, see foreign24), an IPv6 address by its /48, since one
 * site or cloud customer holds a whole /48 and can take a fresh /64 (or
 * address) for every guess.
 */
export function spraySource(ip: string): string {
  return ip.indexOf(':') < 0 ? ip : ipv6Site(ip);
}

export function createFailedAccessDetector(options: FailedAccessOptions = {}): Detector<Snapshot> {
  const o = { ...DEFAULTS, ...options };
  const agents = new AgentStore<AgentState>();
  const sprays = new TenantMap<SprayState>();
  /** Per tenant, the ASNs its agents signed in from successfully (see networkLearnMs). */
  const networks = new Map<string, TenantNetworks>();
  let lastTenant = '';
  let lastNetworks: TenantNetworks | undefined;

  function networksOf(tenant: string): TenantNetworks | undefined {
    if (tenant !== lastTenant) {
      lastTenant = tenant;
      lastNetworks = networks.get(tenant);
    }
    return lastNetworks;
  }

  /** A successful sign-in: its ASN is one the tenant's agents work from. */
  function learnNetwork(e: SigninEvent): void {
    let n = networksOf(e.tenant_id);
    if (n === undefined) {
      n = { since: e.time, asns: new Set(), nets: new Set() };
      networks.set(e.tenant_id, n);
      lastNetworks = n;
    } else if (e.time < n.since) n.since = e.time;
    if (e.asn !== null && !n.asns.has(e.asn) && n.asns.size < MAX_TENANT_ASNS) n.asns.add(e.asn);
    const net = net24(e.ip);
    if (net >= 0 && n.nets.size < MAX_TENANT_NETS) n.nets.add(net);
  }

  /**
   * The /24 of an IPv4 sign-in when none of the tenant's agents signs in
   * from it successfully (once the tenant has been watched networkLearnMs),
   * else -1: a sprayer's VM holds a few addresses of one /24 in a cloud the
   * tenant also uses (so its ASN is no stranger) and rotates through them.
   */
  function foreign24(e: SigninEvent): number {
    const n = networksOf(e.tenant_id);
    if (n === undefined || e.time - n.since < o.networkLearnMs) return -1;
    const net = net24(e.ip);
    return net >= 0 && !n.nets.has(net) ? net : -1;
  }

  /** The sign-in comes from an ASN none of the tenant's agents signs in from successfully (once the tenant has been watched networkLearnMs). */
  function foreignNetwork(e: SigninEvent): boolean {
    if (e.asn === null) return false;
    const n = networksOf(e.tenant_id);
    return n !== undefined && e.time - n.since >= o.networkLearnMs && !n.asns.has(e.asn);
  }

  /**
   * The spray source of a credential failure: its network (`AS<n>`) when no
   * agent of the tenant signs in from that ASN (once the tenant has been
   * watched networkLearnMs), else its address (an IPv6 /48).
   */
  function sourceOf(e: SigninEvent): string {
    if (foreignNetwork(e)) return `AS${e.asn!}`;
    const net = foreign24(e);
    return net >= 0 ? net24Name(e.ip) : spraySource(e.ip);
  }
  /** Per peer group: the resources refused to its agents, with recent adopters (routine refusals). */
  const refusals = new GroupStore<PeerGroup>();

  function detection(
    e: SigninEvent | TokenEvent | NetworkEvent,
    agentId: string,
    severity: Severity,
    summary: string,
    evidence: Detection['evidence'],
    ids: string[],
  ): Detection {
    return {
      detector: 'failed-access',
      severity,
      tenant_id: e.tenant_id,
      agent_id: agentId,
      time: e.time,
      summary,
      evidence,
      event_ids: ids,
    };
  }

  function decayedPeak(a: AgentState, t: number): number {
    return t > a.peakAt ? a.peak * Math.pow(0.5, (t - a.peakAt) / o.peakHalfLifeMs) : a.peak;
  }

  /**
   * Slow guessing: one invalid-credential failure every minute or two for half
   * an hour never fills a 5-minute window (and its windows are learned as the
   * agent's usual level), but its decayed count grows past the threshold.
   * Fires once, again only after the count has fallen below half of it.
   */
  function observeSlowGuessing(a: AgentState, e: SigninEvent, peer: string | null): Detection | null {
    const t = e.time;
    if (t > a.slowAt) {
      a.slow *= Math.pow(0.5, (t - a.slowAt) / o.slowHalfLifeMs);
      a.slowAt = t;
    }
    a.slow += 1;
    const thr = Math.max(o.slowCredentialFailures, o.slowPeakFactor * decayedPeak(a, t));
    if (a.slowFired) {
      if (a.slow < thr / 2) a.slowFired = false;
      return null;
    }
    if (a.slow < thr) return null;
    a.slowFired = true;
    const halfLifeMin = o.slowHalfLifeMs / 60_000;
    return detection(
      e,
      e.agent_id,
      'medium',
      `Agent ${e.agent_id} keeps failing with invalid credentials: about ${Math.round(a.slow)} failures (half-life ${halfLifeMin} min), last ${e.error_code ?? 'no code'} from ${e.ip}`,
      {
        observed: { decayed_credential_failures: Math.round(a.slow * 10) / 10, half_life_s: o.slowHalfLifeMs / 1000, error_code: e.error_code, ip: e.ip },
        baseline: { usual_failures_per_window: Math.round(decayedPeak(a, t) * 100) / 100 },
        threshold: Math.round(thr * 10) / 10,
        peer_group: peer,
      },
      [...a.ids],
    );
  }

  function closeWindow(a: AgentState, t: number): void {
    const total = a.cred + a.home + a.res + a.other;
    const p = decayedPeak(a, t);
    // A window that fired is not learned as normal, except a burst of refusals with nothing new in it (a habit).
    a.peak = a.fired === 0 || (a.fired === 2 && a.novel < o.resourceDistinct) ? Math.max(p, total) : p;
    a.peakAt = t;
    a.start = t;
    a.cred = 0;
    a.home = 0;
    a.res = 0;
    a.other = 0;
    for (let i = 0; i < a.resources.length; i++) {
      const h = a.resources[i]!;
      if (a.known.indexOf(h) >= 0) continue;
      if (a.known.length >= KNOWN_REFUSALS) a.known.shift();
      a.known.push(h);
    }
    a.resources.length = 0;
    a.novel = 0;
    a.ids.length = 0;
    a.fired = 0;
  }

  function observeSpraySuccess(e: SigninEvent): Detection[] {
    let source = spraySource(e.ip);
    let s = sprays.get(e.tenant_id, source);
    if ((!s || !s.fired) && net24(e.ip) >= 0) {
      source = net24Name(e.ip);
      s = sprays.get(e.tenant_id, source);
    }
    if ((!s || !s.fired) && e.asn !== null) {
      source = `AS${e.asn}`;
      s = sprays.get(e.tenant_id, source);
    }
    if (!s || !s.fired || e.time - s.last > o.spraySuccessMs) return NO_DETECTIONS;
    if (s.agents.indexOf(e.agent_id) < 0 || s.succeeded.indexOf(e.agent_id) >= 0) return NO_DETECTIONS;
    s.succeeded.push(e.agent_id);
    return [
      detection(
        e,
        e.agent_id,
        'medium',
        `Agent ${e.agent_id} signed in successfully from ${e.ip}, the source${source === e.ip ? '' : ` (network ${source})`} of a credential spray against ${s.agents.length} agents`,
        {
          observed: { ip: e.ip, source, result: 'success', spray_targets: s.agents.length },
          baseline: 'no successful sign-in from a spraying source',
          threshold: sprayThreshold(),
          peer_group: null,
          ip: e.ip,
        },
        [...s.ids.slice(0, MAX_IDS), e.event_id],
      ),
    ];
  }

  function sprayThreshold(): Record<string, number> {
    return {
      distinct_agents: o.sprayAgents,
      window_s: o.sprayWindowMs / 1000,
      slow_distinct_agents: o.slowSprayAgents,
      slow_window_s: o.slowSprayWindowMs / 1000,
      paced_distinct_agents: o.pacedSprayAgents,
      paced_window_s: o.pacedSprayWindowMs / 1000,
      paced_max_guesses_per_agent: o.pacedSprayGuesses,
    };
  }

  /**
   * A paced spray (from a foreign network): pacedSprayAgents targets within
   * the window, tried a few times each on average (a deployment retrying a
   * broken secret tries each agent over and over).
   */
  function pacedSpray(s: SprayState): boolean {
    return s.agents.length >= o.pacedSprayAgents && fewGuesses(s);
  }

  /** At most pacedSprayGuesses guesses per target on average. */
  function fewGuesses(s: SprayState): boolean {
    const n = s.agents.length;
    let guesses = 0;
    for (let i = 0; i < n; i++) guesses += s.guesses[i]!;
    return guesses <= o.pacedSprayGuesses * n;
  }

  /**
   * Credential failures from one source (an IPv4 address, or an IPv6 /48:
   * one site's allocation, which a sprayer can rotate through freely) across
   * many agents: sprayAgents within sprayWindowMs, or slowSprayAgents within
   * slowSprayWindowMs for a spray paced at one guess every few minutes.
   */
  function observeSpray(e: SigninEvent, out: Detection[]): void {
    const t = e.time;
    const source = sourceOf(e);
    // A source in a network none of the tenant's agents works from is watched longer (a paced spray),
    // and counted with the tenant's other such failures (a distributed spray).
    const foreign = source.startsWith('AS');
    if (foreign) observeDistributedSpray(e, source, out);
    const windowMs = foreign ? Math.max(o.pacedSprayWindowMs, o.slowSprayWindowMs) : o.slowSprayWindowMs;
    const s = sprayTarget(e, source, windowMs, null);
    if (s === null) return;
    if (!s.fired) {
      let recent = 0;
      let hour = 0;
      for (let i = s.times.length - 1; i >= 0 && s.times[i]! >= t - o.slowSprayWindowMs; i--) {
        hour++;
        if (s.times[i]! >= t - o.sprayWindowMs) recent++;
      }
      if (recent < o.sprayAgents && hour < o.slowSprayAgents && !(foreign && pacedSpray(s))) return;
    }
    const from = s.fired ? s.agents.length - 1 : 0;
    s.fired = true;
    const spanMin = Math.max(1, Math.round((t - s.times[0]!) / 60_000));
    for (let i = from; i < s.agents.length; i++) {
      const target = s.agents[i]!;
      if (reportedAsDistributed(e.tenant_id, target)) continue;
      out.push(
        detection(
          e,
          target,
          'low',
          `Agent ${target} is one of ${s.agents.length} agents of the tenant hit by credential failures from ${source === e.ip ? e.ip : source.startsWith('AS') ? `network ${source}, which no agent of the tenant signs in from` : `network ${source}`} within ${spanMin} min (credential spray)`,
          {
            observed: { ip: e.ip, source, distinct_agents: s.agents.length, span_s: Math.round((t - s.times[0]!) / 1000) },
            baseline: 'credential failures from one source against one agent',
            threshold: sprayThreshold(),
            peer_group: null,
            ip: e.ip,
          },
          i === s.agents.length - 1 ? [s.ids[i]!] : [s.ids[i]!, e.event_id],
        ),
      );
    }
  }

  /**
   * Counts the failure of `e` towards the spray count `key` of its tenant
   * (a new count once the last failure is older than the window): a guess
   * more for a known target (null), or a new target, with `src` (its
   * source, for the distributed count), unless the count is full (null).
   * Targets older than the window drop out of a count that has not fired.
   * Returns the count when the target is new.
   */
  function sprayTarget(e: SigninEvent, key: string, windowMs: number, src: string | null): SprayState | null {
    const t = e.time;
    let s = sprays.get(e.tenant_id, key);
    if (!s || t - s.last > windowMs) {
      s = { at: t, last: t, agents: [], times: [], guesses: [], ids: [], fired: false, succeeded: [] };
      sprays.set(e.tenant_id, key, s);
    }
    if (t > s.at) s.at = t;
    if (t > s.last) s.last = t;
    const known = s.agents.indexOf(e.agent_id);
    if (known >= 0) {
      s.guesses[known]!++;
      return null;
    }
    const srcs = src === null ? null : (s.srcs ??= s.agents.map(() => ''));
    if (!s.fired) {
      // Targets older than the window no longer count towards this spray.
      let drop = 0;
      while (drop < s.times.length && s.times[drop]! < t - windowMs) drop++;
      if (drop > 0) {
        s.agents.splice(0, drop);
        s.times.splice(0, drop);
        s.guesses.splice(0, drop);
        s.ids.splice(0, drop);
        srcs?.splice(0, drop);
      }
    }
    if (s.agents.length >= o.sprayCap) return null;
    s.agents.push(e.agent_id);
    s.times.push(t);
    s.guesses.push(1);
    s.ids.push(e.event_id);
    srcs?.push(src!);
    return s;
  }

  /** Number of distinct strings in a short list (no Set built: the list holds at most sprayCap). */
  function distinctCount(list: string[]): number {
    let n = 0;
    for (let i = 0; i < list.length; i++) if (list.indexOf(list[i]!) === i) n++;
    return n;
  }

  /** True when the tenant's distributed count fired with `agent` among its targets. */
  function reportedAsDistributed(tenant: string, agent: string): boolean {
    const d = sprays.get(tenant, DISTRIBUTED);
    return d !== undefined && d.fired && d.agents.indexOf(agent) >= 0;
  }

  /**
   * A credential failure from an ASN none of the tenant's agents signs in
   * from (`source`), counted with every other such failure of the tenant: distributedSprayAgents distinct agents within the window,
   * from distributedSprayNetworks networks, a few guesses each.
   */
  function observeDistributedSpray(e: SigninEvent, source: string, out: Detection[]): void {
    const t = e.time;
    const windowMs = o.distributedSprayWindowMs;
    const s = sprayTarget(e, DISTRIBUTED, windowMs, source);
    if (s === null) return;
    const srcs = s.srcs!;
    if (!s.fired && (s.agents.length < o.distributedSprayAgents || !fewGuesses(s))) return;
    const networksSeen = distinctCount(srcs);
    if (!s.fired && networksSeen < o.distributedSprayNetworks) return;
    const from = s.fired ? s.agents.length - 1 : 0;
    s.fired = true;
    const spanMin = Math.max(1, Math.round((t - s.times[0]!) / 60_000));
    for (let i = from; i < s.agents.length; i++) {
      const target = s.agents[i]!;
      // Already reported as a target of its own source's spray.
      const own = sprays.get(e.tenant_id, srcs[i]!);
      if (own !== undefined && own.fired && own.agents.indexOf(target) >= 0) continue;
      out.push(
        detection(
          e,
          target,
          'low',
          `Agent ${target} is one of ${s.agents.length} agents of the tenant hit by credential failures within ${spanMin} min from ${networksSeen} networks (ASNs), none of which any agent of the tenant signs in from (distributed credential spray)`,
          {
            observed: { ip: e.ip, source: srcs[i], distinct_agents: s.agents.length, distinct_networks: networksSeen, span_s: Math.round((t - s.times[0]!) / 1000) },
            baseline: 'credential failures from networks the tenant\'s agents work from',
            threshold: { distinct_agents: o.distributedSprayAgents, distinct_networks: o.distributedSprayNetworks, window_s: windowMs / 1000, max_guesses_per_agent: o.pacedSprayGuesses },
            peer_group: null,
            ip: e.ip,
          },
          i === s.agents.length - 1 ? [s.ids[i]!] : [s.ids[i]!, e.event_id],
        ),
      );
    }
  }

  /** The agent's failure window at `e` (a new one once the current is over). */
  function failureWindow(e: SigninEvent | TokenEvent | NetworkEvent, ctx: DetectorContext): AgentState {
    const t = e.time;
    let a = agents.get(ctx, e.tenant_id, e.agent_id);
    if (!a) {
      a = { at: sec(t), e: 0, start: t, cred: 0, home: 0, res: 0, other: 0, resources: [], novel: 0, known: [], ids: [], fired: 0, peak: 0, peakAt: t, slow: 0, slowAt: t, slowFired: false };
      agents.set(ctx, e.tenant_id, e.agent_id, a);
    } else if (t - a.start > o.windowMs) {
      closeWindow(a, t);
    }
    if (sec(t) > a.at) a.at = sec(t);
    if (a.ids.length < MAX_IDS) a.ids.push(e.event_id);
    return a;
  }

  /**
   * True when `h` is refused routinely in the agent's peer group: to
   * peerRefusalAgents of its agents (this one included) within the span.
   * Records this agent's refusal either way.
   */
  function routineRefusal(e: SigninEvent | TokenEvent | NetworkEvent, h: number, ctx: DetectorContext): boolean {
    const g = touchPeerGroup(refusals, ctx, e.tenant_id, peerGroupId(blueprintOf(e, ctx), e.agent_id), e.time);
    const ah = hashString(e.agent_id) | 1;
    // Never "clean": one agent's probing must not vouch for the same resources probed through another.
    peerAdopt(g, h, ah, e.time, false, PEER_REFUSALS);
    return peerVerdictCode(g, h, ah, e.time, o.peerRefusalSpanMs) >>> 1 >= o.peerRefusalAgents;
  }

  /**
   * One refusal of access to `resource` (a sign-in to a resource the agent may
   * not use, a blocked token request, a blocked call): low on a burst, medium
   * when several resources are probed.
   */
  function refused(a: AgentState, e: SigninEvent | TokenEvent | NetworkEvent, resource: string, reason: string, usual: number, peer: string | null, ctx: DetectorContext): Detection | null {
    a.res++;
    const h = hashString(resource);
    if (a.resources.indexOf(h) < 0 && a.resources.length < 16) {
      a.resources.push(h);
      if (a.known.indexOf(h) < 0 && !routineRefusal(e, h, ctx)) a.novel++;
    }
    const distinct = a.novel;
    const thr = Math.max(o.resourceBurst, usual);
    // Calls reach many more hosts than sign-ins reach resources (an SDK's several telemetry hosts), so blocked calls need more.
    const distinctMedium = e.type === 'network' ? o.blockedHostsMedium : o.resourceDistinctMedium;
    const medium = distinct >= distinctMedium && a.res >= distinctMedium;
    // A burst of refusals with nothing new in it (all habitual or routine for peers) is the agent's normal.
    const low = (a.res >= thr && distinct > 0) || (distinct >= o.resourceDistinct && a.res >= Math.max(o.resourceDistinct, usual));
    if (!((medium && (a.fired & 4) === 0) || (low && (a.fired & 6) === 0))) return null;
    a.fired |= medium ? 6 : 2;
    const windowMin = o.windowMs / 60_000;
    return detection(
      e,
      e.agent_id,
      medium ? 'medium' : 'low',
      `Agent ${e.agent_id} was refused access ${a.res} times in ${windowMin} min across ${distinct} resource${distinct === 1 ? '' : 's'} (last ${resource}, ${reason})`,
      {
        observed: { resource_failures: a.res, distinct_resources: distinct, resource, reason, error_code: e.type === 'signin' ? e.error_code : null },
        // Resources refused before (to the agent, or routinely to its peers) are not counted as distinct.
        baseline: { usual_failures_per_window: Math.round(decayedPeak(a, e.time) * 100) / 100, habitual_refusals: a.known.length },
        threshold: { failures: thr, distinct_resources: o.resourceDistinct, distinct_for_medium: distinctMedium },
        peer_group: peer,
      },
      [...a.ids],
    );
  }

  /** A token request the token server blocked, or a call the gateway blocked by policy: access refused. */
  function observeRefusal(e: TokenEvent | NetworkEvent, ctx: DetectorContext): Detection[] {
    const a = failureWindow(e, ctx);
    const usual = decayedPeak(a, e.time) * o.peakFactor;
    const peer = peerGroupName(blueprintOf(e, ctx));
    const d =
      e.type === 'token'
        ? refused(a, e, e.resource, 'token request blocked', usual, peer, ctx)
        : refused(a, e, e.dest_host, 'call blocked by the gateway', usual, peer, ctx);
    return d === null ? NO_DETECTIONS : [d];
  }

  /**
   * True when the failing sign-in presents a credential added to the agent
   * within replicationLagMs before it (or up to the allowed lateness after:
   * the audit feed may lag): a rotation whose new secret or certificate the
   * directory has not replicated everywhere yet.
   */
  function justAdded(e: SigninEvent, ctx: DetectorContext): boolean {
    const info = ctx.agent(e.tenant_id, e.agent_id);
    if (info === undefined) return false;
    for (const c of info.credentials_added) {
      if (c.credential_id === e.credential_id && e.time - c.time <= o.replicationLagMs && c.time - e.time <= ALLOWED_LATENESS_MS) return true;
    }
    return false;
  }

  /**
   * True when the failing sign-in presents a credential removed from the
   * agent within revokedStaleMs before it (or up to the allowed lateness
   * after), from the subnet of one of the agent's latest successful sign-in
   * addresses: its own replicas still refreshing with a secret an emergency
   * rotation revoked, until they restart with the new one. The same revoked
   * secret tried from anywhere else is someone holding the leaked copy: still
   * guessing. Days later too: a configuration restored from before the
   * rotation brings the old secret back on the agent's own hosts, and whoever
   * is on those hosts has no use for a secret that no longer works.
   */
  function revokedAtHome(e: SigninEvent, ctx: DetectorContext): boolean {
    const info = ctx.agent(e.tenant_id, e.agent_id);
    const removed = info?.credentials_removed;
    if (removed === undefined || removed.length === 0) return false;
    for (const c of removed) {
      if (c.credential_id === e.credential_id && e.time - c.time <= o.revokedStaleMs && c.time - e.time <= ALLOWED_LATENESS_MS) return ownSigninAddress(info, e.ip) !== null;
    }
    return false;
  }

  /**
   * The window's burst of `count` invalid-credential failures, once per
   * window: medium, or low when they come from the agent's own network
   * (`home`, see ownSigninAddress), each kind with its own bit.
   */
  function credentialBurst(a: AgentState, e: SigninEvent, count: number, usual: number, peer: string | null, home: string | null): Detection | null {
    const thr = Math.max(o.credentialBurst, usual);
    const bit = home === null ? 1 : 16;
    if (count < thr || (a.fired & bit) !== 0) return null;
    a.fired |= bit;
    const windowMin = o.windowMs / 60_000;
    const last = `last ${e.error_code ?? 'no code'}`;
    return detection(
      e,
      e.agent_id,
      home === null ? 'medium' : 'low',
      home === null
        ? `Agent ${e.agent_id} had ${count} invalid-credential sign-in failures in ${windowMin} min (${last} from ${e.ip})`
        : `Agent ${e.agent_id} had ${count} invalid-credential sign-in failures in ${windowMin} min from ${e.ip}, the network it signs in from successfully: its own host is presenting a wrong or stale credential (${last})`,
      {
        observed: { credential_failures: count, error_code: e.error_code, ip: e.ip },
        baseline: { usual_failures_per_window: Math.round(decayedPeak(a, e.time) * 100) / 100, ...(home === null ? {} : { successful_signin_ip: home }) },
        threshold: thr,
        peer_group: peer,
      },
      [...a.ids],
    );
  }

  function observe(e: AgentEvent, ctx: DetectorContext): Detection[] {
    if (e.type === 'token') return e.decision === 'blocked' ? observeRefusal(e, ctx) : NO_DETECTIONS;
    // Threat verdicts (and hostile categories) on blocked calls are gateway-threat's.
    if (e.type === 'network') return e.action === 'blocked' && e.threat === 'none' && !isMaliciousCategory(e.category) && !isPhishingCategory(e.category) ? observeRefusal(e, ctx) : NO_DETECTIONS;
    if (e.type !== 'signin') return NO_DETECTIONS;
    if (e.result === 'success') {
      learnNetwork(e);
      return sprays.size === 0 ? NO_DETECTIONS : observeSpraySuccess(e);
    }
    let kind = classifyFailure(e.error_code);
    if (kind === 'transient') return NO_DETECTIONS;
    // The agent's own replicas presenting the credential just removed: the rotation explains them.
    if (kind === 'credential' && e.credential_id !== null && revokedAtHome(e, ctx)) return NO_DETECTIONS;
    if (kind === 'credential' && e.credential_id !== null && justAdded(e, ctx)) kind = 'other';
    // An expired credential presented from a network none of the tenant's agents works from is
    // not the holder's stale configuration: it is an old secret from a dump, tried by someone else.
    else if (kind === 'expired' && foreignNetwork(e)) kind = 'credential';
    const t = e.time;
    let out: Detection[] | null = null;

    if (kind === 'credential') {
      out = [];
      observeSpray(e, out);
    }

    const a = failureWindow(e, ctx);
    const usual = decayedPeak(a, t) * o.peakFactor;
    const peer = peerGroupName(blueprintOf(e, ctx));
    const windowMin = o.windowMs / 60_000;

    // From the subnet of one of the agent's two latest successful sign-ins: its own host presenting a
    // wrong or stale credential (a secret ID pasted for its value, a replica left on a removed secret).
    // Guessing needs no access to that host, and whoever has it holds the credential already.
    const home = kind === 'credential' ? ownSigninAddress(ctx.agent(e.tenant_id, e.agent_id), e.ip) : null;
    if (home !== null) {
      // Not guessing: low, and not counted towards slow guessing.
      a.home++;
      const d = credentialBurst(a, e, a.home, usual, peer, home);
      if (d !== null) (out ??= []).push(d);
    } else if (kind === 'credential') {
      a.cred++;
      const slowDetection = observeSlowGuessing(a, e, peer);
      if (slowDetection !== null) (out ??= []).push(slowDetection);
      const d = credentialBurst(a, e, a.cred, usual, peer, null);
      if (d !== null) (out ??= []).push(d);
    } else if (kind === 'resource') {
      const d = refused(a, e, e.resource, e.error_code ?? 'no code', usual, peer, ctx);
      if (d !== null) (out ??= []).push(d);
    } else {
      a.other++;
      const thr = Math.max(o.otherBurst, usual);
      if (a.other >= thr && (a.fired & 8) === 0) {
        a.fired |= 8;
        (out ??= []).push(
          detection(
            e,
            e.agent_id,
            'low',
            `Agent ${e.agent_id} had ${a.other} failed sign-ins in ${windowMin} min (last ${e.error_code ?? 'no code'} from ${e.ip})`,
            {
              observed: { failures: a.other, error_code: e.error_code, ip: e.ip },
              baseline: { usual_failures_per_window: Math.round(decayedPeak(a, t) * 100) / 100 },
              threshold: thr,
              peer_group: peer,
            },
            [...a.ids],
          ),
        );
      }
    }
    return out === null || out.length === 0 ? NO_DETECTIONS : out;
  }

  return {
    types: ['signin', 'token', 'network'] as const,
    meta: {
      id: 'failed-access',
      title: 'Burst of failed access',
      severity: 'medium',
      description:
        'Bursts of sign-in failures with invalid credentials (medium; also when slow guessing keeps them coming, about 10 within a 30-minute half-life; low when they come from the subnet of one of the agent\'s two latest successful sign-in addresses: its own host presenting a wrong or stale credential), to resources the agent may not use, including token requests the token server blocked and calls the gateway blocked by policy (low; medium when several resources are probed), or of other kinds (low), above the agent\'s usual failure level; transient failures never count, and an expired credential or a client assertion outside its validity window (AADSTS700024, a drifted clock) counts as an other failure, never as guessing, as does a failure presenting a credential added to the agent within the 15 minutes before (a rotation not yet replicated); a failure presenting a credential removed from the agent within the 7 days before, from the subnet of one of its latest successful sign-in addresses (its replicas not yet restarted after an emergency rotation, or restarted from a configuration older than the rotation), does not count at all. Credential failures from one source (an IP, an IPv6 /48, an IPv4 /24 from which no agent of the tenant signs in successfully: a sprayer\'s VM rotating through its addresses in a cloud the tenant also uses, or an ASN from which none does: a sprayer rotating through a proxy pool) across many agents of a tenant (5 within 10 minutes, or 6 within an hour; from such an ASN also 4 within 6 hours tried at most 3 times each on average, a paced spray) give each target a low detection, and a later success from that source a medium one; so do credential failures from such ASNs counted together across the tenant (5 agents within 30 minutes from at least 3 of them, tried at most 3 times each on average: a distributed spray through residential proxies, one network per guess). Error codes are read in any form (AADSTS7000215, 7000215, or a description starting with the code).',
      mitre: { id: 'T1110', name: 'Brute Force' },
    },
    observe,
    evict(before) {
      agents.evict(before);
      sprays.evict(before);
      refusals.evict(before);
    },
    size: () => agents.size + sprays.size + refusals.size,
    snapshot: () => ({
      agents: agents.snapshot(),
      sprays: clone(sprays.snapshot()),
      refusals: snapshotGroups(refusals),
      networks: [...networks].map(([t, n]): [string, number, number[], number[]] => [t, n.since, [...n.asns], [...n.nets]]),
    }),
    restore(s) {
      // Agents from snapshots before the slow tier start its count at zero.
      // Rebuilt in the order new agents are made (one object shape); older
      // snapshots lack the slow tier (its count starts at zero) and the
      // habitual refusals (none known: this window's resources are all news).
      agents.restore(
        s.agents.map(([t, id, v]): [string, string, AgentState] => [
          t,
          id,
          {
            at: v.at,
            e: v.e,
            start: v.start,
            cred: v.cred,
            home: v.home ?? 0,
            res: v.res,
            other: v.other,
            resources: v.resources,
            novel: v.novel ?? v.resources.length,
            known: v.known ?? [],
            ids: v.ids,
            fired: v.fired,
            peak: v.peak,
            peakAt: v.peakAt,
            slow: v.slow ?? 0,
            slowAt: v.slowAt ?? v.peakAt,
            slowFired: v.slowFired ?? false,
          },
        ]),
      );
      restoreGroups(refusals, s.refusals ?? []);
      networks.clear();
      lastTenant = '';
      lastNetworks = undefined;
      for (const [t, since, asns, nets] of s.networks ?? []) networks.set(t, { since, asns: new Set(asns), nets: new Set(nets ?? []) });
      // Snapshots from before the slow-spray window have no target times: their targets count from their last failure.
      // Snapshots from before paced sprays have no guess counts: one guess per target.
      sprays.restore(
        clone(s.sprays).map(([t, k, v]) => [t, k, { ...v, times: v.times ?? v.agents.map(() => v.last), guesses: v.guesses ?? v.agents.map(() => 1) }]),
      );
    },
  };
}

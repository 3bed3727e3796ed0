// Detector 23 — token-without-signin: a token issued to an agent at a
// network it does not sign in from (T1550.001 Use Alternate Authentication
// Material: Application Access Token).
//
// An agent gets its tokens where it signs in: the sign-in and the token are
// one request to the token endpoint, logged twice. A token issued somewhere
// else with no sign-in there is a refresh token redeemed by someone who
// stole it (an on-behalf-of copilot's refresh token and client secret taken
// from an app setting, replayed from a VPS abroad), or an issuance whose
// sign-in record was suppressed. Entra's "anomalous token" detection looks
// for the same thing offline.
//
// Rule: a granted token to an agent that has signed in before, issued at a
// public address outside the /16 (IPv6 /48) of the agent's two latest
// sign-in addresses, waits `holdMs` of event time (its sign-in may be late,
// or follow it). It is medium unless by then:
// - the agent signed in from the token's /16 (late, or just after), or had
//   moved there before (it signed in from that /24 at some point: an agent
//   working from several regions);
// - another agent of its blueprint signs in from that /24 (IPv6 /48), or
//   two others were issued tokens there without a sign-in too (a blueprint
//   moving while its sign-in feed lags: a thief holding one agent's token
//   has no claim on another's network).
// - the agent called a token broker (Azure API Management's credential
//   manager, `*.azure-api.net`; Power Platform's connector gateway,
//   `*.azure-apim.net`) within `brokerLeadMs` before the token: the broker
//   keeps the agent's refresh tokens and redeems them from its own egress
//   when the agent asks it to. A thief redeeming a stolen refresh token from
//   his own host cannot make the agent ask at that second.
// Private addresses and the egress of cloud security edges (the company's
// own network and web gateway) are not judged. Once per agent per day.
//
// State: per blueprint, a ring of the networks its agents moved their
// sign-ins to and of tokens issued away from sign-ins (the latest 32: the
// network, the agent, the time, the kind); per agent only while a token
// waits, and for a day after a finding. Nothing for an agent whose tokens
// come from where it signs in: the directory knows its sign-in addresses.
// Per agent that calls a token broker, the time of its latest call.

import type { AgentEvent, NetworkEvent, SigninEvent, TokenEvent } from '../contract/events.js';
import type { Detection, DetectorMeta } from './types.js';
import { ALLOWED_LATENESS_MS, peerGroupId, peerGroupName, type AgentInfo, type Detector, type DetectorContext } from './detector.js';
import { NO_DETECTIONS, TenantMap, clone, hashString, sec, type Timed } from './agent-directory.js';
import { isIpv6, isPrivateAddress, isSecurityEdgeAddress, subnetOf, wideNetworkOf } from './addresses.js';
import { DueQueue } from './due-queue.js';
import { memoByHost } from './host-memo.js';

/** Hosts of services that hold an agent's refresh tokens and redeem them for it: API Management's credential manager, Power Platform connectors. */
const TOKEN_BROKER_SUFFIXES = ['.azure-api.net', '.azure-apim.net'];
const isTokenBroker = memoByHost((host: string): boolean => {
  const h = host.toLowerCase();
  return TOKEN_BROKER_SUFFIXES.some((s) => h.endsWith(s));
});

export interface TokenWithoutSigninOptions {
  /** A token is judged this long after it was issued (event time): its sign-in may be late, ms. */
  holdMs?: number;
  /** One finding per agent per this, ms. */
  refireMs?: number;
  /** Other agents of the blueprint issued tokens at the network without a sign-in that make it a move. */
  strayPeers?: number;
  /** How long such tokens of other agents count, ms. */
  strayWindowMs?: number;
  /** Entries of a blueprint's ring. */
  ringSize?: number;
  /** A call to a token broker this long before a token (or up to 2 s after it: clocks) explains it, ms. */
  brokerLeadMs?: number;
  maxAgents?: number;
}

const DEFAULTS: Required<TokenWithoutSigninOptions> = {
  holdMs: ALLOWED_LATENESS_MS + 60_000,
  refireMs: 24 * 3_600_000,
  strayPeers: 2,
  strayWindowMs: 30 * 60_000,
  ringSize: 32,
  brokerLeadMs: 5_000,
  maxAgents: 1_000_000,
};

/** Ring entry kinds. */
const SIGNIN = 0;
const STRAY = 1;

/** A blueprint's ring: flat quads [network hash, agent hash, time (ms), kind], oldest first. */
interface NetRing extends Timed {
  r: number[];
}

/** A token waiting for its verdict. */
interface Waiting {
  tenant_id: string;
  agent_id: string;
  group: string;
  blueprint_id: string | null;
  due: number;
  t: number;
  ip: string;
  flow: string;
  user_id: string | null;
  resource: string;
  token_id: string;
  event_id: string;
  home: string;
  home_prev: string | null;
}

/** When an agent was last reported. */
interface Fired extends Timed {
  t: number;
}

/** An agent's latest call to a token broker (`at`, ms). */
type BrokerCall = Timed;

export const tokenWithoutSigninMeta: DetectorMeta = {
  id: 'token-without-signin',
  title: 'Token issued where the agent does not sign in',
  severity: 'medium',
  mitre: { id: 'T1550.001', name: 'Use Alternate Authentication Material: Application Access Token' },
  description:
    'A token granted to an agent at a public network outside the /16 (IPv6 /48) of its latest sign-in addresses, with no sign-in of the agent from there within 2 minutes: a refresh token or credential redeemed by someone else (a stolen on-behalf-of refresh token replayed from a VPS). ' +
    'Medium, unless the agent signed in from that /24 before (an agent working from several regions), another agent of its blueprint signs in from it, or two others were issued tokens there without a sign-in too (a blueprint moving while its sign-in feed lags), or the agent called a token broker (API Management\'s credential manager, *.azure-api.net; Power Platform connectors, *.azure-apim.net) within 5 s before: the broker redeems its refresh tokens for it. Private addresses and security-edge egress are not judged. Once per agent per day.',
};

/** The network an entry of the ring is about: the /24 of an IPv4 address, the /48 of an IPv6 one. */
function ringNet(ip: string): number {
  return hashString((isIpv6(ip) ? wideNetworkOf(ip) : subnetOf(ip)) ?? ip);
}

/** Same /16 (IPv6 /48). */
function sameWide(a: string, b: string | null | undefined): boolean {
  if (b === null || b === undefined) return false;
  if (a === b) return true;
  const wa = wideNetworkOf(a);
  return wa !== null && wa === wideNetworkOf(b);
}

export function createTokenWithoutSigninDetector(options: TokenWithoutSigninOptions = {}): Detector {
  const o = { ...DEFAULTS, ...options };
  const rings = new TenantMap<NetRing>(o.maxAgents);
  const waiting = new DueQueue<Waiting>(o.maxAgents);
  const fired = new TenantMap<Fired>(o.maxAgents);
  const brokerCalls = new TenantMap<BrokerCall>(o.maxAgents);

  function onNetwork(e: NetworkEvent): void {
    if (!isTokenBroker(e.dest_host)) return;
    const b = brokerCalls.get(e.tenant_id, e.agent_id);
    if (b === undefined) brokerCalls.set(e.tenant_id, e.agent_id, { at: e.time });
    else if (e.time > b.at) b.at = e.time;
  }

  /** The agent asked a token broker for it: the latest broker call up to brokerLeadMs before the token (2 s after, for clock skew). */
  function brokered(w: Waiting): boolean {
    const b = brokerCalls.get(w.tenant_id, w.agent_id);
    return b !== undefined && b.at >= w.t - o.brokerLeadMs && b.at <= w.t + 2_000;
  }

  function remember(tenant: string, group: string, net: number, agent: number, t: number, kind: number): void {
    let g = rings.get(tenant, group);
    if (g === undefined) {
      g = { at: t, r: [] };
      rings.set(tenant, group, g);
    }
    if (t > g.at) g.at = t;
    const r = g.r;
    for (let i = 0; i < r.length; i += 4) {
      if (r[i] === net && r[i + 1] === agent && r[i + 3] === kind) {
        r.splice(i, 4);
        break;
      }
    }
    if (r.length >= 4 * o.ringSize) r.splice(0, 4);
    r.push(net, agent, t, kind);
  }

  /** A successful sign-in that moved the agent's sign-ins to another /24: its blueprint's ring hears of it. */
  function onSignin(e: SigninEvent, ctx: DetectorContext): void {
    if (e.result !== 'success') return;
    const info = ctx.agent(e.tenant_id, e.agent_id);
    if (info === undefined || info.signin_ip !== e.ip || info.signin_ip_since !== sec(e.time)) return;
    const prev = info.signin_ip_prev ?? null;
    if (prev !== null && ringNet(prev) === ringNet(e.ip)) return;
    remember(e.tenant_id, peerGroupId(e.blueprint_id ?? info.blueprint_id, e.agent_id), ringNet(e.ip), hashString(e.agent_id), e.time, SIGNIN);
  }

  function onToken(e: TokenEvent, ctx: DetectorContext): void {
    if (e.decision !== 'granted') return;
    const info = ctx.agent(e.tenant_id, e.agent_id);
    const home = info?.signin_ip ?? null;
    if (home === null || e.ip === home || e.ip === info!.signin_ip_prev) return;
    if (sameWide(e.ip, home) || sameWide(e.ip, info!.signin_ip_prev) || isPrivateAddress(e.ip) || isSecurityEdgeAddress(e.ip)) return;
    const group = peerGroupId(e.blueprint_id ?? info!.blueprint_id, e.agent_id);
    // Heard by the blueprint either way: two other agents' tokens there make a move.
    remember(e.tenant_id, group, ringNet(e.ip), hashString(e.agent_id), e.time, STRAY);
    const f = fired.get(e.tenant_id, e.agent_id);
    if (f !== undefined && e.time - f.t < o.refireMs) return;
    waiting.add({
      tenant_id: e.tenant_id,
      agent_id: e.agent_id,
      group,
      blueprint_id: e.blueprint_id ?? info!.blueprint_id,
      due: e.time + o.holdMs,
      t: e.time,
      ip: e.ip,
      flow: e.flow,
      user_id: e.user_id,
      resource: e.resource,
      token_id: e.token_id,
      event_id: e.event_id,
      home,
      home_prev: info!.signin_ip_prev ?? null,
    });
  }

  /**
   * The token is no stray after all: the agent signed in from its /16 (late,
   * or just after), or from its /24 before; another agent of the blueprint
   * signs in from there; or strayPeers others were issued tokens there
   * without a sign-in within strayWindowMs of it.
   */
  function explained(w: Waiting, info: AgentInfo | undefined): boolean {
    if (info !== undefined && (sameWide(w.ip, info.signin_ip) || sameWide(w.ip, info.signin_ip_prev))) return true;
    const g = rings.get(w.tenant_id, w.group);
    if (g === undefined) return false;
    const net = ringNet(w.ip);
    const self = hashString(w.agent_id);
    const strays: number[] = [];
    const r = g.r;
    for (let i = 0; i < r.length; i += 4) {
      if (r[i] !== net) continue;
      // A sign-in from there, the agent's own or another's, vouches for the network.
      if (r[i + 3] === SIGNIN) return true;
      const agent = r[i + 1]!;
      if (agent !== self && Math.abs(r[i + 2]! - w.t) <= o.strayWindowMs && !strays.includes(agent)) strays.push(agent);
    }
    return strays.length >= o.strayPeers;
  }

  function decide(w: Waiting, ctx: DetectorContext): Detection | null {
    const info = ctx.agent(w.tenant_id, w.agent_id);
    if (explained(w, info) || brokered(w)) return null;
    fired.set(w.tenant_id, w.agent_id, { at: w.due, t: w.due });
    const homes = w.home_prev === null ? w.home : `${w.home} and ${w.home_prev}`;
    return {
      detector: tokenWithoutSigninMeta.id,
      severity: 'medium',
      tenant_id: w.tenant_id,
      agent_id: w.agent_id,
      time: w.due,
      summary:
        `Agent ${w.agent_id} was issued a ${w.flow.replace(/_/g, '-')} token${w.user_id === null ? '' : ` for user ${w.user_id}`} (${w.resource}) at ${w.ip}, ` +
        `where it does not sign in (its sign-ins come from ${homes}) and no agent of its blueprint does: a refresh token or credential redeemed elsewhere`,
      evidence: {
        observed: { token_ip: w.ip, flow: w.flow, user_id: w.user_id, resource: w.resource, token_id: w.token_id },
        baseline: { signin_ips: w.home_prev === null ? [w.home] : [w.home, w.home_prev] },
        threshold: `no sign-in of the agent from the token's /16 within ${Math.round(o.holdMs / 1000)} s; no other agent of the blueprint signing in from its /24, nor ${o.strayPeers} issued tokens there`,
        peer_group: peerGroupName(w.blueprint_id) ?? `agent:${w.agent_id}`,
      },
      event_ids: [w.event_id],
    };
  }

  return {
    meta: tokenWithoutSigninMeta,
    types: ['signin', 'token', 'network'] as const,
    observe(e: AgentEvent, ctx: DetectorContext): Detection[] {
      if (e.type === 'network') onNetwork(e);
      else if (e.type === 'token') onToken(e, ctx);
      else if (e.type === 'signin') onSignin(e, ctx);
      return NO_DETECTIONS;
    },
    advance(watermark: number, ctx: DetectorContext): Detection[] {
      return waiting.takeDue(watermark, (w) => decide(w, ctx));
    },
    settle(ctx: DetectorContext): Detection[] {
      return waiting.takeDue(Infinity, (w) => decide(w, ctx));
    },
    evict(before: number): void {
      rings.evict(before);
      waiting.evict(before);
      fired.evict(before);
      brokerCalls.evict(before);
    },
    size(): number {
      return rings.size + waiting.size + fired.size + brokerCalls.size;
    },
    snapshot(): unknown {
      return clone({ version: 1, rings: rings.snapshot(), waiting: waiting.snapshot(), fired: fired.snapshot(), brokerCalls: brokerCalls.snapshot() });
    },
    restore(snapshot: unknown): void {
      const s = clone(snapshot) as { version: number; rings: [string, string, NetRing][]; waiting: Waiting[]; fired: [string, string, Fired][]; brokerCalls?: [string, string, BrokerCall][] };
      if (s?.version !== 1) throw new Error('token-without-signin: unsupported snapshot');
      rings.restore(s.rings);
      waiting.restore(s.waiting);
      fired.restore(s.fired);
      brokerCalls.restore(s.brokerCalls ?? []);
    },
  };
}

// Detector 20 — anonymous-network: an agent signs in through an anonymizing
// network — a Tor exit, a commercial VPN, a privacy host that carries mostly
// Tor and VPN exits — that its blueprint does not run on (T1090.003 Proxy:
// Multi-hop Proxy). Entra ID Protection's "anonymous IP address" detection,
// for workloads.
//
// Why this is its own finding: an attacker with a stolen credential picks an
// exit in the agent's own country and copies its user agent, so only the
// network is new, and one new property alone is a low finding (an agent
// moving to a new cloud region looks the same). But an agent is a workload:
// it runs in a cloud region or a data centre, never behind Tor or a consumer
// VPN. The network's owner says what the new network is.
//
// Per (tenant, blueprint) and anonymizing ASN: when it was first used and by
// which agents; per agent, when it first used each such ASN and when it was
// last flagged for it. A successful sign-in from an anonymizing ASN is medium,
// unless the network is the blueprint's (3 or more of its agents used it,
// the first a day or more ago: a fleet whose egress really is a VPN
// provider) or the agent's own (it used it a day or more ago). A failed
// sign-in from one is low (a spray through Tor; failed-access judges the
// volume). Once per agent and ASN per day (failures: per hour).
//
// An agent that has only ever signed in from that one address (native to
// it: a laptop agent whose only egress is the company's business VPN) and
// was not created within the hour (it ran before the stream began, or was
// idle since its creation: its history is unknown) is held an hour instead:
// no finding when by then 3 native agents of its blueprint signed in from
// that network, or 2 in a blueprint none of whose agents signed in from
// anywhere else (the blueprint's home, whatever its owner's business); from
// then on the network is the blueprint's. A stolen credential is used
// from the thief's network after the agent's own sign-ins elsewhere: never
// native.
//
// The list is of networks whose business is anonymity, by ASN: Tor exit
// operators, commercial VPN providers and the privacy hosts most of their
// exits sit on. General clouds and hosting (Azure, AWS, OVH, Hetzner,
// DigitalOcean) are not on it, however many exits they carry: agents run
// there. Deployments add their own through the options.
//
// State: only for agents and blueprints that touched an anonymizing network.

import type { AgentEvent, SigninEvent } from '../contract/events.js';
import type { Detection, DetectorMeta } from './types.js';
import { peerGroupId, peerGroupName, type Detector, type DetectorContext } from './detector.js';
import { NO_DETECTIONS, TenantMap, clone, hashString, type Timed } from './agent-directory.js';
import { DueQueue, type DueItem } from './due-queue.js';

export type AnonymizerKind = 'tor' | 'vpn' | 'privacy-hosting';

export interface AnonymizingNetwork {
  asn: number;
  name: string;
  kind: AnonymizerKind;
}

/**
 * Networks whose business is anonymity, by ASN. Public registry data (the
 * ASN holders), chosen for how much of their address space are Tor exits or
 * VPN endpoints.
 */
export const ANONYMIZING_NETWORKS: readonly AnonymizingNetwork[] = [
  // Tor exit operators
  { asn: 60729, name: 'Stiftung Erneuerbare Freiheit (torservers.net)', kind: 'tor' },
  { asn: 208323, name: 'Foundation for Applied Privacy', kind: 'tor' },
  { asn: 396507, name: 'Emerald Onion', kind: 'tor' },
  { asn: 4224, name: 'The Calyx Institute', kind: 'tor' },
  { asn: 210558, name: '1337 Services', kind: 'tor' },
  // Commercial VPN providers
  { asn: 136787, name: 'TEFINCOM (NordVPN)', kind: 'vpn' },
  { asn: 147049, name: 'PacketHub (NordVPN)', kind: 'vpn' },
  { asn: 209854, name: 'Cyberzone (Surfshark)', kind: 'vpn' },
  { asn: 39351, name: '31173 Services (Mullvad)', kind: 'vpn' },
  { asn: 212238, name: 'Datacamp (VPN endpoints)', kind: 'vpn' },
  // Privacy hosts carrying mostly Tor exits and VPN endpoints
  { asn: 53667, name: 'FranTech Solutions (BuyVM)', kind: 'privacy-hosting' },
  { asn: 200651, name: 'FlokiNET', kind: 'privacy-hosting' },
  { asn: 60404, name: 'Liteserver', kind: 'privacy-hosting' },
  { asn: 43350, name: 'NForce Entertainment', kind: 'privacy-hosting' },
  { asn: 51852, name: 'Private Layer', kind: 'privacy-hosting' },
];

export interface AnonymousNetworkOptions {
  /** The anonymizing networks (default ANONYMIZING_NETWORKS). */
  networks?: readonly AnonymizingNetwork[];
  /** A network is the blueprint's once this many of its agents used it, the first this long ago. */
  blueprintAgents?: number;
  establishedMs?: number;
  /** A native agent's sign-in is held this long for its blueprint's other native agents (see the header), ms; 0: never held. */
  nativeHoldMs?: number;
  /** One finding per agent and ASN per this (successes), and per this (failures), ms. */
  refireMs?: number;
  failureRefireMs?: number;
  maxAgents?: number;
}

const DEFAULTS: Required<AnonymousNetworkOptions> = {
  networks: ANONYMIZING_NETWORKS,
  blueprintAgents: 3,
  establishedMs: 24 * 3_600_000,
  nativeHoldMs: 60 * 60_000,
  refireMs: 24 * 3_600_000,
  failureRefireMs: 3_600_000,
  maxAgents: 1_000_000,
};

/** Per agent that signed in from an anonymizing network: flat [asn, first use (s), last finding (s, 0 none), last low finding (s, 0 none)]. */
interface AnonAgent extends Timed {
  u: number[];
}
const A_STRIDE = 4;

/** Per blueprint: flat [asn, first use (s), agents (count)] and the hashes of those agents per ASN. */
interface AnonGroup extends Timed {
  u: number[];
  /** Per entry of `u`, the hashes of the agents that used it (capped). */
  who: number[][];
  /** Per entry of `u`, how many of its agents were native to it (see the header); absent in older snapshots. */
  nat?: number[];
  /** The latest successful sign-in of its agents from a network that is no anonymizer (s); absent when none since the record began. */
  el?: number;
}

/** A native agent's sign-in held for its blueprint's other native agents. */
interface HeldNative extends DueItem {
  gid: string;
  asn: number;
  d: Detection;
}
const G_STRIDE = 3;
const MAX_WHO = 8;

export const anonymousNetworkMeta: DetectorMeta = {
  id: 'anonymous-network',
  title: 'Sign-in from an anonymizing network',
  severity: 'medium',
  mitre: { id: 'T1090.003', name: 'Proxy: Multi-hop Proxy' },
  description:
    'An agent signs in successfully from a Tor exit, a commercial VPN or a privacy host that carries mostly Tor and VPN exits (by the ASN\'s holder), which its blueprint does not run on: a stolen credential used through an anonymizer, often in the agent\'s own country with its user agent copied, so that only the network is new. ' +
    'Medium; nothing when the network is the blueprint\'s (3 or more of its agents used it, the first a day or more ago, or 3 of its agents (2 when the blueprint signs in from nowhere else) ran there from their first sign-in: its home, a business VPN) or the agent\'s own (it used it a day or more ago); an agent that has only ever signed in from there, not created within the hour, is held an hour for the others. A failed sign-in from one is low. Once per agent and network per day (failures per hour).',
};

export function createAnonymousNetworkDetector(options: AnonymousNetworkOptions = {}): Detector {
  const o: Required<AnonymousNetworkOptions> = { ...DEFAULTS, ...options };
  const byAsn = new Map<number, AnonymizingNetwork>(o.networks.map((n) => [n.asn, n]));
  const agents = new TenantMap<AnonAgent>(o.maxAgents);
  const groups = new TenantMap<AnonGroup>(o.maxAgents);
  const establishedS = o.establishedMs / 1000;
  const nativeHoldS = o.nativeHoldMs / 1000;
  const held = new DueQueue<HeldNative>(o.maxAgents);

  /** Native agents of the group on the ASN at entry `gi` of `u`. */
  function nativesAt(g: AnonGroup, gi: number): number {
    return g.nat?.[gi / G_STRIDE] ?? 0;
  }

  /** A held native sign-in: nothing when 3 native agents of its blueprint are on the network by now. */
  function decide(p: HeldNative): Detection | null {
    const g = groups.get(p.tenant_id, p.gid);
    if (g !== undefined) {
      let gi = g.u.indexOf(p.asn);
      while (gi >= 0 && gi % G_STRIDE !== 0) gi = g.u.indexOf(p.asn, gi + 1);
      const natives = gi >= 0 ? nativesAt(g, gi) : 0;
      // Its home: 3 agents native to it, or 2 in a blueprint that has signed in from nowhere else since.
      if (natives >= o.blueprintAgents || (natives >= 2 && g.el === undefined)) return null;
    }
    return { ...p.d, time: p.due, summary: `${p.d.summary}; not its blueprint's home: fewer than ${o.blueprintAgents} of its agents ran there from their start within ${o.nativeHoldMs / 60_000} min (2 when it signs in from nowhere else)` };
  }

  function onSignin(e: SigninEvent, ctx: DetectorContext): Detection[] {
    const net = e.asn === null ? undefined : byAsn.get(e.asn);
    if (net === undefined || e.asn === null) {
      // A blueprint on an anonymizer that also signs in from elsewhere: not a fleet whose only egress is there.
      if (e.result === 'success' && groups.size !== 0) {
        const og = groups.get(e.tenant_id, peerGroupId(e.blueprint_id, e.agent_id));
        if (og !== undefined) og.el = Math.floor(e.time / 1000);
      }
      return NO_DETECTIONS;
    }
    const now = Math.floor(e.time / 1000);
    const gid = peerGroupId(e.blueprint_id, e.agent_id);
    let g = groups.get(e.tenant_id, gid);
    if (g === undefined) {
      g = { at: e.time, u: [], who: [] };
      groups.set(e.tenant_id, gid, g);
    } else if (e.time > g.at) g.at = e.time;
    let a = agents.get(e.tenant_id, e.agent_id);
    if (a === undefined) {
      a = { at: e.time, u: [] };
      agents.set(e.tenant_id, e.agent_id, a);
    } else if (e.time > a.at) a.at = e.time;

    // What the blueprint and the agent knew before this sign-in.
    let gi = g.u.indexOf(e.asn);
    while (gi >= 0 && gi % G_STRIDE !== 0) gi = g.u.indexOf(e.asn, gi + 1);
    const bpAgents = gi >= 0 ? g.u[gi + 2]! : 0;
    const bpFirst = gi >= 0 ? g.u[gi + 1]! : now;
    let ai = a.u.indexOf(e.asn);
    while (ai >= 0 && ai % A_STRIDE !== 0) ai = a.u.indexOf(e.asn, ai + 1);
    const ownFirst = ai >= 0 ? a.u[ai + 1]! : now;

    // Record this use. Only successes teach: failures prove no one runs there.
    const success = e.result === 'success';
    if (ai < 0) {
      ai = a.u.length;
      a.u.push(e.asn, success ? now : 0, 0, 0);
    } else if (success && a.u[ai + 1] === 0) a.u[ai + 1] = now;
    // Native: every successful sign-in of the agent so far came from this one address.
    const info = success ? ctx.agent(e.tenant_id, e.agent_id) : undefined;
    const native = info !== undefined && info.signin_ip === e.ip && (info.signin_ip_prev ?? null) === null;
    // Held unless the agent was created within the hold (a new agent signing in through an anonymizer from its
    // start is reported at once): one met with no history (running before the stream began, or idle since its creation).
    const hold = native && o.nativeHoldMs > 0 && !(info!.created_seen && e.time - info!.first_seen < o.nativeHoldMs);
    if (success) {
      const ah = hashString(e.agent_id);
      if (gi < 0) {
        g.u.push(e.asn, now, 1);
        g.who.push([ah]);
        const nat = g.nat ?? (g.nat = []);
        while (nat.length < g.who.length - 1) nat.push(0);
        nat.push(native ? 1 : 0);
      } else {
        const who = g.who[gi / G_STRIDE]!;
        if (!who.includes(ah)) {
          g.u[gi + 2] = bpAgents + 1;
          if (who.length < MAX_WHO) who.push(ah);
          if (native) {
            const nat = g.nat ?? (g.nat = []);
            while (nat.length < g.who.length) nat.push(0);
            nat[gi / G_STRIDE]!++;
          }
        }
      }
    }

    const home = o.nativeHoldMs > 0 && gi >= 0 && nativesAt(g, gi) >= o.blueprintAgents && now - bpFirst >= nativeHoldS;
    const blueprints = home || (bpAgents >= o.blueprintAgents && now - bpFirst >= establishedS);
    const owns = ownFirst !== 0 && now - ownFirst >= establishedS;
    if (blueprints || owns) return NO_DETECTIONS;
    const slot = success ? ai + 2 : ai + 3;
    const last = a.u[slot]!;
    const refire = (success ? o.refireMs : o.failureRefireMs) / 1000;
    if (last !== 0 && now - last < refire) return NO_DETECTIONS;
    a.u[slot] = now;
    const d = finding(e, net, success ? 'medium' : 'low', bpAgents, gi >= 0 ? bpFirst : null);
    if (hold) {
      held.add({ tenant_id: e.tenant_id, agent_id: e.agent_id, due: e.time + o.nativeHoldMs, gid, asn: e.asn, d });
      return NO_DETECTIONS;
    }
    return [d];
  }

  function finding(e: SigninEvent, net: AnonymizingNetwork, severity: 'low' | 'medium', bpAgents: number, bpFirst: number | null): Detection {
    const what = net.kind === 'tor' ? 'a Tor exit operator' : net.kind === 'vpn' ? 'a commercial VPN' : 'a privacy host of Tor and VPN exits';
    return {
      detector: anonymousNetworkMeta.id,
      severity,
      tenant_id: e.tenant_id,
      agent_id: e.agent_id,
      time: e.time,
      summary:
        `Agent ${e.agent_id} ${e.result === 'success' ? 'signed in' : 'failed to sign in'} from AS${e.asn} ${net.name}, ${what}` +
        `${e.country !== null ? ` (${e.country})` : ''}, which its blueprint does not run on`,
      evidence: {
        observed: { asn: e.asn, network: net.name, kind: net.kind, ip: e.ip, country: e.country, result: e.result, resource: e.resource },
        baseline: { blueprint_agents_on_network: bpAgents, blueprint_first_use: bpFirst !== null ? new Date(bpFirst * 1000).toISOString() : null },
        threshold: { blueprint_agents: o.blueprintAgents, established_ms: o.establishedMs },
        peer_group: peerGroupName(e.blueprint_id) ?? `agent:${e.agent_id}`,
      },
      event_ids: [e.event_id],
    };
  }

  return {
    meta: anonymousNetworkMeta,
    types: ['signin'] as const,
    observe(e: AgentEvent, ctx: DetectorContext): Detection[] {
      return e.type === 'signin' ? onSignin(e, ctx) : NO_DETECTIONS;
    },
    advance(watermark: number): Detection[] {
      return held.takeDue(watermark, decide);
    },
    settle(): Detection[] {
      return held.takeDue(Infinity, decide);
    },
    evict(before: number): void {
      agents.evict(before);
      groups.evict(before);
      held.evict(before);
    },
    size(): number {
      return agents.size + groups.size + held.size;
    },
    snapshot(): unknown {
      return clone({ version: 1, agents: agents.snapshot(), groups: groups.snapshot(), held: held.snapshot() });
    },
    restore(snapshot: unknown): void {
      const s = clone(snapshot) as { version: number; agents: [string, string, AnonAgent][]; groups: [string, string, AnonGroup][]; held?: HeldNative[] };
      if (s?.version !== 1) throw new Error('anonymous-network: unsupported snapshot');
      agents.restore(s.agents);
      groups.restore(s.groups);
      held.restore(s.held ?? []);
    },
  };
}

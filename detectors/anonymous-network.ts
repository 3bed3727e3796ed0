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
// The list is of networks whose business is anonymity, by ASN: Tor exit
// operators, commercial VPN providers and the privacy hosts most of their
// exits sit on. General clouds and hosting (Azure, AWS, OVH, Hetzner,
// DigitalOcean) are not on it, however many exits they carry: agents run
// there. Deployments add their own through the options.
//
// State: only for agents and blueprints that touched an anonymizing network.

import type { AgentEvent, SigninEvent } from '../contract/events.js';
import type { Detection, DetectorMeta } from './types.js';
import { peerGroupId, peerGroupName, type Detector } from './detector.js';
import { NO_DETECTIONS, TenantMap, clone, hashString, type Timed } from './agent-directory.js';

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
  /** One finding per agent and ASN per this (successes), and per this (failures), ms. */
  refireMs?: number;
  failureRefireMs?: number;
  maxAgents?: number;
}

const DEFAULTS: Required<AnonymousNetworkOptions> = {
  networks: ANONYMIZING_NETWORKS,
  blueprintAgents: 3,
  establishedMs: 24 * 3_600_000,
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
    'Medium; nothing when the network is the blueprint\'s (3 or more of its agents used it, the first a day or more ago) or the agent\'s own (it used it a day or more ago). A failed sign-in from one is low. Once per agent and network per day (failures per hour).',
};

export function createAnonymousNetworkDetector(options: AnonymousNetworkOptions = {}): Detector {
  const o: Required<AnonymousNetworkOptions> = { ...DEFAULTS, ...options };
  const byAsn = new Map<number, AnonymizingNetwork>(o.networks.map((n) => [n.asn, n]));
  const agents = new TenantMap<AnonAgent>(o.maxAgents);
  const groups = new TenantMap<AnonGroup>(o.maxAgents);
  const establishedS = o.establishedMs / 1000;

  function onSignin(e: SigninEvent): Detection[] {
    if (e.asn === null) return NO_DETECTIONS;
    const net = byAsn.get(e.asn);
    if (net === undefined) return NO_DETECTIONS;
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
    if (success) {
      const ah = hashString(e.agent_id);
      if (gi < 0) {
        g.u.push(e.asn, now, 1);
        g.who.push([ah]);
      } else {
        const who = g.who[gi / G_STRIDE]!;
        if (!who.includes(ah)) {
          g.u[gi + 2] = bpAgents + 1;
          if (who.length < MAX_WHO) who.push(ah);
        }
      }
    }

    const blueprints = bpAgents >= o.blueprintAgents && now - bpFirst >= establishedS;
    const owns = ownFirst !== 0 && now - ownFirst >= establishedS;
    if (blueprints || owns) return NO_DETECTIONS;
    const slot = success ? ai + 2 : ai + 3;
    const last = a.u[slot]!;
    const refire = (success ? o.refireMs : o.failureRefireMs) / 1000;
    if (last !== 0 && now - last < refire) return NO_DETECTIONS;
    a.u[slot] = now;
    return [finding(e, net, success ? 'medium' : 'low', bpAgents, gi >= 0 ? bpFirst : null)];
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
    observe(e: AgentEvent): Detection[] {
      return e.type === 'signin' ? onSignin(e) : NO_DETECTIONS;
    },
    evict(before: number): void {
      agents.evict(before);
      groups.evict(before);
    },
    size(): number {
      return agents.size + groups.size;
    },
    snapshot(): unknown {
      return clone({ version: 1, agents: agents.snapshot(), groups: groups.snapshot() });
    },
    restore(snapshot: unknown): void {
      const s = clone(snapshot) as { version: number; agents: [string, string, AnonAgent][]; groups: [string, string, AnonGroup][] };
      if (s?.version !== 1) throw new Error('anonymous-network: unsupported snapshot');
      agents.restore(s.agents);
      groups.restore(s.groups);
    },
  };
}

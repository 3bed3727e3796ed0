// Detector 24 — cloud-metadata-access: an agent's traffic reaches a cloud
// platform's instance metadata or credential endpoint (T1552.005 Unsecured
// Credentials: Cloud Instance Metadata API).
//
// The metadata service (169.254.169.254 on Azure, AWS, GCP and OCI), the
// container credential endpoints of ECS and EKS, and Azure's WireServer
// (168.63.129.16: the VM's goal state and its extensions' protected
// settings) hand a managed identity's tokens and a VM's secrets to whoever
// asks from inside the host. An agent's traffic reaching one is a request
// forged through its tools: a web-fetch or browse tool told, by a prompt
// injection or a crafted link, to fetch http://169.254.169.254/metadata/
// identity/oauth2/token or WireServer's /vmSettings. Capital One's 2019
// breach began this way, and the same request through an agent's tool is
// how the managed identity behind the agent is taken. The gateway seeing it
// at all says it went through the agent's egress path, not the host's own
// metadata client.
//
// Some runtimes read the metadata service through the same path (an SDK
// fetching its managed identity's token with every start): that is the
// whole blueprint, every agent, from the start, and again with every
// restart. So a contact waits `holdMs`, then is medium unless the agent used
// that endpoint an hour or more before without being reported for it (its
// habit: an attacker's first use was reported), the endpoint is its
// blueprint's (3 or more of its agents used it, the first 6 hours or more
// before, or 8 of them however recently: a release that added a metadata
// call to every start, whose later lone starts are routine), or 2 other agents of the blueprint reached it within 30 minutes
// (a runtime rolling out). Contacts the gateway blocked are low: an attempt
// that got nothing. Azure's DNS resolver shares WireServer's address: port
// 53 is not a contact. Once per agent per day.
//
// State: only for agents and blueprints whose traffic reached an endpoint.

import type { AgentEvent, NetworkEvent } from '../contract/events.js';
import type { Detection, DetectorMeta } from './types.js';
import { peerGroupId, peerGroupName, type Detector, type DetectorContext } from './detector.js';
import { NO_DETECTIONS, TenantMap, hashString, msOfSec, sec, type Timed } from './agent-directory.js';
import { agentGroupAndWaitingState } from './keyed-state.js';
import { DueQueue } from './due-queue.js';
import { memoByHostPrivately } from './host-memo.js';

export interface MetadataEndpoint {
  /** An address or host name, lower case, as the gateway reports dest_ip or dest_host. */
  address: string;
  name: string;
  /** Ports of other services at the same address (not contacts). */
  otherPorts?: readonly number[];
}

/** Endpoints that hand out a host's identity tokens, credentials or secrets to any local caller. */
export const METADATA_ENDPOINTS: readonly MetadataEndpoint[] = [
  { address: '169.254.169.254', name: 'instance metadata service (Azure IMDS, AWS, GCP, OCI)' },
  { address: 'fd00:ec2::254', name: 'AWS instance metadata service (IPv6)' },
  { address: 'metadata.google.internal', name: 'GCP metadata server' },
  { address: 'metadata.goog', name: 'GCP metadata server' },
  { address: 'instance-data.ec2.internal', name: 'AWS instance metadata service' },
  { address: '169.254.170.2', name: 'AWS ECS task credentials endpoint' },
  { address: '169.254.170.23', name: 'Amazon EKS Pod Identity agent' },
  { address: 'fd00:ec2::23', name: 'Amazon EKS Pod Identity agent (IPv6)' },
  { address: '168.63.129.16', name: 'Azure WireServer (goal state, extension settings)', otherPorts: [53] },
  { address: '100.100.100.200', name: 'Alibaba Cloud instance metadata service' },
];

/**
 * The canonical form of a host that may spell an endpoint another way, or
 * null when it cannot: request forgery payloads write 169.254.169.254 as
 * 2852039166, 0xa9fea9fe, 0251.0376.0251.0376, [::ffff:a9fe:a9fe] or
 * METADATA.google.internal. to slip past filters, and a gateway without
 * the resolved address reports the host as written. Plain dotted quads and
 * lower-case names (nearly every host) are screened out by their first
 * characters and dots, without parsing.
 */
export function alternateSpelling(host: string): string | null {
  const c = host.charCodeAt(0);
  if (c >= 0x30 && c <= 0x39) {
    // Digits: only a number with fewer than four parts, or a part in octal or hex, is parsed.
    let dots = 0;
    let odd = false;
    for (let i = 0; i < host.length; i++) {
      const ch = host.charCodeAt(i);
      if (ch === 0x2e) dots++;
      else if (ch === 0x30 && (i === 0 || host.charCodeAt(i - 1) === 0x2e) && i + 1 < host.length && host.charCodeAt(i + 1) !== 0x2e) odd = true;
    }
    return dots < 3 || odd ? inetAton(host) : null;
  }
  if (c === 0x5b || c === 0x3a) {
    // IPv6, bracketed as in a URL, or an IPv4-mapped address.
    let s = (c === 0x5b ? host.slice(1, host.indexOf(']') < 0 ? host.length : host.indexOf(']')) : host).toLowerCase();
    if (s.startsWith('::ffff:')) {
      const v4 = s.slice(7);
      if (v4.indexOf('.') > 0) return inetAton(v4);
      const g = v4.split(':');
      if (g.length !== 2) return null;
      const hi = parseInt(g[0]!, 16);
      const lo = parseInt(g[1]!, 16);
      if (!(hi >= 0 && hi <= 0xffff && lo >= 0 && lo <= 0xffff)) return null;
      return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
    }
    return s;
  }
  // A name: case and a trailing dot do not change where it leads.
  let s = host;
  if (s.endsWith('.')) s = s.slice(0, -1);
  for (let i = 0; i < s.length; i++) {
    const ch = s.charCodeAt(i);
    if (ch >= 0x41 && ch <= 0x5a) return s.toLowerCase();
  }
  return s === host ? null : s;
}

/** inet_aton's reading of an IPv4 address (1 to 4 parts, each decimal, 0-prefixed octal or 0x-prefixed hex), dotted; null when it is not one. */
export function inetAton(s: string): string | null {
  const parts = s.split('.');
  if (parts.length > 4) return null;
  const nums: number[] = [];
  for (const p of parts) {
    let n: number;
    if (/^0x[0-9a-f]+$/i.test(p)) n = parseInt(p.slice(2), 16);
    else if (/^0[0-7]*$/.test(p)) n = parseInt(p, 8);
    else if (/^[1-9][0-9]*$/.test(p)) n = Number(p);
    else return null;
    nums.push(n);
  }
  // The last part fills the bytes the others left.
  const lastBytes = 5 - nums.length;
  for (let i = 0; i < nums.length - 1; i++) if (nums[i]! > 255) return null;
  if (nums[nums.length - 1]! >= 2 ** (8 * lastBytes)) return null;
  let v = 0;
  for (let i = 0; i < nums.length - 1; i++) v = v * 256 + nums[i]!;
  v = v * 2 ** (8 * lastBytes) + nums[nums.length - 1]!;
  return `${Math.floor(v / 2 ** 24) % 256}.${Math.floor(v / 2 ** 16) % 256}.${Math.floor(v / 256) % 256}.${v % 256}`;
}

export interface CloudMetadataAccessOptions {
  endpoints?: readonly MetadataEndpoint[];
  /** A contact is judged this long after it (event time), so that peers following it are seen, ms. */
  holdMs?: number;
  /** Other agents of the blueprint reaching the endpoint within peerWindowMs that make it the runtime's. */
  peers?: number;
  peerWindowMs?: number;
  /** An endpoint is the blueprint's once this many of its agents used it, the first this long ago, ms. */
  blueprintAgents?: number;
  establishedMs?: number;
  /** Agents of the blueprint (unreported) whose use makes the endpoint the blueprint's however recent. */
  adoptedAgents?: number;
  /** The agent's own habit once it used the endpoint this long ago without being reported for it, ms. */
  habitMs?: number;
  /** One finding per agent per this, ms. */
  refireMs?: number;
  /** Recent uses kept per blueprint (for the peers that follow). */
  recentUses?: number;
  maxAgents?: number;
}

const DEFAULTS: Required<CloudMetadataAccessOptions> = {
  endpoints: METADATA_ENDPOINTS,
  holdMs: 120_000,
  peers: 2,
  peerWindowMs: 30 * 60_000,
  blueprintAgents: 3,
  establishedMs: 6 * 3_600_000,
  adoptedAgents: 8,
  habitMs: 3_600_000,
  refireMs: 24 * 3_600_000,
  recentUses: 16,
  maxAgents: 1_000_000,
};

/** Per agent whose traffic reached an endpoint: flat [endpoint index, first use (s)], and when it was last reported (s, 0 never). */
interface MetaAgent extends Timed {
  u: number[];
  reported: number;
}

/**
 * Per blueprint: flat [endpoint index, first use (s), agents that used it]
 * and the latest uses, flat [endpoint index, agent hash, time (s)], one per
 * agent and endpoint, oldest first.
 */
interface MetaGroup extends Timed {
  e: number[];
  r: number[];
}

/** Contacts of one agent waiting for their verdict. */
interface Waiting {
  tenant_id: string;
  agent_id: string;
  group: string;
  blueprint_id: string | null;
  due: number;
  t: number;
  endpoint: number;
  ip: string;
  ports: number[];
  allowed: number;
  blocked: number;
  bytes_out: number;
  bytes_in: number;
  event_ids: string[];
}
const MAX_EVENT_IDS = 16;

export const cloudMetadataAccessMeta: DetectorMeta = {
  id: 'cloud-metadata-access',
  title: 'Cloud metadata or credential endpoint reached',
  severity: 'medium',
  mitre: { id: 'T1552.005', name: 'Unsecured Credentials: Cloud Instance Metadata API' },
  description:
    "An agent's traffic reaches a cloud instance metadata service (169.254.169.254), a container credential endpoint (ECS, EKS Pod Identity) or Azure's WireServer (168.63.129.16, except its DNS port): a request forged through the agent's tools to take the managed identity's tokens or the VM's extension secrets. " +
    "Medium after 2 minutes, unless the agent used that endpoint an hour or more before without being reported for it, the endpoint is its blueprint's (3 or more of its agents, the first 6 hours or more before, or 8 of its agents: a release that added a metadata call to every start), or 2 other agents of the blueprint reached it within 30 minutes (a runtime that reads the metadata service). Low when the gateway blocked every contact. Once per agent per day.",
};

export function createCloudMetadataAccessDetector(options: CloudMetadataAccessOptions = {}): Detector {
  const o: Required<CloudMetadataAccessOptions> = { ...DEFAULTS, ...options };
  const byAddress = new Map<string, number>(o.endpoints.map((x, i) => [x.address.toLowerCase(), i]));
  const agents = new TenantMap<MetaAgent>(o.maxAgents);
  const groups = new TenantMap<MetaGroup>(o.maxAgents);
  const waiting = new DueQueue<Waiting>(o.maxAgents);
  const establishedS = o.establishedMs / 1000;
  const habitS = o.habitMs / 1000;
  const peerWindowS = o.peerWindowMs / 1000;

  const endpointOfHost = memoByHostPrivately((host: string): number => {
    const k = byAddress.get(host);
    if (k !== undefined) return k;
    const alt = alternateSpelling(host);
    return (alt === null ? undefined : byAddress.get(alt)) ?? -1;
  });

  /** The endpoint the event reached, or -1. */
  function endpointOf(e: NetworkEvent): number {
    let k = e.dest_ip === null ? undefined : byAddress.get(e.dest_ip);
    if (k === undefined) k = endpointOfHost(e.dest_host);
    if (k < 0) return -1;
    const other = o.endpoints[k]!.otherPorts;
    return other !== undefined && other.includes(e.dest_port) ? -1 : k;
  }

  function agentRecord(tenant: string, agent: string, t: number): MetaAgent {
    let a = agents.get(tenant, agent);
    if (a === undefined) {
      a = { at: t, u: [], reported: 0 };
      agents.set(tenant, agent, a);
    } else if (t > a.at) a.at = t;
    return a;
  }

  function knows(a: MetaAgent, endpoint: number): boolean {
    for (let i = 0; i < a.u.length; i += 2) if (a.u[i] === endpoint) return true;
    return false;
  }

  /** The agent and its blueprint hear of a use (allowed contacts only: a blocked one proves no one runs on it). */
  function remember(tenant: string, agentId: string, group: string, endpoint: number, t: number): void {
    const now = sec(t);
    const a = agentRecord(tenant, agentId, t);
    let g = groups.get(tenant, group);
    if (g === undefined) {
      g = { at: t, e: [], r: [] };
      groups.set(tenant, group, g);
    } else if (t > g.at) g.at = t;
    let known = false;
    for (let i = 0; i < a.u.length; i += 2) {
      if (a.u[i] === endpoint) {
        if (now < a.u[i + 1]!) a.u[i + 1] = now;
        known = true;
        break;
      }
    }
    if (!known) {
      a.u.push(endpoint, now);
      let i = 0;
      while (i < g.e.length && g.e[i] !== endpoint) i += 3;
      if (i < g.e.length) {
        g.e[i + 2]!++;
        if (now < g.e[i + 1]!) g.e[i + 1] = now;
      } else g.e.push(endpoint, now, 1);
    }
    const agent = hashString(agentId);
    const r = g.r;
    for (let i = 0; i < r.length; i += 3) {
      if (r[i] === endpoint && r[i + 1] === agent) {
        r.splice(i, 3);
        break;
      }
    }
    if (r.length >= 3 * o.recentUses) r.splice(0, 3);
    r.push(endpoint, agent, now);
  }

  function onNetwork(e: NetworkEvent, ctx: DetectorContext): void {
    const k = endpointOf(e);
    if (k < 0) return;
    const info = ctx.agent(e.tenant_id, e.agent_id);
    const blueprint = e.blueprint_id ?? info?.blueprint_id ?? null;
    const group = peerGroupId(blueprint, e.agent_id);
    const allowed = e.action === 'allowed';
    if (allowed) remember(e.tenant_id, e.agent_id, group, k, e.time);
    const reported = agents.get(e.tenant_id, e.agent_id)?.reported ?? 0;
    if (reported !== 0 && e.time - msOfSec(reported) < o.refireMs) return;
    let w = waiting.get(e.tenant_id, e.agent_id);
    if (w === undefined) {
      w = {
        tenant_id: e.tenant_id,
        agent_id: e.agent_id,
        group,
        blueprint_id: blueprint,
        due: e.time + o.holdMs,
        t: e.time,
        endpoint: k,
        ip: e.ip,
        ports: [],
        allowed: 0,
        blocked: 0,
        bytes_out: 0,
        bytes_in: 0,
        event_ids: [],
      };
      waiting.add(w);
    }
    // Contacts of another endpoint while one waits join it: one finding says what the agent reached first.
    if (!w.ports.includes(e.dest_port)) w.ports.push(e.dest_port);
    if (allowed) w.allowed++;
    else w.blocked++;
    w.bytes_out += e.bytes_out;
    w.bytes_in += e.bytes_in;
    if (w.event_ids.length < MAX_EVENT_IDS) w.event_ids.push(e.event_id);
  }

  /** Whether the endpoint is the agent's habit or its blueprint's, and who else used it. */
  function usage(w: Waiting): { routine: boolean; peers: number; agents: number } {
    const t = sec(w.t);
    const a = agents.get(w.tenant_id, w.agent_id);
    let self = false;
    if (a !== undefined) {
      for (let i = 0; i < a.u.length; i += 2) {
        if (a.u[i] !== w.endpoint) continue;
        self = true;
        // The agent's own habit, unless it was ever reported for it (its first use was the attack).
        if (a.reported === 0 && t - a.u[i + 1]! >= habitS) return { routine: true, peers: 0, agents: 0 };
      }
    }
    const g = groups.get(w.tenant_id, w.group);
    if (g === undefined) return { routine: false, peers: 0, agents: 0 };
    let others = 0;
    let first = t;
    for (let i = 0; i < g.e.length; i += 3) {
      if (g.e[i] !== w.endpoint) continue;
      // The agent's own use is in the count unless it was reported (then taken out).
      others = g.e[i + 2]! - (self && a!.reported === 0 ? 1 : 0);
      first = g.e[i + 1]!;
    }
    const me = hashString(w.agent_id);
    let peers = 0;
    for (let i = 0; i < g.r.length; i += 3) {
      if (g.r[i] === w.endpoint && g.r[i + 1] !== me && Math.abs(g.r[i + 2]! - t) <= peerWindowS) peers++;
    }
    // The blueprint's: used by blueprintAgents of its agents since establishedMs, or by adoptedAgents
    // whenever (a release that added a metadata call to every start: its later, lone starts are routine).
    return { routine: others >= o.adoptedAgents || (others >= o.blueprintAgents && t - first >= establishedS), peers, agents: others };
  }

  function decide(w: Waiting): Detection | null {
    const { routine, peers, agents } = usage(w);
    if (routine || peers >= o.peers) return null;
    const a = agentRecord(w.tenant_id, w.agent_id, w.due);
    // A reported agent's use no longer counts towards the blueprint's routine: attacks on three of
    // its agents do not make the endpoint the blueprint's.
    if (a.reported === 0 && knows(a, w.endpoint)) {
      const g = groups.get(w.tenant_id, w.group);
      for (let i = 0; g !== undefined && i < g.e.length; i += 3) if (g.e[i] === w.endpoint && g.e[i + 2]! > 0) g.e[i + 2]!--;
    }
    a.reported = sec(w.due);
    const ep = o.endpoints[w.endpoint]!;
    const severity = w.allowed > 0 ? 'medium' : 'low';
    const contacts = w.allowed + w.blocked;
    const what =
      w.allowed > 0
        ? `${contacts} connection${contacts === 1 ? '' : 's'}, ${Math.round(w.bytes_in / 1024)} KiB back`
        : `${contacts} attempt${contacts === 1 ? '' : 's'}, all blocked by the gateway`;
    return {
      detector: cloudMetadataAccessMeta.id,
      severity,
      tenant_id: w.tenant_id,
      agent_id: w.agent_id,
      time: w.due,
      summary:
        `Agent ${w.agent_id}'s traffic reached the ${ep.name} at ${ep.address} (port${w.ports.length === 1 ? '' : 's'} ${w.ports.join(', ')}; ${what}), ` +
        `which hands a host's identity tokens and secrets to any local caller and which no agent of its blueprint uses: a request forged through the agent's tools`,
      evidence: {
        observed: {
          endpoint: ep.address,
          endpoint_name: ep.name,
          ports: w.ports.slice(),
          allowed: w.allowed,
          blocked: w.blocked,
          bytes_out: w.bytes_out,
          bytes_in: w.bytes_in,
          source_ip: w.ip,
        },
        baseline: { blueprint_agents_using_it: agents, blueprint_agents_within_window: peers },
        threshold: `not the agent's habit (an unreported use ${Math.round(o.habitMs / 60_000)} min before), not its blueprint's (${o.blueprintAgents} agents, the first ${Math.round(o.establishedMs / 3_600_000)} h before, or ${o.adoptedAgents} agents), fewer than ${o.peers} other agents of the blueprint within ${Math.round(o.peerWindowMs / 60_000)} min`,
        peer_group: peerGroupName(w.blueprint_id) ?? `agent:${w.agent_id}`,
      },
      event_ids: w.event_ids.slice(),
    };
  }

  return {
    meta: cloudMetadataAccessMeta,
    types: ['network'] as const,
    observe(e: AgentEvent, ctx: DetectorContext): Detection[] {
      if (e.type === 'network') onNetwork(e, ctx);
      return NO_DETECTIONS;
    },
    ...agentGroupAndWaitingState('cloud-metadata-access', agents, groups, waiting, decide),
  };
}

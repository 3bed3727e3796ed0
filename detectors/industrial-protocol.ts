// Detector 34 — industrial-protocol: an agent's runtime speaks industrial
// control protocols to plant devices, where its blueprint never does (ATT&CK
// for ICS T0846 Remote System Discovery; T0855 Unauthorized Command Message).
//
// An IT agent reaching into the plant network (through the ExpressRoute or
// VPN that links a converged factory to the cloud) sweeps controllers on
// Modbus/TCP (502), Siemens S7comm (102), EtherNet/IP (44818), DNP3
// (20000), BACnet (47808), OPC UA (4840), IEC 60870-5-104 (2404) or
// Profinet (34962-34964), then writes to a few: the IT-to-OT pivot of a
// sabotage or ransomware crew. An agent that works with the plant speaks
// these protocols every day (a telemetry blueprint polling its PLCs); one
// that never did, and now reaches several controllers within minutes or
// sends them a stream of requests, is not at work.
//
// Rule: flows of an agent to industrial ports reaching 5 distinct hosts, or
// 20 flows, within 10 minutes, where its blueprint does not speak them (2 of
// its agents, or its agents for an hour) → medium, once per agent an hour.
//
// State: only for agents that sent a flow to an industrial port (the hosts
// and times of the window), and per blueprint since when, and which agents,
// speak them. The per-event cost is a port check.

import type { AgentEvent, NetworkEvent } from '../contract/events.js';
import type { Detection, DetectorMeta } from './types.js';
import { peerGroupId, peerGroupName, type Detector } from './detector.js';
import { agentAndGroupState } from './keyed-state.js';
import { NO_DETECTIONS, TenantMap, hashString, msOfSec, sec, type Timed } from './agent-directory.js';

export interface IndustrialProtocolOptions {
  /** Distinct hosts, or flows, on industrial ports within windowMs that make a finding. */
  hosts?: number;
  flows?: number;
  windowMs?: number;
  /** A blueprint speaks industrial protocols once this many of its agents did, or its agents did for this long. */
  familiarAgents?: number;
  familiarAfterMs?: number;
  /** One finding per agent per this, ms. */
  refireMs?: number;
  maxAgents?: number;
}

const DEFAULTS: Required<IndustrialProtocolOptions> = {
  hosts: 5,
  flows: 20,
  windowMs: 10 * 60_000,
  familiarAgents: 2,
  familiarAfterMs: 3_600_000,
  refireMs: 3_600_000,
  maxAgents: 1_000_000,
};

/** Ports of industrial control protocols, by name (for the finding). */
const INDUSTRIAL_PORTS = new Map<number, string>([
  [502, 'Modbus/TCP'],
  [102, 'S7comm'],
  [44818, 'EtherNet/IP'],
  [20000, 'DNP3'],
  [47808, 'BACnet'],
  [4840, 'OPC UA'],
  [2404, 'IEC 60870-5-104'],
  [34962, 'Profinet'],
  [34963, 'Profinet'],
  [34964, 'Profinet'],
  [1911, 'Niagara Fox'],
  [9600, 'Omron FINS'],
  [5007, 'MELSEC'],
  [18245, 'GE SRTP'],
]);

/** The industrial protocol of a destination port, or undefined (HTTPS, HTTP and DNS compared first: every network event is asked). */
export function industrialProtocol(port: number): string | undefined {
  return port === 443 || port === 80 || port === 53 ? undefined : INDUSTRIAL_PORTS.get(port);
}

/** Flows kept per agent (enough for the bars). */
const MAX_FLOWS = 32;

/** Per agent: flat [host hash, time (s)] of its industrial flows within the window, the protocols and hosts named, last finding (s), event ids. */
interface AgentFlows extends Timed {
  f: number[];
  protocols: string[];
  hosts: string[];
  fired: number;
  ids: string[];
}

/** Per blueprint whose agents spoke industrial protocols: since when (s), the first agents (hashes). */
interface GroupSpeaks extends Timed {
  first: number;
  last: number;
  agents: number[];
}

export const industrialProtocolMeta: DetectorMeta = {
  id: 'industrial-protocol',
  title: 'Industrial control protocols spoken by an agent',
  severity: 'medium',
  mitre: { id: 'T0846', name: 'Remote System Discovery (ATT&CK for ICS)' },
  description:
    "An agent's flows to industrial control ports (Modbus/TCP 502, S7comm 102, EtherNet/IP 44818, DNP3 20000, BACnet 47808, OPC UA 4840, IEC 104 2404, Profinet...) reach 5 distinct hosts, or number 20, within 10 minutes, where its blueprint does not speak these protocols (2 of its agents, or its agents for an hour): an IT agent sweeping the plant's controllers and sending them commands, the pivot from IT into OT. " +
    'Medium, once per agent an hour.',
};

export function createIndustrialProtocolDetector(options: IndustrialProtocolOptions = {}): Detector {
  const o: Required<IndustrialProtocolOptions> = { ...DEFAULTS, ...options };
  const agents = new TenantMap<AgentFlows>(o.maxAgents);
  const groups = new TenantMap<GroupSpeaks>(o.maxAgents);
  const windowS = o.windowMs / 1000;

  /** Records the agent's flow for its blueprint; true when the blueprint spoke industrial protocols before (familiar). */
  function familiar(e: NetworkEvent, ah: number, now: number): boolean {
    const gid = peerGroupId(e.blueprint_id, e.agent_id);
    let g = groups.get(e.tenant_id, gid);
    if (g === undefined) {
      g = { at: e.time, first: now, last: now, agents: [] };
      groups.set(e.tenant_id, gid, g);
    } else if (e.time > g.at) g.at = e.time;
    const known = g.agents.length >= o.familiarAgents || g.last - g.first >= o.familiarAfterMs / 1000;
    // Learning starts afresh with the first speaker after none (see unteach): the hours since count for nothing.
    if (g.agents.length === 0) g.first = now;
    if (now > g.last) g.last = now;
    if (g.agents.length < o.familiarAgents && !g.agents.includes(ah)) g.agents.push(ah);
    return known;
  }

  /**
   * A reported agent's flows vouch for nothing: it leaves its blueprint's
   * speakers, and a blueprint left with none starts learning again (the next
   * compromised agent of it is judged as the first was).
   */
  function unteach(e: NetworkEvent, ah: number, now: number): void {
    const g = groups.get(e.tenant_id, peerGroupId(e.blueprint_id, e.agent_id));
    if (g === undefined) return;
    g.agents = g.agents.filter((x) => x !== ah);
    if (g.agents.length === 0) g.first = g.last = now;
  }

  function onFlow(e: NetworkEvent, protocol: string): Detection[] {
    const now = sec(e.time);
    let a = agents.get(e.tenant_id, e.agent_id);
    if (a === undefined) {
      a = { at: e.time, f: [], protocols: [], hosts: [], fired: 0, ids: [] };
      agents.set(e.tenant_id, e.agent_id, a);
    } else if (e.time > a.at) a.at = e.time;
    const reported = a.fired !== 0 && now - a.fired < o.refireMs / 1000;
    // An agent reported for it teaches its blueprint nothing.
    if (!reported && familiar(e, hashString(e.agent_id) | 1, now)) return NO_DETECTIONS;
    const f = a.f;
    let old = 0;
    while (old < f.length && f[old + 1]! <= now - windowS) old += 2;
    if (old > 0) f.splice(0, old);
    if (f.length === 0) {
      a.protocols = [];
      a.hosts = [];
      a.ids = [];
    }
    if (f.length >= 2 * MAX_FLOWS) f.splice(0, 2);
    const target = e.dest_ip ?? e.dest_host;
    f.push(hashString(target), now);
    if (!a.protocols.includes(protocol) && a.protocols.length < 4) a.protocols.push(protocol);
    if (!a.hosts.includes(target) && a.hosts.length < 8) a.hosts.push(target);
    if (a.ids.length < 4) a.ids.push(e.event_id);
    const distinct = new Set<number>();
    for (let i = 0; i < f.length; i += 2) distinct.add(f[i]!);
    const flows = f.length / 2;
    if (reported || (distinct.size < o.hosts && flows < o.flows)) return NO_DETECTIONS;
    a.fired = now;
    unteach(e, hashString(e.agent_id) | 1, now);
    return [
      {
        detector: industrialProtocolMeta.id,
        severity: 'medium',
        tenant_id: e.tenant_id,
        agent_id: e.agent_id,
        time: e.time,
        summary:
          `Agent ${e.agent_id} sent ${flows} ${a.protocols.join('/')} flows to ${distinct.size} industrial control host${distinct.size === 1 ? '' : 's'} ` +
          `within ${Math.max(1, Math.round((now - f[1]!) / 60))} min, where its blueprint does not speak industrial protocols: a sweep of the plant's controllers, or commands sent to them`,
        evidence: {
          observed: { flows, distinct_hosts: distinct.size, protocols: a.protocols.slice(), hosts: a.hosts.slice(), since: msOfSec(f[1]!) },
          baseline: { blueprint_speaks_industrial_protocols: false },
          threshold: `${o.hosts} distinct hosts or ${o.flows} flows on industrial ports within ${windowS / 60} min, by an agent of a blueprint that does not speak them (${o.familiarAgents} of its agents, or for ${o.familiarAfterMs / 60_000} min)`,
          peer_group: peerGroupName(e.blueprint_id) ?? `agent:${e.agent_id}`,
        },
        event_ids: a.ids.slice(),
      },
    ];
  }

  return {
    meta: industrialProtocolMeta,
    types: ['network'] as const,
    observe(e: AgentEvent): Detection[] {
      if (e.type !== 'network' || e.dest_agent_id !== null) return NO_DETECTIONS;
      const protocol = industrialProtocol(e.dest_port);
      return protocol === undefined ? NO_DETECTIONS : onFlow(e, protocol);
    },
    ...agentAndGroupState('industrial-protocol', agents, groups),
  };
}

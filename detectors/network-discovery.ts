// Detector 39 — network-discovery: an agent's runtime probes many machines of
// the organisation's network within minutes, most of which never answer
// (T1046 Network Service Discovery).
//
// An intruder holding an agent's runtime inside the network looks around
// before he moves: a sweep of the subnet for a port that names what he is
// after (an HSM's NTLS 1792 in a custody cage, SMB 445, a database's 1433,
// an ICS gateway), each probe a connection attempt of a few dozen bytes that
// gets nothing back from addresses where nothing listens. An agent calls the
// services it works with, which answer; it does not knock on twenty doors of
// a subnet in a minute.
//
// A probe: a flow to a private address (RFC 1918, CGNAT, link-local, IPv6
// ULA) of 1 KiB or less out and 64 bytes or less back, to no agent endpoint
// (an unanswered connection attempt, or one refused or blocked). Not on an
// industrial or mainframe protocol's port: a sweep of PLCs on Modbus or of
// LPARs on TN3270 is industrial-protocol's or mainframe-access's finding,
// every flow counted there (one sweep is one finding, not two that would
// add up to high).
// Rule: probes of an agent to 16 distinct addresses within 5 minutes → medium,
// once per agent an hour; low when another agent of its blueprint swept within
// the 10 minutes before (a scanning job run by the blueprint's agents at once:
// a vulnerability scanner's nightly pass split between them). A blueprint whose
// agents swept an hour or more before sweeps for a living (a network monitor, a
// scanner): not reported. Its first sweep still is, and so is every agent of a
// worm that sweeps from a blueprint's agents within the hour.
//
// State: only for agents that sent a probe (its probes within the window) and
// blueprints whose agents swept (when first, and the latest sweeps); the
// per-event cost is two byte checks, and a private-address check for the
// small flows.

import type { AgentEvent, NetworkEvent } from '../contract/events.js';
import type { Detection, DetectorMeta, Severity } from './types.js';
import { peerGroupId, peerGroupName, type Detector } from './detector.js';
import { agentAndGroupState } from './keyed-state.js';
import { NO_DETECTIONS, TenantMap, hashString, msOfSec, sec, type Timed } from './agent-directory.js';
import { isPrivateAddress } from './addresses.js';
import { industrialFlow, industrialProtocol } from './industrial-protocol.js';
import { mainframeProtocol } from './mainframe-access.js';

export interface NetworkDiscoveryOptions {
  /** Distinct addresses probed within windowMs that make a sweep. */
  addresses?: number;
  windowMs?: number;
  /** The most a probe sends and receives, bytes. */
  probeOutBytes?: number;
  probeInBytes?: number;
  /** Another agent of the blueprint sweeping within this long before makes it the blueprint's job (low), ms. */
  wideWindowMs?: number;
  /** A blueprint whose agents swept this long before sweeps for a living, ms. */
  familiarAfterMs?: number;
  /** One finding per agent per this, ms. */
  refireMs?: number;
  maxAgents?: number;
}

const DEFAULTS: Required<NetworkDiscoveryOptions> = {
  addresses: 16,
  windowMs: 5 * 60_000,
  probeOutBytes: 1024,
  probeInBytes: 64,
  wideWindowMs: 10 * 60_000,
  familiarAfterMs: 3_600_000,
  refireMs: 3_600_000,
  maxAgents: 1_000_000,
};

/** Distinct addresses kept per agent (the bar is under it). */
const MAX_ADDRESSES = 32;
/** Addresses and ports named in the evidence, and event ids kept. */
const MAX_NAMED = 8;
const MAX_IDS = 4;
/** Sweeps a blueprint remembers (for the blueprint-wide job). */
const MAX_SWEEPS = 8;

/**
 * Per agent that sent a probe: flat [address hash, time (s)] of its probes
 * within the window, the ports and addresses named (of those probes), last
 * finding (s), event ids.
 */
interface AgentProbes extends Timed {
  p: number[];
  ports: number[];
  /** When each named port was last probed (s); absent in snapshots of before 2026-11-25 (taken as now). */
  portAt?: number[];
  addrs: string[];
  fired: number;
  ids: string[];
}

/** Per blueprint whose agents swept: the first sweep (s), and the latest: flat [agent hash, time (s)]. */
interface GroupSweeps extends Timed {
  first: number;
  sweeps: number[];
}

export const networkDiscoveryMeta: DetectorMeta = {
  id: 'network-discovery',
  title: 'Sweep of the internal network',
  severity: 'medium',
  mitre: { id: 'T1046', name: 'Network Service Discovery' },
  description:
    "An agent's runtime probes 16 distinct private addresses within 5 minutes (flows of 1 KiB or less out and 64 bytes or less back, to no agent endpoint: connection attempts where nothing answers, or refused; not on an industrial or mainframe protocol's port, those detectors' own): an intruder in its runtime sweeping the network for what he is after (an HSM's port in a custody cage, SMB, a database). " +
    'Medium, once per agent an hour; low when another agent of its blueprint swept within the 10 minutes before (a scanning job split between the blueprint\'s agents). A blueprint whose agents swept an hour or more before sweeps for a living (a network monitor, a vulnerability scanner): not reported.',
};

export function createNetworkDiscoveryDetector(options: NetworkDiscoveryOptions = {}): Detector {
  const o: Required<NetworkDiscoveryOptions> = { ...DEFAULTS, ...options };
  const agents = new TenantMap<AgentProbes>(o.maxAgents);
  const groups = new TenantMap<GroupSweeps>(o.maxAgents);
  const windowS = o.windowMs / 1000;

  /** Whether a flow is a probe (see the header); asked of every network event, the byte checks first. */
  function isProbe(e: NetworkEvent): boolean {
    return e.bytes_in <= o.probeInBytes && e.bytes_out <= o.probeOutBytes && e.dest_agent_id === null && isPrivateAddress(e.dest_ip ?? e.dest_host);
  }

  /** Whether industrial-protocol or mainframe-access counts the flow (see the header). */
  function familyFlow(e: NetworkEvent): boolean {
    const industrial = industrialProtocol(e.dest_port);
    return (industrial !== undefined && industrialFlow(e, industrial)) || mainframeProtocol(e.dest_port) !== undefined;
  }

  /**
   * Drops the named addresses and ports no probe of the window stands for
   * any more (a slow trickle of probes keeps the window from emptying), so
   * that the evidence names what the finding counted.
   */
  function forgetAged(a: AgentProbes, now: number): void {
    const p = a.p;
    a.addrs = a.addrs.filter((x) => {
      const h = hashString(x);
      for (let i = 0; i < p.length; i += 2) if (p[i] === h) return true;
      return false;
    });
    const portAt = a.portAt;
    if (portAt === undefined) return;
    const ports: number[] = [];
    const at: number[] = [];
    for (let i = 0; i < a.ports.length; i++) {
      if (portAt[i]! > now - windowS) {
        ports.push(a.ports[i]!);
        at.push(portAt[i]!);
      }
    }
    a.ports = ports;
    a.portAt = at;
  }

  function onProbe(e: NetworkEvent): Detection[] {
    const now = sec(e.time);
    let a = agents.get(e.tenant_id, e.agent_id);
    if (a === undefined) {
      a = { at: e.time, p: [], ports: [], portAt: [], addrs: [], fired: 0, ids: [] };
      agents.set(e.tenant_id, e.agent_id, a);
    } else if (e.time > a.at) a.at = e.time;
    // The probes of the window (one entry per address, its latest time), this one included.
    const p = a.p;
    let w = 0;
    for (let i = 0; i < p.length; i += 2) {
      if (p[i + 1]! > now - windowS) {
        p[w] = p[i]!;
        p[w + 1] = p[i + 1]!;
        w += 2;
      }
    }
    const dropped = p.length !== w;
    p.length = w;
    if (w === 0) {
      a.ports = [];
      a.portAt = [];
      a.addrs = [];
      a.ids = [];
    } else if (dropped) forgetAged(a, now);
    const target = e.dest_ip ?? e.dest_host;
    const h = hashString(target);
    let seen = false;
    for (let i = 0; i < p.length; i += 2) {
      if (p[i] === h) {
        if (now > p[i + 1]!) p[i + 1] = now;
        seen = true;
        break;
      }
    }
    if (!seen) {
      if (p.length >= 2 * MAX_ADDRESSES) p.splice(0, 2);
      p.push(h, now);
      if (a.addrs.length < MAX_NAMED) a.addrs.push(target);
    }
    const portAt = (a.portAt ??= a.ports.map(() => now));
    const pi = a.ports.indexOf(e.dest_port);
    if (pi >= 0) portAt[pi] = now;
    else if (a.ports.length < MAX_NAMED) {
      a.ports.push(e.dest_port);
      portAt.push(now);
    }
    a.ids.push(e.event_id);
    if (a.ids.length > MAX_IDS) a.ids.shift();
    const n = p.length / 2;
    if (n < o.addresses) return NO_DETECTIONS;
    if (a.fired !== 0 && now - a.fired < o.refireMs / 1000) return NO_DETECTIONS;
    a.fired = now;
    // The blueprint: does it sweep for a living, or are its agents sweeping together right now?
    const gid = peerGroupId(e.blueprint_id, e.agent_id);
    const ah = hashString(e.agent_id) | 1;
    let g = groups.get(e.tenant_id, gid);
    if (g === undefined) {
      g = { at: e.time, first: now, sweeps: [] };
      groups.set(e.tenant_id, gid, g);
    } else if (e.time > g.at) g.at = e.time;
    const routine = now - g.first >= o.familiarAfterMs / 1000;
    let others = 0;
    for (let i = 0; i < g.sweeps.length; i += 2) if (g.sweeps[i] !== ah && now - g.sweeps[i + 1]! <= o.wideWindowMs / 1000) others++;
    if (g.sweeps.length >= 2 * MAX_SWEEPS) g.sweeps.splice(0, 2);
    g.sweeps.push(ah, now);
    if (routine) return NO_DETECTIONS;
    const severity: Severity = others > 0 ? 'low' : 'medium';
    let since = now;
    for (let i = 1; i < p.length; i += 2) if (p[i]! < since) since = p[i]!;
    return [
      {
        detector: networkDiscoveryMeta.id,
        severity,
        tenant_id: e.tenant_id,
        agent_id: e.agent_id,
        time: e.time,
        summary:
          `Agent ${e.agent_id} probed ${n} internal addresses within ${Math.max(1, Math.round((now - since) / 60))} min (port${a.ports.length === 1 ? '' : 's'} ${a.ports.join(', ')}; e.g. ${a.addrs.slice(0, 3).join(', ')}), getting nothing back from them: ` +
          (others > 0
            ? `${others} other agent${others === 1 ? '' : 's'} of its blueprint swept within ${o.wideWindowMs / 60_000} min, a scanning job of the blueprint`
            : 'its runtime is sweeping the network (network service discovery)'),
        evidence: {
          observed: { addresses_probed: n, window_s: windowS, ports: a.ports.slice(), addresses: a.addrs.slice(), since: msOfSec(since) },
          baseline: { blueprint_sweeps_for_a_living: false, blueprint_agents_sweeping_now: others },
          threshold: `${o.addresses} distinct private addresses within ${windowS / 60} min, each flow ${o.probeOutBytes} bytes or less out and ${o.probeInBytes} or less back`,
          peer_group: peerGroupName(e.blueprint_id) ?? `agent:${e.agent_id}`,
        },
        event_ids: a.ids.slice(),
      },
    ];
  }

  return {
    meta: networkDiscoveryMeta,
    types: ['network'] as const,
    observe(e: AgentEvent): Detection[] {
      if (e.type !== 'network' || !isProbe(e) || familyFlow(e)) return NO_DETECTIONS;
      return onProbe(e);
    },
    ...agentAndGroupState('network-discovery', agents, groups),
  };
}

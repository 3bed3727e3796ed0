// The engine shared by detectors that report an agent speaking a family of
// protocols its blueprint never speaks (industrial control, mainframe): a
// port check per network event, state only for agents that sent such a flow.
//
// Rule: flows of an agent to the family's ports reaching `hosts` distinct
// hosts, or `flows` flows, within the window, where its blueprint does not
// speak them (2 of its agents, or its agents for an hour) → medium, once per
// agent an hour. A reported agent teaches its blueprint nothing, and a
// blueprint left with no speakers starts learning again.

import type { AgentEvent, NetworkEvent } from '../contract/events.js';
import type { Detection, DetectorMeta } from './types.js';
import { peerGroupId, peerGroupName, type Detector } from './detector.js';
import { agentAndGroupState } from './keyed-state.js';
import { NO_DETECTIONS, TenantMap, hashString, msOfSec, sec, type Timed } from './agent-directory.js';

export interface PortSweepOptions {
  /** Distinct hosts, or flows, on the family's ports within windowMs that make a finding. */
  hosts?: number;
  flows?: number;
  windowMs?: number;
  /** A blueprint speaks the family once this many of its agents did, or its agents did for this long. */
  familiarAgents?: number;
  familiarAfterMs?: number;
  /** One finding per agent per this, ms. */
  refireMs?: number;
  maxAgents?: number;
}

export const PORT_SWEEP_DEFAULTS: Required<PortSweepOptions> = {
  hosts: 5,
  flows: 20,
  windowMs: 10 * 60_000,
  familiarAgents: 2,
  familiarAfterMs: 3_600_000,
  refireMs: 3_600_000,
  maxAgents: 1_000_000,
};

/** What a detector built on the engine says about its protocol family. */
export interface PortSweepFamily {
  meta: DetectorMeta;
  /** The protocol of a destination port, or undefined when the port is not the family's (asked for every network event). */
  protocolOf(port: number): string | undefined;
  /** Whether a flow on one of the family's ports counts (all do when absent): SSH only to private addresses, say. */
  admits?(e: NetworkEvent, protocol: string): boolean;
  /** Hosts of the family, for the finding: "industrial control host". */
  hostNoun: string;
  /** What the flows mean, ending the summary. */
  meaning: string;
  /** The baseline's key in the evidence: "blueprint_speaks_industrial_protocols". */
  baselineKey: string;
}

/** Flows kept per agent (enough for the bars). */
const MAX_FLOWS = 32;

/** Per agent: flat [host hash, time (s)] of its flows within the window, the protocols and hosts named, last finding (s), event ids. */
interface AgentFlows extends Timed {
  f: number[];
  protocols: string[];
  hosts: string[];
  fired: number;
  ids: string[];
}

/** Per blueprint whose agents spoke the family: since when (s), the first agents (hashes). */
interface GroupSpeaks extends Timed {
  first: number;
  last: number;
  agents: number[];
}

export function createPortSweepDetector(family: PortSweepFamily, options: PortSweepOptions = {}): Detector {
  const o: Required<PortSweepOptions> = { ...PORT_SWEEP_DEFAULTS, ...options };
  const { meta } = family;
  const agents = new TenantMap<AgentFlows>(o.maxAgents);
  const groups = new TenantMap<GroupSpeaks>(o.maxAgents);
  const windowS = o.windowMs / 1000;

  /** Records the agent's flow for its blueprint; true when the blueprint spoke the family before (familiar). */
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
        detector: meta.id,
        severity: 'medium',
        tenant_id: e.tenant_id,
        agent_id: e.agent_id,
        time: e.time,
        summary:
          `Agent ${e.agent_id} sent ${flows} ${a.protocols.join('/')} flows to ${distinct.size} ${family.hostNoun}${distinct.size === 1 ? '' : 's'} ` +
          `within ${Math.max(1, Math.round((now - f[1]!) / 60))} min, where its blueprint does not speak these protocols: ${family.meaning}`,
        evidence: {
          observed: { flows, distinct_hosts: distinct.size, protocols: a.protocols.slice(), hosts: a.hosts.slice(), since: msOfSec(f[1]!) },
          baseline: { [family.baselineKey]: false },
          threshold: `${o.hosts} distinct hosts or ${o.flows} flows on these ports within ${windowS / 60} min, by an agent of a blueprint that does not speak them (${o.familiarAgents} of its agents, or for ${o.familiarAfterMs / 60_000} min)`,
          peer_group: peerGroupName(e.blueprint_id) ?? `agent:${e.agent_id}`,
        },
        event_ids: a.ids.slice(),
      },
    ];
  }

  return {
    meta,
    types: ['network'] as const,
    observe(e: AgentEvent): Detection[] {
      if (e.type !== 'network' || e.dest_agent_id !== null) return NO_DETECTIONS;
      const protocol = family.protocolOf(e.dest_port);
      if (protocol === undefined || (family.admits !== undefined && !family.admits(e, protocol))) return NO_DETECTIONS;
      return onFlow(e, protocol);
    },
    ...agentAndGroupState(meta.id, agents, groups),
  };
}

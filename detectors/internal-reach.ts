// Detector 40 — internal-reach: an agent's runtime works through internal
// systems its blueprint never reached (T1018 Remote System Discovery).
//
// A workload's internal footprint is small and stable: a captioning agent
// reaches its encoders and audio taps, a treasury worker its custody API and
// its chain's RPC node. An intruder holding its runtime reaches further: he
// queries a broadcast network's device registry, then the router receivers it
// lists; an HSM cage; a database cluster's admin API. Those systems answer
// (network-discovery is about the sweeps where nothing does), and each is new
// to the blueprint.
//
// Rule: an agent reaching 6 private addresses (answered, allowed, to no agent
// endpoint) within 10 minutes that no agent of its blueprint reached before,
// once the blueprint has been watched 2 hours (since its first agent's first
// sighting, and not before the detector's first event: a blueprint created
// days before a replay has still to be learned), is decided 10 minutes later:
// nothing when other agents of the blueprint reached half of those hosts by
// then (a release pointing the blueprint at a new cluster); low when 2 other
// agents of the blueprint reached 3 new internal hosts each of their own from 10
// minutes before the first host until then (a job split among its agents: a
// scanner's run); else medium.
// A blueprint that reached MAX_HOSTS internal addresses reaches any (a
// monitor, a crawler): it is not judged. Not the ports of other detectors'
// families (industrial control, mainframe, remote administration: their
// findings), nor DNS and NTP (the resolvers and time servers a host is
// handed). A reported agent teaches its blueprint nothing: the hosts it
// reached first are taken out of the blueprint's set.
//
// State: per blueprint with agents inside the network, the sorted hashes of
// the private addresses its agents reached (at most MAX_HOSTS), the latest
// new ones and the agents that reached them; per agent
// that reached a host new to its blueprint after learning, those within the
// window; per agent waiting, its finding.

import type { AgentEvent, NetworkEvent } from '../contract/events.js';
import type { Detection, DetectorMeta, Severity } from './types.js';
import { peerGroupId, peerGroupName, type Detector, type DetectorContext } from './detector.js';
import { NO_DETECTIONS, TenantMap, hashString, msOfSec, sec, type Timed } from './agent-directory.js';
import { agentGroupAndWaitingState } from './keyed-state.js';
import { isPrivateAddress } from './addresses.js';
import { DueQueue } from './due-queue.js';
import { industrialFlow, industrialProtocol } from './industrial-protocol.js';
import { mainframeProtocol } from './mainframe-access.js';
import { remoteAdminProtocol } from './lateral-movement.js';

export interface InternalReachOptions {
  /** Hosts new to the blueprint, reached within windowMs, that make a finding. */
  hosts?: number;
  windowMs?: number;
  /** A blueprint watched for less than this is learning its footprint (ms). */
  learnMs?: number;
  /** A finding is decided this long after its last host (ms). */
  confirmMs?: number;
  /** One finding per agent per this (ms). */
  refireMs?: number;
  maxAgents?: number;
}

const DEFAULTS: Required<InternalReachOptions> = {
  hosts: 6,
  windowMs: 10 * 60_000,
  learnMs: 2 * 3_600_000,
  confirmMs: 10 * 60_000,
  refireMs: 3_600_000,
  maxAgents: 1_000_000,
};

/** Internal addresses a blueprint's set holds; one that reaches more reaches any. */
export const MAX_HOSTS = 512;
/** Hosts new to a blueprint after learning, remembered with the agent that reached each first. */
const MAX_NEW = 64;
/** Hosts of one agent's window, and those named in the evidence. */
const MAX_WINDOW = 32;
const MAX_NAMED = 8;
const MAX_IDS = 8;
/** Other agents of the blueprint reaching new hosts of their own around a finding that make it a job (see decide). */
const JOB_AGENTS = 2;
/** New hosts each of those reached within the window (see decide). */
const JOB_HOSTS = 3;
/** A reply this small is no answer (a refused or dropped connection: network-discovery's). */
const ANSWER_BYTES = 64;

/** Per blueprint inside the network. */
interface GroupReach extends Timed {
  /** Since when the blueprint is watched (s): its first agent's first sighting. */
  first: number;
  /** Sorted hashes of the private addresses its agents reached. */
  h: number[];
  /** Set once `h` reached MAX_HOSTS: the blueprint reaches any host. */
  full: boolean;
  /** Flat [host hash, first agent's hash, time (s), other agents since] of hosts new after learning. */
  n: number[];
}

/** Per agent that reached hosts new to its blueprint: flat [host hash, time (s)] within the window, what to name, its last finding (s). */
interface AgentReach extends Timed {
  w: number[];
  hosts: string[];
  ports: number[];
  ids: string[];
  fired: number;
}

/** A finding waiting for the blueprint to show it is a deployment. */
interface Waiting {
  tenant_id: string;
  agent_id: string;
  blueprint_id: string | null;
  group: string;
  due: number;
  /** First and last host of the window (ms). */
  t0: number;
  t: number;
  /** Hashes of the hosts counted. */
  hh: number[];
  hosts: string[];
  ports: number[];
  ids: string[];
}

export const internalReachMeta: DetectorMeta = {
  id: 'internal-reach',
  title: 'Internal systems new to the blueprint reached',
  severity: 'medium',
  mitre: { id: 'T1018', name: 'Remote System Discovery' },
  description:
    "An agent's runtime reaches 6 internal hosts (private addresses that answer, allowed, no agent endpoint) within 10 minutes that no agent of its blueprint reached before, once the blueprint has been watched 2 hours: an intruder in its runtime working through systems the agent has no business with (a broadcast router's control API after its device registry, an HSM, a database's admin port). " +
    'Medium 10 minutes later, unless other agents of the blueprint reached half of those hosts meanwhile (a release pointing the blueprint at a new cluster); low when 2 other agents of the blueprint reached 3 new internal hosts each of their own around it (a job split among its agents: a scanner\'s run). ' +
    `A blueprint that reached ${MAX_HOSTS} internal addresses reaches any (a monitor, a crawler) and is not judged. Not on the ports of industrial control, mainframe or remote administration (those detectors' findings), DNS or NTP; connection attempts nothing answers are network-discovery's. Once per agent an hour.`,
};

/** Index of `h` in the sorted array `a`, or -(insertion point) - 1. */
function search(a: number[], h: number): number {
  let lo = 0;
  let hi = a.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const v = a[mid]!;
    if (v < h) lo = mid + 1;
    else if (v > h) hi = mid - 1;
    else return mid;
  }
  return -lo - 1;
}

export function createInternalReachDetector(options: InternalReachOptions = {}): Detector {
  const o: Required<InternalReachOptions> = { ...DEFAULTS, ...options };
  const agents = new TenantMap<AgentReach>(o.maxAgents);
  const groups = new TenantMap<GroupReach>(o.maxAgents);
  const waiting = new DueQueue<Waiting>(o.maxAgents);
  const windowS = o.windowMs / 1000;
  const learnS = o.learnMs / 1000;

  /** Whether a flow counts: answered, allowed, to a private address, on no other family's port (cheap checks first: asked of every network event). */
  function counts(e: NetworkEvent): boolean {
    if (e.bytes_in <= ANSWER_BYTES || e.dest_agent_id !== null || e.action !== 'allowed') return false;
    const port = e.dest_port;
    if (port === 53 || port === 123) return false;
    if (!isPrivateAddress(e.dest_ip ?? e.dest_host)) return false;
    const industrial = industrialProtocol(port);
    if (industrial !== undefined && industrialFlow(e, industrial)) return false;
    return mainframeProtocol(port) === undefined && remoteAdminProtocol(port) === undefined;
  }

  /** The first event time this detector saw (s): nothing was watched before it. */
  let watchedSince = Infinity;

  function groupOf(e: NetworkEvent, gid: string, now: number, ctx: DetectorContext): GroupReach {
    let g = groups.get(e.tenant_id, gid);
    if (g === undefined) {
      // Watched since its first agent was first seen (an agent of hours is no new blueprint), but not
      // before the detector's first event (its creation days before says nothing of where it goes).
      const seen = ctx.agent(e.tenant_id, e.agent_id)?.first_seen;
      const first = Math.max(watchedSince, seen === undefined ? now : Math.min(now, sec(seen)));
      g = { at: e.time, first, h: [], full: false, n: [] };
      groups.set(e.tenant_id, gid, g);
    } else if (e.time > g.at) g.at = e.time;
    return g;
  }

  function onFlow(e: NetworkEvent, ctx: DetectorContext): void {
    const now = sec(e.time);
    const gid = peerGroupId(e.blueprint_id, e.agent_id);
    const g = groupOf(e, gid, now, ctx);
    const ah = hashString(e.agent_id) | 1;
    if (g.full) return;
    const target = e.dest_ip ?? e.dest_host;
    const h = hashString(target);
    const at = search(g.h, h);
    if (at >= 0) {
      // Known: another agent following one that reached it first lately (a deployment).
      const n = g.n;
      for (let i = 0; i < n.length; i += 4) {
        if (n[i] === h) {
          if (n[i + 1] !== ah && now - n[i + 2]! <= windowS + o.confirmMs / 1000) n[i + 3]!++;
          break;
        }
      }
      return;
    }
    const a = agents.get(e.tenant_id, e.agent_id);
    const reported = a !== undefined && a.fired !== 0 && now - a.fired < o.refireMs / 1000;
    // A reported agent teaches its blueprint nothing.
    if (!reported) {
      if (g.h.length >= MAX_HOSTS) {
        g.full = true;
        g.h = [];
        g.n = [];
        return;
      }
      g.h.splice(-at - 1, 0, h);
    }
    if (now - g.first < learnS) return;
    if (!reported) {
      if (g.n.length >= 4 * MAX_NEW) g.n.splice(0, 4);
      g.n.push(h, ah, now, 0);
    }
    onNewHost(e, a, now, h, target, gid);
  }

  function onNewHost(e: NetworkEvent, found: AgentReach | undefined, now: number, h: number, target: string, gid: string): void {
    let a = found;
    if (a === undefined) {
      a = { at: e.time, w: [], hosts: [], ports: [], ids: [], fired: 0 };
      agents.set(e.tenant_id, e.agent_id, a);
    } else if (e.time > a.at) a.at = e.time;
    const w = a.w;
    let old = 0;
    while (old < w.length && w[old + 1]! <= now - windowS) old += 2;
    if (old > 0) {
      w.splice(0, old);
      // What is named is what the window holds.
      a.hosts = a.hosts.filter((x) => {
        const xh = hashString(x);
        for (let i = 0; i < w.length; i += 2) if (w[i] === xh) return true;
        return false;
      });
      if (w.length === 0) {
        a.ports = [];
        a.ids = [];
      }
    }
    for (let i = 0; i < w.length; i += 2) if (w[i] === h) return;
    if (w.length >= 2 * MAX_WINDOW) w.splice(0, 2);
    w.push(h, now);
    if (a.hosts.length < MAX_NAMED) a.hosts.push(target);
    if (a.ports.length < MAX_NAMED && !a.ports.includes(e.dest_port)) a.ports.push(e.dest_port);
    a.ids.push(e.event_id);
    if (a.ids.length > MAX_IDS) a.ids.shift();
    if (a.fired !== 0 && now - a.fired < o.refireMs / 1000) return;
    const pending = waiting.get(e.tenant_id, e.agent_id);
    if (pending !== undefined) {
      // More hosts while it waits: one finding, decided when it was due, counting every host it had.
      if (!pending.hh.includes(h) && pending.hh.length < MAX_WINDOW) pending.hh.push(h);
      if (pending.hosts.length < MAX_NAMED && !pending.hosts.includes(target)) pending.hosts.push(target);
      if (pending.ports.length < MAX_NAMED && !pending.ports.includes(e.dest_port)) pending.ports.push(e.dest_port);
      pending.ids = a.ids.slice();
      pending.t = e.time;
      return;
    }
    if (w.length / 2 < o.hosts) return;
    const hh: number[] = [];
    for (let i = 0; i < w.length; i += 2) hh.push(w[i]!);
    waiting.add({
      tenant_id: e.tenant_id,
      agent_id: e.agent_id,
      blueprint_id: e.blueprint_id,
      group: gid,
      due: e.time + o.confirmMs,
      t0: msOfSec(w[1]!),
      t: e.time,
      hh,
      hosts: a.hosts.slice(),
      ports: a.ports.slice(),
      ids: a.ids.slice(),
    });
  }

  function decide(p: Waiting): Detection | null {
    const g = groups.get(p.tenant_id, p.group);
    const ah = hashString(p.agent_id) | 1;
    let followed = 0;
    if (g !== undefined) {
      for (const h of p.hh) {
        for (let i = 0; i < g.n.length; i += 4) {
          if (g.n[i] === h) {
            if (g.n[i + 3]! > 0) followed++;
            break;
          }
        }
      }
    }
    if (2 * followed >= p.hh.length) return null; // the blueprint followed: a deployment
    // Other agents of the blueprint reaching new hosts of their own around it: a job split among them
    // (a scanner's run over the subnets), low.
    const job: number[] = [];
    if (g !== undefined) {
      const from = sec(p.t0) - windowS;
      const to = sec(p.due);
      // Flat [agent hash, new hosts] of the other agents (a scanner's agents each reach many; one host here or there is no job).
      const counts: number[] = [];
      for (let i = 0; i < g.n.length; i += 4) {
        const other = g.n[i + 1]!;
        if (other === ah || g.n[i + 2]! < from || g.n[i + 2]! > to) continue;
        let k = 0;
        while (k < counts.length && counts[k] !== other) k += 2;
        if (k === counts.length) counts.push(other, 0);
        if (++counts[k + 1]! === JOB_HOSTS) job.push(other);
      }
    }
    const severity: Severity = job.length >= JOB_AGENTS ? 'low' : 'medium';
    const a = agents.get(p.tenant_id, p.agent_id);
    if (a !== undefined) a.fired = sec(p.due);
    if (g !== undefined && severity === 'medium') {
      // The hosts it reached first teach its blueprint nothing (the next compromised agent is judged alike).
      for (const h of p.hh) {
        for (let i = 0; i < g.n.length; i += 4) {
          if (g.n[i] === h && g.n[i + 1] === ah) {
            const at = search(g.h, h);
            if (at >= 0) g.h.splice(at, 1);
            g.n.splice(i, 4);
            break;
          }
        }
      }
    }
    const n = p.hh.length;
    const minutes = Math.max(1, Math.round((p.t - p.t0) / 60_000));
    return {
      detector: internalReachMeta.id,
      severity,
      tenant_id: p.tenant_id,
      agent_id: p.agent_id,
      time: p.due,
      summary:
        `Agent ${p.agent_id} reached ${n} internal hosts its blueprint never reached within ${minutes} min (port${p.ports.length === 1 ? '' : 's'} ${p.ports.join(', ')}; e.g. ${p.hosts.slice(0, 3).join(', ')}), ` +
        (job.length >= JOB_AGENTS
          ? `while ${job.length} other agent${job.length === 1 ? '' : 's'} of its blueprint reached new internal hosts of their own: a job of the blueprint split among its agents (a scanner's run)`
          : (followed > 0 ? `${followed} of them followed by other agents of its blueprint: ` : 'none of them followed by its blueprint: ') + 'its runtime is working through systems it has no business with'),
      evidence: {
        observed: { new_hosts: n, hosts: p.hosts.slice(), ports: p.ports.slice(), since: p.t0, window_s: windowS },
        baseline: { blueprint_hosts_known: g?.h.length ?? 0, hosts_followed_by_blueprint: followed, blueprint_agents_reaching_new_hosts: job.length },
        threshold: `${o.hosts} private addresses new to the blueprint within ${windowS / 60} min, once it is watched ${o.learnMs / 3_600_000} h; fewer than half followed by its agents within ${o.confirmMs / 60_000} min`,
        peer_group: peerGroupName(p.blueprint_id) ?? `agent:${p.agent_id}`,
      },
      event_ids: p.ids.slice(),
    };
  }

  return {
    meta: internalReachMeta,
    types: ['network'] as const,
    observe(e: AgentEvent, ctx: DetectorContext): Detection[] {
      if (e.type !== 'network') return NO_DETECTIONS;
      if (watchedSince === Infinity) watchedSince = sec(e.time);
      if (counts(e)) onFlow(e, ctx);
      return NO_DETECTIONS;
    },
    ...agentGroupAndWaitingState('internal-reach', agents, groups, waiting, decide),
  };
}

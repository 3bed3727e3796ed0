// Detector 27 — forced-authentication: an agent's runtime speaks SMB (or
// WebDAV right after an SMB attempt) to an address on the internet, handing
// the attacker its Windows account's NTLM challenge response
// (T1187 Forced Authentication).
//
// A document that names a UNC path (a Word template at \\1.2.3.4\tpl, a
// .library-ms or .url file pointing at \\host\share: CVE-2025-24054,
// CVE-2025-33053, CVE-2024-43451) makes Windows authenticate to that host as
// soon as the file is opened or previewed, and an agent that converts every
// attachment it reads to text opens them all. Windows tries SMB (445, 139)
// first and, when the egress firewall refuses it, falls back to WebDAV over
// HTTP (80) to the same host, authenticating there. The attacker relays the
// NetNTLMv2 response or cracks it offline; nothing else is visible.
//
// No agent has a reason to speak SMB to the internet, with one exception:
// Azure Files shares (`<account>.file.core.windows.net`), mounted over SMB
// 3 from anywhere. So:
// - an allowed connection on port 445 or 139 to a public address (by its
//   dest_ip, or the host when it is an address) that is not an Azure Files
//   endpoint, carrying `minAuthBytes` or more out (an SMB negotiation and an
//   NTLM authentication are several hundred bytes; a port scanner's probe,
//   tens, leaks nothing) → medium (the response left), judged `holdMs` later, unless by
//   then `fileServerAgents` agents of the blueprint reached it over SMB (the
//   blueprint's own file server on a public address: a deployment, not a
//   lure, which reaches one agent);
//   (Nor when the agent reached 4 distinct SMB targets, public or private,
//   within 10 minutes by then: a vulnerability scanner sweeping the estate,
//   where a UNC path names one listener.)
// - a blocked one → low (the firewall stopped it, but something made the
//   agent try);
// - a request on port 80 to an address the agent tried over SMB within
//   `webdavFallbackMs` → medium: the WebDAV fallback carried it.
// Once per agent per hour for each severity.
//
// State: per agent that tried SMB to the internet, its latest target and
// findings; per blueprint that did, which agents reached which targets (a
// few numbers). Nothing for anyone else: the per-event cost is a port check.

import type { AgentEvent, NetworkEvent } from '../contract/events.js';
import type { Detection, DetectorMeta, Severity } from './types.js';
import { peerGroupId, peerGroupName, type Detector } from './detector.js';
import { NO_DETECTIONS, TenantMap, clone, hashString, type Timed } from './agent-directory.js';
import { isPublicAddress } from './addresses.js';
import { DueQueue, type DueItem } from './due-queue.js';
import { memoByHost } from './host-memo.js';

export interface ForcedAuthenticationOptions {
  /** An allowed SMB connection sending fewer bytes than this carried no authentication (a scanner's probe). */
  minAuthBytes?: number;
  /** An agent that reached this many distinct SMB targets within sweepWindowMs is sweeping (a scanner), not leaking to one listener. */
  sweepTargets?: number;
  sweepWindowMs?: number;
  /** An allowed SMB connection is judged this long after it (other agents of the blueprint may follow), ms. */
  holdMs?: number;
  /** Agents of the blueprint reaching one SMB target that make it the blueprint's file server. */
  fileServerAgents?: number;
  /** A request on port 80 to an address the agent tried over SMB this recently is the WebDAV fallback, ms. */
  webdavFallbackMs?: number;
  /** One finding per agent per severity per this, ms. */
  refireMs?: number;
  maxAgents?: number;
}

const DEFAULTS: Required<ForcedAuthenticationOptions> = {
  minAuthBytes: 300,
  sweepTargets: 4,
  sweepWindowMs: 10 * 60_000,
  holdMs: 2 * 60_000,
  fileServerAgents: 3,
  webdavFallbackMs: 2 * 60_000,
  refireMs: 3_600_000,
  maxAgents: 1_000_000,
};

/** SMB over TCP and NetBIOS session service. */
const SMB_PORTS = new Set([445, 139]);
const WEBDAV_PORT = 80;

/** Azure Files endpoints (public, commercial and sovereign clouds): SMB 3 from anywhere by design. */
const AZURE_FILES = /\.file\.core\.(windows\.net|usgovcloudapi\.net|chinacloudapi\.cn)\.?$/;
const isAzureFiles = memoByHost((host: string): boolean => AZURE_FILES.test(host.toLowerCase()));

/** Per agent: its latest SMB target on the internet (address), when, and its last findings (ms, 0 none). */
interface SmbAgent extends Timed {
  target: string;
  t: number;
  ids: string[];
  low: number;
  medium: number;
  /** Its latest SMB targets (public or private), flat [address hash, second], oldest first; absent until the second. */
  sw?: number[];
}
/** SMB targets remembered per agent for telling a sweep. */
const MAX_SWEEP = 16;

/** Per blueprint: flat [target hash, agent hash], oldest first. */
interface SmbGroup extends Timed {
  r: number[];
}
const MAX_GROUP_PAIRS = 32;
const MAX_IDS = 8;

/** An allowed SMB connection waiting for its verdict. */
interface PendingSmb extends DueItem {
  group: string;
  blueprint_id: string | null;
  target: string;
  port: number;
  bytes_out: number;
  t: number;
}

export const forcedAuthenticationMeta: DetectorMeta = {
  id: 'forced-authentication',
  title: 'Windows authentication sent to the internet',
  severity: 'medium',
  mitre: { id: 'T1187', name: 'Forced Authentication' },
  description:
    "An agent's runtime connects over SMB (ports 445, 139) to a public address that is not an Azure Files endpoint, sending 300 bytes or more (a scanner's probe sends tens) and not one of 4 or more SMB hosts it reached within 10 minutes (a scanner's sweep), or over HTTP (80) to an address it just tried over SMB (Windows' WebDAV fallback): a document naming a UNC path (a remote template, a .library-ms or .url file) made Windows send the account's NTLM response to an attacker's listener. " +
    'Medium for an allowed connection, 2 minutes later unless 3 agents of the blueprint reach that address over SMB (its own file server); low for a blocked one; medium for the WebDAV fallback within 2 minutes of an SMB attempt. Once per agent per hour for each severity.',
};

/**
 * The address an SMB connection went to when it is on the internet: dest_ip,
 * or the host when it is an address. Null otherwise (a private address, or a
 * name the gateway did not resolve: nothing says where it is).
 */
function publicTarget(e: NetworkEvent): string | null {
  const target = e.dest_ip ?? e.dest_host;
  return isPublicAddress(target) ? target : null;
}

export function createForcedAuthenticationDetector(options: ForcedAuthenticationOptions = {}): Detector {
  const o: Required<ForcedAuthenticationOptions> = { ...DEFAULTS, ...options };
  const agents = new TenantMap<SmbAgent>(o.maxAgents);
  const groups = new TenantMap<SmbGroup>(o.maxAgents);
  const pending = new DueQueue<PendingSmb>(o.maxAgents);

  /** Counts the agent among the blueprint's agents reaching the target; returns how many do. */
  function noteGroup(tenant: string, group: string, target: string, agent: string, t: number): number {
    let g = groups.get(tenant, group);
    if (g === undefined) {
      g = { at: t, r: [] };
      groups.set(tenant, group, g);
    } else if (t > g.at) g.at = t;
    const th = hashString(target);
    const ah = hashString(agent);
    let known = false;
    let n = 0;
    for (let i = 0; i < g.r.length; i += 2) {
      if (g.r[i] !== th) continue;
      n++;
      if (g.r[i + 1] === ah) known = true;
    }
    if (!known) {
      if (g.r.length >= 2 * MAX_GROUP_PAIRS) g.r.splice(0, 2);
      g.r.push(th, ah);
      n++;
    }
    return n;
  }

  function agentsReaching(tenant: string, group: string, target: string): number {
    const g = groups.get(tenant, group);
    if (g === undefined) return 0;
    const th = hashString(target);
    let n = 0;
    for (let i = 0; i < g.r.length; i += 2) if (g.r[i] === th) n++;
    return n;
  }

  /** Records an SMB target of the agent (any address) in its sweep ring; returns the agent's record, made when absent. */
  function noteSweep(e: NetworkEvent, target: string): SmbAgent {
    let a = agents.get(e.tenant_id, e.agent_id);
    if (a === undefined) {
      a = { at: e.time, target, t: e.time, ids: [], low: 0, medium: 0 };
      agents.set(e.tenant_id, e.agent_id, a);
    }
    const h = hashString(target);
    const now = Math.floor(e.time / 1000);
    const sw = a.sw ?? (a.sw = []);
    for (let i = 0; i < sw.length; i += 2) {
      if (sw[i] !== h) continue;
      if (now > sw[i + 1]!) sw[i + 1] = now;
      return a;
    }
    if (sw.length >= 2 * MAX_SWEEP) sw.splice(0, 2);
    sw.push(h, now);
    return a;
  }

  /** Distinct SMB targets the agent reached within sweepWindowMs before `t` (or since). */
  function sweepSize(a: SmbAgent | undefined, t: number): number {
    if (a?.sw === undefined) return 0;
    const from = Math.floor((t - o.sweepWindowMs) / 1000);
    let n = 0;
    for (let i = 1; i < a.sw.length; i += 2) if (a.sw[i]! >= from) n++;
    return n;
  }

  function onSmb(e: NetworkEvent): Detection[] {
    if (isAzureFiles(e.dest_host)) return NO_DETECTIONS;
    const target = publicTarget(e);
    if (target === null) {
      // A private SMB target: only remembered for an agent already on record (a sweep, see decide).
      if (e.action === 'allowed' && agents.size !== 0) {
        const known = agents.get(e.tenant_id, e.agent_id);
        if (known !== undefined) noteSweep(e, e.dest_ip ?? e.dest_host);
      }
      return NO_DETECTIONS;
    }
    const group = peerGroupId(e.blueprint_id, e.agent_id);
    let a = agents.get(e.tenant_id, e.agent_id);
    if (a === undefined) {
      a = noteSweep(e, target);
    } else {
      noteSweep(e, target);
      if (e.time > a.at) a.at = e.time;
      if (a.target !== target) a.ids = [];
      if (e.time >= a.t || a.target !== target) {
        a.target = target;
        a.t = e.time;
      }
    }
    if (a.ids.length < MAX_IDS) a.ids.push(e.event_id);
    if (e.action === 'blocked') {
      if (a.low !== 0 && e.time - a.low < o.refireMs) return NO_DETECTIONS;
      a.low = e.time;
      return [finding(e.tenant_id, e.agent_id, e.blueprint_id, 'low', target, e.dest_port, e.bytes_out, e.time, a.ids, 'blocked')];
    }
    if (noteGroup(e.tenant_id, group, target, e.agent_id, e.time) >= o.fileServerAgents) return NO_DETECTIONS;
    // Too little out to have carried a negotiation and an authentication: a probe (a vulnerability scanner's).
    if (e.bytes_out < o.minAuthBytes) return NO_DETECTIONS;
    pending.add({ tenant_id: e.tenant_id, agent_id: e.agent_id, group, blueprint_id: e.blueprint_id, target, port: e.dest_port, bytes_out: e.bytes_out, t: e.time, due: e.time + o.holdMs });
    return NO_DETECTIONS;
  }

  /** A request on port 80 to the address the agent just tried over SMB: Windows' WebDAV fallback. */
  function onWebdav(e: NetworkEvent): Detection[] {
    const a = agents.get(e.tenant_id, e.agent_id);
    if (a === undefined || e.action !== 'allowed' || Math.abs(e.time - a.t) > o.webdavFallbackMs) return NO_DETECTIONS;
    if ((e.dest_ip ?? e.dest_host) !== a.target && e.dest_host !== a.target) return NO_DETECTIONS;
    if (a.medium !== 0 && e.time - a.medium < o.refireMs) return NO_DETECTIONS;
    a.medium = e.time;
    if (a.ids.length < MAX_IDS) a.ids.push(e.event_id);
    return [finding(e.tenant_id, e.agent_id, e.blueprint_id, 'medium', a.target, e.dest_port, e.bytes_out, e.time, a.ids, 'webdav')];
  }

  function decide(p: PendingSmb): Detection | null {
    if (agentsReaching(p.tenant_id, p.group, p.target) >= o.fileServerAgents) return null;
    const a = agents.get(p.tenant_id, p.agent_id);
    // An agent sweeping many SMB hosts (a vulnerability scanner) is not handing one listener its response.
    if (sweepSize(a, p.due) >= o.sweepTargets) return null;
    if (a !== undefined) {
      if (a.medium !== 0 && p.t - a.medium < o.refireMs) return null;
      a.medium = p.t;
    }
    return finding(p.tenant_id, p.agent_id, p.blueprint_id, 'medium', p.target, p.port, p.bytes_out, p.due, a?.ids ?? [], 'allowed');
  }

  function finding(tenant: string, agent: string, blueprint: string | null, severity: Severity, target: string, port: number, bytesOut: number, time: number, ids: string[], how: 'allowed' | 'blocked' | 'webdav'): Detection {
    const peers = agentsReaching(tenant, peerGroupId(blueprint, agent), target);
    const what =
      how === 'webdav'
        ? `reached ${target} over HTTP (port ${port}) right after trying it over SMB: Windows' WebDAV fallback, carrying the account's NTLM response`
        : how === 'blocked'
          ? `tried to reach ${target} over SMB (port ${port}), blocked by the gateway: something in its runtime resolved a UNC path on the internet`
          : `connected to ${target} over SMB (port ${port}, ${bytesOut} bytes out): the account's NTLM response sent to a listener on the internet`;
    return {
      detector: forcedAuthenticationMeta.id,
      severity,
      tenant_id: tenant,
      agent_id: agent,
      time,
      summary: `Agent ${agent} ${what}`,
      evidence: {
        observed: { target, port, bytes_out: bytesOut, kind: how },
        baseline: { blueprint_agents_reaching_target_over_smb: peers },
        threshold: `SMB (445, 139) to a public address that is not Azure Files, not the blueprint's file server (${o.fileServerAgents} of its agents); WebDAV (80) to it within ${o.webdavFallbackMs / 60_000} min`,
        peer_group: peerGroupName(blueprint) ?? `agent:${agent}`,
      },
      event_ids: ids.slice(),
    };
  }

  return {
    meta: forcedAuthenticationMeta,
    types: ['network'] as const,
    observe(e: AgentEvent): Detection[] {
      if (e.type !== 'network') return NO_DETECTIONS;
      if (SMB_PORTS.has(e.dest_port)) return e.action === 'allowed' || e.action === 'blocked' ? onSmb(e) : NO_DETECTIONS;
      return e.dest_port === WEBDAV_PORT ? onWebdav(e) : NO_DETECTIONS;
    },
    advance(watermark: number): Detection[] {
      return pending.takeDue(watermark, (p) => decide(p));
    },
    settle(): Detection[] {
      return pending.takeDue(Infinity, (p) => decide(p));
    },
    evict(before: number): void {
      agents.evict(before);
      groups.evict(before);
      pending.evict(before);
    },
    size(): number {
      return agents.size + groups.size + pending.size;
    },
    snapshot(): unknown {
      return clone({ version: 1, agents: agents.snapshot(), groups: groups.snapshot(), pending: pending.snapshot() });
    },
    restore(snapshot: unknown): void {
      const s = clone(snapshot) as { version: number; agents: [string, string, SmbAgent][]; groups: [string, string, SmbGroup][]; pending: PendingSmb[] };
      if (s?.version !== 1) throw new Error('forced-authentication: unsupported snapshot');
      agents.restore(s.agents);
      groups.restore(s.groups);
      pending.restore(s.pending);
    },
  };
}

// Detector 38 — lateral-movement: an agent's runtime reaches other machines
// of the organisation through their remote administration services, or drops
// executables and server scripts on them, where its blueprint never does
// (T1021 Remote Services; T1570 Lateral Tool Transfer).
//
// An intruder holding an agent's runtime inside the network uses it as a
// jump host: WinRM (5985/5986) and RDP (3389) to engineering workstations
// and servers, SSH (22) to internal Linux hosts, VNC (5900-5903) to HMIs; or
// copies a payload where it will run: an executable into SYSVOL for a Group
// Policy to start on every machine, a JSP or ASPX web shell onto an
// application server. An agent that administers machines (a patching or
// configuration blueprint) speaks these protocols every day; one that never
// did is not at work.
//
// - Remote administration (port-sweep.ts): flows of 32 KiB or more out to
//   those ports (sessions carrying commands or files, not a scanner's
//   probes; SSH only to private addresses: agents pull code over SSH from
//   public forges) reaching 3 distinct hosts, or 12 flows, within 10 minutes, where the
//   blueprint does not speak them (2 of its agents, or its agents for an
//   hour) → medium, once per agent an hour.
// - Tool transfer: a file of an executable or server-script type (exe, dll,
//   msi, ps1, bat, vbs, hta, scr; jsp, aspx, php, war...) of 1 KiB or more,
//   more out than back, sent to a private address, where the blueprint does
//   not send such files inside the network (2 of its agents, or its agents
//   for an hour) → medium at once, once per agent an hour. Reported at
//   once, a deployment blueprint's first agents are reported too, so their
//   transfers still teach the blueprint (the sweep's reported agents teach
//   nothing): the third agent dropping tools is judged by its blueprint's way.
//
// State: the sweep's (see port-sweep.ts); per agent that sent such a file
// its last finding, per blueprint since when and by which agents it does.

import type { AgentEvent, NetworkEvent } from '../contract/events.js';
import type { Detection, DetectorMeta } from './types.js';
import { peerGroupId, peerGroupName, type Detector, type DetectorContext } from './detector.js';
import { NO_DETECTIONS, TenantMap, clone, hashString, sec, type Timed } from './agent-directory.js';
import { isPrivateAddress } from './addresses.js';
import { PORT_SWEEP_DEFAULTS, createPortSweepDetector, type PortSweepOptions } from './port-sweep.js';
import { noteHostUse, type GroupHosts } from './keyed-state.js';

export interface LateralMovementOptions extends PortSweepOptions {
  /** Least bytes out of a remote administration flow that counts: a session carrying commands or files, not a probe. */
  sessionBytes?: number;
  /** Least bytes out of a transferred tool. */
  toolBytes?: number;
}

const DEFAULTS = { hosts: 3, flows: 12, sessionBytes: 32 * 1024, toolBytes: 1024 };

/** Ports of remote administration services, by name (for the finding). */
const REMOTE_ADMIN_PORTS = new Map<number, string>([
  [5985, 'WinRM'],
  [5986, 'WinRM over TLS'],
  [3389, 'RDP'],
  [22, 'SSH'],
  [5900, 'VNC'],
  [5901, 'VNC'],
  [5902, 'VNC'],
  [5903, 'VNC'],
]);

/** The remote administration protocol of a destination port, or undefined (HTTPS, HTTP and DNS compared first: every network event is asked). */
export function remoteAdminProtocol(port: number): string | undefined {
  return port === 443 || port === 80 || port === 53 ? undefined : REMOTE_ADMIN_PORTS.get(port);
}

/** File types that run where they land: executables, installers, scripts, and server pages (web shells). */
const TOOL_TYPES = new Set(['exe', 'dll', 'sys', 'msi', 'scr', 'com', 'ps1', 'psm1', 'bat', 'cmd', 'vbs', 'vbe', 'wsf', 'hta', 'lnk', 'jsp', 'jspx', 'war', 'aspx', 'ashx', 'asmx', 'asp', 'php', 'phtml', 'cfm']);

/** True when a file type runs where it lands (see TOOL_TYPES); a leading dot and case do not matter. */
export function isToolType(fileType: string | null): boolean {
  if (fileType === null || fileType === '') return false;
  const t = fileType.charCodeAt(0) === 46 ? fileType.slice(1) : fileType;
  return TOOL_TYPES.has(t.toLowerCase());
}

/** The key under which a blueprint's sending of tools inside the network is learned (see noteHostUse). */
const TOOLS_KEY = hashString('lateral-movement:tools');

/** Per agent that sent a tool: the last finding (s). */
interface AgentTools extends Timed {
  fired: number;
}

export const lateralMovementMeta: DetectorMeta = {
  id: 'lateral-movement',
  title: 'Remote administration or tool transfer inside the network',
  severity: 'medium',
  mitre: { id: 'T1021', name: 'Remote Services' },
  description:
    "An agent's sessions (flows of 32 KiB or more out, not a scanner's probes) to remote administration services (WinRM 5985/5986, RDP 3389, VNC 5900-5903, SSH 22 to private addresses) reach 3 distinct hosts, or number 12, within 10 minutes, where its blueprint does not speak them (2 of its agents, or its agents for an hour): its runtime used as a jump host. " +
    'Or it sends a file that runs where it lands (exe, dll, msi, ps1, bat, vbs, hta; a jsp, aspx or php web shell; 1 KiB or more, more out than back) to a private address, where its blueprint does not (T1570 Lateral Tool Transfer: a payload into SYSVOL, a web shell onto an application server). Medium, once per agent an hour for each.',
};

export function createLateralMovementDetector(options: LateralMovementOptions = {}): Detector {
  const { toolBytes, sessionBytes, ...sweepOptions } = { ...PORT_SWEEP_DEFAULTS, ...DEFAULTS, ...options };
  // The tool rule learns and refires as the sweep does.
  const refireS = sweepOptions.refireMs / 1000;
  const familiarAgents = sweepOptions.familiarAgents;
  const familiarAfterS = sweepOptions.familiarAfterMs / 1000;
  const maxAgents = sweepOptions.maxAgents;
  const sweep = createPortSweepDetector(
    {
      meta: lateralMovementMeta,
      protocolOf: remoteAdminProtocol,
      // A session that carries commands or files, not a probe (a vulnerability scanner's handshakes, even its
      // credentialed checks, stay under it); and agents clone and push code over SSH to public forges every day:
      // SSH counts inside the network only.
      admits: (e, protocol) => e.bytes_out >= sessionBytes && (protocol !== 'SSH' || isPrivateAddress(e.dest_ip ?? e.dest_host)),
      hostNoun: 'internal host',
      meaning: 'its runtime used as a jump host to administer other machines',
      baselineKey: 'blueprint_speaks_remote_administration',
    },
    sweepOptions,
  );
  const agents = new TenantMap<AgentTools>(maxAgents);
  const groups = new TenantMap<GroupHosts>(maxAgents);

  function onTool(e: NetworkEvent): Detection[] {
    const now = sec(e.time);
    const gid = peerGroupId(e.blueprint_id, e.agent_id);
    const ah = hashString(e.agent_id) | 1;
    const a = agents.get(e.tenant_id, e.agent_id);
    // Reported at once, so a software-deployment blueprint's first agents are too: their transfers still teach it (two
    // agents, or an hour, and the blueprint deploys this way), where a sweep's reported agent teaches nothing.
    if (noteHostUse(groups, e.tenant_id, gid, TOOLS_KEY, ah, now, e.time, familiarAgents, familiarAfterS)) return NO_DETECTIONS;
    if (a !== undefined && a.fired !== 0 && now - a.fired < refireS) return NO_DETECTIONS;
    if (a === undefined) agents.set(e.tenant_id, e.agent_id, { at: e.time, fired: now });
    else {
      a.at = Math.max(a.at, e.time);
      a.fired = now;
    }
    const target = e.dest_ip ?? e.dest_host;
    return [
      {
        detector: lateralMovementMeta.id,
        severity: 'medium',
        tenant_id: e.tenant_id,
        agent_id: e.agent_id,
        time: e.time,
        summary:
          `Agent ${e.agent_id} sent a ${e.file_type} file (${Math.round(e.bytes_out / 1024)} KiB) to ${e.dest_host}${target !== e.dest_host ? ` (${target})` : ''} port ${e.dest_port}, inside the network, ` +
          "where its blueprint does not send files that run where they land: a payload or web shell dropped on another machine",
        evidence: {
          observed: { file_type: e.file_type, bytes_out: e.bytes_out, bytes_in: e.bytes_in, dest_host: e.dest_host, dest_ip: e.dest_ip, dest_port: e.dest_port },
          baseline: { blueprint_sends_tools_inside: false },
          threshold: `a file of an executable or server-script type, ${toolBytes} bytes or more and more out than back, to a private address, where the blueprint does not send such files (${familiarAgents} of its agents, or for ${familiarAfterS / 60} min)`,
          peer_group: peerGroupName(e.blueprint_id) ?? `agent:${e.agent_id}`,
        },
        event_ids: [e.event_id],
      },
    ];
  }

  return {
    meta: lateralMovementMeta,
    types: ['network'] as const,
    observe(e: AgentEvent, ctx: DetectorContext): Detection[] {
      if (e.type !== 'network' || e.dest_agent_id !== null) return NO_DETECTIONS;
      const swept = sweep.observe(e, ctx);
      if (e.file_type === null || e.action !== 'allowed' || e.bytes_out < toolBytes || e.bytes_out <= e.bytes_in || !isToolType(e.file_type) || !isPrivateAddress(e.dest_ip ?? e.dest_host)) return swept;
      const tool = onTool(e);
      return tool.length === 0 ? swept : swept.length === 0 ? tool : [...swept, ...tool];
    },
    evict(before: number): void {
      sweep.evict!(before);
      agents.evict(before);
      groups.evict(before);
    },
    size(): number {
      return sweep.size!() + agents.size + groups.size;
    },
    snapshot(): unknown {
      return clone({ version: 1, sweep: sweep.snapshot!(), agents: agents.snapshot(), groups: groups.snapshot() });
    },
    restore(snapshot: unknown): void {
      const s = clone(snapshot) as { version: number; sweep: unknown; agents: [string, string, AgentTools][]; groups: [string, string, GroupHosts][] };
      if (s?.version !== 1) throw new Error('lateral-movement: unsupported snapshot');
      sweep.restore!(s.sweep);
      agents.restore(s.agents);
      groups.restore(s.groups);
    },
  };
}

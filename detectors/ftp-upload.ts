// Detector 35 — ftp-upload: an agent's runtime uploads over FTP to a host on
// the internet its blueprint never used (T1048.003 Exfiltration Over
// Unencrypted Non-C2 Protocol).
//
// Commodity stealers (Agent Tesla, Snake) ship what they collected over plain
// FTP to a server the operator took over (a small business's hosting
// account): a control connection on port 21 (or FTPS on 990), then a data
// connection on a passive port per file, each a few hundred KB out. Agents
// talk HTTPS to APIs; the few integrations that still speak FTP (EDI, a
// bank's file drop) do it every day from their blueprint's agents.
//
// Rule: an agent that opened an FTP control connection (21 or 990) to a public
// host within the last 10 minutes, and sends that host 256 KiB or more in all
// (its data connections on any port), where its blueprint does not use FTP
// with it (2 of its agents, or its agents for an hour) → medium, once per
// agent an hour.
//
// State: only for agents that opened an FTP control connection lately (the
// host, when, the bytes since), and per blueprint the FTP hosts it uses.

import type { AgentEvent, NetworkEvent } from '../contract/events.js';
import type { Detection, DetectorMeta } from './types.js';
import { peerGroupId, peerGroupName, type Detector } from './detector.js';
import { NO_DETECTIONS, TenantMap, hashString, msOfSec, sec, type Timed } from './agent-directory.js';
import { agentAndGroupState, noteHostUse, unteachHostUse, type GroupHosts } from './keyed-state.js';
import { isPrivateAddress } from './addresses.js';

export interface FtpUploadOptions {
  /** Bytes out to the FTP host within windowMs of its control connection that make a finding. */
  uploadBytes?: number;
  windowMs?: number;
  /** A blueprint uses FTP with a host once this many of its agents did, or its agents did for this long. */
  familiarAgents?: number;
  familiarAfterMs?: number;
  /** One finding per agent per this, ms. */
  refireMs?: number;
  maxAgents?: number;
}

const DEFAULTS: Required<FtpUploadOptions> = {
  uploadBytes: 256 * 1024,
  windowMs: 10 * 60_000,
  familiarAgents: 2,
  familiarAfterMs: 3_600_000,
  refireMs: 3_600_000,
  maxAgents: 1_000_000,
};

/** FTP control ports: plain and implicit TLS. */
function isFtpControl(port: number): boolean {
  return port === 21 || port === 990;
}

/** Per agent with a recent FTP control connection: its host (hash) and name, when (s), bytes out to it since, last finding (s), event ids. */
interface AgentFtp extends Timed {
  h: number;
  host: string;
  t: number;
  out: number;
  fired: number;
  ids: string[];
}


export const ftpUploadMeta: DetectorMeta = {
  id: 'ftp-upload',
  title: 'Upload over FTP to a host on the internet',
  severity: 'medium',
  mitre: { id: 'T1048.003', name: 'Exfiltration Over Alternative Protocol: Exfiltration Over Unencrypted Non-C2 Protocol' },
  description:
    'An agent opens an FTP control connection (port 21, or 990 for FTPS) to a public host and sends it 256 KiB or more within 10 minutes (its data connections), where its blueprint does not use FTP with that host (2 of its agents, or its agents for an hour): a stealer shipping what it collected to a server its operator took over. ' +
    'Medium, once per agent an hour.',
};

export function createFtpUploadDetector(options: FtpUploadOptions = {}): Detector {
  const o: Required<FtpUploadOptions> = { ...DEFAULTS, ...options };
  const agents = new TenantMap<AgentFtp>(o.maxAgents);
  const groups = new TenantMap<GroupHosts>(o.maxAgents);
  const windowS = o.windowMs / 1000;

  function onControl(e: NetworkEvent): void {
    const now = sec(e.time);
    const h = hashString(e.dest_host.toLowerCase());
    let a = agents.get(e.tenant_id, e.agent_id);
    const reported = a !== undefined && a.fired !== 0 && now - a.fired < o.refireMs / 1000;
    // A blueprint's own FTP partner (and an agent reported for it) starts no watch.
    if (!reported && noteHostUse(groups, e.tenant_id, peerGroupId(e.blueprint_id, e.agent_id), h, hashString(e.agent_id) | 1, now, e.time, o.familiarAgents, o.familiarAfterMs / 1000)) return;
    if (a === undefined) {
      a = { at: e.time, h, host: e.dest_host, t: now, out: 0, fired: 0, ids: [] };
      agents.set(e.tenant_id, e.agent_id, a);
    } else if (a.h !== h || now - a.t > windowS) {
      a.h = h;
      a.host = e.dest_host;
      a.out = 0;
      a.ids = [];
    }
    a.at = e.time;
    a.t = now;
    if (a.ids.length < 2) a.ids.push(e.event_id);
  }

  function onBytes(e: NetworkEvent, a: AgentFtp): Detection[] {
    const now = sec(e.time);
    if (now - a.t > windowS || now < a.t - 60 || hashString(e.dest_host.toLowerCase()) !== a.h) return NO_DETECTIONS;
    a.out += e.bytes_out;
    if (a.ids.length < 4) a.ids.push(e.event_id);
    if (a.out < o.uploadBytes || (a.fired !== 0 && now - a.fired < o.refireMs / 1000)) return NO_DETECTIONS;
    a.fired = now;
    unteachHostUse(groups, e.tenant_id, peerGroupId(e.blueprint_id, e.agent_id), a.h, hashString(e.agent_id) | 1, now);
    return [
      {
        detector: ftpUploadMeta.id,
        severity: 'medium',
        tenant_id: e.tenant_id,
        agent_id: e.agent_id,
        time: e.time,
        summary:
          `Agent ${e.agent_id} sent ${Math.round(a.out / 1024)} KiB over FTP to ${a.host} within ${Math.max(1, Math.round((now - a.t) / 60))} min of opening a control connection, ` +
          "where its blueprint does not use FTP with that host: files shipped out over an unencrypted protocol (a stealer's drop)",
        evidence: {
          observed: { uploaded_bytes: a.out, ftp_host: a.host, control_connection_at: msOfSec(a.t), dest_port: e.dest_port },
          baseline: { blueprint_uses_ftp_with_host: false },
          threshold: `${Math.round(o.uploadBytes / 1024)} KiB out within ${windowS / 60} min of an FTP control connection to a public host the blueprint does not use FTP with`,
          peer_group: peerGroupName(e.blueprint_id) ?? `agent:${e.agent_id}`,
        },
        event_ids: a.ids.slice(),
      },
    ];
  }

  return {
    meta: ftpUploadMeta,
    types: ['network'] as const,
    observe(e: AgentEvent): Detection[] {
      if (e.type !== 'network' || e.action !== 'allowed') return NO_DETECTIONS;
      if (isFtpControl(e.dest_port)) {
        if (e.dest_ip !== null && isPrivateAddress(e.dest_ip)) return NO_DETECTIONS;
        onControl(e);
      }
      // Bytes out count only for an agent with a watched control connection (most agents have none).
      if (agents.size === 0 || e.bytes_out === 0) return NO_DETECTIONS;
      const a = agents.get(e.tenant_id, e.agent_id);
      return a === undefined ? NO_DETECTIONS : onBytes(e, a);
    },
    ...agentAndGroupState('ftp-upload', agents, groups),
  };
}

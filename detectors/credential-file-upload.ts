// Detector 25 — credential-file-upload: an agent sends out files whose type
// is a credential store: private keys and certificates with their keys,
// password databases, SSH keys, Java keystores, environment and Terraform
// state files (T1552.004 Unsecured Credentials: Private Keys; T1552.001
// Credentials In Files).
//
// Code that runs in an agent's runtime (an unpacked archive's payload, a
// poisoned tool, an injected instruction) collects the credential files it
// can reach and sends them out through a channel the agent uses every day:
// its partner's file share, its own storage, a ticket attachment. Host,
// category and volume are the agent's own, and the files are small; only
// their type says what they are. The gateway names a transfer's type by its
// extension (file_type).
//
// Rule: an upload (at least 256 bytes out, more out than in) of a credential
// file type to a public destination that is not a secrets store: low; medium
// from the second within 15 minutes, or at once for a password database
// (kdbx, kdb, psafe3), an SSH private key (ppk) or a key store (jks,
// keystore, p12, pfx: a private key with its certificate). A secrets store
// or a cloud's certificate plane (ARM, ACM, Certificate Manager) installs
// what it is sent: not judged; nor is an upload to an Azure Storage account
// that presents a token (Entra-authorized storage takes only its own
// tenant's tokens: the file stays in the tenant, as when a backup of a file
// share copies the keys and certificates kept there). Not a finding
// when the blueprint sends that type to that destination routinely: 2
// uploads of it by the blueprint, the first an hour or more before (a
// certificate deployment job publishing its bundles), nor a PEM within an
// hour of a credential one of the agent's sponsors added (the rotation
// publishing its new public certificate where it is pinned: to each AS2
// trading partner or regulator's gateway in turn, within the hour). An upload the
// gateway blocked sent nothing: low at most (something still collected the
// file). Once per agent per hour for the low, per day for the medium.
//
// State: per blueprint that sent credential files, its latest 16 (type,
// destination) pairs; per agent that sent one, a few numbers.

import type { AgentEvent, NetworkEvent } from '../contract/events.js';
import type { Detection, DetectorMeta } from './types.js';
import { ALLOWED_LATENESS_MS, isVouchingSponsor, peerGroupId, peerGroupName, type Detector, type DetectorContext } from './detector.js';
import { NO_DETECTIONS, TenantMap, clone, hashString, sec, type Timed } from './agent-directory.js';
import { isPrivateAddress } from './addresses.js';
import { isSecretStoreHost } from './secret-enumeration.js';
import { isAzureStorageHost } from './exfiltration.js';
import { memoByHost } from './host-memo.js';

const KIB = 1024;
/** A PEM sent this long after a sponsor added a credential to the agent is its new certificate published, ms. */
const ROTATION_PUBLISH_MS = 60 * 60_000;
const NO_LIMIT = Number.MAX_SAFE_INTEGER;

/**
 * File types that hold credentials, by extension, whether one alone is
 * medium, and the largest such a file is: keys, certificates and profiles
 * are a few KiB, and an extension shared with bigger files (`.key`, a
 * Keynote deck of megabytes) is not a key past that size. Password
 * databases and state files have no such bound (attachments, large estates).
 */
export const CREDENTIAL_FILE_TYPES: ReadonlyMap<string, { what: string; alone: boolean; maxBytes: number }> = new Map([
  ['kdbx', { what: 'a KeePass password database', alone: true, maxBytes: NO_LIMIT }],
  ['kdb', { what: 'a KeePass password database', alone: true, maxBytes: NO_LIMIT }],
  ['psafe3', { what: 'a Password Safe database', alone: true, maxBytes: NO_LIMIT }],
  ['ppk', { what: 'a PuTTY private key', alone: true, maxBytes: 64 * KIB }],
  ['jks', { what: 'a Java keystore', alone: true, maxBytes: 4096 * KIB }],
  ['keystore', { what: 'a keystore', alone: true, maxBytes: 4096 * KIB }],
  ['pfx', { what: 'a certificate with its private key (PKCS#12)', alone: true, maxBytes: 256 * KIB }],
  ['p12', { what: 'a certificate with its private key (PKCS#12)', alone: true, maxBytes: 256 * KIB }],
  ['key', { what: 'a private key', alone: false, maxBytes: 64 * KIB }],
  ['pem', { what: 'a PEM key or certificate', alone: false, maxBytes: 512 * KIB }],
  ['ovpn', { what: 'a VPN profile with its keys', alone: false, maxBytes: 256 * KIB }],
  ['env', { what: 'an environment file', alone: false, maxBytes: 4096 * KIB }],
  ['tfstate', { what: 'a Terraform state file', alone: false, maxBytes: NO_LIMIT }],
  ['publishsettings', { what: 'an Azure publish profile', alone: true, maxBytes: 256 * KIB }],
  ['rdg', { what: 'a Remote Desktop connection file with saved credentials', alone: false, maxBytes: 4096 * KIB }],
]);

/**
 * Cloud control planes and certificate services: a certificate or key sent
 * there is installed (on an app, a load balancer, a CDN endpoint), not sent
 * away.
 */
const CERTIFICATE_PLANES = /^(management\.azure\.com|management\.core\.windows\.net|acm\.[a-z0-9-]+\.amazonaws\.com|iam\.amazonaws\.com|certificatemanager\.googleapis\.com)$/;

/** True when uploads to `host` install credentials rather than send them away (a secrets store or a certificate plane). */
export function installsCredentials(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return CERTIFICATE_PLANES.test(h) || isSecretStoreHost(h);
}

/** The credential file type of a transfer of `bytes` (lower case, without a dot), or null (not such a type, or too big to be one). */
export function credentialFileType(fileType: string | null, bytes = 0): string | null {
  if (fileType === null) return null;
  let t = fileType.trim().toLowerCase();
  if (t.startsWith('.')) t = t.slice(1);
  const known = CREDENTIAL_FILE_TYPES.get(t);
  return known !== undefined && bytes <= known.maxBytes ? t : null;
}

export interface CredentialFileUploadOptions {
  /** Least bytes out that make a transfer an upload. */
  minBytes?: number;
  /** Uploads within this window make medium from the second, ms. */
  windowMs?: number;
  /** Uploads of a type to a destination by the blueprint that make it routine, the first this long before, ms. */
  routineUploads?: number;
  routineAfterMs?: number;
  /** Pairs kept per blueprint. */
  groupPairs?: number;
  /** One low per agent per this, one medium per that, ms. */
  lowRefireMs?: number;
  mediumRefireMs?: number;
  maxAgents?: number;
}

const DEFAULTS: Required<CredentialFileUploadOptions> = {
  minBytes: 256,
  windowMs: 15 * 60_000,
  routineUploads: 2,
  routineAfterMs: 3_600_000,
  groupPairs: 16,
  lowRefireMs: 3_600_000,
  mediumRefireMs: 24 * 3_600_000,
  maxAgents: 1_000_000,
};

/** Per blueprint: flat [type hash, destination hash, first upload (s), uploads], oldest first. */
interface UploadGroup extends Timed {
  u: number[];
}
const G_STRIDE = 4;

/** Per agent: its uploads in the current window, the last low and medium (s, 0 none). */
interface UploadAgent extends Timed {
  since: number;
  n: number;
  types: string[];
  hosts: string[];
  ids: string[];
  low: number;
  medium: number;
}
const MAX_LISTED = 8;

export const credentialFileUploadMeta: DetectorMeta = {
  id: 'credential-file-upload',
  title: 'Credential files sent out',
  severity: 'medium',
  mitre: { id: 'T1552.004', name: 'Unsecured Credentials: Private Keys' },
  description:
    'An agent uploads files whose type is a credential store (private keys and PKCS#12 bundles, KeePass and Password Safe databases, PuTTY keys, Java keystores, VPN profiles, environment and Terraform state files, publish profiles; a key, certificate or profile no bigger than such files are: a 6 MB `.key` is a Keynote deck) to a public destination that is neither a secrets store, a cloud\'s certificate plane, nor an Azure Storage account written with an Entra token (the tenant\'s own): code in its runtime collecting credential files and sending them through a channel the agent uses every day, where host, category and volume are its own. ' +
    "Low for one; medium from the second within 15 minutes, or at once for a password database, a PuTTY key, a keystore or a PKCS#12 bundle. Nothing when the blueprint sends that type to that destination routinely (2 uploads, the first an hour or more before: a certificate deployment job), nor for a PEM within an hour of a credential one of the agent's sponsors added (its new certificate published where it is pinned, to each trading partner in turn). An upload the gateway blocked is low at most (nothing left). Once per agent per hour (low), per day (medium).",
};

/** installsCredentials, remembered per host. */
const installs = memoByHost(installsCredentials);

export function createCredentialFileUploadDetector(options: CredentialFileUploadOptions = {}): Detector {
  const o: Required<CredentialFileUploadOptions> = { ...DEFAULTS, ...options };
  const groups = new TenantMap<UploadGroup>(o.maxAgents);
  const agents = new TenantMap<UploadAgent>(o.maxAgents);
  const routineAfterS = o.routineAfterMs / 1000;

  /** Whether the blueprint sends this type to this destination routinely (before this upload), then counts it. */
  function routineThenCount(e: NetworkEvent, type: string): boolean {
    const group = peerGroupId(e.blueprint_id, e.agent_id);
    let g = groups.get(e.tenant_id, group);
    if (g === undefined) {
      g = { at: e.time, u: [] };
      groups.set(e.tenant_id, group, g);
    } else if (e.time > g.at) g.at = e.time;
    const th = hashString(type);
    const dh = hashString(e.dest_host);
    const now = sec(e.time);
    const u = g.u;
    for (let i = 0; i < u.length; i += G_STRIDE) {
      if (u[i] !== th || u[i + 1] !== dh) continue;
      const routine = u[i + 3]! >= o.routineUploads && now - u[i + 2]! >= routineAfterS;
      u[i + 3]!++;
      return routine;
    }
    if (u.length >= G_STRIDE * o.groupPairs) u.splice(0, G_STRIDE);
    u.push(th, dh, now, 1);
    return false;
  }

  /** The agent's record (made when absent), its last activity moved up to the event. */
  function agentOf(e: NetworkEvent, now: number): UploadAgent {
    let a = agents.get(e.tenant_id, e.agent_id);
    if (a === undefined) {
      a = { at: e.time, since: now, n: 0, types: [], hosts: [], ids: [], low: 0, medium: 0 };
      agents.set(e.tenant_id, e.agent_id, a);
    } else if (e.time > a.at) a.at = e.time;
    return a;
  }

  function onNetwork(e: NetworkEvent, ctx: DetectorContext): Detection[] {
    const type = credentialFileType(e.file_type, e.bytes_out);
    if (type === null) return NO_DETECTIONS;
    if (e.bytes_out < o.minBytes || e.bytes_out <= e.bytes_in || e.dest_agent_id !== null) return NO_DETECTIONS;
    if (isPrivateAddress(e.dest_ip ?? e.dest_host) || installs(e.dest_host)) return NO_DETECTIONS;
    // Into an Azure Storage account with an Entra token: the tenant's own account (it takes no other
    // tenant's token; a thief's takes a SAS). A backup of a share copies its keys and certificates too.
    if (e.token_id !== null && isAzureStorageHost(e.dest_host)) return NO_DETECTIONS;
    if (type === 'pem' && rotating(e, ctx)) return NO_DETECTIONS;
    // Stopped by the gateway (its DLP): nothing left; the attempt is low at most, and teaches no routine.
    if (e.action !== 'allowed') return e.action === 'blocked' ? onBlocked(e, type) : NO_DETECTIONS;
    if (routineThenCount(e, type)) return NO_DETECTIONS;
    const now = sec(e.time);
    const a = agentOf(e, now);
    if (now - a.since > o.windowMs / 1000) {
      a.since = now;
      a.n = 0;
      a.types = [];
      a.hosts = [];
      a.ids = [];
    }
    a.n++;
    if (!a.types.includes(type) && a.types.length < MAX_LISTED) a.types.push(type);
    if (!a.hosts.includes(e.dest_host) && a.hosts.length < MAX_LISTED) a.hosts.push(e.dest_host);
    if (a.ids.length < MAX_LISTED * 2) a.ids.push(e.event_id);
    const medium = a.n >= 2 || a.types.some((t) => CREDENTIAL_FILE_TYPES.get(t)!.alone);
    if (medium) {
      if (a.medium !== 0 && now - a.medium < o.mediumRefireMs / 1000) return NO_DETECTIONS;
      a.medium = now;
      return [finding(e, a, 'medium')];
    }
    if (a.low !== 0 && now - a.low < o.lowRefireMs / 1000) return NO_DETECTIONS;
    a.low = now;
    return [finding(e, a, 'low')];
  }

  /** A credential file upload the gateway blocked: low, once per agent per hour (the same slot as the low of sent files). */
  function onBlocked(e: NetworkEvent, type: string): Detection[] {
    const now = sec(e.time);
    const a = agentOf(e, now);
    if (a.low !== 0 && now - a.low < o.lowRefireMs / 1000) return NO_DETECTIONS;
    a.low = now;
    const what = CREDENTIAL_FILE_TYPES.get(type)!.what;
    return [
      {
        detector: credentialFileUploadMeta.id,
        severity: 'low',
        tenant_id: e.tenant_id,
        agent_id: e.agent_id,
        time: e.time,
        summary: `Agent ${e.agent_id} tried to send a credential file (.${type}, ${what}) to ${e.dest_host}, blocked by the gateway: nothing left, but something in its runtime collected it`,
        evidence: {
          observed: { file_types: [type], hosts: [e.dest_host], latest_bytes_out: e.bytes_out, action: e.action },
          baseline: { blueprint_routine: false },
          threshold: 'a blocked upload of a credential file: low at most',
          peer_group: peerGroupName(e.blueprint_id) ?? `agent:${e.agent_id}`,
        },
        event_ids: [e.event_id],
      },
    ];
  }

  /**
   * A credential one of the agent's sponsors added within ROTATION_PUBLISH_MS
   * before: a PEM sent now is the new certificate published where it is
   * pinned (a public certificate travels as PEM too), not a key taken.
   */
  function rotating(e: NetworkEvent, ctx: DetectorContext): boolean {
    const info = ctx.agent(e.tenant_id, e.agent_id);
    if (info === undefined) return false;
    for (const c of info.credentials_added) {
      if (e.time - c.time <= ROTATION_PUBLISH_MS && c.time - e.time <= ALLOWED_LATENESS_MS && isVouchingSponsor(info, c.actor, ctx)) return true;
    }
    return false;
  }

  function finding(e: NetworkEvent, a: UploadAgent, severity: 'low' | 'medium'): Detection {
    const kinds = a.types.map((t) => `.${t} (${CREDENTIAL_FILE_TYPES.get(t)!.what})`).join(', ');
    return {
      detector: credentialFileUploadMeta.id,
      severity,
      tenant_id: e.tenant_id,
      agent_id: e.agent_id,
      time: e.time,
      summary:
        `Agent ${e.agent_id} sent ${a.n === 1 ? 'a credential file' : `${a.n} credential files`} out to ${a.hosts.join(', ')}: ${kinds}` +
        ', a type its blueprint does not send there: credentials collected in its runtime and shipped through a channel it uses',
      evidence: {
        observed: { uploads: a.n, file_types: a.types.slice(), hosts: a.hosts.slice(), latest_bytes_out: e.bytes_out },
        baseline: { blueprint_routine: false },
        threshold: `low for one; medium from 2 within ${o.windowMs / 60_000} min or one password database, PuTTY key, keystore or PKCS#12 bundle; routine after ${o.routineUploads} uploads of the type to the destination by the blueprint, the first ${o.routineAfterMs / 60_000} min before`,
        peer_group: peerGroupName(e.blueprint_id) ?? `agent:${e.agent_id}`,
      },
      event_ids: a.ids.slice(),
    };
  }

  return {
    meta: credentialFileUploadMeta,
    types: ['network'] as const,
    observe(e: AgentEvent, ctx: DetectorContext): Detection[] {
      return e.type === 'network' && e.file_type !== null ? onNetwork(e, ctx) : NO_DETECTIONS;
    },
    evict(before: number): void {
      groups.evict(before);
      agents.evict(before);
    },
    size(): number {
      return groups.size + agents.size;
    },
    snapshot(): unknown {
      return clone({ version: 1, groups: groups.snapshot(), agents: agents.snapshot() });
    },
    restore(snapshot: unknown): void {
      const s = clone(snapshot) as { version: number; groups: [string, string, UploadGroup][]; agents: [string, string, UploadAgent][] };
      if (s?.version !== 1) throw new Error('credential-file-upload: unsupported snapshot');
      groups.restore(s.groups);
      agents.restore(s.agents);
    },
  };
}

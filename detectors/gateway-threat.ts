// Detector 10 — gateway threat: the network gateway's own verdicts on an
// agent's traffic, plus one correlation: a destination the agent's blueprint
// has never contacted, reached shortly after a prompt injection.
//
// Severities:
// - threat malware / threat_intel, or a malicious category (malicious,
//   command and control, botnet, malware...: see categories.ts) → high;
// - phishing → medium (low when the gateway blocked it: a mail-triage agent
//   fetching a reported link, stopped); prompt_injection → medium, blocked or not (like
//   Defender for AI's blocked jailbreak attempt: the agent reads content an
//   attacker wrote for it, and the next injection may not be caught);
// - a destination new to the peer group (blueprint) within 10 min after a
//   prompt injection (blocked or not) → high (medium if the gateway blocked
//   the new connection); within 30 min → medium (low if blocked): an injected
//   instruction can sit in an agent's context until a later task acts on it.
//   Handles lateness: if the new destination arrives before the (late)
//   injection event, the injection completes it. A destination first reached
//   by an agent within 30 min of its injection is not learned as the
//   blueprint's: the campaign's next victim among its agents, sending to the
//   same collector, is judged the same way;
// - a host in a suspicious category (newly registered, dynamic DNS,
//   anonymizer, grayware, parked: no verdict, but where fresh attacker
//   infrastructure sits before any threat feed lists it) that the blueprint
//   does not use → low at the first call, medium when the agent keeps
//   calling it (5 calls at least 45 s apart: an implant's beacon, not a page
//   load; a download of 1 MiB or more from a storage service is not
//   counted: a dataset fetched file after file is no beacon). Such a host is not learned by being called: it becomes the
//   blueprint's once 3 of its agents call it (a deployment's dependency).
//   An uncategorized host (no vendor has classified it) new to the
//   blueprint after it has learned is watched the same way, without the low:
//   medium when the agent keeps calling it regularly (8 calls at least 45 s
//   apart, none more than 3 min after the last: a C2 loop, such as a
//   trojanised SDK's, that no feed lists yet). So is an app on a public
//   web-app hosting platform (`x.azurewebsites.net`, `x.herokuapp.com`,
//   `x.vercel.app`, `x.workers.dev`...): anyone stands one up on a free tier
//   in minutes, and the gateway's category for it is the platform's
//   ("business", "technology"), not the app's: C2 on trusted PaaS. So is a
//   storage account or bucket (`x.queue.core.windows.net`,
//   `x.s3.amazonaws.com`) new to the blueprint called without a token (with
//   a key or a SAS, not the agent's identity): a queue in someone's storage
//   polled for tasks is C2 on trusted cloud storage;
// - a script or executable (file_type ps1, sh, exe, dll, an editor or browser
//   extension, a disk image...) downloaded (more in than out) from
//   an uncategorized, suspicious-category or CDN host (a CDN serves anyone's
//   files: an implant from jsDelivr) or an app on a public hosting platform
//   (pages.dev, workers.dev...: a ClickFix page's payload) the blueprint
//   never used, or a package
//   (whl, gem, nupkg, npm tgz...) from a public language registry it never
//   used (installing runs its hooks: a hallucinated package name), or a
//   container image (1 MB+ of layers) from a public container registry it
//   never used (ghcr.io, Docker Hub, Quay...: a poisoned image's entrypoint
//   runs) →
//   low (ingress tool transfer: what an injected or hijacked agent fetches
//   before it runs it), and it arms the agent like an injection, one
//   severity lower: a destination new to the blueprint within 10 min →
//   medium, within 30 min → low (the fetched script's callback: its first
//   beacon to a host no feed has categorized yet); after a registry
//   package, medium only for a host no feed has judged (uncategorized, a
//   suspicious category, an app on a hosting platform, a storage account) or
//   one that takes files: a code interpreter's pip install followed by a
//   query to a statistics office's API is the analysis it was asked for.
//   The blueprint's other agents pulling from that registry within 30 min
//   of its first pull are armed too (without the low): a poisoned release
//   reaches all of them, and each calls home;
// - a verdict on content the whole blueprint reads: a prompt injection (blocked
//   or not), or blocked malware or threat intelligence, from a host the
//   blueprint already used (its own Graph content, its update store) is
//   reported low at once and at its full severity 10 minutes later, unless
//   3 of the blueprint's agents (this one included) got the same verdict
//   from that host within 2 hours by then: an awareness page quoting
//   injection examples, a signature false positive on the fleet's own
//   package. Then it stays low, as for every later agent: a shared verdict
//   on a familiar source is the content's, not a sign that one agent is
//   compromised (and what an injection makes an agent do next is judged
//   above, at full severity). So is a wave across the tenant: the same
//   verdict kind on hosts their blueprints use for 5 agents of 2 or more
//   blueprints within 2 hours is the gateway's inspection changing (a new
//   prompt-shield model switched on in detect mode), not content each read;
// - a verdict on a published anti-malware test host (EICAR, AMTSO, Google
//   Safe Browsing's test pages, WICAR) is low: a security team checking that
//   the gateway works, or a scanner, never an attack.
// - DNS rebinding: the host an agent last reached as new to its blueprint,
//   first at a public address, reached at a private one within 10 minutes
//   (an attacker's name server switching its answer so the agent's browser
//   or HTTP tool reaches an internal service, an MCP server on the VNet, as
//   "the same site") → medium. Not for cloud service names answering
//   privately through private endpoints (windows.net, azure.com,
//   amazonaws.com, googleapis.com...) or internal suffixes.
// Each kind fires at most once per agent per 10 min (cooldown).
//
// State: per peer group a capped map of destination-host hashes → last seen
// (novelty needs the group to have learned: 1 h and 50 events); per agent only
// for agents with a recent injection, novelty or threat (a few numbers).

import type { AgentEvent, NetworkEvent } from '../contract/events.js';
import { categoryInfo } from './categories.js';
import { GroupStore, NO_DETECTIONS, TenantMap, clone, hashString, type Timed } from './agent-directory.js';
import { formatDuration, peerGroupId, peerGroupName, type Detector, type DetectorContext } from './detector.js';
import type { Detection, DetectorMeta, Severity } from './types.js';
import { DueQueue, type DueItem } from './due-queue.js';
import { memoByHost } from './host-memo.js';
import { isAzureStorageHost } from './exfiltration.js';
import { isMicrosoft365Address, isPrivateAddress } from './addresses.js';

/** The host is an address of Microsoft 365's own ranges (see isMicrosoft365Address). */
const microsoft365Host = memoByHost(isMicrosoft365Address);

/**
 * Public web-app hosting platforms: every customer's app is a name under the
 * platform's domain, created in minutes on a free tier, and classified by
 * gateways as the platform is (see isSharedAppHost).
 */
const APP_HOSTING_DOMAINS = [
  'azurewebsites.net',
  'azurestaticapps.net',
  'azurecontainerapps.io',
  'herokuapp.com',
  'vercel.app',
  'netlify.app',
  'pages.dev',
  'workers.dev',
  'web.app',
  'firebaseapp.com',
  'appspot.com',
  'run.app',
  'github.io',
  'glitch.me',
  'onrender.com',
  'fly.dev',
  'replit.app',
  'repl.co',
  'up.railway.app',
  'deno.dev',
  'surge.sh',
  'amplifyapp.com',
  'ondigitalocean.app',
];

/**
 * True when `host` is an app on a public web-app hosting platform (a name
 * under one of its domains, not the platform's own host): whoever runs it,
 * its category is the platform's, so it is judged as an uncategorized host.
 */
export function isSharedAppHost(host: string): boolean {
  let h = host.toLowerCase();
  if (h.endsWith('.')) h = h.slice(0, -1);
  for (const d of APP_HOSTING_DOMAINS) if (h.length > d.length + 1 && h.endsWith(d) && h.charCodeAt(h.length - d.length - 1) === 46) return true;
  return false;
}

/** isSharedAppHost per host string, remembered. */
const sharedAppHost = memoByHost(isSharedAppHost);

/** A bucket's own endpoint outside Azure: `bucket.s3.eu-west-1.amazonaws.com`, `acct.r2.cloudflarestorage.com` (Azure's: isAzureStorageHost). */
const BUCKET_HOST = /^[a-z0-9][a-z0-9.-]*\.(?:s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com|r2\.cloudflarestorage\.com)\.?$/;

/**
 * True when `host` is a storage account's (or bucket's) endpoint: anyone
 * opens one in minutes, beside the tenant's own, and the gateway's category
 * for it is the cloud's ("storage"), whoever owns it.
 */
export function isStorageAccountHost(host: string): boolean {
  const h = host.toLowerCase();
  return isAzureStorageHost(h.endsWith('.') ? h.slice(0, -1) : h) || BUCKET_HOST.test(h);
}

const storageAccountHost = memoByHost(isStorageAccountHost);

export interface GatewayThreatOptions {
  /** How long after a prompt injection a new destination is highly suspicious, ms. */
  armMs?: number;
  /** How long after a prompt injection a new destination is still suspicious (one severity lower), ms. */
  lateArmMs?: number;
  /** A kind of finding fires at most once per agent per this, ms. */
  cooldownMs?: number;
  /** A peer group's destination set counts once it has this much history (ms) and events. */
  learnMs?: number;
  learnMinEvents?: number;
  /** Destinations remembered per peer group. */
  maxDestinations?: number;
  /**
   * Calls to a host in a suspicious category (newly registered, dynamic DNS,
   * anonymizer, grayware, parked: see categories.ts) new to the blueprint:
   * low at the first, medium once beaconContacts of them, each at least
   * beaconSpacingMs after the last counted one, came from the agent while it
   * kept calling (a gap over beaconGapMs starts over). The host becomes the
   * blueprint's own once suspiciousAdoptAgents of its agents call it.
   */
  beaconContacts?: number;
  beaconSpacingMs?: number;
  beaconGapMs?: number;
  suspiciousAdoptAgents?: number;
  /**
   * The same for an uncategorized host new to the blueprint (once it has
   * learned): medium at uncategorizedBeaconContacts counted calls, each
   * within uncategorizedBeaconGapMs of the last (a regular loop; a pause
   * starts over), no low at the first call (new uncategorized hosts are
   * common).
   */
  uncategorizedBeaconContacts?: number;
  uncategorizedBeaconGapMs?: number;
  /**
   * A verdict on a host the blueprint used (see the header) waits this long
   * for sharedVerdictAgents of its agents to get the same verdict from that
   * host within sharedVerdictWindowMs, ms.
   */
  sharedVerdictConfirmMs?: number;
  sharedVerdictAgents?: number;
  sharedVerdictWindowMs?: number;
  /**
   * The same verdict kind on hosts their blueprints use, for this many agents
   * of this many blueprints of a tenant within sharedVerdictWindowMs: the
   * gateway's inspection changed (a new model, a policy switched on), not
   * content each of them read.
   */
  tenantVerdictAgents?: number;
  tenantVerdictBlueprints?: number;
  maxAgents?: number;
}

/** A call bringing in this much from a storage service is a download, not a beacon's poll (see onSuspiciousHost). */
const BEACON_MAX_BYTES = 1024 * 1024;

const DEFAULTS: Required<GatewayThreatOptions> = {
  armMs: 10 * 60_000,
  lateArmMs: 30 * 60_000,
  cooldownMs: 10 * 60_000,
  learnMs: 60 * 60_000,
  learnMinEvents: 50,
  maxDestinations: 1024,
  beaconContacts: 5,
  beaconSpacingMs: 45_000,
  beaconGapMs: 30 * 60_000,
  suspiciousAdoptAgents: 3,
  uncategorizedBeaconContacts: 8,
  uncategorizedBeaconGapMs: 3 * 60_000,
  sharedVerdictConfirmMs: 10 * 60_000,
  sharedVerdictAgents: 3,
  sharedVerdictWindowMs: 2 * 3_600_000,
  tenantVerdictAgents: 5,
  tenantVerdictBlueprints: 2,
  maxAgents: 2_000_000,
};

/** Verdicts on familiar hosts remembered per peer group (host, kind, agent hash, time in s). */
const MAX_SHARED_VERDICTS = 64;
/** Hosts first met with a verdict remembered per peer group. */
const MAX_VERDICT_HOSTS = 32;
/** Reported agents remembered per peer group. */
const MAX_REPORTED_CALLERS = 16;
/** Registries a group first pulled code from, kept (see GroupDest.rp). */
const MAX_FIRST_PULLS = 8;

/** Domains of published anti-malware and safe-browsing test files (every host under them). */
const TEST_FILE_DOMAINS = ['eicar.org', 'amtso.org', 'testsafebrowsing.appspot.com', 'wicar.org'];

/** True when `host` serves published security test files (see TEST_FILE_DOMAINS). */
export function isSecurityTestHost(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  return TEST_FILE_DOMAINS.some((d) => h === d || h.endsWith(`.${d}`));
}

/** A full-severity verdict waiting to see whether the blueprint shares it (see sharedVerdictConfirmMs). */
interface PendingVerdict extends DueItem {
  gid: string;
  hh: number;
  kind: number;
  d: Detection;
}

/** Callers remembered per peer group of hosts in suspicious categories (host, agent hash pairs). */
const MAX_SUSPICIOUS_CALLERS = 48;

const NEVER = Number.MIN_SAFE_INTEGER;

/** Kinds of finding (index into the per-agent cooldown array). */
const Kind = {
  InjectionBlocked: 0,
  InjectionAllowed: 1,
  Malware: 2,
  Phishing: 3,
  ThreatIntel: 4,
  Malicious: 5,
  NewDestAfterInjection: 6,
  SuspiciousHost: 7,
  Beacon: 8,
  ToolDownload: 9,
  NewDestAfterToolDownload: 10,
  Rebinding: 11,
} as const;
type Kind = (typeof Kind)[keyof typeof Kind];
const KINDS = 12;

/** A host new to the blueprint reached at a private address this soon after its public one is rebinding, ms. */
const REBIND_MS = 10 * 60_000;

/**
 * Cloud service domains whose names resolve to a private endpoint inside the
 * tenant's network and to a public address outside it (Azure Private Link,
 * AWS PrivateLink and VPC endpoints, Google Private Service Connect): a name
 * answering both ways there is the company's split DNS, not a rebinding.
 */
const SPLIT_DNS_SUFFIXES = ['.windows.net', '.azure.com', '.azure.net', '.azurecr.io', '.azure-api.net', '.azurewebsites.net', '.amazonaws.com', '.googleapis.com', '.microsoft.com', '.office.com', '.office365.com', '.internal', '.local', '.corp', '.lan', '.intranet', '.home.arpa'];
const splitDnsHost = memoByHost((host: string): boolean => {
  const h = host.toLowerCase();
  return SPLIT_DNS_SUFFIXES.some((x) => h.endsWith(x));
});

/**
 * File types that run: scripts and executables (as a gateway names a
 * download's type, by extension). What an agent's own work downloads from a
 * host nobody has categorized is data (json, csv, pdf...), not code.
 */
const RUNNABLE = new Set([
  'ps1', 'psm1', 'psd1', 'bat', 'cmd', 'vbs', 'vbe', 'wsf', 'hta', 'sh', 'bash', 'zsh', 'py', 'pl', 'jse', 'scpt', 'command', 'reg',
  'exe', 'dll', 'msi', 'msp', 'scr', 'com', 'cpl', 'lnk', 'elf', 'so', 'dylib', 'bin', 'run', 'appimage', 'jar', 'apk', 'deb', 'rpm', 'dmg', 'pkg',
  // Packages that install and run: Windows app packages, editor and browser extensions.
  'msix', 'appx', 'vsix', 'crx', 'xpi',
  // Disk images that carry an executable past the mark of the web.
  'iso', 'img', 'vhd', 'vhdx',
]);

/**
 * Packages of language registries and extension marketplaces: installing one
 * runs its hooks (setup.py, postinstall scripts) or its activation code (an
 * editor extension: GlassWorm, 2025, spread through Open VSX updates). From
 * a public registry the blueprint never used (a hallucinated or typosquatted
 * name installed by an agent's tool chain, an auto-updated extension), a
 * package is code fetched like a script.
 */
const PACKAGES = new Set(['whl', 'egg', 'gem', 'nupkg', 'crate', 'tgz', 'vsix', 'crx', 'xpi']);
const PACKAGE_REGISTRIES = new Set([
  'pypi.org', 'files.pythonhosted.org', 'registry.npmjs.org', 'registry.yarnpkg.com', 'rubygems.org', 'index.rubygems.org',
  'api.nuget.org', 'globalcdn.nuget.org', 'crates.io', 'static.crates.io', 'repo.packagist.org',
  'open-vsx.org', 'marketplace.visualstudio.com', 'addons.mozilla.org', 'clients2.google.com', 'clients2.googleusercontent.com',
]);

/**
 * Public container registries (and the blob hosts they redirect layer
 * downloads to). A container image pulled from one the blueprint never used
 * is code fetched like a package: a poisoned or typosquatted image runs
 * whatever its entrypoint says. The tenant's own registry (*.azurecr.io) and
 * Microsoft's curated one are not listed.
 */
const CONTAINER_REGISTRIES = new Set([
  'ghcr.io', 'pkg-containers.githubusercontent.com', 'docker.io', 'index.docker.io', 'registry-1.docker.io', 'production.cloudflare.docker.com',
  'quay.io', 'cdn.quay.io', 'cdn01.quay.io', 'cdn02.quay.io', 'cdn03.quay.io', 'public.ecr.aws', 'gcr.io', 'registry.gitlab.com',
]);
/** Bytes in from a container registry that make a pull of image layers, not a manifest or token lookup. */
const IMAGE_PULL_MIN_BYTES = 1 << 20;

/** True when a download is image layers from a public container registry (see CONTAINER_REGISTRIES). */
export function isPublicImagePull(host: string, bytesIn: number): boolean {
  return bytesIn >= IMAGE_PULL_MIN_BYTES && CONTAINER_REGISTRIES.has(host.toLowerCase());
}

/** True when a download is a package of a public language registry (see PACKAGES). */
export function isRegistryPackage(host: string, fileType: string | null): boolean {
  if (fileType === null) return false;
  const t = fileType.trim().toLowerCase();
  return PACKAGES.has(t.startsWith('.') ? t.slice(1) : t) && PACKAGE_REGISTRIES.has(host.toLowerCase());
}

/** True when a download's file type is a script or an executable (see RUNNABLE); any case, with or without a dot. */
export function isRunnableFileType(fileType: string | null): boolean {
  if (fileType === null) return false;
  const t = fileType.trim().toLowerCase();
  return RUNNABLE.has(t.startsWith('.') ? t.slice(1) : t);
}

interface GroupDest extends Timed {
  bp: string | null;
  /** First event time and events seen. */
  f: number;
  n: number;
  /** Destination host hash → last seen. */
  d: Map<number, number>;
  /** Calls to suspicious-category hosts not (yet) the group's: flat [host hash, agent hash] pairs, oldest first; absent until one. */
  sa?: number[];
  /** Verdicts on hosts the group used: flat [host hash, kind, agent hash, time (s)], oldest first; absent until one. */
  sv?: number[];
  /** Hosts the group first met with a verdict (not its own content, however often called since), oldest first; absent until one. */
  vh?: number[];
  /** Agents reported medium for a callback or a beacon (hashes), oldest first: not counted as a host's adopters; absent until one. */
  ra?: number[];
  /** Public registries the group first pulled code from (see isPublicImagePull): flat [host hash, first pull (s)], oldest first; absent until one. */
  rp?: number[];
}

interface AgentThreat extends Timed {
  /** Latest prompt injection: time, event id, host (NEVER when none). */
  pi: number;
  pid: string;
  phost: string;
  /** Latest destination new to the group: time, event id, host, blocked. */
  nt: number;
  nid: string;
  nhost: string;
  nblocked: boolean;
  /** Latest runnable download from an unvetted host new to the group: time, event id, host (NEVER when none). */
  ti: number;
  tid: string;
  thost: string;
  /** Last fire time per kind. */
  fired: number[];
  /**
   * The suspicious-category host the agent is watched calling (hash, 0 when
   * none), its name and category, the first call and its event id, the last
   * counted call and the counted calls (see beaconSpacingMs).
   */
  sh: number;
  shost: string;
  scat: string;
  sf: number;
  sid: string;
  sl: number;
  sc: number;
  /** The watched host is in a suspicious category (else uncategorized). */
  sus: boolean;
  /** The latest new destination (`nhost`) was first reached at a public address (absent in older snapshots). */
  npub?: boolean;
}

type GroupRow = Omit<GroupDest, 'd'> & { d: [number, number][] };

export const gatewayThreatMeta: DetectorMeta = {
  id: 'gateway-threat',
  title: 'Gateway threat verdict',
  severity: 'high',
  mitre: { id: 'T1071', name: 'Application Layer Protocol' },
  description:
    'The network gateway flagged an agent\'s traffic: malware, threat intelligence match or a hostile destination category (malicious, command and control, botnet, malicious websites, spyware/adware, ransomware, exploit kits... in any vendor spelling, each part of a joined category; high), ' +
    'phishing (the verdict, or a phishing or fraud category; medium, low when the gateway blocked it: a mail-triage agent fetching a reported link) or a prompt injection, blocked or not (medium), or a destination never contacted by ' +
    "the agent's blueprint reached within 10 minutes after a prompt injection (high; medium within 30 minutes). " +
    'A script or executable downloaded from an uncategorized, suspicious-category or content-delivery (anyone\'s files) host or an app on a public hosting platform the blueprint never used, or a package from a public language registry or a container image from a public container registry it never used (install hooks and entrypoints run), is low (ingress tool transfer), and a destination new to the blueprint within 10 minutes after it medium (low within 30 minutes): the fetched code calling home (the blueprint\'s other agents pulling from that registry within 30 minutes of the first are armed alike: a poisoned release rolled out to all); after a registry package, medium only for a host no feed has judged or one that takes files (uncategorized, suspicious, a hosting platform\'s app, a storage account, file sharing), a categorized host being what the installed code was asked to query. ' +
    'A host in a suspicious category (newly registered or observed domain, dynamic DNS, anonymizer or proxy avoidance, Tor, grayware, parked), where fresh attacker infrastructure sits before any feed lists it, ' +
    'that fewer than 3 agents of the blueprint call: low at the first call, medium when the agent keeps calling it (5 calls at least 45 s apart, a beacon; a download of 1 MiB or more from a storage service is not counted); ' +
    'an uncategorized host, an app on a public web-app hosting platform (azurewebsites.net, herokuapp.com, vercel.app, workers.dev...: the category is the platform\'s), or a storage account or bucket called without a token (a key or SAS: someone\'s queue polled for tasks), new to the blueprint that fewer than 3 of its agents call: medium when the agent calls it regularly (8 calls at least 45 s apart, each within 3 min of the last). ' +
    'A prompt injection, or blocked malware or threat intelligence, from a host the blueprint already used is low at once and at full severity 10 minutes later, unless 3 of its agents got the same verdict from that host within 2 hours (its own content flagged: an awareness page quoting injections, a signature false positive on its update package), or 5 agents of 2 or more of the tenant\'s blueprints got that kind of verdict on hosts they use (the gateway\'s inspection changed); a verdict on a published anti-malware test host (EICAR, AMTSO, Safe Browsing test pages) is low. ' +
    'A host new to the blueprint reached at a public address, then at a private one within 10 minutes, is DNS rebinding into the internal network: medium (not cloud service names with private endpoints).',
};

export function createGatewayThreatDetector(options: GatewayThreatOptions = {}): Detector {
  const o: Required<GatewayThreatOptions> = { ...DEFAULTS, ...options };
  const groups = new GroupStore<GroupDest>(o.maxAgents);
  const agents = new TenantMap<AgentThreat>(o.maxAgents);
  const pending = new DueQueue<PendingVerdict>(16_384);
  /** Per tenant, verdicts on hosts the blueprints used: flat [kind, agent hash, blueprint hash, time (s)], oldest first. */
  const tenantVerdicts = new Map<string, number[]>();

  function shareTenantVerdict(tenant: string, kind: number, ah: number, gid: string, t: number): void {
    let tv = tenantVerdicts.get(tenant);
    if (tv === undefined) tenantVerdicts.set(tenant, (tv = []));
    if (tv.length >= 4 * MAX_SHARED_VERDICTS) tv.splice(0, 4);
    tv.push(kind, ah, hashString(gid), Math.floor(t / 1000));
  }

  /** Whether tenantVerdictAgents agents of tenantVerdictBlueprints blueprints got verdicts of `kind` on their hosts around `now`. */
  function tenantWave(tenant: string, kind: number, now: number): boolean {
    const tv = tenantVerdicts.get(tenant);
    if (tv === undefined) return false;
    const span = o.sharedVerdictWindowMs / 1000;
    const agentsSeen: number[] = [];
    const blueprintsSeen: number[] = [];
    for (let i = 0; i < tv.length; i += 4) {
      if (tv[i] !== kind || Math.abs(tv[i + 3]! - now) > span) continue;
      if (!agentsSeen.includes(tv[i + 1]!)) agentsSeen.push(tv[i + 1]!);
      if (!blueprintsSeen.includes(tv[i + 2]!)) blueprintsSeen.push(tv[i + 2]!);
    }
    return agentsSeen.length >= o.tenantVerdictAgents && blueprintsSeen.length >= o.tenantVerdictBlueprints;
  }

  /**
   * Records the agent's verdict of `kind` from host `hh` (familiar to the
   * group); returns the distinct agents of the group with that verdict from
   * it within sharedVerdictWindowMs, this one included.
   */
  function shareVerdict(g: GroupDest, hh: number, kind: number, ah: number, t: number): number {
    const sv = g.sv ?? (g.sv = []);
    const now = Math.floor(t / 1000);
    if (sv.length >= 4 * MAX_SHARED_VERDICTS) sv.splice(0, 4);
    sv.push(hh, kind, ah, now);
    return sharedAgents(sv, hh, kind, now);
  }

  function sharedAgents(sv: number[], hh: number, kind: number, now: number): number {
    const span = o.sharedVerdictWindowMs / 1000;
    const seen: number[] = [];
    for (let i = 0; i < sv.length; i += 4) {
      if (sv[i] === hh && sv[i + 1] === kind && Math.abs(sv[i + 3]! - now) <= span && !seen.includes(sv[i + 2]!)) seen.push(sv[i + 2]!);
    }
    return seen.length;
  }

  /** A waiting verdict whose time came: at full severity unless the blueprint shares it by now. */
  function decideVerdict(p: PendingVerdict): Detection | null {
    const g = groups.get(p.tenant_id, p.gid);
    const now = Math.floor(p.d.time / 1000);
    if (g?.sv !== undefined && sharedAgents(g.sv, p.hh, p.kind, now) >= o.sharedVerdictAgents) return null;
    // The same verdicts across the tenant's blueprints, on their own hosts: the inspection changed.
    if (tenantWave(p.tenant_id, p.kind, now)) return null;
    return { ...p.d, time: p.due };
  }

  /**
   * A verdict of `kind` at `severity` on a host the group already used:
   * low at once; the full severity after sharedVerdictConfirmMs unless the
   * blueprint shares it (low for good once it does).
   */
  function familiarVerdict(a: AgentThreat, kind: Kind, e: NetworkEvent, g: GroupDest, gid: string, hh: number, severity: Severity, summary: string, evidence: Detection['evidence']): Detection | null {
    const shared = shareVerdict(g, hh, kind, hashString(e.agent_id) | 1, e.time);
    shareTenantVerdict(e.tenant_id, kind, hashString(e.agent_id) | 1, gid, e.time);
    if (shared >= o.sharedVerdictAgents) {
      pending.delete(e.tenant_id, e.agent_id);
      return fire(a, kind, e, 'low', `${summary}: the same verdict for ${shared} agents of its blueprint from a host it uses (shared content)`, evidence, [e.event_id]);
    }
    const d = fire(a, kind, e, 'low', `${summary}; ${severity} unless other agents of its blueprint get the same verdict from this host it uses within ${o.sharedVerdictConfirmMs / 60_000} min`, evidence, [e.event_id]);
    if (d !== null) pending.add({ tenant_id: e.tenant_id, agent_id: e.agent_id, due: e.time + o.sharedVerdictConfirmMs, gid, hh, kind, d: { ...d, severity, summary } });
    return d;
  }

  function agentState(e: NetworkEvent): AgentThreat {
    let a = agents.get(e.tenant_id, e.agent_id);
    if (!a) {
      a = {
        at: e.time,
        pi: NEVER,
        pid: '',
        phost: '',
        nt: NEVER,
        nid: '',
        nhost: '',
        nblocked: false,
        fired: new Array<number>(KINDS).fill(NEVER),
        sh: 0,
        shost: '',
        scat: '',
        sf: NEVER,
        sid: '',
        sl: NEVER,
        sc: 0,
        sus: true,
        ti: NEVER,
        tid: '',
        thost: '',
      };
      agents.set(e.tenant_id, e.agent_id, a);
    } else if (e.time > a.at) a.at = e.time;
    return a;
  }

  function prune(g: GroupDest): void {
    const lasts: number[] = [];
    for (const v of g.d.values()) lasts.push(v);
    lasts.sort((x, y) => x - y);
    const cut = lasts[Math.max(0, (lasts.length >> 2) - 1)]!;
    for (const [k, v] of g.d) if (v <= cut) g.d.delete(k);
  }

  /** Fires `kind` unless it fired for this agent within the cooldown. */
  function fire(
    a: AgentThreat,
    kind: Kind,
    e: NetworkEvent,
    severity: Severity,
    summary: string,
    evidence: Detection['evidence'],
    ids: string[],
  ): Detection | null {
    if (Math.abs(e.time - a.fired[kind]!) < o.cooldownMs) return null;
    a.fired[kind] = e.time;
    return { detector: gatewayThreatMeta.id, severity, tenant_id: e.tenant_id, agent_id: e.agent_id, time: e.time, summary, evidence, event_ids: ids };
  }

  function newDestDetection(a: AgentThreat, e: NetworkEvent, g: GroupDest | undefined): Detection | null {
    const soon = a.nt - a.pi <= o.armMs;
    const sev: Severity = a.nblocked ? (soon ? 'medium' : 'low') : soon ? 'high' : 'medium';
    return fire(
      a,
      Kind.NewDestAfterInjection,
      e,
      sev,
      `Agent ${e.agent_id} contacted ${a.nhost}, a destination its blueprint never used, ` +
        `${Math.round((a.nt - a.pi) / 1000)} s after a prompt injection from ${a.phost}`,
      {
        observed: { dest_host: a.nhost, time: a.nt, blocked: a.nblocked },
        baseline: { injection_time: a.pi, injection_host: a.phost, known_destinations: g?.d.size ?? 0 },
        threshold: `destination unknown to the peer group within ${o.armMs / 60_000} min (high) or ${o.lateArmMs / 60_000} min (medium) after a prompt injection`,
        peer_group: peerGroupName(g?.bp ?? e.blueprint_id) ?? `agent:${e.agent_id}`,
      },
      [a.pid, a.nid],
    );
  }

  /** A destination new to the group: recorded for the agent, and judged when it comes soon after a prompt injection. */
  function noveltyAfterInjection(e: NetworkEvent, g: GroupDest, hh: number): Detection | null {
    const t = e.time;
    const a = agentState(e);
    if (a.nhost !== e.dest_host) a.npub = e.dest_ip !== null && e.dest_ip !== e.dest_host && !isPrivateAddress(e.dest_ip);
    a.nt = t;
    a.nid = e.event_id;
    a.nhost = e.dest_host;
    a.nblocked = e.action === 'blocked';
    if (a.pi === NEVER || t < a.pi || t - a.pi > o.lateArmMs) return afterToolDownload(a, e, g, hh);
    // Contacted by an agent just injected: not a destination of the blueprint (were it learned, the
    // campaign's next victim among its agents would reach the same host unnoticed).
    g.d.delete(hh);
    return newDestDetection(a, e, g);
  }

  /** A destination new to the group soon after the agent downloaded a runnable file from an unvetted new host. */
  function afterToolDownload(a: AgentThreat, e: NetworkEvent, g: GroupDest, hh: number): Detection | null {
    const ti = a.ti;
    const t = e.time;
    if (ti === NEVER || t < ti || t - ti > o.lateArmMs || e.dest_host === a.thost) return null;
    g.d.delete(hh); // the callback's host is not learned as the blueprint's
    // After a package from a public registry (installed by the agent's tool chain, as a code
    // interpreter does), a host the gateway has a verdict for (government, news, business) is
    // what the installed code was asked to query: low. A hook's callback goes to a host no feed
    // has judged yet (uncategorized, newly registered, an app on a hosting platform, someone's
    // storage), or to one that takes files.
    const fromRegistry = PACKAGE_REGISTRIES.has(a.thost.toLowerCase()) || CONTAINER_REGISTRIES.has(a.thost.toLowerCase());
    const cat = categoryInfo(e.category);
    const callbackHost = cat.key === 'uncategorized' || cat.key === 'unknown' || cat.suspicious || cat.fileSharing || cat.malicious || sharedAppHost(e.dest_host) || storageAccountHost(e.dest_host);
    const soon = t - ti <= o.armMs && (!fromRegistry || callbackHost);
    return reported(g, e, fire(
      a,
      Kind.NewDestAfterToolDownload,
      e,
      soon ? 'medium' : 'low',
      `Agent ${e.agent_id} contacted ${e.dest_host}, a destination its blueprint never used, ${Math.round((t - ti) / 1000)} s after downloading a script or executable from ${a.thost}`,
      {
        observed: { dest_host: e.dest_host, category: e.category, time: t, action: e.action },
        baseline: { download_time: ti, download_host: a.thost, known_destinations: g.d.size },
        threshold: `destination unknown to the peer group within ${o.armMs / 60_000} min (medium) or ${o.lateArmMs / 60_000} min (low) after a runnable download from an unvetted host new to it`,
        peer_group: peerGroupName(g.bp ?? e.blueprint_id) ?? `agent:${e.agent_id}`,
      },
      [a.tid, e.event_id],
    ));
  }

  /**
   * A medium finding on what an agent fetched or calls: the agent no longer
   * counts among a host's callers that make it the blueprint's (adopted), so
   * the same implant reaching the blueprint's next agents is judged as on the
   * first (a poisoned release rolled out agent by agent).
   */
  function reported(g: GroupDest | undefined, e: NetworkEvent, d: Detection | null): Detection | null {
    if (d === null || d.severity === 'low' || g === undefined) return d;
    const ra = g.ra ?? (g.ra = []);
    const ah = hashString(e.agent_id) | 1;
    if (!ra.includes(ah)) {
      if (ra.length >= MAX_REPORTED_CALLERS) ra.shift();
      ra.push(ah);
    }
    return d;
  }

  /**
   * A download event delivered late, after the agent's latest new
   * destination: that destination, reached within lateArmMs after the
   * download, is its callback (as a late injection completes its finding).
   */
  function lateCallback(e: NetworkEvent, g: GroupDest): Detection | null {
    const a = agentState(e);
    if (a.nt === NEVER || a.nt < e.time || a.nt - e.time > o.lateArmMs || a.nhost === e.dest_host || a.ti !== e.time) return null;
    // The callback as it was seen (its category was not kept).
    const cb: NetworkEvent = { ...e, dest_host: a.nhost, time: a.nt, event_id: a.nid, category: 'unknown', file_type: null, action: a.nblocked ? 'blocked' : 'allowed' };
    return afterToolDownload(a, cb, g, hashString(a.nhost));
  }

  /** The agent fetched code (`e`): a destination new to the group soon after is judged as its callback (see afterToolDownload). */
  function arm(a: AgentThreat, e: NetworkEvent): void {
    if (a.ti === NEVER || e.time > a.ti) {
      a.ti = e.time;
      a.tid = e.event_id;
      a.thost = e.dest_host;
    }
  }

  /** Records the group's first pull of code from the public registry `hh`. */
  function firstPull(g: GroupDest, hh: number, t: number): void {
    const rp = g.rp ?? (g.rp = []);
    if (rp.length >= 2 * MAX_FIRST_PULLS) rp.splice(0, 2);
    rp.push(hh, Math.floor(t / 1000));
  }

  /** True when the group first pulled code from the registry `hh` within lateArmMs before `t`: a release still rolling out. */
  function rolloutPull(g: GroupDest, hh: number, t: number): boolean {
    const rp = g.rp;
    if (rp === undefined) return false;
    const now = Math.floor(t / 1000);
    for (let i = rp.length - 2; i >= 0; i -= 2) if (rp[i] === hh) return now - rp[i + 1]! <= o.lateArmMs / 1000;
    return false;
  }

  /**
   * A script or executable downloaded from an uncategorized,
   * suspicious-category or CDN host new to the group (once it has learned its
   * destinations): low, and the agent is armed (see afterToolDownload).
   */
  function onToolDownload(e: NetworkEvent, g: GroupDest): Detection | null {
    const a = agentState(e);
    arm(a, e);
    return fire(
      a,
      Kind.ToolDownload,
      e,
      'low',
      `Agent ${e.agent_id} downloaded ${e.file_type === null ? 'a container image' : `a ${e.file_type} file`} from ${e.dest_host} (category ${e.category}), a host its blueprint never used`,
      {
        observed: { dest_host: e.dest_host, category: e.category, file_type: e.file_type, bytes_in: e.bytes_in, action: e.action },
        baseline: { known_destinations: g.d.size },
        threshold: 'a script or executable from an uncategorized, suspicious-category or CDN host new to the peer group',
        peer_group: peerGroupName(g.bp ?? e.blueprint_id) ?? `agent:${e.agent_id}`,
      },
      [e.event_id],
    );
  }

  /**
   * True when suspiciousAdoptAgents agents of the group (this one included)
   * call the suspicious host `hh`: a deployment's dependency, not one
   * agent's implant. Records this agent's call either way.
   */
  function adoptedByGroup(g: GroupDest, hh: number, ah: number): boolean {
    const sa = g.sa ?? (g.sa = []);
    let callers = 0;
    let known = false;
    const ra = g.ra;
    for (let i = 0; i < sa.length; i += 2) {
      if (sa[i] !== hh) continue;
      if (sa[i + 1] === ah) known = true;
      // A caller reported for what it fetched or calls vouches for nothing.
      if (ra === undefined || !ra.includes(sa[i + 1]!)) callers++;
    }
    if (!known) {
      if (sa.length >= 2 * MAX_SUSPICIOUS_CALLERS) sa.splice(0, 2);
      sa.push(hh, ah);
      if (ra === undefined || !ra.includes(ah)) callers++;
    }
    return callers >= o.suspiciousAdoptAgents;
  }

  /** Counting of the agent's calls to its watched host starts (again) with `e`. */
  function firstCall(a: AgentThreat, e: NetworkEvent): void {
    a.sf = e.time;
    a.sid = e.event_id;
    a.sl = e.time;
    a.sc = 1;
  }

  /**
   * A call to a host in a suspicious category that the agent's blueprint
   * does not use: low at the first call, medium when the agent keeps calling
   * it (beaconing: beaconContacts calls spaced beaconSpacingMs apart).
   */
  function onSuspiciousHost(e: NetworkEvent, g: GroupDest, hh: number, uncategorized: boolean): Detection | null {
    const t = e.time;
    if (adoptedByGroup(g, hh, hashString(e.agent_id) | 1)) {
      g.d.set(hh, t); // learned as the blueprint's
      return null;
    }
    const a = agentState(e);
    const peer = peerGroupName(g.bp ?? e.blueprint_id) ?? `agent:${e.agent_id}`;
    const gap = uncategorized ? o.uncategorizedBeaconGapMs : o.beaconGapMs;
    if (a.sh !== hh) {
      // Watch the new host unless another one is being watched and still called (an uncategorized
      // one only while it keeps its loop: a host in a suspicious category comes first).
      const watchedSuspicious = a.sus;
      const watchedGap = watchedSuspicious ? o.beaconGapMs : o.uncategorizedBeaconGapMs;
      if (a.sh !== 0 && t - a.sl <= watchedGap && (uncategorized || watchedSuspicious)) return null;
      a.sh = hh;
      a.shost = e.dest_host;
      a.scat = e.category;
      a.sus = !uncategorized;
      firstCall(a, e);
      if (uncategorized) return null;
      return fire(
        a,
        Kind.SuspiciousHost,
        e,
        'low',
        `Agent ${e.agent_id} called ${e.dest_host}, a host in category ${e.category} that its blueprint does not use (${e.action})`,
        {
          observed: { dest_host: e.dest_host, category: e.category, action: e.action, dest_ip: e.dest_ip },
          baseline: { known_destinations: g.d.size },
          threshold: `a host in a suspicious category (newly registered, dynamic DNS, anonymizer, grayware...) not called by ${o.suspiciousAdoptAgents} agents of the blueprint`,
          peer_group: peer,
        },
        [e.event_id],
      );
    }
    if (t - a.sl > gap) {
      firstCall(a, e); // a pause: counting starts over
      return null;
    }
    if (t - a.sl < o.beaconSpacingMs) return null; // the same burst (or a late call)
    // A download of a megabyte or more from a storage service (a dataset fetched file after file from a
    // partner's bucket) is a job's pace, not a beacon's. It keeps the watch alive (bulk-collection judges
    // downloads). Uploads still count (results pushed to a new host on a loop are the drop's own beacon),
    // and so do downloads from anything else (table dumps pulled through a new gateway).
    if (e.bytes_in >= BEACON_MAX_BYTES && categoryInfo(e.category).storage) {
      a.sl = t;
      return null;
    }
    a.sl = t;
    a.sc++;
    if (a.sc < (uncategorized ? o.uncategorizedBeaconContacts : o.beaconContacts)) return null;
    return reported(g, e, fire(
      a,
      Kind.Beacon,
      e,
      'medium',
      `Agent ${e.agent_id} keeps calling ${e.dest_host} (category ${a.scat}), a host its blueprint does not use: ${a.sc} calls over ${Math.round((t - a.sf) / 60_000)} min (beaconing)`,
      {
        observed: { dest_host: e.dest_host, category: a.scat, calls: a.sc, first_call: a.sf, span_s: Math.round((t - a.sf) / 1000), action: e.action },
        baseline: { known_destinations: g.d.size },
        threshold: uncategorized
          ? `${o.uncategorizedBeaconContacts} calls at least ${o.beaconSpacingMs / 1000} s apart, each within ${o.uncategorizedBeaconGapMs / 60_000} min of the last, to an uncategorized host (or an app on a public hosting platform) new to the blueprint and not called by ${o.suspiciousAdoptAgents} of its agents`
          : `${o.beaconContacts} calls at least ${o.beaconSpacingMs / 1000} s apart to a host in a suspicious category not called by ${o.suspiciousAdoptAgents} agents of the blueprint`,
        peer_group: peer,
      },
      [a.sid, e.event_id],
    ));
  }

  /**
   * DNS rebinding: the host the agent last reached as new to its blueprint,
   * first at a public address, now answering with a private one within
   * minutes. An attacker's name server switches its short-lived answer to an
   * address inside the network, and the agent's browser or HTTP tool, still
   * "talking to the same site", reaches an internal service (an MCP server
   * on the VNet trusting its network) for the attacker's script. Cloud
   * service names answer privately inside (private endpoints): not judged.
   */
  function rebinding(e: NetworkEvent): Detection | null {
    const a = agents.get(e.tenant_id, e.agent_id);
    if (a === undefined || a.nhost !== e.dest_host || a.npub !== true || e.time - a.nt > REBIND_MS || e.time < a.nt || splitDnsHost(e.dest_host)) return null;
    return fire(
      a,
      Kind.Rebinding,
      e,
      'medium',
      `Agent ${e.agent_id} reached ${e.dest_host} at the private address ${e.dest_ip}:${e.dest_port}, ${formatDuration(e.time - a.nt)} after reaching it, new to its blueprint, at a public address: DNS rebinding into the internal network`,
      {
        observed: { dest_host: e.dest_host, private_ip: e.dest_ip, dest_port: e.dest_port, first_seen_public: new Date(a.nt).toISOString() },
        baseline: null,
        threshold: `a host new to the blueprint answering with a private address within ${REBIND_MS / 60_000} min of a public one (not a cloud service's private endpoint)`,
        peer_group: peerGroupName(e.blueprint_id) ?? `agent:${e.agent_id}`,
      },
      [a.nid, e.event_id],
    );
  }

  function onNetwork(e: NetworkEvent, ctx: DetectorContext): Detection[] {
    // Rebinding is judged before this event makes the host the agent's latest new destination.
    const rebound = e.dest_ip !== null && e.dest_ip !== e.dest_host && isPrivateAddress(e.dest_ip) ? rebinding(e) : null;
    const out = judge(e, ctx);
    return rebound === null ? out : out.length === 0 ? [rebound] : [rebound, ...out];
  }

  function judge(e: NetworkEvent, ctx: DetectorContext): Detection[] {
    const t = e.time;
    const gid = peerGroupId(e.blueprint_id, e.agent_id);
    let g = groups.find(ctx, e.tenant_id, gid);
    if (!g) {
      g = { at: t, bp: e.blueprint_id, f: t, n: 0, d: new Map() };
      groups.set(e.tenant_id, gid, g);
    } else {
      if (t > g.at) g.at = t;
      if (t < g.f) g.f = t;
    }
    g.n++;
    const hh = hashString(e.dest_host);
    const seen = g.d.get(hh);
    const cat = categoryInfo(e.category);
    // A gateway that gives phishing only as the destination's category means the phishing verdict.
    const threat = e.threat === 'none' && cat.phishing ? 'phishing' : e.threat;
    const malicious = cat.malicious;
    const learned = t - g.f >= o.learnMs && g.n >= o.learnMinEvents;
    // A suspicious-category host is not learned as the blueprint's by being called (see onSuspiciousHost);
    // nor, once the blueprint has learned its destinations, is an uncategorized one.
    // An app on a public hosting platform new to the blueprint is judged so too (see isSharedAppHost),
    // and so is a storage account new to it called without a token (a key or SAS, not the agent's
    // identity: the tenant's own storage takes its Entra tokens; a queue polled for tasks is C2).
    // An address of Microsoft 365's own ranges (a Teams media relay has no host name) is no stranger;
    // nor is the endpoint of an agent of the caller's own tenant (an orchestrator tasking the workers
    // its tenant just created, each on its own container app).
    const uncategorized =
      !cat.suspicious &&
      learned &&
      e.action === 'allowed' &&
      ((cat.key === 'uncategorized' && !microsoft365Host(e.dest_host) && (e.dest_ip === null || !isMicrosoft365Address(e.dest_ip))) ||
        (seen === undefined && (sharedAppHost(e.dest_host) || (e.token_id === null && storageAccountHost(e.dest_host))))) &&
      (e.dest_agent_id === null || ctx.agent(e.tenant_id, e.dest_agent_id) === undefined);
    const suspicious = seen === undefined && (cat.suspicious || uncategorized) && threat === 'none' && !malicious;
    // A runnable file from a host nobody vetted, or code from a public registry (a language package,
    // container image layers), new to the blueprint (see onToolDownload).
    const download = threat === 'none' && !malicious && e.action === 'allowed' && e.bytes_in > e.bytes_out && learned;
    const registryPull = download && (isRegistryPackage(e.dest_host, e.file_type) || isPublicImagePull(e.dest_host, e.bytes_in));
    const tool =
      seen === undefined && download && (registryPull || ((cat.suspicious || cat.cdn || cat.key === 'uncategorized' || sharedAppHost(e.dest_host)) && isRunnableFileType(e.file_type)));
    if (seen === undefined) {
      if (!suspicious) {
        if (g.d.size >= o.maxDestinations) prune(g);
        g.d.set(hh, t);
      }
      if (tool && registryPull) firstPull(g, hh, t);
    } else {
      if (t - seen > 60_000) g.d.set(hh, t); // last-seen to the minute: spares a map write per event
      // The same release reaching the blueprint's other agents: each is armed as the first was (a
      // poisoned image rolled out to all of them calls home from each).
      if (registryPull && rolloutPull(g, hh, t)) arm(agentState(e), e);
    }

    if (tool) {
      const found: Detection[] = [];
      const d = onToolDownload(e, g);
      if (d) found.push(d);
      // Before the download is recorded as the agent's latest new destination: the one it may have armed.
      const late = lateCallback(e, g);
      if (late) found.push(late);
      // A new destination itself (after an injection: the injection's finding).
      const n = noveltyAfterInjection(e, g, hh);
      if (n) found.push(n);
      const b = suspicious ? onSuspiciousHost(e, g, hh, uncategorized) : null;
      if (b) found.push(b);
      return found.length ? found : NO_DETECTIONS;
    }
    if (suspicious) {
      const d = onSuspiciousHost(e, g, hh, uncategorized);
      // A host the group now uses (adopted) is no novelty; otherwise it is judged as one below too.
      if (g.d.has(hh)) return d ? [d] : NO_DETECTIONS;
      const n = t - g.f < o.learnMs || g.n < o.learnMinEvents ? null : noveltyAfterInjection(e, g, hh);
      return d && n ? [d, n] : d ? [d] : n ? [n] : NO_DETECTIONS;
    }
    if (threat === 'none' && !malicious) {
      // Novelty (only once the group has learned its destinations).
      if (seen !== undefined || t - g.f < o.learnMs || g.n < o.learnMinEvents) return NO_DETECTIONS;
      const d = noveltyAfterInjection(e, g, hh);
      return d ? [d] : NO_DETECTIONS;
    }

    const a = agentState(e);
    const blocked = e.action === 'blocked';
    const peer = peerGroupName(e.blueprint_id) ?? `agent:${e.agent_id}`;
    const evidence = (what: string): Detection['evidence'] => ({
      observed: { threat: e.threat, category: e.category, action: e.action, dest_host: e.dest_host, dest_ip: e.dest_ip, file_type: e.file_type },
      baseline: null,
      threshold: what,
      peer_group: peer,
    });
    const out: Detection[] = [];
    let d: Detection | null = null;
    const verb = blocked ? 'blocked' : 'allowed';
    // A host the blueprint used before this event (see familiarVerdict); a published test-file host (low).
    const familiar = seen !== undefined && learned && (g.vh === undefined || !g.vh.includes(hh));
    if (seen === undefined) {
      const vh = g.vh ?? (g.vh = []);
      if (vh.length >= MAX_VERDICT_HOSTS) vh.shift();
      vh.push(hh);
    }
    const testHost = threat !== 'prompt_injection' && isSecurityTestHost(e.dest_host);
    const verdict = (kind: Kind, severity: Severity, summary: string, what: string, shareable: boolean): Detection | null => {
      if (testHost) return fire(a, kind, e, 'low', `${summary}: a published anti-malware test host (a gateway check or a scanner)`, evidence(what), [e.event_id]);
      if (shareable && familiar) return familiarVerdict(a, kind, e, g!, gid, hh, severity, summary, evidence(what));
      return fire(a, kind, e, severity, summary, evidence(what), [e.event_id]);
    };
    switch (threat) {
      case 'malware':
        d = verdict(Kind.Malware, 'high', `Gateway found malware in traffic of agent ${e.agent_id} with ${e.dest_host} (${verb})`, 'gateway verdict malware', blocked);
        break;
      case 'threat_intel':
        d = verdict(Kind.ThreatIntel, 'high', `Agent ${e.agent_id} contacted ${e.dest_host}, listed by threat intelligence (${verb})`, 'gateway verdict threat_intel', blocked);
        break;
      case 'phishing':
        // Blocked: low. Agents that triage mail or crawl the web fetch reported phishing links by
        // their work, and the gateway stopped it; a page that loaded is medium.
        d = verdict(Kind.Phishing, blocked ? 'low' : 'medium', `Agent ${e.agent_id} reached phishing destination ${e.dest_host} (${verb})`, e.threat === 'phishing' ? 'gateway verdict phishing' : `destination category ${e.category}`, false);
        break;
      case 'prompt_injection': {
        d = blocked
          ? verdict(Kind.InjectionBlocked, 'medium', `Gateway blocked a prompt injection to agent ${e.agent_id} from ${e.dest_host}`, 'gateway verdict prompt_injection (blocked)', true)
          : verdict(Kind.InjectionAllowed, 'medium', `A prompt injection from ${e.dest_host} reached agent ${e.agent_id} (not blocked)`, 'gateway verdict prompt_injection (allowed)', true);
        if (t > a.pi) {
          a.pi = t;
          a.pid = e.event_id;
          a.phost = e.dest_host;
        }
        break;
      }
      default:
        break;
    }
    if (d) out.push(d);
    if (malicious && threat !== 'malware' && threat !== 'threat_intel') {
      const m = verdict(Kind.Malicious, 'high', `Agent ${e.agent_id} contacted malicious destination ${e.dest_host} (category ${e.category}, ${verb})`, `destination category ${e.category}`, false);
      if (m) out.push(m);
    }
    // A late injection event completes a new destination seen just after it.
    if (threat === 'prompt_injection' && a.nt !== NEVER && a.nt >= t && a.nt - t <= o.lateArmMs && a.nhost !== e.dest_host && a.pi === t) {
      g.d.delete(hashString(a.nhost));
      const n = newDestDetection(a, e, g);
      if (n) out.push(n);
    }
    return out.length ? out : NO_DETECTIONS;
  }

  return {
    types: ['network'] as const,
    meta: gatewayThreatMeta,
    observe(e: AgentEvent, ctx: DetectorContext): Detection[] {
      return e.type === 'network' ? onNetwork(e, ctx) : NO_DETECTIONS;
    },
    advance: (watermark: number): Detection[] => pending.takeDue(watermark, decideVerdict),
    settle: (): Detection[] => pending.takeDue(Infinity, decideVerdict),
    evict(before: number): void {
      groups.evict(before);
      agents.evict(before);
      pending.evict(before);
      // A tenant whose latest verdict is older than the horizon is forgotten.
      const cut = Math.floor(before / 1000);
      for (const [t, tv] of tenantVerdicts) if (tv.length === 0 || tv[tv.length - 1]! < cut) tenantVerdicts.delete(t);
    },
    size(): number {
      return groups.size + agents.size + pending.size;
    },
    snapshot(): unknown {
      const rows: [string, string, GroupRow][] = [];
      for (const [t, id, g] of groups.entries()) rows.push([t, id, { at: g.at, bp: g.bp, f: g.f, n: g.n, d: [...g.d], ...(g.sa ? { sa: g.sa } : {}), ...(g.sv ? { sv: g.sv } : {}), ...(g.vh ? { vh: g.vh } : {}), ...(g.ra ? { ra: g.ra } : {}), ...(g.rp ? { rp: g.rp } : {}) }]);
      return clone({ version: 1, groups: rows, agents: agents.snapshot(), pending: pending.snapshot(), tenantVerdicts: [...tenantVerdicts] });
    },
    restore(snapshot: unknown): void {
      const s = clone(snapshot) as { version: number; groups: [string, string, GroupRow][]; agents: [string, string, AgentThreat][]; pending?: PendingVerdict[]; tenantVerdicts?: [string, number[]][] };
      if (s?.version !== 1) throw new Error('gateway-threat: unsupported snapshot');
      groups.restore(s.groups.map(([t, id, g]) => [t, id, { ...g, d: new Map(g.d) }]));
      pending.restore(s.pending);
      tenantVerdicts.clear();
      for (const [t, tv] of s.tenantVerdicts ?? []) tenantVerdicts.set(t, tv);
      // Agents from snapshots before suspicious hosts were watched: no host watched, and room for the new kinds.
      agents.restore(
        s.agents.map(([t, id, a]): [string, string, AgentThreat] => [
          t,
          id,
          {
            ...a,
            fired: a.fired.length >= KINDS ? a.fired : [...a.fired, ...new Array<number>(KINDS - a.fired.length).fill(NEVER)],
            sh: a.sh ?? 0,
            shost: a.shost ?? '',
            scat: a.scat ?? '',
            sf: a.sf ?? NEVER,
            sid: a.sid ?? '',
            sl: a.sl ?? NEVER,
            sc: a.sc ?? 0,
            sus: a.sus ?? true,
            ti: a.ti ?? NEVER,
            tid: a.tid ?? '',
            thost: a.thost ?? '',
          },
        ]),
      );
    },
  };
}

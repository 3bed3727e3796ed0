// Detector 17 — lookalike-destination: an agent contacts a host made to look
// like one its tenant's agents already use (T1583.001 Acquire Infrastructure:
// Domains): `contos0backup.blob.core.windows.net` beside
// `contosobackup.blob.core.windows.net`, `api.open-ai.com` beside
// `api.openai.com`, `githib.com` beside `github.com`.
//
// Software does not mistype a host. When an agent reaches a near-copy of a
// destination its tenant knows, the name came from somewhere an attacker
// could write: a poisoned configuration or dependency, an instruction
// injected into a document or an issue the agent read, a tool description
// of a rogue MCP server. Typosquats are how such a redirect hides among the
// agent's usual destinations, and a slow drip of data to one stays under
// every volume threshold: so the name itself is the evidence.
//
// Per tenant, the destinations its agents use are learned; a destination is
// established once 2 agents used it, or one agent over 2 hours. A host new
// to the tenant is compared with the established ones (and again when more
// become established) and is a look-alike when it has their shape (the same
// labels but one) and that one label is:
// - the same under homoglyphs (0/o, 1/l/i, 5/s, 3/e, rn/m, vv/w, cl/d), in a
//   label of at least 4 characters;
// - one edit away (a character changed, added, dropped, or two swapped),
//   in a label (or, in hyphenated labels differing in one word, that word)
//   of at least 5 characters (the known one; the copy may be 4); two edits in one of at least 10;
// - or a top-level domain mistyped (`.co`, `.cm`, `.om`, `.con` for `.com`);
// or when it is an internationalized name (labels in punycode, `xn--` on the
// wire) that reads as one of them on screen: letters of another script that
// render as Latin ones (`tailspіn.com` with a Cyrillic і), accents dropped,
// compared as that Latin host (a homograph attack);
// or when two of its labels are merged into one (`mcp-tailspin.com` for
// `mcp.tailspin.com`: another registrable domain, anyone's to register).
// A host that differs only below a registrable domain of the tenant's own
// (one it runs 3 established destinations under, not a cloud's or a SaaS's
// shared namespace, see domains.ts) can only have been created by the
// tenant (or by someone who holds its DNS): `ticket.contoso.com` beside
// `tickets.contoso.com` is a rename when 3 agents take it up within 5
// minutes of its first contact (every caller switching to the new name);
// contacts with it wait those 5 minutes before they are reported.
// Not a look-alike: a host named in an internal namespace (`.local`,
// `.internal`, `.corp`: on no public suffix list) or first reached at a
// private address (no one outside the network can create it); labels that differ only in digits (numbered instances:
// `worker-1`, `worker-2`), in one short hyphen-separated word (`-eu`/`-us`,
// `api`/`app`, `v1`/`v2`), in region and environment words
// (`eastus`/`westus`, `dev`/`prod`), or in the short region codes that end
// one name in two places (`backupae`/`backupase`, `logseus`/`logsweu`): a
// fleet's own naming schemes.
// A look-alike is never established, so every agent that reaches it is
// judged. Each contact of an agent: low (once per host per day); data sent
// to look-alikes, at least 64 KiB within 24 hours (a document, a mailbox
// page), or a bearer token presented to one (a client pointed at the copy
// of its API hands it the token with every request): medium (the agent is
// leaking). Calls to other agents (dest_agent_id) are not judged.
//
// State: per tenant its destinations (at most 4096, the least recently used
// forgotten first), a few numbers each; per agent that reached a look-alike,
// its sums.

import { domainToUnicode } from 'node:url';
import type { AgentEvent, NetworkEvent } from '../contract/events.js';
import type { Detection, DetectorMeta } from './types.js';
import { formatDuration, type Detector } from './detector.js';
import { NO_DETECTIONS, TenantMap, clone, hashString, type Timed } from './agent-directory.js';
import { isInternalName, sameOwnedDomain } from './domains.js';
import { isPrivateAddress } from './addresses.js';
import { DueQueue, type DueItem } from './due-queue.js';

export interface LookalikeDestinationOptions {
  /** A destination used by one agent this long (first to last use) is established, ms. */
  establishMs?: number;
  /** Distinct agents that make a destination established. */
  establishAgents?: number;
  /** Destinations remembered per tenant. */
  maxHostsPerTenant?: number;
  /** Bytes sent to look-alikes within `windowMs` that make medium. */
  leakBytes?: number;
  windowMs?: number;
  /** Established destinations under a registrable domain that make it the tenant's own. */
  ownDomainHosts?: number;
  /** Agents that make a host one label off another of the tenant's own domain a rename, within this long of its first contact, ms. */
  ownDomainAgents?: number;
  confirmMs?: number;
  maxAgents?: number;
}

const DEFAULTS: Required<LookalikeDestinationOptions> = {
  establishMs: 2 * 3_600_000,
  establishAgents: 2,
  maxHostsPerTenant: 4096,
  leakBytes: 64 * 1024,
  windowMs: 24 * 3_600_000,
  ownDomainHosts: 3,
  ownDomainAgents: 3,
  confirmMs: 5 * 60_000,
  maxAgents: 1_000_000,
};

/** One destination of a tenant. */
interface HostEntry {
  first: number;
  last: number;
  /** Hashes of the first two agents that used it (0 = none yet). */
  a1: number;
  a2: number;
  /** Label count and top-level label: what a host must share to be compared with it. */
  labels: number;
  established: boolean;
  /** Established destinations compared with (an index into the tenant's list, see `checkedGen`). */
  checked: number;
  checkedGen: number;
  /** The established destination it imitates, and how; null when none. */
  imitates: string | null;
  edit: string;
  /**
   * It imitates a host of a domain of the tenant's own (see ownSibling): a
   * rename when `ownDomainAgents` agents take it up within `confirmMs` of
   * its first contact; contacts wait that long to be reported. Hash of a
   * third agent (0 = none yet).
   */
  own?: boolean;
  a3?: number;
  /** An internationalized (xn--) name: the Latin host it reads as (see latinSkeleton), compared in its place. */
  sk?: string;
  /**
   * Named in an internal namespace (see isInternalName) or first reached at a
   * private address: no one outside the network can create it, so it
   * imitates nothing (SWIFT's saa01 and sag01 are two products' hosts).
   */
  int?: boolean;
}

/** A contact with a look-alike under the tenant's own domain, waiting to see whether it is a rename. */
interface HeldContact extends DueItem {
  host: string;
  detection: Detection;
}

interface TenantHosts extends Timed {
  hosts: Map<string, HostEntry>;
  /** Established destinations in the order they became so (appended; rebuilt on pruning, which bumps `gen`). */
  established: string[];
  gen: number;
}

/** Per agent that reached a look-alike. */
interface AgentLeak extends Timed {
  /** Bytes sent to look-alikes since `since` (the window restarts when it has passed). */
  bytes: number;
  since: number;
  /** Last low per host (host → time) and the last medium. */
  lows: Record<string, number>;
  medium: number;
  ids: string[];
}

export const lookalikeDestinationMeta: DetectorMeta = {
  id: 'lookalike-destination',
  title: 'Contact with a look-alike of a known destination',
  severity: 'medium',
  mitre: { id: 'T1583.001', name: 'Acquire Infrastructure: Domains' },
  description:
    'An agent reaches a host new to its tenant that imitates one the tenant\'s agents use (established: 2 agents, or one over 2 hours): the same labels but one, and that one the same under homoglyphs (0/o, 1/l/i, rn/m...), one edit away in a label of at least 5 characters (two in one of at least 10), or a mistyped top-level domain (.co for .com); or two of its labels merged into one (mcp-tailspin.com for mcp.tailspin.com); or an internationalized (xn--) name that reads as it on screen (a Cyrillic і for an i). ' +
    'Software does not mistype a host: the name came from a poisoned configuration, an injected instruction or a rogue tool. Low on each agent\'s contact; medium once it sends at least 64 KiB to look-alikes within 24 hours, or presents a bearer token to one. ' +
    'Hosts named in an internal namespace (.local, .internal, .corp: on no public suffix list) or reached at a private address imitate nothing: no one outside the network can create them. Labels that differ only in digits, in one short hyphen-separated word (-eu/-us, v1/v2) in region and environment words (eastus/westus, dev/prod) or in short region codes ending one name (backupae/backupase) are a fleet\'s naming scheme, not a look-alike; calls to other agents are not judged. A host one label off another under a domain of the tenant\'s own (3 of its established destinations are under it, and it is no cloud\'s or SaaS\'s shared namespace: ticket.contoso.com beside tickets.contoso.com) is a rename when 3 agents take it up within 5 minutes of its first contact; contacts with it are reported after those 5 minutes.',
};

// ---------------------------------------------------------------------------
// Similarity of host names (pure; exported for tests)

/** Characters that pass for one another in a host name, mapped to one form (multi-character forms first). */
const HOMOGLYPH_PAIRS: [RegExp, string][] = [
  [/rn/g, 'm'],
  [/vv/g, 'w'],
  [/cl/g, 'd'],
  [/0/g, 'o'],
  [/[1i]/g, 'l'],
  [/5/g, 's'],
  [/3/g, 'e'],
];

function homoglyphForm(label: string): string {
  let s = label;
  for (const [re, to] of HOMOGLYPH_PAIRS) s = s.replace(re, to);
  return s;
}

/** Words of region and environment names that fleets vary in host names. */
const NAMING_WORDS = /east|west|north|south|central|europe|asia|japan|india|brazil|canada|australia|korea|france|germany|uk|us|eu|ap|dev|test|prod|stag(?:e|ing)|qa|uat|canary|blue|green|primary|secondary|internal|staging/g;

/**
 * Short region codes that cloud naming conventions end resource names with
 * (Azure's: `eus2`, `weu`, `ae`/`ase`; AWS's: `use1`, `apse2`), and `dr` for
 * a failover copy. Storage account names allow no hyphen, so the code is
 * glued to the name: `kiobackupae` and `kiobackupase` are one backup in two
 * regions, one character apart.
 */
const REGION_CODES = [
  'eus', 'eus2', 'wus', 'wus2', 'wus3', 'cus', 'ncus', 'scus', 'wcus', 'use', 'usw', 'usc', 'cac', 'cae', 'brs', 'brse', 'mxc',
  'weu', 'neu', 'uks', 'ukw', 'frc', 'frs', 'gwc', 'gn', 'swn', 'sww', 'sdc', 'sds', 'noe', 'now', 'itn', 'plc', 'chn', 'chw', 'spc',
  'ae', 'ase', 'aue', 'ause', 'auc', 'auc2', 'ea', 'sea', 'jpe', 'jpw', 'krc', 'krs', 'inc', 'ins', 'inw', 'cin', 'sin',
  'zan', 'zaw', 'uaen', 'uaec', 'qac', 'ilc',
  'use1', 'use2', 'usw1', 'usw2', 'euw1', 'euw2', 'euw3', 'euc1', 'euc2', 'eun1', 'eus1', 'aps1', 'aps2', 'apse1', 'apse2', 'apse3', 'apne1', 'apne2', 'apne3', 'cac1', 'sae1', 'mes1', 'afs1',
  'dr',
];

/** Stems of a label that ends with a region code (digits after it aside), stems of 4 characters or more. */
function regionStems(label: string): string[] {
  const l = label.replace(/\d+$/, '');
  const out: string[] = [];
  for (const c of REGION_CODES) {
    const at = label.endsWith(c) ? label.length - c.length : l.length > 0 && l !== label && l.endsWith(c) ? l.length - c.length : -1;
    if (at >= 4) out.push(label.slice(0, at));
  }
  return out;
}

/** Labels that are one name with two region codes (see REGION_CODES): siblings, not a copy. */
function regionSiblings(a: string, b: string): boolean {
  const sa = regionStems(a);
  if (sa.length === 0) return false;
  for (const x of regionStems(b)) if (sa.includes(x)) return true;
  return false;
}

const TLD_TYPOS: Record<string, readonly string[]> = {
  com: ['co', 'cm', 'om', 'con', 'comm', 'cpm'],
  net: ['ne', 'nt', 'et', 'nett'],
  org: ['or', 'og', 'rg', 'orgg'],
};

/** Optimal string alignment distance of a and b, or 3 when it is more than 2 (all that matters here). */
export function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  const n = a.length;
  const m = b.length;
  let prev2: number[] = new Array<number>(m + 1).fill(0);
  let prev: number[] = Array.from({ length: m + 1 }, (_, j) => j);
  let cur: number[] = new Array<number>(m + 1).fill(0);
  for (let i = 1; i <= n; i++) {
    cur[0] = i;
    let rowMin = cur[0];
    for (let j = 1; j <= m; j++) {
      const cost = a.charCodeAt(i - 1) === b.charCodeAt(j - 1) ? 0 : 1;
      let v = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + cost);
      if (i > 1 && j > 1 && a.charCodeAt(i - 1) === b.charCodeAt(j - 2) && a.charCodeAt(i - 2) === b.charCodeAt(j - 1)) v = Math.min(v, prev2[j - 2]! + 1);
      cur[j] = v;
      if (v < rowMin) rowMin = v;
    }
    if (rowMin > 2) return 3;
    [prev2, prev, cur] = [prev, cur, prev2];
  }
  return Math.min(prev[m]!, 3);
}

/** How a label differs from another by one edit (for the summary). */
function editKind(a: string, b: string): string {
  if (a.length === b.length + 1) return 'a character added';
  if (a.length + 1 === b.length) return 'a character dropped';
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return i + 1 < a.length && a[i] === b[i + 1] && a[i + 1] === b[i] ? 'two characters swapped' : 'a character changed';
}

/**
 * The one hyphen-separated word in which labels a and b differ, as
 * [a's, b's], or null when they have different word counts or differ in
 * more than one word (then the labels are compared whole).
 */
function differingWord(a: string, b: string): [string, string] | null {
  const wa = a.split('-');
  const wb = b.split('-');
  if (wa.length !== wb.length || wa.length < 2) return null;
  let diff = -1;
  for (let i = 0; i < wa.length; i++) {
    if (wa[i] === wb[i]) continue;
    if (diff >= 0) return null;
    diff = i;
  }
  return diff < 0 ? null : [wa[diff]!, wb[diff]!];
}

/**
 * How the label `a` of a new host imitates the label `b` of a known one
 * (`last`: they are top-level domains), or null when it does not.
 */
export function labelImitation(a: string, b: string, last: boolean): string | null {
  if (a === b) return null;
  if (last) return TLD_TYPOS[b]?.includes(a) ? `.${a} for .${b}` : null;
  if (a.replace(/\d+/g, '') === b.replace(/\d+/g, '')) return null; // numbered instances
  if (Math.min(a.length, b.length) >= 4 && homoglyphForm(a) === homoglyphForm(b)) return 'look-alike characters';
  if (a.replace(NAMING_WORDS, '*') === b.replace(NAMING_WORDS, '*')) return null; // regions, environments
  if (regionSiblings(a, b)) return null; // `backupae`/`backupase`: one account per region
  // A typo is within a word: `mcp-gitlab` is not two edits from `mcp-github` but another word,
  // and a short word swapped (`-eu`/`-us`, `api`/`app`, `v1`/`v2`) is a sibling.
  const word = differingWord(a, b);
  const x = word === null ? a : word[0];
  const y = word === null ? b : word[1];
  const shortest = Math.min(x.length, y.length);
  // A letter dropped from a 5-letter word leaves 4 (`lana` for `lamna`): the known word's length counts.
  const d = y.length >= 5 && shortest >= 4 ? editDistance(x, y) : 3;
  if (d === 1) return editKind(x, y);
  if (d === 2 && shortest >= 10) return 'two characters changed';
  return null;
}

/**
 * How `a` merges two labels of `b` into one (`mcp-tailspin.com` for
 * `mcp.tailspin.com`: the dot turned into a hyphen, or dropped), or null.
 * The merged host is another registrable domain, anyone's to register.
 */
function mergedLabels(a: string, b: string): string | null {
  if (a.length === b.length) {
    let diff = -1;
    for (let i = 0; i < a.length; i++) {
      if (a[i] === b[i]) continue;
      if (diff >= 0) return null;
      diff = i;
    }
    return diff > 0 && b[diff] === '.' && a[diff] === '-' ? 'a dot turned into a hyphen' : null;
  }
  if (a.length + 1 !== b.length) return null;
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return i > 0 && b[i] === '.' && a.slice(i) === b.slice(i + 1) ? 'a dot dropped' : null;
}

/** How host `a` (new) imitates host `b` (known), both lower case, or null. */
export function hostImitation(a: string, b: string): string | null {
  if (a === b || Math.abs(a.length - b.length) > 2) return null;
  const la = a.split('.');
  const lb = b.split('.');
  // Two labels merged into one: at least the merged label and a domain left of it (not `com`).
  if (la.length + 1 === lb.length && la.length >= 2) return mergedLabels(a, b);
  if (la.length !== lb.length || la.length < 2) return null;
  let diff = -1;
  for (let i = 0; i < la.length; i++) {
    if (la[i] === lb[i]) continue;
    if (diff >= 0) return null; // more than one label differs: another name, not a copy
    diff = i;
  }
  return diff < 0 ? null : labelImitation(la[diff]!, lb[diff]!, diff === la.length - 1);
}

/**
 * Letters of other scripts that render as Latin ones in a host name
 * (Unicode's confusables for the Latin alphabet, Cyrillic and Greek):
 * `tailspіn.com` with a Cyrillic і is `xn--tailspn-...` on the wire.
 */
const CONFUSABLE_LATIN: Readonly<Record<string, string>> = {
  '\u0430': 'a', '\u0432': 'b', '\u0435': 'e', '\u0451': 'e', '\u043a': 'k', '\u043e': 'o', '\u0440': 'p', '\u0441': 'c', '\u0443': 'y', '\u0445': 'x',
  '\u0455': 's', '\u0456': 'i', '\u0457': 'i', '\u0458': 'j', '\u04bb': 'h', '\u04cf': 'l', '\u0501': 'd', '\u051b': 'q', '\u051d': 'w', '\u0261': 'g',
  '\u03b1': 'a', '\u03b5': 'e', '\u03b9': 'i', '\u03ba': 'k', '\u03bd': 'v', '\u03bf': 'o', '\u03c1': 'p', '\u03c4': 't', '\u03c5': 'u', '\u03c7': 'x',
  '\u0131': 'i', '\u0269': 'i', '\u01c0': 'l',
};

/**
 * The Latin host an internationalized name (labels in punycode, `xn--`)
 * reads as: decoded, accents dropped, confusable letters of other scripts
 * replaced by the Latin ones they render as; with its Unicode form. Null
 * when it is not such a name or has a letter that passes for no Latin one
 * (a name in another script, not a copy of a Latin one).
 */
export function latinSkeleton(host: string): { latin: string; unicode: string } | null {
  if (!host.includes('xn--')) return null;
  const unicode = domainToUnicode(host);
  if (unicode === '' || unicode === host) return null;
  let latin = '';
  for (const ch of unicode.normalize('NFD')) {
    const c = ch.charCodeAt(0);
    if (c < 128) latin += ch;
    else if (c >= 0x300 && c <= 0x36f) continue; // combining accents: é reads as e
    else {
      const m = CONFUSABLE_LATIN[ch];
      if (m === undefined) return null;
      latin += m;
    }
  }
  return latin === host ? null : { latin, unicode };
}

/** How the internationalized host `name`, reading as `latin`, imitates the known host `b`, or null. */
function internationalImitation(name: string, latin: string, b: string): string | null {
  const shown = `${domainToUnicode(name)} on screen`;
  if (latin === b) return `letters of another script that read as Latin ones: ${shown}`;
  const edit = hostImitation(latin, b);
  return edit === null ? null : `letters of another script and ${edit}: ${shown}`;
}

function normalHost(h: string): string {
  const s = h.toLowerCase();
  return s.endsWith('.') ? s.slice(0, -1) : s;
}

function labelCount(h: string): number {
  let n = 1;
  for (let i = 0; i < h.length; i++) if (h.charCodeAt(i) === 46) n++;
  return n;
}

// ---------------------------------------------------------------------------

export function createLookalikeDestinationDetector(options: LookalikeDestinationOptions = {}): Detector {
  const o: Required<LookalikeDestinationOptions> = { ...DEFAULTS, ...options };
  const tenants = new Map<string, TenantHosts>();
  const leaks = new TenantMap<AgentLeak>(o.maxAgents);
  const held = new DueQueue<HeldContact>(o.maxAgents);

  function tenantOf(id: string, t: number): TenantHosts {
    let th = tenants.get(id);
    if (th === undefined) {
      th = { at: t, hosts: new Map(), established: [], gen: 0 };
      tenants.set(id, th);
    } else if (t > th.at) th.at = t;
    return th;
  }

  /** Forgets the least recently used half of a full tenant's destinations (established ones included). */
  function prune(th: TenantHosts): void {
    const lasts: number[] = [];
    for (const h of th.hosts.values()) lasts.push(h.last);
    lasts.sort((x, y) => x - y);
    const cut = lasts[Math.floor(lasts.length / 2)]!;
    for (const [name, h] of th.hosts) if (h.last <= cut) th.hosts.delete(name);
    rebuild(th);
  }

  function rebuild(th: TenantHosts): void {
    th.established = [];
    for (const [name, h] of th.hosts) if (h.established) th.established.push(name);
    th.gen++;
  }

  /** Compares a host with the established destinations it has not been compared with yet. */
  function judge(th: TenantHosts, name: string, h: HostEntry): void {
    const from = h.checkedGen === th.gen ? h.checked : 0;
    const list = th.established;
    // An internationalized name is compared as the Latin host it reads as.
    const shown = h.sk ?? name;
    for (let i = from; i < list.length && h.imitates === null; i++) {
      const known = list[i]!;
      if (Math.abs(known.length - shown.length) > 2) continue;
      const k = th.hosts.get(known);
      if (k === undefined || (k.labels !== h.labels && k.labels !== h.labels + 1)) continue;
      const edit = h.sk === undefined ? hostImitation(name, known) : internationalImitation(name, h.sk, known);
      if (edit !== null) {
        h.imitates = known;
        h.edit = edit;
        if (ownSibling(th, name, known)) h.own = true;
      }
    }
    h.checked = list.length;
    h.checkedGen = th.gen;
  }

  /**
   * True when `name` and `known` differ only below a registrable domain of
   * the tenant's own: not a cloud's or a SaaS's shared namespace, and one it
   * runs at least `ownDomainHosts` established destinations under (its
   * services' names: a renamed host, not a squat; only the owner of that
   * domain can create names in it).
   */
  function ownSibling(th: TenantHosts, name: string, known: string): boolean {
    const domain = sameOwnedDomain(name, known);
    if (domain === null) return false;
    const suffix = `.${domain}`;
    let n = 0;
    for (const k of th.established) if (k.endsWith(suffix) && ++n >= o.ownDomainHosts) return true;
    return false;
  }

  function onNetwork(e: NetworkEvent): Detection[] {
    if (e.dest_agent_id != null) return NO_DETECTIONS;
    const th = tenantOf(e.tenant_id, e.time);
    const raw = e.dest_host;
    let h = th.hosts.get(raw);
    let name = raw;
    if (h === undefined) {
      name = normalHost(raw);
      h = name === raw ? undefined : th.hosts.get(name);
      if (h === undefined) {
        if (th.hosts.size >= o.maxHostsPerTenant) prune(th);
        h = { first: e.time, last: e.time, a1: 0, a2: 0, labels: labelCount(name), established: false, checked: 0, checkedGen: th.gen, imitates: null, edit: '' };
        const idn = latinSkeleton(name);
        if (idn !== null) h.sk = idn.latin;
        if (isInternalName(name) || (e.dest_ip !== null && isPrivateAddress(e.dest_ip))) h.int = true;
        th.hosts.set(name, h);
      }
    }
    if (e.time > h.last) h.last = e.time;
    if (e.time < h.first) h.first = e.time;
    if (h.established) return NO_DETECTIONS;
    // Not (yet) established: who uses it, and whether it imitates one that is.
    const ah = hashString(e.agent_id) | 1;
    if (h.a1 === 0) h.a1 = ah;
    else if (h.a1 !== ah && h.a2 === 0) h.a2 = ah;
    else if (h.a1 !== ah && h.a2 !== ah && !h.a3) h.a3 = ah;
    if (h.int !== true && (h.checkedGen !== th.gen || h.checked < th.established.length)) judge(th, name, h);
    if (h.imitates !== null) {
      if (h.own === true && isRename(h, e.time)) {
        establish(th, name, h);
        return NO_DETECTIONS;
      }
      return contact(e, name, h);
    }
    const agents = (h.a1 !== 0 ? 1 : 0) + (h.a2 !== 0 ? 1 : 0);
    if (agents >= o.establishAgents || h.last - h.first >= o.establishMs) establish(th, name, h);
    return NO_DETECTIONS;
  }

  function establish(th: TenantHosts, name: string, h: HostEntry): void {
    h.established = true;
    th.established.push(name);
  }

  /** A host of the tenant's own domain that `ownDomainAgents` agents took up within `confirmMs` of its first contact. */
  function isRename(h: HostEntry, now: number): boolean {
    return (h.a3 ?? 0) !== 0 && now - h.first <= o.confirmMs;
  }

  /** A held contact, due: reported unless its host turned out to be a rename. */
  function decide(p: HeldContact): Detection | null {
    const h = tenants.get(p.tenant_id)?.hosts.get(p.host);
    if (h !== undefined && h.established) return null;
    return {
      ...p.detection,
      time: p.due,
      summary: `${p.detection.summary}; no other agents took it up within ${formatDuration(o.confirmMs)} (not a rename)`,
    };
  }

  /** An agent reached a look-alike: low per host per day, medium once it has sent enough to look-alikes. */
  function contact(e: NetworkEvent, name: string, h: HostEntry): Detection[] {
    let a = leaks.get(e.tenant_id, e.agent_id);
    if (a === undefined) {
      a = { at: e.time, bytes: 0, since: e.time, lows: {}, medium: 0, ids: [] };
      leaks.set(e.tenant_id, e.agent_id, a);
    } else if (e.time > a.at) a.at = e.time;
    if (e.time - a.since > o.windowMs) {
      a.bytes = 0;
      a.since = e.time;
      a.ids = [];
    }
    if (e.action === 'allowed') a.bytes += e.bytes_out;
    if (a.ids.length < 8) a.ids.push(e.event_id);
    const out: Detection[] = [];
    const lastLow = a.lows[name];
    if (lastLow === undefined || e.time - lastLow >= o.windowMs) {
      a.lows[name] = e.time;
      out.push(detection(e, name, h, 'low', a));
    }
    // A bearer token presented to it is the attacker's to use, whatever the volume.
    const token = e.action === 'allowed' && e.token_id !== null;
    if ((a.bytes >= o.leakBytes || token) && (a.medium === 0 || e.time - a.medium >= o.windowMs)) {
      a.medium = e.time;
      out.push(detection(e, name, h, 'medium', a, token && a.bytes < o.leakBytes));
    }
    if (out.length === 0 || h.own !== true || e.time - h.first > o.confirmMs) return out.length === 0 ? NO_DETECTIONS : out;
    // Under the tenant's own domain, while a rename may still be under way: the strongest finding waits.
    const strongest = out[out.length - 1]!;
    const waiting = held.get(e.tenant_id, e.agent_id);
    if (waiting !== undefined) {
      if (strongest.severity === 'medium') waiting.detection = strongest;
      return NO_DETECTIONS;
    }
    // A full queue reports at once rather than lose the finding.
    return held.add({ tenant_id: e.tenant_id, agent_id: e.agent_id, due: h.first + o.confirmMs, host: name, detection: strongest }) ? NO_DETECTIONS : out;
  }

  function detection(e: NetworkEvent, name: string, h: HostEntry, severity: 'low' | 'medium', a: AgentLeak, tokenOnly = false): Detection {
    const sent = a.bytes >= 1024 * 1024 ? `${(a.bytes / 1024 / 1024).toFixed(1)} MiB` : `${Math.round(a.bytes / 1024)} KiB`;
    return {
      detector: lookalikeDestinationMeta.id,
      severity,
      tenant_id: e.tenant_id,
      agent_id: e.agent_id,
      time: e.time,
      summary:
        `Agent ${e.agent_id} reached ${name}, a look-alike of ${h.imitates} (${h.edit}) which the tenant's agents use` +
        (severity !== 'medium'
          ? ''
          : tokenOnly
            ? ', and presented its bearer token to it (the token is the look-alike owner\'s to use)'
            : `, and has sent ${sent} to look-alikes within ${formatDuration(e.time - a.since)}`),
      evidence: {
        observed: { host: name, category: e.category, action: e.action, bytes_out: e.bytes_out, bytes_to_lookalikes: a.bytes, since: a.since, token_presented: e.token_id !== null },
        baseline: { imitated_host: h.imitates, difference: h.edit },
        threshold: `a host new to the tenant one label off an established destination (homoglyphs, one edit in a label of 5+ characters, two in 10+, a mistyped top-level domain); medium at ${Math.round(o.leakBytes / 1024)} KiB sent to look-alikes within ${formatDuration(o.windowMs)}, or a bearer token presented to one`,
        peer_group: `tenant:${e.tenant_id}`,
      },
      event_ids: severity === 'medium' ? a.ids.slice() : [e.event_id],
    };
  }

  return {
    meta: lookalikeDestinationMeta,
    types: ['network'] as const,
    observe(e: AgentEvent): Detection[] {
      return e.type === 'network' ? onNetwork(e) : NO_DETECTIONS;
    },
    advance: (watermark: number) => held.takeDue(watermark, decide),
    settle: () => held.takeDue(Infinity, decide),
    evict(before: number): void {
      held.evict(before);
      for (const [id, th] of tenants) {
        let removed = false;
        for (const [name, h] of th.hosts) {
          if (h.last < before) {
            th.hosts.delete(name);
            removed = true;
          }
        }
        if (th.hosts.size === 0) tenants.delete(id);
        else if (removed) rebuild(th);
      }
      leaks.evict(before);
    },
    size(): number {
      let n = leaks.size + held.size;
      for (const th of tenants.values()) n += th.hosts.size;
      return n;
    },
    snapshot(): unknown {
      return clone({ version: 1, tenants: [...tenants].map(([id, th]) => [id, th.at, [...th.hosts]]), leaks: leaks.snapshot(), held: held.snapshot() });
    },
    restore(snapshot: unknown): void {
      const s = clone(snapshot) as { version: number; tenants: [string, number, [string, HostEntry][]][]; leaks: [string, string, AgentLeak][]; held?: HeldContact[] };
      if (s?.version !== 1) throw new Error('lookalike-destination: unsupported snapshot');
      tenants.clear();
      for (const [id, at, hosts] of s.tenants) {
        const th: TenantHosts = { at, hosts: new Map(hosts), established: [], gen: 0 };
        rebuild(th);
        tenants.set(id, th);
      }
      leaks.restore(s.leaks);
      held.restore(s.held);
    },
  };
}

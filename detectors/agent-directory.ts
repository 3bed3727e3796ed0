// The agent directory: what the pipeline knows about each agent (AgentInfo),
// maintained from lifecycle and activity events, plus the small building blocks
// the detection core shares: a two-level (tenant, id) map that avoids building
// a key string per event, a string hash for compact per-key sets, and a
// peer-value registry that tells an agent's new value from its blueprint's.

import type { AgentEvent } from '../contract/events.js';
import { credentialSighting, identityKey, type AgentInfo, type CredentialSighting, type DetectorContext } from './detector.js';
import type { Detection } from './types.js';

// ---------------------------------------------------------------------------
// Hashing

/**
 * FNV-1a of a string as a 32-bit signed int. Per-key sets store these hashes
 * instead of strings: a number costs 8 bytes and retains nothing. Collisions in
 * sets of a few dozen members are negligible (~1e-8).
 */
export function hashString(s: string, seed = 0x811c9dc5): number {
  let h = seed | 0;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}

/** Like hashString but skips ASCII digits, so `sdk/1.2.3` and `sdk/1.2.4` hash the same (a version bump is not a new client). */
export function hashIgnoringDigits(s: string, seed = 0x811c9dc5): number {
  let h = seed | 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) continue;
    h ^= c >= 65 && c <= 90 ? c + 32 : c;
    h = Math.imul(h, 0x01000193);
  }
  return h | 0;
}

const clientHashes = new Map<string, number>();
const MAX_CLIENT_HASHES = 8192;

/**
 * hashIgnoringDigits of a user agent, remembered: a fleet presents a few
 * hundred distinct user agents, each a long string hashed on every sign-in
 * by more than one detector otherwise (the map's own lookup reuses the
 * string's cached hash).
 */
export function clientHash(ua: string): number {
  let h = clientHashes.get(ua);
  if (h === undefined) {
    h = hashIgnoringDigits(ua);
    if (clientHashes.size >= MAX_CLIENT_HASHES) clientHashes.clear();
    clientHashes.set(ua, h);
  }
  return h;
}

/** Results of hash2 (read right after the call). */
export let H1 = 0;
export let H2 = 0;

/** Two independent 32-bit hashes of a string (FNV-1a with two seeds, one pass), into H1 and H2: 64 bits, no allocation. */
export function hash2(str: string): void {
  let a = 0x811c9dc5 | 0;
  let b = 0x2f1b3c5d | 0;
  for (let i = 0; i < str.length; i++) {
    const c = str.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (b >>> 13);
  }
  H1 = a | 0;
  H2 = b | 0;
}

// ---------------------------------------------------------------------------
// TenantMap

/** Results of TenantMap.set. */
export const REPLACED = 0;
export const ADDED = 1;
export const DROPPED = 2;
export type SetResult = typeof REPLACED | typeof ADDED | typeof DROPPED;

/** Per-key state with its last activity (event time), for idle eviction. */
export interface Timed {
  at: number;
}

/**
 * A map keyed by (tenant, id) as two levels of Map: looking up with the
 * strings of the event itself lets V8 reuse their cached hashes across
 * detectors instead of concatenating a key string per event per detector.
 * Values carry their own `at` (last activity), updated by their owner.
 */
export class TenantMap<V extends Timed> {
  private readonly tenants = new Map<string, Map<string, V>>();
  private count = 0;
  /** The last tenant looked up and its map (events come from few tenants: saves the outer lookup). */
  private lastTenant: string | null = null;
  private lastMap: Map<string, V> | undefined = undefined;

  constructor(private readonly maxKeys = 2_000_000) {}

  private inner(tenant: string): Map<string, V> | undefined {
    if (tenant === this.lastTenant) return this.lastMap;
    const m = this.tenants.get(tenant);
    this.lastTenant = tenant;
    this.lastMap = m;
    return m;
  }

  get(tenant: string, id: string): V | undefined {
    const m = this.inner(tenant);
    return m === undefined ? undefined : m.get(id);
  }

  /** Sets a value; returns REPLACED, ADDED, or DROPPED (added, and the size cap dropped the oldest inserted key). */
  set(tenant: string, id: string, value: V): SetResult {
    let m = this.inner(tenant);
    if (m === undefined) {
      m = new Map();
      this.tenants.set(tenant, m);
      this.lastTenant = tenant;
      this.lastMap = m;
    }
    const before = m.size;
    m.set(id, value);
    if (m.size === before) return REPLACED;
    this.count++;
    if (this.count > this.maxKeys) {
      this.dropOldestInserted();
      return DROPPED;
    }
    return ADDED;
  }

  delete(tenant: string, id: string): boolean {
    const m = this.inner(tenant);
    if (!m || !m.delete(id)) return false;
    this.count--;
    if (m.size === 0) this.dropTenant(tenant);
    return true;
  }

  private dropTenant(tenant: string): void {
    this.tenants.delete(tenant);
    if (tenant === this.lastTenant) {
      this.lastTenant = null;
      this.lastMap = undefined;
    }
  }

  /** The key the size cap dropped last (see DROPPED), for owners that must forget it too. */
  droppedTenant = '';
  droppedId = '';
  droppedValue: V | undefined = undefined;

  private dropOldestInserted(): void {
    for (const [tenant, m] of this.tenants) {
      for (const [id, v] of m) {
        this.droppedTenant = tenant;
        this.droppedId = id;
        this.droppedValue = v;
        this.delete(tenant, id);
        return;
      }
    }
  }

  /**
   * Forgets values whose `at` is before `before`, unless `keep` says otherwise;
   * `removed` hears of each one. Returns how many were removed.
   */
  evict(before: number, keep?: (value: V) => boolean, removed?: (tenant: string, id: string, value: V) => void): number {
    let n = 0;
    for (const [tenant, m] of this.tenants) {
      // forEach: no entry array per key (a scan covers every agent of every store).
      m.forEach((v, id) => {
        if (v.at < before && !(keep && keep(v))) {
          m.delete(id);
          n++;
          if (removed) removed(tenant, id, v);
        }
      });
      if (m.size === 0) this.dropTenant(tenant);
    }
    this.count -= n;
    return n;
  }

  get size(): number {
    return this.count;
  }

  *entries(): IterableIterator<[string, string, V]> {
    for (const [tenant, m] of this.tenants) for (const [id, v] of m) yield [tenant, id, v];
  }

  /** Calls `fn` for every value; unlike entries(), allocates nothing per value (for periodic scans). */
  forEachValue(fn: (value: V) => void): void {
    for (const m of this.tenants.values()) m.forEach(fn);
  }

  /** Keys held for one tenant. */
  sizeIn(tenant: string): number {
    return this.tenants.get(tenant)?.size ?? 0;
  }

  /** Calls `fn` for every value of one tenant. */
  forEachIn(tenant: string, fn: (value: V) => void): void {
    this.tenants.get(tenant)?.forEach(fn);
  }

  snapshot(): [string, string, V][] {
    const rows: [string, string, V][] = [];
    for (const [tenant, m] of this.tenants) for (const [id, v] of m) rows.push([tenant, id, v]);
    return rows;
  }

  restore(rows: [string, string, V][]): void {
    this.clear();
    for (const [t, id, v] of rows) this.set(t, id, v);
  }

  clear(): void {
    this.tenants.clear();
    this.count = 0;
    this.lastTenant = null;
    this.lastMap = undefined;
  }
}

// ---------------------------------------------------------------------------
// Small hash sets (plain arrays of int hashes, oldest first)

/** Adds `h` to a capped array set; returns true when it was new. When full, the oldest member is dropped. */
export function hashSetAdd(set: number[], h: number, cap: number): boolean {
  if (set.indexOf(h) >= 0) return false;
  if (set.length >= cap) set.shift();
  set.push(h);
  return true;
}

/**
 * Adds `h` to a small set kept as an exactly sized array (a pushed array
 * reserves ~17 slots; per-agent sets hold a handful), dropping the oldest
 * member when full. Returns the set to store (a new array when it changed).
 */
export function compactAdd(set: number[], h: number, cap: number): number[] {
  if (set.indexOf(h) >= 0) return set;
  const drop = set.length >= cap ? set.length - cap + 1 : 0;
  const out: number[] = new Array<number>(set.length - drop + 1);
  for (let i = drop; i < set.length; i++) out[i - drop] = set[i]!;
  out[set.length - drop] = h;
  return out;
}

/**
 * compactAdd of the first `k` hashes of `hs`, in order, as one new array
 * (instead of one per hash) when they are distinct and new to the set;
 * otherwise one by one. The same result either way.
 */
export function compactAddAll(set: number[], hs: number[], k: number, cap: number): number[] {
  if (k === 0) return set;
  let fast = cap >= 1;
  for (let i = 0; fast && i < k; i++) {
    const h = hs[i]!;
    if (set.indexOf(h) >= 0) fast = false;
    for (let j = 0; j < i; j++) if (hs[j] === h) fast = false;
  }
  if (!fast) {
    let out = set;
    for (let i = 0; i < k; i++) out = compactAdd(out, hs[i]!, cap);
    return out;
  }
  // Sequential adds keep the last `cap` of set ++ hs.
  const total = set.length + k;
  const drop = total > cap ? total - cap : 0;
  const out: number[] = new Array<number>(total - drop);
  let n = 0;
  for (let i = drop; i < set.length; i++) out[n++] = set[i]!;
  for (let i = drop > set.length ? drop - set.length : 0; i < k; i++) out[n++] = hs[i]!;
  return out;
}

// ---------------------------------------------------------------------------
// Peer registry: which values a blueprint's agents use

/**
 * One value (a resource, a country, an ASN...) as used by a blueprint's agents.
 * `clean` counts agents that adopted it without being flagged; `recentAgents`
 * and `recentTimes` remember the last distinct adopters, for telling a
 * blueprint-wide deployment (several agents adopting at once) from one agent.
 */
export interface PeerValue {
  first: number;
  last: number;
  adopters: number;
  clean: number;
  recentAgents: number[];
  recentTimes: number[];
}

export interface PeerGroup extends Timed {
  /** Distinct agents seen in the group (approximate: counted when a detector first meets the agent). */
  agents: number;
  /** Observations counted by the owning detector. */
  events: number;
  first: number;
  values: Map<number, PeerValue>;
}

export function peerGroup(at: number): PeerGroup {
  return { at, agents: 0, events: 0, first: at, values: new Map() };
}

/** The peer group of blueprint `bp` in `tenant`, created when absent, with its last activity moved up to `t`. */
export function touchPeerGroup(groups: GroupStore<PeerGroup>, ctx: DetectorContext, tenant: string, bp: string, t: number): PeerGroup {
  let g = groups.find(ctx, tenant, bp);
  if (!g) {
    g = peerGroup(t);
    groups.set(tenant, bp, g);
  }
  if (t > g.at) g.at = t;
  return g;
}

export interface PeerVerdict {
  /** Another agent of the group already uses the value without having been flagged. */
  peersUse: boolean;
  /** Distinct agents (including this one) adopting the value within the deployment window. */
  recentAdopters: number;
}

const RECENT_ADOPTERS = 6;

/** How the blueprint knows a value, before this agent's adoption is recorded. */
export function peerVerdict(g: PeerGroup, h: number, agentHash: number, at: number, windowMs: number): PeerVerdict {
  const code = peerVerdictCode(g, h, agentHash, at, windowMs);
  return { peersUse: (code & 1) !== 0, recentAdopters: code >>> 1 };
}

/** peerVerdict without an allocation: recentAdopters × 2, plus 1 when peersUse. */
export function peerVerdictCode(g: PeerGroup, h: number, agentHash: number, at: number, windowMs: number): number {
  const v = g.values.get(h);
  if (!v) return 2;
  let recent = 1;
  for (let i = 0; i < v.recentAgents.length; i++) {
    if (v.recentAgents[i] !== agentHash && Math.abs(at - v.recentTimes[i]!) <= windowMs) recent++;
  }
  return (recent << 1) | (v.clean > 0 ? 1 : 0);
}

/** True when peers use the value, or `deploymentAgents` agents adopted it recently (a deployment): familiar. */
export function peerFamiliar(g: PeerGroup, h: number, agentHash: number, at: number, windowMs: number, deploymentAgents: number): boolean {
  const code = peerVerdictCode(g, h, agentHash, at, windowMs);
  return (code & 1) !== 0 || code >>> 1 >= deploymentAgents;
}

/**
 * peerFamiliar without the agent's own use: another agent uses the value
 * unflagged, or `deploymentAgents` agents (this one included) adopted it
 * recently. For judging a value the agent itself adopted earlier. An own
 * clean adoption is assumed while the agent is among the recent adopters.
 */
export function peerFamiliarToOthers(g: PeerGroup, h: number, agentHash: number, at: number, windowMs: number, deploymentAgents: number): boolean {
  const v = g.values.get(h);
  if (!v) return false;
  const own = v.recentAgents.indexOf(agentHash) >= 0 ? 1 : 0;
  if (v.clean - own > 0) return true;
  return peerVerdictCode(g, h, agentHash, at, windowMs) >>> 1 >= deploymentAgents;
}

/** Records that an agent adopted a value (clean = it was not flagged). */
export function peerAdopt(g: PeerGroup, h: number, agentHash: number, at: number, clean: boolean, cap: number): void {
  let v = g.values.get(h);
  if (!v) {
    if (g.values.size >= cap) prunePeerValues(g);
    v = { first: at, last: at, adopters: 0, clean: 0, recentAgents: [], recentTimes: [] };
    g.values.set(h, v);
  }
  if (at > v.last) v.last = at;
  if (at < v.first) v.first = at;
  const i = v.recentAgents.indexOf(agentHash);
  if (i >= 0) {
    v.recentTimes[i] = at;
    if (clean && v.clean === 0) v.clean = 1;
    return;
  }
  v.adopters++;
  if (clean) v.clean++;
  if (v.recentAgents.length >= RECENT_ADOPTERS) {
    v.recentAgents.shift();
    v.recentTimes.shift();
  }
  v.recentAgents.push(agentHash);
  v.recentTimes.push(at);
}

/** Drops the least recently adopted eighth of a full group's values. */
function prunePeerValues(g: PeerGroup): void {
  const lasts: number[] = [];
  for (const v of g.values.values()) lasts.push(v.last);
  lasts.sort((a, b) => a - b);
  const cut = lasts[Math.max(0, Math.floor(lasts.length / 8) - 1)] ?? -Infinity;
  for (const [h, v] of g.values) if (v.last <= cut) g.values.delete(h);
}

/** JSON form of a peer group (Map → array). */
export interface PeerGroupSnapshot {
  at: number;
  agents: number;
  events: number;
  first: number;
  values: [number, PeerValue][];
}

export function snapshotPeerGroup(g: PeerGroup): PeerGroupSnapshot {
  return { at: g.at, agents: g.agents, events: g.events, first: g.first, values: [...g.values] };
}

export function restorePeerGroup(s: PeerGroupSnapshot): PeerGroup {
  return { at: s.at, agents: s.agents, events: s.events, first: s.first, values: new Map(s.values) };
}

// ---------------------------------------------------------------------------
// Agent directory

const NO_STRINGS: string[] = [];
const NO_CREDENTIALS: AgentInfo['credentials_added'] = [];
const NO_PERMISSIONS: AgentInfo['permissions_granted'] = [];
const MAX_SPONSORS = 8;
const MAX_CREDENTIALS = 4;
const MAX_PERMISSIONS = 8;

/** `list` with `item` appended (a fresh array in place of the shared empty one), the oldest dropped beyond `max`. */
/**
 * Records a successful sign-in with `credentialId`: the latest use of the
 * credential in use, and of the one before it when the credential changes
 * (a new object only then; a repeated use updates the sighting in place).
 */
function noteCredentialUse(a: AgentRecord, credentialId: string, type: string | null, t: number, ip: string, eventId: string): void {
  const cur = a.signin_cred;
  if (cur !== null && cur.credential_id === credentialId) {
    if (t >= cur.time) {
      cur.time = t;
      cur.ip = ip;
      cur.event_id = eventId;
    }
    return;
  }
  const prev = a.signin_cred_prev;
  if (prev !== null && prev.credential_id === credentialId && t < (cur === null ? t : cur.time)) {
    // A late sign-in with the credential before: the order of the two stays.
    if (t >= prev.time) {
      prev.time = t;
      prev.ip = ip;
      prev.event_id = eventId;
    }
    return;
  }
  a.signin_cred_prev = cur;
  a.signin_cred = credentialSighting(credentialId, type, t, ip, eventId);
}

function appendBounded<T>(list: T[], empty: T[], item: T, max: number): T[] {
  const out = list === empty ? [] : list;
  if (out.length >= max) out.shift();
  out.push(item);
  return out;
}

/**
 * Maintains AgentInfo for every agent from its events. Arrays start as shared
 * empty arrays and are copied on first write, so the common agent (no sponsor
 * or credential events seen) costs one small object.
 */
/** The directory's record of an agent: its AgentInfo plus slots where detectors attach their per-agent state. */
export interface AgentRecord extends AgentInfo, Timed {
  signin_ip: string | null;
  signin_ip_prev: string | null;
  signin_ip_since: number;
  signin_cred: CredentialSighting | null;
  signin_cred_prev: CredentialSighting | null;
  credentials_removed: AgentInfo['credentials_added'];
  orphaned: boolean;
  // Fixed fields rather than an array: one object per agent to touch, not two.
  s0: unknown;
  s1: unknown;
  s2: unknown;
  s3: unknown;
  s4: unknown;
  s5: unknown;
  s6: unknown;
  s7: unknown;
  s8: unknown;
  s9: unknown;
  s10: unknown;
  s11: unknown;
  s12: unknown;
  /** The group record of (tenant_id, blueprint_id), once a GroupStore asked for it; reset when blueprint_id changes. */
  grp: GroupRecord | undefined;
  /**
   * The agent's latest REDELIVERY_RING event ids, newest first, as pairs of
   * 30-bit hashes (small integers: stored in the record itself, no object
   * per id); 0 pairs are empty. See AgentDirectory.redelivered.
   */
  r0: number;
  r1: number;
  r2: number;
  r3: number;
  r4: number;
  r5: number;
  r6: number;
  r7: number;
}

/** How many of an agent's latest event ids its record remembers to tell a redelivery. */
export const REDELIVERY_RING = 4;

// Two 30-bit hashes of an event id (results in ID_X/ID_Y: no allocation); never both 0.
let ID_X = 0;
let ID_Y = 0;
function hashEventId(id: string): void {
  hash2(id);
  ID_X = (H1 ^ (H1 >>> 30)) & 0x3fffffff;
  ID_Y = ((H2 ^ (H2 >>> 30)) & 0x3fffffff) | 1;
}

/**
 * What the directory keeps per blueprint (within its tenant): slots where
 * detectors attach their per-blueprint state (see GroupStore), each with the
 * epoch of its owner when attached. Records of the blueprint's agents point
 * to it, so the state of the event's peer group is found without a lookup.
 */
export interface GroupRecord extends Timed {
  g0: unknown;
  g1: unknown;
  g2: unknown;
  g3: unknown;
  g4: unknown;
  g5: unknown;
  g6: unknown;
  g7: unknown;
  g8: unknown;
  g9: unknown;
  g10: unknown;
  g11: unknown;
  g12: unknown;
  g13: unknown;
  e0: number;
  e1: number;
  e2: number;
  e3: number;
  e4: number;
  e5: number;
  e6: number;
  e7: number;
  e8: number;
  e9: number;
  e10: number;
  e11: number;
  e12: number;
  e13: number;
}

/** Slots a group record has; more group stores than this fall back to map lookups. */
export const GROUP_SLOTS = 14;

function newGroupRecord(at: number): GroupRecord {
  return {
    at,
    g0: undefined, g1: undefined, g2: undefined, g3: undefined, g4: undefined, g5: undefined, g6: undefined, g7: undefined, g8: undefined, g9: undefined, g10: undefined, g11: undefined, g12: undefined, g13: undefined,
    e0: -1, e1: -1, e2: -1, e3: -1, e4: -1, e5: -1, e6: -1, e7: -1, e8: -1, e9: -1, e10: -1, e11: -1, e12: -1, e13: -1,
  };
}

/** The value in group slot `i` when attached at `epoch`, else undefined. */
function groupSlotGet(r: GroupRecord, i: number, epoch: number): unknown {
  switch (i) {
    case 0: return r.e0 === epoch ? r.g0 : undefined;
    case 1: return r.e1 === epoch ? r.g1 : undefined;
    case 2: return r.e2 === epoch ? r.g2 : undefined;
    case 3: return r.e3 === epoch ? r.g3 : undefined;
    case 4: return r.e4 === epoch ? r.g4 : undefined;
    case 5: return r.e5 === epoch ? r.g5 : undefined;
    case 6: return r.e6 === epoch ? r.g6 : undefined;
    case 7: return r.e7 === epoch ? r.g7 : undefined;
    case 8: return r.e8 === epoch ? r.g8 : undefined;
    case 9: return r.e9 === epoch ? r.g9 : undefined;
    case 10: return r.e10 === epoch ? r.g10 : undefined;
    case 11: return r.e11 === epoch ? r.g11 : undefined;
    case 12: return r.e12 === epoch ? r.g12 : undefined;
    default: return r.e13 === epoch ? r.g13 : undefined;
  }
}

function groupSlotSet(r: GroupRecord, i: number, v: unknown, epoch: number): void {
  switch (i) {
    case 0: r.g0 = v; r.e0 = epoch; break;
    case 1: r.g1 = v; r.e1 = epoch; break;
    case 2: r.g2 = v; r.e2 = epoch; break;
    case 3: r.g3 = v; r.e3 = epoch; break;
    case 4: r.g4 = v; r.e4 = epoch; break;
    case 5: r.g5 = v; r.e5 = epoch; break;
    case 6: r.g6 = v; r.e6 = epoch; break;
    case 7: r.g7 = v; r.e7 = epoch; break;
    case 8: r.g8 = v; r.e8 = epoch; break;
    case 9: r.g9 = v; r.e9 = epoch; break;
    case 10: r.g10 = v; r.e10 = epoch; break;
    case 11: r.g11 = v; r.e11 = epoch; break;
    case 12: r.g12 = v; r.e12 = epoch; break;
    default: r.g13 = v; r.e13 = epoch; break;
  }
}

/** Slots a record has; more detectors than this fall back to map lookups. */
export const RECORD_SLOTS = 13;

/** Reads slot `i` of a record (a switch: every access is a monomorphic field load, no closure call). */
function slotGet(r: AgentRecord, i: number): unknown {
  switch (i) {
    case 0: return r.s0;
    case 1: return r.s1;
    case 2: return r.s2;
    case 3: return r.s3;
    case 4: return r.s4;
    case 5: return r.s5;
    case 6: return r.s6;
    case 7: return r.s7;
    case 8: return r.s8;
    case 9: return r.s9;
    case 10: return r.s10;
    case 11: return r.s11;
    default: return r.s12;
  }
}

function slotSet(r: AgentRecord, i: number, v: unknown): void {
  switch (i) {
    case 0: r.s0 = v; break;
    case 1: r.s1 = v; break;
    case 2: r.s2 = v; break;
    case 3: r.s3 = v; break;
    case 4: r.s4 = v; break;
    case 5: r.s5 = v; break;
    case 6: r.s6 = v; break;
    case 7: r.s7 = v; break;
    case 8: r.s8 = v; break;
    case 9: r.s9 = v; break;
    case 10: r.s10 = v; break;
    case 11: r.s11 = v; break;
    default: r.s12 = v; break;
  }
}

export class AgentDirectory {
  private readonly agents: TenantMap<AgentRecord>;
  private prevTenant: string | null = null;
  private prevAgent: string | null = null;
  // last_seen before the latest event, when the agent was known (a number field, never undefined:
  // a double field that also held undefined would box a new heap number on every store).
  private prevKnown = false;
  private prevLastSeen = 0;

  /** Replace an event's agent_id/tenant_id/blueprint_id with the directory's identical string instances (faster lookups downstream). */
  intern = true;
  /** Tell redeliveries (see `redelivered`). */
  dedupe = true;
  /**
   * Whether an actor (a user or an agent of the tenant) is at medium or high
   * risk now: a sponsor it appoints vouches for nothing (set by the pipeline,
   * which knows the risk levels; never, when unset).
   */
  riskyActor: ((tenant: string, actor: string) => boolean) | null = null;
  /**
   * Set by `observe`: the event's id is one of the agent's latest
   * REDELIVERY_RING event ids, so it is a redelivery of an event already
   * seen (at-least-once producers send an event again, with its id), and
   * `observe` changed nothing. An id delivered again after more of the
   * agent's events than that is not recognised here.
   */
  redelivered = false;
  /** One instance of each tenant and blueprint id (few, shared by many agents). */
  private readonly strings = new Map<string, string>();

  private canonical(s: string): string {
    const c = this.strings.get(s);
    if (c !== undefined) return c;
    if (this.strings.size < 100_000) this.strings.set(s, s);
    return s;
  }

  /** Owners of the record slots, by slot number (see SlotOwner). */
  private readonly owners: SlotOwner[] = [];
  /** Owners of the group record slots, by slot number (see GroupStore). */
  private readonly groupOwners: object[] = [];
  /** Group records by (tenant, blueprint). */
  private readonly groups = new TenantMap<GroupRecord>(1_000_000);

  /** The group slot number of `owner` (allocated on first request); -1 when none is left. */
  groupSlotOf(owner: object): number {
    const i = this.groupOwners.indexOf(owner);
    if (i >= 0) return i;
    if (this.groupOwners.length >= GROUP_SLOTS) return -1;
    this.groupOwners.push(owner);
    return this.groupOwners.length - 1;
  }

  /** The group record of a record's blueprint (which must not be null), linked to the record. */
  groupRecordOf(r: AgentRecord): GroupRecord {
    let g = r.grp;
    if (g !== undefined) return g;
    g = this.groups.get(r.tenant_id, r.blueprint_id!);
    if (g === undefined) {
      g = newGroupRecord(r.at);
      this.groups.set(r.tenant_id, r.blueprint_id!, g);
    } else if (r.at > g.at) g.at = r.at;
    r.grp = g;
    return g;
  }
  private readonly releaseRemoved = (_t: string, _id: string, r: AgentRecord): void => this.release(r);

  constructor(maxAgents = 2_000_000) {
    this.agents = new TenantMap(maxAgents);
  }

  /** The slot number of `owner` in every record (allocated on first request); -1 when none is left. */
  slotOf(owner: SlotOwner): number {
    const i = this.owners.indexOf(owner);
    if (i >= 0) return i;
    if (this.owners.length >= RECORD_SLOTS) return -1;
    this.owners.push(owner);
    return this.owners.length - 1;
  }

  /** A record leaves the directory: the states attached to it are no longer reachable through it. */
  private release(r: AgentRecord): void {
    const owners = this.owners;
    for (let i = 0; i < owners.length; i++) {
      const v = slotGet(r, i);
      if (v !== undefined) owners[i]!.released(v, r.tenant_id, r.agent_id);
    }
  }

  get(tenantId: string, agentId: string): AgentRecord | undefined {
    return this.agents.get(tenantId, agentId);
  }

  /** last_seen of the agent before the event last passed to `observe` (for that agent), else its current last_seen. */
  previousLastSeen(tenantId: string, agentId: string): number | undefined {
    if (agentId === this.prevAgent && tenantId === this.prevTenant) return this.prevKnown ? this.prevLastSeen : undefined;
    return this.agents.get(tenantId, agentId)?.last_seen;
  }

  /** Updates the directory with an event; returns the agent's info (undefined for user_risk). */
  observe(e: AgentEvent): AgentRecord | undefined {
    if (e.type === 'user_risk') {
      this.prevTenant = null;
      this.prevAgent = null;
      return undefined;
    }
    const t = e.time;
    let a = this.agents.get(e.tenant_id, e.agent_id);
    this.redelivered = false;
    if (this.dedupe) {
      hashEventId(e.event_id);
      if (a !== undefined) {
        const x = ID_X;
        const y = ID_Y;
        if ((a.r1 === y && a.r0 === x) || (a.r3 === y && a.r2 === x) || (a.r5 === y && a.r4 === x) || (a.r7 === y && a.r6 === x)) {
          this.redelivered = true;
          return a;
        }
        a.r6 = a.r4;
        a.r7 = a.r5;
        a.r4 = a.r2;
        a.r5 = a.r3;
        a.r2 = a.r0;
        a.r3 = a.r1;
        a.r0 = x;
        a.r1 = y;
      }
    }
    if (!a) {
      this.prevKnown = false;
      a = {
        tenant_id: this.canonical(e.tenant_id),
        agent_id: e.agent_id,
        blueprint_id: e.blueprint_id === null ? null : this.canonical(e.blueprint_id),
        first_seen: t,
        last_seen: t,
        created_seen: false,
        sponsors: NO_STRINGS,
        self_sponsored: NO_STRINGS,
        credentials_added: NO_CREDENTIALS,
        credentials_removed: NO_CREDENTIALS,
        permissions_granted: NO_PERMISSIONS,
        deleted: false,
        disabled: false,
        signin_ip: e.type === 'signin' && e.result === 'success' ? e.ip : null,
        signin_ip_prev: null,
        signin_ip_since: e.type === 'signin' && e.result === 'success' ? sec(t) : 0,
        signin_cred: e.type === 'signin' && e.result === 'success' && e.credential_id !== null ? credentialSighting(e.credential_id, e.credential_type, t, e.ip, e.event_id) : null,
        signin_cred_prev: null,
        orphaned: false,
        at: t,
        s0: undefined, s1: undefined, s2: undefined, s3: undefined, s4: undefined, s5: undefined, s6: undefined, s7: undefined, s8: undefined, s9: undefined, s10: undefined, s11: undefined, s12: undefined,
        grp: undefined,
        r0: this.dedupe ? ID_X : 0, r1: this.dedupe ? ID_Y : 0, r2: 0, r3: 0, r4: 0, r5: 0, r6: 0, r7: 0,
      };
      if (this.agents.set(e.tenant_id, e.agent_id, a) === DROPPED) this.release(this.agents.droppedValue!);
    } else {
      this.prevKnown = true;
      this.prevLastSeen = a.last_seen;
      // Intern the ids: the same value, but the directory's own string instance,
      // whose hash V8 has cached and which every detector's map holds as key,
      // so their lookups compare pointers instead of characters.
      if (this.intern) {
        (e as { agent_id: string }).agent_id = a.agent_id;
        (e as { tenant_id: string }).tenant_id = a.tenant_id;
        if (e.blueprint_id !== null && e.blueprint_id === a.blueprint_id) (e as { blueprint_id: string }).blueprint_id = a.blueprint_id;
      }
      if (t > a.last_seen) a.last_seen = t;
      if (t > a.at) a.at = t;
      if (t < a.first_seen) a.first_seen = t;
      if (a.blueprint_id === null && e.blueprint_id !== null) {
        a.blueprint_id = this.canonical(e.blueprint_id);
        a.grp = undefined;
      }
      if (e.type === 'signin' && e.result === 'success') {
        if (e.ip !== a.signin_ip) {
          a.signin_ip_prev = a.signin_ip;
          a.signin_ip = e.ip;
          a.signin_ip_since = sec(t);
        }
        if (e.credential_id !== null) noteCredentialUse(a, e.credential_id, e.credential_type, t, e.ip, e.event_id);
      }
    }
    this.prevTenant = e.tenant_id;
    this.prevAgent = e.agent_id;
    if (e.type === 'lifecycle') {
      switch (e.action) {
        case 'created':
          a.created_seen = true;
          if (t < a.first_seen) a.first_seen = t;
          a.deleted = false;
          if (e.blueprint_id !== null && e.blueprint_id !== a.blueprint_id) {
            a.blueprint_id = this.canonical(e.blueprint_id);
            a.grp = undefined;
          }
          if (e.sponsor_id !== null) {
            addSponsor(a, e.sponsor_id);
            a.orphaned = false;
          }
          break;
        case 'deleted':
          a.deleted = true;
          break;
        case 'disabled':
          a.disabled = true;
          break;
        case 'enabled':
          a.disabled = false;
          break;
        case 'sponsor_added':
          if (e.sponsor_id !== null) appointSponsor(a, e.sponsor_id, e.actor, this.riskyActor !== null && this.riskyActor(e.tenant_id, e.actor));
          break;
        case 'sponsor_removed':
          removeSponsor(a, e.sponsor_id);
          break;
        case 'credential_added':
          a.credentials_added = appendBounded(a.credentials_added, NO_CREDENTIALS, { credential_id: e.credential_id, actor: e.actor, time: t }, MAX_CREDENTIALS);
          break;
        case 'credential_removed':
          a.credentials_removed = appendBounded(a.credentials_removed, NO_CREDENTIALS, { credential_id: e.credential_id, actor: e.actor, time: t }, MAX_CREDENTIALS);
          break;
        case 'permission_granted':
          a.permissions_granted = appendBounded(a.permissions_granted, NO_PERMISSIONS, { permission: e.permission, actor: e.actor, time: t }, MAX_PERMISSIONS);
          break;
        case 'permission_revoked': {
          if (a.permissions_granted.length === 0) break;
          const left = a.permissions_granted.filter((p) => p.permission !== e.permission);
          a.permissions_granted = left.length ? left : NO_PERMISSIONS;
          break;
        }
        default:
          break;
      }
    }
    return a;
  }

  /** Owners whose attached states wait for the next `evict` (see SlotContext.deferSlotEviction). */
  private readonly deferred: SlotOwner[] = [];

  deferSlotEviction(owner: SlotOwner): void {
    if (owner.expireIn !== undefined && !this.deferred.includes(owner)) this.deferred.push(owner);
  }

  evict(before: number): number {
    const deferred = this.deferred;
    if (deferred.length > 0) {
      // One pass over the records for every owner that deferred its eviction to it.
      const n = deferred.length;
      this.agents.forEachValue((r) => {
        for (let k = 0; k < n; k++) deferred[k]!.expireIn!(r);
      });
      deferred.length = 0;
    }
    this.groups.evict(before);
    return this.agents.evict(before, undefined, this.owners.length > 0 ? this.releaseRemoved : undefined);
  }

  get size(): number {
    return this.agents.size;
  }

  /** Calls `fn` for every record (no allocation per record). */
  forEachRecord(fn: (r: AgentRecord) => void): void {
    this.agents.forEachValue(fn);
  }

  *entries(): IterableIterator<AgentInfo> {
    for (const [, , v] of this.agents.entries()) yield v;
  }

  snapshot(): AgentInfo[] {
    const out: AgentInfo[] = [];
    for (const [, , v] of this.agents.entries()) {
      const info: AgentInfo = {
        tenant_id: v.tenant_id,
        agent_id: v.agent_id,
        blueprint_id: v.blueprint_id,
        first_seen: v.first_seen,
        last_seen: v.last_seen,
        created_seen: v.created_seen,
        sponsors: v.sponsors,
        self_sponsored: v.self_sponsored,
        credentials_added: v.credentials_added,
        credentials_removed: v.credentials_removed,
        permissions_granted: v.permissions_granted,
        deleted: v.deleted,
        disabled: v.disabled,
        signin_ip: v.signin_ip,
        signin_ip_prev: v.signin_ip_prev,
        signin_ip_since: v.signin_ip_since,
        signin_cred: v.signin_cred === null ? null : { ...v.signin_cred },
        signin_cred_prev: v.signin_cred_prev === null ? null : { ...v.signin_cred_prev },
        orphaned: v.orphaned,
      };
      out.push({ ...info, sponsors: [...v.sponsors], self_sponsored: [...v.self_sponsored], credentials_added: v.credentials_added.map((c) => ({ ...c })), credentials_removed: v.credentials_removed.map((c) => ({ ...c })), permissions_granted: v.permissions_granted.map((p) => ({ ...p })) });
    }
    return out;
  }

  restore(rows: AgentInfo[]): void {
    // The states attached to the records go back to their owners first (restored next, or kept).
    if (this.owners.length > 0) this.agents.forEachValue((r) => this.release(r));
    this.agents.clear();
    this.groups.clear();
    this.prevTenant = null;
    this.prevAgent = null;
    for (const r of rows) {
      this.agents.set(r.tenant_id, r.agent_id, {
        ...r,
        sponsors: r.sponsors.length ? [...r.sponsors] : NO_STRINGS,
        // Absent from snapshots taken before self-appointed sponsors were told apart.
        self_sponsored: r.self_sponsored?.length ? [...r.self_sponsored] : NO_STRINGS,
        credentials_added: r.credentials_added.length ? r.credentials_added.map((c) => ({ ...c })) : NO_CREDENTIALS,
        credentials_removed: r.credentials_removed?.length ? r.credentials_removed.map((c) => ({ ...c })) : NO_CREDENTIALS,
        // Absent from snapshots taken before permissions were tracked.
        permissions_granted: r.permissions_granted?.length ? r.permissions_granted.map((p) => ({ ...p })) : NO_PERMISSIONS,
        signin_ip: r.signin_ip ?? null,
        signin_ip_prev: r.signin_ip_prev ?? null,
        signin_ip_since: r.signin_ip_since ?? 0,
        signin_cred: r.signin_cred ? { ...r.signin_cred } : null,
        signin_cred_prev: r.signin_cred_prev ? { ...r.signin_cred_prev } : null,
        // Absent from snapshots taken before orphans were told apart.
        orphaned: r.orphaned ?? false,
        at: r.last_seen,
        s0: undefined, s1: undefined, s2: undefined, s3: undefined, s4: undefined, s5: undefined, s6: undefined, s7: undefined, s8: undefined, s9: undefined, s10: undefined, s11: undefined, s12: undefined,
        grp: undefined,
        r0: 0, r1: 0, r2: 0, r3: 0, r4: 0, r5: 0, r6: 0, r7: 0,
      });
    }
  }
}

/** Index of a sponsor in the agent's list, whatever the case it was written in (see identityKey); -1 when absent. */
function sponsorIndex(a: AgentInfo, sponsor: string): number {
  const key = identityKey(sponsor);
  for (let i = 0; i < a.sponsors.length; i++) if (identityKey(a.sponsors[i]!) === key) return i;
  return -1;
}

/**
 * A sponsor removed. An event that does not say which one (sponsor_id null)
 * removes the agent's only sponsor, the only one it can have been; with
 * several, which one left is unknown and the list stays. An agent left with
 * no known sponsor is orphaned.
 */
function removeSponsor(a: AgentInfo, sponsor: string | null): void {
  const i = sponsor === null ? (a.sponsors.length === 1 ? 0 : -1) : sponsorIndex(a, sponsor);
  if (i < 0) {
    // A sponsor the directory never saw appointed (before the stream began), and none known: as orphaned-agent, the last one.
    if (a.sponsors.length === 0) a.orphaned = true;
    return;
  }
  const gone = a.sponsors[i]!;
  a.sponsors = a.sponsors.length === 1 ? NO_STRINGS : a.sponsors.filter((_, j) => j !== i);
  if (a.self_sponsored.length > 0) unmarkSelfSponsored(a, gone);
  if (a.sponsors.length === 0) a.orphaned = true;
}

/**
 * A sponsor appointed by `actor`. One who appoints himself while the agent
 * has other sponsors, or after it lost its last one (an ownerless agent
 * "adopted"), is listed but marked self-appointed (he vouches for nothing:
 * the way to launder a grant or a credential through sponsorship); so is one
 * appointed by an actor at medium or high risk (`riskyActor`: a hijacked
 * helpdesk agent handing an agent to the attacker's account). Appointed by
 * someone else, he is a sponsor like any other, and the agent is no longer
 * orphaned.
 */
function appointSponsor(a: AgentInfo, sponsor: string, actor: string, riskyActor = false): void {
  const self = identityKey(actor) === identityKey(sponsor);
  const vouched = !self && !riskyActor;
  if (vouched) a.orphaned = false;
  const i = sponsorIndex(a, sponsor);
  if (i >= 0) {
    if (vouched && a.self_sponsored.length > 0) unmarkSelfSponsored(a, a.sponsors[i]!);
    return;
  }
  const others = a.sponsors.length > 0 || a.orphaned === true;
  addSponsor(a, sponsor);
  if ((self && others) || riskyActor) a.self_sponsored = a.self_sponsored === NO_STRINGS ? [sponsor] : a.self_sponsored.concat(sponsor).slice(-MAX_SPONSORS);
}

function unmarkSelfSponsored(a: AgentInfo, sponsor: string): void {
  const j = a.self_sponsored.indexOf(sponsor);
  if (j >= 0) a.self_sponsored = a.self_sponsored.length === 1 ? NO_STRINGS : a.self_sponsored.filter((_, k) => k !== j);
}

function addSponsor(a: AgentInfo, sponsor: string): void {
  if (sponsorIndex(a, sponsor) >= 0) return;
  const list = a.sponsors === NO_STRINGS ? [] : a.sponsors;
  if (list.length >= MAX_SPONSORS) list.shift();
  list.push(sponsor);
  a.sponsors = list;
}

// ---------------------------------------------------------------------------
// Helpers shared by the core detectors

/** The empty result a detector returns when nothing fires (frozen: shared, never mutated). */
export const NO_DETECTIONS = Object.freeze([]) as unknown as Detection[];

/** Deep copy of plain JSON-like state, so a snapshot never aliases live state. */
export function clone<T>(value: T): T {
  return structuredClone(value);
}

/** The blueprint of an event's agent: the event's own, else what the directory knows. */
export function blueprintOf(
  e: { tenant_id: string; agent_id: string; blueprint_id: string | null },
  ctx: { agent(tenantId: string, agentId: string): AgentInfo | undefined },
): string | null {
  return e.blueprint_id ?? ctx.agent(e.tenant_id, e.agent_id)?.blueprint_id ?? null;
}

/** Mixes a small integer tag into a hash (e.g. which property a value belongs to). */
export function tagHash(h: number, tag: number): number {
  return ((h & ~7) | (tag & 7)) | 0;
}

/** Hash of an integer (e.g. an ASN). */
export function hashInt(n: number): number {
  let h = Math.imul(n | 0, 0x9e3779b1);
  h ^= h >>> 15;
  return Math.imul(h, 0x85ebca6b) | 0;
}

/** Compact JSON state of a TenantMap of peer groups. */
export function snapshotGroups(groups: TenantMap<PeerGroup>): [string, string, PeerGroupSnapshot][] {
  const rows: [string, string, PeerGroupSnapshot][] = [];
  for (const [t, id, g] of groups.entries()) rows.push([t, id, clone(snapshotPeerGroup(g))]);
  return rows;
}

export function restoreGroups(groups: TenantMap<PeerGroup>, rows: [string, string, PeerGroupSnapshot][]): void {
  groups.restore(rows.map(([t, id, s]) => [t, id, restorePeerGroup(clone(s))]));
}

// ---------------------------------------------------------------------------
// Per-agent detector state with O(1) access

/**
 * A context that can hand out slot numbers: the pipeline's context does, so
 * detectors can attach per-agent state to the directory's record of the
 * event's agent (found once per event) instead of each doing its own map
 * lookup — at 100k agents those lookups are cache misses and dominate.
 */
export interface SlotContext extends DetectorContext {
  slot(owner: SlotOwner): number;
  /** Calls `fn` for every record of the directory (eviction, snapshots of the states attached to records). */
  forEachRecord(fn: (r: AgentRecord) => void): void;
  /** Group slots (see GroupStore): a slot number, the current event's record, and the group record of a record's blueprint. */
  groupSlot?(owner: object): number;
  current?(): AgentRecord | undefined;
  groupRecord?(r: AgentRecord): GroupRecord;
  /**
   * Defers the eviction of the states attached to records to the directory's
   * own eviction, where one pass over the records serves every owner
   * (`expireIn`) instead of a pass per owner; true when accepted (the
   * pipeline is evicting: the directory's eviction follows the detectors').
   */
  deferSlotEviction?(owner: SlotOwner): boolean;
}

/** What owns a record slot hears from the directory. */
export interface SlotOwner {
  /** A record left the directory (eviction, size cap, restore) while its slot held `value`. */
  released(value: unknown, tenant: string, agent: string): void;
  /** Clears the owner's state in record `r` when it is idle past the cutoff it deferred (see SlotContext.deferSlotEviction). */
  expireIn?(r: AgentRecord): void;
}

/**
 * State kept per agent by an AgentStore. Its `at` is in whole seconds since
 * 2020 (see `sec`), not milliseconds: a small integer is stored unboxed,
 * where an epoch-ms double costs a separate heap number per field per agent.
 * `e` is the store's epoch when attached.
 *
 * Write a state's object literal with `e` first, not `at`: V8 shares a
 * field's representation among the object shapes that grew from the same
 * first properties, so a literal of as many properties that starts with an
 * epoch-ms `at` (a peer group, a spray) would make this `at` a boxed double
 * too, for every agent.
 */
export interface SlotState extends Timed {
  e: number;
}

const SEC_EPOCH_MS = Date.UTC(2020, 0, 1);

/** Event time (epoch ms) as whole seconds since 2020-01-01: a small integer, unboxed in objects (good until 2054). */
export function sec(ms: number): number {
  // `| 0`: typed as a 32-bit integer, the result is stored as a small integer, never boxed (a field
  // once given a boxed double stays a double field for every object of its shape).
  return Math.floor((ms - SEC_EPOCH_MS) / 1000) | 0;
}

/** The epoch ms of `sec` seconds (the start of that second). */
export function msOfSec(s: number): number {
  return SEC_EPOCH_MS + s * 1000;
}

/**
 * State whose last activity must keep millisecond precision: `at` holds the
 * whole seconds (see `sec`) and `am` the milliseconds within that second, both
 * small integers stored unboxed (an epoch-ms double in a field is a separate
 * heap number: one more cache miss per access). Exact: atMs(s) is the time set.
 */
export interface MsState extends SlotState {
  am: number;
}

export function setAtMs(s: MsState, ms: number): void {
  const a = sec(ms);
  s.at = a;
  // `| 0`: a difference of doubles is a double to V8, stored boxed unless typed as an integer.
  s.am = (ms - (SEC_EPOCH_MS + a * 1000)) | 0;
}

export function atMs(s: MsState): number {
  return SEC_EPOCH_MS + s.at * 1000 + s.am;
}

/**
 * Per-agent state of one detector. When the context supports it, a state
 * lives in a slot of its agent's directory record, where the detector finds
 * it without a map lookup, and nowhere else: a second index of every agent
 * per detector cost about 37 bytes per agent each (eleven stores: 9 % of the
 * memory budget). States with no live record (the directory forgot an idle
 * agent, or never saw one: a call's target, a restored state) are kept in a
 * TenantMap of loose states, with the store's size cap, and move to the
 * record when next found.
 *
 * Invariant: every state is either attached (in slot `index` of its agent's
 * live record, with the current epoch; counted in `attached`) or in `loose`,
 * never both. So when an agent's record has nothing in the slot and nothing
 * is loose, the agent has no state and not even a failed map lookup is
 * needed: the common case of a new agent. A record the directory forgets
 * hands its states back (`released`), which makes them loose; an epoch bump
 * (restore) invalidates every attachment at once.
 */
export class AgentStore<V extends SlotState> implements SlotOwner {
  private readonly loose: TenantMap<V>;
  private attached = 0;
  private epoch = 0;
  private boundCtx: DetectorContext | null = null;
  private index = -1;

  /**
   * `maxKeys` caps the loose states (attached ones are as many as the
   * directory's records at most). `msPrecision`: the states are MsState (last
   * activity to the millisecond, for detectors whose last-activity time is
   * also part of their logic), and eviction compares to the millisecond.
   */
  constructor(
    maxKeys = 2_000_000,
    private readonly msPrecision = false,
  ) {
    this.loose = new TenantMap(maxKeys);
  }

  private bind(ctx: DetectorContext): void {
    if (this.attached > 0) this.detachAll();
    this.boundCtx = ctx;
    const slot = (ctx as Partial<SlotContext>).slot;
    const i = typeof slot === 'function' && typeof (ctx as Partial<SlotContext>).forEachRecord === 'function' ? slot.call(ctx, this) : -1;
    this.index = i >= 0 && i < RECORD_SLOTS ? i : -1;
    this.epoch++;
  }

  /** Moves every attached state to the loose ones (the store is bound to another context). */
  private detachAll(): void {
    const ctx = this.boundCtx as SlotContext;
    const i = this.index;
    ctx.forEachRecord((r) => {
      const v = slotGet(r, i) as V | undefined;
      if (v === undefined) return;
      slotSet(r, i, undefined);
      if (v.e === this.epoch) this.loose.set(r.tenant_id, r.agent_id, v);
    });
    this.attached = 0;
  }

  /** The state attached to `rec`, if any (and valid). */
  private attachedTo(rec: AgentRecord): V | undefined {
    const v = slotGet(rec, this.index) as V | undefined;
    return v !== undefined && v.e === this.epoch ? v : undefined;
  }

  private attach(rec: AgentRecord, v: V): void {
    v.e = this.epoch;
    slotSet(rec, this.index, v);
  }

  get(ctx: DetectorContext, tenant: string, agent: string): V | undefined {
    if (ctx !== this.boundCtx) this.bind(ctx);
    if (this.index < 0) return this.loose.get(tenant, agent);
    const rec = ctx.agent(tenant, agent) as AgentRecord | undefined;
    if (rec === undefined) return this.loose.size === 0 ? undefined : this.loose.get(tenant, agent);
    const cached = slotGet(rec, this.index) as V | undefined;
    if (cached !== undefined && cached.e === this.epoch) return cached;
    if (this.loose.size === 0) return undefined;
    const v = this.loose.get(tenant, agent);
    if (v !== undefined) {
      this.loose.delete(tenant, agent);
      this.attach(rec, v);
      this.attached++;
    }
    return v;
  }

  /** The state of an agent, outside of its events (a deferred decision): found like `get`, but never moved. */
  peek(tenant: string, agent: string): V | undefined {
    if (this.index >= 0 && this.boundCtx !== null) {
      const rec = this.boundCtx.agent(tenant, agent) as AgentRecord | undefined;
      if (rec !== undefined) {
        const v = this.attachedTo(rec);
        if (v !== undefined) return v;
      }
    }
    return this.loose.size === 0 ? undefined : this.loose.get(tenant, agent);
  }

  set(ctx: DetectorContext, tenant: string, agent: string, v: V): void {
    if (ctx !== this.boundCtx) this.bind(ctx);
    const rec = this.index < 0 ? undefined : (ctx.agent(tenant, agent) as AgentRecord | undefined);
    if (rec === undefined) {
      this.loose.set(tenant, agent, v); // beyond the cap, the oldest loose state goes
      return;
    }
    if (this.attachedTo(rec) === undefined) {
      // A loose state of the agent, not found since its record came back, is replaced.
      if (this.loose.size !== 0) this.loose.delete(tenant, agent);
      this.attached++;
    }
    this.attach(rec, v);
  }

  /** Forgets one agent's state. */
  delete(ctx: DetectorContext, tenant: string, agent: string): boolean {
    if (ctx !== this.boundCtx) this.bind(ctx);
    if (this.index >= 0) {
      const rec = ctx.agent(tenant, agent) as AgentRecord | undefined;
      if (rec !== undefined && this.attachedTo(rec) !== undefined) {
        slotSet(rec, this.index, undefined);
        this.attached--;
        return true;
      }
    }
    return this.loose.delete(tenant, agent);
  }

  released(value: unknown, tenant: string, agent: string): void {
    const v = value as V;
    if (v.e !== this.epoch) return;
    this.attached--;
    this.loose.set(tenant, agent, v);
  }

  /** Whether a state's last activity is before `before` (epoch ms). */
  private expired(v: V, sb: number, rb: number): boolean {
    if (v.at !== sb) return v.at < sb;
    return this.msPrecision && (v as unknown as MsState).am < rb;
  }

  /** The cutoff of a deferred eviction of the attached states (see expireIn). */
  private pendSb = 0;
  private pendRb = 0;

  expireIn(r: AgentRecord): void {
    if (this.index >= 0) this.clearExpired(r, this.pendSb, this.pendRb);
  }

  /** Clears the state attached to `r` when stale (attached before a restore) or idle past the cutoffs; true when an idle one went. */
  private clearExpired(r: AgentRecord, sb: number, rb: number): boolean {
    const i = this.index;
    const v = slotGet(r, i) as V | undefined;
    if (v === undefined) return false;
    if (v.e !== this.epoch) {
      slotSet(r, i, undefined); // attached before a restore: already gone
      return false;
    }
    if (!this.expired(v, sb, rb)) return false;
    slotSet(r, i, undefined);
    this.attached--;
    return true;
  }

  /**
   * Forgets states whose last activity (`at` in seconds, see `sec`; to the ms
   * with `msPrecision`) is before `before` (epoch ms). During the pipeline's
   * eviction the attached ones go at the directory's eviction that follows
   * (one pass over the records for all stores); the count returned is then
   * the loose ones'.
   */
  evict(before: number): number {
    const sb = sec(before);
    // atMs(v) < before ⟺ v.at < sb, or v.at === sb and v.am < the ms of `before` within its second.
    const rb = before - (SEC_EPOCH_MS + sb * 1000);
    let n = 0;
    const defer = this.index >= 0 && this.boundCtx !== null ? (this.boundCtx as Partial<SlotContext>).deferSlotEviction : undefined;
    this.pendSb = sb;
    this.pendRb = rb;
    // Deferred, the attached states go at the directory's eviction that follows.
    const deferred = defer !== undefined && this.attached > 0 && defer.call(this.boundCtx, this);
    if (!deferred && this.index >= 0 && this.boundCtx !== null) {
      (this.boundCtx as SlotContext).forEachRecord((r) => {
        if (this.clearExpired(r, sb, rb)) n++;
      });
    }
    if (this.loose.size === 0) return n;
    if (!this.msPrecision) return n + this.loose.evict(sb);
    return n + this.loose.evict(sb + 1, (v) => v.at === sb && (v as unknown as MsState).am >= rb);
  }

  get size(): number {
    return this.attached + this.loose.size;
  }

  /** Every state, as [tenant, agent, state] rows (the states themselves, not copies): attached ones in the directory's order, then loose ones. */
  rows(): [string, string, V][] {
    const rows: [string, string, V][] = [];
    if (this.attached > 0) {
      const i = this.index;
      (this.boundCtx as SlotContext).forEachRecord((r) => {
        const v = slotGet(r, i) as V | undefined;
        if (v !== undefined && v.e === this.epoch) rows.push([r.tenant_id, r.agent_id, v]);
      });
    }
    for (const row of this.loose.snapshot()) rows.push(row);
    return rows;
  }

  snapshot(): [string, string, V][] {
    return clone(this.rows());
  }

  /** Replaces every state; `copy` false when the rows are already a private copy. */
  restore(rows: [string, string, V][], copy = true): void {
    this.epoch++; // every attachment is gone (slots still holding one are cleared as they are met)
    this.attached = 0;
    this.loose.restore(copy ? clone(rows) : rows);
  }
}

// ---------------------------------------------------------------------------
// Per-blueprint detector state with O(1) access

/**
 * Per-group state of one detector, keyed (tenant, group id): a TenantMap (the
 * authoritative index, used as before) whose values are also attached to the
 * directory's group record of the event's blueprint, when the context
 * supports it. `find` then answers for the event's own blueprint from the
 * record of its agent (found once per event) instead of a map lookup per
 * detector. Attachments carry the store's epoch, bumped whenever a value
 * leaves the map or is replaced (eviction, deletion, size cap, restore).
 */
export class GroupStore<V extends Timed> extends TenantMap<V> {
  private epoch = 0;
  private boundCtx: DetectorContext | null = null;
  private index = -1;

  private bind(ctx: DetectorContext): void {
    this.boundCtx = ctx;
    const c = ctx as Partial<SlotContext>;
    const i = typeof c.groupSlot === 'function' && typeof c.current === 'function' && typeof c.groupRecord === 'function' ? c.groupSlot(this) : -1;
    this.index = i >= 0 && i < GROUP_SLOTS ? i : -1;
    this.epoch++;
  }

  /** The state of group `gid` of `tenant`: `get`, answered from the group record when `gid` is the blueprint of the event's agent. */
  find(ctx: DetectorContext, tenant: string, gid: string): V | undefined {
    if (ctx !== this.boundCtx) this.bind(ctx);
    if (this.index >= 0) {
      const c = ctx as SlotContext;
      const rec = c.current!();
      if (rec !== undefined && rec.blueprint_id === gid && rec.tenant_id === tenant) {
        const gr = c.groupRecord!(rec);
        const cached = groupSlotGet(gr, this.index, this.epoch) as V | undefined;
        if (cached !== undefined) return cached;
        const v = this.get(tenant, gid);
        if (v !== undefined) groupSlotSet(gr, this.index, v, this.epoch);
        return v;
      }
    }
    return this.get(tenant, gid);
  }

  override set(tenant: string, id: string, value: V): SetResult {
    const r = super.set(tenant, id, value);
    if (r !== ADDED) this.epoch++;
    return r;
  }

  override delete(tenant: string, id: string): boolean {
    const had = super.delete(tenant, id);
    if (had) this.epoch++;
    return had;
  }

  override evict(before: number, keep?: (value: V) => boolean, removed?: (tenant: string, id: string, value: V) => void): number {
    const n = super.evict(before, keep, removed);
    if (n > 0) this.epoch++;
    return n;
  }

  override clear(): void {
    super.clear();
    this.epoch++;
  }
}

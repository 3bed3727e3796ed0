// The agent directory: what the pipeline knows about each agent (AgentInfo),
// maintained from lifecycle and activity events, plus the small building blocks
// the detection core shares: a two-level (tenant, id) map that avoids building
// a key string per event, a string hash for compact per-key sets, and a
// peer-value registry that tells an agent's new value from its blueprint's.

import type { AgentEvent } from '../contract/events.js';
import type { AgentInfo, DetectorContext } from './detector.js';
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

// ---------------------------------------------------------------------------
// TenantMap

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

  constructor(private readonly maxKeys = 2_000_000) {}

  get(tenant: string, id: string): V | undefined {
    return this.tenants.get(tenant)?.get(id);
  }

  set(tenant: string, id: string, value: V): void {
    let m = this.tenants.get(tenant);
    if (!m) {
      m = new Map();
      this.tenants.set(tenant, m);
    }
    const had = m.has(id);
    m.set(id, value);
    if (!had) {
      this.count++;
      if (this.count > this.maxKeys) this.dropOldestInserted();
    }
  }

  delete(tenant: string, id: string): boolean {
    const m = this.tenants.get(tenant);
    if (!m || !m.delete(id)) return false;
    this.count--;
    if (m.size === 0) this.tenants.delete(tenant);
    return true;
  }

  private dropOldestInserted(): void {
    for (const [tenant, m] of this.tenants) {
      for (const id of m.keys()) {
        this.delete(tenant, id);
        return;
      }
    }
  }

  /** Forgets values whose `at` is before `before`, unless `keep` says otherwise. Returns how many were removed. */
  evict(before: number, keep?: (value: V) => boolean): number {
    let removed = 0;
    for (const [tenant, m] of this.tenants) {
      for (const [id, v] of m) {
        if (v.at < before && !(keep && keep(v))) {
          m.delete(id);
          removed++;
        }
      }
      if (m.size === 0) this.tenants.delete(tenant);
    }
    this.count -= removed;
    return removed;
  }

  get size(): number {
    return this.count;
  }

  *entries(): IterableIterator<[string, string, V]> {
    for (const [tenant, m] of this.tenants) for (const [id, v] of m) yield [tenant, id, v];
  }

  snapshot(): [string, string, V][] {
    const rows: [string, string, V][] = [];
    for (const [tenant, m] of this.tenants) for (const [id, v] of m) rows.push([tenant, id, v]);
    return rows;
  }

  restore(rows: [string, string, V][]): void {
    this.tenants.clear();
    this.count = 0;
    for (const [t, id, v] of rows) this.set(t, id, v);
  }

  clear(): void {
    this.tenants.clear();
    this.count = 0;
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

export interface PeerVerdict {
  /** Another agent of the group already uses the value without having been flagged. */
  peersUse: boolean;
  /** Distinct agents (including this one) adopting the value within the deployment window. */
  recentAdopters: number;
}

const RECENT_ADOPTERS = 6;

/** How the blueprint knows a value, before this agent's adoption is recorded. */
export function peerVerdict(g: PeerGroup, h: number, agentHash: number, at: number, windowMs: number): PeerVerdict {
  const v = g.values.get(h);
  if (!v) return { peersUse: false, recentAdopters: 1 };
  let recent = 1;
  for (let i = 0; i < v.recentAgents.length; i++) {
    if (v.recentAgents[i] !== agentHash && Math.abs(at - v.recentTimes[i]!) <= windowMs) recent++;
  }
  return { peersUse: v.clean > 0, recentAdopters: recent };
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
const MAX_SPONSORS = 8;
const MAX_CREDENTIALS = 4;

/**
 * Maintains AgentInfo for every agent from its events. Arrays start as shared
 * empty arrays and are copied on first write, so the common agent (no sponsor
 * or credential events seen) costs one small object.
 */
/** The directory's record of an agent: its AgentInfo plus slots where detectors attach their per-agent state. */
export interface AgentRecord extends AgentInfo, Timed {
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
}

/** Slots a record has; more detectors than this fall back to map lookups. */
export const RECORD_SLOTS = 12;

type SlotGet = (r: AgentRecord) => unknown;
type SlotSet = (r: AgentRecord, v: unknown) => void;
const SLOT_GET: SlotGet[] = [
  (r) => r.s0, (r) => r.s1, (r) => r.s2, (r) => r.s3, (r) => r.s4, (r) => r.s5, (r) => r.s6, (r) => r.s7,
  (r) => r.s8, (r) => r.s9, (r) => r.s10, (r) => r.s11,
];
const SLOT_SET: SlotSet[] = [
  (r, v) => { r.s0 = v; }, (r, v) => { r.s1 = v; }, (r, v) => { r.s2 = v; }, (r, v) => { r.s3 = v; },
  (r, v) => { r.s4 = v; }, (r, v) => { r.s5 = v; }, (r, v) => { r.s6 = v; }, (r, v) => { r.s7 = v; },
  (r, v) => { r.s8 = v; }, (r, v) => { r.s9 = v; }, (r, v) => { r.s10 = v; }, (r, v) => { r.s11 = v; },
];

export class AgentDirectory {
  private readonly agents: TenantMap<AgentRecord>;
  private prevTenant: string | null = null;
  private prevAgent: string | null = null;
  private prevLastSeen: number | undefined = undefined;

  /** Replace an event's agent_id/tenant_id/blueprint_id with the directory's identical string instances (faster lookups downstream). */
  intern = true;
  /** One instance of each tenant and blueprint id (few, shared by many agents). */
  private readonly strings = new Map<string, string>();

  private canonical(s: string): string {
    const c = this.strings.get(s);
    if (c !== undefined) return c;
    if (this.strings.size < 100_000) this.strings.set(s, s);
    return s;
  }

  constructor(maxAgents = 2_000_000) {
    this.agents = new TenantMap(maxAgents);
  }

  get(tenantId: string, agentId: string): AgentRecord | undefined {
    return this.agents.get(tenantId, agentId);
  }

  /** last_seen of the agent before the event last passed to `observe` (for that agent), else its current last_seen. */
  previousLastSeen(tenantId: string, agentId: string): number | undefined {
    if (agentId === this.prevAgent && tenantId === this.prevTenant) return this.prevLastSeen;
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
    if (!a) {
      this.prevLastSeen = undefined;
      a = {
        tenant_id: this.canonical(e.tenant_id),
        agent_id: e.agent_id,
        blueprint_id: e.blueprint_id === null ? null : this.canonical(e.blueprint_id),
        first_seen: t,
        last_seen: t,
        created_seen: false,
        sponsors: NO_STRINGS,
        credentials_added: NO_CREDENTIALS,
        deleted: false,
        disabled: false,
        at: t,
        s0: undefined, s1: undefined, s2: undefined, s3: undefined, s4: undefined, s5: undefined, s6: undefined, s7: undefined, s8: undefined, s9: undefined, s10: undefined, s11: undefined,
      };
      this.agents.set(e.tenant_id, e.agent_id, a);
    } else {
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
      if (a.blueprint_id === null && e.blueprint_id !== null) a.blueprint_id = this.canonical(e.blueprint_id);
    }
    this.prevTenant = e.tenant_id;
    this.prevAgent = e.agent_id;
    if (e.type === 'lifecycle') {
      switch (e.action) {
        case 'created':
          a.created_seen = true;
          if (t < a.first_seen) a.first_seen = t;
          a.deleted = false;
          if (e.blueprint_id !== null) a.blueprint_id = this.canonical(e.blueprint_id);
          if (e.sponsor_id !== null) addSponsor(a, e.sponsor_id);
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
          if (e.sponsor_id !== null) addSponsor(a, e.sponsor_id);
          break;
        case 'sponsor_removed':
          if (e.sponsor_id !== null && a.sponsors.includes(e.sponsor_id)) {
            a.sponsors = a.sponsors.filter((s) => s !== e.sponsor_id);
            if (a.sponsors.length === 0) a.sponsors = NO_STRINGS;
          }
          break;
        case 'credential_added': {
          const list = a.credentials_added === NO_CREDENTIALS ? [] : a.credentials_added;
          if (list.length >= MAX_CREDENTIALS) list.shift();
          list.push({ credential_id: e.credential_id, actor: e.actor, time: t });
          a.credentials_added = list;
          break;
        }
        default:
          break;
      }
    }
    return a;
  }

  evict(before: number): number {
    return this.agents.evict(before);
  }

  get size(): number {
    return this.agents.size;
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
        credentials_added: v.credentials_added,
        deleted: v.deleted,
        disabled: v.disabled,
      };
      out.push({ ...info, sponsors: [...v.sponsors], credentials_added: v.credentials_added.map((c) => ({ ...c })) });
    }
    return out;
  }

  restore(rows: AgentInfo[]): void {
    this.agents.clear();
    this.prevTenant = null;
    this.prevAgent = null;
    for (const r of rows) {
      this.agents.set(r.tenant_id, r.agent_id, {
        ...r,
        sponsors: r.sponsors.length ? [...r.sponsors] : NO_STRINGS,
        credentials_added: r.credentials_added.length ? r.credentials_added.map((c) => ({ ...c })) : NO_CREDENTIALS,
        at: r.last_seen,
        s0: undefined, s1: undefined, s2: undefined, s3: undefined, s4: undefined, s5: undefined, s6: undefined, s7: undefined, s8: undefined, s9: undefined, s10: undefined, s11: undefined,
      });
    }
  }
}

function addSponsor(a: AgentInfo, sponsor: string): void {
  if (a.sponsors.includes(sponsor)) return;
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
  slot(owner: object): number;
}

/**
 * State kept per agent by an AgentStore. Its `at` is in whole seconds since
 * 2020 (see `sec`), not milliseconds: a small integer is stored unboxed,
 * where an epoch-ms double costs a separate heap number per field per agent.
 * `e` is the store's epoch when attached.
 */
export interface SlotState extends Timed {
  e: number;
}

const SEC_EPOCH_MS = Date.UTC(2020, 0, 1);

/** Event time (epoch ms) as whole seconds since 2020-01-01: a small integer, unboxed in objects (good until 2054). */
export function sec(ms: number): number {
  return Math.floor((ms - SEC_EPOCH_MS) / 1000);
}

/**
 * Per-agent state of one detector: a TenantMap is the authoritative index
 * (snapshot, eviction, size) and, when the context supports it, each state is
 * also attached to a slot of the agent's directory record for fast access.
 * Eviction and restore bump the epoch, which invalidates every attachment.
 */
export class AgentStore<V extends SlotState> {
  readonly map: TenantMap<V>;
  private epoch = 0;
  private boundCtx: DetectorContext | null = null;
  private index = -1;
  private slotGet: SlotGet | null = null;
  private slotSet: SlotSet | null = null;

  constructor(maxKeys = 2_000_000) {
    this.map = new TenantMap(maxKeys);
  }

  private bind(ctx: DetectorContext): void {
    this.boundCtx = ctx;
    const slot = (ctx as Partial<SlotContext>).slot;
    const i = typeof slot === 'function' ? slot.call(ctx, this) : -1;
    this.index = i >= 0 && i < RECORD_SLOTS ? i : -1;
    this.slotGet = this.index >= 0 ? SLOT_GET[this.index]! : null;
    this.slotSet = this.index >= 0 ? SLOT_SET[this.index]! : null;
  }

  get(ctx: DetectorContext, tenant: string, agent: string): V | undefined {
    if (ctx !== this.boundCtx) this.bind(ctx);
    if (this.index < 0) return this.map.get(tenant, agent);
    const rec = ctx.agent(tenant, agent) as AgentRecord | undefined;
    if (rec === undefined) return this.map.get(tenant, agent);
    const cached = this.slotGet!(rec) as V | undefined;
    if (cached !== undefined && cached.e === this.epoch) return cached;
    const v = this.map.get(tenant, agent);
    if (v !== undefined) this.attach(rec, v);
    return v;
  }

  set(ctx: DetectorContext, tenant: string, agent: string, v: V): void {
    const had = this.map.get(tenant, agent) !== undefined;
    const before = this.map.size;
    this.map.set(tenant, agent, v);
    // The size cap dropped another key: its attachment must not outlive it.
    if (!had && this.map.size === before) this.epoch++;
    if (ctx !== this.boundCtx) this.bind(ctx);
    if (this.index < 0) return;
    const rec = ctx.agent(tenant, agent) as AgentRecord | undefined;
    if (rec !== undefined) this.attach(rec, v);
  }

  private attach(rec: AgentRecord, v: V): void {
    v.e = this.epoch;
    this.slotSet!(rec, v);
  }

  /** Forgets states whose `at` (seconds, see `sec`) is before `before` (epoch ms). */
  evict(before: number): number {
    const n = this.map.evict(sec(before));
    if (n > 0) this.epoch++;
    return n;
  }

  get size(): number {
    return this.map.size;
  }

  snapshot(): [string, string, V][] {
    return clone(this.map.snapshot());
  }

  restore(rows: [string, string, V][]): void {
    this.map.restore(clone(rows));
    this.epoch++;
  }
}

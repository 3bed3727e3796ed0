// Detector 26 — mirrored-upload: what an agent sends is copied, request by
// request, to a destination new to its blueprint (T1020 Automated
// Exfiltration).
//
// A tool or package in the agent's runtime that was updated with one extra
// line (the postmark-mcp server, September 2025, blind-copied every mail its
// agents sent to its author) sends nothing the agent would not: each of the
// agent's sends is followed, within a second or two, by a request of the same
// size plus a small envelope to the collector. Volumes stay small and slow,
// under every volume bar; the copy's host is new, but a single new host is
// not a finding on its own. What gives it away is the pairing: requests to
// the new host appear only right after the agent's sends, and track their
// sizes one for one.
//
// Rule: a request of at least 4 KiB to a host new to the blueprint (its
// agents first sent there under 6 hours ago, and 30 minutes or more after
// they first sent to the other host),
// within 3 s of the agent's previous send of at least 4 KiB to another host
// of another category, at its size (the copy from 512 bytes smaller to
// max(2 KiB, 1/16) larger), is a copy. Either may come first (a copy made
// before the send). Three copies to the same host, being at least two
// thirds of the agent's sends of 4 KiB or more there, are medium, held 3
// minutes: no finding when the host is an IT service (technology, monitoring,
// analytics...) another agent of the blueprint sends to by then (a logging or
// observability sink rolled out to the blueprint is not a shadow stream).
// Anywhere else, the whole blueprint copying to one host is the bad update on
// every agent that runs the tool: each of them is reported, unless other
// agents of the blueprint send their own work there (5 requests or more that
// copy nothing, outnumbering every copy made there): a vendor switch with a
// parallel run, each agent sending to both for a while, then to the new one
// alone. Not for copies to model providers or other
// agents (one prompt sent to two models, an agent handing work on), nor
// between hosts of one category (dual writes to two storage accounts). Once
// per agent a day.
//
// State: per agent that sends 4 KiB or more, its last such send (host hash,
// size, time, category, when its host was new) and, once a copy was
// seen, the candidate host's counts; per blueprint, the hosts its agents send
// 4 KiB or more to (first time, first sender, one or more senders).

import type { AgentEvent, NetworkEvent } from '../contract/events.js';
import type { Detection, DetectorMeta } from './types.js';
import { peerGroupId, peerGroupName, type Detector, type DetectorContext } from './detector.js';
import { AgentStore, GroupStore, NO_DETECTIONS, clone, hashString, msOfSec, sec, type SlotState, type Timed } from './agent-directory.js';
import { DueQueue, type DueItem } from './due-queue.js';
import { memoByHost, memoByLabel } from './host-memo.js';
import { isPrivateAddress } from './addresses.js';
import { categoryKey } from './categories.js';

export interface MirroredUploadOptions {
  /** Smallest request that counts as a send or a copy (bytes out). */
  minBytes?: number;
  /** Most time between a send and its copy, either way (ms). */
  pairMs?: number;
  /** Copies to one host that make a finding. */
  copies?: number;
  /** Share of the agent's sends to that host that must be copies. */
  copyShare?: number;
  /** How long a host stays new to the blueprint after its agents first send there (ms). */
  newForMs?: number;
  /** A copy's host is new to the blueprint at least this long after the original's (ms). */
  newerByMs?: number;
  /** A finding waits this long for another agent of the blueprint to send to the host (ms). */
  confirmMs?: number;
  /** Once per agent per this long (ms). */
  refireMs?: number;
  maxAgents?: number;
}

const DEFAULTS: Required<MirroredUploadOptions> = {
  minBytes: 4096,
  pairMs: 3000,
  copies: 3,
  copyShare: 2 / 3,
  newForMs: 6 * 3_600_000,
  newerByMs: 30 * 60_000,
  confirmMs: 3 * 60_000,
  refireMs: 24 * 3_600_000,
  maxAgents: 2_000_000,
};

/** Hashes kept as 30-bit small integers (unboxed in objects). */
const SMALL = 0x3fffffff;
/** Send times are kept modulo 2^30 ms (12 days: small integers); pairs are seconds apart. */
const TIME_MOD = 1 << 30;
/** Categories a copy is never judged in: one prompt sent to two models, work handed to another agent. */
const NOT_SHADOW = new Set(['llm_provider', 'agent']);
/**
 * Categories of the services a company sends copies of its traffic to on
 * purpose (observability, logging, archiving: IT vendors): a host of these
 * that other agents of the blueprint send to as well is a sink rolled out.
 * Elsewhere (shopping, marketing, personal sites, uncategorized...) the
 * whole blueprint copying to it is a package update gone bad on every agent
 * that runs it, not a rollout.
 */
const SINK_CATEGORIES = new Set(['technology', 'information_technology', 'computers_and_internet', 'internet_services', 'monitoring', 'logging', 'analytics', 'api', 'software', 'saas', 'cloud_services', 'storage', 'web_hosting']);
/** Indexes of a blueprint host's entry (see SendGroup). */
const SOLO = 3;
const SOLO_BY = 4;
const SOLO_OTHERS = 5;
const COPIES = 6;
/**
 * Requests of other agents of the blueprint to a copy's host, sent on their
 * own (no copy of anything) and outnumbering every copy made there, that make
 * the host one the blueprint is moving its work to: a vendor switch with a
 * parallel run, where each agent sends to both for a while and then to the
 * new one alone. A tool copying on every agent sends there only in copies.
 */
const ADOPTED_SOLO = 5;
/** Hosts remembered per blueprint. */
const MAX_GROUP_HOSTS = 512;
/** Copies' event ids kept for the evidence. */
const MAX_IDS = 8;

/** Per agent: its last send of minBytes or more, and the host its sends are copied to, if any. */
interface Sends extends SlotState {
  /**
   * Last send: host hash, bytes (capped), time (ms modulo TIME_MOD), category
   * hash, when the blueprint first sent to its host (s), whether a request
   * there may be a copy by its category (0 no, 1 yes, 2 yes and to an IT
   * service: see SINK_CATEGORIES).
   */
  lh: number;
  lb: number;
  lt: number;
  lc: number;
  lf: number;
  lk: number;
  /** Its host (the event's string) and event id. */
  lhost: string;
  lid: string;
  /** Last finding (s), 0 none. */
  fired: number;
  /** The candidate copy destination, null until a first copy. */
  x: Shadow | null;
}

interface Shadow {
  /** Host hash and name; copies; sends of minBytes or more to it since the first copy; first copy (s). */
  h: number;
  host: string;
  c: number;
  n: number;
  f: number;
  /** The hosts of the sends copied (up to 4), and the copies' event ids. */
  orig: string[];
  ids: string[];
}

/**
 * A blueprint's hosts: flat [first send (s), first sender hash, senders (1 or
 * 2), and, while the host is new to the blueprint: requests there that were
 * no copy by its first such sender (SOLO), that sender's hash (SOLO_BY),
 * such requests by any other agent (SOLO_OTHERS), copies there by any agent
 * (COPIES)], by host hash.
 */
interface SendGroup extends Timed {
  k: Map<number, number[]>;
}

interface PendingMirror extends DueItem {
  gid: string;
  h: number;
  ah: number;
  /** Whether the copy's host is of a sink category (see SINK_CATEGORIES). */
  sink: boolean;
  d: Detection;
}

export const mirroredUploadMeta: DetectorMeta = {
  id: 'mirrored-upload',
  title: 'Sends copied to a new destination',
  severity: 'medium',
  mitre: { id: 'T1020', name: 'Automated Exfiltration' },
  description:
    "An agent's sends are copied, one for one, to a destination new to its blueprint: a request of 4 KiB or more within 3 s of the agent's previous send to another host of another category, at its size plus a small envelope, to a host the blueprint's agents first sent to under 6 hours ago (and 30 minutes or more after the other). " +
    'Three such copies to one host, at least two thirds of what the agent sends there, are medium after 3 minutes, unless the host is an IT service (technology, monitoring, analytics...) that another agent of the blueprint sends to by then (an observability sink rolled out); elsewhere the whole blueprint copying to one host is a bad tool update on each agent that runs it, unless other agents of the blueprint send their own work there (5 requests or more that copy nothing, more than all copies made there: a vendor switch with a parallel run). ' +
    'This is a tool or package in the agent\'s runtime blind-copying what it sends (the postmark-mcp mail server, 2025): small, slow, under every volume bar. Not for model providers or other agents as the copy\'s destination, nor between hosts of one category. Once per agent a day.',
};

const hostHash = memoByHost((h) => hashString(h) & SMALL);
const categoryHash = memoByLabel((c) => hashString(c) & SMALL);
const isSink = memoByLabel((c) => SINK_CATEGORIES.has(categoryKey(c)));

export function createMirroredUploadDetector(options: MirroredUploadOptions = {}): Detector {
  const o: Required<MirroredUploadOptions> = { ...DEFAULTS, ...options };
  const agents = new AgentStore<Sends>(o.maxAgents);
  const groups = new GroupStore<SendGroup>(o.maxAgents);
  const pending = new DueQueue<PendingMirror>(16_384);
  const newForS = o.newForMs / 1000;
  const newerS = o.newerByMs / 1000;

  /** The blueprint's entry for host `h` (see SendGroup; its first element: when its agents first sent there, s), after recording this send by agent `ah`. */
  function hostEntryThenTeach(g: SendGroup, h: number, ah: number, now: number): number[] {
    let k = g.k.get(h);
    if (k === undefined) {
      if (g.k.size >= MAX_GROUP_HOSTS) g.k.delete(g.k.keys().next().value as number);
      k = [now, ah, 1, 0, 0, 0, 0];
      g.k.set(h, k);
      return k;
    }
    if (k[2] === 1 && k[1] !== ah) k[2] = 2;
    return k;
  }

  /** Counts a request of agent `ah` to the host of entry `k`, new to the blueprint, as sent on its own (+1) or, found a copy after all, not (-1). */
  function countSolo(k: number[] | undefined, ah: number, by: 1 | -1): void {
    if (k === undefined || k.length <= COPIES) return; // an entry restored from an older snapshot
    if (by === 1 && k[SOLO]! === 0 && k[SOLO_OTHERS]! === 0) k[SOLO_BY] = ah;
    const i = k[SOLO_BY] === ah ? SOLO : SOLO_OTHERS;
    if (by === 1 || k[i]! > 0) k[i] = k[i]! + by;
  }

  /** Whether agents of the blueprint other than `ah` send to host entry `k` on their own, more than anyone copies there (see ADOPTED_SOLO). */
  function adoptedByOthers(k: number[] | undefined, ah: number): boolean {
    if (k === undefined || k.length <= COPIES) return false;
    const others = k[SOLO_OTHERS]! + (k[SOLO_BY] !== ah ? k[SOLO]! : 0);
    return others >= ADOPTED_SOLO && others > k[COPIES]!;
  }

  /** Whether a request to a host first seen at `copyFirst` can copy one to a host first seen at `sentFirst`. */
  function newerHost(copyFirst: number, sentFirst: number, now: number): boolean {
    return now - copyFirst < newForS && copyFirst - sentFirst >= newerS;
  }

  function group(ctx: DetectorContext, e: NetworkEvent): SendGroup {
    const gid = peerGroupId(e.blueprint_id, e.agent_id);
    let g = groups.find(ctx, e.tenant_id, gid);
    if (g === undefined) {
      g = { at: e.time, k: new Map() };
      groups.set(e.tenant_id, gid, g);
    } else if (e.time > g.at) g.at = e.time;
    return g;
  }

  /** Whether bytes `copy` can be a copy of bytes `sent` (the same payload in an envelope). */
  function sameSize(sent: number, copy: number): boolean {
    const d = copy - sent;
    return d >= -512 && d <= Math.max(2048, sent >> 4);
  }

  function onNetwork(e: NetworkEvent, ctx: DetectorContext): Detection[] {
    if (e.bytes_out < o.minBytes || e.action !== 'allowed' || e.dest_agent_id !== null) return NO_DETECTIONS;
    if (isPrivateAddress(e.dest_ip ?? e.dest_host)) return NO_DETECTIONS;
    const now = sec(e.time);
    const ah = hashString(e.agent_id) & SMALL;
    const h = hostHash(e.dest_host);
    const c = categoryHash(e.category);
    const g = group(ctx, e);
    const entry = hostEntryThenTeach(g, h, ah, now);
    const first = entry[0]!;
    // Whether a request there may be a copy, by its category: 0 no, 1 yes, 2 yes and to an IT service.
    const kind = NOT_SHADOW.has(e.category) ? 0 : isSink(e.category) ? 2 : 1;
    const bytes = Math.min(e.bytes_out, SMALL);
    const tm = e.time % TIME_MOD;
    let s = agents.get(ctx, e.tenant_id, e.agent_id);
    if (s === undefined) {
      s = { e: 0, at: now, lh: h, lb: bytes, lt: tm, lc: c, lf: first, lk: kind, lhost: e.dest_host, lid: e.event_id, fired: 0, x: null };
      agents.set(ctx, e.tenant_id, e.agent_id, s);
      if (now - first < newForS) countSolo(entry, ah, 1);
      return NO_DETECTIONS;
    }
    if (now > s.at) s.at = now;
    const x = s.x;
    if (x !== null && x.h === h) x.n++;
    // A copy of the last send (this request copies it, or it copied this one)?
    let copyHost = 0;
    let copyName = '';
    let copyId = '';
    let copySink = false;
    let original = '';
    if (s.lh !== h && s.lc !== c) {
      let dt = (tm - s.lt) % TIME_MOD;
      if (dt > TIME_MOD / 2) dt -= TIME_MOD;
      else if (dt < -TIME_MOD / 2) dt += TIME_MOD;
      if (dt >= -o.pairMs && dt <= o.pairMs) {
        if (kind !== 0 && newerHost(first, s.lf, now) && sameSize(s.lb, bytes)) {
          copyHost = h;
          copyName = e.dest_host;
          copyId = e.event_id;
          copySink = kind === 2;
          original = s.lhost;
        } else if (s.lk !== 0 && newerHost(s.lf, first, now) && sameSize(bytes, s.lb)) {
          // The copy came first (made before the send, or delivered before it).
          copyHost = s.lh;
          copyName = s.lhost;
          copyId = s.lid;
          copySink = s.lk === 2;
          original = e.dest_host;
        }
      }
    }
    let out: Detection[] = NO_DETECTIONS;
    if (copyHost !== 0) {
      const k = g.k.get(copyHost);
      if (k !== undefined && k.length > COPIES) k[COPIES]!++;
      // The copy came first: it was counted as sent on its own.
      if (copyHost !== h && now - s.lf < newForS) countSolo(k, ah, -1);
      out = noteCopy(e, s, copyHost, copyName, copyId, copySink, original, now, ah);
      if (copyHost === h) return out; // the original stays the last send
    }
    if (now - first < newForS) countSolo(entry, ah, 1);
    s.lh = h;
    s.lb = bytes;
    s.lt = tm;
    s.lc = c;
    s.lf = first;
    s.lk = kind;
    s.lhost = e.dest_host;
    s.lid = e.event_id;
    return out;
  }

  function noteCopy(e: NetworkEvent, s: Sends, h: number, host: string, id: string, sink: boolean, original: string, now: number, ah: number): Detection[] {
    let x = s.x;
    if (x === null || (x.h !== h && x.c < 2)) {
      // The copy itself is the first send to its host counted (this request, or the last one when it came first).
      x = s.x = { h, host, c: 0, n: 1, f: now, orig: [], ids: [] };
    } else if (x.h !== h) return NO_DETECTIONS;
    x.c++;
    if (x.orig.length < 4 && !x.orig.includes(original)) x.orig.push(original);
    if (x.ids.length < MAX_IDS) x.ids.push(id);
    if (x.c < o.copies || x.c < o.copyShare * x.n) return NO_DETECTIONS;
    if (s.fired !== 0 && now - s.fired < o.refireMs / 1000) return NO_DETECTIONS;
    s.fired = now;
    const d: Detection = {
      detector: mirroredUploadMeta.id,
      severity: 'medium',
      tenant_id: e.tenant_id,
      agent_id: e.agent_id,
      time: e.time,
      summary:
        `Agent ${e.agent_id}'s sends to ${x.orig.join(', ')} were copied ${x.c} times, each within ${o.pairMs / 1000} s and at its size, to ${x.host}, ` +
        'a destination new to its blueprint: a tool in its runtime blind-copying what it sends',
      evidence: {
        observed: { copy_host: x.host, copies: x.c, sends_to_copy_host: x.n, copied_hosts: x.orig.slice(), first_copy: msOfSec(x.f) },
        baseline: { copy_host_new_to_blueprint: true, new_for_h: o.newForMs / 3_600_000 },
        threshold: `${o.copies} copies (each within ${o.pairMs / 1000} s of a send of ${o.minBytes} bytes or more, from 512 bytes smaller to max(2 KiB, 1/16) larger), at least ${Math.round(o.copyShare * 100)} % of the sends there, to a host new to the blueprint (first sent to under ${o.newForMs / 3_600_000} h ago, ${o.newerByMs / 60_000} min or more after the other); for an IT service, confirmed when no other agent of the blueprint sends to it within ${o.confirmMs / 60_000} min`,
        peer_group: peerGroupName(e.blueprint_id) ?? `agent:${e.agent_id}`,
      },
      event_ids: x.ids.slice(),
    };
    if (o.confirmMs <= 0) return [d];
    pending.add({ tenant_id: e.tenant_id, agent_id: e.agent_id, due: e.time + o.confirmMs, gid: peerGroupId(e.blueprint_id, e.agent_id), h, ah, sink, d });
    return NO_DETECTIONS;
  }

  function decide(p: PendingMirror): Detection | null {
    const k = groups.get(p.tenant_id, p.gid)?.k.get(p.h);
    if (p.sink && k !== undefined && k[2]! >= 2) return null; // another agent of the blueprint sends to this IT service: a sink rolled out
    if (adoptedByOthers(k, p.ah)) return null; // the blueprint's other agents send their work there: a destination it moves to
    // The agent's later sends there, not copies, show it calls that host for its own work.
    const x = agents.peek(p.tenant_id, p.agent_id)?.x;
    if (x !== undefined && x !== null && x.h === p.h && x.c < o.copyShare * x.n) return null;
    return { ...p.d, time: p.due, summary: p.sink ? `${p.d.summary}; no other agent of its blueprint sent to it within ${o.confirmMs / 60_000} min` : p.d.summary };
  }

  return {
    meta: mirroredUploadMeta,
    types: ['network'] as const,
    observe(e: AgentEvent, ctx: DetectorContext): Detection[] {
      return e.type === 'network' && e.bytes_out >= o.minBytes ? onNetwork(e, ctx) : NO_DETECTIONS;
    },
    advance: (watermark: number): Detection[] => pending.takeDue(watermark, decide),
    settle: (): Detection[] => pending.takeDue(Infinity, decide),
    evict(before: number): void {
      agents.evict(before);
      groups.evict(before);
      pending.evict(before);
    },
    size(): number {
      return agents.size + groups.size + pending.size;
    },
    snapshot(): unknown {
      const rows = groups.snapshot().map(([t, id, g]) => [t, id, { at: g.at, k: [...g.k] }] as const);
      return clone({ version: 1, agents: agents.rows(), groups: rows, pending: pending.snapshot() });
    },
    restore(snapshot: unknown): void {
      const s = clone(snapshot) as { version: number; agents: [string, string, Sends][]; groups: [string, string, { at: number; k: [number, number[]][] }][]; pending: PendingMirror[] };
      if (s?.version !== 1) throw new Error('mirrored-upload: unsupported snapshot');
      agents.restore(s.agents, false);
      groups.restore(s.groups.map(([t, id, g]) => [t, id, { at: g.at, k: new Map(g.k) }]));
      pending.restore(s.pending);
    },
  };
}

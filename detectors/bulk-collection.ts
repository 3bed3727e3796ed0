// Detector 16 — bulk-collection: an agent pulls far more data in than it and
// its blueprint's agents ever do (TA0009 Collection: a stolen credential
// dumping a mailbox, a CRM, a storage account through the agent's own APIs).
//
// The theft of data starts with reading it: a mail-triage agent that reads a
// few kilobytes per message now downloads megabytes per call, a CRM sync that
// fetches deltas now exports tables. Exfiltration judges what leaves; this
// detector judges what comes in (network events' bytes_in), on the agent's own
// resources, where every destination is familiar.
//
// Per agent, the bytes received over a sliding 10 minutes (five 2-minute
// sub-windows, in KiB: small integers) are compared with:
// - the agent's own decaying peak of that sum (half-life 3 days: last week's
//   nightly export is still remembered, a one-off backfill fades);
// - its blueprint's peak: the highest decayed peak of its agents (an agent
//   minutes old is judged by its peers: a fleet that downloads models at
//   start-up teaches that to its new agents).
// Rule: at least 64 MiB within 10 minutes, 10× the agent's own peak (once it
// has an hour of history and 20 calls) and 5× its blueprint's (once 3 of its
// agents have peaks), or, for an agent still learning, 10× its blueprint's →
// low, confirmed 3 minutes later unless 2 other agents of the blueprint
// also went over 10× their own peaks within 10 minutes (a blueprint-wide
// backfill or re-index). Without any baseline, no finding. Once per agent per
// hour. What an agent flagged pulls is not learned as its peak.
// Low, not medium: reading much more than usual is also what agents are
// asked to do (a data-subject export, a data room analysed for a user, a
// compaction job), and the volume alone cannot tell. With another finding
// (a new network, a new credential) the risk engine raises the agent; on
// its own it is evidence for the analyst. (As medium it flagged 6 of 305
// benign look-alikes of black-box rounds 5 and 6 for one attack caught.)
// Medium when the pull itself says more than its volume:
// - a sweep: bulk data (1 MiB or more a call) from 4 or more distinct hosts
//   within 10 minutes, seen by the end of the confirmation minutes (the agent's
//   keys or role reaching every storage account of the subscription, one
//   after another; a job reads its one or two stores);
// - a directory or file-share dump: most of it, from the call that crossed
//   the threshold through the confirmation minutes, over LDAP, the global
//   catalog, SMB or NFS (389, 636, 3268-3269, 445, 139, 2049): an agent that
//   talks HTTPS APIs pulling the domain's objects or SYSVOL (SMB and NFS
//   count only for an agent that did not read from a file share a window or
//   more before: a design agent pulling more of its files from its NAS is
//   its work grown large, low by its volume); so is a pull
//   from an RPC dynamic port (49152+) of a host whose endpoint mapper (135)
//   the agent called within 10 minutes: from a domain controller, directory
//   replication (a DCSync pulling every account's hashes); unless it sends
//   as much out (80 %, in uploads of 1 MiB or more elsewhere) over the same
//   minutes: a system-state backup writing each chunk to its store as it
//   reads it is a copy job, and what leaves is exfiltration's to judge;
// - an in-place rewrite: 5 or more objects of 1 MiB or more written back to
//   the host they were read from, each at its size or up to 64 KiB more,
//   making half of the pull or more: encryption in place (cloud ransomware
//   with the agent's own token); a copy goes elsewhere, a compaction or a
//   transcoding changes the sizes. Such a rewrite is medium whatever the
//   agent's peak once 10 objects (32 MiB) went back within 10 minutes (an
//   agent whose usual pulls are large never crosses 10x its peak doing it),
//   5 minutes later unless another agent of the blueprint rose or did the
//   same within 10 minutes of it: a release rewriting every agent's
//   documents (sensitivity labels stamped in, metadata embedded), not one
//   agent's store encrypted.
//
// State: per agent ~100 bytes (the sub-window sums, peak, learning counts;
// for an agent that once pulled 16 MiB in 10 minutes, its latest 4 bulk hosts);
// per blueprint the peaks of its 32 most recent agents and a ring of recent
// rises.

import type { AgentEvent, NetworkEvent } from '../contract/events.js';
import type { Detection, DetectorMeta } from './types.js';
import { peerGroupName, type Detector, type DetectorContext } from './detector.js';
import { AgentStore, GroupStore, NO_DETECTIONS, clone, hashString, msOfSec, sec, type SlotState, type Timed } from './agent-directory.js';
import { DueQueue } from './due-queue.js';
import { RING_SUBS, ringAdd, ringSlide, ringSum, type SubWindowRing } from './sub-window-ring.js';

export interface BulkCollectionOptions {
  /** The sliding window, ms (five sub-windows). */
  windowMs?: number;
  /** Least volume received within the window that can be a finding, bytes. */
  minBytes?: number;
  /** Multiple of the agent's own peak, and of its blueprint's. */
  agentFactor?: number;
  peerFactor?: number;
  /** Multiple of the blueprint's peak for an agent still learning. */
  youngPeerFactor?: number;
  /** Half-life of a peak, ms. */
  peakHalfLifeMs?: number;
  /** An agent's own baseline: this much history and this many calls. */
  learnMs?: number;
  learnCalls?: number;
  /** Agents with peaks a blueprint needs for its baseline. */
  peerAgents?: number;
  /** A finding waits this long for the blueprint's other agents to rise too, ms. */
  confirmMs?: number;
  /** Other agents rising over riseFactor × their own peaks within riseWindowMs make it blueprint-wide. */
  wideAgents?: number;
  riseFactor?: number;
  riseWindowMs?: number;
  /** One finding per agent per this, ms. */
  refireMs?: number;
  maxAgents?: number;
}

const DEFAULTS: Required<BulkCollectionOptions> = {
  windowMs: 10 * 60_000,
  minBytes: 64 * 1024 * 1024,
  agentFactor: 10,
  peerFactor: 5,
  youngPeerFactor: 10,
  peakHalfLifeMs: 3 * 24 * 3_600_000,
  learnMs: 60 * 60_000,
  learnCalls: 20,
  peerAgents: 3,
  confirmMs: 3 * 60_000,
  wideAgents: 2,
  riseFactor: 10,
  riseWindowMs: 10 * 60_000,
  refireMs: 60 * 60_000,
  maxAgents: 2_000_000,
};

/** Agents whose peaks a blueprint remembers (the most recently updated). */
const GROUP_PEAKS = 32;
/** Recent rises a blueprint remembers. */
const GROUP_RISES = 16;
/** A sliding sum becomes the agent's peak this long after it was seen, s (see promote). */
const PROMOTE_S = 3600;
/** Below this (KiB in 10 minutes) a rise is no rise: an idle agent's first real call. */
const MIN_RISE_KIB = 16 * 1024;

/** Per agent. Volumes in KiB, times in seconds (see `sec`): small integers, stored unboxed. */
/** Per agent; its ring (SubWindowRing) holds the KiB received per sub-window. */
interface AgentIntake extends SlotState, SubWindowRing {
  /** Decayed peak of the sliding sum, as of `pk`: of windows at least an hour old (see promote). */
  peak: number;
  pk: number;
  /** The highest sliding sum since `ca` (this hour), and in the hour before: each becomes the peak an hour after its own. */
  cand: number;
  pv: number;
  ca: number;
  /** When `cand` and `pv` were reached (s): the end of their windows. */
  ct: number;
  pt: number;
  /** First call and calls counted (up to learnCalls). */
  first: number;
  n: number;
  /** Last finding (or pending one), 0 when none. */
  fired: number;
  /** While it pulls 16 MiB or more in 10 minutes: the latest distinct hosts of its bulk calls, flat [host hash, time (s)], and when they last made a sweep (see the header). */
  bh?: number[];
  sw?: number;
  /**
   * While it pulls 16 MiB or more in 10 minutes: its latest reads of 1 MiB or
   * more not yet written back, flat [host hash, bytes]; the writes of exactly
   * those back to where they came from (count, KiB, first one's time (s));
   * the last such finding (s). See rewrites.
   */
  rw?: number[];
  rn?: number;
  rk?: number;
  rt?: number;
  rf?: number;
  /** Its latest call to RPC's endpoint mapper (port 135): host hash, time (s); absent until one (see replicationCall). */
  ep?: number;
  et?: number;
  /** Its first read from a file share (SMB, NFS) outside any finding, s: a window or more before a pull, files are its work (see notePull); absent until one. */
  fs?: number;
}

interface IntakeGroup extends Timed {
  /** Flat [agent hash, decayed peak KiB, as of (s)] triples, the most recently updated last. */
  pk: number[];
  /** Flat [agent hash, time (s)] pairs of recent rises. */
  rs: number[];
}

/** An in-place rewrite found whatever the peak, held for REWRITE_HOLD_MS (see decideRewrite). */
interface HeldRewrite {
  tenant_id: string;
  agent_id: string;
  due: number;
  bp: string;
  d: Detection;
}

interface Pending {
  tenant_id: string;
  agent_id: string;
  due: number;
  bp: string | null;
  t: number;
  kib: number;
  own: number;
  peers: number;
  host: string;
  ids: string[];
  /** From the crossing call on: KiB seen, and KiB over directory or file-share ports. */
  seen?: number;
  dir?: number;
  /** From the crossing call on: KiB sent elsewhere than those ports, in calls of MIRROR_CALL_KIB or more. */
  out?: number;
  /** The latest reads of MIRROR_CALL_KIB or more not yet written back: flat [host hash, bytes]. */
  rd?: number[];
  /** Writes of exactly what was read, back to the host it came from: count and KiB. */
  pairs?: number;
  paired?: number;
}

/** The least upload that counts towards mirroring a pull (KiB), and the share of it that makes a copy job. */
const MIRROR_CALL_KIB = 1024;
const MIRROR_SHARE = 0.8;

/** Distinct hosts of bulk calls that make a sweep, and the least call that counts (KiB). */
const SWEEP_HOSTS = 4;
const SWEEP_CALL_KIB = 1024;
/** LDAP, LDAPS, global catalog, SMB, NetBIOS session, NFS. */
const DIRECTORY_PORTS = new Set([389, 636, 3268, 3269, 445, 139, 2049]);
/** Of those, the file shares' (SMB, NFS). */
const FILE_SHARE_PORTS = new Set([445, 139, 2049]);

/** Reads kept for pairing with their write-back, and how much larger the write may be (an encryption header), bytes. */
const REWRITE_READS = 8;
const REWRITE_SLACK_BYTES = 65_536;
/** Pairs, and the share of the pull written back in pairs, that make an in-place rewrite. */
const REWRITE_PAIRS = 5;
const REWRITE_SHARE = 0.5;
/** An in-place rewrite judged whatever the peak waits this long for the blueprint's other agents, ms (see rewrites). */
const REWRITE_HOLD_MS = 5 * 60_000;
/** An in-place rewrite judged whatever the peak: this many objects, this many MiB in all. */
const REWRITE_RUN = 10;
const REWRITE_RUN_MIB = 32;

/** An RPC dynamic port reached this soon after the same host's endpoint mapper is that service's (s). */
const RPC_BIND_S = 10 * 60;

/**
 * True when `e` reaches an RPC dynamic port (49152 and up) of the host whose
 * endpoint mapper (135) the agent called within RPC_BIND_S: the service it
 * looked up there. From a domain controller, bulk data that way is directory
 * replication (DRSUAPI GetNCChanges: a DCSync pulling every account's hashes).
 */
function replicationCall(a: AgentIntake, e: NetworkEvent, now: number): boolean {
  return a.ep !== undefined && e.dest_port >= 49152 && now - a.et! <= RPC_BIND_S && hashString(e.dest_host) === a.ep;
}

/**
 * Counts a call of the agent's pending finding (see the header: directory
 * dumps, in-place rewrites); `replication`: see replicationCall. A pull from
 * a file share by an agent that reads files from shares in its daily work (a
 * design agent on its NAS) is its work grown large, not a share dumped by an
 * agent of HTTPS APIs: judged by its volume alone.
 */
function notePull(p: Pending, a: AgentIntake, e: NetworkEvent, kib: number, replication: boolean, windowS: number): void {
  p.seen = (p.seen ?? 0) + kib;
  const workShares = a.fs !== undefined && sec(p.t) - a.fs >= windowS;
  if (replication || (DIRECTORY_PORTS.has(e.dest_port) && !(workShares && FILE_SHARE_PORTS.has(e.dest_port)))) p.dir = (p.dir ?? 0) + kib;
  if (e.bytes_in >= MIRROR_CALL_KIB * 1024) noteRead((p.rd ??= []), e);
}

/** Keeps a read of 1 MiB or more for pairing with its write-back: flat [host hash, bytes], the latest REWRITE_READS. */
function noteRead(reads: number[], e: NetworkEvent): void {
  if (reads.length >= 2 * REWRITE_READS) reads.splice(0, 2);
  reads.push(hashString(e.dest_host), e.bytes_in);
}

/**
 * The read that `e` writes back, taken out of `reads`: one from the host `e`
 * writes to, of its size or up to REWRITE_SLACK_BYTES less. Its bytes, or 0
 * when there is none.
 */
function takeWrittenBack(reads: number[], e: NetworkEvent): number {
  const host = hashString(e.dest_host);
  for (let i = 0; i < reads.length; i += 2) {
    const read = reads[i + 1]!;
    if (reads[i] === host && e.bytes_out >= read && e.bytes_out <= read + REWRITE_SLACK_BYTES) {
      reads.splice(i, 2);
      return read;
    }
  }
  return 0;
}

/** An upload while a pull is judged: the write-back of one of its reads (same host, the same size or a little more)? */
function notePairedWrite(p: Pending, e: NetworkEvent): void {
  if (p.rd === undefined) return;
  const read = takeWrittenBack(p.rd, e);
  if (read === 0) return;
  p.pairs = (p.pairs ?? 0) + 1;
  p.paired = (p.paired ?? 0) + Math.round(read / 1024);
}

/**
 * Remembers the host of one of the agent's bulk calls (the latest
 * SWEEP_HOSTS distinct ones); when they all fall within `windowS` of `now`,
 * the agent is sweeping (sw).
 */
function noteBulkHost(a: AgentIntake, host: string, now: number, windowS: number): void {
  const h = hashString(host);
  const bh = a.bh ?? (a.bh = []);
  for (let i = 0; i < bh.length; i += 2) {
    if (bh[i] !== h) continue;
    bh[i + 1] = now;
    return;
  }
  if (bh.length >= 2 * SWEEP_HOSTS) bh.splice(0, 2);
  bh.push(h, now);
  if (bh.length < 2 * SWEEP_HOSTS) return;
  for (let i = 1; i < bh.length; i += 2) if (now - bh[i]! > windowS) return;
  a.sw = now;
}

export const bulkCollectionMeta: DetectorMeta = {
  id: 'bulk-collection',
  title: 'Bulk data collection',
  severity: 'low',
  mitre: { id: 'T1530', name: 'Data from Cloud Storage' },
  description:
    'An agent receives far more data than it and its blueprint ever do: at least 64 MiB within 10 minutes, 10× its own peak (decaying, half-life 3 days, of windows at least an hour old; once it has an hour of history) and 5× the highest peak of its blueprint\'s agents, ' +
    'or, for an agent still learning, 10× its blueprint\'s (low: with another finding, such as a new network or credential, the agent rises; agents are also asked to read a lot): a stolen credential dumping a mailbox, a CRM or a storage account through the agent\'s own APIs. ' +
    'Confirmed 3 minutes later unless 2 other agents of the blueprint rise over 10× their own peaks within 10 minutes (a blueprint-wide backfill). What a flagged agent pulls is not learned. ' +
    'Medium when it pulled bulk data (1 MiB a call) from 4 or more distinct hosts within the window through those 3 minutes (a sweep of the subscription\'s storage accounts), or most of it, from the call that crossed the threshold on, over LDAP, the global catalog, SMB or NFS (a directory or SYSVOL dump by an agent of HTTPS APIs; SMB and NFS not for an agent that read from file shares 10 minutes or more before: its work) or from an RPC dynamic port of a host whose endpoint mapper (135) it called within 10 minutes (directory replication: a DCSync), or when 5 or more objects of 1 MiB or more, half the pull or more, are written back to the host they came from at their size or up to 64 KiB more (rewritten in place: ransomware encrypting a store with the agent\'s own token); such a rewrite is medium whatever the agent\'s peak once 10 objects (32 MiB) went back within 10 minutes, 5 minutes later unless another agent of the blueprint rose or did the same within 10 minutes of it (a release rewriting every agent\'s documents: sensitivity labels stamped in).',
};

export function createBulkCollectionDetector(options: BulkCollectionOptions = {}): Detector {
  const o: Required<BulkCollectionOptions> = { ...DEFAULTS, ...options };
  const agents = new AgentStore<AgentIntake>(o.maxAgents);
  const groups = new GroupStore<IntakeGroup>(1_000_000);
  const pending = new DueQueue<Pending>(65_536);
  /** In-place rewrites found whatever the peak, waiting for the blueprint's other agents (see rewrites). */
  const heldRewrites = new DueQueue<HeldRewrite>(65_536);
  const subS = o.windowMs / RING_SUBS / 1000;
  const halfLifeS = o.peakHalfLifeMs / 1000;
  const minKiB = Math.round(o.minBytes / 1024);

  function decayed(peak: number, since: number, now: number): number {
    return now > since ? peak * Math.pow(0.5, (now - since) / halfLifeS) : peak;
  }

  /** The blueprint's peak: the highest decayed peak of its agents other than `ah`, and how many it knows. */
  let peerCount = 0;
  function peerPeak(g: IntakeGroup, ah: number, now: number): number {
    let best = 0;
    peerCount = 0;
    const pk = g.pk;
    for (let i = 0; i < pk.length; i += 3) {
      if (pk[i] === ah) continue;
      peerCount++;
      const v = decayed(pk[i + 1]!, pk[i + 2]!, now);
      if (v > best) best = v;
    }
    return best;
  }

  /** The decayed peak the group holds for agent `ah` (0 when none). */
  function peerPeakOf(g: IntakeGroup, ah: number, now: number): number {
    const pk = g.pk;
    for (let i = 0; i < pk.length; i += 3) if (pk[i] === ah) return decayed(pk[i + 1]!, pk[i + 2]!, now);
    return 0;
  }

  function recordPeak(g: IntakeGroup, ah: number, peak: number, now: number): void {
    const pk = g.pk;
    for (let i = 0; i < pk.length; i += 3) {
      if (pk[i] !== ah) continue;
      pk[i + 1] = peak;
      pk[i + 2] = now;
      return;
    }
    if (pk.length >= 3 * GROUP_PEAKS) {
      // The least recently updated goes.
      let victim = 0;
      for (let i = 3; i < pk.length; i += 3) if (pk[i + 2]! < pk[victim + 2]!) victim = i;
      pk.splice(victim, 3);
    }
    pk.push(ah, peak, now);
  }

  /** Other agents of the group that rose over riseFactor × their own peaks within riseWindowMs of `now`. */
  function otherRises(g: IntakeGroup, ah: number, now: number): number {
    const rs = g.rs;
    const seen: number[] = [];
    for (let i = 0; i < rs.length; i += 2) {
      if (rs[i] === ah || Math.abs(rs[i + 1]! - now) > o.riseWindowMs / 1000 || seen.includes(rs[i]!)) continue;
      seen.push(rs[i]!);
    }
    return seen.length;
  }

  function markRise(g: IntakeGroup, ah: number, now: number): void {
    const rs = g.rs;
    for (let i = 0; i < rs.length; i += 2) {
      if (rs[i] === ah) {
        rs[i + 1] = now;
        return;
      }
    }
    if (rs.length >= 2 * GROUP_RISES) rs.splice(0, 2);
    rs.push(ah, now);
  }

  function onNetwork(e: NetworkEvent, ctx: DetectorContext): Detection[] {
    const now = sec(e.time);
    let a = agents.get(ctx, e.tenant_id, e.agent_id);
    if (a === undefined) {
      a = { e: 0, at: now, r0: 0, r1: 0, r2: 0, r3: 0, r4: 0, sub: Math.floor(now / subS), peak: 0, pk: now, cand: 0, pv: 0, ca: now, ct: 0, pt: 0, first: now, n: 0, fired: 0 };
      agents.set(ctx, e.tenant_id, e.agent_id, a);
    } else if (now > a.at) a.at = now;
    if (now < a.first) a.first = now;
    if (a.n < o.learnCalls) a.n++;
    if (e.dest_port === 135) {
      a.ep = hashString(e.dest_host);
      a.et = now;
    }
    const kib = Math.round(e.bytes_in / 1024);
    // An upload while a pull is judged: a dump mirrored to storage as it is read is a copy job (see decide).
    if (a.fired !== 0 && e.bytes_out >= MIRROR_CALL_KIB * 1024 && !DIRECTORY_PORTS.has(e.dest_port)) {
      const p = pending.get(e.tenant_id, e.agent_id);
      if (p !== undefined) {
        p.out = (p.out ?? 0) + Math.round(e.bytes_out / 1024);
        notePairedWrite(p, e);
      }
    }
    // A write of what it just read, back where it came from (see rewrites): judged whatever its peak
    // (while a pull of it is judged, that finding says so instead).
    if (a.rw !== undefined && e.bytes_out >= MIRROR_CALL_KIB * 1024 && !pending.has(e.tenant_id, e.agent_id)) {
      const d = rewrites(a, e, now);
      if (d !== null) {
        // Shown to the blueprint as a rise, and held: its other agents doing the same within minutes is a release.
        const bp = e.blueprint_id ?? ctx.agent(e.tenant_id, e.agent_id)?.blueprint_id ?? null;
        if (bp === null) return [d];
        markRise(touchGroup(ctx, e.tenant_id, bp, e.time), hashString(e.agent_id) | 1, now);
        heldRewrites.add({ tenant_id: e.tenant_id, agent_id: e.agent_id, due: e.time + REWRITE_HOLD_MS, bp, d });
        return NO_DETECTIONS;
      }
    }
    // Slide: sub-windows older than the window are emptied (a late event lands in its own, if still in the window).
    const sb = Math.floor(now / subS);
    ringSlide(a, sb);
    if (kib === 0 || !ringAdd(a, sb, kib)) return NO_DETECTIONS;
    const sum = ringSum(a);
    const flagged = a.fired !== 0 && now - a.fired < o.refireMs / 1000;
    // Most calls: a small sum, nothing to judge or show; only this hour's candidate moves (the
    // blueprint is looked up when an hour turns).
    if (sum < MIN_RISE_KIB && !flagged) {
      if (a.fs === undefined && FILE_SHARE_PORTS.has(e.dest_port)) a.fs = now;
      if (now - a.ca >= PROMOTE_S) promoteOf(e, a, now, ctx);
      if (sum > a.cand) {
        a.cand = sum;
        a.ct = now;
      }
      return NO_DETECTIONS;
    }
    if (kib >= SWEEP_CALL_KIB) {
      noteBulkHost(a, e.dest_host, now, o.windowMs / 1000);
      noteRead((a.rw ??= []), e);
    }
    // The last full hour's highest sum (pv) counts too when its window ended a window or more
    // before this one: it holds nothing of the pull judged now (a pull rising across the hour's
    // turn is judged against the older peak alone), and an agent whose first hours were its
    // routine has that routine as its baseline an hour sooner (a backup that reads its hosts
    // every hour, first judged one hour in, on its second run).
    const own = now - a.pt >= o.windowMs / 1000 ? Math.max(decayed(a.peak, a.pk, now), a.pv) : decayed(a.peak, a.pk, now);
    const bp = e.blueprint_id ?? ctx.agent(e.tenant_id, e.agent_id)?.blueprint_id ?? null;
    const g = bp === null ? undefined : touchGroup(ctx, e.tenant_id, bp, e.time);
    const ah = hashString(e.agent_id) | 1;
    // A rise over its own peak is shown to the blueprint (a blueprint-wide backfill is several).
    if (g !== undefined && sum >= MIN_RISE_KIB && sum >= o.riseFactor * own) markRise(g, ah, now);
    if (sum >= minKiB && !flagged) {
      const peers = g === undefined ? 0 : peerPeak(g, ah, now);
      const peersKnown = g !== undefined && peerCount >= o.peerAgents;
      const ownReady = a.n >= o.learnCalls && now - a.first >= o.learnMs / 1000;
      const over = ownReady
        ? sum >= o.agentFactor * own && (!peersKnown || sum >= o.peerFactor * peers)
        : peersKnown && sum >= o.youngPeerFactor * peers;
      if (over) {
        a.fired = now;
        const p: Pending = { tenant_id: e.tenant_id, agent_id: e.agent_id, due: e.time + o.confirmMs, bp, t: e.time, kib: sum, own: Math.round(own), peers: peersKnown ? Math.round(peers) : -1, host: e.dest_host, ids: [e.event_id] };
        notePull(p, a, e, kib, replicationCall(a, e, now), o.windowMs / 1000);
        pending.add(p);
        return NO_DETECTIONS;
      }
    }
    // Learned as the agent's (and its blueprint's) own an hour later, unless it is being judged:
    // against its latest minutes, a rise that builds up call by call would never be a rise.
    if (!flagged) {
      if (a.fs === undefined && FILE_SHARE_PORTS.has(e.dest_port)) a.fs = now;
      if (now - a.ca >= PROMOTE_S) promote(a, g, ah, now);
      if (sum > a.cand) {
        a.cand = sum;
        a.ct = now;
      }
    } else {
      const p = pending.get(e.tenant_id, e.agent_id);
      if (p !== undefined) {
        notePull(p, a, e, kib, replicationCall(a, e, now), o.windowMs / 1000);
        if (sum > p.kib) {
          p.kib = sum;
          if (p.ids.length < 4) p.ids.push(e.event_id);
        }
      }
    }
    return NO_DETECTIONS;
  }

  /**
   * An in-place rewrite, whatever the agent's peak: REWRITE_RUN objects of 1
   * MiB or more written back to the host they were read from, each at its
   * size or up to REWRITE_SLACK_BYTES more, adding up to REWRITE_RUN_MIB,
   * within the window: medium, once an hour. Ransomware encrypts a store
   * object by object with the agent's own token; an agent whose usual pulls
   * are large would never cross 10× its peak doing it.
   */
  function rewrites(a: AgentIntake, e: NetworkEvent, now: number): Detection | null {
    const read = takeWrittenBack(a.rw!, e);
    if (read === 0) return null;
    if (a.rt === undefined || now - a.rt > o.windowMs / 1000) {
      a.rt = now;
      a.rn = 0;
      a.rk = 0;
    }
    a.rn = (a.rn ?? 0) + 1;
    a.rk = (a.rk ?? 0) + Math.round(read / 1024);
    if (a.rn < REWRITE_RUN || a.rk < REWRITE_RUN_MIB * 1024) return null;
    if (a.rf !== undefined && now - a.rf < o.refireMs / 1000) return null;
    a.rf = now;
    const mib = Math.round(a.rk / 1024);
    return {
      detector: bulkCollectionMeta.id,
      severity: 'medium',
      tenant_id: e.tenant_id,
      agent_id: e.agent_id,
      time: e.time,
      summary:
        `Agent ${e.agent_id} wrote ${a.rn} objects (${mib} MiB) back to ${e.dest_host} within ${Math.max(1, Math.round((now - a.rt) / 60))} min, each at the size it had just been read or a few bytes more: ` +
        'rewritten in place, as ransomware encrypts a store with the agent\'s own token',
      evidence: {
        observed: { rewritten_in_place: a.rn, rewritten_bytes: a.rk * 1024, host: e.dest_host, since: msOfSec(a.rt) },
        baseline: 'a copy goes elsewhere; a compaction or a transcoding changes the sizes',
        threshold: `${REWRITE_RUN} objects of 1 MiB or more, ${REWRITE_RUN_MIB} MiB in all, written back to their host at their size (up to ${REWRITE_SLACK_BYTES} bytes more) within ${o.windowMs / 60_000} min`,
        peer_group: peerGroupName(e.blueprint_id),
      },
      event_ids: [e.event_id],
    };
  }

  /** promote, with the agent's blueprint looked up. */
  function promoteOf(e: NetworkEvent, a: AgentIntake, now: number, ctx: DetectorContext): void {
    const bp = e.blueprint_id ?? ctx.agent(e.tenant_id, e.agent_id)?.blueprint_id ?? null;
    promote(a, bp === null ? undefined : touchGroup(ctx, e.tenant_id, bp, e.time), hashString(e.agent_id) | 1, now);
  }

  /**
   * A new hour: the highest sum of the hour before last becomes the peak
   * (when higher), this hour's waits an hour more. So the baseline never
   * holds the minutes being judged.
   */
  function promote(a: AgentIntake, g: IntakeGroup | undefined, ah: number, now: number): void {
    const own = decayed(a.peak, a.pk, now);
    if (a.pv > own) {
      a.peak = a.pv;
      a.pk = now;
      if (g !== undefined) recordPeak(g, ah, a.pv, now);
    }
    a.pv = now - a.ca < 2 * PROMOTE_S ? a.cand : 0;
    a.pt = a.ct;
    a.cand = 0;
    a.ca = now;
  }

  function touchGroup(ctx: DetectorContext, tenant: string, bp: string, t: number): IntakeGroup {
    let g = groups.find(ctx, tenant, bp);
    if (g === undefined) {
      g = { at: t, pk: [], rs: [] };
      groups.set(tenant, bp, g);
    } else if (t > g.at) g.at = t;
    return g;
  }

  /**
   * A held in-place rewrite: medium unless another agent of the blueprint rose
   * or rewrote in place within the rise window of it (a release rewriting every
   * agent's documents: labels stamped, metadata embedded). One is enough, as
   * the hold is short: ransomware run from two agents of one blueprint at
   * once is the rarer case.
   */
  function decideRewrite(h: HeldRewrite): Detection | null {
    const g = groups.get(h.tenant_id, h.bp);
    const others = g === undefined ? 0 : otherRises(g, hashString(h.agent_id) | 1, sec(h.d.time));
    if (others >= 1) return null;
    return { ...h.d, time: h.due, summary: `${h.d.summary}; no other agent of its blueprint did the same within ${o.riseWindowMs / 60_000} min` };
  }

  /** A finding's confirmation window closed: medium unless the blueprint rose with it. */
  function decide(p: Pending, time: number): Detection | null {
    const g = p.bp === null ? undefined : groups.get(p.tenant_id, p.bp);
    const ah = hashString(p.agent_id) | 1;
    if (g !== undefined && otherRises(g, ah, sec(p.t)) >= o.wideAgents) {
      // Blueprint-wide: the blueprint's at once (its agents that start the same backfill later are
      // judged against it), the agent's own an hour on, as any volume.
      const a = agents.peek(p.tenant_id, p.agent_id);
      if (a !== undefined) {
        a.fired = 0;
        if (p.kib > a.cand) a.cand = p.kib;
      }
      if (p.kib > peerPeakOf(g, ah, sec(p.t))) recordPeak(g, ah, p.kib, sec(p.t));
      return null;
    }
    const mib = (kib: number) => Math.round(kib / 1024);
    // A sweep seen from the window before the crossing until now (the confirmation minutes, and the
    // calls that came in while event time got past them).
    const sw = agents.peek(p.tenant_id, p.agent_id)?.sw;
    const sweep = sw !== undefined && sw >= sec(p.t) - o.windowMs / 1000;
    // A dump written out as it is read, as much as was read (a domain controller's system state
    // copied to the backup store chunk by chunk), is a copy job: what leaves is exfiltration's to judge.
    const mirrored = (p.out ?? 0) >= MIRROR_SHARE * (p.dir ?? 0);
    const directory = (p.dir ?? 0) * 2 > (p.seen ?? 0) && !mirrored;
    // Each object written back where it was read, at its size or a few bytes more, seconds later:
    // encryption in place (ransomware with the agent's own token). A copy goes elsewhere; a
    // compaction or a transcoding changes the sizes.
    const rewrite = (p.pairs ?? 0) >= REWRITE_PAIRS && (p.paired ?? 0) >= REWRITE_SHARE * (p.seen ?? 0);
    const how = sweep
      ? `; a sweep: bulk data from ${SWEEP_HOSTS} or more hosts one after another`
      : directory
        ? '; most of it over directory or file-share protocols (LDAP, SMB, NFS, directory replication over RPC)'
        : rewrite
          ? `; ${p.pairs} objects written back to where they were read at the same size, seconds later (rewritten in place, as ransomware encrypts a store)`
          : '';
    return {
      detector: bulkCollectionMeta.id,
      severity: sweep || directory || rewrite ? 'medium' : 'low',
      tenant_id: p.tenant_id,
      agent_id: p.agent_id,
      time,
      summary:
        `Agent ${p.agent_id} received ${mib(p.kib)} MiB within ${o.windowMs / 60_000} min (latest from ${p.host}), ` +
        (p.own > 0 || p.peers < 0 ? `${Math.round(p.kib / Math.max(p.own, 1))}× its own peak of ${mib(p.own)} MiB` : 'its first hour') +
        (p.peers >= 0 ? `; its blueprint's agents peak at ${mib(p.peers)} MiB` : '') +
        how,
      evidence: {
        observed: { bytes_in: p.kib * 1024, window_s: o.windowMs / 1000, latest_host: p.host, first_over: p.t, sweep: sweep, directory_bytes: (p.dir ?? 0) * 1024, uploaded_bytes: (p.out ?? 0) * 1024, rewritten_in_place: p.pairs ?? 0, rewritten_bytes: (p.paired ?? 0) * 1024 },
        baseline: { agent_peak_bytes: p.own * 1024, blueprint_peak_bytes: p.peers < 0 ? null : p.peers * 1024 },
        threshold: `at least ${mib(minKiB)} MiB, ${o.agentFactor}× the agent's peak and ${o.peerFactor}× its blueprint's (${o.youngPeerFactor}× the blueprint's for an agent still learning); not ${o.wideAgents} other agents of the blueprint rising with it within ${o.confirmMs / 60_000} min`,
        peer_group: peerGroupName(p.bp),
      },
      event_ids: p.ids.slice(),
    };
  }

  return {
    meta: bulkCollectionMeta,
    types: ['network'] as const,
    observe(e: AgentEvent, ctx: DetectorContext): Detection[] {
      return e.type === 'network' ? onNetwork(e, ctx) : NO_DETECTIONS;
    },
    advance(watermark: number): Detection[] {
      // Dated when due (a sparse stream's watermark may get there late).
      const out = pending.size === 0 ? NO_DETECTIONS : pending.takeDue(watermark, (p) => decide(p, p.due));
      if (heldRewrites.size === 0) return out;
      const held = heldRewrites.takeDue(watermark, decideRewrite);
      return held.length === 0 ? out : out.length === 0 ? held : [...out, ...held];
    },
    // End of a replay: findings still waiting are decided, dated when due.
    settle(): Detection[] {
      const out = pending.size === 0 ? NO_DETECTIONS : pending.takeDue(Infinity, (p) => decide(p, p.due));
      const held = heldRewrites.size === 0 ? NO_DETECTIONS : heldRewrites.takeDue(Infinity, decideRewrite);
      return held.length === 0 ? out : [...out, ...held];
    },
    evict(before: number): void {
      agents.evict(before);
      groups.evict(before);
      pending.evict(before);
      heldRewrites.evict(before);
    },
    size(): number {
      return agents.size + groups.size + pending.size + heldRewrites.size;
    },
    snapshot(): unknown {
      return clone({ version: 1, agents: agents.rows(), groups: groups.snapshot(), pending: pending.snapshot(), held: heldRewrites.snapshot() });
    },
    restore(snapshot: unknown): void {
      const s = clone(snapshot) as { version: number; agents: [string, string, AgentIntake][]; groups: [string, string, IntakeGroup][]; pending: Pending[]; held?: HeldRewrite[] };
      if (s?.version !== 1) throw new Error('bulk-collection: unsupported snapshot');
      // Snapshots from before ct and pt: their pv is not used until it is next set.
      for (const [, , a] of s.agents) {
        a.ct ??= 0;
        a.pt ??= Number.MAX_SAFE_INTEGER;
      }
      agents.restore(s.agents, false);
      groups.restore(s.groups);
      pending.restore(s.pending);
      heldRewrites.restore(s.held ?? []);
    },
  };
}

// Detector 6 — impossible-travel: one credential of an agent used from places
// too far apart for the time between them, or concurrently from two networks.
//
// A workload does not travel, but it does move: a redeployment to another
// region or cloud is a jump that never comes back. A stolen credential looks
// different: the legitimate agent keeps working from home while the thief
// works from elsewhere, so the credential alternates between two networks.
// Hence three findings:
// - Concurrent use: two sign-ins with the same credential within 10 s from two
//   different ASNs (and IPs), one of them news (as below). Medium.
// - Interleaved use: the credential returns to a network after another one was
//   used since (A → B → A within 30 min), where A and B are different ASNs or
//   at least 500 km apart and the newer of the two was first used by the
//   agent within the last 24 h, and 30 min or more after the older one (an
//   agent that has always alternated, or has from its first minutes, is
//   dual-homed, not news) or with another client (user agent, version digits
//   aside: a dual-homed deployment runs one build in both places, a thief
//   who found the secret minutes after the first deploy runs his own tools). Medium: the two places are in use at once, whatever the distance
//   (an attacker renting a server in the agent's own country or cloud).
// - Travel: a jump between places ≥ 500 km apart faster than 1000 km/h, from
//   different networks (a cloud provider moving a workload between its own
//   regions keeps its ASN; nearby regions are under the minimum distance).
//   Low: on its own it cannot be told from a move; if the old place is used
//   again, it is interleaved use.
// - Every new sign-in is compared with the last few distinct sightings by
//   |Δt|, so events up to 60 s out of order are handled either way round.
// - Places (1° cell and ASN) the blueprint's peers already use, or that
//   several of its agents moved to together (a deployment), are not evidence.
// Medium is confirmed after 3 minutes of event time: reported low at once,
// then medium unless other agents of the blueprint moved to the new place
// meanwhile (the first movers of a blue/green cut-over run in both places).

import type { AgentEvent } from '../contract/events.js';
import type { Detection } from './types.js';
import type { Detector, DetectorContext } from './detector.js';
import { formatDuration, peerGroupName } from './detector.js';
import { DueQueue } from './due-queue.js';
import {
  NO_DETECTIONS,
  AgentStore,
  GroupStore,
  type SlotState,
  blueprintOf,
  clone,
  hashInt,
  clientHash,
  hashString,
  peerAdopt,
  touchPeerGroup,
  peerFamiliarToOthers,
  sec,
  restoreGroups,
  snapshotGroups,
  type PeerGroup,
  type PeerGroupSnapshot,
  type Timed,
} from './agent-directory.js';

export interface ImpossibleTravelOptions {
  maxSpeedKmh?: number;
  minDistanceKm?: number;
  concurrentMs?: number;
  /** Distinct sightings remembered per agent. */
  sightings?: number;
  /** After firing, the agent is quiet this long. */
  quietMs?: number;
  /** A return to a network after another was used since, within this long, is interleaved use. */
  interleaveMs?: number;
  /** Interleaving is news only while the newer of the two networks was first used this recently by the agent... */
  newPlaceMs?: number;
  /** ...and at least this long after the older one (an agent that alternates from its first minutes is dual-homed). */
  placeGapMs?: number;
  /** Location cells (1° grid) remembered per blueprint. */
  peerCap?: number;
  deploymentAgents?: number;
  deploymentWindowMs?: number;
  /**
   * A medium finding is confirmed this long after (event time): reported low
   * at once, then medium unless other agents of the blueprint moved to the new
   * place meanwhile (the first movers of a region move). 0 = medium at once.
   */
  confirmMs?: number;
}

interface Pending {
  tenant_id: string;
  agent_id: string;
  blueprint_id: string;
  agentHash: number;
  cell: number;
  time: number;
  due: number;
  summary: string;
  evidence: Detection['evidence'];
  event_ids: string[];
}

/**
 * Stride of a sighting in AgentState.s: last use, lat, lon, asn (-1 =
 * unknown), credential hash, ip hash, first use, client (hash of the user
 * agent without its version digits, 0 = none).
 */
const STRIDE = 8;

interface AgentState extends SlotState {
  s: number[];
  ids: string[];
  /** When a medium finding (concurrent or interleaved use) last fired. Seconds (see `sec`), like `at`; sighting times in `s` are epoch ms. */
  firedAt: number;
  /** When a travel finding (low) last fired, seconds. */
  movedAt: number;
}

interface Snapshot {
  agents: [string, string, AgentState][];
  groups: [string, string, PeerGroupSnapshot][];
  pending: Pending[];
}

const DEFAULTS: Required<ImpossibleTravelOptions> = {
  maxSpeedKmh: 1000,
  minDistanceKm: 500,
  concurrentMs: 10_000,
  sightings: 4,
  quietMs: 60 * 60_000,
  interleaveMs: 30 * 60_000,
  newPlaceMs: 24 * 3600_000,
  placeGapMs: 30 * 60_000,
  peerCap: 256,
  deploymentAgents: 3,
  deploymentWindowMs: 30 * 60_000,
  confirmMs: 3 * 60_000,
};

const EARTH_RADIUS_KM = 6371.0088;

/** Great-circle distance in km (haversine). */
export function haversineKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const r = Math.PI / 180;
  const dLat = (lat2 - lat1) * r;
  const dLon = (lon2 - lon1) * r;
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * r) * Math.cos(lat2 * r) * Math.sin(dLon / 2) ** 2;
  return 2 * EARTH_RADIUS_KM * Math.asin(Math.min(1, Math.sqrt(a)));
}

/** Key of a place in the peer registry: its 1° cell and its network (ASN, -1 unknown). */
function placeKey(lat: number, lon: number, asn: number): number {
  const cell = (Math.round(lat) + 90) * 400 + (Math.round(lon) + 180) + 1;
  return (Math.imul(cell, 0x27d4eb2f) ^ hashInt(asn)) | 0;
}

export function createImpossibleTravelDetector(options: ImpossibleTravelOptions = {}): Detector<Snapshot> {
  const o = { ...DEFAULTS, ...options };
  const agents = new AgentStore<AgentState>();
  const groups = new GroupStore<PeerGroup>();
  const pending = new DueQueue<Pending>();

  /** A medium finding whose confirmation time came: medium unless the blueprint moved there meanwhile. */
  function decide(p: Pending): Detection | null {
    if (familiarToPeers(groups.get(p.tenant_id, p.blueprint_id), p.cell, p.agentHash, p.time)) return null;
    return {
      detector: 'impossible-travel',
      severity: 'medium',
      tenant_id: p.tenant_id,
      agent_id: p.agent_id,
      time: p.due,
      summary: `${p.summary}; no other agent of blueprint ${p.blueprint_id} moved there within ${Math.round(o.confirmMs / 60_000)} min`,
      evidence: { ...p.evidence, confirmation: 'confirmed' },
      event_ids: p.event_ids,
    };
  }

  function advance(watermark: number): Detection[] {
    return pending.takeDue(watermark, decide);
  }

  /** Peers use the place, or several agents moved there together; this agent's own use does not count. */
  function familiarToPeers(g: PeerGroup | undefined, place: number, agentHash: number, t: number): boolean {
    if (!g) return false;
    return peerFamiliarToOthers(g, place, agentHash, t, o.deploymentWindowMs, o.deploymentAgents);
  }

  /** The peer-registry key of sighting j, or 0 when it has no coordinates. */
  function placeOf(s: number[], j: number): number {
    return Number.isNaN(s[j + 1]!) ? 0 : placeKey(s[j + 1]!, s[j + 2]!, s[j + 3]!);
  }

  /**
   * Whether two networks of the agent, first used at `a` and `b` by clients
   * `ca` and `cb`, are news at `t`: the newer one first used within
   * newPlaceMs, and placeGapMs or more after the older one (else the agent
   * has long used both, or has from its first minutes: dual-homed) unless
   * the two networks present different clients. A dual-homed deployment runs
   * one build in both places; a secret leaked minutes after the agent was
   * created is used with the thief's own tooling.
   */
  function isNews(a: number, b: number, t: number, ca: number, cb: number): boolean {
    const newer = a > b ? a : b;
    const older = a > b ? b : a;
    return t - newer <= o.newPlaceMs && (newer - older >= o.placeGapMs || (ca !== 0 && cb !== 0 && ca !== cb));
  }

  /**
   * Interleaved use: this sign-in returns to place `same` (last used at
   * s[same]) after another place k was used since, within interleaveMs, k
   * being another network or far away; the newer of the two first used
   * recently and not a place the blueprint uses. Returns k, or -1.
   */
  function interleaved(s: number[], same: number, cred: number, asn: number, lat: number, lon: number, client: number, t: number, g: PeerGroup | undefined, agentHash: number): number {
    const prev = s[same]!;
    if (Math.abs(t - prev) > o.interleaveMs) return -1;
    for (let k = 0; k < s.length; k += STRIDE) {
      if (k === same || s[k + 4] !== cred) continue;
      if (!(s[k]! > prev && s[k + 6]! < t)) continue;
      const kAsn = s[k + 3]!;
      const otherNetwork = asn >= 0 && kAsn >= 0 && kAsn !== asn;
      if (!otherNetwork && !(Number.isFinite(lat) && !Number.isNaN(s[k + 1]!) && haversineKm(lat, lon, s[k + 1]!, s[k + 2]!) >= o.minDistanceKm)) continue;
      if (!isNews(s[k + 6]!, s[same + 6]!, t, s[k + 7]!, client)) continue;
      const newer = s[k + 6]! > s[same + 6]! ? k : same;
      const place = placeOf(s, newer);
      if (place !== 0 && familiarToPeers(g, place, agentHash, t)) continue;
      return k;
    }
    return -1;
  }

  function observe(e: AgentEvent, ctx: DetectorContext): Detection[] {
    if (e.type !== 'signin' || e.result !== 'success') return NO_DETECTIONS;
    const hasLoc = e.lat !== null && e.lon !== null;
    if (!hasLoc && e.asn === null) return NO_DETECTIONS;
    const t = e.time;
    const lat = e.lat ?? NaN;
    const lon = e.lon ?? NaN;
    const asn = e.asn ?? -1;
    const cred = e.credential_id === null ? 0 : hashString(e.credential_id);
    const ip = hashString(e.ip);
    const client = e.user_agent === null ? 0 : clientHash(e.user_agent) | 1;

    let a = agents.get(ctx, e.tenant_id, e.agent_id);
    if (!a) {
      a = { at: sec(t), e: 0, s: [], ids: [], firedAt: -(1 << 30), movedAt: -(1 << 30) };
      agents.set(ctx, e.tenant_id, e.agent_id, a);
    }
    if (sec(t) > a.at) a.at = sec(t);
    const s = a.s;

    // Compare with the remembered sightings of the same credential.
    let best = -1;
    let bestSpeed = 0;
    let bestDist = 0;
    let concurrent = -1;
    let same = -1;
    for (let j = 0; j < s.length; j += STRIDE) {
      if (s[j + 4] !== cred) continue;
      const sLat = s[j + 1]!;
      const sLon = s[j + 2]!;
      const sAsn = s[j + 3]!;
      const dt = Math.abs(t - s[j]!);
      const sameAsn = asn >= 0 && sAsn === asn;
      if (hasLoc && !Number.isNaN(sLat)) {
        const d = sLat === lat && sLon === lon ? 0 : haversineKm(lat, lon, sLat, sLon);
        if (d < 50 && (sameAsn || asn < 0 || sAsn < 0)) same = j;
        if (d >= o.minDistanceKm && !sameAsn) {
          const speed = dt === 0 ? Infinity : d / (dt / 3600_000);
          if (speed > o.maxSpeedKmh && speed > bestSpeed) {
            best = j;
            bestSpeed = speed;
            bestDist = d;
          }
        }
      } else if (!hasLoc && Number.isNaN(sLat) && sameAsn) {
        same = j;
      }
      if (dt <= o.concurrentMs && asn >= 0 && sAsn >= 0 && sAsn !== asn && s[j + 5] !== ip && concurrent < 0) concurrent = j;
    }

    const bp = blueprintOf(e, ctx);
    let g: PeerGroup | undefined;
    if (bp !== null && hasLoc) {
      g = touchPeerGroup(groups, ctx, e.tenant_id, bp, t);
    }
    const agentHash = g ? hashString(e.agent_id) : 0;
    const place = hasLoc ? placeKey(lat, lon, asn) : 0;

    const now = sec(t);
    const quiet = o.quietMs / 1000;
    const mediumQuiet = now - a.firedAt <= quiet;
    let out: Detection[] = NO_DETECTIONS;
    // Which finding: concurrent use, else interleaved use, else travel (low).
    let kind: 'concurrent' | 'interleaved' | 'travel' | null = null;
    let hit = -1;
    // Concurrent use of two networks the agent has long used, or from its start, is dual-homing.
    if (concurrent >= 0 && !isNews(same >= 0 ? s[same + 6]! : t, s[concurrent + 6]!, t, client, s[concurrent + 7]!)) concurrent = -1;
    if (!mediumQuiet && concurrent >= 0) {
      kind = 'concurrent';
      hit = concurrent;
    } else if (!mediumQuiet && same >= 0 && s.length > STRIDE) {
      hit = interleaved(s, same, cred, asn, lat, lon, client, t, g, agentHash);
      if (hit >= 0) kind = 'interleaved';
    }
    // Two places the agent has used for longer than newPlaceMs are its own: no travel between them.
    const established = same >= 0 && best >= 0 && t - s[same + 6]! > o.newPlaceMs && t - s[best + 6]! > o.newPlaceMs;
    if (kind === null && best >= 0 && !established && !mediumQuiet && now - a.movedAt > quiet) {
      kind = 'travel';
      hit = best;
    }
    if (kind !== null) {
      const oLat = s[hit + 1]!;
      const oLon = s[hit + 2]!;
      const otherPlace = placeOf(s, hit);
      const bothFamiliar =
        kind !== 'interleaved' && place !== 0 && otherPlace !== 0 && familiarToPeers(g, place, agentHash, t) && familiarToPeers(g, otherPlace, agentHash, t);
      if (!bothFamiliar) {
        const other = {
          time: new Date(s[hit]!).toISOString(),
          lat: Number.isNaN(oLat) ? null : oLat,
          lon: Number.isNaN(oLon) ? null : oLon,
          asn: s[hit + 3]! < 0 ? null : s[hit + 3]!,
        };
        const here = { time: new Date(t).toISOString(), lat: e.lat, lon: e.lon, asn: e.asn, ip: e.ip, country: e.country };
        const gapMs = Math.abs(t - s[hit]!);
        const hours = gapMs / 3600_000;
        const credName = e.credential_id ?? '(none)';
        let summary: string;
        let observed: Record<string, unknown>;
        let baseline: unknown;
        let threshold: Record<string, number>;
        // The place that is new: the newer of the two for interleaving, else this one (or, this being a familiar place, the other).
        let newPlace = place;
        if (kind === 'travel') {
          a.movedAt = now;
          summary = `Agent ${e.agent_id} used credential ${credName} ${Math.round(bestDist)} km apart within ${formatDuration(gapMs)} (${bestSpeed === Infinity ? 'simultaneously' : `${Math.round(bestSpeed)} km/h`}) from AS${other.asn ?? '?'} and AS${e.asn ?? '?'}${e.country ? ` (${e.country})` : ''}; low unless the old place is used again (then both are in use)`;
          observed = { distance_km: Math.round(bestDist), hours: Math.round(hours * 10000) / 10000, speed_kmh: bestSpeed === Infinity ? null : Math.round(bestSpeed), from: other, to: here };
          baseline = { max_plausible_speed_kmh: o.maxSpeedKmh };
          threshold = { speed_kmh: o.maxSpeedKmh, min_distance_km: o.minDistanceKm };
        } else if (kind === 'concurrent') {
          a.firedAt = now;
          summary = `Agent ${e.agent_id} used credential ${credName} concurrently from two networks (AS${other.asn} and AS${e.asn}) within ${formatDuration(gapMs)}`;
          observed = { seconds_apart: Math.round(hours * 36000) / 10, from: other, to: here };
          baseline = 'one network at a time per credential';
          threshold = { concurrent_s: o.concurrentMs / 1000 };
          if (place !== 0 && familiarToPeers(g, place, agentHash, t)) newPlace = otherPlace;
        } else {
          a.firedAt = now;
          const newer = s[hit + 6]! > s[same + 6]! ? hit : same;
          newPlace = newer === hit ? otherPlace : place;
          const km = hasLoc && !Number.isNaN(oLat) ? Math.round(haversineKm(lat, lon, oLat, oLon)) : null;
          const back = { time: new Date(s[same]!).toISOString(), event_id: a.ids[same / STRIDE]! };
          summary = `Agent ${e.agent_id} used credential ${credName} from two networks in turn: AS${e.asn ?? '?'}${e.country ? ` (${e.country})` : ''} at ${back.time}, AS${other.asn ?? '?'} at ${other.time}, and AS${e.asn ?? '?'} again now${km !== null ? ` (${km} km apart)` : ''}; the ${newer === hit ? 'other' : 'returning'} network is new to the agent since ${new Date(s[newer + 6]!).toISOString()}`;
          observed = { minutes: Math.round((t - Math.min(s[same]!, s[hit + 6]!)) / 600) / 100, distance_km: km, previous_here: back, other, here };
          baseline = { newer_network_first_used: new Date(s[newer + 6]!).toISOString(), used_by_peers: false };
          threshold = { interleave_s: o.interleaveMs / 1000, new_network_s: o.newPlaceMs / 1000 };
        }
        const wantsMedium = kind !== 'travel';
        const confirm = wantsMedium && g !== undefined && bp !== null && newPlace !== 0 && o.confirmMs > 0;
        const evidence: Detection['evidence'] = {
          observed,
          baseline,
          threshold,
          peer_group: peerGroupName(bp),
          credential_id: e.credential_id,
          pattern: kind,
          confirmation: confirm ? 'pending' : null,
        };
        const eventIds = kind === 'interleaved' ? [a.ids[same / STRIDE]!, a.ids[hit / STRIDE]!, e.event_id] : [a.ids[hit / STRIDE]!, e.event_id];
        if (confirm && bp !== null && !pending.has(e.tenant_id, e.agent_id))
          pending.add({ tenant_id: e.tenant_id, agent_id: e.agent_id, blueprint_id: bp, agentHash, cell: newPlace, time: t, due: t + o.confirmMs, summary, evidence: clone(evidence), event_ids: eventIds });
        out = [
          {
            detector: 'impossible-travel',
            severity: wantsMedium && !confirm ? 'medium' : 'low',
            tenant_id: e.tenant_id,
            agent_id: e.agent_id,
            time: t,
            summary: confirm ? `${summary}; medium unless blueprint peers move there within ${Math.round(o.confirmMs / 60_000)} min` : summary,
            evidence,
            event_ids: eventIds,
          },
        ];
      }
    }

    if (g && same < 0) peerAdopt(g, place, agentHash, t, out === NO_DETECTIONS, o.peerCap);

    // Remember this sighting: refresh the same place, else replace the oldest.
    if (same >= 0) {
      if (t >= s[same]!) {
        s[same] = t;
        s[same + 5] = ip;
        s[same + 7] = client;
        a.ids[same / STRIDE] = e.event_id;
      }
      if (t < s[same + 6]!) s[same + 6] = t;
    } else if (s.length < o.sightings * STRIDE) {
      // Exactly sized (a pushed array reserves spare slots; most agents have one place).
      const n = s.length;
      const next: number[] = new Array<number>(n + STRIDE);
      for (let j = 0; j < n; j++) next[j] = s[j]!;
      writeSighting(next, n, t, lat, lon, asn, cred, ip, client);
      a.s = next;
      const ids = a.ids;
      const nextIds: string[] = new Array<string>(ids.length + 1);
      for (let j = 0; j < ids.length; j++) nextIds[j] = ids[j]!;
      nextIds[ids.length] = e.event_id;
      a.ids = nextIds;
    } else {
      let oldest = 0;
      for (let j = STRIDE; j < s.length; j += STRIDE) if (s[j]! < s[oldest]!) oldest = j;
      writeSighting(s, oldest, t, lat, lon, asn, cred, ip, client);
      a.ids[oldest / STRIDE] = e.event_id;
    }
    return out;
  }
  return {
    types: ['signin'] as const,
    meta: {
      id: 'impossible-travel',
      title: 'Impossible travel or concurrent use of a credential',
      severity: 'medium',
      description:
        'One credential of an agent is in use from two places at once: from two networks within seconds, or alternating between two networks (A, then B, then A again within 30 min; different ASNs or 500 km apart) where one of them is new to the agent, or both are but present different clients (medium, confirmed after 3 min unless the blueprint moves there). A one-way jump of 500 km or more faster than 1000 km/h between networks is low: it cannot be told from a redeployment until the old place is used again. Places the blueprint\'s peers already use, and blueprint-wide moves, are not evidence. Out-of-order events (±60 s) are compared by absolute time difference.',
      mitre: { id: 'T1078.004', name: 'Valid Accounts: Cloud Accounts' },
    },
    observe,
    advance,
    settle: () => pending.takeDue(Infinity, decide),
    evict(before) {
      agents.evict(before);
      groups.evict(before);
      pending.evict(before);
    },
    size: () => agents.size + groups.size + pending.size,
    snapshot: () => ({
      agents: agents.snapshot().map(([t, id, v]) => [t, id, { ...v, s: v.s.map(nanToNull) as number[] }]),
      groups: snapshotGroups(groups),
      pending: pending.snapshot(),
    }),
    restore(s) {
      agents.restore(clone(s.agents).map(([t, id, v]) => [t, id, { ...v, movedAt: v.movedAt ?? v.firedAt, s: upgradeSightings(v.s.map(nullToNan), v.ids.length) }]));
      restoreGroups(groups, s.groups);
      pending.restore(s.pending);
    },
  };
}

/** Writes a new sighting at offset j (first and last use both t). */
function writeSighting(s: number[], j: number, t: number, lat: number, lon: number, asn: number, cred: number, ip: number, client: number): void {
  s[j] = t;
  s[j + 1] = lat;
  s[j + 2] = lon;
  s[j + 3] = asn;
  s[j + 4] = cred;
  s[j + 5] = ip;
  s[j + 6] = t;
  s[j + 7] = client;
}

/**
 * Sightings of a snapshot taken with fewer numbers each: before first use
 * was kept (6; first use taken as last use), before the client was kept (7;
 * client unknown).
 */
function upgradeSightings(s: number[], sightings: number): number[] {
  if (sightings === 0 || s.length === sightings * STRIDE) return s;
  const old = s.length / sightings;
  const out: number[] = [];
  for (let j = 0; j < s.length; j += old) {
    out.push(...s.slice(j, j + old));
    if (old < 7) out.push(s[j]!);
    out.push(0);
  }
  return out;
}

function nanToNull(x: number): number | null {
  return Number.isNaN(x) ? null : x;
}

function nullToNan(x: number | null): number {
  return x === null ? NaN : x;
}

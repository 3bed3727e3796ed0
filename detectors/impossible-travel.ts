// Detector 6 — impossible-travel: one credential of an agent used from places
// too far apart for the time between them, or concurrently from two networks.
//
// - Travel: successful sign-ins with the same credential (same agent) whose
//   great-circle distance is ≥ 500 km and whose implied speed is > 1000 km/h,
//   from different networks (ASNs): a cloud provider moving a workload between
//   its own regions keeps its ASN, and nearby regions are under the minimum
//   distance.
// - Concurrent use: two sign-ins with the same credential within 10 s from two
//   different ASNs (and IPs).
// - Every new sign-in is compared with the last few distinct sightings by
//   |Δt|, so events up to 60 s out of order are handled either way round.
// - If the blueprint's peers use both places (or several agents of the
//   blueprint moved there together: a deployment), it is not travel.
// Both are medium — a direct sign of a stolen credential — except travel under
// 2000 km (neighbouring regions, geo-IP error), which is low. Medium is
// confirmed after 3 minutes of event time: reported low at once, then medium
// unless other agents of the blueprint moved to the new place meanwhile.

import type { AgentEvent } from '../contract/events.js';
import type { Detection } from './types.js';
import type { Detector, DetectorContext } from './detector.js';
import { agentKey, peerGroupName } from './detector.js';
import {
  NO_DETECTIONS,
  AgentStore,
  GroupStore,
  type SlotState,
  blueprintOf,
  clone,
  hashString,
  peerAdopt,
  touchPeerGroup,
  peerFamiliar,
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
  /** Travel over at least this distance is medium; shorter (nearby regions, geo-IP error) is low. */
  mediumDistanceKm?: number;
  concurrentMs?: number;
  /** Distinct sightings remembered per agent. */
  sightings?: number;
  /** After firing, the agent is quiet this long. */
  quietMs?: number;
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

/** Stride of a sighting in AgentState.s: time, lat, lon, asn (-1 = unknown), credential hash, ip hash. */
const STRIDE = 6;

interface AgentState extends SlotState {
  s: number[];
  ids: string[];
  /** Seconds (see `sec`), like `at`; sighting times in `s` are epoch ms. */
  firedAt: number;
}

interface Snapshot {
  agents: [string, string, AgentState][];
  groups: [string, string, PeerGroupSnapshot][];
  pending: Pending[];
}

const DEFAULTS: Required<ImpossibleTravelOptions> = {
  maxSpeedKmh: 1000,
  minDistanceKm: 500,
  mediumDistanceKm: 2000,
  concurrentMs: 10_000,
  sightings: 4,
  quietMs: 60 * 60_000,
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

function cellHash(lat: number, lon: number): number {
  return (Math.round(lat) + 90) * 400 + (Math.round(lon) + 180) + 1;
}

export function createImpossibleTravelDetector(options: ImpossibleTravelOptions = {}): Detector<Snapshot> {
  const o = { ...DEFAULTS, ...options };
  const agents = new AgentStore<AgentState>();
  const groups = new GroupStore<PeerGroup>();
  const pending = new Map<string, Pending>();

  function advance(watermark: number): Detection[] {
    if (pending.size === 0) return NO_DETECTIONS;
    let out: Detection[] | null = null;
    for (const [k, p] of pending) {
      if (p.due > watermark) continue;
      pending.delete(k);
      if (familiarToPeers(groups.get(p.tenant_id, p.blueprint_id), p.cell, p.agentHash, p.time)) continue;
      (out ??= []).push({
        detector: 'impossible-travel',
        severity: 'medium',
        tenant_id: p.tenant_id,
        agent_id: p.agent_id,
        time: p.due,
        summary: `${p.summary}; no other agent of blueprint ${p.blueprint_id} moved there within ${Math.round(o.confirmMs / 60_000)} min`,
        evidence: { ...p.evidence, confirmation: 'confirmed' },
        event_ids: p.event_ids,
      });
    }
    return out ?? NO_DETECTIONS;
  }

  function familiarToPeers(g: PeerGroup | undefined, cell: number, agentHash: number, t: number): boolean {
    if (!g) return false;
    return peerFamiliar(g, cell, agentHash, t, o.deploymentWindowMs, o.deploymentAgents);
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

    let a = agents.get(ctx, e.tenant_id, e.agent_id);
    if (!a) {
      a = { at: sec(t), e: 0, s: [], ids: [], firedAt: -(1 << 30) };
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
    const cell = hasLoc ? cellHash(lat, lon) : 0;

    let out: Detection[] = NO_DETECTIONS;
    const hit = best >= 0 ? best : concurrent;
    if (hit >= 0 && sec(t) - a.firedAt > o.quietMs / 1000) {
      const oLat = s[hit + 1]!;
      const oLon = s[hit + 2]!;
      const bothFamiliar =
        hasLoc &&
        !Number.isNaN(oLat) &&
        familiarToPeers(g, cell, agentHash, t) &&
        familiarToPeers(g, cellHash(oLat, oLon), agentHash, t);
      if (!bothFamiliar) {
        a.firedAt = sec(t);
        const other = {
          time: new Date(s[hit]!).toISOString(),
          lat: Number.isNaN(oLat) ? null : oLat,
          lon: Number.isNaN(oLon) ? null : oLon,
          asn: s[hit + 3]! < 0 ? null : s[hit + 3]!,
        };
        const here = { time: new Date(t).toISOString(), lat: e.lat, lon: e.lon, asn: e.asn, ip: e.ip, country: e.country };
        const hours = Math.abs(t - s[hit]!) / 3600_000;
        const travel = best >= 0;
        const summary = travel
          ? `Agent ${e.agent_id} used credential ${e.credential_id ?? '(none)'} ${Math.round(bestDist)} km apart within ${formatGap(Math.abs(t - s[hit]!))} (${bestSpeed === Infinity ? 'simultaneously' : `${Math.round(bestSpeed)} km/h`}) from AS${other.asn ?? '?'} and AS${e.asn ?? '?'}${e.country ? ` (${e.country})` : ''}`
          : `Agent ${e.agent_id} used credential ${e.credential_id ?? '(none)'} concurrently from two networks (AS${other.asn} and AS${e.asn}) within ${formatGap(Math.abs(t - s[hit]!))}`;
        const wantsMedium = !(travel && bestDist < o.mediumDistanceKm);
        const hereFamiliar = hasLoc && familiarToPeers(g, cell, agentHash, t);
        const newCell = hereFamiliar && !Number.isNaN(oLat) ? cellHash(oLat, oLon) : cell;
        const confirm = wantsMedium && g !== undefined && bp !== null && hasLoc && o.confirmMs > 0;
        const evidence: Detection['evidence'] = {
          observed: travel
            ? { distance_km: Math.round(bestDist), hours: Math.round(hours * 10000) / 10000, speed_kmh: bestSpeed === Infinity ? null : Math.round(bestSpeed), from: other, to: here }
            : { seconds_apart: Math.round(hours * 36000) / 10, from: other, to: here },
          baseline: travel ? { max_plausible_speed_kmh: o.maxSpeedKmh } : 'one network at a time per credential',
          threshold: travel
            ? { speed_kmh: o.maxSpeedKmh, min_distance_km: o.minDistanceKm, medium_distance_km: o.mediumDistanceKm }
            : { concurrent_s: o.concurrentMs / 1000 },
          peer_group: peerGroupName(bp),
          credential_id: e.credential_id,
          confirmation: confirm ? 'pending' : null,
        };
        const eventIds = [a.ids[hit / STRIDE]!, e.event_id];
        if (confirm && bp !== null) {
          const k = agentKey(e.tenant_id, e.agent_id);
          if (!pending.has(k))
            pending.set(k, { tenant_id: e.tenant_id, agent_id: e.agent_id, blueprint_id: bp, agentHash, cell: newCell, time: t, due: t + o.confirmMs, summary, evidence: clone(evidence), event_ids: eventIds });
        }
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

    if (g && same < 0) peerAdopt(g, cell, agentHash, t, out === NO_DETECTIONS, o.peerCap);

    // Remember this sighting: refresh the same place, else replace the oldest.
    if (same >= 0) {
      if (t >= s[same]!) {
        s[same] = t;
        s[same + 5] = ip;
        a.ids[same / STRIDE] = e.event_id;
      }
    } else if (s.length < o.sightings * STRIDE) {
      // Exactly sized (a pushed array reserves spare slots; most agents have one place).
      const n = s.length;
      const next: number[] = new Array<number>(n + STRIDE);
      for (let j = 0; j < n; j++) next[j] = s[j]!;
      next[n] = t;
      next[n + 1] = lat;
      next[n + 2] = lon;
      next[n + 3] = asn;
      next[n + 4] = cred;
      next[n + 5] = ip;
      a.s = next;
      const ids = a.ids;
      const nextIds: string[] = new Array<string>(ids.length + 1);
      for (let j = 0; j < ids.length; j++) nextIds[j] = ids[j]!;
      nextIds[ids.length] = e.event_id;
      a.ids = nextIds;
    } else {
      let oldest = 0;
      for (let j = STRIDE; j < s.length; j += STRIDE) if (s[j]! < s[oldest]!) oldest = j;
      s[oldest] = t;
      s[oldest + 1] = lat;
      s[oldest + 2] = lon;
      s[oldest + 3] = asn;
      s[oldest + 4] = cred;
      s[oldest + 5] = ip;
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
        'One credential of an agent is used from places at least 500 km apart faster than 1000 km/h allows (from different networks), or from two networks within seconds (medium; low under 2000 km). Places the blueprint\'s peers already use, and blueprint-wide moves, are not travel. Out-of-order events (±60 s) are compared by absolute time difference.',
      mitre: { id: 'T1078.004', name: 'Valid Accounts: Cloud Accounts' },
    },
    observe,
    advance,
    evict(before) {
      agents.evict(before);
      groups.evict(before);
      for (const [k, p] of pending) if (p.due < before) pending.delete(k);
    },
    size: () => agents.size + groups.size + pending.size,
    snapshot: () => ({
      agents: agents.snapshot().map(([t, id, v]) => [t, id, { ...v, s: v.s.map(nanToNull) as number[] }]),
      groups: snapshotGroups(groups),
      pending: clone([...pending.values()]),
    }),
    restore(s) {
      agents.restore(clone(s.agents).map(([t, id, v]) => [t, id, { ...v, s: v.s.map(nullToNan) }]));
      restoreGroups(groups, s.groups);
      pending.clear();
      for (const p of clone(s.pending ?? [])) pending.set(agentKey(p.tenant_id, p.agent_id), p);
    },
  };
}

function nanToNull(x: number): number | null {
  return Number.isNaN(x) ? null : x;
}

function nullToNan(x: number | null): number {
  return x === null ? NaN : x;
}

function formatGap(ms: number): string {
  if (ms < 60_000) return `${Math.round(ms / 1000)} s`;
  if (ms < 3600_000) return `${Math.round(ms / 60_000)} min`;
  return `${(ms / 3600_000).toFixed(1)} h`;
}

// The lifecycle of a detector whose whole state is TenantMaps, one keyed by
// agent (agentState: cryptomining, domain-generation) or that and one keyed
// by blueprint (agentAndGroupState: kerberoasting, cluster-admin-access,
// industrial-protocol), with findings waiting in a DueQueue too
// (agentGroupAndWaitingState: cloud-metadata-access, internal-reach):
// eviction, size, and version-1 snapshots. The
// detector spreads it into its object. And the hosts a blueprint's agents
// use in a watched way (noteHostUse: cluster-admin-access's API servers,
// ftp-upload's FTP hosts), learned from its agents but not from one reported.

import type { Detector } from './detector.js';
import type { Detection } from './types.js';
import { clone, type TenantMap, type Timed } from './agent-directory.js';
import type { DueItem, DueQueue } from './due-queue.js';

export function agentAndGroupState<A extends Timed, G extends Timed>(
  id: string,
  agents: TenantMap<A>,
  groups: TenantMap<G>,
): Pick<Detector, 'evict' | 'size' | 'snapshot' | 'restore'> {
  return {
    evict(before: number): void {
      agents.evict(before);
      groups.evict(before);
    },
    size(): number {
      return agents.size + groups.size;
    },
    snapshot(): unknown {
      return clone({ version: 1, agents: agents.snapshot(), groups: groups.snapshot() });
    },
    restore(snapshot: unknown): void {
      const s = clone(snapshot) as { version: number; agents: [string, string, A][]; groups: [string, string, G][] };
      if (s?.version !== 1) throw new Error(`${id}: unsupported snapshot`);
      agents.restore(s.agents);
      groups.restore(s.groups);
    },
  };
}

/**
 * The same with findings waiting for event time to pass (`waiting`, decided
 * by `decide` when due, and all at once at the end of a replay).
 */
export function agentGroupAndWaitingState<A extends Timed, G extends Timed, W extends DueItem>(
  id: string,
  agents: TenantMap<A>,
  groups: TenantMap<G>,
  waiting: DueQueue<W>,
  decide: (w: W) => Detection | null,
): Pick<Detector, 'advance' | 'settle' | 'evict' | 'size' | 'snapshot' | 'restore'> {
  return {
    advance(watermark: number): Detection[] {
      return waiting.takeDue(watermark, decide);
    },
    settle(): Detection[] {
      return waiting.takeDue(Infinity, decide);
    },
    evict(before: number): void {
      agents.evict(before);
      groups.evict(before);
      waiting.evict(before);
    },
    size(): number {
      return agents.size + groups.size + waiting.size;
    },
    snapshot(): unknown {
      return clone({ version: 1, agents: agents.snapshot(), groups: groups.snapshot(), waiting: waiting.snapshot() });
    },
    restore(snapshot: unknown): void {
      const s = clone(snapshot) as { version: number; agents: [string, string, A][]; groups: [string, string, G][]; waiting: W[] };
      if (s?.version !== 1) throw new Error(`${id}: unsupported snapshot`);
      agents.restore(s.agents);
      groups.restore(s.groups);
      waiting.restore(s.waiting);
    },
  };
}

/** The same for a detector whose whole state is one TenantMap keyed by agent (version 1 snapshots). */
export function agentState<A extends Timed>(id: string, agents: TenantMap<A>): Pick<Detector, 'evict' | 'size' | 'snapshot' | 'restore'> {
  return {
    evict(before: number): void {
      agents.evict(before);
    },
    size(): number {
      return agents.size;
    },
    snapshot(): unknown {
      return clone({ version: 1, agents: agents.snapshot() });
    },
    restore(snapshot: unknown): void {
      const s = clone(snapshot) as { version: number; agents: [string, string, A][] };
      if (s?.version !== 1) throw new Error(`${id}: unsupported snapshot`);
      agents.restore(s.agents);
    },
  };
}

/** One host a blueprint's agents use in a way a detector watches: its hash, first and last use (s), the agents that used it (hashes, up to the bar). */
export interface HostUse {
  h: number;
  f: number;
  l: number;
  a: number[];
}

/** Per blueprint, the hosts its agents use so (see noteHostUse). */
export interface GroupHosts extends Timed {
  s: HostUse[];
}

/** Hosts kept per blueprint (the oldest dropped first). */
const MAX_GROUP_HOSTS = 16;

/**
 * Records that agent `ah` of group `gid` used host `h` at `now` (s; `time`
 * in ms); true when the group used it so before: `agents` of its agents
 * did, or its agents did for `afterS` seconds. Learning starts afresh with
 * the first user after none (see unteachHostUse): the hours between count
 * for nothing.
 */
export function noteHostUse(groups: TenantMap<GroupHosts>, tenant: string, gid: string, h: number, ah: number, now: number, time: number, agents: number, afterS: number): boolean {
  let g = groups.get(tenant, gid);
  if (g === undefined) {
    g = { at: time, s: [] };
    groups.set(tenant, gid, g);
  } else if (time > g.at) g.at = time;
  let s = g.s.find((x) => x.h === h);
  if (s === undefined) {
    if (g.s.length >= MAX_GROUP_HOSTS) g.s.shift();
    s = { h, f: now, l: now, a: [] };
    g.s.push(s);
  }
  const known = s.a.length >= agents || s.l - s.f >= afterS;
  if (s.a.length === 0) s.f = now;
  if (now > s.l) s.l = now;
  if (s.a.length < agents && !s.a.includes(ah)) s.a.push(ah);
  return known;
}

/** A reported agent's uses vouch for nothing: it leaves the host's users, and a host left with none is learned afresh. */
export function unteachHostUse(groups: TenantMap<GroupHosts>, tenant: string, gid: string, h: number, ah: number, now: number): void {
  const s = groups.get(tenant, gid)?.s.find((x) => x.h === h);
  if (s === undefined) return;
  s.a = s.a.filter((x) => x !== ah);
  if (s.a.length === 0) s.f = s.l = now;
}

// Who did one lifecycle action to how many agents, lately: per tenant and
// actor, the latest such actions (credential_added by default; the detector
// that uses it says which, and may admit only some: e.g. grants of
// sensitive permissions), as agent hashes, peer-group hashes and times. One
// person debugging one agent adds one credential or grants one permission; an
// actor doing it to several agents within minutes is a rotation or
// provisioning service at work, or an administrator account planting
// backdoors or seeding access across the fleet (T1098.001, T1098.003): either
// way not "the sponsor running the agent".
//
// Bounded: the latest 16 actions per actor; actors idle past the eviction
// horizon are forgotten.

import type { LifecycleEvent } from '../contract/events.js';
import { TenantMap, hashString, type Timed } from './agent-directory.js';
import { identityKey, peerGroupId } from './detector.js';

const KEPT = 16;

interface ActorAdditions extends Timed {
  /** Agent hash, agent id and time of each addition, oldest first. */
  agents: number[];
  ids?: string[];
  /** Peer group (blueprint) hash of each; absent in snapshots taken before it was kept. */
  groups?: number[];
  times: number[];
  /** When the actor's first spree (as far as kept) was seen (see `spree`); absent when none. */
  spreeAt?: number;
}

/** A spree: the agents an actor acted on within the window, and whether he went on sprees before (a rotation principal). */
export interface Spree {
  agentIds: string[];
  /** Distinct peer groups (blueprints) of those agents, as far as known. */
  groups: number;
  /** The actor went on a spree at least `rotatorAfterMs` before this one: a rotation principal at work. */
  repeated: boolean;
}

export type ActorSpreesSnapshot = [string, string, ActorAdditions][];

/**
 * The agents of a spree not reported yet (ids known), marked reported at
 * `at`: each agent of a spree is reported once while `reported` remembers it.
 */
export function unreported(reported: TenantMap<Timed>, tenant: string, agentIds: string[], at: number): string[] {
  const out: string[] = [];
  for (const id of agentIds) {
    if (id === '' || reported.get(tenant, id) !== undefined) continue;
    reported.set(tenant, id, { at });
    out.push(id);
  }
  return out;
}

export class ActorSprees {
  private readonly actors = new TenantMap<ActorAdditions>(1_000_000);

  /** Counts lifecycle `action`s that `admit` accepts (all by default). */
  constructor(
    private readonly action: LifecycleEvent['action'] = 'credential_added',
    private readonly admit: (e: LifecycleEvent) => boolean = () => true,
  ) {}

  /** Records a lifecycle event of the action counted (others are ignored); `blueprintId` when the event does not say it. */
  note(e: LifecycleEvent, blueprintId: string | null = e.blueprint_id): void {
    if (e.action !== this.action || !this.admit(e)) return;
    const key = identityKey(e.actor);
    let a = this.actors.get(e.tenant_id, key);
    if (a === undefined) {
      a = { at: e.time, agents: [], times: [] };
      this.actors.set(e.tenant_id, key, a);
    } else if (e.time > a.at) a.at = e.time;
    const ids = a.ids ?? (a.ids = a.agents.map(() => ''));
    const groups = a.groups ?? (a.groups = a.agents.map((h) => h));
    if (a.agents.length >= KEPT) {
      a.agents.shift();
      ids.shift();
      groups.shift();
      a.times.shift();
    }
    a.agents.push(hashString(e.agent_id));
    ids.push(e.agent_id);
    groups.push(hashString(peerGroupId(blueprintId, e.agent_id)));
    a.times.push(e.time);
  }

  /**
   * The agents `actor` acted on within `windowMs` before `at` (or before
   * the latest action kept, when one delivered earlier is later than `at`),
   * when there are at least `minAgents` (else null); and whether he went on
   * a spree `rotatorAfterMs` or more before (see Spree.repeated). Call it
   * after `note` for the addition at `at`.
   */
  spree(tenant: string, actor: string, at: number, windowMs: number, minAgents: number, rotatorAfterMs: number): Spree | null {
    const a = this.actors.get(tenant, identityKey(actor));
    if (a === undefined) return null;
    const seen: number[] = [];
    const agentIds: string[] = [];
    const groups: number[] = [];
    // The window ends at the latest action kept, not at this one: an action delivered after a later one
    // (out of order, within the allowed lateness) must not drop that later one from the count.
    let end = at;
    for (let i = 0; i < a.times.length; i++) if (a.times[i]! > end) end = a.times[i]!;
    for (let i = 0; i < a.agents.length; i++) {
      if (end - a.times[i]! > windowMs || seen.includes(a.agents[i]!)) continue;
      seen.push(a.agents[i]!);
      agentIds.push(a.ids?.[i] ?? '');
      // An action kept before groups were (a restored snapshot) counts as a group of its own.
      const g = a.groups?.[i] ?? a.agents[i]!;
      if (!groups.includes(g)) groups.push(g);
    }
    if (seen.length < minAgents) return null;
    const first = a.spreeAt ?? 0;
    const repeated = first !== 0 && at - first >= rotatorAfterMs;
    if (first === 0) a.spreeAt = at;
    return { agentIds, groups: groups.length, repeated };
  }

  /** Distinct agents `actor` acted on within `windowMs` either side of `at`. */
  agentsAround(tenant: string, actor: string, at: number, windowMs: number): number {
    const a = this.actors.get(tenant, identityKey(actor));
    if (a === undefined) return 0;
    const seen: number[] = [];
    for (let i = 0; i < a.agents.length; i++) {
      if (Math.abs(a.times[i]! - at) <= windowMs && !seen.includes(a.agents[i]!)) seen.push(a.agents[i]!);
    }
    return seen.length;
  }

  /**
   * Whether `actor` did the action to agent `agentId` (`self`), and to
   * another agent of peer group `groupId` (`peers`), among the actions kept.
   */
  actedOn(tenant: string, actor: string, agentId: string, groupId: string): { self: boolean; peers: boolean } {
    const a = this.actors.get(tenant, identityKey(actor));
    const out = { self: false, peers: false };
    if (a === undefined) return out;
    const ah = hashString(agentId);
    const gh = hashString(groupId);
    for (let i = 0; i < a.agents.length; i++) {
      if (a.agents[i] === ah) out.self = true;
      else if (a.groups?.[i] === gh) out.peers = true;
    }
    return out;
  }

  evict(before: number): void {
    this.actors.evict(before);
  }

  get size(): number {
    return this.actors.size;
  }

  snapshot(): ActorSpreesSnapshot {
    return this.actors.snapshot().map(([t, k, v]) => [t, k, { ...v, agents: v.agents.slice(), ids: v.ids?.slice(), groups: v.groups?.slice(), times: v.times.slice() }]);
  }

  restore(rows: ActorSpreesSnapshot | undefined): void {
    this.actors.restore((rows ?? []).map(([t, k, v]) => [t, k, { ...v, agents: v.agents.slice(), ids: v.ids?.slice(), groups: v.groups?.slice(), times: v.times.slice() }]));
  }
}

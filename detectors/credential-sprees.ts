// Who added credentials to how many agents, lately: per tenant and actor, the
// latest credential additions (lifecycle credential_added), as agent hashes
// and times. One person debugging one agent adds one credential; an actor
// adding credentials to several agents within minutes is a rotation service
// at work, or an administrator account planting backdoors across the fleet
// (T1098.001): either way not "the sponsor running the agent".
//
// Bounded: the latest 16 additions per actor; actors idle past the eviction
// horizon are forgotten.

import type { LifecycleEvent } from '../contract/events.js';
import { TenantMap, hashString, type Timed } from './agent-directory.js';
import { identityKey } from './detector.js';

const KEPT = 16;

interface ActorAdditions extends Timed {
  /** Agent hash, agent id and time of each addition, oldest first. */
  agents: number[];
  ids?: string[];
  times: number[];
  /** When the actor's first spree (as far as kept) was seen (see `spree`); absent when none. */
  spreeAt?: number;
}

/** A spree: the agents an actor added credentials to within the window, and whether he went on sprees before (a rotation principal). */
export interface Spree {
  agentIds: string[];
  /** The actor went on a spree at least `rotatorAfterMs` before this one: a rotation principal at work. */
  repeated: boolean;
}

export type CredentialSpreesSnapshot = [string, string, ActorAdditions][];

export class CredentialSprees {
  private readonly actors = new TenantMap<ActorAdditions>(1_000_000);

  /** Records a lifecycle credential_added (other events are ignored). */
  note(e: LifecycleEvent): void {
    if (e.action !== 'credential_added') return;
    const key = identityKey(e.actor);
    let a = this.actors.get(e.tenant_id, key);
    if (a === undefined) {
      a = { at: e.time, agents: [], times: [] };
      this.actors.set(e.tenant_id, key, a);
    } else if (e.time > a.at) a.at = e.time;
    const ids = a.ids ?? (a.ids = a.agents.map(() => ''));
    if (a.agents.length >= KEPT) {
      a.agents.shift();
      ids.shift();
      a.times.shift();
    }
    a.agents.push(hashString(e.agent_id));
    ids.push(e.agent_id);
    a.times.push(e.time);
  }

  /**
   * The agents `actor` added credentials to within `windowMs` before `at`,
   * when there are at least `minAgents` (else null); and whether he went on
   * a spree `rotatorAfterMs` or more before (see Spree.repeated). Call it
   * after `note` for the addition at `at`.
   */
  spree(tenant: string, actor: string, at: number, windowMs: number, minAgents: number, rotatorAfterMs: number): Spree | null {
    const a = this.actors.get(tenant, identityKey(actor));
    if (a === undefined) return null;
    const seen: number[] = [];
    const agentIds: string[] = [];
    for (let i = 0; i < a.agents.length; i++) {
      if (a.times[i]! > at || at - a.times[i]! > windowMs || seen.includes(a.agents[i]!)) continue;
      seen.push(a.agents[i]!);
      agentIds.push(a.ids?.[i] ?? '');
    }
    if (seen.length < minAgents) return null;
    const first = a.spreeAt ?? 0;
    const repeated = first !== 0 && at - first >= rotatorAfterMs;
    if (first === 0) a.spreeAt = at;
    return { agentIds, repeated };
  }

  /** Distinct agents `actor` added credentials to within `windowMs` either side of `at`. */
  agentsAround(tenant: string, actor: string, at: number, windowMs: number): number {
    const a = this.actors.get(tenant, identityKey(actor));
    if (a === undefined) return 0;
    const seen: number[] = [];
    for (let i = 0; i < a.agents.length; i++) {
      if (Math.abs(a.times[i]! - at) <= windowMs && !seen.includes(a.agents[i]!)) seen.push(a.agents[i]!);
    }
    return seen.length;
  }

  evict(before: number): void {
    this.actors.evict(before);
  }

  get size(): number {
    return this.actors.size;
  }

  snapshot(): CredentialSpreesSnapshot {
    return this.actors.snapshot().map(([t, k, v]) => [t, k, { ...v, agents: v.agents.slice(), ids: v.ids?.slice(), times: v.times.slice() }]);
  }

  restore(rows: CredentialSpreesSnapshot | undefined): void {
    this.actors.restore((rows ?? []).map(([t, k, v]) => [t, k, { ...v, agents: v.agents.slice(), ids: v.ids?.slice(), times: v.times.slice() }]));
  }
}

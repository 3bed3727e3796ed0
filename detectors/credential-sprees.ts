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
  /** Agent hash and time of each addition, oldest first. */
  agents: number[];
  times: number[];
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
    if (a.agents.length >= KEPT) {
      a.agents.shift();
      a.times.shift();
    }
    a.agents.push(hashString(e.agent_id));
    a.times.push(e.time);
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
    return this.actors.snapshot().map(([t, k, v]) => [t, k, { at: v.at, agents: v.agents.slice(), times: v.times.slice() }]);
  }

  restore(rows: CredentialSpreesSnapshot | undefined): void {
    this.actors.restore((rows ?? []).map(([t, k, v]) => [t, k, { at: v.at, agents: v.agents.slice(), times: v.times.slice() }]));
  }
}

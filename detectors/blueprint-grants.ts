// Permission grants per blueprint: which actor granted which permission to
// which agents of a blueprint, and when (lifecycle permission_granted). One
// actor granting one permission to several agents of a blueprint within the
// hour is an administrator consenting for the blueprint: a change as
// deliberate as a sponsor's grant to one agent, whatever the sponsors are.

import type { LifecycleEvent } from '../contract/events.js';
import { hashString } from './agent-directory.js';
import { identityKey, permissionName } from './detector.js';

/** Grants remembered per blueprint (the oldest dropped beyond). */
const MAX_GRANTS = 64;

/**
 * Appends a permission_granted event to a flat grant list [permission hash,
 * actor hash, agent hash, time (s)], oldest first, dropping the oldest
 * beyond `max` grants.
 */
export function pushGrant(gr: number[], e: LifecycleEvent, max: number): void {
  if (e.permission === null) return;
  if (gr.length >= 4 * max) gr.splice(0, 4);
  gr.push(hashString(permissionName(e.permission)), hashString(identityKey(e.actor)), hashString(e.agent_id), Math.floor(e.time / 1000));
}

/** True when the grant list (see pushGrant) shows `actor` granting `permission` to `agents` or more agents within `spanMs` of `t`. */
export function grantedToAgents(gr: readonly number[], permission: string, actor: string, t: number, agents: number, spanMs: number): boolean {
  const ph = hashString(permissionName(permission));
  const xh = hashString(identityKey(actor));
  const seen: number[] = [];
  for (let i = 0; i < gr.length; i += 4) {
    if (gr[i] !== ph || gr[i + 1] !== xh || Math.abs(gr[i + 3]! * 1000 - t) > spanMs || seen.includes(gr[i + 2]!)) continue;
    seen.push(gr[i + 2]!);
    if (seen.length >= agents) return true;
  }
  return false;
}

/** Per (tenant, blueprint): a grant list (see pushGrant). */
export class BlueprintGrants {
  private readonly groups = new Map<string, number[]>();

  private static key(tenant: string, blueprint: string): string {
    return `${tenant}\u0000${blueprint}`;
  }

  /** Records a permission_granted event of an agent of blueprint `blueprint`. */
  note(e: LifecycleEvent, blueprint: string): void {
    if (e.action !== 'permission_granted' || e.permission === null) return;
    const k = BlueprintGrants.key(e.tenant_id, blueprint);
    let gr = this.groups.get(k);
    if (gr === undefined) this.groups.set(k, (gr = []));
    pushGrant(gr, e, MAX_GRANTS);
  }

  /** True when `actor` granted `permission` to `agents` or more agents of the blueprint within `spanMs` of `t`. */
  consented(tenant: string, blueprint: string, permission: string, actor: string, t: number, agents: number, spanMs: number): boolean {
    const gr = this.groups.get(BlueprintGrants.key(tenant, blueprint));
    return gr !== undefined && grantedToAgents(gr, permission, actor, t, agents, spanMs);
  }

  /** Forgets grants made before `before` (ms). */
  evict(before: number): void {
    const s = Math.floor(before / 1000);
    for (const [k, gr] of this.groups) {
      let drop = 0;
      while (drop < gr.length && gr[drop + 3]! < s) drop += 4;
      if (drop === gr.length) this.groups.delete(k);
      else if (drop > 0) gr.splice(0, drop);
    }
  }

  get size(): number {
    return this.groups.size;
  }

  snapshot(): [string, number[]][] {
    return [...this.groups].map(([k, gr]) => [k, gr.slice()]);
  }

  restore(rows: [string, number[]][] | undefined): void {
    this.groups.clear();
    for (const [k, gr] of rows ?? []) this.groups.set(k, gr.slice());
  }
}

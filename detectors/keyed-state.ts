// The lifecycle of a detector whose whole state is TenantMaps, one keyed by
// agent (agentState: cryptomining, domain-generation) or that and one keyed
// by blueprint (agentAndGroupState: kerberoasting, cluster-admin-access,
// industrial-protocol): eviction, size, and version-1 snapshots. The
// detector spreads it into its object.

import type { Detector } from './detector.js';
import { clone, type TenantMap, type Timed } from './agent-directory.js';

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

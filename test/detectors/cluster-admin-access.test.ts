import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../contract/events.js';
import { createClusterAdminAccessDetector, isKubernetesApiServer } from '../../detectors/cluster-admin-access.js';
import { HOUR, MIN, SEC, T0, fakeContext, feed, network, resetIds, runWithRestore } from './helpers/context.js';

beforeEach(() => resetIds());

const AKS = 'contoso-aks-prod-357c1897.hcp.japaneast.azmk8s.io';

/** `n` calls of `agent` to the API server, every `everyMs` from `from` (no token unless given). */
function calls(agent: string, n: number, from: number, everyMs = 10 * SEC, extra: Partial<AgentEvent> = {}): AgentEvent[] {
  return Array.from({ length: n }, (_, k) => network({ agent_id: agent, time: from + k * everyMs, dest_host: AKS, category: 'technology', bytes_out: 900, bytes_in: 60_000, event_id: `k-${agent}-${k}`, ...extra } as never));
}

const run = (events: AgentEvent[]) => feed(createClusterAdminAccessDetector(), fakeContext(), events.sort((x, y) => x.time - y.time));

describe('cluster-admin-access', () => {
  it('knows managed Kubernetes API servers by host', () => {
    for (const h of [AKS, 'myaks-dns-1a2b3c.privatelink.westeurope.azmk8s.io', 'ABC123.gr7.eu-central-1.EKS.amazonaws.com.']) expect(isKubernetesApiServer(h), h).toBe(true);
    for (const h of ['azmk8s.io', 'management.azure.com', 'contoso.azurecr.io', 'eks.amazonaws.com.evil.example']) expect(isKubernetesApiServer(h), h).toBe(false);
  });

  it('is medium at the 10th call within 10 minutes without a token to an API server its blueprint does not call so', () => {
    const out = run(calls('a1', 40, T0));
    expect(out.map((x) => [x.agent_id, x.severity, x.time])).toEqual([['a1', 'medium', T0 + 9 * 10 * SEC]]);
    expect(out[0]!.summary).toContain(`without an Entra token to the Kubernetes API server ${AKS}`);
    expect(out[0]!.event_ids).toEqual(['k-a1-0', 'k-a1-9']);
  });

  it('stays quiet with an Entra token, under 10 calls, for calls spread out, and where its blueprint calls the server so', () => {
    expect(run(calls('a1', 40, T0, 10 * SEC, { token_id: 'entra-tok' }))).toEqual([]);
    expect(run(calls('a1', 9, T0))).toEqual([]);
    expect(run(calls('a1', 30, T0, 2 * MIN))).toEqual([]);
    // Two agents of the blueprint run their deployments with the admin kubeconfig: the blueprint's way.
    expect(run([...calls('a2', 3, T0 - HOUR), ...calls('a3', 3, T0 - HOUR + MIN), ...calls('a1', 40, T0)])).toEqual([]);
    // Another blueprint's routine does not vouch for this one's agent.
    expect(run([...calls('b1', 3, T0 - HOUR, 10 * SEC, { blueprint_id: 'bp-other' }), ...calls('b2', 3, T0 - HOUR, 10 * SEC, { blueprint_id: 'bp-other' }), ...calls('a1', 40, T0)]).map((x) => x.agent_id)).toEqual(['a1']);
  });

  it('learns nothing from a reported agent: the next agent of its blueprint driving the cluster so hours later is medium too', () => {
    expect(run([...calls('a1', 40, T0), ...calls('a2', 40, T0 + 2 * HOUR)]).map((x) => [x.agent_id, x.severity])).toEqual([
      ['a1', 'medium'],
      ['a2', 'medium'],
    ]);
  });

  it('fires once an hour and survives a snapshot and restore', () => {
    expect(run([...calls('a1', 40, T0), ...calls('a1', 40, T0 + 30 * MIN)])).toHaveLength(1);
    const events = calls('a1', 40, T0);
    const { uninterrupted, restored } = runWithRestore(() => createClusterAdminAccessDetector(), events, 5);
    expect(uninterrupted).toHaveLength(1);
    expect(restored).toEqual(uninterrupted);
  });
});

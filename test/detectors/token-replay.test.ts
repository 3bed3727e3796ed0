import { beforeEach, describe, expect, it } from 'vitest';
import { createTokenReplayDetector, type TokenReplayOptions } from '../../detectors/token-replay.js';
import type { AgentEvent } from '../../contract/events.js';
import { HOUR, MIN, SEC, T0, advanceTo, fakeContext, feed, lifecycle, network, resetIds, runWithRestore, token as anyToken } from './helpers/context.js';

beforeEach(() => resetIds());

/**
 * Tokens of these tests are for the blueprint's own API (called at the
 * helpers' api.example.com): a first-party audience presented elsewhere is
 * the passthrough rule's, tested on its own below.
 */
const token = (o: Parameters<typeof anyToken>[0] = {}) => anyToken({ resource: 'api://bp1-backend', ...o });

/** The per-agent rule, with the blueprint's learning of its use networks off (tested on its own below). */
const replay = (o: TokenReplayOptions = {}) => createTokenReplayDetector({ egressLearnMs: 0, egressLearnUses: 0, ...o });

describe('token-replay', () => {
  it('fires (high) 45 s after a token is used from an address other than the one it was issued to', () => {
    const d = replay();
    const ctx = fakeContext();
    const use = T0 + 5 * MIN;
    const out = feed(d, ctx, [
      token({ token_id: 'tok-A', ip: '20.1.2.3', time: T0, event_id: 'k1' }),
      network({ token_id: 'tok-A', ip: '20.1.2.3', time: T0 + 10 * SEC }),
      network({ token_id: 'tok-A', ip: '185.220.101.7', time: use, event_id: 'n-bad', dest_host: 'graph.microsoft.com' }),
    ]);
    // Not at once: a token issued there meanwhile (the agent's new address, its NAT's) would explain it.
    expect(out).toEqual([]);
    expect(advanceTo(d, ctx, use + 44 * SEC)).toEqual([]);
    const confirmed = advanceTo(d, ctx, use + 45 * SEC);
    expect(confirmed).toHaveLength(1);
    const det = confirmed[0]!;
    expect(det.time).toBe(use + 45 * SEC);
    expect(det.detector).toBe('token-replay');
    expect(det.severity).toBe('high');
    expect(det.agent_id).toBe('a1');
    expect(det.event_ids).toEqual(['k1', 'n-bad']);
    expect(det.evidence.observed).toMatchObject({ use_ip: '185.220.101.7' });
    expect(det.evidence.baseline).toMatchObject({ issued_ip: '20.1.2.3' });
    expect(det.evidence.peer_group).toBe('blueprint:bp1');
    expect(det.summary).toContain('tok-A');
    expect(det.summary).toContain('185.220.101.7');
  });

  it('fires once per token, however often it is replayed', () => {
    const d = replay();
    const ctx = fakeContext();
    const out = feed(d, ctx, [
      token({ token_id: 'tok-A', ip: '20.1.2.3' }),
      network({ token_id: 'tok-A', ip: '185.220.101.7', time: T0 + MIN }),
      network({ token_id: 'tok-A', ip: '185.220.101.7', time: T0 + 2 * MIN }),
      network({ token_id: 'tok-A', ip: '45.9.8.7', time: T0 + 3 * MIN }),
    ]);
    expect(out).toHaveLength(1);
  });

  it('does not fire for uses from the issuing address, its /24, or another address the agent gets tokens at', () => {
    const d = replay();
    const ctx = fakeContext();
    const out = feed(d, ctx, [
      token({ token_id: 'tok-A', ip: '20.1.2.3', time: T0 }),
      token({ token_id: 'tok-B', ip: '52.7.7.7', time: T0 + MIN }),
      network({ token_id: 'tok-A', ip: '20.1.2.3', time: T0 + 2 * MIN }),
      network({ token_id: 'tok-A', ip: '20.1.2.200', time: T0 + 3 * MIN }), // same NAT pool /24
      network({ token_id: 'tok-A', ip: '52.7.7.7', time: T0 + 4 * MIN }), // the agent's other egress address
      network({ token_id: null, ip: '99.9.9.9', time: T0 + 5 * MIN }), // no token
      network({ token_id: 'tok-C', ip: '20.1.2.9', time: T0 + 6 * MIN }), // unknown token, the agent's own subnet
    ]);
    expect(out).toEqual([]);
    expect(advanceTo(d, ctx, T0 + HOUR)).toEqual([]);
  });

  it('reports an unknown token used from a foreign address once no token event explains it', () => {
    const d = replay({ pendingMs: 2 * MIN });
    const ctx = fakeContext();
    const out = feed(d, ctx, [
      token({ token_id: 'tok-A', ip: '20.1.2.3', time: T0 }),
      network({ token_id: 'tok-old', ip: '185.220.101.7', time: T0 + MIN, event_id: 'n-x', dest_host: 'graph.microsoft.com' }),
      network({ token_id: 'tok-old', ip: '185.220.101.7', time: T0 + 90 * SEC }),
      network({ token_id: 'tok-A', ip: '20.1.2.3', time: T0 + 2 * MIN }),
    ]);
    expect(out).toEqual([]); // not yet: its token event may still come
    const late = advanceTo(d, ctx, T0 + 3 * MIN);
    expect(late).toHaveLength(1);
    expect(late[0]).toMatchObject({ severity: 'high', agent_id: 'a1', event_ids: ['n-x'], time: T0 + 3 * MIN });
    expect(late[0]!.evidence.baseline).toMatchObject({ issuing_ips: ['20.1.2.3'], token_known: false });
    // reported once
    feed(d, ctx, [network({ token_id: 'tok-old', ip: '185.220.101.7', time: T0 + 4 * MIN })]);
    expect(advanceTo(d, ctx, T0 + 10 * MIN)).toEqual([]);
  });


  it('reports an unknown token used from the agent\'s own private address, while it gets its tokens at a public one, low (a token issued before the stream began)', () => {
    const run = (useIp: string) => {
      const d = replay({ pendingMs: 2 * MIN });
      const ctx = fakeContext();
      feed(d, ctx, [
        token({ token_id: 'tok-A', ip: '20.1.2.3', time: T0 }),
        network({ token_id: 'tok-before', ip: useIp, time: T0 + MIN, dest_host: 'planner.ops.contoso.internal' }),
      ]);
      return advanceTo(d, ctx, T0 + 5 * MIN);
    };
    const inside = run('10.20.8.30');
    expect(inside.map((x) => x.severity)).toEqual(['low']);
    expect(inside[0]!.summary).toContain('a private address, inside the organisation\'s network');
    expect(run('185.220.101.7').map((x) => x.severity)).toEqual(['high']);
  });

  it('reports an unknown token used from a foreign address by an agent that keeps requesting tokens, whose token events run past the pending window before the verdict', () => {
    // A hoarded token replayed while the agent goes on getting a token every 10 s at home: the
    // verdict comes when the watermark (a minute behind) is 2 minutes past the use, by which time
    // the agent's newest token events are more than 2 minutes past it.
    const d = replay({ pendingMs: 2 * MIN });
    const ctx = fakeContext();
    const use = T0 + MIN;
    const events: AgentEvent[] = [network({ token_id: 'tok-hoarded', ip: '3.91.187.206', time: use, event_id: 'n-replay' })];
    for (let t = T0; t <= T0 + 4 * MIN; t += 10 * SEC) events.push(token({ token_id: `tok-${t}`, ip: '20.1.2.3', time: t }));
    events.sort((a, b) => a.time - b.time);
    const found = feed(d, ctx, events); // the feed moves the watermark a minute behind the events
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ severity: 'high', event_ids: ['n-replay'] });
    expect(found[0]!.evidence.baseline).toMatchObject({ token_known: false });
  });
  it('does not report unknown tokens of an agent whose tokens it has not seen, or explained by a late token event', () => {
    const d = replay();
    const ctx = fakeContext();
    const out = feed(d, ctx, [
      network({ agent_id: 'a9', token_id: 'tok-Z', ip: '185.220.101.7', time: T0 }), // no token history
      token({ token_id: 'tok-A', ip: '20.1.2.3', time: T0 }),
      network({ token_id: 'tok-B', ip: '40.1.1.1', time: T0 + 50 * SEC }), // the agent's new egress...
      token({ token_id: 'tok-B', ip: '40.1.1.1', time: T0 + 40 * SEC }), // ...whose token event arrives late
    ]);
    expect(out).toEqual([]);
    expect(advanceTo(d, ctx, T0 + HOUR)).toEqual([]);
  });

  it('is strict about the address when the subnet tolerance is off', () => {
    const d = replay({ sameSubnet: false });
    const ctx = fakeContext();
    feed(d, ctx, [token({ token_id: 'tok-A', ip: '20.1.2.3' }), network({ token_id: 'tok-A', ip: '20.1.2.200', time: T0 + MIN })]);
    // (From the issuing address's /8: judged 5 minutes later.)
    expect(advanceTo(d, ctx, T0 + 7 * MIN)).toHaveLength(1);
  });

  it('ignores blocked token requests', () => {
    const d = replay();
    const out = feed(d, fakeContext(), [
      token({ token_id: 'tok-A', ip: '20.1.2.3', decision: 'blocked' }),
      network({ token_id: 'tok-A', ip: '185.220.101.7', time: T0 + MIN }),
    ]);
    expect(out).toEqual([]);
  });

  it('handles a use that arrives before its (late) token event', () => {
    const d = replay();
    const ctx = fakeContext();
    const out = feed(d, ctx, [
      network({ token_id: 'tok-A', ip: '185.220.101.7', time: T0 + 30 * SEC, event_id: 'n-early' }),
      network({ token_id: 'tok-B', ip: '20.1.2.3', time: T0 + 31 * SEC }),
      token({ token_id: 'tok-B', ip: '20.1.2.3', time: T0 + 1 * SEC }),
      token({ token_id: 'tok-A', ip: '20.1.2.3', time: T0, event_id: 'k-late' }),
    ]);
    expect(out).toHaveLength(1);
    expect(out[0]!.event_ids).toEqual(['k-late', 'n-early']);
    expect(out[0]!.time).toBe(T0);
  });

  it('forgets unmatched uses after the pending window', () => {
    const d = replay({ pendingMs: 2 * MIN });
    const out = feed(d, fakeContext(), [
      network({ token_id: 'tok-A', ip: '185.220.101.7', time: T0 }),
      token({ token_id: 'tok-A', ip: '20.1.2.3', time: T0 + 10 * MIN }),
    ]);
    expect(out).toEqual([]);
  });

  it('keeps agents of different tenants apart (same agent and token ids)', () => {
    const d = replay();
    const out = feed(d, fakeContext(), [
      token({ tenant_id: 't1', token_id: 'tok-A', ip: '20.1.2.3' }),
      token({ tenant_id: 't2', token_id: 'tok-A', ip: '40.9.9.9' }),
      network({ tenant_id: 't2', token_id: 'tok-A', ip: '40.9.9.9', time: T0 + MIN }),
      network({ tenant_id: 't1', token_id: 'tok-A', ip: '20.1.2.3', time: T0 + MIN }),
    ]);
    expect(out).toEqual([]);
    const ctx = fakeContext();
    feed(d, ctx, [network({ tenant_id: 't2', token_id: 'tok-A', ip: '20.1.2.3', time: T0 + 2 * MIN })]);
    const out2 = advanceTo(d, ctx, T0 + 3 * MIN);
    expect(out2).toHaveLength(1);
    expect(out2[0]!.tenant_id).toBe('t2');
  });

  it('keeps a bounded number of tokens per agent (the least recently used is replaced)', () => {
    const d = replay({ maxTokensPerAgent: 2 });
    const events = [
      token({ token_id: 'long', ip: '20.1.2.3', lifetime_s: 86_400, time: T0 }),
      token({ token_id: 'tok-1', ip: '20.1.2.3', lifetime_s: 3600, time: T0 + MIN }),
      network({ token_id: 'long', ip: '20.1.2.3', time: T0 + 90 * SEC }), // in use
      token({ token_id: 'tok-2', ip: '20.1.2.3', lifetime_s: 3600, time: T0 + 2 * MIN }),
      // tok-1 (least recently used) was replaced: its replay is not recognised; `long` still is.
      network({ token_id: 'tok-1', ip: '185.220.101.7', time: T0 + 3 * MIN }),
      network({ token_id: 'long', ip: '185.220.101.7', time: T0 + 3 * MIN }),
    ];
    const ctx = fakeContext();
    expect(feed(d, ctx, events)).toEqual([]);
    const out = advanceTo(d, ctx, T0 + 3 * MIN + 45 * SEC);
    expect(out.map((x) => x.evidence.token_id)).toEqual(['long']);
    // The agent, its blueprint's use networks, the queued use of the forgotten token, the owners of the 3 tokens.
    expect(d.size()).toBe(6);
    // the forgotten token's replay is still reported, as an unknown token, once its token event cannot come
    const late = advanceTo(d, ctx, T0 + 10 * MIN);
    expect(late.map((x) => x.evidence.baseline)).toEqual([{ issuing_ips: ['20.1.2.3'], token_known: false }]);
    expect(d.size()).toBe(5);
  });

  it('forgets tokens some minutes after they expire', () => {
    const d = replay({ expiryGraceMs: 10 * MIN });
    const ctx = fakeContext();
    feed(d, ctx, [
      token({ token_id: 'short', ip: '20.1.2.3', lifetime_s: 600, time: T0 }),
      token({ token_id: 'next', ip: '20.1.2.3', lifetime_s: 3600, time: T0 + 30 * MIN }), // drops `short`
      network({ token_id: 'short', ip: '185.220.101.7', time: T0 + 31 * MIN }),
      network({ token_id: 'next', ip: '185.220.101.7', time: T0 + 31 * MIN }),
    ]);
    const out = advanceTo(d, ctx, T0 + 32 * MIN);
    expect(out.map((x) => x.evidence.token_id)).toEqual(['next']);
  });

  it('evicts idle agents', () => {
    const d = replay();
    const ctx = fakeContext();
    feed(d, ctx, [token({ agent_id: 'a1', time: T0 }), token({ agent_id: 'a2', token_id: 'tok-2', time: T0 + 2 * HOUR })]);
    // Two agents, their blueprint's networks, the owner of a2's token (a1's expired an hour before a2's came).
    expect(d.size()).toBe(4);
    d.evict(T0 + HOUR);
    expect(d.size()).toBe(3);
    // a1's token is forgotten: its replay is no longer recognised.
    expect(feed(d, ctx, [network({ agent_id: 'a1', token_id: 'tok-1', ip: '1.1.1.1', time: T0 + 2 * HOUR })])).toEqual([]);
    feed(d, ctx, [network({ agent_id: 'a2', token_id: 'tok-2', ip: '1.1.1.1', time: T0 + 2 * HOUR })]);
    expect(advanceTo(d, ctx, T0 + 2 * HOUR + MIN)).toHaveLength(1);
  });

  it('gives the same detections after a snapshot/restore', () => {
    const events = [
      token({ token_id: 'tok-A', ip: '20.1.2.3', time: T0 }),
      network({ token_id: 'tok-C', ip: '66.6.6.6', time: T0 + 40 * SEC }), // pending across the snapshot
      token({ agent_id: 'a2', token_id: 'tok-B', ip: '20.1.9.9', time: T0 + 10 * SEC }),
      network({ token_id: 'tok-A', ip: '185.220.101.7', time: T0 + MIN }),
      token({ token_id: 'tok-C', ip: '20.1.2.3', time: T0 + 20 * SEC }),
      network({ agent_id: 'a2', token_id: 'tok-B', ip: '20.1.9.9', time: T0 + 2 * MIN }),
      network({ agent_id: 'a2', token_id: 'tok-B', ip: '8.8.8.8', time: T0 + 3 * MIN }),
      network({ agent_id: 'a3', token_id: null, ip: '20.1.2.4', time: T0 + 6 * MIN }), // moves the watermark on
    ];
    const { uninterrupted, restored } = runWithRestore(() => replay(), events, 3);
    expect(uninterrupted).toHaveLength(3);
    expect(restored).toEqual(uninterrupted);
  });

  describe('a token presented by another agent than its owner', () => {
    const base = () => [
      token({ agent_id: 'worker', token_id: 'own', ip: '20.42.10.5', time: T0 }),
      network({ agent_id: 'worker', token_id: 'own', ip: '20.42.10.5', time: T0 + 10 * SEC }),
    ];

    it('reports the presenter (high) and the owner (medium) once, however near the presenter own address the use is', () => {
      const d = replay();
      const ctx = fakeContext();
      const out = feed(d, ctx, [
        ...base(),
        token({ agent_id: 'copilot', token_id: 'obo-mail', ip: '20.50.7.10', time: T0 + MIN, event_id: 'issued' }),
        network({ agent_id: 'copilot', token_id: 'obo-mail', ip: '20.50.7.10', time: T0 + MIN + 5 * SEC }),
        // Forwarded in an agent-to-agent task; the compromised worker downloads mail with it from its own egress.
        network({ agent_id: 'worker', token_id: 'obo-mail', ip: '20.42.10.5', time: T0 + 2 * MIN, event_id: 'presented' }),
        network({ agent_id: 'worker', token_id: 'obo-mail', ip: '20.42.10.5', time: T0 + 3 * MIN }),
      ]).concat(advanceTo(d, ctx, T0 + 10 * MIN));
      expect(out.map((x) => [x.agent_id, x.severity])).toEqual([
        ['worker', 'high'],
        ['copilot', 'medium'],
      ]);
      expect(out[0]!.summary).toContain('issued to agent copilot');
      expect(out[0]!.event_ids).toEqual(['issued', 'presented']);
      expect(out[1]!.evidence.observed).toMatchObject({ presenter_agent_id: 'worker' });
    });

    it('reports a token used from the address its owner was just called from by another agent (handed over in the call): high for the caller, medium for the owner', () => {
      const run = (useIp: string, calledMinBefore = 1) => {
        const d = replay();
        const ctx = fakeContext();
        return feed(d, ctx, [
          token({ agent_id: 'worker', token_id: 'wk', ip: '20.42.10.5', time: T0, event_id: 'issued' }),
          network({ agent_id: 'worker', token_id: 'wk', ip: '20.42.10.5', time: T0 + 10 * SEC }),
          // The orchestrator tasks the worker from its own egress, in the same /16.
          network({ agent_id: 'orch', ip: '20.42.77.9', dest_host: 'worker.agents.contoso.com', category: 'agent', dest_agent_id: 'worker', time: T0 + 5 * MIN - calledMinBefore * MIN, event_id: 'call' }),
          network({ agent_id: 'worker', token_id: 'wk', ip: useIp, time: T0 + 5 * MIN, bytes_in: 4_000_000, event_id: 'replayed' }),
        ]).concat(advanceTo(d, ctx, T0 + 20 * MIN));
      };
      const out = run('20.42.77.9');
      expect(out.map((x) => [x.agent_id, x.severity, x.time])).toEqual([
        ['worker', 'medium', T0 + 5 * MIN],
        ['orch', 'high', T0 + 5 * MIN],
      ]);
      expect(out[0]!.event_ids).toEqual(['issued', 'call', 'replayed']);
      expect(out[1]!.summary).toContain('harvested the agent\'s token');
      // From the issuing /24 (a sibling of the worker's own NAT), or a call 20 minutes before: not this.
      expect(run('20.42.10.77')).toEqual([]);
      expect(run('20.42.77.9', 20).map((x) => x.agent_id)).not.toContain('orch');
    });

    it('catches it when the owner token event arrives after the use, and not across tenants', () => {
      const late = (tenant: string) => {
        const d = replay();
        const ctx = fakeContext();
        return feed(d, ctx, [
          ...base(),
          network({ agent_id: 'worker', token_id: 'obo-mail', ip: '20.42.10.5', time: T0 + 2 * MIN }),
          token({ tenant_id: tenant, agent_id: 'copilot', token_id: 'obo-mail', ip: '20.50.7.10', time: T0 + 2 * MIN - 40 * SEC }),
        ]).concat(advanceTo(d, ctx, T0 + 10 * MIN));
      };
      expect(late('t1').map((x) => [x.agent_id, x.severity])).toEqual([
        ['worker', 'high'],
        ['copilot', 'medium'],
      ]);
      expect(late('t2')).toEqual([]);
    });

    it('keeps the token owners over a snapshot', () => {
      const events = [
        ...base(),
        token({ agent_id: 'copilot', token_id: 'obo-mail', ip: '20.50.7.10', time: T0 + MIN }),
        network({ agent_id: 'worker', token_id: 'obo-mail', ip: '20.42.10.5', time: T0 + 2 * MIN }),
      ];
      const { uninterrupted, restored } = runWithRestore(() => replay(), events, events.length - 1);
      expect(restored.map((x) => x.agent_id)).toEqual(['worker', 'copilot']);
      expect(restored).toEqual(uninterrupted);
    });
  });

  describe('where tokens were issued, beyond the tokens held', () => {
    it('keeps the networks an agent was issued tokens at for a day: a host now issued tokens over IPv6 still calls from its IPv4 address', () => {
      const d = replay();
      const ctx = fakeContext();
      const events: (ReturnType<typeof token> | ReturnType<typeof network>)[] = [token({ token_id: 'v4', ip: '20.1.2.3', time: T0 })];
      // Eight tokens over IPv6 push the IPv4-issued one out of the agent's six slots.
      for (let i = 0; i < 8; i++) events.push(token({ token_id: `v6-${i}`, ip: '2001:db8:10::3', time: T0 + (i + 1) * MIN }));
      events.push(network({ token_id: 'v6-7', ip: '20.1.2.3', time: T0 + 10 * MIN }));
      expect(feed(d, ctx, events)).toEqual([]);
      expect(advanceTo(d, ctx, T0 + 20 * MIN)).toEqual([]);
      // From anywhere else it is still a replay.
      feed(d, ctx, [network({ token_id: 'v6-6', ip: '45.9.8.7', time: T0 + 21 * MIN })]);
      expect(advanceTo(d, ctx, T0 + 22 * MIN).map((x) => x.evidence.token_id)).toEqual(['v6-6']);
    });

    it('forgets an issuing network a day after its last token', () => {
      const d = replay();
      const ctx = fakeContext();
      const later = T0 + 25 * HOUR;
      feed(d, ctx, [
        token({ token_id: 'v4', ip: '20.1.2.3', time: T0 }),
        token({ token_id: 'v6', ip: '2001:db8:10::3', time: later }),
        network({ token_id: 'v6', ip: '20.1.2.3', time: later + MIN }),
      ]);
      expect(advanceTo(d, ctx, later + 2 * MIN)).toHaveLength(1);
    });

    it('takes a use from another subnet of the agent own /16 as its host moved (cached tokens), not as a replay', () => {
      const d = replay();
      const ctx = fakeContext();
      feed(d, ctx, [
        token({ token_id: 'tok-A', ip: '20.1.2.3', time: T0 }),
        network({ token_id: 'tok-A', ip: '20.1.77.5', time: T0 + MIN }), // restarted on another node pool of its network
        network({ token_id: 'tok-A', ip: '20.9.77.5', time: T0 + 2 * MIN }), // another /16: a replay
      ]);
      const out = advanceTo(d, ctx, T0 + 8 * MIN);
      expect(out.map((x) => x.evidence.observed)).toEqual([expect.objectContaining({ use_ip: '20.9.77.5' })]);
    });

    it('no longer takes another subnet of the own /16 for the host once the agent is deleted: a leaked token replayed nearby', () => {
      const run = (action: 'deleted' | 'disabled' | null) => {
        const d = replay();
        const ctx = fakeContext();
        feed(d, ctx, [
          token({ token_id: 'tok-A', ip: '20.1.2.3', time: T0 }),
          network({ token_id: 'tok-A', ip: '20.1.2.3', time: T0 + 30 * SEC }),
          ...(action === null ? [] : [lifecycle({ action, actor: 'ci-controller', time: T0 + MIN })]),
          // The job's shutdown flush from its own host, then the token from a VM elsewhere in the region's /16.
          network({ token_id: 'tok-A', ip: '20.1.2.3', time: T0 + 2 * MIN }),
          network({ token_id: 'tok-A', ip: '20.1.77.5', time: T0 + 3 * MIN }),
        ]);
        return advanceTo(d, ctx, T0 + 9 * MIN);
      };
      expect(run(null)).toEqual([]);
      for (const action of ['deleted', 'disabled'] as const) {
        const out = run(action);
        expect(out.map((x) => x.evidence.observed)).toEqual([expect.objectContaining({ use_ip: '20.1.77.5' })]);
        expect(out[0]!.summary).toContain(`after the agent was ${action}`);
      }
    });

    /** Four agents of one blueprint getting tokens at home (20.1.2.x) every 5 minutes and calling from there. */
    function home(from = T0, until = T0 + 30 * MIN) {
      const out = [];
      for (let t = from; t < until; t += 5 * MIN) {
        for (let a = 1; a <= 4; a++) {
          const id = `h-${a}-${t}`;
          out.push(token({ agent_id: `w${a}`, token_id: id, ip: `20.1.2.${a}`, time: t + a * SEC }));
          out.push(network({ agent_id: `w${a}`, token_id: id, ip: `20.1.2.${a}`, time: t + 30 * SEC + a * SEC }));
        }
      }
      return out;
    }

    it('takes the second address of a NAT gateway as the agent network once it or two other agents of its blueprint are issued tokens there', () => {
      const t = T0 + HOUR;
      const run = (issuedAtB: [agent: string, ip: string][], until = 5 * MIN) => {
        const d = replay();
        const ctx = fakeContext();
        feed(d, ctx, home());
        feed(d, ctx, [
          token({ agent_id: 'w1', token_id: 'nat', ip: '60.1.1.1', time: t }),
          network({ agent_id: 'w1', token_id: 'nat', ip: '70.2.2.2', time: t + 5 * SEC }),
          ...issuedAtB.map(([agent, ip], i) => token({ agent_id: agent, token_id: `b-${i}`, ip, time: t + (10 + 10 * i) * SEC })),
        ]);
        return advanceTo(d, ctx, t + until).map((x) => x.agent_id);
      };
      expect(run([['w2', '70.2.2.9'], ['w3', '70.2.2.2']])).toEqual([]);
      expect(run([['w1', '70.2.2.2']])).toEqual([]);
      // One other agent does not clear it (a thief holding one agent credential could make it so): it is held
      // for the agent's own token there (see the failover test), and reported after 20 minutes without one.
      expect(run([['w2', '70.2.2.2']])).toEqual([]);
      expect(run([['w2', '70.2.2.2']], 25 * MIN)).toEqual(['w1']);
      // Tokens in other networks count for nothing: still one other agent there.
      expect(run([['w2', '70.2.2.9'], ['w3', '60.1.1.1'], ['w4', '60.1.1.1'], ['w3', '60.1.1.1'], ['w2', '70.2.2.2']], 25 * MIN)).toEqual(['w1']);
      expect(run([['w2', '70.2.2.9'], ['w3', '60.1.1.1'], ['w4', '60.1.1.1']], 25 * MIN)).toEqual(['w1']);
    });

    it('holds a use from the network where another agent of the blueprint just got its token (a site failing over to its backup line), until the agent signs in there; a call from home makes it a replay', () => {
      const t = T0 + HOUR;
      const LTE = '77.16.44.141';
      const run = (o: { siblingAt?: string; homeCallAfter?: number; ownTokenAfter?: number }) => {
        const d = replay();
        const ctx = fakeContext();
        feed(d, ctx, home());
        const events: AgentEvent[] = [token({ agent_id: 'w1', token_id: 'cached', ip: '20.1.2.1', time: t })];
        // The fibre fails: the site's next sign-in (another agent's) comes from the 4G line, 8 minutes before w1's cached token is used there.
        if (o.siblingAt !== undefined) events.push(token({ agent_id: 'w2', token_id: 'w2-lte', ip: o.siblingAt, time: t + 10 * MIN }));
        events.push(network({ agent_id: 'w1', token_id: 'cached', ip: '77.16.44.137', time: t + 18 * MIN }));
        if (o.homeCallAfter !== undefined) events.push(network({ agent_id: 'w1', token_id: null, ip: '20.1.2.1', time: t + 18 * MIN + o.homeCallAfter }));
        if (o.ownTokenAfter !== undefined) events.push(token({ agent_id: 'w1', token_id: 'w1-lte', ip: '77.16.44.137', time: t + 18 * MIN + o.ownTokenAfter }));
        // Another site's traffic moves event time on, every 10 s, for 50 minutes.
        for (let k = 1; k <= 300; k++) events.push(network({ agent_id: 'w4', token_id: null, ip: '20.1.2.4', time: t + k * 10 * SEC }));
        events.sort((x, y) => x.time - y.time);
        return feed(d, ctx, events).map((x) => [x.agent_id, x.severity, x.time - t - 18 * MIN] as const);
      };
      // Its own sign-in there 8 minutes on: it moved with its site.
      expect(run({ siblingAt: LTE, ownTokenAfter: 8 * MIN })).toEqual([]);
      // It calls from home 3 minutes on: someone else holds its token.
      const replayed = run({ siblingAt: LTE, homeCallAfter: 3 * MIN, ownTokenAfter: 8 * MIN });
      expect(replayed.map(([a, sev]) => [a, sev])).toEqual([['w1', 'high']]);
      expect(replayed[0]![2]).toBeLessThan(5 * MIN);
      // No sibling there (or one in another network): 45 s as ever, however soon it signs in there.
      for (const siblingAt of [undefined, '81.2.3.4']) {
        const alone = run({ siblingAt, ownTokenAfter: 8 * MIN });
        expect(alone.map(([a, sev, at]) => [a, sev, at < 2 * MIN])).toEqual([['w1', 'high', true]]);
      }
    });

    it('waits 5 minutes for a use from the /8 of the issuing address (a NAT gateway\'s second prefix, a paired region): cleared when tokens are issued there meanwhile, else high then', () => {
      const t = T0 + HOUR;
      const run = (issuedAtB: [agent: string, ip: string, after: number][], use = '20.99.224.19') => {
        const d = replay();
        const ctx = fakeContext();
        feed(d, ctx, home());
        const events = [
          token({ agent_id: 'w1', token_id: 'nat', ip: '20.1.2.1', time: t }),
          network({ agent_id: 'w1', token_id: 'nat', ip: use, time: t + 5 * SEC }),
          ...issuedAtB.map(([agent, ip, after], i) => token({ agent_id: agent, token_id: `b-${i}`, ip, time: t + after })),
        ];
        // The fleet's other traffic moves event time on, every 10 s.
        for (let k = 1; k <= 60; k++) events.push(network({ agent_id: 'w4', token_id: null, ip: '20.1.2.4', time: t + k * 10 * SEC }));
        events.sort((x, y) => x.time - y.time);
        return feed(d, ctx, events).map((x) => [x.agent_id, x.severity, x.time - t] as const);
      };
      // Two other agents issued tokens in the new prefix 2 and 4 minutes later (the sign-ins follow the cached tokens): no replay.
      expect(run([['w2', '20.99.224.7', 2 * MIN], ['w3', '20.99.224.19', 4 * MIN]])).toEqual([]);
      // Nobody is: high, 5 minutes after the use (as event time reaches it).
      const alone = run([]);
      expect(alone.map(([a, sev]) => [a, sev])).toEqual([['w1', 'high']]);
      expect(alone[0]![2]).toBeGreaterThanOrEqual(5 * SEC + 5 * MIN);
      expect(alone[0]![2]).toBeLessThan(5 * SEC + 6 * MIN);
      // Another /8 (a hosting provider's): 45 s, and tokens issued there minutes later come too late.
      const hosting = run([['w2', '159.65.3.7', 2 * MIN], ['w3', '159.65.3.19', 4 * MIN]], '159.65.3.19');
      expect(hosting.map(([a, sev]) => [a, sev])).toEqual([['w1', 'high']]);
      expect(hosting[0]![2]).toBeLessThan(2 * MIN);
    });

    it('holds a use from a network the agent\'s token-less traffic moved to as well (a route change), until a token is issued there; a call from home, or 20 minutes, make it a replay', () => {
      const t = T0 + HOUR;
      const HUB = '191.234.6.88';
      const run = (o: { tokenless?: boolean; homeCallAfter?: number; issuedAfter?: number }) => {
        const d = replay();
        const ctx = fakeContext();
        feed(d, ctx, home());
        const events = [
          token({ agent_id: 'w1', token_id: 'dc', ip: '20.1.2.1', time: t }),
          network({ agent_id: 'w1', token_id: 'dc', ip: HUB, time: t + 10 * SEC }),
        ];
        // The agent's other calls (no token) leave through the hub from then on.
        if (o.tokenless !== false) for (let k = 1; k <= 4; k++) events.push(network({ agent_id: 'w1', token_id: null, ip: HUB, dest_host: 'dict.pi.rsfn.net.br', time: t + 10 * SEC + k * 8 * SEC }));
        if (o.homeCallAfter !== undefined) events.push(network({ agent_id: 'w1', token_id: null, ip: '20.1.2.1', dest_host: 'dict.pi.rsfn.net.br', time: t + o.homeCallAfter }));
        if (o.issuedAfter !== undefined) events.push(token({ agent_id: 'w1', token_id: 'hub', ip: HUB, time: t + o.issuedAfter }));
        // The fleet's other traffic moves event time on, every 10 s, for 30 minutes.
        for (let k = 1; k <= 180; k++) events.push(network({ agent_id: 'w4', token_id: null, ip: '20.1.2.4', time: t + k * 10 * SEC }));
        events.sort((x, y) => x.time - y.time);
        return feed(d, ctx, events).map((x) => [x.agent_id, x.severity, x.time - t] as const);
      };
      // Its next sign-in, 12 minutes on (a batch between runs), is at the hub: it moved.
      expect(run({ issuedAfter: 12 * MIN })).toEqual([]);
      // It calls from home 3 minutes on: someone else holds its token (reported as the watermark moves, 60 s behind).
      const replayed = run({ homeCallAfter: 3 * MIN, issuedAfter: 12 * MIN });
      expect(replayed.map(([a, sev]) => [a, sev])).toEqual([['w1', 'high']]);
      expect(replayed[0]![2]).toBeGreaterThanOrEqual(2 * MIN);
      expect(replayed[0]![2]).toBeLessThan(4 * MIN);
      // Its other cached token used from the hub too (no token-less call): its traffic moved, not one token.
      const other = (() => {
        const d = replay();
        const ctx = fakeContext();
        feed(d, ctx, home());
        const events = [
          token({ agent_id: 'w1', token_id: 'dc', ip: '20.1.2.1', time: t }),
          token({ agent_id: 'w1', token_id: 'dc2', ip: '20.1.2.1', time: t + SEC }),
          network({ agent_id: 'w1', token_id: 'dc', ip: HUB, time: t + 10 * SEC }),
          network({ agent_id: 'w1', token_id: 'dc2', ip: HUB, time: t + 30 * SEC }),
          token({ agent_id: 'w1', token_id: 'hub', ip: HUB, time: t + 12 * MIN }),
        ];
        for (let k = 1; k <= 180; k++) events.push(network({ agent_id: 'w4', token_id: null, ip: '20.1.2.4', time: t + k * 10 * SEC }));
        return feed(d, ctx, events.sort((x, y) => x.time - y.time));
      })();
      expect(other).toEqual([]);
      // Without token-less calls from there, 45 s as ever; with them and nothing else, 20 minutes.
      expect(run({ tokenless: false, issuedAfter: 12 * MIN }).map(([a, sev, at]) => [a, sev, at < 2 * MIN])).toEqual([['w1', 'high', true]]);
      const silent = run({});
      expect(silent.map(([a, sev]) => [a, sev])).toEqual([['w1', 'high']]);
      expect(silent[0]![2]).toBeGreaterThanOrEqual(20 * MIN);
    });

    it('takes a private endpoint the blueprint agents start using, while still calling other hosts from home, as no replay; one agent alone there is reported low', () => {
      const t = T0 + 30 * MIN;
      const run = (movers: number) => {
        const d = replay();
        const ctx = fakeContext();
        const events = home(T0, t + 20 * MIN);
        // Storage traffic moves to a private endpoint: the tokens are still issued at the public NAT addresses.
        for (let a = 1; a <= movers; a++) {
          events.push(token({ agent_id: `w${a}`, token_id: `pe-${a}`, ip: `20.1.2.${a}`, time: t + a * 2 * MIN }));
          events.push(network({ agent_id: `w${a}`, token_id: `pe-${a}`, ip: `10.20.${a}.${100 + a}`, dest_host: 'contosodata.privatelink.blob.core.windows.net', time: t + a * 2 * MIN + 20 * SEC }));
        }
        events.sort((a, b) => a.time - b.time);
        return feed(d, ctx, events).concat(advanceTo(d, ctx, t + 30 * MIN));
      };
      expect(run(4)).toEqual([]);
      expect(run(2)).toEqual([]);
      const alone = run(1);
      expect(alone.map((x) => [x.agent_id, x.severity])).toEqual([['w1', 'low']]);
      expect(alone[0]!.summary).toContain('a private address, inside the organisation\'s network');
      // Judged once the blueprint had 10 minutes to show the private network is its own.
      expect(alone[0]!.time).toBeGreaterThanOrEqual(t + 2 * MIN + 20 * SEC + 10 * MIN);
    });

    it('takes a private-address use by an agent that presents no token from where it gets them as its own runtime behind a private endpoint; beside its own calls from home it is low', () => {
      const t = T0 + 2 * HOUR;
      const run = (w1CallsFromHome: boolean) => {
        const d = replay();
        const ctx = fakeContext();
        // w1 gets its tokens at the NAT like its peers; its only API sits behind a private endpoint.
        const events = home(T0, t + 20 * MIN).filter((e) => w1CallsFromHome || e.type !== 'network' || e.agent_id !== 'w1');
        for (let k = 0; k < 3; k++) {
          events.push(token({ agent_id: 'w1', token_id: `kms-${k}`, ip: '20.1.2.1', time: t + k * 40 * MIN }));
          events.push(network({ agent_id: 'w1', token_id: `kms-${k}`, ip: '10.30.16.189', dest_host: 'kms-api.drm.contoso.internal', time: t + k * 40 * MIN + 5 * SEC }));
        }
        events.sort((a, b) => a.time - b.time);
        return feed(d, ctx, events).concat(advanceTo(d, ctx, t + 3 * HOUR));
      };
      expect(run(false)).toEqual([]);
      const beside = run(true);
      expect(beside.map((x) => [x.agent_id, x.severity])).toEqual([['w1', 'low']]);
      expect(beside[0]!.summary).toContain('a private address, inside the organisation\'s network');
    });

    it('judges a private-address use that arrives before its token event like one that arrives after it: cleared by the blueprint, else low, never high at once', () => {
      const t = T0 + 30 * MIN;
      const run = (movers: number, useIp: (a: number) => string) => {
        const d = replay();
        const ctx = fakeContext();
        const events = home(T0, t + 20 * MIN);
        // Arrival order: each call reaches the detector before the token event it carries (issued 100 ms earlier, at the public NAT).
        const late: AgentEvent[] = [];
        for (let a = 1; a <= movers; a++) {
          late.push(network({ agent_id: `w${a}`, token_id: `int-${a}`, ip: useIp(a), dest_host: 'planner.ops.contoso.internal', time: t + a * 2 * MIN + 100 }));
          late.push(token({ agent_id: `w${a}`, token_id: `int-${a}`, ip: `20.1.2.${a}`, time: t + a * 2 * MIN }));
        }
        events.sort((a, b) => a.time - b.time);
        const out = feed(d, ctx, events);
        return out.concat(feed(d, ctx, late), advanceTo(d, ctx, t + 30 * MIN));
      };
      const internal = (a: number) => `10.12.8.${100 + a}`;
      expect(run(3, internal)).toEqual([]);
      const alone = run(1, internal);
      expect(alone.map((x) => [x.agent_id, x.severity])).toEqual([['w1', 'low']]);
      expect(alone[0]!.summary).toContain('a private address, inside the organisation\'s network');
      expect(alone[0]!.time).toBeGreaterThanOrEqual(t + 2 * MIN + 10 * MIN);
      // From a public address elsewhere, the late token event still completes a replay at once.
      const foreign = run(1, () => '203.0.113.9');
      expect(foreign.map((x) => [x.agent_id, x.severity])).toEqual([['w1', 'high']]);
      expect(foreign[0]!.time).toBeLessThan(t + 3 * MIN);
    });

    it('reports a token used from a cloud security edge egress (the company web gateway), alone and not cleared by its blueprint, low; from a hosting provider, high', () => {
      const t = T0 + 30 * MIN;
      const run = (useIp: string) => {
        const d = replay();
        const ctx = fakeContext();
        const events = home(T0, t + 20 * MIN);
        events.push(token({ agent_id: 'w1', token_id: 'sse-1', ip: '20.1.2.1', time: t }));
        events.push(network({ agent_id: 'w1', token_id: 'sse-1', ip: useIp, dest_host: 'graph.microsoft.com', time: t + 20 * SEC }));
        events.sort((a, b) => a.time - b.time);
        return feed(d, ctx, events).concat(advanceTo(d, ctx, t + 30 * MIN));
      };
      const edge = run('165.225.80.21');
      expect(edge.map((x) => [x.agent_id, x.severity])).toEqual([['w1', 'low']]);
      expect(edge[0]!.summary).toContain('an egress address of a cloud security edge');
      expect(edge[0]!.time).toBeGreaterThanOrEqual(t + 20 * SEC + 10 * MIN);
      expect(run('159.65.10.10').map((x) => [x.agent_id, x.severity])).toEqual([['w1', 'high']]);
    });

    it('takes the IPv6 site where other agents of the blueprint get tokens, each in its own /64, for the blueprint egress; another site is a replay', () => {
      const t = T0 + 30 * MIN;
      const run = (useIp: string) => {
        const d = replay();
        const ctx = fakeContext();
        const events = home(T0, t + 10 * MIN);
        // Dual-stack node pools: w2 and w3 are issued tokens over IPv6, each from its own /64 of the site's /48.
        events.push(token({ agent_id: 'w2', token_id: 'v6-2', ip: '2603:1030:20c:12::5', time: t }));
        events.push(token({ agent_id: 'w3', token_id: 'v6-3', ip: '2603:1030:20c:13::9', time: t + 20 * SEC }));
        // w1 still holds a token issued over IPv4; Happy Eyeballs sends its call over IPv6, from its own /64.
        events.push(token({ agent_id: 'w1', token_id: 'v4-1', ip: '20.1.2.1', time: t + MIN }));
        events.push(network({ agent_id: 'w1', token_id: 'v4-1', ip: useIp, time: t + 2 * MIN }));
        events.sort((a, b) => a.time - b.time);
        return feed(d, ctx, events).concat(advanceTo(d, ctx, t + 20 * MIN)).map((x) => x.agent_id);
      };
      expect(run('2603:1030:20c:11::7')).toEqual([]);
      expect(run('2a01:4f8:c0c:11::7')).toEqual(['w1']);
    });

    it('keeps the blueprint issuances over a snapshot', () => {
      const t = T0 + HOUR;
      const events = [
        ...home(),
        token({ agent_id: 'w2', token_id: 'b-2', ip: '70.2.2.9', time: t - 30 * SEC }),
        token({ agent_id: 'w3', token_id: 'b-3', ip: '70.2.2.2', time: t - 20 * SEC }),
        token({ agent_id: 'w1', token_id: 'nat', ip: '60.1.1.1', time: t }),
        network({ agent_id: 'w1', token_id: 'nat', ip: '70.2.2.2', time: t + 5 * SEC }),
        network({ agent_id: 'w4', token_id: null, ip: '20.1.2.4', time: t + 5 * MIN }), // moves the watermark on
      ];
      const { uninterrupted, restored, snapshotJson } = runWithRestore(() => replay(), events, events.length - 3);
      expect(uninterrupted).toEqual([]);
      expect(restored).toEqual([]);
      expect(snapshotJson).toContain('issuance');
    });

    it('reports every agent whose token a thief replays from one host, although several agents then use that network', () => {
      const d = replay();
      const ctx = fakeContext();
      const t = T0 + 30 * MIN;
      const events = home(T0, t);
      for (let a = 1; a <= 4; a++) {
        events.push(token({ agent_id: `w${a}`, token_id: `dumped-${a}`, ip: `20.1.2.${a}`, time: t + a * SEC }));
        events.push(network({ agent_id: `w${a}`, token_id: `dumped-${a}`, ip: '95.216.77.10', time: t + 2 * MIN + a * 20 * SEC }));
      }
      // The agents go on calling from home meanwhile: they did not move.
      events.push(...home(t + 3 * MIN, t + 20 * MIN));
      events.sort((a, b) => a.time - b.time);
      const out = feed(d, ctx, events).concat(advanceTo(d, ctx, t + 30 * MIN));
      expect(out.map((x) => x.agent_id).sort()).toEqual(['w1', 'w2', 'w3', 'w4']);
      expect(Math.max(...out.map((x) => x.time))).toBeLessThan(t + 10 * MIN);
    });
  });

  describe('use networks of a blueprint', () => {
    /** 40 minutes of a blueprint's 4 agents getting tokens at `issue(agent, i)` and using them from `use(agent, i)`. */
    function fleet(issue: (a: number, i: number) => string, use: (a: number, i: number) => string, start = T0, minutes = 40) {
      const out = [];
      for (let m = 0, i = 0; m < minutes; m += 2, i++) {
        for (let a = 1; a <= 4; a++) {
          const id = `tok-${a}-${m}-${start}`;
          out.push(token({ agent_id: `w${a}`, token_id: id, ip: issue(a, i), time: start + m * MIN }));
          out.push(network({ agent_id: `w${a}`, token_id: id, ip: use(a, i), time: start + m * MIN + 20 * SEC }));
        }
      }
      return out;
    }

    it('learns that a dual-stack blueprint gets tokens over IPv6 and calls over IPv4, and still catches a replay', () => {
      const d = createTokenReplayDetector();
      const ctx = fakeContext();
      const dualStack = fleet((a) => `2001:db8:10::${a}`, (a) => `20.1.2.${a}`);
      expect(feed(d, ctx, dualStack)).toEqual([]);
      expect(advanceTo(d, ctx, T0 + 50 * MIN)).toEqual([]);
      const later = fleet((a) => `2001:db8:10::${a}`, (a) => `20.1.2.${a + 10}`, T0 + HOUR, 20);
      expect(feed(d, ctx, later)).toEqual([]);
      const out = feed(d, ctx, [
        token({ agent_id: 'w2', token_id: 'stolen', ip: '2001:db8:10::2', time: T0 + 2 * HOUR }),
        network({ agent_id: 'w2', token_id: 'stolen', ip: '185.220.101.7', time: T0 + 2 * HOUR + 5 * MIN }),
      ]);
      expect(out).toEqual([]);
      const confirmed = advanceTo(d, ctx, T0 + 2 * HOUR + 6 * MIN);
      expect(confirmed.map((x) => [x.agent_id, x.severity])).toEqual([['w2', 'high']]);
    });

    it('learns a firewall whose source NAT spans two prefixes', () => {
      const d = createTokenReplayDetector();
      const ctx = fakeContext();
      const snat = (a: number, i: number) => ((a + i) % 2 === 0 ? `20.1.2.${(a * 7 + i) % 250}` : `52.9.9.${(a * 11 + i) % 250}`);
      expect(feed(d, ctx, fleet(snat, (a, i) => snat(a, i + 1)))).toEqual([]);
      // Its two prefixes are unrelated (other /16s), but every agent of the blueprint uses both: learned.
      expect(advanceTo(d, ctx, T0 + 50 * MIN)).toEqual([]);
      expect(feed(d, ctx, fleet(snat, (a, i) => snat(a, i + 1), T0 + HOUR))).toEqual([]);
      const out = feed(d, ctx, [
        token({ agent_id: 'w3', token_id: 'stolen', ip: '20.1.2.9', time: T0 + 2 * HOUR }),
        network({ agent_id: 'w3', token_id: 'stolen', ip: '45.9.8.7', time: T0 + 2 * HOUR + MIN }),
      ]);
      expect(out).toEqual([]);
      expect(advanceTo(d, ctx, T0 + 2 * HOUR + 2 * MIN)).toHaveLength(1);
    });

    it('takes a network three agents start using within 30 minutes as a new egress (the first two are reported)', () => {
      const d = createTokenReplayDetector();
      const ctx = fakeContext();
      feed(d, ctx, fleet((a) => `20.1.2.${a}`, (a) => `20.1.2.${a}`));
      const t = T0 + HOUR;
      const moved = [];
      for (let a = 1; a <= 4; a++) {
        moved.push(token({ agent_id: `w${a}`, token_id: `new-${a}`, ip: `20.1.2.${a}`, time: t + a * 5 * MIN }));
        moved.push(network({ agent_id: `w${a}`, token_id: `new-${a}`, ip: `98.0.0.${a}`, time: t + a * 5 * MIN + 10 * SEC }));
      }
      expect(feed(d, ctx, moved).map((x) => x.agent_id)).toEqual(['w1', 'w2']);
    });

    it('while a blueprint learns, judges a use from a network that fits nothing 2 minutes later, unless another agent uses it too', () => {
      // The first token use the blueprint ever shows is the thief's: learning must not take it in.
      const d = createTokenReplayDetector();
      const ctx = fakeContext();
      expect(
        feed(d, ctx, [
          token({ token_id: 'tok-A', ip: '20.1.2.3', time: T0, event_id: 'k' }),
          network({ token_id: 'tok-A', ip: '185.220.101.7', time: T0 + MIN, event_id: 'n' }),
          network({ token_id: 'tok-A', ip: '185.220.101.7', time: T0 + 2 * MIN }),
        ]),
      ).toEqual([]);
      expect(advanceTo(d, ctx, T0 + 2 * MIN)).toEqual([]);
      const out = advanceTo(d, ctx, T0 + 3 * MIN);
      expect(out.map((x) => [x.severity, x.event_ids, x.time])).toEqual([['high', ['k', 'n'], T0 + 3 * MIN]]);
      expect(advanceTo(d, ctx, T0 + 10 * MIN)).toEqual([]);
      // A second agent of the blueprint using the same network within the 2 minutes makes it the blueprint's.
      const d2 = createTokenReplayDetector();
      const ctx2 = fakeContext();
      feed(d2, ctx2, [
        token({ token_id: 'tok-A', ip: '20.1.2.3', time: T0 }),
        network({ token_id: 'tok-A', ip: '185.220.101.7', time: T0 + MIN }),
        token({ agent_id: 'a2', token_id: 'tok-B', ip: '20.1.2.4', time: T0 + MIN }),
        network({ agent_id: 'a2', token_id: 'tok-B', ip: '185.220.101.9', time: T0 + 2 * MIN }),
      ]);
      expect(advanceTo(d2, ctx2, T0 + 10 * MIN)).toEqual([]);
    });

    it('while a blueprint learns, takes a use over the other address family, or from the /16 of the issuing address, as its egress', () => {
      for (const ip of ['2001:db8:77::5', '20.1.200.7']) {
        const d = createTokenReplayDetector();
        const ctx = fakeContext();
        feed(d, ctx, [token({ token_id: 'tok-A', ip: '20.1.2.3', time: T0 }), network({ token_id: 'tok-A', ip, time: T0 + MIN })]);
        expect(advanceTo(d, ctx, T0 + 10 * MIN), ip).toEqual([]);
      }
    });

    it('carries a deferred use over a snapshot', () => {
      const events = [
        token({ token_id: 'tok-A', ip: '20.1.2.3', time: T0 }),
        network({ token_id: 'tok-A', ip: '185.220.101.7', time: T0 + MIN }),
        network({ agent_id: 'a2', token_id: null, ip: '20.1.2.4', time: T0 + 4 * MIN }),
      ];
      const { uninterrupted, restored } = runWithRestore(() => createTokenReplayDetector(), events, 2);
      expect(uninterrupted.map((x) => x.severity)).toEqual(['high']);
      expect(restored).toEqual(uninterrupted);
    });
  });

  it('reports a token for a Microsoft first-party resource presented to a host that is not that resource\'s (a Graph token handed to a third-party MCP server), medium once per token; not at its own hosts, nor a custom API\'s token anywhere', () => {
    const run = (resource: string, host: string, ip: string | null = '104.21.33.7') => {
      const d = replay();
      const ctx = fakeContext();
      return feed(d, ctx, [
        anyToken({ token_id: 'tok-G', resource, time: T0, event_id: 'k-g' }),
        network({ token_id: 'tok-G', time: T0 + 2 * MIN, dest_host: host, dest_ip: ip, category: 'mcp_server', event_id: 'n-mcp' }),
        network({ token_id: 'tok-G', time: T0 + 4 * MIN, dest_host: host, dest_ip: ip, category: 'mcp_server' }),
      ]);
    };
    const out = run('https://graph.microsoft.com', 'mcp.docuflow-ai.com');
    expect(out.map((x) => [x.agent_id, x.severity, x.time])).toEqual([['a1', 'medium', T0 + 2 * MIN]]);
    expect(out[0]!.summary).toContain('for https://graph.microsoft.com to mcp.docuflow-ai.com');
    expect(out[0]!.event_ids).toEqual(['k-g', 'n-mcp']);
    // Graph's application id is Graph; a storage token at a blob endpoint and a vault token at a vault are at home.
    expect(run('00000003-0000-0000-c000-000000000000', 'mcp.docuflow-ai.com')).toHaveLength(1);
    expect(run('https://storage.azure.com', 'contosodata.blob.core.windows.net')).toEqual([]);
    expect(run('https://vault.azure.net', 'contoso-kv.vault.azure.net')).toEqual([]);
    expect(run('https://graph.microsoft.com', 'GRAPH.microsoft.com.')).toEqual([]);
    // A Graph download redirected to SharePoint stays with Microsoft; a customer's own app on Azure does not.
    expect(run('https://graph.microsoft.com', 'contoso.sharepoint.com')).toEqual([]);
    expect(run('https://graph.microsoft.com', 'notes-sync.azurewebsites.net')).toHaveLength(1);
    // A custom API's audience says nothing of its hosts; an internal proxy's private address is the organisation's own.
    expect(run('api://bp1-backend', 'mcp.docuflow-ai.com')).toEqual([]);
    expect(run('https://graph.microsoft.com', 'graph-proxy.corp.example', '10.4.0.9')).toEqual([]);
  });

  it('reports an agent presenting, from its own address, tokens its tenant never issued to a Microsoft resource its blueprint never got a token for (another tenant\'s): medium at the fifth use within 30 minutes', () => {
    const run = (o: { ownGraph?: boolean; start?: number; uses?: number; lifetime?: number; host?: string }) => {
      const d = replay();
      const ctx = fakeContext();
      const start = o.start ?? T0 + 2 * HOUR;
      const events: AgentEvent[] = [];
      // The batch agent's hourly tokens for its own API, called from home, since T0.
      for (let t = T0; t < start + HOUR; t += HOUR) {
        events.push(token({ token_id: `own-${t}`, ip: '20.45.70.25', time: t, lifetime_s: o.lifetime ?? 3600 }));
        events.push(network({ token_id: `own-${t}`, ip: '20.45.70.25', time: t + 2 * SEC }));
      }
      if (o.ownGraph) events.push(anyToken({ agent_id: 'a2', token_id: 'g-own', resource: 'https://graph.microsoft.com', ip: '20.45.70.26', time: T0 + 10 * MIN }));
      for (let k = 0; k < (o.uses ?? 6); k++)
        events.push(network({ token_id: 'foreign-drafts', ip: '20.45.70.25', time: start + k * 70 * SEC, dest_host: o.host ?? 'graph.microsoft.com', event_id: `n-f${k}` }));
      events.sort((x, y) => x.time - y.time);
      return feed(d, ctx, events).concat(advanceTo(d, ctx, start + HOUR + 10 * MIN));
    };
    const out = run({});
    expect(out.map((x) => [x.agent_id, x.severity])).toEqual([['a1', 'medium']]);
    expect(out[0]!.summary).toContain('never got a token for https://graph.microsoft.com');
    expect(out[0]!.event_ids).toEqual(['n-f0', 'n-f1', 'n-f2', 'n-f3', 'n-f4']);
    // Four uses; a blueprint that gets Graph tokens itself (its cached one, pushed out); a host that is no Microsoft resource's.
    expect(run({ uses: 4 })).toEqual([]);
    expect(run({ ownGraph: true })).toEqual([]);
    expect(run({ host: 'api.example.com' })).toEqual([]);
    // In its first hour, or before its agent's day-long tokens issued before the stream began have run out: not judged.
    expect(run({ start: T0 + 30 * MIN })).toEqual([]);
    expect(run({ lifetime: 24 * 3600 })).toEqual([]);
  });
});

import { beforeEach, describe, expect, it } from 'vitest';
import { CredentialSprees } from '../../detectors/credential-sprees.js';
import { MIN, T0, lifecycle, resetIds } from './helpers/context.js';

beforeEach(() => resetIds());

describe('credential sprees', () => {
  it('counts the distinct agents an actor added credentials to around a time, in any case of the actor', () => {
    const s = new CredentialSprees();
    for (const [i, a] of ['a1', 'a2', 'a2', 'a3'].entries()) s.note(lifecycle({ agent_id: a, action: 'credential_added', actor: i % 2 ? 'Ops@Contoso' : 'ops@contoso', time: T0 + i * MIN }));
    s.note(lifecycle({ agent_id: 'a4', action: 'credential_added', actor: 'ops@contoso', time: T0 + 30 * MIN }));
    s.note(lifecycle({ agent_id: 'a5', action: 'permission_granted', actor: 'ops@contoso', time: T0 }));
    expect(s.agentsAround('t1', 'OPS@contoso', T0, 10 * MIN)).toBe(3);
    expect(s.agentsAround('t1', 'ops@contoso', T0 + 30 * MIN, 10 * MIN)).toBe(1);
    expect(s.agentsAround('t1', 'someone-else', T0, 10 * MIN)).toBe(0);
    expect(s.agentsAround('t2', 'ops@contoso', T0, 10 * MIN)).toBe(0);
  });

  it('keeps the latest 16 additions per actor, survives a snapshot, and forgets idle actors', () => {
    const s = new CredentialSprees();
    for (let i = 0; i < 40; i++) s.note(lifecycle({ agent_id: `a${i}`, action: 'credential_added', actor: 'rotator', time: T0 + i * 1000 }));
    expect(s.agentsAround('t1', 'rotator', T0, 10 * MIN)).toBe(16);
    const r = new CredentialSprees();
    r.restore(JSON.parse(JSON.stringify(s.snapshot())));
    expect(r.agentsAround('t1', 'rotator', T0, 10 * MIN)).toBe(16);
    r.restore(undefined);
    expect(r.size).toBe(0);
    s.evict(T0 + 60 * MIN);
    expect(s.size).toBe(0);
  });

  it('tells a spree, its agents, and whether the actor went on sprees 12 hours before', () => {
    const s = new CredentialSprees();
    const spree = (t: number, prefix: string) => {
      for (let i = 0; i < 4; i++) s.note(lifecycle({ agent_id: `${prefix}${i}`, action: 'credential_added', actor: 'rotator', time: t + i * 1000 }));
      return s.spree('t1', 'rotator', t + 3000, 10 * MIN, 4, 12 * 60 * MIN);
    };
    expect(spree(T0, 'a')).toEqual({ agentIds: ['a0', 'a1', 'a2', 'a3'], repeated: false });
    expect(s.spree('t1', 'rotator', T0 + 3000, 10 * MIN, 5, 12 * 60 * MIN)).toBeNull();
    expect(spree(T0 + 13 * 60 * MIN, 'b')).toEqual({ agentIds: ['b0', 'b1', 'b2', 'b3'], repeated: true });
  });
});

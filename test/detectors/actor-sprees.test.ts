import { beforeEach, describe, expect, it } from 'vitest';
import { ActorSprees } from '../../detectors/actor-sprees.js';
import { MIN, T0, lifecycle, resetIds } from './helpers/context.js';

beforeEach(() => resetIds());

describe('actor sprees', () => {
  it('counts the distinct agents an actor added credentials to around a time, in any case of the actor', () => {
    const s = new ActorSprees();
    for (const [i, a] of ['a1', 'a2', 'a2', 'a3'].entries()) s.note(lifecycle({ agent_id: a, action: 'credential_added', actor: i % 2 ? 'Ops@Contoso' : 'ops@contoso', time: T0 + i * MIN }));
    s.note(lifecycle({ agent_id: 'a4', action: 'credential_added', actor: 'ops@contoso', time: T0 + 30 * MIN }));
    s.note(lifecycle({ agent_id: 'a5', action: 'permission_granted', actor: 'ops@contoso', time: T0 }));
    expect(s.agentsAround('t1', 'OPS@contoso', T0, 10 * MIN)).toBe(3);
    expect(s.agentsAround('t1', 'ops@contoso', T0 + 30 * MIN, 10 * MIN)).toBe(1);
    expect(s.agentsAround('t1', 'someone-else', T0, 10 * MIN)).toBe(0);
    expect(s.agentsAround('t2', 'ops@contoso', T0, 10 * MIN)).toBe(0);
  });

  it('keeps the latest 16 additions per actor, survives a snapshot, and forgets idle actors', () => {
    const s = new ActorSprees();
    for (let i = 0; i < 40; i++) s.note(lifecycle({ agent_id: `a${i}`, action: 'credential_added', actor: 'rotator', time: T0 + i * 1000 }));
    expect(s.agentsAround('t1', 'rotator', T0, 10 * MIN)).toBe(16);
    const r = new ActorSprees();
    r.restore(JSON.parse(JSON.stringify(s.snapshot())));
    expect(r.agentsAround('t1', 'rotator', T0, 10 * MIN)).toBe(16);
    r.restore(undefined);
    expect(r.size).toBe(0);
    s.evict(T0 + 60 * MIN);
    expect(s.size).toBe(0);
  });

  it('tells a spree, its agents, and whether the actor went on sprees 12 hours before', () => {
    const s = new ActorSprees();
    const spree = (t: number, prefix: string) => {
      for (let i = 0; i < 4; i++) s.note(lifecycle({ agent_id: `${prefix}${i}`, action: 'credential_added', actor: 'rotator', time: t + i * 1000 }));
      return s.spree('t1', 'rotator', t + 3000, 10 * MIN, 4, 12 * 60 * MIN);
    };
    expect(spree(T0, 'a')).toEqual({ agentIds: ['a0', 'a1', 'a2', 'a3'], groups: 1, repeated: false });
    expect(s.spree('t1', 'rotator', T0 + 3000, 10 * MIN, 5, 12 * 60 * MIN)).toBeNull();
    expect(spree(T0 + 13 * 60 * MIN, 'b')).toEqual({ agentIds: ['b0', 'b1', 'b2', 'b3'], groups: 1, repeated: true });
  });

  it('counts an action delivered after a later one (out of order) together with it', () => {
    const s = new ActorSprees();
    const add = (agent: string, t: number) => s.note(lifecycle({ agent_id: agent, action: 'credential_added', actor: 'admin', time: t }));
    for (let i = 0; i < 3; i++) add(`a${i}`, T0 + i * MIN);
    // The fifth action by event time arrives before the fourth.
    add('a4', T0 + 3 * MIN + 400);
    expect(s.spree('t1', 'admin', T0 + 3 * MIN + 400, 10 * MIN, 5, 12 * 60 * MIN)).toBeNull();
    add('a3', T0 + 3 * MIN);
    expect(s.spree('t1', 'admin', T0 + 3 * MIN, 10 * MIN, 5, 12 * 60 * MIN)?.agentIds).toEqual(['a0', 'a1', 'a2', 'a4', 'a3']);
  });

  it('counts another lifecycle action when told, only the events it admits, and the blueprints of the agents', () => {
    const s = new ActorSprees('permission_granted', (e) => e.permission !== 'User.Read');
    const grant = (agent: string, bp: string | null, permission: string, i: number) =>
      lifecycle({ agent_id: agent, blueprint_id: bp, action: 'permission_granted', actor: 'admin', permission, time: T0 + i * 1000 });
    s.note(grant('a1', 'bp-1', 'Mail.ReadWrite', 0));
    s.note(grant('a2', 'bp-1', 'Mail.ReadWrite', 1));
    s.note(grant('a3', 'bp-2', 'Files.ReadWrite.All', 2));
    s.note(grant('a4', 'bp-3', 'User.Read', 3)); // not admitted
    s.note(lifecycle({ agent_id: 'a5', action: 'credential_added', actor: 'admin', time: T0 + 4000 })); // another action
    expect(s.spree('t1', 'admin', T0 + 4000, 10 * MIN, 3, 12 * 60 * MIN)).toEqual({ agentIds: ['a1', 'a2', 'a3'], groups: 2, repeated: false });
    // The blueprint of an event that does not say it comes from the caller; agents without one are each their own group.
    s.note(grant('a6', null, 'Mail.Send', 5), 'bp-2');
    s.note(grant('a7', null, 'Mail.Send', 6));
    s.note(grant('a8', null, 'Mail.Send', 7));
    expect(s.spree('t1', 'admin', T0 + 8000, 10 * MIN, 3, 12 * 60 * MIN)?.groups).toBe(4);
    // A snapshot keeps the groups.
    const r = new ActorSprees('permission_granted');
    r.restore(JSON.parse(JSON.stringify(s.snapshot())));
    expect(r.spree('t1', 'admin', T0 + 8000, 10 * MIN, 3, 12 * 60 * MIN)?.groups).toBe(4);
  });

  it('counts each agent of a snapshot taken before blueprints were kept as a group of its own', () => {
    const r = new ActorSprees();
    r.restore([['t1', 'admin', { at: T0, agents: [11, 12, 13], ids: ['a1', 'a2', 'a3'], times: [T0, T0 + 1000, T0 + 2000] }]]);
    expect(r.spree('t1', 'admin', T0 + 2000, 10 * MIN, 3, 12 * 60 * MIN)).toEqual({ agentIds: ['a1', 'a2', 'a3'], groups: 3, repeated: false });
  });
});

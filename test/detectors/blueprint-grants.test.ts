import { beforeEach, describe, expect, it } from 'vitest';
import { BlueprintGrants } from '../../detectors/blueprint-grants.js';
import { HOUR, MIN, T0, lifecycle, resetIds } from './core-helpers.js';

beforeEach(() => resetIds());

const grant = (agent: string, permission: string, actor: string, time: number, tenant = 't1') =>
  lifecycle({ tenant_id: tenant, agent_id: agent, action: 'permission_granted', permission, actor, time });

describe('blueprint-grants', () => {
  it('tells one actor granting a permission to several agents of a blueprint within the span (consent for the blueprint)', () => {
    const g = new BlueprintGrants();
    for (const [i, a] of ['a1', 'a2', 'a3'].entries()) g.note(grant(a, 'api://mx/Mx.Send', 'admin', T0 + i * 10 * MIN), 'bp1');
    // Permission names compare without the resource prefix, actors in one form.
    expect(g.consented('t1', 'bp1', 'Mx.Send', 'ADMIN', T0 + 20 * MIN, 3, HOUR)).toBe(true);
    // Fewer agents, another actor, another permission, blueprint or tenant, or out of the span: no.
    expect(g.consented('t1', 'bp1', 'Mx.Send', 'admin', T0, 4, HOUR)).toBe(false);
    expect(g.consented('t1', 'bp1', 'Mx.Send', 'mallory', T0, 3, HOUR)).toBe(false);
    expect(g.consented('t1', 'bp1', 'Mx.Receive', 'admin', T0, 3, HOUR)).toBe(false);
    expect(g.consented('t1', 'bp2', 'Mx.Send', 'admin', T0, 3, HOUR)).toBe(false);
    expect(g.consented('t2', 'bp1', 'Mx.Send', 'admin', T0, 3, HOUR)).toBe(false);
    expect(g.consented('t1', 'bp1', 'Mx.Send', 'admin', T0 + 3 * HOUR, 3, HOUR)).toBe(false);
  });

  it('counts an agent granted twice once, ignores other lifecycle events, and forgets old grants', () => {
    const g = new BlueprintGrants();
    g.note(grant('a1', 'Files.Read.All', 'admin', T0), 'bp1');
    g.note(grant('a1', 'Files.Read.All', 'admin', T0 + MIN), 'bp1');
    g.note(lifecycle({ agent_id: 'a2', action: 'credential_added', actor: 'admin', time: T0 + MIN }), 'bp1');
    expect(g.consented('t1', 'bp1', 'Files.Read.All', 'admin', T0, 2, HOUR)).toBe(false);
    g.note(grant('a2', 'Files.Read.All', 'admin', T0 + 2 * MIN), 'bp1');
    expect(g.consented('t1', 'bp1', 'Files.Read.All', 'admin', T0, 2, HOUR)).toBe(true);
    const copy = new BlueprintGrants();
    copy.restore(JSON.parse(JSON.stringify(g.snapshot())));
    expect(copy.consented('t1', 'bp1', 'Files.Read.All', 'admin', T0, 2, HOUR)).toBe(true);
    g.evict(T0 + MIN + 1000);
    expect(g.consented('t1', 'bp1', 'Files.Read.All', 'admin', T0, 2, HOUR)).toBe(false);
    g.evict(T0 + HOUR);
    expect(g.size).toBe(0);
  });
});

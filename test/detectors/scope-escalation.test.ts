import { beforeEach, describe, expect, it } from 'vitest';
import type { TokenEvent } from '../../contract/events.js';
import { createScopeEscalationDetector, isPrivilegedScope, isSensitiveScope, scopeList } from '../../detectors/scope-escalation.js';
import { DAY, HOUR, MIN, SEC, T0, advanceTo, fakeContext, feed, lifecycle, resetIds, runWithRestore, token, userRisk } from './helpers/context.js';

beforeEach(() => resetIds());

/** One hour of normal tokens for agents a1..a4 of bp1 (scopes User.Read, Mail.Read), every 5 minutes. */
function warmup(tenant = 't1', scopes = ['User.Read', 'Mail.Read']): TokenEvent[] {
  const out: TokenEvent[] = [];
  for (let m = 0; m < 60; m += 5) {
    for (const a of ['a1', 'a2', 'a3', 'a4']) out.push(token({ tenant_id: tenant, agent_id: a, scopes, time: T0 + m * MIN, token_id: `w-${a}-${m}` }));
  }
  return out;
}

const T1 = T0 + HOUR;

describe('scope-escalation', () => {
  it('fires high at once for a granted privileged scope the blueprint never used', () => {
    const d = createScopeEscalationDetector();
    const ctx = fakeContext();
    feed(d, ctx, warmup());
    const out = feed(d, ctx, [token({ agent_id: 'a2', scopes: ['User.Read', 'RoleManagement.ReadWrite.Directory'], time: T1, event_id: 'k-esc' })]);
    expect(out).toHaveLength(1);
    const det = out[0]!;
    expect(det).toMatchObject({ detector: 'scope-escalation', severity: 'high', agent_id: 'a2', event_ids: ['k-esc'], time: T1 });
    expect(det.evidence.observed).toMatchObject({ scope: 'RoleManagement.ReadWrite.Directory', decision: 'granted', privileged: true });
    expect(det.evidence.peer_group).toBe('blueprint:bp1');
    expect(det.evidence.baseline).toMatchObject({ established_scopes: 2 });
    expect(det.summary).toContain('RoleManagement.ReadWrite.Directory');
    // the same agent using it again does not fire again
    expect(feed(d, ctx, [token({ agent_id: 'a2', scopes: ['RoleManagement.ReadWrite.Directory'], time: T1 + MIN })])).toEqual([]);
  });

  it('fires medium for a blocked request of a privileged scope, and high when later granted', () => {
    const d = createScopeEscalationDetector();
    const ctx = fakeContext();
    feed(d, ctx, warmup());
    const out = feed(d, ctx, [
      token({ agent_id: 'a1', scopes: ['Directory.ReadWrite.All'], decision: 'blocked', time: T1 }),
      token({ agent_id: 'a1', scopes: ['Directory.ReadWrite.All'], decision: 'blocked', time: T1 + 10 * SEC }),
      token({ agent_id: 'a1', scopes: ['Directory.ReadWrite.All'], decision: 'granted', time: T1 + MIN }),
    ]);
    expect(out.map((x) => x.severity)).toEqual(['medium', 'high']);
  });

  it('does not fire for scopes the blueprint uses, nor for new non-privileged blocked requests', () => {
    const d = createScopeEscalationDetector();
    const ctx = fakeContext();
    feed(d, ctx, warmup());
    const out = feed(d, ctx, [
      token({ agent_id: 'a-new', scopes: ['User.Read', 'Mail.Read'], time: T1 }), // brand-new agent, blueprint's scopes
      token({ agent_id: 'a1', scopes: ['Calendars.Read'], decision: 'blocked', time: T1 + MIN }),
      token({ agent_id: 'a1', scopes: ['User.Read'], decision: 'blocked', time: T1 + MIN }),
    ]);
    expect(out).toEqual([]);
    expect(advanceTo(d, ctx, T1 + HOUR)).toEqual([]);
  });

  it('learns privileged scopes the blueprint uses from the start: one low for its first use while it learns, nothing after', () => {
    const d = createScopeEscalationDetector();
    const ctx = fakeContext();
    const out = feed(d, ctx, [
      ...warmup('t1', ['User.Read', 'Directory.Read.All']),
      token({ agent_id: 'a9', scopes: ['Directory.Read.All'], time: T1 + MIN }),
    ]);
    expect(out.map((x) => [x.agent_id, x.severity])).toEqual([['a1', 'low']]);
    expect(out[0]!.summary).toContain('still learning');
  });

  it('does not learn a privileged scope that only one agent of a new blueprint used: the next agent using it is high', () => {
    const d = createScopeEscalationDetector();
    const ctx = fakeContext();
    const out = feed(d, ctx, [
      ...warmup(),
      token({ agent_id: 'a1', scopes: ['User.Read', 'AppRoleAssignment.ReadWrite.All'], time: T0 + 5 * MIN + SEC }),
      token({ agent_id: 'a1', scopes: ['AppRoleAssignment.ReadWrite.All'], time: T1 + MIN }),
      token({ agent_id: 'a2', scopes: ['AppRoleAssignment.ReadWrite.All'], time: T1 + 2 * MIN, event_id: 'tk-a2' }),
    ]);
    expect(out.map((x) => [x.agent_id, x.severity])).toEqual([
      ['a1', 'low'],
      ['a2', 'high'],
    ]);
    expect(out[1]!.event_ids).toEqual(['tk-a2']);
  });

  it('learns a privileged scope two agents used while the blueprint learned once a third takes it up, however much later; one learning user is not enough', () => {
    const run = (learners: string[]) => {
      const d = createScopeEscalationDetector();
      const ctx = fakeContext();
      const early = learners.map((a, i) => token({ agent_id: a, scopes: ['User.Read', 'Directory.Read.All'], time: T0 + 5 * MIN + i * MIN }));
      return feed(d, ctx, [...warmup(), ...early, token({ agent_id: 'a3', scopes: ['Directory.Read.All'], time: T1 + 5 * HOUR, event_id: 'tk-a3' })].sort((x, y) => x.time - y.time));
    };
    // The blueprint's first use reported low while it learns; the third agent, five hours on, follows its pattern.
    expect(run(['a1', 'a2']).map((x) => [x.agent_id, x.severity])).toEqual([['a1', 'low']]);
    expect(run(['a1']).map((x) => [x.agent_id, x.severity])).toEqual([
      ['a1', 'low'],
      ['a3', 'high'],
    ]);
  });

  it('keeps a scope the sponsor granted the agent (lifecycle) low; a grant by anyone else changes nothing', () => {
    const grant = (agent: string, permission: string, actor: string, sponsors: string[]) => ({ agent_id: agent, sponsors, permissions_granted: [{ permission, actor, time: T1 - 5 * MIN }] });
    const d = createScopeEscalationDetector();
    const ctx = fakeContext();
    feed(d, ctx, warmup());
    ctx.setAgent(grant('a1', 'https://graph.microsoft.com/Mail.Send', 'sponsor-1', ['sponsor-1']));
    ctx.setAgent(grant('a2', 'Directory.ReadWrite.All', 'sponsor-2', ['sponsor-2']));
    ctx.setAgent(grant('a3', 'Directory.ReadWrite.All', 'someone-else', ['sponsor-3']));
    // No sponsor known: another principal's grant vouches for an ordinary scope, not for a tier-0 one.
    ctx.setAgent(grant('a4', 'Mail.Send', 'admin-9', []));
    ctx.setAgent({ agent_id: 'a5', sponsors: [], permissions_granted: [{ permission: 'RoleManagement.ReadWrite.Directory', actor: 'admin-9', time: T1 - 5 * MIN }] });
    const now = feed(d, ctx, [
      token({ agent_id: 'a1', scopes: ['Mail.Send'], time: T1 }),
      token({ agent_id: 'a2', scopes: ['Directory.ReadWrite.All'], time: T1 }),
      token({ agent_id: 'a3', scopes: ['Directory.ReadWrite.All'], time: T1 + SEC }),
      token({ agent_id: 'a4', scopes: ['Mail.Send'], time: T1 + SEC }),
      token({ agent_id: 'a5', scopes: ['RoleManagement.ReadWrite.Directory'], time: T1 + SEC }),
    ]);
    const later = advanceTo(d, ctx, T1 + 20 * MIN);
    const by = Object.fromEntries([...now, ...later].map((x) => [x.agent_id, x.severity]));
    expect(by).toEqual({ a1: 'low', a2: 'low', a3: 'high', a4: 'low', a5: 'high' });
    const a2 = now.find((x) => x.agent_id === 'a2')!;
    expect(a2.summary).toContain('granted to it by sponsor-2');
    expect(a2.evidence.observed).toMatchObject({ granted_by: { actor: 'sponsor-2', time: T1 - 5 * MIN } });
    expect(now.find((x) => x.agent_id === 'a3')!.evidence.observed).not.toHaveProperty('granted_by');
  });

  it('takes no grant as sanctioned from a sponsor who appointed himself', () => {
    const d = createScopeEscalationDetector();
    const ctx = fakeContext();
    feed(d, ctx, warmup());
    const out = feed(d, ctx, [
      lifecycle({ agent_id: 'a1', action: 'created', sponsor_id: 'alice', actor: 'admin', time: T1 - 10 * MIN }),
      lifecycle({ agent_id: 'a1', action: 'sponsor_added', sponsor_id: 'mallory', actor: 'mallory', time: T1 - 4 * MIN }),
      lifecycle({ agent_id: 'a1', action: 'permission_granted', permission: 'RoleManagement.ReadWrite.Directory', actor: 'mallory', time: T1 - 3 * MIN }),
      token({ agent_id: 'a1', scopes: ['RoleManagement.ReadWrite.Directory'], time: T1 }),
      // alice, appointed by an admin, still vouches for hers
      lifecycle({ agent_id: 'a2', action: 'created', sponsor_id: 'alice', actor: 'admin', time: T1 - 10 * MIN }),
      lifecycle({ agent_id: 'a2', action: 'permission_granted', permission: 'RoleManagement.ReadWrite.Directory', actor: 'alice', time: T1 - 3 * MIN }),
      token({ agent_id: 'a2', scopes: ['RoleManagement.ReadWrite.Directory'], time: T1 }),
    ]);
    expect(out.map((x) => [x.agent_id, x.severity])).toEqual([
      ['a1', 'high'],
      ['a2', 'low'],
    ]);
  });

  it('reports the agent that granted another agent a privileged or sensitive permission no sponsor sanctioned, once its use is reported', () => {
    const run = (permission: string, actor: string, tokenTime = T1) => {
      const d = createScopeEscalationDetector();
      const ctx = fakeContext();
      // The devops agent dv1 is an agent of the tenant (seen working); a1 has a sponsor who granted nothing.
      feed(d, ctx, [...warmup(), token({ agent_id: 'dv1', blueprint_id: 'bp-devops', scopes: ['https://management.azure.com/.default'], time: T0 + 5 * MIN })]);
      const events = [
        lifecycle({ agent_id: 'a1', action: 'sponsor_added', sponsor_id: 'alice', actor: 'admin', time: T1 - 30 * MIN }),
        lifecycle({ agent_id: 'a1', action: 'permission_granted', permission, actor, time: T1 - 3 * MIN, event_id: 'grant-1' }),
        token({ agent_id: 'a1', scopes: [permission], time: tokenTime, event_id: 'use-1' }),
      ];
      return [...feed(d, ctx, events), ...advanceTo(d, ctx, T1 + 20 * MIN)].map((x) => [x.agent_id, x.severity]);
    };
    // A tier-0 permission: the grantee high, the granting agent medium at once.
    expect(run('RoleManagement.ReadWrite.Directory', 'dv1')).toEqual([
      ['a1', 'high'],
      ['dv1', 'medium'],
    ]);
    // Another's mailbox, granted to a1 alone: medium for both once its use is judged.
    expect(run('Mail.ReadWrite', 'dv1')).toEqual([
      ['a1', 'medium'],
      ['dv1', 'medium'],
    ]);
    // Granted by a person (not an agent of the tenant): only the grantee.
    expect(run('RoleManagement.ReadWrite.Directory', 'some-admin')).toEqual([['a1', 'high']]);
    // Granted by its sponsor: low, and nothing for the sponsor.
    expect(run('RoleManagement.ReadWrite.Directory', 'alice')).toEqual([['a1', 'low']]);
  });

  it('takes a permission an administrator granted to the whole blueprint as sanctioned, not one granted to one or two agents', () => {
    const run = (agents: string[], permission = 'Directory.Read.All') => {
      const d = createScopeEscalationDetector();
      const ctx = fakeContext();
      feed(d, ctx, warmup());
      // a1 has a sponsor (who grants nothing): only the administrator's consent can vouch.
      const events: (ReturnType<typeof lifecycle> | ReturnType<typeof token>)[] = [lifecycle({ agent_id: 'a1', action: 'sponsor_added', sponsor_id: 'alice', actor: 'admin', time: T1 - 30 * MIN })];
      agents.forEach((a, i) => events.push(lifecycle({ agent_id: a, action: 'permission_granted', permission, actor: 'tenant-admin', time: T1 - 5 * MIN + i * SEC })));
      events.push(token({ agent_id: 'a1', scopes: [permission], time: T1 }));
      return [...feed(d, ctx, events), ...advanceTo(d, ctx, T1 + 20 * MIN)].map((x) => [x.agent_id, x.severity, x.evidence.observed]);
    };
    expect(run(['a1', 'a2', 'a3'])).toEqual([['a1', 'low', expect.objectContaining({ granted_by: { actor: 'tenant-admin', time: T1 - 5 * MIN } })]]);
    expect(run(['a1', 'a2'])).toEqual([['a1', 'high', expect.not.objectContaining({ granted_by: expect.anything() })]]);
    // A sensitive scope used first by one canary agent, consented for the blueprint: low, not medium.
    expect(run(['a1', 'a2', 'a3'], 'Sites.Read.All')).toEqual([['a1', 'low', expect.objectContaining({ granted_by: { actor: 'tenant-admin', time: T1 - 5 * MIN } })]]);
    expect(run(['a1'], 'Sites.Read.All')).toEqual([['a1', 'medium', expect.not.objectContaining({ granted_by: expect.anything() })]]);
  });

  it('takes no grant of a sensitive scope to an agent with no known sponsor as sanctioned, and judges its use at once', () => {
    const run = (permission: string) => {
      const d = createScopeEscalationDetector();
      const ctx = fakeContext();
      feed(d, ctx, warmup());
      const events = [lifecycle({ agent_id: 'a1', action: 'permission_granted', permission, actor: 'exchange-admin', time: T1 - 4 * MIN }), token({ agent_id: 'a1', scopes: [permission], time: T1 })];
      return [...feed(d, ctx, events), ...advanceTo(d, ctx, T1 + 20 * MIN)].map((x) => [x.severity, x.time, x.evidence.observed]);
    };
    // Another's mailbox: medium 2 minutes after its use, not 10.
    expect(run('Mail.ReadWrite')).toEqual([['medium', T1 + 2 * MIN, expect.objectContaining({ granted_by_non_sponsor: 'exchange-admin' })]]);
    // An ordinary scope granted by anyone but itself, with no sponsor to ask: a sanctioned change.
    expect(run('Tasks.Read').map(([sev]) => sev)).toEqual(['low']);
    // The same admin granting it to two agents of the blueprint (an access package): the adoption window is waited, and two adopters are no lone agent.
    const d = createScopeEscalationDetector();
    const ctx = fakeContext();
    feed(d, ctx, warmup());
    const pkg = ['a1', 'a2'].flatMap((a, i) => [
      lifecycle({ agent_id: a, action: 'permission_granted', permission: 'Sites.Read.All', actor: 'entitlement-mgmt', time: T1 - 4 * MIN + i * SEC }),
      token({ agent_id: a, scopes: ['Sites.Read.All'], time: T1 + i * 2 * MIN }),
    ]);
    expect([...feed(d, ctx, pkg), ...advanceTo(d, ctx, T1 + 20 * MIN)].map((x) => x.severity)).toEqual(['low', 'low']);
  });

  it('takes a sensitive scope granted by the tenant\'s administrator for permissions (grants to 5 agents, the first a day or more before) as sanctioned; not a privileged one, nor a granter first seen hours before', () => {
    const run = (permission: string, historySince: number, grantedAt = T1 - 4 * MIN) => {
      const d = createScopeEscalationDetector();
      const ctx = fakeContext();
      // perm-admin grants ordinary permissions to agents of other blueprints, from `historySince` on.
      const history = ['x1', 'x2', 'x3', 'x4', 'x5'].map((a, i) =>
        lifecycle({ agent_id: a, blueprint_id: `bp-${a}`, action: 'permission_granted', permission: 'Tasks.Read', actor: 'perm-admin', time: historySince + i * MIN }),
      );
      feed(d, ctx, history);
      feed(d, ctx, warmup());
      // a1 has a sponsor, who grants nothing: the administrator grants it the new permission.
      const events = [
        lifecycle({ agent_id: 'a1', action: 'sponsor_added', sponsor_id: 'alice', actor: 'admin', time: T1 - 30 * MIN }),
        lifecycle({ agent_id: 'a1', action: 'permission_granted', permission, actor: 'perm-admin', time: grantedAt }),
        token({ agent_id: 'a1', scopes: [permission], time: T1 }),
      ];
      return [...feed(d, ctx, events), ...advanceTo(d, ctx, T1 + 20 * MIN)].map((x) => [x.severity, x.evidence.observed]);
    };
    const dayBefore = T1 - 2 * DAY;
    expect(run('Mail.ReadWrite', dayBefore)).toEqual([['low', expect.objectContaining({ granted_by: { actor: 'perm-admin', time: T1 - 4 * MIN } })]]);
    // Tier-0 needs the agent's own sponsor.
    expect(run('Directory.ReadWrite.All', dayBefore).map(([sev]) => sev)).toEqual(['high']);
    // Five grants within the last hours: no administrator the tenant knows (a spree, a new account).
    expect(run('Mail.ReadWrite', T1 - 3 * HOUR)).toEqual([['medium', expect.objectContaining({ granted_by_non_sponsor: 'perm-admin' })]]);
    // Granted two days before its first use: the grant explains nothing of the use now (a dormant override reached for).
    expect(run('Mail.ReadWrite', dayBefore - 2 * DAY, T1 - 2 * DAY).map(([sev]) => sev)).toEqual(['medium']);
  });

  it('takes a delegated scope the token\'s own user consented to as sanctioned (incremental consent), not her grant used for another user or as an application permission', () => {
    const run = (o: { user?: string | null; actor?: string; risky?: boolean }) => {
      const d = createScopeEscalationDetector();
      const ctx = fakeContext();
      feed(d, ctx, warmup());
      const events = [
        lifecycle({ agent_id: 'a1', action: 'sponsor_added', sponsor_id: 'alice', actor: 'admin', time: T1 - HOUR }),
        ...(o.risky ? [userRisk({ user_id: 'ea-maria', level: 'high', time: T1 - 3 * MIN })] : []),
        lifecycle({ agent_id: 'a1', action: 'permission_granted', permission: 'Calendars.ReadWrite', actor: o.actor ?? 'ea-maria', time: T1 - MIN }),
        o.user === null
          ? token({ agent_id: 'a1', scopes: ['Calendars.ReadWrite'], time: T1 })
          : token({ agent_id: 'a1', flow: 'on_behalf_of', user_id: o.user ?? 'ea-maria', scopes: ['Calendars.ReadWrite'], time: T1 }),
      ];
      return [...feed(d, ctx, events), ...advanceTo(d, ctx, T1 + 20 * MIN)].map((x) => x.severity);
    };
    expect(run({})).toEqual(['low']);
    // The consent is hers: a token for another user is not covered by it, nor is the application permission.
    expect(run({ user: 'bob' })).toEqual(['medium']);
    expect(run({ user: null })).toEqual(['medium']);
    // A user at high risk consenting vouches for nothing.
    expect(run({ risky: true })).toContain('medium');
  });

  it('reports an agent refused a permission it works with after someone who neither sponsors it nor granted it revoked it', () => {
    const run = (revoker: string, extra: ReturnType<typeof lifecycle>[] = [], atRisk = false) => {
      const d = createScopeEscalationDetector();
      const ctx = fakeContext();
      feed(d, ctx, warmup());
      if (atRisk) ctx.setAgentRisk('t1', 'a1', 'low');
      const events = [
        lifecycle({ agent_id: 'a1', action: 'sponsor_added', sponsor_id: 'alice', actor: 'admin', time: T0 }),
        ...extra,
        lifecycle({ agent_id: 'a1', action: 'permission_revoked', permission: 'https://graph.microsoft.com/Mail.Read', actor: revoker, time: T1, event_id: 'rv' }),
        token({ agent_id: 'a1', scopes: ['User.Read'], time: T1 + 2 * MIN }),
        token({ agent_id: 'a1', scopes: ['User.Read', 'Mail.Read'], decision: 'blocked', time: T1 + 5 * MIN, event_id: 'tk-refused' }),
        token({ agent_id: 'a1', scopes: ['User.Read', 'Mail.Read'], decision: 'blocked', time: T1 + 10 * MIN }),
      ];
      return [...feed(d, ctx, events), ...advanceTo(d, ctx, T1 + HOUR)];
    };
    const out = run('helpdesk-admin');
    expect(out.map((x) => [x.agent_id, x.severity, x.time, x.event_ids])).toEqual([['a1', 'medium', T1 + 5 * MIN, ['rv', 'tk-refused']]]);
    expect(out[0]!.summary).toContain('helpdesk-admin, who is not its sponsor and did not grant it, revoked that permission');
    // Its sponsor took it away: nothing.
    resetIds();
    expect(run('alice')).toEqual([]);
    // An entitlement expiring: its granter takes it back.
    resetIds();
    expect(run('entitlement-mgmt', [lifecycle({ agent_id: 'a1', action: 'permission_granted', permission: 'Mail.Read', actor: 'entitlement-mgmt', time: T0 + 5 * MIN })])).toEqual([]);
    // An access review's clean-up: the same admin takes it from three agents of the blueprint within minutes.
    resetIds();
    const cleanup = ['a2', 'a3'].map((a, i) => lifecycle({ agent_id: a, action: 'permission_revoked', permission: 'Mail.Read', actor: 'helpdesk-admin', time: T1 + (i + 1) * MIN }));
    expect(run('helpdesk-admin', cleanup)).toEqual([]);
    // Responders containing an agent already at risk (a blocked prompt injection in what it read).
    resetIds();
    expect(run('soc-analyst', [], true)).toEqual([]);
    // A user taking back his own consent: his delegated requests are refused, nothing more.
    resetIds();
    const d = createScopeEscalationDetector();
    const ctx = fakeContext();
    feed(d, ctx, warmup());
    const consent = [
      lifecycle({ agent_id: 'a1', action: 'permission_revoked', permission: 'Mail.Read', actor: 'user-7', time: T1 }),
      token({ agent_id: 'a1', flow: 'on_behalf_of', user_id: 'user-7', scopes: ['User.Read', 'Mail.Read'], decision: 'blocked', time: T1 + 5 * MIN }),
    ];
    expect([...feed(d, ctx, consent), ...advanceTo(d, ctx, T1 + HOUR)]).toEqual([]);
  });

  it('takes no grant as sanctioned from an administrator or sponsor whose own user risk is medium or high', () => {
    const run = (risk: 'none' | 'low' | 'high', actor: string, agents: string[]) => {
      const d = createScopeEscalationDetector();
      const ctx = fakeContext();
      feed(d, ctx, warmup());
      const events: (ReturnType<typeof lifecycle> | ReturnType<typeof token> | ReturnType<typeof userRisk>)[] = [
        lifecycle({ agent_id: 'a1', action: 'sponsor_added', sponsor_id: 'alice', actor: 'admin', time: T1 - 30 * MIN }),
        // Identity Protection's verdict on the granting account, 20 minutes before its grants.
        userRisk({ user_id: actor, level: risk, time: T1 - 25 * MIN }),
      ];
      agents.forEach((a, i) => events.push(lifecycle({ agent_id: a, action: 'permission_granted', permission: 'Mail.ReadWrite', actor, time: T1 - 5 * MIN + i * SEC })));
      events.push(token({ agent_id: 'a1', scopes: ['Mail.ReadWrite'], time: T1 }));
      return [...feed(d, ctx, events), ...advanceTo(d, ctx, T1 + 20 * MIN)].map((x) => x.severity);
    };
    // Consent for the blueprint, by an administrator at high risk: the sensitive scope is judged as ungranted.
    expect(run('none', 'tenant-admin', ['a1', 'a2', 'a3'])).toEqual(['low']);
    expect(run('low', 'tenant-admin', ['a1', 'a2', 'a3'])).toEqual(['low']);
    expect(run('high', 'tenant-admin', ['a1', 'a2', 'a3'])).toEqual(['medium']);
    // The agent's own sponsor at high risk vouches for nothing either.
    expect(run('none', 'alice', ['a1'])).toEqual(['low']);
    expect(run('high', 'alice', ['a1'])).toEqual(['medium']);
  });

  it('takes no deployment from agents that use a scope a user at high risk granted them: each is judged at once', () => {
    const run = (risk: 'none' | 'high') => {
      const d = createScopeEscalationDetector();
      const ctx = fakeContext();
      feed(d, ctx, warmup());
      const events: (ReturnType<typeof lifecycle> | ReturnType<typeof token> | ReturnType<typeof userRisk>)[] = [userRisk({ user_id: 'tenant-admin', level: risk, time: T1 - 25 * MIN })];
      for (const [i, a] of ['a1', 'a2', 'a3'].entries()) events.push(lifecycle({ agent_id: a, action: 'permission_granted', permission: 'Mail.ReadWrite', actor: 'tenant-admin', time: T1 - 5 * MIN + i * SEC }));
      for (const [i, a] of ['a1', 'a2', 'a3'].entries()) events.push(token({ agent_id: a, scopes: ['Mail.ReadWrite'], time: T1 + i * 10 * SEC }));
      return [...feed(d, ctx, events), ...advanceTo(d, ctx, T1 + 20 * MIN)];
    };
    // Three agents taking the scope up together is a deployment...
    expect(run('none')).toEqual([]);
    // ...unless the grants came from a user at high risk.
    const tainted = run('high');
    expect(tainted.map((x) => [x.agent_id, x.severity])).toEqual([['a1', 'medium'], ['a2', 'medium'], ['a3', 'medium']]);
    expect(tainted[0]!.summary).toContain('granted to it by tenant-admin, whose user risk is high');
    expect(tainted[0]!.evidence.observed).toMatchObject({ granted_by_risky_user: { actor: 'tenant-admin', user_risk: 'high' } });
  });

  describe('grant sprees', () => {
    type Ev = ReturnType<typeof lifecycle> | ReturnType<typeof token>;
    /** Warm-up of bp1 (a1..a4), then `actor` grants `permission` to each [agent, blueprint] 20 s apart from T1. */
    function grants(targets: [string, string][], actor = 'priv-admin', permission = 'Mail.ReadWrite', from = T1): Ev[] {
      return targets.map(([agent, bp], i) => lifecycle({ agent_id: agent, blueprint_id: bp, action: 'permission_granted', permission, actor, time: from + i * 20 * SEC, event_id: `g-${agent}-${from}` }));
    }
    const SIX: [string, string][] = [
      ['a1', 'bp1'],
      ['b1', 'bp2'],
      ['c1', 'bp3'],
      ['a2', 'bp1'],
      ['b2', 'bp2'],
      ['c2', 'bp3'],
    ];

    it('reports each agent of one actor\'s sensitive grants to 5 agents of 3 blueprints in minutes low at once, and its use of the scope medium at once', () => {
      const d = createScopeEscalationDetector();
      const ctx = fakeContext();
      feed(d, ctx, warmup());
      const found = feed(d, ctx, grants(SIX));
      // Seen at the fifth grant (the first five reported then), the sixth at its own.
      expect(found.map((x) => [x.agent_id, x.severity, x.time])).toEqual([
        ['a1', 'low', T1 + 80 * SEC],
        ['b1', 'low', T1 + 80 * SEC],
        ['c1', 'low', T1 + 80 * SEC],
        ['a2', 'low', T1 + 80 * SEC],
        ['b2', 'low', T1 + 80 * SEC],
        ['c2', 'low', T1 + 100 * SEC],
      ]);
      expect(found[0]!.summary).toContain('priv-admin, a sponsor of none of them, granted sensitive permissions to 5 agents of 3 blueprints within 10 min');
      expect(found[0]!.evidence.observed).toMatchObject({ actor: 'priv-admin', agents: 5, blueprints: 3 });
      expect(found[0]!.event_ids).toEqual(['g-b2-' + T1]);
      // a1 then uses its new mailbox permission: judged at once, not after the adoption window.
      const use = feed(d, ctx, [token({ agent_id: 'a1', scopes: ['User.Read', 'Mail.Read', 'Mail.ReadWrite'], time: T1 + 3 * MIN, event_id: 'k-use' })]);
      expect(use).toHaveLength(1);
      expect(use[0]).toMatchObject({ agent_id: 'a1', severity: 'medium', time: T1 + 3 * MIN, event_ids: ['k-use'] });
      expect(use[0]!.summary).toContain('granted to it by priv-admin, who granted sensitive permissions to 6 agents of 3 blueprints');
      expect(use[0]!.evidence.observed).toMatchObject({ granted_in_spree: { actor: 'priv-admin', time: T1, agents: 6, blueprints: 3 } });
      expect(advanceTo(d, ctx, T1 + HOUR)).toEqual([]);
    });

    it('judges a scope used before its grant spree came to light when it does, not after the adoption window', () => {
      const d = createScopeEscalationDetector();
      const ctx = fakeContext();
      feed(d, ctx, warmup());
      const events: Ev[] = grants(SIX);
      events.splice(1, 0, token({ agent_id: 'a1', scopes: ['User.Read', 'Mail.ReadWrite'], time: T1 + 10 * SEC, event_id: 'k-early' }));
      const found = [...feed(d, ctx, events), ...advanceTo(d, ctx, T1 + 3 * MIN)];
      const medium = found.filter((x) => x.severity === 'medium');
      expect(medium.map((x) => [x.agent_id, x.time, x.event_ids])).toEqual([['a1', T1 + 80 * SEC, ['k-early']]]);
      expect(medium[0]!.evidence.observed).toMatchObject({ granted_in_spree: { actor: 'priv-admin' } });
      expect(found.filter((x) => x.severity === 'low')).toHaveLength(6);
      expect(advanceTo(d, ctx, T1 + HOUR)).toEqual([]);
    });

    it('sees no spree in consent for one or two blueprints, in ordinary permissions, in fewer agents, or in a sponsor granting his own agents', () => {
      const run = (targets: [string, string][], permission = 'Mail.ReadWrite', ...sponsorOf: [string, string][]) => {
        const d = createScopeEscalationDetector();
        const ctx = fakeContext();
        feed(d, ctx, warmup());
        for (const [agent, bp] of sponsorOf) ctx.setAgent({ agent_id: agent, blueprint_id: bp, sponsors: ['priv-admin'] });
        return [...feed(d, ctx, grants(targets, 'priv-admin', permission)), ...advanceTo(d, ctx, T1 + 5 * MIN)];
      };
      expect(run(SIX)).toHaveLength(6); // the spree itself, as a control
      expect(run(SIX.map(([a]) => [a, 'bp1']))).toEqual([]); // one blueprint: consent for it
      expect(run(SIX.map(([a, bp]) => [a, bp === 'bp3' ? 'bp2' : bp]))).toEqual([]); // two blueprints
      expect(run(SIX.slice(0, 4))).toEqual([]); // four agents
      expect(run(SIX, 'Tasks.Read')).toEqual([]); // nothing sensitive
      // The sponsor of one of them is a stranger to the other five: their spree, not his own agent's.
      expect(run(SIX, 'Mail.ReadWrite', ['b1', 'bp2']).map((x) => x.agent_id)).toEqual(['a1', 'c1', 'a2', 'b2', 'c2']);
      // Of two of them: four strangers left, no spree.
      expect(run(SIX, 'Mail.ReadWrite', ['b1', 'bp2'], ['c1', 'bp3'])).toEqual([]);
      // Spread over more than 10 minutes.
      const d = createScopeEscalationDetector();
      const ctx = fakeContext();
      feed(d, ctx, warmup());
      const slow = SIX.flatMap(([a, bp], i) => grants([[a, bp]], 'priv-admin', 'Mail.ReadWrite', T1 + i * 3 * MIN));
      expect([...feed(d, ctx, slow), ...advanceTo(d, ctx, T1 + HOUR)]).toEqual([]);
    });

    it('takes an actor whose sprees began 12 hours or more before as a provisioning principal', () => {
      const d = createScopeEscalationDetector();
      const ctx = fakeContext();
      feed(d, ctx, warmup());
      expect(feed(d, ctx, grants(SIX, 'provisioner', 'Files.ReadWrite.All'))).toHaveLength(6);
      const next = SIX.map(([a, bp]): [string, string] => [`${a}-next`, bp]);
      expect(feed(d, ctx, grants(next, 'provisioner', 'Files.ReadWrite.All', T1 + 13 * HOUR))).toEqual([]);
    });

    it('gives the same detections after a snapshot/restore in the middle of a spree', () => {
      const events: Ev[] = [...warmup(), ...grants(SIX), token({ agent_id: 'a1', scopes: ['User.Read', 'Mail.ReadWrite'], time: T1 + 3 * MIN })];
      const split = events.length - 4;
      const { uninterrupted, restored } = runWithRestore(() => createScopeEscalationDetector(), events, split);
      expect(uninterrupted.map((x) => x.severity)).toEqual(['low', 'low', 'low', 'low', 'low', 'low', 'medium']);
      expect(restored).toEqual(uninterrupted);
    });
  });

  it('reports a new non-privileged scope of one agent as low after the adoption window', () => {
    const d = createScopeEscalationDetector({ adoptWindowMs: 10 * MIN });
    const ctx = fakeContext();
    feed(d, ctx, warmup());
    expect(feed(d, ctx, [token({ agent_id: 'a3', scopes: ['Calendars.Read'], time: T1, event_id: 'k-new' })])).toEqual([]);
    expect(advanceTo(d, ctx, T1 + 5 * MIN)).toEqual([]);
    const out = advanceTo(d, ctx, T1 + 10 * MIN + 30_000);
    expect(out).toHaveLength(1);
    // Dated when the adoption window closed, not when the watermark got past it.
    expect(out[0]).toMatchObject({ severity: 'low', agent_id: 'a3', event_ids: ['k-new'], time: T1 + 10 * MIN });
    expect(advanceTo(d, ctx, T1 + 20 * MIN)).toEqual([]);
  });

  it('reports a new sensitive scope (tenant-wide, write, send, mailbox) as medium after the adoption window', () => {
    expect(['Files.Read.All', 'User.ReadWrite.All', 'Mail.Read', 'Mail.Send', 'Sites.FullControl.All', 'https://graph.microsoft.com/Files.ReadWrite', 'Payments.Write', 'api://billing/Vendors.Write.Own'].every(isSensitiveScope)).toBe(true);
    expect(['User.Read', 'Calendars.Read', 'offline_access', '.default', 'user_impersonation'].some(isSensitiveScope)).toBe(false);
    // The service's own health and message center, tenant-wide but no one's data; writing them is another matter.
    expect(['ServiceHealth.Read.All', 'https://graph.microsoft.com/ServiceMessage.Read.All'].some(isSensitiveScope)).toBe(false);
    expect(['ServiceMessageViewpoint.Write', 'ServiceHealth.ReadWrite.All'].every(isSensitiveScope)).toBe(true);
    // A business API's actions that move money or destroy records, as the API names them.
    expect(['api://tausipay-payments/Transaction.Reverse', 'Pix.Payments.Initiate', 'B2C.Payout', 'Payments.Refund.Own', 'Records.Delete', 'Wire.Approve'].every(isSensitiveScope)).toBe(true);
    expect(['Settlement.Read', 'C2B.Read', 'Transactions.Read', 'Reversals.Read', 'Screening.Run'].some(isSensitiveScope)).toBe(false);
    // Or change or erase a record of what happened, or who may act.
    expect(['Alerts.Close', 'Declarations.Amend', 'Demurrage.Waive', 'Cases.Dismiss', 'api://tos/Release.Override', 'Roles.Assign'].every(isSensitiveScope)).toBe(true);
    expect(['Alerts.Read', 'Declarations.Read', 'Closings.Read', 'Release.Status.Read'].some(isSensitiveScope)).toBe(false);
    const d = createScopeEscalationDetector({ adoptWindowMs: 10 * MIN });
    const ctx = fakeContext();
    feed(d, ctx, warmup());
    feed(d, ctx, [token({ agent_id: 'a3', scopes: ['Mail.ReadWrite', 'Calendars.Read'], time: T1, event_id: 'k-mail' })]);
    const out = advanceTo(d, ctx, T1 + 11 * MIN);
    expect(out.map((x) => [x.severity, x.evidence.observed])).toEqual([
      ['medium', expect.objectContaining({ scope: 'Mail.ReadWrite' })],
      ['low', expect.objectContaining({ scope: 'Calendars.Read' })],
    ]);
    expect(out[0]!.summary).toContain('sensitive scope Mail.ReadWrite');
    // Adopted by the blueprint within the window: a deployment, nothing.
    const d2 = createScopeEscalationDetector({ adoptWindowMs: 10 * MIN });
    const ctx2 = fakeContext();
    feed(d2, ctx2, warmup());
    feed(d2, ctx2, ['a1', 'a2', 'a3'].map((agent_id, i) => token({ agent_id, scopes: ['Mail.ReadWrite'], time: T1 + i * MIN })));
    expect(advanceTo(d2, ctx2, T1 + 20 * MIN)).toEqual([]);
    // Taken up by a second agent (a slow rollout, short of a deployment): each stays low.
    const d3 = createScopeEscalationDetector({ adoptWindowMs: 10 * MIN });
    const ctx3 = fakeContext();
    feed(d3, ctx3, warmup());
    feed(d3, ctx3, ['a1', 'a2'].map((agent_id, i) => token({ agent_id, scopes: ['Mail.ReadWrite'], time: T1 + i * 4 * MIN })));
    expect(advanceTo(d3, ctx3, T1 + 30 * MIN).map((x) => [x.agent_id, x.severity])).toEqual([
      ['a1', 'low'],
      ['a2', 'low'],
    ]);
  });

  it('takes one other adopter hours before as no vouching for a sensitive scope, two as the blueprint rare scope', () => {
    const d = createScopeEscalationDetector({ adoptWindowMs: 10 * MIN });
    const ctx = fakeContext();
    const events = warmup();
    // the blueprint keeps working for hours with its usual scopes
    for (let m = 60; m < 6 * 60; m += 5) for (const a of ['a1', 'a2', 'a3', 'a4']) events.push(token({ agent_id: a, scopes: ['User.Read', 'Mail.Read'], time: T0 + m * MIN }));
    const send = (agent_id: string, at: number) => token({ agent_id, scopes: ['User.Read', 'Mail.Send'], time: at + 7 * SEC });
    events.push(send('a1', T1), send('a2', T1 + 2.5 * HOUR), send('a3', T1 + 4 * HOUR));
    events.sort((x, y) => x.time - y.time);
    const out = [...feed(d, ctx, events), ...advanceTo(d, ctx, T1 + 5 * HOUR)];
    expect(out.map((x) => [x.agent_id, x.severity])).toEqual([
      ['a1', 'medium'],
      ['a2', 'medium'],
      ['a3', 'low'],
    ]);
  });

  it('keeps a sparse blueprint learning until it has seen 20 token requests, not just 30 minutes', () => {
    // One agent, a token every 8 minutes for its usual resource, then (after 40 minutes) for its other one.
    const sparse = Array.from({ length: 6 }, (_, i) => token({ agent_id: 'solo', blueprint_id: 'bp-sparse', scopes: ['User.Read'], time: T0 + i * 8 * MIN }));
    const later = token({ agent_id: 'solo', blueprint_id: 'bp-sparse', scopes: ['Sites.Read.All'], time: T0 + 50 * MIN });
    const d = createScopeEscalationDetector();
    const ctx = fakeContext();
    feed(d, ctx, [...sparse, later]);
    expect(advanceTo(d, ctx, T0 + 2 * HOUR)).toEqual([]);
    // A blueprint with its 20 requests seen judges the same scope.
    const busy = Array.from({ length: 24 }, (_, i) => token({ agent_id: `b${i % 4}`, blueprint_id: 'bp-busy', scopes: ['User.Read'], time: T0 + i * 2 * MIN }));
    const d2 = createScopeEscalationDetector();
    const ctx2 = fakeContext();
    feed(d2, ctx2, [...busy, token({ agent_id: 'b1', blueprint_id: 'bp-busy', scopes: ['Sites.Read.All'], time: T0 + 50 * MIN })]);
    expect(advanceTo(d2, ctx2, T0 + 2 * HOUR).map((x) => x.severity)).toEqual(['medium']);
  });

  it('treats a scope adopted by several agents of the blueprint at once as a deployment', () => {
    const d = createScopeEscalationDetector();
    const ctx = fakeContext();
    feed(d, ctx, warmup());
    const out = feed(d, ctx, [
      token({ agent_id: 'a1', scopes: ['User.Read', 'Sites.Read.All'], time: T1 }),
      token({ agent_id: 'a2', scopes: ['User.Read', 'Sites.Read.All'], time: T1 + 2 * MIN }),
      token({ agent_id: 'a3', scopes: ['User.Read', 'Sites.Read.All'], time: T1 + 3 * MIN }),
      token({ agent_id: 'a4', scopes: ['User.Read', 'Sites.Read.All'], time: T1 + 4 * MIN }),
      token({ agent_id: 'a-fresh', scopes: ['Sites.Read.All'], time: T1 + 30 * MIN }),
    ]);
    expect(out).toEqual([]);
    expect(advanceTo(d, ctx, T1 + 2 * HOUR)).toEqual([]);
  });

  it('keeps tenants and blueprints apart', () => {
    const d = createScopeEscalationDetector();
    const ctx = fakeContext();
    feed(d, ctx, [...warmup('t1', ['User.Read', 'Directory.ReadWrite.All']), ...warmup('t2')]);
    const out = feed(d, ctx, [token({ tenant_id: 't2', agent_id: 'a1', scopes: ['Directory.ReadWrite.All'], time: T1 })]);
    expect(out).toHaveLength(1);
    expect(out[0]!.tenant_id).toBe('t2');
  });

  it('does not judge a group still learning, except for privileged scopes (low)', () => {
    const d = createScopeEscalationDetector();
    const out = feed(d, fakeContext(), [
      token({ scopes: ['User.Read'], time: T0 }),
      token({ scopes: ['Files.Read.All', 'AppRoleAssignment.ReadWrite.All'], time: T0 + MIN }),
      token({ scopes: ['AppRoleAssignment.ReadWrite.All'], time: T0 + 2 * MIN }),
    ]);
    expect(out.map((x) => [x.severity, (x.evidence.observed as { scope: string }).scope])).toEqual([['low', 'AppRoleAssignment.ReadWrite.All']]);
  });

  it('judges an agent without a blueprint (no peers to learn from) on privileged scopes from its first token', () => {
    const d = createScopeEscalationDetector();
    const out = feed(d, fakeContext(), [
      token({ agent_id: 'lone', blueprint_id: null, scopes: ['User.Read'], time: T0 }),
      token({ agent_id: 'lone', blueprint_id: null, scopes: ['RoleManagement.ReadWrite.Directory'], time: T0 + 20 * MIN, decision: 'blocked' }),
      token({ agent_id: 'lone', blueprint_id: null, scopes: ['RoleManagement.ReadWrite.Directory', 'AppRoleAssignment.ReadWrite.All'], time: T0 + 21 * MIN }),
    ]);
    expect(out.map((x) => [x.severity, (x.evidence.observed as { scope: string }).scope])).toEqual([
      ['medium', 'RoleManagement.ReadWrite.Directory'],
      ['high', 'RoleManagement.ReadWrite.Directory'],
      ['high', 'AppRoleAssignment.ReadWrite.All'],
    ]);
    expect(out[0]!.summary).toContain('no blueprint');
  });

  it('recognises privileged scopes', () => {
    expect(isPrivilegedScope('Directory.ReadWrite.All')).toBe(true);
    expect(isPrivilegedScope('https://graph.microsoft.com/RoleManagement.ReadWrite.Directory')).toBe(true);
    expect(isPrivilegedScope('Application.ReadWrite.All')).toBe(true);
    expect(isPrivilegedScope('AppRoleAssignment.ReadWrite.All')).toBe(true);
    expect(isPrivilegedScope('Application.Read.All')).toBe(false);
    expect(isPrivilegedScope('User.Read')).toBe(false);
    expect(isPrivilegedScope('Mail.Send')).toBe(false);
    expect(isPrivilegedScope('EWS.AccessAsUser.All')).toBe(false); // a signed-in user's own mailbox (sensitive, not privileged)
  });

  it('recognises the rest of the tenant-takeover class, not only the best-known names', () => {
    for (const s of [
      'RoleManagementPolicy.ReadWrite.Directory',
      'DelegatedPermissionGrant.ReadWrite.All',
      'Application.ReadWrite.OwnedBy',
      'Policy.ReadWrite.AuthenticationMethod',
      'Policy.ReadWrite.PermissionGrant',
      'UserAuthenticationMethod.ReadWrite.All',
      'Organization.ReadWrite.All',
      'EntitlementManagement.ReadWrite.All',
      'IdentityRiskyUser.ReadWrite.All',
      'DeviceManagementConfiguration.ReadWrite.All',
      'PrivilegedAssignmentSchedule.ReadWrite.AzureADGroup',
      'full_access_as_app',
      'https://outlook.office365.com/full_access_as_app',
      'Exchange.ManageAsApp',
    ]) {
      expect(isPrivilegedScope(s), s).toBe(true);
    }
    for (const s of ['Policy.Read.All', 'IdentityRiskyUser.Read.All', 'DeviceManagementConfiguration.Read.All', 'Mail.ReadWrite', 'Tickets.ReadWrite', 'Application.ReadWrite']) {
      expect(isPrivilegedScope(s), s).toBe(false);
    }
  });

  it('splits scopes given as one space-delimited string (a copied scp claim), so a privileged one is not hidden', () => {
    expect(scopeList(['User.Read Mail.Read'])).toEqual(['User.Read', 'Mail.Read']);
    expect(scopeList(['User.Read', 'Mail.Read'])).toEqual(['User.Read', 'Mail.Read']);
    const d = createScopeEscalationDetector();
    const ctx = fakeContext();
    feed(d, ctx, warmup('t1', ['User.Read Mail.Read']));
    const out = feed(d, ctx, [token({ agent_id: 'a2', scopes: ['User.Read RoleManagement.ReadWrite.Directory'], time: T1 })]);
    expect(out.map((x) => [x.severity, x.evidence.observed])).toEqual([['high', expect.objectContaining({ scope: 'RoleManagement.ReadWrite.Directory' })]]);
  });

  it('evicts idle groups and pending reports', () => {
    const d = createScopeEscalationDetector();
    const ctx = fakeContext();
    feed(d, ctx, warmup());
    feed(d, ctx, [token({ agent_id: 'a3', scopes: ['Files.Read.All'], time: T1 })]);
    expect(d.size()).toBe(2); // the group + one pending report
    d.evict(T1 + MIN);
    expect(d.size()).toBe(0);
    expect(advanceTo(d, ctx, T1 + HOUR)).toEqual([]);
  });

  it('tells an application permission from the delegated scope of the same name: a copilot reading every mailbox is new', () => {
    const obo = (agent: string, scopes: string[], time: number, flow: TokenEvent['flow'] = 'on_behalf_of') =>
      token({ agent_id: agent, flow, user_id: flow === 'on_behalf_of' ? 'u1' : null, scopes, time });
    const warm: TokenEvent[] = [];
    for (let m = 0; m < 60; m += 5) for (const a of ['a1', 'a2', 'a3', 'a4']) warm.push(obo(a, ['User.Read', 'Mail.Read', 'Notes.Read', 'user_impersonation'], T0 + m * MIN));
    const run = (events: TokenEvent[]) => {
      const d = createScopeEscalationDetector();
      const ctx = fakeContext();
      feed(d, ctx, warm);
      return [...feed(d, ctx, events), ...advanceTo(d, ctx, T1 + HOUR)];
    };
    // The same scopes on behalf of a user: the blueprint's.
    expect(run([obo('a2', ['Mail.Read'], T1)])).toEqual([]);
    // Mail.Read as an application permission (client credentials): every mailbox. Medium when its window closes.
    const mail = run([obo('a2', ['Mail.Read'], T1, 'client_credentials')]);
    expect(mail.map((x) => [x.severity, x.time])).toEqual([['medium', T1 + 10 * MIN]]);
    expect(mail[0]!.summary).toContain('as an application permission');
    expect(mail[0]!.evidence.observed).toMatchObject({ scope: 'Mail.Read', flow: 'client_credentials' });
    // Notes.Read is not sensitive by name, but its application form widens the blueprint's delegated one to every user.
    expect(run([obo('a2', ['Notes.Read'], T1, 'client_credentials')]).map((x) => x.severity)).toEqual(['medium']);
    // A new application permission the blueprint has no delegated form of is judged by its name (low); one naming no data stays low.
    expect(run([obo('a2', ['Tasks.Read'], T1, 'client_credentials')]).map((x) => x.severity)).toEqual(['low']);
    expect(run([obo('a2', ['user_impersonation'], T1, 'client_credentials')]).map((x) => x.severity)).toEqual(['low']);
  });

  it('learns both forms of a scope from a blueprint whose agents use both flows, and reads old snapshots without new findings', () => {
    const both: TokenEvent[] = [];
    for (let m = 0; m < 60; m += 5) {
      for (const a of ['a1', 'a2']) both.push(token({ agent_id: a, flow: 'on_behalf_of', user_id: 'u1', scopes: ['Mail.Read'], time: T0 + m * MIN }));
      for (const a of ['a3', 'a4']) both.push(token({ agent_id: a, flow: 'client_credentials', scopes: ['Mail.Read'], time: T0 + m * MIN }));
    }
    const d = createScopeEscalationDetector();
    const ctx = fakeContext();
    feed(d, ctx, both);
    expect([...feed(d, ctx, [token({ agent_id: 'a1', flow: 'client_credentials', scopes: ['Mail.Read'], time: T1 })]), ...advanceTo(d, ctx, T1 + HOUR)]).toEqual([]);
    // A snapshot of version 1 (application permissions keyed as delegated scopes): what the group established stands for both forms.
    const oboOnly = createScopeEscalationDetector();
    const ctx2 = fakeContext();
    feed(oboOnly, ctx2, both.filter((e) => e.flow === 'on_behalf_of'));
    const v1 = { ...(oboOnly.snapshot() as object), version: 1 };
    const restored = createScopeEscalationDetector();
    restored.restore(v1);
    expect([...feed(restored, ctx2, [token({ agent_id: 'a1', flow: 'client_credentials', scopes: ['Mail.Read'], time: T1 })]), ...advanceTo(restored, ctx2, T1 + HOUR)]).toEqual([]);
  });

  it('gives the same detections after a snapshot/restore', () => {
    const events = [
      ...warmup(),
      token({ agent_id: 'a3', scopes: ['Files.Read.All'], time: T1 }),
      token({ agent_id: 'a1', scopes: ['Directory.ReadWrite.All'], decision: 'blocked', time: T1 + MIN }),
      token({ agent_id: 'a2', scopes: ['Directory.ReadWrite.All'], time: T1 + 2 * MIN }),
      token({ agent_id: 'a4', scopes: ['User.Read'], time: T1 + 20 * MIN }),
    ];
    const split = events.length - 3;
    const { uninterrupted, restored } = runWithRestore(() => createScopeEscalationDetector(), events, split);
    expect(uninterrupted.map((x) => x.severity).sort()).toEqual(['high', 'medium', 'medium']);
    expect(restored).toEqual(uninterrupted);
  });

  it('reports a sensitive permission granted on a blueprint\'s principal by an actor the tenant\'s lifecycle never showed (low; medium for a privileged one), not by a known administrator, nor before 6 hours of history', () => {
    const run = (actor: string, permission: string, at = T0 + 8 * HOUR) => {
      const d = createScopeEscalationDetector();
      const ctx = fakeContext();
      const history = [
        lifecycle({ agent_id: 'a1', action: 'created', actor: 'admin@contoso.com', sponsor_id: 'alice@contoso.com', time: T0 }),
        lifecycle({ agent_id: 'a2', action: 'permission_granted', actor: 'alice@contoso.com', permission: 'Sites.Read.All', time: T0 + HOUR }),
      ];
      return feed(d, ctx, [...history, lifecycle({ agent_id: 'bp1', blueprint_id: 'bp1', action: 'permission_granted', actor, permission, time: at, event_id: 'grant-bp' })]);
    };
    const out = run('mallory@contoso.com', 'Files.Read.All');
    expect(out.map((x) => [x.agent_id, x.severity, x.event_ids])).toEqual([['bp1', 'low', ['grant-bp']]]);
    expect(out[0]!.summary).toContain('inherited by every agent of the blueprint');
    expect(run('mallory@contoso.com', 'RoleManagement.ReadWrite.Directory').map((x) => x.severity)).toEqual(['medium']);
    // The administrator, a sponsor, an ordinary permission, a grant to an agent rather than the blueprint, the first hours.
    expect(run('admin@contoso.com', 'Files.Read.All')).toEqual([]);
    expect(run('Alice@Contoso.com', 'Files.Read.All')).toEqual([]);
    expect(run('mallory@contoso.com', 'Tickets.Read')).toEqual([]);
    expect(run('mallory@contoso.com', 'Files.Read.All', T0 + 3 * HOUR)).toEqual([]);
    const d = createScopeEscalationDetector();
    const ctx = fakeContext();
    feed(d, ctx, [lifecycle({ agent_id: 'a1', action: 'created', actor: 'admin@contoso.com', time: T0 })]);
    expect(feed(d, ctx, [lifecycle({ agent_id: 'a1', action: 'permission_granted', actor: 'mallory@contoso.com', permission: 'Files.Read.All', time: T0 + 8 * HOUR })]).filter((x) => x.summary.includes('principal'))).toEqual([]);
  });
});

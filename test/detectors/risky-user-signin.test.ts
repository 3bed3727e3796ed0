import { beforeEach, describe, expect, it } from 'vitest';
import { createRiskyUserSigninDetector } from '../../detectors/risky-user-signin.js';
import type { Detection } from '../../detectors/types.js';
import { MIN, SEC, T0, more, network, resetIds, run, signin, snapshotRoundTrip, token, userRisk } from './core-helpers.js';

beforeEach(() => resetIds());

const obo = (o: Parameters<typeof signin>[0] = {}) => signin({ flow: 'on_behalf_of', user_id: 'u1', ...o });

describe('risky-user-signin', () => {
  it('fires when an agent signs in on behalf of a user at medium risk, with the user in evidence', () => {
    const { detections, pipeline } = run([createRiskyUserSigninDetector()], [
      userRisk({ level: 'medium', time: T0 }),
      obo({ time: T0 + MIN, event_id: 'obo-1' }),
    ]);
    expect(detections).toHaveLength(1);
    const d = detections[0]!;
    expect(d.detector).toBe('risky-user-signin');
    expect(d.severity).toBe('medium');
    expect(d.evidence.user_id).toBe('u1');
    expect(d.evidence.observed).toEqual({ user_id: 'u1', user_risk: 'medium' });
    expect(d.event_ids).toEqual(['obo-1']);
    expect(d.summary).toContain('u1');
    expect(pipeline.level('t1', 'a1')).toBe('medium');
  });

  it('uses high severity for a high-risk user, and fires once per agent and episode', () => {
    const { detections } = run([createRiskyUserSigninDetector()], [
      userRisk({ level: 'high', time: T0 }),
      token({ flow: 'on_behalf_of', user_id: 'u1', time: T0 + MIN }),
      obo({ time: T0 + 2 * MIN }),
      obo({ time: T0 + 3 * MIN }),
    ]);
    expect(detections.map((d) => d.severity)).toEqual(['high']);
  });

  it('never fires for low-risk users, unknown users or app-only sign-ins', () => {
    const { detections } = run([createRiskyUserSigninDetector()], [
      userRisk({ level: 'low', time: T0 }),
      obo({ time: T0 + MIN }),
      obo({ user_id: 'u-unknown', time: T0 + MIN }),
      userRisk({ user_id: 'u9', level: 'high', time: T0 }),
      signin({ time: T0 + MIN }),
    ]);
    expect(detections).toHaveLength(0);
  });

  it('reports agents that acted for the user after the risk rose when the verdict arrives late (another feed)', () => {
    const { detections, pipeline } = run([createRiskyUserSigninDetector()], [
      obo({ agent_id: 'before', time: T0 - 2 * MIN }), // acted before the risk rose: not inherited (lookback is off)
      obo({ agent_id: 'a1', time: T0 + 5 * SEC, event_id: 'obo-early' }),
      token({ agent_id: 'a1', flow: 'on_behalf_of', user_id: 'u1', time: T0 + 8 * SEC }),
      userRisk({ level: 'high', time: T0, event_id: 'verdict' }), // stamped T0, arrives 45 s late
      network({ time: T0 + 45 * SEC }),
    ]);
    expect(detections.map((d) => [d.agent_id, d.severity, d.time, d.event_ids])).toEqual([['a1', 'high', T0 + 8 * SEC, [expect.any(String), 'verdict']]]);
    expect(detections[0]!.summary).toContain('after the user');
    expect(pipeline.level('t1', 'a1')).toBe('high');
    expect(pipeline.level('t1', 'before')).toBe('none');
  });

  it('optionally reports agents that recently acted for the user when the user becomes risky', () => {
    const events = [
      obo({ agent_id: 'a1', time: T0 }),
      obo({ agent_id: 'a2', time: T0 + MIN }),
      obo({ agent_id: 'old', time: T0 - 2 * 3600_000 }),
      userRisk({ level: 'high', time: T0 + 5 * MIN }),
    ];
    expect(run([createRiskyUserSigninDetector()], events).detections).toHaveLength(0);
    const { detections } = run([createRiskyUserSigninDetector({ lookbackMs: 3600_000 })], [
      obo({ agent_id: 'a1', time: T0 }),
      obo({ agent_id: 'a2', time: T0 + MIN }),
      obo({ agent_id: 'old', time: T0 - 2 * 3600_000 }),
      userRisk({ level: 'high', time: T0 + 5 * MIN }),
    ]);
    expect(detections.map((d) => d.agent_id).sort()).toEqual(['a1', 'a2']);
  });

  it('passes the risk to an agent that keeps using a token it obtained for the user before the verdict', () => {
    const oboToken = (agent: string, id: string, time: number) =>
      token({ agent_id: agent, flow: 'on_behalf_of', user_id: 'u1', token_id: id, lifetime_s: 3600, time, event_id: `issue-${id}` });
    const { detections, pipeline } = run([createRiskyUserSigninDetector()], [
      obo({ agent_id: 'a1', time: T0 }),
      oboToken('a1', 'tok-1', T0 + 10_000),
      oboToken('a2', 'tok-2', T0 - 2 * 3600_000), // expired by the verdict
      oboToken('a3', 'tok-3', T0),
      userRisk({ level: 'high', time: T0 + 4 * MIN }),
      network({ agent_id: 'a1', token_id: 'tok-1', time: T0 + 5 * MIN, event_id: 'use-1' }),
      network({ agent_id: 'a1', token_id: 'tok-1', time: T0 + 6 * MIN }), // once per episode
      network({ agent_id: 'a2', token_id: 'tok-2', time: T0 + 5 * MIN }),
      network({ agent_id: 'a4', token_id: 'tok-3', time: T0 + 5 * MIN }), // another agent with a3's token: token replay's business
      network({ agent_id: 'a3', token_id: null, time: T0 + 5 * MIN }),
    ]);
    expect(detections.map((d) => [d.agent_id, d.severity])).toEqual([['a1', 'high']]);
    expect(detections[0]!.event_ids).toEqual(['issue-tok-1', 'use-1']);
    expect(detections[0]!.evidence.user_id).toBe('u1');
    expect(detections[0]!.summary).toContain('kept using token tok-1');
    expect(pipeline.level('t1', 'a1')).toBe('high');
    expect(pipeline.level('t1', 'a3')).toBe('none');
  });

  it('remembers the latest 16 tokens obtained for a user', () => {
    const events = [];
    for (let i = 1; i <= 20; i++) events.push(token({ agent_id: `a${i}`, flow: 'on_behalf_of', user_id: 'u1', token_id: `tok-${i}`, lifetime_s: 3600, time: T0 + i * 1000 }));
    events.push(userRisk({ level: 'medium', time: T0 + MIN }));
    for (const i of [1, 4, 5, 20]) events.push(network({ agent_id: `a${i}`, token_id: `tok-${i}`, time: T0 + 2 * MIN }));
    const { detections } = run([createRiskyUserSigninDetector()], events);
    expect(detections.map((d) => d.agent_id)).toEqual(['a5', 'a20']);
  });

  it('stops watching the user tokens once the user is remediated', () => {
    const { detections, pipeline } = run([createRiskyUserSigninDetector()], [
      token({ flow: 'on_behalf_of', user_id: 'u1', token_id: 'tok-1', lifetime_s: 3600, time: T0 }),
      userRisk({ level: 'medium', time: T0 + MIN }),
      userRisk({ level: 'none', time: T0 + 2 * MIN }),
      network({ token_id: 'tok-1', time: T0 + 3 * MIN }),
    ]);
    expect(detections).toEqual([]);
    // One user and the tenant's list of flagged users (for the risk fan-in); no watched token left.
    expect(pipeline.stats().keysPerDetector['risky-user-signin']).toBe(2);
  });

  it('starts a new episode after remediation; the engine follows an escalation', () => {
    const { detections, riskChanges } = run([createRiskyUserSigninDetector()], [
      userRisk({ level: 'medium', time: T0 }),
      obo({ time: T0 + MIN }),
      userRisk({ level: 'high', time: T0 + 2 * MIN }),
      obo({ time: T0 + 2 * MIN + 1 }),
      userRisk({ level: 'none', time: T0 + 3 * MIN }),
      obo({ time: T0 + 4 * MIN }),
      userRisk({ level: 'medium', time: T0 + 5 * MIN }),
      obo({ time: T0 + 6 * MIN }),
    ]);
    expect(detections.map((d) => `${d.severity}@${Math.floor((d.time - T0) / MIN)}`)).toEqual(['medium@1', 'high@2', 'medium@6']);
    expect(riskChanges.map((c) => `${c.previous_level}->${c.level}@${Math.floor((c.time - T0) / MIN)}`)).toEqual([
      'none->medium@1',
      'medium->high@2',
      'high->none@3',
      'none->medium@6',
    ]);
  });

  describe('an agent user account, acting as itself', () => {
    const asItself = (o: Parameters<typeof signin>[0] = {}) => signin({ agent_type: 'agent_user', flow: 'agent_user', user_id: null, ...o });

    it('takes the user risk of its own account at once when the verdict lands, and drops it on remediation', () => {
      const { detections, pipeline } = run([createRiskyUserSigninDetector()], [
        asItself({ time: T0, event_id: 'si-1' }),
        userRisk({ user_id: 'A1', level: 'high', reason: 'leaked credentials', time: T0 + MIN, event_id: 'ur-1' }),
      ]);
      expect(detections).toHaveLength(1);
      expect(detections[0]).toMatchObject({ agent_id: 'a1', severity: 'high', time: T0 + MIN, event_ids: ['si-1', 'ur-1'] });
      expect(detections[0]!.evidence.user_id).toBe('A1');
      expect(detections[0]!.summary).toBe('Agent user account a1 was flagged (leaked credentials), and its own user risk is high');
      expect(pipeline.level('t1', 'a1')).toBe('high');
      const after = more({ pipeline, detections: [], riskChanges: [] }, [userRisk({ user_id: 'a1', level: 'none', time: T0 + 2 * MIN })]);
      expect(after.riskChanges.at(-1)).toMatchObject({ agent_id: 'a1', level: 'none' });
    });

    it('knows the account by its own user id too (a user object of its own)', () => {
      const { detections } = run([createRiskyUserSigninDetector()], [
        asItself({ user_id: 'acct-1', time: T0 }),
        userRisk({ user_id: 'acct-1', level: 'medium', reason: 'anomalous token', time: T0 + MIN }),
      ]);
      expect(detections.map((d) => [d.agent_id, d.severity, d.time])).toEqual([['a1', 'medium', T0 + MIN]]);
      expect(detections[0]!.summary).toBe('Agent user account a1 was flagged (anomalous token), and its own user risk is medium');
    });

    it('is reported on its next sign-in when the verdict came first', () => {
      const { detections } = run([createRiskyUserSigninDetector()], [
        userRisk({ user_id: 'a1', level: 'medium', time: T0 }),
        token({ flow: 'agent_user', user_id: null, time: T0 + MIN, event_id: 'tk-1' }),
      ]);
      expect(detections.map((d) => [d.severity, d.event_ids])).toEqual([['medium', ['tk-1']]]);
      expect(detections[0]!.summary).toContain('Agent user account a1 obtained a token');
    });

    it('is not confused with an app-only agent whose id a risky user shares', () => {
      const { detections } = run([createRiskyUserSigninDetector()], [
        signin({ time: T0 }),
        userRisk({ user_id: 'a1', level: 'high', time: T0 + MIN }),
        signin({ time: T0 + 2 * MIN }),
      ]);
      expect(detections).toEqual([]);
    });
  });

  it('keeps tenants apart: a risky user in one tenant says nothing about the same user id in another', () => {
    const { detections } = run([createRiskyUserSigninDetector()], [
      userRisk({ tenant_id: 't2', level: 'high', time: T0 }),
      obo({ tenant_id: 't1', time: T0 + MIN }),
    ]);
    expect(detections).toHaveLength(0);
  });

  it('restores a snapshot and gives the same detections as the uninterrupted detector', () => {
    const events = [obo({ agent_id: 'a1', time: T0 }), obo({ agent_id: 'a2', time: T0 + MIN }), userRisk({ level: 'medium', time: T0 + 2 * MIN }), obo({ agent_id: 'a3', time: T0 + 3 * MIN })];
    const { uninterrupted, restored } = snapshotRoundTrip(() => createRiskyUserSigninDetector({ lookbackMs: 3600_000 }), events, 2);
    expect(uninterrupted).toHaveLength(3);
    expect(restored).toEqual(uninterrupted);
  });

  it('matches the user whatever the case its id is written in (risk feed in upper case, sign-ins in lower)', () => {
    const guid = '3f2504e0-4f89-11d3-9a0c-0305e82c3301';
    const { detections, riskChanges, pipeline } = run([createRiskyUserSigninDetector()], [
      userRisk({ user_id: guid.toUpperCase(), level: 'high', time: T0 }),
      obo({ user_id: guid, time: T0 + MIN }),
      userRisk({ user_id: guid.toUpperCase(), level: 'none', time: T0 + 5 * MIN }),
    ]);
    expect(detections.map((d) => d.severity)).toEqual(['high']);
    // The remediation, written in the other case, drops the inherited risk too.
    expect(riskChanges.map((c) => c.level)).toEqual(['high', 'none']);
    expect(pipeline.level('t1', 'a1')).toBe('none');
    expect(pipeline.userRisk('t1', guid)).toBe('none');
  });
});

describe('risky-user-signin: risk fan-in on an agent\'s users', () => {
  /** The copilot a1 serves u1..u6, another agent a2 serves u7..u20 (the tenant's other users), in the hour before T0. */
  function served(): ReturnType<typeof obo>[] {
    const out: ReturnType<typeof obo>[] = [];
    for (let i = 1; i <= 20; i++) out.push(obo({ agent_id: i <= 6 ? 'a1' : 'a2', user_id: `u${i}`, time: T0 - 60 * MIN + i * MIN }));
    return out;
  }
  /** An unrelated event that moves event time (and the watermark) on. */
  const tick = (time: number) => network({ agent_id: 'a9', time });
  const fanIns = (ds: Detection[]) => ds.filter((d) => d.summary.includes('acted for within the day were flagged'));

  it('raises the agent itself to medium when 3 of its users are flagged within an hour, with the users in evidence', () => {
    const { detections, pipeline } = run([createRiskyUserSigninDetector()], [
      ...served(),
      userRisk({ user_id: 'u2', level: 'medium', time: T0 + 5 * MIN }),
      userRisk({ user_id: 'u4', level: 'high', time: T0 + 20 * MIN }),
      userRisk({ user_id: 'u5', level: 'medium', time: T0 + 40 * MIN, event_id: 'ur-5' }),
      tick(T0 + 60 * MIN),
    ]);
    const f = fanIns(detections);
    expect(f.map((d) => [d.agent_id, d.severity, d.time])).toEqual([['a1', 'medium', T0 + 45 * MIN]]);
    expect(f[0]!.summary).toContain('3 users agent a1 acted for');
    expect(f[0]!.evidence.observed).toMatchObject({ flagged_users_served: 3, users: ['u2', 'u4', 'u5'], tenant_users_flagged: 3 });
    // The agent's own finding (no user_id in evidence): it stays when the users are remediated.
    expect(f[0]!.evidence.user_id).toBeUndefined();
    expect(pipeline.level('t1', 'a1')).toBe('medium');
  });

  it('stays quiet for two users, for three flagged over more than an hour, and for a wave in which the agent\'s users are a minority', () => {
    const two = run([createRiskyUserSigninDetector()], [...served(), userRisk({ user_id: 'u2', level: 'medium', time: T0 }), userRisk({ user_id: 'u4', level: 'medium', time: T0 + 10 * MIN }), tick(T0 + 60 * MIN)]);
    expect(fanIns(two.detections)).toEqual([]);
    const slow = run([createRiskyUserSigninDetector()], [...served(), ...['u2', 'u4', 'u5'].map((u, i) => userRisk({ user_id: u, level: 'medium', time: T0 + i * 70 * MIN })), tick(T0 + 200 * MIN)]);
    expect(fanIns(slow.detections)).toEqual([]);
    // A tenant-wide phishing wave: 3 of a1's users (it serves 6 of 20) among 6 flagged within 15 minutes.
    const wave = ['u8', 'u2', 'u9', 'u4', 'u10', 'u5'].map((u, i) => userRisk({ user_id: u, level: 'medium', time: T0 + i * 3 * MIN }));
    expect(fanIns(run([createRiskyUserSigninDetector()], [...served(), ...wave, tick(T0 + 60 * MIN)]).detections)).toEqual([]);
    // The wave showing only after the hold: its first three verdicts are a1's users, the next 6 minutes later.
    const late = ['u2', 'u4', 'u5', 'u8', 'u9', 'u10', 'u11'].map((u, i) => userRisk({ user_id: u, level: 'medium', time: T0 + (i < 3 ? i : i + 3) * MIN }));
    expect(fanIns(run([createRiskyUserSigninDetector()], [...served(), ...late, tick(T0 + 60 * MIN)]).detections).map((d) => d.agent_id)).toEqual(['a1']);
  });

  it('does not count users the agent first acted for after their verdict (the self-service reset phished users are sent to)', () => {
    // a3 is the IT self-service copilot: it acts for u2, u4 and u5 only once each was flagged.
    // (Each verdict raised again after the reset began: the later verdicts find a3 among the users' agents.)
    const resets = ['u2', 'u4', 'u5'].flatMap((u, i) => [
      userRisk({ user_id: u, level: 'medium', time: T0 + i * 10 * MIN }),
      obo({ agent_id: 'a3', user_id: u, time: T0 + i * 10 * MIN + 2 * MIN }),
      userRisk({ user_id: u, level: 'high', time: T0 + i * 10 * MIN + 4 * MIN }),
    ]);
    const out = fanIns(run([createRiskyUserSigninDetector()], [...served(), ...resets, tick(T0 + 60 * MIN)]).detections);
    expect(out.map((d) => d.agent_id)).toEqual(['a1']);
  });

  it('does not judge an agent that serves half or more of the tenant\'s users (every wave reaches them), and reports an agent once in 6 hours', () => {
    const everyone: ReturnType<typeof obo>[] = [];
    for (let i = 1; i <= 6; i++) everyone.push(obo({ agent_id: 'a1', user_id: `u${i}`, time: T0 - 30 * MIN + i * MIN }));
    const flagged = ['u1', 'u2', 'u3'].map((u, i) => userRisk({ user_id: u, level: 'medium', time: T0 + i * MIN }));
    expect(fanIns(run([createRiskyUserSigninDetector()], [...everyone, ...flagged, tick(T0 + 60 * MIN)]).detections)).toEqual([]);
    const again = ['u2', 'u4', 'u5', 'u6', 'u3', 'u1'].map((u, i) => userRisk({ user_id: u, level: 'medium', time: T0 + i * 10 * MIN }));
    expect(fanIns(run([createRiskyUserSigninDetector()], [...served(), ...again, tick(T0 + 120 * MIN)]).detections).map((d) => d.time)).toEqual([T0 + 25 * MIN]);
  });

  it('keeps the tenant\'s flagged users across a snapshot and restore', () => {
    const events = [...served(), userRisk({ user_id: 'u2', level: 'medium', time: T0 }), userRisk({ user_id: 'u4', level: 'high', time: T0 + 10 * MIN }), userRisk({ user_id: 'u5', level: 'medium', time: T0 + 20 * MIN }), tick(T0 + 60 * MIN)];
    const { uninterrupted, restored } = snapshotRoundTrip(createRiskyUserSigninDetector, events, events.length - 1);
    expect(fanIns(uninterrupted).map((d) => d.agent_id)).toEqual(['a1']);
    expect(restored).toEqual(uninterrupted);
  });
});

import { describe, expect, it } from 'vitest';
import { RiskEngine } from '../../detectors/engine.js';
import type { AdminAction, Detection, Severity } from '../../detectors/types.js';

const T0 = Date.UTC(2025, 0, 6, 8, 0, 0);
const MIN = 60_000;
const HOUR = 60 * MIN;

function det(detector: string, severity: Severity, time = T0, o: Partial<Detection> = {}): Detection {
  return {
    detector,
    severity,
    tenant_id: 't1',
    agent_id: 'a1',
    time,
    summary: `${detector} fired`,
    evidence: { observed: 1, baseline: 0, threshold: 1, peer_group: null },
    event_ids: ['e1'],
    ...o,
  };
}

function admin(action: AdminAction['action'], time = T0, o: Partial<AdminAction> = {}): AdminAction {
  return { action_id: `act-${action}`, tenant_id: 't1', agent_id: 'a1', action, actor: 'soc@contoso', reason: 'checked', time, ...o };
}

describe('risk engine', () => {
  it('raises one direct-attack detection (medium or high severity) to medium or high at once', () => {
    const e = new RiskEngine();
    const c = e.ingest(det('impossible-travel', 'medium'))!;
    expect(c).toMatchObject({ level: 'medium', previous_level: 'none', state: 'atRisk', tenant_id: 't1', agent_id: 'a1', time: T0 });
    expect(c.reasons).toEqual([{ detector: 'impossible-travel', severity: 'medium', summary: 'impossible-travel fired' }]);
    expect(c.change_id).toBe(`t1/a1/${T0}/1`);
    const h = new RiskEngine().ingest(det('token-replay', 'high'))!;
    expect(h.level).toBe('high');
  });

  it('raises a low signal to low; two independent lows stay low, three combine to medium', () => {
    const e = new RiskEngine();
    expect(e.ingest(det('unfamiliar-signin-properties', 'low'))!.level).toBe('low');
    expect(e.ingest(det('orphaned-agent', 'low', T0 + MIN))).toBeNull();
    expect(e.level('t1', 'a1')).toBe('low');
    const c = e.ingest(det('unfamiliar-resource', 'low', T0 + 2 * MIN))!;
    expect(c.level).toBe('medium');
    expect(c.reasons.map((r) => r.detector).sort()).toEqual(['orphaned-agent', 'unfamiliar-resource', 'unfamiliar-signin-properties']);
  });

  it('counts lows about one resource from the resource detectors once: a new API, its refusals and its granted scopes are one fact', () => {
    const about = (resource: string) => ({ evidence: { observed: { resource }, baseline: 0, threshold: 1, peer_group: null } });
    const e = new RiskEngine();
    expect(e.ingest(det('unfamiliar-resource', 'low', T0, about('api://tos-v4')))!.level).toBe('low');
    expect(e.ingest(det('failed-access', 'low', T0 + MIN, about('api://tos-v4')))).toBeNull();
    expect(e.ingest(det('scope-escalation', 'low', T0 + 2 * MIN, about('api://tos-v4')))).toBeNull();
    expect(e.level('t1', 'a1')).toBe('low');
    expect(e.get('t1', 'a1')!.score).toBeCloseTo(0.28, 2);
    // A low about another resource, or from another detector, is another signal: with the first, and a third, medium.
    expect(e.ingest(det('scope-escalation', 'low', T0 + 3 * MIN, about('api://billing')))).toBeNull();
    expect(e.ingest(det('orphaned-agent', 'low', T0 + 4 * MIN))!.level).toBe('medium');
    // A medium about the same resource counts in full.
    const m = new RiskEngine();
    m.ingest(det('unfamiliar-resource', 'low', T0, about('api://tos-v4')));
    expect(m.ingest(det('failed-access', 'medium', T0 + MIN, about('api://tos-v4')))!.level).toBe('medium');
    expect(m.get('t1', 'a1')!.score).toBeGreaterThan(0.7);
  });

  it('raises two lows that tell one story to medium: access from a new place and unusual data movement within the hour', () => {
    const e = new RiskEngine();
    expect(e.ingest(det('unfamiliar-signin-properties', 'low'))!.level).toBe('low');
    const c = e.ingest(det('bulk-collection', 'low', T0 + 40 * MIN))!;
    expect(c.level).toBe('medium');
    expect(c.score).toBeCloseTo(1 - (1 - 0.28 * 0.5 ** (40 / 720)) * 0.72 * 0.9, 6);
    expect(c.reasons.map((r) => r.detector).sort()).toEqual(['bulk-collection', 'unfamiliar-signin-properties']);
    // Unrelated lows (a surge and a new API), or the same pair hours apart, stay low.
    const f = new RiskEngine();
    f.ingest(det('signin-spike', 'low'));
    expect(f.ingest(det('unfamiliar-resource', 'low', T0 + MIN))).toBeNull();
    expect(f.level('t1', 'a1')).toBe('low');
    // Reached by a compromised agent, then its secrets store read in bulk: medium too.
    const h = new RiskEngine();
    h.ingest(det('agent-propagation', 'low'));
    expect(h.ingest(det('secret-enumeration', 'low', T0 + 5 * MIN))!.level).toBe('medium');
    const g = new RiskEngine();
    g.ingest(det('impossible-travel', 'low'));
    expect(g.ingest(det('exfiltration', 'low', T0 + 3 * HOUR))).toBeNull();
    expect(g.level('t1', 'a1')).toBe('low');
  });

  it('never lets one repeated low signal climb to medium on its own', () => {
    const e = new RiskEngine();
    for (let i = 0; i < 50; i++) e.ingest(det('failed-access', 'low', T0 + i * MIN));
    expect(e.level('t1', 'a1')).toBe('low');
    expect(e.get('t1', 'a1')!.score).toBeLessThan(0.5);
  });

  it('keeps a repeated low signal and one other low at low: a detector firing again is not independent evidence', () => {
    // A sustained sign-in spike reported twice, then a resource new to the agent.
    const e = new RiskEngine();
    e.ingest(det('signin-spike', 'low'));
    e.ingest(det('signin-spike', 'low', T0 + 30 * MIN));
    expect(e.ingest(det('unfamiliar-resource', 'low', T0 + 31 * MIN))).toBeNull();
    expect(e.level('t1', 'a1')).toBe('low');
    expect(e.get('t1', 'a1')!.score).toBeLessThan(0.5);
    // A third, independent low still makes medium.
    expect(e.ingest(det('unfamiliar-signin-properties', 'low', T0 + 32 * MIN))!.level).toBe('medium');
  });

  it('decays risk in event time and lowers the level step by step', () => {
    const e = new RiskEngine();
    e.ingest(det('impossible-travel', 'medium'));
    expect(e.tick(T0 + HOUR)).toEqual([]);
    const down = e.tick(T0 + 24 * HOUR);
    expect(down).toHaveLength(1);
    expect(down[0]).toMatchObject({ level: 'low', previous_level: 'medium', state: 'atRisk', time: T0 + 24 * HOUR });
    const gone = e.tick(T0 + 48 * HOUR);
    expect(gone[0]).toMatchObject({ level: 'none', previous_level: 'low', state: 'none' });
  });

  it('has hysteresis: a score hovering around a threshold does not flap', () => {
    const e = new RiskEngine();
    e.ingest(det('impossible-travel', 'medium')); // 0.6
    // At 3.4 h the score is ~0.49: under the entry threshold (0.5) but above the exit one (0.4).
    const changes = [];
    for (let t = T0; t <= T0 + 4 * HOUR; t += 10 * MIN) changes.push(...e.tick(t));
    expect(changes).toEqual([]);
    expect(e.level('t1', 'a1')).toBe('medium');
    expect(e.get('t1', 'a1')!.score).toBeLessThan(0.5);
    // Re-crossing upwards within the band emits nothing either (level unchanged).
    expect(e.ingest(det('unfamiliar-resource', 'low', T0 + 4 * HOUR))).toBeNull();
  });

  it('holds a level at least 10 minutes before decay may lower it', () => {
    const e = new RiskEngine({ halfLifeMs: MIN });
    e.ingest(det('impossible-travel', 'medium'));
    expect(e.tick(T0 + 5 * MIN)).toEqual([]);
    expect(e.tick(T0 + 11 * MIN).map((c) => c.level)).toEqual(['none']);
  });

  it('applies admin actions: confirm compromised pins high, confirm safe and dismiss clear to none', () => {
    const e = new RiskEngine();
    e.ingest(det('unfamiliar-resource', 'low'));
    const cc = e.confirmCompromised(admin('confirm_compromised', T0 + MIN));
    expect(cc).toMatchObject({ level: 'high', previous_level: 'low', state: 'confirmedCompromised', score: 1 });
    expect(cc.reasons[0]).toMatchObject({ detector: 'admin', summary: expect.stringContaining('soc@contoso') });
    expect(e.tick(T0 + 100 * HOUR)).toEqual([]);
    expect(e.ingest(det('failed-access', 'medium', T0 + 2 * MIN))).toBeNull();
    expect(e.level('t1', 'a1')).toBe('high');

    const safe = e.confirmSafe(admin('confirm_safe', T0 + 3 * MIN));
    expect(safe).toMatchObject({ level: 'none', previous_level: 'high', state: 'confirmedSafe', score: 0 });
    const again = e.ingest(det('impossible-travel', 'medium', T0 + 4 * MIN))!;
    expect(again).toMatchObject({ level: 'medium', state: 'atRisk' });
    expect(again.reasons.map((r) => r.detector)).toEqual(['impossible-travel']);
  });

  it('dismiss sets none while detection continues: a later new detection raises it again', () => {
    const e = new RiskEngine();
    e.ingest(det('impossible-travel', 'medium'));
    const d = e.applyAdminAction(admin('dismiss', T0 + MIN));
    expect(d).toMatchObject({ level: 'none', previous_level: 'medium', state: 'dismissed' });
    expect(e.tick(T0 + 2 * HOUR)).toEqual([]);
    expect(e.get('t1', 'a1')).toMatchObject({ level: 'none', state: 'dismissed' });
    const c = e.ingest(det('unfamiliar-resource', 'low', T0 + 3 * HOUR))!;
    expect(c).toMatchObject({ level: 'low', previous_level: 'none', state: 'atRisk' });
  });

  it('inherits user risk while it lasts and drops it when the user is remediated', () => {
    const e = new RiskEngine();
    const inherit = (agent: string, sev: Severity) =>
      e.ingest(det('risky-user-signin', sev, T0, { agent_id: agent, evidence: { observed: {}, baseline: 0, threshold: 0, peer_group: null, user_id: 'u1' } }));
    expect(inherit('a1', 'medium')!.level).toBe('medium');
    expect(inherit('a2', 'medium')!.level).toBe('medium');
    e.ingest(det('unfamiliar-resource', 'low', T0, { agent_id: 'a3' }));
    // No decay while the user stays risky (only a3's own detection decays).
    expect(e.tick(T0 + 72 * HOUR).map((c) => [c.agent_id, c.level])).toEqual([['a3', 'none']]);
    expect(e.level('t1', 'a1')).toBe('medium');
    // Escalation follows the user.
    expect(e.userRiskChanged('t1', 'u1', 'high', T0 + 73 * HOUR).map((c) => c.level)).toEqual(['high', 'high']);
    // Remediation drops it at once, with a reason saying so.
    const drops = e.userRiskChanged('t1', 'u1', 'none', T0 + 74 * HOUR);
    expect(drops.map((c) => [c.agent_id, c.level, c.previous_level, c.state])).toEqual([
      ['a1', 'none', 'high', 'remediated'],
      ['a2', 'none', 'high', 'remediated'],
    ]);
    expect(drops[0]!.reasons[0]!.summary).toContain('remediated');
    expect(e.userRiskChanged('t1', 'u1', 'none', T0 + 75 * HOUR)).toEqual([]);
  });

  it('inherits the riskiest user only: an agent acting for two users at medium risk is medium, one at high risk high', () => {
    const e = new RiskEngine();
    const inherit = (user: string, sev: Severity, time = T0) =>
      e.ingest(det('risky-user-signin', sev, time, { evidence: { observed: {}, baseline: 0, threshold: 0, peer_group: null, user_id: user } }));
    expect(inherit('u1', 'medium')!.level).toBe('medium');
    expect(inherit('u2', 'medium', T0 + MIN)).toBeNull();
    expect(e.get('t1', 'a1')!.score).toBeCloseTo(0.6, 6);
    expect(inherit('u3', 'high', T0 + 2 * MIN)!.level).toBe('high');
    // The agent's own findings still add up with what it inherits.
    const f = new RiskEngine();
    f.ingest(det('risky-user-signin', 'medium', T0, { evidence: { observed: {}, baseline: 0, threshold: 0, peer_group: null, user_id: 'u1' } }));
    expect(f.ingest(det('unfamiliar-signin-properties', 'medium', T0 + MIN))!.level).toBe('high');
  });

  it('keeps only the remaining risk after remediation when the agent has other reasons', () => {
    const e = new RiskEngine();
    e.ingest(det('risky-user-signin', 'high', T0, { evidence: { observed: {}, baseline: 0, threshold: 0, peer_group: null, user_id: 'u1' } }));
    e.ingest(det('unfamiliar-resource', 'low', T0));
    const [c] = e.userRiskChanged('t1', 'u1', 'low', T0 + MIN);
    expect(c).toMatchObject({ level: 'low', previous_level: 'high', state: 'atRisk' });
  });

  it('keeps tenants apart: the same agent id in two tenants is two agents', () => {
    const e = new RiskEngine();
    e.ingest(det('impossible-travel', 'medium', T0, { tenant_id: 't1' }));
    expect(e.level('t1', 'a1')).toBe('medium');
    expect(e.level('t2', 'a1')).toBe('none');
    e.confirmSafe(admin('confirm_safe', T0, { tenant_id: 't2' }));
    expect(e.level('t1', 'a1')).toBe('medium');
    expect([...e.risky()].map((r) => r.tenant_id)).toEqual(['t1']);
  });

  it('gives every change a distinct, stable change id', () => {
    const build = () => {
      const e = new RiskEngine();
      return [
        e.ingest(det('unfamiliar-resource', 'low'))!,
        e.ingest(det('impossible-travel', 'medium', T0 + 1))!,
        e.ingest(det('token-replay', 'high', T0 + 2))!,
        e.dismiss(admin('dismiss', T0 + 3)),
      ].map((c) => c.change_id);
    };
    const ids = build();
    expect(new Set(ids).size).toBe(4);
    expect(build()).toEqual(ids);
  });

  it('snapshots and restores (JSON) to the same state and behaviour', () => {
    const a = new RiskEngine();
    a.ingest(det('impossible-travel', 'medium'));
    a.ingest(det('risky-user-signin', 'medium', T0, { agent_id: 'a2', evidence: { observed: {}, baseline: 0, threshold: 0, peer_group: null, user_id: 'u1' } }));
    const b = new RiskEngine();
    b.restore(JSON.parse(JSON.stringify(a.snapshot())));
    expect([...b.entries()]).toEqual([...a.entries()]);
    expect(b.userRiskChanged('t1', 'u1', 'none', T0 + MIN)).toEqual(a.userRiskChanged('t1', 'u1', 'none', T0 + MIN));
    expect(b.tick(T0 + 30 * HOUR)).toEqual(a.tick(T0 + 30 * HOUR));
  });

  it('evicts idle agents at level none but keeps risky and confirmed-compromised ones', () => {
    const e = new RiskEngine();
    e.ingest(det('impossible-travel', 'medium', T0, { agent_id: 'risky' }));
    e.dismiss(admin('dismiss', T0, { agent_id: 'quiet' }));
    e.confirmCompromised(admin('confirm_compromised', T0, { agent_id: 'owned' }));
    expect(e.evict(T0 + HOUR)).toBe(1);
    expect(e.get('t1', 'quiet')).toBeUndefined();
    expect(e.get('t1', 'risky')).toBeDefined();
    expect(e.get('t1', 'owned')!.state).toBe('confirmedCompromised');
  });

  describe('seeded from the last stored change (restart)', () => {
    const high = {
      tenant_id: 't1',
      agent_id: 'a1',
      change_id: `t1/a1/${T0}/7`,
      time: T0,
      level: 'high' as const,
      score: 0.9,
      state: 'atRisk' as const,
      reasons: [
        { detector: 'token-replay', severity: 'high' as const, summary: 'token replayed' },
        { detector: 'unfamiliar-resource', severity: 'medium' as const, summary: 'new resource' },
      ],
    };

    it('keeps an agent at high through a low detection, continuing the change sequence', () => {
      const e = new RiskEngine();
      expect(e.seed(high)).toBe(true);
      expect(e.get('t1', 'a1')).toMatchObject({ level: 'high', score: 0.9, state: 'atRisk' });
      expect(e.get('t1', 'a1')!.reasons.map((r) => r.detector)).toEqual(['token-replay', 'unfamiliar-resource']);
      // Without the seed this would be none → low.
      expect(e.ingest(det('unfamiliar-signin-properties', 'low', T0 + MIN))).toBeNull();
      expect(e.level('t1', 'a1')).toBe('high');
      // Decay carries on from the stored score: two half-lives later it has dropped.
      const drops = e.tick(T0 + 24 * HOUR);
      expect(drops).toHaveLength(1);
      expect(drops[0]).toMatchObject({ previous_level: 'high', change_id: `t1/a1/${T0 + 24 * HOUR}/8` });
      expect(drops[0]!.score).toBeLessThan(0.5);
    });

    it('keeps a confirmed compromise, and the admin reason, across the restart', () => {
      const e = new RiskEngine();
      e.seed({ ...high, state: 'confirmedCompromised', score: 1, reasons: [{ detector: 'admin', severity: 'high', summary: 'confirmed compromised by soc' }] });
      expect(e.tick(T0 + 30 * 24 * HOUR)).toEqual([]);
      expect(e.get('t1', 'a1')).toMatchObject({ level: 'high', state: 'confirmedCompromised', reasons: [{ detector: 'admin', summary: 'confirmed compromised by soc' }] });
    });

    it('ignores agents at none and agents it already holds', () => {
      const e = new RiskEngine();
      expect(e.seed({ ...high, level: 'none', score: 0, state: 'none', reasons: [] })).toBe(false);
      expect(e.size).toBe(0);
      e.ingest(det('unfamiliar-signin-properties', 'low', T0 + MIN));
      expect(e.seed(high)).toBe(false);
      expect(e.level('t1', 'a1')).toBe('low');
    });
  });
});

import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../contract/events.js';
import { createAgentPropagationDetector } from '../../detectors/agent-propagation.js';
import { FakeContext, HOUR, MIN, SEC, T0, advanceTo, fakeContext, feed, lifecycle, network, resetIds } from './helpers/context.js';

beforeEach(() => resetIds());

/** A call from `caller` to `callee` (a network event with dest_agent_id). */
function call(caller: string, callee: string, time: number, o: Partial<Parameters<typeof network>[0]> = {}) {
  return network({ agent_id: caller, dest_agent_id: callee, dest_host: `${callee}.agents.contoso.com`, category: 'agent', time, ...o });
}

/** The detections of `events` by a fresh detector that has seen `history` first. */
function detectAfter(history: AgentEvent[], events: AgentEvent[]) {
  const d = createAgentPropagationDetector();
  const ctx = fakeContext();
  feed(d, ctx, history);
  return feed(d, ctx, events);
}

/** detectAfter, then a quiet event 10 minutes after the last: held findings are decided. */
function settledAfter(history: AgentEvent[], events: AgentEvent[]) {
  const last = events.reduce((m, e) => Math.max(m, e.time), 0);
  return detectAfter(history, [...events, network({ agent_id: 'zz-quiet', blueprint_id: 'elsewhere', time: last + 10 * MIN, dest_host: 'quiet.example.com' })]);
}

describe('agent-propagation', () => {
  it('fires low for the called agent when the caller is at high risk', () => {
    const d = createAgentPropagationDetector();
    const ctx = fakeContext();
    ctx.setAgentRisk('t1', 'evil', 'high');
    feed(d, ctx, [lifecycle({ agent_id: 'victim', blueprint_id: 'bp9' })]);
    const out = feed(d, ctx, [call('evil', 'victim', T0 + MIN, { event_id: 'n-call' })]);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ detector: 'agent-propagation', severity: 'low', agent_id: 'victim', tenant_id: 't1', event_ids: ['n-call'], time: T0 + MIN });
    expect(out[0]!.evidence.observed).toMatchObject({ caller: 'evil', caller_risk: 'high' });
    expect(out[0]!.evidence.peer_group).toBe('blueprint:bp9');
    expect(out[0]!.summary).toContain('evil');
  });

  it('does not fire for callers below high risk, self-calls or ordinary traffic', () => {
    const d = createAgentPropagationDetector();
    const ctx = fakeContext();
    ctx.setAgentRisk('t1', 'med', 'medium');
    ctx.setAgentRisk('t1', 'evil', 'high');
    const out = feed(d, ctx, [
      call('med', 'victim', T0),
      call('clean', 'victim', T0),
      call('evil', 'evil', T0),
      network({ agent_id: 'evil', time: T0 }),
    ]);
    expect(out).toEqual([]);
    expect(advanceTo(d, ctx, T0 + 5 * MIN)).toEqual([]);
  });

  it('can propagate from medium callers when configured', () => {
    const d = createAgentPropagationDetector({ callerLevels: ['medium', 'high'] });
    const ctx = fakeContext();
    ctx.setAgentRisk('t1', 'med', 'medium');
    expect(feed(d, ctx, [call('med', 'victim', T0)])).toHaveLength(1);
  });

  it('passes on a prompt injection the gateway let through: the caller\'s calls within the hour are low for each callee, whatever its level; not a blocked one, nor hours later', () => {
    const injection = (action: 'allowed' | 'blocked', time: number) =>
      network({ agent_id: 'orch', time, dest_host: 'docs.research.example', category: 'uncategorized', threat: 'prompt_injection', action, event_id: `inj-${action}` });
    const worm = [injection('allowed', T0), call('orch', 'w1', T0 + MIN, { event_id: 'c1' }), call('orch', 'w2', T0 + 2 * MIN), call('orch', 'w3', T0 + 2 * HOUR)];
    const out = detectAfter([], worm);
    expect(out.map((x) => [x.agent_id, x.severity, x.time])).toEqual([
      ['w1', 'low', T0 + MIN],
      ['w2', 'low', T0 + 2 * MIN],
    ]);
    expect(out[0]!.event_ids).toEqual(['inj-allowed', 'c1']);
    expect(out[0]!.summary).toContain('prompt injection');
    expect(out[0]!.evidence.observed).toMatchObject({ caller: 'orch', caller_risk: 'none', caller_injected_at: T0 });
    expect(detectAfter([], [injection('blocked', T0), call('orch', 'w1', T0 + MIN)])).toEqual([]);
  });

  it('fires at most once per caller/callee pair per hour', () => {
    const d = createAgentPropagationDetector();
    const ctx = fakeContext();
    ctx.setAgentRisk('t1', 'evil', 'high');
    const out = feed(d, ctx, [
      call('evil', 'v1', T0),
      call('evil', 'v1', T0 + 10 * MIN),
      call('evil', 'v2', T0 + 10 * MIN),
      call('evil', 'v1', T0 + 61 * MIN),
    ]);
    expect(out.map((x) => [x.agent_id, x.time])).toEqual([
      ['v1', T0],
      ['v2', T0 + 10 * MIN],
      ['v1', T0 + 61 * MIN],
    ]);
  });

  it('propagates from a caller at medium risk the calls it makes from an address its calls do not leave from: its identity at work elsewhere', () => {
    // The orchestrator calls its workers from home (20.0.0.x) every 5 minutes for two hours.
    const home: AgentEvent[] = [];
    for (let t = T0 - 2 * HOUR; t < T0; t += 5 * MIN) for (const w of ['w1', 'w2', 'w3']) home.push(call('orch', w, t, { ip: '20.0.0.9' }));
    const run = (events: AgentEvent[], risk: 'medium' | 'high' | 'low', history = home) => {
      const d = createAgentPropagationDetector();
      const ctx = fakeContext();
      expect(feed(d, ctx, history)).toEqual([]);
      ctx.setAgentRisk('t1', 'orch', risk);
      return [...feed(d, ctx, events), ...advanceTo(d, ctx, T0 + 20 * MIN)];
    };
    const vps = (w: string, t: number, id?: string) => call('orch', w, t, { ip: '167.99.40.17', ...(id ? { event_id: id } : {}) });
    const stolen = run([vps('w1', T0, 'c-1'), vps('w2', T0 + MIN), call('orch', 'w3', T0 + 2 * MIN, { ip: '20.0.0.9' })], 'medium');
    // The calls from the VPS propagate; the one from home does not (the orchestrator at medium only).
    expect(stolen.map((x) => [x.agent_id, x.severity, x.event_ids])).toEqual([
      ['w1', 'low', ['c-1']],
      ['w2', 'low', [expect.any(String)]],
    ]);
    expect(stolen[0]!.summary).toContain('at medium risk, from an address that agent\'s calls do not leave from');
    expect(stolen[0]!.evidence.observed).toMatchObject({ foreign_source: true, caller_risk: 'medium' });
    // A caller at low risk: nothing; from the home /24 (another address in it): nothing.
    expect(run([vps('w1', T0)], 'low')).toEqual([]);
    expect(run([call('orch', 'w1', T0, { ip: '20.0.0.77' })], 'medium')).toEqual([]);
    // A caller whose calls are not learned yet (calling for less than an hour) has no foreign address.
    expect(run([vps('w1', T0)], 'medium', home.filter((e) => e.time >= T0 - 30 * MIN))).toEqual([]);
    // The caller reaching medium minutes after the call: the foreign call propagates then, a later call from home does not hide it.
    const d = createAgentPropagationDetector();
    const ctx = fakeContext();
    feed(d, ctx, home);
    expect(feed(d, ctx, [vps('w1', T0, 'c-early'), call('orch', 'w1', T0 + MIN, { ip: '20.0.0.9' })])).toEqual([]);
    ctx.setAgentRisk('t1', 'orch', 'medium');
    expect(advanceTo(d, ctx, T0 + 3 * MIN).map((x) => [x.agent_id, x.event_ids])).toEqual([['w1', ['c-early']]]);
  });

  it('propagates calls made shortly before the caller became high-risk', () => {
    const d = createAgentPropagationDetector({ lookbackMs: 15 * MIN });
    const ctx = fakeContext();
    expect(feed(d, ctx, [call('evil', 'v1', T0, { event_id: 'n-early' }), call('evil', 'v2', T0 - 20 * MIN)])).toEqual([]);
    ctx.setAgentRisk('t1', 'evil', 'high');
    const out = advanceTo(d, ctx, T0 + 2 * MIN);
    // v2's call is older than the lookback (relative to the watermark) and is dropped.
    expect(out.map((x) => [x.agent_id, x.event_ids])).toEqual([['v1', ['n-early']]]);
    expect(out[0]!.time).toBe(T0 + 2 * MIN);
    expect(advanceTo(d, ctx, T0 + 3 * MIN)).toEqual([]);
  });

  it('keeps tenants apart', () => {
    const d = createAgentPropagationDetector();
    const ctx = fakeContext();
    ctx.setAgentRisk('t2', 'evil', 'high');
    const out = feed(d, ctx, [call('evil', 'v1', T0, { tenant_id: 't1' }), call('evil', 'v1', T0, { tenant_id: 't2' })]);
    expect(out.map((x) => x.tenant_id)).toEqual(['t2']);
  });

  it('evicts old pending calls and fired pairs', () => {
    const d = createAgentPropagationDetector();
    const ctx = fakeContext();
    ctx.setAgentRisk('t1', 'evil', 'high');
    feed(d, ctx, [call('evil', 'v1', T0), call('clean', 'v2', T0 + 2 * HOUR)]);
    // A fired pair, a pending call, and the two callers' call sources.
    expect(d.size()).toBe(4);
    d.evict(T0 + HOUR);
    expect(d.size()).toBe(2);
    d.evict(T0 + 3 * HOUR);
    expect(d.size()).toBe(0);
  });

  it('reports calls to agents of blueprints the caller blueprint never called: low for each callee, medium for a caller reaching two within 10 minutes', () => {
    // Orchestrators o1..o3 (blueprint orch) call workers w1..w3 (blueprint workers) every 2 minutes for 2 hours.
    const known: AgentEvent[] = [
      ...['w1', 'w2', 'w3'].map((w) => lifecycle({ agent_id: w, blueprint_id: 'workers', time: T0 - HOUR })),
      ...[['crm', 'crm-sync'], ['backup', 'backup-archiver'], ['helpdesk', 'it-helpdesk'], ['tr1', 'translator'], ['tr2', 'translator'], ['tr3', 'translator']].map(([a, bp]) =>
        lifecycle({ agent_id: a!, blueprint_id: bp!, time: T0 - HOUR }),
      ),
    ];
    for (let m = 0; m < 120; m += 2) for (const [i, o] of ['o1', 'o2', 'o3'].entries()) known.push(call(o, `w${i + 1}`, T0 + m * MIN, { blueprint_id: 'orch' }));
    const T2 = T0 + 2 * HOUR;
    const run = (events: AgentEvent[]) => settledAfter(known, events);
    // An injected orchestrator tasks agents of three blueprints it never called, a minute apart:
    // medium 5 minutes after the second, its blueprint's other agents not following.
    const out = run([
      call('o1', 'crm', T2, { blueprint_id: 'orch', event_id: 'c1' }),
      call('o1', 'backup', T2 + MIN, { blueprint_id: 'orch', event_id: 'c2' }),
      call('o1', 'helpdesk', T2 + 2 * MIN, { blueprint_id: 'orch', event_id: 'c3' }),
    ]);
    expect(out.map((x) => [x.agent_id, x.severity, x.time])).toEqual([
      ['crm', 'low', T2],
      ['backup', 'low', T2 + MIN],
      ['helpdesk', 'low', T2 + 2 * MIN],
      ['o1', 'medium', T2 + 6 * MIN],
    ]);
    expect(out[3]!.evidence.observed).toMatchObject({ new_callee_blueprints: 2 });
    // A release: the other orchestrators call the same two blueprints within the 5 minutes (3 agents in all): no medium.
    const release = run([
      call('o1', 'crm', T2, { blueprint_id: 'orch' }),
      call('o1', 'backup', T2 + MIN, { blueprint_id: 'orch' }),
      call('o2', 'crm', T2 + 2 * MIN, { blueprint_id: 'orch' }),
      call('o3', 'crm', T2 + 3 * MIN, { blueprint_id: 'orch' }),
      call('o2', 'backup', T2 + 3 * MIN, { blueprint_id: 'orch' }),
      call('o3', 'backup', T2 + 4 * MIN, { blueprint_id: 'orch' }),
    ]);
    expect(release.filter((x) => x.severity !== 'low')).toEqual([]);
    // One of the two taken up by the others meanwhile: one blueprint left new to it, and medium needs two.
    const half = run([
      call('o1', 'crm', T2, { blueprint_id: 'orch' }),
      call('o1', 'backup', T2 + MIN, { blueprint_id: 'orch' }),
      call('o2', 'crm', T2 + 2 * MIN, { blueprint_id: 'orch' }),
      call('o3', 'crm', T2 + 3 * MIN, { blueprint_id: 'orch' }),
    ]);
    expect(half.filter((x) => x.severity !== 'low')).toEqual([]);
    // Its usual workers, of any agent of their blueprint: nothing.
    expect(run([call('o1', 'w2', T2, { blueprint_id: 'orch' }), call('o2', 'w3', T2, { blueprint_id: 'orch' })])).toEqual([]);
    // A new worker blueprint rolled out to the orchestrators: lows for the first two callers' callees, then the blueprint's; no medium.
    const rollout = run([
      call('o1', 'tr1', T2, { blueprint_id: 'orch' }),
      call('o2', 'tr2', T2 + 3 * MIN, { blueprint_id: 'orch' }),
      call('o3', 'tr3', T2 + 6 * MIN, { blueprint_id: 'orch' }),
      call('o1', 'tr3', T2 + 9 * MIN, { blueprint_id: 'orch' }),
    ]);
    expect(rollout.map((x) => [x.agent_id, x.severity])).toEqual([
      ['tr1', 'low'],
      ['tr2', 'low'],
    ]);
    // A callee not seen yet (no blueprint to judge by): nothing.
    expect(run([call('o1', 'stranger', T2, { blueprint_id: 'orch' })])).toEqual([]);
    // An agent outside the tenant (category agent, no dest_agent_id) the blueprint never talked to counts as one new edge:
    // turns from a partner's agent, then an internal agent tasked that the orchestrator never called (A2A session smuggling).
    const outside = (t: number, host = 'a2a.supplierhub.io') =>
      network({ agent_id: 'o1', blueprint_id: 'orch', time: t, dest_host: host, category: 'agent', dest_agent_id: null, bytes_out: 6_000, bytes_in: 12_000 });
    const smuggled = run([outside(T2), outside(T2 + 20 * SEC), call('o1', 'crm', T2 + 2 * MIN, { blueprint_id: 'orch' })]);
    expect(smuggled.map((x) => [x.agent_id, x.severity])).toEqual([
      ['crm', 'low'],
      ['o1', 'medium'],
    ]);
    expect(smuggled[1]!.summary).toContain('2 blueprints');
    // The outside agent alone, or a partner agent the orchestrators have talked to all along, is no new edge.
    expect(run([outside(T2), outside(T2 + MIN)])).toEqual([]);
    const partner: AgentEvent[] = [];
    for (let m = 0; m < 120; m += 5) for (const o of ['o1', 'o2']) partner.push(network({ agent_id: o, blueprint_id: 'orch', time: T0 + m * MIN, dest_host: 'agent.partner-logistics.com', category: 'agent', dest_agent_id: null }));
    expect(settledAfter([...known, ...partner].sort((x, y) => x.time - y.time), [outside(T2, 'agent.partner-logistics.com'), call('o1', 'crm', T2 + 2 * MIN, { blueprint_id: 'orch' })]).map((x) => [x.agent_id, x.severity])).toEqual([['crm', 'low']]);
  });

  it('judges the first agent calls of a blueprint that never called agents: two blueprints from an agent known for a day, not one, nor from a new agent', () => {
    const setup: AgentEvent[] = [
      ...[['crm', 'crm-sync'], ['backup', 'backup-archiver'], ['pay', 'payments']].map(([a, bp]) => lifecycle({ agent_id: a!, blueprint_id: bp!, time: T0 - HOUR })),
      // The app agent works for a day without calling any agent.
      ...Array.from({ length: 25 }, (_, h) => network({ agent_id: 'app1', blueprint_id: 'app', dest_host: 'graph.microsoft.com', time: T0 + h * HOUR })),
    ];
    const T1 = T0 + 25 * HOUR;
    const run = (events: AgentEvent[]) => settledAfter(setup, events);
    const pivot = run([
      call('app1', 'crm', T1, { blueprint_id: 'app' }),
      call('app1', 'backup', T1 + MIN, { blueprint_id: 'app' }),
      call('app1', 'pay', T1 + 2 * MIN, { blueprint_id: 'app' }),
    ]);
    // The first call alone is not telling (a copilot handing a question to a specialist); the second blueprint is.
    expect(pivot.map((x) => [x.agent_id, x.severity])).toEqual([
      ['backup', 'low'],
      ['pay', 'low'],
      ['app1', 'medium'],
    ]);
    // An agent created an hour ago calling the same agents: its blueprint is learning its callees.
    const young = run([
      lifecycle({ agent_id: 'app2', blueprint_id: 'app', time: T1 - HOUR }),
      call('app2', 'crm', T1, { blueprint_id: 'app' }),
      call('app2', 'backup', T1 + MIN, { blueprint_id: 'app' }),
    ]);
    expect(young).toEqual([]);
    // One occasional call: nothing.
    expect(run([call('app1', 'crm', T1, { blueprint_id: 'app' })])).toEqual([]);
    // Agents created days before a stream that began an hour ago: nothing is known of what their blueprint calls yet.
    const lateStart: AgentEvent[] = [
      ...[['crm', 'crm-sync'], ['backup', 'backup-archiver'], ['app1', 'app']].map(([a, bp]) => lifecycle({ agent_id: a!, blueprint_id: bp!, time: T0 - 3 * 24 * HOUR })),
      network({ agent_id: 'app1', blueprint_id: 'app', dest_host: 'graph.microsoft.com', time: T1 - HOUR }),
    ];
    expect(settledAfter(lateStart, [call('app1', 'crm', T1, { blueprint_id: 'app' }), call('app1', 'backup', T1 + MIN, { blueprint_id: 'app' })])).toEqual([]);
  });

  it('propagates from a caller at medium risk the calls it made as its blueprint, working for hours without calling agents, began to (a worm among sibling workers)', () => {
    const workers = ['w1', 'w2', 'w3', 'w4'];
    // Four summarizer workers, three hours at work without calling any agent.
    const setup: AgentEvent[] = [];
    for (let t = T0; t < T0 + 3 * HOUR; t += 10 * MIN) for (const w of workers) setup.push(network({ agent_id: w, blueprint_id: 'summarizer', dest_host: 'api.openai.com', time: t }));
    const T1 = T0 + 3 * HOUR;
    const task = (callee: string, k: number) => call('w1', callee, T1 + k * MIN, { blueprint_id: 'summarizer', bytes_out: 45_000, event_id: `task-${callee}` });
    const run = (history: AgentEvent[], risk: 'medium' | 'high') => {
      const d = createAgentPropagationDetector();
      const ctx = fakeContext();
      feed(d, ctx, history);
      const during = feed(d, ctx, [task('w2', 0), task('w3', 1), task('w4', 2)]);
      // The caller's own findings make it medium 8 minutes later: the calls it made are re-judged.
      ctx.setAgentRisk('t1', 'w1', risk);
      return [...during, ...advanceTo(d, ctx, T1 + 8 * MIN)];
    };
    const worm = run(setup, 'medium');
    expect(worm.map((x) => [x.agent_id, x.severity, x.event_ids])).toEqual([
      ['w2', 'low', ['task-w2']],
      ['w3', 'low', ['task-w3']],
      ['w4', 'low', ['task-w4']],
    ]);
    expect(worm[0]!.summary).toContain('at medium risk, as its blueprint, which did not call agents, began to');
    expect(worm[0]!.evidence.observed).toMatchObject({ new_workflow: true, caller_risk: 'medium' });
    // A blueprint whose agents call one another from their first hour (its workflow): a medium caller does not propagate.
    const chatty = [...setup];
    for (let t = T0; t < T0 + 3 * HOUR; t += 10 * MIN) chatty.push(call('w1', 'w2', t + SEC, { blueprint_id: 'summarizer' }), call('w3', 'w4', t + SEC, { blueprint_id: 'summarizer' }));
    expect(run(chatty.sort((x, y) => x.time - y.time), 'medium')).toEqual([]);
    // A new blueprint (its agents seen for 30 minutes) calling from the start is learning its workflow.
    expect(run(setup.filter((e) => e.time >= T1 - 30 * MIN), 'medium')).toEqual([]);
  });

  it('reports an agent of a blueprint that calls no agents contacting 8 distinct agents within 10 min as discovery (medium), and the agents it then tasks as low', () => {
    const peers = Array.from({ length: 10 }, (_, i) => `ca${i}`);
    const setup: AgentEvent[] = [
      // Its own blueprint's agents, and a day of the app agent calling no agent.
      ...peers.map((a) => lifecycle({ agent_id: a, blueprint_id: 'contract-analyst', time: T0 - HOUR })),
      ...Array.from({ length: 25 }, (_, h) => network({ agent_id: 'ca-x', blueprint_id: 'contract-analyst', dest_host: 'graph.microsoft.com', time: T0 + h * HOUR })),
    ];
    const T1 = T0 + 25 * HOUR;
    const card = (callee: string, k: number) => call('ca-x', callee, T1 + k * 8 * SEC, { blueprint_id: 'contract-analyst', bytes_out: 500, bytes_in: 2000 });
    const cards = peers.slice(0, 8).map(card);
    const task = (callee: string, at: number, bytes: number) => call('ca-x', callee, at, { blueprint_id: 'contract-analyst', bytes_out: bytes, bytes_in: 8000 });
    const out = detectAfter(setup, [...cards, task('ca2', T1 + 3 * MIN, 400_000), task('ca5', T1 + 4 * MIN, 2_000), task('ca6', T1 + 50 * MIN, 400_000)]);
    expect(out.map((x) => [x.agent_id, x.severity, x.time])).toEqual([
      ['ca-x', 'medium', T1 + 7 * 8 * SEC],
      ['ca2', 'low', T1 + 3 * MIN], // tasked within 30 min; ca5 got a small call, ca6 a task too late
    ]);
    expect(out[0]!.summary).toContain('contacted 8 distinct agents within 10 min');
    // Seven agents, or eight over more than 10 minutes: nothing.
    expect(detectAfter(setup, peers.slice(0, 7).map(card))).toEqual([]);
    expect(detectAfter(setup, peers.slice(0, 8).map((a, k) => call('ca-x', a, T1 + k * 2 * MIN, { blueprint_id: 'contract-analyst' })))).toEqual([]);
    // A task before any discovery is no one's business here.
    expect(detectAfter(setup, [task('ca2', T1, 400_000)])).toEqual([]);
    // A blueprint still learning its callees (a young agent's first calls): nothing.
    const young = [lifecycle({ agent_id: 'new1', blueprint_id: 'orchestrator', time: T1 - 10 * MIN }), ...peers.slice(0, 8).map((a, k) => call('new1', a, T1 + k * 8 * SEC, { blueprint_id: 'orchestrator' }))];
    expect(detectAfter(setup, young)).toEqual([]);
  });

  it('gives the same detections after a snapshot/restore', () => {
    const events: AgentEvent[] = [call('evil', 'v1', T0), call('x', 'v2', T0 + 10 * SEC), call('evil', 'v1', T0 + 5 * MIN), call('x', 'v3', T0 + 6 * MIN)];
    const run = (restoreAt: number | null) => {
      const ctx = new FakeContext();
      let d = createAgentPropagationDetector();
      const out = [];
      for (let i = 0; i < events.length; i++) {
        if (i === restoreAt) {
          const snap = JSON.parse(JSON.stringify(d.snapshot()));
          d = createAgentPropagationDetector();
          d.restore(snap);
        }
        if (i === 2) {
          ctx.setAgentRisk('t1', 'evil', 'high');
          ctx.setAgentRisk('t1', 'x', 'high');
        }
        out.push(...feed(d, ctx, [events[i]!]));
      }
      out.push(...advanceTo(d, ctx, T0 + 10 * MIN));
      return out;
    };
    const a = run(null);
    expect(a.map((x) => x.agent_id).sort()).toEqual(['v1', 'v2', 'v3']);
    expect(run(2)).toEqual(a);
  });
});

import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../contract/events.js';
import { createSigninSpikeDetector } from '../../detectors/signin-spike.js';
import { HOUR, MIN, SEC, T0, resetIds, run, signin, snapshotRoundTrip } from './core-helpers.js';

beforeEach(() => resetIds());

/** Steady traffic: each agent signs in every `everyMs` (default 2.5 min: 4 per 10-min window) for `hours`. */
function steady(agents: string[], hours: number, everyMs = 2 * MIN + 30 * SEC, bp = 'bp1'): AgentEvent[] {
  const out: AgentEvent[] = [];
  for (let t = T0; t < T0 + hours * 3600_000; t += everyMs) {
    for (const a of agents) out.push(signin({ agent_id: a, blueprint_id: bp, time: t }));
  }
  return out;
}

function burst(agent: string, n: number, start: number, spreadMs: number, bp = 'bp1'): AgentEvent[] {
  return Array.from({ length: n }, (_, i) => signin({ agent_id: agent, blueprint_id: bp, time: start + Math.floor((i * spreadMs) / n) }));
}

const AGENTS = ['a1', 'a2', 'a3', 'a4'];
const END = T0 + 2 * 3600_000;

describe('signin-spike', () => {
  it('fires low then medium when an agent signs in far above its own and its peers\' baseline', () => {
    // (A peer's sign-in 5 minutes on moves event time past the first mover's hold.)
    const events = [...steady(AGENTS, 2), ...burst('a1', 60, END, 2 * MIN), signin({ agent_id: 'a4', time: END + 5 * MIN })];
    const { detections } = run([createSigninSpikeDetector()], events);
    expect(detections.map((d) => d.severity)).toEqual(['low', 'medium']);
    const d = detections[0]!;
    expect(d.detector).toBe('signin-spike');
    expect(d.agent_id).toBe('a1');
    // Own mean 4 per 10 min: low at 4×, medium at 6×.
    expect(d.evidence.threshold).toEqual({ low: 16, medium: 24, sustained_s: 1800, blueprint_wide_agents: 2 });
    expect((d.evidence.observed as { signins: number }).signins).toBeGreaterThanOrEqual(16);
    expect(d.evidence.baseline).toMatchObject({ agent_mean: 4, hour_utc: 10, peer_quantile: 4 });
    expect(d.evidence.peer_group).toBe('blueprint:bp1');
    expect(d.event_ids).toHaveLength(1);
    expect(d.summary).toMatch(/signed in 1\d times in 10 min, 4× its usual 4\.0/);
  });

  it('raises six times the usual rate to medium at once, and four times to low', () => {
    // Own mean 4 per 10 min: 26 sign-ins in 5 min is medium; 18 is low.
    const six = run([createSigninSpikeDetector()], [...steady(AGENTS, 2), ...burst('a1', 26, END, 5 * MIN)]).detections;
    expect(six.map((d) => d.severity)).toEqual(['low', 'medium']);
    expect(six[1]!.time - END).toBeLessThan(5 * MIN);
    const four = run([createSigninSpikeDetector()], [...steady(AGENTS, 2), ...burst('a1', 18, END, 5 * MIN)]).detections;
    expect(four.map((d) => d.severity)).toEqual(['low']);
  });

  it('holds the medium of a first mover 2 minutes after its rise began: none when another agent of the blueprint rises meanwhile (a blueprint-wide change tens of seconds behind it)', () => {
    // a1 alone: low at once, medium 2 minutes after its rise began (dated then).
    const alone = run([createSigninSpikeDetector()], [...steady(AGENTS, 2), ...burst('a1', 40, END, 100 * SEC), signin({ agent_id: 'a4', time: END + 6 * MIN })]).detections;
    expect(alone.map((d) => d.severity)).toEqual(['low', 'medium']);
    expect(alone[1]!.time - alone[0]!.time).toBe(2 * MIN);
    expect(alone[1]!.summary).toContain('no other agent of its blueprint rose with it within 2 min');
    // a2 and a3 rise 40 and 60 seconds behind it: the blueprint's change, low for all.
    const together = ['a1', 'a2', 'a3'].flatMap((a, i) => burst(a, 40, END + i * 20 * SEC, 4 * MIN));
    const wide = run([createSigninSpikeDetector()], [...steady(AGENTS, 2), ...together, signin({ agent_id: 'a4', time: END + 6 * MIN })].sort((x, y) => x.time - y.time)).detections;
    expect(wide.filter((d) => d.severity === 'medium')).toEqual([]);
  });

  it('keeps a rate change the whole blueprint makes at once low, however long it lasts; two agents are not the blueprint', () => {
    // Every agent of bp1 goes from 4 to 30 sign-ins per 10 min for 40 min (a release that stops caching tokens).
    const faster = (agents: string[]) => agents.flatMap((a, i) => burst(a, 120, END + i * 20 * SEC, 40 * MIN));
    const wide = run([createSigninSpikeDetector()], [...steady(AGENTS, 2), ...faster(AGENTS)].sort((x, y) => x.time - y.time)).detections;
    expect(new Set(wide.map((d) => d.severity))).toEqual(new Set(['low']));
    expect(new Set(wide.map((d) => d.agent_id))).toEqual(new Set(AGENTS));
    const last = wide[wide.length - 1]!;
    expect((last.evidence.observed as { peers_over_low: number }).peers_over_low).toBeGreaterThanOrEqual(2);
    expect(last.summary).toContain('blueprint-wide change');
    // The same surge on two agents of the blueprint only: each is its own spike.
    const two = run([createSigninSpikeDetector()], [...steady(AGENTS, 2), ...faster(['a1', 'a2'])].sort((x, y) => x.time - y.time)).detections;
    expect([...new Set(two.filter((d) => d.severity === 'medium').map((d) => d.agent_id))].sort()).toEqual(['a1', 'a2']);
  });

  it('takes both agents of a two-agent blueprint rising together as blueprint-wide; a one-agent blueprint rising is a spike', () => {
    const faster = (agents: string[], bp: string) => agents.flatMap((a, i) => burst(a, 120, END + i * 20 * SEC, 40 * MIN, bp));
    const pair = run([createSigninSpikeDetector()], [...steady(['p1', 'p2'], 2, undefined, 'pair'), ...faster(['p1', 'p2'], 'pair')].sort((x, y) => x.time - y.time)).detections;
    expect(new Set(pair.map((d) => d.agent_id))).toEqual(new Set(['p1', 'p2']));
    expect(new Set(pair.map((d) => d.severity))).toEqual(new Set(['low']));
    expect(pair[pair.length - 1]!.evidence.threshold).toMatchObject({ blueprint_wide_agents: 1 });
    const solo = run([createSigninSpikeDetector()], [...steady(['s1'], 2, undefined, 'solo'), ...faster(['s1'], 'solo')].sort((x, y) => x.time - y.time)).detections;
    expect(solo.map((d) => d.severity)).toContain('medium');
  });

  it('in a two-agent blueprint, takes the other agent elevated short of its own threshold as the blueprint rising: a sustained rate stays low', () => {
    // Month-end close: p1 at 23 per 10 min for 40 min (over its low threshold 16), p2 at 14 (3.5x its usual 4, under 16).
    const rate = (agent: string, perWindow: number) => burst(agent, Math.round((perWindow * 40) / 10), END, 40 * MIN, 'pair');
    const both = run([createSigninSpikeDetector()], [...steady(['p1', 'p2'], 2, undefined, 'pair'), ...rate('p1', 23), ...rate('p2', 14)].sort((x, y) => x.time - y.time)).detections;
    expect(both.length).toBeGreaterThan(0);
    expect(new Set(both.map((d) => `${d.agent_id}:${d.severity}`))).toEqual(new Set(['p1:low']));
    // p2 at its usual rate: p1 keeps its rate alone, medium once sustained.
    const alone = run([createSigninSpikeDetector()], [...steady(['p1', 'p2'], 2, undefined, 'pair'), ...steady(['p2'], 1).map((e) => ({ ...e, blueprint_id: 'pair', time: e.time + 2 * HOUR })), ...rate('p1', 23)].sort((x, y) => x.time - y.time)).detections;
    expect(alone.map((d) => [d.agent_id, d.severity])).toEqual([['p1', 'low'], ['p1', 'medium']]);
  });

  it('in a larger blueprint, takes two other agents elevated short of their own thresholds as the blueprint rising (new staff onboarded to every copilot): a sustained rate stays low', () => {
    const SIX = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
    // c1 at 23 per 10 min for 40 min (over its low threshold 16), the others at 14 (3.5x their usual 4, under 16).
    const rate = (agent: string, perWindow: number) => burst(agent, Math.round((perWindow * 40) / 10), END, 40 * MIN, 'copilot');
    const rush = run([createSigninSpikeDetector()], [...steady(SIX, 2, undefined, 'copilot'), ...rate('c1', 23), ...SIX.slice(1).flatMap((a) => rate(a, 14))].sort((x, y) => x.time - y.time)).detections;
    expect(rush.length).toBeGreaterThan(0);
    expect(new Set(rush.map((d) => `${d.agent_id}:${d.severity}`))).toEqual(new Set(['c1:low']));
    // One other agent elevated is not the blueprint: c1 is medium once its rate has lasted 30 minutes.
    const one = run([createSigninSpikeDetector()], [...steady(SIX, 2, undefined, 'copilot'), ...rate('c1', 23), ...rate('c2', 14)].sort((x, y) => x.time - y.time)).detections;
    expect(one.filter((d) => d.severity === 'medium').map((d) => d.agent_id)).toEqual(['c1']);
  });

  it('takes other agents at 4x a low usual rate, short of the absolute low bar, as the blueprint surging (a market sell-off): the one over its bar stays low', () => {
    const SIX = ['c1', 'c2', 'c3', 'c4', 'c5', 'c6'];
    // Usual: 2 per 10 min each. A surge takes all six to 10 per 10 min (5x, under the low bar of 12) for 20 min;
    // 10 minutes in, c1 gets 14 more within 5 minutes (24 a window: over its medium bar).
    const rate = (agent: string, perWindow: number) => burst(agent, Math.round((perWindow * 20) / 10), END, 20 * MIN, 'copilot');
    const quiet = steady(SIX, 2, 5 * MIN, 'copilot');
    const extra = burst('c1', 14, END + 10 * MIN, 5 * MIN, 'copilot');
    const surge = run([createSigninSpikeDetector()], [...quiet, ...extra, ...SIX.flatMap((a) => rate(a, 10))].sort((x, y) => x.time - y.time)).detections;
    expect(surge.length).toBeGreaterThan(0);
    expect(new Set(surge.map((d) => `${d.agent_id}:${d.severity}`))).toEqual(new Set(['c1:low']));
    // The others at 6 (3x, but under 8 a window): not elevated enough to be a surge; c1 is medium.
    const mild = run([createSigninSpikeDetector()], [...quiet, ...extra, ...rate('c1', 10), ...SIX.slice(1).flatMap((a) => rate(a, 6))].sort((x, y) => x.time - y.time)).detections;
    expect(mild.filter((d) => d.severity === 'medium').map((d) => d.agent_id)).toEqual(['c1']);
  });

  it('learns a nightly job: a burst at the hour the agent had it on earlier days is its habit, one at another hour is still a spike', () => {
    const DAY = 24 * 3600_000;
    // Three days of steady traffic; every night at 02:00 a1 signs in 30 times per 10 min for 40 min.
    const events = steady(AGENTS, 72);
    const night = (d: number, hour = 2) => burst('a1', 120, T0 + d * DAY + hour * 3600_000 - (T0 % DAY), 40 * MIN);
    events.push(...night(1), ...night(2));
    const habit = run([createSigninSpikeDetector()], events.sort((x, y) => x.time - y.time)).detections;
    const nightOf = (t: number) => Math.floor(t / DAY) - Math.floor(T0 / DAY); // calendar day after T0's
    expect([...new Set(habit.map((d) => nightOf(d.time)))]).toEqual([1]); // the first night only
    expect(habit.map((d) => d.severity)).toContain('medium');
    // The same burst at 14:00 on day 2 is no habit of that hour.
    const other = run([createSigninSpikeDetector()], [...steady(AGENTS, 72), ...night(1), ...night(2, 14)].sort((x, y) => x.time - y.time)).detections;
    expect(other.filter((d) => nightOf(d.time) === 2).map((d) => d.severity)).toContain('medium');
  });

  it('does not count a client retrying a stale credential or a drifted clock, nor transient failures, nor its own host presenting a wrong credential or retrying a refused resource; from elsewhere they count', () => {
    const retries = (code: string, ip = '203.0.113.9') =>
      Array.from({ length: 60 }, (_, i) => signin({ agent_id: 'a1', blueprint_id: 'bp1', result: 'failure', error_code: code, ip, time: END + i * 10 * SEC }));
    const spikes = (code: string, ip?: string) => run([createSigninSpikeDetector()], [...steady(AGENTS, 2), ...retries(code, ip)].sort((x, y) => x.time - y.time)).detections;
    expect(spikes('AADSTS700024')).toEqual([]); // client assertion outside its validity window
    expect(spikes('AADSTS7000222')).toEqual([]); // expired secret
    expect(spikes('AADSTS90033')).toEqual([]); // transient
    expect(spikes('AADSTS7000215').map((d) => d.severity)).toContain('medium'); // invalid secret: guessing
    // Its replicas retrying a broken certificate from its own subnet (a chaos test): failed-access's finding, not a spike.
    expect(spikes('AADSTS700027', '20.0.0.7')).toEqual([]);
    // Nor a release pointing its own host at an API that does not exist (a refused resource, retried); from elsewhere it counts.
    expect(spikes('AADSTS500011', '20.0.0.7')).toEqual([]);
    expect(spikes('AADSTS500011').map((d) => d.severity)).toContain('medium');
  });

  it('holds a spike at low while one other agent of the blueprint rises too (maybe the first movers of a change), then raises it once that rise is over 10 min old', () => {
    const events = [...steady(AGENTS, 2), ...burst('a2', 40, END, 4 * MIN), ...burst('a1', 120, END + 30 * SEC, 25 * MIN)].sort((x, y) => x.time - y.time);
    const a1 = run([createSigninSpikeDetector()], events).detections.filter((d) => d.agent_id === 'a1');
    const firstMedium = a1.find((d) => d.severity === 'medium');
    expect(a1[0]!.severity).toBe('low');
    expect(firstMedium).toBeDefined();
    expect(firstMedium!.time - END).toBeGreaterThan(10 * MIN);
    expect(firstMedium!.time - END).toBeLessThan(15 * MIN);
    // Alone, the same rise is medium within minutes.
    const alone = run([createSigninSpikeDetector()], [...steady(AGENTS, 2), ...burst('a1', 120, END + 30 * SEC, 25 * MIN)].sort((x, y) => x.time - y.time)).detections;
    expect(alone.find((d) => d.severity === 'medium')!.time - END).toBeLessThan(6 * MIN);
  });

  it('compares a minutes-old agent with its blueprint peers', () => {
    const events = [...steady(AGENTS, 2), ...burst('brand-new', 40, END, 3 * MIN)];
    const { detections } = run([createSigninSpikeDetector()], events);
    expect(detections.map((d) => [d.agent_id, d.severity])).toEqual([
      ['brand-new', 'low'],
      ['brand-new', 'medium'],
    ]);
    expect(detections[0]!.evidence.threshold).toEqual({ low: 12, medium: 16, sustained_s: 1800, blueprint_wide_agents: 2 });
  });

  it('compares a minutes-old agent also with what new agents of its blueprint do in their first minutes (ephemeral agents work in a burst)', () => {
    // Each ephemeral agent of bp1 lives 15 minutes and signs in 14 times in its first 10.
    const ephemeral = (n: number, from: number) =>
      Array.from({ length: n }, (_, i) => [...burst(`eph-${from}-${i}`, 14, from + i * 12 * MIN, 10 * MIN), ...burst(`eph-${from}-${i}`, 2, from + i * 12 * MIN + 10 * MIN, 4 * MIN)]).flat();
    // The newcomer comes at an hour the ephemeral agents were not active (its hour's peers are the steady agents).
    const newcomer = burst('newcomer', 16, END + 4 * HOUR + 30 * MIN, 10 * MIN);
    const withPeers = [...steady(AGENTS, 8), ...ephemeral(12, END), ...newcomer].sort((x, y) => x.time - y.time);
    expect(run([createSigninSpikeDetector()], withPeers).detections.filter((d) => d.agent_id === 'newcomer')).toEqual([]);
    // Without ephemeral peers, 16 sign-ins in its first 10 minutes is a spike for a new agent.
    const alone = [...steady(AGENTS, 8), ...newcomer].sort((x, y) => x.time - y.time);
    expect(run([createSigninSpikeDetector()], alone).detections.filter((d) => d.agent_id === 'newcomer').map((d) => d.severity)).toContain('medium');
  });

  it('learns regular batch bursts (30 sign-ins every 15 min) as normal', () => {
    const events: AgentEvent[] = [];
    for (let t = T0; t < T0 + 4 * 3600_000; t += 15 * MIN) {
      for (const a of ['b1', 'b2', 'b3']) events.push(...burst(a, 30, t, 20 * SEC, 'batch-bp'));
    }
    events.sort((x, y) => x.time - y.time);
    expect(run([createSigninSpikeDetector()], events).detections).toHaveLength(0);
  });

  it('raises a rate a few times the usual one to medium once it has lasted 30 minutes, not a shorter one', () => {
    // Own mean 4 per 10 min: low at 16, medium at 24. a1 signs in 23 times per 10 min for 40 min, a2 for 25 min.
    const steadyFor = (agent: string, minutes: number) => burst(agent, Math.round(2.3 * minutes), END, minutes * MIN);
    const events = [...steady(AGENTS, 2), ...steadyFor('a1', 40), ...steadyFor('a2', 25)].sort((x, y) => x.time - y.time);
    const { detections } = run([createSigninSpikeDetector()], events);
    expect(detections.map((d) => [d.agent_id, d.severity])).toEqual([
      ['a1', 'low'],
      ['a2', 'low'],
      ['a1', 'medium'],
    ]);
    const d = detections[2]!;
    expect((d.evidence.observed as { signins: number; over_low_s: number }).signins).toBeLessThan(40);
    expect((d.evidence.observed as { over_low_s: number }).over_low_s).toBeGreaterThanOrEqual(1800);
    expect(d.summary).toContain('sustained');
  });

  it('does not fire without any baseline (learning), nor under the thresholds', () => {
    const learning = burst('lonely', 100, T0, 2 * MIN, 'fresh-bp');
    expect(run([createSigninSpikeDetector()], learning).detections).toHaveLength(0);
    const small = [...steady(AGENTS, 2), ...burst('a1', 12, END, 2 * MIN)];
    expect(run([createSigninSpikeDetector()], small).detections).toHaveLength(0);
  });

  it('counts late events of the previous window in the sliding estimate', () => {
    const events = [...steady(AGENTS, 2), signin({ agent_id: 'a1', time: END + 10 * MIN + 30 * SEC }), ...burst('a1', 20, END + 9 * MIN, 30 * SEC)];
    const r = run([createSigninSpikeDetector()], events);
    expect(r.detections).toHaveLength(0); // late events alone do not fire
    const next = r.pipeline.process(signin({ agent_id: 'a1', time: END + 11 * MIN }));
    expect(next.detections.map((d) => d.severity)).toEqual(['low']);
  });

  it('restores a snapshot and gives the same detections as the uninterrupted detector', () => {
    const events = [...steady(AGENTS, 2), ...burst('a1', 60, END, 2 * MIN), ...burst('a2', 30, END + 10 * MIN, MIN)];
    const { uninterrupted, restored } = snapshotRoundTrip(createSigninSpikeDetector, events, 150);
    expect(uninterrupted.length).toBeGreaterThanOrEqual(3);
    expect(restored).toEqual(uninterrupted);
  });
});

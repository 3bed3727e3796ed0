import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent, NetworkEvent } from '../../contract/events.js';
import { createSessionHarvestDetector } from '../../detectors/session-harvest.js';
import type { Detection } from '../../detectors/types.js';
import { MIN, SEC, T0, fakeContext, feed, network, resetIds, runWithRestore } from './helpers/context.js';

beforeEach(() => resetIds());

const HR = 'wd5-services1.myworkday.com';

const call = (agent: string, t: number, token: string, o: Partial<NetworkEvent> = {}) =>
  network({ agent_id: agent, time: t, dest_host: HR, category: 'api', token_id: token, bytes_out: 1500, bytes_in: 40_000, ...o });

/**
 * The blueprint's usual sessions for three hours: four agents, each a new token
 * every 5 minutes used 1 to 3 times (`extra` more calls on every 25th one).
 */
function history(extra = 0): AgentEvent[] {
  const out: AgentEvent[] = [];
  let k = 0;
  for (let t = T0 - 3 * 60 * MIN; t < T0; t += 5 * MIN) {
    for (let a = 1; a <= 4; a++) {
      const token = `hist-${a}-${t}`;
      const n = 1 + (k++ % 3) + (k % 25 === 0 ? extra : 0);
      for (let i = 0; i < n; i++) out.push(call(`a${a}`, t + a * SEC + i * 20 * SEC, token));
    }
  }
  return out;
}

/** `n` calls by `agent` with one token, every `gapS` seconds from `start`. */
function harvest(agent: string, n: number, start = T0, gapS = 8, token = `tok-${agent}`): AgentEvent[] {
  return Array.from({ length: n }, (_, i) => call(agent, start + i * gapS * SEC, token, { event_id: `${agent}-h${i}` }));
}

/** Runs the history, then `events`, then a late quiet call so that held findings are decided. */
function run(events: AgentEvent[], detector = createSessionHarvestDetector(), past = history()): Detection[] {
  const ctx = fakeContext();
  expect(feed(detector, ctx, past)).toEqual([]);
  const last = events.reduce((m, e) => Math.max(m, e.time), T0);
  return feed(detector, ctx, [...events, call('a9', last + 10 * MIN, 'late')]);
}

describe('session-harvest', () => {
  it('is medium 3 minutes after one token of an agent makes 30 calls where its blueprint\'s sessions make 3', () => {
    const out = run(harvest('a1', 60));
    expect(out.map((d) => [d.severity, d.agent_id, d.time])).toEqual([['medium', 'a1', T0 + 29 * 8 * SEC + 3 * MIN]]);
    expect(out[0]!.summary).toContain('made 30 calls with token tok-a1');
    expect(out[0]!.evidence.observed).toMatchObject({ token_id: 'tok-a1', calls: 30, dest_host: HR });
    expect(out[0]!.evidence.baseline).toMatchObject({ p95_calls_per_window: 3, largest_window: 3 });
    expect(out[0]!.evidence.threshold).toContain('= 30 calls');
    expect(out[0]!.event_ids).toEqual(['a1-h0', 'a1-h29']);
  });

  it('is nothing for 29 calls in a window, nor for 60 calls spread over windows of 10 minutes', () => {
    expect(run(harvest('a1', 29))).toEqual([]);
    resetIds();
    // One call every 25 s: 24 within each window of 10 minutes.
    expect(run(harvest('a1', 60, T0, 25))).toEqual([]);
  });

  it('judges by the blueprint: where sessions of 20 calls are usual, 30 calls are not a harvest, 45 are', () => {
    // Every 25th session makes 20 more calls: the largest window is 23 (bar 1.5x = 35).
    expect(run(harvest('a1', 34), createSessionHarvestDetector(), history(20))).toEqual([]);
    resetIds();
    const out = run(harvest('a1', 45), createSessionHarvestDetector(), history(20));
    expect(out.map((d) => d.severity)).toEqual(['medium']);
    expect(out[0]!.evidence.observed).toMatchObject({ calls: 35 });
  });

  it('is nothing while the blueprint has learned fewer than 20 windows, or for less than 2 hours', () => {
    const tokenOf = (e: AgentEvent) => (e as NetworkEvent).token_id!;
    const recent = history().filter((e) => e.time >= T0 - 90 * MIN);
    // Every agent, over 3 hours, but a session an hour each: 12 windows.
    const sparse = history().filter((e) => (e.time - T0 + 6 * 60 * MIN) % (60 * MIN) < 5 * MIN);
    for (const [past, why] of [
      [recent, '72 windows of 4 agents in 90 min'],
      [sparse, '12 windows of 4 agents over 3 hours'],
    ] as const) {
      resetIds();
      expect(new Set(past.map(tokenOf)).size, why).toBeGreaterThanOrEqual(12);
      expect(run(harvest('a1', 60), createSessionHarvestDetector(), [...past]), why).toEqual([]);
    }
    // The whole history: reported.
    expect(run(harvest('a1', 60)).map((d) => d.severity)).toEqual(['medium']);
  });

  it('judges a blueprint of one or two agents on their own sessions once it has watched them for 2 hours, from 60 calls', () => {
    // Two intake agents, a session of 1 to 4 calls every 10 minutes each, for 2.5 hours.
    const pair: AgentEvent[] = [];
    let k = 0;
    for (let t = T0 - 150 * MIN; t < T0; t += 10 * MIN)
      for (const a of ['a1', 'a2']) for (let i = 0; i <= k++ % 4; i++) pair.push(call(a, t + i * 30 * SEC, `pair-${a}-${t}`));
    expect(run(harvest('a1', 60), createSessionHarvestDetector(), pair).map((d) => [d.agent_id, d.severity])).toEqual([['a1', 'medium']]);
    // Under 60 calls, where 3 agents' norm would have called 30 a harvest: their own long job, not yet news.
    resetIds();
    expect(run(harvest('a1', 50), createSessionHarvestDetector(), pair)).toEqual([]);
    // Watched for 90 minutes only: not yet.
    resetIds();
    expect(run(harvest('a1', 60), createSessionHarvestDetector(), pair.filter((e) => e.time >= T0 - 90 * MIN))).toEqual([]);
    // One agent alone: judged on its own sessions once they are 20 windows (15 in 2.5 hours: not yet; 27 in 4.5).
    const alone = (minutes: number): AgentEvent[] => {
      const out: AgentEvent[] = [];
      for (let t = T0 - minutes * MIN, j = 0; t < T0; t += 10 * MIN, j++) for (let i = 0; i <= j % 4; i++) out.push(call('a1', t + i * 30 * SEC, `alone-${t}`));
      return out;
    };
    resetIds();
    expect(run(harvest('a1', 60), createSessionHarvestDetector(), alone(150))).toEqual([]);
    resetIds();
    expect(run(harvest('a1', 60), createSessionHarvestDetector(), alone(270)).map((d) => d.severity)).toEqual(['medium']);
  });

  it('does not learn the windows of tokens an agent alternates between, cut short when a third comes', () => {
    // Each agent alternates between three tokens (a crawl: Graph, a model, a search index), one call every 10 s,
    // new tokens every 10 minutes: 20 calls per token and window. Learned as windows of 1 or 2 calls cut short,
    // a harvest of 45 would stand out; the windows' real sizes make it ordinary.
    const crawl: AgentEvent[] = [];
    for (let a = 1; a <= 4; a++) {
      for (let t = T0 - 3 * 60 * MIN + a * SEC, k = 0; t < T0; t += 10 * SEC, k++) crawl.push(call(`a${a}`, t, `a${a}-${Math.floor((t - T0) / (10 * MIN))}-${k % 3}`));
    }
    crawl.sort((x, y) => x.time - y.time);
    expect(run(harvest('a1', 45), createSessionHarvestDetector(), crawl)).toEqual([]);
  });

  it('is low when another agent of the blueprint crosses its bar within 10 minutes (a scheduled report run by the blueprint together)', () => {
    const events = [...harvest('a1', 40), ...harvest('a2', 40, T0 + 4 * MIN)].sort((x, y) => x.time - y.time);
    const out = run(events);
    expect(out.map((d) => [d.agent_id, d.severity])).toEqual([
      ['a1', 'low'],
      ['a2', 'low'],
    ]);
    expect(out[0]!.summary).toContain('1 other agent of its blueprint did the same');
    // 11 minutes apart: each alone.
    resetIds();
    const apart = [...harvest('a1', 40), ...harvest('a2', 40, T0 + 16 * MIN)].sort((x, y) => x.time - y.time);
    expect(run(apart).map((d) => [d.agent_id, d.severity])).toEqual([
      ['a1', 'medium'],
      ['a2', 'medium'],
    ]);
  });

  it('is low when another agent of the blueprint goes past two thirds of the bar meanwhile without crossing it yet (one change pushed by agents out of step)', () => {
    // The blueprint's bar: 72 calls (6 times its 95th percentile of 12; its largest window is smaller).
    const past = history(40);
    const withSibling = (siblingCalls: number) => {
      resetIds();
      const events = [...harvest('a1', 90, T0, 6), ...harvest('a2', siblingCalls, T0 + 2 * MIN, 6)].sort((x, y) => x.time - y.time);
      return run(events, createSessionHarvestDetector(), past).map((d) => [d.agent_id, d.severity]);
    };
    // a2 goes past 48 calls, short of the bar: a1's finding is the blueprint's job.
    expect(withSibling(55)).toEqual([['a1', 'low']]);
    // a2 stays under two thirds of the bar: a1 is alone.
    expect(withSibling(30)).toEqual([['a1', 'medium']]);
  });

  it('keeps quiet about an agent carrying a blueprint-wide job on past the hour, not about one harvesting again alone later', () => {
    // a1 and a2 start together; a1 goes on with a new token every 10 minutes for 80 minutes.
    const carried = [...harvest('a2', 40, T0 + 4 * MIN)];
    for (let k = 0; k < 8; k++) carried.push(...harvest('a1', 40, T0 + k * 10 * MIN, 8, `tok-a1-${k}`));
    const out = run(carried.sort((x, y) => x.time - y.time));
    expect(out.map((d) => [d.agent_id, d.severity])).toEqual([
      ['a1', 'low'],
      ['a2', 'low'],
    ]);
    // a1 alone three hours later: medium.
    resetIds();
    const later = [...carried, ...harvest('a1', 40, T0 + 3 * 60 * MIN, 8, 'tok-a1-late')].sort((x, y) => x.time - y.time);
    expect(run(later).map((d) => [d.agent_id, d.severity])).toEqual([
      ['a1', 'low'],
      ['a2', 'low'],
      ['a1', 'medium'],
    ]);
  });

  it('does not count calls to a model provider: an agent loop prompting its model with one cached token at every step', () => {
    const prompts = harvest('a1', 60).map((e) => ({ ...e, dest_host: 'contoso-aoai.openai.azure.com', category: 'llm_provider' }));
    expect(run(prompts)).toEqual([]);
  });

  it('counts a harvesting token while other tokens of the agent come and go, and reports once an hour', () => {
    const events = harvest('a1', 40);
    // Another user's session every 30 s meanwhile, each a new token.
    for (let i = 0; i < 10; i++) events.push(call('a1', T0 + i * 30 * SEC + 3 * SEC, `other-${i}`));
    // A second harvest 20 minutes later, within the hour.
    events.push(...harvest('a1', 40, T0 + 20 * MIN, 8, 'tok-a1-second'));
    const out = run(events.sort((x, y) => x.time - y.time));
    expect(out.map((d) => [d.agent_id, d.severity])).toEqual([['a1', 'medium']]);
  });

  describe('calls without a token to a query tool', () => {
    const BING = 'api.bing.microsoft.com';
    const search = (agent: string, t: number, o: Partial<NetworkEvent> = {}) =>
      network({ agent_id: agent, time: t, dest_host: BING, category: 'search_engine', token_id: null, bytes_out: 600, bytes_in: 25_000, ...o });
    /** The blueprint's sessions, and each agent searching 1 to 3 times every 20 minutes. */
    function searching(): AgentEvent[] {
      const out = history();
      let k = 0;
      for (let t = T0 - 3 * 60 * MIN; t < T0; t += 20 * MIN) for (let a = 1; a <= 4; a++) for (let i = 0, n = 1 + (k++ % 3); i < n; i++) out.push(search(`a${a}`, t + a * 7 * SEC + i * 15 * SEC));
      return out.sort((x, y) => x.time - y.time);
    }
    const spree = (n: number, o: Partial<NetworkEvent> = {}) => Array.from({ length: n }, (_, i) => search('a1', T0 + i * 3 * SEC, { bytes_out: 3_000, event_id: `q${i}`, ...o }));

    it('is medium when an agent queries its search tool 60 times in minutes, where its blueprint\'s agents query it 3 times', () => {
      const out = run(spree(200), createSessionHarvestDetector(), searching());
      expect(out.map((d) => [d.severity, d.agent_id, d.time])).toEqual([['medium', 'a1', T0 + 59 * 3 * SEC + 3 * MIN]]);
      expect(out[0]!.summary).toContain(`made 60 calls without a token to ${BING} (search_engine)`);
      expect(out[0]!.evidence.observed).toMatchObject({ token_id: null, calls: 60, category: 'search_engine' });
      expect(out[0]!.evidence.baseline).toMatchObject({ p95_calls_per_window: 3 });
      expect(out[0]!.event_ids).toEqual(['q0', 'q59']);
    });

    it('is nothing under 60 queries, for an API called with a key that is no query tool, or for blocked queries', () => {
      expect(run(spree(59), createSessionHarvestDetector(), searching())).toEqual([]);
      resetIds();
      const api = (e: AgentEvent) => (e.type === 'network' && e.dest_host === BING ? { ...e, dest_host: 'api.partner.example', category: 'api' } : e);
      expect(run(spree(200).map(api), createSessionHarvestDetector(), searching().map(api))).toEqual([]);
      resetIds();
      expect(run(spree(200, { action: 'blocked' }), createSessionHarvestDetector(), searching())).toEqual([]);
    });
  });

  it('keeps its state across a snapshot and restore', () => {
    const events = [...history(), ...harvest('a1', 60), call('a9', T0 + 20 * MIN, 'late')];
    for (const split of [100, events.length - 40, events.length - 2]) {
      resetIds();
      const { uninterrupted, restored } = runWithRestore(createSessionHarvestDetector, events, split);
      expect(restored).toEqual(uninterrupted);
    }
    const { uninterrupted } = runWithRestore(createSessionHarvestDetector, events, 100);
    expect(uninterrupted.map((d) => d.severity)).toEqual(['medium']);
  });
});

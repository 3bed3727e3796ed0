import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent, NetworkEvent } from '../../contract/events.js';
import { createMassSendDetector, isSendCategory } from '../../detectors/mass-send.js';
import { HOUR, MIN, SEC, T0, advanceTo, fakeContext, feed, network, resetIds, runWithRestore } from './helpers/context.js';

beforeEach(() => resetIds());

const GRAPH = { dest_host: 'graph.microsoft.com', category: 'api' };

/** `n` mails with an attachment sent by `agent` through Graph, evenly over `spanMs` from `from`. */
function mails(agent: string, n: number, from: number, spanMs: number, extra: Partial<NetworkEvent> = {}): AgentEvent[] {
  return Array.from({ length: n }, (_, k) => network({ agent_id: agent, time: from + Math.floor((k * spanMs) / n), ...GRAPH, bytes_out: 120_000, bytes_in: 600, ...extra }));
}

/** Three hours of agents a1..a3 reading Graph every 2 minutes and sending a mail or two every 20 minutes. */
function history(): AgentEvent[] {
  const out: AgentEvent[] = [];
  for (let t = T0; t < T0 + 3 * HOUR; t += 2 * MIN) for (const a of ['a1', 'a2', 'a3']) out.push(network({ agent_id: a, time: t, ...GRAPH, bytes_out: 1800, bytes_in: 40_000 }));
  for (let t = T0; t < T0 + 3 * HOUR; t += 20 * MIN) for (const a of ['a1', 'a2', 'a3']) out.push(...mails(a, 2, t + 30 * SEC, 20 * SEC));
  return out.sort((x, y) => x.time - y.time);
}

const T3 = T0 + 3 * HOUR;

describe('mass-send', () => {
  it('fires medium when a copilot sends a hundred mails with attachments in minutes through the Graph it uses every day', () => {
    const d = createMassSendDetector();
    const ctx = fakeContext();
    expect(feed(d, ctx, history())).toEqual([]);
    const out = feed(d, ctx, mails('a2', 110, T3, 9 * MIN));
    // Low from 25 sends (over 10x its peak of 2, under the floor), medium from the 40-send floor.
    expect(out.map((x) => [x.agent_id, x.severity, (x.evidence.observed as { sends: number }).sends, x.evidence.threshold])).toEqual([
      ['a2', 'low', 25, 25],
      ['a2', 'medium', 40, 40],
    ]);
    expect(out[1]!.evidence.observed).toMatchObject({ dest_host: 'graph.microsoft.com', bytes_out: 120_000 });
    // Its two mails every 20 minutes never made it a record (under 8 within 10 minutes): a peak of none.
    expect(out[1]!.summary).toBe('Agent a2 made 40 calls carrying data out within 10 min (latest to graph.microsoft.com), where it and its blueprint never sent more than a few');
    expect(out[1]!.event_ids).toHaveLength(8);
  });

  it('takes an agent active for hours that never sent as a baseline of none: 40 sends are medium; a young agent of a blueprint that never sent needs 200', () => {
    const reads: AgentEvent[] = [];
    for (let t = T0; t < T3; t += 2 * MIN) reads.push(network({ agent_id: 'a1', time: t, ...GRAPH, bytes_out: 1800, bytes_in: 40_000 }));
    const d = createMassSendDetector();
    const ctx = fakeContext();
    expect(feed(d, ctx, reads)).toEqual([]);
    const out = [...feed(d, ctx, mails('a1', 60, T3, 5 * MIN)), ...advanceTo(d, ctx, T3 + 20 * MIN)];
    expect(out.map((x) => x.severity)).toEqual(['low', 'medium']);
    expect(out[1]!.summary).toContain('where it and its blueprint never sent more than a few');
    // An agent first seen minutes ago, in a blueprint where no agent ever sent: 60 are not enough.
    expect(feed(d, ctx, [network({ agent_id: 'n1', blueprint_id: 'bp-new', time: T3 + HOUR }), ...mails('n1', 60, T3 + HOUR + MIN, 5 * MIN, { blueprint_id: 'bp-new' })])).toEqual([]);
  });

  it('takes a burst while 4 other agents of the blueprint go over their own bars as a batch of the whole blueprint (low), not 3', () => {
    const agents = ['a1', 'a2', 'a3', 'a4', 'a5', 'a6'];
    const quiet: AgentEvent[] = [];
    for (let t = T0; t < T3; t += 2 * MIN) for (const a of agents) quiet.push(network({ agent_id: a, time: t, ...GRAPH, bytes_out: 1800, bytes_in: 40_000 }));
    const run = (others: string[]) => {
      const d = createMassSendDetector();
      const ctx = fakeContext();
      feed(d, ctx, quiet);
      // The others send 30 each in 6 minutes (over their bars of 25, under the floor of 40); a1, 60 in 9 (over 40 at about 6 minutes).
      const batch = [...others.flatMap((a, i) => mails(a, 30, T3 + i * 10 * SEC, 6 * MIN)), ...mails('a1', 60, T3, 9 * MIN)].sort((x, y) => x.time - y.time);
      return [...feed(d, ctx, batch), ...advanceTo(d, ctx, T3 + 20 * MIN)];
    };
    const wide = run(['a2', 'a3', 'a4', 'a5']);
    expect(wide.filter((x) => x.severity === 'medium')).toEqual([]);
    expect(wide.filter((x) => x.agent_id === 'a1').map((x) => x.severity)).toEqual(['low', 'low']);
    expect(run(['a2', 'a3', 'a4']).filter((x) => x.severity === 'medium').map((x) => x.agent_id)).toEqual(['a1']);
  });

  it('does not count reads, uploads to storage or file sharing, model prompts, secrets or calls to other agents', () => {
    const d = createMassSendDetector();
    const ctx = fakeContext();
    feed(d, ctx, history());
    const quiet = [
      ...mails('a1', 110, T3, 9 * MIN, { bytes_out: 2000, bytes_in: 80_000 }), // reads: a big answer to a small request
      ...mails('a1', 110, T3 + HOUR, 9 * MIN, { bytes_out: 50_000, bytes_in: 30_000 }), // under twice the answer
      ...mails('a1', 110, T3 + 2 * HOUR, 9 * MIN, { bytes_out: 6000, bytes_in: 100 }), // under 8 KiB
      ...mails('a2', 110, T3, 9 * MIN, { dest_host: 'contosodata.blob.core.windows.net', category: 'storage' }),
      ...mails('a2', 110, T3 + HOUR, 9 * MIN, { dest_host: 'upload.box.com', category: 'Online Storage and Backup' }),
      ...mails('a3', 110, T3, 9 * MIN, { dest_host: 'contoso-aoai.openai.azure.com', category: 'llm_provider' }),
      ...mails('a3', 110, T3 + HOUR, 9 * MIN, { dest_host: 'contoso-kv.vault.azure.net' }),
      ...mails('a3', 110, T3 + 2 * HOUR, 9 * MIN, { dest_agent_id: 'worker-1', category: 'agent', dest_host: 'worker.agents.contoso.com' }),
      ...mails('a3', 110, T3 + 3 * HOUR, 9 * MIN, { action: 'blocked' }),
    ].sort((x, y) => x.time - y.time);
    expect(feed(d, ctx, quiet)).toEqual([]);
    expect(isSendCategory('api')).toBe(true);
    expect(isSendCategory('Business and Economy')).toBe(true);
    expect(isSendCategory('file_sharing')).toBe(false);
    expect(isSendCategory('LLM provider')).toBe(false);
  });

  it('takes 3 agents of the blueprint sending together for a campaign: each low, the first two once they waited 3 minutes for the rest', () => {
    const campaign = (starts: number[]) => {
      const d = createMassSendDetector();
      const ctx = fakeContext();
      feed(d, ctx, history());
      const sends = ['a1', 'a2', 'a3'].flatMap((a, i) => (starts[i] === undefined ? [] : mails(a, 80, T3 + starts[i]!, 6 * MIN)));
      const out = [...feed(d, ctx, sends.sort((x, y) => x.time - y.time)), ...advanceTo(d, ctx, T3 + HOUR)];
      return out.filter((x) => x.evidence.threshold === 40);
    };
    const together = campaign([0, 10 * SEC, 20 * SEC]);
    expect(together.map((x) => [x.agent_id, x.severity])).toEqual([
      ['a3', 'low'],
      ['a1', 'low'],
      ['a2', 'low'],
    ]);
    expect(together.every((x) => x.summary.includes('2 other agents of its blueprint did the same (a campaign)'))).toBe(true);
    // Two agents are no campaign: medium, 3 minutes after each crossed the floor.
    const two = campaign([0, 10 * SEC]);
    expect(two.map((x) => [x.agent_id, x.severity])).toEqual([
      ['a1', 'medium'],
      ['a2', 'medium'],
    ]);
    expect(two[0]!.time - T3).toBeGreaterThanOrEqual(3 * MIN);
  });

  it('keeps quiet about the agent that carries a campaign on past the hour its siblings stopped at, not about one that starts again alone later', () => {
    const run = (a2Later: AgentEvent[]) => {
      const d = createMassSendDetector();
      const ctx = fakeContext();
      feed(d, ctx, history());
      // All three send 8 mails a minute; a1 and a3 stop after 60 minutes, a2 goes on 20 minutes more.
      const sends = [...mails('a1', 480, T3, HOUR), ...mails('a2', 640, T3 + 10 * SEC, HOUR + 20 * MIN), ...mails('a3', 480, T3 + 20 * SEC, HOUR), ...a2Later];
      return [...feed(d, ctx, sends.sort((x, y) => x.time - y.time)), ...advanceTo(d, ctx, T3 + 5 * HOUR)].filter((x) => x.evidence.threshold === 40 || x.severity === 'medium');
    };
    const carried = run([]);
    expect(carried.map((x) => [x.agent_id, x.severity])).toEqual([
      ['a3', 'low'],
      ['a1', 'low'],
      ['a2', 'low'],
    ]);
    // a2 alone, two hours after the campaign ended: medium.
    const alone = run(mails('a2', 80, T3 + 3 * HOUR + 30 * MIN, 6 * MIN));
    expect(alone.filter((x) => x.severity === 'medium').map((x) => x.agent_id)).toEqual(['a2']);
  });

  it('learns an agent that sends in bulk every hour (a mailing job) from its own history, and its peers from their busiest', () => {
    const d = createMassSendDetector();
    const ctx = fakeContext();
    // a1 sends 60 mails at the top of every hour for 4 hours.
    const job: AgentEvent[] = [];
    for (let h = 0; h < 4; h++) job.push(...mails('a1', 60, T0 + h * HOUR, 5 * MIN));
    const first = feed(d, ctx, job);
    // Its first run has no baseline at all (under 200): quiet; later runs are within its own peak.
    expect(first).toEqual([]);
    // a2, a new agent of the blueprint, sending 100 is within 10x the blueprint's peak (60).
    expect(feed(d, ctx, mails('a2', 100, T0 + 5 * HOUR, 5 * MIN))).toEqual([]);
  });

  it('survives snapshot and restore, and forgets idle agents', () => {
    const events = [...history(), ...mails('a2', 110, T3, 9 * MIN)];
    const { uninterrupted, restored } = runWithRestore(() => createMassSendDetector(), events, events.length - 100);
    expect(uninterrupted.map((x) => x.severity)).toEqual(['low', 'medium']);
    expect(restored).toEqual(uninterrupted);
    const d = createMassSendDetector();
    feed(d, fakeContext(), events);
    // a1 and a3 (2 mails at a time) are counted by a number each, a2 has its record, and the blueprint.
    expect(d.size()).toBe(4);
    d.evict(T3 + HOUR);
    expect(d.size()).toBe(0);
  });

  it('keeps a record only for agents that once send 8 within 10 minutes, and learns their peaks from then on', () => {
    const d = createMassSendDetector();
    const ctx = fakeContext();
    feed(d, ctx, [...history(), ...mails('a1', 7, T3, 5 * MIN)]);
    const snap = d.snapshot() as { agents: unknown[]; staged: unknown[] };
    expect(snap.agents).toEqual([]);
    expect(snap.staged).toHaveLength(3);
    // a1 sends 35 every hour for 3 hours (under the floor): its record (from its 8th send) learns 35; later 150 is within 10x, 420 is not.
    const after = (n: number) => {
      const d2 = createMassSendDetector();
      const ctx2 = fakeContext();
      const job: AgentEvent[] = [];
      for (let h = 1; h <= 3; h++) job.push(...mails('a1', 35, T3 + h * HOUR, 5 * MIN));
      feed(d2, ctx2, [...history(), ...job]);
      return [...feed(d2, ctx2, mails('a1', n, T3 + 5 * HOUR, 9 * MIN)), ...advanceTo(d2, ctx2, T3 + 7 * HOUR)].filter((x) => x.severity === 'medium');
    };
    expect(after(150)).toEqual([]);
    const caught = after(420);
    expect(caught).toHaveLength(1);
    // 10x its peak of 35 (decayed a little with its 3-day half-life).
    expect(caught[0]!.evidence.threshold).toBeGreaterThanOrEqual(345);
    expect(caught[0]!.evidence.threshold).toBeLessThanOrEqual(350);
  });
});

// RiskView: latest-wins application in any order, unknown agents, tenant
// isolation, bounded entries, and rebuild from a real embedded ClickHouse
// (the view rebuilt from the store equals the view built by live changes).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import type { RiskLevel } from '../../contract/events.js';
import type { RiskChange, RiskReason, RiskState } from '../../detectors/types.js';
import { DetectionPipeline } from '../../detectors/pipeline.js';
import { generateDataset } from '../../fixtures/generator.js';
import { RiskView, type AgentRiskAnswer } from '../../publish/risk-view.js';
import { LedgerWriter } from '../../store/ledger-writer.js';
import { latestRiskPerAgent } from '../../store/risk-queries.js';
import { openMigrated } from '../store/helpers.js';

const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);

let seq = 0;
function change(o: Partial<RiskChange> & { seq?: number } = {}): RiskChange {
  const tenant = o.tenant_id ?? 't1';
  const agent = o.agent_id ?? 'a1';
  const time = o.time ?? T0;
  const s = o.seq ?? ++seq;
  const level: RiskLevel = o.level ?? 'medium';
  return {
    tenant_id: tenant,
    agent_id: agent,
    time,
    level,
    previous_level: o.previous_level ?? 'none',
    score: o.score ?? 0.6,
    state: o.state ?? ('atRisk' as RiskState),
    reasons: o.reasons ?? [{ detector: 'unfamiliar-resource', severity: 'medium', summary: `level ${level} at ${time}` }],
    change_id: o.change_id ?? `${tenant}/${agent}/${time}/${s}`,
  };
}

const reasons = (n: number): RiskReason[] =>
  Array.from({ length: n }, (_, i) => ({ detector: `d${i}`, severity: 'low' as const, summary: `reason ${i}` }));

function viewEntries(view: RiskView): Map<string, AgentRiskAnswer> {
  const out = new Map<string, AgentRiskAnswer>();
  for (const [tenant, agent, answer] of view.entries()) out.set(`${tenant}\u0000${agent}`, answer);
  return out;
}

describe('RiskView (in memory)', () => {
  it('answers the latest change by time, ignoring older ones whatever the order they come in', () => {
    const view = new RiskView();
    const early = change({ time: T0, level: 'low', score: 0.28 });
    const late = change({ time: T0 + 60_000, level: 'high', score: 0.9 });
    expect(view.apply([late, early])).toBe(1);
    expect(view.get('t1', 'a1')).toMatchObject({ agent_id: 'a1', level: 'high', score: 0.9, updated_at: new Date(T0 + 60_000).toISOString() });
    expect(view.stats.ignoredOlder).toBe(1);
    const later = change({ time: T0 + 120_000, level: 'none', score: 0.1, state: 'dismissed' });
    view.apply([later]);
    expect(view.get('t1', 'a1')).toMatchObject({ level: 'none', state: 'dismissed' });
    expect(view.size).toBe(1);
  });

  it('orders changes of the same millisecond by their numeric sequence (10 after 9)', () => {
    const view = new RiskView();
    const nine = change({ time: T0, seq: 9, level: 'medium' });
    const ten = change({ time: T0, seq: 10, level: 'high' });
    view.apply([ten, nine]);
    expect(view.get('t1', 'a1').level).toBe('high');
    // The same change applied twice is harmless.
    view.apply([ten]);
    expect(view.get('t1', 'a1').level).toBe('high');
  });

  it('answers level none, state none, score 0, updated_at null and no reasons for an unknown agent', () => {
    const view = new RiskView();
    expect(view.has('t1', 'nobody')).toBe(false);
    expect(view.get('t1', 'nobody')).toEqual({ agent_id: 'nobody', level: 'none', state: 'none', score: 0, updated_at: null, reasons: [] });
    expect(JSON.parse(view.json('t1', 'we"ird\\id'))).toEqual({ agent_id: 'we"ird\\id', level: 'none', state: 'none', score: 0, updated_at: null, reasons: [] });
  });

  it('keeps tenants apart: the same agent id in two tenants has two answers', () => {
    const view = new RiskView();
    view.apply([change({ tenant_id: 'A', agent_id: 'shared', level: 'low' }), change({ tenant_id: 'B', agent_id: 'shared', level: 'high' })]);
    expect(view.get('A', 'shared').level).toBe('low');
    expect(view.get('B', 'shared').level).toBe('high');
    expect(view.get('C', 'shared').level).toBe('none');
    expect(JSON.parse(view.json('A', 'shared')).level).toBe('low');
  });

  it('keeps the top 3 reasons, in order, and cuts very long summaries', () => {
    const view = new RiskView({ maxSummaryChars: 50 });
    const long = { detector: 'x', severity: 'high' as const, summary: 'y'.repeat(500) };
    view.apply([change({ reasons: [long, ...reasons(4)] })]);
    const answer = view.get('t1', 'a1');
    expect(answer.reasons.map((r) => r.detector)).toEqual(['x', 'd0', 'd1']);
    expect(answer.reasons[0]!.summary).toHaveLength(50);
    expect(answer.reasons[0]!.summary.endsWith('...')).toBe(true);
    expect(Object.keys(answer.reasons[1]!).sort()).toEqual(['detector', 'severity', 'summary']);
  });

  it('stores text beyond Latin-1 as JSON escapes that parse back to the same text', () => {
    const view = new RiskView();
    const summary = 'scope User.Read → Directory.ReadWrite.All 🚨 × 3';
    view.apply([change({ agent_id: 'agent→1', reasons: [{ detector: 'scope-escalation', severity: 'high', summary }] })]);
    const json = view.json('t1', 'agent→1');
    expect(json).not.toMatch(/[^\u0000-\u00ff]/);
    expect(JSON.parse(json)).toMatchObject({ agent_id: 'agent→1', reasons: [{ summary }] });
  });

  it('serialises exactly the answer object; the batch keeps the order of the ids', () => {
    const view = new RiskView();
    view.apply([change({ agent_id: 'a1', level: 'high' }), change({ agent_id: 'a2', level: 'low' })]);
    expect(JSON.parse(view.json('t1', 'a1'))).toEqual(view.get('t1', 'a1'));
    const batch = JSON.parse(view.jsonMany('t1', ['a2', 'zz', 'a1'])) as { agents: AgentRiskAnswer[] };
    expect(batch.agents.map((a) => [a.agent_id, a.level])).toEqual([
      ['a2', 'low'],
      ['zz', 'none'],
      ['a1', 'high'],
    ]);
    expect(view.getMany('t1', ['a2', 'zz', 'a1'])).toEqual(batch.agents);
  });

  it('is bounded: past maxEntries, new agents at level none are not stored, risky ones always are', () => {
    const view = new RiskView({ maxEntries: 2 });
    view.apply([change({ agent_id: 'a1' }), change({ agent_id: 'a2' })]);
    view.apply([change({ agent_id: 'quiet', level: 'none', score: 0 }), change({ agent_id: 'risky', level: 'high' })]);
    expect(view.has('t1', 'quiet')).toBe(false);
    expect(view.get('t1', 'quiet').level).toBe('none');
    expect(view.get('t1', 'risky').level).toBe('high');
    expect(view.stats.droppedWhenFull).toBe(1);
    // An agent already held is still updated, to none too.
    view.apply([change({ agent_id: 'a1', time: T0 + 1000, level: 'none', score: 0 })]);
    expect(view.get('t1', 'a1').level).toBe('none');
  });
});

describe('RiskView.rebuild from the embedded ClickHouse store', () => {
  let client: ClickHouseClient;
  let liveChanges: RiskChange[];

  beforeAll(async () => {
    client = await openMigrated('risk_view_rebuild');
    // Real risk changes: a generated fleet with attacks through the real detection pipeline.
    const dataset = generateDataset({
      seed: 5,
      start: Date.UTC(2025, 2, 3, 6),
      durationMs: 8 * 3_600_000,
      tenants: 2,
      blueprintsPerTenant: 5,
      agentsPerBlueprint: 20,
      attacksPerScenario: 1,
      benignPerScenario: 1,
    });
    const pipeline = new DetectionPipeline();
    liveChanges = [];
    for (const e of dataset.events) for (const c of pipeline.process(e).riskChanges) liveChanges.push(c);
    // Edge cases: same agent id in both tenants, two changes in one millisecond (sequences 9 and 10).
    liveChanges.push(
      change({ tenant_id: 'edge-A', agent_id: 'same', time: T0, seq: 9, level: 'medium' }),
      change({ tenant_id: 'edge-A', agent_id: 'same', time: T0, seq: 10, level: 'high', reasons: reasons(5) }),
      change({ tenant_id: 'edge-B', agent_id: 'same', time: T0 - 1, seq: 1, level: 'low', score: 0.123456789012345 }),
    );
    const writer = new LedgerWriter(client);
    const batchSize = 50;
    for (let i = 0; i < liveChanges.length; i += batchSize) {
      await writer.writeBatch({ token: `rv-test:${i}`, riskChanges: liveChanges.slice(i, i + batchSize) });
    }
    // A redelivered batch under another token: stored twice, still one latest per agent.
    await writer.writeBatch({ token: 'rv-test:again', riskChanges: liveChanges.slice(0, batchSize) });
  });

  afterAll(async () => {
    await client?.close();
  });

  it('has real material: many agents, several changes for some', () => {
    expect(liveChanges.length).toBeGreaterThan(20);
    const perAgent = new Map<string, number>();
    for (const c of liveChanges) perAgent.set(`${c.tenant_id}/${c.agent_id}`, (perAgent.get(`${c.tenant_id}/${c.agent_id}`) ?? 0) + 1);
    expect([...perAgent.values()].some((n) => n > 1)).toBe(true);
  });

  it('yields the same view as applying the changes live (in order, or shuffled)', async () => {
    const live = new RiskView();
    live.apply(liveChanges);
    const shuffled = new RiskView();
    shuffled.apply([...liveChanges].reverse());

    const rebuilt = new RiskView();
    const rows = await rebuilt.rebuild(client);
    expect(rows).toBe(live.size);
    expect(viewEntries(rebuilt)).toEqual(viewEntries(live));
    expect(viewEntries(shuffled)).toEqual(viewEntries(live));
    expect(rebuilt.get('edge-A', 'same').level).toBe('high');
    expect(rebuilt.get('edge-B', 'same')).toMatchObject({ level: 'low', score: 0.123456789012345 });
    expect(rebuilt.json('edge-A', 'same')).toBe(live.json('edge-A', 'same'));
  });

  it('merges: a newer change applied live is kept when the rebuild brings an older one', async () => {
    const view = new RiskView();
    view.apply([change({ tenant_id: 'edge-A', agent_id: 'same', time: T0 + 3_600_000, seq: 11, level: 'none', state: 'confirmedSafe' })]);
    await view.rebuild(client);
    expect(view.get('edge-A', 'same')).toMatchObject({ level: 'none', state: 'confirmedSafe' });
  });

  it('reads one tenant only when asked, with query parameters', async () => {
    const rows = [];
    for await (const r of latestRiskPerAgent(client, { tenant_id: "edge-B' OR 1=1 --" })) rows.push(r);
    expect(rows).toEqual([]);
    for await (const r of latestRiskPerAgent(client, { tenant_id: 'edge-B' })) rows.push(r);
    expect(rows.map((r) => [r.tenant_id, r.agent_id, r.level])).toEqual([['edge-B', 'same', 'low']]);
  });
});

import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../contract/events.js';
import type { Detector, DetectorContext } from '../../detectors/detector.js';
import { DetectionPipeline } from '../../detectors/pipeline.js';
import { createCatalogue, DETECTOR_IDS } from '../../detectors/catalogue.js';
import { createRiskyUserSigninDetector } from '../../detectors/risky-user-signin.js';
import { createImpossibleTravelDetector } from '../../detectors/impossible-travel.js';
import type { Detection } from '../../detectors/types.js';
import { MIN, SEC, T0, lifecycle, mixedStream, network, resetIds, signin, token, userRisk, warmup } from './core-helpers.js';

beforeEach(() => resetIds());

/** A detector that records what it sees and fires on events whose resource is `https://fire`. */
function probe() {
  const seen: { id: string; watermark: number; agent: unknown; prev: number | undefined }[] = [];
  const advances: number[] = [];
  const d: Detector = {
    meta: { id: 'probe', title: 'probe', severity: 'high', description: 'test probe' },
    observe(e: AgentEvent, ctx: DetectorContext): Detection[] {
      const agent = e.type === 'user_risk' ? undefined : ctx.agent(e.tenant_id, e.agent_id);
      const prev = e.type === 'user_risk' ? undefined : ctx.previousLastSeen(e.tenant_id, e.agent_id);
      seen.push({ id: e.event_id, watermark: ctx.watermark(), agent: agent && { ...agent }, prev });
      if (e.type === 'signin' && e.resource === 'https://fire') {
        return [{ detector: 'probe', severity: 'high', tenant_id: e.tenant_id, agent_id: e.agent_id, time: e.time, summary: 'boom', evidence: { observed: 1, baseline: 0, threshold: 1, peer_group: null }, event_ids: [e.event_id] }];
      }
      return [];
    },
    advance(watermark: number): Detection[] {
      advances.push(watermark);
      return [];
    },
    evict() {},
    size: () => seen.length,
    snapshot: () => ({}),
    restore() {},
  };
  return { d, seen, advances };
}

describe('DetectionPipeline', () => {
  it('runs the full catalogue by default, in id order', () => {
    const p = new DetectionPipeline();
    expect(p.detectors.map((d) => d.meta.id)).toEqual([...DETECTOR_IDS]);
    for (const d of createCatalogue()) {
      expect(d.meta.title.length).toBeGreaterThan(0);
      expect(['low', 'medium', 'high']).toContain(d.meta.severity);
    }
  });

  it('returns an event\'s detections and the risk changes they cause', () => {
    const { d } = probe();
    const p = new DetectionPipeline({ detectors: [d] });
    expect(p.process(signin({ time: T0 }))).toEqual({ detections: [], riskChanges: [] });
    const out = p.process(signin({ time: T0 + SEC, resource: 'https://fire' }));
    expect(out.detections.map((x) => x.detector)).toEqual(['probe']);
    expect(out.riskChanges).toMatchObject([{ level: 'high', previous_level: 'none', state: 'atRisk' }]);
    expect(p.risk('t1', 'a1')).toMatchObject({ level: 'high', state: 'atRisk' });
    expect(p.level('t1', 'a1')).toBe('high');
    expect([...p.risks()].map((r) => r.agent_id)).toEqual(['a1']);
  });

  it('maintains the agent directory before detectors see the event', () => {
    const { d, seen } = probe();
    const p = new DetectionPipeline({ detectors: [d] });
    p.processBatch([
      lifecycle({ action: 'created', sponsor_id: 'alice', time: T0, blueprint_id: 'bp9' }),
      lifecycle({ action: 'credential_added', credential_id: 'c2', actor: 'alice', time: T0 + SEC }),
      signin({ time: T0 + 2 * SEC, blueprint_id: null }),
      lifecycle({ action: 'sponsor_removed', sponsor_id: 'alice', time: T0 + 3 * SEC }),
    ]);
    expect(seen[0]!.agent).toMatchObject({ agent_id: 'a1', blueprint_id: 'bp9', created_seen: true, sponsors: ['alice'], first_seen: T0 });
    expect(seen[0]!.prev).toBeUndefined();
    expect(seen[1]!.agent).toMatchObject({ credentials_added: [{ credential_id: 'c2', actor: 'alice', time: T0 + SEC }] });
    expect(seen[2]!.agent).toMatchObject({ blueprint_id: 'bp9', last_seen: T0 + 2 * SEC });
    expect(seen[2]!.prev).toBe(T0 + SEC);
    expect(seen[3]!.agent).toMatchObject({ sponsors: [] });
  });

  it('keeps a watermark 60 s behind the latest event time and advances detectors every 10 s of it', () => {
    const { d, seen, advances } = probe();
    const p = new DetectionPipeline({ detectors: [d] });
    p.processBatch([signin({ time: T0 }), signin({ time: T0 + 25 * SEC }), signin({ time: T0 - 30 * SEC }), signin({ time: T0 + 61 * SEC })]);
    expect(seen.map((s) => s.watermark - T0)).toEqual([-60_000, -35_000, -35_000, 1_000]);
    expect(p.watermark()).toBe(T0 + SEC);
    expect(advances.map((w) => w - T0)).toEqual([-35_000, 1_000]);
    expect(p.stats().lateEvents).toBe(0);
    p.process(signin({ time: T0 - 5 * MIN }));
    expect(p.stats().lateEvents).toBe(1);
  });

  it('tells the directory who is at risk: a sponsor appointed by a user at high risk vouches for nothing', () => {
    const p = new DetectionPipeline({ detectors: [] });
    p.process(lifecycle({ agent_id: 'a1', action: 'created', sponsor_id: 'alice', actor: 'admin', time: T0 }));
    p.process(userRisk({ user_id: 'helpdesk', level: 'high', time: T0 + SEC }));
    p.process(lifecycle({ agent_id: 'a1', action: 'sponsor_added', sponsor_id: 'mallory', actor: 'helpdesk', time: T0 + 2 * SEC }));
    p.process(lifecycle({ agent_id: 'a1', action: 'sponsor_added', sponsor_id: 'carol', actor: 'admin', time: T0 + 3 * SEC }));
    expect(p.context.agent('t1', 'a1')).toMatchObject({ sponsors: ['alice', 'mallory', 'carol'], self_sponsored: ['mallory'] });
  });

  it('tracks user risk (latest by event time) for detectors, and drops inherited risk on remediation', () => {
    const p = new DetectionPipeline({ detectors: [createRiskyUserSigninDetector()] });
    p.process(userRisk({ level: 'high', time: T0 }));
    p.process(userRisk({ level: 'low', time: T0 - 10 * SEC })); // older: ignored
    expect(p.userRisk('t1', 'u1')).toBe('high');
    const out = p.process(signin({ flow: 'on_behalf_of', user_id: 'u1', time: T0 + SEC }));
    expect(out.detections).toHaveLength(1);
    expect(out.riskChanges).toMatchObject([{ level: 'high', previous_level: 'none' }]);
    const drop = p.process(userRisk({ level: 'none', time: T0 + 2 * MIN }));
    expect(drop.riskChanges).toMatchObject([{ agent_id: 'a1', level: 'none', previous_level: 'high', state: 'remediated' }]);
    expect(p.userRisk('t1', 'u1')).toBe('none');
  });

  it('applies admin actions', () => {
    const p = new DetectionPipeline({ detectors: [createImpossibleTravelDetector()] });
    const c = p.applyAdminAction({ action_id: 'x', tenant_id: 't1', agent_id: 'a1', action: 'confirm_compromised', actor: 'soc', reason: 'seen', time: T0 });
    expect(c).toMatchObject({ level: 'high', state: 'confirmedCompromised' });
    expect(p.risk('t1', 'a1')!.level).toBe('high');
  });

  it('reports stats: events, tracked agents, keys per detector', () => {
    const p = new DetectionPipeline();
    p.processBatch(warmup({ agents: ['a1', 'a2', 'a3'], durationMs: 5 * MIN }));
    p.process(network({ agent_id: 'a9' }));
    const s = p.stats();
    expect(s.events).toBe(16);
    expect(s.trackedAgents).toBe(4);
    expect(s.keysPerDetector['signin-spike']).toBeGreaterThanOrEqual(3);
    expect(Object.keys(s.keysPerDetector)).toEqual([...DETECTOR_IDS]);
  });

  it('evicts idle state after the idle horizon (event time)', () => {
    const p = new DetectionPipeline({ idleHorizonMs: 30 * MIN, evictEveryMs: 10 * MIN });
    p.processBatch(warmup({ agents: ['old1', 'old2'], durationMs: 2 * MIN }));
    p.processBatch(warmup({ agents: ['new1'], start: T0 + 3 * 3600_000, durationMs: 2 * MIN }));
    expect(p.stats().trackedAgents).toBe(1);
    // new1 and its blueprint, and the tenant's two resources new1 used (old1 and old2 are gone).
    expect(p.stats().keysPerDetector['unfamiliar-resource']).toBeLessThanOrEqual(4);
  });

  it('is deterministic and batch processing equals event-by-event processing', () => {
    const events = mixedStream();
    const a = new DetectionPipeline().processBatch(events);
    const b = new DetectionPipeline();
    const one = { detections: [] as Detection[], riskChanges: [] as unknown[] };
    for (const e of events) {
      const o = b.process(e);
      one.detections.push(...o.detections);
      one.riskChanges.push(...o.riskChanges);
    }
    expect(a.detections.length).toBeGreaterThan(3);
    expect(JSON.stringify(one)).toBe(JSON.stringify(a));
  });

  it('restores a JSON snapshot of the whole pipeline and continues exactly as the uninterrupted one', () => {
    const events = mixedStream();
    const split = Math.floor(events.length * 0.6);
    const a = new DetectionPipeline();
    a.processBatch(events.slice(0, split));
    const snap = JSON.parse(JSON.stringify(a.snapshot()));
    const b = new DetectionPipeline();
    b.restore(snap);
    const ra = a.processBatch(events.slice(split));
    const rb = b.processBatch(events.slice(split));
    expect(ra.detections.length + ra.riskChanges.length).toBeGreaterThan(0);
    expect(JSON.stringify(rb)).toBe(JSON.stringify(ra));
    expect(b.stats()).toEqual(a.stats());
  });

  it('takes the same snapshot a part at a time, pausing between parts', async () => {
    const events = mixedStream();
    const p = new DetectionPipeline();
    p.processBatch(events.slice(0, Math.floor(events.length * 0.6)));
    let pauses = 0;
    const inParts = await p.snapshotInParts(async () => {
      pauses++;
    });
    expect(JSON.stringify(inParts)).toBe(JSON.stringify(p.snapshot()));
    // After the directory, after the users and engine, after each detector.
    expect(pauses).toBe(2 + p.detectors.length);
  });

  it('settles what every detector keeps waiting at the end of a replay, and flush alone does not', () => {
    const agents = ['a1', 'a2', 'a3', 'a4'];
    const events: AgentEvent[] = [...warmup({ agents, durationMs: 40 * MIN })];
    // Token traffic: every agent gets a token each minute and calls with it from its own address.
    for (let m = 0; m < 40; m++) {
      for (const a of agents) {
        events.push(token({ agent_id: a, token_id: `w-${a}-${m}`, scopes: ['User.Read'], ip: '20.0.0.1', time: T0 + m * MIN + SEC }));
        events.push(network({ agent_id: a, token_id: `w-${a}-${m}`, ip: '20.0.0.1', time: T0 + m * MIN + 2 * SEC }));
      }
    }
    const end = T0 + 41 * MIN;
    events.push(
      // unfamiliar-resource: one resource nobody in the blueprint used (confirmed 10 min on);
      token({ agent_id: 'a1', token_id: 'kv', resource: 'https://keyvault-prod.vault.azure.net', scopes: ['User.Read'], ip: '20.0.0.1', time: end }),
      // scope-escalation: a sensitive scope the blueprint never used (judged 10 min on);
      token({ agent_id: 'a2', token_id: 'mail', scopes: ['User.Read', 'Mail.ReadWrite'], ip: '20.0.0.1', time: end }),
      // token-replay: a token we never saw, from a foreign address (waits 2 min for its token event);
      network({ agent_id: 'a3', token_id: 'unknown', ip: '185.220.101.7', time: end + SEC }),
      // orphaned-agent: created without a sponsor (2 min of grace).
      lifecycle({ agent_id: 'orphan', action: 'created', sponsor_id: null, time: end + 2 * SEC }),
    );
    const flushed = new DetectionPipeline();
    const a = flushed.processBatch(events);
    flushed.flush(a);
    const settled = new DetectionPipeline();
    const b = settled.processBatch(events);
    settled.flush(b);
    const before = b.detections.length;
    settled.settle(b);
    expect(a.detections.length).toBe(before);
    const late = b.detections.slice(before).map((d) => [d.detector, d.agent_id, d.severity, d.time - end]);
    expect(late).toEqual(
      expect.arrayContaining([
        ['unfamiliar-resource', 'a1', 'medium', 10 * MIN],
        ['scope-escalation', 'a2', 'medium', 10 * MIN],
        ['token-replay', 'a3', 'high', 2 * MIN + SEC],
        ['orphaned-agent', 'orphan', 'low', 2 * MIN + 2 * SEC],
      ]),
    );
    expect(late).toHaveLength(4);
    // Settling twice decides nothing more.
    expect(settled.settle().detections).toEqual([]);
  });

  it('judges a redelivered event once: three failures delivered twice are three, not a burst of six', () => {
    const failures = [0, 1, 2].map((i) => signin({ agent_id: 'a1', result: 'failure', error_code: 'AADSTS7000215', ip: '203.0.113.9', time: T0 + 45 * MIN + i * 20 * SEC }));
    // At-least-once delivery: each record comes again a little later, with its event_id.
    const delivered: AgentEvent[] = [...warmup({ agents: ['a1', 'a2', 'a3', 'a4'], durationMs: 45 * MIN }), ...failures, ...failures.map((e) => ({ ...e }))];
    const p = new DetectionPipeline();
    const out = p.processBatch(delivered);
    p.flush(out);
    expect(out.detections.filter((d) => d.detector === 'failed-access')).toEqual([]);
    const stats = p.stats();
    expect(stats.duplicateEvents).toBe(3);
    expect(stats.events).toBe(delivered.length - 3);
    // The same delivery counted twice (deduplication off) is a burst: the check above can fail.
    const counting = new DetectionPipeline({ dedupe: false });
    const twice = counting.processBatch(delivered);
    expect(twice.detections.filter((d) => d.detector === 'failed-access').map((d) => d.severity)).toEqual(['medium']);
    expect(counting.stats().duplicateEvents).toBe(0);
  });

  it('takes the same event id in another tenant as another event', () => {
    const p = new DetectionPipeline();
    p.processBatch([signin({ agent_id: 'a1', event_id: 'same', tenant_id: 't1' }), signin({ agent_id: 'a1', event_id: 'same', tenant_id: 't2' })]);
    expect(p.stats()).toMatchObject({ events: 2, duplicateEvents: 0, trackedAgents: 2 });
  });
});

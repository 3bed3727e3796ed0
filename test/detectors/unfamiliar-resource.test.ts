import { beforeEach, describe, expect, it } from 'vitest';
import { createUnfamiliarResourceDetector } from '../../detectors/unfamiliar-resource.js';
import { MIN, T0, resetIds, run, signin, snapshotRoundTrip, token, warmup } from './core-helpers.js';

beforeEach(() => resetIds());

const AGENTS = ['a1', 'a2', 'a3', 'a4'];
const END = T0 + 40 * MIN;

describe('unfamiliar-resource', () => {
  it('fires (low) when an agent reaches a resource neither it nor its blueprint peers use', () => {
    const events = [...warmup({ agents: AGENTS }), token({ agent_id: 'a1', time: END, resource: 'https://keyvault-prod.vault.azure.net', event_id: 'bad' })];
    const { detections } = run([createUnfamiliarResourceDetector()], events);
    expect(detections).toHaveLength(1);
    const d = detections[0]!;
    expect(d.detector).toBe('unfamiliar-resource');
    expect(d.severity).toBe('low');
    expect(d.agent_id).toBe('a1');
    expect(d.event_ids).toEqual(['bad']);
    expect(d.evidence.observed).toMatchObject({ resource: 'https://keyvault-prod.vault.azure.net' });
    expect(d.evidence.peer_group).toBe('blueprint:bp1');
    expect(d.evidence.baseline).toMatchObject({ agent_baseline_ready: true, peer_baseline_ready: true });
    expect(d.summary).toContain('https://keyvault-prod.vault.azure.net');
  });

  it('treats a resource the blueprint peers use as familiar, even for a minutes-old agent', () => {
    const events = [
      ...warmup({ agents: AGENTS, resources: ['https://graph.microsoft.com', 'https://vault.azure.net', 'https://storage.azure.com'] }),
      signin({ agent_id: 'new-agent', credential_id: 'c-new', time: END, resource: 'https://storage.azure.com' }),
      signin({ agent_id: 'new-agent', credential_id: 'c-new', time: END + 1000, resource: 'https://vault.azure.net' }),
    ];
    expect(run([createUnfamiliarResourceDetector()], events).detections).toHaveLength(0);
  });

  it('judges a brand-new agent against its blueprint: a resource unknown to the peers fires', () => {
    const events = [...warmup({ agents: AGENTS }), signin({ agent_id: 'new-agent', time: END, resource: 'https://evil.example.com' })];
    const { detections } = run([createUnfamiliarResourceDetector()], events);
    expect(detections.map((d) => d.agent_id)).toEqual(['new-agent']);
    expect(detections[0]!.evidence.baseline).toMatchObject({ agent_baseline_ready: false, peer_baseline_ready: true });
  });

  it('treats several agents of the blueprint adopting the same new resource as a deployment', () => {
    const events = [...warmup({ agents: AGENTS })];
    const agents = ['a1', 'a2', 'a3', 'a4'];
    agents.forEach((a, i) => events.push(signin({ agent_id: a, credential_id: `cred-${a}`, time: END + i * MIN, resource: 'https://new-api.contoso.com' })));
    events.push(signin({ agent_id: 'late-agent', time: END + 10 * MIN, resource: 'https://new-api.contoso.com' }));
    const { detections } = run([createUnfamiliarResourceDetector()], events);
    // The first adopters cannot know yet; from the third on it is a deployment, and then familiar to everyone.
    expect(detections.map((d) => d.agent_id)).toEqual(['a1', 'a2']);
  });

  it('does not fire while neither the agent nor its blueprint has a baseline (learning)', () => {
    const events = [
      signin({ agent_id: 'x1', blueprint_id: 'fresh-bp', time: T0 }),
      signin({ agent_id: 'x1', blueprint_id: 'fresh-bp', time: T0 + MIN, resource: 'https://other.example.com' }),
      token({ agent_id: 'x1', blueprint_id: 'fresh-bp', time: T0 + 2 * MIN, resource: 'https://third.example.com' }),
    ];
    expect(run([createUnfamiliarResourceDetector()], events).detections).toHaveLength(0);
  });

  it('counts a refused attempt at an unfamiliar resource once; ignores transient failures and blocked tokens', () => {
    const events = [
      ...warmup({ agents: AGENTS }),
      signin({ agent_id: 'a1', time: END, resource: 'https://evil.example.com', result: 'failure', error_code: 'AADSTS65001', event_id: 'refused' }),
      signin({ agent_id: 'a1', time: END + 1000, resource: 'https://evil.example.com', result: 'failure', error_code: 'AADSTS65001' }),
      signin({ agent_id: 'a2', time: END, resource: 'https://flaky.example.com', result: 'failure', error_code: 'temporarily_unavailable' }),
      token({ agent_id: 'a3', time: END, resource: 'https://evil2.example.com', decision: 'blocked' }),
    ];
    const { detections } = run([createUnfamiliarResourceDetector()], events);
    expect(detections.map((d) => [d.agent_id, d.severity, d.event_ids[0]])).toEqual([['a1', 'low', 'refused']]);
    expect(detections[0]!.evidence.observed).toMatchObject({ result: 'refused' });
    expect(detections[0]!.summary).toContain('refused');
  });

  it('raises to medium on a second unfamiliar resource within minutes, once per resource', () => {
    const events = [...warmup({ agents: AGENTS })];
    for (let i = 0; i < 3; i++) events.push(token({ agent_id: 'a1', time: END + i * MIN, resource: `https://probe-${i}.example.com` }));
    events.push(token({ agent_id: 'a1', time: END + 4 * MIN, resource: 'https://probe-0.example.com' }));
    const { detections } = run([createUnfamiliarResourceDetector()], events);
    expect(detections.map((d) => d.severity)).toEqual(['low', 'medium', 'medium']);
  });

  it('raises to medium on slow discovery (a new resource every 11 minutes), not on two 40 minutes apart', () => {
    const slow = [...warmup({ agents: AGENTS })];
    for (let i = 0; i < 3; i++) slow.push(token({ agent_id: 'a1', time: END + i * 11 * MIN, resource: `https://probe-${i}.example.com` }));
    expect(run([createUnfamiliarResourceDetector()], slow).detections.map((d) => d.severity)).toEqual(['low', 'medium', 'medium']);
    const apart = [...warmup({ agents: AGENTS })];
    for (let i = 0; i < 2; i++) apart.push(token({ agent_id: 'a1', time: END + i * 40 * MIN, resource: `https://probe-${i}.example.com` }));
    expect(run([createUnfamiliarResourceDetector()], apart).detections.map((d) => d.severity)).toEqual(['low', 'low']);
  });

  it('keeps tenants apart: the same agent and blueprint ids in another tenant have their own baseline', () => {
    const events = [
      ...warmup({ agents: AGENTS }),
      ...warmup({ agents: AGENTS, tenant: 't2', resources: ['https://other-tenant-api.example.com'] }),
      signin({ tenant_id: 't2', agent_id: 'a1', time: END, resource: 'https://graph.microsoft.com' }),
    ];
    const { detections } = run([createUnfamiliarResourceDetector()], events);
    expect(detections).toHaveLength(1);
    expect(detections[0]!.tenant_id).toBe('t2');
  });

  it('restores a snapshot and gives the same detections as the uninterrupted detector', () => {
    const events = [...warmup({ agents: AGENTS })];
    for (let i = 0; i < 4; i++) events.push(token({ agent_id: `a${i + 1}`, time: END + i * MIN, resource: `https://r${i % 2}.example.com` }));
    const { uninterrupted, restored } = snapshotRoundTrip(createUnfamiliarResourceDetector, events, 100);
    expect(uninterrupted.length).toBeGreaterThan(0);
    expect(restored).toEqual(uninterrupted);
  });
});

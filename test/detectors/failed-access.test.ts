import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../contract/events.js';
import { classifyFailure, createFailedAccessDetector } from '../../detectors/failed-access.js';
import { MIN, SEC, T0, resetIds, run, signin, snapshotRoundTrip } from './core-helpers.js';

beforeEach(() => resetIds());

function failures(n: number, o: Parameters<typeof signin>[0], start = T0, every = 10 * SEC): AgentEvent[] {
  return Array.from({ length: n }, (_, i) => signin({ result: 'failure', time: start + i * every, ...o }));
}

describe('failed-access', () => {
  it('classifies Entra error codes', () => {
    expect(classifyFailure('AADSTS7000215')).toBe('credential');
    expect(classifyFailure('AADSTS700027')).toBe('credential');
    expect(classifyFailure('AADSTS7000222')).toBe('expired');
    expect(classifyFailure('AADSTS500011')).toBe('resource');
    expect(classifyFailure('AADSTS65001')).toBe('resource');
    expect(classifyFailure('AADSTS50105')).toBe('resource');
    expect(classifyFailure('AADSTS90094')).toBe('resource');
    expect(classifyFailure('AADSTS50196')).toBe('transient');
    expect(classifyFailure('AADSTS90033')).toBe('transient');
    expect(classifyFailure('temporarily_unavailable')).toBe('transient');
    expect(classifyFailure('invalid_client')).toBe('credential');
    expect(classifyFailure('access_denied')).toBe('resource');
    expect(classifyFailure('AADSTS12345')).toBe('other');
  });

  it('fires (medium) on a burst of invalid-credential failures', () => {
    const { detections } = run([createFailedAccessDetector()], failures(6, { error_code: 'AADSTS7000215', ip: '203.0.113.9' }));
    expect(detections).toHaveLength(1);
    const d = detections[0]!;
    expect(d.detector).toBe('failed-access');
    expect(d.severity).toBe('medium');
    expect(d.evidence.threshold).toBe(5);
    expect(d.evidence.observed).toMatchObject({ credential_failures: 5 });
    expect(d.event_ids).toHaveLength(5);
    expect(d.summary).toContain('invalid-credential');
  });

  it('fires low on refused resources, medium when several resources are probed', () => {
    const one = run([createFailedAccessDetector()], failures(5, { error_code: 'AADSTS65001', resource: 'https://vault.azure.net' }));
    expect(one.detections.map((d) => d.severity)).toEqual(['low']);
    const many = ['https://a.example', 'https://b.example', 'https://c.example', 'https://d.example'].map((resource, i) =>
      signin({ result: 'failure', error_code: 'AADSTS500011', resource, time: T0 + i * SEC }),
    );
    const r = run([createFailedAccessDetector()], many);
    expect(r.detections.map((d) => d.severity)).toEqual(['low', 'medium']);
    expect(r.detections[1]!.evidence.observed).toMatchObject({ distinct_resources: 4 });
  });

  it('never fires on transient failures, nor on isolated failures', () => {
    const transient = failures(50, { error_code: 'temporarily_unavailable' }, T0, SEC);
    const isolated = [0, 20, 40, 60].map((m) => signin({ result: 'failure', error_code: 'AADSTS7000215', time: T0 + m * MIN }));
    expect(run([createFailedAccessDetector()], [...transient, ...failures(20, { error_code: 'AADSTS50196' }), ...isolated]).detections).toHaveLength(0);
  });

  it('treats an expired secret retried at a normal pace as the owner failing, not an attack', () => {
    const retries = failures(12, { error_code: 'AADSTS7000222' }, T0, 2 * MIN);
    expect(run([createFailedAccessDetector()], retries).detections).toHaveLength(0);
    // A fast retry loop is still noticed, as low.
    const loop = run([createFailedAccessDetector()], failures(12, { error_code: 'AADSTS7000222' }, T0, 5 * SEC));
    expect(loop.detections.map((d) => d.severity)).toEqual(['low']);
  });

  it('counts only failures within the window', () => {
    const slow = failures(8, { error_code: 'AADSTS7000215' }, T0, 2 * MIN);
    expect(run([createFailedAccessDetector()], slow).detections).toHaveLength(0);
  });

  it('gives every target of a credential spray from one IP a low detection, and a success from it a medium one', () => {
    const events: AgentEvent[] = [];
    for (let i = 0; i < 7; i++) {
      events.push(signin({ agent_id: `victim-${i}`, result: 'failure', error_code: 'AADSTS7000215', ip: '198.51.100.7', time: T0 + i * 20 * SEC }));
    }
    events.push(signin({ agent_id: 'victim-2', ip: '198.51.100.7', time: T0 + 5 * MIN, event_id: 'win' }));
    events.push(signin({ agent_id: 'bystander', ip: '198.51.100.7', time: T0 + 5 * MIN }));
    const { detections, pipeline } = run([createFailedAccessDetector()], events);
    const spray = detections.filter((d) => d.severity === 'low');
    expect(spray.map((d) => d.agent_id).sort()).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `victim-${i}`));
    expect(spray[0]!.evidence.observed).toMatchObject({ ip: '198.51.100.7' });
    const success = detections.filter((d) => d.severity === 'medium');
    expect(success.map((d) => d.agent_id)).toEqual(['victim-2']);
    expect(success[0]!.event_ids).toContain('win');
    // Each target reaches at least low in the engine.
    for (let i = 0; i < 7; i++) expect(pipeline.level('t1', `victim-${i}`)).not.toBe('none');
  });

  it('does not take failures in another tenant from the same IP as part of the spray', () => {
    const events: AgentEvent[] = [];
    for (let i = 0; i < 4; i++) {
      events.push(signin({ tenant_id: 't1', agent_id: `v${i}`, result: 'failure', error_code: 'AADSTS7000215', ip: '198.51.100.7', time: T0 + i * SEC }));
      events.push(signin({ tenant_id: 't2', agent_id: `w${i}`, result: 'failure', error_code: 'AADSTS7000215', ip: '198.51.100.7', time: T0 + i * SEC }));
    }
    expect(run([createFailedAccessDetector()], events).detections).toHaveLength(0);
  });

  it('restores a snapshot and gives the same detections as the uninterrupted detector', () => {
    const events: AgentEvent[] = [];
    for (let i = 0; i < 8; i++) events.push(signin({ agent_id: `v${i}`, result: 'failure', error_code: 'AADSTS7000215', ip: '198.51.100.7', time: T0 + i * SEC }));
    events.push(...failures(6, { agent_id: 'v1', error_code: 'AADSTS7000215' }, T0 + 10 * SEC, SEC));
    const { uninterrupted, restored } = snapshotRoundTrip(createFailedAccessDetector, events, 3);
    expect(uninterrupted.length).toBeGreaterThan(5);
    expect(restored).toEqual(uninterrupted);
  });
});

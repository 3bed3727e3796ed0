import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../contract/events.js';
import { net24, classifyFailure, createFailedAccessDetector, normaliseErrorCode, spraySource } from '../../detectors/failed-access.js';
import { HOUR, MIN, SEC, T0, lifecycle, network, resetIds, run, signin, snapshotRoundTrip, token } from './core-helpers.js';

beforeEach(() => resetIds());

function failures(n: number, o: Parameters<typeof signin>[0], start = T0, every = 10 * SEC): AgentEvent[] {
  return Array.from({ length: n }, (_, i) => signin({ result: 'failure', time: start + i * every, ...o }));
}

describe('failed-access', () => {
  it('classifies Entra error codes', () => {
    expect(classifyFailure('AADSTS7000215')).toBe('credential');
    expect(classifyFailure('AADSTS700027')).toBe('credential');
    expect(classifyFailure('AADSTS7000222')).toBe('expired');
    // A client assertion outside its validity window: the holder's clock, not a guess.
    expect(classifyFailure('AADSTS700024')).toBe('expired');
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

  it('reads error codes however the source writes them: numeric, any case, or a description that starts with the code', () => {
    expect(normaliseErrorCode('7000215')).toBe('AADSTS7000215');
    expect(normaliseErrorCode('aadsts700027')).toBe('AADSTS700027');
    expect(normaliseErrorCode('AADSTS7000215: Invalid client secret provided.')).toBe('AADSTS7000215');
    expect(normaliseErrorCode(' invalid_client ')).toBe('INVALID_CLIENT');
    expect(classifyFailure('7000215')).toBe('credential');
    expect(classifyFailure('700027')).toBe('credential');
    expect(classifyFailure('7000222')).toBe('expired');
    expect(classifyFailure('500011')).toBe('resource');
    expect(classifyFailure('50196')).toBe('transient');
    // Forged assertions and federated credentials matching no federated identity record.
    for (const code of ['AADSTS50012', 'AADSTS50013', 'AADSTS50027', 'AADSTS700212', 'AADSTS700213']) expect(classifyFailure(code)).toBe('credential');
    // A short number is not an Entra code (HTTP statuses stay what they were).
    expect(classifyFailure('429')).toBe('transient');
  });

  it('fires (medium) on a burst of invalid-credential failures written as numeric codes', () => {
    const events = failures(9, { error_code: '7000215', ip: '203.0.113.9' }, T0, 25 * SEC);
    const { detections } = run([createFailedAccessDetector()], events);
    expect(detections.map((d) => d.severity)).toEqual(['medium']);
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

  it('takes failures presenting a credential added minutes before as the rotation not yet replicated, not as guessing or a spray', () => {
    const rotation = (agent: string, start: number, credential: string | null): AgentEvent[] => [
      lifecycle({ agent_id: agent, action: 'credential_added', credential_id: 'new-secret', time: start }),
      ...failures(3, { agent_id: agent, error_code: 'AADSTS7000215', ip: '20.50.7.251', credential_id: credential }, start + 15 * SEC, 25 * SEC),
    ];
    const events: AgentEvent[] = [];
    // Eight pods behind one NAT address restart with the new secret 20 s apart.
    for (let i = 0; i < 8; i++) events.push(...rotation(`pod-${i}`, T0 + i * 20 * SEC, 'new-secret'));
    for (let i = 0; i < 8; i++) events.push(signin({ agent_id: `pod-${i}`, ip: '20.50.7.251', credential_id: 'new-secret', time: T0 + 5 * MIN + i * SEC }));
    const byTime = (list: AgentEvent[]) => list.sort((a, b) => a.time - b.time);
    expect(run([createFailedAccessDetector()], byTime(events)).detections).toEqual([]);
    // The same failures naming no credential, or the new one long after it was added: a spray.
    const blind: AgentEvent[] = [];
    for (let i = 0; i < 8; i++) blind.push(...rotation(`pod-${i}`, T0 + i * 20 * SEC, null));
    expect(run([createFailedAccessDetector()], byTime(blind)).detections.map((d) => d.severity)).toContain('low');
    const stale: AgentEvent[] = [];
    for (let i = 0; i < 8; i++) stale.push(...rotation(`pod-${i}`, T0 + i * 20 * SEC, 'new-secret').map((e) => (e.type === 'signin' ? { ...e, time: e.time + HOUR } : e)));
    expect(run([createFailedAccessDetector()], byTime(stale)).detections.map((d) => d.severity)).toContain('low');
  });

  it('takes failures presenting a credential just removed, from the agent own subnet, as replicas not yet restarted; from elsewhere as guessing', () => {
    // The agent works from 20.50.7.x with its old secret; an emergency rotation removes it at T0 + 30 min.
    const working: AgentEvent[] = [];
    for (let m = 0; m < 30; m += 2) working.push(signin({ ip: '20.50.7.10', credential_id: 'old-secret', time: T0 + m * MIN }));
    const rotation = [
      lifecycle({ action: 'credential_removed', credential_id: 'old-secret', actor: 'secops', time: T0 + 30 * MIN }),
      lifecycle({ action: 'credential_added', credential_id: 'new-secret', actor: 'secops', time: T0 + 30 * MIN + 20 * SEC }),
    ];
    // Its replicas keep refreshing with the revoked secret for 10 minutes (every 20 s), then restart with the new one.
    const retries = (ip: string) => failures(30, { error_code: 'AADSTS7000215', ip, credential_id: 'old-secret' }, T0 + 31 * MIN, 20 * SEC);
    const restarted = signin({ ip: '20.50.7.10', credential_id: 'new-secret', time: T0 + 42 * MIN });
    expect(run([createFailedAccessDetector()], [...working, ...rotation, ...retries('20.50.7.11'), restarted]).detections).toEqual([]);
    // Without the removal event: the own host presenting a wrong credential (low).
    expect(run([createFailedAccessDetector()], [...working, rotation[1]!, ...retries('20.50.7.11'), restarted]).detections.map((d) => d.severity)).toContain('low');
    // The revoked secret tried from another network: someone holding the leaked copy (medium).
    expect(run([createFailedAccessDetector()], [...working, ...rotation, ...retries('185.220.101.7')]).detections.map((d) => d.severity)).toContain('medium');
  });

  it('counts a spray rotating through a proxy pool (every guess from a new address) by its network, when no agent of the tenant works from it', () => {
    // 40 minutes of the tenant's agents signing in from Azure (AS8075).
    const home: AgentEvent[] = [];
    for (let t = T0; t < T0 + 40 * MIN; t += MIN) for (let i = 0; i < 8; i++) home.push(signin({ agent_id: `victim-${i}`, ip: `20.42.10.${i + 1}`, asn: 8075, time: t }));
    const guesses = (asn: number): AgentEvent[] =>
      Array.from({ length: 8 }, (_, i) => signin({ agent_id: `victim-${i}`, result: 'failure', error_code: 'AADSTS7000215', ip: `73.${i * 7}.${i * 13}.${i + 2}`, asn, time: T0 + 41 * MIN + i * 40 * SEC }));
    const residential = run([createFailedAccessDetector()], [...home, ...guesses(7922)]).detections;
    expect(new Set(residential.map((d) => d.agent_id)).size).toBe(8);
    expect(residential.every((d) => d.severity === 'low')).toBe(true);
    expect(residential[0]!.summary).toContain('AS7922, which no agent of the tenant signs in from');
    // The same addresses in the network the tenant's agents work from: each is one failure of one agent.
    expect(run([createFailedAccessDetector()], [...home, ...guesses(8075)]).detections).toEqual([]);
    // Before the tenant's networks are known (its first 30 minutes), nor.
    expect(run([createFailedAccessDetector()], [...home.filter((e) => e.time < T0 + 10 * MIN), ...guesses(7922).map((e) => ({ ...e, time: e.time - 31 * MIN }))]).detections).toEqual([]);
  });

  it('counts a spray rotating through addresses of one /24 in the tenant own cloud by the /24, when no agent of the tenant signs in from it', () => {
    // 40 minutes of the tenant's agents signing in from Azure (AS8075), in 20.42.10.0/24.
    const home: AgentEvent[] = [];
    for (let t = T0; t < T0 + 40 * MIN; t += MIN) for (let i = 0; i < 8; i++) home.push(signin({ agent_id: `victim-${i}`, ip: `20.42.10.${i + 1}`, asn: 8075, time: t }));
    // One guess per agent every 2 minutes, rotating through 3 addresses of the attacker's VM in the same cloud.
    const guesses = (prefix: string): AgentEvent[] =>
      Array.from({ length: 6 }, (_, i) => signin({ agent_id: `victim-${i}`, result: 'failure', error_code: 'AADSTS7000215', ip: `${prefix}.${10 + (i % 3)}`, asn: 8075, time: T0 + 41 * MIN + i * 2 * MIN }));
    const win = (prefix: string) => signin({ agent_id: 'victim-5', ip: `${prefix}.12`, asn: 8075, time: T0 + 52 * MIN, event_id: 'win' });
    const out = run([createFailedAccessDetector()], [...home, ...guesses('20.73.118'), win('20.73.118')]).detections;
    expect(out.filter((d) => d.severity === 'low').map((d) => d.agent_id).sort()).toEqual([0, 1, 2, 3, 4, 5].map((i) => `victim-${i}`));
    expect(out.filter((d) => d.severity === 'medium').map((d) => [d.agent_id, d.event_ids.includes('win')])).toEqual([['victim-5', true]]);
    expect(out[0]!.evidence.observed).toMatchObject({ source: '20.73.118.0/24' });
    // The same rotation inside the /24 the tenant's agents sign in from (their NAT): each address on its own, no spray.
    expect(run([createFailedAccessDetector()], [...home, ...guesses('20.42.10'), win('20.42.10')]).detections).toEqual([]);
  });

  it('numbers the /24 of an IPv4 address, and nothing else', () => {
    expect(net24('20.73.118.12')).toBe((20 * 256 + 73) * 256 + 118);
    expect(net24('20.73.118.200')).toBe(net24('20.73.118.12'));
    expect(net24('20.73.119.12')).not.toBe(net24('20.73.118.12'));
    for (const bad of ['2001:db8::1', '1.2.3', '300.1.1.1', 'host.example', '']) expect(net24(bad)).toBe(-1);
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

  it('counts a spray by the /48 of IPv6 sources, so rotating addresses within a site does not hide it', () => {
    expect(spraySource('2001:db8:7:1::10')).toBe('2001:db8:7::/48');
    expect(spraySource('2001:DB8:7:ffff:1:2:3:4')).toBe('2001:db8:7::/48');
    expect(spraySource('2001::1:2:3:4:5:6')).toBe('2001:0:1::/48');
    expect(spraySource('198.51.100.7')).toBe('198.51.100.7');
    expect(spraySource('::ffff:198.51.100.7')).toBe('::ffff:198.51.100.7');
    const events: AgentEvent[] = [];
    for (let i = 0; i < 6; i++) {
      events.push(signin({ agent_id: `victim-${i}`, result: 'failure', error_code: 'AADSTS7000215', ip: `2001:db8:7:${(i + 1).toString(16)}::${i + 5}`, time: T0 + i * 30 * SEC }));
    }
    const low = run([createFailedAccessDetector()], events).detections.filter((d) => d.severity === 'low');
    expect(low.map((d) => d.agent_id).sort()).toEqual([0, 1, 2, 3, 4, 5].map((i) => `victim-${i}`));
    expect(low[0]!.evidence.observed).toMatchObject({ source: '2001:db8:7::/48' });
    // The same rotation across different /48s is not one source.
    const scattered = events.map((e, i) => ({ ...e, ip: `2001:db8:${i + 1}::5` }));
    expect(run([createFailedAccessDetector()], scattered).detections).toHaveLength(0);
  });

  it('catches a slow spray: one guess every 3 minutes against a new agent, 6 agents within the hour', () => {
    const slow = (n: number, every: number): AgentEvent[] =>
      Array.from({ length: n }, (_, i) => signin({ agent_id: `victim-${i}`, result: 'failure', error_code: 'AADSTS7000215', ip: '198.51.100.9', time: T0 + i * every }));
    const { detections } = run([createFailedAccessDetector()], slow(12, 3 * MIN));
    const low = detections.filter((d) => d.severity === 'low');
    // All 6 targets known when the 6th is hit (at 15 min), then each later one.
    expect(low.map((d) => d.agent_id).sort()).toEqual(Array.from({ length: 12 }, (_, i) => `victim-${i}`).sort());
    expect(Math.min(...low.map((d) => d.time))).toBe(T0 + 5 * 3 * MIN);
    // Five agents in the hour is not enough; nor are 12 spread over 12 × 13 minutes (never 6 within an hour).
    expect(run([createFailedAccessDetector()], slow(5, 3 * MIN)).detections).toHaveLength(0);
    expect(run([createFailedAccessDetector()], slow(12, 13 * MIN)).detections).toHaveLength(0);
  });

  describe('a paced spray from a network no agent of the tenant works from', () => {
    // 40 minutes of the tenant's agents signing in from Azure (AS8075).
    const home: AgentEvent[] = [];
    for (let t = T0; t < T0 + 40 * MIN; t += MIN) for (let i = 0; i < 10; i++) home.push(signin({ agent_id: `victim-${i}`, ip: `20.42.10.${i + 1}`, asn: 8075, time: t }));
    const start = T0 + 41 * MIN;
    const paced = (asn: number, targets: number, every: number, tries = 1): AgentEvent[] =>
      Array.from({ length: targets * tries }, (_, k) =>
        signin({ agent_id: `victim-${k % targets}`, result: 'failure', error_code: 'AADSTS7000215', ip: '95.216.14.7', asn, time: start + k * every }),
      );
    const sprayLows = (events: AgentEvent[]) => run([createFailedAccessDetector()], [...home, ...events]).detections.filter((d) => d.summary.includes('credential spray'));

    it('reports one guess every 13 minutes once 4 agents are hit within 6 hours, then each later target', () => {
      const lows = sprayLows(paced(24940, 10, 13 * MIN));
      expect(lows.map((d) => d.agent_id).sort()).toEqual(Array.from({ length: 10 }, (_, i) => `victim-${i}`).sort());
      expect(lows.every((d) => d.severity === 'low')).toBe(true);
      // The first four when the fourth is hit (39 minutes after the first), each later one at its guess.
      expect(Math.min(...lows.map((d) => d.time))).toBe(start + 3 * 13 * MIN);
      expect(lows.find((d) => d.agent_id === 'victim-9')!.time).toBe(start + 9 * 13 * MIN);
      expect(lows[0]!.evidence.threshold).toMatchObject({ paced_distinct_agents: 4, paced_window_s: 6 * 3600 });
    });

    it('does not take a deployment retrying a broken secret on each agent over and over for a spray', () => {
      // Agent after agent rolled out with the broken secret, 40 minutes apart, each retrying every 2 minutes.
      const retrying = Array.from({ length: 5 }, (_, k) =>
        Array.from({ length: 15 }, (_, j) =>
          signin({ agent_id: `victim-${k}`, result: 'failure', error_code: 'AADSTS7000215', ip: '95.216.14.7', asn: 24940, time: start + k * 40 * MIN + j * 2 * MIN }),
        ),
      ).flat();
      expect(sprayLows(retrying)).toEqual([]);
      // The same first failures, one try each: a spray.
      expect(sprayLows(retrying.filter((e) => (e.time - start) % (40 * MIN) === 0)).length).toBe(5);
      // Three agents are not enough, nor are 4 spread over more than 6 hours.
      expect(sprayLows(paced(24940, 3, 13 * MIN))).toEqual([]);
      expect(sprayLows(paced(24940, 4, 2.1 * HOUR))).toEqual([]);
    });

    it('counts a distributed spray (a new residential network for nearly every guess) across the tenant: 5 agents within 30 minutes from 3 or more networks', () => {
      // 8 targets, 13 guesses 40-120 s apart, each from another address in one of 10 residential ASNs.
      const asns = [3320, 3209, 7922, 2516, 28573, 7713, 45899, 20115, 2516, 701];
      const order = [0, 1, 2, 3, 4, 5, 6, 7, 2, 5, 0, 7, 3];
      const gaps = [40, 95, 120, 61, 77, 110, 45, 88, 102, 53, 67, 119];
      const distributed = (targets: number[], networks: number[], gapS: number[] = gaps): AgentEvent[] => {
        let t = start;
        return targets.map((v, k) => {
          const e = signin({ agent_id: `victim-${v}`, result: 'failure', error_code: 'AADSTS7000215', ip: `${80 + k}.${17 * k + 3}.${(29 * k) % 250}.${k + 9}`, asn: networks[k % networks.length]!, time: t });
          t += (gapS[k % gapS.length] ?? 60) * SEC;
          return e;
        });
      };
      const lows = sprayLows(distributed(order, asns));
      // Each target once, the first five when the fifth is hit, each later one at its first guess.
      expect(lows.map((d) => d.agent_id).sort()).toEqual(Array.from({ length: 8 }, (_, i) => `victim-${i}`));
      expect(lows.every((d) => d.severity === 'low')).toBe(true);
      const fifth = start + (40 + 95 + 120 + 61) * SEC;
      expect(Math.min(...lows.map((d) => d.time))).toBe(fifth);
      expect(lows.find((d) => d.agent_id === 'victim-5')!.time).toBe(fifth + 77 * SEC);
      expect(lows[0]!.summary).toContain('distributed credential spray');
      expect(lows[0]!.evidence.observed).toMatchObject({ distinct_agents: 5, distinct_networks: 5 });
      // Four agents are not enough, nor are guesses from the networks the tenant's agents work from (their own hosts misconfigured).
      expect(sprayLows(distributed([0, 1, 2, 3], asns))).toEqual([]);
      expect(sprayLows(distributed(order, [8075]).map((e, k) => (e.type === 'signin' ? { ...e, ip: `20.42.10.${k + 30}` } : e)))).toEqual([]);
      // Nor five agents from two networks, nor five spread over more than 30 minutes.
      expect(sprayLows(distributed([0, 1, 2, 3, 4], [3320, 7922]))).toEqual([]);
      expect(sprayLows(distributed([0, 1, 2, 3, 4], asns, [8 * 60]))).toEqual([]);
    });

    it('does not take broken deployments in foreign networks retrying over and over for a distributed spray, and reports a target of both counts once', () => {
      const asns = [3320, 3209, 7922, 2516, 28573, 7713];
      // Six agents run by contractors from their own networks, each retrying a wrong secret every minute.
      const retrying = Array.from({ length: 6 }, (_, k) =>
        Array.from({ length: 8 }, (_, j) => signin({ agent_id: `victim-${k}`, result: 'failure', error_code: 'AADSTS7000215', ip: `81.${k}.7.9`, asn: asns[k]!, time: start + k * 2 * MIN + j * MIN })),
      )
        .flat()
        .sort((a, b) => a.time - b.time);
      expect(sprayLows(retrying)).toEqual([]);
      // A proxy pool's ASN taking most guesses (its own spray) plus three other networks: one low per target.
      const mixed = Array.from({ length: 9 }, (_, k) =>
        signin({ agent_id: `victim-${k}`, result: 'failure', error_code: 'AADSTS7000215', ip: `73.${k}.${3 * k}.${k + 2}`, asn: k < 6 ? 7922 : asns[k - 5]!, time: start + k * 40 * SEC }),
      );
      const lows = sprayLows(mixed);
      expect(lows.map((d) => d.agent_id).sort()).toEqual(Array.from({ length: 9 }, (_, i) => `victim-${i}`));
    });

    it('keeps the hourly rule for a source in a network the tenant works from', () => {
      expect(sprayLows(paced(8075, 10, 13 * MIN))).toEqual([]);
    });

    it('takes expired secrets tried from a foreign network for stolen ones (medium), and from the tenant network for the holder (low)', () => {
      // 20 sign-ins in 6 minutes with an expired secret of victim-0: from a VPS (AS16276), then from Azure.
      const stuffing = (asn: number, ip: string): AgentEvent[] =>
        Array.from({ length: 20 }, (_, k) => signin({ agent_id: 'victim-0', result: 'failure', error_code: 'AADSTS7000222', ip, asn, time: start + k * 18 * SEC }));
      const foreign = run([createFailedAccessDetector()], [...home, ...stuffing(16276, '51.75.140.9')]).detections;
      expect(foreign.map((d) => d.severity)).toContain('medium');
      expect(foreign.find((d) => d.severity === 'medium')!.summary).toContain('invalid-credential');
      const holder = run([createFailedAccessDetector()], [...home, ...stuffing(8075, '20.42.99.4')]).detections;
      expect(holder.map((d) => d.severity)).toEqual(['low']);
      // Before the tenant's networks are learned, nothing is foreign.
      const early = run([createFailedAccessDetector()], stuffing(16276, '51.75.140.9')).detections;
      expect(early.map((d) => d.severity)).toEqual(['low']);
    });
  });

  it('catches slow guessing: an invalid-credential failure every 76 s for half an hour (never 5 in one window)', () => {
    const slow = failures(24, { error_code: 'AADSTS7000215', ip: '203.0.113.9' }, T0, 76 * SEC);
    const { detections } = run([createFailedAccessDetector()], slow);
    expect(detections.map((d) => d.severity)).toEqual(['medium']);
    const d = detections[0]!;
    expect(d.summary).toContain('keeps failing with invalid credentials');
    expect(d.time).toBeGreaterThan(T0 + 10 * MIN); // it takes a sustained rate, not a few failures
    expect(d.time).toBeLessThan(T0 + 15 * MIN);
    // One failure every 6 minutes for three hours stays below it.
    expect(run([createFailedAccessDetector()], failures(30, { error_code: 'AADSTS7000215' }, T0, 6 * MIN)).detections).toEqual([]);
  });

  it('takes invalid-credential failures from where the agent signs in successfully as its own host misconfigured: low, never guessing', () => {
    // The agent works from 20.0.0.1, then a release ships the secret ID instead of its value: a retry every minute for 2 h.
    const works = [0, 1, 2].map((i) => signin({ time: T0 + i * MIN }));
    const broken = failures(120, { error_code: 'AADSTS7000215', ip: '20.0.0.1' }, T0 + 5 * MIN, MIN);
    const { detections } = run([createFailedAccessDetector()], [...works, ...broken]);
    expect(detections.length).toBeGreaterThan(0);
    expect(detections.every((d) => d.severity === 'low')).toBe(true);
    expect(detections[0]!.summary).toContain('the network it signs in from successfully');
    expect(detections[0]!.evidence.baseline).toMatchObject({ successful_signin_ip: '20.0.0.1' });
    // Another replica of the same deployment (same /24) counts as home too.
    const replica = run([createFailedAccessDetector()], [...works, ...failures(8, { error_code: 'AADSTS7000215', ip: '20.0.0.77' }, T0 + 5 * MIN, 10 * SEC)]);
    expect(replica.detections.map((d) => d.severity)).toEqual(['low']);
  });

  it('still reports guessing (medium) from another network while the agent keeps working from home', () => {
    const works = [0, 1, 2].map((i) => signin({ time: T0 + i * MIN }));
    // Same ASN and country, another /24: a VM of the attacker in the same cloud.
    const guesses = failures(6, { error_code: 'AADSTS7000215', ip: '20.0.9.1' }, T0 + 5 * MIN);
    const homeToo = failures(4, { error_code: 'AADSTS7000215', ip: '20.0.0.1' }, T0 + 5 * MIN + 5 * SEC);
    const { detections } = run([createFailedAccessDetector()], [...works, ...[...guesses, ...homeToo].sort((a, b) => a.time - b.time)]);
    expect(detections.map((d) => d.severity)).toEqual(['medium']);
    expect(detections[0]!.evidence.observed).toMatchObject({ credential_failures: 5, ip: '20.0.9.1' });
    // Without a successful sign-in seen first, no address is home.
    expect(run([createFailedAccessDetector()], failures(6, { error_code: 'AADSTS7000215', ip: '20.0.0.1' })).detections.map((d) => d.severity)).toEqual(['medium']);
  });

  describe('access refused after sign-in: blocked token requests and calls the gateway blocked', () => {
    const resources = ['https://vault.azure.net', 'https://management.azure.com', 'https://database.windows.net', 'https://outlook.office.com', 'api://payroll'];
    const blockedTokens = (list: string[], start = T0, agent = 'a1') =>
      list.map((resource, i) => token({ agent_id: agent, resource, decision: 'blocked', time: start + i * 20 * SEC }));
    const blockedCalls = (hosts: string[], start = T0, agent = 'a1', every = 15 * SEC) =>
      hosts.map((dest_host, i) => network({ agent_id: agent, dest_host, category: 'uncategorized', action: 'blocked', time: start + i * every }));

    it('fires low on a burst of blocked token requests for one resource, medium when several resources are tried', () => {
      const one = run([createFailedAccessDetector()], blockedTokens(Array(5).fill('https://vault.azure.net')));
      expect(one.detections.map((d) => d.severity)).toEqual(['low']);
      expect(one.detections[0]!.evidence.observed).toMatchObject({ reason: 'token request blocked', resource: 'https://vault.azure.net' });
      const probing = run([createFailedAccessDetector()], blockedTokens(resources.slice(0, 4)));
      expect(probing.detections.map((d) => d.severity)).toEqual(['low', 'medium']);
      expect(probing.detections[1]!.summary).toContain('refused access 4 times');
      expect(probing.pipeline.level('t1', 'a1')).toBe('medium');
      // Granted tokens are no refusals.
      expect(run([createFailedAccessDetector()], resources.map((resource, i) => token({ resource, time: T0 + i * SEC }))).detections).toEqual([]);
    });

    it('counts blocked token requests and denied sign-ins together in one window', () => {
      const mixed = [
        signin({ result: 'failure', error_code: 'AADSTS500011', resource: resources[0], time: T0 }),
        signin({ result: 'failure', error_code: 'AADSTS65001', resource: resources[1], time: T0 + 10 * SEC }),
        ...blockedTokens(resources.slice(2, 4), T0 + 20 * SEC),
      ];
      expect(run([createFailedAccessDetector()], mixed).detections.map((d) => d.severity)).toEqual(['low', 'medium']);
    });

    it('needs 6 new hosts for medium from blocked calls, and leaves threat verdicts to gateway-threat', () => {
      const hosts = Array.from({ length: 6 }, (_, i) => `host${i}.example.net`);
      const five = run([createFailedAccessDetector()], blockedCalls(hosts.slice(0, 5)));
      expect(five.detections.map((d) => d.severity)).toEqual(['low']);
      const six = run([createFailedAccessDetector()], blockedCalls(hosts));
      expect(six.detections.map((d) => d.severity)).toEqual(['low', 'medium']);
      expect(six.detections[1]!.evidence.observed).toMatchObject({ reason: 'call blocked by the gateway', distinct_resources: 6 });
      const threats = blockedCalls(hosts).map((e) => ({ ...e, threat: 'malware' as const }));
      const hostile = blockedCalls(hosts).map((e) => ({ ...e, category: 'malicious' }));
      const allowed = blockedCalls(hosts).map((e) => ({ ...e, action: 'allowed' as const }));
      expect(run([createFailedAccessDetector()], [...threats, ...hostile, ...allowed]).detections).toEqual([]);
    });

    it('learns the habitual refusals of an agent: the same blocked hosts all day fire in the first windows only', () => {
      // Four telemetry hosts of the agent's SDK, blocked every 30 s for 6 hours.
      const telemetry = ['t0.vendor.io', 't1.vendor.io', 't2.vendor.io', 't3.vendor.io'];
      const day = Array.from({ length: 6 * 120 }, (_, i) => network({ dest_host: telemetry[i % 4]!, category: 'uncategorized', action: 'blocked', time: T0 + i * 30 * SEC }));
      const { detections, pipeline } = run([createFailedAccessDetector()], day);
      expect(detections.map((d) => d.severity)).toEqual(['low']);
      expect(detections[0]!.time).toBeLessThan(T0 + 5 * MIN);
      expect(pipeline.level('t1', 'a1')).not.toBe('medium');
      // Probing new resources later is still news.
      const later = blockedTokens(resources.slice(0, 4), T0 + 6 * HOUR + 10 * SEC);
      const again = run([createFailedAccessDetector()], [...day, ...later]);
      expect(again.detections.filter((d) => d.time >= T0 + 6 * HOUR).map((d) => d.severity)).toContain('medium');
    });

    it('takes a resource refused to 3 agents of the blueprint within the hour as routine, not probing', () => {
      const hosts = Array.from({ length: 6 }, (_, i) => `host${i}.example.net`);
      // Three peers are refused the same hosts first (a policy of the deployment)...
      const peers = ['p1', 'p2', 'p3'].flatMap((agent, k) => blockedCalls(hosts, T0 + k * 2 * SEC, agent, 40 * SEC));
      const target = blockedCalls(hosts, T0 + 10 * MIN, 'a1');
      const { detections } = run([createFailedAccessDetector()], [...peers, ...target].sort((x, y) => x.time - y.time));
      expect(detections.filter((d) => d.agent_id === 'a1')).toEqual([]);
      // ...while the same calls with no peer refused them are probing.
      expect(run([createFailedAccessDetector()], target).detections.map((d) => d.severity)).toEqual(['low', 'medium']);
      // Peers in another blueprint do not count.
      const elsewhere = peers.map((e) => ({ ...e, blueprint_id: 'bp-other' }));
      const r = run([createFailedAccessDetector()], [...elsewhere, ...target].sort((x, y) => x.time - y.time));
      expect(r.detections.filter((d) => d.agent_id === 'a1').map((d) => d.severity)).toEqual(['low', 'medium']);
    });

    it('restores a snapshot with refusals and gives the same detections', () => {
      const hosts = Array.from({ length: 6 }, (_, i) => `host${i}.example.net`);
      const events = [
        ...['p1', 'p2', 'p3'].flatMap((agent, k) => blockedCalls(hosts, T0 + k * 2 * SEC, agent, 40 * SEC)),
        ...blockedCalls(hosts, T0 + 10 * MIN, 'a1'),
        ...blockedTokens(resources, T0 + 20 * MIN, 'a1'),
      ].sort((x, y) => x.time - y.time);
      const { uninterrupted, restored } = snapshotRoundTrip(createFailedAccessDetector, events, 20);
      // After the split: the routine calls of a1 say nothing; its token probing is medium.
      expect(uninterrupted.filter((d) => d.agent_id === 'a1').map((d) => d.severity)).toEqual(['medium']);
      expect(restored).toEqual(uninterrupted);
    });
  });
});

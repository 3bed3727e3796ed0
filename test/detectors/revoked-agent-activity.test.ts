import { beforeEach, describe, expect, it } from 'vitest';
import { createRevokedAgentActivityDetector } from '../../detectors/revoked-agent-activity.js';
import { DAY, HOUR, MIN, SEC, T0, lifecycle, network, resetIds, run, signin, snapshotRoundTrip, token, userRisk } from './core-helpers.js';

beforeEach(() => resetIds());

const det = () => [createRevokedAgentActivityDetector()];

/** A replay to its end: flushed, and what waits for the audit log decided as the stream goes quiet. */
function replayed(events: Parameters<typeof run>[1]) {
  const r = run(det(), events);
  r.pipeline.settle({ detections: r.detections, riskChanges: r.riskChanges });
  return r;
}

/** The agent works: a sign-in, a one-hour token, a call. */
function work(agent: string, t: number, tokenId = `tok-${agent}-${t}`) {
  return [
    signin({ agent_id: agent, time: t }),
    token({ agent_id: agent, token_id: tokenId, lifetime_s: 3600, time: t + SEC }),
    network({ agent_id: agent, token_id: tokenId, time: t + 2 * SEC }),
  ];
}

describe('revoked-agent-activity', () => {
  it('fires medium for a successful sign-in or a granted token after the agent was disabled', () => {
    const { detections, pipeline } = replayed([
      ...work('a1', T0),
      lifecycle({ agent_id: 'a1', action: 'disabled', actor: 'secops@contoso.com', time: T0 + 10 * MIN, event_id: 'off' }),
      signin({ agent_id: 'a1', time: T0 + 10 * MIN + 30 * SEC }), // within the lateness: in flight
      signin({ agent_id: 'a1', time: T0 + 15 * MIN, event_id: 'late-signin' }),
      token({ agent_id: 'a1', time: T0 + 16 * MIN }), // once per revocation
    ]);
    expect(detections.map((d) => [d.agent_id, d.severity])).toEqual([['a1', 'medium']]);
    const d = detections[0]!;
    expect(d.detector).toBe('revoked-agent-activity');
    expect(d.event_ids).toEqual(['off', 'late-signin']);
    expect(d.summary).toContain('5 min after it was disabled by secops@contoso.com');
    expect(d.evidence.baseline).toMatchObject({ revoked: 'disabled', revoked_by: 'secops@contoso.com' });
    expect(pipeline.level('t1', 'a1')).toBe('medium');
  });

  it('lets calls go on while the tokens held at the revocation are valid, and fires for a call after they expired', () => {
    const { detections } = replayed([
      ...work('a1', T0, 'tok-1'),
      lifecycle({ agent_id: 'a1', action: 'deleted', time: T0 + 10 * MIN, event_id: 'gone' }),
      network({ agent_id: 'a1', token_id: 'tok-1', time: T0 + 50 * MIN }), // the one-hour token is still valid
      network({ agent_id: 'a1', token_id: 'tok-1', time: T0 + 3 * HOUR, event_id: 'stale' }),
    ]);
    expect(detections.map((d) => [d.severity, d.event_ids])).toEqual([['medium', ['gone', 'stale']]]);
    expect(detections[0]!.summary).toContain('after the last token it held expired');
    expect(detections[0]!.evidence.baseline).toMatchObject({ revoked: 'deleted', tokens_valid_until: new Date(T0 + SEC + HOUR).toISOString() });
  });

  it('does not fire for failed sign-ins or blocked tokens after a revocation, nor after the agent was enabled or created again', () => {
    const { detections } = replayed([
      ...work('a1', T0),
      ...work('a2', T0),
      lifecycle({ agent_id: 'a1', action: 'disabled', time: T0 + 10 * MIN }),
      signin({ agent_id: 'a1', result: 'failure', error_code: 'AADSTS7000112', time: T0 + 20 * MIN }),
      token({ agent_id: 'a1', decision: 'blocked', time: T0 + 21 * MIN }),
      lifecycle({ agent_id: 'a1', action: 'enabled', time: T0 + 30 * MIN }),
      ...work('a1', T0 + 40 * MIN),
      lifecycle({ agent_id: 'a2', action: 'deleted', time: T0 + 10 * MIN }),
      lifecycle({ agent_id: 'a2', action: 'created', time: T0 + 30 * MIN }),
      ...work('a2', T0 + 3 * HOUR),
    ]);
    expect(detections).toEqual([]);
  });

  it('takes a sign-in from the agent own subnet within 3 min of its delete as the delete still replicating, not elsewhere or later', () => {
    const shutdown = (after: number, ip: string) =>
      replayed([
        ...work('e1', T0), // from 20.0.0.1
        lifecycle({ agent_id: 'e1', action: 'deleted', actor: 'autoscaler', time: T0 + 5 * MIN }),
        signin({ agent_id: 'e1', ip, time: T0 + 5 * MIN + after }),
        token({ agent_id: 'e1', ip, time: T0 + 5 * MIN + after + SEC }),
      ]).detections.map((d) => d.severity);
    // The shutdown hook flushes results 80 s after the autoscaler deleted the agent.
    expect(shutdown(80 * SEC, '20.0.0.1')).toEqual([]);
    expect(shutdown(80 * SEC, '20.0.0.9')).toEqual([]);
    expect(shutdown(80 * SEC, '198.51.100.4')).toEqual(['medium']);
    expect(shutdown(4 * MIN, '20.0.0.1')).toEqual(['medium']);
  });

  it('does not let a third party undo a disable within the hour: the re-enabled agent acting is medium', () => {
    const contained = (reenabler: string, after: number, known = true) =>
      replayed([
        // The re-enabler is an administrator the tenant knows (he created another agent), unless `known` is false.
        ...(known ? [lifecycle({ agent_id: 'a9', action: 'created', actor: reenabler, sponsor_id: 'owner@contoso.com', time: T0 - 2 * HOUR })] : []),
        lifecycle({ agent_id: 'a1', action: 'created', actor: 'owner@contoso.com', sponsor_id: 'owner@contoso.com', time: T0 - HOUR }),
        ...work('a1', T0),
        lifecycle({ agent_id: 'a1', action: 'disabled', actor: 'secops@contoso.com', time: T0 + 10 * MIN }),
        lifecycle({ agent_id: 'a1', action: 'enabled', actor: reenabler, time: T0 + 10 * MIN + after }),
        ...work('a1', T0 + 10 * MIN + after + 3 * MIN),
      ]).detections;
    // Neither who disabled it nor its sponsor, 40 s after the SOC's disable.
    const reversed = contained('mallory@contoso.com', 40 * SEC);
    expect(reversed.map((d) => [d.agent_id, d.severity])).toEqual([['a1', 'medium']]);
    expect(reversed[0]!.summary).toContain('re-enabled by mallory@contoso.com 40 s later');
    expect(reversed[0]!.evidence.baseline).toMatchObject({ revoked_by: 'secops@contoso.com', reenabled_by: 'mallory@contoso.com' });
    // The sponsor, or who disabled it, lifts it; so does anyone after the hour.
    expect(contained('owner@contoso.com', 40 * SEC)).toEqual([]);
    expect(contained('SecOps@contoso.com', 40 * SEC)).toEqual([]);
    expect(contained('mallory@contoso.com', 2 * HOUR)).toEqual([]);
    // A principal never seen acting on the tenant's agents undoes nothing within the day.
    expect(contained('svc-unknown@contoso.com', 3 * HOUR, false).map((d) => d.severity)).toEqual(['medium', 'medium']);
    expect(contained('svc-unknown@contoso.com', 25 * HOUR, false)).toEqual([]);
  });

  it('does not let a user at medium or high user risk lift a disable, whoever he is', () => {
    const { detections } = replayed([
      lifecycle({ agent_id: 'a1', action: 'created', actor: 'owner@contoso.com', sponsor_id: 'owner@contoso.com', time: T0 - HOUR }),
      ...work('a1', T0),
      lifecycle({ agent_id: 'a1', action: 'disabled', actor: 'secops@contoso.com', time: T0 + 10 * MIN }),
      userRisk({ user_id: 'owner@contoso.com', level: 'high', time: T0 + 11 * MIN }),
      lifecycle({ agent_id: 'a1', action: 'enabled', actor: 'owner@contoso.com', time: T0 + 3 * HOUR }),
      ...work('a1', T0 + 3 * HOUR + MIN),
    ]);
    // The sign-in and token, and the calls once the tokens held at the disable have expired.
    expect(detections.map((d) => d.severity)).toEqual(['medium', 'medium']);
    for (const d of detections) expect(d.summary).toContain('re-enabled by owner@contoso.com');
  });

  it('waits for a re-enable that the audit log delivers late, or stamps a few seconds after the sign-in it allowed', () => {
    const { detections } = replayed([
      ...work('a1', T0),
      ...work('a2', T0),
      lifecycle({ agent_id: 'a1', action: 'disabled', time: T0 + 10 * MIN }),
      lifecycle({ agent_id: 'a2', action: 'disabled', time: T0 + 10 * MIN }),
      // a1: re-enabled at +40 min; the record arrives 50 s late, after the agent's first sign-in.
      signin({ agent_id: 'a1', time: T0 + 40 * MIN + 5 * SEC }),
      // a2: its sign-in is stamped 3 s before the re-enable (the audit log's clock is ahead).
      signin({ agent_id: 'a2', time: T0 + 41 * MIN - 3 * SEC }),
      lifecycle({ agent_id: 'a2', action: 'enabled', time: T0 + 41 * MIN }),
      lifecycle({ agent_id: 'a1', action: 'enabled', time: T0 + 40 * MIN }),
      ...work('a3', T0 + 45 * MIN),
    ]);
    expect(detections).toEqual([]);
  });

  it('reports a sign-in that a re-enable only follows later, dated once the audit log has caught up', () => {
    const { detections } = replayed([
      ...work('a1', T0),
      lifecycle({ agent_id: 'a1', action: 'disabled', time: T0 + 10 * MIN }),
      signin({ agent_id: 'a1', time: T0 + 30 * MIN, event_id: 'sneak' }),
      // the re-enable arrives before the verdict is due, but is stamped 20 s after the sign-in
      lifecycle({ agent_id: 'a1', action: 'enabled', time: T0 + 30 * MIN + 20 * SEC }),
      ...work('a3', T0 + 35 * MIN),
    ]);
    expect(detections.map((d) => [d.event_ids[1], d.time])).toEqual([['sneak', T0 + 30 * MIN + 10 * SEC]]);
  });

  it('remembers a revocation for weeks, although the pipeline forgets idle agents after days', () => {
    const { detections } = replayed([
      ...work('a1', T0),
      lifecycle({ agent_id: 'a1', action: 'disabled', time: T0 + HOUR }),
      ...work('a9', T0 + 10 * DAY), // moves event time on: idle state is evicted
      network({ agent_id: 'a1', token_id: 'forged', time: T0 + 10 * DAY + MIN, event_id: 'back' }),
    ]);
    expect(detections.map((d) => [d.agent_id, d.event_ids[1]])).toEqual([['a1', 'back']]);
    expect(detections[0]!.summary).toContain('days after it was disabled');
  });

  it('keeps tenants apart', () => {
    const { detections } = replayed([
      ...work('a1', T0),
      lifecycle({ tenant_id: 't2', agent_id: 'a1', action: 'disabled', time: T0 + MIN }),
      ...work('a1', T0 + 30 * MIN),
    ]);
    expect(detections).toEqual([]);
  });

  it('restores a snapshot and gives the same detections as the uninterrupted detector', () => {
    const events = [
      ...work('a1', T0, 'tok-1'),
      lifecycle({ agent_id: 'a1', action: 'disabled', time: T0 + 10 * MIN }),
      network({ agent_id: 'a1', token_id: 'tok-1', time: T0 + 20 * MIN }),
      signin({ agent_id: 'a1', time: T0 + 30 * MIN }),
      network({ agent_id: 'a1', token_id: 'tok-1', time: T0 + 2 * HOUR }),
      ...work('a2', T0 + 2 * HOUR + 5 * MIN), // moves the watermark past the last act
    ];
    // Split after the sign-in: it waits for the audit log across the snapshot.
    const { uninterrupted, restored } = snapshotRoundTrip(createRevokedAgentActivityDetector, events, 5);
    expect(uninterrupted.map((d) => d.event_ids.length)).toEqual([2, 2]);
    expect(restored).toEqual(uninterrupted);
  });
});

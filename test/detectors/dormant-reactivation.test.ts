import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../contract/events.js';
import { createDormantReactivationDetector } from '../../detectors/dormant-reactivation.js';
import { DAY, HOUR, MIN, SEC, T0, fakeContext, feed, lifecycle, network, resetIds, runWithRestore, signin, token } from './helpers/context.js';

beforeEach(() => resetIds());

/** The agent's early life: created with a sponsor, a few days of sign-ins from Azure (AS8075) in the US. */
function youth(agent = 'a1', tenant = 't1'): AgentEvent[] {
  const out: AgentEvent[] = [lifecycle({ tenant_id: tenant, agent_id: agent, action: 'created', sponsor_id: 'alice@contoso.com', time: T0 })];
  for (let h = 1; h < 72; h += 6) {
    out.push(signin({ tenant_id: tenant, agent_id: agent, time: T0 + h * HOUR, asn: 8075, country: 'US' }));
    out.push(network({ tenant_id: tenant, agent_id: agent, time: T0 + h * HOUR + MIN }));
  }
  return out;
}

const LAST = T0 + 67 * HOUR + MIN; // last activity of youth()
const WAKE = LAST + 40 * DAY;

describe('dormant-reactivation', () => {
  it('fires low for a plain reactivation after 30+ days', () => {
    const d = createDormantReactivationDetector();
    const ctx = fakeContext();
    expect(feed(d, ctx, youth())).toEqual([]);
    const out = feed(d, ctx, [signin({ time: WAKE, asn: 8075, country: 'US', event_id: 's-wake' })]);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ detector: 'dormant-reactivation', severity: 'low', agent_id: 'a1', event_ids: ['s-wake'], time: WAKE });
    expect(out[0]!.evidence.observed).toMatchObject({ silence_days: 40 });
    expect(out[0]!.evidence.baseline).toMatchObject({ last_activity: LAST, known_asns: [8075], known_countries: ['US'] });
    expect(out[0]!.summary).toContain('40.0 days');
  });

  it('does not fire for agents active within the dormancy period, nor on failed sign-ins', () => {
    const d = createDormantReactivationDetector();
    const ctx = fakeContext();
    const out = feed(d, ctx, [
      ...youth(),
      signin({ time: LAST + 29 * DAY }),
      signin({ time: LAST + 29 * DAY + 40 * DAY, result: 'failure', error_code: 'AADSTS7000215' }), // knocking: no wake-up
    ]);
    expect(out).toEqual([]);
  });

  it('fires high when a non-sponsor added a credential and the wake-up comes from a new place', () => {
    const d = createDormantReactivationDetector();
    const ctx = fakeContext();
    feed(d, ctx, youth());
    const out = feed(d, ctx, [
      lifecycle({ action: 'credential_added', actor: 'mallory@contoso.com', credential_id: 'cred-x', time: WAKE - 2 * HOUR, event_id: 'l-cred' }),
      signin({ time: WAKE, asn: 14061, country: 'NL', credential_id: 'cred-x', event_id: 's-wake' }),
    ]);
    expect(out).toHaveLength(1);
    expect(out[0]!.severity).toBe('high');
    expect(out[0]!.evidence.observed).toMatchObject({ new_place: expect.stringContaining('NL') });
    expect(out[0]!.evidence.observed).toMatchObject({ non_sponsor_credential: expect.stringContaining('mallory@contoso.com') });
    expect(out[0]!.summary).toContain('mallory@contoso.com');
  });

  it('fires medium for a new place alone, or a non-sponsor credential alone', () => {
    const d = createDormantReactivationDetector();
    const ctx = fakeContext();
    feed(d, ctx, [...youth('a1'), ...youth('a2')]);
    const out = feed(d, ctx, [
      signin({ agent_id: 'a1', time: WAKE, asn: 8075, country: 'BR' }),
      lifecycle({ agent_id: 'a2', action: 'credential_added', actor: 'mallory@contoso.com', time: WAKE - HOUR }),
      signin({ agent_id: 'a2', time: WAKE, asn: 8075, country: 'US' }),
    ]);
    expect(out.map((x) => [x.agent_id, x.severity])).toEqual([
      ['a1', 'medium'],
      ['a2', 'medium'],
    ]);
  });

  it('after 7 to 30 days of silence reports a new place or a non-sponsor credential one severity lower (a new country as medium), and a plain wake-up not at all', () => {
    const d = createDormantReactivationDetector();
    const ctx = fakeContext();
    feed(d, ctx, [...youth('a1'), ...youth('a2'), ...youth('a3'), ...youth('a4'), ...youth('a5')]);
    const at = LAST + 25 * DAY;
    const out = feed(d, ctx, [
      signin({ agent_id: 'a1', time: at, asn: 8075, country: 'US' }), // plain: nothing
      signin({ agent_id: 'a2', time: at, asn: 14618, country: 'US' }), // new network, same country: low
      lifecycle({ agent_id: 'a3', action: 'credential_added', actor: 'mallory@contoso.com', credential_id: 'cred-y', time: at - 2 * MIN }),
      signin({ agent_id: 'a3', time: at, asn: 14618, country: 'US', credential_id: 'cred-y', event_id: 's-a3' }), // both: medium
      lifecycle({ agent_id: 'a4', action: 'credential_added', actor: 'mallory@contoso.com', time: LAST + 6 * DAY - 2 * MIN }),
      signin({ agent_id: 'a4', time: LAST + 6 * DAY, asn: 12389, country: 'RU' }), // 6 days: not dormant
      signin({ agent_id: 'a5', time: at, asn: 8075, country: 'JP' }), // a country the agent and its blueprint never used: medium
    ]);
    expect(out.map((x) => [x.agent_id, x.severity])).toEqual([
      ['a2', 'low'],
      ['a3', 'medium'],
      ['a5', 'medium'],
    ]);
    expect(out[1]!.evidence.threshold).toContain('7 days');
    expect(out[1]!.summary).toContain('mallory@contoso.com');
  });

  it('takes a wake-up after a silence like the previous one for the agent schedule (a quarterly job): no finding unless something else is new', () => {
    const run = (second: number, country = 'US') => {
      const d = createDormantReactivationDetector();
      const ctx = fakeContext();
      feed(d, ctx, youth());
      const first = feed(d, ctx, [signin({ time: WAKE, asn: 8075, country: 'US' }), network({ time: WAKE + MIN })]);
      expect(first.map((x) => x.severity)).toEqual(['low']); // the first quarterly run: 40 days of silence
      return feed(d, ctx, [signin({ time: WAKE + MIN + second, asn: 8075, country })]).map((x) => x.severity);
    };
    expect(run(44 * DAY)).toEqual([]); // 44 days: within 25 % of the previous 40
    expect(run(80 * DAY)).toEqual(['low']); // off its schedule
    expect(run(44 * DAY, 'JP')).toEqual(['medium']); // on schedule, from a country it never used
  });

  it('counts a non-sponsor credential added up to a week before the wake-up, not one added earlier', () => {
    const d = createDormantReactivationDetector();
    const ctx = fakeContext();
    feed(d, ctx, [...youth('a1'), ...youth('a2')]);
    const out = feed(d, ctx, [
      lifecycle({ agent_id: 'a1', action: 'credential_added', actor: 'mallory@contoso.com', time: WAKE - 30 * HOUR }),
      lifecycle({ agent_id: 'a2', action: 'credential_added', actor: 'mallory@contoso.com', time: WAKE - 8 * DAY }),
      signin({ agent_id: 'a1', time: WAKE, asn: 8075, country: 'US' }),
      signin({ agent_id: 'a2', time: WAKE, asn: 8075, country: 'US' }),
    ]);
    expect(out.map((x) => [x.agent_id, x.severity])).toEqual([
      ['a1', 'medium'],
      ['a2', 'low'],
    ]);
  });

  it('stays low when the credential is renewed by the agent owner of record (who added its credential before the silence), not by anyone else', () => {
    const wake = (actor: string) => {
      const d = createDormantReactivationDetector();
      const ctx = fakeContext();
      feed(d, ctx, [lifecycle({ action: 'credential_added', actor: 'ops-admin@contoso.com', credential_id: 'cred-1', time: T0 + MIN }), ...youth()]);
      return feed(d, ctx, [
        lifecycle({ action: 'credential_added', actor, credential_id: 'cred-2', time: WAKE - 3 * MIN }),
        signin({ time: WAKE, asn: 8075, country: 'US', credential_id: 'cred-2' }),
      ]).map((x) => x.severity);
    };
    expect(wake('OPS-admin@contoso.com')).toEqual(['low']);
    expect(wake('mallory@contoso.com')).toEqual(['medium']);
  });

  it('stays low when the sponsor rotated the credential', () => {
    const d = createDormantReactivationDetector();
    const ctx = fakeContext();
    feed(d, ctx, youth());
    // the directory forgot the agent (idle for days): the detector still knows its sponsor
    ctx.directory.evict(WAKE - DAY);
    const out = feed(d, ctx, [
      lifecycle({ action: 'credential_added', actor: 'alice@contoso.com', time: WAKE - HOUR }),
      signin({ time: WAKE, asn: 8075, country: 'US' }),
    ]);
    expect(out.map((x) => x.severity)).toEqual(['low']);
  });

  it('counts a credential from a sponsor who appointed himself as a non-sponsor one, and one rotated by a sponsor who handed over since as sanctioned', () => {
    const d = createDormantReactivationDetector();
    const ctx = fakeContext();
    feed(d, ctx, [...youth('a1'), ...youth('a2')]);
    ctx.directory.evict(WAKE - 10 * DAY); // idle for weeks: the directory forgot both agents
    const out = feed(d, ctx, [
      lifecycle({ agent_id: 'a1', action: 'sponsor_added', sponsor_id: 'mallory@contoso.com', actor: 'mallory@contoso.com', time: WAKE - 6 * MIN }),
      lifecycle({ agent_id: 'a1', action: 'credential_added', actor: 'mallory@contoso.com', credential_id: 'c-m', time: WAKE - 5 * MIN }),
      signin({ agent_id: 'a1', time: WAKE, asn: 8075, country: 'US' }),
      lifecycle({ agent_id: 'a2', action: 'credential_added', actor: 'alice@contoso.com', credential_id: 'c-a', time: WAKE - 4 * DAY }),
      lifecycle({ agent_id: 'a2', action: 'sponsor_added', sponsor_id: 'bob@contoso.com', actor: 'alice@contoso.com', time: WAKE - 2 * DAY }),
      lifecycle({ agent_id: 'a2', action: 'sponsor_removed', sponsor_id: 'alice@contoso.com', actor: 'alice@contoso.com', time: WAKE - 2 * DAY + MIN }),
      signin({ agent_id: 'a2', time: WAKE, asn: 8075, country: 'US' }),
    ]);
    expect(out.map((x) => [x.agent_id, x.severity])).toEqual([
      ['a1', 'medium'],
      ['a2', 'low'],
    ]);
    expect(out[0]!.summary).toContain('mallory@contoso.com');
  });

  it('takes a wake-up with a client secret where the agent only used certificates as a downgrade (medium), even when its sponsor added the secret', () => {
    const certYouth = youth().map((e) => (e.type === 'signin' ? { ...e, credential_type: 'certificate' as const, credential_id: 'cert-1' } : e));
    const run = (events: AgentEvent[], before: AgentEvent[] = certYouth) => {
      const d = createDormantReactivationDetector();
      const ctx = fakeContext();
      feed(d, ctx, before);
      return feed(d, ctx, events);
    };
    const sponsorAdds = lifecycle({ action: 'credential_added', actor: 'alice@contoso.com', credential_id: 'sec-1', time: WAKE - 3 * MIN });
    const wake = signin({ time: WAKE, asn: 8075, country: 'US', credential_type: 'client_secret', credential_id: 'sec-1' });
    const out = run([sponsorAdds, wake]);
    expect(out.map((x) => x.severity)).toEqual(['medium']);
    expect(out[0]!.evidence.observed).toMatchObject({ credential_downgrade: expect.stringContaining('certificate') });
    // The same certificate as before: plain (low).
    expect(run([{ ...wake, credential_type: 'certificate', credential_id: 'cert-1' }]).map((x) => x.severity)).toEqual(['low']);
    // An agent that used secrets before, or whose blueprint's agents do: no downgrade.
    expect(run([sponsorAdds, wake], youth().map((e) => (e.type === 'signin' ? { ...e, credential_type: 'client_secret' as const } : e))).map((x) => x.severity)).toEqual(['low']);
    const peerSecrets = [...certYouth, signin({ agent_id: 'a2', time: LAST, credential_type: 'client_secret' })];
    expect(run([sponsorAdds, wake], peerSecrets).map((x) => x.severity)).toEqual(['low']);
  });

  it('takes a wake-up where the agent blueprint has moved meanwhile as no new place', () => {
    const d = createDormantReactivationDetector();
    const ctx = fakeContext();
    feed(d, ctx, [...youth('a1'), ...youth('a2')]);
    // a2 keeps working, from AWS (AS14618) since the blueprint moved there
    const moved = [];
    for (let t = LAST + DAY; t < WAKE; t += 6 * HOUR) moved.push(signin({ agent_id: 'a2', time: t, asn: 14618, country: 'US' }));
    feed(d, ctx, moved);
    const out = feed(d, ctx, [signin({ agent_id: 'a1', time: WAKE, asn: 14618, country: 'US' })]);
    expect(out.map((x) => [x.agent_id, x.severity, x.evidence.observed])).toEqual([['a1', 'low', expect.objectContaining({ new_place: null })]]);
  });

  it('knows the sponsor whatever the case its id is written in', () => {
    for (const forget of [false, true]) {
      const d = createDormantReactivationDetector();
      const ctx = fakeContext();
      feed(d, ctx, youth());
      if (forget) ctx.directory.evict(WAKE - DAY); // only the detector's own record of the sponsor is left
      const out = feed(d, ctx, [
        lifecycle({ action: 'credential_added', actor: 'Alice@Contoso.COM', time: WAKE - HOUR }),
        signin({ time: WAKE, asn: 8075, country: 'US' }),
      ]);
      expect(out.map((x) => x.severity)).toEqual(['low']);
    }
  });

  it('escalates the episode when the revealing events arrive after the wake-up', () => {
    const d = createDormantReactivationDetector();
    const ctx = fakeContext();
    feed(d, ctx, youth());
    const out = feed(d, ctx, [
      token({ time: WAKE + 20 * SEC, event_id: 'k-wake' }), // first arrival: no place known yet
      signin({ time: WAKE, asn: 14061, country: 'NL', event_id: 's-late' }), // late sign-in from a new place
      lifecycle({ action: 'credential_added', actor: 'mallory@contoso.com', time: WAKE - 30 * SEC }), // late credential event
      network({ time: WAKE + 2 * MIN }),
    ]);
    expect(out.map((x) => x.severity)).toEqual(['low', 'medium', 'high']);
    expect(out[1]!.event_ids).toEqual(['k-wake', 's-late']);
  });

  it('judges a place against the blueprint when the agent has no place history', () => {
    const d = createDormantReactivationDetector();
    const ctx = fakeContext();
    feed(d, ctx, [
      ...youth('peer'),
      lifecycle({ agent_id: 'quiet', action: 'created', time: T0 }),
      network({ agent_id: 'quiet', time: T0 + HOUR }),
    ]);
    const out = feed(d, ctx, [signin({ agent_id: 'quiet', time: T0 + HOUR + 31 * DAY, asn: 9009, country: 'RO' })]);
    expect(out).toHaveLength(1);
    expect(out[0]!.severity).toBe('medium');
    expect(out[0]!.evidence.observed).toMatchObject({ new_place: expect.stringContaining('blueprint') });
  });

  it('falls back to the directory when it has no record of the agent', () => {
    const d = createDormantReactivationDetector();
    const ctx = fakeContext();
    ctx.setPreviousLastSeen('t1', 'a7', T0);
    const out = feed(d, ctx, [network({ agent_id: 'a7', time: T0 + 35 * DAY })]);
    expect(out.map((x) => x.severity)).toEqual(['low']);
  });

  it('keeps tenants apart', () => {
    const d = createDormantReactivationDetector();
    const ctx = fakeContext();
    feed(d, ctx, [...youth('a1', 't1'), network({ tenant_id: 't2', agent_id: 'a1', time: WAKE - DAY })]);
    const out = feed(d, ctx, [network({ tenant_id: 't2', agent_id: 'a1', time: WAKE }), network({ tenant_id: 't1', agent_id: 'a1', time: WAKE })]);
    expect(out.map((x) => x.tenant_id)).toEqual(['t1']);
  });

  it('remembers an agent silent for months although the pipeline evicts idle keys after days', () => {
    const d = createDormantReactivationDetector();
    const ctx = fakeContext();
    feed(d, ctx, youth());
    const wake = LAST + 96 * DAY;
    feed(d, ctx, [lifecycle({ action: 'credential_added', actor: 'mallory@contoso.com', time: wake - 2 * MIN })]);
    d.evict(wake - 2 * MIN - 3 * DAY); // what the pipeline does every 10 minutes of event time
    ctx.directory.evict(wake - 2 * MIN - 3 * DAY);
    const out = feed(d, ctx, [signin({ time: wake, asn: 8075, country: 'US' })]);
    expect(out.map((x) => x.severity)).toEqual(['medium']);
    expect(out[0]!.evidence.observed).toMatchObject({ silence_days: 96 });
  });

  it('retains records through the dormancy, evicts them after retainMs, drops deleted agents', () => {
    const d = createDormantReactivationDetector({ retainMs: 45 * DAY });
    const ctx = fakeContext();
    feed(d, ctx, [...youth('a1'), ...youth('a2'), network({ agent_id: 'a3', time: WAKE })]);
    expect(d.size()).toBe(4); // three agents + one blueprint
    d.evict(WAKE - 3 * DAY); // the pipeline's idle horizon: kept (the signal is long silence)
    expect(d.size()).toBe(4);
    feed(d, ctx, [lifecycle({ agent_id: 'a2', action: 'deleted', time: WAKE + SEC })]);
    expect(d.size()).toBe(3);
    feed(d, ctx, [network({ agent_id: 'a3', time: LAST + 50 * DAY })]);
    d.evict(LAST + 50 * DAY);
    expect(d.size()).toBe(1); // a1 idle for 50 days: gone (as is the blueprint); a3 active
  });

  it('gives the same detections after a snapshot/restore', () => {
    const events: AgentEvent[] = [
      ...youth('a1'),
      ...youth('a2'),
      lifecycle({ agent_id: 'a2', action: 'credential_added', actor: 'mallory@contoso.com', time: WAKE - HOUR }),
      signin({ agent_id: 'a1', time: WAKE, country: 'US' }),
      token({ agent_id: 'a2', time: WAKE + 10 * SEC }),
      signin({ agent_id: 'a2', time: WAKE, country: 'NL', asn: 14061 }),
    ];
    const { uninterrupted, restored } = runWithRestore(() => createDormantReactivationDetector(), events, events.length - 3);
    expect(uninterrupted.map((x) => [x.agent_id, x.severity])).toEqual([
      ['a1', 'low'],
      ['a2', 'medium'],
      ['a2', 'high'],
    ]);
    expect(restored).toEqual(uninterrupted);
  });
});

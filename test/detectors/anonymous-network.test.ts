import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../contract/events.js';
import { ANONYMIZING_NETWORKS, createAnonymousNetworkDetector } from '../../detectors/anonymous-network.js';
import { HOUR, MIN, T0, advanceTo, fakeContext, feed, lifecycle, resetIds, runWithRestore, signin } from './helpers/context.js';

beforeEach(() => resetIds());

const TOR_DE = { asn: 60729, ip: '185.220.101.7', country: 'DE', lat: 50.1, lon: 8.7 };
const NORDVPN = { asn: 136787, ip: '146.70.1.2', country: 'US', lat: 40.7, lon: -74 };

/**
 * The detector without the native hold: these tests are about the other
 * rules, with agents met on an anonymizer from their first sign-in; the hold
 * has its own test.
 */
const anon = (o: Parameters<typeof createAnonymousNetworkDetector>[0] = {}) => createAnonymousNetworkDetector({ nativeHoldMs: 0, ...o });

/** An hour of agents a1..a3 signing in every 10 min from their Azure region. */
function home(): AgentEvent[] {
  const out: AgentEvent[] = [];
  for (let t = T0; t < T0 + HOUR; t += 10 * MIN) for (const a of ['a1', 'a2', 'a3']) out.push(signin({ agent_id: a, time: t }));
  return out;
}

describe('anonymous-network', () => {
  it('fires medium when an agent signs in through a Tor exit in its home country with its own user agent', () => {
    const d = anon();
    const ctx = fakeContext();
    expect(feed(d, ctx, home())).toEqual([]);
    const out = feed(d, ctx, [signin({ agent_id: 'a2', time: T0 + HOUR, ...TOR_DE })]);
    expect(out.map((x) => [x.agent_id, x.severity])).toEqual([['a2', 'medium']]);
    expect(out[0]!.summary).toBe('Agent a2 signed in from AS60729 Stiftung Erneuerbare Freiheit (torservers.net), a Tor exit operator (DE), which its blueprint does not run on');
    expect(out[0]!.evidence.observed).toMatchObject({ asn: 60729, kind: 'tor', ip: '185.220.101.7' });
    expect(out[0]!.evidence.baseline).toEqual({ blueprint_agents_on_network: 0, blueprint_first_use: null });
    expect(out[0]!.event_ids).toHaveLength(1);
  });

  it('stays quiet for networks that are not anonymizers, however new (a move to another cloud)', () => {
    const d = anon();
    const ctx = fakeContext();
    const moved = [signin({ agent_id: 'a1', time: T0, asn: 16509, country: 'DE' }), signin({ agent_id: 'a1', time: T0 + MIN, asn: 16276, country: 'FR' }), signin({ agent_id: 'a1', time: T0 + 2 * MIN, asn: null })];
    expect(feed(d, ctx, moved)).toEqual([]);
    expect(d.size()).toBe(0); // no state for agents that never touched an anonymizer
  });

  it('fires once per agent and network per day, and again for another anonymizer', () => {
    const d = anon();
    const ctx = fakeContext();
    const out = feed(d, ctx, [
      signin({ agent_id: 'a1', time: T0, ...NORDVPN }),
      signin({ agent_id: 'a1', time: T0 + 5 * MIN, ...NORDVPN }),
      signin({ agent_id: 'a1', time: T0 + 6 * MIN, ...TOR_DE }),
      signin({ agent_id: 'a1', time: T0 + 20 * HOUR, ...NORDVPN }),
    ]);
    expect(out.map((x) => [x.time - T0, (x.evidence.observed as { kind: string }).kind])).toEqual([
      [0, 'vpn'],
      [6 * MIN, 'tor'],
    ]);
  });

  it('accepts a network the agent itself has run on for a day (a developer agent always behind its VPN)', () => {
    const d = anon();
    const ctx = fakeContext();
    const out = feed(d, ctx, [signin({ agent_id: 'a1', time: T0, ...NORDVPN }), signin({ agent_id: 'a1', time: T0 + 25 * HOUR, ...NORDVPN })]);
    expect(out.map((x) => x.time)).toEqual([T0]);
  });

  it('accepts a network 3 agents of the blueprint have run on since a day ago, but not for a day-old network or fewer agents', () => {
    const fleet = (agents: string[], days: number[]): AgentEvent[] =>
      days.flatMap((day) => agents.map((a, i) => signin({ agent_id: a, time: T0 + day * 24 * HOUR + i * MIN, ...NORDVPN }))).sort((x, y) => x.time - y.time);
    // Three agents on the VPN since yesterday: a fourth agent joining today is the blueprint's egress.
    const d = anon();
    const ctx = fakeContext();
    const first = feed(d, ctx, fleet(['a1', 'a2', 'a3'], [0]));
    expect(first.map((x) => x.severity)).toEqual(['medium', 'medium', 'medium']);
    expect(feed(d, ctx, [signin({ agent_id: 'a4', time: T0 + 25 * HOUR, ...NORDVPN })])).toEqual([]);

    // Two agents only: a third one today is still judged.
    const d2 = anon();
    const ctx2 = fakeContext();
    feed(d2, ctx2, fleet(['a1', 'a2'], [0]));
    expect(feed(d2, ctx2, [signin({ agent_id: 'a3', time: T0 + 25 * HOUR, ...NORDVPN })]).map((x) => x.severity)).toEqual(['medium']);

    // Three agents but the first an hour ago: a fourth is judged.
    const d3 = anon();
    const ctx3 = fakeContext();
    feed(d3, ctx3, fleet(['a1', 'a2', 'a3'], [0]));
    expect(feed(d3, ctx3, [signin({ agent_id: 'a4', time: T0 + HOUR, ...NORDVPN })]).map((x) => x.severity)).toEqual(['medium']);
  });

  it('holds an hour the sign-ins of agents met on the network from their first sign-in: none when 3 such agents of the blueprint run there (its home, a business VPN), or 2 in a blueprint that signs in from nowhere else; not an agent created within the hour, nor one that signed in elsewhere before', () => {
    const d = createAnonymousNetworkDetector();
    const ctx = fakeContext();
    const laptops = ['a1', 'a2', 'a3'].map((a, i) => signin({ agent_id: a, time: T0 + i * 5 * MIN, ...NORDVPN }));
    expect(feed(d, ctx, laptops)).toEqual([]);
    // A fourth laptop twelve hours on, and the first after the hour: the blueprint's home.
    expect(feed(d, ctx, [signin({ agent_id: 'a4', time: T0 + 12 * HOUR, ...NORDVPN }), signin({ agent_id: 'a1', time: T0 + 13 * HOUR, ...NORDVPN })])).toEqual([]);
    expect(advanceTo(d, ctx, T0 + 14 * HOUR)).toEqual([]);

    // One such agent alone: medium when the hour is over, dated then.
    const d2 = createAnonymousNetworkDetector();
    const ctx2 = fakeContext();
    expect(feed(d2, ctx2, [signin({ agent_id: 'a1', time: T0, ...NORDVPN })])).toEqual([]);
    const late = advanceTo(d2, ctx2, T0 + 2 * HOUR);
    expect(late.map((x) => [x.agent_id, x.severity, x.time])).toEqual([['a1', 'medium', T0 + HOUR]]);
    expect(late[0]!.summary).toContain("not its blueprint's home");

    // Two such agents in a blueprint that signs in from nowhere else are its home; not when a third agent signs in from its region.
    const two = (elsewhere: boolean) => {
      const d4 = createAnonymousNetworkDetector();
      const ctx4 = fakeContext();
      const events = [signin({ agent_id: 'a1', time: T0, ...NORDVPN }), signin({ agent_id: 'a2', time: T0 + 20 * MIN, ...NORDVPN })];
      if (elsewhere) events.push(signin({ agent_id: 'a3', time: T0 + 30 * MIN }));
      return feed(d4, ctx4, events).concat(advanceTo(d4, ctx4, T0 + 3 * HOUR)).map((x) => x.agent_id);
    };
    expect(two(false)).toEqual([]);
    expect(two(true)).toEqual(['a1', 'a2']);

    // An agent created on record, or one that signed in from its region before, is reported at once.
    const d3 = createAnonymousNetworkDetector();
    const ctx3 = fakeContext();
    const out = feed(d3, ctx3, [
      lifecycle({ agent_id: 'a9', time: T0, action: 'created', actor: 'admin@contoso.com' }),
      signin({ agent_id: 'a9', time: T0 + MIN, ...NORDVPN }),
      signin({ agent_id: 'a8', time: T0 + MIN }),
      signin({ agent_id: 'a8', time: T0 + 2 * MIN, ...TOR_DE }),
    ]);
    expect(out.map((x) => [x.agent_id, x.time - T0])).toEqual([
      ['a9', MIN],
      ['a8', 2 * MIN],
    ]);
  });

  it('keeps blueprints and tenants apart', () => {
    const d = anon();
    const ctx = fakeContext();
    feed(d, ctx, ['a1', 'a2', 'a3'].map((a, i) => signin({ agent_id: a, time: T0 + i * MIN, ...NORDVPN })));
    const out = feed(d, ctx, [
      signin({ agent_id: 'b1', blueprint_id: 'bp-other', time: T0 + 25 * HOUR, ...NORDVPN }),
      signin({ agent_id: 'a4', tenant_id: 'tenant-2', time: T0 + 25 * HOUR, ...NORDVPN }),
    ]);
    expect(out.map((x) => [x.tenant_id, x.agent_id, x.severity])).toEqual([
      ['t1', 'b1', 'medium'],
      ['tenant-2', 'a4', 'medium'],
    ]);
  });

  it('rates failed sign-ins through an anonymizer low, once an hour, and failures never make the network familiar', () => {
    const d = anon();
    const ctx = fakeContext();
    const fail = (t: number) => signin({ agent_id: 'a1', time: t, result: 'failure', error_code: 'AADSTS7000215', ...TOR_DE });
    const out = feed(d, ctx, [fail(T0), fail(T0 + 10 * MIN), fail(T0 + 70 * MIN), fail(T0 + 25 * HOUR), signin({ agent_id: 'a1', time: T0 + 26 * HOUR, ...TOR_DE })]);
    expect(out.map((x) => [(x.time - T0) / MIN, x.severity])).toEqual([
      [0, 'low'],
      [70, 'low'],
      [25 * 60, 'low'],
      [26 * 60, 'medium'],
    ]);
    expect(out[0]!.summary).toContain('failed to sign in from AS60729');
  });

  it('takes its networks from the options', () => {
    const d = anon({ networks: [{ asn: 64512, name: 'Example proxy', kind: 'vpn' }] });
    const ctx = fakeContext();
    const out = feed(d, ctx, [signin({ agent_id: 'a1', time: T0, ...TOR_DE }), signin({ agent_id: 'a1', time: T0 + MIN, asn: 64512 })]);
    expect(out.map((x) => (x.evidence.observed as { network: string }).network)).toEqual(['Example proxy']);
  });

  it('lists each ASN once', () => {
    const asns = ANONYMIZING_NETWORKS.map((n) => n.asn);
    expect(new Set(asns).size).toBe(asns.length);
  });

  it('gives the same findings after a snapshot and restore', () => {
    const events = [
      signin({ agent_id: 'a1', time: T0, ...NORDVPN }),
      signin({ agent_id: 'a2', time: T0 + MIN, ...NORDVPN }),
      signin({ agent_id: 'a3', time: T0 + 2 * MIN, ...NORDVPN }),
      signin({ agent_id: 'a1', time: T0 + 3 * MIN, ...NORDVPN }),
      signin({ agent_id: 'a4', time: T0 + 25 * HOUR, ...NORDVPN }),
      signin({ agent_id: 'a1', time: T0 + 26 * HOUR, ...TOR_DE }),
    ];
    const { uninterrupted, restored } = runWithRestore(() => anon(), events, 4);
    expect(uninterrupted.map((x) => x.agent_id)).toEqual(['a1']);
    expect(restored).toEqual(uninterrupted);
  });

  it('forgets idle agents and blueprints', () => {
    const d = anon();
    const ctx = fakeContext();
    feed(d, ctx, [signin({ agent_id: 'a1', time: T0, ...NORDVPN })]);
    expect(d.size()).toBe(2);
    d.evict(T0 + 1);
    expect(d.size()).toBe(0);
  });
});

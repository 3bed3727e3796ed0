import { beforeEach, describe, expect, it } from 'vitest';
import { createImpossibleTravelDetector, haversineKm } from '../../detectors/impossible-travel.js';
import { DetectionPipeline } from '../../detectors/pipeline.js';
import { HOUR, MIN, SEC, T0, resetIds, run, signin, snapshotRoundTrip } from './core-helpers.js';

beforeEach(() => resetIds());

const VIRGINIA = { lat: 38.9, lon: -77.0, asn: 8075, country: 'US', ip: '20.0.0.1' };
const SEATTLE = { lat: 47.6, lon: -122.3, asn: 8075, country: 'US', ip: '20.0.9.1' };
const NEW_YORK = { lat: 40.7, lon: -74.0, asn: 7018, country: 'US', ip: '12.0.0.1' };
const MOSCOW = { lat: 55.75, lon: 37.6, asn: 64500, country: 'RU', ip: '198.51.100.4' };
const LONDON = { lat: 51.5, lon: -0.1, asn: 5089, country: 'GB', ip: '81.0.0.1' };
const FRANKFURT = { lat: 50.1, lon: 8.7, asn: 16509, country: 'DE', ip: '3.0.0.1' };
const det = () => [createImpossibleTravelDetector()];

describe('impossible-travel', () => {
  it('computes great-circle distances', () => {
    expect(haversineKm(VIRGINIA.lat, VIRGINIA.lon, MOSCOW.lat, MOSCOW.lon)).toBeGreaterThan(7700);
    expect(haversineKm(VIRGINIA.lat, VIRGINIA.lon, MOSCOW.lat, MOSCOW.lon)).toBeLessThan(7900);
    expect(haversineKm(0, 0, 0, 0)).toBe(0);
  });

  it('reports a one-way jump too fast for travel as low only: it cannot be told from a redeployment', () => {
    const { detections } = run(det(), [
      signin({ ...VIRGINIA, time: T0, event_id: 'home' }),
      signin({ ...MOSCOW, time: T0 + 10 * MIN, event_id: 'away' }),
      signin({ ...MOSCOW, time: T0 + 20 * MIN }),
      signin({ ...VIRGINIA, agent_id: 'other', credential_id: 'c9', time: T0 + 15 * MIN }),
    ]);
    expect(detections.map((d) => [d.severity, (d.time - T0) / MIN])).toEqual([['low', 10]]);
    const d = detections[0]!;
    expect(d.detector).toBe('impossible-travel');
    expect(d.event_ids).toEqual(['home', 'away']);
    expect(d.evidence.pattern).toBe('travel');
    const obs = d.evidence.observed as { distance_km: number; speed_kmh: number };
    expect(obs.distance_km).toBeGreaterThan(7700);
    expect(obs.speed_kmh).toBeGreaterThan(40_000);
    expect(d.evidence.threshold).toEqual({ speed_kmh: 1000, min_distance_km: 500 });
    expect(d.evidence.credential_id).toBe('cred-1');
    expect(d.summary).toContain('km');
  });

  it('is medium when the credential goes back to the old place: both places in use (low at once, confirmed after 3 min)', () => {
    const { detections } = run(det(), [
      signin({ ...VIRGINIA, time: T0 - HOUR }), // home for an hour already
      signin({ ...VIRGINIA, time: T0, event_id: 'home' }),
      signin({ ...MOSCOW, time: T0 + 10 * MIN, event_id: 'away' }),
      signin({ ...VIRGINIA, time: T0 + 12 * MIN, event_id: 'home-again' }),
      signin({ ...VIRGINIA, agent_id: 'other', credential_id: 'c9', time: T0 + 20 * MIN }),
    ]);
    expect(detections.map((d) => [d.severity, (d.time - T0) / MIN, d.evidence.pattern])).toEqual([
      ['low', 10, 'travel'],
      ['low', 12, 'interleaved'],
      ['medium', 15, 'interleaved'],
    ]);
    const d = detections[2]!;
    expect(d.event_ids).toEqual(['home', 'away', 'home-again']);
    expect(d.evidence.confirmation).toBe('confirmed');
    expect(detections[1]!.evidence.confirmation).toBe('pending');
    expect(d.evidence.threshold).toEqual({ interleave_s: 1800, new_network_s: 86400 });
    expect(d.summary).toContain('in turn');
  });

  it('finds interleaved use from a network near home (same country, another provider) that no travel rule sees', () => {
    const HOSTING_NYC = { lat: 40.7, lon: -74.0, asn: 14061, country: 'US', ip: '104.248.50.7' };
    const events = [signin({ ...VIRGINIA, time: T0 - HOUR })];
    for (let i = 0; i < 3; i++) {
      events.push(signin({ ...HOSTING_NYC, time: T0 + i * 4 * MIN }));
      events.push(signin({ ...VIRGINIA, time: T0 + i * 4 * MIN + 90 * SEC }));
    }
    const { detections } = run(det(), events);
    expect(detections.map((d) => [d.severity, d.evidence.pattern])).toEqual([
      ['low', 'interleaved'],
      ['medium', 'interleaved'],
    ]);
    expect((detections[1]!.evidence.observed as { distance_km: number }).distance_km).toBeLessThan(500);
  });

  it('finds interleaved use from the same cloud on another continent (same ASN, far apart)', () => {
    const AZURE_JAPAN = { lat: 35.7, lon: 139.8, asn: 8075, country: 'JP', ip: '20.89.200.4' };
    const { detections } = run(det(), [
      signin({ ...VIRGINIA, time: T0 - HOUR }),
      signin({ ...VIRGINIA, time: T0 - 3 * MIN }),
      signin({ ...AZURE_JAPAN, time: T0 }),
      signin({ ...VIRGINIA, time: T0 + 90 * SEC }),
      signin({ ...VIRGINIA, time: T0 + 10 * MIN }),
    ]);
    expect(detections.map((d) => d.severity)).toEqual(['low', 'medium']);
  });

  it('does not call interleaving news for networks the agent has alternated between for more than a day or from its first minutes, or two nearby networks of one provider', () => {
    const VIRGINIA_2 = { ...VIRGINIA, lat: 37.4, lon: -79.8, ip: '20.42.10.9' }; // same ASN, 170 km: another NAT prefix or region
    const old = [];
    for (let i = 0; i < 4; i++) old.push(signin({ ...(i % 2 ? LONDON : NEW_YORK), time: T0 - 30 * HOUR + i * 20 * MIN }));
    for (let i = 0; i < 4; i++) old.push(signin({ ...(i % 2 ? LONDON : NEW_YORK), time: T0 + i * 20 * MIN }));
    const near = [signin({ ...VIRGINIA, time: T0 }), signin({ ...VIRGINIA_2, time: T0 + MIN }), signin({ ...VIRGINIA, time: T0 + 2 * MIN })];
    // Dual-homed from birth: two ISPs in turn from the agent's first minutes.
    const ISP_2 = { ...VIRGINIA, asn: 7922, ip: '73.0.0.1' };
    const dualHomed = [];
    for (let i = 0; i < 8; i++) dualHomed.push(signin({ ...(i % 2 ? ISP_2 : VIRGINIA), time: T0 + i * 5 * MIN }));
    expect(run(det(), dualHomed).detections).toHaveLength(0);
    const longAgo = run(det(), old).detections;
    // The first day's alternation was reported (once); the next day's is the agent's normal.
    expect(longAgo.filter((d) => d.time >= T0)).toHaveLength(0);
    expect(run(det(), near).detections).toHaveLength(0);
  });

  it('takes a second network in an agent first minutes for news when it presents another client (a secret leaked on its first deploy)', () => {
    // The agent from Virginia every 2 minutes from birth; from its 4th minute its secret from Moscow with python-requests.
    const events = [];
    for (let i = 0; i < 10; i++) events.push(signin({ ...VIRGINIA, time: T0 + i * 2 * MIN }));
    const thief = (ua: string) => [0, 3, 6].map((k) => signin({ ...MOSCOW, user_agent: ua, time: T0 + 4 * MIN + k * MIN + 30 * SEC }));
    const leaked = run(det(), [...events, ...thief('python-requests/2.31.0')].sort((a, b) => a.time - b.time)).detections;
    expect(leaked.map((d) => [d.severity, d.evidence.pattern])).toContainEqual(['medium', 'interleaved']);
    // The same alternation with the agent own client (version digits aside) is a dual-homed deployment.
    const dualHomed = run(det(), [...events, ...thief('azsdk-js-identity/1.2.1')].sort((a, b) => a.time - b.time)).detections;
    expect(dualHomed.map((d) => d.severity)).not.toContain('medium');
  });

  it('does not confirm interleaved use when blueprint peers run in both places (a blue/green cut-over)', () => {
    const events = [];
    for (let i = 0; i < 4; i++) events.push(signin({ ...VIRGINIA, agent_id: `g${i}`, credential_id: `c${i}`, time: T0 - HOUR + i * SEC }));
    for (let i = 0; i < 4; i++) {
      events.push(signin({ ...FRANKFURT, agent_id: `g${i}`, credential_id: `c${i}`, time: T0 + i * 20 * SEC }));
      events.push(signin({ ...VIRGINIA, agent_id: `g${i}`, credential_id: `c${i}`, time: T0 + MIN + i * 20 * SEC }));
    }
    const { detections } = run(det(), events);
    expect(detections.filter((d) => d.severity === 'medium')).toHaveLength(0);
  });

  it('does not confirm medium when the whole blueprint moves to the new place (deployment)', () => {
    const events = [];
    for (let i = 0; i < 4; i++) events.push(signin({ ...VIRGINIA, agent_id: `m${i}`, credential_id: `c${i}`, time: T0 + i * SEC }));
    for (let i = 0; i < 4; i++) events.push(signin({ ...FRANKFURT, agent_id: `m${i}`, credential_id: `c${i}`, time: T0 + 2 * MIN + i * 20 * SEC }));
    events.push(signin({ ...FRANKFURT, agent_id: 'm0', credential_id: 'c0', time: T0 + 10 * MIN }));
    const { detections } = run(det(), events);
    expect(detections.map((d) => [d.agent_id, d.severity])).toEqual([
      ['m0', 'low'],
      ['m1', 'low'],
    ]);
  });

  it('is only low for a short hop between networks (neighbouring regions)', () => {
    const DUBLIN = { lat: 53.3, lon: -6.3, asn: 16509, country: 'IE', ip: '52.0.0.1' };
    const { detections } = run(det(), [signin({ ...LONDON, time: T0 }), signin({ ...FRANKFURT, time: T0 + MIN }), signin({ ...DUBLIN, agent_id: 'a2', time: T0 })]);
    expect(detections.map((d) => d.severity)).toEqual(['low']);
  });

  it('handles out-of-order arrival (the earlier event arriving second)', () => {
    const { detections } = run(det(), [signin({ ...MOSCOW, time: T0 + 30 * SEC }), signin({ ...VIRGINIA, time: T0 })]);
    expect(detections).toHaveLength(1);
  });

  it('does not fire for plausible travel, nearby places, the same provider network, or other credentials', () => {
    const cases = [
      [signin({ ...VIRGINIA, time: T0 }), signin({ ...NEW_YORK, time: T0 + MIN })], // 330 km: under the minimum distance
      [signin({ ...VIRGINIA, time: T0 }), signin({ ...SEATTLE, time: T0 + 2 * MIN })], // same ASN: the provider moved the workload
      [signin({ ...VIRGINIA, time: T0 }), signin({ ...LONDON, time: T0 + 10 * HOUR })], // 5,900 km in 10 h: plausible
      [signin({ ...VIRGINIA, time: T0 }), signin({ ...MOSCOW, credential_id: 'cred-other', time: T0 + MIN })], // another credential
    ];
    for (const events of cases) expect(run(det(), events).detections).toHaveLength(0);
  });

  it('fires on concurrent use from two networks within seconds, even without coordinates', () => {
    const noGeo = { lat: null, lon: null, country: null };
    const { detections } = run(det(), [
      signin({ ...noGeo, asn: 8075, ip: '20.0.0.1', time: T0 - HOUR }),
      signin({ ...noGeo, asn: 8075, ip: '20.0.0.1', time: T0 }),
      signin({ ...noGeo, asn: 64500, ip: '198.51.100.4', time: T0 + 4 * SEC }),
    ]);
    expect(detections).toHaveLength(1);
    expect(detections[0]!.summary).toContain('concurrently');
    // An agent that used both networks from its first minutes is dual-homed.
    const born = run(det(), [
      signin({ ...noGeo, asn: 8075, ip: '20.0.0.1', time: T0 - HOUR }),
      signin({ ...noGeo, asn: 64500, ip: '198.51.100.4', time: T0 - HOUR + MIN }),
      signin({ ...noGeo, asn: 8075, ip: '20.0.0.1', time: T0 }),
      signin({ ...noGeo, asn: 64500, ip: '198.51.100.4', time: T0 + 4 * SEC }),
    ]);
    expect(born.detections).toHaveLength(0);
  });

  it('does not fire when the blueprint peers use both places (multi-region blueprint)', () => {
    const events = [];
    for (let i = 0; i < 3; i++) {
      events.push(signin({ ...VIRGINIA, agent_id: `peer-${i}`, credential_id: `c${i}`, time: T0 - HOUR + i * MIN }));
      events.push(signin({ ...FRANKFURT, agent_id: `peer-${i}`, credential_id: `c${i}`, time: T0 - 30 * MIN + i * MIN }));
    }
    events.push(signin({ ...VIRGINIA, time: T0 }), signin({ ...FRANKFURT, time: T0 + 5 * MIN }));
    const { detections } = run(det(), events);
    expect(detections.filter((d) => d.agent_id === 'a1')).toHaveLength(0);
  });

  it('fires once per quiet period however often the credential hops', () => {
    const events = [signin({ ...VIRGINIA, time: T0 - HOUR })];
    for (let i = 0; i < 6; i++) events.push(signin({ ...(i % 2 ? MOSCOW : VIRGINIA), time: T0 + i * MIN }));
    // The jump (low), then interleaving (low, confirmed medium); not one per hop.
    expect(run(det(), events).detections.map((d) => [d.severity, d.evidence.pattern])).toEqual([
      ['low', 'travel'],
      ['low', 'interleaved'],
      ['medium', 'interleaved'],
    ]);
  });

  it('keeps tenants apart', () => {
    const { detections } = run(det(), [signin({ ...VIRGINIA, tenant_id: 't1', time: T0 }), signin({ ...MOSCOW, tenant_id: 't2', time: T0 + MIN })]);
    expect(detections).toHaveLength(0);
  });

  it('restores a snapshot and gives the same detections as the uninterrupted detector', () => {
    const events = [
      signin({ ...VIRGINIA, time: T0 - HOUR }),
      signin({ ...VIRGINIA, time: T0 }),
      signin({ lat: null, lon: null, asn: 8075, agent_id: 'a2', time: T0 - HOUR }),
      signin({ lat: null, lon: null, asn: 8075, agent_id: 'a2', time: T0 }),
      signin({ ...MOSCOW, time: T0 + 10 * MIN }),
      signin({ ...VIRGINIA, time: T0 + 11 * MIN }),
      signin({ lat: null, lon: null, asn: 64500, ip: '198.51.100.9', agent_id: 'a2', time: T0 + 5 * SEC }),
      signin({ ...VIRGINIA, agent_id: 'a3', credential_id: 'c3', time: T0 + 20 * MIN }),
    ];
    // Split after the return to Virginia: its medium confirmation is pending in the snapshot.
    const { uninterrupted, restored } = snapshotRoundTrip(createImpossibleTravelDetector, events, 6);
    expect(uninterrupted.map((d) => [d.agent_id, d.severity])).toEqual([
      ['a2', 'medium'],
      ['a1', 'medium'],
    ]);
    expect(restored).toEqual(uninterrupted);
  });

  it.each([
    [6, 'before first use was kept'],
    [7, 'before the client was kept'],
  ])('restores a snapshot of %i numbers per sighting (%s)', (kept) => {
    // Without first use, a restored place counts as first used at its last use; without a client, as unknown.
    const head = [signin({ ...VIRGINIA, time: T0 - 40 * MIN }), signin({ ...MOSCOW, time: T0 - 5 * MIN })];
    const a = run(det(), head, {}, false).pipeline;
    const snap = JSON.parse(JSON.stringify(a.snapshot()));
    const state = snap.detectors['impossible-travel'];
    for (const row of state.agents) {
      const v = row[2];
      v.s = v.s.filter((_: unknown, i: number) => i % 8 < kept);
      // The old detector kept one fire time for every finding.
      v.firedAt = v.movedAt;
      delete v.movedAt;
    }
    const b = new DetectionPipeline({ detectors: det() });
    b.restore(snap);
    const later = T0 + 2 * HOUR; // past the quiet hour of the jump reported before the snapshot
    const out = b.processBatch([
      signin({ ...VIRGINIA, time: later }),
      signin({ ...MOSCOW, time: later + 5 * MIN }),
      signin({ ...VIRGINIA, time: later + 7 * MIN }),
      signin({ ...VIRGINIA, agent_id: 'z', credential_id: 'cz', time: later + 20 * MIN }),
    ]);
    expect(out.detections.map((d) => [d.severity, d.evidence.pattern])).toEqual([
      ['low', 'travel'],
      ['low', 'interleaved'],
      ['medium', 'interleaved'],
    ]);
  });
});

import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent, SigninEvent } from '../../contract/events.js';
import { createUnfamiliarSigninPropertiesDetector } from '../../detectors/unfamiliar-signin-properties.js';
import { MIN, T0, lifecycle, network, resetIds, run, signin, snapshotRoundTrip, warmup } from './core-helpers.js';

const HOUR = 60 * MIN;

beforeEach(() => resetIds());

const AGENTS = ['a1', 'a2', 'a3', 'a4'];
const END = T0 + 40 * MIN;
const det = () => [createUnfamiliarSigninPropertiesDetector()];

describe('unfamiliar-signin-properties', () => {
  it('fires low at once, then medium when network, country and client are all new and no peer follows', () => {
    const events = [
      ...warmup({ agents: AGENTS }),
      signin({ agent_id: 'a1', credential_id: 'cred-a1', time: END, country: 'RU', asn: 64500, user_agent: 'python-requests/2.31.0', ip: '198.51.100.4', event_id: 'bad' }),
      ...warmup({ agents: ['a2', 'a3'], start: END + MIN, durationMs: 5 * MIN }),
    ];
    const { detections } = run(det(), events);
    expect(detections.map((d) => [d.severity, d.time - END])).toEqual([
      ['low', 0],
      ['medium', 3 * MIN],
    ]);
    const [first, d] = [detections[0]!, detections[1]!];
    expect(first.evidence.confirmation).toBe('pending');
    expect(first.evidence.new_properties).toEqual(['country', 'asn', 'user_agent']);
    expect(first.evidence.observed).toEqual({ country: 'RU', asn: 64500, user_agent: 'python-requests/2.31.0' });
    expect(first.evidence.weight).toBe(4); // python-requests, a bare HTTP client, weighs double
    expect(first.evidence.peer_group).toBe('blueprint:bp1');
    expect(first.summary).toContain('country "RU"');
    expect(d.event_ids).toEqual(['bad']);
    expect(d.evidence.observed).toEqual({ country: 'RU', asn: 64500, user_agent: 'python-requests/2.31.0' });
    expect(d.summary).toContain('not a deployment');
  });

  it('does not confirm medium for the first movers of a blueprint-wide move to a new network and country', () => {
    const events = [...warmup({ agents: AGENTS })];
    AGENTS.forEach((a, i) =>
      events.push(signin({ agent_id: a, credential_id: `cred-${a}`, time: END + i * 30_000, country: 'BE', asn: 396982, lat: 50.4, lon: 3.8 })),
    );
    events.push(...warmup({ agents: AGENTS, start: END + 3 * MIN, durationMs: 5 * MIN, extra: { country: 'BE', asn: 396982 } }));
    const { detections } = run(det(), events);
    expect(detections.map((d) => [d.agent_id, d.severity])).toEqual([
      ['a1', 'low'],
      ['a2', 'low'],
    ]);
  });

  it('reports the agents a "deployment" took to a new network that are still working from their own (one host signing in as several agents): low, once each', () => {
    const VPS = { ip: '198.51.100.7', asn: 64500 };
    const events: AgentEvent[] = [...warmup({ agents: AGENTS })];
    AGENTS.forEach((a, i) => events.push(signin({ agent_id: a, credential_id: `cred-${a}`, time: END + i * 50_000, ...VPS })));
    const home = (a: string, t: number) => network({ agent_id: a, time: t });
    events.push(
      home('a3', END + 100_000 + 30_000), // in flight at the foreign sign-in: not yet
      home('a3', END + 100_000 + 3 * MIN),
      home('a3', END + 100_000 + 4 * MIN),
      signin({ agent_id: 'a4', credential_id: 'cred-a4', time: END + 150_000 + 20 * MIN }),
    );
    const { detections } = run(det(), events);
    expect(detections.map((d) => [d.agent_id, d.severity, d.time - END])).toEqual([
      ['a1', 'low', 0],
      ['a2', 'low', 50_000],
      ['a3', 'low', 100_000 + 3 * MIN],
      ['a4', 'low', 150_000 + 20 * MIN],
    ]);
    expect(detections[2]!.summary).toContain('did not move with them');
    expect(detections[2]!.evidence.observed).toMatchObject({ ip: VPS.ip, asn: VPS.asn, back_home_ip: '20.0.0.1' });
    expect(detections[3]!.event_ids).toHaveLength(2);
  });

  it('is medium when an agent alone on a network new to the tenant goes on working from its own network between uses from the new one (one credential in two places)', () => {
    // A machine in a colocation on a carrier's network (not a listed hosting provider's: see the next tests).
    const VPS = { ip: '64.176.65.15', asn: 3356 };
    const foreign = (t: number) => signin({ agent_id: 'a1', credential_id: 'cred-a1', time: t, ...VPS });
    const foreignCall = (t: number) => network({ agent_id: 'a1', time: t, ...VPS });
    const home = (t: number) => network({ agent_id: 'a1', time: t });
    const levels = (events: AgentEvent[]) =>
      run(det(), [...warmup({ agents: AGENTS }), ...events, ...warmup({ agents: ['a2', 'a3'], start: END + MIN, durationMs: 20 * MIN })])
        .detections.filter((d) => d.agent_id === 'a1')
        .map((d) => [d.severity, d.time - END]);
    // Replayed assertions from a VPS while the agent works at home: VPS, home 2 min later, VPS again a minute after.
    const both = run(det(), [...warmup({ agents: AGENTS }), foreign(END), foreignCall(END + MIN), home(END + 2 * MIN), foreign(END + 3 * MIN)]).detections;
    expect(both.map((d) => [d.severity, d.time - END])).toEqual([
      ['low', 0],
      ['medium', 3 * MIN],
    ]);
    expect(both[1]!.summary).toContain('one credential in two places at once');
    expect(both[1]!.evidence.observed).toMatchObject({ ip: VPS.ip, asn: VPS.asn, home_ip: '20.0.0.1', home_at: END + 2 * MIN });
    expect(both[1]!.event_ids).toHaveLength(3);
    // A failover to a backup line and back: the new network, then home again for good.
    expect(levels([foreign(END), foreign(END + MIN), home(END + 10 * MIN), home(END + 11 * MIN)])).toEqual([['low', 0]]);
    // Home, then the new network only long after: no overlap.
    expect(levels([foreign(END), home(END + 2 * MIN), foreign(END + 8 * MIN)])).toEqual([['low', 0]]);
    // Calls in flight at home when the agent moved do not count.
    expect(levels([foreign(END), home(END + 30_000), foreign(END + 2 * MIN)])).toEqual([['low', 0]]);
  });

  it('takes a two-agent blueprint failing over together as a deployment, not the first of them as an intruder', () => {
    const PAIR = ['p1', 'p2'];
    const move = (agents: string[]) => {
      const events = [...warmup({ agents: PAIR, bp: 'pair' })];
      agents.forEach((a, i) =>
        events.push(signin({ agent_id: a, blueprint_id: 'pair', credential_id: `cred-${a}`, time: END + i * 50_000, country: 'IE', asn: 16509, user_agent: 'python-requests/2.31.0' })),
      );
      events.push(...warmup({ agents, bp: 'pair', start: END + 2 * MIN, durationMs: 10 * MIN, extra: { country: 'IE', asn: 16509, user_agent: 'python-requests/2.31.0' } }));
      return run(det(), events).detections.map((d) => [d.agent_id, d.severity]);
    };
    expect(move(PAIR)).toEqual([['p1', 'low']]);
    // One of the two alone is not the blueprint.
    expect(move(['p1'])).toEqual([
      ['p1', 'low'],
      ['p1', 'medium'],
    ]);
  });

  it('waits for a staggered rollout: one follower by the confirmation time puts the decision off to 10 minutes', () => {
    // Agents move one every 4 minutes: by a1's confirmation (3 min) only a2 has followed.
    const move = (a: string, at: number) => signin({ agent_id: a, credential_id: `cred-${a}`, time: at, country: 'BE', asn: 396982, lat: 50.4, lon: 3.8 });
    const stay = (agents: string[], from: number) => warmup({ agents, start: from, durationMs: 12 * MIN });
    const byTime = (events: AgentEvent[]) => events.sort((x, y) => x.time - y.time);
    const rollout = byTime([...warmup({ agents: AGENTS }), move('a1', END), move('a2', END + 2 * MIN), move('a3', END + 6 * MIN), ...stay(['a4'], END)]);
    const rolled = run(det(), rollout).detections;
    expect(rolled.map((d) => [d.agent_id, d.severity])).toEqual([
      ['a1', 'low'],
      ['a2', 'low'],
    ]);
    // The same first two moves, and no third agent within 10 minutes: medium, dated 10 minutes after the sign-in.
    const stalled = byTime([...warmup({ agents: AGENTS }), move('a1', END), move('a2', END + 2 * MIN), ...stay(['a3', 'a4'], END)]);
    const found = run(det(), stalled).detections.filter((d) => d.agent_id === 'a1');
    expect(found.map((d) => [d.severity, d.time - END])).toEqual([
      ['low', 0],
      ['medium', 10 * MIN],
    ]);
    expect(found[1]!.summary).toContain('too few other agents');
    expect(found[1]!.evidence.threshold).toMatchObject({ confirm_s: 600 });
  });

  it('waits longer in a quiet blueprint: with fewer than 3 sign-ins of others since, the decision is due 10 minutes on', () => {
    const moved = signin({ agent_id: 'a1', credential_id: 'cred-a1', time: END, country: 'RU', asn: 64500, ip: '198.51.100.4' });
    // Two sign-ins of others within 3 minutes: too few to show the blueprint did not follow.
    const quiet = [...warmup({ agents: AGENTS }), moved, ...warmup({ agents: ['a2', 'a3'], start: END + MIN, durationMs: MIN }), ...warmup({ agents: ['a4'], start: END + 12 * MIN, durationMs: MIN })];
    expect(run(det(), quiet).detections.map((d) => [d.severity, d.time - END])).toEqual([
      ['low', 0],
      ['medium', 10 * MIN],
    ]);
    // The same quiet blueprint, but the credential was added minutes before by someone who does not vouch for it: no rollout to wait for.
    const backdoor = [
      ...warmup({ agents: AGENTS }),
      lifecycle({ agent_id: 'a1', action: 'sponsor_added', actor: 'admin@contoso.com', sponsor_id: 'alice@contoso.com', time: END - 10 * MIN }),
      lifecycle({ agent_id: 'a1', action: 'credential_added', actor: 'ci-runner-spn', credential_id: 'fic-new', time: END - 5 * MIN }),
      { ...moved, credential_id: 'fic-new' },
      ...warmup({ agents: ['a2', 'a3'], start: END + MIN, durationMs: MIN }),
      ...warmup({ agents: ['a4'], start: END + 12 * MIN, durationMs: MIN }),
    ];
    expect(run(det(), backdoor).detections.map((d) => [d.severity, d.time - END])).toEqual([
      ['low', 0],
      ['medium', 3 * MIN],
    ]);
    // Three: decided at 3 minutes.
    const busy = [...warmup({ agents: AGENTS }), moved, ...warmup({ agents: ['a2', 'a3', 'a4'], start: END + MIN, durationMs: MIN }), ...warmup({ agents: ['a4'], start: END + 12 * MIN, durationMs: MIN })];
    expect(run(det(), busy).detections.map((d) => [d.severity, d.time - END])).toEqual([
      ['low', 0],
      ['medium', 3 * MIN],
    ]);
  });

  it('weighs a country other blueprints of the tenant use half, but in full from a network new to the whole tenant', () => {
    const AU = { country: 'AU', asn: 8075, lat: -33.9, lon: 151.2 };
    const US = { country: 'US', asn: 16509, lat: 39.0, lon: -77.5 };
    const signinFrom = (place: Partial<SigninEvent>) => {
      const events = [...warmup({ agents: AGENTS, extra: AU }), ...warmup({ agents: ['b1', 'b2', 'b3'], bp: 'bp2', extra: US })];
      events.push(signin({ agent_id: 'a1', credential_id: 'cred-a1', time: END, ip: '104.248.196.135', ...place }));
      events.push(...warmup({ agents: ['a2', 'a3'], start: END + MIN, durationMs: 5 * MIN, extra: AU }));
      return run(det(), events).detections.filter((d) => d.agent_id === 'a1');
    };
    // The tenant's US network (another blueprint's): each value half, low.
    const tenantPlace = signinFrom({ ...US });
    expect(tenantPlace.map((d) => d.severity)).toEqual(['low']);
    expect(tenantPlace[0]!.evidence.weight).toBe(1);
    expect(tenantPlace[0]!.evidence.known_elsewhere_in_tenant).toEqual(['country', 'asn']);
    // A VPS in the US that no workload of the tenant uses: the country is no excuse, medium.
    const vps = signinFrom({ ...US, asn: 14061, lat: 40.7, lon: -74.0 });
    expect(vps.map((d) => d.severity)).toEqual(['low', 'medium']);
    expect(vps[0]!.evidence.weight).toBe(3); // DigitalOcean's network, new to the tenant, weighs double (see below), the country in full
    expect(vps[0]!.evidence.known_elsewhere_in_tenant).toEqual([]);
  });

  it('fires low for a single new property, once', () => {
    const events = [
      ...warmup({ agents: AGENTS }),
      signin({ agent_id: 'a1', credential_id: 'cred-a1', time: END, country: 'CA', lat: 43.7, lon: -79.4 }),
      signin({ agent_id: 'a1', credential_id: 'cred-a1', time: END + MIN, country: 'CA' }),
    ];
    const { detections } = run(det(), events);
    expect(detections.map((d) => [d.severity, d.evidence.new_properties])).toEqual([['low', ['country']]]);
  });

  it('weighs a new consumer broadband network double for a workload signing in with client credentials (a residential proxy), not for an agent user account, nor a carrier that also hosts data centres', () => {
    const from = (asn: number, o: Partial<SigninEvent> = {}) => [
      ...warmup({ agents: AGENTS }),
      signin({ agent_id: 'a1', credential_id: 'cred-a1', time: END, asn, ip: '73.165.92.18', event_id: 'home', ...o }),
      ...warmup({ agents: ['a2', 'a3'], start: END + MIN, durationMs: 5 * MIN }),
    ];
    // Comcast: only the network is new, and it is medium after the confirmation.
    const comcast = run(det(), from(7922)).detections;
    expect(comcast.map((d) => [d.severity, d.time - END])).toEqual([
      ['low', 0],
      ['medium', 3 * MIN],
    ]);
    expect(comcast[0]!.evidence.weight).toBe(2);
    // Verizon (701) runs corporate lines too; an agent user account may sign in where a person is.
    expect(run(det(), from(701)).detections.map((d) => d.severity)).toEqual(['low']);
    expect(run(det(), from(7922, { agent_type: 'agent_user', flow: 'agent_user' })).detections.map((d) => d.severity)).toEqual(['low']);
  });

  it('weighs a new hosting provider network that none of the tenant\'s workloads uses double for a workload (a rented machine in its own country), not one another blueprint runs in, nor for an agent user account', () => {
    const TENCENT = { asn: 132203, ip: '43.156.61.20' };
    const from = (place: Partial<SigninEvent>, o: Partial<SigninEvent> = {}) =>
      run(det(), [
        ...warmup({ agents: AGENTS }),
        ...warmup({ agents: ['b1', 'b2', 'b3'], bp: 'bp2', extra: { asn: 16509 } }),
        signin({ agent_id: 'a1', credential_id: 'cred-a1', time: END, event_id: 'vps', ...place, ...o }),
        ...warmup({ agents: ['a2', 'a3'], start: END + MIN, durationMs: 5 * MIN }),
      ]).detections.filter((d) => d.agent_id === 'a1');
    // Tencent Cloud, same country, same client: only the network is new, medium after the confirmation.
    const vps = from(TENCENT);
    expect(vps.map((d) => [d.severity, d.time - END])).toEqual([
      ['low', 0],
      ['medium', 3 * MIN],
    ]);
    expect(vps[0]!.evidence.weight).toBe(2);
    expect(vps[0]!.summary).toContain("asn 132203 (a hosting provider's, where none of the tenant's workloads runs)");
    // AWS, where another blueprint of the tenant runs: half, under the bar of a finding.
    expect(from({ asn: 16509, ip: '13.250.57.9' })).toEqual([]);
    // An agent user account signs in where its person is.
    expect(from(TENCENT, { agent_type: 'agent_user', flow: 'agent_user' }).map((d) => d.severity)).toEqual(['low']);
    // The blueprint moving there together: a deployment, low.
    const moved = run(det(), [
      ...warmup({ agents: AGENTS }),
      signin({ agent_id: 'a1', credential_id: 'cred-a1', time: END, ...TENCENT }),
      ...warmup({ agents: ['a2', 'a3', 'a4'], start: END + MIN, durationMs: 5 * MIN, extra: TENCENT }),
    ]).detections.filter((d) => d.agent_id === 'a1');
    expect(moved.map((d) => d.severity)).toEqual(['low']);
  });

  it('weighs a new bare HTTP client (python-requests, curl, PowerShell) double for a workload: a secret pasted into a script, not the agent\'s SDK; another SDK stays low', () => {
    const client = (user_agent: string, o: Partial<SigninEvent> = {}) =>
      run(det(), [
        ...warmup({ agents: AGENTS }),
        signin({ agent_id: 'a1', credential_id: 'cred-a1', time: END, user_agent, event_id: 'script', ...o }),
        ...warmup({ agents: ['a2', 'a3'], start: END + MIN, durationMs: 5 * MIN }),
      ]).detections;
    const script = client('python-requests/2.31.0');
    expect(script.map((d) => [d.severity, d.time - END])).toEqual([
      ['low', 0],
      ['medium', 3 * MIN],
    ]);
    expect(script[0]!.evidence.weight).toBe(2);
    expect(client('Mozilla/5.0 (Windows NT; Windows NT 10.0; en-US) WindowsPowerShell/5.1.19041.4522').map((d) => d.severity)).toEqual(['low', 'medium']);
    expect(client('curl/8.7.1').map((d) => d.severity)).toEqual(['low', 'medium']);
    // An identity SDK the blueprint does not use, or an agent user account's client: one new property, low.
    expect(client('azsdk-python-identity/1.17.1 Python/3.10.12').map((d) => d.severity)).toEqual(['low']);
    expect(client('python-requests/2.31.0', { agent_type: 'agent_user', flow: 'agent_user' }).map((d) => d.severity)).toEqual(['low']);
  });

  it('weighs a new client on a desktop operating system (Windows 10 or 11 client builds, macOS) double for a workload: its certificate in a person\'s hands; not a Windows Server build', () => {
    const client = (user_agent: string) =>
      run(det(), [
        ...warmup({ agents: AGENTS }),
        signin({ agent_id: 'a1', credential_id: 'cred-a1', time: END, user_agent, event_id: 'desktop' }),
        ...warmup({ agents: ['a2', 'a3'], start: END + MIN, durationMs: 5 * MIN }),
      ]).detections.map((d) => d.severity);
    expect(client('Microsoft.Identity.Client/4.56.0.0 (.NET Framework 4.8.9181.0; Windows 10.0.19045)')).toEqual(['low', 'medium']);
    expect(client('msal-python/1.30.0 Python/3.12.4 (Windows-11-10.0.22631-SP0)')).toEqual(['low', 'medium']);
    expect(client('msal-node/2.9.2 Node/20.15.0 (macOS 14.5; Macintosh)')).toEqual(['low', 'medium']);
    // Windows Server 2019 and 2022 builds (17763, 20348): a server, one new property, low.
    expect(client('Microsoft.Identity.Client/4.56.0.0 (.NET Framework 4.8.4645.0; Windows 10.0.17763)')).toEqual(['low']);
    expect(client('Microsoft.Identity.Client/4.56.0.0 (.NET 8.0.7; Windows 10.0.20348)')).toEqual(['low']);
  });

  it('makes a new client of offensive tooling medium at once, even from the agent\'s own host and in a learning blueprint, but not a name that merely contains one', () => {
    const roadtx = [...warmup({ agents: AGENTS }), signin({ agent_id: 'a1', credential_id: 'cred-a1', time: END, user_agent: 'roadtx/1.9.2 (ROADtools)' })];
    const { detections } = run(det(), roadtx);
    expect(detections.map((d) => [d.severity, d.evidence.new_properties, d.evidence.weight])).toEqual([['medium', ['user_agent'], 2]]);
    expect(detections[0]!.summary).toContain('(offensive tooling)');
    expect(detections[0]!.evidence.offensive_client).toBe('roadtx/1.9.2 (ROADtools)');
    // A blueprint still learning judges nothing else, but GraphRunner is no baseline's.
    const learning = [signin({ agent_id: 'x', blueprint_id: 'fresh-bp', time: T0 }), signin({ agent_id: 'x', blueprint_id: 'fresh-bp', time: T0 + MIN, user_agent: 'Mozilla/5.0 GraphRunner' })];
    expect(run(det(), learning).detections.map((d) => d.severity)).toEqual(['medium']);
    // "roadtxt-sync" and "nmapper" are not the tools.
    const lookalike = [...warmup({ agents: AGENTS }), signin({ agent_id: 'a1', credential_id: 'cred-a1', time: END, user_agent: 'roadtxt-sync/2.0 nmapper' })];
    expect(run(det(), lookalike).detections.map((d) => d.severity)).toEqual(['low']);
  });

  it('ignores client version bumps', () => {
    const events = [...warmup({ agents: AGENTS }), signin({ agent_id: 'a1', credential_id: 'cred-a1', time: END, user_agent: 'azsdk-js-identity/1.3.7' })];
    expect(run(det(), events).detections).toHaveLength(0);
  });

  it('treats a blueprint-wide move to a new region as a deployment', () => {
    const events = [...warmup({ agents: AGENTS })];
    AGENTS.forEach((a, i) => events.push(signin({ agent_id: a, credential_id: `cred-${a}`, time: END + i * MIN, country: 'NL' })));
    events.push(signin({ agent_id: 'newcomer', credential_id: 'cred-new', time: END + 10 * MIN, country: 'NL' }));
    const { detections } = run(det(), events);
    expect(detections.map((d) => d.agent_id)).toEqual(['a1', 'a2']);
    expect(detections.every((d) => d.severity === 'low')).toBe(true);
  });

  it('treats a credential added by a sponsor and then used as rotation, but not one the agent added itself', () => {
    const rotated = [
      lifecycle({ agent_id: 'a1', action: 'sponsor_added', sponsor_id: 'alice', time: T0 }),
      ...warmup({ agents: AGENTS }),
      lifecycle({ agent_id: 'a1', action: 'credential_added', actor: 'alice', credential_id: 'cred-rotated', time: END }),
      signin({ agent_id: 'a1', credential_id: 'cred-rotated', credential_type: 'certificate', time: END + MIN }),
    ];
    expect(run(det(), rotated).detections).toHaveLength(0);

    // The sponsor adds a client secret to an agent that used federated credentials, and it is used from a new network:
    // the new credential is explained, the downgrade to a secret is not; with the network it stays low, the sponsor
    // running the agent from elsewhere (an on-call engineer's laptop) vouching for both.
    const downgrade = (asn: number) => [
      lifecycle({ agent_id: 'a1', action: 'sponsor_added', sponsor_id: 'alice', time: T0 }),
      ...warmup({ agents: AGENTS }),
      lifecycle({ agent_id: 'a1', action: 'credential_added', actor: 'alice', credential_id: 'cred-secret', time: END }),
      signin({ agent_id: 'a1', credential_id: 'cred-secret', credential_type: 'client_secret', asn, time: END + MIN }),
      ...warmup({ agents: ['a2', 'a3', 'a4'], start: END + 2 * MIN, durationMs: 12 * MIN }),
    ];
    expect(run(det(), downgrade(8075)).detections.map((d) => [d.severity, d.evidence.new_properties])).toEqual([['low', ['credential_type']]]);
    expect(run(det(), downgrade(16509)).detections.map((d) => [d.severity, d.evidence.new_properties])).toEqual([['low', ['asn', 'credential_type']]]);

    const selfAdded = [
      lifecycle({ agent_id: 'a1', action: 'sponsor_added', sponsor_id: 'alice', time: T0 }),
      ...warmup({ agents: AGENTS }),
      lifecycle({ agent_id: 'a1', action: 'credential_added', actor: 'a1', credential_id: 'cred-sneaky', time: END }),
      signin({ agent_id: 'a1', credential_id: 'cred-sneaky', time: END + MIN }),
    ];
    const { detections } = run(det(), selfAdded);
    expect(detections).toHaveLength(1);
    expect(detections[0]!.evidence.new_properties).toEqual(['credential_id']);
  });

  it('keeps new properties low when the credential was added by a sponsor within the day (on-call debugging from a laptop), not by an administrator, a self-appointed or a risky sponsor, nor days before', () => {
    const laptop = (actor: string, addedAt: number, extra: AgentEvent[] = []) => [
      lifecycle({ agent_id: 'a1', action: 'sponsor_added', sponsor_id: 'alice', actor: 'admin', time: T0 }),
      ...warmup({ agents: AGENTS }),
      ...extra,
      lifecycle({ agent_id: 'a1', action: 'credential_added', actor, credential_id: 'tmp-secret', time: addedAt }),
      signin({ agent_id: 'a1', credential_id: 'tmp-secret', credential_type: 'client_secret', asn: 3320, user_agent: 'azsdk-python-identity/1.17.1 (macOS-14.6.1-arm64)', ip: '91.64.7.12', time: END + 3 * MIN }),
      ...warmup({ agents: ['a2', 'a3', 'a4'], start: END + 4 * MIN, durationMs: 12 * MIN }),
    ];
    const bySponsor = run(det(), laptop('alice', END)).detections;
    expect(bySponsor.map((d) => d.severity)).toEqual(['low']);
    expect(bySponsor[0]!.evidence.new_properties).toEqual(['asn', 'user_agent', 'credential_type']);
    expect(bySponsor[0]!.summary).toContain('added by its sponsor alice');
    expect(bySponsor[0]!.evidence.sponsor_credential).toEqual({ added_by: 'alice', added_at: END });
    // Added by an administrator who is not a sponsor, or by the sponsor two days before: medium.
    expect(run(det(), laptop('bob-admin', END)).detections.map((d) => d.severity)).toEqual(['low', 'medium']);
    expect(run(det(), laptop('alice', END - 2 * 24 * 60 * MIN)).detections.map((d) => d.severity)).toEqual(['low', 'medium']);
    // A sponsor at high user risk vouches for nothing.
    const risky = laptop('alice', END, [{ type: 'user_risk', event_id: 'ur-1', time: END - MIN, tenant_id: 't1', user_id: 'alice', level: 'high', reason: null }]);
    expect(run(det(), risky).detections.map((d) => d.severity)).toEqual(['low', 'medium']);
    // The sponsor's credential put to use where the agent runs (its rotation) is the agent's own by then: a copy of it
    // used from elsewhere is judged like any other.
    const rolledOut = laptop('alice', END - 20 * MIN).flatMap((e) =>
      e.type === 'signin' && e.credential_id === 'tmp-secret'
        ? [signin({ agent_id: 'a1', credential_id: 'tmp-secret', time: END - 15 * MIN }), e]
        : [e],
    );
    expect(run(det(), rolledOut).detections.map((d) => d.severity)).toEqual(['low', 'medium']);
  });

  it('judges a credential like any other when its sponsor created the agent within the day and never managed another agent of its blueprint (an impersonator swapped in)', () => {
    const swap = (creator: string, before: AgentEvent[] = [], createdAt = END - 5 * MIN) => [
      ...warmup({ agents: AGENTS }),
      ...before,
      lifecycle({ agent_id: 'a4', action: 'deleted', actor: creator, time: createdAt - MIN }),
      lifecycle({ agent_id: 'a5', action: 'created', actor: creator, time: createdAt }),
      lifecycle({ agent_id: 'a5', action: 'sponsor_added', sponsor_id: creator, actor: creator, time: createdAt + 20_000 }),
      lifecycle({ agent_id: 'a5', action: 'credential_added', actor: creator, credential_id: 'new-secret', time: END - 4 * MIN }),
      signin({ agent_id: 'a5', credential_id: 'new-secret', credential_type: 'client_secret', asn: 20473, ip: '216.238.40.13', time: END, event_id: 'swap' }),
      ...warmup({ agents: ['a1', 'a2', 'a3'], start: END + MIN, durationMs: 12 * MIN }),
    ];
    const out = run(det(), swap('mallory')).detections.filter((d) => d.agent_id === 'a5');
    expect(out.map((d) => d.severity)).toEqual(['low', 'medium']);
    expect(out[0]!.summary).toContain('its sponsor mallory created it 5 min before and never managed another agent of its blueprint');
    expect(out[0]!.evidence.stranger_creator).toEqual({ actor: 'mallory', created_at: END - 5 * MIN });
    expect(out[0]!.evidence.sponsor_credential).toBeUndefined();
    // The blueprint's own provisioner, who created and credentialed its other agents: his new agent's debugging is low.
    const known = [
      lifecycle({ agent_id: 'a2', action: 'created', actor: 'provisioner', time: T0 - 10 * MIN }),
      lifecycle({ agent_id: 'a3', action: 'credential_added', actor: 'provisioner', credential_id: 'c3', time: T0 - 9 * MIN }),
    ];
    expect(run(det(), swap('provisioner', known)).detections.filter((d) => d.agent_id === 'a5').map((d) => d.severity)).toEqual(['low']);
    // One who made an agent of another blueprint is still a stranger to this one.
    const elsewhere = [lifecycle({ agent_id: 'z1', blueprint_id: 'bp9', action: 'created', actor: 'mallory', time: T0 - 10 * MIN })];
    expect(run(det(), swap('mallory', elsewhere)).detections.filter((d) => d.agent_id === 'a5').map((d) => d.severity)).toEqual(['low', 'medium']);
    // Created two days before (the secret added today): the sponsor's own agent by now.
    expect(run(det(), swap('mallory', [], END - 2 * 24 * HOUR)).detections.filter((d) => d.agent_id === 'a5').map((d) => d.severity)).toEqual(['low']);
  });

  it('judges a sponsor\'s credential like any other when the sponsor added credentials to 4 or more agents within 10 minutes (a spree, not one agent debugged)', () => {
    const spree = (targets: number) => [
      lifecycle({ agent_id: 'a1', action: 'sponsor_added', sponsor_id: 'alice', actor: 'admin', time: T0 }),
      ...warmup({ agents: AGENTS }),
      ...Array.from({ length: targets }, (_, i) => lifecycle({ agent_id: `other-${i}`, blueprint_id: 'bp9', action: 'credential_added', actor: 'Alice', credential_id: `s-${i}`, time: END - 4 * MIN + i * 30_000 })),
      lifecycle({ agent_id: 'a1', action: 'credential_added', actor: 'alice', credential_id: 'tmp-secret', time: END }),
      signin({ agent_id: 'a1', credential_id: 'tmp-secret', credential_type: 'client_secret', asn: 24940, country: 'FI', user_agent: 'msal-python/1.28.0', ip: '95.216.7.12', time: END + 3 * MIN }),
      ...warmup({ agents: ['a2', 'a3', 'a4'], start: END + 4 * MIN, durationMs: 12 * MIN }),
    ];
    // Alice added credentials to a1 and 3 more agents within minutes: a spree (case aside, one actor).
    expect(run(det(), spree(3)).detections.map((d) => d.severity)).toEqual(['low', 'medium']);
    // One more agent besides a1 is still a sponsor at work on her agents.
    expect(run(det(), spree(1)).detections.map((d) => d.severity)).toEqual(['low']);
  });

  it('weighs a new credential no addition record explains, used from another subnet beside the agent\'s own, one more: medium after the confirmation', () => {
    const planted = (o: { ip?: string; at?: number; credential_type?: SigninEvent['credential_type']; before?: AgentEvent[]; after?: AgentEvent[] } = {}) => {
      const at = o.at ?? END + 30_000;
      const events: AgentEvent[] = [
        ...warmup({ agents: AGENTS }),
        ...(o.before ?? []),
        // Same network, country and client as the agent's own: only the credential is new, from a VM in another /24.
        signin({ agent_id: 'a1', credential_id: 'cred-planted', credential_type: o.credential_type ?? 'federated', ip: o.ip ?? '20.40.7.9', time: at, event_id: 'planted' }),
        ...(o.after ?? []),
        // The agent goes on with its own credential at home.
        ...warmup({ agents: AGENTS, start: at + MIN, durationMs: 6 * MIN }),
      ];
      events.sort((x, y) => x.time - y.time);
      return run(det(), events).detections;
    };
    const found = planted();
    expect(found.map((d) => [d.severity, d.time - END])).toEqual([
      ['low', 30_000],
      ['medium', 30_000 + 3 * MIN],
    ]);
    expect(found[0]!.evidence.new_properties).toEqual(['credential_id', 'unaudited_credential']);
    expect(found[0]!.evidence.weight).toBe(2);
    expect(found[0]!.summary).toContain('an unaudited credential (no addition record, beside credential cred-a1 used from 20.0.0.1');
    expect(found[1]!.event_ids).toEqual(['planted']);
    expect(found[1]!.evidence.new_properties).toEqual(['credential_id', 'unaudited_credential']);
    const severities = (d: typeof found) => d.map((x) => x.severity);
    // From the agent's own subnet (a rotation in place whose record the feed lacks): low.
    expect(severities(planted({ ip: '20.0.0.77' }))).toEqual(['low']);
    // Its own credential last used two hours before: nothing runs beside it.
    expect(severities(planted({ at: END + 2 * HOUR }))).toEqual(['low']);
    // Recorded: an administrator's addition to an agent without sponsor is a rotation; a late record takes the extra weight back.
    expect(planted({ before: [lifecycle({ agent_id: 'a1', action: 'credential_added', actor: 'admin-1', credential_id: 'cred-planted', time: END })] })).toEqual([]);
    expect(severities(planted({ after: [lifecycle({ agent_id: 'a1', action: 'credential_added', actor: 'admin-1', credential_id: 'cred-planted', time: END + 80_000 })] }))).toEqual(['low']);
    // A late record by the agent itself: recorded, so no longer unaudited here (an unvouched addition used beside the
    // agent's own credential is backdoor-credential's to judge).
    expect(severities(planted({ after: [lifecycle({ agent_id: 'a1', action: 'credential_added', actor: 'a1', credential_id: 'cred-planted', time: END + 80_000 })] }))).toEqual(['low']);
    // A managed identity's certificates rotate unrecorded.
    expect(planted({ credential_type: 'managed_identity' }).map((d) => [d.severity, d.evidence.new_properties])).toEqual([['low', ['credential_type', 'credential_id']]]);
  });

  it('judges a minutes-old agent by its blueprint, but not on its own credential', () => {
    const events = [
      ...warmup({ agents: AGENTS }),
      signin({ agent_id: 'fresh', credential_id: 'cred-fresh', time: END }),
      signin({ agent_id: 'fresh2', credential_id: 'cred-fresh2', time: END, country: 'BR', asn: 28573 }),
    ];
    const { detections } = run(det(), events);
    expect(detections.map((d) => [d.agent_id, d.evidence.new_properties])).toEqual([['fresh2', ['country', 'asn']]]);
    expect(detections[0]!.evidence.confirmation).toBe('pending');
  });

  it('judges a quiet agent of a small blueprint once it has signed in 5 times over 2 hours: a hosting network and a new client are low, then medium', () => {
    // Two filers signing in every 25 minutes: neither reaches 10 sign-ins, nor the blueprint 3 agents.
    const quiet = (end: number) => warmup({ bp: 'filers', agents: ['f1', 'f2'], durationMs: end - T0, everyMs: 25 * MIN });
    const attack = (at: number) => signin({ blueprint_id: 'filers', agent_id: 'f1', credential_id: 'cred-f1', time: at, asn: 14061, ip: '138.197.72.86', user_agent: 'azsdk-python-identity/1.17.1 Python/3.10.12' });
    const later = warmup({ bp: 'filers', agents: ['f2'], start: T0 + 131 * MIN, durationMs: 15 * MIN, everyMs: 5 * MIN });
    const settled = run(det(), [...quiet(T0 + 130 * MIN), attack(T0 + 130 * MIN), ...later]).detections;
    expect(settled.map((d) => [d.agent_id, d.severity])).toEqual([
      ['f1', 'low'],
      ['f1', 'medium'],
    ]);
    expect(settled[0]!.evidence.new_properties).toEqual(['asn', 'user_agent']);
    // Four sign-ins, or five within the first hour: still learning.
    expect(run(det(), [...quiet(T0 + 80 * MIN), attack(T0 + 80 * MIN)]).detections).toEqual([]);
    expect(run(det(), [...warmup({ bp: 'filers', agents: ['f1', 'f2'], durationMs: 50 * MIN, everyMs: 10 * MIN }), attack(T0 + 55 * MIN)]).detections).toEqual([]);
  });

  it('stays silent while learning, and ignores failed sign-ins', () => {
    const events = [
      signin({ agent_id: 'x', blueprint_id: 'fresh-bp', time: T0 }),
      signin({ agent_id: 'x', blueprint_id: 'fresh-bp', time: T0 + MIN, country: 'FR', asn: 3215 }),
      ...warmup({ agents: AGENTS }),
      signin({ agent_id: 'a1', credential_id: 'cred-a1', time: END, country: 'RU', asn: 64500, result: 'failure', error_code: 'AADSTS7000215' }),
    ];
    expect(run(det(), events).detections).toHaveLength(0);
  });

  it('restores a snapshot and gives the same detections as the uninterrupted detector', () => {
    const events = [...warmup({ agents: AGENTS })];
    AGENTS.forEach((a, i) => events.push(signin({ agent_id: a, credential_id: `cred-${a}`, time: END + i * MIN, country: i % 2 ? 'NL' : 'JP' })));
    const split = events.length;
    events.push(signin({ agent_id: 'a1', credential_id: 'cred-a1', time: END + 5 * MIN, country: 'RU', asn: 64500 }));
    events.push(...warmup({ agents: ['a2'], start: END + 6 * MIN, durationMs: 5 * MIN }));
    // Split right after the suspicious sign-in: its medium confirmation is pending in the snapshot.
    const { uninterrupted, restored } = snapshotRoundTrip(createUnfamiliarSigninPropertiesDetector, events, split + 1);
    expect(uninterrupted.map((d) => [d.agent_id, d.severity])).toEqual([['a1', 'medium']]);
    expect(restored).toEqual(uninterrupted);
  });
});

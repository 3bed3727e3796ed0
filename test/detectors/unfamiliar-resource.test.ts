import { beforeEach, describe, expect, it } from 'vitest';
import { createUnfamiliarResourceDetector } from '../../detectors/unfamiliar-resource.js';
import { HOUR, MIN, SEC, T0, lifecycle, resetIds, run, signin, snapshotRoundTrip, token, warmup } from './core-helpers.js';

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

  it('knows a resource in any of its spellings: case, trailing slash, application id, api:// and the id', () => {
    const events = [
      ...warmup({ agents: AGENTS, resources: ['https://graph.microsoft.com', 'https://vault.azure.net', 'api://1b4f816e-5eaf-48b9-8613-7923830595ad'] }),
      signin({ agent_id: 'a1', time: END, resource: '00000003-0000-0000-c000-000000000000' }),
      token({ agent_id: 'a2', time: END + 1000, resource: 'https://Graph.Microsoft.com/' }),
      signin({ agent_id: 'a3', time: END + 2000, resource: 'CFA8B339-82A2-471A-A3C9-0FC0BE7A4093' }),
      token({ agent_id: 'a4', time: END + 3000, resource: '1b4f816e-5eaf-48b9-8613-7923830595ad' }),
      // A resource that is new in every spelling still fires.
      token({ agent_id: 'a1', time: END + 4000, resource: 'https://Evil.Example.com/', event_id: 'new' }),
    ];
    const { detections } = run([createUnfamiliarResourceDetector()], events);
    expect(detections.map((d) => [d.agent_id, d.event_ids])).toEqual([['a1', ['new']]]);
    expect(detections[0]!.evidence.observed).toMatchObject({ resource: 'https://Evil.Example.com/' });
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

  it('counts a failure whose code names no cause (or that has none) at an unfamiliar resource, but not an authentication failure', () => {
    const probe = (agent: string, i: number, error_code: string | null) =>
      signin({ agent_id: agent, time: END + i * 20_000, resource: `https://probe-${i}.example.com`, result: 'failure', error_code });
    const events = [
      ...warmup({ agents: AGENTS }),
      ...[0, 1, 2].map((i) => probe('a1', i, null)),
      ...[0, 1, 2].map((i) => probe('a2', i, 'AADSTS12345')),
      ...[0, 1, 2].map((i) => probe('a3', i, 'AADSTS7000215')), // wrong secret: says nothing about the resource
    ];
    const { detections } = run([createUnfamiliarResourceDetector()], events);
    // One finding per resource: low, then medium for each further one within 30 minutes.
    expect(detections.map((d) => [d.agent_id, d.severity])).toEqual([
      ['a1', 'low'],
      ['a1', 'medium'],
      ['a1', 'medium'],
      ['a2', 'low'],
      ['a2', 'medium'],
      ['a2', 'medium'],
    ]);
  });

  it('raises two unfamiliar resources within minutes to medium 3 minutes after the second unless the blueprint takes both up; a third at once', () => {
    const probes = (n: number) => {
      const events = [...warmup({ agents: AGENTS })];
      for (let i = 0; i < n; i++) events.push(token({ agent_id: 'a1', time: END + i * MIN, resource: `https://probe-${i}.example.com`, event_id: `p${i}` }));
      events.push(token({ agent_id: 'a1', time: END + 4 * MIN, resource: 'https://probe-0.example.com' }));
      events.push(signin({ agent_id: 'a4', time: END + 6 * MIN, resource: 'https://graph.microsoft.com' })); // moves the watermark on
      return run([createUnfamiliarResourceDetector()], events).detections;
    };
    const two = probes(2);
    expect(two.map((d) => [d.severity, d.time - END])).toEqual([
      ['low', 0],
      ['low', MIN],
      ['medium', 4 * MIN],
    ]);
    expect(two[2]!.event_ids).toEqual(['p0', 'p1']);
    expect(two[2]!.summary).toContain('did not take both up within 4 min');
    // A third is discovery: medium at once, and the pair adds no second medium.
    expect(probes(3).map((d) => d.severity)).toEqual(['low', 'low', 'medium']);
  });

  it('takes two new dependencies a release adds to every agent of the blueprint, pod by pod, as a rollout', () => {
    const events = [...warmup({ agents: AGENTS })];
    AGENTS.forEach((a, i) => {
      events.push(token({ agent_id: a, time: END + i * 20 * SEC, resource: 'https://vault.example.com' }));
      events.push(token({ agent_id: a, time: END + i * 20 * SEC + 5 * SEC, resource: 'https://sql.example.com' }));
    });
    events.push(signin({ agent_id: 'a4', time: END + 15 * MIN, resource: 'https://graph.microsoft.com' }));
    const { detections } = run([createUnfamiliarResourceDetector()], events);
    expect(detections.filter((d) => d.severity !== 'low')).toEqual([]);
  });

  it('raises to medium on slow discovery (a new resource every 11 minutes), not on two 40 minutes apart', () => {
    const slow = [...warmup({ agents: AGENTS })];
    for (let i = 0; i < 3; i++) slow.push(token({ agent_id: 'a1', time: END + i * 11 * MIN, resource: `https://probe-${i}.example.com` }));
    expect(run([createUnfamiliarResourceDetector()], slow).detections.map((d) => d.severity)).toEqual(['low', 'low', 'medium', 'medium']);
    // Two 40 minutes apart are no burst: each stays low (confirmation off here; it is tested below).
    const apart = [...warmup({ agents: AGENTS })];
    for (let i = 0; i < 2; i++) apart.push(token({ agent_id: 'a1', time: END + i * 40 * MIN, resource: `https://probe-${i}.example.com` }));
    expect(run([createUnfamiliarResourceDetector({ confirmMs: 0 })], apart).detections.map((d) => d.severity)).toEqual(['low', 'low']);
  });

  describe('a single unfamiliar resource, confirmed after 10 minutes', () => {
    /** Later activity of a peer on a familiar resource: moves the watermark on. */
    const later = (at: number) => signin({ agent_id: 'a4', time: at, resource: 'https://graph.microsoft.com' });

    it('is medium 10 minutes after the access when no other agent of the blueprint takes the resource up', () => {
      const events = [...warmup({ agents: AGENTS }), token({ agent_id: 'a1', time: END, resource: 'https://keyvault-prod.vault.azure.net', event_id: 'kv' }), later(END + 12 * MIN)];
      const { detections, pipeline } = run([createUnfamiliarResourceDetector()], events);
      expect(detections.map((d) => [d.severity, d.time - END])).toEqual([
        ['low', 0],
        ['medium', 10 * MIN],
      ]);
      expect(detections[1]!.event_ids).toEqual(['kv']);
      expect(detections[1]!.summary).toContain('no other agent of the blueprint took it up within 10 min');
      expect(pipeline.level('t1', 'a1')).toBe('medium');
      // Until the watermark reaches the confirmation time it stays low.
      const early = run([createUnfamiliarResourceDetector()], [...warmup({ agents: AGENTS }), token({ agent_id: 'a1', time: END, resource: 'https://keyvault-prod.vault.azure.net' }), later(END + 9 * MIN)]);
      expect(early.detections.map((d) => d.severity)).toEqual(['low']);
    });

    it('stays low while the blueprint baseline rests on fewer than 40 accesses (a quiet blueprint has not shown every resource yet)', () => {
      const kv = 'https://keyvault-prod.vault.azure.net';
      // 4 agents, one access each every 5 min for 40 min: 32 accesses (the peer baseline is ready at 20)
      const quiet = warmup({ agents: AGENTS, everyMs: 5 * MIN });
      const low = run([createUnfamiliarResourceDetector()], [...quiet, token({ agent_id: 'a1', time: END, resource: kv }), later(END + 12 * MIN)]);
      expect(low.detections.map((d) => d.severity)).toEqual(['low']);
      // 8 more accesses make 40: the same lone resource is confirmed
      const more = warmup({ agents: AGENTS, everyMs: 5 * MIN, start: END, durationMs: 10 * MIN });
      const medium = run([createUnfamiliarResourceDetector()], [...quiet, ...more, token({ agent_id: 'a1', time: END + 10 * MIN, resource: kv }), later(END + 22 * MIN)]);
      expect(medium.detections.map((d) => d.severity)).toEqual(['low', 'medium']);
    });

    it('is not confirmed when the blueprint adopts the resource within the window (a new API rolled out)', () => {
      const rollout = ['a1', 'a2', 'a3'].map((agent, i) => token({ agent_id: agent, time: END + i * 90_000, resource: 'https://search-new.example.com' }));
      const { detections } = run([createUnfamiliarResourceDetector()], [...warmup({ agents: AGENTS }), ...rollout, later(END + 20 * MIN)]);
      // The first two movers are low at once (the third makes it a deployment); neither is confirmed.
      expect(detections.map((d) => [d.agent_id, d.severity])).toEqual([
        ['a1', 'low'],
        ['a2', 'low'],
      ]);
    });

    it('keeps a canary low when the resource is new to the tenant and another blueprint took it up too (a tenant-wide rollout), not a resource the tenant already used, nor one agent alone', () => {
      const mcp = 'api://contoso-mcp';
      const kv = 'https://keyvault-prod.vault.azure.net';
      const other = warmup({ bp: 'bp2', agents: ['b1', 'b2', 'b3'], resources: ['https://graph.microsoft.com', 'https://storage.azure.com'] });
      const use = (agent: string, bp: string, at: number, resource = mcp) => token({ agent_id: agent, blueprint_id: bp, time: at, resource });
      const levels = (events: ReturnType<typeof token>[], background = [...warmup({ agents: AGENTS }), ...other]) =>
        run([createUnfamiliarResourceDetector()], [...background, ...events, later(END + 30 * MIN)]).detections.filter((d) => d.agent_id === 'a1').map((d) => d.severity);
      // One agent of each blueprint in the first wave, minutes apart: the canary of a tenant-wide rollout.
      expect(levels([use('a1', 'bp1', END), use('b1', 'bp2', END + 4 * MIN)])).toEqual(['low']);
      // The same resource reached by a1 alone: confirmed.
      expect(levels([use('a1', 'bp1', END)])).toEqual(['low', 'medium']);
      // Another blueprint of the tenant used it from the start: a worker reaching the devops vault is no rollout.
      const devops = warmup({ bp: 'bp2', agents: ['b1', 'b2', 'b3'], resources: ['https://graph.microsoft.com', kv] });
      expect(levels([use('a1', 'bp1', END, kv)], [...warmup({ agents: AGENTS }), ...devops])).toEqual(['low', 'medium']);
      // The other blueprint's first use came more than 30 minutes after the tenant's first: two incidents, not one rollout.
      expect(levels([use('b1', 'bp2', END - 35 * MIN + 30 * SEC), use('a1', 'bp1', END)])).toEqual(['low', 'medium']);
    });

    it('keeps low a first call to the API of an agent blueprint of the tenant that appeared within the day (a new internal agent\'s canary), not of one there from the start', () => {
      const levels = (bpStart: number) => {
        // Blueprint "translator" (its id is its API's name) appears at bpStart, its agents signing in from then on.
        const workers = warmup({ bp: 'c0ffee00-0000-4000-8000-000000000001', agents: ['w1', 'w2'], start: bpStart, durationMs: END - bpStart });
        const call = token({ agent_id: 'a1', time: END, resource: 'api://c0ffee00-0000-4000-8000-000000000001' });
        const history = [...warmup({ agents: AGENTS, start: T0 - 2 * HOUR, durationMs: 2 * HOUR + 40 * MIN }), ...workers].sort((x, y) => x.time - y.time);
        return run([createUnfamiliarResourceDetector()], [...history, call, later(END + 12 * MIN)]).detections.filter((d) => d.agent_id === 'a1').map((d) => d.severity);
      };
      // Appeared 10 minutes before the call, 2.5 hours after the caller's blueprint was first seen: low.
      expect(levels(END - 10 * MIN)).toEqual(['low']);
      // There as long as the caller's blueprint: confirmed.
      expect(levels(T0 - 2 * HOUR)).toEqual(['low', 'medium']);
    });

    it('takes a resource of the blueprint long tail as its own: one other user hours ago vouches for nothing, two do', () => {
      const kv = 'https://keyvault-prod.vault.azure.net';
      const use = (agent: string, at: number) => token({ agent_id: agent, time: at, resource: kv });
      const levels = (events: ReturnType<typeof token>[]) =>
        run([createUnfamiliarResourceDetector()], [...warmup({ agents: AGENTS }), ...events, later(END + 9 * HOUR)]).detections.filter((d) => d.agent_id === 'a3').map((d) => d.severity);
      // a1 three hours before a3: a3 is alone in its window, confirmed.
      expect(levels([use('a1', END), use('a3', END + 3 * HOUR)])).toEqual(['low', 'medium']);
      // a1 and a2 before (hours apart): the blueprint uses it now and then, a3 stays low.
      expect(levels([use('a1', END), use('a2', END + 2 * HOUR), use('a3', END + 4 * HOUR)])).toEqual(['low']);
      // a1 within 30 minutes of a3: taken up together, low.
      expect(levels([use('a1', END + 3 * HOUR - 20 * MIN), use('a3', END + 3 * HOUR)])).toEqual(['low']);
    });

    it('keeps a refused attempt low, and adds no second medium after a burst already made it medium', () => {
      const refused = signin({ agent_id: 'a1', time: END, result: 'failure', error_code: 'AADSTS65001', resource: 'https://keyvault-prod.vault.azure.net' });
      expect(run([createUnfamiliarResourceDetector()], [...warmup({ agents: AGENTS }), refused, later(END + 10 * MIN)]).detections.map((d) => d.severity)).toEqual(['low']);
      const burst = [
        token({ agent_id: 'a1', time: END, resource: 'https://keyvault-prod.vault.azure.net' }),
        token({ agent_id: 'a1', time: END + 2 * MIN, resource: 'https://arm-prod.example.com' }),
      ];
      expect(run([createUnfamiliarResourceDetector()], [...warmup({ agents: AGENTS }), ...burst, later(END + 10 * MIN)]).detections.map((d) => d.severity)).toEqual(['low', 'low', 'medium']);
    });

    it('keeps a new resource low when the agent uses on it a permission its sponsor just granted (a sanctioned change), not one granted by someone else', () => {
      const grantThenUse = (actor: string) => [
        ...warmup({ agents: AGENTS }),
        lifecycle({ agent_id: 'a1', action: 'sponsor_added', sponsor_id: 'alice', actor: 'admin', time: END - 20 * MIN }),
        lifecycle({ agent_id: 'a1', action: 'permission_granted', permission: 'Tasks.Execute', actor, time: END - 5 * MIN }),
        signin({ agent_id: 'a1', time: END, resource: 'api://research' }),
        token({ agent_id: 'a1', time: END + SEC, resource: 'api://research', scopes: ['api://research/Tasks.Execute'] }),
        later(END + 12 * MIN),
      ];
      expect(run([createUnfamiliarResourceDetector()], grantThenUse('alice')).detections.map((d) => d.severity)).toEqual(['low']);
      expect(run([createUnfamiliarResourceDetector()], grantThenUse('mallory')).detections.map((d) => d.severity)).toEqual(['low', 'medium']);
      // The sanctioned resource starts no burst: a second new resource a minute on waits for the blueprint like a first one,
      // and the blueprint taking it up (a month-end close rolled out) leaves it low.
      const withStorage = [
        ...grantThenUse('alice').slice(0, -1),
        token({ agent_id: 'a1', time: END + MIN, resource: 'https://storage.azure.com' }),
        token({ agent_id: 'a2', time: END + 2 * MIN, resource: 'https://storage.azure.com' }),
        later(END + 15 * MIN),
      ];
      expect(run([createUnfamiliarResourceDetector()], withStorage).detections.filter((d) => d.agent_id === 'a1').map((d) => d.severity)).toEqual(['low', 'low']);
    });

    it('keeps a new resource low when an administrator granted its permission to 3 agents of the blueprint within the hour (consent for the blueprint), not to fewer', () => {
      const consentThenUse = (grantees: string[]) => [
        ...warmup({ agents: AGENTS }),
        lifecycle({ agent_id: 'a1', action: 'sponsor_added', sponsor_id: 'alice', actor: 'admin', time: END - 90 * MIN }),
        ...grantees.map((a, i) => lifecycle({ agent_id: a, action: 'permission_granted', permission: 'Mx.Send', actor: 'payments-admin', time: END - 30 * MIN + i * 2 * MIN })),
        // a1 takes the new API up first; the others follow more than 10 minutes later.
        signin({ agent_id: 'a1', time: END, resource: 'api://swift-mx' }),
        token({ agent_id: 'a1', time: END + SEC, resource: 'api://swift-mx', scopes: ['api://swift-mx/Mx.Send'] }),
        later(END + 12 * MIN),
      ];
      expect(run([createUnfamiliarResourceDetector()], consentThenUse(['a1', 'a2', 'a3'])).detections.map((d) => d.severity)).toEqual(['low']);
      expect(run([createUnfamiliarResourceDetector()], consentThenUse(['a1', 'a2'])).detections.map((d) => d.severity)).toEqual(['low', 'medium']);
      // Round trip through a snapshot keeps the consents.
      const events = consentThenUse(['a1', 'a2', 'a3']);
      const cut = events.findIndex((e) => e.type === 'signin' && e.resource === 'api://swift-mx');
      const trip = snapshotRoundTrip(createUnfamiliarResourceDetector, events, cut);
      expect(trip.restored.map((x) => x.severity)).toEqual(['low']);
      expect(trip.restored).toEqual(trip.uninterrupted);
    });

    it('takes an Azure data-plane role its sponsor granted (Storage Blob Data Contributor) as sanctioning the storage resource, not another service\'s role', () => {
      const grantThenUse = (permission: string) => [
        ...warmup({ agents: AGENTS }),
        lifecycle({ agent_id: 'a1', action: 'sponsor_added', sponsor_id: 'alice', actor: 'admin', time: END - 60 * MIN }),
        lifecycle({ agent_id: 'a1', action: 'permission_granted', permission, actor: 'alice', time: END - 30 * MIN }),
        token({ agent_id: 'a1', time: END, resource: 'https://storage.azure.com/', scopes: ['https://storage.azure.com/user_impersonation'] }),
        later(END + 12 * MIN),
      ];
      expect(run([createUnfamiliarResourceDetector()], grantThenUse('Storage Blob Data Contributor')).detections.map((d) => d.severity)).toEqual(['low']);
      expect(run([createUnfamiliarResourceDetector()], grantThenUse('Key Vault Secrets User')).detections.map((d) => d.severity)).toEqual(['low', 'medium']);
    });

    it('carries a waiting confirmation over a snapshot', () => {
      const events = [...warmup({ agents: AGENTS }), token({ agent_id: 'a1', time: END, resource: 'https://keyvault-prod.vault.azure.net' }), later(END + 2 * MIN), later(END + 12 * MIN)];
      const { uninterrupted, restored } = snapshotRoundTrip(createUnfamiliarResourceDetector, events, events.length - 2);
      expect(uninterrupted.map((d) => d.severity)).toEqual(['medium']);
      expect(restored).toEqual(uninterrupted);
    });
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

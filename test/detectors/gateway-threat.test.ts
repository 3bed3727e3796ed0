import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent, NetworkEvent } from '../../contract/events.js';
import { isMicrosoft365Address } from '../../detectors/addresses.js';
import { createGatewayThreatDetector, isPublicImagePull, isRegistryPackage, isRunnableFileType, isSecurityTestHost, isSharedAppHost, isStorageAccountHost } from '../../detectors/gateway-threat.js';
import { HOUR, MIN, SEC, T0, advanceTo, fakeContext, feed, network, resetIds, runWithRestore, signin } from './helpers/context.js';

beforeEach(() => resetIds());

const HOSTS = ['api.contoso.com', 'graph.microsoft.com', 'api.openai.com', 'store.contoso.com'];

/** Two hours of ordinary traffic of agents a1..a3 of bp1 to four known hosts. */
function history(tenant = 't1'): NetworkEvent[] {
  const out: NetworkEvent[] = [];
  let i = 0;
  for (let t = T0; t < T0 + 2 * HOUR; t += MIN) {
    for (const a of ['a1', 'a2', 'a3']) out.push(network({ tenant_id: tenant, agent_id: a, time: t, dest_host: HOSTS[i++ % HOSTS.length]! }));
  }
  return out;
}

const T2 = T0 + 2 * HOUR;

/** A fresh detector fed the blueprint's learned history, then `events`: what `events` raise. */
function afterHistory(events: NetworkEvent[]) {
  const d = createGatewayThreatDetector();
  const ctx = fakeContext();
  feed(d, ctx, history());
  return feed(d, ctx, events);
}

describe('gateway-threat', () => {
  it('takes a vendor name for a hostile category (command-and-control, C2, Botnets...) as malicious', () => {
    const d = createGatewayThreatDetector();
    const hostile = ['command_and_control', 'Command-and-Control', 'C2', 'Botnets', 'malware', 'Cryptomining'];
    const out = feed(d, fakeContext(), [
      ...hostile.map((category, i) => network({ agent_id: `h${i}`, category, dest_host: `beacon${i}.example` })),
      network({ agent_id: 'ok', category: 'llm_provider', dest_host: 'api.openai.com' }),
      network({ agent_id: 'ok', category: 'Uncategorized', dest_host: 'new.example' }),
    ]);
    expect(out.map((x) => [x.agent_id, x.severity])).toEqual(hostile.map((_, i) => [`h${i}`, 'high']));
    expect(out[0]!.summary).toContain('command_and_control');
  });

  it('reads the vendor names of hostile categories (high) and of phishing (medium, as the phishing verdict)', () => {
    const d = createGatewayThreatDetector();
    const out = feed(d, fakeContext(), [
      network({ agent_id: 'w', category: 'Malicious Websites', dest_host: 'evil1.example' }),
      network({ agent_id: 'b', category: 'Botnet Callback', dest_host: 'evil2.example', action: 'blocked' }),
      network({ agent_id: 's', category: 'Spyware/Adware', dest_host: 'evil3.example' }),
      network({ agent_id: 'p', category: 'Phishing & Fraud', dest_host: 'login-micr0soft.example', event_id: 'n-ph' }),
      network({ agent_id: 'ok', category: 'Web Search/Portals', dest_host: 'search.example' }),
    ]);
    expect(out.map((x) => [x.agent_id, x.severity])).toEqual([
      ['w', 'high'],
      ['b', 'high'],
      ['s', 'high'],
      ['p', 'medium'],
    ]);
    const phishing = out[3]!;
    expect(phishing.summary).toContain('phishing destination login-micr0soft.example');
    expect(phishing.evidence.observed).toMatchObject({ threat: 'none', category: 'Phishing & Fraud' });
    expect(phishing.evidence.threshold).toBe('destination category Phishing & Fraud');
    expect(phishing.event_ids).toEqual(['n-ph']);
  });

  it('maps gateway verdicts to severities', () => {
    const d = createGatewayThreatDetector();
    const out = feed(d, fakeContext(), [
      network({ agent_id: 'm', threat: 'malware', dest_host: 'evil.example', event_id: 'n-mal' }),
      network({ agent_id: 't', threat: 'threat_intel', dest_host: 'c2.example' }),
      network({ agent_id: 'c', category: 'malicious', dest_host: 'bad.example', action: 'blocked' }),
      network({ agent_id: 'p', threat: 'phishing', dest_host: 'login-micr0soft.example' }),
      network({ agent_id: 'pb', threat: 'phishing', action: 'blocked', dest_host: 'login-micr0soft.example' }),
      network({ agent_id: 'ia', threat: 'prompt_injection', dest_host: 'wiki.example' }),
      network({ agent_id: 'ib', threat: 'prompt_injection', action: 'blocked', dest_host: 'wiki.example' }),
    ]);
    expect(out.map((x) => [x.agent_id, x.severity])).toEqual([
      ['m', 'high'],
      ['t', 'high'],
      ['c', 'high'],
      ['p', 'medium'],
      ['pb', 'low'],
      ['ia', 'medium'],
      // Blocked or not, an injection aimed at the agent is medium (as Defender for AI rates a blocked jailbreak attempt).
      ['ib', 'medium'],
    ]);
    expect(out[0]).toMatchObject({ detector: 'gateway-threat', event_ids: ['n-mal'], tenant_id: 't1' });
    expect(out[0]!.evidence.observed).toMatchObject({ threat: 'malware', dest_host: 'evil.example' });
    expect(out[0]!.summary).toContain('evil.example');
  });

  it('does not fire on ordinary traffic, even to new destinations without an injection', () => {
    const d = createGatewayThreatDetector();
    const ctx = fakeContext();
    const out = feed(d, ctx, [...history(), network({ agent_id: 'a1', time: T2, dest_host: 'brand-new.example' })]);
    expect(out).toEqual([]);
  });

  it('fires high for a destination new to the blueprint soon after a blocked prompt injection', () => {
    const d = createGatewayThreatDetector();
    const ctx = fakeContext();
    feed(d, ctx, history());
    const out = feed(d, ctx, [
      network({ agent_id: 'a2', time: T2, threat: 'prompt_injection', action: 'blocked', dest_host: 'docs.example', event_id: 'n-pi' }),
      network({ agent_id: 'a2', time: T2 + 10 * SEC, dest_host: HOSTS[0]! }), // known: nothing
      network({ agent_id: 'a2', time: T2 + 3 * MIN, dest_host: 'paste.attacker.example', event_id: 'n-new' }),
    ]);
    expect(out.map((x) => x.severity)).toEqual(['medium', 'high']);
    expect(out[1]!.event_ids).toEqual(['n-pi', 'n-new']);
    expect(out[1]!.evidence.observed).toMatchObject({ dest_host: 'paste.attacker.example' });
    expect(out[1]!.evidence.peer_group).toBe('blueprint:bp1');
  });

  it('learns no destination from an agent just injected: the campaign next victim in the blueprint reaching the same host is high too', () => {
    const d = createGatewayThreatDetector();
    const ctx = fakeContext();
    feed(d, ctx, history());
    const victim = (agent: string, at: number) => [
      network({ agent_id: agent, time: at, threat: 'prompt_injection', action: 'allowed', dest_host: 'docs.example' }),
      network({ agent_id: agent, time: at + 2 * MIN, dest_host: 'collect.attacker.example' }),
    ];
    const out = feed(d, ctx, [...victim('a2', T2), ...victim('a3', T2 + HOUR)]);
    expect(out.map((x) => [x.agent_id, x.severity])).toEqual([
      ['a2', 'medium'],
      ['a2', 'high'],
      ['a3', 'medium'],
      ['a3', 'high'],
    ]);
  });

  it('does not correlate after the arming window, nor with a destination the blueprint knows', () => {
    const d = createGatewayThreatDetector();
    const ctx = fakeContext();
    feed(d, ctx, history());
    const out = feed(d, ctx, [
      network({ agent_id: 'a2', time: T2, threat: 'prompt_injection', action: 'blocked', dest_host: 'docs.example' }),
      network({ agent_id: 'a1', time: T2 + MIN, dest_host: 'other.example' }), // another agent
      network({ agent_id: 'a2', time: T2 + 2 * MIN, dest_host: 'api.openai.com' }),
      network({ agent_id: 'a2', time: T2 + 31 * MIN, dest_host: 'later.example' }),
    ]);
    // The injection itself only.
    expect(out.map((x) => x.severity)).toEqual(['medium']);
  });

  it('is one severity lower for a new destination 10 to 30 minutes after the injection', () => {
    const d = createGatewayThreatDetector();
    const ctx = fakeContext();
    feed(d, ctx, history());
    const out = feed(d, ctx, [
      network({ agent_id: 'a2', time: T2, threat: 'prompt_injection', action: 'blocked', dest_host: 'docs.example' }),
      network({ agent_id: 'a2', time: T2 + 11 * MIN, dest_host: 'hook.attacker.example', event_id: 'n-late' }),
      network({ agent_id: 'a4', time: T2, threat: 'prompt_injection', action: 'blocked', dest_host: 'docs.example' }),
      network({ agent_id: 'a4', time: T2 + 25 * MIN, dest_host: 'hook2.attacker.example', action: 'blocked' }),
    ]);
    expect(out.map((x) => [x.agent_id, x.severity])).toEqual([
      ['a2', 'medium'],
      ['a2', 'medium'],
      ['a4', 'medium'],
      ['a4', 'low'],
    ]);
    expect(out[1]!.event_ids[1]).toBe('n-late');
    expect(out[1]!.summary).toContain('660 s after');
    expect(out[3]!.evidence.observed).toMatchObject({ blocked: true });
  });

  it('completes the correlation when the injection event arrives late', () => {
    const d = createGatewayThreatDetector();
    const ctx = fakeContext();
    feed(d, ctx, history());
    const out = feed(d, ctx, [
      network({ agent_id: 'a3', time: T2 + 40 * SEC, dest_host: 'exfil.example', event_id: 'n-new' }),
      network({ agent_id: 'a3', time: T2, threat: 'prompt_injection', dest_host: 'docs.example', event_id: 'n-pi' }),
    ]);
    expect(out.map((x) => x.severity)).toEqual(['medium', 'high']);
    expect(out[1]!.event_ids).toEqual(['n-pi', 'n-new']);
  });

  it('does not judge novelty while the blueprint is still learning its destinations', () => {
    const d = createGatewayThreatDetector();
    const out = feed(d, fakeContext(), [
      network({ time: T0, dest_host: 'a.example' }),
      network({ time: T0 + MIN, threat: 'prompt_injection', action: 'blocked', dest_host: 'docs.example' }),
      network({ time: T0 + 2 * MIN, dest_host: 'b.example' }),
    ]);
    expect(out.map((x) => x.severity)).toEqual(['medium']);
  });

  it('fires each kind at most once per agent per cooldown', () => {
    const d = createGatewayThreatDetector({ cooldownMs: 10 * MIN });
    const out = feed(d, fakeContext(), [
      network({ threat: 'malware', time: T0 }),
      network({ threat: 'malware', time: T0 + MIN }),
      network({ threat: 'phishing', time: T0 + 2 * MIN }),
      network({ threat: 'malware', time: T0 + 11 * MIN }),
      network({ tenant_id: 't2', threat: 'malware', time: T0 + 11 * MIN }),
    ]);
    expect(out.map((x) => [x.tenant_id, x.evidence.observed])).toHaveLength(4);
    expect(out.map((x) => x.time)).toEqual([T0, T0 + 2 * MIN, T0 + 11 * MIN, T0 + 11 * MIN]);
  });

  describe('hosts in suspicious categories (newly registered, dynamic DNS, anonymizers, grayware)', () => {
    const beacon = (agent: string, host: string, category: string, n: number, every: number, start = T2): NetworkEvent[] =>
      Array.from({ length: n }, (_, k) => network({ agent_id: agent, time: start + k * every, dest_host: host, category, bytes_out: 1_200 }));

    it('gives low at the first call and medium when the agent keeps calling (a beacon), whatever the vendor spelling', () => {
      const cases: [string, string][] = [
        ['a1', 'Newly Registered Domains'],
        ['a2', 'dynamic-dns'],
        ['a3', 'Proxy Avoidance and Anonymizers'],
        ['a4', 'grayware'],
      ];
      const events = [...history(), ...cases.flatMap(([a, c], i) => beacon(a, `h${i}.example`, c, 12, MIN, T2 + i * 5 * SEC))].sort((x, y) => x.time - y.time);
      const out = feed(createGatewayThreatDetector(), fakeContext(), events);
      for (const [a, c] of cases) {
        const mine = out.filter((d) => d.agent_id === a);
        expect(mine.map((d) => d.severity), c).toEqual(['low', 'medium']);
        // The fifth call a minute apart: four minutes after the first.
        expect(mine[1]!.time - mine[0]!.time).toBe(4 * MIN);
        expect(mine[1]!.evidence.observed).toMatchObject({ calls: 5, category: c });
        expect(mine[1]!.summary).toContain('beaconing');
      }
    });

    it('takes a burst of calls (a page and its assets) as one call, and a beacon that stops early as low', () => {
      const burst = beacon('a1', 'fresh.example', 'newly_registered_domain', 30, 2 * SEC);
      const short = beacon('a2', 'tunnel.example', 'anonymizer', 4, MIN);
      const out = feed(createGatewayThreatDetector(), fakeContext(), [...history(), ...[...burst, ...short].sort((x, y) => x.time - y.time)]);
      expect(out.map((d) => [d.agent_id, d.severity])).toEqual([
        ['a1', 'low'],
        ['a2', 'low'],
      ]);
    });

    it('learns the host as the blueprint own once three of its agents call it (a deployment dependency), and never a host it already used', () => {
      const fleet = ['a1', 'a2', 'a3'].flatMap((a, i) => beacon(a, 'updates.vendor-cdn.example', 'newly registered domains', 12, MIN, T2 + i * 10 * SEC));
      const out = feed(createGatewayThreatDetector(), fakeContext(), [...history(), ...fleet.sort((x, y) => x.time - y.time)]);
      // The first two callers are told about the first call, the third makes it the blueprint's.
      expect(out.map((d) => [d.agent_id, d.severity])).toEqual([
        ['a1', 'low'],
        ['a2', 'low'],
      ]);
      // A host of the blueprint's history that a gateway now puts in a suspicious category.
      const recategorised = beacon('a1', HOSTS[0]!, 'dynamic_dns', 12, MIN);
      expect(feed(createGatewayThreatDetector(), fakeContext(), [...history(), ...recategorised])).toEqual([]);
    });

    it('does not count downloads of a megabyte or more from a storage service as beacon calls (a dataset fetched file after file from a new bucket), but counts uploads (results pushed on a loop) and downloads from anything else (table dumps through a new gateway)', () => {
      // Uncategorized hosts new to the blueprint: an S3 bucket (storage), an upload loop, a gateway pulled from.
      const calls = (agent: string, host: string, category: string, bytesOut: number, bytesIn: number) =>
        Array.from({ length: 12 }, (_, k) => network({ agent_id: agent, time: T2 + k * MIN, dest_host: host, category, bytes_out: bytesOut, bytes_in: bytesIn }));
      const events = [
        ...calls('a1', 'cro-transfer.s3.ap-south-1.amazonaws.com', 'storage', 900, 40_000_000),
        ...calls('a2', 'sync-7f3a.workers.dev', 'uncategorized', 4_000_000, 300),
        ...calls('a3', 'sapgw.plant.example', 'uncategorized', 900, 4_000_000),
      ];
      const out = feed(createGatewayThreatDetector(), fakeContext(), [...history(), ...events.sort((x, y) => x.time - y.time)]);
      expect(out.filter((d) => d.severity === 'medium').map((d) => d.agent_id)).toEqual(['a2', 'a3']);
    });

    it('keeps the beacon across a snapshot and restore', () => {
      const events = [...history(), ...beacon('a1', 'upd7731.duckdns.example', 'Dynamic DNS', 8, MIN)];
      // Split after the third call: the medium after the restore needs the calls counted before it.
      const { uninterrupted, restored } = runWithRestore(() => createGatewayThreatDetector(), events, events.length - 5);
      expect(uninterrupted.map((x) => x.severity)).toEqual(['medium']);
      expect(restored).toEqual(uninterrupted);
    });
  });

  it('reports a script fetched from an uncategorized host new to the blueprint (low), and a new destination right after it as its callback (medium)', () => {
    const d = createGatewayThreatDetector();
    const ctx = fakeContext();
    feed(d, ctx, history());
    const fetch = network({ agent_id: 'a1', time: T2, dest_host: 'raw.gitcdn-mirror.net', category: 'uncategorized', file_type: 'ps1', bytes_in: 14_200, event_id: 'n-fetch' });
    const beacons = [1, 3, 5].map((m) => network({ agent_id: 'a1', time: T2 + m * MIN, dest_host: 'edge-sync.cdn-telemetry.net', category: 'uncategorized', bytes_out: 600, bytes_in: 200, event_id: `n-b${m}` }));
    const out = feed(d, ctx, [fetch, ...beacons]);
    expect(out.map((x) => [x.severity, x.time, x.event_ids])).toEqual([
      ['low', T2, ['n-fetch']],
      ['medium', T2 + MIN, ['n-fetch', 'n-b1']],
    ]);
    expect(out[0]!.summary).toContain('ps1');
    expect(out[1]!.evidence.baseline).toMatchObject({ download_host: 'raw.gitcdn-mirror.net' });
    // 10 to 30 minutes after: low.
    const d2 = createGatewayThreatDetector();
    const ctx2 = fakeContext();
    feed(d2, ctx2, history());
    const later = feed(d2, ctx2, [fetch, network({ agent_id: 'a1', time: T2 + 20 * MIN, dest_host: 'edge-sync.cdn-telemetry.net', category: 'uncategorized' })]);
    expect(later.map((x) => x.severity)).toEqual(['low', 'low']);
  });

  it('judges every agent a poisoned release reaches one after another: agents reported for the implant do not make its hosts the blueprint\'s', () => {
    // a1..a3 each fetch the same binary and then keep calling the same pool, 3 minutes apart.
    const rollout = ['a1', 'a2', 'a3'].flatMap((a, i) => {
      const t = T2 + i * 3 * MIN;
      return [
        network({ agent_id: a, time: t, dest_host: 'connect.miner-dl.net', category: 'uncategorized', file_type: 'elf', bytes_in: 7_000_000 }),
        ...[5, 50, 95].map((s) => network({ agent_id: a, time: t + s * SEC, dest_host: 'pool.hashgrid.top', category: 'uncategorized', bytes_out: 600, bytes_in: 600 })),
      ];
    });
    const out = afterHistory(rollout.sort((x, y) => x.time - y.time));
    expect(out.filter((x) => x.severity === 'medium').map((x) => x.agent_id)).toEqual(['a1', 'a2', 'a3']);
  });

  it('takes a package from a public registry the blueprint never used for a tool download (its install hooks run), and the host it then calls for its callback', () => {
    const wheel = network({ agent_id: 'a1', time: T2, dest_host: 'files.pythonhosted.org', category: 'technology', file_type: 'whl', bytes_in: 120_000, event_id: 'n-whl' });
    const post = network({ agent_id: 'a1', time: T2 + 8 * SEC, dest_host: 'ingest.pypi-stats.click', category: 'uncategorized', bytes_out: 4_000, bytes_in: 200, event_id: 'n-post' });
    expect(afterHistory([wheel, post]).map((x) => [x.severity, x.event_ids])).toEqual([
      ['low', ['n-whl']],
      ['medium', ['n-whl', 'n-post']],
    ]);
    expect(isRegistryPackage('registry.npmjs.org', 'TGZ')).toBe(true);
    expect(isRegistryPackage('open-vsx.org', 'vsix')).toBe(true);
    // A wheel from elsewhere on a categorized host, or a registry's page, is not a package install.
    expect(isRegistryPackage('downloads.example.com', 'whl')).toBe(false);
    expect(isRegistryPackage('pypi.org', 'html')).toBe(false);
    // After the package, a host the gateway has a verdict for (a statistics office's API a code interpreter queries): low.
    resetIds();
    const query = network({ agent_id: 'a1', time: T2 + 8 * SEC, dest_host: 'api.census.gov', category: 'Government', bytes_out: 900, bytes_in: 30_000, event_id: 'n-gov' });
    expect(afterHistory([wheel, query]).map((x) => [x.severity, x.event_ids])).toEqual([
      ['low', ['n-whl']],
      ['low', ['n-whl', 'n-gov']],
    ]);
    // After a script from an uncategorized host, the same query stays medium.
    resetIds();
    const script = network({ agent_id: 'a1', time: T2, dest_host: 'get.tools-dl.click', category: 'uncategorized', file_type: 'sh', bytes_in: 9_000, event_id: 'n-sh' });
    expect(afterHistory([script, query]).map((x) => x.severity)).toEqual(['low', 'medium']);
  });

  it('arms every agent of a release pulled from a public container registry new to the blueprint, so each one calling a new uncategorized host home is medium', () => {
    // A poisoned image rolled out: each agent pulls its layers from ghcr.io within minutes, then beacons to one new host.
    const events: NetworkEvent[] = [];
    ['a1', 'a2', 'a3'].forEach((a, i) => {
      const t = T2 + i * 2 * MIN;
      events.push(network({ agent_id: a, time: t, dest_host: 'ghcr.io', category: 'technology', bytes_out: 3_000, bytes_in: 60_000_000, event_id: `n-pull-${a}` }));
      events.push(network({ agent_id: a, time: t + 40 * SEC, dest_host: 'otel-fz0uy.obsv-stack.net', category: 'uncategorized', bytes_out: 11_000, bytes_in: 200, event_id: `n-home-${a}` }));
    });
    const out = afterHistory(events.sort((x, y) => x.time - y.time));
    // The first pull is low (a registry the blueprint never used); each agent's callback is medium.
    expect(out.map((x) => [x.agent_id, x.severity, x.event_ids])).toEqual([
      ['a1', 'low', ['n-pull-a1']],
      ['a1', 'medium', ['n-pull-a1', 'n-home-a1']],
      ['a2', 'medium', ['n-pull-a2', 'n-home-a2']],
      ['a3', 'medium', ['n-pull-a3', 'n-home-a3']],
    ]);
    expect(out[0]!.summary).toContain('downloaded a container image from ghcr.io');
    // After the pull, a new categorized host (the release's new SaaS API) is low, not medium.
    resetIds();
    const saas = events.map((e) => (e.dest_host.startsWith('otel') ? { ...e, dest_host: 'api.newvendor.com', category: 'business' } : e));
    expect(afterHistory(saas).filter((x) => x.severity !== 'low')).toEqual([]);
    // A manifest or token lookup (under 1 MB) is no image; the tenant's own registry is not public.
    expect(isPublicImagePull('ghcr.io', 40_000)).toBe(false);
    expect(isPublicImagePull('contoso.azurecr.io', 60_000_000)).toBe(false);
    expect(isPublicImagePull('Production.Cloudflare.Docker.com', 60_000_000)).toBe(true);
  });

  it('does not arm agents pulling from a public container registry their blueprint first used long ago', () => {
    const d = createGatewayThreatDetector();
    const ctx = fakeContext();
    feed(d, ctx, history());
    // The blueprint's routine pulls from Docker Hub begin at T2 (the first is the low).
    const first = feed(d, ctx, [network({ agent_id: 'a1', time: T2, dest_host: 'registry-1.docker.io', category: 'technology', bytes_in: 30_000_000 })]);
    expect(first.map((x) => x.severity)).toEqual(['low']);
    // An hour later another agent pulls, then calls a host new to the blueprint: no callback.
    const later = T2 + HOUR;
    expect(
      feed(d, ctx, [
        network({ agent_id: 'a2', time: later, dest_host: 'registry-1.docker.io', category: 'technology', bytes_in: 30_000_000 }),
        network({ agent_id: 'a2', time: later + 30 * SEC, dest_host: 'collector.new-host.example', category: 'uncategorized', bytes_out: 2_000 }),
      ]),
    ).toEqual([]);
  });

  it('takes a script fetched from an app on a public hosting platform new to the blueprint (a ClickFix page\'s payload) for a tool download, and the host it then calls for its callback', () => {
    const hta = network({ agent_id: 'a1', time: T2, dest_host: 'pfxmrckh-verify.pages.dev', category: 'technology', file_type: 'hta', bytes_in: 52_000, event_id: 'n-hta' });
    const post = network({ agent_id: 'a1', time: T2 + 60 * SEC, dest_host: 'sqjwmspk.click', category: 'business', bytes_out: 260_000, bytes_in: 270, event_id: 'n-steal' });
    expect(afterHistory([hta, post]).map((x) => [x.severity, x.event_ids])).toEqual([
      ['low', ['n-hta']],
      ['medium', ['n-hta', 'n-steal']],
    ]);
    // A page (no runnable file type) from the same platform is content.
    resetIds();
    expect(afterHistory([{ ...hta, file_type: 'html' }, post])).toEqual([]);
  });

  it('takes an executable fetched from a CDN host new to the blueprint for a tool download (a CDN serves anyone files), and the CDN-fronted host it then calls for its callback', () => {
    const implant = network({ agent_id: 'a1', time: T2, dest_host: 'cdn.jsdelivr.net', category: 'cdn', file_type: 'elf', bytes_in: 4_200_000, event_id: 'n-elf' });
    const c2 = network({ agent_id: 'a1', time: T2 + 30 * SEC, dest_host: 'd3k81x0x4k2fz8.cloudfront.net', category: 'Content Delivery Networks', bytes_out: 500, bytes_in: 300, event_id: 'n-c2' });
    expect(afterHistory([implant, c2]).map((x) => [x.severity, x.event_ids])).toEqual([
      ['low', ['n-elf']],
      ['medium', ['n-elf', 'n-c2']],
    ]);
    // A stylesheet or a JSON file from the same CDN is content, not code.
    expect(afterHistory([{ ...implant, file_type: 'json' }, c2])).toEqual([]);
  });

  it('does not take data files, categorized hosts or hosts the blueprint uses as a tool download; completes the callback when the download arrives late', () => {
    const next = network({ agent_id: 'a1', time: T2 + MIN, dest_host: 'new-host.example', category: 'uncategorized' });
    // A data file, from a new uncategorized host.
    expect(afterHistory([network({ agent_id: 'a1', time: T2, dest_host: 'dl.example', category: 'uncategorized', file_type: 'csv', bytes_in: 9000 }), next])).toEqual([]);
    // A script from a categorized host (a code repository, a vendor's API).
    expect(afterHistory([network({ agent_id: 'a1', time: T2, dest_host: 'raw.githubusercontent.com', category: 'code_repository', file_type: 'sh', bytes_in: 9000 }), next])).toEqual([]);
    // A script from a host the blueprint uses.
    expect(afterHistory([network({ agent_id: 'a1', time: T2, dest_host: 'store.contoso.com', category: 'uncategorized', file_type: 'sh', bytes_in: 9000 }), next])).toEqual([]);
    // A script sent out (more out than in) is an upload, not a download.
    expect(afterHistory([network({ agent_id: 'a1', time: T2, dest_host: 'dl.example', category: 'uncategorized', file_type: 'sh', bytes_out: 30_000, bytes_in: 400 }), next])).toEqual([]);
    // An editor extension or a disk image runs like an executable.
    for (const t of ['vsix', 'ISO', '.crx']) expect(isRunnableFileType(t), t).toBe(true);
    expect(isRunnableFileType('docx')).toBe(false);
    // The download event 50 s late, after the callback it armed.
    const late = afterHistory([next, network({ agent_id: 'a1', time: T2 + 10 * SEC, dest_host: 'dl.example', category: 'uncategorized', file_type: '.EXE', bytes_in: 90_000 })]);
    expect(late.map((x) => [x.severity, x.evidence.observed])).toEqual([
      ['low', expect.objectContaining({ dest_host: 'dl.example', file_type: '.EXE' })],
      ['medium', expect.objectContaining({ dest_host: 'new-host.example' })],
    ]);
  });

  it('reports an agent that keeps calling an uncategorized host new to the blueprint regularly (medium at 8 calls), with no low at the first call', () => {
    const run = (agents: string[], periodMs: number, calls = 10) => {
      const d = createGatewayThreatDetector();
      const ctx = fakeContext();
      feed(d, ctx, history());
      const events: NetworkEvent[] = [];
      for (let k = 0; k < calls; k++) {
        for (const a of agents) events.push(network({ agent_id: a, time: T2 + k * periodMs, dest_host: 'cdn.go-telemetry-proxy.dev', category: 'uncategorized', bytes_out: 600, bytes_in: 200 }));
      }
      return feed(d, ctx, events.sort((x, y) => x.time - y.time));
    };
    // One agent beaconing every minute: medium at its 8th call.
    const one = run(['a1'], MIN);
    expect(one.map((x) => [x.agent_id, x.severity, x.time])).toEqual([['a1', 'medium', T2 + 7 * MIN]]);
    expect(one[0]!.evidence.threshold).toContain('uncategorized host (or an app on a public hosting platform) new to the blueprint');
    // Two agents of the blueprint (a trojanised release reaching two): both.
    expect(run(['a1', 'a2'], MIN).map((x) => x.agent_id)).toEqual(['a1', 'a2']);
    // Three agents: the blueprint's new dependency (a deployment), nothing.
    expect(run(['a1', 'a2', 'a3'], MIN)).toEqual([]);
    // Calls 5 minutes apart are no loop to judge; nor are 7 calls.
    expect(run(['a1'], 5 * MIN)).toEqual([]);
    expect(run(['a1'], MIN, 7)).toEqual([]);
  });

  it('reports DNS rebinding: a host new to the blueprint reached at a public address, then at a private one within minutes (medium); not a cloud service\'s private endpoint, the reverse order, or much later', () => {
    const at = (host: string, ip: string, time: number, port = 443) => network({ agent_id: 'a1', time, dest_host: host, dest_ip: ip, dest_port: port, category: 'uncategorized', bytes_out: 700, bytes_in: 9_000 });
    const host = 'preview.cdn-rebind.example';
    const out = afterHistory([at(host, '203.0.113.7', T2), at(host, '10.20.0.15', T2 + 8 * SEC, 8080)]);
    expect(out.map((x) => [x.agent_id, x.severity, x.time])).toEqual([['a1', 'medium', T2 + 8 * SEC]]);
    expect(out[0]!.summary).toContain(`reached ${host} at the private address 10.20.0.15:8080`);
    expect(out[0]!.summary).toContain('DNS rebinding');
    // A storage account moved behind its private endpoint answers privately inside the network.
    expect(afterHistory([at('contosodata.blob.core.windows.net', '20.60.1.4', T2), at('contosodata.blob.core.windows.net', '10.20.0.9', T2 + 8 * SEC)])).toEqual([]);
    // Private first, public next; or the private answer half an hour later.
    expect(afterHistory([at(host, '10.20.0.15', T2), at(host, '203.0.113.7', T2 + 8 * SEC)])).toEqual([]);
    expect(afterHistory([at(host, '203.0.113.7', T2), at(host, '10.20.0.15', T2 + 30 * MIN)])).toEqual([]);
  });

  it('takes an address of Microsoft 365\'s own ranges (a Teams media relay, no host name) as no stranger: a meeting\'s per-minute media flows are no beacon; an address next to the range is', () => {
    const run = (ip: string, asHost: boolean) => {
      const d = createGatewayThreatDetector();
      const ctx = fakeContext();
      feed(d, ctx, history());
      const flows = Array.from({ length: 12 }, (_, k) =>
        network({ agent_id: 'a1', time: T2 + k * MIN, dest_host: asHost ? ip : 'relay.media.example', dest_ip: ip, dest_port: 3478, category: 'uncategorized', bytes_out: 30_000, bytes_in: 500_000 }),
      );
      return feed(d, ctx, flows);
    };
    expect(isMicrosoft365Address('52.112.149.51')).toBe(true);
    expect(isMicrosoft365Address('52.115.255.254')).toBe(true);
    expect(isMicrosoft365Address('13.107.136.9')).toBe(true);
    expect(isMicrosoft365Address('52.116.0.1')).toBe(false);
    expect(isMicrosoft365Address('not-an-ip')).toBe(false);
    expect(run('52.112.149.51', true)).toEqual([]);
    // An uncategorized name resolving into the range is Microsoft 365's too.
    expect(run('52.113.194.20', false)).toEqual([]);
    // Just outside it (52.116.0.0 is Azure's general space, where anyone can rent an address).
    expect(run('52.116.4.20', true).map((x) => [x.agent_id, x.severity])).toEqual([['a1', 'medium']]);
  });

  it('judges an app on a public web-app hosting platform as an uncategorized host, whatever the gateway\'s category: a beacon to an attacker\'s azurewebsites.net app is medium', () => {
    expect(isSharedAppHost('contoso-relay-9f2a.azurewebsites.net')).toBe(true);
    expect(isSharedAppHost('Ops-Hooks.Vercel.App.')).toBe(true);
    expect(isSharedAppHost('azurewebsites.net')).toBe(false); // the platform itself
    expect(isSharedAppHost('notazurewebsites.net')).toBe(false);
    expect(isSharedAppHost('graph.microsoft.com')).toBe(false);
    const run = (host: string, category: string, known = false, destAgent: string | null = null) => {
      const d = createGatewayThreatDetector();
      const ctx = fakeContext();
      const past: AgentEvent[] = history();
      // The blueprint's own app, called from the start.
      if (known) past.push(network({ agent_id: 'a2', time: T0 + MIN, dest_host: host, category }));
      // A worker agent of the tenant, created minutes before the calls (it signed in).
      past.push(signin({ agent_id: 'w-replan-1', blueprint_id: 'bp-replan', time: T2 - 2 * MIN }));
      feed(d, ctx, past.sort((x, y) => x.time - y.time));
      const polls = Array.from({ length: 10 }, (_, k) => network({ agent_id: 'a1', time: T2 + k * MIN, dest_host: host, category, bytes_out: 600, bytes_in: 900, dest_agent_id: destAgent }));
      return feed(d, ctx, polls);
    };
    const c2 = run('agent-sync-1c4e.azurewebsites.net', 'business');
    expect(c2.map((x) => [x.agent_id, x.severity, x.time])).toEqual([['a1', 'medium', T2 + 7 * MIN]]);
    expect(c2[0]!.summary).toContain('(category business)');
    // The blueprint's own app there, known before: nothing. A categorized host elsewhere: nothing.
    expect(run('agent-sync-1c4e.azurewebsites.net', 'business', true)).toEqual([]);
    expect(run('status.partner-portal.com', 'business')).toEqual([]);
    // An orchestrator tasking a worker agent of its own tenant on its container app: no stranger's app. An agent id the tenant does not know is.
    expect(run('replan-1.politeriver-7d2c1e94.uksouth.azurecontainerapps.io', 'agent', false, 'w-replan-1')).toEqual([]);
    expect(run('replan-1.politeriver-7d2c1e94.uksouth.azurecontainerapps.io', 'agent', false, 'x-unknown').map((x) => x.severity)).toEqual(['medium']);
  });

  it('judges a storage account new to the blueprint called without a token as an uncategorized host: a queue in someone\'s storage polled for tasks is medium', () => {
    expect(isStorageAccountHost('mzeopnja52.queue.core.windows.net')).toBe(true);
    expect(isStorageAccountHost('Backup.Blob.Core.Windows.Net.')).toBe(true);
    expect(isStorageAccountHost('drop-bucket.s3.eu-west-1.amazonaws.com')).toBe(true);
    expect(isStorageAccountHost('blob.core.windows.net')).toBe(false); // the service itself
    expect(isStorageAccountHost('x.servicebus.windows.net')).toBe(false);
    const run = (host: string, token: string | null, known = false) => {
      const d = createGatewayThreatDetector();
      const ctx = fakeContext();
      const past = history();
      if (known) past.push(network({ agent_id: 'a2', time: T0 + MIN, dest_host: host, category: 'storage' }));
      feed(d, ctx, past.sort((x, y) => x.time - y.time));
      const polls = Array.from({ length: 10 }, (_, k) => network({ agent_id: 'a1', time: T2 + k * MIN, dest_host: host, category: 'storage', token_id: token, bytes_out: 600, bytes_in: 900 }));
      return feed(d, ctx, polls);
    };
    const c2 = run('mzeopnja52.queue.core.windows.net', null);
    expect(c2.map((x) => [x.agent_id, x.severity, x.time])).toEqual([['a1', 'medium', T2 + 7 * MIN]]);
    expect(c2[0]!.summary).toContain('(category storage)');
    // With the agent's token (its identity: the tenant's storage), or a queue the blueprint used before: nothing.
    expect(run('mzeopnja52.queue.core.windows.net', 'tok-1')).toEqual([]);
    expect(run('mzeopnja52.queue.core.windows.net', null, true)).toEqual([]);
  });

  it('evicts idle state', () => {
    const d = createGatewayThreatDetector();
    const ctx = fakeContext();
    feed(d, ctx, [network({ time: T0, threat: 'malware' }), network({ agent_id: 'a2', blueprint_id: 'bp2', time: T0 + 2 * HOUR })]);
    expect(d.size()).toBe(3); // two groups + one agent with a threat
    d.evict(T0 + HOUR);
    expect(d.size()).toBe(1);
  });

  it('gives the same detections after a snapshot/restore', () => {
    const events = [
      ...history(),
      network({ agent_id: 'a2', time: T2, threat: 'prompt_injection', action: 'blocked', dest_host: 'docs.example' }),
      network({ agent_id: 'a2', time: T2 + MIN, threat: 'prompt_injection', action: 'blocked', dest_host: 'docs.example' }),
      network({ agent_id: 'a2', time: T2 + 3 * MIN, dest_host: 'paste.attacker.example' }),
      network({ agent_id: 'a1', time: T2 + 4 * MIN, threat: 'threat_intel', dest_host: 'c2.example' }),
    ];
    const { uninterrupted, restored } = runWithRestore(() => createGatewayThreatDetector(), events, events.length - 3);
    expect(uninterrupted.map((x) => x.severity)).toEqual(['high', 'high']);
    expect(restored).toEqual(uninterrupted);
  });

  it('holds a verdict on a host the blueprint uses at low for 10 minutes: full severity for one agent, low when 3 of its agents share it (its own content flagged)', () => {
    const d = createGatewayThreatDetector();
    const ctx = fakeContext();
    feed(d, ctx, history());
    // One agent: low at once, medium 10 minutes later.
    const one = feed(d, ctx, [network({ agent_id: 'a1', time: T2, threat: 'prompt_injection', action: 'allowed', dest_host: 'graph.microsoft.com', event_id: 'inj-1' })]);
    expect(one.map((x) => x.severity)).toEqual(['low']);
    expect(one[0]!.summary).toContain('medium unless other agents of its blueprint get the same verdict');
    expect(advanceTo(d, ctx, T2 + 9 * MIN)).toEqual([]);
    const confirmed = advanceTo(d, ctx, T2 + 10 * MIN);
    expect(confirmed.map((x) => [x.agent_id, x.severity, x.time, x.event_ids])).toEqual([['a1', 'medium', T2 + 10 * MIN, ['inj-1']]]);
    expect(confirmed[0]!.summary).toBe('A prompt injection from graph.microsoft.com reached agent a1 (not blocked)');
    // The blueprint's awareness page flagged for three agents within the hour: low for all, no medium.
    const e = createGatewayThreatDetector();
    const ctx2 = fakeContext();
    feed(e, ctx2, history());
    const page = ['a1', 'a2', 'a3'].map((a, i) => network({ agent_id: a, time: T2 + i * 4 * MIN, threat: 'prompt_injection', action: 'allowed', dest_host: 'graph.microsoft.com' }));
    const shared = feed(e, ctx2, page);
    expect(shared.map((x) => [x.agent_id, x.severity])).toEqual([['a1', 'low'], ['a2', 'low'], ['a3', 'low']]);
    expect(shared[2]!.summary).toContain('the same verdict for 3 agents of its blueprint');
    expect(advanceTo(e, ctx2, T2 + HOUR)).toEqual([]);
  });

  it('keeps full severity at once for allowed malware from a host the blueprint uses, and for verdicts on hosts first met with a verdict', () => {
    const out = afterHistory([
      network({ agent_id: 'a1', time: T2, threat: 'malware', action: 'allowed', dest_host: 'store.contoso.com' }),
      network({ agent_id: 'a2', time: T2 + MIN, threat: 'prompt_injection', action: 'blocked', dest_host: 'forum.example' }),
      network({ agent_id: 'a3', time: T2 + 2 * MIN, threat: 'prompt_injection', action: 'blocked', dest_host: 'forum.example' }),
    ]);
    expect(out.map((x) => [x.agent_id, x.severity])).toEqual([['a1', 'high'], ['a2', 'medium'], ['a3', 'medium']]);
  });

  it('takes blocked malware on the fleet own update store for every agent as shared (a signature false positive), and test-file hosts as low', () => {
    const update = ['a1', 'a2', 'a3'].map((a, i) => network({ agent_id: a, time: T2 + i * MIN, threat: 'malware', action: 'blocked', dest_host: 'store.contoso.com', file_type: 'gz' }));
    const eicar = network({ agent_id: 'a1', time: T2 + 20 * MIN, threat: 'malware', action: 'blocked', dest_host: 'secure.eicar.org', file_type: 'com' });
    const d = createGatewayThreatDetector();
    const ctx = fakeContext();
    feed(d, ctx, history());
    const out = [...feed(d, ctx, [...update, eicar]), ...advanceTo(d, ctx, T2 + HOUR)];
    expect(out.map((x) => [x.agent_id, x.severity])).toEqual([['a1', 'low'], ['a2', 'low'], ['a3', 'low'], ['a1', 'low']]);
    expect(out[3]!.summary).toContain('published anti-malware test host');
    expect(isSecurityTestHost('www.AMTSO.org')).toBe(true);
    expect(isSecurityTestHost('testsafebrowsing.appspot.com')).toBe(true);
    expect(isSecurityTestHost('eicar.org.evil.example')).toBe(false);
  });

  it('takes the same verdict kind for 5 agents of 2+ blueprints on hosts they use as the gateway\'s inspection changing (low), and 4 as four findings', () => {
    const fleet: [string, string][] = [['a1', 'bp1'], ['a2', 'bp1'], ['b1', 'bp2'], ['b2', 'bp2'], ['c1', 'bp3']];
    const past: NetworkEvent[] = [];
    let i = 0;
    for (let t = T0; t < T2; t += MIN) for (const [a, bp] of fleet) past.push(network({ agent_id: a, blueprint_id: bp, time: t, dest_host: HOSTS[i++ % HOSTS.length]! }));
    const wave = (n: number) =>
      fleet.slice(0, n).map(([a, bp], k) => network({ agent_id: a, blueprint_id: bp, time: T2 + k * 2 * MIN, threat: 'prompt_injection', dest_host: k % 2 ? 'api.openai.com' : 'api.contoso.com' }));
    const run = (events: NetworkEvent[]) => {
      const d = createGatewayThreatDetector();
      const ctx = fakeContext();
      feed(d, ctx, past);
      return [...feed(d, ctx, events), ...advanceTo(d, ctx, T2 + HOUR)];
    };
    expect(run(wave(5)).map((x) => x.severity)).toEqual(['low', 'low', 'low', 'low', 'low']);
    resetIds();
    const four = run(wave(4));
    expect(four.filter((x) => x.severity === 'medium').map((x) => x.agent_id)).toEqual(['a1', 'a2', 'b1', 'b2']);
  });

  it('keeps a waiting verdict across a snapshot and restore', () => {
    const events = [...history(), network({ agent_id: 'a1', time: T2, threat: 'prompt_injection', action: 'blocked', dest_host: 'api.openai.com' }), network({ agent_id: 'a2', time: T2 + 11 * MIN, dest_host: 'api.contoso.com' })];
    const { uninterrupted, restored } = runWithRestore(() => createGatewayThreatDetector(), events, events.length - 1);
    expect(uninterrupted.map((x) => x.severity)).toEqual(['medium']);
    expect(restored).toEqual(uninterrupted);
  });
});

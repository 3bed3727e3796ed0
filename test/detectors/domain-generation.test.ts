import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../contract/events.js';
import { createDomainGenerationDetector, isGeneratedLabel, registrableDomain } from '../../detectors/domain-generation.js';
import { HOUR, MIN, SEC, T0, fakeContext, feed, network, resetIds, runWithRestore } from './helpers/context.js';
import { Rng } from '../../fixtures/random.js';

beforeEach(() => resetIds());

const TLDS = ['info', 'net', 'top', 'xyz', 'online', 'biz'];

/** `n` generated names (11-17 random letters under a cheap TLD), seeded. */
function generated(n: number, seed = 5): string[] {
  const rng = new Rng(seed);
  return Array.from({ length: n }, () => {
    const len = rng.int(11, 17);
    let s = '';
    for (let i = 0; i < len; i++) s += String.fromCharCode(97 + rng.int(0, 25));
    return `${s}.${rng.pick(TLDS)}`;
  });
}

/** DNS lookups of `names` by `agent` through the platform resolver, every `everyMs` from `from`. */
function lookups(agent: string, names: string[], from: number, everyMs = 2 * SEC): AgentEvent[] {
  return names.map((dest_host, k) => network({ agent_id: agent, time: from + k * everyMs, dest_host, dest_ip: '168.63.129.16', dest_port: 53, category: 'uncategorized', bytes_out: 90, bytes_in: 140, event_id: `dns-${k}` }));
}

const run = (events: AgentEvent[]) => feed(createDomainGenerationDetector(), fakeContext(), events);

describe('domain-generation', () => {
  it('tells generated labels from spelt ones, and finds the registrable domain', () => {
    for (const l of ['xxysavthglhdyodtt', 'pqverhkdrmgexmm', 'sdxwthubnbt', 'a3f9c2e1b7d04e']) expect(isGeneratedLabel(l), l).toBe(true);
    for (const l of ['microsoft', 'googleapis', 'salesforce', 'servicenow', 'atlassian', 'wikipedia', 'kubernetes', 'contoso']) expect(isGeneratedLabel(l), l).toBe(false);
    expect(registrableDomain('a.b.Example.CO.UK.')).toBe('example.co.uk');
    expect(registrableDomain('x7f2.data.tunnel.example.com')).toBe('example.com');
    expect(registrableDomain('10.0.0.53')).toBeNull();
  });

  it('is medium when an agent looks up 25 distinct generated-looking domains within 10 minutes', () => {
    const names = generated(200);
    const out = run(lookups('a1', names, T0));
    expect(out).toHaveLength(1);
    const d = out[0]!;
    expect(d).toMatchObject({ detector: 'domain-generation', severity: 'medium', agent_id: 'a1' });
    // Some random names are pronounceable: the 25th counted one comes a little after the 25th lookup.
    expect(d.time).toBeGreaterThanOrEqual(T0 + 24 * 2 * SEC);
    expect(d.time).toBeLessThan(T0 + 10 * MIN);
    expect(d.summary).toContain('domain generation algorithm');
    expect((d.evidence.observed as { distinct_domains: number }).distinct_domains).toBe(25);
  });

  it('stays quiet for real sites, for names under one domain (a tunnel or a CDN), for lookups spread over hours, and for HTTPS calls', () => {
    const sites = ['microsoft.com', 'wikipedia.org', 'salesforce.com', 'github.com', 'atlassian.net', 'servicenow.com', 'bloomberg.com', 'reuters.com'];
    expect(run(lookups('a1', Array.from({ length: 120 }, (_, k) => `www${k}.${sites[k % sites.length]}`), T0))).toEqual([]);
    expect(run(lookups('a1', generated(120).map((n) => `${n.split('.')[0]}.d3k81x0x4k2fz8.cloudfront.net`), T0))).toEqual([]);
    expect(run(lookups('a1', generated(60), T0, 30 * MIN))).toEqual([]);
    expect(run(lookups('a1', generated(120), T0).map((e) => ({ ...e, dest_port: 443 }) as AgentEvent))).toEqual([]);
  });

  it('fires once an hour per agent, keeps agents apart, and survives a snapshot and restore', () => {
    const names = generated(400);
    const out = run([...lookups('a1', names.slice(0, 200), T0), ...lookups('a2', names.slice(0, 20), T0 + SEC), ...lookups('a1', names.slice(200), T0 + 20 * MIN)]);
    expect(out.map((x) => x.agent_id)).toEqual(['a1']);
    // A steady walk for over two hours: a finding, then the next an hour or more after it.
    const walk = run(lookups('a1', names, T0, 20 * SEC));
    expect(walk.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < walk.length; i++) expect(walk[i]!.time - walk[i - 1]!.time).toBeGreaterThanOrEqual(HOUR);
    const events = lookups('a1', generated(80), T0 + HOUR);
    const { uninterrupted, restored } = runWithRestore(() => createDomainGenerationDetector(), events, 15);
    expect(uninterrupted).toHaveLength(1);
    expect(restored).toEqual(uninterrupted);
  });
});

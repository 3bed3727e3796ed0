import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../contract/events.js';
import { domainToASCII } from 'node:url';
import { createLookalikeDestinationDetector, editDistance, hostImitation, latinSkeleton } from '../../detectors/lookalike-destination.js';
import { HOUR, MIN, SEC, T0, advanceTo, fakeContext, feed, network, resetIds, runWithRestore } from './helpers/context.js';

beforeEach(() => resetIds());

const KB = 1024;

/** Three hours of agents a1..a4 using the tenant's storage account, Graph and an LLM, each every 2 minutes. */
function history(): AgentEvent[] {
  const hosts = ['contosobackup.blob.core.windows.net', 'graph.microsoft.com', 'api.openai.com', 'worker-1.agents.contoso.com', 'crm-eastus.contoso.com', 'api-eu.contoso.com'];
  const out: AgentEvent[] = [];
  for (let m = 0; m < 180; m += 2) {
    for (const [i, a] of ['a1', 'a2', 'a3', 'a4'].entries()) {
      out.push(network({ agent_id: a, time: T0 + m * MIN + i * SEC, dest_host: hosts[(m / 2 + i) % hosts.length]!, bytes_out: 4 * KB }));
    }
  }
  return out;
}

const T3 = T0 + 3 * HOUR;

const run = (events: AgentEvent[]) => {
  const d = createLookalikeDestinationDetector();
  const ctx = fakeContext();
  feed(d, ctx, history());
  return feed(d, ctx, events);
};

describe('lookalike-destination: host names', () => {
  it('tells a typosquat of a known host from another host of the same fleet', () => {
    expect(hostImitation('contos0backup.blob.core.windows.net', 'contosobackup.blob.core.windows.net')).toBe('look-alike characters');
    expect(hostImitation('rnicrosoft.com', 'microsoft.com')).toBe('look-alike characters');
    expect(hostImitation('api.open-ai.com', 'api.openai.com')).toBe('a character added');
    expect(hostImitation('githb.com', 'github.com')).toBe('a character dropped');
    expect(hostImitation('crm-api.lana.com', 'crm-api.lamna.com')).toBe('a character dropped');
    expect(hostImitation('crm-api.lamnna.com', 'crm-api.lamna.com')).toBe('a character added');
    expect(hostImitation('crm-api.lamn.com', 'crm-api.lam.com')).toBeNull();
    expect(hostImitation('gihtub.com', 'github.com')).toBe('two characters swapped');
    expect(hostImitation('contosobackuq.blob.core.windows.net', 'contosobackup.blob.core.windows.net')).toBe('a character changed');
    expect(hostImitation('api.openai.co', 'api.openai.com')).toBe('.co for .com');
    expect(hostImitation('mcp-tailspin.com', 'mcp.tailspin.com')).toBe('a dot turned into a hyphen');
    expect(hostImitation('mcptailspin.com', 'mcp.tailspin.com')).toBe('a dot dropped');
    // A subdomain of the same domain is the owner's, not a look-alike.
    expect(hostImitation('mcp2.tailspin.com', 'mcp.tailspin.com')).toBeNull();
    expect(hostImitation('tailspin.com', 'mcp.tailspin.com')).toBeNull();
    // Numbered instances, short words, regions and environments: a fleet's naming scheme.
    expect(hostImitation('worker-2.agents.contoso.com', 'worker-1.agents.contoso.com')).toBeNull();
    expect(hostImitation('api-us.contoso.com', 'api-eu.contoso.com')).toBeNull();
    expect(hostImitation('crm-westus.contoso.com', 'crm-eastus.contoso.com')).toBeNull();
    expect(hostImitation('billing-dev.contoso.com', 'billing-qa.contoso.com')).toBeNull();
    // Short region codes glued to a storage account's name: one backup per region.
    expect(hostImitation('kiobackupase.blob.core.windows.net', 'kiobackupae.blob.core.windows.net')).toBeNull();
    expect(hostImitation('contosologsweu.blob.core.windows.net', 'contosologsneu.blob.core.windows.net')).toBeNull();
    expect(hostImitation('contosodata2use1.s3.amazonaws.com', 'contosodata2usw1.s3.amazonaws.com')).toBeNull();
    // A typo of a region-coded name is still one, and so is a code glued to a name that had none.
    expect(hostImitation('kiobackupaes.blob.core.windows.net', 'kiobackupase.blob.core.windows.net')).toBe('two characters swapped');
    expect(hostImitation('kiobakupase.blob.core.windows.net', 'kiobackupase.blob.core.windows.net')).toBe('a character dropped');
    expect(hostImitation('contosobackupe.blob.core.windows.net', 'contosobackup.blob.core.windows.net')).toBe('a character added');
    // Another name altogether, two labels changed, or an edit in a short label.
    expect(hostImitation('search.contoso.com', 'graph.contoso.com')).toBeNull();
    expect(hostImitation('api.openai.net', 'api.openai.com')).toBeNull();
    expect(hostImitation('crm.contoso.com', 'cms.contoso.com')).toBeNull();
    expect(hostImitation('graph.microsoft.us', 'graph.microsoft.com')).toBeNull();
    // Another word within a hyphenated label; a typo within one of its words is still caught.
    expect(hostImitation('mcp-gitlab.contoso.com', 'mcp-github.contoso.com')).toBeNull();
    expect(hostImitation('mcp-githuub.contoso.com', 'mcp-github.contoso.com')).toBe('a character added');
  });

  it('reads an internationalized name as the Latin host it shows on screen', () => {
    // Cyrillic і (U+0456) and о (U+043E), Greek ο (U+03BF): punycode on the wire.
    const cyrillicI = domainToASCII('mcp.tailsp\u0456n.com');
    expect(cyrillicI.startsWith('mcp.xn--')).toBe(true);
    expect(latinSkeleton(cyrillicI)).toEqual({ latin: 'mcp.tailspin.com', unicode: 'mcp.tailsp\u0456n.com' });
    expect(latinSkeleton(domainToASCII('api.\u043epenai.com'))?.latin).toBe('api.openai.com');
    expect(latinSkeleton(domainToASCII('graph.micr\u03bfsoft.com'))?.latin).toBe('graph.microsoft.com');
    expect(latinSkeleton(domainToASCII('caf\u00e9.contoso.com'))?.latin).toBe('cafe.contoso.com'); // accents dropped
    // Not a copy of a Latin name: another script's own name, or no punycode at all.
    expect(latinSkeleton(domainToASCII('\u4f8b\u3048.jp'))).toBeNull();
    expect(latinSkeleton('api.openai.com')).toBeNull();
  });

  it('measures edits up to two and stops there', () => {
    expect(editDistance('github', 'github')).toBe(0);
    expect(editDistance('github', 'gihtub')).toBe(1);
    expect(editDistance('github', 'gthbu')).toBe(2);
    expect(editDistance('github', 'gitlab')).toBe(2);
    expect(editDistance('github', 'bitbucket')).toBe(3);
    expect(editDistance('a', 'abcdef')).toBe(3);
  });
});

describe('lookalike-destination', () => {
  it('reports each contact with a look-alike of an established destination (low), and medium once data goes there', () => {
    const drip = Array.from({ length: 6 }, (_, k) =>
      network({ agent_id: 'a2', time: T3 + k * 10 * MIN, dest_host: 'contos0backup.blob.core.windows.net', category: 'storage', bytes_out: 60 * KB, event_id: `drip-${k}` }),
    );
    const out = run(drip);
    expect(out.map((d) => d.severity)).toEqual(['low', 'medium']);
    expect(out[0]).toMatchObject({ detector: 'lookalike-destination', agent_id: 'a2', time: T3, event_ids: ['drip-0'] });
    expect(out[0]!.evidence.baseline).toEqual({ imitated_host: 'contosobackup.blob.core.windows.net', difference: 'look-alike characters' });
    // 64 KiB reached at the 2nd transfer (120 KiB).
    expect(out[1]!.time).toBe(T3 + 10 * MIN);
    expect(out[1]!.event_ids).toEqual(['drip-0', 'drip-1']);
    expect(out[1]!.summary).toContain('120 KiB');
  });

  it('is medium at once when the agent presents a bearer token to a look-alike, however little it sends', () => {
    const calls = [0, 1].map((k) => network({ agent_id: 'a2', time: T3 + k * 3 * MIN, dest_host: 'crm-eastus.contoso.co', category: 'uncategorized', bytes_out: 2 * KB, token_id: 'tok-crm' }));
    const out = run(calls);
    expect(out.map((d) => d.severity)).toEqual(['low', 'medium']);
    expect(out[1]!.time).toBe(T3);
    expect(out[1]!.summary).toContain('presented its bearer token to it');
    expect(out[1]!.evidence.observed).toMatchObject({ token_presented: true });
    // Without a token, the same calls stay low; a blocked call hands nothing over.
    resetIds();
    expect(run(calls.map((e) => ({ ...e, token_id: null }) as AgentEvent)).map((d) => d.severity)).toEqual(['low']);
    resetIds();
    expect(run(calls.map((e) => ({ ...e, action: 'blocked' }) as AgentEvent)).map((d) => d.severity)).toEqual(['low']);
  });

  it('catches an internationalized look-alike (a letter of another script) of an established destination, and leaves other internationalized names alone', () => {
    const homograph = domainToASCII('api.\u043epenai.com'); // a Cyrillic о
    const posts = Array.from({ length: 2 }, (_, k) => network({ agent_id: 'a3', time: T3 + k * MIN, dest_host: homograph, bytes_out: 40 * KB, event_id: `idn-${k}` }));
    const own = network({ agent_id: 'a1', time: T3, dest_host: domainToASCII('b\u00fccher.example.de'), bytes_out: 80 * KB });
    const out = run([own, ...posts]);
    expect(out.map((d) => [d.agent_id, d.severity])).toEqual([['a3', 'low'], ['a3', 'medium']]);
    expect(out[0]!.evidence.baseline).toMatchObject({ imitated_host: 'api.openai.com' });
    expect(out[0]!.summary).toContain(homograph);
    expect(out[0]!.summary).toContain('api.\u043epenai.com on screen');
  });

  it('judges every agent that reaches the look-alike, however many do (it is never learned)', () => {
    const rollout = ['a1', 'a2', 'a3', 'a4'].map((a, i) => network({ agent_id: a, time: T3 + i * MIN, dest_host: 'api.open-ai.com', bytes_out: 2 * KB }));
    const out = run([...rollout, ...rollout.map((e) => ({ ...e, event_id: `${e.event_id}-again`, time: e.time + 3 * HOUR }))]);
    expect(out.map((d) => [d.agent_id, d.severity])).toEqual([['a1', 'low'], ['a2', 'low'], ['a3', 'low'], ['a4', 'low']]);
  });

  it('leaves new hosts of the fleet alone: numbered instances, other regions, unrelated names, agent calls', () => {
    const out = run([
      network({ agent_id: 'a1', time: T3, dest_host: 'worker-7.agents.contoso.com', bytes_out: 900 * KB }),
      network({ agent_id: 'a1', time: T3 + MIN, dest_host: 'crm-westus.contoso.com', bytes_out: 900 * KB }),
      network({ agent_id: 'a1', time: T3 + 2 * MIN, dest_host: 'api-us.contoso.com', bytes_out: 900 * KB }),
      network({ agent_id: 'a1', time: T3 + 3 * MIN, dest_host: 'files.fabrikam.com', bytes_out: 900 * KB }),
      network({ agent_id: 'a1', time: T3 + 4 * MIN, dest_host: 'graph.microsoft.com', bytes_out: 900 * KB }),
      network({ agent_id: 'a1', time: T3 + 5 * MIN, dest_host: 'w0rker-1.agents.contoso.com', dest_agent_id: 'worker-1', category: 'agent' }),
    ]);
    expect(out).toEqual([]);
  });

  it('leaves hosts no one outside the network can create alone: internal namespaces and private addresses', () => {
    const known = (host: string, ip: string | null): AgentEvent[] =>
      [0, 1].map((i) => network({ agent_id: `a${i + 1}`, time: T3 - 30 * MIN + i * MIN, dest_host: host, dest_ip: ip, bytes_out: 4 * KB }));
    const events = [...known('sagprod.swift.blp.local', '10.90.5.21'), ...known('portal.swiftbank.com', '198.51.100.7')];
    // SWIFT's Alliance Access beside its Alliance Gateway: one letter apart, both named by the bank's own DNS.
    events.push(network({ agent_id: 'a3', time: T3, dest_host: 'saaprod.swift.blp.local', dest_ip: '10.90.5.11', bytes_out: 900 * KB }));
    events.push(network({ agent_id: 'a3', time: T3 + MIN, dest_host: 'sagpr0d.swift.blp.internal', dest_ip: null, bytes_out: 900 * KB }));
    // A public name one letter off, first reached at a private address: the network's own.
    events.push(network({ agent_id: 'a3', time: T3 + 2 * MIN, dest_host: 'portal.swiftbenk.com', dest_ip: '10.1.2.3', bytes_out: 900 * KB }));
    expect(run(events)).toEqual([]);
    // The same public name at a public address is a squat.
    resetIds();
    const squat = run([...events.slice(0, 4), network({ agent_id: 'a3', time: T3 + 2 * MIN, dest_host: 'portal.swiftbenk.com', dest_ip: '203.0.113.9', bytes_out: 900 * KB })]);
    expect(squat.map((d) => [d.agent_id, d.severity])).toEqual([
      ['a3', 'low'],
      ['a3', 'medium'],
    ]);
  });

  it('holds a host one label off another of the tenant\'s own domain for 5 minutes: a rename when 3 agents take it up, else reported then', () => {
    // Established by two agents each, an hour before.
    const known = ['tickets.contoso.com', 'tickets.fabrikam.com', 'contoso-aoai.openai.azure.com', 'management.azure.com', 'eastus.api.azure.com'];
    const establish = known.flatMap((host, i) => ['a1', 'a2'].map((a, j) => network({ agent_id: a, time: T3 + i * MIN + j * SEC, dest_host: host })));
    const at = T3 + HOUR;
    const runAll = (events: AgentEvent[]) => {
      const d = createLookalikeDestinationDetector();
      const ctx = fakeContext();
      const out = [...feed(d, ctx, history()), ...feed(d, ctx, [...establish, ...events])];
      return [...out, ...advanceTo(d, ctx, at + HOUR)];
    };
    const toTicket = (agent: string, t: number, bytes = 900 * KB) => network({ agent_id: agent, time: t, dest_host: 'ticket.contoso.com', bytes_out: bytes });
    // contoso.com (4 established hosts, 3 from the history) is the tenant's: every caller switching is a rename.
    expect(runAll([toTicket('a3', at), toTicket('a4', at + MIN), toTicket('a1', at + 3 * MIN), toTicket('a3', at + 20 * MIN)])).toEqual([]);
    // One agent alone there: reported when the 5 minutes are over, medium (it sent 900 KiB).
    const alone = runAll([toTicket('a3', at), toTicket('a3', at + MIN, 2 * KB)]);
    expect(alone.map((d) => [d.agent_id, d.severity, d.time])).toEqual([['a3', 'medium', at + 5 * MIN]]);
    expect(alone[0]!.summary).toContain('not a rename');
    // A third agent after the 5 minutes does not make it a rename (it is judged at once, the first two when due).
    expect(runAll([toTicket('a3', at), toTicket('a4', at + MIN), toTicket('a1', at + 7 * MIN)]).map((d) => [d.agent_id, d.severity, d.time])).toEqual([
      ['a1', 'low', at + 7 * MIN],
      ['a1', 'medium', at + 7 * MIN],
      ['a3', 'medium', at + 5 * MIN],
      ['a4', 'medium', at + 5 * MIN],
    ]);
    // fabrikam.com: one host the tenant calls, not its domain; azure.com: every customer names hosts there. Reported at once.
    const others = runAll([
      network({ agent_id: 'a3', time: at, dest_host: 'ticket.fabrikam.com', bytes_out: 2 * KB }),
      network({ agent_id: 'a4', time: at + MIN, dest_host: 'c0ntoso-aoai.openai.azure.com', bytes_out: 2 * KB }),
    ]);
    expect(others.map((d) => [d.agent_id, d.severity, d.time])).toEqual([
      ['a3', 'low', at],
      ['a4', 'low', at + MIN],
    ]);
  });

  it('does not compare with a destination before it is established (one agent for under 2 hours)', () => {
    const d = createLookalikeDestinationDetector();
    const ctx = fakeContext();
    const fresh = [
      network({ agent_id: 'a1', time: T0, dest_host: 'northwindfiles.example.com' }),
      network({ agent_id: 'a1', time: T0 + 30 * MIN, dest_host: 'northwlndfiles.example.com' }),
    ];
    expect(feed(d, ctx, fresh)).toEqual([]);
    // Established later (a second agent), the earlier host is compared again when next used.
    feed(d, ctx, [network({ agent_id: 'a2', time: T0 + 40 * MIN, dest_host: 'northwindfiles.example.com' })]);
    const later = feed(d, ctx, [network({ agent_id: 'a3', time: T0 + 50 * MIN, dest_host: 'northwlndfiles.example.com' })]);
    expect(later.map((x) => [x.agent_id, x.severity])).toEqual([['a3', 'low']]);
  });

  it('compares host names in one form (case, trailing dot) and survives snapshot and restore', () => {
    expect(run([network({ agent_id: 'a3', time: T3, dest_host: 'API.OPENAI.CO.' })]).map((d) => d.evidence.baseline)).toEqual([
      { imitated_host: 'api.openai.com', difference: '.co for .com' },
    ]);
    const events = [
      ...history(),
      ...Array.from({ length: 6 }, (_, k) => network({ agent_id: 'a2', time: T3 + k * 10 * MIN, dest_host: 'contos0backup.blob.core.windows.net', bytes_out: 60 * KB })),
    ];
    const { uninterrupted, restored } = runWithRestore(() => createLookalikeDestinationDetector(), events, events.length - 5);
    expect(uninterrupted.map((d) => d.severity)).toEqual(['medium']);
    expect(restored).toEqual(uninterrupted);
  });

  it('forgets destinations idle past the horizon, and keeps each tenant to its cap', () => {
    const d = createLookalikeDestinationDetector({ maxHostsPerTenant: 8 });
    const ctx = fakeContext();
    feed(d, ctx, Array.from({ length: 20 }, (_, k) => network({ agent_id: 'a1', time: T0 + k * SEC, dest_host: `h${k}.example.com` })));
    expect(d.size()).toBeLessThanOrEqual(8);
    d.evict(T0 + HOUR);
    expect(d.size()).toBe(0);
  });
});

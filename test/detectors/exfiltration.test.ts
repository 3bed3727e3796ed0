import { beforeEach, describe, expect, it } from 'vitest';
import type { NetworkEvent } from '../../contract/events.js';
import { bucketOf, bucketUpper, createExfiltrationDetector, isAzureTenantServiceHost } from '../../detectors/exfiltration.js';
import { DAY, HOUR, MIN, SEC, T0, advanceTo, fakeContext, feed, lifecycle, network, resetIds, runWithRestore, token } from './helpers/context.js';
import { seededRandom } from '../../publish/util.js';

beforeEach(() => resetIds());

/** Log-normal bytes: median `median`, log-sd `sigma` (heavy tail). */
function lognormal(r: () => number, median: number, sigma: number): number {
  const u = Math.max(r(), 1e-12);
  const z = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r());
  return Math.round(median * Math.exp(sigma * z));
}

/** Heavy-tailed normal traffic of `agents` agents of bp1, one transfer per agent per minute. */
function traffic(agents: string[], from: number, to: number, seed = 1, sigma = 1.5): NetworkEvent[] {
  const r = seededRandom(seed);
  const out: NetworkEvent[] = [];
  const cats = ['api', 'api', 'llm_provider', 'storage'];
  for (let t = from; t < to; t += MIN) {
    for (const a of agents) {
      out.push(network({ agent_id: a, time: t + Math.floor(r() * 50) * SEC, bytes_out: lognormal(r, 20_000, sigma), category: cats[Math.floor(r() * 4)]! }));
    }
  }
  return out;
}

/**
 * The detector with medium window and hour sums reported at once: these tests
 * are about the thresholds; the blueprint-follow confirmation has its own.
 */
const exfil = (o: Parameters<typeof createExfiltrationDetector>[0] = {}) => createExfiltrationDetector({ confirmMs: 0, minWindowBytesQuiet: QUIET_FLOOR_OF_THESE_TESTS, ...o });

/**
 * The quiet agent's 10-minute floor these tests' volumes were chosen around
 * (they are about the other rules: single transfers, risky destinations, the
 * slow sums, lateness); the default, lower floor has its own tests.
 */
const QUIET_FLOOR_OF_THESE_TESTS = 50_000_000;

/** A detector fed `events` (with a fresh context each call, see feed). */
function exfilAfter(events: NetworkEvent[]) {
  const d = exfil();
  feed(d, fakeContext(), events);
  return d;
}

const AGENTS = ['a1', 'a2', 'a3', 'a4'];
const T3 = T0 + 3 * HOUR;

describe('exfiltration', () => {
  it('takes a fleet\'s shared sink as the blueprint\'s for the agent that reached it first, once its peers have used it for 15 minutes', () => {
    // Eight feed agents publish 7 MB to their Event Hub every 5 minutes from T0 + 4.5 min, a1 first (its clock runs
    // 10 s fast at the 13th). When the blueprint's first hour ends (window sums count from then on), a1's call to its
    // feed's API sums its publishes of the last 10 minutes, to a hub not yet an hour old.
    const feeders = Array.from({ length: 8 }, (_, i) => `a${i + 1}`);
    const events: NetworkEvent[] = [network({ agent_id: 'a1', time: T0 + 64 * MIN + 40 * SEC, bytes_out: 900, bytes_in: 30_000, dest_host: 'api.feed.example', category: 'api' })];
    for (let k = 0; k < 14; k++)
      feeders.forEach((a, i) =>
        events.push(network({ agent_id: a, time: T0 + 4 * MIN + 30 * SEC + k * 5 * MIN + i * 20 * SEC - (k === 12 && i === 0 ? 10 * SEC : 0), bytes_out: 7_000_000, dest_host: 'odds.servicebus.windows.net', dest_port: 5671, category: 'api' })),
      );
    events.sort((x, y) => x.time - y.time);
    expect(feed(createExfiltrationDetector({ confirmMs: 0 }), fakeContext(), events)).toEqual([]);
  });

  it('fires high for one huge upload to a file-sharing destination', () => {
    const d = exfil();
    const ctx = fakeContext();
    expect(feed(d, ctx, traffic(AGENTS, T0, T3))).toEqual([]);
    const out = feed(d, ctx, [
      network({ agent_id: 'a2', time: T3, bytes_out: 300_000_000, category: 'file_sharing', dest_host: 'mega.example', event_id: 'n-x' }),
    ]);
    expect(out).toHaveLength(1);
    const det = out[0]!;
    expect(det).toMatchObject({ detector: 'exfiltration', severity: 'high', agent_id: 'a2', event_ids: ['n-x'], time: T3 });
    expect(det.evidence.observed).toMatchObject({ bytes_out: 300_000_000, category: 'file_sharing' });
    expect(det.evidence.peer_group).toBe('blueprint:bp1');
    expect(det.evidence.threshold).toBeGreaterThanOrEqual(10_000_000);
    expect(det.summary).toContain('mega.example');
  });

  it('fires for a huge transfer to an ordinary destination, with a higher floor', () => {
    const d = exfil();
    const ctx = fakeContext();
    feed(d, ctx, traffic(AGENTS, T0, T3));
    // 40 MB: under the single-transfer floor (100 MB) and the quiet agent's 10-minute floor (50 MB in these tests).
    expect(feed(d, ctx, [network({ agent_id: 'a1', time: T3, bytes_out: 40_000_000, category: 'storage', dest_host: 'blob-7f3a.example' })])).toEqual([]);
    const out = feed(d, ctx, [network({ agent_id: 'a1', time: T3 + MIN, bytes_out: 2_000_000_000, category: 'storage', dest_host: 'blob-7f3a.example' })]);
    expect(out).toHaveLength(1);
    expect(out[0]!.severity).toBe('medium');
    expect(out[0]!.evidence.observed).toMatchObject({ familiar_destination: false });
  });

  it('tolerates heavy uploads to a destination the blueprint regularly uploads to, not to a new one', () => {
    const d = exfil();
    const ctx = fakeContext();
    const events = traffic(AGENTS, T0, T3);
    const r = seededRandom(5);
    for (let t = T0; t < T3; t += 10 * MIN) {
      for (const a of AGENTS) events.push(network({ agent_id: a, time: t + 30 * SEC, bytes_out: lognormal(r, 40_000_000, 0.4), category: 'storage', dest_host: 'backup.contoso.example' }));
    }
    events.sort((x, y) => x.time - y.time);
    expect(feed(d, ctx, events)).toEqual([]);
    // 1.5 GB to the usual backup account: a heavy tail, not exfiltration
    expect(feed(d, ctx, [network({ agent_id: 'a2', time: T3, bytes_out: 1_500_000_000, category: 'storage', dest_host: 'backup.contoso.example' })])).toEqual([]);
    // 30 GB there (a monthly full backup): an outlier worth a look, but the data stays with the organisation: low.
    const full = feed(exfilAfter(events), fakeContext(), [network({ agent_id: 'a3', time: T3, bytes_out: 30_000_000_000, category: 'storage', dest_host: 'backup.contoso.example' })]);
    expect(full.map((x) => [x.severity, (x.evidence.observed as { familiar_destination: boolean }).familiar_destination])).toEqual([['low', true]]);
    // the same to a storage account the blueprint never used
    const out = feed(d, ctx, [network({ agent_id: 'a2', time: T3 + MIN, bytes_out: 1_500_000_000, category: 'storage', dest_host: 'x7f3abackup.blob.example' })]);
    expect(out).toHaveLength(1);
    expect(out[0]!.summary).toMatch(/new (destination|to its blueprint)/);
  });

  it('fires on many medium chunks to a new storage destination within ten minutes', () => {
    const d = exfil();
    const ctx = fakeContext();
    feed(d, ctx, traffic(AGENTS, T0, T3));
    const chunks: NetworkEvent[] = [];
    for (let i = 0; i < 28; i++) chunks.push(network({ agent_id: 'a1', time: T3 + i * 19 * SEC, bytes_out: 18_000_000, category: 'storage', dest_host: 'c0ffeebackup.blob.example' }));
    const out = feed(d, ctx, chunks);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ severity: 'medium' });
    expect(out[0]!.evidence.kind).toBe('window');
    expect(out[0]!.summary).toContain('new to its blueprint');
  });

  it('takes token-authorized uploads to an Azure Storage account, after the sponsor granted the agent a storage data role, as the tenant\'s own account; not without the token, the role or the sponsor', () => {
    const upload = (o: { token?: boolean; actor?: string; permission?: string }) => {
      const d = exfil();
      const ctx = fakeContext();
      const out = feed(d, ctx, traffic(AGENTS, T0, T3));
      out.push(
        ...feed(d, ctx, [
          lifecycle({ agent_id: 'a1', action: 'sponsor_added', sponsor_id: 'alice', actor: 'admin', time: T3 - 2 * HOUR }),
          lifecycle({ agent_id: 'a1', action: 'permission_granted', permission: o.permission ?? 'Storage Blob Data Contributor', actor: o.actor ?? 'alice', time: T3 - 30 * MIN }),
        ]),
      );
      const blocks: NetworkEvent[] = [];
      for (let i = 0; i < 6; i++) blocks.push(network({ agent_id: 'a1', time: T3 + i * 40 * SEC, bytes_out: 104_857_600, category: 'storage', dest_host: 'contososqlbackup.blob.core.windows.net', token_id: o.token === false ? null : 'st-1' }));
      return out.concat(feed(d, ctx, blocks), advanceTo(d, ctx, T3 + 20 * MIN)).filter((x) => x.severity !== 'low');
    };
    expect(upload({})).toEqual([]);
    expect(upload({ token: false }).length).toBeGreaterThan(0);
    expect(upload({ actor: 'mallory' }).length).toBeGreaterThan(0);
    expect(upload({ permission: 'Key Vault Secrets User' }).length).toBeGreaterThan(0);
  });

  it('takes uploads to a new Azure Storage account presenting the storage token the tenant granted the agent as the tenant\'s own account (a restore drill), not a token it was never granted', () => {
    const drill = (tokenId: string) => {
      const d = exfil();
      const ctx = fakeContext();
      const out = feed(d, ctx, traffic(AGENTS, T0, T3));
      out.push(...feed(d, ctx, [token({ agent_id: 'a1', time: T3 - 5 * MIN, resource: 'https://storage.azure.com/', scopes: ['user_impersonation'], token_id: 'st-granted' })]));
      const blobs: NetworkEvent[] = [];
      for (let i = 0; i < 6; i++) blobs.push(network({ agent_id: 'a1', time: T3 + i * 40 * SEC, bytes_out: 300_000_000, category: 'storage', dest_host: 'contosorestoretest26q4.blob.core.windows.net', token_id: tokenId }));
      return out.concat(feed(d, ctx, blobs), advanceTo(d, ctx, T3 + 20 * MIN)).filter((x) => x.severity !== 'low');
    };
    expect(drill('st-granted')).toEqual([]);
    expect(drill('foreign-tenant-token').length).toBeGreaterThan(0);
  });

  it('takes an upload to a storage account as the tenant\'s own when the token event of the storage token it presented arrives after it (delivered late, before the confirmation)', () => {
    const copy = (late: boolean) => {
      const d = exfil({ confirmMs: 3 * MIN });
      const ctx = fakeContext();
      feed(d, ctx, traffic(AGENTS, T0, T3));
      const up = network({ agent_id: 'a1', time: T3, bytes_out: 289_000_000, bytes_in: 4_096, category: 'storage', dest_host: 'contosofiles.file.core.windows.net', token_id: 'st-late' });
      const tok = token({ agent_id: 'a1', time: T3 - 4 * SEC, resource: 'https://storage.azure.com', scopes: ['https://storage.azure.com/.default'], token_id: 'st-late' });
      const out = feed(d, ctx, late ? [up, tok] : [up]);
      return [...out, ...advanceTo(d, ctx, T3 + 10 * MIN)].filter((x) => x.severity !== 'low');
    };
    expect(copy(true)).toEqual([]);
    expect(copy(false).map((x) => x.severity)).toEqual(['medium']);
  });

  it('takes studies migrated with the agent\'s own token into an Azure health data service new to the blueprint (its DICOM service) as the tenant\'s, not the same upload under a key', () => {
    const migrate = (tokenId: string | null) => {
      const d = exfil();
      const ctx = fakeContext();
      feed(d, ctx, traffic(AGENTS, T0, T3));
      const studies: NetworkEvent[] = [];
      for (let i = 0; i < 6; i++) studies.push(network({ agent_id: 'a1', time: T3 + i * 40 * SEC, bytes_out: 300_000_000, bytes_in: 2_500, category: 'api', dest_host: 'contosows-pacs.dicom.azurehealthcareapis.com', file_type: 'dcm', token_id: tokenId }));
      return [...feed(d, ctx, studies), ...advanceTo(d, ctx, T3 + 20 * MIN)].filter((x) => x.severity !== 'low');
    };
    expect(migrate('tok-dicom')).toEqual([]);
    expect(migrate(null).length).toBeGreaterThan(0);
  });

  it('fires on 50 MB within ten minutes to a storage account new to the blueprint from a quiet agent (20x its baseline)', () => {
    const d = exfil();
    const ctx = fakeContext();
    feed(d, ctx, traffic(AGENTS, T0, T3));
    const out = feed(d, ctx, trickle(45, 5 * MIN, 10 * MIN, 'storage', 'xfer8812.blob.example', T3));
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ severity: 'medium', time: T3 + 5 * MIN });
    expect(out[0]!.evidence.kind).toBe('window');
    expect(out[0]!.evidence.threshold).toBe(50_000_000);
    expect(out[0]!.summary).toContain('new to its blueprint');
  });

  it('by default fires on a dozen MB within ten minutes to a web service new to the blueprint from a quiet agent (documents posted to an attacker-keyed SaaS API)', () => {
    // The default quiet floor (10 MB): 20x the blueprint's most in 10 min to new destinations (~0.75 MB) is higher here, ~15 MB; 25 MB is sent.
    const d = createExfiltrationDetector({ confirmMs: 0 });
    const ctx = fakeContext();
    expect(feed(d, ctx, traffic(AGENTS, T0, T3))).toEqual([]);
    const posts: NetworkEvent[] = [];
    for (let i = 0; i < 10; i++) posts.push(network({ agent_id: 'a2', time: T3 + i * MIN, bytes_out: 2_500_000, bytes_in: 1_200, category: 'productivity', dest_host: 'api.notion.example' }));
    const out = feed(d, ctx, posts);
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ severity: 'medium', agent_id: 'a2' });
    expect(out[0]!.evidence.kind).toBe('window');
    const thr = out[0]!.evidence.threshold as number;
    expect(thr).toBeGreaterThanOrEqual(10_000_000);
    expect(thr).toBeLessThan(20_000_000);
    expect(out[0]!.evidence.observed).toMatchObject({ last_dest_host: 'api.notion.example' });
  });

  it('does not take bulk data copied to a private address (an internal file share) for exfiltration, and does to the same host at a public one', () => {
    const copy = (ip: string) => Array.from({ length: 10 }, (_, i) => network({ agent_id: 'a2', time: T3 + i * MIN, bytes_out: 20_000_000, bytes_in: 1_200, category: 'internal', dest_host: 'eng-fs01.corp.example', dest_ip: ip, dest_port: 445 }));
    const run = (events: NetworkEvent[]) => {
      const d = createExfiltrationDetector({ confirmMs: 0 });
      const ctx = fakeContext();
      feed(d, ctx, traffic(AGENTS, T0, T3));
      return feed(d, ctx, events);
    };
    expect(run(copy('10.60.4.20'))).toEqual([]);
    expect(run(copy('fd00:60::20'))).toEqual([]);
    expect(run(copy('203.0.113.20')).map((x) => x.severity)).toContain('medium');
  });

  it('does not sum uploads to a government host new to the blueprint (a regulatory filing portal), in any vendor\'s spelling of the category', () => {
    for (const category of ['government', 'Government & Legal', 'Government and Legal Organizations']) {
      const d = createExfiltrationDetector({ confirmMs: 0 });
      const ctx = fakeContext();
      feed(d, ctx, traffic(AGENTS, T0, T3));
      const filing: NetworkEvent[] = [];
      for (let i = 0; i < 10; i++) filing.push(network({ agent_id: 'a2', time: T3 + i * MIN, bytes_out: 2_500_000, bytes_in: 1_200, category, dest_host: 'portal.mvp.bafin.de' }));
      expect(feed(d, ctx, filing), category).toEqual([]);
    }
  });

  it('takes a production sent to an agency\'s file exchange (a government name, whatever its category) as low, and the same upload elsewhere as medium or more', () => {
    const run = (host: string) => {
      const d = createExfiltrationDetector({ confirmMs: 0 });
      const ctx = fakeContext();
      feed(d, ctx, traffic(AGENTS, T0, T3));
      const parts: NetworkEvent[] = [];
      for (let i = 0; i < 4; i++) parts.push(network({ agent_id: 'a2', time: T3 + i * 5 * MIN, bytes_out: 1_800_000_000, bytes_in: 4_000, category: 'file_sharing', file_type: '7z', dest_host: host }));
      return feed(d, ctx, parts).map((x) => x.severity);
    };
    const agency = run('jefs.usdoj.gov');
    expect(agency.length).toBeGreaterThan(0);
    expect(agency.every((s) => s === 'low')).toBe(true);
    expect(run('jefs.usdoj-gov.com').some((s) => s === 'medium' || s === 'high')).toBe(true);
  });

  it('by default stays quiet on a few MB to a new web service, and keeps 20x the baseline for a blueprint that sends MBs to new destinations', () => {
    const quiet = createExfiltrationDetector({ confirmMs: 0 });
    const ctx = fakeContext();
    feed(quiet, ctx, traffic(AGENTS, T0, T3));
    const few: NetworkEvent[] = [];
    for (let i = 0; i < 4; i++) few.push(network({ agent_id: 'a2', time: T3 + i * 2 * MIN, bytes_out: 1_800_000, category: 'productivity', dest_host: 'api.notion.example' }));
    expect(feed(quiet, ctx, few)).toEqual([]);
    // A blueprint whose agents each send ~1.5 MB a minute to ever-new hosts: 15 MB in 10 minutes is its routine.
    const busy = createExfiltrationDetector({ confirmMs: 0 });
    const bctx = fakeContext();
    const routine: NetworkEvent[] = [];
    for (let t = T0; t < T3; t += MIN) for (const a of AGENTS) routine.push(network({ agent_id: a, time: t + 7 * SEC, bytes_out: 1_500_000, category: 'api', dest_host: `h${t}-${a}.example` }));
    routine.sort((x, y) => x.time - y.time);
    expect(feed(busy, bctx, routine)).toEqual([]);
    const same: NetworkEvent[] = [];
    for (let i = 0; i < 10; i++) same.push(network({ agent_id: 'a2', time: T3 + i * MIN, bytes_out: 2_500_000, category: 'productivity', dest_host: 'api.notion.example' }));
    expect(feed(busy, bctx, same)).toEqual([]);
  });

  it('does not sum bulk data to a destination the blueprint works with (its agents call it), but does to one only the agent called, or a risky one', () => {
    // Every agent queries the blueprint's search service with small requests for 3 hours; a4 alone also calls a model host.
    const events = traffic(AGENTS, T0, T3);
    for (let t = T0; t < T3; t += 5 * MIN) {
      for (const a of AGENTS) events.push(network({ agent_id: a, time: t + 3 * SEC, bytes_out: 2_000, category: 'api', dest_host: 'search.contoso.example' }));
      events.push(network({ agent_id: 'a4', time: t + 7 * SEC, bytes_out: 3_000, category: 'llm_provider', dest_host: 'solo-llm.example' }));
    }
    events.sort((x, y) => x.time - y.time);
    const upload = (host: string, category: string) => {
      const d = exfil();
      const ctx = fakeContext();
      expect(feed(d, ctx, events)).toEqual([]);
      // 60 MB in 6 uploads over 10 minutes (documents sent to the blueprint's model endpoint, a mail-out through Graph).
      return feed(d, ctx, Array.from({ length: 6 }, (_, i) => network({ agent_id: 'a4', time: T3 + i * 100 * SEC, bytes_out: 10_000_000, category, dest_host: host })));
    };
    expect(upload('search.contoso.example', 'api')).toEqual([]);
    expect(upload('solo-llm.example', 'llm_provider').map((x) => x.severity)).toEqual(['medium']);
    expect(upload('fresh-llm.example', 'llm_provider').map((x) => x.severity)).toEqual(['medium']);
    // A risky category is familiar only through the blueprint's bulk uploads, not its calls.
    const risky = events.map((e) => (e.agent_id === 'a1' || e.agent_id === 'a3' ? { ...e, dest_host: 'share.example', category: 'file_sharing', bytes_out: 3_000 } : e));
    const d = exfil();
    const ctx = fakeContext();
    feed(d, ctx, risky);
    const out = feed(d, ctx, Array.from({ length: 6 }, (_, i) => network({ agent_id: 'a2', time: T3 + i * 100 * SEC, bytes_out: 10_000_000, category: 'file_sharing', dest_host: 'share.example' })));
    expect(out.map((x) => x.severity)).toContain('high');
  });

  it('catches secrets read, then shipped to a destination the blueprint works with in requests 16x its largest there (a poisoned MCP tool, a worm publishing a vault dump); not without the secrets call, long after it, nor requests the blueprint already makes', () => {
    // Every agent calls the blueprint's MCP server (2-8 kB requests) and reads its vault now and then, for 3 hours.
    const r = seededRandom(7);
    const events = traffic(AGENTS, T0, T3);
    for (let t = T0; t < T3; t += 5 * MIN) {
      for (const a of AGENTS) events.push(network({ agent_id: a, time: t + 3 * SEC, bytes_out: 2_000 + Math.floor(r() * 6_000), bytes_in: 20_000, category: 'mcp_server', dest_host: 'mcp.tools.example' }));
      for (const a of AGENTS) events.push(network({ agent_id: a, time: t + 4 * SEC, bytes_out: 2_000 + Math.floor(r() * 6_000), bytes_in: 300, category: 'storage', dest_host: 'contoso.blob.core.windows.net' }));
      if (t % HOUR === 0) events.push(network({ agent_id: 'a1', time: t + 5 * SEC, bytes_out: 600, bytes_in: 2_000, category: 'api', dest_host: 'contoso-kv.vault.azure.net' }));
      // The blueprint's container registry: manifests checked with its registry token.
      for (const a of AGENTS) events.push(network({ agent_id: a, time: t + 6 * SEC, bytes_out: 1_500, bytes_in: 4_000, category: 'api', dest_host: 'contosoplatform.azurecr.io', token_id: `acr-${a}` }));
    }
    events.sort((x, y) => x.time - y.time);
    const vault = (t: number) => Array.from({ length: 5 }, (_, i) => network({ agent_id: 'a4', time: t + i * 2 * SEC, bytes_out: 500, bytes_in: 2_000, category: 'api', dest_host: 'contoso-kv.vault.azure.net' }));
    // The first, smaller request (90 kB, 11x) does not count, nor raise the bar for the next ones.
    const calls = (t: number, host = 'mcp.tools.example', category = 'mcp_server') =>
      [90_000, 200_000, 230_000].map((b, i) => network({ agent_id: 'a4', time: t + (i + 1) * 40 * SEC, bytes_out: b, bytes_in: 1_500, category, dest_host: host, event_id: `ship-${i}` }));
    const run = (extra: NetworkEvent[]) => {
      const d = exfil();
      const ctx = fakeContext();
      expect(feed(d, ctx, events)).toEqual([]);
      return feed(d, ctx, extra);
    };
    const out = run([...vault(T3), ...calls(T3 + 20 * SEC)]);
    expect(out.map((x) => [x.agent_id, x.severity, x.evidence.kind])).toEqual([['a4', 'medium', 'secrets-shipped']]);
    expect(out[0]!.event_ids).toEqual(['ship-1']);
    expect(out[0]!.summary).toContain('called a secrets store');
    expect(out[0]!.evidence.baseline).toEqual({ blueprint_largest_request_bytes: bucketUpper(bucketOf(8_000)) });
    // Without the secrets call, or 20 minutes after it: the request sizes alone say nothing.
    expect(run(calls(T3))).toEqual([]);
    expect(run([...vault(T3), ...calls(T3 + 20 * MIN)])).toEqual([]);
    // To its storage or a model endpoint, the data stays with the organisation or is a prompt's context.
    expect(run([...vault(T3), ...calls(T3 + 20 * SEC, 'contoso.blob.core.windows.net', 'storage')])).toEqual([]);
    // Its registry with its registry token (a build reading its signing secret, then pushing its image): the tenant's own.
    // Without a token (a registry taking a key or a password: anyone's), the shipment stands.
    const push = (token: string | null) => calls(T3 + 20 * SEC, 'contosoplatform.azurecr.io', 'api').map((e) => ({ ...e, token_id: token }));
    expect(run([...vault(T3), ...push('acr-a4')])).toEqual([]);
    expect(run([...vault(T3), ...push(null)]).map((x) => [x.severity, x.evidence.kind])).toEqual([['medium', 'secrets-shipped']]);
    // Requests 4-8x the largest (32-64 kB): nothing after a few secrets calls; medium after a harvest of the vault (25 calls within a minute).
    const gists = (t: number) => [40_000, 50_000, 45_000, 60_000].map((b, i) => network({ agent_id: 'a4', time: t + (i + 1) * 30 * SEC, bytes_out: b, bytes_in: 3_000, category: 'mcp_server', dest_host: 'mcp.tools.example', event_id: `gist-${i}` }));
    expect(run([...vault(T3), ...gists(T3 + 20 * SEC)])).toEqual([]);
    const harvest = Array.from({ length: 25 }, (_, i) => network({ agent_id: 'a4', time: T3 + i * 2 * SEC, bytes_out: 500, bytes_in: 2_000, category: 'api', dest_host: 'contoso-kv.vault.azure.net' }));
    const shipped = run([...harvest, ...gists(T3 + MIN)]);
    expect(shipped.map((x) => [x.agent_id, x.severity, x.evidence.kind, x.event_ids])).toEqual([['a4', 'medium', 'secrets-shipped', ['gist-2']]]);
    expect(shipped[0]!.evidence.threshold).toContain('each 4× the blueprint\'s largest there');
    // The same harvest, 20 minutes before the requests: nothing.
    expect(run([...harvest, ...gists(T3 + 20 * MIN)])).toEqual([]);
  });

  it('catches data read through a tool, then written out through the tool in requests 16x its largest there (private repositories read through a code host\'s MCP server, then pushed to a public pull request); not without the read, nor after a small one', () => {
    // Every agent calls the blueprint's code-host MCP server (2-8 kB requests, 20 kB answers) for 3 hours.
    const r = seededRandom(11);
    const events = traffic(AGENTS, T0, T3);
    for (let t = T0; t < T3; t += 5 * MIN) for (const a of AGENTS) events.push(network({ agent_id: a, time: t + 3 * SEC, bytes_out: 2_000 + Math.floor(r() * 6_000), bytes_in: 20_000, category: 'mcp_server', dest_host: 'api.githubcopilot.com' }));
    events.sort((x, y) => x.time - y.time);
    const reads = (t: number, n: number) => Array.from({ length: n }, (_, i) => network({ agent_id: 'a4', time: t + i * 15 * SEC, bytes_out: 2_500, bytes_in: 300_000, category: 'mcp_server', dest_host: 'api.githubcopilot.com' }));
    const writes = (t: number) => [400_000, 650_000, 300_000].map((b, i) => network({ agent_id: 'a4', time: t + (i + 1) * 40 * SEC, bytes_out: b, bytes_in: 2_000, category: 'mcp_server', dest_host: 'api.githubcopilot.com', event_id: `pr-${i}` }));
    const run = (extra: NetworkEvent[]) => {
      const d = exfil();
      const ctx = fakeContext();
      expect(feed(d, ctx, events)).toEqual([]);
      return feed(d, ctx, extra.sort((x, y) => x.time - y.time));
    };
    // 20 files of 300 kB (6 MB) read within 5 minutes, then the pull request.
    const out = run([...reads(T3, 20), ...writes(T3 + 6 * MIN)]);
    expect(out.map((x) => [x.agent_id, x.severity, x.evidence.kind, x.event_ids])).toEqual([['a4', 'medium', 'tool-read-shipped', ['pr-0']]]);
    expect(out[0]!.summary).toContain('data read through a tool, then written out');
    // The writes alone, after 2 MB read, or 20 minutes after the read: nothing.
    expect(run(writes(T3))).toEqual([]);
    expect(run([...reads(T3, 7), ...writes(T3 + 3 * MIN)])).toEqual([]);
    expect(run([...reads(T3, 20), ...writes(T3 + 25 * MIN)])).toEqual([]);
  });

  it('catches writes to a system inside the network that the blueprint only reads: 10 requests within 10 minutes, each 32 KiB or more and 8x its largest there (smaller writes neither count nor raise that largest); not 9, not when three of its agents start writing there together, not at a public address', () => {
    // Every agent queries the chromatography system inside the plant (4-9 kB requests: 8-16 kB is their largest bucket; 90 kB answers) for 3 hours.
    const r = seededRandom(5);
    const events = traffic(AGENTS, T0, T3);
    for (let t = T0; t < T3; t += 5 * MIN)
      for (const a of AGENTS) {
        events.push(network({ agent_id: a, time: t + 3 * SEC, bytes_out: 4_000 + Math.floor(r() * 5_000), bytes_in: 90_000, category: 'api', dest_host: 'cds.plant.example', dest_ip: '10.60.6.15' }));
        events.push(network({ agent_id: a, time: t + 9 * SEC, bytes_out: 2_000, bytes_in: 40_000, category: 'api', dest_host: 'lims.plant.example', dest_ip: '10.60.6.30' }));
      }
    events.push(network({ agent_id: 'a1', time: T3 - 10 * MIN, bytes_out: 9_000, bytes_in: 90_000, category: 'api', dest_host: 'cds.plant.example', dest_ip: '10.60.6.15' }));
    events.sort((x, y) => x.time - y.time);
    // Writes of 34-100 kB: the first three under 64 KiB (not 8x the largest), which must not raise the bar either.
    const sizes = [34_000, 45_000, 60_000, 70_000, 90_000, 80_000, 75_000, 100_000, 66_000, 88_000, 72_000, 95_000, 69_000, 83_000];
    const writesBy = (agent: string, t: number, host = 'cds.plant.example') =>
      sizes.map((b, i) => network({ agent_id: agent, time: t + i * 25 * SEC, bytes_out: b, bytes_in: 3_000, category: 'api', dest_host: host, dest_ip: '10.60.6.15', event_id: `w-${agent}-${i}` }));
    const run = (extra: NetworkEvent[]) => {
      // Held 3 minutes for the rest of the blueprint (confirmMs as deployed).
      const d = exfil({ confirmMs: 3 * MIN });
      const ctx = fakeContext();
      expect(feed(d, ctx, events)).toEqual([]);
      return feed(d, ctx, extra.sort((x, y) => x.time - y.time)).concat(advanceTo(d, ctx, T3 + HOUR));
    };
    const out = run(writesBy('a4', T3));
    expect(out.map((x) => [x.agent_id, x.severity, x.evidence.kind])).toEqual([['a4', 'medium', 'writes-to-reader']]);
    expect((out[0]!.evidence.observed as { requests: number }).requests).toBe(10);
    expect(out[0]!.event_ids[0]).toBe('w-a4-3');
    expect(out[0]!.summary).toContain('a system its blueprint only reads');
    // Nine writes of 64 KiB or more; three agents of the blueprint starting to write there at once (a release).
    expect(run(writesBy('a4', T3).slice(0, 12))).toEqual([]);
    expect(run([...writesBy('a2', T3), ...writesBy('a3', T3 + 10 * SEC), ...writesBy('a4', T3 + 20 * SEC)])).toEqual([]);
    // A SaaS API reads and writes on one public host (Graph's mail): not judged there.
    expect(run(writesBy('a4', T3).map((e) => ({ ...e, dest_ip: '20.190.1.5' })))).toEqual([]);
    // Spread over two systems the blueprint only reads (results rewritten in the CDS, then in the LIMS): counted together.
    const spread = writesBy('a4', T3).map((e, i) => (i < 7 ? e : ({ ...e, dest_host: 'lims.plant.example', dest_ip: '10.60.6.30' } as NetworkEvent)));
    const both = run(spread);
    expect(both.map((x) => [x.agent_id, x.severity, x.evidence.kind])).toEqual([['a4', 'medium', 'writes-to-reader']]);
    expect(both[0]!.summary).toContain('cds.plant.example and other systems its blueprint only reads, latest lims.plant.example');
  });

  it('catches prompts sent to a relay (a model provider the blueprint does not work with, no major provider\'s API): 6 within 10 minutes, confirmed unless the blueprint moves there', () => {
    // Every agent sends prompts to the tenant's Azure OpenAI resource for 3 hours.
    const events = traffic(AGENTS, T0, T3);
    for (let t = T0; t < T3; t += 5 * MIN) for (const a of AGENTS) events.push(network({ agent_id: a, time: t + 3 * SEC, bytes_out: 30_000, bytes_in: 3_000, category: 'llm_provider', dest_host: 'contoso-aoai.openai.azure.com', token_id: `tok-${a}` }));
    events.sort((x, y) => x.time - y.time);
    const prompts = (agent: string, host: string, from: number, n = 6, out = 40_000, inb = 3_000) =>
      Array.from({ length: n }, (_, i) => network({ agent_id: agent, time: from + i * 60 * SEC, bytes_out: out, bytes_in: inb, category: 'llm_provider', dest_host: host, event_id: `${agent}-p${i}` }));
    const run = (extra: NetworkEvent[]) => {
      const d = createExfiltrationDetector({ minWindowBytesQuiet: QUIET_FLOOR_OF_THESE_TESTS });
      const ctx = fakeContext();
      expect(feed(d, ctx, events)).toEqual([]);
      const out = feed(d, ctx, extra);
      return out.concat(advanceTo(d, ctx, T3 + HOUR));
    };
    const out = run(prompts('a2', 'api.gptrelay.cc', T3));
    expect(out.map((x) => [x.agent_id, x.severity, x.evidence.kind, x.time])).toEqual([['a2', 'medium', 'relay-prompts', T3 + 5 * MIN + 3 * MIN]]);
    expect(out[0]!.summary).toContain('6 prompts');
    expect(out[0]!.event_ids).toHaveLength(6);
    // Five are not enough; nor are small requests, answers larger than the prompts, or a major provider's own API (a router's fallback).
    expect(run(prompts('a2', 'api.gptrelay.cc', T3, 5))).toEqual([]);
    expect(run(prompts('a2', 'api.gptrelay.cc', T3, 8, 4_000))).toEqual([]);
    expect(run(prompts('a2', 'api.gptrelay.cc', T3, 8, 20_000, 60_000))).toEqual([]);
    expect(run(prompts('a2', 'api.openai.com', T3, 8))).toEqual([]);
    expect(run(prompts('a2', 'bedrock-runtime.eu-central-1.amazonaws.com', T3, 8))).toEqual([]);
    // Tool calls carrying data to an MCP server the blueprint does not work with: 4 times what came back.
    const tools = run(prompts('a2', 'mcp.toolhub-cloud.dev', T3, 6, 90_000, 900).map((e) => ({ ...e, category: 'mcp_server' })));
    expect(tools.map((x) => [x.severity, x.evidence.kind])).toEqual([['medium', 'relay-prompts']]);
    expect(tools[0]!.summary).toContain('6 tool calls');
    expect(run(prompts('a2', 'mcp.toolhub-cloud.dev', T3, 8, 20_000, 9_000).map((e) => ({ ...e, category: 'mcp_server' })))).toEqual([]);
    // The blueprint switching provider: three agents move there within minutes.
    expect(run([...prompts('a1', 'llm.newvendor.example', T3), ...prompts('a2', 'llm.newvendor.example', T3 + 20 * SEC), ...prompts('a3', 'llm.newvendor.example', T3 + 40 * SEC)].sort((x, y) => x.time - y.time))).toEqual([]);
  });

  it('catches data carried out in image URLs: 15 image fetches within 10 minutes to one new host, each sending twice what came back; not real image fetches, nor the blueprint\'s own image host', () => {
    // Every agent fetches thumbnails from the blueprint's CDN-less image host for 3 hours.
    const events = traffic(AGENTS, T0, T3);
    for (let t = T0; t < T3; t += 5 * MIN) for (const a of AGENTS) events.push(network({ agent_id: a, time: t + 3 * SEC, bytes_out: 2_000, bytes_in: 600, category: 'business', dest_host: 'thumbs.contoso.example', file_type: 'png' }));
    events.sort((x, y) => x.time - y.time);
    const images = (host: string, n: number, out: number, inb: number, fileType: string | null = 'png') =>
      Array.from({ length: n }, (_, i) => network({ agent_id: 'a3', time: T3 + i * 20 * SEC, bytes_out: out, bytes_in: inb, category: 'business', dest_host: host, file_type: fileType, event_id: `img-${i}` }));
    const run = (extra: NetworkEvent[]) => {
      const d = createExfiltrationDetector({ minWindowBytesQuiet: QUIET_FLOOR_OF_THESE_TESTS });
      const ctx = fakeContext();
      expect(feed(d, ctx, events)).toEqual([]);
      return feed(d, ctx, extra).concat(advanceTo(d, ctx, T3 + HOUR));
    };
    const out = run(images('eu-api.asm.skype.com', 20, 3_000, 300));
    expect(out.map((x) => [x.agent_id, x.severity, x.evidence.kind])).toEqual([['a3', 'medium', 'image-beacons']]);
    expect(out[0]!.summary).toContain('15 images (png)');
    expect(run(images('eu-api.asm.skype.com', 14, 3_000, 300))).toEqual([]);
    expect(run(images('images.example.net', 30, 1_200, 45_000))).toEqual([]);
    expect(run(images('eu-api.asm.skype.com', 30, 3_000, 300, 'json'))).toEqual([]);
    expect(run(images('thumbs.contoso.example', 30, 3_000, 300))).toEqual([]);
  });

  it('catches data carried out in tracking-pixel URLs: 6 pixels of kilobytes each within 10 minutes to a new host, 12 to the blueprint\'s own image host; not small pixels, real images, or an analytics host', () => {
    // Every agent fetches thumbnails from the blueprint's image host for 3 hours.
    const events = traffic(AGENTS, T0, T3);
    for (let t = T0; t < T3; t += 5 * MIN) for (const a of AGENTS) events.push(network({ agent_id: a, time: t + 3 * SEC, bytes_out: 480, bytes_in: 35_000, category: 'business', dest_host: 'thumbs.contoso.example', file_type: 'png' }));
    events.sort((x, y) => x.time - y.time);
    const pixels = (host: string, n: number, out: number, inb = 43, category = 'uncategorized') =>
      Array.from({ length: n }, (_, i) => network({ agent_id: 'a3', time: T3 + i * 40 * SEC, bytes_out: out, bytes_in: inb, category, dest_host: host, file_type: 'gif', event_id: `px-${i}` }));
    const run = (extra: NetworkEvent[]) => {
      const d = createExfiltrationDetector({ minWindowBytesQuiet: QUIET_FLOOR_OF_THESE_TESTS });
      const ctx = fakeContext();
      expect(feed(d, ctx, events)).toEqual([]);
      return feed(d, ctx, extra).concat(advanceTo(d, ctx, T3 + HOUR));
    };
    const fresh = run(pixels('cdn.skyrewards-media.com', 8, 2_500));
    expect(fresh.map((x) => [x.agent_id, x.severity, x.evidence.kind])).toEqual([['a3', 'medium', 'pixel-beacons']]);
    expect((fresh[0]!.evidence.observed as { requests: number }).requests).toBe(6);
    expect(run(pixels('cdn.skyrewards-media.com', 5, 2_500))).toEqual([]);
    // The blueprint's own image host answering with pixels now (its name re-registered by someone else): 12.
    expect(run(pixels('thumbs.contoso.example', 11, 4_000, 43, 'business'))).toEqual([]);
    expect(run(pixels('thumbs.contoso.example', 14, 4_000, 43, 'business')).map((x) => x.evidence.kind)).toEqual(['pixel-beacons']);
    // An open-tracking pixel names an event in a few hundred bytes; an image answers with kilobytes; analytics hosts take pixels by design.
    expect(run(pixels('cdn.skyrewards-media.com', 14, 600))).toEqual([]);
    expect(run(pixels('cdn.skyrewards-media.com', 14, 2_500, 9_000))).toEqual([]);
    expect(run(pixels('px.ads-network.example', 14, 2_500, 43, 'Web Analytics'))).toEqual([]);
  });

  it('takes an upload the agent was flagged for, repeated on a schedule (2 h, 12 h or a day later), for a job; not a repeat within the hour and a half, nor by another agent', () => {
    const upload = (agent: string, at: number) => network({ agent_id: agent, time: at, bytes_out: 30_000_000, category: 'file_transfer', dest_host: 'sftp.partner.example' });
    const run = (repeats: [string, number][]) => {
      const d = exfil();
      const ctx = fakeContext();
      feed(d, ctx, traffic(AGENTS, T0, T3));
      const first = feed(d, ctx, [upload('a1', T3)]);
      expect(first.map((x) => x.severity)).toEqual(['high']); // 30 MB to a file-transfer host it never used
      return repeats.map(([agent, at]) => {
        feed(d, ctx, traffic(AGENTS, ctx.watermark() + 2 * MIN, at - MIN, 7));
        return feed(d, ctx, [upload(agent, at)]).length;
      });
    };
    // Twice daily, then daily: a job the first detection put before an analyst.
    expect(run([['a1', T3 + 12 * HOUR], ['a1', T3 + 36 * HOUR]])).toEqual([0, 0]);
    // Every two hours (a syndication to partners): a job too.
    expect(run([['a1', T3 + 2 * HOUR], ['a1', T3 + 4 * HOUR]])).toEqual([0, 0]);
    // Again within the hour and a half (past the cooldown): still reported; by another agent of the blueprint: reported.
    expect(run([['a1', T3 + 45 * MIN]])).toEqual([1]);
    expect(run([['a1', T3 + 80 * MIN]])).toEqual([1]);
    expect(run([['a2', T3 + 12 * HOUR]])).toEqual([1]);
  });

  it('catches DNS tunnelling: a hundred DNS flows within ten minutes to a name server the blueprint does not use, not to its own resolver', () => {
    // Every agent resolves through the blueprint's resolver, a few queries a minute.
    const events = traffic(AGENTS, T0, T3);
    for (let t = T0; t < T3; t += MIN) for (const a of AGENTS) events.push(network({ agent_id: a, time: t + 5 * SEC, dest_host: 'dns.contoso.example', dest_ip: '168.63.129.16', dest_port: 53, category: 'uncategorized', bytes_out: 80, bytes_in: 120 }));
    events.sort((x, y) => x.time - y.time);
    const run = (host: (i: number) => string, ip: string | null, count: number) => {
      const d = exfil();
      const ctx = fakeContext();
      expect(feed(d, ctx, events)).toEqual([]);
      // One query a second, 200-260 bytes each: far under every byte threshold.
      return feed(d, ctx, Array.from({ length: count }, (_, i) => network({ agent_id: 'a3', time: T3 + i * SEC, dest_host: host(i), dest_ip: ip, dest_port: 53, category: 'uncategorized', bytes_out: 200 + (i % 60), bytes_in: 100 })));
    };
    const tunnel = run(() => 'ns1.cdn-telemetry-sync.example', '45.142.214.19', 600);
    expect(tunnel.map((x) => [x.severity, x.evidence.kind])).toEqual([['medium', 'dns']]);
    expect(tunnel[0]!.time).toBe(T3 + 99 * SEC);
    expect(tunnel[0]!.summary).toContain('DNS tunnelling');
    // A gateway that names the flow by the name server only (no address): the same.
    expect(run(() => 'ns1.cdn-telemetry-sync.example', null, 600).map((x) => x.evidence.kind)).toEqual(['dns']);
    expect(run(() => 'dns.contoso.example', '168.63.129.16', 600)).toEqual([]);
    expect(run(() => 'ns1.cdn-telemetry-sync.example', '45.142.214.19', 90)).toEqual([]);
    // Hash-reputation lookups through the blueprint's resolver, a new name each time (flows named by the name looked up): its own traffic.
    expect(run((i) => `${(i * 2654435761).toString(16)}.malware.hash.cymru.example`, '168.63.129.16', 600)).toEqual([]);
  });

  it('does not count DNS flows to the platform\'s own resolver or a private one, even for a blueprint that never queried it before (a Kubernetes ndots storm)', () => {
    const storm = (ip: string) => {
      const d = exfil();
      const ctx = fakeContext();
      expect(feed(d, ctx, traffic(AGENTS, T0, T3))).toEqual([]);
      return feed(d, ctx, Array.from({ length: 400 }, (_, i) => network({ agent_id: AGENTS[i % 4]!, time: T3 + i * 500, dest_host: ip, dest_ip: ip, dest_port: 53, category: 'infrastructure', bytes_out: 90 + (i % 20), bytes_in: 200 })));
    };
    expect(storm('168.63.129.16')).toEqual([]);
    expect(storm('169.254.169.253')).toEqual([]);
    expect(storm('10.0.0.10')).toEqual([]);
    expect(storm('45.142.214.19').map((x) => x.evidence.kind)).toEqual(['dns', 'dns', 'dns', 'dns']);
  });

  it('reports an exfiltration the DLP stopped: 8+ blocked file uploads within 10 minutes to 2+ drop sites the blueprint does not use, not its own blocked destinations', () => {
    const events = traffic(AGENTS, T0, T3);
    // The blueprint sends its reports to a partner's file-sharing host all along.
    for (let t = T0; t < T3; t += 10 * MIN) for (const a of AGENTS) events.push(network({ agent_id: a, time: t + 7 * SEC, dest_host: 'partner.box.example', category: 'file_sharing', bytes_out: 2_000_000, file_type: 'pdf' }));
    events.sort((x, y) => x.time - y.time);
    const DROPS = ['content.dropboxapi.example', 'wetransfer.example', 'drive.googleapis.example'];
    const run = (count: number, host: (i: number) => string, o: Partial<NetworkEvent> = {}) => {
      const d = exfil();
      const ctx = fakeContext();
      expect(feed(d, ctx, events)).toEqual([]);
      return feed(d, ctx, Array.from({ length: count }, (_, i) => network({ agent_id: 'a3', time: T3 + i * 15 * SEC, event_id: `b-${i}`, dest_host: host(i), category: 'file_sharing', action: 'blocked', bytes_out: 40_000, bytes_in: 0, file_type: 'xlsx', ...o })));
    };
    const stopped = run(18, (i) => DROPS[Math.floor(i / 6)]!);
    expect(stopped.map((x) => [x.severity, x.evidence.kind, x.event_ids])).toEqual([['medium', 'blocked', ['b-7']]]);
    expect(stopped[0]!.time).toBe(T3 + 7 * 15 * SEC);
    expect(stopped[0]!.summary).toContain('tried 8 uploads of files to 2 destinations its blueprint does not use');
    expect(stopped[0]!.evidence.observed).toMatchObject({ blocked_uploads: 8, distinct_hosts: 2, file_type: 'xlsx' });
    // Rotating among them from the first: the same, once.
    expect(run(18, (i) => DROPS[i % 3]!).length).toBe(1);
    // Spread over more than 10 minutes (one every 2 minutes): never 8 at once.
    const slow = exfil();
    const ctx = fakeContext();
    feed(slow, ctx, events);
    expect(feed(slow, ctx, Array.from({ length: 18 }, (_, i) => network({ agent_id: 'a3', time: T3 + i * 2 * MIN, dest_host: DROPS[i % 3]!, category: 'file_sharing', action: 'blocked', bytes_out: 40_000, file_type: 'xlsx' })))).toEqual([]);
    // Seven; one drop site only; the blueprint's own partner host (a new DLP rule); no file; tiny posts; an API: nothing.
    expect(run(7, (i) => DROPS[i % 3]!)).toEqual([]);
    expect(run(18, () => DROPS[0]!)).toEqual([]);
    expect(run(18, () => 'partner.box.example')).toEqual([]);
    expect(run(18, (i) => DROPS[i % 3]!, { file_type: null })).toEqual([]);
    expect(run(18, (i) => DROPS[i % 3]!, { bytes_out: 2_000 })).toEqual([]);
    expect(run(18, (i) => `api${i % 3}.example`, { category: 'api' })).toEqual([]);
    // Allowed uploads of the same size are no attempt stopped (and far under every volume threshold).
    expect(run(18, (i) => DROPS[i % 3]!, { action: 'allowed' })).toEqual([]);
  });

  it('counts HTTPS posts to a public DNS-over-HTTPS resolver as DNS flows: a tunnel through dns.google, not calls to an ordinary API or the blueprint\'s own DoH resolver', () => {
    const events = traffic(AGENTS, T0, T3);
    // The blueprint resolves through Cloudflare's DoH endpoint (its address shared by a CDN) all along.
    for (let t = T0; t < T3; t += MIN) for (const a of AGENTS) events.push(network({ agent_id: a, time: t + 5 * SEC, dest_host: 'cloudflare-dns.com', dest_ip: '104.16.249.249', dest_port: 443, category: 'technology', bytes_out: 300, bytes_in: 400 }));
    events.sort((x, y) => x.time - y.time);
    const run = (host: string, ip: string, port = 443) => {
      const d = exfil();
      const ctx = fakeContext();
      expect(feed(d, ctx, events)).toEqual([]);
      // Two small posts every three seconds for ten minutes: 200 in all, 600-1400 bytes each.
      return feed(d, ctx, Array.from({ length: 200 }, (_, i) => network({ agent_id: 'a3', time: T3 + i * 1500, dest_host: host, dest_ip: ip, dest_port: port, category: 'technology', bytes_out: 600 + ((i * 37) % 800), bytes_in: 300 })));
    };
    const tunnel = run('dns.google', '8.8.4.4');
    expect(tunnel.map((x) => [x.severity, x.evidence.kind])).toEqual([['medium', 'dns']]);
    expect(tunnel[0]!.time).toBe(T3 + 99 * 1500);
    expect(tunnel[0]!.summary).toContain('on port 443 (DNS over HTTPS)');
    expect(tunnel[0]!.evidence.observed).toMatchObject({ dest_host: 'dns.google', dns_over_https: true });
    // Cloudflare's filtered variant of the same service is a DoH endpoint too, though not the blueprint's resolver.
    expect(run('security.cloudflare-dns.com', '104.16.249.249').map((x) => x.evidence.kind)).toEqual(['dns']);
    // The blueprint's own DoH resolver, and the same posts to an API that is no resolver: not DNS.
    expect(run('cloudflare-dns.com', '104.16.249.249')).toEqual([]);
    expect(run('api.telemetry-sync.example', '45.142.214.19')).toEqual([]);
    // A resolver's name on another port (its web site over plain HTTP): not DNS either.
    expect(run('dns.google', '8.8.4.4', 80)).toEqual([]);
    // An image proxy that fetches any URL, fed a URL per character (CamoLeak): counted the same way.
    const pixels = run('camo.githubusercontent.com', '185.199.110.133');
    expect(pixels.map((x) => [x.severity, x.evidence.kind])).toEqual([['medium', 'dns']]);
    expect(pixels[0]!.summary).toContain('requests to the image proxy camo.githubusercontent.com');
    expect(pixels[0]!.evidence.observed).toMatchObject({ image_proxy: true });
  });

  it('confirms a medium sum 3 minutes later unless the blueprint takes its destination up (a cut-over to a new log sink)', () => {
    const upload = (agent: string, start: number, mb: number, host = 'splunk.example') =>
      Array.from({ length: 6 }, (_, i) => network({ agent_id: agent, time: start + i * 50 * SEC, bytes_out: mb * 1_000_000, category: 'storage', dest_host: host }));
    const run = (movers: string[]) => {
      const d = createExfiltrationDetector({ minWindowBytesQuiet: QUIET_FLOOR_OF_THESE_TESTS });
      const ctx = fakeContext();
      const events = traffic(AGENTS, T0, T3);
      movers.forEach((a, k) => events.push(...upload(a, T3 + k * 40 * SEC, 10)));
      events.push(...traffic(AGENTS, T3 + 10 * MIN, T3 + 20 * MIN, 3));
      events.sort((x, y) => x.time - y.time);
      return feed(d, ctx, events).concat(advanceTo(d, ctx, T3 + 30 * MIN));
    };
    // One agent alone: 60 MB to a storage account no peer uses, confirmed 3 minutes after the sum crossed 50 MB.
    const alone = run(['a1']);
    expect(alone.map((x) => [x.agent_id, x.severity, x.evidence.kind])).toEqual([['a1', 'medium', 'window']]);
    expect(alone[0]!.time).toBe(T3 + 5 * 50 * SEC + 3 * MIN); // the sixth upload crossed the threshold
    expect(alone[0]!.summary).toContain('no other agent of its blueprint took the destination up');
    // Three agents switching their bulk traffic to it within minutes: a deployment.
    expect(run(['a1', 'a2', 'a3'])).toEqual([]);
  });

  it('takes a cut-over\'s destination as the blueprint\'s once it is recognised: a batch that runs past the cooldown, topped up by small polls, is never reported', () => {
    // Each mover posts 10 MB to the new host every 50 s for 45 minutes, and polls it (2 kB) after each post.
    const batch = (agent: string, start: number) =>
      Array.from({ length: 54 }, (_, i) => [
        network({ agent_id: agent, time: start + i * 50 * SEC, bytes_out: 10_000_000, category: 'api', dest_host: 'contoso-docintel.example' }),
        network({ agent_id: agent, time: start + i * 50 * SEC + 5 * SEC, bytes_out: 2_000, bytes_in: 60_000, category: 'api', dest_host: 'contoso-docintel.example' }),
      ]).flat();
    const run = (movers: string[]) => {
      const d = createExfiltrationDetector({ minWindowBytesQuiet: QUIET_FLOOR_OF_THESE_TESTS });
      const ctx = fakeContext();
      const events = traffic(AGENTS, T0, T3);
      movers.forEach((a, k) => events.push(...batch(a, T3 + k * 20 * SEC)));
      events.push(...traffic(AGENTS, T3 + 10 * MIN, T3 + 60 * MIN, 3));
      events.sort((x, y) => x.time - y.time);
      return feed(d, ctx, events).concat(advanceTo(d, ctx, T3 + 70 * MIN));
    };
    expect(run(['a1', 'a2', 'a3'])).toEqual([]);
    // One agent doing it alone is reported, once per cooldown.
    const alone = run(['a1']);
    expect(alone.length).toBeGreaterThanOrEqual(1);
    expect(alone.every((x) => x.agent_id === 'a1' && x.severity !== 'low')).toBe(true);
  });

  it('confirms single transfers and high sums the same way: a blueprint-wide export or a partner initial sync is a deployment, one agent is reported 3 minutes late at its severity', () => {
    // Each agent's first transfer to the destination: a quarter-end export (storage) or a new partner's SFTP host (uncategorized).
    const run = (movers: string[], category: string, host: string, mb: number) => {
      const d = createExfiltrationDetector();
      const ctx = fakeContext();
      const events = traffic(AGENTS, T0, T3);
      movers.forEach((a, k) => events.push(network({ agent_id: a, time: T3 + k * 50 * SEC, bytes_out: mb * 1_000_000, category, dest_host: host })));
      events.push(...traffic(AGENTS, T3 + 10 * MIN, T3 + 20 * MIN, 3));
      events.sort((x, y) => x.time - y.time);
      return feed(d, ctx, events).concat(advanceTo(d, ctx, T3 + 30 * MIN));
    };
    const lake = run(['a1'], 'storage', 'finlake.blob.example', 300);
    expect(lake.map((x) => [x.agent_id, x.severity, x.evidence.kind, x.time])).toEqual([['a1', 'medium', 'transfer', T3 + 3 * MIN]]);
    expect(run(['a1', 'a2', 'a3'], 'storage', 'finlake.blob.example', 300)).toEqual([]);
    const sync = run(['a2'], 'uncategorized', 'sftp.partner.example', 150);
    expect(sync.map((x) => [x.agent_id, x.severity, x.time])).toEqual([['a2', 'high', T3 + 3 * MIN]]);
    expect(sync[0]!.evidence).toMatchObject({ kind: 'transfer', confirmation: { other_senders: 0, deployment_agents: 3 } });
    expect(run(['a2', 'a3', 'a4'], 'uncategorized', 'sftp.partner.example', 150)).toEqual([]);
    // Two agents are not a blueprint: both are reported.
    expect(run(['a2', 'a3'], 'uncategorized', 'sftp.partner.example', 150).map((x) => x.agent_id)).toEqual(['a2', 'a3']);
  });

  it('reports bulk data to a malicious or suspicious destination at once, however many agents send it there', () => {
    for (const category of ['malicious', 'newly_registered_domains', 'anonymizer']) {
      const d = createExfiltrationDetector();
      const ctx = fakeContext();
      feed(d, ctx, traffic(AGENTS, T0, T3));
      const out = feed(
        d,
        ctx,
        ['a1', 'a2', 'a3'].map((a, k) => network({ agent_id: a, time: T3 + k * 20 * SEC, bytes_out: 150_000_000, category, dest_host: 'drop-zone.example' })),
      );
      expect(out.map((x) => [x.agent_id, x.severity, x.time])).toEqual([
        ['a1', 'high', T3],
        ['a2', 'high', T3 + 20 * SEC],
        ['a3', 'high', T3 + 40 * SEC],
      ]);
    }
  });

  it('keeps the 100 MB floor for a blueprint that already sends several MB in ten minutes to new destinations', () => {
    const d = exfil();
    const ctx = fakeContext();
    // a crawler: ~1.5 MB a minute per agent, each to a host no one used before (sums of 10-40 MB
    // per ten minutes to new destinations, so 20x that is far above 100 MB)
    const r = seededRandom(3);
    const crawl = traffic(AGENTS, T0, T3).map((e, i) => ({ ...e, bytes_out: lognormal(r, 1_500_000, 0.5), dest_host: `site-${i}.example` }));
    expect(feed(d, ctx, crawl)).toEqual([]);
    // 90 MB within ten minutes: what a quiet agent is flagged for
    expect(feed(d, ctx, trickle(45, 5 * MIN, 10 * MIN, 'storage', 'xfer8812.blob.example', T3))).toEqual([]);
    const out = feed(d, ctx, trickle(90, MIN, 3 * MIN, 'storage', 'xfer8812.blob.example', T3 + 11 * MIN));
    expect(out.map((x) => x.evidence.kind)).toEqual(['window']);
    expect(out[0]!.evidence.threshold).toBeGreaterThanOrEqual(100_000_000);
  });

  it('learns no bulk destination from an agent that just fired: a second victim of the blueprint exfiltrating there later is caught too', () => {
    const d = exfil();
    const ctx = fakeContext();
    feed(d, ctx, traffic(AGENTS, T0, T3));
    const first = feed(d, ctx, [
      network({ agent_id: 'a2', time: T3, bytes_out: 300_000_000, category: 'file_sharing', dest_host: 'drop.example' }),
      network({ agent_id: 'a2', time: T3 + MIN, bytes_out: 8_000_000, category: 'file_sharing', dest_host: 'drop.example' }),
    ]);
    expect(first.map((x) => [x.agent_id, x.severity])).toEqual([['a2', 'high']]);
    feed(d, ctx, traffic(AGENTS, T3 + 2 * MIN, T3 + 3 * HOUR, 2));
    const chunks: NetworkEvent[] = [];
    for (let i = 0; i < 6; i++) chunks.push(network({ agent_id: 'a3', time: T3 + 3 * HOUR + i * 30 * SEC, bytes_out: 15_000_000, category: 'file_sharing', dest_host: 'drop.example' }));
    const second = feed(d, ctx, chunks);
    expect(second.map((x) => x.agent_id)).toEqual(['a3']);
    expect(second[0]!.evidence.observed).toMatchObject({ dest_host: 'drop.example', familiar_destination: false });
  });

  it('does not take a drop site another agent of the blueprint started on minutes before as familiar: two agents splitting one dump are both caught', () => {
    const split = (lagMs: number) => {
      const d = exfil();
      const ctx = fakeContext();
      feed(d, ctx, traffic(AGENTS, T0, T3));
      const chunks: NetworkEvent[] = [];
      for (let i = 0; i < 8; i++) {
        chunks.push(network({ agent_id: 'a1', time: T3 + i * 70 * SEC, bytes_out: 12_000_000, category: 'storage', dest_host: 'stg9f94prod.blob.example' }));
        chunks.push(network({ agent_id: 'a2', time: T3 + lagMs + i * 70 * SEC, bytes_out: 12_000_000, category: 'storage', dest_host: 'stg9f94prod.blob.example' }));
      }
      chunks.sort((x, y) => x.time - y.time);
      return feed(d, ctx, chunks).map((x) => x.agent_id);
    };
    expect(split(2 * MIN)).toEqual(['a1', 'a2']);
    // An agent that used it 20 minutes before without being flagged vouches for it (a partner's new drop box, a job).
    const d = exfil();
    const ctx = fakeContext();
    feed(d, ctx, traffic(AGENTS, T0, T3));
    expect(feed(d, ctx, [network({ agent_id: 'a1', time: T3, bytes_out: 2_000_000, category: 'storage', dest_host: 'partner-drop.blob.example' })])).toEqual([]);
    const later: NetworkEvent[] = [];
    for (let i = 0; i < 8; i++) later.push(network({ agent_id: 'a2', time: T3 + 20 * MIN + i * 70 * SEC, bytes_out: 12_000_000, category: 'storage', dest_host: 'partner-drop.blob.example' }));
    expect(feed(d, ctx, later)).toEqual([]);
  });

  it('fires on many medium uploads to file sharing within ten minutes', () => {
    const d = exfil();
    const ctx = fakeContext();
    feed(d, ctx, traffic(AGENTS, T0, T3));
    const burst: NetworkEvent[] = [];
    for (let i = 0; i < 12; i++) burst.push(network({ agent_id: 'a3', time: T3 + i * 20 * SEC, bytes_out: 6_000_000, category: 'file_sharing', dest_host: 'share.example' }));
    const out = feed(d, ctx, burst);
    // Medium from 20 MB (the fourth), high once past 50 MB (the ninth), then quiet for the cooldown.
    expect(out.map((x) => [x.evidence.kind, x.severity])).toEqual([
      ['window', 'medium'],
      ['window', 'high'],
    ]);
    expect(out[0]!.time).toBe(T3 + 3 * 20 * SEC);
    const risky = (out[1]!.evidence.observed as { window_risky_bytes_out: number }).window_risky_bytes_out;
    expect(risky).toBeGreaterThan(53_900_000); // nine transfers of 6 MB (counted in KiB)
    expect(risky).toBeLessThanOrEqual(54_000_000);
  });

  it('reads risky categories in any vendor name (online storage and backup), and takes hostile and suspicious ones (command and control, anonymizers) as risky', () => {
    for (const category of ['File Sharing', 'Command-and-Control', 'online-storage-and-backup', 'Botnet Callback', 'Proxy Avoidance and Anonymizers', 'Newly Registered Domains']) {
      const d = exfil();
      const ctx = fakeContext();
      feed(d, ctx, traffic(AGENTS, T0, T3));
      const burst: NetworkEvent[] = [];
      for (let i = 0; i < 12; i++) burst.push(network({ agent_id: 'a3', time: T3 + i * 20 * SEC, bytes_out: 6_000_000, category, dest_host: 'share.example' }));
      const out = feed(d, ctx, burst);
      expect(out.map((x) => [x.evidence.kind, x.severity]), category).toEqual([
        ['window', 'medium'],
        ['window', 'high'],
      ]);
    }
  });

  it('catches a slow upload spread over several windows (its first windows do not raise the bar)', () => {
    const d = exfil();
    const ctx = fakeContext();
    feed(d, ctx, traffic(AGENTS, T0, T3));
    const start = Math.ceil(T3 / (5 * MIN)) * 5 * MIN;
    const chunks: NetworkEvent[] = [];
    for (let i = 0; i < 30; i++) chunks.push(network({ agent_id: 'a4', time: start + i * 30 * SEC, bytes_out: 6_000_000, category: 'storage', dest_host: 'slowbackup.blob.example' }));
    const out = feed(d, ctx, chunks);
    expect(out).toHaveLength(1);
    expect(out[0]!.evidence.kind).toBe('window');
    expect(out[0]!.time).toBeLessThan(start + 10 * MIN);
  });

  it('does not sum uploads to a file-sharing service the blueprint regularly uses', () => {
    const d = exfil();
    const ctx = fakeContext();
    const events = traffic(AGENTS, T0, T3);
    for (let t = T0; t < T3; t += 20 * MIN) events.push(network({ agent_id: 'a1', time: t, bytes_out: 2_000_000, category: 'file_sharing', dest_host: 'box.contoso.example' }));
    events.sort((x, y) => x.time - y.time);
    feed(d, ctx, events);
    const burst: NetworkEvent[] = [];
    for (let i = 0; i < 12; i++) burst.push(network({ agent_id: 'a2', time: T3 + i * 20 * SEC, bytes_out: 6_000_000, category: 'file_sharing', dest_host: 'box.contoso.example' }));
    expect(feed(d, ctx, burst)).toEqual([]);
  });

  it('catches gigabytes chunked to the file-sharing host the blueprint uses (medium), not its usual heavy tail there', () => {
    const d = exfil();
    const ctx = fakeContext();
    const events = traffic(AGENTS, T0, T3);
    // Every agent uploads files of 2-60 MB to the blueprint's Box host every 10 minutes.
    const sizes = [2, 5, 10, 20, 40, 60];
    for (let t = T0, k = 0; t < T3; t += 10 * MIN, k++) {
      for (const [i, a] of AGENTS.entries()) events.push(network({ agent_id: a, time: t + i * SEC, bytes_out: sizes[(k + i) % sizes.length]! * 1_000_000, category: 'file_sharing', dest_host: 'upload.box.example' }));
    }
    events.sort((x, y) => x.time - y.time);
    feed(d, ctx, events);
    const start = Math.ceil(T3 / (5 * MIN)) * 5 * MIN;
    // The heavy tail: 12 x 40 MB within minutes, about 500 MB.
    const tail = Array.from({ length: 12 }, (_, i) => network({ agent_id: 'a1', time: start + i * 20 * SEC, bytes_out: 40_000_000, category: 'file_sharing', dest_host: 'upload.box.example' }));
    expect(feed(d, ctx, tail)).toEqual([]);
    // 12 x 220 MB, 40 s apart: 2.6 GB to the same familiar host.
    const later = start + 2 * HOUR;
    const chunks = Array.from({ length: 12 }, (_, i) => network({ agent_id: 'a2', time: later + i * 40 * SEC, bytes_out: 220_000_000, category: 'file_sharing', dest_host: 'upload.box.example', event_id: `chunk-${i}` }));
    const out = feed(d, ctx, chunks);
    expect(out.map((x) => [x.severity, x.evidence.kind])).toEqual([['medium', 'window']]);
    expect(out[0]!.summary).toContain('a file-sharing destination its blueprint uses');
    expect((out[0]!.evidence.observed as { window_familiar_drop_bytes_out: number }).window_familiar_drop_bytes_out).toBeGreaterThanOrEqual(1e9);
    expect(out[0]!.time).toBeLessThan(later + 10 * MIN);
  });

  it('judges chunks to a familiar file-sharing host against the blueprint\'s own syncs there: a blueprint that syncs 300 MB at a time may send gigabytes', () => {
    const d = exfil();
    const ctx = fakeContext();
    const events = traffic(AGENTS, T0, T3);
    for (let t = T0; t < T3; t += 10 * MIN) {
      for (const [i, a] of AGENTS.entries()) for (let k = 0; k < 6; k++) events.push(network({ agent_id: a, time: t + i * SEC + k * 10 * SEC, bytes_out: 50_000_000, category: 'file_sharing', dest_host: 'upload.box.example' }));
    }
    events.sort((x, y) => x.time - y.time);
    expect(feed(d, ctx, events)).toEqual([]);
    const later = Math.ceil(T3 / (5 * MIN)) * 5 * MIN;
    const chunks = Array.from({ length: 12 }, (_, i) => network({ agent_id: 'a2', time: later + i * 40 * SEC, bytes_out: 220_000_000, category: 'file_sharing', dest_host: 'upload.box.example' }));
    expect(feed(d, ctx, chunks)).toEqual([]);
  });

  it('catches data smuggled in host names: 40 distinct encoded names under one new domain within ten minutes (medium), 20 in DNS queries, not a fleet of named storage accounts', () => {
    const d = exfil();
    const ctx = fakeContext();
    feed(d, ctx, traffic(AGENTS, T0, T3));
    const hex = (k: number) => (0x10000000 + k * 7919).toString(16).repeat(4);
    const tunnel = Array.from({ length: 45 }, (_, k) => network({ agent_id: 'a1', time: T3 + k * 4 * SEC, dest_host: `${hex(k)}.t.cdn-sync1a2.net`, category: 'uncategorized', bytes_out: 220, bytes_in: 120 }));
    const out = feed(d, ctx, tunnel);
    expect(out.map((x) => [x.severity, x.evidence.kind])).toEqual([['medium', 'name-tunnel']]);
    expect(out[0]!.time).toBe(T3 + 39 * 4 * SEC);
    expect(out[0]!.summary).toContain('40 distinct encoded-looking host names under cdn-sync1a2.net');
    const accounts = Array.from({ length: 60 }, (_, k) => network({ agent_id: 'a2', time: T3 + k * 4 * SEC, dest_host: `contosoinventory${k}.blob.core.windows.net`, category: 'storage', bytes_out: 220 }));
    expect(feed(d, ctx, accounts)).toEqual([]);
    // Queried straight from a name server (port 53), a slow tunnel counts each name twice: 20 within ten minutes.
    const slow = Array.from({ length: 25 }, (_, k) =>
      network({ agent_id: 'a3', time: T3 + k * 25 * SEC, dest_host: `${hex(k + 100)}.t.sync-4f1a.net`, dest_port: 53, category: 'uncategorized', bytes_out: 200, bytes_in: 300 }),
    );
    const dns = feed(d, ctx, slow);
    expect(dns.map((x) => [x.agent_id, x.time])).toEqual([['a3', T3 + 19 * 25 * SEC]]);
    expect(dns[0]!.summary).toContain('20 distinct encoded-looking host names under sync-4f1a.net (20 of them in DNS queries)');
    // The same 25 names over HTTPS stay under the 40.
    const https = slow.map((x) => ({ ...x, event_id: `${x.event_id}-https`, agent_id: 'a4', dest_port: 443 }));
    expect(feed(d, ctx, https)).toEqual([]);
  });

  it('judges a brand-new agent against its blueprint', () => {
    const d = exfil();
    const ctx = fakeContext();
    feed(d, ctx, traffic(AGENTS, T0, T3));
    const fresh = feed(d, ctx, [network({ agent_id: 'fresh', time: T3, bytes_out: 40_000, category: 'api' })]);
    expect(fresh).toEqual([]);
    const out = feed(d, ctx, [network({ agent_id: 'fresh', time: T3 + MIN, bytes_out: 80_000_000, category: 'uncategorized' })]);
    expect(out).toHaveLength(1);
    expect(out[0]!.evidence.baseline).toMatchObject({ agent_high_water_bytes: null });
  });

  it('stays quiet on two days of heavy-tailed traffic with hourly batch bursts', () => {
    const d = exfil();
    const ctx = fakeContext();
    const events = traffic([...AGENTS, 'a5', 'a6'], T0, T0 + 2 * DAY, 7, 2);
    // a batch agent: every hour, 30 uploads of ~25 MB to storage in two minutes
    const r = seededRandom(3);
    for (let h = 0; h < 48; h++) {
      for (let i = 0; i < 30; i++) {
        events.push(network({ agent_id: 'batch', time: T0 + h * HOUR + i * 4 * SEC, bytes_out: lognormal(r, 25_000_000, 0.3), category: 'storage' }));
      }
      events.push(network({ agent_id: 'batch', time: T0 + h * HOUR + 30 * MIN, bytes_out: 5_000, category: 'api' }));
    }
    events.sort((x, y) => x.time - y.time);
    expect(feed(d, ctx, events)).toEqual([]);
  });

  it('does not fire without a baseline, except for a giant upload to a risky destination', () => {
    const d = exfil();
    const ctx = fakeContext();
    expect(feed(d, ctx, [network({ time: T0, bytes_out: 500_000_000, category: 'storage' })])).toEqual([]);
    const out = feed(d, ctx, [network({ time: T0 + MIN, bytes_out: 3_000_000_000, category: 'file_sharing' })]);
    expect(out).toHaveLength(1);
    expect(out[0]!.severity).toBe('medium');
  });

  it('ignores blocked transfers and respects the cooldown; the anomaly stays out of the baseline', () => {
    const d = exfil({ cooldownMs: 30 * MIN });
    const ctx = fakeContext();
    feed(d, ctx, traffic(AGENTS, T0, T3));
    const out = feed(d, ctx, [
      network({ agent_id: 'a1', time: T3, bytes_out: 900_000_000, category: 'file_sharing', action: 'blocked' }),
      network({ agent_id: 'a1', time: T3 + SEC, bytes_out: 900_000_000, category: 'file_sharing' }),
      network({ agent_id: 'a1', time: T3 + 2 * SEC, bytes_out: 900_000_000, category: 'file_sharing' }),
      network({ agent_id: 'a1', time: T3 + 40 * MIN, bytes_out: 900_000_000, category: 'file_sharing' }),
    ]);
    expect(out.map((x) => x.time)).toEqual([T3 + SEC, T3 + 40 * MIN]);
  });

  it('counts late events in the previous window', () => {
    const d = exfil();
    const ctx = fakeContext();
    feed(d, ctx, traffic(AGENTS, T0, T3));
    const base = Math.ceil(T3 / (5 * MIN)) * 5 * MIN; // a window boundary
    const events = [
      network({ agent_id: 'a4', time: base + 10 * SEC, bytes_out: 9_000_000, category: 'file_sharing', dest_host: 'share.example' }),
      network({ agent_id: 'a4', time: base + 20 * SEC, bytes_out: 9_000_000, category: 'file_sharing', dest_host: 'share.example' }),
    ];
    for (let i = 0; i < 5; i++) events.push(network({ agent_id: 'a4', time: base - (i + 1) * 10 * SEC, bytes_out: 9_000_000, category: 'file_sharing', dest_host: 'share.example' }));
    const out = feed(d, ctx, events);
    // 27 MB with the third transfer (two of them late), 54 MB with the sixth.
    expect(out.map((x) => [x.evidence.kind, x.severity])).toEqual([
      ['window', 'medium'],
      ['window', 'high'],
    ]);
    expect((out[0]!.evidence.observed as { window_risky_bytes_out: number }).window_risky_bytes_out).toBeGreaterThan(26_900_000);
  });

  it('buckets bytes on a log2 scale', () => {
    expect(bucketOf(0)).toBe(0);
    expect(bucketOf(127)).toBe(0);
    expect(bucketOf(128)).toBe(1);
    expect(bucketUpper(bucketOf(1000))).toBe(1024);
    expect(bucketOf(3_000_000_000)).toBe(Math.floor(Math.log2(3e9)) - 6);
    expect(bucketOf(2 ** 60)).toBe(31);
  });

  it('evicts idle agents and groups', () => {
    const d = exfil();
    const ctx = fakeContext();
    feed(d, ctx, [network({ agent_id: 'a1', time: T0 }), network({ agent_id: 'a2', blueprint_id: 'bp2', time: T0 + 2 * HOUR })]);
    expect(d.size()).toBe(4);
    d.evict(T0 + HOUR);
    expect(d.size()).toBe(2);
  });

  it('gives the same detections after a snapshot/restore', () => {
    const events: NetworkEvent[] = [...traffic(AGENTS, T0, T3)];
    for (let i = 0; i < 12; i++) events.push(network({ agent_id: 'a3', time: T3 + i * 20 * SEC, bytes_out: 6_000_000, category: 'file_sharing', dest_host: 'share.example' }));
    events.push(network({ agent_id: 'a2', time: T3 + 5 * MIN, bytes_out: 400_000_000, category: 'uncategorized' }));
    const { uninterrupted, restored } = runWithRestore(() => exfil(), events, events.length - 10);
    expect(uninterrupted).toHaveLength(3);
    expect(restored).toEqual(uninterrupted);
  });

  it('fires on gigabytes to a file-sharing site in minutes from an agent with no history (no blueprint, 40 minutes old)', () => {
    const lone = (i: number, o: Partial<NetworkEvent>) => network({ agent_id: 'lone', blueprint_id: null, time: T0 + i * MIN, ...o });
    const history: NetworkEvent[] = [];
    for (let i = 0; i < 40; i += 4) history.push(lone(i, { bytes_out: 20_000, dest_host: 'api.contoso.com' })); // 10 transfers: no baseline of its own
    const upload = (each: number) => [0, 1, 2].map((k) => lone(40 + k, { bytes_out: each, category: 'file_sharing', dest_host: 'mega.example' }));
    const d = exfil();
    const out = feed(d, fakeContext(), [...history, ...upload(900_000_000)]);
    expect(out.map((x) => [x.evidence.kind, x.severity])).toEqual([['window', 'high']]);
    expect(out[0]!.evidence.threshold).toBe(1_000_000_000);
    // 900 MB in all is under the floor: without a baseline, nothing is judged.
    expect(feed(exfil(), fakeContext(), [...history, ...upload(300_000_000)])).toEqual([]);
  });

  /** `mb` MB every `everyMs` to `dest` from a4 after the warm-up, for `durationMs`. */
  function trickle(mb: number, everyMs: number, durationMs: number, category: string, dest: string, start = T3): NetworkEvent[] {
    const out: NetworkEvent[] = [];
    for (let t = start; t < start + durationMs; t += everyMs) out.push(network({ agent_id: 'a4', time: t, bytes_out: mb * 1_000_000, category, dest_host: dest }));
    return out;
  }

  it('catches a few tens of MB to a file-sharing site the blueprint never uses within minutes (medium), and more as high', () => {
    const d = exfil();
    const ctx = fakeContext();
    feed(d, ctx, traffic(AGENTS, T0, T3));
    // 9 MB every 2 min: each transfer under the 10 MB single-transfer floor, 27 MB by the third.
    const out = feed(d, ctx, trickle(9, 2 * MIN, 20 * MIN, 'file_sharing', 'gofile.example'));
    expect(out.map((x) => [x.evidence.kind, x.severity])).toEqual([['window', 'medium']]);
    expect(out[0]!.evidence.threshold).toBe(20_000_000);
    expect(out[0]!.time - T3).toBeLessThanOrEqual(6 * MIN);
    // 12 MB a minute: past 50 MB within five minutes, high.
    const e = exfil();
    const ctx2 = fakeContext();
    feed(e, ctx2, traffic(AGENTS, T0, T3));
    const fast = feed(e, ctx2, trickle(12, MIN, 10 * MIN, 'file_sharing', 'gofile.example'));
    expect(fast.map((x) => [x.evidence.kind, x.severity])).toEqual([
      ['window', 'medium'],
      ['window', 'high'],
    ]);
    expect(fast[1]!.time - fast[0]!.time).toBeLessThanOrEqual(3 * MIN);
  });

  it('sums context handed to an agent endpoint outside the tenant (category agent, no dest_agent_id) like a risky destination; not calls to the tenant\'s own agents or an external agent the blueprint works with', () => {
    const external = (agent: string, t: number, extra: Partial<NetworkEvent> = {}) =>
      network({ agent_id: agent, time: t, bytes_out: 4_000_000, category: 'agent', dest_host: 'a2a.insight.agents.example', ...extra });
    const calls = (extra: Partial<NetworkEvent> = {}) => Array.from({ length: 10 }, (_, i) => external('a2', T3 + i * 45 * SEC, extra));
    // 40 MB in 10 calls over 7 minutes to an external agent no one of the blueprint calls: medium.
    const d = exfil();
    const ctx = fakeContext();
    feed(d, ctx, traffic(AGENTS, T0, T3));
    const out = feed(d, ctx, calls());
    expect(out.map((x) => [x.evidence.kind, x.severity])).toEqual([['window', 'medium']]);
    expect(out[0]!.summary).toContain('external agents; last a2a.insight.agents.example');
    // The same volume to one of the tenant's agents (dest_agent_id set) is agent-to-agent traffic, not a destination.
    const d2 = exfil();
    const ctx2 = fakeContext();
    feed(d2, ctx2, traffic(AGENTS, T0, T3));
    expect(feed(d2, ctx2, calls({ dest_agent_id: 'worker-7' }))).toEqual([]);
    // An external agent two agents of the blueprint have called for hours (a partner's agent it works with): familiar.
    const d3 = exfil();
    const ctx3 = fakeContext();
    const partner: NetworkEvent[] = [];
    for (let t = T0; t < T3; t += 20 * MIN) partner.push(external('a1', t, { bytes_out: 30_000 }), external('a3', t + MIN, { bytes_out: 30_000 }));
    feed(d3, ctx3, [...traffic(AGENTS, T0, T3), ...partner].sort((x, y) => x.time - y.time));
    expect(feed(d3, ctx3, calls())).toEqual([]);
  });

  it('takes files of the size its blueprint sent a destination while it was new, an hour before (an hourly partner file over SFTP since the stream began), as its work; not a far larger one, nor chunks summing to tens of MB', () => {
    const SFTP = { dest_host: 'sftp.dch.example', dest_port: 22, category: 'business', blueprint_id: 'bp-roam' };
    // Two roaming agents send their first hourly files within a minute, the host new to their blueprint.
    const first = [
      network({ agent_id: 'r2', time: T0 + 8 * MIN, ...SFTP, bytes_out: 24_800_000, bytes_in: 2_000 }),
      network({ agent_id: 'r1', time: T0 + 9 * MIN, ...SFTP, bytes_out: 63_000_000, bytes_in: 2_000 }),
    ];
    // Their small calls to the partner's API every few minutes.
    const calls: NetworkEvent[] = [];
    for (let t = T0; t < T0 + 3 * HOUR; t += 5 * MIN) for (const a of ['r1', 'r2']) calls.push(network({ agent_id: a, time: t + 13 * SEC, dest_host: 'roaming-api.example', category: 'api', blueprint_id: 'bp-roam', bytes_out: 900, bytes_in: 9_000 }));
    const next = (mb: number, n = 1) => Array.from({ length: n }, (_, k) => network({ agent_id: 'r1', time: T0 + 68 * MIN + k * 10 * SEC, ...SFTP, bytes_out: mb * 1_000_000, bytes_in: 2_000 }));
    const run = (extra: NetworkEvent[]) => {
      const d = exfil();
      const ctx = fakeContext();
      return feed(d, ctx, [...traffic(AGENTS, T0, T3), ...calls, ...first, ...extra].sort((x, y) => x.time - y.time)).filter((x) => x.agent_id.startsWith('r'));
    };
    // The next hour's file, 37.5 MB (over the 32 MB floor of a destination the blueprint works with, which the first
    // files, sent while the host was new, never taught): its work.
    expect(run(next(37.5))).toEqual([]);
    // 300 MB in one file, nearly five times the largest there: a surge.
    expect(run(next(300)).map((x) => [x.severity, x.evidence.kind])).toContainEqual(['medium', 'window']);
    // 40 files of 1 MB within 7 minutes: each small, together 40 MB.
    expect(run(next(1, 40)).map((x) => [x.severity, x.evidence.kind])).toEqual([['medium', 'window']]);
  });

  it('catches tens of MB smuggled to a destination the blueprint works with (model prompts of MBs), not its heavy tail there, storage uploads, uploads to a model resource of its tenant (with its token), or a canary of its agents', () => {
    const LLM = { dest_host: 'api.openai.com', category: 'llm_provider' };
    /** Prompts of ~10 KB from every agent every 2 minutes: the model endpoint is the blueprint's. */
    const usual: NetworkEvent[] = [];
    for (let t = T0; t < T3; t += 2 * MIN) for (const a of AGENTS) usual.push(network({ agent_id: a, time: t + 7 * SEC, ...LLM, bytes_out: 10_000, bytes_in: 3000 }));
    const history = [...traffic(AGENTS, T0, T3, 1, 0.8), ...usual].sort((x, y) => x.time - y.time);
    const prompts = (agent: string, mb: number, n: number, start = T3, extra: Partial<NetworkEvent> = {}) =>
      Array.from({ length: n }, (_, i) => network({ agent_id: agent, time: start + i * MIN, ...LLM, bytes_out: mb * 1_000_000, bytes_in: 4000, ...extra }));
    // 8 prompts of 6 MB within 8 minutes: 48 MB where the blueprint sent at most ~100 kB in ten minutes.
    const d = exfil();
    const ctx = fakeContext();
    feed(d, ctx, history);
    const out = feed(d, ctx, prompts('a2', 6, 8));
    expect(out.map((x) => [x.severity, x.evidence.kind])).toEqual([['medium', 'window']]);
    // A shared model provider reached without the tenant's token (the key decides whose account it lands in): a 16 MB floor.
    expect(out[0]!.evidence.threshold).toBe(16_000_000);
    expect(out[0]!.summary).toContain('to destinations its blueprint works with (latest api.openai.com, llm_provider)');
    // Under the 16 MB floor: nothing.
    const d2 = exfil();
    const ctx2 = fakeContext();
    feed(d2, ctx2, history);
    expect(feed(d2, ctx2, prompts('a2', 1.5, 8))).toEqual([]);
    // 24 MB to another service the blueprint works with (an API, not a model provider) stays under its 32 MB floor.
    const API = { dest_host: 'api.partner.example', category: 'api' };
    const apiUsual = usual.map((e) => ({ ...e, ...API, event_id: `${e.event_id}-api` }));
    const d7 = exfil();
    const ctx7 = fakeContext();
    feed(d7, ctx7, [...history, ...apiUsual].sort((x, y) => x.time - y.time));
    expect(feed(d7, ctx7, prompts('a2', 3, 8, T3, API))).toEqual([]);
    // An ordinary prompt after those 24 MB does not bring the model floor: only a request of 1 MB or more to the provider does.
    expect(feed(d7, ctx7, [network({ agent_id: 'a2', time: T3 + 8 * MIN, ...LLM, bytes_out: 12_000, bytes_in: 3000 })])).toEqual([]);
    const d8 = exfil();
    const ctx8 = fakeContext();
    feed(d8, ctx8, [...history, ...apiUsual].sort((x, y) => x.time - y.time));
    expect(feed(d8, ctx8, prompts('a2', 6, 8, T3, API)).map((x) => x.evidence.threshold)).toEqual([32_000_000]);
    // The same volume to the blueprint's own storage account (its backups and exports): nothing.
    const d3 = exfil();
    const ctx3 = fakeContext();
    const storage = { dest_host: 'contosodata.blob.core.windows.net', category: 'storage' };
    const own: NetworkEvent[] = [];
    for (let t = T0; t < T3; t += 10 * MIN) for (const a of AGENTS) own.push(network({ agent_id: a, time: t + 11 * SEC, ...storage, bytes_out: 30_000 }));
    feed(d3, ctx3, [...history, ...own].sort((x, y) => x.time - y.time));
    expect(feed(d3, ctx3, prompts('a2', 6, 8, T3, storage))).toEqual([]);
    // The same volume to the model endpoint with the agent's own token (its tenant's resource: a fine-tuning upload): nothing.
    const d5 = exfil();
    const ctx5 = fakeContext();
    feed(d5, ctx5, history);
    expect(feed(d5, ctx5, prompts('a2', 6, 8, T3, { token_id: 'tok-aoai' }))).toEqual([]);
    // So to an Azure AI service resource of the tenant the agent's API calls go to (its Document Intelligence), with its token;
    // without a token (a key: anyone's resource), the surge stands.
    const DOCINTEL = { dest_host: 'contoso-docintel.cognitiveservices.azure.com', category: 'api' };
    const docUsual = usual.map((e) => ({ ...e, ...DOCINTEL, event_id: `${e.event_id}-doc` }));
    const d9 = exfil();
    const ctx9 = fakeContext();
    feed(d9, ctx9, [...history, ...docUsual].sort((x, y) => x.time - y.time));
    expect(feed(d9, ctx9, prompts('a2', 6, 8, T3, { ...DOCINTEL, token_id: 'tok-doc' }))).toEqual([]);
    const d10 = exfil();
    const ctx10 = fakeContext();
    feed(d10, ctx10, [...history, ...docUsual].sort((x, y) => x.time - y.time));
    expect(feed(d10, ctx10, prompts('a2', 6, 8, T3, DOCINTEL)).map((x) => x.evidence.threshold)).toEqual([32_000_000]);
    expect(isAzureTenantServiceHost('Contoso-DocIntel.CognitiveServices.Azure.com')).toBe(true);
    expect(isAzureTenantServiceHost('contosows-pacs.dicom.azurehealthcareapis.com')).toBe(true);
    expect(isAzureTenantServiceHost('cognitiveservices.azure.com.evil.example')).toBe(false);
    expect(isAzureTenantServiceHost('wcrplatform.azurecr.io')).toBe(true);
    expect(isAzureTenantServiceHost('azurecr.io')).toBe(false);
    // Three agents of the blueprint start sending MB-sized prompts together (a long-context rollout): a deployment.
    const d4 = exfil({ confirmMs: 3 * MIN });
    const ctx4 = fakeContext();
    feed(d4, ctx4, history);
    const canary = [...prompts('a1', 6, 8), ...prompts('a2', 6, 8, T3 + 10 * SEC), ...prompts('a3', 6, 8, T3 + 20 * SEC)].sort((x, y) => x.time - y.time);
    expect([...feed(d4, ctx4, canary), ...advanceTo(d4, ctx4, T3 + 30 * MIN)]).toEqual([]);
    // The same agent's surge there again the next day (a data-subject export, yesterday's reported): a job, not news.
    const d6 = exfil();
    const ctx6 = fakeContext();
    feed(d6, ctx6, history);
    const first = [...feed(d6, ctx6, prompts('a2', 6, 8)), ...advanceTo(d6, ctx6, T3 + 30 * MIN)];
    expect(first.map((x) => x.severity)).toEqual(['medium']);
    const nextDay: NetworkEvent[] = [];
    for (let t = T3 + 30 * MIN; t < T3 + 20 * HOUR; t += 10 * MIN) for (const a of AGENTS) nextDay.push(network({ agent_id: a, time: t + 7 * SEC, ...LLM, bytes_out: 10_000, bytes_in: 3000 }));
    feed(d6, ctx6, nextDay);
    expect([...feed(d6, ctx6, prompts('a2', 6, 8, T3 + 20 * HOUR)), ...advanceTo(d6, ctx6, T3 + 21 * HOUR)]).toEqual([]);
    // Another agent's surge there is still news.
    expect([...feed(d6, ctx6, prompts('a3', 6, 8, T3 + 20 * HOUR + 30 * MIN)), ...advanceTo(d6, ctx6, T3 + 22 * HOUR)].map((x) => [x.agent_id, x.severity])).toEqual([['a3', 'medium']]);
  });

  it('catches a slow trickle to a file-sharing site that stays under every 10-minute threshold (high)', () => {
    const d = exfil();
    const ctx = fakeContext();
    feed(d, ctx, traffic(AGENTS, T0, T3));
    // 3.8 MB every 2 min: 19 MB per 10 min (the 10-min floor is 20 MB), 114 MB per hour.
    const out = feed(d, ctx, trickle(3.8, 2 * MIN, HOUR, 'file_sharing', 'gofile.example'));
    // Medium past 50 MB, high past 100 MB (a medium grows into a high once).
    expect(out.map((x) => [x.evidence.kind, x.severity])).toEqual([
      ['slow', 'medium'],
      ['slow', 'high'],
    ]);
    expect(out.map((x) => x.evidence.threshold)).toEqual([50_000_000, 50_000_000]);
    expect(out[1]!.time - out[0]!.time).toBeLessThan(30 * MIN); // within the cooldown
    expect((out[1]!.evidence.observed as { slow_risky_bytes_out: number }).slow_risky_bytes_out).toBeGreaterThanOrEqual(100_000_000);
    expect(out[0]!.time - T3).toBeLessThanOrEqual(30 * MIN);
    expect(out[0]!.summary).toContain('trickled');
  });

  it('catches a slow trickle to a storage account new to the blueprint (medium), across a half-hour boundary', () => {
    const d = exfil();
    const ctx = fakeContext();
    feed(d, ctx, traffic(AGENTS, T0, T3));
    // 24 MB every 5 min (48 MB per 10 min, under even a quiet blueprint's 50 MB floor), starting 10 min
    // before a half-hour boundary: the hour sum passes 200 MB within the hour.
    const start = Math.ceil(T3 / (30 * MIN)) * 30 * MIN - 10 * MIN;
    const out = feed(d, ctx, trickle(24, 5 * MIN, 60 * MIN, 'storage', 'exfil7.blob.example', start));
    expect(out.map((x) => [x.evidence.kind, x.severity])).toEqual([['slow', 'medium']]);
    expect(out[0]!.time - start).toBeLessThanOrEqual(50 * MIN);
    expect(out[0]!.time).toBeGreaterThan(start + 10 * MIN); // the sum spans both half-hours
  });

  it('does not count a trickle to a destination the blueprint uploads to, or one under the hourly floors', () => {
    const events = traffic(AGENTS, T0, T3);
    for (let t = T0; t < T3; t += 20 * MIN) events.push(network({ agent_id: 'a1', time: t, bytes_out: 2_000_000, category: 'file_sharing', dest_host: 'box.contoso.example' }));
    events.sort((x, y) => x.time - y.time);
    const d = exfil();
    const ctx = fakeContext();
    feed(d, ctx, events);
    expect(feed(d, ctx, trickle(9, 2 * MIN, HOUR, 'file_sharing', 'box.contoso.example'))).toEqual([]);
    // 1.5 MB every 2 min: 45 MB per hour to a new file-sharing site, under the 50 MB floor.
    const e = exfil();
    const ctx2 = fakeContext();
    feed(e, ctx2, traffic(AGENTS, T0, T3));
    expect(feed(e, ctx2, trickle(1.5, 2 * MIN, HOUR, 'file_sharing', 'gofile.example'))).toEqual([]);
  });

  it('restores an agent state written before the slow sums existed', () => {
    const events = [...traffic(AGENTS, T0, T3), ...trickle(1.5, MIN, 60 * MIN, 'file_sharing', 'gofile.example')];
    const d = exfil();
    const ctx = fakeContext();
    expect(feed(d, ctx, events.slice(0, -40))).toEqual([]);
    const snap = JSON.parse(JSON.stringify(d.snapshot())) as { agents: [string, string, Record<string, unknown>][] };
    for (const [, , v] of snap.agents) for (const k of ['hw', 'h0', 'h1', 'q0', 'q1', 'fs']) delete v[k];
    const r = exfil();
    r.restore(snap);
    // The sums start again at the restore: the trickle is still caught, later.
    const out = feed(r, ctx, events.slice(-40));
    expect(out.map((x) => x.evidence.kind)).toEqual(['slow']);
  });
});

import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../contract/events.js';
import { createCryptominingDetector } from '../../detectors/cryptomining.js';
import { HOUR, MIN, SEC, T0, advanceTo, fakeContext, feed, network, resetIds, runWithRestore } from './helpers/context.js';

beforeEach(() => resetIds());

/** A miner's Stratum flow, as the gateway logs it about once a minute. */
const stratum = (t: number, o: Partial<Parameters<typeof network>[0]> = {}) =>
  network({ agent_id: 'a1', time: t, dest_host: 'gulf.moneroocean.stream', dest_ip: '51.81.1.9', dest_port: 10128, category: 'cryptocurrency', bytes_out: 2_400, bytes_in: 5_100, ...o });

function run(events: AgentEvent[], until = T0 + 30 * MIN) {
  const d = createCryptominingDetector();
  const ctx = fakeContext();
  return feed(d, ctx, events).concat(advanceTo(d, ctx, until));
}

describe('cryptomining', () => {
  it('reports an allowed flow to a public pool medium at once, with the evidence, and once an hour', () => {
    const out = run([stratum(T0, { event_id: 'pool-1' }), stratum(T0 + MIN), stratum(T0 + 2 * MIN)]);
    expect(out.map((x) => [x.agent_id, x.severity, x.time])).toEqual([['a1', 'medium', T0]]);
    expect(out[0]!.summary).toContain('mining pool gulf.moneroocean.stream:10128');
    expect(out[0]!.evidence.observed).toMatchObject({ dest_host: 'gulf.moneroocean.stream', dest_port: 10128, action: 'allowed' });
    expect(out[0]!.event_ids).toEqual(['pool-1']);
    expect(run([stratum(T0), stratum(T0 + 61 * MIN)], T0 + 2 * HOUR).map((x) => x.time)).toEqual([T0, T0 + 61 * MIN]);
  });

  it('knows a pool by its domain on any port and category, by a Stratum or Monero first label, or by a cryptocurrency category off the web ports', () => {
    const pools = [
      { dest_host: 'pool.supportxmr.com', dest_port: 443, category: 'uncategorized' },
      { dest_host: 'xmr-eu1.nanopool.org', dest_port: 14433, category: 'business' },
      { dest_host: 'stratum.example-pool.net', dest_port: 3333, category: 'uncategorized' },
      { dest_host: 'xmr.freshpool.io', dest_port: 443, category: 'uncategorized' },
      { dest_host: 'mine.darkhost.cc', dest_port: 4444, category: 'Cryptocurrency' },
    ];
    for (const p of pools) expect(run([stratum(T0, p)]).map((x) => x.severity), p.dest_host).toEqual(['medium']);
  });

  it('leaves exchanges, price feeds and wallets on the web ports alone, and look-alike names', () => {
    const calls = [
      { dest_host: 'api.coinbase.com', dest_port: 443, category: 'cryptocurrency' },
      { dest_host: 'api.kraken.com', dest_port: 8443, category: 'cryptocurrency' },
      { dest_host: 'pro-api.coinmarketcap.com', dest_port: 80, category: 'cryptocurrency' },
      { dest_host: 'xmrig.com', dest_port: 443, category: 'technology' },
      { dest_host: 'notmoneroocean.stream', dest_port: 443, category: 'uncategorized' },
      { dest_host: 'graph.microsoft.com', dest_port: 443, category: 'api' },
    ];
    for (const c of calls) expect(run([stratum(T0, c), stratum(T0 + 5 * MIN, c)]), c.dest_host).toEqual([]);
  });

  it('leaves the exchanges\' own domains alone on any port (market-data WebSockets, FIX gateways), not a pool off the web ports named like one', () => {
    const feeds = [
      { dest_host: 'stream.binance.com', dest_port: 9443, category: 'cryptocurrency' },
      { dest_host: 'fix-md.binance.com', dest_port: 9000, category: 'cryptocurrency' },
      { dest_host: 'fix.exchange.coinbase.com', dest_port: 4198, category: 'Cryptocurrency' },
      { dest_host: 'ws.okx.com', dest_port: 8443, category: 'cryptocurrency' },
    ];
    for (const c of feeds) expect(run([stratum(T0, c), stratum(T0 + 5 * MIN, c)]), c.dest_host).toEqual([]);
    // Off the web ports under a name that only ends like an exchange's, or a pool's own domain: still pools.
    expect(run([stratum(T0, { dest_host: 'notbinance.com', dest_port: 3333, category: 'cryptocurrency' })]).map((x) => x.severity)).toEqual(['medium']);
    expect(run([stratum(T0, { dest_host: 'binance.com.pool-eu.example', dest_port: 9000, category: 'cryptocurrency' })]).map((x) => x.severity)).toEqual(['medium']);
  });

  it('reports a blocked attempt low, and medium once 3 were blocked within 10 minutes, not 3 spread over longer', () => {
    const blocked = (t: number) => stratum(t, { action: 'blocked', bytes_out: 0, bytes_in: 0 });
    const out = run([blocked(T0), blocked(T0 + 2 * MIN), blocked(T0 + 4 * MIN), blocked(T0 + 6 * MIN)]);
    expect(out.map((x) => [x.severity, x.time])).toEqual([
      ['low', T0],
      ['medium', T0 + 4 * MIN],
    ]);
    expect(out[1]!.summary).toContain('3 times within 10 min');
    expect(run([blocked(T0), blocked(T0 + 8 * MIN), blocked(T0 + 16 * MIN)], T0 + HOUR).map((x) => x.severity)).toEqual(['low']);
  });

  it('keeps agents and tenants apart, and gives the same findings after a snapshot and restore', () => {
    const events = [
      stratum(T0, { action: 'blocked' }),
      stratum(T0 + MIN, { action: 'blocked', tenant_id: 't2' }),
      stratum(T0 + 2 * MIN, { action: 'blocked' }),
      stratum(T0 + 3 * MIN, { action: 'blocked', agent_id: 'a2' }),
      stratum(T0 + 4 * MIN, { action: 'blocked' }),
      stratum(T0 + 5 * MIN, { agent_id: 'a3' }),
    ];
    const { uninterrupted, restored } = runWithRestore(createCryptominingDetector, events, 3);
    // (the findings after the split: a1's third blocked attempt in its tenant; t2's one attempt does not count)
    expect(uninterrupted.map((x) => [x.tenant_id === 't2' ? 't2' : 't', x.agent_id, x.severity])).toEqual([
      ['t', 'a2', 'low'],
      ['t', 'a1', 'medium'],
      ['t', 'a3', 'medium'],
    ]);
    expect(restored).toEqual(uninterrupted);
  });
});

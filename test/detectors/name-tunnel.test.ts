import { beforeEach, describe, expect, it } from 'vitest';
import { NameTunnelWatch, looksEncoded } from '../../detectors/name-tunnel.js';
import { SEC, T0, network, resetIds } from './helpers/context.js';

beforeEach(() => resetIds());

describe('name tunnel', () => {
  it('tells encoded labels from names people and products choose', () => {
    expect(looksEncoded('4f1c9a0b7e2d3c5a6b8f9e0d1c2b3a4f.x7.t.cdn-sync1a2.net')).toBe(true);
    expect(looksEncoded('mzxw6ytboi2dqmrsgezdg4a.t.example.org')).toBe(true);
    expect(looksEncoded('contosobackupprod01.blob.core.windows.net')).toBe(false);
    expect(looksEncoded('northwind-analytics-eastus.openai.azure.com')).toBe(false);
    expect(looksEncoded('graph.microsoft.com')).toBe(false);
  });

  it('counts distinct encoded names per agent and domain within the window, once each', () => {
    const w = new NameTunnelWatch(10 * 60_000, 5);
    const name = (k: number) => `${(0x1000000 + k).toString(16)}a1b2c3d4e5f6a7b8c9.t.relay.example`;
    const calls = [0, 1, 1, 2, 3].map((k, i) => network({ time: T0 + i * SEC, dest_host: name(k) }));
    expect(calls.map((e) => w.observe(e))).toEqual([null, null, null, null, null]);
    const hit = w.observe(network({ time: T0 + 6 * SEC, dest_host: name(4), event_id: 'last' }));
    expect(hit).toMatchObject({ domain: 'relay.example', names: 5, since: T0 });
    expect(hit!.ids).toHaveLength(5);
    // Another domain starts over; so does a call after the window.
    expect(w.observe(network({ time: T0 + 7 * SEC, dest_host: name(5).replace('relay', 'other') }))).toBeNull();
    expect(w.size).toBe(1);
    w.evict(T0 + 60 * SEC);
    expect(w.size).toBe(0);
  });
});

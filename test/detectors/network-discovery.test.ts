import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent, NetworkEvent } from '../../contract/events.js';
import { createNetworkDiscoveryDetector } from '../../detectors/network-discovery.js';
import { HOUR, MIN, SEC, T0, fakeContext, feed, network, resetIds, runWithRestore } from './helpers/context.js';

beforeEach(() => resetIds());

/** A connection attempt of `agent` to 10.60.4.`host` where nothing answers (a Luna HSM's NTLS port by default). */
const probe = (agent: string, host: number, t: number, o: Partial<NetworkEvent> = {}) =>
  network({ agent_id: agent, time: t, dest_host: `10.60.4.${host}`, dest_ip: `10.60.4.${host}`, dest_port: 1792, category: 'uncategorized', bytes_out: 70, bytes_in: 0, ...o });

/** `agent` probing `n` consecutive addresses from 10.60.4.10, `gapS` seconds apart from `start`. */
const sweep = (agent: string, n: number, start = T0, gapS = 3, o: Partial<NetworkEvent> = {}) =>
  Array.from({ length: n }, (_, i) => probe(agent, 10 + i, start + i * gapS * SEC, { event_id: `${agent}-p${i}`, ...o }));

const run = (events: AgentEvent[], d = createNetworkDiscoveryDetector()) => feed(d, fakeContext(), [...events].sort((x, y) => x.time - y.time));

describe('network-discovery', () => {
  it('is medium at the 16th internal address probed within 5 minutes, naming the ports and addresses, once', () => {
    const out = run(sweep('a1', 30));
    expect(out.map((d) => [d.severity, d.agent_id, d.time])).toEqual([['medium', 'a1', T0 + 15 * 3 * SEC]]);
    expect(out[0]!.summary).toContain('probed 16 internal addresses within 1 min (port 1792; e.g. 10.60.4.10, 10.60.4.11, 10.60.4.12)');
    expect(out[0]!.summary).toContain('sweeping the network');
    expect(out[0]!.evidence.observed).toMatchObject({ addresses_probed: 16, ports: [1792] });
    expect(out[0]!.event_ids).toEqual(['a1-p12', 'a1-p13', 'a1-p14', 'a1-p15']);
    // Again 30 minutes later: within the hour, nothing.
    expect(run([...sweep('a1', 16), ...sweep('a1', 16, T0 + 30 * MIN)]).map((d) => d.time - T0)).toEqual([45 * SEC]);
  });

  it('counts only probes: 15 addresses, one address probed again and again, answered sessions, public addresses, or a sweep spread over more than 5 minutes are nothing', () => {
    expect(run(sweep('a1', 15))).toEqual([]);
    // A health check retrying one dead host every few seconds.
    expect(run(Array.from({ length: 60 }, (_, i) => probe('a1', 9, T0 + i * 5 * SEC)))).toEqual([]);
    // Services that answer: an agent calling 20 internal APIs.
    expect(run(sweep('a1', 20, T0, 3, { bytes_in: 4_000, bytes_out: 900 }))).toEqual([]);
    // A large request without an answer is no probe either (an upload to a sink that does not reply).
    expect(run(sweep('a1', 20, T0, 3, { bytes_out: 40_000 }))).toEqual([]);
    // The organisation's public DMZ, scanned from outside: not the internal network.
    expect(run(Array.from({ length: 20 }, (_, i) => probe('a1', 0, T0 + i * 3 * SEC, { dest_host: `52.168.10.${10 + i}`, dest_ip: `52.168.10.${10 + i}` })))).toEqual([]);
    // One address every 20 seconds: 15 within any 5 minutes.
    expect(run(sweep('a1', 30, T0, 20))).toEqual([]);
    // A sweep of PLCs on Modbus or of LPARs on TN3270: industrial-protocol's and mainframe-access's finding, not a second one.
    expect(run(sweep('a1', 20, T0, 3, { dest_port: 502 }))).toEqual([]);
    expect(run(sweep('a1', 20, T0, 3, { dest_port: 23 }))).toEqual([]);
  });

  it('names in its evidence only the ports and addresses of the probes within the window, not older ones a slow trickle kept company', () => {
    // One probe of an RDP address every 4 minutes in the hour before (never 16 in 5 minutes, nor a window
    // without one), the last 2 minutes before a sweep of the HSMs' port that takes 4 minutes.
    const trickle = Array.from({ length: 15 }, (_, i) => probe('a1', 200 + i, T0 - 58 * MIN + i * 4 * MIN, { dest_port: 3389 }));
    const out = run([...trickle, ...sweep('a1', 16, T0, 15)]);
    expect(out.map((d) => d.severity)).toEqual(['medium']);
    const observed = out[0]!.evidence.observed as { ports: number[]; addresses: string[]; addresses_probed: number };
    expect(observed.ports).toEqual([1792]);
    expect(observed.addresses_probed).toBe(16);
    expect(observed.addresses.every((x) => /^10\.60\.4\.(1\d|2[0-5])$/.test(x))).toBe(true);
    expect(observed.addresses).toHaveLength(8);
  });

  it('counts refused and blocked attempts, on any port, and IPv6 unique local addresses', () => {
    const mixed = Array.from({ length: 16 }, (_, i) =>
      i % 2 === 0
        ? probe('a1', 10 + i, T0 + i * 2 * SEC, { action: 'blocked', dest_port: 445 })
        : probe('a1', 0, T0 + i * 2 * SEC, { dest_host: `fd12:3456:789a::${i.toString(16)}`, dest_ip: `fd12:3456:789a::${i.toString(16)}`, dest_port: 3389, bytes_in: 40 }),
    );
    const out = run(mixed);
    expect(out.map((d) => d.severity)).toEqual(['medium']);
    expect(out[0]!.evidence.observed).toMatchObject({ ports: [445, 3389] });
  });

  it('is low when another agent of the blueprint swept within the 10 minutes before (a scanning job), and nothing for a blueprint that swept an hour or more before', () => {
    const job = run([...sweep('a1', 20), ...sweep('a2', 20, T0 + 4 * MIN), ...sweep('a3', 20, T0 + 20 * MIN)]);
    expect(job.map((d) => [d.agent_id, d.severity])).toEqual([
      ['a1', 'medium'],
      ['a2', 'low'],
      ['a3', 'medium'],
    ]);
    expect(job[1]!.summary).toContain('1 other agent of its blueprint swept within 10 min');
    // The nightly scan of yesterday: the blueprint's job.
    expect(run([...sweep('a1', 20), ...sweep('a2', 20, T0 + 2 * HOUR)]).map((d) => d.agent_id)).toEqual(['a1']);
    // Another blueprint's sweep is no precedent.
    expect(run([...sweep('a1', 20), ...sweep('b1', 20, T0 + 2 * HOUR, 3, { blueprint_id: 'bp-other' })]).map((d) => d.agent_id)).toEqual(['a1', 'b1']);
  });

  it('gives the same findings after a snapshot and restore in the middle of a sweep', () => {
    const events = [...sweep('a1', 30), ...sweep('a2', 20, T0 + 5 * MIN)];
    for (const split of [4, 10, 14]) {
      const { uninterrupted, restored } = runWithRestore(createNetworkDiscoveryDetector, events, split);
      expect(restored).toEqual(uninterrupted);
      expect(uninterrupted).toHaveLength(2);
    }
  });
});

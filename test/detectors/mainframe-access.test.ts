import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../contract/events.js';
import { createMainframeAccessDetector, mainframeProtocol } from '../../detectors/mainframe-access.js';
import { createIndustrialProtocolDetector } from '../../detectors/industrial-protocol.js';
import { HOUR, MIN, SEC, T0, fakeContext, feed, network, resetIds, runWithRestore } from './helpers/context.js';

beforeEach(() => resetIds());

/** Flows of `agent` to `hosts` on `port`, one every `everyMs` from `from`. */
function flows(agent: string, hosts: string[], from: number, port = 23, everyMs = 3 * SEC, extra: Partial<AgentEvent> = {}): AgentEvent[] {
  return hosts.map((h, k) => network({ agent_id: agent, time: from + k * everyMs, dest_host: h, dest_ip: h, dest_port: port, category: 'internal', bytes_out: 300, bytes_in: 1900, event_id: `mf-${agent}-${k}`, ...extra } as never));
}

const lpars = (n: number) => Array.from({ length: n }, (_, i) => `10.40.8.${20 + i}`);

const run = (events: AgentEvent[]) => feed(createMainframeAccessDetector(), fakeContext(), events.sort((x, y) => x.time - y.time));

describe('mainframe-access', () => {
  it('knows the mainframe terminal and database ports', () => {
    expect(mainframeProtocol(23)).toBe('TN3270/Telnet');
    expect(mainframeProtocol(992)).toBe('TN3270 over TLS');
    expect(mainframeProtocol(446)).toBe('DRDA');
    expect(mainframeProtocol(8471)).toBe('IBM i database server');
    for (const p of [443, 80, 53, 22, 445, 1433, 502, 21]) expect(mainframeProtocol(p), String(p)).toBeUndefined();
  });

  it('is medium when an agent whose blueprint never speaks them probes 5 LPARs on TN3270 and DRDA within 10 minutes', () => {
    const hosts = lpars(12);
    const probes = [...flows('a1', hosts.slice(0, 6), T0, 23), ...flows('a1', hosts.slice(6), T0 + 20 * SEC, 446)];
    const out = run(probes);
    expect(out.map((x) => [x.agent_id, x.detector, x.severity])).toEqual([['a1', 'mainframe-access', 'medium']]);
    expect(out[0]!.summary).toContain('5 mainframe hosts');
    expect((out[0]!.evidence.observed as { protocols: string[] }).protocols).toContain('TN3270/Telnet');
    expect(out[0]!.evidence.baseline).toEqual({ blueprint_speaks_mainframe_protocols: false });
  });

  it('is medium for 20 screen exchanges with one LPAR, not for 19 or for 4 hosts', () => {
    const one = Array.from({ length: 25 }, () => '10.40.8.20');
    expect(run(flows('a1', one, T0, 992)).map((x) => [x.severity, (x.evidence.observed as { flows: number }).flows])).toEqual([['medium', 20]]);
    expect(run(flows('a1', one.slice(0, 19), T0, 992))).toEqual([]);
    expect(run(flows('a1', lpars(4), T0, 446))).toEqual([]);
    // Exchanges spread over hours: no sweep.
    expect(run(flows('a1', lpars(12), T0, 23, 20 * MIN))).toEqual([]);
  });

  it('stays quiet for a blueprint that works with the mainframe, and learns nothing from a reported agent', () => {
    // Two CICS gateway agents of the blueprint drive their screens every day.
    expect(run([...flows('g1', lpars(2), T0 - HOUR, 992), ...flows('g2', lpars(2), T0 - HOUR + MIN, 992), ...flows('a1', lpars(12), T0)])).toEqual([]);
    const out = run([...flows('a1', lpars(12), T0), ...flows('a2', lpars(12), T0 + 2 * HOUR)]);
    expect(out.map((x) => [x.agent_id, x.severity])).toEqual([
      ['a1', 'medium'],
      ['a2', 'medium'],
    ]);
  });

  it('is a family of its own: industrial ports do not count, and the industrial detector ignores mainframe ports', () => {
    expect(run(flows('a1', lpars(12), T0, 502))).toEqual([]);
    expect(feed(createIndustrialProtocolDetector(), fakeContext(), flows('a1', lpars(12), T0, 23))).toEqual([]);
  });

  it('survives a snapshot and restore', () => {
    const events = flows('a1', lpars(12), T0);
    const { uninterrupted, restored } = runWithRestore(() => createMainframeAccessDetector(), events, 2);
    expect(uninterrupted).toHaveLength(1);
    expect(restored).toEqual(uninterrupted);
  });
});

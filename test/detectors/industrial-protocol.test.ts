import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../contract/events.js';
import { HMI_WEB, HSMS, createIndustrialProtocolDetector, industrialProtocol, otHostName } from '../../detectors/industrial-protocol.js';
import { HOUR, MIN, SEC, T0, fakeContext, feed, network, resetIds, runWithRestore } from './helpers/context.js';

beforeEach(() => resetIds());

/** Flows of `agent` to `hosts` (10.70.x.y) on `port`, one every `everyMs` from `from`. */
function flows(agent: string, hosts: string[], from: number, port = 502, everyMs = 3 * SEC, extra: Partial<AgentEvent> = {}): AgentEvent[] {
  return hosts.map((h, k) => network({ agent_id: agent, time: from + k * everyMs, dest_host: h, dest_ip: h, dest_port: port, category: 'internal', bytes_out: 40, bytes_in: 30, event_id: `ot-${agent}-${k}`, ...extra } as never));
}

const plcs = (n: number) => Array.from({ length: n }, (_, i) => `10.70.${1 + (i % 4)}.${10 + i}`);

const run = (events: AgentEvent[]) => feed(createIndustrialProtocolDetector(), fakeContext(), events.sort((x, y) => x.time - y.time));

describe('industrial-protocol', () => {
  it('knows the industrial control ports', () => {
    expect(industrialProtocol(502)).toBe('Modbus/TCP');
    expect(industrialProtocol(102)).toBe('S7comm');
    expect(industrialProtocol(44818)).toBe('EtherNet/IP');
    for (const p of [443, 53, 22, 445, 8443]) expect(industrialProtocol(p), String(p)).toBeUndefined();
    expect(industrialProtocol(8080)).toBe(HMI_WEB);
    expect(industrialProtocol(80)).toBe(HMI_WEB);
  });

  it('knows hosts named as the plant\'s', () => {
    for (const h of ['hmi-gate-14.ot.nordkraft.no', 'plc03.site.example.com', 'scada.example.com', 'line2-hmi.example.de', 'rtu-ss001.example.local', 'x.ics.example.com']) expect(otHostName(h), h).toBe(true);
    for (const h of ['historian.nordkraft.no', 'bot.example.com', 'iot-hub.example.com', 'hmis.example.com', 'api.example.com', 'robot-ot1x.example.com']) expect(otHostName(h), h).toBe(false);
  });

  it('is medium for 20 plain-HTTP flows to a web HMI named as the plant\'s (a password guessed, set-points written), not to another web server on the same port', () => {
    const hmi = Array.from({ length: 25 }, () => 'hmi-gate-14.ot.nordkraft.no');
    const out = run(flows('a1', hmi, T0, 8080, 8 * SEC));
    expect(out.map((x) => [x.agent_id, x.severity])).toEqual([['a1', 'medium']]);
    expect(out[0]!.evidence.observed).toMatchObject({ flows: 20, protocols: [HMI_WEB] });
    const web = Array.from({ length: 25 }, () => 'intranet.nordkraft.no');
    expect(run(flows('a1', web, T0, 8080, 8 * SEC))).toEqual([]);
    // A blueprint that works with its HMIs every day is at work.
    const daily = Array.from({ length: 8 }, (_, k) => flows('t1', ['hmi-gate-14.ot.nordkraft.no'], T0 - 2 * HOUR + k * 10 * MIN, 8080)).flat();
    expect(run([...daily, ...flows('a1', hmi, T0, 8080, 8 * SEC)])).toEqual([]);
  });

  it('is medium for SECS/GEM over HSMS (5000-5010) to 5 fab tools at private addresses, not to public web servers on those ports', () => {
    expect([5000, 5003, 5010].map(industrialProtocol)).toEqual([HSMS, HSMS, HSMS]);
    expect(industrialProtocol(5007)).toBe('MELSEC');
    expect(industrialProtocol(5011)).toBeUndefined();
    const tools = Array.from({ length: 7 }, (_, i) => `10.62.14.${21 + i}`);
    const out = run(flows('a1', tools, T0, 5001));
    expect(out.map((x) => [x.agent_id, x.severity])).toEqual([['a1', 'medium']]);
    expect(out[0]!.evidence.observed).toMatchObject({ distinct_hosts: 5, protocols: [HSMS] });
    // A development server's default port on the internet (Kestrel, Flask): no tool.
    const web = Array.from({ length: 7 }, (_, i) => `52.14.20.${10 + i}`);
    expect(run(flows('a1', web, T0, 5000))).toEqual([]);
    // Without an address: a host named in the internal namespace counts, a public name does not.
    const named = (suffix: string) => flows('a1', tools, T0, 5001).map((e, i) => ({ ...e, dest_ip: null, dest_host: `etch${14 + i}${suffix}` }) as AgentEvent);
    expect(run(named('.eq.fab.internal')).map((x) => x.severity)).toEqual(['medium']);
    expect(run(named('.example.com'))).toEqual([]);
  });

  it('is medium when an agent whose blueprint never speaks them reaches 5 controllers on industrial ports within 10 minutes', () => {
    const out = run(flows('a1', plcs(30), T0));
    expect(out.map((x) => [x.agent_id, x.severity, x.time])).toEqual([['a1', 'medium', T0 + 4 * 3 * SEC]]);
    expect(out[0]!.summary).toContain('5 industrial control hosts');
    expect(out[0]!.evidence.observed).toMatchObject({ distinct_hosts: 5, protocols: ['Modbus/TCP'] });
  });

  it('is medium for 20 flows to one or two controllers (commands sent), not for 4 hosts or fewer flows', () => {
    const two = Array.from({ length: 24 }, (_, k) => (k % 2 === 0 ? '10.70.1.10' : '10.70.1.11'));
    expect(run(flows('a1', two, T0, 102)).map((x) => [x.severity, (x.evidence.observed as { flows: number }).flows])).toEqual([['medium', 20]]);
    expect(run(flows('a1', plcs(4), T0))).toEqual([]);
    expect(run(flows('a1', two.slice(0, 19), T0))).toEqual([]);
    // Spread over hours: no sweep.
    expect(run(flows('a1', plcs(12), T0, 502, 20 * MIN))).toEqual([]);
  });

  it('stays quiet for a blueprint that speaks them (two of its agents, or for an hour), and reports once an hour', () => {
    // Two telemetry agents of the blueprint poll their PLCs.
    expect(run([...flows('t1', plcs(2), T0 - HOUR), ...flows('t2', plcs(2), T0 - HOUR + MIN), ...flows('a1', plcs(30), T0)])).toEqual([]);
    // One agent polling for over an hour.
    const poll = Array.from({ length: 8 }, (_, k) => flows('t1', ['10.70.1.10'], T0 - 2 * HOUR + k * 10 * MIN)).flat();
    expect(run([...poll, ...flows('a1', plcs(30), T0)])).toEqual([]);
    expect(run([...flows('a1', plcs(30), T0), ...flows('a1', plcs(30), T0 + 20 * MIN)])).toHaveLength(1);
  });

  it('learns nothing from a reported agent: the next agent of its blueprint sweeping hours later is medium too', () => {
    const out = run([...flows('a1', plcs(30), T0), ...flows('a2', plcs(30), T0 + 2 * HOUR)]);
    expect(out.map((x) => [x.agent_id, x.severity])).toEqual([
      ['a1', 'medium'],
      ['a2', 'medium'],
    ]);
  });

  it('survives a snapshot and restore', () => {
    const events = flows('a1', plcs(30), T0);
    const { uninterrupted, restored } = runWithRestore(() => createIndustrialProtocolDetector(), events, 2);
    expect(uninterrupted).toHaveLength(1);
    expect(restored).toEqual(uninterrupted);
  });
});

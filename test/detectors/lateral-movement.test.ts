import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../contract/events.js';
import { createLateralMovementDetector, isToolType, remoteAdminProtocol } from '../../detectors/lateral-movement.js';
import { HOUR, MIN, SEC, T0, fakeContext, feed, network, resetIds, runWithRestore } from './helpers/context.js';

beforeEach(() => resetIds());

/** Flows of `agent` to `hosts` on `port`, one every `everyMs` from `from`, pushing `bytes` each. */
function flows(agent: string, hosts: string[], from: number, port = 5985, everyMs = 10 * SEC, extra: Partial<AgentEvent> = {}): AgentEvent[] {
  return hosts.map((h, k) => network({ agent_id: agent, time: from + k * everyMs, dest_host: h, dest_ip: h, dest_port: port, category: 'uncategorized', bytes_out: 120_000, bytes_in: 12_000, event_id: `lm-${agent}-${from}-${k}`, ...extra } as never));
}

/** `n` pushes to each of `hosts` in turn. */
const pushes = (hosts: string[], n: number) => hosts.flatMap((h) => Array.from({ length: n }, () => h));
const ews = (n: number) => Array.from({ length: n }, (_, i) => `10.40.12.${21 + i}`);

/** A file of `type` sent to `ip` on `port`. */
const drop = (agent: string, type: string, at: number, ip = '10.10.0.11', port = 445, bytes = 1_845_968, extra: Partial<AgentEvent> = {}) =>
  network({ agent_id: agent, time: at, dest_host: 'dc01.corp.example', dest_ip: ip, dest_port: port, category: 'uncategorized', file_type: type, bytes_out: bytes, bytes_in: 1_395, event_id: `drop-${agent}-${at}`, ...extra } as never);

const run = (events: AgentEvent[]) => feed(createLateralMovementDetector(), fakeContext(), events.sort((x, y) => x.time - y.time));

describe('lateral-movement', () => {
  it('knows the remote administration ports and the file types that run where they land', () => {
    expect(remoteAdminProtocol(5985)).toBe('WinRM');
    expect(remoteAdminProtocol(3389)).toBe('RDP');
    expect(remoteAdminProtocol(22)).toBe('SSH');
    for (const p of [443, 80, 53, 445, 502, 23, 1433]) expect(remoteAdminProtocol(p), String(p)).toBeUndefined();
    for (const t of ['exe', '.DLL', 'ps1', 'jsp', 'aspx', 'war', 'hta']) expect(isToolType(t), t).toBe(true);
    for (const t of ['pdf', 'xml', 'ini', 'zip', 'json', null, '']) expect(isToolType(t), String(t)).toBe(false);
  });

  it('is medium when an agent whose blueprint never administers machines pushes over WinRM to a third workstation within 10 minutes', () => {
    const out = run(flows('a1', pushes(ews(4), 4), T0));
    expect(out.map((x) => [x.agent_id, x.severity, x.time])).toEqual([['a1', 'medium', T0 + 8 * 10 * SEC]]);
    expect(out[0]!.summary).toContain('3 internal hosts');
    expect((out[0]!.evidence.observed as { protocols: string[] }).protocols).toEqual(['WinRM']);
  });

  it('is medium for 12 sessions with one host, not for 11, two hosts, or sessions spread over hours', () => {
    expect(run(flows('a1', pushes(['10.40.12.21'], 14), T0, 3389)).map((x) => (x.evidence.observed as { flows: number }).flows)).toEqual([12]);
    expect(run(flows('a1', pushes(['10.40.12.21'], 11), T0, 3389))).toEqual([]);
    expect(run(flows('a1', pushes(ews(2), 5), T0))).toEqual([]);
    expect(run(flows('a1', pushes(ews(6), 1), T0, 5985, 20 * MIN))).toEqual([]);
    // A vulnerability scanner's probes and credentialed checks (a few KiB each) over SSH, RDP and WinRM: no session.
    expect(run([...flows('a1', ews(8), T0, 22, 2 * SEC, { bytes_out: 150 }), ...flows('a1', ews(8), T0 + MIN, 5985, 2 * SEC, { bytes_out: 28_000 })])).toEqual([]);
  });

  it('counts SSH only inside the network (agents use public forges over SSH), and stays quiet for a blueprint that administers machines', () => {
    expect(run(flows('a1', ['140.82.121.3', '140.82.121.4', '140.82.121.5', '20.1.2.3'], T0, 22))).toEqual([]);
    expect(run(flows('a1', ['10.1.0.4', '10.1.0.5', '10.1.0.6'], T0, 22)).map((x) => x.severity)).toEqual(['medium']);
    // Two patching agents of the blueprint run WinRM sessions every day: its way of working.
    expect(run([...flows('p1', ews(2), T0 - 2 * HOUR), ...flows('p2', ews(2), T0 - 2 * HOUR + MIN), ...flows('a1', pushes(ews(4), 4), T0)])).toEqual([]);
  });

  it('is medium at once for an executable dropped on a domain controller\'s share, or a web shell uploaded to an application server, inside the network', () => {
    const out = run([drop('a1', 'xml', T0), drop('a1', 'exe', T0 + 6 * SEC), drop('a1', 'ini', T0 + 9 * SEC)]);
    expect(out.map((x) => [x.agent_id, x.severity, x.time])).toEqual([['a1', 'medium', T0 + 6 * SEC]]);
    expect(out[0]!.summary).toContain('sent a exe file');
    expect(run([drop('a2', 'jsp', T0, '10.20.6.30', 50000, 4_334)]).map((x) => x.severity)).toEqual(['medium']);
  });

  it('stays quiet for tools sent outside the network, answers bigger than the upload, tiny files, and a blueprint that deploys software', () => {
    expect(run([drop('a1', 'exe', T0, '52.1.2.3', 443)])).toEqual([]);
    expect(run([drop('a1', 'exe', T0, '10.10.0.11', 445, 2_000, { bytes_in: 3_000_000 })])).toEqual([]);
    expect(run([drop('a1', 'ps1', T0, '10.10.0.11', 445, 600)])).toEqual([]);
    // A deployment blueprint's first two agents push installers (reported, they still teach it): the third is its way.
    const deploys = [drop('d1', 'msi', T0 - 3 * HOUR, '10.30.0.5'), drop('d2', 'msi', T0 - 3 * HOUR + MIN, '10.30.0.6')];
    expect(run([...deploys, drop('a1', 'exe', T0)]).map((x) => x.agent_id)).toEqual(['d1', 'd2']);
  });

  it('reports a tool transfer once an hour per agent; one agent does not make its blueprint\'s way', () => {
    expect(run([drop('a1', 'exe', T0), drop('a1', 'dll', T0 + MIN), drop('a1', 'exe', T0 + 70 * MIN)]).map((x) => x.time - T0)).toEqual([0, 70 * MIN]);
    expect(run([drop('a1', 'exe', T0), drop('a2', 'exe', T0 + 2 * HOUR)]).map((x) => x.agent_id)).toEqual(['a1', 'a2']);
  });

  it('survives a snapshot and restore', () => {
    const events = [...flows('a1', pushes(ews(4), 4), T0), drop('a2', 'exe', T0 + MIN)].sort((x, y) => x.time - y.time);
    const { uninterrupted, restored } = runWithRestore(() => createLateralMovementDetector(), events, 5);
    expect(uninterrupted).toHaveLength(2);
    expect(restored).toEqual(uninterrupted);
  });
});

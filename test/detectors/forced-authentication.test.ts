import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../contract/events.js';
import { createForcedAuthenticationDetector } from '../../detectors/forced-authentication.js';
import { MIN, SEC, T0, advanceTo, fakeContext, feed, network, resetIds, runWithRestore } from './helpers/context.js';

beforeEach(() => resetIds());

const LISTENER = '185.225.74.12';
/** An attachment read from Graph, then Windows resolving the UNC path it names. */
const read = (t: number, agent = 'a1') => network({ agent_id: agent, time: t, dest_host: 'graph.microsoft.com', dest_ip: '20.190.151.7', bytes_out: 900, bytes_in: 240_000 });
const smb = (t: number, o: Partial<Parameters<typeof network>[0]> = {}) =>
  network({ agent_id: 'a1', time: t, dest_host: LISTENER, dest_ip: LISTENER, dest_port: 445, category: 'uncategorized', bytes_out: 1_800, bytes_in: 600, ...o });

function run(events: AgentEvent[], until = T0 + 30 * MIN) {
  const d = createForcedAuthenticationDetector();
  const ctx = fakeContext();
  return feed(d, ctx, events).concat(advanceTo(d, ctx, until));
}

describe('forced-authentication', () => {
  it('reports an agent speaking SMB to an internet address medium two minutes later, with the evidence', () => {
    const out = run([read(T0), smb(T0 + 2 * SEC, { event_id: 'smb-1' }), read(T0 + 3 * MIN), smb(T0 + 3 * MIN + 1_500)]);
    expect(out.map((x) => [x.agent_id, x.severity, x.time])).toEqual([['a1', 'medium', T0 + 2 * SEC + 2 * MIN]]);
    expect(out[0]!.summary).toContain(`connected to ${LISTENER} over SMB (port 445`);
    expect(out[0]!.evidence.observed).toMatchObject({ target: LISTENER, port: 445, kind: 'allowed' });
    expect(out[0]!.event_ids).toContain('smb-1');
    // NetBIOS session service too, and an address given only as the host.
    expect(run([smb(T0, { dest_port: 139, dest_ip: null })]).map((x) => x.severity)).toEqual(['medium']);
  });

  it('reports a blocked attempt low, and the WebDAV fallback to the same address right after it medium', () => {
    const blocked = smb(T0, { action: 'blocked', bytes_out: 0, bytes_in: 0 });
    expect(run([blocked]).map((x) => [x.severity, x.evidence.observed])).toEqual([['low', expect.objectContaining({ kind: 'blocked' })]]);
    const webdav = network({ agent_id: 'a1', time: T0 + 1_200, dest_host: LISTENER, dest_ip: LISTENER, dest_port: 80, category: 'uncategorized', bytes_out: 1_400, bytes_in: 500 });
    const out = run([blocked, webdav]);
    expect(out.map((x) => x.severity)).toEqual(['low', 'medium']);
    expect(out[1]!.summary).toContain('WebDAV fallback');
    // Port 80 to another address, or long after, is ordinary web traffic.
    expect(run([blocked, { ...webdav, dest_host: 'example.com', dest_ip: '93.184.216.34' }]).map((x) => x.severity)).toEqual(['low']);
    expect(run([blocked, { ...webdav, time: T0 + 10 * MIN }]).map((x) => x.severity)).toEqual(['low']);
  });

  it('stays quiet for SMB to private addresses, Azure Files shares, names without an address, other ports, and probes too small to carry an authentication', () => {
    expect(run([smb(T0, { dest_host: 'dc01.corp.litware.com', dest_ip: '10.16.0.10' })])).toEqual([]);
    expect(run([smb(T0, { dest_host: 'litwarefiles.file.core.windows.net', dest_ip: '20.60.132.8' })])).toEqual([]);
    expect(run([smb(T0, { dest_host: 'fs01.corp.example', dest_ip: null })])).toEqual([]);
    expect(run([smb(T0, { dest_ip: '127.0.0.1', dest_host: '127.0.0.1' })])).toEqual([]);
    expect(run([smb(T0, { dest_port: 443 })])).toEqual([]);
    // A vulnerability scanner's probe of the organisation's own address: tens of bytes, no authentication in it.
    expect(run([smb(T0, { bytes_out: 120, bytes_in: 60 }), smb(T0 + MIN, { bytes_out: 64, bytes_in: 0 })])).toEqual([]);
    expect(run([smb(T0, { bytes_out: 420 })]).map((x) => x.severity)).toEqual(['medium']);
  });

  it('takes a public address 3 agents of the blueprint reach over SMB within the hold as its file server, not one or two', () => {
    const fleet = (agents: string[]) => agents.map((a, i) => smb(T0 + i * 20 * SEC, { agent_id: a }));
    expect(run(fleet(['a1', 'a2', 'a3']))).toEqual([]);
    expect(run(fleet(['a1', 'a2'])).map((x) => x.agent_id)).toEqual(['a1', 'a2']);
  });

  it('takes an agent reaching 4 distinct SMB hosts within 10 minutes, public or private, for a scanner sweeping the estate, not a leak to one listener', () => {
    const dmz = (i: number, t: number) => smb(t, { dest_host: `20.42.44.${100 + i}`, dest_ip: `20.42.44.${100 + i}`, bytes_out: 5_000 });
    expect(run([dmz(0, T0), dmz(1, T0 + 20 * SEC), dmz(2, T0 + 40 * SEC), dmz(3, T0 + 60 * SEC)])).toEqual([]);
    // Its private hosts count too, once the agent is on record.
    const internal = (i: number, t: number) => smb(t, { dest_host: `10.20.6.${i}`, dest_ip: `10.20.6.${i}`, bytes_out: 900 });
    expect(run([dmz(0, T0), internal(1, T0 + 10 * SEC), internal(2, T0 + 20 * SEC), internal(3, T0 + 30 * SEC)])).toEqual([]);
    // Three hosts are no sweep.
    expect(run([dmz(0, T0), dmz(1, T0 + 20 * SEC), dmz(2, T0 + 40 * SEC)]).map((x) => x.severity)).toEqual(['medium']);
  });

  it('reports an agent once an hour per severity', () => {
    const out = run([smb(T0), smb(T0 + 5 * MIN, { dest_ip: '185.225.74.13', dest_host: '185.225.74.13' }), smb(T0 + 70 * MIN)], T0 + 2 * 3_600_000);
    expect(out.map((x) => x.time)).toEqual([T0 + 2 * MIN, T0 + 72 * MIN]);
  });

  it('gives the same findings after a snapshot and restore, with a connection waiting', () => {
    const events = [read(T0), smb(T0 + SEC), smb(T0 + 30 * SEC, { agent_id: 'a2' }), network({ agent_id: 'a3', time: T0 + 5 * MIN, dest_host: 'graph.microsoft.com' })];
    const { uninterrupted, restored } = runWithRestore(createForcedAuthenticationDetector, events, 2);
    expect(uninterrupted.map((x) => x.agent_id)).toEqual(['a1', 'a2']);
    expect(restored).toEqual(uninterrupted);
  });
});

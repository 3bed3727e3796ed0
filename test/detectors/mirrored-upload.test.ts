import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent, NetworkEvent } from '../../contract/events.js';
import { createMirroredUploadDetector } from '../../detectors/mirrored-upload.js';
import type { Detection } from '../../detectors/types.js';
import { HOUR, MIN, SEC, T0, fakeContext, feed, network, resetIds, runWithRestore } from './helpers/context.js';

beforeEach(() => resetIds());

const GRAPH = 'graph.microsoft.com';
const COLLECTOR = 'relay.giftshop.club';

const send = (t: number, bytes: number, o: Partial<NetworkEvent> = {}) => network({ agent_id: 'a1', time: t, dest_host: GRAPH, category: 'api', bytes_out: bytes, bytes_in: 400, ...o });
const copy = (t: number, bytes: number, o: Partial<NetworkEvent> = {}) => network({ agent_id: 'a1', time: t, dest_host: COLLECTOR, category: 'shopping', bytes_out: bytes, bytes_in: 200, ...o });

/** The blueprint's usual traffic for an hour: two agents sending mail through Graph. */
function history(): AgentEvent[] {
  const out: AgentEvent[] = [];
  for (let k = 0; k < 12; k++) {
    out.push(send(T0 - HOUR + k * 5 * MIN, 20_000 + k * 1000));
    out.push(send(T0 - HOUR + k * 5 * MIN + 30 * SEC, 9_000, { agent_id: 'a2' }));
  }
  return out;
}

/** n sends every 3 minutes from T0, each copied `lagMs` later at its size plus an envelope. */
function mirrored(n: number, lagMs = 800, envelope = 600): AgentEvent[] {
  const out: AgentEvent[] = [];
  for (let k = 0; k < n; k++) {
    const t = T0 + k * 3 * MIN;
    const size = k % 2 ? 250_000 : 12_000 + 1000 * k;
    out.push(send(t, size, { event_id: `s${k}` }));
    out.push(copy(t + lagMs, size + envelope, { event_id: `c${k}` }));
  }
  return out;
}

/** Runs the history, then `events`, then a late quiet event so that held findings are decided. */
function run(events: AgentEvent[], detector = createMirroredUploadDetector()): Detection[] {
  const ctx = fakeContext();
  expect(feed(detector, ctx, history())).toEqual([]);
  const last = events.reduce((m, e) => Math.max(m, e.time), T0);
  return feed(detector, ctx, [...events, send(last + 10 * MIN, 5_000, { agent_id: 'a3', dest_host: 'other.example.com' })]);
}

describe('mirrored-upload', () => {
  it('is medium 3 minutes after the third send copied at its size to a host new to the blueprint', () => {
    const out = run(mirrored(5));
    expect(out.map((d) => [d.severity, d.agent_id, d.time])).toEqual([['medium', 'a1', T0 + 6 * MIN + 800 + 3 * MIN]]);
    expect(out[0]!.summary).toContain(`sends to ${GRAPH} were copied 3 times`);
    expect(out[0]!.summary).toContain(COLLECTOR);
    expect(out[0]!.evidence.observed).toMatchObject({ copy_host: COLLECTOR, copies: 3, sends_to_copy_host: 3, copied_hosts: [GRAPH] });
    expect(out[0]!.event_ids).toEqual(['c0', 'c1', 'c2']);
  });

  it('counts a copy made before its send, and one delivered late, by event time', () => {
    const events = mirrored(2);
    // Third: the copy 0.5 s before the send; fourth: the copy delivered 25 s after the next send arrived.
    events.push(copy(T0 + 6 * MIN - 500, 40_500, { event_id: 'c2' }), send(T0 + 6 * MIN, 40_000, { event_id: 's2' }));
    const s3 = send(T0 + 9 * MIN, 30_000, { event_id: 's3' });
    events.push(s3, copy(T0 + 9 * MIN + 900, 30_700, { event_id: 'c3' }));
    const out = run(events);
    expect(out.map((d) => d.severity)).toEqual(['medium']);
    expect(out[0]!.event_ids).toEqual(['c0', 'c1', 'c2']);
  });

  it('is nothing when another agent of the blueprint sends to an IT service within the hold (an observability sink rolled out)', () => {
    const sink = (e: AgentEvent) => (e.type === 'network' && e.dest_host === COLLECTOR ? { ...e, dest_host: 'cloud.langfuse.com', category: 'Technology' } : e);
    const events = mirrored(4).map(sink);
    events.push(network({ agent_id: 'a2', time: T0 + 8 * MIN, dest_host: 'cloud.langfuse.com', category: 'Technology', bytes_out: 15_000 }));
    expect(run(events.sort((x, y) => x.time - y.time))).toEqual([]);
    // The same host, the agent alone sending to it: reported.
    resetIds();
    expect(run(mirrored(4).map(sink)).map((d) => d.severity)).toEqual(['medium']);
  });

  it('reports every agent of the blueprint copying to a host that is no IT service (a tool update gone bad on all of them)', () => {
    const events = [...mirrored(4), ...mirrored(4).map((e) => ({ ...e, agent_id: 'a2', event_id: `${e.event_id}-2`, time: e.time + 20 * SEC }))];
    const out = run(events.sort((x, y) => x.time - y.time));
    expect(out.map((d) => [d.agent_id, d.severity])).toEqual([
      ['a1', 'medium'],
      ['a2', 'medium'],
    ]);
  });

  it('is nothing when other agents of the blueprint already send their own work to the new host (a vendor switch with a parallel run)', () => {
    // a2 and a3 moved to the new vendor: their sends go there alone, 8 each, before a1's parallel run.
    const moved: AgentEvent[] = [];
    for (let k = 0; k < 8; k++) {
      moved.push(copy(T0 - 20 * MIN + k * MIN, 30_000 + k * 100, { agent_id: 'a2', event_id: `m2-${k}` }));
      moved.push(copy(T0 - 20 * MIN + k * MIN + 20 * SEC, 31_000 + k * 100, { agent_id: 'a3', event_id: `m3-${k}` }));
    }
    expect(run([...moved, ...mirrored(5)].sort((x, y) => x.time - y.time))).toEqual([]);
    // Four sends of their own there are too few to tell a move: a1's copies are reported.
    resetIds();
    const out = run([...moved.slice(0, 4), ...mirrored(5)].sort((x, y) => x.time - y.time));
    expect(out.map((d) => [d.agent_id, d.severity])).toEqual([['a1', 'medium']]);
    // Sends there outnumbered by copies (every agent copying, a few copies missed by their pairing): reported.
    resetIds();
    const everywhere = [...mirrored(5), ...mirrored(5).map((e) => ({ ...e, agent_id: 'a2', event_id: `${e.event_id}-2`, time: e.time + 20 * SEC }))];
    for (let k = 0; k < 7; k++) everywhere.push(copy(T0 + k * 2 * MIN + 90 * SEC, 20_000, { agent_id: 'a3', event_id: `x3-${k}` }));
    expect(run(everywhere.sort((x, y) => x.time - y.time)).map((d) => d.agent_id)).toEqual(['a1', 'a2']);
  });

  it('is nothing when the requests to the new host do not track the sends', () => {
    // Sizes of their own, or too late after the send.
    expect(run(mirrored(5, 800, 9_000))).toEqual([]);
    expect(run(mirrored(5, 4_000))).toEqual([]);
    // Three copies among ten sends there: not a shadow stream.
    const events = mirrored(3);
    for (let k = 0; k < 7; k++) events.push(copy(T0 + 10 * MIN + k * 40 * SEC, 50_000 + k * 7_000));
    expect(run(events)).toEqual([]);
  });

  it('ignores copies to model providers or agents, between hosts of one category, and to hosts the blueprint uses', () => {
    expect(run(mirrored(5).map((e) => (e.type === 'network' && e.dest_host === COLLECTOR ? { ...e, category: 'llm_provider' } : e)))).toEqual([]);
    expect(run(mirrored(5).map((e) => (e.type === 'network' && e.dest_host === COLLECTOR ? { ...e, category: 'api' } : e)))).toEqual([]);
    const known = [...history(), ...mirrored(0)];
    known.unshift(copy(T0 - 7 * HOUR, 8_000, { agent_id: 'a2' }));
    const d = createMirroredUploadDetector();
    const ctx = fakeContext();
    feed(d, ctx, known);
    expect(feed(d, ctx, [...mirrored(5), send(T0 + 30 * MIN, 5_000, { agent_id: 'a3' })])).toEqual([]);
  });

  it('ignores small requests, blocked ones and private destinations', () => {
    const small = mirrored(5).map((e) => (e.type === 'network' ? { ...e, bytes_out: 2_000 } : e));
    expect(run(small)).toEqual([]);
    const blocked = mirrored(5).map((e) => (e.type === 'network' && e.dest_host === COLLECTOR ? { ...e, action: 'blocked' as const } : e));
    expect(run(blocked)).toEqual([]);
    const internal = mirrored(5).map((e) => (e.type === 'network' && e.dest_host === COLLECTOR ? { ...e, dest_host: 'logs.corp.local', dest_ip: '10.2.3.4' } : e));
    expect(run(internal)).toEqual([]);
  });

  it('reports an agent once a day, and survives snapshot and restore', () => {
    const events = [...history(), ...mirrored(8)];
    // The same agent mirrors again to another collector an hour later: within the day, nothing more.
    for (let k = 0; k < 4; k++) {
      const t = T0 + HOUR + k * 2 * MIN;
      events.push(send(t, 20_000), copy(t + 300, 20_400, { dest_host: 'relay2.example.shop' }));
    }
    events.push(send(T0 + 3 * HOUR, 5_000, { agent_id: 'a3' }));
    const d = createMirroredUploadDetector();
    expect(feed(d, fakeContext(), events).map((x) => x.severity)).toEqual(['medium']);
    for (const split of [26, 29, 31]) {
      const { uninterrupted, restored } = runWithRestore(createMirroredUploadDetector, events, split);
      expect(restored).toEqual(uninterrupted);
      expect(uninterrupted).toHaveLength(1);
    }
  });
});

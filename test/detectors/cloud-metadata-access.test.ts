import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../contract/events.js';
import { alternateSpelling, createCloudMetadataAccessDetector, inetAton } from '../../detectors/cloud-metadata-access.js';
import { DAY, HOUR, MIN, SEC, T0, advanceTo, fakeContext, feed, network, resetIds, runWithRestore } from './helpers/context.js';

beforeEach(() => resetIds());

const IMDS = '169.254.169.254';
const WIRESERVER = '168.63.129.16';

/** An hour of ordinary API traffic from bp1 agents a1, a2, a3. */
function history(): AgentEvent[] {
  const out: AgentEvent[] = [];
  for (let t = T0; t < T0 + HOUR; t += 5 * MIN) {
    for (const [i, a] of ['a1', 'a2', 'a3'].entries()) out.push(network({ agent_id: a, time: t + i * SEC }));
  }
  return out;
}

const T1 = T0 + HOUR;
const meta = (o: Partial<Parameters<typeof network>[0]> = {}) =>
  network({ agent_id: 'a1', time: T1, dest_host: IMDS, dest_ip: IMDS, dest_port: 80, category: 'uncategorized', bytes_out: 400, bytes_in: 1_800, ...o });

function run(events: AgentEvent[], until = T1 + 40 * MIN, before: AgentEvent[] = history()) {
  const d = createCloudMetadataAccessDetector();
  const ctx = fakeContext();
  feed(d, ctx, before);
  const out = feed(d, ctx, events);
  return out.concat(advanceTo(d, ctx, until));
}

describe('cloud-metadata-access', () => {
  it('fires medium two minutes after an agent reaches the instance metadata service, with what it reached and got', () => {
    const out = run([meta(), meta({ time: T1 + 20 * SEC, bytes_in: 4_500 })]);
    expect(out.map((x) => [x.agent_id, x.severity, x.time])).toEqual([['a1', 'medium', T1 + 2 * MIN]]);
    expect(out[0]!.summary).toContain(`instance metadata service (Azure IMDS, AWS, GCP, OCI) at ${IMDS} (port 80; 2 connections, 6 KiB back)`);
    expect(out[0]!.evidence.observed).toMatchObject({ endpoint: IMDS, ports: [80], allowed: 2, blocked: 0, bytes_in: 6_300 });
    expect(out[0]!.evidence.peer_group).toBe('blueprint:bp1');
    expect(out[0]!.event_ids).toHaveLength(2);
  });

  it('fires on Azure WireServer\'s goal state and extension settings ports, but not on its DNS port', () => {
    const ws = (port: number, dt: number) => meta({ dest_host: WIRESERVER, dest_ip: WIRESERVER, dest_port: port, time: T1 + dt });
    const out = run([ws(80, 0), ws(32526, 3 * SEC), ws(80, 6 * SEC)]);
    expect(out).toHaveLength(1);
    expect(out[0]!.evidence.observed).toMatchObject({ endpoint: WIRESERVER, ports: [80, 32526], allowed: 3 });
    expect(run([ws(53, 0), ws(53, 30 * SEC)])).toEqual([]);
  });

  it('is low when the gateway blocked every attempt', () => {
    const out = run([meta({ action: 'blocked', bytes_in: 0 })]);
    expect(out.map((x) => x.severity)).toEqual(['low']);
    expect(out[0]!.summary).toContain('1 attempt, all blocked by the gateway');
  });

  it('recognises the endpoint written another way when the gateway gives no resolved address', () => {
    for (const host of ['2852039166', '0xa9fea9fe', '0251.0376.0251.0376', '[::ffff:a9fe:a9fe]', '::ffff:169.254.169.254', 'METADATA.google.internal.']) {
      resetIds();
      expect(run([meta({ dest_host: host, dest_ip: null })]).map((x) => x.severity), host).toEqual(['medium']);
    }
    expect(inetAton('169.254.43518')).toBe(IMDS);
    expect(inetAton('1.2.3.4.5')).toBeNull();
    expect(inetAton('256.1.1.1')).toBeNull();
    // Ordinary hosts are screened out without parsing.
    expect(alternateSpelling('20.1.2.3')).toBeNull();
    expect(alternateSpelling('graph.microsoft.com')).toBeNull();
  });

  it('stays quiet when two other agents of the blueprint reach the endpoint within the half hour (a runtime that reads it)', () => {
    const rollout = ['a1', 'a2', 'a3'].map((a, i) => meta({ agent_id: a, time: T1 + i * 40 * SEC }));
    expect(run(rollout)).toEqual([]);
    // One other agent is not enough: the two are reported.
    expect(run(rollout.slice(0, 2)).map((x) => x.agent_id)).toEqual(['a1', 'a2']);
    // Another blueprint's agents do not vouch for it.
    resetIds();
    const others = ['b1', 'b2'].map((a, i) => meta({ agent_id: a, blueprint_id: 'bp2', time: T1 + (i + 1) * 20 * SEC }));
    expect(run([meta(), ...others]).map((x) => x.agent_id)).toEqual(['a1', 'b1', 'b2']);
  });

  it('stays quiet for the agent\'s own habit and for the blueprint\'s endpoint, 6 hours or more old', () => {
    // a1 read the metadata service a day ago with the blueprint's rollout (not reported), and alone now.
    const d = createCloudMetadataAccessDetector();
    const ctx = fakeContext();
    const rollout = ['a1', 'a2', 'a3'].map((a, i) => meta({ agent_id: a, time: T1 - DAY - HOUR + i * MIN }));
    expect(feed(d, ctx, rollout).concat(advanceTo(d, ctx, T1 - DAY))).toEqual([]);
    feed(d, ctx, history());
    expect(feed(d, ctx, [meta({ time: T1 + 2 * HOUR })]).concat(advanceTo(d, ctx, T1 + 3 * HOUR))).toEqual([]);
    // Reported a day ago, it is no habit: reported again.
    resetIds();
    const e = createCloudMetadataAccessDetector();
    const ectx = fakeContext();
    expect(feed(e, ectx, [meta({ time: T1 - DAY - HOUR })]).concat(advanceTo(e, ectx, T1 - DAY)).map((x) => x.severity)).toEqual(['medium']);
    expect(feed(e, ectx, [meta({ time: T1 + 2 * HOUR })]).concat(advanceTo(e, ectx, T1 + 3 * HOUR)).map((x) => x.severity)).toEqual(['medium']);
    // Three agents of bp1 have used it for over a day; a fourth starts now.
    const routine = ['a1', 'a2', 'a3'].flatMap((a, i) => [meta({ agent_id: a, time: T0 - 7 * HOUR + i * MIN }), meta({ agent_id: a, time: T0 - 7 * HOUR + 5 * MIN + i * MIN })]).sort((x, y) => x.time - y.time);
    expect(run([meta({ agent_id: 'a4', time: T1 })], T1 + HOUR, [...routine, ...history()])).toEqual([]);
    // Three agents reported for it over the day do not make it the blueprint's.
    resetIds();
    const attacked = ['a1', 'a2', 'a3'].map((a, i) => meta({ agent_id: a, time: T1 - 8 * HOUR + i * 2 * HOUR }));
    expect(run([...attacked, meta({ agent_id: 'a4', time: T1 })], T1 + HOUR, history()).map((x) => x.agent_id)).toEqual(['a1', 'a2', 'a3', 'a4']);
    // Three agents 3 hours ago are no routine yet: the fourth is reported.
    resetIds();
    const recent = ['a1', 'a2', 'a3'].map((a, i) => meta({ agent_id: a, time: T1 - 3 * HOUR + i * MIN }));
    expect(run([meta({ agent_id: 'a4', time: T1 })], T1 + HOUR, [...history(), ...recent]).map((x) => x.agent_id)).toEqual(['a4']);
  });

  it('takes a release that added a metadata call to every start (8 agents) for the blueprint\'s, however recent', () => {
    const release = Array.from({ length: 8 }, (_, i) => meta({ agent_id: `r${i}`, time: T1 - 2 * HOUR + i * MIN }));
    // A lone start an hour and a half later, after a lull.
    expect(run([meta({ agent_id: 'r9', time: T1 })], T1 + HOUR, [...history(), ...release])).toEqual([]);
    // Seven are not enough.
    resetIds();
    expect(run([meta({ agent_id: 'r9', time: T1 })], T1 + HOUR, [...history(), ...release.slice(1)]).map((x) => x.agent_id)).toEqual(['r9']);
  });

  it('reports an agent once a day, and ignores ordinary destinations', () => {
    const again = [meta(), meta({ time: T1 + 30 * MIN }), meta({ time: T1 + 25 * HOUR })];
    const out = run(again, T1 + 26 * HOUR);
    expect(out.map((x) => x.time)).toEqual([T1 + 2 * MIN, T1 + 25 * HOUR + 2 * MIN]);
    expect(run([network({ agent_id: 'a1', time: T1, dest_host: 'api.example.com', dest_ip: '20.30.40.50' }), network({ agent_id: 'a1', time: T1 + SEC, dest_host: '169.254.169.123', dest_port: 123 })])).toEqual([]);
  });

  it('keeps waiting contacts and the blueprint\'s uses across a snapshot and restore', () => {
    const events = [...history(), meta(), meta({ agent_id: 'a2', time: T1 + 30 * SEC }), meta({ time: T1 + 40 * SEC, dest_port: 8080 }), network({ agent_id: 'a3', time: T1 + 10 * MIN })];
    const { uninterrupted, restored } = runWithRestore(createCloudMetadataAccessDetector, events, events.length - 3);
    expect(uninterrupted.map((x) => x.agent_id)).toEqual(['a1', 'a2']);
    expect(uninterrupted[0]!.evidence.observed).toMatchObject({ ports: [80, 8080], allowed: 2 });
    expect(restored).toEqual(uninterrupted);
  });
});

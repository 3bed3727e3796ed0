import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent, NetworkEvent } from '../../contract/events.js';
import { MAX_HOSTS, createInternalReachDetector } from '../../detectors/internal-reach.js';
import { DAY, HOUR, MIN, SEC, T0, advanceTo, fakeContext, feed, lifecycle, network, resetIds, runWithRestore } from './helpers/context.js';

beforeEach(() => resetIds());

/** A call of `agent` to the internal host 10.80.`net`.`host` that answers. */
const call = (agent: string, net: number, host: number, t: number, o: Partial<NetworkEvent> = {}) =>
  network({ agent_id: agent, time: t, dest_host: `10.80.${net}.${host}`, dest_ip: `10.80.${net}.${host}`, dest_port: 8080, category: 'api', bytes_out: 900, bytes_in: 6_000, ...o });

/** Three hours of `agents` each calling their encoders and audio taps (10.80.40.21-23) every 5 minutes. */
function footprint(agents: string[], from = T0, until = T0 + 3 * HOUR): AgentEvent[] {
  const out: AgentEvent[] = [];
  for (let t = from; t < until; t += 5 * MIN) agents.forEach((a, i) => out.push(call(a, 40, 21 + ((t / MIN + i) % 3), t + i * SEC)));
  return out;
}

/** `agent` reaching `n` hosts of 10.80.50.x, `gapS` seconds apart, from `start`. */
const reach = (agent: string, n: number, start: number, gapS = 20, o: Partial<NetworkEvent> = {}, net = 50) =>
  Array.from({ length: n }, (_, i) => call(agent, net, 41 + i, start + i * gapS * SEC, { event_id: `${agent}-r${net}-${i}`, dest_port: i === 0 ? 8010 : 80, ...o }));

const AT = T0 + 3 * HOUR;

function run(events: AgentEvent[], until = AT + HOUR, d = createInternalReachDetector()) {
  const ctx = fakeContext();
  const sorted = [...events].sort((x, y) => x.time - y.time);
  return feed(d, ctx, sorted).concat(advanceTo(d, ctx, until));
}

describe('internal-reach', () => {
  it('is medium 10 minutes after an agent reaches its 6th internal host new to its blueprint, its peers not following, naming them, once', () => {
    const out = run([...footprint(['a1', 'a2', 'a3'], T0, AT + HOUR), ...reach('a1', 8, AT)]);
    expect(out.map((d) => [d.agent_id, d.severity, d.time])).toEqual([['a1', 'medium', AT + 5 * 20 * SEC + 10 * MIN]]);
    expect(out[0]!.summary).toContain('reached 8 internal hosts its blueprint never reached within 2 min (ports 8010, 80; e.g. 10.80.50.41, 10.80.50.42, 10.80.50.43)');
    expect(out[0]!.summary).toContain('none of them followed by its blueprint');
    expect(out[0]!.evidence.observed).toMatchObject({ new_hosts: 8, ports: [8010, 80] });
    expect(out[0]!.evidence.baseline).toMatchObject({ blueprint_hosts_known: 3, hosts_followed_by_blueprint: 0 });
    expect(out[0]!.event_ids).toContain('a1-r50-7');
    // Hosts reached while it waits join the finding, though the first ones leave the 10-minute window meanwhile.
    const slow = run([...footprint(['a1', 'a2', 'a3'], T0, AT + HOUR), ...reach('a1', 7, AT, 100)]);
    expect(slow.map((d) => (d.evidence.observed as { new_hosts: number }).new_hosts)).toEqual([7]);
    // More new hosts within the hour: no second finding.
    expect(run([...footprint(['a1', 'a2', 'a3'], T0, AT + HOUR), ...reach('a1', 8, AT), ...reach('a1', 8, AT + 30 * MIN, 20, {}, 51)])).toHaveLength(1);
  });

  it('takes hosts the blueprint followed its agent to within the 10 minutes as a deployment; the hosts reached first by each of several agents do not add up', () => {
    const base = footprint(['a1', 'a2', 'a3'], T0, AT + HOUR);
    // A release points every agent at a new six-node cluster: the others follow a1 within minutes.
    expect(run([...base, ...reach('a1', 6, AT), ...reach('a2', 6, AT + 3 * MIN), ...reach('a3', 6, AT + 5 * MIN)])).toEqual([]);
    // The agents start together, each the first to some of the nodes.
    const together = [0, 1, 2, 3, 4, 5].map((i) => call(['a1', 'a2', 'a3'][i % 3]!, 50, 41 + i, AT + i * SEC));
    const all = [...together, ...[0, 1, 2, 3, 4, 5].flatMap((i) => ['a1', 'a2', 'a3'].map((a, k) => call(a, 50, 41 + i, AT + MIN + (3 * i + k) * SEC)))];
    expect(run([...base, ...all])).toEqual([]);
    // One follower reaching a single host of the eight is no deployment.
    expect(run([...base, ...reach('a1', 8, AT), call('a2', 50, 41, AT + 4 * MIN)]).map((d) => d.severity)).toEqual(['medium']);
  });

  it('is low for three agents of one blueprint reaching new hosts of their own within minutes of each other: a job split among them (a scanner\'s run)', () => {
    const base = footprint(['a1', 'a2', 'a3'], T0, AT + HOUR);
    const scan = [...reach('a1', 8, AT, 20, {}, 51), ...reach('a2', 8, AT + 4 * MIN, 20, {}, 52), ...reach('a3', 8, AT + 8 * MIN, 20, {}, 53)];
    const out = run([...base, ...scan]);
    expect(out.map((d) => [d.agent_id, d.severity])).toEqual([
      ['a1', 'low'],
      ['a2', 'low'],
      ['a3', 'low'],
    ]);
    expect(out[0]!.summary).toContain('a job of the blueprint split among its agents');
    // Two others reaching a host or two each (a file share, an application server) are no job.
    const few = [...reach('a1', 8, AT, 20, {}, 51), ...reach('a2', 2, AT + 4 * MIN, 20, {}, 52), ...reach('a3', 2, AT + 6 * MIN, 20, {}, 53)];
    expect(run([...base, ...few]).map((d) => [d.agent_id, d.severity])).toEqual([['a1', 'medium']]);
    // One other agent doing the same is no job: two intruders, or one agent's pivot beside another's.
    expect(run([...base, ...scan.filter((e) => e.agent_id !== 'a3')]).map((d) => [d.agent_id, d.severity])).toEqual([
      ['a1', 'medium'],
      ['a2', 'medium'],
    ]);
  });

  it('is medium too for an agent whose blueprint never worked inside the network, and for one alone in its blueprint', () => {
    // Its blueprint's agents call only public APIs for three hours.
    const publicOnly: AgentEvent[] = [];
    for (let t = T0; t < AT + HOUR; t += 5 * MIN) for (const a of ['a1', 'a2']) publicOnly.push(network({ agent_id: a, time: t, dest_host: 'api.example.com' }));
    expect(run([...publicOnly, ...reach('a1', 6, AT)]).map((d) => [d.agent_id, d.severity])).toEqual([['a1', 'medium']]);
    expect(run([...footprint(['a1'], T0, AT + HOUR), ...reach('a1', 6, AT)]).map((d) => [d.agent_id, d.severity])).toEqual([['a1', 'medium']]);
  });

  it('counts only answered, allowed calls to private addresses new to the blueprint on ports of no other family, after 2 hours of learning', () => {
    const base = footprint(['a1', 'a2'], T0, AT + HOUR);
    expect(run([...base, ...reach('a1', 5, AT)])).toEqual([]);
    // Within the blueprint's first 2 hours its footprint is being learned; so for one created days before the stream (a replay
    // starting now has seen nothing of where it goes).
    expect(run([...footprint(['a1', 'a2'], T0, T0 + 2 * HOUR), ...reach('a1', 8, T0 + HOUR)], T0 + 3 * HOUR)).toEqual([]);
    const created = ['a1', 'a2'].map((a) => lifecycle({ agent_id: a, action: 'created', sponsor_id: 's1', actor: 'admin', time: T0 - 3 * DAY }));
    expect(run([...created, ...footprint(['a1', 'a2'], T0, T0 + 2 * HOUR), ...reach('a1', 8, T0 + 30 * MIN)], T0 + 3 * HOUR)).toEqual([]);
    // Hosts its blueprint reached before, however long ago.
    expect(run([...base, ...reach('a2', 8, T0 + 10 * MIN), ...reach('a1', 8, AT)])).toEqual([]);
    // Connection attempts nothing answers (network-discovery's), blocked calls, public addresses, calls to agents.
    expect(run([...base, ...reach('a1', 8, AT, 20, { bytes_in: 0 })])).toEqual([]);
    expect(run([...base, ...reach('a1', 8, AT, 20, { action: 'blocked' })])).toEqual([]);
    expect(run([...base, ...reach('a1', 8, AT).map((e) => ({ ...e, dest_ip: e.dest_ip!.replace('10.80.', '52.80.'), dest_host: e.dest_host.replace('10.80.', '52.80.') }))])).toEqual([]);
    expect(run([...base, ...reach('a1', 8, AT, 20, { dest_agent_id: 'worker' })])).toEqual([]);
    // PLCs on Modbus, LPARs on TN3270, workstations over WinRM: those detectors' findings; resolvers and time servers.
    for (const dest_port of [502, 23, 5985, 53, 123]) expect(run([...base, ...reach('a1', 8, AT, 20, { dest_port })])).toEqual([]);
    // Spread over more than 10 minutes: 5 within any window.
    expect(run([...base, ...reach('a1', 8, AT, 150)])).toEqual([]);
  });

  it('does not judge a blueprint that reaches any internal host (a monitor); a reported agent teaches its blueprint nothing', () => {
    const monitor: AgentEvent[] = [];
    for (let i = 0; i < MAX_HOSTS; i++) monitor.push(call('m1', 60 + (i >> 8), i & 255, T0 + i * 10 * SEC));
    expect(run([...footprint(['a1', 'm1'], T0, AT + HOUR), ...monitor, ...reach('a1', 8, AT)])).toEqual([]);
    // a1 reported, a2 going through the same hosts 2 hours later is judged as a1 was.
    const twice = run([...footprint(['a1', 'a2', 'a3'], T0, AT + 4 * HOUR), ...reach('a1', 8, AT), ...reach('a2', 8, AT + 2 * HOUR)], AT + 4 * HOUR);
    expect(twice.map((d) => [d.agent_id, d.severity])).toEqual([
      ['a1', 'medium'],
      ['a2', 'medium'],
    ]);
  });

  it('decides a waiting finding the same after a snapshot and restore', () => {
    const events = [...footprint(['a1', 'a2'], T0, AT + HOUR), ...reach('a1', 8, AT)].sort((x, y) => x.time - y.time);
    const split = events.findIndex((e) => e.event_id === 'a1-r50-6');
    const { uninterrupted, restored } = runWithRestore(() => createInternalReachDetector(), events, split);
    expect(uninterrupted.map((d) => d.severity)).toEqual(['medium']);
    expect(restored).toEqual(uninterrupted);
  });
});

import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../contract/events.js';
import { createForeignWorkloadNetworkDetector } from '../../detectors/foreign-workload-network.js';
import { HOUR, MIN, SEC, T0, fakeContext, feed, network, resetIds, runWithRestore, signin } from './helpers/context.js';

beforeEach(() => resetIds());

const HOME = '20.42.10.7'; // bp1's egress
const DEVOPS = '20.96.59.200'; // bp-devops's egress: same cloud, same region

/** Two hours of bp1 agents a1, a2 signing in from HOME and bp-devops agents d1, d2 from DEVOPS, every 10 minutes. */
function history(): AgentEvent[] {
  const out: AgentEvent[] = [];
  for (let t = T0; t < T0 + 2 * HOUR; t += 10 * MIN) {
    for (const a of ['a1', 'a2']) out.push(signin({ agent_id: a, ip: HOME, time: t }));
    for (const d of ['d1', 'd2']) out.push(signin({ agent_id: d, blueprint_id: 'bp-devops', ip: DEVOPS.replace(/\d+$/, d === 'd1' ? '200' : '201'), time: t + SEC }));
  }
  return out;
}

const T2 = T0 + 2 * HOUR;
const run = (events: AgentEvent[]) => {
  const d = createForeignWorkloadNetworkDetector();
  const ctx = fakeContext();
  feed(d, ctx, history());
  return feed(d, ctx, events);
};

describe('foreign-workload-network', () => {
  it('fires medium when an agent credential signs in from another blueprint network while the agent keeps signing in at home', () => {
    const out = run([signin({ agent_id: 'a1', ip: DEVOPS, time: T2 + MIN }), signin({ agent_id: 'a1', ip: HOME, time: T2 + 12 * MIN })]);
    expect(out.map((x) => [x.agent_id, x.severity, x.time])).toEqual([['a1', 'medium', T2 + 12 * MIN]]);
    expect(out[0]!.summary).toContain(`signed in from ${DEVOPS}, in the network of blueprint:bp-devops of its tenant`);
    expect(out[0]!.evidence.observed).toMatchObject({ foreign_ip: DEVOPS, back_home_ip: HOME });
    expect(out[0]!.event_ids).toHaveLength(2);
  });

  it('takes a call from home a minute or more after the foreign sign-in as the agent still at home, not one in flight', () => {
    const call = (t: number) => network({ agent_id: 'a1', ip: HOME, time: t });
    expect(run([signin({ agent_id: 'a1', ip: DEVOPS, time: T2 + MIN }), call(T2 + MIN + 20 * SEC)])).toEqual([]);
    expect(run([signin({ agent_id: 'a1', ip: DEVOPS, time: T2 + MIN }), call(T2 + 4 * MIN)]).map((x) => x.time)).toEqual([T2 + 4 * MIN]);
  });

  it('stays quiet for a move (never home again within the hour), a move of the blueprint into the shared network, or a network no other blueprint uses', () => {
    // Moved: home again only after the hour.
    expect(run([signin({ agent_id: 'a1', ip: DEVOPS, time: T2 + MIN }), signin({ agent_id: 'a1', ip: HOME, time: T2 + 70 * MIN })])).toEqual([]);
    // The blueprint moving into the devops cluster: a2 follows a1 there before a1 is seen at home again.
    expect(
      run([signin({ agent_id: 'a1', ip: DEVOPS, time: T2 + MIN }), signin({ agent_id: 'a2', ip: '20.96.59.202', time: T2 + 3 * MIN }), signin({ agent_id: 'a1', ip: HOME, time: T2 + 12 * MIN })]),
    ).toEqual([]);
    // A network nobody in the tenant signs in from (another detector's business: a new place).
    expect(run([signin({ agent_id: 'a1', ip: '20.77.1.1', time: T2 + MIN }), signin({ agent_id: 'a1', ip: HOME, time: T2 + 12 * MIN })])).toEqual([]);
    // Another tenant's devops network is not this tenant's workload.
    expect(run([signin({ agent_id: 'a1', tenant_id: 't2', ip: HOME, time: T2 }), signin({ agent_id: 'a1', tenant_id: 't2', ip: DEVOPS, time: T2 + MIN }), signin({ agent_id: 'a1', tenant_id: 't2', ip: HOME, time: T2 + 12 * MIN })])).toEqual([]);
    // Private addresses (a VNet's, shared by every blueprint in it) are not judged.
    const priv: AgentEvent[] = [signin({ agent_id: 'd1', blueprint_id: 'bp-devops', ip: '10.1.2.3', time: T2 }), signin({ agent_id: 'a1', ip: '10.1.2.9', time: T2 + MIN }), signin({ agent_id: 'a1', ip: HOME, time: T2 + 12 * MIN })];
    expect(run(priv)).toEqual([]);
  });

  it('does not judge sign-ins from a security service edge\'s egress (by address or by ASN), which every workload steered through the company\'s web gateway shares', () => {
    // The devops blueprint leaves through Zscaler first; a1 is cut over to it while still signing in at home.
    const sse = (agent: string, ip: string, t: number, asn: number | null) => signin({ agent_id: agent, blueprint_id: agent === 'd1' ? 'bp-devops' : 'bp1', ip, asn, time: t });
    for (const [ip, asn] of [
      ['165.225.40.12', null],
      ['165.201.77.9', 53813],
    ] as const) {
      expect(run([sse('d1', ip, T2, asn), sse('a1', ip, T2 + MIN, asn), signin({ agent_id: 'a1', ip: HOME, time: T2 + 12 * MIN })]), ip).toEqual([]);
    }
    // The same address under an ordinary ASN is a workload's network like any other.
    expect(run([sse('d1', '165.201.77.9', T2 - 40 * MIN, 8075), sse('a1', '165.201.77.9', T2 + MIN, 8075), signin({ agent_id: 'a1', ip: HOME, time: T2 + 12 * MIN })]).map((x) => x.agent_id)).toEqual(['a1']);
  });

  it('takes no network for another workload\'s host that its blueprint took up minutes before (workloads moved together), nor one more blueprints share than are kept (a region\'s NAT gateway)', () => {
    const NEW = '102.133.27.162';
    const at = (agent: string, bp: string, ip: string, t: number) => signin({ agent_id: agent, blueprint_id: bp, ip, time: t });
    // The devops blueprint and a1 move to a new region's address within minutes; a1 goes back and forth (active-active).
    expect(run([at('d1', 'bp-devops', NEW, T2), at('a1', 'bp1', NEW, T2 + 5 * MIN), at('a1', 'bp1', HOME, T2 + 8 * MIN)])).toEqual([]);
    // The devops blueprint there for 40 minutes already: its host.
    expect(run([at('d1', 'bp-devops', NEW, T2 - 40 * MIN), at('a1', 'bp1', NEW, T2 + 5 * MIN), at('a1', 'bp1', HOME, T2 + 8 * MIN)]).map((x) => x.agent_id)).toEqual(['a1']);
    // Six blueprints sign in from one /24 all day: a NAT gateway no one owns, where bp1's own use fell out of the 4 kept.
    const nat = '20.87.80.';
    const shared: AgentEvent[] = [];
    for (let k = 0; k < 6; k++) shared.push(at(`s${k}`, `bp-s${k}`, `${nat}${10 + k}`, T2 - 60 * MIN + k * MIN));
    expect(run([...shared, at('a1', 'bp1', `${nat}77`, T2 + 5 * MIN), at('a1', 'bp1', HOME, T2 + 8 * MIN)])).toEqual([]);
  });

  it('fires for a second credential stolen on the same host: a flagged agent\'s sessions there do not make the network its blueprint\'s', () => {
    const out = run([
      signin({ agent_id: 'a1', ip: DEVOPS, time: T2 + MIN }),
      signin({ agent_id: 'a1', ip: HOME, time: T2 + 3 * MIN }),
      // The thief goes on with a1's credential, then uses a2's from the same host.
      signin({ agent_id: 'a1', ip: DEVOPS, time: T2 + 4 * MIN }),
      signin({ agent_id: 'a2', ip: DEVOPS, time: T2 + 5 * MIN }),
      signin({ agent_id: 'a1', ip: DEVOPS, time: T2 + 6 * MIN }),
      signin({ agent_id: 'a2', ip: HOME, time: T2 + 12 * MIN }),
    ]);
    expect(out.map((x) => [x.agent_id, x.time])).toEqual([
      ['a1', T2 + 3 * MIN],
      ['a2', T2 + 12 * MIN],
    ]);
  });

  it('fires once per agent per day', () => {
    const twice = [
      signin({ agent_id: 'a1', ip: DEVOPS, time: T2 + MIN }),
      signin({ agent_id: 'a1', ip: HOME, time: T2 + 12 * MIN }),
      signin({ agent_id: 'a1', ip: '20.96.59.210', time: T2 + 2 * HOUR }),
      signin({ agent_id: 'a1', ip: HOME, time: T2 + 2 * HOUR + 10 * MIN }),
    ];
    expect(run(twice)).toHaveLength(1);
  });

  it('gives the same findings after a snapshot and restore, and forgets idle state', () => {
    const events = [...history(), signin({ agent_id: 'a1', ip: DEVOPS, time: T2 + MIN }), signin({ agent_id: 'a1', ip: HOME, time: T2 + 12 * MIN })];
    const { uninterrupted, restored } = runWithRestore(() => createForeignWorkloadNetworkDetector(), events, events.length - 1);
    expect(uninterrupted).toHaveLength(1);
    expect(restored).toEqual(uninterrupted);
    const d = createForeignWorkloadNetworkDetector();
    feed(d, fakeContext(), events);
    expect(d.size()).toBeGreaterThan(0);
    d.evict(T2 + 2 * 24 * HOUR);
    expect(d.size()).toBe(0);
  });
});

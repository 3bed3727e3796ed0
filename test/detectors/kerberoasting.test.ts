import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent, NetworkEvent } from '../../contract/events.js';
import { createKerberoastingDetector } from '../../detectors/kerberoasting.js';
import { HOUR, MIN, SEC, T0, fakeContext, feed, network, resetIds, runWithRestore } from './helpers/context.js';

beforeEach(() => resetIds());

const DC = '10.20.0.4';
const kdc = (agent: string, t: number, o: Partial<NetworkEvent> = {}) =>
  network({ agent_id: agent, time: t, dest_host: 'dc01.corp.contoso.com', dest_ip: DC, dest_port: 88, category: 'uncategorized', bytes_out: 1_600, bytes_in: 1_500, ...o });
const ldap = (agent: string, t: number) => network({ agent_id: agent, time: t, dest_host: 'dc01.corp.contoso.com', dest_ip: DC, dest_port: 389, category: 'uncategorized', bytes_out: 900, bytes_in: 120_000 });

/** `n` ticket requests by `agent`, `gapS` seconds apart from `start`. */
const roast = (agent: string, n: number, start = T0, gapS = 3) => Array.from({ length: n }, (_, i) => kdc(agent, start + i * gapS * SEC, { event_id: `${agent}-k${i}` }));

const run = (events: AgentEvent[], d = createKerberoastingDetector()) => feed(d, fakeContext(), [...events].sort((x, y) => x.time - y.time));

describe('kerberoasting', () => {
  it('is medium at the 20th Kerberos request within 5 minutes by an agent of a blueprint that does not speak Kerberos', () => {
    const out = run(roast('a1', 60));
    expect(out.map((d) => [d.severity, d.agent_id, d.time])).toEqual([['medium', 'a1', T0 + 19 * 3 * SEC]]);
    expect(out[0]!.summary).toContain('made 20 Kerberos requests (port 88) to 10.20.0.4');
    expect(out[0]!.summary).toContain('its blueprint does not speak Kerberos');
    expect(out[0]!.evidence.observed).toMatchObject({ kerberos_requests: 20, controllers: [DC], ldap_query_at: null });
    expect(out[0]!.event_ids).toEqual(['a1-k16', 'a1-k17', 'a1-k18', 'a1-k19']);
  });

  it('needs only 10 after an LDAP query within 15 minutes (the SPNs listed first); 19 without one, or spread over more than 5 minutes, are nothing', () => {
    const listed = run([ldap('a1', T0 - 2 * MIN), ...roast('a1', 12)]);
    expect(listed.map((d) => d.time)).toEqual([T0 + 9 * 3 * SEC]);
    expect(listed[0]!.summary).toContain('minutes after an LDAP query');
    expect(run(roast('a1', 19))).toEqual([]);
    // One request every 20 s: 15 within any 5 minutes.
    expect(run(roast('a1', 60, T0, 20))).toEqual([]);
    // The LDAP query 20 minutes before: the usual bar.
    expect(run([ldap('a1', T0 - 20 * MIN), ...roast('a1', 12)])).toEqual([]);
  });

  it('judges an agent of a domain-joined blueprint (2 agents speaking Kerberos for an hour) by max(50, 5x its agents\' largest 5 minutes)', () => {
    // Agents a2 and a3 ask for a ticket or two every 10 minutes, a3 once 8 within a minute (a service restart).
    const daily: AgentEvent[] = [];
    for (let t = T0 - 2 * HOUR; t < T0; t += 10 * MIN) daily.push(kdc('a2', t), kdc('a3', t + SEC));
    daily.push(...roast('a3', 8, T0 - 30 * MIN));
    expect(run([...daily, ...roast('a1', 45)])).toEqual([]);
    const out = run([...daily, ...roast('a1', 60)]);
    expect(out.map((d) => [d.agent_id, d.time])).toEqual([['a1', T0 + 49 * 3 * SEC]]);
    expect(out[0]!.evidence.baseline).toMatchObject({ blueprint_speaks_kerberos: true, blueprint_max_requests_per_window: 9 }); // the restart's 8 and its usual one
  });

  it('reports once an hour, and ignores other ports', () => {
    expect(run([...roast('a1', 30), ...roast('a1', 30, T0 + 20 * MIN)]).map((d) => d.time)).toEqual([T0 + 19 * 3 * SEC]);
    expect(run(roast('a1', 60).map((e) => ({ ...e, dest_port: 443 })))).toEqual([]);
  });

  it('keeps its state across a snapshot and restore', () => {
    const events = [ldap('a1', T0 - 2 * MIN), ...roast('a1', 30)];
    for (const split of [1, 5, 8]) {
      const { uninterrupted, restored } = runWithRestore(createKerberoastingDetector, events, split);
      expect(restored).toEqual(uninterrupted);
      expect(uninterrupted).toHaveLength(1);
    }
  });
});

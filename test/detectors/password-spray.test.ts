import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent, NetworkEvent } from '../../contract/events.js';
import { createPasswordSprayDetector, isIdentityProviderHost } from '../../detectors/password-spray.js';
import { HOUR, MIN, SEC, T0, advanceTo, fakeContext, feed, network, resetIds, runWithRestore, signin } from './helpers/context.js';

beforeEach(() => resetIds());

const LOGIN = { dest_host: 'login.microsoftonline.com', category: 'business' };

/** `n` requests of `agent` to the sign-in endpoint, evenly over `spanMs` from `from` (no token: a password guess each). */
function guesses(agent: string, n: number, from: number, spanMs: number, extra: Partial<NetworkEvent> = {}): AgentEvent[] {
  return Array.from({ length: n }, (_, k) => network({ agent_id: agent, time: from + Math.floor((k * spanMs) / n), ...LOGIN, bytes_out: 1_700, bytes_in: 900, ...extra }));
}

/** Three hours of agents a1..a3 calling Graph every 2 minutes and asking for a token (a sign-in and its request) every 30 minutes. */
function history(): AgentEvent[] {
  const out: AgentEvent[] = [];
  for (let t = T0; t < T0 + 3 * HOUR; t += 2 * MIN) for (const a of ['a1', 'a2', 'a3']) out.push(network({ agent_id: a, time: t, dest_host: 'graph.microsoft.com', category: 'api' }));
  for (let t = T0; t < T0 + 3 * HOUR; t += 30 * MIN) {
    for (const a of ['a1', 'a2', 'a3']) out.push(signin({ agent_id: a, time: t + SEC }), network({ agent_id: a, time: t + SEC, ...LOGIN, bytes_out: 1_200, bytes_in: 4_800 }));
  }
  return out.sort((x, y) => x.time - y.time);
}

const T3 = T0 + 3 * HOUR;

describe('password-spray', () => {
  it('knows identity providers\' sign-in hosts', () => {
    for (const h of ['login.microsoftonline.com', 'LOGIN.WINDOWS.NET.', 'autologon.microsoftazuread-sso.com', 'contoso.okta.com', 'contoso.b2clogin.com', 'cognito-idp.eu-west-1.amazonaws.com', 'accounts.google.com']) {
      expect(isIdentityProviderHost(h), h).toBe(true);
    }
    for (const h of ['graph.microsoft.com', 'okta.com.evil.example', 'management.azure.com', 'sts.amazonaws.com']) expect(isIdentityProviderHost(h), h).toBe(false);
  });

  it('is medium 3 minutes after an agent sends hundreds of sign-in requests in minutes, none of them its own sign-in', () => {
    const d = createPasswordSprayDetector();
    const ctx = fakeContext();
    expect(feed(d, ctx, history())).toEqual([]);
    const spray = guesses('a2', 300, T3, 9 * MIN);
    const out = [...feed(d, ctx, spray), ...advanceTo(d, ctx, T3 + 15 * MIN)];
    // Low from 30 requests (over its bar, under the floor), medium from the 60-request floor once the blueprint did not follow.
    expect(out.map((x) => [x.agent_id, x.severity, (x.evidence.observed as { requests: number }).requests])).toEqual([
      ['a2', 'low', 30],
      ['a2', 'medium', 60],
    ]);
    const medium = out[1]!;
    expect(medium.time - spray[59]!.time).toBe(3 * MIN);
    // One request every half hour never made the agent a record: a peak of none.
    expect(medium.summary).toBe('Agent a2 sent 60 requests to the identity provider login.microsoftonline.com within 10 min, where it and its blueprint never sent more than a few');
    expect(medium.evidence.observed).toMatchObject({ dest_host: 'login.microsoftonline.com', own_signins: 0 });
  });

  it('stays quiet for the agents\' own token requests and under 30 requests', () => {
    const d = createPasswordSprayDetector();
    const ctx = fakeContext();
    expect(feed(d, ctx, history())).toEqual([]);
    expect([...feed(d, ctx, guesses('a1', 25, T3, 5 * MIN)), ...advanceTo(d, ctx, T3 + 20 * MIN)]).toEqual([]);
  });

  it('takes a burst matched by the agent\'s own sign-ins for a crash loop re-authenticating (low), and 3 agents of the blueprint at once for a token cache flushed (low)', () => {
    const d = createPasswordSprayDetector();
    const ctx = fakeContext();
    feed(d, ctx, history());
    // Every 8 s the pod restarts: a sign-in of the agent, and its request.
    const loop: AgentEvent[] = [];
    for (let k = 0; k < 80; k++) loop.push(signin({ agent_id: 'a1', time: T3 + k * 8 * SEC }), network({ agent_id: 'a1', time: T3 + k * 8 * SEC + 200, ...LOGIN, bytes_out: 1_200, bytes_in: 4_800 }));
    const out = [...feed(d, ctx, loop), ...advanceTo(d, ctx, T3 + 20 * MIN)];
    expect(out.map((x) => x.severity)).toEqual(['low', 'low']);
    expect(out[1]!.summary).toContain('sign-ins of its own (re-authenticating itself)');

    const flush = ['a1', 'a2', 'a3'].flatMap((a, i) => guesses(a, 70, T3 + HOUR + i * 20 * SEC, 4 * MIN));
    const d2 = createPasswordSprayDetector();
    const ctx2 = fakeContext();
    feed(d2, ctx2, history());
    const all = [...feed(d2, ctx2, flush.sort((x, y) => x.time - y.time)), ...advanceTo(d2, ctx2, T3 + 2 * HOUR)];
    expect(all.filter((x) => x.severity !== 'low')).toEqual([]);
    expect(all.some((x) => x.summary.includes('a token cache flushed'))).toBe(true);
  });

  it('gives the same findings after a snapshot and restore mid-burst', () => {
    const events = [...history(), ...guesses('a2', 200, T3, 6 * MIN), network({ agent_id: 'a3', time: T3 + 20 * MIN, dest_host: 'graph.microsoft.com' })];
    const { uninterrupted, restored } = runWithRestore(() => createPasswordSprayDetector(), events, events.length - 190);
    expect(uninterrupted.map((x) => x.severity)).toEqual(['low', 'medium']);
    expect(restored).toEqual(uninterrupted);
  });
});

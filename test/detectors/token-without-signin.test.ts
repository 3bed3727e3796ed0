import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../contract/events.js';
import { createTokenWithoutSigninDetector } from '../../detectors/token-without-signin.js';
import { HOUR, MIN, SEC, T0, advanceTo, fakeContext, feed, network, resetIds, runWithRestore, signin, token } from './helpers/context.js';

beforeEach(() => resetIds());

const HOME = '20.42.10.7';
const VPS = '45.77.12.9';

/** An hour of bp1 agents a1, a2, a3 signing in at HOME and getting a token there, every 10 minutes. */
function history(): AgentEvent[] {
  const out: AgentEvent[] = [];
  for (let t = T0; t < T0 + HOUR; t += 10 * MIN) {
    for (const [i, a] of ['a1', 'a2', 'a3'].entries()) {
      out.push(signin({ agent_id: a, ip: HOME, time: t + i * SEC }));
      out.push(token({ agent_id: a, ip: HOME, time: t + i * SEC + 300, token_id: `${a}-${t}` }));
    }
  }
  return out;
}

const T1 = T0 + HOUR;
const obo = (o: Partial<Parameters<typeof token>[0]> = {}) =>
  token({ agent_id: 'a1', flow: 'on_behalf_of', user_id: 'u1', ip: VPS, time: T1 + MIN, token_id: 'stolen-1', ...o });

function run(events: AgentEvent[], until = T1 + 30 * MIN) {
  const d = createTokenWithoutSigninDetector();
  const ctx = fakeContext();
  feed(d, ctx, history());
  const out = feed(d, ctx, events);
  return out.concat(advanceTo(d, ctx, until));
}

describe('token-without-signin', () => {
  it('fires medium two minutes after a token is issued to an agent at a network it never signs in from', () => {
    const out = run([obo()]);
    expect(out.map((x) => [x.agent_id, x.severity, x.time])).toEqual([['a1', 'medium', T1 + 3 * MIN]]);
    expect(out[0]!.summary).toContain(`on-behalf-of token for user u1 (https://graph.microsoft.com) at ${VPS}`);
    expect(out[0]!.evidence.observed).toMatchObject({ token_ip: VPS, flow: 'on_behalf_of', user_id: 'u1', token_id: 'stolen-1' });
    expect(out[0]!.evidence.baseline).toEqual({ signin_ips: [HOME] });
    expect(out[0]!.event_ids).toHaveLength(1);
  });

  it('stays quiet when the sign-in from there comes late or just after, or the token is issued within the /16 of the agent\'s sign-ins', () => {
    // Sign-in logged 40 s after its token (late delivery), from the same host.
    expect(run([obo({ flow: 'client_credentials', user_id: null }), signin({ agent_id: 'a1', ip: VPS, time: T1 + MIN - 200 })])).toEqual([]);
    // Another address of the agent's own hosting range.
    expect(run([obo({ ip: '20.42.200.3' })])).toEqual([]);
    // Private addresses and a security edge's egress are the company's own.
    expect(run([obo({ ip: '10.4.5.6' })])).toEqual([]);
  });

  it('stays quiet for a network the agent signed in from before, or where another agent of its blueprint signs in', () => {
    // a1 worked from a second region an hour ago.
    const d = createTokenWithoutSigninDetector();
    const ctx = fakeContext();
    const second = '52.10.20.30';
    feed(d, ctx, [signin({ agent_id: 'a1', ip: second, time: T0 - 2 * HOUR }), token({ agent_id: 'a1', ip: second, time: T0 - 2 * HOUR + 300, token_id: 'x' })]);
    feed(d, ctx, history());
    expect(feed(d, ctx, [obo({ ip: '52.10.20.99' })]).concat(advanceTo(d, ctx, T1 + 30 * MIN))).toEqual([]);
    // a2 moved to the new network; a1's token there comes without its own sign-in.
    expect(run([signin({ agent_id: 'a2', ip: '52.10.20.31', time: T1 }), obo({ ip: '52.10.20.99' })])).toEqual([]);
  });

  it('takes three agents of a blueprint issued tokens in one new network without sign-ins as a move, and one or two as theft', () => {
    const move = ['a1', 'a2', 'a3'].map((a, i) => token({ agent_id: a, ip: `52.10.20.${30 + i}`, time: T1 + i * 20 * SEC, token_id: `m-${a}` }));
    expect(run(move)).toEqual([]);
    const two = move.slice(0, 2);
    expect(run(two).map((x) => x.agent_id)).toEqual(['a1', 'a2']);
  });

  it('judges nothing for an agent that never signed in, for blocked tokens, and reports an agent once a day', () => {
    expect(run([obo({ agent_id: 'fresh' })])).toEqual([]);
    expect(run([obo({ decision: 'blocked' })])).toEqual([]);
    const again = [obo(), obo({ token_id: 'stolen-2', time: T1 + 20 * MIN }), obo({ token_id: 'stolen-3', time: T1 + 26 * HOUR })];
    const d = createTokenWithoutSigninDetector();
    const ctx = fakeContext();
    feed(d, ctx, history());
    const out = feed(d, ctx, again).concat(advanceTo(d, ctx, T1 + 27 * HOUR));
    expect(out.map((x) => x.time)).toEqual([T1 + 3 * MIN, T1 + 26 * HOUR + 2 * MIN]);
  });

  it('takes a token issued elsewhere just after the agent called its token broker (API Management\'s credential manager) as the broker\'s refresh, and one without the call as theft', () => {
    const apim = (time: number, host = 'contoso-apim.azure-api.net') => network({ agent_id: 'a1', ip: HOME, dest_host: host, dest_ip: '20.81.4.4', category: 'api', bytes_out: 1_200, bytes_in: 3_000, time });
    // The agent asks its APIM for a token 400 ms before Entra issues one to APIM's egress.
    expect(run([apim(T1 + MIN - 400), obo({ ip: '13.47.166.49' })])).toEqual([]);
    // Power Platform's connector gateway does the same.
    expect(run([apim(T1 + MIN - 1_500, 'europe-002.azure-apim.net'), obo({ ip: '13.47.166.49' })])).toEqual([]);
    // A broker call 30 s before is not this token's: the redemption is someone else's.
    expect(run([apim(T1 + MIN - 30 * SEC), obo({ ip: '13.47.166.49' })]).map((x) => x.agent_id)).toEqual(['a1']);
    // Another agent's broker call vouches for nothing; nor does a call to an ordinary API.
    expect(run([network({ agent_id: 'a2', ip: HOME, dest_host: 'contoso-apim.azure-api.net', time: T1 + MIN - 400 }), obo({ ip: '13.47.166.49' })]).map((x) => x.agent_id)).toEqual(['a1']);
    expect(run([apim(T1 + MIN - 400, 'api.contoso-azure-api.net.example.com'), obo({ ip: '13.47.166.49' })]).map((x) => x.agent_id)).toEqual(['a1']);
  });

  it('keeps waiting tokens and the blueprint ring across a snapshot and restore', () => {
    const broker = network({ agent_id: 'a3', ip: HOME, dest_host: 'contoso-apim.azure-api.net', time: T1 + 2 * MIN });
    const events = [...history(), obo(), broker, token({ agent_id: 'a2', ip: '52.10.20.31', time: T1 + 2 * MIN, token_id: 'm2' }), token({ agent_id: 'a3', ip: '13.47.166.49', time: T1 + 2 * MIN + 300, token_id: 'b3' }), signin({ agent_id: 'a3', ip: HOME, time: T1 + 10 * MIN })];
    const { uninterrupted, restored } = runWithRestore(createTokenWithoutSigninDetector, events, events.length - 3);
    expect(uninterrupted.map((x) => x.agent_id)).toEqual(['a1', 'a2']);
    expect(restored).toEqual(uninterrupted);
  });
});

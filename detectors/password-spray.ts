// Detector 31 — password-spray: an agent's runtime sends requests to an
// identity provider's sign-in endpoints far more often than it and its
// blueprint ever do, and not for its own sign-ins (T1110.003 Brute Force:
// Password Spraying).
//
// Code running in an agent's runtime (an injected tool call, a poisoned
// dependency) uses the agent's host as a springboard: it posts username and
// password guesses for the tenant's people to the token endpoint (ROPC,
// legacy authentication, Seamless SSO's autologon endpoint), hundreds in
// minutes, from an address the tenant trusts. None of these requests is the
// agent's own sign-in: they carry no bearer token and no sign-in of the agent
// follows them. An agent asks the identity provider for its own tokens a few
// times an hour, each one a sign-in event.
//
// A request: a network event of the agent to an identity provider's sign-in
// host (Entra ID in every cloud, Seamless SSO, Microsoft accounts, Okta,
// Auth0, OneLogin, Ping, Google, Cognito...), allowed or blocked.
// Rule (CallBurstWatch, call-burst.ts): at least 60 requests within 10
// minutes, 10× the agent's own peak and 5× its blueprint's (once it has made
// them, or been active at all, for an hour: an agent that never does has a
// peak of none; before that 10× its blueprint's) → medium, reported after 3
// minutes; without any baseline (a young agent of a blueprint that never
// does), 200. From 30 over that bar, under the medium floor: low. A rollout
// (2 other agents of the blueprint bursting within 10 minutes: a token cache
// flushed fleet-wide) is low, and so is a burst while 4 other agents of the
// blueprint went over their own bars. A burst matched by the agent's own
// sign-ins (half as many sign-in events as requests in the window and the one
// before: a crash loop re-authenticating at every start) is low. Once per
// agent per hour.
//
// State: a number per agent that calls an identity provider, a record only
// for agents that once made 8 or more requests within 10 minutes; per
// blueprint a peak and its latest bursts; a sign-in count only for agents
// with a record.

import type { AgentEvent, NetworkEvent, SigninEvent } from '../contract/events.js';
import type { Detection, DetectorMeta } from './types.js';
import type { Detector, DetectorContext } from './detector.js';
import { CallBurstWatch, burstFinding, callBurstDetector, type BurstVerdict, type CallBurstOptions } from './call-burst.js';
import { NO_DETECTIONS, TenantMap, clone, sec, type Timed } from './agent-directory.js';
import { memoByHost } from './host-memo.js';

export type PasswordSprayOptions = Partial<CallBurstOptions>;

const DEFAULTS: CallBurstOptions = {
  windowMs: 10 * 60_000,
  minCalls: 60,
  lowCalls: 30,
  factor: 10,
  peerFactor: 5,
  noBaselineCalls: 200,
  peakHalfLifeMs: 3 * 24 * 3_600_000,
  learnMs: 60 * 60_000,
  rolloutWindowMs: 10 * 60_000,
  rolloutAgents: 2,
  refireMs: 60 * 60_000,
  maxAgents: 1_000_000,
  stageCalls: 8,
  confirmMs: 3 * 60_000,
  wideAgents: 4,
};

/** Sign-in hosts of identity providers, exact. */
const IDP_HOSTS = new Set([
  'login.microsoftonline.com', 'login.microsoft.com', 'login.windows.net', 'sts.windows.net', 'login.microsoftonline.us', 'login.microsoftonline.de',
  'login.chinacloudapi.cn', 'login.partner.microsoftonline.cn', 'autologon.microsoftazuread-sso.com', 'login.live.com',
  'accounts.google.com', 'oauth2.googleapis.com',
]);
/** Sign-in hosts of identity providers, by suffix (the tenant's own name in front). */
const IDP_SUFFIXES = ['.okta.com', '.oktapreview.com', '.okta-emea.com', '.auth0.com', '.onelogin.com', '.pingone.com', '.pingone.eu', '.b2clogin.com', '.ciamlogin.com'];
const COGNITO = /^cognito-idp\.[a-z0-9-]+\.amazonaws\.com$/;

/** True when `host` is an identity provider's sign-in endpoint (see IDP_HOSTS). */
export function isIdentityProviderHost(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  if (IDP_HOSTS.has(h) || COGNITO.test(h)) return true;
  for (const s of IDP_SUFFIXES) if (h.endsWith(s)) return true;
  return false;
}

const identityProvider = memoByHost(isIdentityProviderHost);

/** An agent's own sign-ins in its current window (from `w`, s) and the one before (`pn`). */
interface OwnSignins extends Timed {
  w: number;
  n: number;
  pn: number;
}

export const passwordSprayMeta: DetectorMeta = {
  id: 'password-spray',
  title: 'Password spray from an agent',
  severity: 'medium',
  mitre: { id: 'T1110.003', name: 'Brute Force: Password Spraying' },
  description:
    'An agent sends at least 60 requests to an identity provider\'s sign-in endpoints (Entra ID in any cloud, Seamless SSO autologon, Microsoft accounts, Okta, Auth0, OneLogin, Ping, Google, Cognito) within 10 minutes, 10× the most it ever did in 10 minutes and 5× the most its blueprint\'s busiest agent did (10× the blueprint\'s for an agent active for less than an hour; 200 when its blueprint never did either): code in its runtime spraying passwords of the tenant\'s people from an address the tenant trusts. ' +
    'Medium, reported after 3 minutes; low when 2 other agents of the blueprint did the same within 10 minutes (a token cache flushed everywhere) or 4 others went over their own bars, when the agent\'s own sign-ins account for half the requests (a crash loop re-authenticating), and from 30 requests over those multiples under the medium floor. Once per agent per hour; an agent carrying its blueprint\'s burst on past the hour, without a pause, is not reported again.',
};

export function createPasswordSprayDetector(options: PasswordSprayOptions = {}): Detector {
  const o: CallBurstOptions = { ...DEFAULTS, ...options };
  const watch = new CallBurstWatch(o);
  const signins = new TenantMap<OwnSignins>(o.maxAgents);
  const windowS = o.windowMs / 1000;

  /** One sign-in of an agent the watch keeps a record of (the only ones whose bursts are judged). */
  function onSignin(e: SigninEvent): void {
    const now = sec(e.time);
    let s = signins.get(e.tenant_id, e.agent_id);
    if (s === undefined) {
      if (Number.isNaN(watch.firstCall(e.tenant_id, e.agent_id))) return;
      signins.set(e.tenant_id, e.agent_id, (s = { at: e.time, w: now, n: 0, pn: 0 }));
    } else if (now - s.w >= windowS) {
      s.pn = now - s.w < 2 * windowS ? s.n : 0;
      s.w = now;
      s.n = 0;
    }
    if (e.time > s.at) s.at = e.time;
    s.n++;
  }

  /** The agent's own sign-ins lately (this window and the one before), as of `t`. */
  function ownSignins(tenant: string, agent: string, t: number): number {
    const s = signins.get(tenant, agent);
    if (s === undefined) return 0;
    const age = sec(t) - s.w;
    return age < windowS ? s.n + s.pn : age < 2 * windowS ? s.n : 0;
  }

  function verdict(e: NetworkEvent, ctx: DetectorContext): BurstVerdict | null {
    if (e.dest_agent_id != null || !identityProvider(e.dest_host)) return null;
    // An agent active for an hour that never called its identity provider has a baseline of none.
    return watch.observe(e, ctx.agent(e.tenant_id, e.agent_id)?.first_seen);
  }

  function finding(e: NetworkEvent, burst: BurstVerdict): Detection {
    const own = ownSignins(e.tenant_id, e.agent_id, e.time);
    // Its own sign-ins behind the requests: the agent authenticating itself over and over, not guessing others' passwords.
    const v: BurstVerdict = own * 2 >= burst.calls ? { ...burst, severity: 'low' } : burst;
    const selfAuth = v === burst ? '' : `, with ${own} sign-ins of its own (re-authenticating itself)`;
    return burstFinding(passwordSprayMeta, e, v, {
      headline: `Agent ${e.agent_id} sent ${v.calls} requests to the identity provider ${e.dest_host} within ${o.windowMs / 60_000} min${selfAuth}`,
      never: ', where it and its blueprint never sent more than a few',
      rollout: 'a token cache flushed',
      observed: { requests: v.calls, window_ms: o.windowMs, dest_host: e.dest_host, action: e.action, own_signins: own },
      noun: 'requests',
    });
  }

  const burst = callBurstDetector(passwordSprayMeta, watch, { verdict, finding });
  return {
    ...burst,
    types: ['network', 'signin'] as const,
    observe(e: AgentEvent, ctx: DetectorContext): Detection[] {
      if (e.type === 'signin') {
        onSignin(e);
        return NO_DETECTIONS;
      }
      return burst.observe(e, ctx);
    },
    evict(before: number): void {
      burst.evict(before);
      signins.evict(before);
    },
    size(): number {
      return burst.size() + signins.size;
    },
    snapshot(): unknown {
      // Detached (as every detector's): a snapshot taken in parts is serialised after later events.
      return clone({ burst: burst.snapshot(), signins: signins.snapshot() });
    },
    restore(snapshot: unknown): void {
      const s = snapshot as { burst: unknown; signins?: [string, string, OwnSignins][] };
      burst.restore(s.burst);
      signins.restore((s.signins ?? []).map(([t, a, v]) => [t, a, { ...v }]));
    },
  };
}

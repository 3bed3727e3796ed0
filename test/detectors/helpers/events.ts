// Event builders for the detector tests: complete, valid events with sensible
// defaults; pass only the fields a test cares about. Each test helper module
// makes its own set (its own default time and the few defaults its tests were
// written against) with `eventBuilders`. Event ids are `<prefix>-<n>` from the
// set's own counter, which `resetIds()` restarts, so tests are deterministic.

import type { LifecycleEvent, NetworkEvent, SigninEvent, TokenEvent, UserRiskEvent } from '../../../contract/events.js';

export const SEC = 1000;
export const MIN = 60 * SEC;
export const HOUR = 60 * MIN;
export const DAY = 24 * HOUR;

export const TENANT = 't1';
export const AGENT = 'a1';
export const BLUEPRINT = 'bp1';

// Field order is the contract's (type, event_id, time first): later spreads keep it.
const SIGNIN: SigninEvent = {
  type: 'signin',
  event_id: '',
  time: 0,
  tenant_id: TENANT,
  agent_id: AGENT,
  agent_type: 'agent_identity',
  blueprint_id: BLUEPRINT,
  flow: 'client_credentials',
  user_id: null,
  credential_id: 'cred-1',
  credential_type: 'client_secret',
  ip: '20.1.2.3',
  asn: 8075,
  country: 'US',
  lat: 47.6,
  lon: -122.3,
  user_agent: 'agent-sdk/1.0',
  resource: 'https://graph.microsoft.com',
  result: 'success',
  error_code: null,
};

const TOKEN: TokenEvent = {
  type: 'token',
  event_id: '',
  time: 0,
  tenant_id: TENANT,
  agent_id: AGENT,
  blueprint_id: BLUEPRINT,
  token_id: 'tok-1',
  flow: 'client_credentials',
  user_id: null,
  resource: 'https://graph.microsoft.com',
  scopes: ['User.Read'],
  ip: '20.1.2.3',
  lifetime_s: 3600,
  decision: 'granted',
};

const NETWORK: NetworkEvent = {
  type: 'network',
  event_id: '',
  time: 0,
  tenant_id: TENANT,
  agent_id: AGENT,
  blueprint_id: BLUEPRINT,
  ip: '20.1.2.3',
  token_id: null,
  dest_host: 'api.example.com',
  dest_ip: null,
  dest_port: 443,
  category: 'api',
  action: 'allowed',
  bytes_out: 2_000,
  bytes_in: 10_000,
  file_type: null,
  threat: 'none',
  dest_agent_id: null,
};

const LIFECYCLE: LifecycleEvent = {
  type: 'lifecycle',
  event_id: '',
  time: 0,
  tenant_id: TENANT,
  agent_id: AGENT,
  action: 'created',
  blueprint_id: BLUEPRINT,
  actor: 'admin@contoso.com',
  sponsor_id: null,
  credential_id: null,
  permission: null,
};

const USER_RISK: UserRiskEvent = {
  type: 'user_risk',
  event_id: '',
  time: 0,
  tenant_id: TENANT,
  user_id: 'user-1',
  level: 'high',
  reason: null,
};

/** Defaults of one set of builders: the default event time, and fields that differ from the common defaults above. */
export interface BuilderDefaults {
  time: number;
  signin?: Partial<SigninEvent>;
  token?: Partial<TokenEvent>;
  network?: Partial<NetworkEvent>;
  lifecycle?: Partial<LifecycleEvent>;
  userRisk?: Partial<UserRiskEvent>;
}

export interface EventBuilders {
  /** Restarts the event-id counter (call in beforeEach for stable ids). */
  resetIds(): void;
  signin(o?: Partial<SigninEvent>): SigninEvent;
  token(o?: Partial<TokenEvent>): TokenEvent;
  network(o?: Partial<NetworkEvent>): NetworkEvent;
  lifecycle(o?: Partial<LifecycleEvent>): LifecycleEvent;
  userRisk(o?: Partial<UserRiskEvent>): UserRiskEvent;
}

export function eventBuilders(d: BuilderDefaults): EventBuilders {
  let seq = 0;
  const id = (prefix: string, given: string | undefined) => given ?? `${prefix}-${++seq}`;
  return {
    resetIds: () => {
      seq = 0;
    },
    signin: (o = {}) => ({ ...SIGNIN, time: d.time, ...d.signin, ...o, event_id: id('s', o.event_id) }),
    // A fresh default scopes array per event: a test may change one event's.
    token: (o = {}) => ({ ...TOKEN, time: d.time, ...d.token, ...o, scopes: o.scopes ?? [...(d.token?.scopes ?? TOKEN.scopes)], event_id: id('k', o.event_id) }),
    network: (o = {}) => ({ ...NETWORK, time: d.time, ...d.network, ...o, event_id: id('n', o.event_id) }),
    lifecycle: (o = {}) => ({ ...LIFECYCLE, time: d.time, ...d.lifecycle, ...o, event_id: id('l', o.event_id) }),
    userRisk: (o = {}) => ({ ...USER_RISK, time: d.time, ...d.userRisk, ...o, event_id: id('u', o.event_id) }),
  };
}

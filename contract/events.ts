// The event contract: the five event types every stage speaks.
//
// In memory an event's `time` is epoch milliseconds (a number), because every
// later stage does arithmetic on it; on the wire it is RFC 3339 text (NDJSON)
// or an Avro timestamp-millis long (Kafka). Nullable fields are `null` in
// memory, never `undefined`, so that decoders of both formats agree.

export const EVENT_TYPES = ['signin', 'token', 'network', 'user_risk', 'lifecycle'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const AGENT_TYPES = ['agent_identity', 'agent_user', 'blueprint_principal'] as const;
export const FLOWS = ['client_credentials', 'on_behalf_of', 'agent_user'] as const;
export const CREDENTIAL_TYPES = ['certificate', 'client_secret', 'federated', 'managed_identity'] as const;
export const SIGNIN_RESULTS = ['success', 'failure'] as const;
export const TOKEN_DECISIONS = ['granted', 'blocked'] as const;
export const NETWORK_ACTIONS = ['allowed', 'blocked'] as const;
export const THREATS = ['none', 'prompt_injection', 'malware', 'phishing', 'threat_intel'] as const;
export const RISK_LEVELS = ['none', 'low', 'medium', 'high'] as const;
export const LIFECYCLE_ACTIONS = [
  'created',
  'deleted',
  'disabled',
  'enabled',
  'sponsor_added',
  'sponsor_removed',
  'credential_added',
  'credential_removed',
  'permission_granted',
  'permission_revoked',
] as const;

export type AgentType = (typeof AGENT_TYPES)[number];
export type Flow = (typeof FLOWS)[number];
export type CredentialType = (typeof CREDENTIAL_TYPES)[number];
export type SigninResult = (typeof SIGNIN_RESULTS)[number];
export type TokenDecision = (typeof TOKEN_DECISIONS)[number];
export type NetworkAction = (typeof NETWORK_ACTIONS)[number];
export type Threat = (typeof THREATS)[number];
export type RiskLevel = (typeof RISK_LEVELS)[number];
export type LifecycleAction = (typeof LIFECYCLE_ACTIONS)[number];

interface EventBase {
  event_id: string;
  /** Event time, epoch milliseconds. */
  time: number;
  tenant_id: string;
}

export interface SigninEvent extends EventBase {
  type: 'signin';
  agent_id: string;
  agent_type: AgentType;
  blueprint_id: string | null;
  flow: Flow;
  user_id: string | null;
  credential_id: string | null;
  credential_type: CredentialType | null;
  ip: string;
  asn: number | null;
  country: string | null;
  lat: number | null;
  lon: number | null;
  user_agent: string | null;
  resource: string;
  result: SigninResult;
  error_code: string | null;
}

export interface TokenEvent extends EventBase {
  type: 'token';
  agent_id: string;
  blueprint_id: string | null;
  token_id: string;
  flow: Flow;
  user_id: string | null;
  resource: string;
  scopes: string[];
  ip: string;
  lifetime_s: number;
  decision: TokenDecision;
}

export interface NetworkEvent extends EventBase {
  type: 'network';
  agent_id: string;
  blueprint_id: string | null;
  ip: string;
  token_id: string | null;
  dest_host: string;
  dest_ip: string | null;
  dest_port: number;
  category: string;
  action: NetworkAction;
  bytes_out: number;
  bytes_in: number;
  file_type: string | null;
  threat: Threat;
  dest_agent_id: string | null;
}

export interface UserRiskEvent extends EventBase {
  type: 'user_risk';
  user_id: string;
  level: RiskLevel;
  reason: string | null;
}

export interface LifecycleEvent extends EventBase {
  type: 'lifecycle';
  agent_id: string;
  action: LifecycleAction;
  blueprint_id: string | null;
  actor: string;
  sponsor_id: string | null;
  credential_id: string | null;
  permission: string | null;
}

export type AgentEvent = SigninEvent | TokenEvent | NetworkEvent | UserRiskEvent | LifecycleEvent;

export type EventOfType<T extends EventType> = Extract<AgentEvent, { type: T }>;

/** The Kafka message key of an event: the agent id, or the user id for user-risk. */
export function eventKey(event: AgentEvent): string {
  return event.type === 'user_risk' ? event.user_id : event.agent_id;
}

/** Formats epoch milliseconds as RFC 3339 with millisecond precision, in UTC. */
export function formatTime(ms: number): string {
  return new Date(ms).toISOString();
}

// Avro schemas of the event contract, one record per event type, with every
// published version kept: a record written with an older version must still
// decode (Avro reader/writer resolution), so versions are never edited, only
// added. The last version of each type is the current one (the reader schema).
//
// Fields added after version 1 are nullable with a null default, which is what
// makes the resolution from an old writer possible.

import {
  AGENT_TYPES,
  CREDENTIAL_TYPES,
  FLOWS,
  LIFECYCLE_ACTIONS,
  NETWORK_ACTIONS,
  RISK_LEVELS,
  SIGNIN_RESULTS,
  THREATS,
  TOKEN_DECISIONS,
  type EventType,
} from './events.js';

export const AVRO_NAMESPACE = 'io.riskstream.events';

type AvroSchema = Record<string, unknown>;

const timestampMillis = { type: 'long', logicalType: 'timestamp-millis' };
const optional = (type: unknown) => ({ type: ['null', type], default: null });
const enumOf = (name: string, symbols: readonly string[]) => ({ type: 'enum', name, symbols: [...symbols] });

const base = [
  { name: 'event_id', type: 'string' },
  { name: 'time', type: timestampMillis },
  { name: 'tenant_id', type: 'string' },
];

const flow = enumOf('Flow', FLOWS);

function record(name: string, fields: unknown[], doc: string): AvroSchema {
  return { type: 'record', name, namespace: AVRO_NAMESPACE, doc, fields: [...base, ...fields] };
}

const signinV1Fields = [
  { name: 'agent_id', type: 'string' },
  { name: 'agent_type', type: enumOf('AgentType', AGENT_TYPES) },
  { name: 'blueprint_id', ...optional('string') },
  { name: 'flow', type: flow },
  { name: 'user_id', ...optional('string') },
  { name: 'credential_id', ...optional('string') },
  {
    name: 'credential_type',
    ...optional(enumOf('CredentialType', CREDENTIAL_TYPES)),
  },
  { name: 'ip', type: 'string' },
  { name: 'asn', ...optional('long') },
  { name: 'country', ...optional('string') },
  { name: 'resource', type: 'string' },
  { name: 'result', type: enumOf('SigninResult', SIGNIN_RESULTS) },
];
const signinV2Fields = [
  ...signinV1Fields,
  { name: 'lat', ...optional('double') },
  { name: 'lon', ...optional('double') },
  { name: 'user_agent', ...optional('string') },
  { name: 'error_code', ...optional('string') },
];

const token = record(
  'Token',
  [
    { name: 'agent_id', type: 'string' },
    { name: 'blueprint_id', ...optional('string') },
    { name: 'token_id', type: 'string' },
    { name: 'flow', type: flow },
    { name: 'user_id', ...optional('string') },
    { name: 'resource', type: 'string' },
    { name: 'scopes', type: { type: 'array', items: 'string' } },
    { name: 'ip', type: 'string' },
    { name: 'lifetime_s', type: 'long' },
    { name: 'decision', type: enumOf('TokenDecision', TOKEN_DECISIONS) },
  ],
  'A token issued (or refused) to an agent.',
);

const networkV1Fields = [
  { name: 'agent_id', type: 'string' },
  { name: 'blueprint_id', ...optional('string') },
  { name: 'ip', type: 'string' },
  { name: 'token_id', ...optional('string') },
  { name: 'dest_host', type: 'string' },
  { name: 'dest_ip', ...optional('string') },
  { name: 'dest_port', type: 'int' },
  { name: 'category', type: 'string' },
  { name: 'action', type: enumOf('NetworkAction', NETWORK_ACTIONS) },
  { name: 'bytes_out', type: 'long' },
  { name: 'bytes_in', type: 'long' },
  { name: 'threat', type: enumOf('Threat', THREATS) },
];
const networkV2Fields = [
  ...networkV1Fields,
  { name: 'file_type', ...optional('string') },
  { name: 'dest_agent_id', ...optional('string') },
];

const userRisk = record(
  'UserRisk',
  [
    { name: 'user_id', type: 'string' },
    { name: 'level', type: enumOf('RiskLevel', RISK_LEVELS) },
    { name: 'reason', ...optional('string') },
  ],
  "A change of a human user's risk level (the user agents act on behalf of).",
);

const lifecycle = record(
  'Lifecycle',
  [
    { name: 'agent_id', type: 'string' },
    {
      name: 'action',
      type: enumOf('LifecycleAction', LIFECYCLE_ACTIONS),
    },
    { name: 'blueprint_id', ...optional('string') },
    { name: 'actor', type: 'string' },
    { name: 'sponsor_id', ...optional('string') },
    { name: 'credential_id', ...optional('string') },
    { name: 'permission', ...optional('string') },
  ],
  'A change to an agent identity: creation, deletion, sponsors, credentials, permissions.',
);

/** Every version of every event type's schema, oldest first. */
export const AVRO_SCHEMA_VERSIONS: Record<EventType, AvroSchema[]> = {
  signin: [
    record('Signin', signinV1Fields, 'An agent sign-in (version 1).'),
    record('Signin', signinV2Fields, 'An agent sign-in: who, with which credential, from where, to which resource.'),
  ],
  token: [token],
  network: [
    record('Network', networkV1Fields, 'A network flow seen by the agent gateway (version 1).'),
    record('Network', networkV2Fields, 'A network flow seen by the agent gateway.'),
  ],
  user_risk: [userRisk],
  lifecycle: [lifecycle],
};

/** The current (reader) schema of each event type. */
export function currentAvroSchema(type: EventType): AvroSchema {
  const versions = AVRO_SCHEMA_VERSIONS[type];
  return versions[versions.length - 1]!;
}

/** Event type of an Avro record's full name, e.g. io.riskstream.events.Signin. */
export const EVENT_TYPE_BY_RECORD_NAME: Record<string, EventType> = {
  [`${AVRO_NAMESPACE}.Signin`]: 'signin',
  [`${AVRO_NAMESPACE}.Token`]: 'token',
  [`${AVRO_NAMESPACE}.Network`]: 'network',
  [`${AVRO_NAMESPACE}.UserRisk`]: 'user_risk',
  [`${AVRO_NAMESPACE}.Lifecycle`]: 'lifecycle',
};

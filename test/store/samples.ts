// One hand-built sample event of each type, every field set (nullable fields
// set to a value) plus a variant of each with every nullable field null, so a
// round trip through the ledger exercises every column.

import type {
  AgentEvent,
  LifecycleEvent,
  NetworkEvent,
  SigninEvent,
  TokenEvent,
  UserRiskEvent,
} from '../../contract/events.js';

export const TENANT = 'tenant-samples';
const T0 = Date.UTC(2025, 4, 6, 7, 8, 9, 123);

export const signin: SigninEvent = {
  type: 'signin',
  event_id: 'evt-signin-1',
  time: T0,
  tenant_id: TENANT,
  agent_id: 'agent-1',
  agent_type: 'agent_user',
  blueprint_id: 'bp-1',
  flow: 'on_behalf_of',
  user_id: 'user-1',
  credential_id: 'cred-1',
  credential_type: 'certificate',
  ip: '2001:db8::42',
  asn: 4294967295,
  country: 'DE',
  lat: 52.520008,
  lon: -13.404954,
  user_agent: 'riskstream-agent/1.2 (linux; "quoted"; back\\slash)',
  resource: 'https://graph.example.com/',
  result: 'failure',
  error_code: 'AADSTS50126',
};

export const token: TokenEvent = {
  type: 'token',
  event_id: 'evt-token-1',
  time: T0 + 1,
  tenant_id: TENANT,
  agent_id: 'agent-1',
  blueprint_id: 'bp-1',
  token_id: 'tok-1',
  flow: 'client_credentials',
  user_id: 'user-1',
  resource: 'https://vault.example.com/',
  scopes: ['Mail.Read', 'Files.ReadWrite.All', 'ünïcødé scope ✓', ''],
  ip: '10.0.0.1',
  lifetime_s: 9007199254740990,
  decision: 'blocked',
};

export const network: NetworkEvent = {
  type: 'network',
  event_id: 'evt-network-1',
  time: T0 + 2,
  tenant_id: TENANT,
  agent_id: 'agent-1',
  blueprint_id: 'bp-1',
  ip: '10.0.0.1',
  token_id: 'tok-1',
  dest_host: 'files.example.org',
  dest_ip: '203.0.113.7',
  dest_port: 65535,
  category: 'file_sharing',
  action: 'blocked',
  bytes_out: 9007199254740990,
  bytes_in: 0,
  file_type: 'application/zip',
  threat: 'prompt_injection',
  dest_agent_id: 'agent-2',
};

export const userRisk: UserRiskEvent = {
  type: 'user_risk',
  event_id: 'evt-user-risk-1',
  time: T0 + 3,
  tenant_id: TENANT,
  user_id: 'user-1',
  level: 'high',
  reason: "leaked credentials; it's \"bad\"\nsecond line\ttab",
};

export const lifecycle: LifecycleEvent = {
  type: 'lifecycle',
  event_id: 'evt-lifecycle-1',
  time: T0 + 4,
  tenant_id: TENANT,
  agent_id: 'agent-1',
  action: 'permission_granted',
  blueprint_id: 'bp-1',
  actor: 'admin@example.com',
  sponsor_id: 'user-9',
  credential_id: 'cred-2',
  permission: 'Directory.ReadWrite.All',
};

/** Every type with every field set. */
export const FULL_SAMPLES: AgentEvent[] = [signin, token, network, userRisk, lifecycle];

/** Every type with every nullable field null (and empty arrays / zero numbers where not nullable). */
export const SPARSE_SAMPLES: AgentEvent[] = [
  {
    ...signin,
    event_id: 'evt-signin-2',
    time: T0 + 10,
    agent_type: 'agent_identity',
    blueprint_id: null,
    flow: 'client_credentials',
    user_id: null,
    credential_id: null,
    credential_type: null,
    ip: '192.0.2.1',
    asn: null,
    country: null,
    lat: null,
    lon: null,
    user_agent: null,
    result: 'success',
    error_code: null,
  },
  { ...token, event_id: 'evt-token-2', time: T0 + 11, blueprint_id: null, user_id: null, scopes: [], lifetime_s: 0, decision: 'granted' },
  {
    ...network,
    event_id: 'evt-network-2',
    time: T0 + 12,
    blueprint_id: null,
    token_id: null,
    dest_ip: null,
    dest_port: 0,
    action: 'allowed',
    bytes_out: 0,
    file_type: null,
    threat: 'none',
    dest_agent_id: null,
  },
  { ...userRisk, event_id: 'evt-user-risk-2', time: T0 + 13, level: 'none', reason: null },
  {
    ...lifecycle,
    event_id: 'evt-lifecycle-2',
    time: T0 + 14,
    action: 'created',
    blueprint_id: null,
    sponsor_id: null,
    credential_id: null,
    permission: null,
  },
];

export const ALL_SAMPLES: AgentEvent[] = [...FULL_SAMPLES, ...SPARSE_SAMPLES];

// ---------------------------------------------------------------------------
// Outputs of the later stages, for the ledger's other tables.

import type { AdminAction, Detection, RiskChange } from '../../detectors/types.js';

export const detection: Detection = {
  detector: 'unfamiliar-resource',
  severity: 'high',
  tenant_id: TENANT,
  agent_id: 'agent-1',
  time: T0 + 2,
  summary: "agent-1 reached files.example.org, which neither it nor its peers use (it's \"new\")",
  evidence: {
    observed: 'files.example.org',
    baseline: ['graph.example.com', 'vault.example.com'],
    threshold: 0,
    peer_group: 'blueprint:bp-1',
    ratio: 0.125,
    nested: { list: [1, 2.5, null, 'x\ny'] },
  },
  event_ids: ['evt-network-1', 'evt-token-1'],
};

export const riskChange: RiskChange = {
  tenant_id: TENANT,
  agent_id: 'agent-1',
  time: T0 + 3,
  level: 'high',
  previous_level: 'low',
  score: 87.25,
  state: 'atRisk',
  reasons: [{ detector: 'unfamiliar-resource', severity: 'high', summary: 'new destination' }],
  change_id: `${TENANT}:agent-1:7`,
};

export const adminAction: AdminAction = {
  action_id: 'act-1',
  tenant_id: TENANT,
  agent_id: 'agent-1',
  action: 'confirm_compromised',
  actor: 'analyst@example.com',
  reason: 'credential found on a paste site; rotating',
  time: T0 + 60_000,
};

// A seeded embedded store and the full API over it, for the audit API tests.
//
// Two tenants, `contoso` (A) and `fabrikam` (B), both with an agent called
// `agent-shared`. Everything of tenant B carries a marker (`b-secret`,
// `B-SECRET`, 203.0.113.66) that must never appear in an answer to a token of
// tenant A. The detections go through a real DetectionPipeline's risk engine,
// which is also the API's live risk and applies the admin actions; every
// batch goes through one LedgerWriter (hash chain included).

import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import type { ClickHouseClient } from '@clickhouse/client';
import type { AgentEvent, LifecycleEvent, NetworkEvent, SigninEvent, TokenEvent } from '../../contract/events.js';
import { TokenAuthority, type Role } from '../../api/auth.js';
import { riskRoutes } from '../../api/routes/risk.js';
import { buildApi, type ApiOptions } from '../../api/server.js';
import { DetectionPipeline } from '../../detectors/pipeline.js';
import type { Detection, RiskChange } from '../../detectors/types.js';
import { RiskView } from '../../publish/risk-view.js';
import { LedgerWriter } from '../../store/ledger-writer.js';
import { openMigrated } from '../store/helpers.js';

export const A = 'contoso';
export const B = 'fabrikam';
export const SHARED = 'agent-shared';
export const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);
export const MIN = 60_000;
/** Strings only tenant B's data contains. */
export const B_MARKERS = ['b-secret', 'B-SECRET', '203.0.113.66'];
export const ROLES: Role[] = ['token_server', 'analyst', 'admin'];

let n = 0;
const id = (p: string) => `${p}-${++n}`;

export function signin(tenant: string, agent: string, time: number, o: Partial<SigninEvent> = {}): SigninEvent {
  return {
    type: 'signin',
    event_id: id(`${tenant}-si`),
    time,
    tenant_id: tenant,
    agent_id: agent,
    agent_type: 'agent_identity',
    blueprint_id: 'bp-a',
    flow: 'on_behalf_of',
    user_id: 'user-1',
    credential_id: 'cred-1',
    credential_type: 'certificate',
    ip: '198.51.100.10',
    asn: 64500,
    country: 'NL',
    lat: 52.37,
    lon: 4.89,
    user_agent: 'agent-runtime/1.0',
    resource: 'https://graph.microsoft.com/',
    result: 'success',
    error_code: null,
    ...o,
  };
}

export function token(tenant: string, agent: string, time: number, o: Partial<TokenEvent> = {}): TokenEvent {
  return {
    type: 'token',
    event_id: id(`${tenant}-tk`),
    time,
    tenant_id: tenant,
    agent_id: agent,
    blueprint_id: 'bp-a',
    token_id: id('tok'),
    flow: 'on_behalf_of',
    user_id: 'user-1',
    resource: 'https://graph.microsoft.com/',
    scopes: ['Mail.Read'],
    ip: '198.51.100.10',
    lifetime_s: 3600,
    decision: 'granted',
    ...o,
  };
}

export function network(tenant: string, agent: string, time: number, o: Partial<NetworkEvent> = {}): NetworkEvent {
  return {
    type: 'network',
    event_id: id(`${tenant}-nw`),
    time,
    tenant_id: tenant,
    agent_id: agent,
    blueprint_id: 'bp-a',
    ip: '198.51.100.10',
    token_id: null,
    dest_host: 'api.internal.example',
    dest_ip: '10.1.2.3',
    dest_port: 443,
    category: 'business',
    action: 'allowed',
    bytes_out: 1000,
    bytes_in: 2000,
    file_type: null,
    threat: 'none',
    dest_agent_id: null,
    ...o,
  };
}

export function lifecycle(tenant: string, agent: string, time: number, action: LifecycleEvent['action'], o: Partial<LifecycleEvent> = {}): LifecycleEvent {
  return {
    type: 'lifecycle',
    event_id: id(`${tenant}-lc`),
    time,
    tenant_id: tenant,
    agent_id: agent,
    action,
    blueprint_id: 'bp-a',
    actor: 'owner@contoso.example',
    sponsor_id: null,
    credential_id: null,
    permission: null,
    ...o,
  };
}

export function detection(tenant: string, agent: string, time: number, detector: string, severity: Detection['severity'], summary: string): Detection {
  return {
    detector,
    severity,
    tenant_id: tenant,
    agent_id: agent,
    time,
    summary,
    evidence: { observed: summary, baseline: [], threshold: 1, peer_group: null },
    event_ids: [],
  };
}

/** Tenant A's events: agent-shared's life, sign-ins, tokens and calls; agent-y calls agent-shared. */
export function tenantAEvents(): AgentEvent[] {
  const ev: AgentEvent[] = [
    lifecycle(A, SHARED, T0, 'created'),
    lifecycle(A, SHARED, T0 + 1000, 'sponsor_added', { sponsor_id: 'sponsor-1' }),
    lifecycle(A, SHARED, T0 + 2000, 'sponsor_added', { sponsor_id: 'sponsor-2' }),
    lifecycle(A, SHARED, T0 + 3000, 'sponsor_removed', { sponsor_id: 'sponsor-1', actor: 'security@contoso.example' }),
    lifecycle(A, SHARED, T0 + 4000, 'credential_added', { credential_id: 'cred-1', actor: 'ops@contoso.example' }),
    lifecycle(A, SHARED, T0 + 5000, 'credential_added', { credential_id: 'cred-2', actor: 'ops@contoso.example' }),
    lifecycle(A, SHARED, T0 + 6000, 'credential_removed', { credential_id: 'cred-2', actor: 'security@contoso.example' }),
    lifecycle(A, SHARED, T0 + 7000, 'permission_granted', { permission: 'Mail.Read' }),
  ];
  for (let i = 0; i < 10; i++) ev.push(signin(A, SHARED, T0 + MIN + i * 1000, { user_id: 'user-1' }));
  for (let i = 0; i < 5; i++) ev.push(signin(A, SHARED, T0 + 2 * MIN + i * 1000, { user_id: 'user-2', resource: 'https://vault.azure.net/' }));
  for (let i = 0; i < 5; i++) ev.push(signin(A, SHARED, T0 + 3 * MIN + i * 1000, { flow: 'client_credentials', user_id: null }));
  for (let i = 0; i < 2; i++) ev.push(signin(A, SHARED, T0 + 4 * MIN + i * 1000, { result: 'failure', error_code: 'AADSTS7000215', ip: '192.0.2.99' }));
  for (let i = 0; i < 10; i++) ev.push(token(A, SHARED, T0 + 5 * MIN + i * 1000));
  for (let i = 0; i < 4; i++) ev.push(network(A, SHARED, T0 + 6 * MIN + i * 1000, { dest_agent_id: 'agent-x' }));
  for (let i = 0; i < 2; i++) ev.push(network(A, SHARED, T0 + 7 * MIN + i * 1000, { action: 'blocked', threat: 'malware' }));
  for (let i = 0; i < 3; i++) ev.push(network(A, 'agent-y', T0 + 8 * MIN + i * 1000, { dest_agent_id: SHARED }));
  ev.push(signin(A, 'agent-x', T0 + 9 * MIN, { blueprint_id: 'bp-x', user_id: null, flow: 'client_credentials' }));
  return ev;
}

/** Tenant B's events: the same agent id, every value marked. */
export function tenantBEvents(): AgentEvent[] {
  return [
    lifecycle(B, SHARED, T0, 'created', { actor: 'owner@b-secret.example', blueprint_id: 'bp-b-secret' }),
    lifecycle(B, SHARED, T0 + 1000, 'sponsor_added', { sponsor_id: 'sponsor-b-secret', actor: 'owner@b-secret.example', blueprint_id: 'bp-b-secret' }),
    lifecycle(B, SHARED, T0 + 2000, 'credential_added', { credential_id: 'cred-b-secret', actor: 'ops@b-secret.example', blueprint_id: 'bp-b-secret' }),
    signin(B, SHARED, T0 + MIN, {
      ip: '203.0.113.66',
      resource: 'https://b-secret.example/',
      user_id: 'user-b-secret',
      credential_id: 'cred-b-secret',
      blueprint_id: 'bp-b-secret',
    }),
    token(B, SHARED, T0 + MIN + 1, { ip: '203.0.113.66', resource: 'https://b-secret.example/', user_id: 'user-b-secret', blueprint_id: 'bp-b-secret' }),
    network(B, SHARED, T0 + MIN + 2, { ip: '203.0.113.66', dest_agent_id: 'agent-b-secret', dest_host: 'b-secret.example', blueprint_id: 'bp-b-secret' }),
    network(B, 'agent-b-secret', T0 + MIN + 3, { ip: '203.0.113.66', dest_agent_id: SHARED, dest_host: 'b-secret.example', blueprint_id: 'bp-b-secret' }),
  ];
}

export function tenantADetections(): Detection[] {
  return [
    detection(A, SHARED, T0 + 10 * MIN, 'unfamiliar-resource', 'high', 'agent-shared reached a resource neither it nor its peers use'),
    detection(A, SHARED, T0 + 20 * MIN, 'signin-spike', 'medium', 'agent-shared signed in 12x more than usual'),
    detection(A, SHARED, T0 + 30 * MIN, 'failed-access', 'low', 'agent-shared failed to sign in twice'),
    detection(A, 'agent-x', T0 + 40 * MIN, 'failed-access', 'low', 'agent-x failed to sign in'),
    detection(A, 'agent-z', T0 + 50 * MIN, 'scope-escalation', 'medium', 'agent-z asked for more scopes'),
  ];
}

export function tenantBDetections(): Detection[] {
  return [detection(B, SHARED, T0 + 10 * MIN, 'unfamiliar-resource', 'high', 'B-SECRET detection of agent-shared')];
}

export interface AuditFixture {
  store: ClickHouseClient;
  app: FastifyInstance;
  authority: TokenAuthority;
  pipeline: DetectionPipeline;
  writer: LedgerWriter;
  view: RiskView;
  /** Risk changes handed to publication by the admin routes. */
  published: RiskChange[];
  /** Tokens of tenant A and B per role. */
  a: Record<Role, string>;
  b: Record<Role, string>;
  build(options?: Partial<ApiOptions>): Promise<FastifyInstance>;
  close(): Promise<void>;
}

/** Writes a batch of events and detections through the writer and the engine (like the runner). */
export async function writeThroughPipeline(
  writer: LedgerWriter,
  pipeline: DetectionPipeline,
  view: RiskView,
  token: string,
  events: AgentEvent[],
  detections: Detection[] = [],
): Promise<RiskChange[]> {
  const changes: RiskChange[] = [];
  for (const d of detections) {
    const c = pipeline.engine.ingest(d);
    if (c) changes.push(c);
  }
  await writer.writeBatch({ token, events: events.map((event, i) => ({ event, source: `test:${token}`, offset: i })), detections, riskChanges: changes });
  view.apply(changes);
  return changes;
}

export async function auditFixture(database: string, apiOptions: Partial<ApiOptions> = {}): Promise<AuditFixture> {
  const store = await openMigrated(database);
  const authority = new TokenAuthority(randomBytes(32));
  const pipeline = new DetectionPipeline();
  const writer = new LedgerWriter(store);
  const view = new RiskView();
  const published: RiskChange[] = [];
  await writeThroughPipeline(writer, pipeline, view, 'seed:a', tenantAEvents(), tenantADetections());
  await writeThroughPipeline(writer, pipeline, view, 'seed:b', tenantBEvents(), tenantBDetections());

  const apps: FastifyInstance[] = [];
  const build = async (options: Partial<ApiOptions> = {}) => {
    const app = await buildApi({
      store,
      authority,
      readiness: [],
      logLevel: process.env.RISKSTREAM_TEST_API_LOG ?? 'silent',
      liveRisk: pipeline,
      adminActions: {
        pipeline,
        ledger: writer,
        publish: async ({ riskChanges }) => {
          published.push(...riskChanges);
          view.apply(riskChanges);
        },
      },
      ledgerGraceMs: 0,
      v1Plugins: [riskRoutes(view)],
      ...apiOptions,
      ...options,
    });
    await app.ready();
    apps.push(app);
    return app;
  };
  const app = await build();
  const tokens = async (tenant: string) => {
    const out = {} as Record<Role, string>;
    for (const role of ROLES) out[role] = await authority.issue({ role, tenant, subject: `${role}@${tenant}.example`, ttlSeconds: 3600 });
    return out;
  };
  return {
    store,
    app,
    authority,
    pipeline,
    writer,
    view,
    published,
    a: await tokens(A),
    b: await tokens(B),
    build,
    async close() {
      for (const a of apps) await a.close();
      await store.close();
    },
  };
}

/** GET with a bearer token; the parsed body and status. */
export async function get(app: FastifyInstance, url: string, token?: string): Promise<{ status: number; body: any; text: string }> {
  const res = await app.inject({ method: 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.statusCode, body: res.body ? safeJson(res.body) : undefined, text: res.body };
}

export async function post(app: FastifyInstance, url: string, payload: unknown, token?: string): Promise<{ status: number; body: any; text: string }> {
  const res = await app.inject({ method: 'POST', url, payload: payload as object, headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.statusCode, body: res.body ? safeJson(res.body) : undefined, text: res.body };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

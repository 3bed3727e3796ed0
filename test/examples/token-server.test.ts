// The example token server against a LIVE riskstream: the real pipeline
// (NDJSON source → detection → embedded ClickHouse → RiskView) and the real
// API on 127.0.0.1, called over HTTP by the token server.
//
// The input makes one agent high and one medium through the real detectors:
// each signs in on behalf of a user whose user risk is high / medium
// (risky-user-signin), and a third agent signs in plainly.

import { Readable } from 'node:stream';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { jwtVerify } from 'jose';
import { loadConfig } from '../../config/index.js';
import { loadSigningKey, TokenAuthority } from '../../api/auth.js';
import { startRiskstream, type Riskstream } from '../../cli/app.js';
import type { AgentEvent, SigninEvent, UserRiskEvent } from '../../contract/events.js';
import { toJsonRecord } from '../../contract/validate.js';
import { buildTokenServer, isPrivilegedScope, narrowScopes } from '../../examples/token-server/server.js';
import { testDataDir } from '../store/helpers.js';

const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);
const TENANT = 'contoso';
const KEY = new TextEncoder().encode('example-token-server-signing-key-0123456789');

let n = 0;
const userRisk = (user: string, level: UserRiskEvent['level'], time: number): UserRiskEvent => ({
  type: 'user_risk',
  event_id: `ur-${++n}`,
  time,
  tenant_id: TENANT,
  user_id: user,
  level,
  reason: 'leaked credentials',
});
const signin = (agent: string, user: string | null, time: number): SigninEvent => ({
  type: 'signin',
  event_id: `si-${++n}`,
  time,
  tenant_id: TENANT,
  agent_id: agent,
  agent_type: 'agent_identity',
  blueprint_id: 'bp-mail',
  flow: user ? 'on_behalf_of' : 'client_credentials',
  user_id: user,
  credential_id: `cred-${agent}`,
  credential_type: 'federated',
  ip: '20.0.0.1',
  asn: 8075,
  country: 'US',
  lat: 38.9,
  lon: -77.0,
  user_agent: 'azsdk-js-identity/1.2.0',
  resource: 'https://graph.microsoft.com',
  result: 'success',
  error_code: null,
});

const EVENTS: AgentEvent[] = [
  userRisk('u-high', 'high', T0),
  userRisk('u-med', 'medium', T0),
  signin('agent-ok', null, T0 + 30_000),
  signin('agent-high', 'u-high', T0 + 60_000),
  signin('agent-med', 'u-med', T0 + 60_000),
];

const SCOPES = [
  'User.Read',
  'Files.Read.All',
  'Mail.ReadWrite',
  'Directory.Read.All',
  'https://graph.microsoft.com/RoleManagement.ReadWrite.Directory',
  'AppRoleAssignment.ReadWrite.All',
  'Application.ReadWrite.All',
];
const READ_ONLY = ['User.Read', 'Files.Read.All'];

/** A port on 127.0.0.1 with nothing listening. */
async function closedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe('example token server against a live riskstream', () => {
  let rs: Riskstream;
  let tokenServer: FastifyInstance;
  let riskstreamToken: string;

  beforeAll(async () => {
    const dataDir = testDataDir();
    const config = loadConfig({
      RISKSTREAM_DATA_DIR: dataDir,
      RISKSTREAM_PORT: '0',
      RISKSTREAM_LOG_LEVEL: 'warn',
      CLICKHOUSE_DATABASE: 'token_server_example',
    });
    const ndjson = EVENTS.map((e) => JSON.stringify(toJsonRecord(e))).join('\n') + '\n';
    rs = await startRiskstream(config, { input: Readable.from([ndjson]) });
    await rs.done;
    expect(rs.runner.stats.events).toBe(EVENTS.length);

    const authority = new TokenAuthority(await loadSigningKey(dataDir, process.env.RISKSTREAM_JWT_SECRET));
    riskstreamToken = await authority.issue({ role: 'token_server', tenant: TENANT, ttlSeconds: 600 });
    tokenServer = await buildTokenServer({ riskstreamUrl: rs.url!, riskstreamToken, signingKey: KEY });
  });

  afterAll(async () => {
    await tokenServer?.close();
    await rs?.stop();
  });

  const ask = (app: FastifyInstance, agent_id: string, scopes: string[] = SCOPES) =>
    app.inject({ method: 'POST', url: '/token', payload: { agent_id, scopes } });

  it('the live pipeline made agent-high high and agent-med medium', async () => {
    expect(rs.riskView.get(TENANT, 'agent-high').level).toBe('high');
    expect(rs.riskView.get(TENANT, 'agent-med').level).toBe('medium');
    // And riskstream's API says so over HTTP.
    const res = await fetch(`${rs.url}/v1/risk/agents/agent-high`, { headers: { authorization: `Bearer ${riskstreamToken}` } });
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ agent_id: 'agent-high', level: 'high', reasons: [{ detector: 'risky-user-signin' }] });
  });

  it('denies a high-risk agent with access_denied and the reason', async () => {
    const res = await ask(tokenServer, 'agent-high');
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ error: 'access_denied' });
    expect(res.json().reason).toMatch(/^agent risk is high: .*u-high/);
  });

  it('narrows a medium-risk agent to read-only scopes', async () => {
    const res = await ask(tokenServer, 'agent-med');
    expect(res.statusCode).toBe(200);
    const body = res.json();
    expect(body.scope).toBe(READ_ONLY.join(' '));
    expect(body.risk_level).toBe('medium');
    expect(body.dropped_scopes).toEqual(SCOPES.filter((s) => !READ_ONLY.includes(s)));
    const { payload } = await jwtVerify(body.access_token, KEY, { issuer: 'example-token-server', audience: 'example-resource' });
    expect(payload).toMatchObject({ sub: 'agent-med', scp: READ_ONLY.join(' '), risk_level: 'medium' });

    const onlyPrivileged = await ask(tokenServer, 'agent-med', ['Directory.ReadWrite.All']);
    expect(onlyPrivileged.statusCode).toBe(403);
    expect(onlyPrivileged.json()).toMatchObject({ error: 'access_denied' });
  });

  it('issues every scope to a low/none-risk agent and to one riskstream does not know', async () => {
    for (const agent of ['agent-ok', 'never-seen']) {
      const res = await ask(tokenServer, agent);
      expect(res.statusCode, agent).toBe(200);
      expect(res.json().scope).toBe(SCOPES.join(' '));
      expect(res.json().dropped_scopes).toEqual([]);
      expect(['none', 'low']).toContain(res.json().risk_level);
    }
  });

  it('asks about ids too long for a path through the batch route', async () => {
    const longId = `agent-${'x'.repeat(150)}`;
    rs.riskView.apply([
      {
        tenant_id: TENANT,
        agent_id: longId,
        time: T0,
        level: 'medium',
        previous_level: 'none',
        score: 0.6,
        state: 'atRisk',
        reasons: [{ detector: 'unfamiliar-resource', severity: 'medium', summary: 'first use of https://vault.azure.net' }],
        change_id: `${TENANT}/${longId}/${T0}/1`,
      },
    ]);
    const res = await ask(tokenServer, longId);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ risk_level: 'medium', scope: READ_ONLY.join(' ') });
  });

  it('follows riskstream live: an agent that turns high is denied on its next request', async () => {
    expect((await ask(tokenServer, 'agent-ok')).statusCode).toBe(200);
    rs.riskView.apply([
      {
        tenant_id: TENANT,
        agent_id: 'agent-ok',
        time: T0 + 3_600_000,
        level: 'high',
        previous_level: 'none',
        score: 1,
        state: 'confirmedCompromised',
        reasons: [{ detector: 'admin', severity: 'high', summary: 'confirmed compromised by soc@contoso: token sold on a forum' }],
        change_id: `${TENANT}/agent-ok/${T0 + 3_600_000}/99`,
      },
    ]);
    const res = await ask(tokenServer, 'agent-ok');
    expect(res.statusCode).toBe(403);
    expect(res.json().reason).toContain('confirmed compromised');
  });

  it('fails closed for privileged scopes when riskstream is unreachable', async () => {
    const down = await buildTokenServer({ riskstreamUrl: `http://127.0.0.1:${await closedPort()}`, riskstreamToken, signingKey: KEY });
    try {
      const res = await ask(down, 'agent-ok');
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ scope: READ_ONLY.join(' '), risk_level: 'unknown' });
      expect(res.json().risk_unavailable).toMatch(/unreachable/);
      const privileged = await ask(down, 'agent-ok', ['Directory.Read.All', 'Mail.ReadWrite']);
      expect(privileged.statusCode).toBe(503);
      expect(privileged.json()).toMatchObject({ error: 'temporarily_unavailable' });
    } finally {
      await down.close();
    }
  });

  it('fails closed the same way when riskstream refuses its token', async () => {
    const refused = await buildTokenServer({ riskstreamUrl: rs.url!, riskstreamToken: 'not-a-valid-token', signingKey: KEY });
    try {
      const res = await ask(refused, 'agent-high', ['User.Read', 'Mail.ReadWrite']);
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ scope: 'User.Read', risk_level: 'unknown', risk_unavailable: 'riskstream answered 401' });
    } finally {
      await refused.close();
    }
  });

  it('rejects malformed token requests', async () => {
    for (const payload of [{}, { agent_id: 'a' }, { agent_id: '', scopes: ['User.Read'] }, { agent_id: 'a', scopes: [] }]) {
      const res = await tokenServer.inject({ method: 'POST', url: '/token', payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
    }
  });
});

describe('scope narrowing', () => {
  it('drops the privileged scope families, matched after any resource prefix', () => {
    for (const s of ['Mail.ReadWrite', 'Files.ReadWrite.All', 'Directory.Read.All', 'RoleManagement.Read.Directory', 'AppRoleAssignment.ReadWrite.All', 'Application.ReadWrite.All', 'https://graph.microsoft.com/Directory.AccessAsUser.All']) {
      expect(isPrivilegedScope(s), s).toBe(true);
    }
    for (const s of ['User.Read', 'Mail.Read', 'Files.Read.All', 'Application.Read.All', 'offline_access', 'https://graph.microsoft.com/User.Read', 'DirectoryX.Read']) {
      expect(isPrivilegedScope(s), s).toBe(false);
    }
    expect(narrowScopes(['User.Read', 'Mail.ReadWrite'])).toEqual({ kept: ['User.Read'], dropped: ['Mail.ReadWrite'] });
  });
});

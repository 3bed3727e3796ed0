// Who may call what: every /v1 route × every role, and without a token, with
// a malformed, expired, wrongly signed or role-less token; tenant isolation on
// every route (the same agent id exists in both tenants); per-token rate
// limiting; the OpenAPI document lists every route with its schemas.

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SignJWT } from 'jose';
import { TokenAuthority, type Role } from '../../api/auth.js';
import { A, B, B_MARKERS, ROLES, SHARED, auditFixture, get, post, type AuditFixture } from './audit-fixture.js';

interface RouteCase {
  method: 'GET' | 'POST';
  /** As the OpenAPI document names it. */
  path: string;
  url: string;
  body?: object;
  roles: Role[];
}

const AUDIT: Role[] = ['analyst', 'admin'];
const ALL: Role[] = ['token_server', 'analyst', 'admin'];

/** Every /v1 route. The OpenAPI test below fails when a route is missing here. */
const ROUTES: RouteCase[] = [
  { method: 'GET', path: '/v1/events', url: '/v1/events', roles: AUDIT },
  { method: 'GET', path: '/v1/detections', url: '/v1/detections', roles: AUDIT },
  { method: 'GET', path: '/v1/risky-agents', url: '/v1/risky-agents', roles: AUDIT },
  { method: 'GET', path: '/v1/agents/{id}', url: `/v1/agents/${SHARED}`, roles: AUDIT },
  { method: 'GET', path: '/v1/agents/{id}/timeline', url: `/v1/agents/${SHARED}/timeline`, roles: AUDIT },
  { method: 'GET', path: '/v1/agents/{id}/provenance', url: `/v1/agents/${SHARED}/provenance`, roles: AUDIT },
  { method: 'GET', path: '/v1/stats/detections', url: '/v1/stats/detections?from=2026-01-05T00:00:00Z&to=2026-01-06T00:00:00Z', roles: AUDIT },
  { method: 'GET', path: '/v1/stats/events', url: '/v1/stats/events?from=2026-01-05T00:00:00Z&to=2026-01-06T00:00:00Z', roles: AUDIT },
  { method: 'GET', path: '/v1/ledger/verify', url: '/v1/ledger/verify', roles: AUDIT },
  { method: 'POST', path: '/v1/agents/{id}/confirm-compromised', url: '/v1/agents/agent-matrix/confirm-compromised', body: { reason: 'matrix' }, roles: ['admin'] },
  { method: 'POST', path: '/v1/agents/{id}/confirm-safe', url: '/v1/agents/agent-matrix/confirm-safe', body: { reason: 'matrix' }, roles: ['admin'] },
  { method: 'POST', path: '/v1/agents/{id}/dismiss', url: '/v1/agents/agent-matrix/dismiss', body: { reason: 'matrix' }, roles: ['admin'] },
  { method: 'GET', path: '/v1/risk/agents/{id}', url: `/v1/risk/agents/${SHARED}`, roles: ALL },
  { method: 'POST', path: '/v1/risk/agents:batch', url: '/v1/risk/agents:batch', body: { ids: [SHARED] }, roles: ALL },
];

describe('access control', { timeout: 120_000 }, () => {
  let f: AuditFixture;
  const bad = {} as Record<'expired' | 'wrongKey' | 'noRole' | 'otherAudience', string>;

  beforeAll(async () => {
    f = await auditFixture('api_access');
    bad.expired = await f.authority.issue({ role: 'admin', tenant: A, ttlSeconds: -60 });
    bad.wrongKey = await new TokenAuthority(randomBytes(32)).issue({ role: 'admin', tenant: A, ttlSeconds: 600 });
    // Signed with the right key, but without a valid role / for another audience.
    const key = (f.authority as unknown as { key: Uint8Array }).key;
    const jwt = (claims: Record<string, unknown>, aud = 'riskstream-api') =>
      new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuer('riskstream').setAudience(aud).setSubject('x').setIssuedAt().setExpirationTime('10m').sign(key);
    bad.noRole = await jwt({ role: 'superuser', tenant: A });
    bad.otherAudience = await jwt({ role: 'admin', tenant: A }, 'someone-else');
  });
  afterAll(async () => {
    await f?.close();
  });

  const call = (r: RouteCase, token?: string, raw?: string) =>
    f.app.inject({
      method: r.method,
      url: r.url,
      ...(r.body && { payload: r.body }),
      headers: raw !== undefined ? { authorization: raw } : token ? { authorization: `Bearer ${token}` } : {},
    });

  it('answers 401 without a valid bearer token, on every route', async () => {
    for (const r of ROUTES) {
      const label = `${r.method} ${r.path}`;
      const none = await call(r);
      expect(none.statusCode, label).toBe(401);
      expect(none.headers['www-authenticate'], label).toMatch(/^Bearer/);
      expect(none.json(), label).toMatchObject({ error: 'unauthorized' });
      expect((await call(r, undefined, 'Bearer garbage')).statusCode, label).toBe(401);
      expect((await call(r, undefined, `Basic ${Buffer.from('admin:admin').toString('base64')}`)).statusCode, label).toBe(401);
      const expired = await call(r, bad.expired);
      expect(expired.statusCode, label).toBe(401);
      expect(expired.json().message, label).toBe('token expired');
      for (const t of [bad.wrongKey, bad.noRole, bad.otherAudience]) expect((await call(r, t)).statusCode, label).toBe(401);
    }
  });

  it('admits exactly the roles of each route (403 for the others)', async () => {
    for (const r of ROUTES) {
      for (const role of ROLES) {
        const res = await call(r, f.a[role]);
        const label = `${r.method} ${r.path} as ${role}: ${res.body}`;
        if (r.roles.includes(role)) expect(res.statusCode, label).toBe(200);
        else {
          expect(res.statusCode, label).toBe(403);
          expect(res.json(), label).toEqual({ error: 'forbidden', message: `role ${role} may not use this route` });
        }
      }
    }
  });

  it('never shows another tenant’s data, on any route, for the same agent id', async () => {
    for (const r of ROUTES.filter((x) => x.method === 'GET')) {
      const res = await call(r, f.a.admin);
      expect(res.statusCode, r.path).toBe(200);
      for (const m of B_MARKERS) expect(res.body, `${r.path} shows ${m}`).not.toContain(m);
    }
    // Tenant B's token sees its own data where tenant A's saw none of it.
    const b = await get(f.app, `/v1/agents/${SHARED}/provenance`, f.b.analyst);
    expect(b.text).toContain('sponsor-b-secret');
    expect(b.text).not.toContain('sponsor-2');
    expect((await get(f.app, '/v1/events?limit=1000', f.b.analyst)).body.events.every((e: { tenant_id: string }) => e.tenant_id === B)).toBe(true);
    expect((await get(f.app, '/v1/ledger/verify', f.b.analyst)).body.tenant_id).toBe(B);
    expect((await get(f.app, `/v1/risk/agents/${SHARED}`, f.b.token_server)).body.reasons[0].summary).toContain('B-SECRET');

    // An admin of tenant B acting on agent-shared leaves tenant A's agent-shared alone.
    const before = (await get(f.app, `/v1/agents/${SHARED}`, f.a.analyst)).body.risk;
    expect((await post(f.app, `/v1/agents/${SHARED}/dismiss`, { reason: 'B only' }, f.b.admin)).body.risk.state).toBe('dismissed');
    expect((await get(f.app, `/v1/agents/${SHARED}`, f.a.analyst)).body.risk).toEqual(before);
    expect((await get(f.app, `/v1/agents/${SHARED}`, f.b.analyst)).body.risk.state).toBe('dismissed');
    const actions = await get(f.app, `/v1/agents/${SHARED}/timeline?limit=1000`, f.a.analyst);
    expect(actions.body.items.some((i: { kind: string }) => i.kind === 'admin_action')).toBe(false);
  });

  it('rate-limits each token on its own, answering 429', async () => {
    const app = await f.build({ rateLimitPerMinute: 3 });
    const t1 = await f.authority.issue({ role: 'analyst', tenant: A, ttlSeconds: 600 });
    const t2 = await f.authority.issue({ role: 'analyst', tenant: A, ttlSeconds: 600 });
    const codes: number[] = [];
    for (let i = 0; i < 5; i++) codes.push((await get(app, '/v1/detections?limit=1', t1)).status);
    expect(codes).toEqual([200, 200, 200, 429, 429]);
    expect((await get(app, '/v1/detections?limit=1', t2)).status).toBe(200);
    expect((await get(app, '/v1/risky-agents', t1)).status).toBe(429);
  });

  it('documents every /v1 route in /openapi.json with its schemas, and serves /docs', async () => {
    const doc = (await get(f.app, '/openapi.json')).body as {
      paths: Record<string, Record<string, { security?: unknown; responses?: Record<string, { content?: unknown }>; parameters?: unknown[]; requestBody?: unknown }>>;
    };
    const documented = Object.entries(doc.paths)
      .filter(([p]) => p.startsWith('/v1/'))
      .flatMap(([p, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${p}`))
      .sort();
    expect(documented).toEqual(ROUTES.map((r) => `${r.method} ${r.path}`).sort());
    for (const r of ROUTES) {
      const op = doc.paths[r.path]![r.method.toLowerCase()]!;
      expect(op.security, r.path).toEqual([{ bearer: [] }]);
      expect(op.responses?.['200']?.content, r.path).toBeDefined();
      for (const code of ['401', '403']) expect(op.responses?.[code], `${r.path} ${code}`).toBeDefined();
      if (r.method === 'POST') expect(op.requestBody, r.path).toBeDefined();
      if (r.path.includes('{id}')) expect(op.parameters, r.path).toEqual(expect.arrayContaining([expect.objectContaining({ name: 'id', in: 'path' })]));
    }
    const events = doc.paths['/v1/events']!.get!;
    expect((events.parameters as { name: string }[]).map((p) => p.name)).toEqual(expect.arrayContaining(['blueprint_id', 'ip', 'resource', 'cursor']));
    const docs = await f.app.inject({ method: 'GET', url: '/docs' });
    expect([200, 302]).toContain(docs.statusCode);
  });
});

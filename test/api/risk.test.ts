// The risk lookup API through the real buildApi (authentication, roles,
// rate limiting, error handling): latest answers, unknown agents, batches,
// tenant isolation, the role matrix and the verified-token cache.

import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Writable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import type { ClickHouseClient } from '@clickhouse/client';
import { decodeJwt } from 'jose';
import { TokenAuthority, type Principal, type Role } from '../../api/auth.js';
import { VerifiedTokenCache } from '../../api/plugins/authenticate.js';
import { PerTokenLimiter, riskRoutes } from '../../api/routes/risk.js';
import { ApiLogController, buildApi } from '../../api/server.js';
import type { RiskChange } from '../../detectors/types.js';
import { RiskView, type AgentRiskAnswer } from '../../publish/risk-view.js';

const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);

function change(tenant: string, agent: string, time: number, level: RiskChange['level'], seq = 1, reasons = 1): RiskChange {
  return {
    tenant_id: tenant,
    agent_id: agent,
    time,
    level,
    previous_level: 'none',
    score: level === 'high' ? 0.9 : level === 'medium' ? 0.6 : level === 'low' ? 0.3 : 0,
    state: level === 'none' ? 'dismissed' : 'atRisk',
    reasons: Array.from({ length: reasons }, (_, i) => ({ detector: `det-${i}`, severity: 'high' as const, summary: `${level} reason ${i}` })),
    change_id: `${tenant}/${agent}/${time}/${seq}`,
  };
}

/** The store is never touched by the risk routes. */
const noStore = {} as ClickHouseClient;

describe('risk lookup API', () => {
  let app: FastifyInstance;
  let authority: TokenAuthority;
  const view = new RiskView();
  const tokens = {} as Record<Role, string>;

  beforeAll(async () => {
    authority = new TokenAuthority(randomBytes(32));
    view.apply([
      change('tenant-a', 'agent-1', T0, 'low'),
      change('tenant-a', 'agent-1', T0 + 60_000, 'high', 2, 5),
      change('tenant-a', 'shared', T0, 'high'),
      change('tenant-b', 'shared', T0, 'low'),
    ]);
    app = await buildApi({ store: noStore, authority, readiness: [], logLevel: 'silent', v1Plugins: [riskRoutes(view)] });
    await app.ready();
    for (const role of ['token_server', 'analyst', 'admin'] as const) tokens[role] = await authority.issue({ role, tenant: 'tenant-a', ttlSeconds: 600 });
  });

  afterAll(async () => {
    await app?.close();
  });

  const get = (id: string, token?: string) =>
    app.inject({ method: 'GET', url: `/v1/risk/agents/${encodeURIComponent(id)}`, headers: token ? { authorization: `Bearer ${token}` } : {} });
  const batch = (body: unknown, token?: string) =>
    app.inject({ method: 'POST', url: '/v1/risk/agents:batch', payload: body as object, headers: token ? { authorization: `Bearer ${token}` } : {} });

  it('returns the latest level, state, score, time and top 3 reasons of an agent', async () => {
    const res = await get('agent-1', tokens.token_server);
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
    const body = res.json() as AgentRiskAnswer;
    expect(body).toEqual({
      agent_id: 'agent-1',
      level: 'high',
      state: 'atRisk',
      score: 0.9,
      updated_at: '2026-01-05T09:01:00.000Z',
      reasons: [0, 1, 2].map((i) => ({ detector: `det-${i}`, severity: 'high', summary: `high reason ${i}` })),
    });
  });

  it('follows the view: a newer change shows at once', async () => {
    view.apply([change('tenant-a', 'agent-2', T0, 'medium')]);
    expect((await get('agent-2', tokens.analyst)).json()).toMatchObject({ level: 'medium' });
    view.apply([change('tenant-a', 'agent-2', T0 + 1, 'none')]);
    expect((await get('agent-2', tokens.analyst)).json()).toMatchObject({ level: 'none', state: 'dismissed' });
  });

  it('answers 200 with level none for an unknown agent', async () => {
    const res = await get('never-seen', tokens.token_server);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ agent_id: 'never-seen', level: 'none', state: 'none', score: 0, updated_at: null, reasons: [] });
    const odd = 'odd id/with "quotes" & ünïcode';
    expect((await get(odd, tokens.token_server)).json()).toMatchObject({ agent_id: odd, level: 'none' });
  });

  it('takes ids up to 256 characters in the path and in a batch', async () => {
    const id256path = 'a'.repeat(256);
    expect((await get(id256path, tokens.token_server)).json()).toMatchObject({ agent_id: id256path, level: 'none' });
    expect((await get('a'.repeat(257), tokens.token_server)).statusCode).toBe(414);
    const id256 = 'b'.repeat(256);
    view.apply([change('tenant-a', id256, T0, 'medium')]);
    const res = await batch({ ids: [id256] }, tokens.token_server);
    expect(res.json().agents[0]).toMatchObject({ agent_id: id256, level: 'medium' });
    expect((await batch({ ids: ['c'.repeat(257)] }, tokens.token_server)).statusCode).toBe(400);
  });

  it('answers a batch of 100 in the order asked, and rejects 101 with a 400 naming ids', async () => {
    const ids = Array.from({ length: 100 }, (_, i) => (i === 0 ? 'agent-1' : i === 99 ? 'shared' : `unknown-${i}`));
    const res = await batch({ ids }, tokens.token_server);
    expect(res.statusCode).toBe(200);
    const agents = (res.json() as { agents: AgentRiskAnswer[] }).agents;
    expect(agents.map((a) => a.agent_id)).toEqual(ids);
    expect(agents[0]!.level).toBe('high');
    expect(agents[1]!.level).toBe('none');
    expect(agents[99]!.level).toBe('high');

    const tooMany = await batch({ ids: [...ids, 'one-more'] }, tokens.token_server);
    expect(tooMany.statusCode).toBe(400);
    expect(tooMany.json()).toMatchObject({ error: 'bad_request' });
    expect(tooMany.json().message).toMatch(/\bids\b/);
    expect(tooMany.json().message).toContain('100');
  });

  it('rejects malformed batch bodies with a 400 naming the field', async () => {
    // (A lone string is coerced to a one-id array: the API's ajv runs with coerceTypes 'array'.)
    for (const body of [{}, { ids: [] }, { ids: [''] }, { ids: [1, { a: 1 }] }, { ids: ['a'], extra: 1 }]) {
      const res = await batch(body, tokens.analyst);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.json().message, JSON.stringify(body)).toMatch(/ids|extra/);
    }
  });

  it('keeps tenants apart: a token for tenant A never sees tenant B’s level', async () => {
    expect((await get('shared', tokens.token_server)).json()).toMatchObject({ level: 'high' });
    const tokenB = await authority.issue({ role: 'token_server', tenant: 'tenant-b', ttlSeconds: 600 });
    expect((await get('shared', tokenB)).json()).toMatchObject({ level: 'low' });
    expect((await get('agent-1', tokenB)).json()).toMatchObject({ level: 'none', updated_at: null });
    const b = (await batch({ ids: ['shared', 'agent-1'] }, tokenB)).json() as { agents: AgentRiskAnswer[] };
    expect(b.agents.map((a) => a.level)).toEqual(['low', 'none']);
    const tokenC = await authority.issue({ role: 'admin', tenant: 'tenant-c', ttlSeconds: 600 });
    expect((await get('shared', tokenC)).json()).toMatchObject({ level: 'none' });
  });

  it('admits token_server, analyst and admin on both routes', async () => {
    for (const role of ['token_server', 'analyst', 'admin'] as const) {
      expect((await get('agent-1', tokens[role])).statusCode, role).toBe(200);
      expect((await batch({ ids: ['agent-1'] }, tokens[role])).statusCode, role).toBe(200);
    }
  });

  it('answers 401 without a token, with a malformed one, or one signed by another key', async () => {
    const foreign = await new TokenAuthority(randomBytes(32)).issue({ role: 'admin', tenant: 'tenant-a', ttlSeconds: 600 });
    for (const token of [undefined, 'not-a-jwt', foreign, `${tokens.admin}x`]) {
      const one = await get('agent-1', token);
      expect(one.statusCode, String(token)).toBe(401);
      expect(one.json()).toMatchObject({ error: 'unauthorized' });
      expect((await batch({ ids: ['agent-1'] }, token)).statusCode).toBe(401);
    }
    const basic = await app.inject({ method: 'GET', url: '/v1/risk/agents/agent-1', headers: { authorization: `Basic ${tokens.admin}` } });
    expect(basic.statusCode).toBe(401);
  });

  it('answers 401 for an expired token, even one cached while it was valid', async () => {
    // exp is whole seconds after iat, itself rounded down: 2 s of TTL leave at least 1 s of validity
    // (with 1 s a token issued late in a second could already be expired on its first use).
    const shortLived = await authority.issue({ role: 'token_server', tenant: 'tenant-a', ttlSeconds: 2 });
    const exp = decodeJwt(shortLived).exp! * 1000;
    const verify = vi.spyOn(authority, 'verify');
    try {
      expect((await get('agent-1', shortLived)).statusCode).toBe(200);
      expect((await get('agent-1', shortLived)).statusCode).toBe(200);
      // The second request came from the cache.
      expect(verify).toHaveBeenCalledTimes(1);
      await new Promise((r) => setTimeout(r, Math.max(0, exp - Date.now()) + 20));
      const res = await get('agent-1', shortLived);
      expect(res.statusCode).toBe(401);
      expect(res.json()).toMatchObject({ error: 'unauthorized', message: 'token expired' });
      expect((await batch({ ids: ['agent-1'] }, shortLived)).statusCode).toBe(401);
    } finally {
      verify.mockRestore();
    }
  });

  it('verifies a failing token every time (failures are never cached)', async () => {
    const verify = vi.spyOn(authority, 'verify');
    try {
      for (let i = 0; i < 3; i++) expect((await get('agent-1', 'bad.token.here')).statusCode).toBe(401);
      expect(verify).toHaveBeenCalledTimes(3);
    } finally {
      verify.mockRestore();
    }
  });

  it('documents both routes in the OpenAPI document', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/openapi.json' })).json() as { paths: Record<string, Record<string, unknown>> };
    expect(doc.paths['/v1/risk/agents/{id}']?.get).toBeDefined();
    expect(doc.paths['/v1/risk/agents:batch']?.post).toBeDefined();
  });
});

describe('risk routes rate limit', () => {
  it('has its own per-token budget, answering 429 rate_limited with Retry-After past it', async () => {
    const authority = new TokenAuthority(randomBytes(32));
    const app = await buildApi({ store: noStore, authority, readiness: [], logLevel: 'silent', v1Plugins: [riskRoutes(new RiskView(), { rateLimitPerMinute: 2 })] });
    try {
      const token = await authority.issue({ role: 'token_server', tenant: 't', ttlSeconds: 600 });
      const other = await authority.issue({ role: 'token_server', tenant: 't', ttlSeconds: 600 });
      const call = (t: string) => app.inject({ method: 'GET', url: '/v1/risk/agents/a', headers: { authorization: `Bearer ${t}` } });
      expect((await call(token)).statusCode).toBe(200);
      expect((await app.inject({ method: 'POST', url: '/v1/risk/agents:batch', payload: { ids: ['a'] }, headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(200);
      const limited = await call(token);
      expect(limited.statusCode).toBe(429);
      expect(limited.json()).toMatchObject({ error: 'rate_limited' });
      expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
      // Another token has its own budget.
      expect((await call(other)).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });
});

describe('PerTokenLimiter', () => {
  it('allows max requests per window and key, then tells the seconds left', () => {
    const l = new PerTokenLimiter(2, 60_000);
    expect([l.take('a', 0), l.take('a', 1), l.take('a', 2)]).toEqual([0, 0, 60]);
    expect(l.take('b', 2)).toBe(0);
    expect(l.take('a', 30_500)).toBe(30);
    expect(l.take('a', 60_000)).toBe(0);
  });

  it('is bounded: expired windows go first, then the oldest', () => {
    const l = new PerTokenLimiter(1, 1000, 2);
    l.take('a', 0);
    l.take('b', 500);
    l.take('c', 1200); // 'a' expired: dropped
    expect(l.size).toBe(2);
    l.take('d', 1300); // none expired: the oldest ('b') goes
    expect(l.size).toBe(2);
    expect(l.take('c', 1400)).toBeGreaterThan(0);
    expect(l.take('b', 1400)).toBe(0);
  });
});

describe('VerifiedTokenCache', () => {
  const principal = (n: number): Principal => ({ subject: `s${n}`, role: 'analyst', tenant: 't', tokenId: `id${n}` });

  it('never answers at or after the token’s expiry', () => {
    const cache = new VerifiedTokenCache(10, 60_000);
    cache.set('tok', principal(1), 10_000, 1_000);
    expect(cache.get('tok', 9_999)).toEqual(principal(1));
    expect(cache.get('tok', 10_000)).toBeUndefined();
    expect(cache.size).toBe(0);
  });

  it('trusts an entry at most maxAgeMs, and does not cache tokens without expiry or already expired', () => {
    const cache = new VerifiedTokenCache(10, 1_000);
    cache.set('long', principal(1), 1e12, 0);
    expect(cache.get('long', 999)).toBeDefined();
    expect(cache.get('long', 1_000)).toBeUndefined();
    cache.set('no-exp', principal(2), undefined, 0);
    cache.set('expired', principal(3), 500, 600);
    expect(cache.size).toBe(0);
  });

  it('is bounded: the oldest entries are evicted first', () => {
    const cache = new VerifiedTokenCache(3, 60_000);
    for (let i = 0; i < 5; i++) cache.set(`t${i}`, principal(i), 1e12, 0);
    expect(cache.size).toBe(3);
    expect(cache.get('t0', 1)).toBeUndefined();
    expect(cache.get('t1', 1)).toBeUndefined();
    expect(cache.get('t4', 1)).toEqual(principal(4));
  });

  it('hands out a frozen copy, so no request can alter another’s principal', () => {
    const cache = new VerifiedTokenCache(3, 60_000);
    const p = principal(1);
    cache.set('t', p, 1e12, 0);
    const got = cache.get('t', 1)!;
    expect(Object.isFrozen(got)).toBe(true);
    p.tenant = 'other';
    expect(cache.get('t', 1)!.tenant).toBe('t');
  });

  it('can be disabled with capacity 0', () => {
    const cache = new VerifiedTokenCache(0);
    cache.set('t', principal(1), 1e12, 0);
    expect(cache.size).toBe(0);
  });
});

describe('request logging of quiet routes (requestLogging: errors)', () => {
  it('logs nothing for a successful lookup, but still logs failures and every request of other routes', async () => {
    const lines: { msg: string; res?: { statusCode: number }; req?: { url: string } }[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as (typeof lines)[number]);
        cb();
      },
    });
    const app = Fastify({ logger: { level: 'info', stream }, logController: new ApiLogController() });
    app.get('/quiet', { config: { requestLogging: 'errors' } }, async () => ({ ok: true }));
    app.get('/quiet-fails', { config: { requestLogging: 'errors' } }, async () => {
      throw new Error('boom');
    });
    app.get('/loud', async () => ({ ok: true }));
    try {
      await app.inject('/quiet');
      expect(lines).toEqual([]);
      await app.inject('/quiet-fails');
      expect(lines.some((l) => l.msg === 'boom')).toBe(true);
      expect(lines.some((l) => l.msg === 'request completed' && l.res?.statusCode === 500)).toBe(true);
      lines.length = 0;
      await app.inject('/loud');
      expect(lines.map((l) => l.msg)).toEqual(['incoming request', 'request completed']);
    } finally {
      await app.close();
    }
  });
});

// Hostile input on every filter of every route is data, never SQL: each
// answer is 200 without another tenant's rows, or 400 (404 for an agent that
// does not exist), and the ledger's tables are intact afterwards. Errors never
// leak a stack trace or SQL.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import { TokenAuthority } from '../../api/auth.js';
import { buildApi } from '../../api/server.js';
import { count, selectRows } from '../store/helpers.js';
import { B_MARKERS, auditFixture, get, post, type AuditFixture } from './audit-fixture.js';

const HOSTILE = [
  "' OR 1=1 --",
  "\\'; DROP TABLE events; --",
  "'; DROP TABLE events; --",
  '{x:String}',
  '{tenant:String}',
  '`events`',
  '` OR 1=1 --',
  "x' UNION ALL SELECT raw FROM events WHERE tenant_id = 'fabrikam' --",
  '" OR ""="',
  '\\',
  'ünïcødé ✓ 😀 \u202e',
  '\n; TRUNCATE TABLE events',
  '%',
  '*',
  'nul\u0000byte\ttab',
];

const TABLES = ['events', 'detections', 'risk_changes', 'admin_actions', 'ledger_chain', 'agent_hourly_stats', 'schema_migrations'];

/** Each route with each place a caller can put a value. */
const FILTERS: { path: string; params: string[] }[] = [
  { path: '/v1/events', params: ['type', 'agent_id', 'user_id', 'blueprint_id', 'ip', 'resource', 'from', 'to', 'cursor', 'limit'] },
  { path: '/v1/detections', params: ['detector', 'severity', 'agent_id', 'from', 'to', 'cursor', 'limit'] },
  { path: '/v1/risky-agents', params: ['level', 'state', 'cursor', 'limit'] },
  { path: '/v1/agents/agent-shared/timeline', params: ['from', 'to', 'cursor', 'limit'] },
  { path: '/v1/agents/agent-shared/provenance', params: ['limit'] },
  { path: '/v1/stats/detections', params: ['from', 'to', 'interval', 'agent_id'] },
  { path: '/v1/stats/events', params: ['from', 'to', 'interval', 'agent_id'] },
  { path: '/v1/ledger/verify', params: ['from', 'to'] },
];

/** Routes taking the agent id in the path. */
const PATHS = ['/v1/agents/{id}', '/v1/agents/{id}/timeline', '/v1/agents/{id}/provenance', '/v1/risk/agents/{id}'];

async function tableState(client: ClickHouseClient): Promise<Record<string, number>> {
  const names = (await selectRows<{ name: string }>(client, 'SELECT name FROM system.tables WHERE database = currentDatabase() ORDER BY name')).map((t) => t.name);
  for (const t of TABLES) expect(names, t).toContain(t);
  const out: Record<string, number> = {};
  for (const t of TABLES) out[t] = await count(client, t);
  return out;
}

describe('hostile input', { timeout: 120_000 }, () => {
  let f: AuditFixture;
  let before: Record<string, number>;

  beforeAll(async () => {
    f = await auditFixture('api_injection');
    before = await tableState(f.store);
  });
  afterAll(async () => {
    await f?.close();
  });

  const ok = (status: number, text: string, label: string, allowed = [200, 400]) => {
    expect(allowed, `${label} → ${status} ${text.slice(0, 200)}`).toContain(status);
    for (const m of B_MARKERS) expect(text, `${label} leaks ${m}`).not.toContain(m);
    if (status >= 400) expect(JSON.parse(text), label).toMatchObject({ error: expect.any(String), message: expect.any(String) });
  };

  it('every query filter treats hostile strings as values', async () => {
    for (const bad of HOSTILE) {
      for (const { path, params } of FILTERS) {
        for (const p of params) {
          const res = await get(f.app, `${path}?${p}=${encodeURIComponent(bad)}`, f.a.admin);
          ok(res.status, res.text, `${path}?${p}=${JSON.stringify(bad)}`);
          if (res.status === 200 && res.body.events) expect(res.body.events, `${path} ${p}`).toEqual([]);
          if (res.status === 200 && res.body.detections) expect(res.body.detections, `${path} ${p}`).toEqual([]);
        }
      }
      for (const path of PATHS) {
        const res = await get(f.app, path.replace('{id}', encodeURIComponent(bad)), f.a.admin);
        ok(res.status, res.text, `${path} id=${JSON.stringify(bad)}`, [200, 400, 404]);
      }
    }
    expect(await tableState(f.store)).toEqual(before);
  });

  it('hostile agent ids and reasons in admin actions are stored verbatim, in the caller’s tenant only', async () => {
    for (const bad of HOSTILE.slice(0, 6)) {
      const res = await post(f.app, `/v1/agents/${encodeURIComponent(bad)}/dismiss`, { reason: bad }, f.a.admin);
      ok(res.status, res.text, `dismiss ${JSON.stringify(bad)}`);
      expect(res.body.action).toMatchObject({ agent_id: bad, reason: bad });
      const batch = await post(f.app, '/v1/risk/agents:batch', { ids: [bad, 'agent-shared'] }, f.a.token_server);
      ok(batch.status, batch.text, `batch ${JSON.stringify(bad)}`);
    }
    const after = await tableState(f.store);
    expect(after.admin_actions).toBe(before.admin_actions! + 6);
    expect(after.events).toBe(before.events);
    const stored = await selectRows<{ tenant_id: string; agent_id: string }>(f.store, 'SELECT tenant_id, agent_id FROM admin_actions');
    expect(stored.map((r) => r.agent_id).sort()).toEqual(HOSTILE.slice(0, 6).sort());
    expect(new Set(stored.map((r) => r.tenant_id))).toEqual(new Set(['contoso']));
    expect((await get(f.app, '/v1/ledger/verify', f.a.analyst)).body).toMatchObject({ ok: true });
  });

  it('a failure inside a route answers 500 without stack or SQL', async () => {
    const secret = "Code: 62. Syntax error: SELECT raw FROM events WHERE tenant_id = 'contoso' at /work/store/queries.ts:200";
    const failing = {
      query: async () => {
        throw new Error(secret);
      },
    } as unknown as ClickHouseClient;
    const authority = new TokenAuthority(Buffer.alloc(32, 7));
    const app = await buildApi({ store: failing, authority, readiness: [], logLevel: 'silent' });
    try {
      const token = await authority.issue({ role: 'analyst', tenant: 'contoso', ttlSeconds: 600 });
      for (const url of ['/v1/events', '/v1/detections', '/v1/agents/a/timeline', '/v1/agents/a', '/v1/stats/detections', '/v1/ledger/verify']) {
        const res = await get(app, url, token);
        expect(res.status, url).toBe(500);
        expect(res.body, url).toEqual({ error: 'internal', message: 'internal error' });
        expect(res.text).not.toMatch(/SELECT|Syntax|queries\.ts|at /);
      }
    } finally {
      await app.close();
    }
  });
});

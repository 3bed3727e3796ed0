// The analyst and admin routes against a real embedded store: filters,
// cursor pagination that stays exact while rows are inserted, risky agents,
// agent details, timeline, provenance, statistics, admin actions through the
// risk engine and the ledger, and the ledger verification naming a row
// changed through raw SQL.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../contract/events.js';
import { selectRows } from '../store/helpers.js';
import {
  A,
  B,
  MIN,
  SHARED,
  T0,
  auditFixture,
  detection,
  get,
  network,
  post,
  signin,
  tenantAEvents,
  writeThroughPipeline,
  type AuditFixture,
} from './audit-fixture.js';

const A_EVENTS_OF_SHARED = tenantAEvents().filter((e) => e.type !== 'user_risk' && e.agent_id === SHARED).length;

/** Every page of a listing, following next_cursor; `between` runs after the first page. */
async function allPages<T>(
  f: AuditFixture,
  url: string,
  key: string,
  token: string,
  between?: () => Promise<void>,
): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const sep = url.includes('?') ? '&' : '?';
    const res = await get(f.app, cursor ? `${url}${sep}cursor=${encodeURIComponent(cursor)}` : url, token);
    expect(res.status, res.text).toBe(200);
    out.push(...(res.body[key] as T[]));
    cursor = res.body.next_cursor;
    if (++pages === 1 && between) await between();
  } while (cursor && pages < 1000);
  return out;
}

describe('audit API', { timeout: 120_000 }, () => {
  let f: AuditFixture;

  beforeAll(async () => {
    f = await auditFixture('api_audit');
  });
  afterAll(async () => {
    await f?.close();
  });

  describe('GET /v1/events', () => {
    it('filters by blueprint_id, ip and resource', async () => {
      const by = async (q: string) => (await get(f.app, `/v1/events?${q}&limit=1000`, f.a.analyst)).body.events as Record<string, unknown>[];
      expect((await by('blueprint_id=bp-x')).map((e) => e.agent_id)).toEqual(['agent-x']);
      const ip = await by('ip=192.0.2.99');
      expect(ip).toHaveLength(2);
      expect(ip.every((e) => e.result === 'failure')).toBe(true);
      expect(await by(`resource=${encodeURIComponent('https://vault.azure.net/')}`)).toHaveLength(5);
      expect(await by('ip=203.0.113.66')).toEqual([]); // tenant B's
    });

    it('pages stay exact while rows are inserted between fetches', async () => {
      const original = await allPages<{ event_id: string; time: string }>(f, `/v1/events?agent_id=${SHARED}&limit=1000`, 'events', f.a.analyst);
      expect(original).toHaveLength(A_EVENTS_OF_SHARED);
      let k = 0;
      const paged = await allPages<{ event_id: string }>(f, `/v1/events?agent_id=${SHARED}&limit=7`, 'events', f.a.analyst, async () => {
        // Newer, older and same-time rows arrive after the first page.
        const more: AgentEvent[] = [
          signin(A, SHARED, T0 + 2 * 3_600_000),
          signin(A, SHARED, T0 - 3_600_000),
          ...original.slice(0, 3).map((e) => signin(A, SHARED, Date.parse(e.time))),
          network(A, SHARED, T0 + 6 * MIN + 500),
        ];
        await f.writer.writeBatch({ token: `page:events:${k++}`, events: more.map((event, i) => ({ event, source: 'test:page', offset: i })) });
      });
      const originalIds = new Set(original.map((e) => e.event_id));
      const seen = paged.map((e) => e.event_id).filter((id) => originalIds.has(id));
      expect(seen).toHaveLength(originalIds.size);
      expect(new Set(seen).size).toBe(originalIds.size);
      expect(new Set(paged.map((e) => e.event_id)).size).toBe(paged.length);
    });
  });

  describe('GET /v1/detections', () => {
    it('filters by detector, severity, agent and time', async () => {
      const by = async (q: string) => (await get(f.app, `/v1/detections?${q}`, f.a.analyst)).body.detections as Record<string, unknown>[];
      expect((await by('')).map((d) => d.detector)).toEqual(['scope-escalation', 'failed-access', 'failed-access', 'signin-spike', 'unfamiliar-resource']);
      expect(await by('detector=failed-access')).toHaveLength(2);
      expect((await by('severity=medium')).map((d) => d.agent_id)).toEqual(['agent-z', SHARED]);
      expect(await by('agent_id=agent-x')).toHaveLength(1);
      const from = new Date(T0 + 15 * MIN).toISOString();
      const to = new Date(T0 + 35 * MIN).toISOString();
      expect((await by(`from=${from}&to=${to}`)).map((d) => d.detector)).toEqual(['failed-access', 'signin-spike']);
      expect((await by('')).every((d) => d.tenant_id === A)).toBe(true);
    });

    it('pages stay exact while detections are inserted', async () => {
      const before = await allPages<{ detection_id: string }>(f, '/v1/detections?limit=1000', 'detections', f.a.analyst);
      let k = 0;
      const paged = await allPages<{ detection_id: string }>(f, '/v1/detections?limit=2', 'detections', f.a.analyst, async () => {
        await f.writer.writeBatch({
          token: `page:detections:${k++}`,
          detections: [
            detection(A, 'agent-p', T0 + 99 * MIN, 'failed-access', 'low', 'newer'),
            detection(A, 'agent-p', T0 + 5 * MIN, 'failed-access', 'low', 'older'),
          ],
        });
      });
      const ids = new Set(before.map((d) => d.detection_id));
      const seen = paged.map((d) => d.detection_id).filter((id) => ids.has(id));
      expect(seen.sort()).toEqual([...ids].sort());
    });

    it('rejects a malformed cursor and bad input with a 400 naming the field', async () => {
      expect(await get(f.app, '/v1/detections?cursor=abc', f.a.analyst)).toMatchObject({ status: 400, body: { error: 'bad_request', message: expect.stringMatching(/^cursor/) } });
      expect((await get(f.app, '/v1/detections?severity=critical', f.a.analyst)).body.message).toMatch(/^querystring\.severity/);
      expect((await get(f.app, '/v1/detections?limit=5000', f.a.analyst)).body.message).toMatch(/^querystring\.limit/);
      expect((await get(f.app, '/v1/detections?bogus=1', f.a.analyst)).body.message).toMatch(/querystring.*bogus/);
      expect((await get(f.app, '/v1/detections?from=yesterday', f.a.analyst)).body.message).toMatch(/^querystring\.from/);
    });

    it('every paged list refuses an unknown parameter or an out-of-range limit, naming it', async () => {
      for (const route of ['/v1/detections', '/v1/events', '/v1/risky-agents', '/v1/agents/agent-x/timeline']) {
        const unknown = await get(f.app, `${route}?bogus=1`, f.a.analyst);
        expect(unknown.status, route).toBe(400);
        expect(unknown.body.message, route).toMatch(/querystring.*bogus/);
        expect((await get(f.app, `${route}?limit=0`, f.a.analyst)).body.message, route).toMatch(/^querystring\.limit/);
        expect((await get(f.app, `${route}?limit=2`, f.a.analyst)).status, route).toBe(200);
      }
    });
  });

  describe('GET /v1/risky-agents', () => {
    it('lists the tenant’s agents at risk from the live engine, highest level first', async () => {
      const res = await get(f.app, '/v1/risky-agents', f.a.analyst);
      expect(res.status).toBe(200);
      const agents = res.body.risky_agents as Record<string, unknown>[];
      expect(agents.map((a) => [a.agent_id, a.risk_level, a.risk_state])).toEqual([
        [SHARED, 'high', 'atRisk'],
        ['agent-z', 'medium', 'atRisk'],
        ['agent-x', 'low', 'atRisk'],
      ]);
      expect(agents[0]).toMatchObject({ risk_detail: 'none', risk_last_updated_at: expect.any(String), score: expect.any(Number) });
      expect((agents[0]!.reasons as { detector: string }[]).map((r) => r.detector)).toContain('unfamiliar-resource');
      expect(res.text).not.toContain('B-SECRET');
    });

    it('filters by level and state and pages with a cursor', async () => {
      const ids = async (q: string) => ((await get(f.app, `/v1/risky-agents?${q}`, f.a.analyst)).body.risky_agents as { agent_id: string }[]).map((a) => a.agent_id);
      expect(await ids('level=medium')).toEqual(['agent-z']);
      expect(await ids('state=confirmedCompromised')).toEqual([]);
      const pages = await allPages<{ agent_id: string }>(f, '/v1/risky-agents?limit=1', 'risky_agents', f.a.analyst);
      expect(pages.map((a) => a.agent_id)).toEqual([SHARED, 'agent-z', 'agent-x']);
      expect((await get(f.app, '/v1/risky-agents?level=none', f.a.analyst)).status).toBe(400);
    });
  });

  describe('GET /v1/agents/:id', () => {
    it('shows current risk, blueprint, sponsors, status, first and last seen', async () => {
      const res = await get(f.app, `/v1/agents/${SHARED}`, f.a.analyst);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        agent_id: SHARED,
        agent_type: 'agent_identity',
        blueprint_id: 'bp-a',
        blueprints: ['bp-a'],
        status: 'enabled',
        sponsors: [{ sponsor_id: 'sponsor-2', added_by: 'owner@contoso.example', added_at: new Date(T0 + 2000).toISOString() }],
        detections: 3,
        risk: { level: 'high', state: 'atRisk', source: 'live', updated_at: new Date(T0 + 10 * MIN).toISOString() },
      });
      expect(res.body.events).toBeGreaterThanOrEqual(A_EVENTS_OF_SHARED);
      // The pagination tests above add older and newer sign-ins.
      expect(Date.parse(res.body.first_seen)).toBeLessThanOrEqual(T0);
      expect(Date.parse(res.body.last_seen)).toBeGreaterThanOrEqual(T0 + 7 * MIN);
      expect(res.text).not.toMatch(/b-secret/i);
    });

    it('answers 404 for an agent the tenant has never seen, and falls back to the ledger for the risk', async () => {
      expect(await get(f.app, '/v1/agents/nobody', f.a.analyst)).toMatchObject({ status: 404, body: { error: 'not_found' } });
      // An API without the live engine shows the latest stored risk change.
      const ledgerOnly = await f.build({ liveRisk: undefined as never });
      const res = await get(ledgerOnly, '/v1/agents/agent-z', f.a.analyst);
      expect(res.body.risk).toMatchObject({ level: 'medium', state: 'atRisk', source: 'ledger' });
    });
  });

  describe('GET /v1/agents/:id/timeline', () => {
    it('merges events, detections and risk changes newest first, paged without gaps or repeats', async () => {
      const all = await allPages<{ kind: string; time: string; id: string }>(f, `/v1/agents/${SHARED}/timeline?limit=1000`, 'items', f.a.analyst);
      const kinds = new Set(all.map((i) => i.kind));
      expect([...kinds].sort()).toEqual(['detection', 'event', 'risk_change']);
      for (let i = 1; i < all.length; i++) expect(all[i - 1]!.time >= all[i]!.time).toBe(true);
      const paged = await allPages<{ kind: string; id: string }>(f, `/v1/agents/${SHARED}/timeline?limit=6`, 'items', f.a.analyst, async () => {
        await writeThroughPipeline(f.writer, f.pipeline, f.view, 'page:timeline', [signin(A, SHARED, T0 + 3 * 3_600_000), signin(A, SHARED, T0 - 7_200_000)]);
      });
      const key = (i: { kind: string; id: string }) => `${i.kind}:${i.id}`;
      const originals = new Set(all.map(key));
      const seen = paged.map(key).filter((k) => originals.has(k));
      expect(seen.sort()).toEqual([...originals].sort());
      expect(new Set(paged.map(key)).size).toBe(paged.length);
      const det = all.find((i) => i.kind === 'detection') as unknown as { data: Record<string, unknown> };
      expect(det.data).toMatchObject({ detector: expect.any(String), severity: expect.any(String), evidence: expect.any(Object) });
    });
  });

  describe('GET /v1/agents/:id/provenance', () => {
    it('answers who sponsors it, with which credentials, for whom it acted, what it reached and called', async () => {
      const res = await get(f.app, `/v1/agents/${SHARED}/provenance`, f.a.analyst);
      expect(res.status).toBe(200);
      const p = res.body;
      expect(p.blueprint_id).toBe('bp-a');
      expect(p.status).toBe('enabled');
      expect(p.sponsors.current.map((s: { sponsor_id: string }) => s.sponsor_id)).toEqual(['sponsor-2']);
      expect(p.sponsors.history.map((s: { sponsor_id: string; action: string; actor: string }) => [s.sponsor_id, s.action, s.actor])).toEqual([
        ['sponsor-1', 'added', 'owner@contoso.example'],
        ['sponsor-2', 'added', 'owner@contoso.example'],
        ['sponsor-1', 'removed', 'security@contoso.example'],
      ]);
      const creds = Object.fromEntries(p.credentials.map((c: { credential_id: string }) => [c.credential_id, c]));
      expect(creds['cred-1']).toMatchObject({ status: 'active', added_by: 'ops@contoso.example', credential_type: 'certificate', added_at: new Date(T0 + 4000).toISOString() });
      expect(creds['cred-1'].signins).toBeGreaterThanOrEqual(22);
      expect(creds['cred-2']).toMatchObject({ status: 'removed', added_by: 'ops@contoso.example', removed_by: 'security@contoso.example', signins: 0 });
      expect(p.permissions).toEqual([{ permission: 'Mail.Read', granted_by: 'owner@contoso.example', granted_at: new Date(T0 + 7000).toISOString() }]);
      const users = Object.fromEntries(p.acted_for.map((u: { user_id: string; events: number }) => [u.user_id, u.events]));
      expect(users['user-1']).toBeGreaterThanOrEqual(22);
      expect(users['user-2']).toBe(5);
      const resources = Object.fromEntries(p.resources.map((r: { resource: string }) => [r.resource, r]));
      expect(resources['https://vault.azure.net/']).toMatchObject({ signins: 5, tokens: 0 });
      expect(resources['https://graph.microsoft.com/'].tokens).toBe(10);
      expect(p.calls).toEqual([{ agent_id: 'agent-x', requests: 4, first_seen: new Date(T0 + 6 * MIN).toISOString(), last_seen: new Date(T0 + 6 * MIN + 3000).toISOString() }]);
      expect(p.called_by.map((c: { agent_id: string; requests: number }) => [c.agent_id, c.requests])).toEqual([['agent-y', 3]]);
      expect(p.truncated).toEqual([]);
      expect(res.text).not.toMatch(/b-secret/i);

      const cut = await get(f.app, `/v1/agents/${SHARED}/provenance?limit=1`, f.a.analyst);
      expect(cut.body.acted_for).toHaveLength(1);
      expect(cut.body.truncated).toEqual(expect.arrayContaining(['acted_for', 'resources']));
      expect((await get(f.app, '/v1/agents/nobody/provenance', f.a.analyst)).status).toBe(404);
    });
  });

  describe('GET /v1/stats', () => {
    it('counts detections by detector per hour and day from the materialized view', async () => {
      const from = new Date(T0 - 3_600_000).toISOString();
      const to = new Date(T0 + 2 * 3_600_000).toISOString();
      const res = await get(f.app, `/v1/stats/detections?from=${from}&to=${to}&interval=hour`, f.a.analyst);
      expect(res.status).toBe(200);
      expect(res.body.buckets.map((b: { start: string }) => b.start)).toEqual([-1, 0, 1].map((h) => new Date(T0 + h * 3_600_000).toISOString()));
      expect(res.body.buckets[0].total).toBe(0);
      expect(res.body.buckets[1].by_detector).toMatchObject({ 'unfamiliar-resource': 1, 'signin-spike': 1, 'scope-escalation': 1 });
      expect(res.body.buckets[1].by_detector['failed-access']).toBeGreaterThanOrEqual(2);
      expect(res.body.detectors).toEqual(expect.arrayContaining(['failed-access', 'scope-escalation', 'signin-spike', 'unfamiliar-resource']));
      const day = await get(f.app, `/v1/stats/detections?from=${from}&to=${to}&interval=day&agent_id=agent-z`, f.a.analyst);
      expect(day.body.buckets).toEqual([{ start: new Date(Date.UTC(2026, 0, 5)).toISOString(), total: 1, by_detector: { 'scope-escalation': 1 } }]);
    });

    it('counts events and failures by type', async () => {
      const from = new Date(T0).toISOString();
      const to = new Date(T0 + 3_600_000).toISOString();
      const res = await get(f.app, `/v1/stats/events?from=${from}&to=${to}&agent_id=${SHARED}`, f.a.analyst);
      expect(res.status).toBe(200);
      const [b] = res.body.buckets;
      expect(b.by_type).toMatchObject({ lifecycle: 8, token: 10 });
      expect(b.failures_by_type).toEqual({ signin: 2, network: 2 });
      expect(b.failures).toBe(4);
      expect((await get(f.app, `/v1/stats/events?from=${to}&to=${from}`, f.a.analyst)).status).toBe(400);
      expect((await get(f.app, '/v1/stats/events?from=2000-01-01T00:00:00Z&to=2026-01-01T00:00:00Z', f.a.analyst)).body.message).toMatch(/^from/);
    });
  });

  describe('admin actions', () => {
    it('confirm-compromised changes the risk through the engine, records the action and change, and publishes it', async () => {
      const res = await post(f.app, '/v1/agents/agent-z/confirm-compromised', { reason: 'token found on a paste site' }, f.a.admin);
      expect(res.status, res.text).toBe(200);
      expect(res.body).toMatchObject({
        action: { agent_id: 'agent-z', action: 'confirm_compromised', actor: 'admin@contoso.example', reason: 'token found on a paste site' },
        risk: { level: 'high', state: 'confirmedCompromised', source: 'live' },
        previous_level: 'medium',
      });
      const { action_id } = res.body.action;
      const actions = await selectRows<Record<string, string>>(f.store, 'SELECT * FROM admin_actions WHERE action_id = {id:String}', { id: action_id });
      expect(actions).toHaveLength(1);
      expect(actions[0]).toMatchObject({ tenant_id: A, agent_id: 'agent-z', actor: 'admin@contoso.example', batch_token: `admin:${action_id}` });
      const changes = await selectRows<Record<string, string>>(f.store, 'SELECT * FROM risk_changes WHERE change_id = {id:String}', { id: res.body.change_id });
      expect(changes[0]).toMatchObject({ tenant_id: A, level: 'high', state: 'confirmedCompromised' });
      expect(f.published.map((c) => c.change_id)).toContain(res.body.change_id);
      expect(f.pipeline.risk(A, 'agent-z')).toMatchObject({ level: 'high', state: 'confirmedCompromised' });
      const listed = await get(f.app, '/v1/risky-agents?state=confirmedCompromised', f.a.analyst);
      expect(listed.body.risky_agents).toEqual([expect.objectContaining({ agent_id: 'agent-z', risk_detail: 'adminConfirmedAgentCompromised' })]);
    });

    it('dismiss and confirm-safe clear the risk; the same agent id in another tenant is untouched', async () => {
      const bBefore = f.pipeline.risk(B, SHARED);
      const d = await post(f.app, '/v1/agents/agent-x/dismiss', { reason: 'expected failures during a key rotation' }, f.a.admin);
      expect(d.body.risk).toMatchObject({ level: 'none', state: 'dismissed' });
      const s = await post(f.app, `/v1/agents/${SHARED}/confirm-safe`, { reason: 'reviewed with the owner' }, f.a.admin);
      expect(s.body.risk).toMatchObject({ level: 'none', state: 'confirmedSafe', score: 0 });
      expect(f.pipeline.risk(B, SHARED)).toEqual(bBefore);
      const ids = ((await get(f.app, '/v1/risky-agents', f.a.analyst)).body.risky_agents as { agent_id: string }[]).map((a) => a.agent_id);
      expect(ids).toEqual(['agent-z']);
      expect((await get(f.app, '/v1/agents/agent-x', f.a.analyst)).body.risk).toMatchObject({ level: 'none', state: 'dismissed', source: 'live' });
      expect((await get(f.app, `/v1/agents/${SHARED}`, f.b.analyst)).body.risk).toMatchObject({ level: 'high', state: 'atRisk' });
      const timeline = await get(f.app, '/v1/agents/agent-x/timeline?limit=3', f.a.analyst);
      expect(timeline.body.items.slice(0, 2).map((i: { kind: string }) => i.kind)).toEqual(['admin_action', 'risk_change']);
    });

    it('requires a reason of 1 to 1000 characters, naming the field when it is wrong', async () => {
      for (const body of [{}, { reason: '' }, { reason: '   ' }, { reason: 'x'.repeat(1001) }, { reason: null }]) {
        const res = await post(f.app, '/v1/agents/agent-x/dismiss', body, f.a.admin);
        expect(res.status, JSON.stringify(body)).toBe(400);
        expect(res.body.message).toMatch(/^body\.reason/);
      }
      const extra = await post(f.app, '/v1/agents/agent-x/dismiss', { reason: 'ok', by: 'me' }, f.a.admin);
      expect(extra.body.message).toMatch(/^body.*by/);
      expect((await post(f.app, '/v1/agents/agent-x/dismiss', { reason: 'ok' }, f.a.analyst)).status).toBe(403);
    });

    it('answers 503 when the server has no admin actions configured', async () => {
      const app = await f.build({ adminActions: undefined as never });
      expect(await post(app, '/v1/agents/agent-x/dismiss', { reason: 'ok' }, f.a.admin)).toMatchObject({ status: 503, body: { error: 'unavailable' } });
    });
  });

  describe('GET /v1/ledger/verify', () => {
    it('verifies the tenant’s chain, admin batches included, then names a row changed through raw SQL', async () => {
      const ok = await get(f.app, '/v1/ledger/verify', f.a.analyst);
      expect(ok.status).toBe(200);
      expect(ok.body).toMatchObject({ ok: true, tenant_id: A, first_broken: null });
      expect(ok.body.batches_checked).toBeGreaterThan(5);
      const links = await selectRows<{ n: string }>(f.store, "SELECT count() AS n FROM ledger_chain WHERE tenant_id = {t:String} AND table_name = 'admin_actions'", { t: A });
      expect(Number(links[0]!.n)).toBeGreaterThanOrEqual(3);

      const [row] = await selectRows<{ event_id: string }>(
        f.store,
        "SELECT event_id FROM events WHERE tenant_id = {t:String} AND batch_token = 'seed:a' AND type = 'signin' ORDER BY event_id LIMIT 1",
        { t: A },
      );
      await f.store.command({
        query: `ALTER TABLE events UPDATE raw = replaceOne(raw, '"result":"success"', '"result":"failure"') WHERE event_id = {id:String} SETTINGS mutations_sync = 2`,
        query_params: { id: row!.event_id },
      });
      const broken = await get(f.app, '/v1/ledger/verify', f.a.analyst);
      expect(broken.body).toMatchObject({
        ok: false,
        first_broken: { seq: 1, token: 'seed:a', table: 'events', reason: 'row_modified', row: { id: row!.event_id } },
      });
      // Tenant B's chain is separate and intact.
      expect((await get(f.app, '/v1/ledger/verify', f.b.analyst)).body).toMatchObject({ ok: true, tenant_id: B });
      // A range that does not reach the changed batch passes.
      const from = new Date(T0 + 90 * MIN).toISOString();
      expect((await get(f.app, `/v1/ledger/verify?from=${from}`, f.a.analyst)).body.ok).toBe(true);
    });
  });
});

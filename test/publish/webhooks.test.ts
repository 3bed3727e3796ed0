// Remediation webhooks: registration through the real API (admin only, per
// tenant, JSON schemas, allowlist), signed deliveries verified by a real local
// HTTP receiver, retries recorded per attempt, disabling of failing hooks.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HostAllowlist } from '../../publish/allowlist.js';
import { MemoryDeliveryLog } from '../../publish/webhooks/delivery-log.js';
import { WebhookDispatcher, type WebhookEnvelope } from '../../publish/webhooks/dispatcher.js';
import { webhookPlugin } from '../../publish/webhooks/routes.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signWebhook, verifyWebhookSignature } from '../../publish/webhooks/signature.js';
import { backoffDelay, seededRandom } from '../../publish/util.js';
import { buildTestApi, detection, riskChange, startReceiver, type Receiver } from './helpers.js';

/** An allowlist the test can switch off, to exercise the delivery-time re-check. */
class SwitchableAllowlist extends HostAllowlist {
  open = true;
  override allowsHost(hostname: string): boolean {
    return this.open && super.allowsHost(hostname);
  }
}

const allowlist = new SwitchableAllowlist(['127.0.0.1', '*.hooks.example.test']);
const log = new MemoryDeliveryLog();
const dispatcher = new WebhookDispatcher({ allowlist, log, maxAttempts: 3, initialDelayMs: 20, maxDelayMs: 80, random: seededRandom(7), disableAfterFailures: 2, timeoutMs: 2000 });
let api: Awaited<ReturnType<typeof buildTestApi>>;
const receivers: Receiver[] = [];

beforeAll(async () => {
  api = await buildTestApi({ v1Plugins: [webhookPlugin(dispatcher)] });
});

afterAll(async () => {
  await dispatcher.close();
  await api?.app.close();
  await Promise.all(receivers.map((r) => r.close()));
});

async function receiver(respond?: Parameters<typeof startReceiver>[0]): Promise<Receiver> {
  const r = await startReceiver(respond);
  receivers.push(r);
  return r;
}

async function register(tenant: string, body: Record<string, unknown>): Promise<{ id: string; secret: string; url: string }> {
  const res = await api.app.inject({ method: 'POST', url: '/v1/webhooks', headers: await api.auth('admin', tenant), payload: body });
  expect(res.statusCode, res.body).toBe(201);
  return res.json();
}

describe('verifyWebhookSignature', () => {
  const secret = 'whsec_test';
  const body = '{"id":"x"}';
  const now = 1_800_000_000;

  it('accepts the signature of the body and timestamp, in constant time, within the replay window', () => {
    const sig = signWebhook(secret, now, body);
    expect(sig).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(verifyWebhookSignature(secret, String(now), body, sig, 300, now + 10)).toBe(true);
    expect(verifyWebhookSignature(secret, String(now), Buffer.from(body), sig, 300, now)).toBe(true);
    // several signatures (e.g. during secret rotation): one match suffices
    expect(verifyWebhookSignature(secret, now, body, `v1=${'0'.repeat(64)}, ${sig}`, 300, now)).toBe(true);
  });

  it('refuses a changed body, another secret, an old or future timestamp, and malformed headers', () => {
    const sig = signWebhook(secret, now, body);
    expect(verifyWebhookSignature(secret, String(now), '{"id":"y"}', sig, 300, now)).toBe(false);
    expect(verifyWebhookSignature('whsec_other', String(now), body, sig, 300, now)).toBe(false);
    expect(verifyWebhookSignature(secret, String(now), body, sig, 300, now + 301)).toBe(false);
    expect(verifyWebhookSignature(secret, String(now), body, sig, 300, now - 301)).toBe(false);
    expect(verifyWebhookSignature(secret, String(now + 1), body, sig, 300, now)).toBe(false);
    expect(verifyWebhookSignature(secret, 'abc', body, sig, 300, now)).toBe(false);
    expect(verifyWebhookSignature(secret, String(now), body, sig.replace('v1=', 'v0='), 300, now)).toBe(false);
    expect(verifyWebhookSignature(secret, String(now), body, 'v1=abcd', 300, now)).toBe(false);
    expect(verifyWebhookSignature(secret, undefined, body, sig, 300, now)).toBe(false);
    expect(verifyWebhookSignature(secret, String(now), body, undefined, 300, now)).toBe(false);
  });

  it('spaces retries exponentially, with jitter reproducible from a seed', () => {
    expect([1, 2, 3, 4, 5].map((r) => backoffDelay(r, { initialDelayMs: 100, maxDelayMs: 1000 }))).toEqual([100, 200, 400, 800, 1000]);
    const a = seededRandom(42);
    const b = seededRandom(42);
    const ja = [1, 2, 3].map((r) => backoffDelay(r, { initialDelayMs: 100, maxDelayMs: 1000, random: a }));
    expect([1, 2, 3].map((r) => backoffDelay(r, { initialDelayMs: 100, maxDelayMs: 1000, random: b }))).toEqual(ja);
    ja.forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual(50 * 2 ** i);
      expect(d).toBeLessThanOrEqual(100 * 2 ** i);
    });
    expect(new Set(ja.map((d, i) => d / 2 ** i)).size).toBeGreaterThan(1); // jittered, not constant
  });
});

describe('webhook registration API', () => {
  it('admits admins only, and answers 400 naming the field on bad input', async () => {
    const good = { url: 'https://a.hooks.example.test/risk', min_level: 'medium', events: ['risk_change'] };
    expect((await api.app.inject({ method: 'POST', url: '/v1/webhooks', payload: good })).statusCode).toBe(401);
    expect((await api.app.inject({ method: 'POST', url: '/v1/webhooks', headers: await api.auth('analyst', 'reg'), payload: good })).statusCode).toBe(403);
    const headers = await api.auth('admin', 'reg');
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ min_level: 'high', events: ['risk_change'] }, /^body\.url: /],
      [{ ...good, min_level: 'extreme' }, /^body\.min_level: /],
      [{ ...good, events: [] }, /^body\.events: /],
      [{ ...good, events: ['everything'] }, /^body\.events\.0: /],
      [{ ...good, secret: 'mine' }, /secret/],
      [{ ...good, url: 'https://evil.example.com/x' }, /^url: host evil\.example\.com is not on the outbound allowlist/],
      [{ ...good, url: 'https://hooks.example.test/x' }, /^url: host hooks\.example\.test is not on the outbound allowlist/],
      [{ ...good, url: 'ftp://127.0.0.1/x' }, /^url: scheme ftp is not allowed/],
      [{ ...good, url: 'file:///etc/passwd' }, /^url: scheme file is not allowed/],
      [{ ...good, url: 'not a url' }, /^url: is not an absolute URL/],
      [{ ...good, url: 'https://user:pw@a.hooks.example.test/x' }, /^url: must not carry credentials/],
    ];
    for (const [payload, message] of cases) {
      const res = await api.app.inject({ method: 'POST', url: '/v1/webhooks', headers, payload });
      expect(res.statusCode, JSON.stringify(payload)).toBe(400);
      expect(res.json().message, JSON.stringify(payload)).toMatch(message);
    }
  });

  it('returns the secret once, lists without it, and keeps webhooks per tenant', async () => {
    const created = await register('reg-a', { url: 'https://x.hooks.example.test/h', min_level: 'high', events: ['risk_change', 'detection'], description: 'SOAR' });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    const mine = await api.auth('admin', 'reg-a');
    const list = (await api.app.inject({ method: 'GET', url: '/v1/webhooks', headers: mine })).json() as { webhooks: Record<string, unknown>[] };
    expect(list.webhooks).toHaveLength(1);
    expect(list.webhooks[0]).toMatchObject({ id: created.id, enabled: true, min_level: 'high', events: ['risk_change', 'detection'], description: 'SOAR', consecutive_failures: 0, last_delivery: null });
    expect(list.webhooks[0]).not.toHaveProperty('secret');
    expect((await api.app.inject({ method: 'GET', url: `/v1/webhooks/${created.id}`, headers: mine })).json()).not.toHaveProperty('secret');

    const theirs = await api.auth('admin', 'reg-b');
    expect((await api.app.inject({ method: 'GET', url: '/v1/webhooks', headers: theirs })).json()).toEqual({ webhooks: [] });
    expect((await api.app.inject({ method: 'GET', url: `/v1/webhooks/${created.id}`, headers: theirs })).statusCode).toBe(404);
    expect((await api.app.inject({ method: 'DELETE', url: `/v1/webhooks/${created.id}`, headers: theirs })).statusCode).toBe(404);
    expect((await api.app.inject({ method: 'DELETE', url: `/v1/webhooks/${created.id}`, headers: mine })).statusCode).toBe(204);
    expect((await api.app.inject({ method: 'GET', url: `/v1/webhooks/${created.id}`, headers: mine })).statusCode).toBe(404);
  });
});

describe('webhook delivery', () => {
  it('delivers signed events that a real receiver verifies, only to matching hooks of the tenant', async () => {
    const r = await receiver();
    const hook = await register('del-a', { url: `${r.url}/remediate`, min_level: 'medium', events: ['risk_change', 'detection'] });
    const other = await receiver();
    await register('del-b', { url: other.url, min_level: 'low', events: ['risk_change'] });

    const high = riskChange('del-a', 'agent-1', 'high', 'none');
    const low = riskChange('del-a', 'agent-2', 'low', 'none'); // below min_level
    const leaving = riskChange('del-a', 'agent-3', 'none', 'high', { state: 'remediated' }); // leaving the band
    const det = detection('del-a', 'agent-1', 'high');
    const lowDet = detection('del-a', 'agent-1', 'low');
    expect(await dispatcher.dispatch({ riskChanges: [high, low, leaving], detections: [det, lowDet] })).toBe(3);
    // Redelivery of the same batch queues nothing new.
    expect(await dispatcher.dispatch({ riskChanges: [high, low, leaving], detections: [det, lowDet] })).toBe(0);
    await r.waitFor(3);
    await dispatcher.idle();
    expect(r.requests).toHaveLength(3);
    expect(other.requests).toHaveLength(0);

    const envelopes: WebhookEnvelope[] = [];
    for (const req of r.requests) {
      expect(req.url).toBe('/remediate');
      expect(req.headers['content-type']).toBe('application/json');
      const ts = req.headers[TIMESTAMP_HEADER] as string;
      const sig = req.headers[SIGNATURE_HEADER] as string;
      expect(verifyWebhookSignature(hook.secret, ts, req.body, sig, 300)).toBe(true);
      expect(verifyWebhookSignature(hook.secret, ts, `${req.body} `, sig, 300)).toBe(false);
      const env = JSON.parse(req.body) as WebhookEnvelope;
      expect(req.headers['x-riskstream-event-id']).toBe(env.id);
      envelopes.push(env);
    }
    expect(envelopes.map((e) => [e.type, e.id])).toEqual([
      ['risk_change', high.change_id],
      ['risk_change', leaving.change_id],
      ['detection', expect.stringMatching(/^[0-9a-f]{32}$/)],
    ]);
    expect(envelopes[0]).toMatchObject({ tenant_id: 'del-a', time: new Date(high.time).toISOString(), data: high });
    expect(envelopes[2]!.data).toMatchObject({ detector: 'impossible-travel', severity: 'high', detection_id: envelopes[2]!.id });
  });

  it('retries a receiver answering 500 twice then 200, and records the 3 attempts', async () => {
    const r = await receiver((_req, n) => ({ status: n <= 2 ? 500 : 200 }));
    const hook = await register('retry-a', { url: r.url, min_level: 'low', events: ['risk_change'] });
    const change = riskChange('retry-a', 'agent-1', 'medium', 'none');
    await dispatcher.dispatch({ riskChanges: [change] });
    await r.waitFor(3);
    await dispatcher.idle();
    expect(r.requests).toHaveLength(3);
    // Same body each time, each attempt signed with its own timestamp and verifying.
    for (const req of r.requests) {
      expect(req.body).toBe(r.requests[0]!.body);
      expect(verifyWebhookSignature(hook.secret, req.headers[TIMESTAMP_HEADER] as string, req.body, req.headers[SIGNATURE_HEADER] as string)).toBe(true);
    }
    expect(r.requests.map((q) => q.headers['x-riskstream-attempt'])).toEqual(['1', '2', '3']);

    const headers = await api.auth('admin', 'retry-a');
    const res = await api.app.inject({ method: 'GET', url: `/v1/webhooks/${hook.id}/deliveries`, headers });
    const attempts = (res.json() as { deliveries: { attempt: number; outcome: string; http_status: number; final: boolean; event_id: string; error: string | null }[] }).deliveries;
    expect(attempts.map((a) => [a.attempt, a.outcome, a.http_status, a.final, a.error])).toEqual([
      [3, 'success', 200, true, null],
      [2, 'failure', 500, false, 'HTTP 500'],
      [1, 'failure', 500, false, 'HTTP 500'],
    ]);
    expect(new Set(attempts.map((a) => a.event_id))).toEqual(new Set([change.change_id]));
    const status = (await api.app.inject({ method: 'GET', url: `/v1/webhooks/${hook.id}`, headers })).json();
    expect(status).toMatchObject({ enabled: true, consecutive_failures: 0, last_delivery: { outcome: 'success', attempts: 3, http_status: 200, last_error: null } });
  });

  it('disables a hook after consecutive failed deliveries, until an admin enables it again', async () => {
    const r = await receiver(() => ({ status: 500 }));
    const hook = await register('fail-a', { url: r.url, min_level: 'low', events: ['risk_change'] });
    const changes = [1, 2, 3].map((i) => riskChange('fail-a', `agent-${i}`, 'high', 'none'));
    await dispatcher.dispatch({ riskChanges: changes });
    await dispatcher.idle();
    // 2 deliveries × 3 attempts, then disabled: the third change is never sent.
    expect(r.requests).toHaveLength(6);
    const headers = await api.auth('admin', 'fail-a');
    const status = (await api.app.inject({ method: 'GET', url: `/v1/webhooks/${hook.id}`, headers })).json();
    expect(status).toMatchObject({ enabled: false, consecutive_failures: 2, last_delivery: { outcome: 'failure', attempts: 3, http_status: 500 } });
    expect(status.disabled_reason).toMatch(/^2 consecutive failed deliveries; last error: HTTP 500/);
    expect(await dispatcher.dispatch({ riskChanges: [riskChange('fail-a', 'agent-9', 'high', 'none')] })).toBe(0);

    const enabled = await api.app.inject({ method: 'POST', url: `/v1/webhooks/${hook.id}/enable`, headers });
    expect(enabled.json()).toMatchObject({ enabled: true, consecutive_failures: 0, disabled_reason: null });
    expect(await dispatcher.dispatch({ riskChanges: [riskChange('fail-a', 'agent-10', 'high', 'none')] })).toBe(1);
    await dispatcher.idle();
    expect(r.requests).toHaveLength(9);
  });

  it('does not follow redirects', async () => {
    const target = await receiver();
    const r = await receiver(() => ({ status: 307, headers: { location: `${target.url}/elsewhere` } }));
    const hook = await register('redir-a', { url: r.url, min_level: 'low', events: ['detection'] });
    await dispatcher.dispatch({ detections: [detection('redir-a', 'agent-1', 'medium')] });
    await dispatcher.idle();
    expect(r.requests).toHaveLength(3);
    expect(target.requests).toHaveLength(0);
    const attempts = await log.list('redir-a', hook.id);
    expect(attempts[0]).toMatchObject({ outcome: 'failure', http_status: 307, error: 'HTTP 307 (redirects are not followed)', final: true });
  });

  it('re-checks the allowlist at delivery time and disables a hook whose host is no longer allowed', async () => {
    const r = await receiver();
    const hook = await register('allow-a', { url: r.url, min_level: 'low', events: ['risk_change'] });
    allowlist.open = false;
    try {
      await dispatcher.dispatch({ riskChanges: [riskChange('allow-a', 'agent-1', 'low', 'none')] });
      await dispatcher.idle();
    } finally {
      allowlist.open = true;
    }
    expect(r.requests).toHaveLength(0);
    const [attempt] = await log.list('allow-a', hook.id);
    expect(attempt).toMatchObject({ attempt: 1, outcome: 'refused', http_status: null, final: true });
    expect(attempt!.error).toMatch(/not on the outbound allowlist/);
    const status = await dispatcher.get('allow-a', hook.id);
    expect(status.enabled).toBe(false);
    expect(status.disabled_reason).toMatch(/^delivery refused: url host 127\.0\.0\.1 is not on the outbound allowlist/);
  });
});

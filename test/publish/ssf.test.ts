// The SSF transmitter mounted in the real API: discovery and JWKS, stream
// management per tenant, CAEP risk-level-change SETs that verify against the
// published JWKS, push delivery to a real local receiver, poll delivery with
// acknowledgement and redelivery, verification events.

import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet, type JWTPayload } from 'jose';
import { CAEP_RISK_LEVEL_CHANGE, SSF_VERIFICATION, caepLevel, riskLevelChangeEvent } from '../../publish/ssf/caep.js';
import { ssfManagementPlugin, ssfWellKnownRoutes } from '../../publish/ssf/routes.js';
import { SSF_KEY_FILE, loadSsfSigningKey, type SsfSigningKey } from '../../publish/ssf/signing-key.js';
import { MemorySsfStateStore } from '../../publish/ssf/store.js';
import { POLL_METHOD, PUSH_METHOD, SsfTransmitter } from '../../publish/ssf/transmitter.js';
import { buildTestApi, riskChange, startReceiver, type Receiver } from './helpers.js';

const ISSUER = 'https://riskstream.example.test';

let dataDir: string;
let key: SsfSigningKey;
let transmitter: SsfTransmitter;
let store: MemorySsfStateStore;
let api: Awaited<ReturnType<typeof buildTestApi>>;
let jwks: ReturnType<typeof createLocalJWKSet>;
const receivers: Receiver[] = [];

beforeAll(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'riskstream-ssf-'));
  key = await loadSsfSigningKey({ dataDir });
  store = new MemorySsfStateStore();
  transmitter = new SsfTransmitter({
    issuer: ISSUER,
    signingKey: key,
    store,
    pushAllowlist: ['127.0.0.1'],
    push: { maxAttempts: 4, initialDelayMs: 20, maxDelayMs: 100, timeoutMs: 2000 },
    poll: { redeliveryMs: 300, maxWaitMs: 2000 },
    minVerificationIntervalSec: 60,
  });
  await transmitter.start();
  api = await buildTestApi({
    v1Plugins: [ssfManagementPlugin(transmitter)],
    root: async (app) => {
      await app.register(ssfWellKnownRoutes, { transmitter });
    },
  });
  const res = await api.app.inject({ method: 'GET', url: '/ssf/jwks.json' });
  expect(res.statusCode).toBe(200);
  jwks = createLocalJWKSet(res.json() as JSONWebKeySet);
});

afterAll(async () => {
  await transmitter?.close();
  await api?.app.close();
  await Promise.all(receivers.map((r) => r.close()));
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

async function verifySet(set: string, aud: string): Promise<JWTPayload> {
  expect(decodeProtectedHeader(set)).toMatchObject({ typ: 'secevent+jwt', alg: 'RS256', kid: key.kid });
  const { payload } = await jwtVerify(set, jwks, { issuer: ISSUER, audience: aud, typ: 'secevent+jwt', algorithms: ['RS256'] });
  return payload;
}

async function createStream(tenant: string, body: Record<string, unknown>) {
  const res = await api.app.inject({ method: 'POST', url: '/v1/ssf/streams', headers: await api.auth('admin', tenant), payload: body });
  expect(res.statusCode, res.body).toBe(201);
  return res.json() as { stream_id: string; delivery: { method: string; endpoint_url: string }; aud: string; events_delivered: string[] };
}

describe('SSF discovery and keys', () => {
  it('serves the transmitter configuration and JWKS without authentication', async () => {
    const res = await api.app.inject({ method: 'GET', url: '/.well-known/ssf-configuration' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({
      issuer: ISSUER,
      jwks_uri: `${ISSUER}/ssf/jwks.json`,
      delivery_methods_supported: [PUSH_METHOD, POLL_METHOD],
      configuration_endpoint: `${ISSUER}/v1/ssf/streams`,
      status_endpoint: `${ISSUER}/v1/ssf/status`,
      verification_endpoint: `${ISSUER}/v1/ssf/verify`,
      authorization_schemes: [{ spec_urn: 'urn:ietf:rfc:6750' }],
    });
    const keys = (await api.app.inject({ method: 'GET', url: '/ssf/jwks.json' })).json() as { keys: Record<string, unknown>[] };
    expect(keys.keys).toHaveLength(1);
    expect(keys.keys[0]).toMatchObject({ kty: 'RSA', kid: key.kid, alg: 'RS256', use: 'sig' });
    expect(keys.keys[0]).not.toHaveProperty('d');
  });

  it('keeps the generated signing key as a PKCS8 PEM readable only by its owner, and reloads it with the same kid', async () => {
    const file = path.join(dataDir, SSF_KEY_FILE);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect(await readFile(file, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect((await loadSsfSigningKey({ dataDir })).kid).toBe(key.kid);
    const fromEnv = await loadSsfSigningKey({ dataDir: '/nonexistent', pem: await readFile(file, 'utf8') });
    expect(fromEnv.kid).toBe(key.kid);
  });
});

describe('SSF stream management', () => {
  it('requires an admin bearer token and keeps streams per tenant', async () => {
    const body = { delivery: { method: POLL_METHOD } };
    expect((await api.app.inject({ method: 'POST', url: '/v1/ssf/streams', payload: body })).statusCode).toBe(401);
    expect((await api.app.inject({ method: 'POST', url: '/v1/ssf/streams', headers: await api.auth('analyst', 'mgmt-a'), payload: body })).statusCode).toBe(403);

    const created = await createStream('mgmt-a', { ...body, description: 'SIEM' });
    expect(created.delivery).toEqual({ method: POLL_METHOD, endpoint_url: `${ISSUER}/v1/ssf/poll/${created.stream_id}` });
    expect(created.events_delivered).toEqual([CAEP_RISK_LEVEL_CHANGE]);

    const other = await api.auth('admin', 'mgmt-b');
    const foreign = await api.app.inject({ method: 'GET', url: `/v1/ssf/streams?stream_id=${created.stream_id}`, headers: other });
    expect(foreign.statusCode).toBe(404);
    expect((await api.app.inject({ method: 'GET', url: '/v1/ssf/streams', headers: other })).json()).toEqual([]);
    expect((await api.app.inject({ method: 'DELETE', url: `/v1/ssf/streams?stream_id=${created.stream_id}`, headers: other })).statusCode).toBe(404);

    const mine = await api.auth('admin', 'mgmt-a');
    const list = (await api.app.inject({ method: 'GET', url: '/v1/ssf/streams', headers: mine })).json() as { stream_id: string }[];
    expect(list.map((s) => s.stream_id)).toEqual([created.stream_id]);

    // PATCH changes only what is given; PUT replaces (missing receiver-supplied properties are cleared).
    const patched = await api.app.inject({ method: 'PATCH', url: '/v1/ssf/streams', headers: mine, payload: { stream_id: created.stream_id, events_requested: [] } });
    expect(patched.json()).toMatchObject({ description: 'SIEM', events_delivered: [] });
    const put = await api.app.inject({
      method: 'PUT',
      url: '/v1/ssf/streams',
      headers: mine,
      payload: { stream_id: created.stream_id, delivery: { method: POLL_METHOD }, events_requested: [CAEP_RISK_LEVEL_CHANGE, 'urn:unknown'] },
    });
    expect(put.statusCode).toBe(200);
    expect(put.json()).not.toHaveProperty('description');
    expect(put.json()).toMatchObject({ events_requested: [CAEP_RISK_LEVEL_CHANGE, 'urn:unknown'], events_delivered: [CAEP_RISK_LEVEL_CHANGE] });
    const badAud = await api.app.inject({ method: 'PATCH', url: '/v1/ssf/streams', headers: mine, payload: { stream_id: created.stream_id, aud: 'other' } });
    expect(badAud.statusCode).toBe(400);
    expect(badAud.json().message).toMatch(/^aud:/);

    expect((await api.app.inject({ method: 'GET', url: `/v1/ssf/status?stream_id=${created.stream_id}`, headers: mine })).json()).toEqual({ stream_id: created.stream_id, status: 'enabled' });
    const del = await api.app.inject({ method: 'DELETE', url: `/v1/ssf/streams?stream_id=${created.stream_id}`, headers: mine });
    expect(del.statusCode).toBe(204);
    expect((await api.app.inject({ method: 'GET', url: `/v1/ssf/streams?stream_id=${created.stream_id}`, headers: mine })).statusCode).toBe(404);
  });

  it('refuses push endpoints that are not on the allowlist, not http(s), or missing, naming the field', async () => {
    const headers = await api.auth('admin', 'mgmt-c');
    for (const [endpoint_url, pattern] of [
      ['https://evil.example.com/events', /^delivery\.endpoint_url: host evil\.example\.com is not on the outbound allowlist/],
      ['ftp://127.0.0.1/x', /^delivery\.endpoint_url: scheme ftp/],
      [undefined, /^delivery\.endpoint_url: is required/],
    ] as const) {
      const res = await api.app.inject({ method: 'POST', url: '/v1/ssf/streams', headers, payload: { delivery: { method: PUSH_METHOD, ...(endpoint_url && { endpoint_url }) } } });
      expect(res.statusCode).toBe(400);
      expect(res.json().message).toMatch(pattern);
    }
    const bad = await api.app.inject({ method: 'POST', url: '/v1/ssf/streams', headers, payload: { delivery: { method: 'urn:x' } } });
    expect(bad.json().message).toMatch(/^delivery\.method:/);
    const extra = await api.app.inject({ method: 'POST', url: '/v1/ssf/streams', headers, payload: { delivery: { method: POLL_METHOD }, colour: 'red' } });
    expect(extra.statusCode).toBe(400);
    expect(extra.json().message).toMatch(/colour/);
  });
});

describe('CAEP risk-level-change SETs', () => {
  it('maps levels to LOW/MEDIUM/HIGH and sends a return to none as LOW with the reason', () => {
    expect(['none', 'low', 'medium', 'high'].map((l) => caepLevel(l as 'none'))).toEqual(['LOW', 'LOW', 'MEDIUM', 'HIGH']);
    const rising = riskLevelChangeEvent(riskChange('t', 'a', 'high', 'none'));
    expect(rising).toMatchObject({ current_level: 'HIGH', principal: 'APPLICATION', risk_reason: 'unfamiliar-resource', riskstream_level: 'high' });
    expect(rising).not.toHaveProperty('previous_level');
    expect(riskLevelChangeEvent(riskChange('t', 'a', 'none', 'high', { state: 'remediated' }))).toMatchObject({
      current_level: 'LOW',
      previous_level: 'HIGH',
      risk_reason: 'remediated',
      riskstream_level: 'none',
      riskstream_state: 'remediated',
    });
    expect(riskLevelChangeEvent(riskChange('t', 'a', 'none', 'medium', { state: 'dismissed' })).risk_reason).toBe('dismissed');
    expect(riskLevelChangeEvent(riskChange('t', 'a', 'none', 'low', { state: 'confirmedSafe' })).risk_reason).toBe('confirmed_safe');
    expect(riskLevelChangeEvent(riskChange('t', 'a', 'none', 'low', { state: 'none' })).risk_reason).toBe('risk_expired');
    expect(riskLevelChangeEvent(riskChange('t', 'a', 'high', 'medium', { state: 'confirmedCompromised' })).risk_reason).toBe('confirmed_compromised');
  });
});

describe('push delivery (RFC 8935)', () => {
  it('POSTs each SET to the receiver with its authorization header; the SET verifies against the JWKS and carries the claims', async () => {
    const receiver = await startReceiver();
    receivers.push(receiver);
    const stream = await createStream('push-a', {
      delivery: { method: PUSH_METHOD, endpoint_url: `${receiver.url}/caep`, authorization_header: 'Bearer receiver-secret' },
      aud: 'https://pdp.example.test',
    });
    const change = riskChange('push-a', 'agent-7', 'high', 'medium', { score: 91.23456 });
    const queued = await transmitter.publishRiskChanges([change, riskChange('push-b', 'agent-7', 'high', 'none')]);
    expect(queued).toBe(1); // the other tenant has no stream
    // Republishing the same change (a redelivered batch) queues nothing.
    expect(await transmitter.publishRiskChanges([change])).toBe(0);

    const [req] = await receiver.waitFor(1);
    await transmitter.idle();
    expect(receiver.requests).toHaveLength(1);
    expect(req!.method).toBe('POST');
    expect(req!.url).toBe('/caep');
    expect(req!.headers['content-type']).toBe('application/secevent+jwt');
    expect(req!.headers.authorization).toBe('Bearer receiver-secret');

    const claims = await verifySet(req!.body, 'https://pdp.example.test');
    expect(claims).toMatchObject({
      iss: ISSUER,
      aud: 'https://pdp.example.test',
      txn: change.change_id,
      sub_id: { format: 'complex', application: { format: 'opaque', id: 'agent-7' }, tenant: { format: 'opaque', id: 'push-a' } },
    });
    expect(typeof claims.iat).toBe('number');
    expect(claims.jti).toMatch(/^[A-Za-z0-9_-]{32}$/);
    const events = claims.events as Record<string, Record<string, unknown>>;
    expect(Object.keys(events)).toEqual([CAEP_RISK_LEVEL_CHANGE]);
    expect(events[CAEP_RISK_LEVEL_CHANGE]).toEqual({
      current_level: 'HIGH',
      previous_level: 'MEDIUM',
      principal: 'APPLICATION',
      risk_reason: 'unfamiliar-resource',
      event_timestamp: Math.floor(change.time / 1000),
      reason_admin: { en: change.reasons[0]!.summary },
      riskstream_level: 'high',
      riskstream_state: 'atRisk',
      riskstream_score: 91.235,
    });
    expect(transmitter.deliveryStats('push-a', stream.stream_id)).toMatchObject({ delivered: 1, failed: 0, queued: 0 });
  });

  it('retries with backoff when the receiver fails, holds SETs while paused, and gives up a SET the receiver rejects with 400', async () => {
    const receiver = await startReceiver((req, n) => {
      if (n <= 2) return { status: 503 };
      if (req.body.length > 0 && n === 4) return { status: 400, body: JSON.stringify({ err: 'invalid_audience', description: 'nope' }) };
      return { status: 202 };
    });
    receivers.push(receiver);
    const stream = await createStream('push-retry', { delivery: { method: PUSH_METHOD, endpoint_url: receiver.url } });
    await transmitter.publishRiskChanges([riskChange('push-retry', 'a1', 'medium', 'none')]);
    await receiver.waitFor(3);
    await transmitter.idle();
    expect(receiver.requests).toHaveLength(3); // 503, 503, 202
    expect(receiver.requests[0]!.body).toBe(receiver.requests[2]!.body);
    expect(receiver.requests[1]!.at - receiver.requests[0]!.at).toBeGreaterThanOrEqual(15);
    expect(transmitter.deliveryStats('push-retry', stream.stream_id)).toMatchObject({ delivered: 1, failed: 0, queued: 0 });

    // Paused: held, not sent; enabled again: sent (and rejected with 400: not retried).
    const headers = await api.auth('admin', 'push-retry');
    await api.app.inject({ method: 'POST', url: '/v1/ssf/status', headers, payload: { stream_id: stream.stream_id, status: 'paused' } });
    await transmitter.publishRiskChanges([riskChange('push-retry', 'a1', 'high', 'medium'), riskChange('push-retry', 'a2', 'low', 'none')]);
    await new Promise((r) => setTimeout(r, 100));
    expect(receiver.requests).toHaveLength(3);
    expect(transmitter.deliveryStats('push-retry', stream.stream_id).queued).toBe(2);
    await api.app.inject({ method: 'POST', url: '/v1/ssf/status', headers, payload: { stream_id: stream.stream_id, status: 'enabled' } });
    await receiver.waitFor(5);
    await transmitter.idle();
    expect(receiver.requests).toHaveLength(5);
    const stats = transmitter.deliveryStats('push-retry', stream.stream_id);
    expect(stats).toMatchObject({ delivered: 2, failed: 1, queued: 0 });
    expect(stats.last_error).toMatch(/HTTP 400 invalid_audience \(nope\)/);
  });
});

describe('poll delivery (RFC 8936) and verification', () => {
  it('returns queued SETs, redelivers unacknowledged ones, and forgets acknowledged and errored ones', async () => {
    const s = await createStream('poll-a', { delivery: { method: POLL_METHOD } });
    const headers = await api.auth('admin', 'poll-a');
    const pollUrl = new URL(s.delivery.endpoint_url).pathname;
    const poll = async (body: Record<string, unknown>) => {
      const res = await api.app.inject({ method: 'POST', url: pollUrl, headers, payload: body });
      expect(res.statusCode, res.body).toBe(200);
      return res.json() as { sets: Record<string, string>; moreAvailable: boolean };
    };
    expect(await poll({ returnImmediately: true })).toEqual({ sets: {}, moreAvailable: false });

    const up = riskChange('poll-a', 'agent-1', 'high', 'none');
    const down = riskChange('poll-a', 'agent-1', 'none', 'high', { state: 'remediated', reasons: [] });
    await transmitter.publishRiskChanges([up, down]);

    const first = await poll({ maxEvents: 1, returnImmediately: true });
    expect(Object.keys(first.sets)).toHaveLength(1);
    expect(first.moreAvailable).toBe(true);
    const second = await poll({ returnImmediately: true });
    expect(Object.keys(second.sets)).toHaveLength(1);
    const [jtiUp, setUp] = Object.entries(first.sets)[0]!;
    const [jtiDown, setDown] = Object.entries(second.sets)[0]!;
    const cUp = await verifySet(setUp, 'admin@poll-a');
    const cDown = await verifySet(setDown, 'admin@poll-a');
    expect(cUp).toMatchObject({ jti: jtiUp, txn: up.change_id });
    expect(cDown).toMatchObject({ jti: jtiDown, txn: down.change_id });
    expect((cDown.events as Record<string, unknown>)[CAEP_RISK_LEVEL_CHANGE]).toMatchObject({ current_level: 'LOW', previous_level: 'HIGH', risk_reason: 'remediated', riskstream_level: 'none' });

    // Both are in flight: nothing now; after the redelivery delay, both again.
    expect(Object.keys((await poll({ returnImmediately: true })).sets)).toHaveLength(0);
    await new Promise((r) => setTimeout(r, 350));
    expect(Object.keys((await poll({ returnImmediately: true })).sets).sort()).toEqual([jtiUp, jtiDown].sort());

    // Acknowledge one, report an error for the other: nothing is redelivered.
    const acked = await poll({ ack: [jtiUp], setErrs: { [jtiDown]: { err: 'invalid_key', description: 'test' } }, maxEvents: 0 });
    expect(acked).toEqual({ sets: {}, moreAvailable: false });
    await new Promise((r) => setTimeout(r, 350));
    expect(Object.keys((await poll({ returnImmediately: true })).sets)).toHaveLength(0);
    expect(transmitter.deliveryStats('poll-a', s.stream_id)).toMatchObject({ delivered: 1, failed: 1, queued: 0 });

    // Long poll: waits until a SET is published.
    const pending = poll({ returnImmediately: false });
    await new Promise((r) => setTimeout(r, 100));
    const late = riskChange('poll-a', 'agent-2', 'medium', 'none');
    await transmitter.publishRiskChanges([late]);
    const got = await pending;
    expect(Object.values(got.sets)).toHaveLength(1);
    expect((await verifySet(Object.values(got.sets)[0]!, 'admin@poll-a')).txn).toBe(late.change_id);

    // The query-string form of the poll endpoint reaches the same stream.
    const viaQuery = await api.app.inject({ method: 'POST', url: `/v1/ssf/poll?stream_id=${s.stream_id}`, headers, payload: { ack: Object.keys(got.sets), returnImmediately: true } });
    expect(viaQuery.json()).toEqual({ sets: {}, moreAvailable: false });
    // Another tenant cannot poll it.
    const foreign = await api.app.inject({ method: 'POST', url: pollUrl, headers: await api.auth('admin', 'poll-b'), payload: {} });
    expect(foreign.statusCode).toBe(404);
  });

  it('sends a verification SET on request, rate-limited by min_verification_interval', async () => {
    const s = await createStream('verify-a', { delivery: { method: POLL_METHOD } });
    const headers = await api.auth('admin', 'verify-a');
    const res = await api.app.inject({ method: 'POST', url: '/v1/ssf/verify', headers, payload: { stream_id: s.stream_id, state: 'VGhpcyBpcyBhbiBleGFtcGxl' } });
    expect(res.statusCode).toBe(204);
    const again = await api.app.inject({ method: 'POST', url: '/v1/ssf/verify', headers, payload: { stream_id: s.stream_id } });
    expect(again.statusCode).toBe(429);

    const polled = (await api.app.inject({ method: 'POST', url: `/v1/ssf/poll/${s.stream_id}`, headers, payload: { returnImmediately: true } })).json() as { sets: Record<string, string> };
    const sets = Object.values(polled.sets);
    expect(sets).toHaveLength(1);
    const claims = await verifySet(sets[0]!, 'admin@verify-a');
    expect(claims.sub_id).toEqual({ format: 'opaque', id: s.stream_id });
    expect(claims.events).toEqual({ [SSF_VERIFICATION]: { state: 'VGhpcyBpcyBhbiBleGFtcGxl' } });
  });

  it('restores streams and queued SETs from the state store on start', async () => {
    const s = await createStream('restore-a', { delivery: { method: POLL_METHOD } });
    const change = riskChange('restore-a', 'agent-9', 'low', 'none');
    await transmitter.publishRiskChanges([change]);
    const restarted = new SsfTransmitter({ issuer: ISSUER, signingKey: key, store, pushAllowlist: ['127.0.0.1'] });
    await restarted.start();
    const out = await restarted.poll('restore-a', s.stream_id, { returnImmediately: true });
    const sets = Object.values(out.sets);
    expect(sets).toHaveLength(1);
    expect((await verifySet(sets[0]!, 'admin@restore-a')).txn).toBe(change.change_id);
    await restarted.close();
  });
});

describe('instances sharing one store', () => {
  function instance(shared: MemorySsfStateStore | import('../../publish/ssf/store.js').SsfStateStore): SsfTransmitter {
    return new SsfTransmitter({
      issuer: ISSUER,
      signingKey: key,
      store: shared,
      refreshMs: 0,
      pushAllowlist: ['127.0.0.1'],
      push: { maxAttempts: 2, initialDelayMs: 20, maxDelayMs: 100, timeoutMs: 2000 },
    });
  }
  const owner = { tenant: 'shared-t', subject: 'admin@shared-t' };

  it('each learns of streams the other created, changed and deleted, and queues its own SETs on them', async () => {
    const shared = new MemorySsfStateStore();
    const a = instance(shared);
    const b = instance(shared);
    await a.start();
    await b.start();
    const receiver = await startReceiver();
    receivers.push(receiver);
    try {
      const { stream_id } = await a.createStream(owner, { delivery: { method: PUSH_METHOD, endpoint_url: `${receiver.url}/caep`, authorization_header: 'Bearer r' } });
      expect(() => b.getStream(owner.tenant, stream_id)).toThrow(/no stream/);
      expect(await b.publishRiskChanges([riskChange('shared-t', 'agent-b', 'high', 'none')])).toBe(0);

      await b.refreshStreams();
      expect(b.getStream(owner.tenant, stream_id)).toMatchObject({ stream_id });
      // B publishes the risk changes of its own partitions to the stream: they reach the receiver.
      expect(await b.publishRiskChanges([riskChange('shared-t', 'agent-b', 'high', 'none')])).toBe(1);
      const [req] = await receiver.waitFor(1);
      expect(req!.headers.authorization).toBe('Bearer r');

      await a.setStatus(owner.tenant, stream_id, 'paused', 'maintenance');
      await b.refreshStreams();
      expect(b.getStatus(owner.tenant, stream_id)).toEqual({ stream_id, status: 'paused', reason: 'maintenance' });

      await a.deleteStream(owner.tenant, stream_id);
      await b.refreshStreams();
      expect(() => b.getStream(owner.tenant, stream_id)).toThrow(/no stream/);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('never brings back a stream it deleted itself, even from a read made just before', async () => {
    const shared = new MemorySsfStateStore();
    let stale: import('../../publish/ssf/store.js').StreamRecord[] = [];
    // A store whose listing was read before the deletion landed (and knows no tombstones).
    const lagging = Object.assign(Object.create(shared) as MemorySsfStateStore, {
      loadStreams: async () => stale,
      deletedStreams: undefined,
    });
    const b = instance(lagging);
    await b.start();
    try {
      const { stream_id } = await b.createStream(owner, { delivery: { method: POLL_METHOD } });
      stale = await shared.loadStreams();
      await b.deleteStream(owner.tenant, stream_id);
      await b.refreshStreams();
      expect(() => b.getStream(owner.tenant, stream_id)).toThrow(/no stream/);
    } finally {
      await b.close();
    }
  });
});

// Remediation hooks survive a restart of riskstream (real pipeline, embedded
// ClickHouse, real HTTP): a webhook and SSF streams (poll and push)
// registered before a restart are still there after it, and the risk changes
// of the next run are delivered to them — the webhook's signed with the
// secret given at registration, the push with the receiver's credential,
// both of which only the store (sealed) carried across.

import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSigningKey, TokenAuthority } from '../../api/auth.js';
import { startRiskstream, type Riskstream } from '../../cli/app.js';
import { loadConfig } from '../../config/index.js';
import type { AgentEvent } from '../../contract/events.js';
import { toJsonRecord } from '../../contract/validate.js';
import { POLL_METHOD, PUSH_METHOD } from '../../publish/ssf/transmitter.js';
import { verifyWebhookSignature } from '../../publish/webhooks/signature.js';
import { startReceiver, type Receiver } from '../publish/helpers.js';
import { testDataDir } from '../store/helpers.js';

const T0 = Date.UTC(2026, 0, 5, 9, 0, 0);
const TENANT = 'contoso';

// A user at high risk, then an agent signing in on the user's behalf: the agent inherits high.
const EVENTS: AgentEvent[] = [
  { type: 'user_risk', event_id: 'ur-1', time: T0, tenant_id: TENANT, user_id: 'u-high', level: 'high', reason: 'leaked credentials' },
  {
    type: 'signin', event_id: 'si-1', time: T0 + 60_000, tenant_id: TENANT, agent_id: 'agent-high', agent_type: 'agent_identity',
    blueprint_id: 'bp-mail', flow: 'on_behalf_of', user_id: 'u-high', credential_id: 'cred-1', credential_type: 'federated',
    ip: '20.0.0.1', asn: 8075, country: 'US', lat: 38.9, lon: -77.0, user_agent: 'azsdk-js-identity/1.2.0',
    resource: 'https://graph.microsoft.com', result: 'success', error_code: null,
  },
];

describe('restart', () => {
  const dataDir = testDataDir();
  const config = loadConfig({
    RISKSTREAM_DATA_DIR: dataDir,
    RISKSTREAM_PORT: '0',
    RISKSTREAM_LOG_LEVEL: 'warn',
    CLICKHOUSE_DATABASE: 'cli_restart',
    RISKSTREAM_OUTBOUND_ALLOWED_HOSTS: '127.0.0.1',
  });
  let receiver: Receiver;
  let ssfReceiver: Receiver;
  let rs: Riskstream | undefined;
  let headers: Record<string, string>;

  beforeAll(async () => {
    receiver = await startReceiver(() => ({ status: 200 }));
    ssfReceiver = await startReceiver(() => ({ status: 202 }));
  });
  afterAll(async () => {
    await rs?.stop();
    await receiver?.close();
    await ssfReceiver?.close();
  });

  const call = async (method: string, url: string, body?: unknown) => {
    const res = await fetch(`${rs!.url}${url}`, {
      method,
      headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('keeps webhooks and SSF streams, and delivers to them after the restart', async () => {
    // First run: nothing to consume; an admin registers a webhook and a poll stream.
    rs = await startRiskstream(config, { input: Readable.from(['']) });
    await rs.done;
    const authority = new TokenAuthority(await loadSigningKey(dataDir, undefined));
    headers = { authorization: `Bearer ${await authority.issue({ role: 'admin', tenant: TENANT, ttlSeconds: 600 })}` };
    const hook = await call('POST', '/v1/webhooks', { url: `${receiver.url}/hook`, min_level: 'medium', events: ['risk_change'] });
    expect(hook.status).toBe(201);
    const secret = hook.body.secret as string;
    const stream = await call('POST', '/v1/ssf/streams', { delivery: { method: POLL_METHOD } });
    expect(stream.status).toBe(201);
    const streamId = stream.body.stream_id as string;
    const push = await call('POST', '/v1/ssf/streams', {
      delivery: { method: PUSH_METHOD, endpoint_url: `${ssfReceiver.url}/caep`, authorization_header: 'Bearer pdp-credential-5d1c' },
    });
    expect(push.status).toBe(201);
    await rs.stop();
    rs = undefined;

    // Second run: the registrations are back, and the new high risk reaches both.
    const restartedAt = Date.now();
    const ndjson = EVENTS.map((e) => JSON.stringify(toJsonRecord(e))).join('\n') + '\n';
    rs = await startRiskstream(config, { input: Readable.from([ndjson]) });
    await rs.done;
    expect(rs.riskView.get(TENANT, 'agent-high').level).toBe('high');

    const hooks = await call('GET', '/v1/webhooks');
    expect(hooks.body.webhooks).toEqual([expect.objectContaining({ id: hook.body.id, url: `${receiver.url}/hook`, enabled: true })]);
    expect(JSON.stringify(hooks.body)).not.toContain(secret);
    expect((await call('GET', `/v1/ssf/streams?stream_id=${streamId}`)).body).toMatchObject({ stream_id: streamId });

    const [request] = await receiver.waitFor(1, 15_000);
    expect(verifyWebhookSignature(secret, request!.headers['x-riskstream-timestamp'] as string, request!.body, request!.headers['x-riskstream-signature'] as string)).toBe(true);
    expect(JSON.parse(request!.body)).toMatchObject({ data: { agent_id: 'agent-high', level: 'high' } });

    const polled = await call('POST', `/v1/ssf/poll/${streamId}`, { returnImmediately: true });
    expect(Object.keys(polled.body.sets as object)).toHaveLength(1);

    // The push receiver gets the SET with the credential it registered, carried across sealed.
    const until = Date.now() + 15_000;
    const afterRestart = () => ssfReceiver.requests.filter((r) => r.at >= restartedAt);
    while (afterRestart().length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    const pushed = afterRestart()[0];
    expect(pushed?.url).toBe('/caep');
    expect(pushed?.headers.authorization).toBe('Bearer pdp-credential-5d1c');
    expect(pushed?.headers['content-type']).toBe('application/secevent+jwt');
  });
});

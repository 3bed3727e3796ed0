import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../contract/events.js';
import { abusedService, createAbusedWebServiceDetector } from '../../detectors/abused-web-service.js';
import { DAY, HOUR, MIN, SEC, T0, fakeContext, feed, network, resetIds, runWithRestore } from './helpers/context.js';

beforeEach(() => resetIds());

const KB = 1024;
const MB = 1024 * KB;

/** Posts of `bytes` every `everyMs` by one agent to one host. */
function posts(agent: string, host: string, n: number, bytes: number, everyMs: number, from = T0, extra: Partial<AgentEvent> = {}): AgentEvent[] {
  return Array.from({ length: n }, (_, k) => network({ agent_id: agent, time: from + k * everyMs, dest_host: host, category: 'messaging', bytes_out: bytes, ...extra } as never));
}

const run = (events: AgentEvent[]) => feed(createAbusedWebServiceDetector(), fakeContext(), events);

describe('abused-web-service: the list', () => {
  it('knows a listed service by its domain or any host under it, in any case', () => {
    expect(abusedService('api.telegram.org')).toEqual({ domain: 'telegram.org', kind: 'messaging bot API' });
    expect(abusedService('API.Telegram.ORG.')).toEqual({ domain: 'telegram.org', kind: 'messaging bot API' });
    expect(abusedService('webhook.site')?.kind).toBe('request catcher');
    expect(abusedService('c7f3k2.oast.fun')?.kind).toBe('request catcher');
    expect(abusedService('6a1b-20-1-2-3.ngrok-free.app')?.kind).toBe('reverse tunnel');
    expect(abusedService('cold-river-42.trycloudflare.com')?.kind).toBe('reverse tunnel');
    expect(abusedService('files.catbox.moe')?.kind).toBe('anonymous file drop');
    expect(abusedService('0x0.st')?.kind).toBe('paste site');
    // Slack's incoming webhooks, not the workspace app.
    expect(abusedService('hooks.slack.com')?.kind).toBe('messaging bot API');
    expect(abusedService('contoso.slack.com')).toBeNull();
    expect(abusedService('api.twilio.com')?.kind).toBe('SMS gateway');
    expect(abusedService('kqzxvbnmlpwoeirutyal.supabase.co')?.kind).toBe('backend-as-a-service project');
    expect(abusedService('drop-42-default-rtdb.firebaseio.com')?.kind).toBe('backend-as-a-service project');
    expect(abusedService('api.airtable.com')?.kind).toBe('backend-as-a-service project');
    expect(abusedService('hooks.zapier.com')?.kind).toBe('automation webhook');
    expect(abusedService('hook.eu1.make.com')?.kind).toBe('automation webhook');
    expect(abusedService('acme-ops.app.n8n.cloud')?.kind).toBe('automation webhook');
    // The platforms' own sites and apps are not their catch hooks.
    expect(abusedService('zapier.com')).toBeNull();
    expect(abusedService('www.make.com')).toBeNull();
    expect(abusedService('airtable.com')).toBeNull();
    expect(abusedService('api-data.line.me')?.kind).toBe('messaging bot API');
    expect(abusedService('fcm.googleapis.com')?.kind).toBe('push notification service');
    expect(abusedService('ntfy.sh')?.kind).toBe('push notification service');
    expect(abusedService('relay-3f9a2c.net.anydesk.com')).toEqual({ domain: 'anydesk.com', kind: 'remote access tool' });
    expect(abusedService('docs.google.com')?.kind).toBe('form backend');
    expect(abusedService('formspree.io')?.kind).toBe('form backend');
    expect(abusedService('sheets.googleapis.com')).toBeNull();
    expect(abusedService('test.mosquitto.org')?.kind).toBe('public message broker');
    expect(abusedService('mosquitto.org')).toBeNull();
    // Google's other APIs and LINE's web pages are not listed.
    expect(abusedService('www.googleapis.com')).toBeNull();
    expect(abusedService('line.me')).toBeNull();
  });

  it('does not take a look-alike or a host merely containing a listed name for the service', () => {
    expect(abusedService('telegram.org.example.com')).toBeNull();
    expect(abusedService('notwebhook.site')).toBeNull();
    expect(abusedService('pastebin-clone.example.com')).toBeNull();
    expect(abusedService('upload.box.com')).toBeNull();
    expect(abusedService('graph.microsoft.com')).toBeNull();
    expect(abusedService('org')).toBeNull();
    expect(abusedService('')).toBeNull();
  });
});

describe('abused-web-service', () => {
  it('reports data dripped to a bot API its blueprint does not use: low on contact, medium at 1 MiB within the hour', () => {
    const out = run(posts('a1', 'api.telegram.org', 8, 400 * KB, 100 * SEC));
    expect(out.map((d) => d.severity)).toEqual(['low', 'medium']);
    expect(out[0]).toMatchObject({ detector: 'abused-web-service', agent_id: 'a1', time: T0 });
    // 1 MiB reached with the 3rd post (1.2 MiB).
    expect(out[1]!.time).toBe(T0 + 200 * SEC);
    expect(out[1]!.event_ids).toHaveLength(3);
    expect(out[1]!.summary).toContain('sent 1.2 MiB to api.telegram.org (messaging bot API telegram.org)');
    expect(out[1]!.evidence.peer_group).toBe('blueprint:bp1');
  });

  it('reports a command channel: 30 small requests within the hour to a bot API, 10 through a reverse tunnel', () => {
    const bot = run(posts('a1', 'api.telegram.org', 40, 600, MIN));
    expect(bot.map((d) => [d.severity, d.time])).toEqual([
      ['low', T0],
      ['medium', T0 + 29 * MIN],
    ]);
    expect(bot[1]!.summary).toContain('made 30 requests');
    const tunnel = run(posts('a1', 'quiet-owl-17.trycloudflare.com', 40, 600, MIN));
    expect(tunnel.map((d) => [d.severity, d.time])).toEqual([
      ['low', T0],
      ['medium', T0 + 9 * MIN],
    ]);
    expect(tunnel[1]!.summary).toContain('made 10 requests');
    expect(run(posts('a1', 'x7k2-8443.use1.devtunnels.ms', 9, 600, MIN)).map((d) => d.severity)).toEqual(['low']);
  });

  it('does not count the requests of an agent working with such a service for hours, never at medium (a push agent sending an app\'s alerts), but still what it sends', () => {
    // 20 to 28 FCM messages an hour for 4 hours, then a busy hour of 36: a push-notification agent's day.
    const hourly = [20, 28, 24, 26, 36];
    const fcm = hourly.flatMap((n, h) => posts('a1', 'fcm.googleapis.com', n, 900, Math.floor(HOUR / n), T0 + h * HOUR));
    expect(run(fcm).map((d) => d.severity)).toEqual(['low']);
    // The same busy hour as the agent's first: a bot polled for orders.
    expect(run(posts('a1', 'fcm.googleapis.com', 36, 900, Math.floor(HOUR / 36))).map((d) => d.severity)).toEqual(['low', 'medium']);
    // Hours of use do not hide a leak: 1.2 MiB sent through it within the hour.
    const leak = [...fcm, ...posts('a1', 'fcm.googleapis.com', 3, 420_000, MIN, T0 + 5 * HOUR + 10 * MIN)];
    expect(run(leak).map((d) => d.severity)).toEqual(['low', 'medium']);
  });

  it('reports texts sent out through an SMS gateway its blueprint does not use: medium at the 10th (codes read from mail relayed to a phone)', () => {
    const sms = run(posts('a1', 'api.twilio.com', 20, 1_100, 40 * SEC));
    expect(sms.map((d) => [d.severity, d.time])).toEqual([
      ['low', T0],
      ['medium', T0 + 9 * 40 * SEC],
    ]);
    expect(sms[1]!.summary).toContain('texts sent out of the organisation');
    expect(run(posts('a1', 'api.twilio.com', 9, 1_100, 40 * SEC)).map((d) => d.severity)).toEqual(['low']);
  });

  it('reports a remote access session its blueprint does not use: medium at the 10th request (a hands-on intruder on the agent\'s runtime)', () => {
    const out = run(posts('a1', 'relay-3f9a2c.net.anydesk.com', 12, 2 * KB, 30 * SEC, T0, { category: 'remote_access', bytes_in: 6 * KB }));
    expect(out.map((x) => [x.severity, x.time])).toEqual([
      ['low', T0],
      ['medium', T0 + 9 * 30 * SEC],
    ]);
    expect(out[1]!.summary).toContain('a remote session on the agent\'s runtime');
  });

  it('reports a directory submitted row by row to a form its blueprint does not use: medium at the 30th submission, though each answer is larger than the post', () => {
    const out = run(posts('a1', 'docs.google.com', 40, 6 * KB, 8 * SEC, T0, { category: 'productivity', bytes_in: 90 * KB }));
    expect(out.map((x) => [x.severity, x.time])).toEqual([
      ['low', T0],
      ['medium', T0 + 29 * 8 * SEC],
    ]);
    expect(out[1]!.summary).toContain('(form backend docs.google.com)');
  });

  it('reports mail dripped into a backend-as-a-service project its blueprint does not use at 1 MiB', () => {
    const drop = run(posts('a1', 'kqzxvbnmlpwoeirutyal.supabase.co', 6, 300 * KB, 2 * MIN, T0, { category: 'technology' } as never));
    expect(drop.map((d) => d.severity)).toEqual(['low', 'medium']);
    expect(drop[1]!.summary).toContain('(backend-as-a-service project supabase.co)');
  });

  it('reports 3 document-sized posts (16 KiB or more, 4 times what came back) within the hour medium, under the 1 MiB leak: mail bodies posted to a Slack webhook', () => {
    const out = run(posts('a1', 'hooks.slack.com', 5, 60_000, 2 * MIN));
    expect(out.map((d) => [d.severity, d.time])).toEqual([
      ['low', T0],
      ['medium', T0 + 4 * MIN],
    ]);
    expect(out[1]!.summary).toContain('posted 3 documents');
    // Chat-sized messages stay low.
    expect(run(posts('a1', 'hooks.slack.com', 8, 3_000, 2 * MIN)).map((d) => d.severity)).toEqual(['low']);
  });

  it('reports records posted to an automation platform\'s catch hook its blueprint does not use: medium at the third document-sized post', () => {
    const out = run(posts('a1', 'hooks.zapier.com', 5, 24_000, 2 * MIN, T0, { category: 'technology', bytes_in: 300 } as never));
    expect(out.map((d) => d.severity)).toEqual(['low', 'medium']);
    expect(out[1]!.summary).toContain('(automation webhook hooks.zapier.com)');
  });

  it('takes the first Teams webhook host the tenant\'s agents post to for its own organisation\'s, and reports document posts to another organisation\'s', () => {
    expect(abusedService('Kanzlei-Berger.webhook.office.com')).toEqual({ domain: 'kanzlei-berger.webhook.office.com', kind: "another organisation's Teams webhook" });
    expect(abusedService('outlook.office.com')).toBeNull();
    // The mail agent posts a small card to its own organisation's webhook every 10 minutes all day.
    const own = posts('a1', 'contoso.webhook.office.com', 40, 4_500, 10 * MIN, T0, { category: 'business' });
    const foreign = posts('a1', 'kanzlei-berger.webhook.office.com', 4, 24 * KB, 40 * SEC, T0 + 7 * HOUR, { category: 'business', bytes_in: 300 });
    const out = run([...own, ...foreign]);
    expect(out.map((x) => [x.severity, x.time])).toEqual([
      ['low', T0 + 7 * HOUR],
      ['medium', T0 + 7 * HOUR + 80 * SEC],
    ]);
    expect(out[1]!.summary).toContain("kanzlei-berger.webhook.office.com (another organisation's Teams webhook");
    // Another agent of the tenant posting to the own webhook: nothing.
    expect(run([...own, ...posts('a2', 'contoso.webhook.office.com', 5, 24 * KB, MIN, T0 + 7 * HOUR, { blueprint_id: 'bp2', bytes_in: 300 })])).toEqual([]);
  });

  it('keeps a few chat messages and blocked attempts at low', () => {
    const chat = posts('a1', 'discord.com', 5, 3 * KB, 10 * MIN);
    const blocked = posts('a2', 'transfer.sh', 40, 5 * MB, MIN, T0, { action: 'blocked' } as never);
    const out = run([...chat, ...blocked].sort((x, y) => x.time - y.time));
    expect(out.map((d) => [d.agent_id, d.severity])).toEqual([
      ['a1', 'low'],
      ['a2', 'low'],
    ]);
    expect(out[1]!.summary).toContain('tried to reach transfer.sh');
  });

  it('stays quiet for a service the blueprint uses: 3 of its agents, or its agents over 7 days', () => {
    const d = createAbusedWebServiceDetector();
    const ctx = fakeContext();
    // Three agents of bp1 post alerts to a Discord webhook: each first contact is low, then it is familiar.
    const rollout = ['a1', 'a2', 'a3'].map((a, i) => network({ agent_id: a, time: T0 + i * MIN, dest_host: 'discord.com', bytes_out: 2 * KB }));
    expect(feed(d, ctx, rollout).map((x) => x.severity)).toEqual(['low', 'low', 'low']);
    expect(feed(d, ctx, posts('a4', 'discord.com', 10, 400 * KB, MIN, T0 + HOUR))).toEqual([]);
    // Another blueprint has not learned it.
    expect(feed(d, ctx, [network({ agent_id: 'b1', blueprint_id: 'bp2', time: T0 + 2 * HOUR, dest_host: 'discord.com' })]).map((x) => x.severity)).toEqual(['low']);
    // One agent posting daily for a week makes it familiar to its blueprint too.
    const e = createAbusedWebServiceDetector();
    const ctx2 = fakeContext();
    const daily = posts('c1', 'api.telegram.org', 10, 2 * KB, DAY, T0, { blueprint_id: 'bp3' } as never);
    const lows = feed(e, ctx2, daily);
    expect(lows.map((x) => x.severity)).toEqual(Array(8).fill('low'));
    expect(lows.at(-1)!.time).toBe(T0 + 7 * DAY);
  });

  it('lets no agent at medium vouch for the service, so compromised agents of one blueprint do not make it familiar', () => {
    const three = ['a1', 'a2', 'a3'].flatMap((a, i) => posts(a, 'webhook.site', 3, 600 * KB, MIN, T0 + i * 10 * MIN));
    const out = run([...three, ...posts('a4', 'webhook.site', 3, 600 * KB, MIN, T0 + HOUR)]);
    expect(out.filter((d) => d.severity === 'medium').map((d) => d.agent_id)).toEqual(['a1', 'a2', 'a3', 'a4']);
  });

  it('ignores calls to other agents and hosts not on the list', () => {
    const out = run([
      ...posts('a1', 'upload.box.com', 10, 50 * MB, MIN),
      network({ agent_id: 'a1', time: T0 + HOUR, dest_host: 'api.telegram.org', dest_agent_id: 'a9', category: 'agent', bytes_out: 5 * MB }),
    ]);
    expect(out).toEqual([]);
  });

  it('survives snapshot and restore, and forgets idle agents and groups', () => {
    const events = posts('a1', 'paste.ee', 6, 300 * KB, 2 * MIN);
    const { uninterrupted, restored } = runWithRestore(() => createAbusedWebServiceDetector(), events, 2);
    expect(uninterrupted.map((d) => d.severity)).toEqual(['medium']);
    expect(restored).toEqual(uninterrupted);
    const d = createAbusedWebServiceDetector();
    feed(d, fakeContext(), events);
    expect(d.size()).toBe(2);
    d.evict(T0 + HOUR);
    expect(d.size()).toBe(0);
  });
});

describe('abused-web-service: business messaging APIs', () => {
  const WA = 'graph.facebook.com';
  const messages = (agent: string, n: number, from: number, extra: Partial<AgentEvent> = {}) => posts(agent, WA, n, 1_400, 20 * SEC, from, { category: 'social_networking', bytes_in: 600, ...extra });
  const pdfs = (agent: string, n: number, from: number, extra: Partial<AgentEvent> = {}) =>
    posts(agent, WA, n, 450 * KB, 90 * SEC, from, { category: 'social_networking', bytes_in: 300, file_type: 'pdf', ...extra });

  it('knows WhatsApp\'s Business Cloud API and its resellers', () => {
    expect(abusedService(WA)).toEqual({ domain: WA, kind: 'business messaging API' });
    expect(abusedService('waba-v2.360dialog.io')?.kind).toBe('business messaging API');
    expect(abusedService('www.facebook.com')).toBeNull();
  });

  it('is medium at the third document posted where no one in the tenant uses it (statements sent to a thief\'s business number), with no low on contact', () => {
    const out = run(pdfs('a1', 14, T0));
    expect(out.map((x) => [x.severity, x.time - T0])).toEqual([['medium', 2 * 90 * SEC]]);
    expect(out[0]!.summary).toContain('posted 3 documents');
    expect(out[0]!.summary).toContain('nor any other agent of its tenant');
  });

  it('takes messages as the organisation\'s channel: no count of requests, and documents are no news where another agent of the tenant already uses it', () => {
    // A reminder campaign: 400 template messages in two hours from an agent new to it (under 4 MiB).
    expect(run(messages('r1', 400, T0))).toEqual([]);
    // The tenant's notification agent (another blueprint) uses it: the copilot's documents go to the organisation's account.
    expect(run([...messages('n1', 3, T0 - HOUR, { blueprint_id: 'bp-notify' }), ...pdfs('a1', 14, T0)])).toEqual([]);
    // Another tenant's use vouches for nothing.
    expect(run([...messages('n1', 3, T0 - HOUR, { tenant_id: 't2' }), ...pdfs('a1', 14, T0)]).map((x) => x.severity)).toEqual(['medium']);
  });

  it('learns nothing from a reported agent: a second agent of the tenant posting documents later is medium too', () => {
    const out = run([...pdfs('a1', 5, T0), ...pdfs('a2', 5, T0 + 2 * HOUR, { blueprint_id: 'bp2' })]);
    expect(out.map((x) => [x.agent_id, x.severity])).toEqual([
      ['a1', 'medium'],
      ['a2', 'medium'],
    ]);
  });
});

// Detector 18 — abused-web-service: an agent sends data to, or keeps a channel
// open with, a free web service that attackers use as a drop box or a command
// channel, one its blueprint does not use (T1567 Exfiltration Over Web
// Service; T1102 Web Service).
//
// A gateway puts `api.telegram.org` under messaging, `webhook.site` under
// technology, an ngrok tunnel under whatever the tunnelled host looks like:
// no category says "stolen data goes here", and 18 MB dripped to a Telegram
// bot in 2 MB posts stays under every volume threshold of exfiltration. Yet
// these services are the attacker's favourites for the same reason they are
// strangers to an enterprise agent: anyone can open a bot, a paste, a request
// bin or a tunnel in a minute, without an account the victim could trace.
// Elastic's "Connection to Commonly Abused Web Services" rule keeps such a
// list for processes; this is the same list for agent identities:
// - messaging bot APIs (Telegram, Discord and Slack incoming webhooks: any
//   workspace's webhook URL takes posts, the attacker's too; LINE and Viber,
//   their equivalents in Asia and eastern Europe);
// - form backends (Google Forms on docs.google.com, Formspree, FormSubmit...):
//   anyone's form takes anonymous submissions, row after row;
// - public MQTT brokers (test.mosquitto.org, HiveMQ's and EMQX's public
//   brokers): any topic, no account, subscribed to from anywhere;
// - push notification services (Firebase Cloud Messaging under anyone's
//   server key, ntfy topics, Pushover): each post a message to a phone;
// - remote access tools (AnyDesk, TeamViewer, ScreenConnect, RustDesk...):
//   nobody sits at an agent's screen, and a session is a hands-on intruder;
// - paste sites (pastebin, paste.ee, rentry, 0x0.st...);
// - anonymous file drops (transfer.sh, file.io, gofile, catbox...);
// - request catchers and out-of-band interaction servers (webhook.site,
//   requestbin, pipedream, interactsh's oast.*, Burp Collaborator);
// - reverse tunnels (ngrok, trycloudflare, localtunnel, serveo, dev tunnels);
// - SMS gateways (Twilio, Vonage, MessageBird, Sinch...): texts sent out of
//   the organisation, one-time codes and reset links read from a mailbox
//   relayed to a phone;
// - backend-as-a-service projects (Supabase, Firebase Realtime Database,
//   Appwrite, an Airtable base...): anyone's database behind a REST API,
//   opened in a minute;
// - catch hooks of automation platforms (Zapier, Make, IFTTT, n8n cloud):
//   anyone's workflow takes posts and forwards them where its owner likes;
// - another organisation's Teams incoming webhooks (`<org>.webhook.office.com`:
//   the tenant's own is the first its agents post to): a connector of the
//   attacker's own tenant takes cards of mail pasted in, under a Microsoft
//   host the blueprint's posts to its own webhook make look familiar.
// - WhatsApp's Business Cloud API (graph.facebook.com) and its resellers: a
//   channel organisations use every day, so judged apart (see BUSINESS_KIND):
//   familiar once another agent of the tenant used it, no low on contact, no
//   count of messages; documents posted (statements to a thief's business
//   number), or 4 MiB sent, where no one in the tenant uses it are medium.
// Mainstream file sharing (Box, Dropbox, WeTransfer) is not listed: companies
// use it, and its category already lowers exfiltration's thresholds.
//
// A service is familiar to a blueprint once 3 of its agents used it, or its
// agents over 7 days (a notification bot posting to a Discord webhook, a
// blueprint that publishes to a paste service): then nothing is reported.
// Otherwise, per agent: each contact is low (once per service per day; a
// blocked one too: something told the agent to go there); data sent to such
// services, at least 1 MiB within an hour, or 3 posts of documents (16 KiB
// or more out each, 4 times what came back: no chat message is that big),
// is medium (a leak, beyond a chat message); so are 30 allowed requests within an hour (a command channel:
// a bot polled for orders), 10 to a reverse tunnel (every request through
// one is the session it carries: a command channel polled every minute is
// medium within ten), to an SMS gateway (ten texts out) or to a remote
// access tool (a session). An agent at medium
// teaches its blueprint nothing. Calls to other agents are not judged.
// An agent whose use of such services began 2 hours or more before the hour
// counted, reported low then and never medium since, works with them (a
// push-notification agent sending an app's alerts through FCM all day, under
// 30 an hour most hours): its request count is not a command channel (a bot
// polled for orders is reported within the hour it starts); what it sends
// is still judged.
//
// State: per peer group that used a listed service, a few numbers per
// service; per agent that reached one, its sums. Nothing for anyone else:
// the per-event cost is one map lookup of the destination host (memoByHost).

import type { AgentEvent, NetworkEvent } from '../contract/events.js';
import type { Detection, DetectorMeta } from './types.js';
import { formatDuration, peerGroupId, peerGroupName, type Detector } from './detector.js';
import { NO_DETECTIONS, TenantMap, clone, hashString, type Timed } from './agent-directory.js';
import { memoByHost } from './host-memo.js';

export interface AbusedWebServiceOptions {
  /** Distinct agents of a peer group whose use makes a service familiar to it. */
  familiarAgents?: number;
  /** A peer group using a service this long (first to last use) is familiar with it, ms. */
  familiarAfterMs?: number;
  /** Bytes sent to unfamiliar listed services within `windowMs` that make medium. */
  leakBytes?: number;
  /**
   * Posts of documents (documentPostBytes or more out, 4 times what came
   * back: no chat message is that big) to unfamiliar listed services within
   * `windowMs` that make medium, under the leak's byte sum.
   */
  documentPosts?: number;
  documentPostBytes?: number;
  /** Bytes sent to an unfamiliar business messaging API (see BUSINESS_KIND) within `windowMs` that make medium. */
  businessLeakBytes?: number;
  /** Allowed requests to unfamiliar listed services within `windowMs` that make medium. */
  channelRequests?: number;
  /** The same for a reverse tunnel: its every request is the session it carries. */
  tunnelRequests?: number;
  windowMs?: number;
  /** A contact is reported low at most once per service per agent in this long, ms. */
  lowEveryMs?: number;
  maxAgents?: number;
}

const DEFAULTS: Required<AbusedWebServiceOptions> = {
  familiarAgents: 3,
  familiarAfterMs: 7 * 24 * 3_600_000,
  leakBytes: 1024 * 1024,
  documentPosts: 3,
  documentPostBytes: 16 * 1024,
  businessLeakBytes: 4 * 1024 * 1024,
  channelRequests: 30,
  tunnelRequests: 10,
  windowMs: 3_600_000,
  lowEveryMs: 24 * 3_600_000,
  maxAgents: 1_000_000,
};

export type AbusedServiceKind =
  | 'messaging bot API'
  | 'paste site'
  | 'anonymous file drop'
  | 'request catcher'
  | 'reverse tunnel'
  | 'SMS gateway'
  | 'backend-as-a-service project'
  | 'push notification service'
  | 'remote access tool'
  | 'form backend'
  | 'automation webhook'
  | 'public message broker'
  | 'business messaging API'
  | "another organisation's Teams webhook";

/** A listed service: its domain and what it is. */
export interface AbusedService {
  domain: string;
  kind: AbusedServiceKind;
}

/** Domains (and every host under them) of the services on the list. */
const SERVICES: Record<Exclude<AbusedServiceKind, "another organisation's Teams webhook">, readonly string[]> = {
  // LINE's and Viber's bot APIs are Telegram's in Japan, Taiwan, Thailand and eastern Europe.
  'messaging bot API': ['telegram.org', 'discord.com', 'discordapp.com', 'hooks.slack.com', 'api.line.me', 'api-data.line.me', 'notify-api.line.me', 'chatapi.viber.com'],
  // Anyone's push topic or app key: each post a message to the attacker's phone (ntfy's topics need no account at all).
  'push notification service': ['fcm.googleapis.com', 'ntfy.sh', 'api.pushover.net', 'api.pushbullet.com'],
  // Anyone's form takes anonymous submissions: a directory pasted into a Google Form, posts to a form endpoint
  // (agents use Google's APIs on *.googleapis.com; docs.google.com is a browser's, and its forms' formResponse).
  'form backend': ['docs.google.com', 'formspree.io', 'formsubmit.co', 'getform.io', 'usebasin.com', 'submit.jotform.com', 'formcarry.com'],
  // WhatsApp's Business Cloud API (Meta's Graph API host) and its resellers: a business channel in much of Africa,
  // Latin America and South Asia, and anyone's business number takes the statements an agent posts as documents.
  'business messaging API': ['graph.facebook.com', 'waba.360dialog.io', 'waba-v2.360dialog.io'],
  // Public MQTT brokers: any topic, no account, subscribed to from anywhere (a command channel, a drop).
  'public message broker': ['test.mosquitto.org', 'broker.hivemq.com', 'broker.emqx.io', 'mqtt.eclipseprojects.io', 'public.cloud.shiftr.io', 'broker.mqttdashboard.com'],
  // Remote desktop and RMM tools: nobody sits at an agent's screen (T1219; a ransomware crew's first foothold).
  'remote access tool': ['anydesk.com', 'teamviewer.com', 'screenconnect.com', 'rustdesk.com', 'splashtop.com', 'getscreen.me', 'remoteutilities.com', 'supremocontrol.com', 'ammyy.com', 'zohoassist.com'],
  'paste site': [
    'pastebin.com',
    'paste.ee',
    'hastebin.com',
    'ghostbin.com',
    'rentry.co',
    'rentry.org',
    'paste.rs',
    'dpaste.org',
    'dpaste.com',
    'controlc.com',
    'justpaste.it',
    'privatebin.net',
    'termbin.com',
    'ix.io',
    'sprunge.us',
    '0x0.st',
  ],
  'anonymous file drop': [
    'transfer.sh',
    'file.io',
    'gofile.io',
    'anonfiles.com',
    'bashupload.com',
    'temp.sh',
    'tmpfiles.org',
    'catbox.moe',
    'uguu.se',
    'filebin.net',
    'oshi.at',
    'keep.sh',
    'pixeldrain.com',
    'easyupload.io',
  ],
  'request catcher': [
    'webhook.site',
    'requestbin.com',
    'requestbin.net',
    'pipedream.net',
    'requestcatcher.com',
    'beeceptor.com',
    'hookbin.com',
    'interact.sh',
    'oast.pro',
    'oast.live',
    'oast.site',
    'oast.online',
    'oast.fun',
    'oast.me',
    'oastify.com',
    'burpcollaborator.net',
    'dnslog.cn',
    'ceye.io',
  ],
  // Texts sent out of the organisation: one-time codes and reset links read from a mailbox, relayed to a phone.
  'SMS gateway': ['api.twilio.com', 'rest.nexmo.com', 'api.nexmo.com', 'api.vonage.com', 'rest.messagebird.com', 'sms.api.sinch.com', 'api.telnyx.com', 'api.plivo.com', 'textbelt.com', 'api.clicksend.com'],
  // Anyone's project database behind a REST API, opened in a minute: a drop box with an enterprise-looking name
  // (an Airtable base too: a spreadsheet anyone's token writes rows into).
  'backend-as-a-service project': ['supabase.co', 'supabase.in', 'firebaseio.com', 'cloud.appwrite.io', 'pockethost.io', 'nhost.run', 'api.airtable.com'],
  // Catch hooks of no-code automation platforms: anyone's Zap or scenario takes posts at a URL and forwards
  // them wherever its owner likes (a sheet, a mailbox, a chat), without an account the victim could trace.
  'automation webhook': ['hooks.zapier.com', 'hook.integromat.com', 'hook.eu1.make.com', 'hook.eu2.make.com', 'hook.us1.make.com', 'hook.us2.make.com', 'maker.ifttt.com', 'app.n8n.cloud'],
  'reverse tunnel': [
    'ngrok.io',
    'ngrok.app',
    'ngrok.dev',
    'ngrok-free.app',
    'ngrok-free.dev',
    'trycloudflare.com',
    'loca.lt',
    'localtunnel.me',
    'serveo.net',
    'serveousercontent.com',
    'localhost.run',
    'lhr.life',
    'pagekite.me',
    'bore.pub',
    'tunnelto.dev',
    'loclx.io',
    'pinggy.io',
    'pinggy.link',
    'devtunnels.ms',
    'localtonet.com',
  ],
};

const BY_DOMAIN = new Map<string, AbusedService>();
for (const [kind, domains] of Object.entries(SERVICES) as [AbusedServiceKind, readonly string[]][]) {
  for (const domain of domains) BY_DOMAIN.set(domain, { domain, kind });
}

/** Teams incoming webhooks: one host per organisation, `<org>.webhook.office.com`. */
const ORG_WEBHOOK = /^[a-z0-9-]+\.webhook\.office\.com$/;

/**
 * The listed service `host` belongs to (the host or a domain above it is
 * listed), or null. Case and a final dot do not matter. A Teams incoming
 * webhook host is its organisation's: a service of its own (the detector
 * tells the tenant's own organisation from another).
 */
export function abusedService(host: string): AbusedService | null {
  let h = host.toLowerCase();
  if (h.endsWith('.')) h = h.slice(0, -1);
  if (ORG_WEBHOOK.test(h)) return { domain: h, kind: ORG_WEBHOOK_KIND };
  for (;;) {
    const s = BY_DOMAIN.get(h);
    if (s !== undefined) return s;
    const dot = h.indexOf('.');
    // Stop at the last label: a top-level domain is never listed.
    if (dot < 0 || h.indexOf('.', dot + 1) < 0) return null;
    h = h.slice(dot + 1);
  }
}

/** abusedService per host as the gateway wrote it, remembered. */
const serviceOf = memoByHost(abusedService);

const ORG_WEBHOOK_KIND: AbusedServiceKind = "another organisation's Teams webhook";

/**
 * A business messaging API (WhatsApp's) is a channel organisations use every
 * day: familiar to a blueprint once any other agent of its tenant used it (the
 * organisation's own business account), no low on contact, no count of
 * requests (a reminder campaign sends hundreds of messages); documents posted,
 * or businessLeakBytes sent, where no one else in the tenant uses it, are medium.
 */
const BUSINESS_KIND: AbusedServiceKind = 'business messaging API';

/** Per tenant, the agents seen using a business messaging API (see BUSINESS_KIND), under this group id. */
const TENANT_USERS = '\u0000tenant';

/** Kinds whose every request is the session or the message itself (a tunnel, a remote desktop, a text): medium at tunnelRequests. */
function sessionKind(kind: AbusedServiceKind): boolean {
  return kind === 'reverse tunnel' || kind === 'SMS gateway' || kind === 'remote access tool';
}

/** A peer group's use of one listed service. */
interface GroupUse {
  first: number;
  last: number;
  /** Hashes of distinct agents that used it (at most familiarAgents). */
  agents: number[];
}

interface GroupServices extends Timed {
  services: Record<string, GroupUse>;
}

/** Per agent that reached an unfamiliar listed service. */
interface AgentUse extends Timed {
  /** Allowed bytes and requests since `since` (the window restarts once it has passed). */
  bytes: number;
  requests: number;
  /** Of those, posts carrying documents (see documentPost); absent in older snapshots. */
  posts?: number;
  since: number;
  /** Last low per service domain, and the last medium (0: none). */
  lows: Record<string, number>;
  medium: number;
  /** Services the agent was at medium for: it teaches its group none of them. */
  flagged: string[];
  /** Its first allowed contact with a listed service (absent in older snapshots: taken as the window's start). */
  first?: number;
  ids: string[];
}

/** An agent's use of listed services this old, never at medium, is its work (see contact), ms. */
const HABIT_MS = 2 * 3_600_000;

export const abusedWebServiceMeta: DetectorMeta = {
  id: 'abused-web-service',
  title: 'Data or a channel to a commonly abused web service',
  severity: 'medium',
  mitre: { id: 'T1567', name: 'Exfiltration Over Web Service' },
  description:
    'An agent reaches a free web service attackers use as a drop box or command channel (Telegram and Discord bot APIs, Slack incoming webhooks, paste sites, anonymous file drops, request catchers and out-of-band servers, reverse tunnels such as ngrok, SMS gateways such as Twilio, backend-as-a-service projects such as Supabase or an Airtable base, automation platforms\' catch hooks (Zapier, Make, IFTTT), push notification services (FCM, ntfy), form backends (Google Forms, Formspree), public MQTT brokers (test.mosquitto.org), remote access tools (AnyDesk, TeamViewer), another organisation\'s Teams incoming webhook: not the first `<org>.webhook.office.com` host the tenant\'s agents post to), one its blueprint does not use (3 of its agents, or its agents over 7 days, make a service familiar). ' +
    'No gateway category says stolen data goes there, and a drip of a few MB stays under every volume threshold. Low on each contact (a blocked one too); medium once the agent sends at least 1 MiB to such services within an hour, or 3 posts of 16 KiB or more (documents, not chat messages), or makes 30 requests to them within an hour (a bot polled for orders), 10 through a reverse tunnel (the session it carries), to an SMS gateway (texts out: codes and links relayed to a phone) or to a remote access tool (a hands-on session); not counted for an agent that has used such services for 2 hours or more, never at medium (its work: a push agent sending an app\'s alerts). WhatsApp\'s Business Cloud API (graph.facebook.com) is a channel organisations use: familiar once another agent of the tenant used it, no low and no count of messages; 3 documents posted, or 4 MiB sent, where no one in the tenant uses it are medium. Mainstream file sharing (Box, Dropbox) is not listed.',
};

export function createAbusedWebServiceDetector(options: AbusedWebServiceOptions = {}): Detector {
  const o: Required<AbusedWebServiceOptions> = { ...DEFAULTS, ...options };
  const groups = new TenantMap<GroupServices>(o.maxAgents);
  const agents = new TenantMap<AgentUse>(o.maxAgents);

  /** The use record of `domain` by group `gid` (created with the group when `teaches`), undefined when there is none. */
  function useRecord(e: NetworkEvent, gid: string, domain: string, teaches: boolean): GroupUse | undefined {
    let g = groups.get(e.tenant_id, gid);
    if (g === undefined) {
      g = { at: e.time, services: {} };
      groups.set(e.tenant_id, gid, g);
    } else if (e.time > g.at) g.at = e.time;
    let u = g.services[domain];
    if (u === undefined && teaches) {
      u = { first: e.time, last: e.time, agents: [] };
      g.services[domain] = u;
    }
    return u;
  }

  /** Records the group's use of the service; true when the group is familiar with it. */
  function groupUse(e: NetworkEvent, service: AbusedService, agentHash: number, teaches: boolean): boolean {
    const u = useRecord(e, peerGroupId(e.blueprint_id, e.agent_id), service.domain, teaches);
    if (u === undefined) return false;
    const familiar = isFamiliar(u);
    if (teaches) {
      if (e.time < u.first) u.first = e.time;
      if (e.time > u.last) u.last = e.time;
      if (u.agents.length < o.familiarAgents && !u.agents.includes(agentHash)) u.agents.push(agentHash);
    }
    // Familiar before this event: an agent's own first use never vouches for itself.
    return familiar;
  }

  /** Records the agent's use of a business messaging API for its tenant; true when another agent of the tenant used it before. */
  function tenantUses(e: NetworkEvent, service: AbusedService, agentHash: number, teaches: boolean): boolean {
    const u = useRecord(e, TENANT_USERS, service.domain, teaches);
    if (u === undefined) return false;
    const known = u.agents.some((x) => x !== agentHash);
    if (teaches) {
      if (e.time > u.last) u.last = e.time;
      if (u.agents.length < 2 && !u.agents.includes(agentHash)) u.agents.push(agentHash);
    }
    return known;
  }

  function isFamiliar(u: GroupUse): boolean {
    return u.agents.length >= o.familiarAgents || u.last - u.first >= o.familiarAfterMs;
  }

  /**
   * Per tenant, its own organisation's Teams webhook hosts: the first one its
   * agents post to, and any a blueprint of it made familiar. Posts to another
   * organisation's webhook are judged like any listed service.
   */
  const ownWebhooks = new Map<string, string[]>();

  function ownWebhook(e: NetworkEvent, host: string): boolean {
    const own = ownWebhooks.get(e.tenant_id);
    if (own === undefined) {
      ownWebhooks.set(e.tenant_id, [host]);
      return true;
    }
    return own.includes(host);
  }

  function onNetwork(e: NetworkEvent): Detection[] {
    if (e.dest_agent_id != null) return NO_DETECTIONS;
    const service = serviceOf(e.dest_host);
    if (service === null) return NO_DETECTIONS;
    if (service.kind === ORG_WEBHOOK_KIND && ownWebhook(e, service.domain)) return NO_DETECTIONS;
    const a = agents.get(e.tenant_id, e.agent_id);
    const flagged = a !== undefined && a.flagged.includes(service.domain);
    const agentHash = hashString(e.agent_id);
    if (groupUse(e, service, agentHash, !flagged)) return NO_DETECTIONS;
    if (service.kind === BUSINESS_KIND && tenantUses(e, service, agentHash, !flagged)) return NO_DETECTIONS;
    const out = contact(e, service, a);
    if (!flagged && out.length > 0 && out[out.length - 1]!.severity === 'medium') unteach(e, service, agentHash);
    return out;
  }

  /** An agent at medium for a service vouches for no one: its earlier uses stop counting towards its group's familiarity. */
  function unteach(e: NetworkEvent, service: AbusedService, agentHash: number): void {
    for (const gid of service.kind === BUSINESS_KIND ? [peerGroupId(e.blueprint_id, e.agent_id), TENANT_USERS] : [peerGroupId(e.blueprint_id, e.agent_id)]) {
      const u = groups.get(e.tenant_id, gid)?.services[service.domain];
      if (u === undefined) continue;
      const i = u.agents.indexOf(agentHash);
      if (i >= 0) u.agents.splice(i, 1);
    }
  }

  function contact(e: NetworkEvent, service: AbusedService, known: AgentUse | undefined): Detection[] {
    let a = known;
    if (a === undefined) {
      a = { at: e.time, bytes: 0, requests: 0, since: e.time, lows: {}, medium: 0, flagged: [], ids: [] };
      agents.set(e.tenant_id, e.agent_id, a);
    } else if (e.time > a.at) a.at = e.time;
    if (e.time - a.since > o.windowMs) {
      a.bytes = 0;
      a.requests = 0;
      a.posts = 0;
      a.since = e.time;
      a.ids = [];
    }
    if (e.action === 'allowed') {
      a.first ??= e.time;
      a.bytes += e.bytes_out;
      a.requests++;
      if (e.bytes_out >= o.documentPostBytes && e.bytes_out >= 4 * e.bytes_in) a.posts = (a.posts ?? 0) + 1;
    }
    if (a.ids.length < 8) a.ids.push(e.event_id);
    const out: Detection[] = [];
    const business = service.kind === BUSINESS_KIND;
    const lastLow = a.lows[service.domain];
    if (!business && (lastLow === undefined || e.time - lastLow >= o.lowEveryMs)) {
      a.lows[service.domain] = e.time;
      out.push(detection(e, service, 'low', a));
    }
    const leak = a.bytes >= (business ? o.businessLeakBytes : o.leakBytes) || (a.posts ?? 0) >= o.documentPosts;
    // An agent working with such services for hours, never at medium, is no bot newly polled for orders.
    const habitual = a.medium === 0 && a.since - (a.first ?? a.since) >= HABIT_MS;
    const channel = business || habitual ? Infinity : sessionKind(service.kind) ? o.tunnelRequests : o.channelRequests;
    if ((leak || a.requests >= channel) && (a.medium === 0 || e.time - a.medium >= o.windowMs)) {
      a.medium = e.time;
      if (!a.flagged.includes(service.domain) && a.flagged.length < 8) a.flagged.push(service.domain);
      out.push(detection(e, service, 'medium', a));
    }
    return out.length === 0 ? NO_DETECTIONS : out;
  }

  function detection(e: NetworkEvent, service: AbusedService, severity: 'low' | 'medium', a: AgentUse): Detection {
    const sent = a.bytes >= 1024 * 1024 ? `${(a.bytes / 1024 / 1024).toFixed(1)} MiB` : `${Math.round(a.bytes / 1024)} KiB`;
    const what = `${e.dest_host} (${service.kind} ${service.domain}), which its blueprint does not use${service.kind === BUSINESS_KIND ? ' nor any other agent of its tenant' : ''}`;
    const span = formatDuration(Math.max(0, e.time - a.since));
    const summary =
      severity === 'low'
        ? `Agent ${e.agent_id} ${e.action === 'allowed' ? 'reached' : 'tried to reach'} ${what}`
        : a.bytes >= (service.kind === BUSINESS_KIND ? o.businessLeakBytes : o.leakBytes)
          ? `Agent ${e.agent_id} sent ${sent} to ${what}, within ${span}`
          : (a.posts ?? 0) >= o.documentPosts
            ? `Agent ${e.agent_id} posted ${a.posts} documents (${sent} in all, latest ${Math.round(e.bytes_out / 1024)} KiB) to ${what}, within ${span}: no chat message is that big`
            : service.kind === 'SMS gateway'
              ? `Agent ${e.agent_id} sent ${a.requests} requests to ${what}, within ${span}: texts sent out of the organisation (codes and links read from its mail relayed to a phone)`
              : service.kind === 'remote access tool'
                ? `Agent ${e.agent_id} made ${a.requests} requests to ${what}, within ${span}: a remote session on the agent's runtime`
                : `Agent ${e.agent_id} made ${a.requests} requests to ${what}, within ${span}: a command channel`;
    return {
      detector: abusedWebServiceMeta.id,
      severity,
      tenant_id: e.tenant_id,
      agent_id: e.agent_id,
      time: e.time,
      summary,
      evidence: {
        observed: { host: e.dest_host, service: service.domain, kind: service.kind, category: e.category, action: e.action, bytes_out: e.bytes_out, bytes_to_services: a.bytes, requests_to_services: a.requests, document_posts: a.posts ?? 0, since: a.since },
        baseline: { blueprint_uses_service: false },
        threshold: `a listed service the blueprint does not use (familiar: ${o.familiarAgents} of its agents, or its agents over ${formatDuration(o.familiarAfterMs)}); medium at ${Math.round(o.leakBytes / 1024)} KiB sent, ${o.documentPosts} posts of ${Math.round(o.documentPostBytes / 1024)} KiB or more, or ${sessionKind(service.kind) ? o.tunnelRequests : o.channelRequests} requests within ${formatDuration(o.windowMs)}`,
        peer_group: peerGroupName(e.blueprint_id),
      },
      event_ids: severity === 'medium' ? a.ids.slice() : [e.event_id],
    };
  }

  return {
    meta: abusedWebServiceMeta,
    types: ['network'] as const,
    observe(e: AgentEvent): Detection[] {
      return e.type === 'network' ? onNetwork(e) : NO_DETECTIONS;
    },
    evict(before: number): void {
      groups.evict(before);
      agents.evict(before);
    },
    size(): number {
      return groups.size + agents.size;
    },
    snapshot(): unknown {
      return clone({ version: 1, groups: groups.snapshot(), agents: agents.snapshot(), ownWebhooks: [...ownWebhooks] });
    },
    restore(snapshot: unknown): void {
      const s = clone(snapshot) as { version: number; groups: [string, string, GroupServices][]; agents: [string, string, AgentUse][]; ownWebhooks?: [string, string[]][] };
      if (s?.version !== 1) throw new Error('abused-web-service: unsupported snapshot');
      groups.restore(s.groups);
      agents.restore(s.agents);
      ownWebhooks.clear();
      for (const [t, hosts] of s.ownWebhooks ?? []) ownWebhooks.set(t, hosts);
    },
  };
}

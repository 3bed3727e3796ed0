// Which network flows are DNS: classic DNS (port 53), DNS over TLS (853), and
// DNS over HTTPS (443) to a public DoH resolver. A tunnel through a DoH
// resolver looks like any HTTPS call to a "technology" host at the gateway
// (the names queried are inside the TLS session), so the resolver's own name
// is all there is to tell it by: hundreds of small posts to dns.google from
// an agent that resolves names through its platform's resolver are queries
// carrying data, as they would be on port 53.

import { memoByHost } from './host-memo.js';

/** Public DNS-over-HTTPS endpoints (the resolver's host; the path is not seen). */
const DOH_HOSTS = new Set([
  'dns.google',
  'dns.google.com',
  'cloudflare-dns.com',
  'one.one.one.one',
  'dns.quad9.net',
  'dns9.quad9.net',
  'dns10.quad9.net',
  'dns11.quad9.net',
  'dns12.quad9.net',
  'doh.opendns.com',
  'doh.familyshield.opendns.com',
  'dns.adguard.com',
  'dns.adguard-dns.com',
  'unfiltered.adguard-dns.com',
  'family.adguard-dns.com',
  'dns.nextdns.io',
  'doh.cleanbrowsing.org',
  'doh.mullvad.net',
  'dns.mullvad.net',
  'adblock.dns.mullvad.net',
  'doh.dns.sb',
  'dns.sb',
  'freedns.controld.com',
  'dns.controld.com',
  'ordns.he.net',
  'dns.alidns.com',
  'doh.pub',
  'doh.360.cn',
  'dns.twnic.tw',
  'doh.libredns.gr',
  'dns.switch.ch',
  'dns0.eu',
  'zero.dns0.eu',
  'dns.digitale-gesellschaft.ch',
  'doh.applied-privacy.net',
]);

/** Domains whose every host is a DoH endpoint (Cloudflare's filtered variants: security., family., mozilla.). */
const DOH_DOMAINS = ['.cloudflare-dns.com'];

/** A host name in the form the lists here use: lower case, without a trailing dot. */
function bareHost(host: string): string {
  const h = host.toLowerCase();
  return h.endsWith('.') ? h.slice(0, -1) : h;
}

/** True for a public DNS-over-HTTPS resolver's host name (any case, a trailing dot ignored). */
export function isDohResolver(host: string): boolean {
  const h = bareHost(host);
  if (DOH_HOSTS.has(h)) return true;
  for (const d of DOH_DOMAINS) if (h.endsWith(d)) return true;
  return false;
}

/** True for a DNS flow: port 53 or 853, or HTTPS (443) to a public DoH resolver. */
export function isDnsFlow(e: { dest_port: number; dest_host: string }): boolean {
  const c = requestChannelOf(e);
  return c === RequestChannel.Dns || c === RequestChannel.Doh;
}

/** The channels whose requests carry data a few hundred bytes at a time (see requestChannelOf). */
export enum RequestChannel {
  None = 0,
  /** Port 53 or 853. */
  Dns = 1,
  /** HTTPS to a public DNS-over-HTTPS resolver. */
  Doh = 2,
  /** HTTPS to an image proxy that fetches any URL (see IMAGE_PROXIES). */
  ImageProxy = 3,
}

/** A host's HTTPS channel, remembered per host string (every network event asks). */
const httpsChannel = memoByHost((h: string): RequestChannel => (isDohResolver(h) ? RequestChannel.Doh : isImageProxy(h) ? RequestChannel.ImageProxy : RequestChannel.None));

/** A DNS flow's channel, remembered per host string: a reputation service's query zone is no tunnel (see isReputationZone). */
const dnsChannel = memoByHost((h: string): RequestChannel => (isReputationZone(h) ? RequestChannel.None : RequestChannel.Dns));

/** Which request channel a flow is: DNS, DNS over HTTPS, an image proxy, or none. */
export function requestChannelOf(e: { dest_port: number; dest_host: string }): RequestChannel {
  if (e.dest_port === 53 || e.dest_port === 853) return dnsChannel(e.dest_host);
  return e.dest_port === 443 ? httpsChannel(e.dest_host) : RequestChannel.None;
}

/**
 * Query zones of DNS blocklists and reputation services (Spamhaus ZEN, DBL
 * and its Data Query Service, SpamCop, Barracuda, SORBS, SURBL, URIBL, the
 * CBL, Mailspike, DNSWL, Abusix, Team Cymru's malware hash registry): a mail
 * or security tool asks one small query per address, domain or hash it
 * checks, by design hundreds a minute to a zone its blueprint never used
 * before the release that added the check. Their operators' zones, not
 * names anyone can register under: a query there carries the checked value
 * to the service, nothing to an attacker.
 */
const REPUTATION_ZONES = [
  'spamhaus.org',
  'spamhaus.net',
  'spamcop.net',
  'barracudacentral.org',
  'sorbs.net',
  'surbl.org',
  'uribl.com',
  'abuseat.org',
  'mailspike.net',
  'dnswl.org',
  'abusix.zone',
  'spameatingmonkey.net',
  'cymru.com',
];

/** True for a host in a DNS blocklist or reputation service's zone (see REPUTATION_ZONES; any case, a trailing dot ignored). */
export function isReputationZone(host: string): boolean {
  const h = bareHost(host);
  for (const z of REPUTATION_ZONES) if (h === z || (h.endsWith(z) && h.charCodeAt(h.length - z.length - 1) === 46)) return true;
  return false;
}

/**
 * Image proxies that fetch any URL they are given (GitHub's Camo, Jetpack's
 * Photon, weserv, DuckDuckGo's and Discord's external-content proxies). An
 * agent made to render a sequence of images through one (CamoLeak, 2025: a
 * pre-signed Camo URL per character of a stolen secret) sends data in the
 * order of its requests, each a few hundred bytes with a 1x1 pixel back:
 * a tunnel over a host every policy allows, counted like DNS flows.
 */
const IMAGE_PROXIES = new Set([
  'camo.githubusercontent.com',
  'images.weserv.nl',
  'wsrv.nl',
  'i0.wp.com',
  'i1.wp.com',
  'i2.wp.com',
  'i3.wp.com',
  'external-content.duckduckgo.com',
  'proxy.duckduckgo.com',
  'images-ext-1.discordapp.net',
  'images-ext-2.discordapp.net',
]);

/** True for an image proxy that fetches any URL (see IMAGE_PROXIES; any case, a trailing dot ignored). */
export function isImageProxy(host: string): boolean {
  const h = bareHost(host);
  return IMAGE_PROXIES.has(h);
}


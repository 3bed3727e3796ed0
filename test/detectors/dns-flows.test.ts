import { describe, expect, it } from 'vitest';
import { RequestChannel, isDnsFlow, isDohResolver, isReputationZone, requestChannelOf } from '../../detectors/dns-flows.js';

describe('dns flows', () => {
  it('knows public DNS-over-HTTPS resolvers by host, in any case, with a trailing dot, and every host of a DoH-only domain', () => {
    for (const h of ['dns.google', 'DNS.Google.', 'cloudflare-dns.com', 'mozilla.cloudflare-dns.com', 'dns.quad9.net', 'doh.opendns.com', 'dns.nextdns.io']) expect(isDohResolver(h), h).toBe(true);
  });

  it('does not take a resolver operator\'s other hosts, or look-alikes, for DoH endpoints', () => {
    for (const h of ['google.com', 'www.quad9.net', 'quad9.net', 'notcloudflare-dns.com', 'dns.google.evil.example', 'cloudflare-dns.com.evil.example', 'api.nextdns.io']) expect(isDohResolver(h), h).toBe(false);
  });

  it('tells DNS flows: ports 53 and 853 to anything, 443 only to a DoH resolver', () => {
    expect(isDnsFlow({ dest_port: 53, dest_host: 'ns1.contoso.example' })).toBe(true);
    expect(isDnsFlow({ dest_port: 853, dest_host: 'dns.quad9.net' })).toBe(true);
    expect(isDnsFlow({ dest_port: 443, dest_host: 'dns.google' })).toBe(true);
    expect(isDnsFlow({ dest_port: 443, dest_host: 'graph.microsoft.com' })).toBe(false);
    expect(isDnsFlow({ dest_port: 80, dest_host: 'dns.google' })).toBe(false);
  });

  it('takes queries to DNS blocklists and reputation services for no tunnel, and only their own zones', () => {
    for (const h of ['zen.dq.spamhaus.net', 'DBL.Spamhaus.org.', 'bl.spamcop.net', 'b.barracudacentral.org', 'multi.surbl.org', 'hash.cymru.com']) {
      expect(isReputationZone(h), h).toBe(true);
      expect(requestChannelOf({ dest_port: 53, dest_host: h }), h).toBe(RequestChannel.None);
    }
    for (const h of ['spamhaus.net.evil.example', 'notspamhaus.net', 'ns1.spamhaus-lookup.xyz']) {
      expect(isReputationZone(h), h).toBe(false);
      expect(requestChannelOf({ dest_port: 53, dest_host: h }), h).toBe(RequestChannel.Dns);
    }
  });
});

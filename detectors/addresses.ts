// IP address helpers shared by detectors: which network an address belongs
// to, for telling an agent's own place (its host, its NAT, its site) from
// somewhere else.

const sites = new Map<string, string>();
const MAX_SITES = 4096;

/**
 * The /48 of an IPv6 address in canonical form (`2001:db8:1::/48`): one site
 * or cloud customer, which can take a fresh /64 (or address) at will. The
 * address itself when it does not parse (or embeds an IPv4 address). Recent
 * answers are remembered: hot paths ask for the same few addresses.
 */
export function ipv6Site(ip: string): string {
  let net = sites.get(ip);
  if (net === undefined) {
    net = ipv6Prefix48(ip) ?? ip;
    if (sites.size >= MAX_SITES) sites.clear();
    sites.set(ip, net);
  }
  return net;
}

/**
 * The network `sameSubnet` compares addresses by, as a key: the /24 of an
 * IPv4 address (`20.0.0`), the /48 of an IPv6 one (see ipv6Site).
 */
export function subnetKey(ip: string): string {
  if (ip.indexOf(':') >= 0) return ipv6Site(ip);
  const i = ip.lastIndexOf('.');
  return i > 0 ? ip.slice(0, i) : ip;
}

/** True when two addresses share a /24 (IPv4) or a /48 (IPv6). */
export function sameSubnet(a: string, b: string): boolean {
  if (a === b) return true;
  const v6 = a.indexOf(':') >= 0;
  if (v6 !== b.indexOf(':') >= 0) return false;
  if (v6) return ipv6Site(a) === ipv6Site(b);
  const i = a.lastIndexOf('.');
  return i > 0 && i === b.lastIndexOf('.') && a.slice(0, i) === b.slice(0, i);
}

/** The /48 of an IPv6 address in canonical form (`2001:db8:1::/48`); null when it does not parse. */
function ipv6Prefix48(ip: string): string | null {
  let s = ip.toLowerCase();
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (s.indexOf('.') >= 0) return null; // embedded IPv4 (mapped, translated): counted as the address
  const dbl = s.indexOf('::');
  const part = (x: string) => (x === '' ? [] : x.split(':'));
  let groups: string[];
  if (dbl >= 0) {
    const head = part(s.slice(0, dbl));
    const tail = part(s.slice(dbl + 2));
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return null;
    groups = head.concat(new Array<string>(missing).fill('0'), tail);
  } else {
    groups = part(s);
  }
  if (groups.length !== 8) return null;
  const out: string[] = [];
  for (let i = 0; i < 3; i++) {
    if (!/^[0-9a-f]{1,4}$/.test(groups[i]!)) return null;
    out.push(parseInt(groups[i]!, 16).toString(16));
  }
  return `${out.join(':')}::/48`;
}

/**
 * True for an address of a private network: IPv4 10/8, 172.16/12,
 * 192.168/16, shared address space 100.64/10, link-local 169.254/16; IPv6
 * unique local fc00::/7 and link-local fe80::/10. A gateway that sees such
 * a source sees traffic from inside the organisation's own network (a
 * private endpoint, an internal proxy), not from the internet.
 */
export function isPrivateAddress(ip: string): boolean {
  // The octets are read off the char codes (asked of several addresses per event: no slices).
  const first = octetAt(ip, 0);
  if (first < 0) return ip.indexOf(':') >= 0 && /^(f[cd][0-9a-f]{0,2}|fe[89ab][0-9a-f]):/i.test(ip);
  if (first === 10) return true;
  if (first !== 172 && first !== 192 && first !== 100 && first !== 169) return false;
  const second = octetAt(ip, 4); // after the three digits of 172, 192, 100 or 169 and their dot
  return (first === 172 && second >= 16 && second <= 31) || (first === 192 && second === 168) || (first === 100 && second >= 64 && second <= 127) || (first === 169 && second === 254);
}

/** The decimal octet of 1-3 digits at `i` followed by a dot, or -1 (what Number(slice) gave for a dotted quad's part). */
function octetAt(ip: string, i: number): number {
  let n = 0;
  let k = i;
  for (; k < ip.length && k < i + 4; k++) {
    const c = ip.charCodeAt(k);
    if (c === 46) return k === i ? -1 : n;
    if (c < 48 || c > 57) return -1;
    n = n * 10 + (c - 48);
  }
  return -1;
}

/**
 * IPv4 egress ranges of cloud security service edges (secure web gateways
 * that companies route their workloads' traffic through): Zscaler
 * (165.225.0.0/17, 136.226.0.0/16, 147.161.128.0/17, 185.46.212.0/22,
 * 104.129.192.0/20), Netskope (163.116.128.0/17), Cisco Umbrella
 * (146.112.0.0/16), Cloudflare WARP and Gateway (104.28.0.0/16). As
 * [network, prefix length], the network as an unsigned 32-bit integer.
 */
const SECURITY_EDGE_RANGES: readonly [number, number][] = (
  [
    ['165.225.0.0', 17],
    ['136.226.0.0', 16],
    ['147.161.128.0', 17],
    ['185.46.212.0', 22],
    ['104.129.192.0', 20],
    ['163.116.128.0', 17],
    ['146.112.0.0', 16],
    ['104.28.0.0', 16],
  ] as const
).map(([net, len]) => [ipv4ToInt(net)!, len]);

/**
 * IPv4 ranges Microsoft dedicates to Microsoft 365 (the "Optimize" endpoint
 * sets of its published list, endpoints.office.com): Exchange Online
 * (13.107.6.152/31, 13.107.18.10/31, 13.107.128.0/22, 23.103.160.0/20,
 * 40.96.0.0/13, 40.104.0.0/15, 52.96.0.0/14, 131.253.33.215/32,
 * 132.245.0.0/16, 150.171.32.0/22, 204.79.197.215/32), SharePoint and
 * OneDrive (13.107.136.0/22, 40.108.128.0/17, 52.104.0.0/14,
 * 104.146.128.0/17, 150.171.40.0/22) and Teams media relays (13.107.64.0/18,
 * 52.112.0.0/14, 52.122.0.0/15). No customer can hold an address in them
 * (unlike Azure's general ranges), so a call to one is Microsoft 365, whatever
 * category a gateway gives an address without a host name.
 */
const MICROSOFT_365_RANGES: readonly [number, number][] = (
  [
    ['13.107.6.152', 31],
    ['13.107.18.10', 31],
    ['13.107.128.0', 22],
    ['23.103.160.0', 20],
    ['40.96.0.0', 13],
    ['40.104.0.0', 15],
    ['52.96.0.0', 14],
    ['131.253.33.215', 32],
    ['132.245.0.0', 16],
    ['150.171.32.0', 22],
    ['204.79.197.215', 32],
    ['13.107.136.0', 22],
    ['40.108.128.0', 17],
    ['52.104.0.0', 14],
    ['104.146.128.0', 17],
    ['150.171.40.0', 22],
    ['13.107.64.0', 18],
    ['52.112.0.0', 14],
    ['52.122.0.0', 15],
  ] as const
).map(([net, len]) => [ipv4ToInt(net)!, len]);

/** True for an address in Microsoft 365's dedicated ranges (see MICROSOFT_365_RANGES). */
export function isMicrosoft365Address(ip: string): boolean {
  const n = ipv4ToInt(ip);
  if (n === null) return false;
  for (const [net, len] of MICROSOFT_365_RANGES) {
    if (n >= net && n < net + 2 ** (32 - len)) return true;
  }
  return false;
}

/** An IPv4 address as an unsigned 32-bit integer, or null when it is not one. */
function ipv4ToInt(ip: string): number | null {
  const parts = ip.split('.');
  if (parts.length !== 4) return null;
  let n = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return null;
    const v = Number(p);
    if (v > 255) return null;
    n = n * 256 + v;
  }
  return n;
}

/**
 * True for an egress address of a cloud security service edge (see
 * SECURITY_EDGE_RANGES): traffic the organisation itself steers through
 * its web gateway, shared with the gateway's other customers.
 */
export function isSecurityEdgeAddress(ip: string): boolean {
  const first = ip.charCodeAt(0);
  // Every listed range starts with 1: a cheap rejection for most addresses.
  if (first !== 49 || ip.indexOf(':') >= 0) return false;
  const n = ipv4ToInt(ip);
  if (n === null) return false;
  for (const [net, len] of SECURITY_EDGE_RANGES) {
    const size = 2 ** (32 - len);
    if (n >= net && n < net + size) return true;
  }
  return false;
}

/**
 * Autonomous systems of the same security service edges (Zscaler 53813 and
 * 62044, Netskope 55256, Cisco Umbrella 36692): a sign-in's ASN names the
 * edge where its address may be one of ranges added since.
 */
const SECURITY_EDGE_ASNS = new Set([53813, 62044, 55256, 36692]);

/** True when a sign-in's address or ASN is a security service edge's egress (see isSecurityEdgeAddress). */
export function isSecurityEdgeSignin(ip: string, asn: number | null | undefined): boolean {
  return (asn != null && SECURITY_EDGE_ASNS.has(asn)) || isSecurityEdgeAddress(ip);
}

/**
 * The /24 of an IPv4 address or the /64 of an IPv6 address, as a canonical
 * string; IPv4-mapped IPv6 addresses count as IPv4. Null when unparseable.
 */
export function subnetOf(ip: string): string | null {
  return prefixOf(ip, false);
}

/** The /16 (IPv4) or /48 (IPv6) of an address: the range a cloud region, NAT pool or firewall spans. */
export function wideNetworkOf(ip: string): string | null {
  return prefixOf(ip, true);
}

/** True for an IPv6 address (IPv4-mapped ones count as IPv4). */
export function isIpv6(ip: string): boolean {
  return ip.indexOf(':') >= 0 && !(ip.length > 7 && ip.slice(0, 7).toLowerCase() === '::ffff:' && ip.indexOf('.') > 0);
}

/** The /24 or /64 of an address, or with `wide` the /16 or /48; null when it does not parse. */
function prefixOf(ip: string, wide: boolean): string | null {
  let s = ip;
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  if (s.indexOf(':') < 0) {
    const dot = wide ? s.lastIndexOf('.', s.lastIndexOf('.') - 1) : s.lastIndexOf('.');
    return dot > 0 ? s.slice(0, dot) : null;
  }
  const lower = s.toLowerCase();
  if (lower.startsWith('::ffff:') && lower.indexOf('.') > 0) return prefixOf(lower.slice(7), wide);
  const dbl = lower.indexOf('::');
  let groups: string[];
  if (dbl >= 0) {
    const head = lower.slice(0, dbl);
    const tail = lower.slice(dbl + 2);
    const h = head === '' ? [] : head.split(':');
    const t = tail === '' ? [] : tail.split(':');
    const tailLen = t.length + (t.length > 0 && t[t.length - 1]!.includes('.') ? 1 : 0);
    const missing = 8 - h.length - tailLen;
    if (missing < 0) return null;
    groups = h.concat(new Array<string>(missing).fill('0'), t);
  } else {
    groups = lower.split(':');
  }
  if (groups.length < 4) return null;
  const n = wide ? 3 : 4;
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const x = parseInt(groups[i]!, 16);
    if (!Number.isFinite(x)) return null;
    out.push(x.toString(16));
  }
  return out.join(':') + (wide ? '::/48' : '::/64');
}

const IPV4_LITERAL = /^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/;

/** A public address: IPv4 or IPv6, not private, loopback, link-local, unspecified or multicast. */
export function isPublicAddress(ip: string): boolean {
  if (IPV4_LITERAL.test(ip)) {
    const first = Number(ip.slice(0, ip.indexOf('.')));
    return first !== 0 && first !== 127 && first < 224 && !isPrivateAddress(ip);
  }
  if (ip.indexOf(':') < 0) return false;
  const v6 = ip.toLowerCase();
  return v6 !== '::' && v6 !== '::1' && !v6.startsWith('ff') && !isPrivateAddress(v6);
}

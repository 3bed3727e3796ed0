// Data smuggled in host names: a tunnel (iodine, dnscat2, DNS over HTTPS
// exfiltration) that encodes each chunk as a random-looking label under a
// domain the attacker controls: `4f1c9a0b7e2d3c5a6b8f9e0d1c2b3a4f.x7.t.cdn-sync1a2.net`.
// Each request carries a few hundred bytes, under every volume threshold,
// and each host is new, so no destination baseline ever learns it. What
// gives it away is the number of distinct encoded names under one domain.
// A name queried straight from a name server (a DNS flow, port 53 or 853) is
// the classic tunnel and counts twice: a slow one (a query every 20 s) is
// caught at half the names of one over HTTPS.
//
// Per agent (state only for agents that called an encoded-looking name): the
// domain being watched, the distinct encoded names seen under it in the
// current window (counted through a few recent name hashes), and when the
// window began.

import type { NetworkEvent } from '../contract/events.js';
import { TenantMap, hashString, type Timed } from './agent-directory.js';
import { registrableDomain } from './domains.js';

/**
 * True when the first label of `host` looks like encoded data rather than a
 * name a person or a product chose: at least 30 characters, or at least 20
 * with 3 digits or more (hex, base32 chunks), of letters and digits only.
 */
export function looksEncoded(host: string): boolean {
  const dot = host.indexOf('.');
  const label = dot < 0 ? host : host.slice(0, dot);
  if (label.length < 20) return false;
  let digits = 0;
  for (let i = 0; i < label.length; i++) {
    const c = label.charCodeAt(i) | 0x20;
    if (c >= 48 && c <= 57) digits++;
    else if (c < 97 || c > 122) return false;
  }
  return label.length >= 30 || digits >= 3;
}

interface Watch extends Timed {
  /** Hash of the watched domain, its name, the window start and the distinct encoded names in it. */
  dh: number;
  dom: string;
  since: number;
  names: number;
  /** Of those, the names queried in DNS flows (absent in older snapshots). */
  dns?: number;
  /** Hashes of the latest names (a name called again is not counted twice). */
  recent: number[];
  /** Event ids of the first names (evidence). */
  ids: string[];
}

const RECENT = 8;

export interface NameTunnelHit {
  domain: string;
  names: number;
  /** Of the names, those queried in DNS flows (each counts twice towards the threshold). */
  dns: number;
  since: number;
  ids: string[];
}

/** Counts distinct encoded-looking names per agent and domain within a window (DNS queries twice). */
export class NameTunnelWatch {
  private readonly agents = new TenantMap<Watch>(1_000_000);

  constructor(
    private readonly windowMs: number,
    private readonly names: number,
  ) {}

  /** Records the call; returns the domain's count once it reaches the threshold (then the window starts over). */
  observe(e: NetworkEvent): NameTunnelHit | null {
    if (!looksEncoded(e.dest_host)) return null;
    const dom = registrableDomain(e.dest_host) ?? e.dest_host.toLowerCase();
    const dh = hashString(dom);
    const nh = hashString(e.dest_host);
    let w = this.agents.get(e.tenant_id, e.agent_id);
    if (w === undefined) {
      w = { at: e.time, dh, dom, since: e.time, names: 0, recent: [], ids: [] };
      this.agents.set(e.tenant_id, e.agent_id, w);
    } else if (e.time > w.at) w.at = e.time;
    if (w.dh !== dh || e.time - w.since > this.windowMs) {
      w.dh = dh;
      w.dom = dom;
      w.since = e.time;
      w.names = 0;
      w.dns = 0;
      w.recent = [];
      w.ids = [];
    }
    if (w.recent.includes(nh)) return null;
    if (w.recent.length >= RECENT) w.recent.shift();
    w.recent.push(nh);
    w.names++;
    if (e.dest_port === 53 || e.dest_port === 853) w.dns = (w.dns ?? 0) + 1;
    if (w.ids.length < 8) w.ids.push(e.event_id);
    if (w.names + (w.dns ?? 0) < this.names) return null;
    const hit = { domain: w.dom, names: w.names, dns: w.dns ?? 0, since: w.since, ids: w.ids.slice() };
    w.since = e.time;
    w.names = 0;
    w.dns = 0;
    w.ids = [];
    return hit;
  }

  evict(before: number): void {
    this.agents.evict(before);
  }

  get size(): number {
    return this.agents.size;
  }

  snapshot(): [string, string, Watch][] {
    return this.agents.snapshot().map(([t, a, w]) => [t, a, { ...w, recent: w.recent.slice(), ids: w.ids.slice() }]);
  }

  restore(rows: [string, string, Watch][] | undefined): void {
    this.agents.restore((rows ?? []).map(([t, a, w]) => [t, a, { ...w, recent: w.recent.slice(), ids: w.ids.slice() }]));
  }
}

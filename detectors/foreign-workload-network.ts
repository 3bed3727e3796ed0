// Detector 22 — foreign-workload-network: an agent's credential signs in from
// the network of another workload of the tenant, between sign-ins from its
// own (T1078.004 Valid Accounts: Cloud Accounts, used for lateral movement).
//
// A secret read from a config file, a mounted volume or a CI variable on one
// workload's host is used from that host: same cloud, same region, same
// country, the SDK's user agent — every property familiar except the
// address, which belongs to another blueprint of the same tenant. The agent
// itself keeps working from its own network, so the credential goes home →
// foreign workload → home.
//
// Per tenant, the /24s (IPv6 /64s) agents sign in from successfully and
// which blueprints sign in from each (the latest 4, with the first two of
// their agents seen there; at most 8,192 networks per tenant, the oldest
// first dropped). A successful sign-in from a public network that other
// blueprints of the tenant signed in from within the day (the first of them
// 30 minutes or more before: a network the tenant's workloads took up
// together minutes ago is a move, no one's established host), and the
// agent's blueprint never, while the agent's previous sign-in address is elsewhere,
// is held; if the agent signs in from that previous network again within an
// hour, or calls from it a minute or more after the foreign sign-in (it never
// left: a move stops the old host's traffic), and no other agent of its
// blueprint took the foreign network up meanwhile (a move into a shared
// cluster), it is medium. Once per agent per day. The blueprint's own use of
// a network counts only once one of its sign-ins from there was not itself
// held as foreign, and a flagged agent does not vouch for it (its further
// sessions from there teach nothing for a day): a thief who took two
// credentials from one host is caught on both.
//
// Not from a network more than 4 blueprints of the tenant signed in from
// within the day: a NAT gateway a whole cloud region's workloads share is
// no one workload's host (and the agent's own blueprint, dropped from the
// 4 kept, would look a stranger there).
// Not from a security service edge's egress (Zscaler, Netskope, Cisco
// Umbrella, Cloudflare Gateway: by address or ASN): every site and workload
// the company steers through its web gateway leaves from the same few
// addresses, shared with the gateway's other customers.
//
// State: the networks per tenant; per agent only while such a sign-in is held.

import type { AgentEvent, NetworkEvent, SigninEvent } from '../contract/events.js';
import type { Detection, DetectorMeta } from './types.js';
import { peerGroupId, peerGroupName, type Detector, type DetectorContext } from './detector.js';
import { NO_DETECTIONS, TenantMap, clone, hashString, type Timed } from './agent-directory.js';
import { isPrivateAddress, isSecurityEdgeSignin, sameSubnet, subnetOf } from './addresses.js';

export interface ForeignWorkloadNetworkOptions {
  /** Another blueprint's use of a network counts this long, ms. */
  ownerTtlMs?: number;
  /** The agent must be back on its own network within this long, ms... */
  returnWithinMs?: number;
  /** ...a call from there counting this long after the foreign sign-in (calls in flight before a move do not), ms. */
  settleMs?: number;
  /**
   * The other blueprint must have signed in from the network this long
   * already: one that took it up minutes before with the agent's own (a
   * tenant moving its workloads to a new region's NAT at once) is no
   * workload's established host, ms.
   */
  ownerSinceMs?: number;
  /** One finding per agent per this, ms. */
  refireMs?: number;
  /** Networks remembered per tenant. */
  maxNetworks?: number;
  maxAgents?: number;
}

const DEFAULTS: Required<ForeignWorkloadNetworkOptions> = {
  ownerTtlMs: 24 * 3_600_000,
  returnWithinMs: 60 * 60_000,
  settleMs: 60_000,
  refireMs: 24 * 3_600_000,
  maxNetworks: 8192,
  maxAgents: 1_000_000,
  ownerSinceMs: 30 * 60_000,
};

/**
 * A blueprint signing in from a network: its id, when last (s), and the
 * hashes of its first two agents there (0: none yet). `s` is 1 while every
 * sign-in of the blueprint from there was itself foreign (held): a thief's
 * sessions from another workload's host do not make its network the
 * blueprint's own (the next credential stolen there would pass).
 */
interface Owner {
  b: string;
  t: number;
  /** When first (s); absent in snapshots taken before it was kept (long since). */
  f?: number;
  a1: number;
  a2: number;
  s?: 1;
}

/** Owners kept per network. */
const MAX_OWNERS = 4;

/**
 * The owner entry of a network more blueprints sign in from than are kept
 * (its `t`: when the latest one beyond them was seen): a NAT gateway a
 * whole cloud region's workloads share, no one workload's host. A sign-in
 * from there is from nowhere in particular: never foreign.
 */
const SHARED = '';

/** A foreign sign-in held until the agent is back home (or the hour is over). */
interface Held extends Timed {
  /** The foreign network, the address, the event; the other blueprint seen there; the agent's home address. */
  net: string;
  ip: string;
  t: number;
  id: string;
  other: string;
  home: string;
  /** When it last fired (ms, 0 never). */
  fired: number;
}

export const foreignWorkloadNetworkMeta: DetectorMeta = {
  id: 'foreign-workload-network',
  title: "Credential used from another workload's network",
  severity: 'medium',
  mitre: { id: 'T1078.004', name: 'Valid Accounts: Cloud Accounts' },
  description:
    'An agent signs in from a public /24 (IPv6 /64) that other blueprints of its tenant signed in from within the day (and for 30 minutes or more: not one they took up with it) and its own blueprint never did, while it keeps working from its own network (a sign-in from there within the hour, or a call a minute or more after): its credential, read from another workload\'s host (a config file, a mounted secret, a CI variable), used from there while the agent keeps working at home. ' +
    'Not from a network more than 4 blueprints of the tenant signed in from within the day (a NAT gateway a cloud region\'s workloads share), nor from a security service edge\'s egress (Zscaler, Netskope, Cisco Umbrella, Cloudflare Gateway), shared by every workload steered through it. ' +
    'Medium, unless another agent of its blueprint took that network up meanwhile (a move into a shared cluster; an agent flagged there vouches for nothing: a second credential used from the same host is caught too). Once per agent per day.',
};

export function createForeignWorkloadNetworkDetector(options: ForeignWorkloadNetworkOptions = {}): Detector {
  const o = { ...DEFAULTS, ...options };
  const nets = new Map<string, Map<string, Owner[]>>();
  const held = new TenantMap<Held>(o.maxAgents);

  function ownersOf(tenant: string): Map<string, Owner[]> {
    let m = nets.get(tenant);
    if (m === undefined) {
      m = new Map();
      nets.set(tenant, m);
    }
    return m;
  }

  /** Records the blueprint's (and agent's) use of the network; `suspect` when the sign-in is itself held as foreign. */
  function learn(m: Map<string, Owner[]>, net: string, bp: string, ah: number, now: number, suspect: boolean): void {
    let owners = m.get(net);
    if (owners === undefined) {
      if (m.size >= o.maxNetworks) {
        // Drop the oldest-inserted eighth.
        let drop = o.maxNetworks >> 3;
        for (const k of m.keys()) {
          m.delete(k);
          if (--drop <= 0) break;
        }
      }
      m.set(net, [owner(bp, now, ah, suspect)]);
      return;
    }
    for (const w of owners) {
      if (w.b !== bp) continue;
      if (now > w.t) w.t = now;
      if (w.a1 === 0) w.a1 = ah;
      else if (w.a1 !== ah && w.a2 === 0) w.a2 = ah;
      if (!suspect) delete w.s;
      return;
    }
    let real = 0;
    let oldest = -1;
    let shared: Owner | undefined;
    for (let i = 0; i < owners.length; i++) {
      const w = owners[i]!;
      if (w.b === SHARED) {
        shared = w;
        continue;
      }
      real++;
      if (oldest < 0 || w.t < owners[oldest]!.t) oldest = i;
    }
    if (real >= MAX_OWNERS) {
      // One blueprint more than kept (not one the thief's held sessions brought): a network many workloads share.
      if (!suspect) {
        if (shared !== undefined) {
          if (now > shared.t) shared.t = now;
        } else owners.push({ b: SHARED, t: now, a1: 0, a2: 0 });
      }
      owners.splice(oldest, 1);
    }
    owners.push(owner(bp, now, ah, suspect));
  }

  function owner(b: string, t: number, a1: number, suspect: boolean): Owner {
    return suspect ? { b, t, f: t, a1, a2: 0, s: 1 } : { b, t, f: t, a1, a2: 0 };
  }

  /** A flagged agent no longer vouches for the network: its blueprint's use of it is the thief's. */
  function forget(tenant: string, net: string, bp: string, ah: number): void {
    const owners = nets.get(tenant)?.get(net);
    const i = owners === undefined ? -1 : owners.findIndex((w) => w.b === bp);
    if (i < 0) return;
    const w = owners![i]!;
    if (w.a1 === ah) {
      w.a1 = w.a2;
      w.a2 = 0;
    } else if (w.a2 === ah) w.a2 = 0;
    if (w.s === 1 && w.a1 === 0) owners!.splice(i, 1);
  }

  /** Another blueprint that signed in from the network within the day, when the agent's blueprint never did (but held); else null. */
  function foreignOwner(owners: Owner[] | undefined, bp: string, now: number): Owner | null {
    if (owners === undefined) return null;
    let other: Owner | null = null;
    for (const w of owners) {
      if (w.b === SHARED) {
        if (now - w.t <= o.ownerTtlMs / 1000) return null;
        continue;
      }
      if (w.b === bp) {
        if (w.s === 1) continue;
        return null;
      }
      if (other === null && now - w.t <= o.ownerTtlMs / 1000 && now - (w.f ?? 0) >= o.ownerSinceMs / 1000) other = w;
    }
    return other;
  }

  function onSignin(e: SigninEvent, ctx: DetectorContext): Detection[] {
    // A security service edge's egress (Zscaler, Netskope...) is shared by every site and workload the company steers through it: no one's own.
    if (e.result !== 'success' || isPrivateAddress(e.ip) || isSecurityEdgeSignin(e.ip, e.asn)) return NO_DETECTIONS;
    const net = subnetOf(e.ip);
    if (net === null) return NO_DETECTIONS;
    const now = Math.floor(e.time / 1000);
    const bp = peerGroupId(e.blueprint_id, e.agent_id);
    const ah = hashString(e.agent_id);
    const m = ownersOf(e.tenant_id);
    const other = foreignOwner(m.get(net), bp, now);
    const h = held.get(e.tenant_id, e.agent_id);
    const info = other === null ? undefined : ctx.agent(e.tenant_id, e.agent_id);
    const home = info === undefined ? null : info.signin_ip === e.ip ? (info.signin_ip_prev ?? null) : (info.signin_ip ?? null);
    // Foreign: the agent came from elsewhere, or is held there already (the thief's further sessions).
    const onHold = h !== undefined && h.id !== '' && h.net === net && e.time - h.t <= o.returnWithinMs;
    const foreign = other !== null && ((home !== null && !sameSubnet(home, e.ip)) || onHold);
    // An agent flagged for this network teaches nothing more about it (for a day).
    const flagged = h !== undefined && h.net === net && h.fired !== 0 && e.time - h.fired < o.refireMs;
    if (!flagged) learn(m, net, bp, ah, now, foreign);

    // Back home after a held foreign sign-in?
    const out: Detection[] = [];
    if (h !== undefined) {
      const d = backHome(e, h, bp);
      if (d !== null) out.push(d);
    }

    // A foreign network: other blueprints signed in from it within the day, the agent's never.
    if (other === null || home === null || sameSubnet(home, e.ip)) return out;
    if (h !== undefined) {
      if (h.fired !== 0 && e.time - h.fired < o.refireMs) return out;
      Object.assign(h, { at: e.time, net, ip: e.ip, t: e.time, id: e.event_id, other: other.b, home });
    } else held.set(e.tenant_id, e.agent_id, { at: e.time, net, ip: e.ip, t: e.time, id: e.event_id, other: other.b, home, fired: 0 });
    return out;
  }

  /**
   * The agent at home again (a sign-in, or a call from its home network a
   * minute or more after the foreign sign-in: it never left) while a foreign
   * sign-in is held: medium unless another agent of its blueprint took the
   * foreign network up meanwhile (a move into a shared cluster).
   */
  function backHome(e: SigninEvent | NetworkEvent, h: Held, bp: string): Detection | null {
    if (h.id === '' || e.time < h.t + (e.type === 'network' ? o.settleMs : 0) || e.time - h.t > o.returnWithinMs || !sameSubnet(e.ip, h.home)) return null;
    const mine = nets.get(e.tenant_id)?.get(h.net)?.find((w) => w.b === bp);
    const d = mine === undefined || mine.a2 === 0 ? finding(e, h) : null;
    if (d !== null) {
      h.fired = e.time;
      forget(e.tenant_id, h.net, bp, hashString(e.agent_id));
    }
    h.id = '';
    return d;
  }

  function onNetwork(e: NetworkEvent): Detection[] {
    if (held.size === 0) return NO_DETECTIONS;
    const h = held.get(e.tenant_id, e.agent_id);
    if (h === undefined || h.id === '') return NO_DETECTIONS;
    const d = backHome(e, h, peerGroupId(e.blueprint_id, e.agent_id));
    return d === null ? NO_DETECTIONS : [d];
  }

  function finding(e: SigninEvent | NetworkEvent, h: Held): Detection {
    const other = peerGroupName(h.other.charCodeAt(0) === 1 ? null : h.other) ?? 'another agent';
    return {
      detector: foreignWorkloadNetworkMeta.id,
      severity: 'medium',
      tenant_id: e.tenant_id,
      agent_id: e.agent_id,
      time: e.time,
      summary:
        `Agent ${e.agent_id} signed in from ${h.ip}, in the network of ${other} of its tenant (never its blueprint's), ` +
        `while it keeps working from its own network (${h.home}, again at ${new Date(e.time).toISOString()}${e.type === 'network' ? `, a call to ${e.dest_host}` : ''}): its credential used from another workload's host`,
      evidence: {
        observed: { foreign_ip: h.ip, foreign_network: h.net, at: new Date(h.t).toISOString(), back_home_ip: e.ip },
        baseline: { network_signed_in_from_by: other, home_ip: h.home },
        threshold: `back on its own network within ${o.returnWithinMs / 60_000} min; no other agent of its blueprint on that network`,
        peer_group: peerGroupName(e.blueprint_id) ?? `agent:${e.agent_id}`,
      },
      event_ids: [h.id, e.event_id],
    };
  }

  return {
    meta: foreignWorkloadNetworkMeta,
    types: ['signin', 'network'] as const,
    observe(e: AgentEvent, ctx: DetectorContext): Detection[] {
      return e.type === 'signin' ? onSignin(e, ctx) : e.type === 'network' ? onNetwork(e) : NO_DETECTIONS;
    },
    evict(before: number): void {
      held.evict(before);
      const cut = Math.floor((before - o.ownerTtlMs) / 1000);
      for (const [tenant, m] of nets) {
        m.forEach((owners, net) => {
          const live = owners.filter((w) => w.t >= cut);
          if (live.length === 0) m.delete(net);
          else if (live.length !== owners.length) m.set(net, live);
        });
        if (m.size === 0) nets.delete(tenant);
      }
    },
    size(): number {
      let n = held.size;
      for (const m of nets.values()) n += m.size;
      return n;
    },
    snapshot(): unknown {
      const rows: [string, string, Owner[]][] = [];
      for (const [tenant, m] of nets) for (const [net, owners] of m) rows.push([tenant, net, owners]);
      return clone({ version: 1, nets: rows, held: held.snapshot() });
    },
    restore(snapshot: unknown): void {
      const s = clone(snapshot) as { version: number; nets: [string, string, Owner[]][]; held: [string, string, Held][] };
      if (s?.version !== 1) throw new Error('foreign-workload-network: unsupported snapshot');
      nets.clear();
      for (const [tenant, net, owners] of s.nets) ownersOf(tenant).set(net, owners);
      held.restore(s.held);
    },
  };
}

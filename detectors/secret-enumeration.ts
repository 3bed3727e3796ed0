// Detector 19 — secret-enumeration: an agent reads a secrets store (Azure Key
// Vault, AWS Secrets Manager or Parameter Store, Google Secret Manager, a
// HashiCorp Vault) far faster than it and its blueprint ever do (T1555.006
// Credentials from Password Stores: Cloud Secrets Management Stores).
//
// An attacker running code in an agent's runtime (a poisoned dependency, an
// injected tool call) uses the agent's own token from the agent's own host to
// list and read every secret it can reach: the host, the resource, the token
// and the address are all the agent's, only the rate is not. An agent reads
// its few secrets at start-up and on rotation; a few hundred reads in minutes
// is a dump.
//
// Per agent that calls a secrets store: calls to secret stores over a sliding
// 10 minutes (five 2-minute sub-windows), and the highest completed 10-minute
// count it had at least an hour ago (its peak, decaying with a half-life of
// 3 days: a weekly rotation job is remembered; a burst does not raise its own
// bar); per blueprint, the highest peak of its agents.
// Rule: at least 50 calls within 10 minutes, 10× the agent's own peak and 5×
// its blueprint's (once it has called secret stores for an hour; before that
// 10× its blueprint's) → medium; without any baseline (a new blueprint), 200
// calls. The blueprint's peak is its busiest agent's: at 10× one busy peer
// would hide a dump by every quiet one. From 20 calls over that bar, under
// the medium floor: low (a smaller vault read whole;
// with another finding the agent rises). When 2 other
// agents of the blueprint went over their thresholds within 10 minutes, it is
// a rollout (every pod reading its secrets at start-up): low; and when 4
// other agents of it went over their bars (low or medium) within 10 minutes:
// the whole blueprint misbehaving at once (a secret cache misconfigured to
// re-read on every request, every pod hammering the vault a little, the
// quickest over the floor first). Once per agent
// per hour; windows of an agent that fired in the last hour do not raise its
// peak. A burst 11 hours to 8 days after the agent's previous reported one
// is a recurring job (low): the daily certificate-expiry sweep reported
// yesterday never entered the agent's peak, and an analyst has seen it.
//
// A store nobody in the tenant called before (after its first hour of store
// calls), called 20 times within 10 minutes by one agent, is medium at any
// peak: access to another vault taken (a Key Vault Contributor rewriting an
// access policy to grant itself get and list), then read. Unless 2 other
// agents call it within 10 minutes (the tenant's new vault, adopted); a
// store is no longer new a day after its first call. Read slower (one
// secret every few minutes: under every burst), 10 calls a minute or more
// apart within an hour are medium too when the agent is alone on the store,
// was active an hour before it appeared and had used another store before
// (its own): an established agent reaching into another team's vault.
//
// Harvest, then ship: a worm or implant that read the secrets sends them
// out next (a new repository pushed to, packages published with the stolen
// registry token, a paste). A reported read that is no rollout opens a
// 15-minute watch on the agent's uploads (flows of 64 KiB or more out, 4×
// what came back, to anything but a secrets store or a private address):
// 1 MiB of them is medium, even when the read itself was only low, unless
// the blueprint burst with it.
//
// A burst whose calls were each followed within 2 seconds by an upload (8
// KiB or more out), for half of the agent's calls of the window or more, is
// low: envelope encryption wraps a fresh data key in the vault for every
// object it writes, a call then a write, one for one; a dump reads without
// writing. No harvest watch follows it.
//
// The counting is CallBurstWatch's (call-burst.ts), shared with mass-send.
//
// State: only for agents that call secret stores (a few numbers each); per
// blueprint a peak and its latest bursts; per reported agent its uploads for
// 15 minutes.

import type { AgentEvent, NetworkEvent } from '../contract/events.js';
import type { Detection, DetectorMeta } from './types.js';
import { peerGroupName, type Detector, type DetectorContext } from './detector.js';
import { CallBurstWatch, burstFinding, callBurstDetector, type BurstVerdict, type CallBurstOptions } from './call-burst.js';
import { NO_DETECTIONS, TenantMap, clone, hashString, msOfSec, sec, type Timed } from './agent-directory.js';
import { isPrivateAddress } from './addresses.js';
import { memoByHost } from './host-memo.js';

/** See CallBurstOptions (call-burst.ts) and ShipOptions; every field optional. */
export type SecretEnumerationOptions = Partial<CallBurstOptions> & ShipOptions;

/** The harvest-then-ship rule: what the agent sends out after a finding. */
export interface ShipOptions {
  /** How long after a finding the agent's uploads are summed, ms. */
  shipWindowMs?: number;
  /** An upload: at least this many bytes out, and `uploadRatio` times what came back. */
  uploadBytes?: number;
  uploadRatio?: number;
  /** Bytes uploaded within the window that make it medium. */
  shipBytes?: number;
}

const SHIP_DEFAULTS: Required<ShipOptions> = {
  shipWindowMs: 15 * 60_000,
  uploadBytes: 64 * 1024,
  uploadRatio: 4,
  shipBytes: 1024 * 1024,
};

/**
 * An agent's calls to secrets stores in its current window (from `w`, s),
 * and how many an upload followed within PAIR_WITHIN_MS (`last`: the
 * latest call, ms; `pend`: calls up to it, each within PAIR_WITHIN_MS of the
 * next, not yet paired). Envelope encryption asks the
 * vault to wrap a fresh data key for every object it writes: a call, then
 * an upload, one for one. A dump reads without writing.
 */
interface Pairing extends Timed {
  /** `at`: when the current window began, ms (idle windows are evicted by it). */
  w: number;
  calls: number;
  paired: number;
  last: number;
  pend: number;
  /** The window just before this one: its calls and paired calls. */
  pc: number;
  pp: number;
}
const PAIR_WITHIN_MS = 2_000;

/**
 * A secrets store new to the tenant: when it was first called (s), whether
 * it is still new, and its callers: flat [agent hash, first call of the
 * window (s), calls, reported (1)].
 */
interface UnknownStore {
  first: number;
  fresh: boolean;
  callers: number[];
  /** Paced reads of it: flat [agent hash, first counted call of the hour (s), counted calls, reported (1), last counted call (s)]; absent until one (see slowRead). */
  slow?: number[];
}
const UNKNOWN_STORE_CALLS = 20;
/** Calls, each SLOW_SPACING_S after the last counted, within SLOW_WINDOW_S to a store new to the tenant by an agent alone and established with stores (see slowRead). */
const SLOW_STORE_CALLS = 10;
const SLOW_WINDOW_S = 3600;
const SLOW_SPACING_S = 60;
const UNKNOWN_STORE_DAYS_S = 24 * 3600;
const MAX_STORES_PER_TENANT = 256;
const MAX_STORE_CALLERS = 8;
const PAIR_UPLOAD_BYTES = 8 * 1024;
const PAIR_SHARE = 0.5;

/** An agent whose secrets read was reported: its uploads since. */
interface Shipping extends Timed {
  /** The finding's time (ms) and severity. */
  t: number;
  medium: boolean;
  calls: number;
  store: string;
  out: number;
  hosts: string[];
  ids: string[];
  done: boolean;
}
const MAX_SHIP_HOSTS = 8;
const MAX_SHIP_IDS = 16;

const DEFAULTS: CallBurstOptions = {
  windowMs: 10 * 60_000,
  minCalls: 50,
  lowCalls: 20,
  factor: 10,
  peerFactor: 5,
  noBaselineCalls: 200,
  peakHalfLifeMs: 3 * 24 * 3_600_000,
  learnMs: 60 * 60_000,
  rolloutWindowMs: 10 * 60_000,
  rolloutAgents: 2,
  recurAfterMs: 11 * 3_600_000,
  recurWithinMs: 8 * 24 * 3_600_000,
  refireMs: 60 * 60_000,
  maxAgents: 1_000_000,
  wideAgents: 4,
};

/**
 * Hosts of cloud secret and key stores, by suffix; and a self-hosted
 * HashiCorp Vault named `vault.<domain>`. Key services count as Key Vault's
 * keys do: a key that signs or decrypts on request is an oracle for whoever
 * holds the agent's runtime (tickets, tokens or firmware signed by the
 * hundred), and its keys are what a dump is after.
 */
const SECRET_STORE_SUFFIXES = ['.vault.azure.net', '.vault.usgovcloudapi.net', '.vault.azure.cn', '.managedhsm.azure.net', 'secretmanager.googleapis.com', 'cloudkms.googleapis.com'];
const AWS_SECRET_SERVICES = /^(secretsmanager|ssm|kms)(-fips)?\.[a-z0-9-]+\.amazonaws\.com$/;

/** True when `host` is a secrets or key store (Key Vault, Secrets Manager, Parameter Store, AWS KMS, Secret Manager, Cloud KMS, a HashiCorp Vault). */
export function isSecretStoreHost(host: string): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  for (const s of SECRET_STORE_SUFFIXES) if (h.endsWith(s) || h === s.slice(1)) return true;
  return AWS_SECRET_SERVICES.test(h) || (h.startsWith('vault.') && h.split('.').length >= 3);
}

/** isSecretStoreHost per host string, remembered. */
const secretStore = memoByHost(isSecretStoreHost);

export const secretEnumerationMeta: DetectorMeta = {
  id: 'secret-enumeration',
  title: 'Secrets store read in bulk',
  severity: 'medium',
  mitre: { id: 'T1555.006', name: 'Credentials from Password Stores: Cloud Secrets Management Stores' },
  description:
    'An agent calls a secrets or key store (Azure Key Vault or Managed HSM, AWS Secrets Manager, Parameter Store or KMS, Google Secret Manager or Cloud KMS, a HashiCorp Vault) at least 50 times within 10 minutes, 10× the most it ever did in 10 minutes and 5× the most its blueprint\'s busiest agent did (10× for an agent calling them for less than an hour; peaks decay with a half-life of 3 days; without any baseline, 200 calls): code running in the agent\'s runtime dumping every secret with the agent\'s own token, from its own host, or using its keys as an oracle (tickets or binaries signed by the hundred). ' +
    'Medium; low when 2 other agents of the blueprint did the same within 10 minutes (a rollout reading its secrets at start-up) or 4 others went over their own bars (a bad configuration pushed to the whole blueprint), and low from 20 calls over those multiples under the medium floor, or when the agent burst (reported medium) 11 hours to 8 days before (a recurring job: a daily sweep). Once per agent per hour; an agent carrying its blueprint\'s burst on past the hour, without a pause, is not reported again. Medium too for 20 calls within 10 minutes to a store no agent of the tenant called before (within a day of its first call; not when 2 other agents call it within 10 minutes), and for 10 calls to one, each a minute or more after the last counted, within an hour by an agent alone on it that was active an hour before the store appeared and used another store before it (another team\'s vault read a little at a time). Low too when half or more of its calls were each followed within 2 seconds by an upload of 8 KiB or more (envelope encryption: a data key wrapped per object written). ' +
    'A reported read, not a rollout, followed within 15 minutes by 1 MiB of uploads (flows of 64 KiB or more out, 4× what came back) to anything but a secrets store or a private address is medium: secrets harvested, then shipped.',
};

export function createSecretEnumerationDetector(options: SecretEnumerationOptions = {}): Detector {
  const o: CallBurstOptions = { ...DEFAULTS, ...options };
  const ship: Required<ShipOptions> = { ...SHIP_DEFAULTS, ...options };
  const watch = new CallBurstWatch(o);
  const shipping = new TenantMap<Shipping>(o.maxAgents);
  /** Per agent calling a secrets store in the current window: its calls and those an upload followed (see Pairing). */
  const pairing = new TenantMap<Pairing>(o.maxAgents);
  const windowS = o.windowMs / 1000;
  let nextPrune = 0;

  /** A call to a secrets store: counted in the agent's window, waiting for an upload to pair with it. */
  function notePairable(e: NetworkEvent): void {
    const now = sec(e.time);
    let p = pairing.get(e.tenant_id, e.agent_id);
    if (p === undefined) {
      p = { at: e.time, w: now, calls: 0, paired: 0, last: 0, pend: 0, pc: 0, pp: 0 };
      pairing.set(e.tenant_id, e.agent_id, p);
    } else if (now - p.w >= windowS) {
      // The window before is kept while it is the one just ended: a burst is judged over both.
      const adjacent = now - p.w < 2 * windowS;
      p.pc = adjacent ? p.calls : 0;
      p.pp = adjacent ? p.paired : 0;
      p.w = now;
      p.at = e.time;
      p.calls = 0;
      p.paired = 0;
    }
    p.calls++;
    // Calls close together (two keys for one object, or two objects at once) wait together.
    p.pend = e.time - p.last <= PAIR_WITHIN_MS ? p.pend + 1 : 1;
    p.last = e.time;
  }

  /** An upload right after the agent's latest call to a secrets store pairs with it. */
  function notePairing(e: NetworkEvent): void {
    if (e.bytes_out < PAIR_UPLOAD_BYTES || e.bytes_out <= e.bytes_in) return;
    const p = pairing.get(e.tenant_id, e.agent_id);
    if (p === undefined || p.pend === 0 || e.time < p.last || e.time - p.last > PAIR_WITHIN_MS) return;
    p.paired++;
    p.pend--;
  }

  /** Whether most of the agent's calls this window were each followed by an upload: a key wrapped per object written. */
  function envelopes(e: NetworkEvent): { calls: number; paired: number } | null {
    const p = pairing.get(e.tenant_id, e.agent_id);
    if (p === undefined) return null;
    const calls = p.calls + p.pc;
    const paired = p.paired + p.pp;
    return calls >= o.lowCalls && paired >= PAIR_SHARE * calls ? { calls, paired } : null;
  }

  function verdict(e: NetworkEvent, ctx: DetectorContext): BurstVerdict | null {
    if (e.dest_agent_id != null || e.action !== 'allowed' || !secretStore(e.dest_host)) return null;
    notePairable(e);
    unknownFinding = noteUnknownStore(e, ctx);
    return watch.observe(e);
  }

  /** Per tenant: when it first called a secrets store, and the stores it called (see UnknownStore). */
  const stores = new Map<string, { since: number; hosts: Map<number, UnknownStore> }>();
  /** A finding of noteUnknownStore for the event being observed. */
  let unknownFinding: Detection | null = null;

  /**
   * A call to a secrets store no agent of the tenant called before (once the
   * tenant has called stores for learnMs): the agent's calls to it within the
   * window are counted; UNKNOWN_STORE_CALLS of them are medium unless
   * rolloutAgents other agents called it within the rollout window (a new
   * store adopted). A store is no longer new a day after its first call.
   */
  function noteUnknownStore(e: NetworkEvent, ctx: DetectorContext): Detection | null {
    const now = sec(e.time);
    let tv = stores.get(e.tenant_id);
    if (tv === undefined) stores.set(e.tenant_id, (tv = { since: now, hosts: new Map() }));
    const hh = hashString(e.dest_host);
    let h = tv.hosts.get(hh);
    if (h === undefined) {
      if (tv.hosts.size >= MAX_STORES_PER_TENANT) tv.hosts.delete(tv.hosts.keys().next().value as number);
      h = { first: now, fresh: now - tv.since >= o.learnMs / 1000, callers: [] };
      tv.hosts.set(hh, h);
    }
    if (!h.fresh) return null;
    if (now - h.first >= UNKNOWN_STORE_DAYS_S) {
      h.fresh = false;
      h.callers = [];
      return null;
    }
    const ah = hashString(e.agent_id) | 1;
    const c = h.callers;
    let i = 0;
    while (i < c.length && c[i] !== ah) i += 4;
    if (i >= c.length) {
      if (c.length >= 4 * MAX_STORE_CALLERS) return null;
      c.push(ah, now, 0, 0);
    } else if (now - c[i + 1]! >= windowS && c[i + 3] === 0) {
      c[i + 1] = now;
      c[i + 2] = 0;
    }
    c[i + 2]!++;
    if (c[i + 3] !== 0) return null;
    if (c[i + 2] !== UNKNOWN_STORE_CALLS) return slowRead(e, ctx, h, c, i, now);
    let others = 0;
    for (let j = 0; j < c.length; j += 4) if (j !== i && Math.abs(c[j + 1]! - now) <= o.rolloutWindowMs / 1000) others++;
    if (others >= o.rolloutAgents) {
      // Several agents taking up a new store together: the tenant's new vault.
      h.fresh = false;
      h.callers = [];
      return null;
    }
    c[i + 3] = 1;
    return mediumFinding(
      e,
      `Agent ${e.agent_id} called the secrets store ${e.dest_host} ${UNKNOWN_STORE_CALLS} times within ${o.windowMs / 60_000} min, ` +
        `a store no agent of its tenant called before ${Math.round((now - h.first) / 60)} min ago: access to another vault taken (an access policy or role added to itself), then read`,
      {
        observed: { calls: UNKNOWN_STORE_CALLS, window_ms: o.windowMs, dest_host: e.dest_host },
        baseline: { tenant_store_first_call: msOfSec(h.first), other_agents_calling: others },
        threshold: `${UNKNOWN_STORE_CALLS} calls within ${o.windowMs / 60_000} min to a store new to the tenant (after ${o.learnMs / 60_000} min of its store calls), fewer than ${o.rolloutAgents} other agents calling it`,
        peer_group: `tenant:${e.tenant_id}`,
      },
      [e.event_id],
    );
  }

  /**
   * Reads of a store new to the tenant paced under the burst (one secret
   * every few minutes for an hour: another team's vault read a little at a
   * time) by an agent active for learnMs and using a secrets store (its own)
   * before the store was first called, while no other agent calls it:
   * SLOW_STORE_CALLS within SLOW_WINDOW_S, each SLOW_SPACING_S after the last
   * counted one, are medium. Reads close together count once: an agent
   * pointed at a new vault reads its secrets at start-up, then from its
   * cache. The tenant's new vault is called by its new agents, or by several.
   */
  function slowRead(e: NetworkEvent, ctx: DetectorContext, h: UnknownStore, c: number[], i: number, now: number): Detection | null {
    const s = h.slow ?? (h.slow = []);
    const ah = c[i]!;
    let j = 0;
    while (j < s.length && s[j] !== ah) j += 5;
    if (j >= s.length) {
      if (s.length >= 5 * MAX_STORE_CALLERS) return null;
      s.push(ah, now, 0, 0, now - SLOW_SPACING_S);
    } else if (now - s[j + 1]! >= SLOW_WINDOW_S && s[j + 3] === 0) {
      s[j + 1] = now;
      s[j + 2] = 0;
    }
    if (now - s[j + 4]! < SLOW_SPACING_S) return null;
    s[j + 4] = now;
    s[j + 2]!++;
    if (s[j + 2] !== SLOW_STORE_CALLS || s[j + 3] !== 0 || c.length > 4) return null;
    // The watch keeps whole seconds since the epoch; the stores sec() of it.
    const firstCall = watch.firstCall(e.tenant_id, e.agent_id);
    if (Number.isNaN(firstCall)) return null;
    const since = sec(firstCall * 1000);
    const active = sec(ctx.agent(e.tenant_id, e.agent_id)?.first_seen ?? e.time);
    if (since >= h.first || h.first - active < o.learnMs / 1000) return null;
    s[j + 3] = 1;
    c[i + 3] = 1;
    const minutes = Math.max(1, Math.round((now - s[j + 1]!) / 60));
    return mediumFinding(
      e,
      `Agent ${e.agent_id} called the secrets store ${e.dest_host} ${SLOW_STORE_CALLS} times a minute or more apart within ${minutes} min, alone, ` +
        `a store no agent of its tenant called before ${Math.round((now - h.first) / 60)} min ago while the agent has used another since ${new Date(msOfSec(since)).toISOString()}: another vault read a little at a time`,
      {
        observed: { calls: SLOW_STORE_CALLS, window_ms: (now - s[j + 1]!) * 1000, dest_host: e.dest_host },
        baseline: { tenant_store_first_call: msOfSec(h.first), agent_store_calls_since: msOfSec(since), other_agents_calling: 0 },
        threshold: `${SLOW_STORE_CALLS} calls ${SLOW_SPACING_S} s or more apart within ${SLOW_WINDOW_S / 60} min to a store new to the tenant, by an agent active for ${o.learnMs / 60_000} min and calling another store before it, no other agent calling it`,
        peer_group: `tenant:${e.tenant_id}`,
      },
      [e.event_id],
    );
  }

  /** A medium finding of this detector's own rules (a new store, harvest then ship) on `e`'s agent at its time. */
  function mediumFinding(e: NetworkEvent, summary: string, evidence: Detection['evidence'], eventIds: string[]): Detection {
    return { detector: secretEnumerationMeta.id, severity: 'medium', tenant_id: e.tenant_id, agent_id: e.agent_id, time: e.time, summary, evidence, event_ids: eventIds };
  }

  function finding(e: NetworkEvent, burst: BurstVerdict): Detection {
    const env = envelopes(e);
    // Each call paired with a write of an object: an envelope-encryption pipeline, not a dump.
    const v: BurstVerdict = env === null ? burst : { ...burst, severity: 'low' };
    if (env === null) watchShipping(e, v);
    const paired = env === null ? '' : `, ${env.paired} of ${env.calls} calls each followed within ${PAIR_WITHIN_MS / 1000} s by an upload (a data key wrapped per object written)`;
    return burstFinding(secretEnumerationMeta, e, v, {
      headline: `Agent ${e.agent_id} called the secrets store ${e.dest_host} ${v.calls} times within ${o.windowMs / 60_000} min${paired}`,
      never: ', with no history of its blueprint',
      rollout: 'a rollout',
      observed: { calls: v.calls, window_ms: o.windowMs, dest_host: e.dest_host },
      noun: 'calls',
    });
  }

  const burst = callBurstDetector(secretEnumerationMeta, watch, { verdict, finding });

  /** A finding that is not a rollout starts the watch on what the agent sends out next. */
  function watchShipping(e: NetworkEvent, v: BurstVerdict): void {
    if (v.rollout) return;
    const prev = shipping.get(e.tenant_id, e.agent_id);
    if (prev !== undefined && !prev.done && e.time - prev.t < ship.shipWindowMs) return;
    shipping.set(e.tenant_id, e.agent_id, { at: e.time, t: e.time, medium: v.severity === 'medium', calls: v.calls, store: e.dest_host, out: 0, hosts: [], ids: [], done: false });
  }

  /** An upload by a watched agent; the finding once the uploads reach shipBytes. */
  function onUpload(e: NetworkEvent): Detection | null {
    const w = shipping.get(e.tenant_id, e.agent_id);
    if (w === undefined || w.done || e.time < w.t || e.time - w.t > ship.shipWindowMs) return null;
    if (e.bytes_out < ship.uploadBytes || e.bytes_out < ship.uploadRatio * e.bytes_in) return null;
    if (e.action !== 'allowed' || e.dest_agent_id != null || secretStore(e.dest_host) || isPrivateAddress(e.dest_ip ?? e.dest_host)) return null;
    w.at = e.time;
    w.out += e.bytes_out;
    if (!w.hosts.includes(e.dest_host) && w.hosts.length < MAX_SHIP_HOSTS) w.hosts.push(e.dest_host);
    if (w.ids.length < MAX_SHIP_IDS) w.ids.push(e.event_id);
    if (w.out < ship.shipBytes) return null;
    w.done = true;
    // Its blueprint bursting with it since (a configuration reading secrets everywhere) makes it no harvest.
    const { others, wide } = watch.othersAround(e, w.t);
    if (watch.isRollout(others, wide)) return null;
    const mib = (w.out / 1048576).toFixed(1);
    return mediumFinding(
      e,
      `Agent ${e.agent_id} sent ${mib} MiB out to ${w.hosts.join(', ')} within ${Math.round((e.time - w.t) / 60_000)} min of reading the secrets store ${w.store} ${w.calls} times: ` +
        'secrets harvested, then shipped (a worm or implant pushing its loot)',
      {
        observed: { uploaded_bytes: w.out, hosts: w.hosts.slice(), secret_store: w.store, secret_calls: w.calls },
        baseline: { reported_read_at: new Date(w.t).toISOString(), reported_read_severity: w.medium ? 'medium' : 'low' },
        threshold: `${ship.shipBytes} bytes in uploads (${ship.uploadBytes}+ bytes out, ${ship.uploadRatio}x what came back) within ${ship.shipWindowMs / 60_000} min of a reported read`,
        peer_group: peerGroupName(e.blueprint_id) ?? `agent:${e.agent_id}`,
      },
      w.ids.slice(),
    );
  }

  return {
    ...burst,
    observe(e: AgentEvent, ctx: DetectorContext): Detection[] {
      if (e.type === 'network' && pairing.size > 0) {
        notePairing(e);
        // Windows that ended are dropped now and then: the map holds only agents calling a store lately.
        if (e.time >= nextPrune) {
          nextPrune = e.time + o.windowMs;
          pairing.evict(e.time - 2 * o.windowMs);
        }
      }
      unknownFinding = null;
      let ds = burst.observe(e, ctx);
      if (unknownFinding !== null) ds = ds.length === 0 ? [unknownFinding] : [...ds, unknownFinding];
      if (shipping.size === 0 || e.type !== 'network') return ds;
      const d = onUpload(e);
      return d === null ? ds : ds.length === 0 ? [d] : [...ds, d];
    },
    evict(before: number): void {
      burst.evict(before);
      shipping.evict(before);
    },
    size(): number {
      return burst.size() + shipping.size;
    },
    snapshot(): unknown {
      return clone({ burst: burst.snapshot(), shipping: shipping.snapshot(), pairing: pairing.snapshot(), stores: [...stores].map(([t, v]) => [t, v.since, [...v.hosts]]) });
    },
    restore(snapshot: unknown): void {
      const s = clone(snapshot) as { burst?: unknown; shipping?: [string, string, Shipping][]; pairing?: [string, string, Pairing][]; stores?: [string, number, [number, UnknownStore][]][]; version?: number };
      pairing.restore(s?.pairing ?? []);
      stores.clear();
      for (const [t, since, hosts] of s?.stores ?? []) stores.set(t, { since, hosts: new Map(hosts) });
      // Snapshots from before the shipping watch are the burst detector's own.
      if (s?.burst === undefined) {
        burst.restore(s);
        shipping.restore([]);
        return;
      }
      burst.restore(s.burst);
      shipping.restore(s.shipping ?? []);
    },
  };
}

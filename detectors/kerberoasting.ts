// Detector 30 — kerberoasting: an agent's runtime asks a domain controller
// for a burst of Kerberos service tickets (T1558.003 Steal or Forge Kerberos
// Tickets: Kerberoasting).
//
// A code interpreter or a tool runner on a domain-joined worker, taken over
// by an injected instruction, lists the domain's service accounts over LDAP
// (their SPNs) and requests a service ticket for each: every ticket is
// encrypted with its account's password hash, cracked offline. What the
// gateway sees is small: a few LDAP queries, then tens of requests to port
// 88 within minutes, each about 1.5 KB each way, to the domain controllers.
// An agent talks HTTPS to APIs; if it speaks Kerberos at all, it asks for a
// ticket now and then (its own service's), not one per service account.
//
// Per agent that sent a request to port 88, the times of its Kerberos
// requests over a sliding 5 minutes; per blueprint, since when its agents
// speak Kerberos, how many do, and the most requests one made in 5 minutes.
// Rule: 20 Kerberos requests within 5 minutes (10 when the agent queried
// LDAP, 389, 636 or the global catalog, within 15 minutes before: the SPN
// listing), by an agent whose blueprint does not speak Kerberos (2 of its
// agents for an hour) → medium; for a blueprint that does (a domain-joined
// fleet), max(50, 5x the most one of its agents made in 5 minutes). Once per
// agent per hour.
//
// State: only for agents that sent a request to port 88 and blueprints
// whose agents did; the per-event cost is a port check.

import type { AgentEvent, NetworkEvent } from '../contract/events.js';
import type { Detection, DetectorMeta } from './types.js';
import { peerGroupId, peerGroupName, type Detector } from './detector.js';
import { agentAndGroupState } from './keyed-state.js';
import { NO_DETECTIONS, TenantMap, hashString, msOfSec, sec, type Timed } from './agent-directory.js';

export interface KerberoastingOptions {
  /** Kerberos requests within windowMs that are a roast (after an LDAP query: ldapBurst), for a blueprint that does not speak Kerberos. */
  burst?: number;
  ldapBurst?: number;
  windowMs?: number;
  /** An LDAP query this long before counts as the SPN listing, ms. */
  ldapBeforeMs?: number;
  /** A blueprint speaks Kerberos once this many of its agents did for this long. */
  familiarAgents?: number;
  familiarAfterMs?: number;
  /** For a blueprint that speaks Kerberos: the least burst, and the multiple of its agents' largest. */
  familiarBurst?: number;
  familiarFactor?: number;
  /** One finding per agent per this, ms. */
  refireMs?: number;
  maxAgents?: number;
}

const DEFAULTS: Required<KerberoastingOptions> = {
  burst: 20,
  ldapBurst: 10,
  windowMs: 5 * 60_000,
  ldapBeforeMs: 15 * 60_000,
  familiarAgents: 2,
  familiarAfterMs: 3_600_000,
  familiarBurst: 50,
  familiarFactor: 5,
  refireMs: 3_600_000,
  maxAgents: 1_000_000,
};

const KERBEROS_PORT = 88;
/** LDAP, LDAPS and the global catalog (plain and TLS): compared, not looked up (every network event is asked). */
function isLdapPort(port: number): boolean {
  return port === 389 || port === 636 || port === 3268 || port === 3269;
}
/** Request times kept per agent (enough for the largest bar). */
const MAX_TIMES = 256;
/** Distinct controllers named in the evidence. */
const MAX_TARGETS = 8;

/** Per agent that spoke Kerberos or LDAP: its Kerberos request times within the window (s), latest LDAP query (s), last finding (s), its latest requests' event ids and the controllers of the window. */
interface AgentKerberos extends Timed {
  t: number[];
  /** The most requests within the window in its current run of requests (learned by the blueprint once the run ends). */
  pk: number;
  ldap: number;
  fired: number;
  ids: string[];
  dc: string[];
}

/** Per blueprint whose agents spoke Kerberos: since when (s), the first agents (hashes), the most requests one made in a window. */
interface GroupKerberos extends Timed {
  first: number;
  agents: number[];
  max: number;
}

export const kerberoastingMeta: DetectorMeta = {
  id: 'kerberoasting',
  title: 'Kerberos service tickets requested in bulk',
  severity: 'medium',
  mitre: { id: 'T1558.003', name: 'Steal or Forge Kerberos Tickets: Kerberoasting' },
  description:
    "An agent's runtime requests Kerberos tickets in bulk: 20 requests to port 88 within 5 minutes (10 after an LDAP or global catalog query within 15 minutes: the service accounts' SPNs listed first), by an agent whose blueprint does not speak Kerberos (2 of its agents for an hour); for a domain-joined blueprint, max(50, 5x the most one of its agents made in 5 minutes). " +
    'Each service ticket is encrypted with its account\'s password hash, cracked offline: a code interpreter or tool runner on a domain-joined worker, steered by an injected instruction, roasting the domain. Medium, once per agent an hour.',
};

export function createKerberoastingDetector(options: KerberoastingOptions = {}): Detector {
  const o: Required<KerberoastingOptions> = { ...DEFAULTS, ...options };
  const agents = new TenantMap<AgentKerberos>(o.maxAgents);
  const groups = new TenantMap<GroupKerberos>(o.maxAgents);
  const windowS = o.windowMs / 1000;

  function agentOf(e: NetworkEvent): AgentKerberos {
    let a = agents.get(e.tenant_id, e.agent_id);
    if (a === undefined) {
      a = { at: e.time, t: [], pk: 0, ldap: 0, fired: 0, ids: [], dc: [] };
      agents.set(e.tenant_id, e.agent_id, a);
    } else if (e.time > a.at) a.at = e.time;
    return a;
  }

  function onKerberos(e: NetworkEvent): Detection[] {
    const now = sec(e.time);
    const a = agentOf(e);
    // The requests within the window, this one included.
    const t = a.t;
    let old = 0;
    while (old < t.length && t[old]! <= now - windowS) old++;
    if (old > 0) t.splice(0, old);
    const gid = peerGroupId(e.blueprint_id, e.agent_id);
    let g = groups.get(e.tenant_id, gid);
    if (g === undefined) {
      g = { at: e.time, first: now, agents: [], max: 0 };
      groups.set(e.tenant_id, gid, g);
    } else if (e.time > g.at) g.at = e.time;
    if (t.length === 0) {
      // The agent's previous run of requests is over: under the unfamiliar bar, it was the blueprint's own work (a service
      // restart asking for its tickets), and the blueprint learns it. A run still climbing is judged, never learned.
      if (a.pk < o.burst && a.pk > g.max) g.max = a.pk;
      a.pk = 0;
      a.dc = [];
    }
    if (t.length >= MAX_TIMES) t.shift();
    t.push(now);
    a.ids.push(e.event_id);
    if (a.ids.length > 4) a.ids.shift();
    const target = e.dest_ip ?? e.dest_host;
    if (a.dc.length < MAX_TARGETS && !a.dc.includes(target)) a.dc.push(target);
    const ah = hashString(e.agent_id) | 1;
    if (g.agents.length < o.familiarAgents && !g.agents.includes(ah)) g.agents.push(ah);
    const familiar = g.agents.length >= o.familiarAgents && now - g.first >= o.familiarAfterMs / 1000;
    const listed = a.ldap !== 0 && now - a.ldap <= o.ldapBeforeMs / 1000;
    const bar = familiar ? Math.max(o.familiarBurst, o.familiarFactor * g.max) : listed ? o.ldapBurst : o.burst;
    const n = t.length;
    if (n > a.pk) a.pk = n;
    if (n < bar) return NO_DETECTIONS;
    if (a.fired !== 0 && now - a.fired < o.refireMs / 1000) return NO_DETECTIONS;
    a.fired = now;
    return [
      {
        detector: kerberoastingMeta.id,
        severity: 'medium',
        tenant_id: e.tenant_id,
        agent_id: e.agent_id,
        time: e.time,
        summary:
          `Agent ${e.agent_id} made ${n} Kerberos requests (port 88) to ${a.dc.length === 1 ? a.dc[0] : `${a.dc.length} controllers`} within ${Math.max(1, Math.round((now - t[0]!) / 60))} min` +
          (listed ? ', minutes after an LDAP query (the service accounts listed first)' : '') +
          (familiar ? `, where its blueprint's agents make at most ${g.max}` : ', and its blueprint does not speak Kerberos') +
          ': service tickets requested in bulk to crack their accounts\' passwords (Kerberoasting)',
        evidence: {
          observed: { kerberos_requests: n, window_s: windowS, controllers: a.dc.slice(), ldap_query_at: a.ldap !== 0 ? msOfSec(a.ldap) : null },
          baseline: { blueprint_speaks_kerberos: familiar, blueprint_max_requests_per_window: g.max },
          threshold: familiar
            ? `max(${o.familiarBurst}, ${o.familiarFactor}x the blueprint's largest) = ${bar} requests within ${windowS / 60} min`
            : `${listed ? o.ldapBurst : o.burst} requests within ${windowS / 60} min${listed ? ` after an LDAP query within ${o.ldapBeforeMs / 60_000} min` : ''}, by an agent of a blueprint that does not speak Kerberos`,
          peer_group: peerGroupName(e.blueprint_id) ?? `agent:${e.agent_id}`,
        },
        event_ids: a.ids.slice(),
      },
    ];
  }

  function onLdap(e: NetworkEvent): void {
    const now = sec(e.time);
    const a = agentOf(e);
    if (now > a.ldap) a.ldap = now;
  }

  return {
    meta: kerberoastingMeta,
    types: ['network'] as const,
    observe(e: AgentEvent): Detection[] {
      if (e.type !== 'network') return NO_DETECTIONS;
      if (e.dest_port === KERBEROS_PORT) return onKerberos(e);
      if (isLdapPort(e.dest_port) && e.dest_agent_id === null) onLdap(e);
      return NO_DETECTIONS;
    },
    ...agentAndGroupState('kerberoasting', agents, groups),
  };
}

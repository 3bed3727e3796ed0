// Detector 1 — unfamiliar-resource: an agent reaches a resource that is new to
// it AND to its blueprint's peers.
//
// - A resource the blueprint's peers already use (an agent adopted it without
//   being flagged) is familiar, even for an agent minutes old.
// - A resource that several distinct agents of the blueprint adopt within a
//   short window is a deployment, not an attack.
// - Learning: nothing fires until the agent has its own baseline (enough
//   accesses over enough time) or, for a brand-new agent, its blueprint has one.
// - Attempts refused authorization (consent, not assigned...) at unfamiliar
//   resources count too (they teach nothing), as do failures whose code
//   names no cause or that carry none.
// - One unfamiliar resource is low at once, and medium 10 minutes later unless
//   the blueprint took it up: another agent used it within 30 minutes, or
//   two others ever did. The first movers of a new API are followed by their
//   peers within minutes, a rarely used resource of the blueprint's long tail
//   has had several users; a compromised agent reaching for Key Vault is
//   alone. Confirmation needs a settled baseline: 40 accesses by the
//   blueprint (or by the agent itself); a quiet blueprint that has made a
//   few dozen has not yet shown every resource it uses (an API used only in
//   office hours, first seen at 9:00), and its lone new resource stays low.
//   A second unfamiliar resource within 30 minutes
//   (reaching for several new resources: discovery, lateral movement, also
//   when paced a resource every ten minutes or so) is medium 3 minutes on
//   unless the blueprint took both up meanwhile (a release that adds two
//   dependencies, rolled out pod by pod); a third is medium at once.
//   Refused attempts stay low on their own (failed-access judges refusals).
// - A token for the new resource carrying a permission the agent's sponsor
//   granted it within 7 days (lifecycle permission_granted; anyone but the
//   agent when it has no sponsor; or an actor who granted it to 3 agents of
//   the blueprint within the hour: an administrator consenting for the
//   blueprint, whose agents then take the API up over the next hour, not
//   within minutes of each other), or an Azure data-plane role for the
//   resource (Storage Blob Data Contributor for storage: a role is no scope),
//   makes it a sanctioned change: it stays low (the orchestrator given a new
//   worker API to call, a migration agent given the backup account), and it
//   starts no burst: the next new resource is judged as a first one.
// - A resource new to the whole tenant that another of its blueprints took
//   up too within the deployment window (30 minutes) of its first use in the
//   tenant is an API being rolled out: a canary wave of a new internal MCP
//   server reaches one agent of each blueprint, fewer than the blueprint's
//   own deployment rule asks for. It stays low. A thief reaching a resource
//   the tenant already uses, or its own app's audience alone, is no rollout.

import type { AgentEvent, TokenEvent } from '../contract/events.js';
import { canonicalResource, resourceHash, roleGrantOf } from './resources.js';
import type { Detection } from './types.js';
import type { Detector, DetectorContext, Grant } from './detector.js';
import { grantOf, isRiskyActor, isSanctionedActor, peerGroupName, permissionName } from './detector.js';
import { BlueprintGrants } from './blueprint-grants.js';
import { DueQueue } from './due-queue.js';
import { classifyFailure } from './failed-access.js';
import {
  NO_DETECTIONS,
  AgentStore,
  GroupStore,
  type SlotState,
  blueprintOf,
  compactAdd,
  hashString,
  peerAdopt,
  touchPeerGroup,
  peerVerdictCode,
  sec,
  restoreGroups,
  snapshotGroups,
  type PeerGroup,
  type PeerGroupSnapshot,
  type Timed,
} from './agent-directory.js';

export interface UnfamiliarResourceOptions {
  /** Resources remembered per agent. */
  agentCap?: number;
  /** Resources remembered per blueprint. */
  peerCap?: number;
  /** Own baseline: at least this many accesses over at least agentLearnMs. */
  agentLearnEvents?: number;
  agentLearnMs?: number;
  /** Blueprint baseline: at least this many agents and accesses over at least peerLearnMs. */
  peerLearnAgents?: number;
  peerLearnEvents?: number;
  peerLearnMs?: number;
  /** This many distinct agents adopting a resource within deploymentWindowMs is a deployment. */
  deploymentAgents?: number;
  deploymentWindowMs?: number;
  /** This many unfamiliar resources within burstWindowMs raises the severity to medium. */
  burstResources?: number;
  burstWindowMs?: number;
  /**
   * A single unfamiliar resource is medium this long after its first access
   * (event time) unless the blueprint adopted it meanwhile; 0 keeps it low.
   */
  confirmMs?: number;
  /**
   * A lone resource is confirmed (medium) only when the baseline it is new to
   * rests on at least this many accesses, the blueprint's or the agent's own:
   * a quiet blueprint that has made a few dozen accesses has not yet shown
   * every resource it uses (a morning-only API first seen at 9:00). Below
   * that it stays low; a second unfamiliar resource is still medium.
   */
  confirmMinAccesses?: number;
  /**
   * A second unfamiliar resource soon after a first one waiting for
   * confirmation is medium this long after it unless the blueprint took both
   * up meanwhile (a release that adds two dependencies, rolled out pod by
   * pod); a third is medium at once (discovery), ms. 0: medium at once.
   */
  burstConfirmMs?: number;
}

/** A single unfamiliar resource waiting to see whether the blueprint follows. */
interface Pending {
  tenant_id: string;
  agent_id: string;
  blueprint_id: string | null;
  agentHash: number;
  h: number;
  resource: string;
  time: number;
  due: number;
  event_id: string;
  /** A second unfamiliar resource of the same burst, waiting with the first (see burstConfirmMs). */
  h2?: number;
  resource2?: string;
  event2?: string;
}

/** Confirmations waiting, all agents together. */
const MAX_PENDING = 65_536;

interface AgentState extends SlotState {
  first: number;
  n: number;
  known: number[];
  /** Unfamiliar resources attempted and refused (already reported); null until the first. */
  tried: number[] | null;
  /** Seconds (see `sec`), like `at` and `first`. */
  burstStart: number;
  burst: number;
  /** Hash of the resource waiting for confirmation (see `pending`; 30 bits: a small integer), 0 when none. */
  pw: number;
}

/** How long a permission grant sanctions the resource the agent then uses it on, ms. */
const GRANT_WINDOW_MS = 7 * 24 * 3600_000;
/** One actor granting a permission to this many agents of a blueprint within CONSENT_SPAN_MS consents for the blueprint. */
const CONSENT_AGENTS = 3;
const CONSENT_SPAN_MS = 3_600_000;

interface Snapshot {
  agents: [string, string, AgentState][];
  groups: [string, string, PeerGroupSnapshot][];
  /** Absent in snapshots from before single resources were confirmed. */
  pending?: Pending[];
  /** Absent in snapshots from before tenant rollouts were recognised. */
  tenantFirsts?: [string, [number, number[]][]][];
  /** Absent in snapshots from before blueprint consents were recognised. */
  grants?: [string, number[]][];
}

/** Blueprints remembered per resource of a tenant (see TenantFirsts). */
const MAX_FIRST_BLUEPRINTS = 8;
/** Resources remembered per tenant (the oldest first use dropped beyond). */
const MAX_TENANT_RESOURCES = 4096;

/**
 * Per tenant, per resource hash: the last time an agent first used it
 * (seconds), then when each blueprint first used it, flat [blueprint hash,
 * second] pairs in order (at most MAX_FIRST_BLUEPRINTS). Fed from agents'
 * first use of a resource (a blueprint's first use is one), so a lookup per
 * resource new to an agent, never per access; a resource the tenant keeps
 * using stays, with its old first uses (it never looks new again).
 */
class TenantFirsts {
  readonly tenants = new Map<string, Map<number, number[]>>();

  note(tenant: string, h: number, bp: number, ts: number): void {
    let m = this.tenants.get(tenant);
    if (m === undefined) this.tenants.set(tenant, (m = new Map()));
    const list = m.get(h);
    if (list === undefined) {
      if (m.size >= MAX_TENANT_RESOURCES) m.delete(m.keys().next().value as number);
      m.set(h, [ts, bp, ts]);
      return;
    }
    if (ts > list[0]!) list[0] = ts;
    for (let i = 1; i < list.length; i += 2) {
      if (list[i] !== bp) continue;
      if (ts < list[i + 1]!) list[i + 1] = ts;
      return;
    }
    if (list.length < 1 + 2 * MAX_FIRST_BLUEPRINTS) list.push(bp, ts);
  }

  /**
   * True when the resource was new to the tenant within `spanS` before `ts`
   * (its first use by any blueprint) and a blueprint other than `bp` also
   * first used it within `spanS` of that first use.
   */
  rollout(tenant: string, h: number, bp: number, ts: number, spanS: number): boolean {
    const list = this.tenants.get(tenant)?.get(h);
    if (list === undefined) return false;
    let first = Infinity;
    for (let i = 2; i < list.length; i += 2) if (list[i]! < first) first = list[i]!;
    if (ts - first > spanS) return false;
    for (let i = 1; i < list.length; i += 2) if (list[i] !== bp && list[i + 1]! - first <= spanS) return true;
    return false;
  }

  /** Forgets resources no agent first used since `before` (s). */
  evict(before: number): void {
    for (const [tenant, m] of this.tenants) {
      for (const [h, list] of m) if (list[0]! < before) m.delete(h);
      if (m.size === 0) this.tenants.delete(tenant);
    }
  }

  get size(): number {
    let n = 0;
    for (const m of this.tenants.values()) n += m.size;
    return n;
  }

  snapshot(): [string, [number, number[]][]][] {
    return [...this.tenants].map(([t, m]) => [t, [...m].map(([h, l]) => [h, l.slice()] as [number, number[]])]);
  }

  restore(rows: [string, [number, number[]][]][] | undefined): void {
    this.tenants.clear();
    for (const [t, list] of rows ?? []) this.tenants.set(t, new Map(list.map(([h, l]) => [h, l.slice()])));
  }
}

const DEFAULTS: Required<UnfamiliarResourceOptions> = {
  agentCap: 24,
  peerCap: 512,
  agentLearnEvents: 20,
  agentLearnMs: 30 * 60_000,
  peerLearnAgents: 3,
  peerLearnEvents: 20,
  peerLearnMs: 30 * 60_000,
  deploymentAgents: 3,
  deploymentWindowMs: 30 * 60_000,
  burstResources: 2,
  burstWindowMs: 30 * 60_000,
  confirmMs: 10 * 60_000,
  confirmMinAccesses: 40,
  burstConfirmMs: 3 * 60_000,
};

/** A blueprint first seen this long before is new (see newInternalBlueprint), ms. */
const NEW_BLUEPRINT_MS = 24 * 3_600_000;
/** ...and first seen this long after the caller's blueprint, ms. */
const NEW_AFTER_MS = 3_600_000;

export function createUnfamiliarResourceDetector(options: UnfamiliarResourceOptions = {}): Detector<Snapshot> {
  const o = { ...DEFAULTS, ...options };
  const agents = new AgentStore<AgentState>();
  const groups = new GroupStore<PeerGroup>();
  /** Per agent, its single unfamiliar resource waiting for confirmation. */
  const pending = new DueQueue<Pending>(MAX_PENDING);
  const firsts = new TenantFirsts();
  const grants = new BlueprintGrants();

  function advance(watermark: number): Detection[] {
    return pending.takeDue(watermark, decide);
  }

  /** A lone resource whose time has come: medium unless the blueprint took it up, or the agent already went medium. */
  function decide(p: Pending): Detection | null {
    const g = p.blueprint_id === null ? undefined : groups.get(p.tenant_id, p.blueprint_id);
    // The blueprint took it up when another of its agents used it within the deployment window
    // (a rollout under way), or two others ever did, flagged or not (a rarely used resource of its
    // long tail). One other agent hours ago vouches for nothing: it may have been an incident too.
    const adopters = g?.values.get(p.h)?.adopters ?? 1;
    const takenUp = (h: number) => {
      const recent = g ? peerVerdictCode(g, h, p.agentHash, p.time, o.deploymentWindowMs) >>> 1 : 1;
      return recent >= 2 || (g?.values.get(h)?.adopters ?? 1) >= 3;
    };
    const a = agents.peek(p.tenant_id, p.agent_id);
    if (p.h2 !== undefined) {
      // Two resources: a rollout when the blueprint took both up; a third one already made it medium.
      if ((takenUp(p.h) && takenUp(p.h2)) || (a && a.burst > o.burstResources)) return null;
      return confirmed(
        p,
        `Agent ${p.agent_id} accessed ${p.resource} and ${p.resource2}, resources new to it and to ${newTo(p)}, and the blueprint did not take both up within ${Math.round((p.due - p.time) / 60_000)} min (not a rollout)`,
        { resources: [p.resource, p.resource2], result: 'granted', first_access: new Date(p.time).toISOString(), unfamiliar_in_burst: 2 },
        adopters,
        { burst_for_medium: o.burstResources, confirm_s: o.burstConfirmMs / 1000 },
        [p.event_id, p.event2!],
      );
    }
    if (takenUp(p.h)) return null;
    // The API of an agent blueprint of the tenant that appeared within the day (api://<its id>): a new internal agent
    // its first caller starts delegating to, the canary of a staged rollout (not the caller's own blueprint: a worker
    // tasking its siblings over their own API is a worm's first move).
    if (newInternalBlueprint(p)) return null;
    // A resource new to the tenant that another blueprint took up at the same time: a tenant-wide rollout's canary.
    if (p.blueprint_id !== null && firsts.rollout(p.tenant_id, p.h, hashString(p.blueprint_id), sec(p.time), o.deploymentWindowMs / 1000)) return null;
    // A second unfamiliar resource in the same burst already made it medium.
    if (a && a.burst >= o.burstResources && a.burstStart <= sec(p.time)) return null;
    return confirmed(
      p,
      `Agent ${p.agent_id} accessed ${p.resource}, a resource new to it and to ${newTo(p)}, and no other agent of the blueprint took it up within ${Math.round(o.confirmMs / 60_000)} min (not a deployment)`,
      { resource: p.resource, result: 'granted', first_access: new Date(p.time).toISOString() },
      adopters,
      { confirm_s: o.confirmMs / 1000 },
      [p.event_id],
    );
  }

  /**
   * The resource is `api://<id>` of another blueprint of the tenant that
   * appeared within NEW_BLUEPRINT_MS before, an hour or more after the
   * caller's blueprint was first seen (new, not merely first seen when the
   * stream began).
   */
  function newInternalBlueprint(p: Pending): boolean {
    const r = p.resource;
    if (!r.startsWith('api://') || p.blueprint_id === null) return false;
    const id = r.slice(6).replace(/\/+$/, '');
    if (id === '' || id === p.blueprint_id) return false;
    const callee = groups.get(p.tenant_id, id);
    const caller = groups.get(p.tenant_id, p.blueprint_id);
    return callee !== undefined && caller !== undefined && p.time - callee.first <= NEW_BLUEPRINT_MS && callee.first - caller.first >= NEW_AFTER_MS;
  }

  function newTo(p: Pending): string {
    return p.blueprint_id ? `its blueprint ${p.blueprint_id}` : 'any peer';
  }

  /** The medium of a waiting finding whose blueprint did not follow. */
  function confirmed(p: Pending, summary: string, observed: Record<string, unknown>, adopters: number, threshold: Record<string, number>, eventIds: string[]): Detection {
    return {
      detector: 'unfamiliar-resource',
      severity: 'medium',
      tenant_id: p.tenant_id,
      agent_id: p.agent_id,
      time: p.due,
      summary,
      evidence: {
        observed,
        baseline: { agents_of_blueprint_using_it: adopters },
        threshold: { deployment_agents: o.deploymentAgents, deployment_window_s: o.deploymentWindowMs / 1000, ...threshold },
        peer_group: peerGroupName(p.blueprint_id),
      },
      event_ids: eventIds,
    };
  }

  /**
   * A permission among the token's scopes, or an Azure data-plane role for
   * the token's resource ("Storage Blob Data Contributor" for a storage
   * token: roles are no scopes), granted to the agent (lifecycle
   * permission_granted) within GRANT_WINDOW_MS by a sanctioned actor (its
   * sponsor, or anyone but itself when it has none), or by an actor who
   * granted it to CONSENT_AGENTS agents of its blueprint within the hour (an
   * administrator consenting for the blueprint, its agents taking the new
   * API up over the following hour); null when none.
   */
  function grantedScope(e: TokenEvent, ctx: DetectorContext): Grant | null {
    const info = ctx.agent(e.tenant_id, e.agent_id);
    if (info === undefined || info.permissions_granted.length === 0) return null;
    const bp = info.blueprint_id;
    const vouched = (p: Grant): boolean =>
      isSanctionedActor(info, p.actor, ctx) ||
      (bp !== null && p.permission !== null && p.actor !== info.agent_id && !isRiskyActor(ctx, info.tenant_id, p.actor) && grants.consented(info.tenant_id, bp, p.permission, p.actor, p.time, CONSENT_AGENTS, CONSENT_SPAN_MS));
    for (const scope of e.scopes) {
      const g = grantOf(info, permissionName(scope), e.time, GRANT_WINDOW_MS, vouched);
      if (g !== null) return g;
    }
    return roleGrantOf(info, canonicalResource(e.resource), e.time, GRANT_WINDOW_MS, vouched);
  }

  function observe(e: AgentEvent, ctx: DetectorContext): Detection[] {
    let resource: string;
    let attempt = false;
    if (e.type === 'signin') {
      if (e.result !== 'success') {
        // An attempt refused at an unfamiliar resource still counts (once), but teaches nothing:
        // refused authorization, or a failure whose code names no cause (or that has none).
        // Authentication, expiry and transient failures say nothing about the resource.
        const cls = classifyFailure(e.error_code);
        if (cls !== 'resource' && cls !== 'other') return NO_DETECTIONS;
        attempt = true;
      }
      resource = e.resource;
    } else if (e.type === 'token') {
      if (e.decision !== 'granted') return NO_DETECTIONS;
      resource = e.resource;
    } else {
      if (e.type === 'lifecycle' && e.action === 'permission_granted') {
        const bp = blueprintOf(e, ctx);
        if (bp !== null) grants.note(e, bp);
      }
      return NO_DETECTIONS;
    }

    const t = e.time;
    const ts = sec(t);
    const bp = blueprintOf(e, ctx);
    let g: PeerGroup | undefined;
    if (bp !== null) {
      g = touchPeerGroup(groups, ctx, e.tenant_id, bp, t);
      g.events++;
      if (t < g.first) g.first = t;
    }
    let a = agents.get(ctx, e.tenant_id, e.agent_id);
    if (!a) {
      a = { e: 0, at: ts, first: ts, n: 0, known: [], tried: null, burstStart: 0, burst: 0, pw: 0 };
      agents.set(ctx, e.tenant_id, e.agent_id, a);
      if (g) g.agents++;
    }
    const seenBefore = a.n;
    if (!attempt) a.n++;
    if (ts > a.at) a.at = ts;
    if (ts < a.first) a.first = ts;

    const h = resourceHash(resource);
    if (a.known.indexOf(h) >= 0) {
      // A token for the resource waiting for confirmation, carrying a permission the agent's sponsor
      // granted it: the new resource is the sanctioned change (low stays, no medium).
      if (a.pw === (h & 0x3fffffff) && e.type === 'token' && grantedScope(e, ctx) !== null) {
        pending.delete(e.tenant_id, e.agent_id);
        a.pw = 0;
        // Nor does it count in a burst (its sign-in did): the next new resource is a first one.
        if (a.burst > 0) a.burst--;
      }
      return NO_DETECTIONS;
    }
    const triedBefore = a.tried !== null && a.tried.indexOf(h) >= 0;
    if (attempt && triedBefore) return NO_DETECTIONS;

    // New to the agent: is it familiar to its peers? (And the tenant's record of its blueprints' first uses.)
    if (bp !== null && !attempt) firsts.note(e.tenant_id, h, hashString(bp), ts);
    const agentHash = hashString(e.agent_id);
    let peersUse = false;
    let recentAdopters = 1;
    if (g) {
      const code = peerVerdictCode(g, h, agentHash, t, o.deploymentWindowMs);
      peersUse = (code & 1) !== 0;
      recentAdopters = code >>> 1;
    }
    const deployment = recentAdopters >= o.deploymentAgents;
    const agentReady = seenBefore >= o.agentLearnEvents && ts - a.first >= o.agentLearnMs / 1000;
    const peerReady =
      g !== undefined && g.agents >= o.peerLearnAgents && g.events >= o.peerLearnEvents && t - g.first >= o.peerLearnMs;
    const unfamiliar = !peersUse && !deployment && (agentReady || peerReady);
    const fire = unfamiliar && !triedBefore;

    if (attempt) {
      if (!unfamiliar) return NO_DETECTIONS;
      a.tried = compactAdd(a.tried ?? [], h, 8);
    } else {
      a.known = compactAdd(a.known, h, o.agentCap);
      if (g) peerAdopt(g, h, agentHash, t, !unfamiliar, o.peerCap);
    }
    if (!fire) return NO_DETECTIONS;

    const burstS = o.burstWindowMs / 1000;
    if (ts - a.burstStart > burstS || ts < a.burstStart - burstS) {
      a.burstStart = ts;
      a.burst = 0;
    }
    // A resource its sponsor's grant sanctions is the change made, not one reached for: it starts no burst.
    const grant = e.type === 'token' ? grantedScope(e, ctx) : null;
    if (grant === null) a.burst++;
    let severity: 'low' | 'medium' = grant === null && a.burst >= o.burstResources ? 'medium' : 'low';
    if (severity === 'medium' && a.burst === o.burstResources && !attempt && o.burstConfirmMs > 0) {
      // The second of a burst while the first waits: both wait a little for the blueprint to follow.
      const p = pending.get(e.tenant_id, e.agent_id);
      if (p !== undefined && p.h2 === undefined && p.h !== h && t - p.time <= o.burstWindowMs) {
        p.h2 = h;
        p.resource2 = resource;
        p.event2 = e.event_id;
        p.due = Math.min(p.due, t + o.burstConfirmMs);
        severity = 'low';
      }
    }
    const settledBaseline = (g !== undefined && g.events >= o.confirmMinAccesses) || seenBefore >= o.confirmMinAccesses;
    if (severity === 'low' && !attempt && o.confirmMs > 0 && settledBaseline && grant === null) {
      // Bounded: when that many agents wait at once (a whole tenant adopting an API), the rest stay low.
      if (pending.add({ tenant_id: e.tenant_id, agent_id: e.agent_id, blueprint_id: bp, agentHash, h, resource, time: t, due: t + o.confirmMs, event_id: e.event_id })) a.pw = h & 0x3fffffff;
    }
    const peer = peerGroupName(bp);
    const basis = agentReady ? (peerReady ? 'its own and its blueprint peers\'' : 'its own') : 'its blueprint peers\'';
    const verb = attempt ? `tried to access ${resource} (refused: ${e.type === 'signin' ? e.error_code ?? 'no code' : ''})` : `accessed ${resource}`;
    const summary =
      a.burst >= o.burstResources
        ? `Agent ${e.agent_id} ${verb}: ${a.burst} unfamiliar resources within ${Math.round(o.burstWindowMs / 60_000)} min, none used by ${bp ? `blueprint ${bp}'s` : 'its'} peers` +
          (severity === 'low' ? `; medium in ${Math.round(o.burstConfirmMs / 60_000)} min unless the blueprint takes both up` : '')
        : `Agent ${e.agent_id} ${verb}, a resource new to it and unused by ${bp ? `its blueprint ${bp}'s peers` : 'any peer'} (judged on ${basis} history)` +
          (grant !== null ? `, with ${grant.permission} granted to it by ${grant.actor} (a sanctioned change)` : '');
    return [
      {
        detector: 'unfamiliar-resource',
        severity,
        tenant_id: e.tenant_id,
        agent_id: e.agent_id,
        time: t,
        summary,
        evidence: {
          observed: { resource, result: attempt ? 'refused' : 'granted', unfamiliar_in_burst: a.burst },
          baseline: {
            agent_known_resources: a.known.length - 1,
            agent_accesses: seenBefore,
            agent_baseline_ready: agentReady,
            peer_agents: g?.agents ?? 0,
            peer_known_resources: g ? g.values.size - 1 : 0,
            peer_baseline_ready: peerReady,
          },
          threshold: {
            peers_using: 0,
            deployment_agents: o.deploymentAgents,
            deployment_window_s: o.deploymentWindowMs / 1000,
            burst_for_medium: o.burstResources,
          },
          peer_group: peer,
          recent_adopters: recentAdopters,
        },
        event_ids: [e.event_id],
      },
    ];
  }

  return {
    types: ['signin', 'token', 'lifecycle'] as const,
    meta: {
      id: 'unfamiliar-resource',
      title: 'Access to a resource unfamiliar to the agent and its blueprint',
      severity: 'low',
      description:
        'An agent signs in to or obtains a token for a resource that neither it nor the peers of its blueprint have used. Resources the blueprint already uses are familiar even for a new agent; a resource adopted by several agents of the blueprint at once is a deployment. One is low at once and medium 10 minutes later unless the blueprint took it up (another agent used it within 30 minutes, or two others ever did), once the blueprint (or the agent) has made 40 accesses; a second unfamiliar resource within 30 minutes (slow discovery included) is medium 3 minutes later unless the blueprint took both up (a release adding two dependencies), a third at once. A resource on which the agent uses a permission its sponsor granted it within 7 days (lifecycle permission_granted), or one an actor granted to 3 agents of its blueprint within an hour (an administrator consenting for the blueprint; remembered 3 days), is a sanctioned change: low, and no start of a burst; so is a resource new to the whole tenant that another of its blueprints took up within 30 minutes of its first use there (the canary of a tenant-wide rollout). Refused attempts, and failures whose code names no cause, count too. A resource is compared in one form: lower case, no trailing slash, `api://<id>` as the id, and Microsoft first-party application ids (Graph, ARM, Key Vault, Storage, SQL, Exchange) as their URIs.',
      mitre: { id: 'T1526', name: 'Cloud Service Discovery' },
    },
    observe,
    advance,
    settle: () => pending.takeDue(Infinity, decide),
    evict(before) {
      agents.evict(before);
      groups.evict(before);
      pending.evict(before);
      firsts.evict(sec(before));
      grants.evict(before);
    },
    size: () => agents.size + groups.size + pending.size + firsts.size + grants.size,
    snapshot: () => ({ agents: agents.snapshot(), groups: snapshotGroups(groups), pending: pending.snapshot(), tenantFirsts: firsts.snapshot(), grants: grants.snapshot() }),
    restore(s) {
      agents.restore(s.agents);
      restoreGroups(groups, s.groups);
      pending.restore(s.pending);
      firsts.restore(s.tenantFirsts);
      grants.restore(s.grants);
    },
  };
}

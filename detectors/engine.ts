// The risk engine: folds detections and inherited user risk into one risk score
// (0..1) and level per agent, keyed by (tenant, agent).
//
// Scoring, in short:
// - every detection becomes a contribution worth its severity's weight
//   (low 0.28, medium 0.6, high 0.85); one contribution per detector (a repeat
//   refreshes it and adds a small bonus, capped at weight + 0.02: a detector
//   firing again on the same activity is not independent evidence, so a
//   repeated low signal never climbs to medium on its own, nor with one other
//   low: a quarter-end surge's sustained sign-in spike and the API it calls
//   once a quarter stay low, like any two lows);
// - contributions decay exponentially in event time (half-life 12 h);
//   contributions inherited from a risky user (detector `risky-user-signin`)
//   do not decay: they follow the user's current level and vanish when the
//   user's risk is remediated (level none/low); they count once, as the
//   riskiest user's (two users at medium make the agent medium, not high);
// - the score is the noisy-OR of the contributions: 1 − Π(1 − cᵢ);
// - levels: low ≥ 0.15, medium ≥ 0.5, high ≥ 0.8. So one medium/high signal
//   reaches medium/high at once, one low signal reaches low, two lows stay low
//   (0.48) and three independent lows reach medium (0.63);
// - corroboration: two lows that tell one story are worth more than two
//   unrelated ones. Access from somewhere the agent never works (unfamiliar
//   sign-in properties, impossible travel), or a call from a compromised
//   agent (agent propagation), and, within the hour, data or secrets moved
//   unusually (bulk collection, exfiltration, a drop box, a look-alike, a
//   secrets store read in bulk) is someone else using the agent: the pair counts as if a third signal
//   (worth 0.1) backed it, so two such lows reach medium (0.53). A sign-in
//   spike and a new API (a quarter-end surge) tell no such story and stay low;
// - one fact, counted once: lows of the resource detectors (unfamiliar-resource,
//   failed-access, scope-escalation) about the same resource are one
//   observation seen three ways (a new API, its refusals, its scopes): the
//   largest counts, not all three;
// - hysteresis: a level is entered as soon as its threshold is crossed, but left
//   only when the score falls below 0.8 × that threshold and the level has been
//   held for at least 10 minutes (explicit remediation skips the hold);
// - admin actions: confirm_compromised pins the agent at high; confirm_safe
//   and dismiss clear it to none (detection continues: later new detections
//   raise it again).
// A RiskChange is emitted when the level or the state changes; its change_id
// is `${tenant}/${agent}/${time}/${sequence}`, stable under replay.

import type { RiskLevel } from '../contract/events.js';
import type { AdminAction, Detection, RiskChange, RiskReason, RiskState, Severity } from './types.js';
import { DROPPED, TenantMap, type Timed } from './agent-directory.js';
import { identityKey } from './detector.js';

export interface EngineOptions {
  /** Contribution of one detection by severity. */
  weights?: Record<Severity, number>;
  /** Score at which each level is entered. */
  thresholds?: { low: number; medium: number; high: number };
  /** A level is left when the score falls below exitFactor × its threshold. */
  exitFactor?: number;
  /** Half-life of detection contributions, event-time ms. */
  halfLifeMs?: number;
  /** Minimum time a level is held before decay may lower it, ms. */
  minHoldMs?: number;
  /** Added to a detector's contribution each time it fires again. */
  repeatBonus?: number;
  /** A detector's contribution never exceeds its severity weight + repeatCap. */
  repeatCap?: number;
  /** Reasons carried by a change / state. */
  maxReasons?: number;
  /** Detector whose detections (with evidence.user_id) are inherited user risk. */
  inheritDetector?: string;
  /**
   * Detectors of access from an unusual place and of unusual data movement:
   * one of each within `corroborationWindowMs` (event time) adds
   * `corroborationBonus` as a further contribution (see the header).
   */
  accessDetectors?: readonly string[];
  dataDetectors?: readonly string[];
  corroborationWindowMs?: number;
  corroborationBonus?: number;
  maxAgents?: number;
}

interface Contribution {
  detector: string;
  severity: Severity;
  summary: string;
  /** Value at time `at` (before decay). */
  value: number;
  at: number;
  /** Inherited from this user (does not decay; follows the user's level). */
  user: string | null;
  /** A low about one resource (see resourceDetectors): the resource; absent otherwise (and in older snapshots). */
  res?: string;
}

interface AgentRiskState extends Timed {
  tenant_id: string;
  agent_id: string;
  level: RiskLevel;
  score: number;
  state: RiskState;
  updated_at: number;
  /** When the current level was entered (for the minimum hold). */
  raised_at: number;
  seq: number;
  contribs: Contribution[];
  admin: RiskReason | null;
}

/** The current risk of one agent, as the API shows it. */
export interface AgentRisk {
  tenant_id: string;
  agent_id: string;
  level: RiskLevel;
  score: number;
  state: RiskState;
  reasons: RiskReason[];
  updated_at: number;
}

/**
 * An agent's last known risk, as stored (its latest risk change): what a
 * restarted engine starts from instead of nothing.
 */
export interface KnownRisk {
  tenant_id: string;
  agent_id: string;
  change_id: string;
  /** Event time of the change, epoch ms. */
  time: number;
  level: RiskLevel;
  score: number;
  state: RiskState;
  reasons: RiskReason[];
}

/**
 * The sequence of a change id (`<tenant>/<agent>/<time>/<seq>`, see \`evaluate\`):
 * its numeric last segment; 0 when it has none.
 */
export function changeSequence(changeId: string): number {
  const n = Number(changeId.slice(changeId.lastIndexOf('/') + 1));
  return Number.isSafeInteger(n) && n >= 0 ? n : 0;
}

export interface EngineSnapshot {
  version: 1;
  agents: AgentRiskState[];
}

const RANK: Record<RiskLevel, number> = { none: 0, low: 1, medium: 2, high: 3 };
const LEVELS: RiskLevel[] = ['none', 'low', 'medium', 'high'];
const SEV_RANK: Record<Severity, number> = { low: 1, medium: 2, high: 3 };
const PRUNE_BELOW = 0.005;

const DEFAULTS = {
  weights: { low: 0.28, medium: 0.6, high: 0.85 } as Record<Severity, number>,
  thresholds: { low: 0.15, medium: 0.5, high: 0.8 },
  exitFactor: 0.8,
  halfLifeMs: 12 * 3600_000,
  minHoldMs: 10 * 60_000,
  repeatBonus: 0.04,
  repeatCap: 0.02,
  maxReasons: 5,
  inheritDetector: 'risky-user-signin',
  accessDetectors: ['unfamiliar-signin-properties', 'impossible-travel', 'anonymous-network', 'foreign-workload-network', 'agent-propagation'] as readonly string[],
  dataDetectors: ['bulk-collection', 'exfiltration', 'abused-web-service', 'lookalike-destination', 'secret-enumeration', 'mass-send'] as readonly string[],
  /**
   * Detectors whose lows each describe one resource the agent reached
   * (evidence.observed.resource): a new API, the refusals it met there, the
   * scopes it was granted on it. Lows of theirs about the same resource are
   * one fact seen three ways, counted once (the largest), not three
   * independent signals that add up to medium: a release moving every agent
   * to a new API ahead of its role assignments.
   */
  resourceDetectors: ['unfamiliar-resource', 'failed-access', 'scope-escalation'] as readonly string[],
  corroborationWindowMs: 3600_000,
  corroborationBonus: 0.1,
  maxAgents: 2_000_000,
};

function userKey(tenant: string, user: string): string {
  return `${tenant}\u0000${user}`;
}

export class RiskEngine {
  private readonly o: typeof DEFAULTS;
  private readonly enter: number[];
  private readonly exit: number[];
  private readonly agents: TenantMap<AgentRiskState>;
  /** (tenant, user) → agents inheriting that user's risk. */
  private readonly inheritors = new Map<string, Set<AgentRiskState>>();
  /**
   * The states at level low or above, which `tick` re-evaluates each minute:
   * a fleet holds many agents at none (dismissed, decayed), and a scan of
   * them all each minute of event time cost about 2 % of the pipeline.
   */
  private readonly leveled = new Set<AgentRiskState>();
  private levelChanges = 0;

  constructor(options: EngineOptions = {}) {
    this.o = { ...DEFAULTS, ...options } as typeof DEFAULTS;
    const th = this.o.thresholds;
    this.enter = [-Infinity, th.low, th.medium, th.high];
    this.exit = this.enter.map((x) => x * this.o.exitFactor);
    this.agents = new TenantMap(this.o.maxAgents);
  }

  // -------------------------------------------------------------------------
  // Queries

  level(tenantId: string, agentId: string): RiskLevel {
    return this.agents.get(tenantId, agentId)?.level ?? 'none';
  }

  /** How many level changes the engine has made: unchanged means no agent's level moved since it was last read. */
  get changeCount(): number {
    return this.levelChanges;
  }

  get(tenantId: string, agentId: string): AgentRisk | undefined {
    const s = this.agents.get(tenantId, agentId);
    return s ? this.view(s) : undefined;
  }

  /** Every agent the engine holds state for (including level none after dismissal etc.). */
  *entries(): IterableIterator<AgentRisk> {
    for (const [, , s] of this.agents.entries()) yield this.view(s);
  }

  /** Agents at level low or above. */
  *risky(): IterableIterator<AgentRisk> {
    for (const [, , s] of this.agents.entries()) if (s.level !== 'none') yield this.view(s);
  }

  get size(): number {
    return this.agents.size;
  }

  private view(s: AgentRiskState): AgentRisk {
    return {
      tenant_id: s.tenant_id,
      agent_id: s.agent_id,
      level: s.level,
      score: s.score,
      state: s.state,
      reasons: this.reasons(s, s.updated_at),
      updated_at: s.updated_at,
    };
  }

  // -------------------------------------------------------------------------
  // Inputs

  /** Folds one detection into its agent's risk; returns the change it causes, if any. */
  ingest(d: Detection): RiskChange | null {
    const s = this.state(d.tenant_id, d.agent_id, d.time);
    if (d.time > s.at) s.at = d.time;
    const w = this.o.weights[d.severity];
    const user =
      d.detector === this.o.inheritDetector && typeof d.evidence.user_id === 'string' ? identityKey(d.evidence.user_id) : null;
    let c: Contribution | undefined;
    for (const x of s.contribs) if (x.detector === d.detector && x.user === user) c = x;
    const res = d.severity === 'low' && this.o.resourceDetectors.includes(d.detector) && typeof (d.evidence.observed as { resource?: unknown } | undefined)?.resource === 'string'
      ? ((d.evidence.observed as { resource: string }).resource)
      : undefined;
    if (!c) {
      c = { detector: d.detector, severity: d.severity, summary: d.summary, value: w, at: d.time, user };
      if (res !== undefined) c.res = res;
      s.contribs.push(c);
      if (user !== null) this.link(d.tenant_id, user, s);
    } else if (user !== null) {
      c.value = w;
      c.severity = d.severity;
      c.summary = d.summary;
      c.at = Math.max(c.at, d.time);
    } else {
      const current = this.decayed(c, d.time);
      const cap = Math.max(w, this.o.weights[c.severity]) + this.o.repeatCap;
      c.value = Math.min(cap, Math.max(w, current + this.o.repeatBonus));
      if (SEV_RANK[d.severity] >= SEV_RANK[c.severity]) {
        c.severity = d.severity;
        c.summary = d.summary;
        // The latest low's resource, or none once it is more than a low (or about something else).
        if (res !== undefined) c.res = res;
        else delete c.res;
      }
      c.at = Math.max(c.at, d.time);
    }
    const next: RiskState = s.state === 'confirmedCompromised' ? 'confirmedCompromised' : 'atRisk';
    return this.evaluate(s, d.time, next, false, null);
  }

  /**
   * A user's risk changed: agents inheriting it follow (medium/high) or drop it
   * (none/low, i.e. remediated). Returns the changes it causes.
   */
  userRiskChanged(tenantId: string, userId: string, level: RiskLevel, time: number): RiskChange[] {
    const user = identityKey(userId);
    const set = this.inheritors.get(userKey(tenantId, user));
    if (!set || set.size === 0) return [];
    const out: RiskChange[] = [];
    const remediated = level === 'none' || level === 'low';
    for (const s of set) {
      if (remediated) {
        s.contribs = s.contribs.filter((c) => c.user !== user);
      } else {
        const sev: Severity = level === 'high' ? 'high' : 'medium';
        for (const c of s.contribs) {
          if (c.user === user) {
            c.severity = sev;
            c.value = this.o.weights[sev];
          }
        }
      }
      if (time > s.at) s.at = time;
      const note: RiskReason | null = remediated
        ? {
            detector: this.o.inheritDetector,
            severity: 'low',
            summary: `user ${userId} risk remediated (now ${level}); inherited risk dropped`,
          }
        : null;
      const change = this.evaluate(s, time, s.state, remediated, note);
      if (change) out.push(change);
    }
    if (remediated) this.inheritors.delete(userKey(tenantId, user));
    return out;
  }

  /** Applies time decay up to `now` (event time); returns the level drops it causes. */
  tick(now: number): RiskChange[] {
    let out: RiskChange[] | null = null;
    // Every minute of event time, only the agents at low or above (a change back to none leaves the set during the loop, which a Set allows).
    for (const s of this.leveled) {
      if (s.state === 'confirmedCompromised') continue;
      const change = this.evaluate(s, now, s.state, false, null);
      if (change) (out ??= []).push(change);
    }
    return out ?? [];
  }

  confirmCompromised(a: AdminAction): RiskChange {
    const s = this.state(a.tenant_id, a.agent_id, a.time);
    s.admin = { detector: 'admin', severity: 'high', summary: `confirmed compromised by ${a.actor}: ${a.reason}` };
    return this.adminChange(s, a, 'confirmedCompromised');
  }

  confirmSafe(a: AdminAction): RiskChange {
    const s = this.state(a.tenant_id, a.agent_id, a.time);
    this.clear(s);
    s.admin = { detector: 'admin', severity: 'low', summary: `confirmed safe by ${a.actor}: ${a.reason}` };
    return this.adminChange(s, a, 'confirmedSafe');
  }

  dismiss(a: AdminAction): RiskChange {
    const s = this.state(a.tenant_id, a.agent_id, a.time);
    this.clear(s);
    s.admin = { detector: 'admin', severity: 'low', summary: `risk dismissed by ${a.actor}: ${a.reason}` };
    return this.adminChange(s, a, 'dismissed');
  }

  /** Applies any admin action by kind. */
  applyAdminAction(a: AdminAction): RiskChange {
    switch (a.action) {
      case 'confirm_compromised':
        return this.confirmCompromised(a);
      case 'confirm_safe':
        return this.confirmSafe(a);
      case 'dismiss':
        return this.dismiss(a);
    }
  }

  // -------------------------------------------------------------------------
  // Maintenance

  /** Forgets agents at level none with no activity since `before` (confirmed-compromised agents are kept). */
  evict(before: number): number {
    return this.agents.evict(before, (s) => {
      if (s.level !== 'none' || s.state === 'confirmedCompromised') return true;
      this.unlinkAll(s);
      return false;
    });
  }

  snapshot(): EngineSnapshot {
    const agents: AgentRiskState[] = [];
    for (const [, , s] of this.agents.entries()) {
      agents.push({ ...s, contribs: s.contribs.map((c) => ({ ...c })), admin: s.admin ? { ...s.admin } : null });
    }
    return { version: 1, agents };
  }

  restore(snap: EngineSnapshot): void {
    this.agents.clear();
    this.inheritors.clear();
    this.leveled.clear();
    this.levelChanges++;
    for (const r of snap.agents) {
      const s: AgentRiskState = {
        ...r,
        // (Snapshots from before user ids were compared case-insensitively hold them as written.)
        contribs: r.contribs.map((c) => ({ ...c, user: c.user === null ? null : identityKey(c.user) })),
        admin: r.admin ? { ...r.admin } : null,
      };
      this.put(s);
      for (const c of s.contribs) if (c.user !== null) this.link(s.tenant_id, c.user, s);
    }
  }

  /**
   * Starts an agent from its last stored risk change, so that a restarted
   * pipeline carries on from where the last run left off instead of from
   * nothing: without it, an agent at high (or confirmed compromised) would be
   * lowered by its first detection after a restart (none → low), and the
   * policy engine would follow. Agents the engine already knows are left as
   * they are. The detector reasons become contributions, valued so that their
   * combined score is the stored score at the change's time, decaying from
   * there; an admin reason becomes the admin note. What a change does not
   * record is lost: which user an inherited risk came from (that
   * contribution then decays like any other) and the exact weights.
   * Returns whether the agent was seeded.
   */
  seed(known: KnownRisk): boolean {
    const worthKeeping = known.level !== 'none' || known.state === 'confirmedCompromised' || known.state === 'confirmedSafe' || known.state === 'dismissed';
    if (!worthKeeping || this.agents.get(known.tenant_id, known.agent_id) !== undefined) return false;
    const detectorReasons = known.reasons.filter((r) => r.detector !== 'admin' && SEV_RANK[r.severity] !== undefined);
    const admin = known.reasons.find((r) => r.detector === 'admin') ?? null;
    const score = Math.min(1, Math.max(0, known.score));
    // k equal contributions v combine to 1 - (1 - v)^k = score.
    const k = detectorReasons.length;
    const value = k === 0 ? 0 : 1 - Math.pow(1 - Math.min(score, 0.999999), 1 / k);
    const contribs: Contribution[] =
      known.level === 'none' ? [] : detectorReasons.map((r) => ({ detector: r.detector, severity: r.severity, summary: r.summary, value, at: known.time, user: null }));
    const seq = changeSequence(known.change_id);
    const s: AgentRiskState = {
      tenant_id: known.tenant_id,
      agent_id: known.agent_id,
      level: known.state === 'confirmedCompromised' ? 'high' : known.level,
      score: known.state === 'confirmedCompromised' ? 1 : score,
      state: known.state,
      updated_at: known.time,
      raised_at: known.time,
      at: known.time,
      // Later changes continue the sequence, so their ids never repeat a stored one.
      seq,
      contribs,
      admin: admin ? { ...admin } : null,
    };
    this.put(s);
    this.levelChanges++;
    return true;
  }

  // -------------------------------------------------------------------------
  // Internals

  private state(tenant: string, agent: string, time: number): AgentRiskState {
    let s = this.agents.get(tenant, agent);
    if (!s) {
      s = {
        tenant_id: tenant,
        agent_id: agent,
        level: 'none',
        score: 0,
        state: 'none',
        updated_at: time,
        raised_at: time,
        seq: 0,
        contribs: [],
        admin: null,
        at: time,
      };
      this.put(s);
    }
    return s;
  }

  /** Adds a state, keeping `leveled` in step (also when the size cap drops another agent's). */
  private put(s: AgentRiskState): void {
    if (this.agents.set(s.tenant_id, s.agent_id, s) === DROPPED) this.leveled.delete(this.agents.droppedValue!);
    if (s.level !== 'none') this.leveled.add(s);
  }

  private link(tenant: string, user: string, s: AgentRiskState): void {
    const k = userKey(tenant, user);
    let set = this.inheritors.get(k);
    if (!set) {
      set = new Set();
      this.inheritors.set(k, set);
    }
    set.add(s);
  }

  private unlinkAll(s: AgentRiskState): void {
    for (const c of s.contribs) {
      if (c.user === null) continue;
      const k = userKey(s.tenant_id, c.user);
      const set = this.inheritors.get(k);
      if (set) {
        set.delete(s);
        if (set.size === 0) this.inheritors.delete(k);
      }
    }
  }

  private clear(s: AgentRiskState): void {
    this.unlinkAll(s);
    s.contribs = [];
  }

  private decayed(c: Contribution, now: number): number {
    if (c.user !== null) return c.value;
    const dt = now - c.at;
    return dt <= 0 ? c.value : c.value * Math.pow(0.5, dt / this.o.halfLifeMs);
  }

  private score(s: AgentRiskState, now: number): number {
    let keep = 1;
    let pruned = false;
    // Risk inherited from users counts once, as the riskiest user's: an agent acting for two users
    // at medium risk inherits medium, not high (neither user's compromise says the agent is).
    let inherited = 0;
    // Lows about one resource from several detectors count once, the largest (see resourceDetectors).
    let sameResource: Contribution[] | null = null;
    for (const c of s.contribs) {
      const v = this.decayed(c, now);
      if (v < PRUNE_BELOW) pruned = true;
      else if (c.user !== null) inherited = Math.max(inherited, v);
      else if (c.res !== undefined && c.severity === 'low') (sameResource ??= []).push(c);
      else keep *= 1 - v;
    }
    if (sameResource !== null) {
      for (let i = 0; i < sameResource.length; i++) {
        const c = sameResource[i]!;
        let largest = true;
        const v = this.decayed(c, now);
        for (let j = 0; j < sameResource.length && largest; j++) {
          if (j === i || sameResource[j]!.res !== c.res) continue;
          const w = this.decayed(sameResource[j]!, now);
          if (w > v || (w === v && j < i)) largest = false;
        }
        if (largest) keep *= 1 - v;
      }
    }
    keep *= 1 - inherited;
    if (pruned) s.contribs = s.contribs.filter((c) => this.decayed(c, now) >= PRUNE_BELOW);
    if (s.contribs.length >= 2 && this.corroborated(s)) keep *= 1 - this.o.corroborationBonus;
    return 1 - keep;
  }

  /** An access contribution and a data contribution within the corroboration window of each other. */
  private corroborated(s: AgentRiskState): boolean {
    const { accessDetectors, dataDetectors, corroborationWindowMs } = this.o;
    for (const a of s.contribs) {
      if (!accessDetectors.includes(a.detector)) continue;
      for (const d of s.contribs) {
        if (dataDetectors.includes(d.detector) && Math.abs(a.at - d.at) <= corroborationWindowMs) return true;
      }
    }
    return false;
  }

  private reasons(s: AgentRiskState, now: number, note: RiskReason | null = null): RiskReason[] {
    const ranked = s.contribs
      .map((c) => ({ c, v: this.decayed(c, now) }))
      .sort((a, b) => b.v - a.v || (a.c.detector < b.c.detector ? -1 : a.c.detector > b.c.detector ? 1 : 0));
    const out: RiskReason[] = [];
    if (s.admin && (s.state === 'confirmedCompromised' || s.state === 'confirmedSafe' || s.state === 'dismissed'))
      out.push({ ...s.admin });
    if (note) out.push(note);
    for (const { c } of ranked) {
      if (out.length >= this.o.maxReasons) break;
      out.push({ detector: c.detector, severity: c.severity, summary: c.summary });
    }
    return out;
  }

  /**
   * Recomputes the score at `now` and moves the level with hysteresis; emits a
   * change when the level or state moves. `force` skips the minimum hold
   * (explicit remediation).
   */
  private evaluate(
    s: AgentRiskState,
    now: number,
    nextState: RiskState,
    force: boolean,
    note: RiskReason | null,
  ): RiskChange | null {
    const score = this.score(s, now);
    const prev = s.level;
    const prevState = s.state;
    let level = prev;
    if (nextState === 'confirmedCompromised') {
      s.score = 1;
      level = 'high';
    } else {
      s.score = score;
      let up = 0;
      for (let r = 3; r > 0; r--) {
        if (score >= this.enter[r]!) {
          up = r;
          break;
        }
      }
      const cur = RANK[prev];
      if (up > cur) level = LEVELS[up]!;
      else if (cur > 0 && score < this.exit[cur]! && (force || now - s.raised_at >= this.o.minHoldMs)) {
        let r = cur - 1;
        while (r > 0 && score < this.exit[r]!) r--;
        level = LEVELS[Math.max(r, up)]!;
      }
    }
    let state: RiskState;
    if (nextState === 'confirmedCompromised') state = nextState;
    else if (level !== 'none') state = 'atRisk';
    else if (prev !== 'none') state = force ? 'remediated' : 'none';
    else state = prevState;
    if (level === prev && state === prevState) return null;
    if (RANK[level] > RANK[prev]) s.raised_at = now;
    s.level = level;
    s.state = state;
    return this.change(s, now, prev, note);
  }

  private adminChange(s: AgentRiskState, a: AdminAction, state: RiskState): RiskChange {
    const prev = s.level;
    if (a.time > s.at) s.at = a.time;
    s.state = state;
    if (state === 'confirmedCompromised') {
      s.level = 'high';
      s.score = 1;
    } else {
      s.level = 'none';
      s.score = 0;
    }
    s.raised_at = a.time;
    return this.change(s, a.time, prev, null);
  }

  private change(s: AgentRiskState, now: number, prev: RiskLevel, note: RiskReason | null): RiskChange {
    if (s.level !== prev) {
      this.levelChanges++;
      if (s.level === 'none') this.leveled.delete(s);
      else this.leveled.add(s);
    }
    s.seq++;
    s.updated_at = now;
    return {
      tenant_id: s.tenant_id,
      agent_id: s.agent_id,
      time: now,
      level: s.level,
      previous_level: prev,
      score: s.score,
      state: s.state,
      reasons: this.reasons(s, now, note),
      change_id: `${s.tenant_id}/${s.agent_id}/${now}/${s.seq}`,
    };
  }
}

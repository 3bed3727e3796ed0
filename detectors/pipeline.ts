// The detection pipeline: every event goes through the agent directory, the
// user-risk table, each detector and the risk engine, in arrival order and in
// event time. Deterministic: the same events in the same order give the same
// detections and risk changes, live or replayed.
//
// Event time drives everything: the watermark is the highest event time seen
// minus the allowed lateness (60 s); detectors' `advance` runs each time the
// watermark crosses a step (10 s), risk decays each minute of watermark, and
// idle state is evicted every 10 minutes of watermark.

import type { AgentEvent, EventType, RiskLevel } from '../contract/events.js';
import type { AdminAction, Detection, RiskChange } from './types.js';
import type { Detector, DetectorContext } from './detector.js';
import { AgentDirectory, TenantMap, type AgentRecord, type SlotContext, type Timed } from './agent-directory.js';
import { RiskEngine, type AgentRisk, type EngineOptions, type EngineSnapshot } from './engine.js';
import { createCatalogue } from './catalogue.js';
import { ALLOWED_LATENESS_MS, identityKey, type AgentInfo } from './detector.js';

export interface PipelineOptions {
  /** Detectors to run; default: the full catalogue. */
  detectors?: Detector[];
  /** Events may arrive up to this much out of event-time order (ms). */
  allowedLatenessMs?: number;
  /** Detectors' `advance` runs each time the watermark crosses a multiple of this (ms). */
  advanceStepMs?: number;
  /** Risk decay is applied each time the watermark crosses a multiple of this (ms). */
  decayStepMs?: number;
  /** Idle state is evicted each time the watermark crosses a multiple of this (ms). */
  evictEveryMs?: number;
  /** State idle for longer than this (event time) is forgotten (ms). */
  idleHorizonMs?: number;
  /** Risk engine options, or an engine to use. */
  engine?: EngineOptions | RiskEngine;
  /** Cap on agents in the directory. */
  maxAgents?: number;
  /**
   * Skip an event whose event_id is one of its agent's latest few (a
   * redelivery by an at-least-once producer); default true.
   */
  dedupe?: boolean;
}

export interface PipelineOutput {
  detections: Detection[];
  riskChanges: RiskChange[];
}

export interface PipelineStats {
  events: number;
  /** Events skipped as redeliveries of one seen before (same tenant_id and event_id). */
  duplicateEvents: number;
  /** Events older than the watermark when they arrived (later than the allowed lateness). */
  lateEvents: number;
  detections: number;
  riskChanges: number;
  /** Agents in the directory. */
  trackedAgents: number;
  /** Users with a known risk level. */
  trackedUsers: number;
  /** Agents the risk engine holds state for / at level low or above. */
  riskAgents: number;
  riskyAgents: number;
  /** Keys held by each detector. */
  keysPerDetector: Record<string, number>;
  watermark: number | null;
  maxEventTime: number | null;
}

export interface PipelineSnapshot {
  version: 1;
  maxTime: number;
  nextAdvance: number;
  nextDecay: number;
  nextEvict: number;
  counters: { events: number; lateEvents: number; detections: number; riskChanges: number; duplicateEvents?: number };
  directory: AgentInfo[];
  users: [string, string, UserRiskEntry][];
  engine: EngineSnapshot;
  detectors: Record<string, unknown>;
}

interface UserRiskEntry extends Timed {
  level: RiskLevel;
  time: number;
}

const DEFAULTS = {
  allowedLatenessMs: ALLOWED_LATENESS_MS,
  advanceStepMs: 10_000,
  decayStepMs: 60_000,
  evictEveryMs: 60 * 60_000,
  idleHorizonMs: 3 * 24 * 3600_000,
  maxAgents: 2_000_000,
};

export class DetectionPipeline {
  readonly engine: RiskEngine;
  readonly directory: AgentDirectory;
  private readonly list: Detector[];
  /** Per event type, the detectors that act on it, in catalogue order. */
  private readonly signinList: Detector[];
  private readonly tokenList: Detector[];
  private readonly networkList: Detector[];
  private readonly userRiskList: Detector[];
  private readonly lifecycleList: Detector[];
  private readonly o: typeof DEFAULTS;
  private readonly users = new TenantMap<UserRiskEntry>();
  private readonly ctx: SlotContext;
  /** The current event's agent record: ctx.agent() for it costs no lookup. */
  private curTenant: string | null = null;
  private curAgent: string | null = null;
  private curRecord: AgentRecord | undefined = undefined;
  /** While the detectors evict (see deferSlotEviction in the context). */
  private evicting = false;
  private maxTime = -Infinity;
  private wm = -Infinity;
  private nextAdvance = -Infinity;
  private nextDecay = -Infinity;
  private nextEvict = -Infinity;
  private counters = { events: 0, lateEvents: 0, detections: 0, riskChanges: 0, duplicateEvents: 0 };

  constructor(options: PipelineOptions = {}) {
    this.o = {
      allowedLatenessMs: options.allowedLatenessMs ?? DEFAULTS.allowedLatenessMs,
      advanceStepMs: options.advanceStepMs ?? DEFAULTS.advanceStepMs,
      decayStepMs: options.decayStepMs ?? DEFAULTS.decayStepMs,
      evictEveryMs: options.evictEveryMs ?? DEFAULTS.evictEveryMs,
      idleHorizonMs: options.idleHorizonMs ?? DEFAULTS.idleHorizonMs,
      maxAgents: options.maxAgents ?? DEFAULTS.maxAgents,
    };
    this.list = options.detectors ?? createCatalogue();
    const ids = new Set<string>();
    for (const d of this.list) {
      if (ids.has(d.meta.id)) throw new Error(`duplicate detector id ${d.meta.id}`);
      ids.add(d.meta.id);
    }
    const forType = (type: EventType) => this.list.filter((d) => d.types === undefined || d.types.includes(type));
    this.signinList = forType('signin');
    this.tokenList = forType('token');
    this.networkList = forType('network');
    this.userRiskList = forType('user_risk');
    this.lifecycleList = forType('lifecycle');
    this.engine = options.engine instanceof RiskEngine ? options.engine : new RiskEngine(options.engine ?? {});
    this.directory = new AgentDirectory(this.o.maxAgents);
    this.directory.dedupe = options.dedupe ?? true;
    const directory = this.directory;
    const engine = this.engine;
    // A sponsor appointed by an actor at risk (a user, or an agent of the tenant the engine rates) vouches for nothing.
    directory.riskyActor = (t, actor) => {
      const user = this.userRisk(t, actor);
      if (user === 'medium' || user === 'high') return true;
      const agent = engine.level(t, actor);
      return agent === 'medium' || agent === 'high';
    };
    this.ctx = {
      agent: (t, a) => (a === this.curAgent && t === this.curTenant ? this.curRecord : directory.get(t, a)),
      previousLastSeen: (t, a) => directory.previousLastSeen(t, a),
      userRisk: (t, u) => this.userRisk(t, u),
      agentRisk: (t, a) => engine.level(t, a),
      riskChangeCount: () => engine.changeCount,
      watermark: () => this.wm,
      slot: (owner) => directory.slotOf(owner),
      forEachRecord: (fn) => directory.forEachRecord(fn),
      groupSlot: (owner) => directory.groupSlotOf(owner),
      current: () => this.curRecord,
      groupRecord: (r) => directory.groupRecordOf(r),
      deferSlotEviction: (owner) => {
        if (!this.evicting) return false;
        directory.deferSlotEviction(owner);
        return true;
      },
    };
  }

  /** The detectors this pipeline runs, in order. */
  get detectors(): readonly Detector[] {
    return this.list;
  }

  /** The context detectors see (read-only views of the directory, user risk, engine and watermark). */
  get context(): DetectorContext {
    return this.ctx;
  }

  /** Runs one event through the pipeline: its detections, then the risk changes they (and the passage of time) cause. */
  process(event: AgentEvent): PipelineOutput {
    const out: PipelineOutput = { detections: [], riskChanges: [] };
    this.step(event, out);
    return out;
  }

  /** Runs one event, appending its outputs to `out` (no allocation when nothing fires). */
  processInto(event: AgentEvent, out: PipelineOutput): PipelineOutput {
    this.step(event, out);
    return out;
  }

  /** Runs many events, appending every output to one pair of arrays (to `out` when given). */
  processBatch(events: Iterable<AgentEvent>, out: PipelineOutput = { detections: [], riskChanges: [] }): PipelineOutput {
    for (const e of events) this.step(e, out);
    return out;
  }

  /**
   * End of input (replay): no more events will come, so the watermark moves to
   * the highest event time seen and windows waiting on it are closed.
   */
  flush(out: PipelineOutput = { detections: [], riskChanges: [] }): PipelineOutput {
    if (this.maxTime === -Infinity) return out;
    this.wm = this.maxTime;
    this.advanceTo(this.wm, out, true);
    return out;
  }

  /**
   * End of a replay (after `flush`): what waits for event time to pass (a
   * medium waiting to see whether the blueprint follows the agent, an
   * orphan's grace period, a token use waiting for its late token event) is
   * decided as if the stream had gone quiet, dated when it was due. An
   * input that ends minutes after an attack still reports it; a live stream
   * never ends, and never settles.
   */
  settle(out: PipelineOutput = { detections: [], riskChanges: [] }): PipelineOutput {
    for (const d of this.list) {
      if (!d.settle) continue;
      const ds = d.settle(this.ctx);
      if (ds.length !== 0) this.ingest(ds, out);
    }
    return out;
  }

  applyAdminAction(action: AdminAction): RiskChange {
    const change = this.engine.applyAdminAction(action);
    this.counters.riskChanges++;
    return change;
  }

  risk(tenantId: string, agentId: string): AgentRisk | undefined {
    return this.engine.get(tenantId, agentId);
  }

  level(tenantId: string, agentId: string): RiskLevel {
    return this.engine.level(tenantId, agentId);
  }

  /** Every agent at level low or above. */
  risks(): IterableIterator<AgentRisk> {
    return this.engine.risky();
  }

  /**
   * Starts a user's risk from what is stored (a restart): the level of the
   * user's latest user-risk event, unless this pipeline already knows a
   * newer one. Agents acting for a risky user inherit it again from their
   * next on-behalf-of sign-in.
   */
  seedUserRisk(tenantId: string, userId: string, level: RiskLevel, time: number): void {
    const key = identityKey(userId);
    const u = this.users.get(tenantId, key);
    if (u === undefined) this.users.set(tenantId, key, { at: time, level, time });
    else if (time > u.time) {
      u.level = level;
      u.time = time;
      u.at = Math.max(u.at, time);
    }
  }

  userRisk(tenantId: string, userId: string): RiskLevel {
    return this.users.get(tenantId, identityKey(userId))?.level ?? 'none';
  }

  watermark(): number {
    return this.wm;
  }

  /** Events skipped so far as redeliveries. */
  get duplicateEvents(): number {
    return this.counters.duplicateEvents;
  }

  stats(): PipelineStats {
    const keysPerDetector: Record<string, number> = {};
    for (const d of this.list) keysPerDetector[d.meta.id] = d.size();
    let risky = 0;
    for (const _ of this.engine.risky()) risky++;
    return {
      ...this.counters,
      trackedAgents: this.directory.size,
      trackedUsers: this.users.size,
      riskAgents: this.engine.size,
      riskyAgents: risky,
      keysPerDetector,
      watermark: Number.isFinite(this.wm) ? this.wm : null,
      maxEventTime: Number.isFinite(this.maxTime) ? this.maxTime : null,
    };
  }

  snapshot(): PipelineSnapshot {
    const detectors: Record<string, unknown> = {};
    for (const d of this.list) detectors[d.meta.id] = d.snapshot();
    return {
      version: 1,
      maxTime: this.maxTime,
      nextAdvance: this.nextAdvance,
      nextDecay: this.nextDecay,
      nextEvict: this.nextEvict,
      counters: { ...this.counters },
      directory: this.directory.snapshot(),
      users: this.users.snapshot().map(([t, u, v]) => [t, u, { ...v }]),
      engine: this.engine.snapshot(),
      detectors,
    };
  }

  /**
   * The same as `snapshot()`, taken a part at a time (the directory, the
   * users, the engine, each detector) with `pause()` awaited between parts,
   * so that a large state does not hold the event loop for its whole time.
   * The caller must not process events until it resolves.
   */
  async snapshotInParts(pause: () => Promise<void>): Promise<PipelineSnapshot> {
    const head = {
      version: 1 as const,
      maxTime: this.maxTime,
      nextAdvance: this.nextAdvance,
      nextDecay: this.nextDecay,
      nextEvict: this.nextEvict,
      counters: { ...this.counters },
    };
    const directory = this.directory.snapshot();
    await pause();
    const users = this.users.snapshot().map(([t, u, v]): [string, string, UserRiskEntry] => [t, u, { ...v }]);
    const engine = this.engine.snapshot();
    await pause();
    const detectors: Record<string, unknown> = {};
    for (const d of this.list) {
      detectors[d.meta.id] = d.snapshot();
      await pause();
    }
    return { ...head, directory, users, engine, detectors };
  }

  restore(s: PipelineSnapshot): void {
    if (s.version !== 1) throw new Error(`unsupported pipeline snapshot version ${String(s.version)}`);
    // JSON turns -Infinity into null: map it back.
    const num = (x: number | null) => (typeof x === 'number' ? x : -Infinity);
    this.maxTime = num(s.maxTime);
    this.wm = this.maxTime - this.o.allowedLatenessMs;
    this.nextAdvance = num(s.nextAdvance);
    this.nextDecay = num(s.nextDecay);
    this.nextEvict = num(s.nextEvict);
    this.counters = { ...s.counters, duplicateEvents: s.counters.duplicateEvents ?? 0 };
    this.directory.restore(s.directory);
    this.curTenant = this.curAgent = null;
    this.curRecord = undefined;
    this.users.restore(s.users.map(([t, u, v]) => [t, identityKey(u), { ...v }]));
    this.engine.restore(s.engine);
    for (const d of this.list) {
      const snap = s.detectors[d.meta.id];
      if (snap !== undefined) d.restore(snap);
    }
  }

  // -------------------------------------------------------------------------

  private step(e: AgentEvent, out: PipelineOutput): void {
    const t = e.time;
    let rec: AgentRecord | undefined;
    if (e.type !== 'user_risk') {
      rec = this.directory.observe(e);
      // A redelivered event changes nothing: not the watermark, not a count, not a baseline.
      // (A user-risk event is a level at a time: setting it twice is setting it once.)
      if (this.directory.redelivered) {
        this.counters.duplicateEvents++;
        return;
      }
    }
    this.counters.events++;
    if (t > this.maxTime) {
      this.maxTime = t;
      this.wm = t - this.o.allowedLatenessMs;
      if (this.nextAdvance === -Infinity) this.initSchedules();
    } else if (t < this.wm) {
      this.counters.lateEvents++;
    }

    let userChanged = false;
    if (e.type === 'user_risk') {
      const key = identityKey(e.user_id);
      const u = this.users.get(e.tenant_id, key);
      if (!u) {
        this.users.set(e.tenant_id, key, { at: t, level: e.level, time: t });
        userChanged = e.level !== 'none';
      } else if (t >= u.time) {
        userChanged = u.level !== e.level;
        u.level = e.level;
        u.time = t;
        u.at = t;
      }
    } else {
      this.curRecord = rec;
      this.curTenant = e.tenant_id;
      this.curAgent = e.agent_id;
    }

    const ctx = this.ctx;
    const list = this.listFor(e.type);
    for (let i = 0; i < list.length; i++) {
      const ds = list[i]!.observe(e, ctx);
      if (ds.length !== 0) this.ingest(ds, out);
    }

    this.curTenant = null;
    this.curAgent = null;
    this.curRecord = undefined;

    if (userChanged && e.type === 'user_risk') {
      const changes = this.engine.userRiskChanged(e.tenant_id, e.user_id, e.level, t);
      for (const c of changes) out.riskChanges.push(c);
      this.counters.riskChanges += changes.length;
    }

    if (this.wm >= this.nextAdvance) this.advanceTo(this.wm, out, false);
  }

  private listFor(type: EventType): Detector[] {
    switch (type) {
      case 'network':
        return this.networkList;
      case 'signin':
        return this.signinList;
      case 'token':
        return this.tokenList;
      case 'lifecycle':
        return this.lifecycleList;
      default:
        return this.userRiskList;
    }
  }

  private initSchedules(): void {
    const wm = this.wm;
    this.nextAdvance = Math.floor(wm / this.o.advanceStepMs) * this.o.advanceStepMs + this.o.advanceStepMs;
    this.nextDecay = Math.floor(wm / this.o.decayStepMs) * this.o.decayStepMs + this.o.decayStepMs;
    this.nextEvict = Math.floor(wm / this.o.evictEveryMs) * this.o.evictEveryMs + this.o.evictEveryMs;
  }

  private ingest(ds: Detection[], out: PipelineOutput): void {
    for (const d of ds) {
      out.detections.push(d);
      this.counters.detections++;
      const c = this.engine.ingest(d);
      if (c) {
        out.riskChanges.push(c);
        this.counters.riskChanges++;
      }
    }
  }

  private advanceTo(wm: number, out: PipelineOutput, force: boolean): void {
    if (force || wm >= this.nextAdvance) {
      for (const d of this.list) {
        if (!d.advance) continue;
        const ds = d.advance(wm, this.ctx);
        if (ds.length !== 0) this.ingest(ds, out);
      }
      this.nextAdvance = Math.floor(wm / this.o.advanceStepMs) * this.o.advanceStepMs + this.o.advanceStepMs;
    }
    if (force || wm >= this.nextDecay) {
      const changes = this.engine.tick(wm);
      for (const c of changes) out.riskChanges.push(c);
      this.counters.riskChanges += changes.length;
      this.nextDecay = Math.floor(wm / this.o.decayStepMs) * this.o.decayStepMs + this.o.decayStepMs;
    }
    if (wm >= this.nextEvict) {
      const before = wm - this.o.idleHorizonMs;
      // The detectors' states attached to directory records go in the directory's one pass (see deferSlotEviction).
      this.evicting = true;
      try {
        for (const d of this.list) d.evict(before);
      } finally {
        this.evicting = false;
      }
      this.directory.evict(before);
      this.engine.evict(before);
      this.users.evict(before, (u) => u.level === 'medium' || u.level === 'high');
      this.nextEvict = Math.floor(wm / this.o.evictEveryMs) * this.o.evictEveryMs + this.o.evictEveryMs;
    }
  }
}

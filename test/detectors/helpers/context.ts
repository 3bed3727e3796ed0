// Test helpers for detectors: a fake DetectorContext and small event builders.
//
// The fake context keeps AgentInfo the way the pipeline does (it runs the real
// AgentDirectory over the events passed to `apply`), and lets a test override
// anything by hand: an agent's info, its previous last-seen, user and agent
// risk levels, the watermark. `feed` runs events through a detector the way
// the pipeline does (apply to the context, observe, then advance when the
// watermark moves) and returns every detection.
//
// The event builders (see events.ts) default to tenant t1, agent a1,
// blueprint bp1 at T0.

import type { AgentEvent, RiskLevel } from '../../../contract/events.js';
import { AgentDirectory } from '../../../detectors/agent-directory.js';
import { agentKey, type AgentInfo, type Detector, type DetectorContext } from '../../../detectors/detector.js';
import type { Detection } from '../../../detectors/types.js';
import { AGENT, BLUEPRINT, eventBuilders, SEC, TENANT } from './events.js';

export { SEC, MIN, HOUR, DAY, TENANT, AGENT, BLUEPRINT } from './events.js';
/** Allowed lateness of the pipeline (events may arrive this much out of order). */
export const LATENESS_MS = 60 * SEC;
/** Default event time of the builders: Monday 2025-01-06 12:00:00 UTC. */
export const T0 = Date.UTC(2025, 0, 6, 12, 0, 0);

export const { resetIds, signin, token, network, lifecycle, userRisk } = eventBuilders({ time: T0 });

/** A complete AgentInfo with defaults (tenant t1, agent a1, blueprint bp1, seen at T0). */
export function agentInfo(o: Partial<AgentInfo> = {}): AgentInfo {
  return {
    tenant_id: TENANT,
    agent_id: AGENT,
    blueprint_id: BLUEPRINT,
    first_seen: T0,
    last_seen: T0,
    created_seen: false,
    sponsors: [],
    self_sponsored: [],
    credentials_added: [],
    permissions_granted: [],
    deleted: false,
    disabled: false,
    ...o,
  };
}

export interface FakeContextOptions {
  /** Allowed lateness subtracted from the highest event time to give the watermark (default 60 s). */
  latenessMs?: number;
}

/**
 * A DetectorContext for tests. Agent info comes from overrides set with
 * `setAgent`, else from the real AgentDirectory fed by `apply`. Risk tables
 * default to 'none'. The watermark is the highest applied event time minus the
 * lateness unless set with `setWatermark`.
 */
export class FakeContext implements DetectorContext {
  readonly directory = new AgentDirectory();
  readonly agents = new Map<string, AgentInfo>();
  readonly previous = new Map<string, number | undefined>();
  readonly userRisks = new Map<string, RiskLevel>();
  readonly agentRisks = new Map<string, RiskLevel>();
  maxTime = -Infinity;
  private wmOverride: number | undefined;
  private readonly latenessMs: number;

  constructor(options: FakeContextOptions = {}) {
    this.latenessMs = options.latenessMs ?? LATENESS_MS;
  }

  agent(tenantId: string, agentId: string): AgentInfo | undefined {
    return this.agents.get(agentKey(tenantId, agentId)) ?? this.directory.get(tenantId, agentId);
  }

  previousLastSeen(tenantId: string, agentId: string): number | undefined {
    const k = agentKey(tenantId, agentId);
    if (this.previous.has(k)) return this.previous.get(k);
    return this.directory.previousLastSeen(tenantId, agentId);
  }

  userRisk(tenantId: string, userId: string): RiskLevel {
    return this.userRisks.get(agentKey(tenantId, userId)) ?? 'none';
  }

  agentRisk(tenantId: string, agentId: string): RiskLevel {
    return this.agentRisks.get(agentKey(tenantId, agentId)) ?? 'none';
  }

  watermark(): number {
    return this.wmOverride ?? this.maxTime - this.latenessMs;
  }

  /** Overrides an agent's info (merged over defaults, keyed by its tenant and agent id). */
  setAgent(info: Partial<AgentInfo>): AgentInfo {
    const full = agentInfo(info);
    this.agents.set(agentKey(full.tenant_id, full.agent_id), full);
    return full;
  }

  /** Overrides previousLastSeen for an agent (undefined = unknown agent). */
  setPreviousLastSeen(tenantId: string, agentId: string, time: number | undefined): void {
    this.previous.set(agentKey(tenantId, agentId), time);
  }

  setUserRisk(tenantId: string, userId: string, level: RiskLevel): void {
    this.userRisks.set(agentKey(tenantId, userId), level);
  }

  setAgentRisk(tenantId: string, agentId: string, level: RiskLevel): void {
    this.agentRisks.set(agentKey(tenantId, agentId), level);
  }

  /** Fixes the watermark (undefined: back to highest event time − lateness). */
  setWatermark(ms: number | undefined): void {
    this.wmOverride = ms;
  }

  /** Updates the context with an event as the pipeline would before detectors see it. */
  apply(e: AgentEvent): void {
    if (e.time > this.maxTime) this.maxTime = e.time;
    if (e.type === 'user_risk') this.userRisks.set(agentKey(e.tenant_id, e.user_id), e.level);
    this.directory.observe(e);
  }
}

export function fakeContext(options: FakeContextOptions = {}): FakeContext {
  return new FakeContext(options);
}

export interface FeedOptions {
  /** Call `advance` whenever the watermark moves (default true). */
  advance?: boolean;
}

/**
 * Runs events through a detector in the given (arrival) order, like the
 * pipeline: each event is applied to the context, observed, and then, when
 * the watermark has moved, `advance` is called. Returns every detection.
 */
export function feed(detector: Detector, ctx: FakeContext, events: readonly AgentEvent[], options: FeedOptions = {}): Detection[] {
  const out: Detection[] = [];
  const advance = options.advance !== false && detector.advance !== undefined;
  let lastWm = ctx.watermark();
  for (const e of events) {
    ctx.apply(e);
    for (const d of detector.observe(e, ctx)) out.push(d);
    const wm = ctx.watermark();
    if (advance && wm > lastWm) {
      lastWm = wm;
      for (const d of detector.advance!(wm, ctx)) out.push(d);
    }
  }
  return out;
}

/** Moves the watermark to `wm` and calls `advance` (no-op for detectors without it). */
export function advanceTo(detector: Detector, ctx: FakeContext, wm: number): Detection[] {
  ctx.setWatermark(wm);
  const out = detector.advance ? detector.advance(wm, ctx) : [];
  ctx.setWatermark(undefined);
  return out;
}

/**
 * Snapshot/restore check: runs `events` through one detector uninterrupted,
 * and through a second one that is snapshotted after `split` events (through
 * JSON), restored into a fresh detector and fed the rest. Returns both lists
 * of detections (those after the split) for the test to compare.
 */
export function runWithRestore(
  create: () => Detector,
  events: readonly AgentEvent[],
  split: number,
  options: FeedOptions = {},
): { uninterrupted: Detection[]; restored: Detection[]; snapshotJson: string } {
  const head = events.slice(0, split);
  const tail = events.slice(split);
  const a = create();
  const ctxA = fakeContext();
  feed(a, ctxA, head, options);
  const uninterrupted = feed(a, ctxA, tail, options);

  const b = create();
  const ctxB = fakeContext();
  feed(b, ctxB, head, options);
  const snapshotJson = JSON.stringify(b.snapshot());
  const c = create();
  c.restore(JSON.parse(snapshotJson));
  const restored = feed(c, ctxB, tail, options);
  return { uninterrupted, restored, snapshotJson };
}

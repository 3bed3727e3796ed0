// Findings that wait for event time to pass before they are decided: a
// confirmation window (did the blueprint follow the agent to its new place,
// resource or network?), a grace period (was a sponsor added?). At most one
// per agent, decided in arrival order once the watermark reaches their due
// time; kept in snapshots; forgotten when long overdue.

import type { Detection } from './types.js';
import { agentKey } from './detector.js';
import { NO_DETECTIONS, clone } from './agent-directory.js';

/** What a waiting finding carries at least: its agent and when it is decided. */
export interface DueItem {
  tenant_id: string;
  agent_id: string;
  /** Event time (epoch ms) from which it is decided. */
  due: number;
}

export class DueQueue<P extends DueItem> {
  /** By agentKey, in insertion order (roughly due order: every item waits about as long). */
  private readonly items = new Map<string, P>();

  constructor(private readonly max = Infinity) {}

  get size(): number {
    return this.items.size;
  }

  has(tenant: string, agent: string): boolean {
    return this.items.has(agentKey(tenant, agent));
  }

  /** The agent's waiting finding, if any (its fields may be changed in place, its due time too). */
  get(tenant: string, agent: string): P | undefined {
    return this.items.get(agentKey(tenant, agent));
  }

  /** Adds `p` unless its agent already waits (the first finding stands) or the queue is full; true when added. */
  add(p: P): boolean {
    const k = agentKey(p.tenant_id, p.agent_id);
    if (this.items.has(k) || this.items.size >= this.max) return false;
    this.items.set(k, p);
    return true;
  }

  /** Puts `p` in place of its agent's waiting finding, at the back; when full, the oldest goes. */
  replace(p: P): void {
    const k = agentKey(p.tenant_id, p.agent_id);
    this.items.delete(k);
    if (this.items.size >= this.max) this.items.delete(this.items.keys().next().value as string);
    this.items.set(k, p);
  }

  delete(tenant: string, agent: string): void {
    this.items.delete(agentKey(tenant, agent));
  }

  /** Removes every finding due at `watermark` and decides it, in arrival order; returns the detections decided. */
  takeDue(watermark: number, decide: (p: P) => Detection | null): Detection[] {
    if (this.items.size === 0) return NO_DETECTIONS;
    let out: Detection[] | null = null;
    for (const [k, p] of this.items) {
      if (p.due > watermark) continue;
      this.items.delete(k);
      const d = decide(p);
      if (d !== null) (out ??= []).push(d);
    }
    return out ?? NO_DETECTIONS;
  }

  /** Forgets findings due before `before` (state idle past the horizon). */
  evict(before: number): void {
    for (const [k, p] of this.items) if (p.due < before) this.items.delete(k);
  }

  snapshot(): P[] {
    return clone([...this.items.values()]);
  }

  restore(rows: P[] | undefined): void {
    this.items.clear();
    for (const p of clone(rows ?? [])) this.items.set(agentKey(p.tenant_id, p.agent_id), p);
  }
}

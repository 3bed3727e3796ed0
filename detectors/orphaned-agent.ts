// Detector 13 — orphaned-agent: an agent left without a sponsor (accountable
// human), either because its last sponsor was removed or because it was created
// with none and still has none after a grace period. Low: a governance gap
// that makes a compromise more likely to go unnoticed, not an attack.
//
// Candidates wait in a queue until the watermark passes their grace period
// (`advance`), then fire if the agent still exists and still has no sponsor.
// The sponsor list comes from the pipeline's agent directory (ctx.agent).

import type { AgentEvent } from '../contract/events.js';
import type { Detection } from './types.js';
import type { Detector, DetectorContext } from './detector.js';
import { peerGroupName } from './detector.js';
import { NO_DETECTIONS } from './agent-directory.js';
import { DueQueue } from './due-queue.js';

export interface OrphanedAgentOptions {
  /** How long an agent may stay without a sponsor before it is reported (event time). */
  graceMs?: number;
  /** Pending candidates kept at most. */
  maxPending?: number;
}

interface Pending {
  tenant_id: string;
  agent_id: string;
  /** Event time at which it became sponsorless. */
  since: number;
  due: number;
  reason: 'created_without_sponsor' | 'last_sponsor_removed';
  event_id: string;
  actor: string;
}

interface Snapshot {
  pending: Pending[];
}

const DEFAULTS: Required<OrphanedAgentOptions> = { graceMs: 2 * 60_000, maxPending: 200_000 };

export function createOrphanedAgentDetector(options: OrphanedAgentOptions = {}): Detector<Snapshot> {
  const o = { ...DEFAULTS, ...options };
  // A newer reason for the same agent replaces the older one (lifecycle events are rare: one string key per agent is fine).
  const pending = new DueQueue<Pending>(o.maxPending);

  function observe(e: AgentEvent, ctx: DetectorContext): Detection[] {
    if (e.type !== 'lifecycle') return NO_DETECTIONS;
    const info = ctx.agent(e.tenant_id, e.agent_id);
    if (!info) return NO_DETECTIONS;
    const t = e.time;
    switch (e.action) {
      case 'created':
        if (info.sponsors.length === 0)
          pending.replace({ tenant_id: e.tenant_id, agent_id: e.agent_id, since: t, due: t + o.graceMs, reason: 'created_without_sponsor', event_id: e.event_id, actor: e.actor });
        break;
      case 'sponsor_removed':
        if (info.sponsors.length === 0)
          pending.replace({ tenant_id: e.tenant_id, agent_id: e.agent_id, since: t, due: t + o.graceMs, reason: 'last_sponsor_removed', event_id: e.event_id, actor: e.actor });
        break;
      case 'sponsor_added':
      case 'deleted':
        pending.delete(e.tenant_id, e.agent_id);
        break;
      default:
        break;
    }
    return NO_DETECTIONS;
  }

  /** An agent whose grace period ended: reported unless it got a sponsor or was deleted meanwhile. */
  function decide(p: Pending, ctx: DetectorContext): Detection | null {
    const info = ctx.agent(p.tenant_id, p.agent_id);
    if (!info || info.deleted || info.sponsors.length > 0) return null;
    const minutes = Math.round((p.due - p.since) / 60_000);
    return {
      detector: 'orphaned-agent',
      severity: 'low',
      tenant_id: p.tenant_id,
      agent_id: p.agent_id,
      time: p.due,
      summary:
        p.reason === 'created_without_sponsor'
          ? `Agent ${p.agent_id} was created by ${p.actor} without a sponsor and still has none after ${minutes} min`
          : `Agent ${p.agent_id} has had no sponsor for ${minutes} min since ${p.actor} removed its last one`,
      evidence: {
        observed: { sponsors: 0, reason: p.reason, since: new Date(p.since).toISOString() },
        baseline: 'every agent has at least one sponsor',
        threshold: { grace_s: o.graceMs / 1000 },
        peer_group: peerGroupName(info.blueprint_id),
        actor: p.actor,
      },
      event_ids: [p.event_id],
    };
  }

  function advance(watermark: number, ctx: DetectorContext): Detection[] {
    return pending.takeDue(watermark, (p) => decide(p, ctx));
  }

  return {
    types: ['lifecycle'] as const,
    meta: {
      id: 'orphaned-agent',
      title: 'Orphaned agent (no sponsor)',
      severity: 'low',
      description:
        'An agent whose last sponsor was removed, or that was created without a sponsor, and that still has no sponsor after a grace period (2 min of event time). Deleted agents are not reported.',
      mitre: { id: 'T1098', name: 'Account Manipulation' },
    },
    observe,
    advance,
    settle: (ctx) => pending.takeDue(Infinity, (p) => decide(p, ctx)),
    evict(before) {
      pending.evict(before);
    },
    size: () => pending.size,
    snapshot: () => ({ pending: pending.snapshot() }),
    restore(s) {
      pending.restore(s.pending);
    },
  };
}

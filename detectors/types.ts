// The detection model shared by every detector, the risk engine and the stages
// after them (store, publish, api). Detectors are pure and driven by event time.

import type { AgentEvent, RiskLevel } from '../contract/events.js';

export type Severity = 'low' | 'medium' | 'high';

export interface DetectorMeta {
  /** Stable identifier, kebab-case, e.g. `unfamiliar-resource`. */
  id: string;
  title: string;
  severity: Severity;
  description: string;
  /** MITRE ATT&CK technique where one fits, e.g. { id: 'T1078.004', name: 'Valid Accounts: Cloud Accounts' }. */
  mitre?: { id: string; name: string };
}

/** Why a detection fired, in numbers an analyst can check. */
export interface Evidence {
  /** What was seen (a value, a set member, a rate...). */
  observed: unknown;
  /** What it was compared with (the agent's and/or peers' baseline). */
  baseline: unknown;
  /** The threshold that was crossed. */
  threshold: unknown;
  /** The peer group the baseline came from, e.g. `blueprint:bp-1`; null when none. */
  peer_group: string | null;
  [key: string]: unknown;
}

export interface Detection {
  detector: string;
  severity: Severity;
  tenant_id: string;
  agent_id: string;
  /** Event time of the detection (epoch ms): the time of the event that completed it. */
  time: number;
  /** One line a human can read. */
  summary: string;
  evidence: Evidence;
  /** Ids of the events behind it. */
  event_ids: string[];
}

export type RiskState = 'none' | 'atRisk' | 'confirmedCompromised' | 'confirmedSafe' | 'dismissed' | 'remediated';

export interface RiskReason {
  detector: string;
  severity: Severity;
  summary: string;
}

export interface RiskChange {
  tenant_id: string;
  agent_id: string;
  /** Event time of the change (epoch ms). */
  time: number;
  level: RiskLevel;
  previous_level: RiskLevel;
  score: number;
  state: RiskState;
  reasons: RiskReason[];
  /** Stable id of this change (tenant, agent, sequence), for idempotent publication downstream. */
  change_id: string;
}

export type AdminActionKind = 'confirm_compromised' | 'confirm_safe' | 'dismiss';

export interface AdminAction {
  action_id: string;
  tenant_id: string;
  agent_id: string;
  action: AdminActionKind;
  actor: string;
  reason: string;
  time: number;
}

export type { AgentEvent };

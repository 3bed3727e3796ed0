// Risk changes as CAEP `risk-level-change` Security Event Tokens (RFC 8417,
// OpenID CAEP 1.0, OpenID SSF 1.0).
//
// Level mapping (CAEP levels are LOW, MEDIUM, HIGH; there is no NONE):
//   low → LOW, medium → MEDIUM, high → HIGH, none → LOW.
// - `previous_level` is omitted when the previous level is none (CAEP: an
//   omitted previous level means "unknown to the transmitter", which is what
//   "no risk assessed" amounts to for the receiver).
// - A return to none is sent as `current_level: "LOW"` (the floor of the CAEP
//   scale) with `risk_reason` saying why the risk ended: `remediated`,
//   `dismissed`, `confirmed_safe`, or `risk_expired` (decayed without
//   action). A receiver that treats LOW as "no restriction" needs nothing else;
//   one that must tell "low risk" from "no risk" reads `risk_reason` or the
//   extension member `riskstream_level` ("none").
// See docs/publish.md for the reasoning.

import { createHash } from 'node:crypto';
import { SignJWT, type JWTPayload } from 'jose';
import type { RiskLevel } from '../../contract/events.js';
import type { RiskChange } from '../../detectors/types.js';
import type { SsfSigningKey } from './signing-key.js';

export const CAEP_RISK_LEVEL_CHANGE = 'https://schemas.openid.net/secevent/caep/event-type/risk-level-change';
export const SSF_VERIFICATION = 'https://schemas.openid.net/secevent/ssf/event-type/verification';
export const SSF_STREAM_UPDATED = 'https://schemas.openid.net/secevent/ssf/event-type/stream-updated';
export const SET_TYP = 'secevent+jwt';

export type CaepLevel = 'LOW' | 'MEDIUM' | 'HIGH';

/** CAEP level of a riskstream level (none → LOW; see the header). */
export function caepLevel(level: RiskLevel): CaepLevel {
  return level === 'high' ? 'HIGH' : level === 'medium' ? 'MEDIUM' : 'LOW';
}

/** The subject of an agent: SSF complex subject, agent as opaque application, tenant as opaque tenant. */
export function agentSubject(tenantId: string, agentId: string) {
  return {
    format: 'complex',
    application: { format: 'opaque', id: agentId },
    tenant: { format: 'opaque', id: tenantId },
  } as const;
}

export interface RiskLevelChangeEvent {
  current_level: CaepLevel;
  previous_level?: CaepLevel;
  principal: 'APPLICATION';
  risk_reason: string;
  event_timestamp: number;
  reason_admin?: { en: string };
  /** Extension: the riskstream level, which may be `none`. */
  riskstream_level: RiskLevel;
  /** Extension: the riskstream state (atRisk, remediated, dismissed...). */
  riskstream_state: RiskChange['state'];
  /** Extension: the risk score behind the level. */
  riskstream_score: number;
}

/** Why the risk level changed, as a short token (CAEP `risk_reason`). */
export function riskReason(change: RiskChange): string {
  if (change.level === 'none') {
    switch (change.state) {
      case 'remediated':
        return 'remediated';
      case 'dismissed':
        return 'dismissed';
      case 'confirmedSafe':
        return 'confirmed_safe';
      default:
        return 'risk_expired';
    }
  }
  if (change.state === 'confirmedCompromised') return 'confirmed_compromised';
  const detectors = [...new Set(change.reasons.map((r) => r.detector))];
  return detectors.length > 0 ? detectors.join(',') : 'risk_score';
}

export function riskLevelChangeEvent(change: RiskChange): RiskLevelChangeEvent {
  const summaries = change.reasons.map((r) => r.summary).filter(Boolean);
  return {
    current_level: caepLevel(change.level),
    ...(change.previous_level !== 'none' && { previous_level: caepLevel(change.previous_level) }),
    principal: 'APPLICATION',
    risk_reason: riskReason(change),
    event_timestamp: Math.floor(change.time / 1000),
    ...(summaries.length > 0 && { reason_admin: { en: summaries.join('; ').slice(0, 1000) } }),
    riskstream_level: change.level,
    riskstream_state: change.state,
    riskstream_score: Math.round(change.score * 1000) / 1000,
  };
}

/** Deterministic jti of the SET of a change on a stream: redelivering the same change gives the same jti. */
export function changeJti(streamId: string, changeId: string): string {
  return createHash('sha256').update(streamId).update('\u0000').update(changeId).digest('base64url').slice(0, 32);
}

/** Signs a SET (JOSE header typ secevent+jwt, RS256, kid). */
export function signSet(key: SsfSigningKey, payload: JWTPayload): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, typ: SET_TYP, kid: key.kid }).sign(key.privateKey);
}

export interface SetContext {
  iss: string;
  aud: string | string[];
  streamId: string;
  /** Issued-at, epoch ms (default now). */
  now?: number;
}

/** The claims of the risk-level-change SET of one change on one stream. */
export function riskLevelChangeClaims(change: RiskChange, ctx: SetContext): JWTPayload {
  return {
    iss: ctx.iss,
    aud: ctx.aud,
    iat: Math.floor((ctx.now ?? Date.now()) / 1000),
    jti: changeJti(ctx.streamId, change.change_id),
    txn: change.change_id,
    sub_id: agentSubject(change.tenant_id, change.agent_id),
    events: { [CAEP_RISK_LEVEL_CHANGE]: riskLevelChangeEvent(change) },
  };
}

/** The claims of a verification SET (SSF 1.0 §8.1.4). */
export function verificationClaims(ctx: SetContext & { jti: string; state?: string | undefined }): JWTPayload {
  return {
    iss: ctx.iss,
    aud: ctx.aud,
    iat: Math.floor((ctx.now ?? Date.now()) / 1000),
    jti: ctx.jti,
    sub_id: { format: 'opaque', id: ctx.streamId },
    events: { [SSF_VERIFICATION]: ctx.state !== undefined ? { state: ctx.state } : {} },
  };
}

// Admin decisions on an agent of the caller's tenant (role admin):
//
//   POST /v1/agents/:id/confirm-compromised   { "reason": "..." }
//   POST /v1/agents/:id/confirm-safe          { "reason": "..." }
//   POST /v1/agents/:id/dismiss               { "reason": "..." }
//
// Each action gets a new action_id and the token's subject as actor; it
// changes the agent's risk through the risk engine (like a detection would),
// and the action and the resulting risk change are written to the ledger in
// one batch (token `admin:<action_id>`) through the pipeline's LedgerWriter,
// then handed to publication like any durable risk change. The answer is the
// agent's new risk.
//
// If the ledger write fails after its retries, the answer is a 500 and the
// change is not published; the engine has already applied it (it has no undo).

import { randomUUID } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import type { AdminAction, AdminActionKind, Detection, RiskChange } from '../../detectors/types.js';
import type { LedgerBatch, WriteResult } from '../../store/ledger-writer.js';
import { HttpError } from '../errors.js';
import { principalOf } from '../plugins/authenticate.js';
import { agentParams, authErrors, riskSchema, timeSchema } from './schemas.js';

export interface AdminActionsOptions {
  /** Applies an action to the live risk engine (DetectionPipeline.applyAdminAction). */
  pipeline: { applyAdminAction(action: AdminAction): RiskChange };
  /** The pipeline's LedgerWriter (one per database: it keeps the hash chain's head). */
  ledger: { writeBatch(batch: LedgerBatch): Promise<WriteResult> };
  /** Hands durable risk changes to publication (what the runner's onDurable does). */
  publish?: (out: { token: string; detections: Detection[]; riskChanges: RiskChange[] }) => Promise<void>;
  /** Clock (epoch ms) for the action time; default Date.now. */
  now?: () => number;
}

const ACTIONS: [path: string, kind: AdminActionKind, summary: string][] = [
  ['confirm-compromised', 'confirm_compromised', 'Confirm an agent compromised: its risk goes to high, state confirmedCompromised'],
  ['confirm-safe', 'confirm_safe', 'Confirm an agent safe: its risk is cleared to none, state confirmedSafe'],
  ['dismiss', 'dismiss', 'Dismiss an agent’s risk: cleared to none, state dismissed'],
];

const responseSchema = {
  type: 'object',
  required: ['action', 'risk', 'change_id', 'previous_level'],
  properties: {
    action: {
      type: 'object',
      required: ['action_id', 'agent_id', 'action', 'actor', 'reason', 'time'],
      properties: {
        action_id: { type: 'string' },
        agent_id: { type: 'string' },
        action: { type: 'string', enum: ['confirm_compromised', 'confirm_safe', 'dismiss'] },
        actor: { type: 'string', description: 'Subject of the bearer token' },
        reason: { type: 'string' },
        time: timeSchema,
      },
    },
    risk: riskSchema,
    change_id: { type: 'string', description: 'The risk change recorded and published' },
    previous_level: { type: 'string', enum: ['none', 'low', 'medium', 'high'] },
  },
} as const;

export const adminRoutes: FastifyPluginAsync<{ admin?: AdminActionsOptions | undefined }> = async (app, { admin }) => {
  for (const [path, kind, summary] of ACTIONS) {
    app.post<{ Params: { id: string }; Body: { reason: string } }>(
      `/agents/:id/${path}`,
      {
        config: { roles: ['admin'] },
        schema: {
          summary,
          tags: ['admin'],
          security: [{ bearer: [] }],
          params: agentParams,
          body: {
            type: 'object',
            required: ['reason'],
            additionalProperties: false,
            properties: { reason: { type: 'string', minLength: 1, maxLength: 1000, pattern: '\\S', description: 'Why (recorded with the action)' } },
          },
          response: { 200: responseSchema, ...authErrors, 503: authErrors[500] },
        },
      },
      async (request) => {
        if (!admin) throw new HttpError(503, 'unavailable', 'admin actions are not available on this server');
        const principal = principalOf(request);
        const action: AdminAction = {
          action_id: randomUUID(),
          tenant_id: principal.tenant,
          agent_id: request.params.id,
          action: kind,
          actor: principal.subject,
          reason: request.body.reason,
          time: Math.trunc((admin.now ?? Date.now)()),
        };
        const change = admin.pipeline.applyAdminAction(action);
        const token = `admin:${action.action_id}`;
        await admin.ledger.writeBatch({ token, adminActions: [action], riskChanges: [change] });
        request.log.info({ action_id: action.action_id, action: kind, agent_id: action.agent_id, level: change.level }, 'admin action recorded');
        try {
          await admin.publish?.({ token, detections: [], riskChanges: [change] });
        } catch (err) {
          // Durable and applied: the caller gets the new state; the risk view
          // picks the change up from the ledger when it is next rebuilt.
          request.log.error({ err, action_id: action.action_id }, 'publishing an admin risk change failed');
        }
        return {
          action: {
            action_id: action.action_id,
            agent_id: action.agent_id,
            action: kind,
            actor: action.actor,
            reason: action.reason,
            time: new Date(action.time).toISOString(),
          },
          risk: {
            level: change.level,
            score: change.score,
            state: change.state,
            reasons: change.reasons,
            updated_at: new Date(change.time).toISOString(),
            source: 'live' as const,
          },
          change_id: change.change_id,
          previous_level: change.previous_level,
        };
      },
    );
  }
};

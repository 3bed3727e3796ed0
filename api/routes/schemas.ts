// JSON schemas shared by the audit and admin routes.

export const errorBody = {
  type: 'object',
  required: ['error', 'message'],
  properties: { error: { type: 'string' }, message: { type: 'string' } },
} as const;

/** Error answers every authenticated route can give. */
export const authErrors = { 400: errorBody, 401: errorBody, 403: errorBody, 429: errorBody, 500: errorBody } as const;

export const agentIdSchema = { type: 'string', minLength: 1, maxLength: 256, description: 'Agent id (object id of the agent identity)' } as const;

export const agentParams = { type: 'object', required: ['id'], additionalProperties: false, properties: { id: agentIdSchema } } as const;

export const timeSchema = { type: 'string', format: 'date-time' } as const;
export const nullableTime = { type: ['string', 'null'], format: 'date-time' } as const;

export const LEVELS = ['none', 'low', 'medium', 'high'] as const;
export const STATES = ['none', 'atRisk', 'confirmedCompromised', 'confirmedSafe', 'dismissed', 'remediated'] as const;
export const SEVERITIES = ['low', 'medium', 'high'] as const;

export const reasonSchema = {
  type: 'object',
  required: ['detector', 'severity', 'summary'],
  properties: {
    detector: { type: 'string', description: 'Detector id, or `admin` for an analyst decision' },
    severity: { type: 'string', enum: [...SEVERITIES] },
    summary: { type: 'string' },
  },
} as const;

/** An agent's current risk, as the audit and admin routes show it. */
export const riskSchema = {
  type: 'object',
  required: ['level', 'score', 'state', 'reasons', 'updated_at', 'source'],
  properties: {
    level: { type: 'string', enum: [...LEVELS] },
    score: { type: 'number', minimum: 0, maximum: 1 },
    state: { type: 'string', enum: [...STATES] },
    reasons: { type: 'array', items: reasonSchema },
    updated_at: { ...nullableTime, description: 'Event time of the latest risk change; null when none is known' },
    source: {
      type: 'string',
      enum: ['live', 'ledger', 'none'],
      description: 'live: the running risk engine; ledger: the latest stored risk change (the engine holds no state for the agent); none: no risk recorded',
    },
  },
} as const;

export const detectionSchema = {
  type: 'object',
  required: ['detection_id', 'detector', 'severity', 'tenant_id', 'agent_id', 'time', 'summary', 'evidence', 'event_ids'],
  properties: {
    detection_id: { type: 'string' },
    detector: { type: 'string' },
    severity: { type: 'string', enum: [...SEVERITIES] },
    tenant_id: { type: 'string' },
    agent_id: { type: 'string' },
    time: timeSchema,
    summary: { type: 'string' },
    evidence: { type: 'object', additionalProperties: true },
    event_ids: { type: 'array', items: { type: 'string' } },
  },
} as const;

// Webhook management routes, registered INSIDE the authenticated /v1 scope.
// Every route admits role admin (by default) and works on the token's tenant.
//
//   POST   /webhooks                  register (the secret is in this answer only)
//   GET    /webhooks                  list
//   GET    /webhooks/:id              one webhook with its delivery status
//   DELETE /webhooks/:id              remove
//   POST   /webhooks/:id/enable       re-enable a disabled webhook
//   GET    /webhooks/:id/deliveries   recent delivery attempts, newest first

import type { FastifyPluginAsync } from 'fastify';
import type { Role } from '../../api/auth.js';
import { principalOf } from '../../api/plugins/authenticate.js';
import type { RegisterWebhookInput, WebhookDispatcher } from './dispatcher.js';
import { WEBHOOK_EVENT_KINDS } from './store.js';

export interface WebhookRoutesOptions {
  dispatcher: WebhookDispatcher;
  roles?: readonly Role[];
}

const errorSchema = {
  type: 'object',
  required: ['error', 'message'],
  properties: { error: { type: 'string' }, message: { type: 'string', description: 'starts with the field at fault, e.g. "url: ..."' } },
} as const;

const nullable = (type: string) => ({ type: [type, 'null'] }) as const;

const lastDeliverySchema = {
  type: ['object', 'null'],
  properties: {
    delivery_id: { type: 'string' },
    event_id: { type: 'string' },
    outcome: { type: 'string' },
    attempts: { type: 'integer' },
    http_status: nullable('integer'),
    last_error: nullable('string'),
    at: { type: 'integer', description: 'epoch ms' },
  },
} as const;

const webhookProperties = {
  id: { type: 'string' },
  tenant_id: { type: 'string' },
  url: { type: 'string' },
  min_level: { type: 'string' },
  events: { type: 'array', items: { type: 'string' } },
  description: nullable('string'),
  enabled: { type: 'boolean' },
  disabled_reason: nullable('string'),
  disabled_at: nullable('integer'),
  consecutive_failures: { type: 'integer' },
  last_delivery: lastDeliverySchema,
  created_at: { type: 'integer', description: 'epoch ms' },
  created_by: { type: 'string' },
} as const;

const webhookSchema = { type: 'object', properties: webhookProperties } as const;

const deliverySchema = {
  type: 'object',
  properties: {
    delivery_id: { type: 'string' },
    webhook_id: { type: 'string' },
    event_id: { type: 'string' },
    event_kind: { type: 'string' },
    url: { type: 'string' },
    attempt: { type: 'integer' },
    outcome: { type: 'string', enum: ['success', 'failure', 'refused'] },
    http_status: nullable('integer'),
    error: nullable('string'),
    duration_ms: { type: 'integer' },
    final: { type: 'boolean' },
    time: { type: 'integer', description: 'epoch ms' },
  },
} as const;

const idParams = {
  type: 'object',
  required: ['id'],
  additionalProperties: false,
  properties: { id: { type: 'string', minLength: 1, maxLength: 64 } },
} as const;

export const webhookRoutes: FastifyPluginAsync<WebhookRoutesOptions> = async (app, { dispatcher, roles = ['admin'] }) => {
  const config = { roles };
  const common = { tags: ['webhooks'], security: [{ bearer: [] }] };
  const errors = { 400: errorSchema, 404: errorSchema } as const;

  app.post<{ Body: RegisterWebhookInput }>(
    '/webhooks',
    {
      config,
      schema: {
        ...common,
        summary: 'Register a remediation webhook (the signing secret is returned once)',
        body: {
          type: 'object',
          required: ['url', 'min_level', 'events'],
          additionalProperties: false,
          properties: {
            url: { type: 'string', minLength: 1, maxLength: 2048, description: 'http(s) URL on the outbound allowlist' },
            min_level: { type: 'string', enum: ['low', 'medium', 'high'] },
            events: { type: 'array', minItems: 1, uniqueItems: true, items: { type: 'string', enum: [...WEBHOOK_EVENT_KINDS] } },
            description: { type: 'string', maxLength: 256 },
          },
        },
        response: { 201: { type: 'object', properties: { ...webhookProperties, secret: { type: 'string' } } }, 400: errorSchema },
      },
    },
    async (request, reply) => {
      const p = principalOf(request);
      const created = await dispatcher.register({ tenant: p.tenant, subject: p.subject }, request.body);
      return reply.code(201).header('cache-control', 'no-store').send(created);
    },
  );

  app.get(
    '/webhooks',
    { config, schema: { ...common, summary: 'Webhooks of the tenant', response: { 200: { type: 'object', properties: { webhooks: { type: 'array', items: webhookSchema } } } } } },
    async (request) => ({ webhooks: await dispatcher.list(principalOf(request).tenant) }),
  );

  app.get<{ Params: { id: string } }>(
    '/webhooks/:id',
    { config, schema: { ...common, summary: 'One webhook and its delivery status', params: idParams, response: { 200: webhookSchema, ...errors } } },
    async (request) => dispatcher.get(principalOf(request).tenant, request.params.id),
  );

  app.delete<{ Params: { id: string } }>(
    '/webhooks/:id',
    { config, schema: { ...common, summary: 'Remove a webhook', params: idParams, response: errors } },
    async (request, reply) => {
      await dispatcher.remove(principalOf(request).tenant, request.params.id);
      return reply.code(204).send();
    },
  );

  app.post<{ Params: { id: string } }>(
    '/webhooks/:id/enable',
    { config, schema: { ...common, summary: 'Re-enable a disabled webhook', params: idParams, response: { 200: webhookSchema, ...errors } } },
    async (request) => dispatcher.enable(principalOf(request).tenant, request.params.id),
  );

  app.get<{ Params: { id: string }; Querystring: { limit: number } }>(
    '/webhooks/:id/deliveries',
    {
      config,
      schema: {
        ...common,
        summary: 'Recent delivery attempts of a webhook, newest first',
        params: idParams,
        querystring: { type: 'object', additionalProperties: false, properties: { limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } } },
        response: { 200: { type: 'object', properties: { deliveries: { type: 'array', items: deliverySchema } } }, ...errors },
      },
    },
    async (request) => ({ deliveries: await dispatcher.deliveries(principalOf(request).tenant, request.params.id, request.query.limit) }),
  );
};

/** webhookRoutes bound to a dispatcher, for ApiOptions.v1Plugins. */
export function webhookPlugin(dispatcher: WebhookDispatcher, roles?: readonly Role[]): FastifyPluginAsync {
  return async (v1) => {
    await v1.register(webhookRoutes, { dispatcher, ...(roles && { roles }) });
  };
}

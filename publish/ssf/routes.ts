// HTTP face of the SSF transmitter, as two Fastify plugins:
//
// - ssfWellKnownRoutes (public, register at the root, outside /v1):
//     GET /.well-known/ssf-configuration[/<issuer path>]   transmitter metadata
//     GET /ssf/jwks.json (jwksPath)                         signing keys
// - ssfManagementRoutes (register INSIDE the authenticated /v1 scope; every
//   route declares config.roles, admin by default; the tenant is the token's):
//     POST/GET/PATCH/PUT/DELETE /ssf/streams   stream configuration
//     GET/POST /ssf/status                     stream status
//     POST /ssf/verify                         request a verification SET
//     POST /ssf/poll/:stream_id, /ssf/poll?stream_id=   RFC 8936 poll
//     GET /ssf/stats?stream_id=                delivery counters (extension)

import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import type { Role } from '../../api/auth.js';
import { principalOf } from '../../api/plugins/authenticate.js';
import type { CreateStreamInput, PollRequest, SsfTransmitter, UpdateStreamInput } from './transmitter.js';
import type { StreamStatus } from './store.js';

export interface SsfWellKnownOptions {
  transmitter: SsfTransmitter;
}

export interface SsfManagementOptions {
  transmitter: SsfTransmitter;
  /** Roles admitted to the management and poll routes (default ['admin']). */
  roles?: readonly Role[];
}

const str = (max: number) => ({ type: 'string', minLength: 1, maxLength: max }) as const;
const uriList = { type: 'array', maxItems: 50, items: str(512) } as const;
const audSchema = { anyOf: [str(512), { type: 'array', minItems: 1, maxItems: 10, items: str(512) }] } as const;
const deliverySchema = {
  type: 'object',
  required: ['method'],
  additionalProperties: false,
  properties: {
    method: str(256),
    endpoint_url: str(2048),
    authorization_header: { type: 'string', maxLength: 4096 },
  },
} as const;
const receiverSupplied = {
  delivery: deliverySchema,
  events_requested: uriList,
  description: { type: 'string', maxLength: 256 },
  aud: audSchema,
} as const;
const streamIdQuery = {
  type: 'object',
  required: ['stream_id'],
  additionalProperties: false,
  properties: { stream_id: str(128) },
} as const;

const streamConfigSchema = {
  type: 'object',
  required: ['stream_id', 'iss', 'aud', 'events_supported', 'events_requested', 'events_delivered', 'delivery'],
  properties: {
    stream_id: { type: 'string' },
    iss: { type: 'string' },
    aud: { anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }] },
    events_supported: { type: 'array', items: { type: 'string' } },
    events_requested: { type: 'array', items: { type: 'string' } },
    events_delivered: { type: 'array', items: { type: 'string' } },
    delivery: { type: 'object', properties: { method: { type: 'string' }, endpoint_url: { type: 'string' } } },
    min_verification_interval: { type: 'integer' },
    description: { type: 'string' },
  },
} as const;
const statusSchema = {
  type: 'object',
  required: ['stream_id', 'status'],
  properties: { stream_id: { type: 'string' }, status: { type: 'string' }, reason: { type: 'string' } },
} as const;

export const ssfWellKnownRoutes: FastifyPluginAsync<SsfWellKnownOptions> = async (app, { transmitter }) => {
  app.get(
    transmitter.wellKnownPath(),
    { schema: { summary: 'SSF transmitter configuration metadata', tags: ['ssf'], response: { 200: { type: 'object', additionalProperties: true } } } },
    async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300');
      return transmitter.configuration();
    },
  );
  app.get(
    transmitter.jwksPath,
    { schema: { summary: 'Keys that sign the Security Event Tokens', tags: ['ssf'], response: { 200: { type: 'object', additionalProperties: true } } } },
    async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300');
      return transmitter.jwks();
    },
  );
};

export const ssfManagementRoutes: FastifyPluginAsync<SsfManagementOptions> = async (app, { transmitter, roles = ['admin'] }) => {
  const config = { roles };
  const common = { tags: ['ssf'], security: [{ bearer: [] }] };

  app.post<{ Body: CreateStreamInput }>(
    '/ssf/streams',
    {
      config,
      schema: {
        ...common,
        summary: 'Create an event stream (SSF configuration endpoint)',
        body: { type: 'object', required: ['delivery'], additionalProperties: false, properties: receiverSupplied },
        response: { 201: streamConfigSchema },
      },
    },
    async (request, reply) => {
      const p = principalOf(request);
      const created = await transmitter.createStream({ tenant: p.tenant, subject: p.subject }, request.body);
      return reply.code(201).header('cache-control', 'no-store').send(created);
    },
  );

  app.get<{ Querystring: { stream_id?: string } }>(
    '/ssf/streams',
    {
      config,
      schema: {
        ...common,
        summary: 'Read one stream (stream_id) or all streams of the tenant',
        querystring: { type: 'object', additionalProperties: false, properties: { stream_id: str(128) } },
        response: { 200: { anyOf: [streamConfigSchema, { type: 'array', items: streamConfigSchema }] } },
      },
    },
    async (request, reply) => {
      const { tenant } = principalOf(request);
      reply.header('cache-control', 'no-store');
      const id = request.query.stream_id;
      return id === undefined ? transmitter.listStreams(tenant) : transmitter.getStream(tenant, id);
    },
  );

  const updateBody = {
    type: 'object',
    required: ['stream_id'],
    additionalProperties: false,
    properties: {
      stream_id: str(128),
      ...receiverSupplied,
      iss: str(2048),
      events_supported: uriList,
      events_delivered: uriList,
      min_verification_interval: { type: 'integer', minimum: 0 },
    },
  } as const;
  for (const method of ['PATCH', 'PUT'] as const) {
    app.route<{ Body: UpdateStreamInput }>({
      method,
      url: '/ssf/streams',
      config,
      schema: {
        ...common,
        summary: method === 'PATCH' ? 'Update a stream (only the given properties change)' : 'Replace a stream configuration',
        body: updateBody,
        response: { 200: streamConfigSchema },
      },
      handler: async (request, reply) => {
        const { tenant } = principalOf(request);
        reply.header('cache-control', 'no-store');
        return transmitter.updateStream(tenant, request.body, method === 'PUT');
      },
    });
  }

  app.delete<{ Querystring: { stream_id: string } }>(
    '/ssf/streams',
    { config, schema: { ...common, summary: 'Delete a stream', querystring: streamIdQuery } },
    async (request, reply) => {
      await transmitter.deleteStream(principalOf(request).tenant, request.query.stream_id);
      return reply.code(204).send();
    },
  );

  app.get<{ Querystring: { stream_id: string } }>(
    '/ssf/status',
    { config, schema: { ...common, summary: 'Read a stream status', querystring: streamIdQuery, response: { 200: statusSchema } } },
    async (request) => transmitter.getStatus(principalOf(request).tenant, request.query.stream_id),
  );

  app.post<{ Body: { stream_id: string; status: StreamStatus; reason?: string } }>(
    '/ssf/status',
    {
      config,
      schema: {
        ...common,
        summary: 'Enable, pause or disable a stream',
        body: {
          type: 'object',
          required: ['stream_id', 'status'],
          additionalProperties: false,
          properties: { stream_id: str(128), status: { type: 'string', enum: ['enabled', 'paused', 'disabled'] }, reason: { type: 'string', maxLength: 256 } },
        },
        response: { 200: statusSchema },
      },
    },
    async (request) => {
      const b = request.body;
      return transmitter.setStatus(principalOf(request).tenant, b.stream_id, b.status, b.reason);
    },
  );

  app.post<{ Body: { stream_id: string; state?: string } }>(
    '/ssf/verify',
    {
      config,
      schema: {
        ...common,
        summary: 'Ask for a verification SET on the stream',
        body: { type: 'object', required: ['stream_id'], additionalProperties: false, properties: { stream_id: str(128), state: { type: 'string', maxLength: 256 } } },
      },
    },
    async (request, reply) => {
      await transmitter.verify(principalOf(request).tenant, request.body.stream_id, request.body.state);
      return reply.code(204).send();
    },
  );

  app.get<{ Querystring: { stream_id: string } }>(
    '/ssf/stats',
    { config, schema: { ...common, summary: 'Delivery counters of a stream (extension)', querystring: streamIdQuery } },
    async (request) => transmitter.deliveryStats(principalOf(request).tenant, request.query.stream_id),
  );

  const pollBody = {
    type: 'object',
    additionalProperties: false,
    properties: {
      maxEvents: { type: 'integer', minimum: 0, maximum: 10_000 },
      returnImmediately: { type: 'boolean' },
      ack: { type: 'array', maxItems: 10_000, items: str(256) },
      setErrs: {
        type: 'object',
        additionalProperties: {
          type: 'object',
          required: ['err'],
          properties: { err: str(256), description: { type: 'string', maxLength: 1024 } },
        },
      },
    },
  } as const;
  const pollResponse = {
    200: {
      type: 'object',
      required: ['sets'],
      properties: { sets: { type: 'object', additionalProperties: { type: 'string' } }, moreAvailable: { type: 'boolean' } },
    },
  } as const;
  const poll = async (request: FastifyRequest, reply: FastifyReply, streamId: string, body: PollRequest) => {
    const { tenant } = principalOf(request);
    const gone = new AbortController();
    const onClose = () => gone.abort();
    reply.raw.once('close', onClose);
    try {
      reply.header('cache-control', 'no-store');
      return await transmitter.poll(tenant, streamId, body ?? {}, gone.signal);
    } finally {
      reply.raw.off('close', onClose);
    }
  };
  app.post<{ Params: { stream_id: string }; Body: PollRequest }>(
    '/ssf/poll/:stream_id',
    {
      config,
      schema: {
        ...common,
        summary: 'Poll for SETs (RFC 8936): acknowledge, report errors, receive',
        params: { type: 'object', required: ['stream_id'], properties: { stream_id: str(128) } },
        body: pollBody,
        response: pollResponse,
      },
    },
    (request, reply) => poll(request, reply, request.params.stream_id, request.body),
  );
  app.post<{ Querystring: { stream_id: string }; Body: PollRequest }>(
    '/ssf/poll',
    { config, schema: { ...common, summary: 'Poll for SETs (RFC 8936), stream in the query', querystring: streamIdQuery, body: pollBody, response: pollResponse } },
    (request, reply) => poll(request, reply, request.query.stream_id, request.body),
  );
};

/** ssfManagementRoutes bound to a transmitter, for ApiOptions.v1Plugins. */
export function ssfManagementPlugin(transmitter: SsfTransmitter, roles?: readonly Role[]): FastifyPluginAsync {
  return async (v1) => {
    await v1.register(ssfManagementRoutes, { transmitter, ...(roles && { roles }) });
  };
}

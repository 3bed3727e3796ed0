// GET /v1/ledger/verify?from=&to=: recomputes the caller's tenant's hash chain
// over the stored batches (store/ledger-chain.ts) and names the first link
// that does not match, with the row when it can be identified.

import type { FastifyPluginAsync } from 'fastify';
import type { ClickHouseClient } from '@clickhouse/client';
import { BROKEN_REASONS, verifyChain } from '../../store/ledger-chain.js';
import { principalOf } from '../plugins/authenticate.js';
import { parseTimeRange } from './common.js';
import { authErrors, nullableTime } from './schemas.js';

export interface LedgerRoutesOptions {
  store: ClickHouseClient;
  /** Rows this recent that no link covers yet are not reported (default 60 s: their link may be being written). */
  graceMs?: number;
}

export const ledgerRoutes: FastifyPluginAsync<LedgerRoutesOptions> = async (app, { store, graceMs }) => {
  app.get<{ Querystring: { from?: string; to?: string } }>(
    '/ledger/verify',
    {
      config: { roles: ['analyst', 'admin'] },
      schema: {
        summary: 'Verify the tamper-evident hash chain of the caller’s tenant',
        description:
          'Re-reads every batch (events, detections, risk changes, admin actions) covered by the chain, recomputes its content hash and the chain, and reports the first link that does not match. With from/to: the links whose event-time range overlaps [from, to) and every link between them, and uncovered rows in the range.',
        tags: ['ledger'],
        security: [{ bearer: [] }],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            from: { type: 'string', format: 'date-time', description: 'Inclusive lower bound of event time (RFC 3339)' },
            to: { type: 'string', format: 'date-time', description: 'Exclusive upper bound of event time (RFC 3339)' },
          },
        },
        response: {
          200: {
            type: 'object',
            required: ['ok', 'tenant_id', 'batches_checked', 'rows_checked', 'head', 'first_broken'],
            properties: {
              ok: { type: 'boolean' },
              tenant_id: { type: 'string' },
              batches_checked: { type: 'integer', description: 'Links (one per tenant, table and batch) checked' },
              rows_checked: { type: 'integer' },
              head: {
                type: ['object', 'null'],
                required: ['seq', 'chain_hash'],
                properties: { seq: { type: 'integer' }, chain_hash: { type: 'string' } },
                description: 'The tenant’s latest link: keep it elsewhere to detect a truncated chain later',
              },
              first_broken: {
                type: ['object', 'null'],
                required: ['seq', 'token', 'table', 'reason', 'detail'],
                properties: {
                  seq: { type: ['integer', 'null'], description: 'null for rows no link covers' },
                  token: { type: 'string', description: 'Batch token' },
                  table: { type: 'string' },
                  reason: { type: 'string', enum: [...BROKEN_REASONS] },
                  detail: { type: 'string' },
                  row: {
                    type: 'object',
                    required: ['id', 'time'],
                    properties: { id: { type: 'string', description: 'event_id, detection_id, change_id or action_id' }, time: nullableTime },
                  },
                },
              },
            },
          },
          ...authErrors,
        },
      },
    },
    async (request) => {
      const { tenant } = principalOf(request);
      const range = parseTimeRange(request.query.from, request.query.to);
      return verifyChain(store, tenant, { ...range, ...(graceMs !== undefined && { graceMs }) });
    },
  );
};

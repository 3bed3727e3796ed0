// Pieces shared by the audit routes: paging parameters, time ranges and the
// schema of a paged list.

import { badRequest } from '../errors.js';
import { authErrors } from './schemas.js';

export const pageQuerySchema = {
  from: { type: 'string', format: 'date-time', description: 'Inclusive lower bound of event time (RFC 3339)' },
  to: { type: 'string', format: 'date-time', description: 'Exclusive upper bound of event time (RFC 3339)' },
  limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
  cursor: { type: 'string', minLength: 1, maxLength: 512, description: 'next_cursor of the previous page' },
} as const;

export function parseTimeRange(from: string | undefined, to: string | undefined): { from?: number; to?: number } {
  const out: { from?: number; to?: number } = {};
  if (from !== undefined) out.from = Date.parse(from);
  if (to !== undefined) out.to = Date.parse(to);
  if (out.from !== undefined && out.to !== undefined && out.from >= out.to) throw badRequest('from: must be before to');
  return out;
}

/**
 * The schema of an audit route that returns one page of a list: filters and
 * paging in a closed querystring (an unknown parameter is a 400 naming it),
 * and `{ [listKey]: items[], next_cursor }` as the answer.
 */
export function pagedListSchema(o: {
  summary: string;
  description?: string;
  /** Path parameters, when the list belongs to one resource. */
  params?: object;
  filters: Record<string, object>;
  /** Paging parameters; default pageQuerySchema (from, to, limit, cursor). */
  paging?: Record<string, object>;
  listKey: string;
  items: object;
}): object {
  return {
    summary: o.summary,
    ...(o.description !== undefined && { description: o.description }),
    tags: ['audit'],
    security: [{ bearer: [] }],
    ...(o.params !== undefined && { params: o.params }),
    querystring: { type: 'object', additionalProperties: false, properties: { ...o.filters, ...(o.paging ?? pageQuerySchema) } },
    response: {
      200: {
        type: 'object',
        required: [o.listKey, 'next_cursor'],
        properties: { [o.listKey]: { type: 'array', items: o.items }, next_cursor: { type: ['string', 'null'] } },
      },
      ...authErrors,
    },
  };
}

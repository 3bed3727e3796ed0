// Pieces shared by the audit routes: paging parameters and time ranges.

import { badRequest } from '../errors.js';

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

// "Which agents called this agent?" filters events on dest_agent_id across a
// tenant, which the sort key (tenant_id, agent_id, time, event_id) does not
// serve; a bloom-filter skip index keeps it off a full scan of the tenant.

import type { Migration } from '../migrations.js';

export const migration: Migration = {
  version: 8,
  name: 'events_dest_agent_index',
  statements: [`ALTER TABLE events ADD INDEX IF NOT EXISTS idx_dest_agent_id dest_agent_id TYPE bloom_filter(0.01) GRANULARITY 1`],
};

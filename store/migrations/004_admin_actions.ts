// Analyst decisions on an agent (confirm compromised / confirm safe / dismiss).

import type { Migration } from '../migrations.js';

export const CREATE_ADMIN_ACTIONS = `
CREATE TABLE IF NOT EXISTS admin_actions
(
    action_id   String,
    tenant_id   LowCardinality(String),
    agent_id    String,
    action      LowCardinality(String),
    actor       String,
    reason      String,
    time        DateTime64(3, 'UTC'),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (tenant_id, agent_id, time, action_id)
SETTINGS non_replicated_deduplication_window = 10000
`;

export const migration: Migration = {
  version: 4,
  name: 'admin_actions',
  statements: [CREATE_ADMIN_ACTIONS],
};

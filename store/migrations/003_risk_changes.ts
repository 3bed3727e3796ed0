// Every change of an agent's risk level or state, as the risk engine decided it.

import type { Migration } from '../migrations.js';

export const CREATE_RISK_CHANGES = `
CREATE TABLE IF NOT EXISTS risk_changes
(
    change_id      String,
    tenant_id      LowCardinality(String),
    agent_id       String,
    time           DateTime64(3, 'UTC'),
    level          LowCardinality(String),
    previous_level LowCardinality(String),
    score          Float64,
    state          LowCardinality(String),
    reasons        String,
    ingested_at    DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (tenant_id, agent_id, time, change_id)
SETTINGS non_replicated_deduplication_window = 10000
`;

export const migration: Migration = {
  version: 3,
  name: 'risk_changes',
  statements: [CREATE_RISK_CHANGES],
};

// Append-only record of webhook delivery attempts (publish/webhooks): one row
// per attempt, with outcome, HTTP status and error, for audit of remediation.

import type { Migration } from '../migrations.js';

export const CREATE_WEBHOOK_DELIVERIES = `
CREATE TABLE IF NOT EXISTS webhook_deliveries
(
    delivery_id  String,
    webhook_id   String,
    tenant_id    LowCardinality(String),
    event_id     String,
    event_kind   LowCardinality(String),
    url          String,
    attempt      UInt16,
    outcome      LowCardinality(String),
    http_status  Nullable(UInt16),
    error        Nullable(String),
    duration_ms  UInt32,
    final        Bool,
    time         DateTime64(3, 'UTC'),
    recorded_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (tenant_id, webhook_id, time, delivery_id, attempt)
SETTINGS non_replicated_deduplication_window = 10000
`;

export const migration: Migration = {
  version: 5,
  name: 'webhook_deliveries',
  statements: [CREATE_WEBHOOK_DELIVERIES],
};

// Webhook deliveries not yet finished (publish/webhooks/clickhouse-queue.ts),
// append-only: an `add` row per delivery and a `done` row when it reaches its
// final outcome; pending = added and not done. The body is the delivery's
// envelope (the risk change or detection), which holds no secret: deliveries
// are signed at each attempt with the hook's secret, kept sealed elsewhere.

import type { Migration } from '../migrations.js';

export const CREATE_WEBHOOK_QUEUE = `
CREATE TABLE IF NOT EXISTS webhook_queue
(
    hook_id      String,
    tenant_id    LowCardinality(String),
    delivery_id  String,
    op           Enum8('add' = 1, 'done' = 2),
    event_id     String,
    kind         LowCardinality(String),
    body         String CODEC(ZSTD(1)),
    enqueued_at  DateTime64(3, 'UTC'),
    written_at   DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (hook_id, delivery_id, op)
SETTINGS non_replicated_deduplication_window = 10000
`;

export const migration: Migration = {
  version: 11,
  name: 'webhook_queue',
  statements: [CREATE_WEBHOOK_QUEUE],
};

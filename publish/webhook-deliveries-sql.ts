// The `webhook_deliveries` table: one append-only row per delivery attempt of
// a webhook. For the lead to register as a store migration (store/ is not
// edited from publish/): e.g. store/migrations/005_webhook_deliveries.ts
//
//   import { webhookDeliveriesMigration } from '../../publish/webhook-deliveries-sql.js';
//   export const migration = webhookDeliveriesMigration(5);
//
// The statement is idempotent (IF NOT EXISTS) as the migration rules require.

import type { Migration } from '../store/migrations.js';

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

export const WEBHOOK_DELIVERIES_STATEMENTS: readonly string[] = [CREATE_WEBHOOK_DELIVERIES];

/** The migration, at the version the lead assigns. */
export function webhookDeliveriesMigration(version: number): Migration {
  return { version, name: 'webhook_deliveries', statements: WEBHOOK_DELIVERIES_STATEMENTS };
}

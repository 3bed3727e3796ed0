// The `webhook_deliveries` table is a store migration
// (store/migrations/005_webhook_deliveries.ts); re-exported here for the
// publish stage and its tests.

import type { Migration } from '../store/migrations.js';
import { CREATE_WEBHOOK_DELIVERIES } from '../store/migrations/005_webhook_deliveries.js';

export { CREATE_WEBHOOK_DELIVERIES };

export const WEBHOOK_DELIVERIES_STATEMENTS: readonly string[] = [CREATE_WEBHOOK_DELIVERIES];

/** The migration, at the version the lead assigns. */
export function webhookDeliveriesMigration(version: number): Migration {
  return { version, name: 'webhook_deliveries', statements: WEBHOOK_DELIVERIES_STATEMENTS };
}

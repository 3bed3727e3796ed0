// The ClickHouse delivery log against a real embedded ClickHouse (chdb):
// one append-only row per attempt in `webhook_deliveries`, read back newest
// first, and a full dispatcher run (500, 500, 200) recorded as 3 rows.

import type { ClickHouseClient } from '@clickhouse/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openClickHouse } from '../../store/clickhouse.js';
import { runMigrations } from '../../store/migrations.js';
import { CREATE_WEBHOOK_DELIVERIES, webhookDeliveriesMigration } from '../../publish/webhook-deliveries-sql.js';
import { ClickHouseDeliveryLog, type DeliveryAttempt } from '../../publish/webhooks/delivery-log.js';
import { WebhookDispatcher } from '../../publish/webhooks/dispatcher.js';
import { testDataDir } from '../store/helpers.js';
import { riskChange, startReceiver } from './helpers.js';

let client: ClickHouseClient;

beforeAll(async () => {
  // libchdb binds one data directory per process: share the store tests' one
  // (removed at exit) and isolate with a database of our own.
  client = await openClickHouse({ url: undefined, user: 'default', password: '', database: 'publish_webhook_test', dataDir: testDataDir() });
  // As the lead will register it: a migration after the store's own.
  await runMigrations(client, [webhookDeliveriesMigration(1)]);
  // Idempotent, as migration statements must be.
  await client.command({ query: CREATE_WEBHOOK_DELIVERIES });
});

afterAll(async () => {
  await client?.close();
});

async function rows(webhookId: string): Promise<Record<string, unknown>[]> {
  const rs = await client.query({
    query: 'SELECT attempt, outcome, http_status, error, final FROM webhook_deliveries WHERE webhook_id = {id:String} ORDER BY attempt',
    query_params: { id: webhookId },
    format: 'JSONEachRow',
  });
  return rs.json();
}

describe('ClickHouseDeliveryLog', () => {
  it('appends one row per attempt and lists them newest first', async () => {
    const log = new ClickHouseDeliveryLog(client);
    const base: DeliveryAttempt = {
      delivery_id: 'd1', webhook_id: 'w-unit', tenant_id: 't1', event_id: 'e1', event_kind: 'risk_change', url: 'https://h.example.test/x',
      attempt: 1, outcome: 'failure', http_status: 503, error: 'HTTP 503', duration_ms: 12.6, final: false, time: 1_780_000_000_123,
    };
    await log.record(base);
    await log.record({ ...base, attempt: 2, outcome: 'success', http_status: 200, error: null, final: true, time: base.time + 1000 });
    // A retried insert of the same attempt is deduplicated by its token.
    await log.record({ ...base, attempt: 2, outcome: 'success', http_status: 200, error: null, final: true, time: base.time + 1000 });
    const listed = await log.list('t1', 'w-unit');
    expect(listed).toEqual([
      { ...base, attempt: 2, outcome: 'success', http_status: 200, error: null, final: true, time: base.time + 1000, duration_ms: 13 },
      { ...base, duration_ms: 13 },
    ]);
    expect(await log.list('t2', 'w-unit')).toEqual([]);
  });

  it('records the attempts of a real delivery: 500, 500, then 200', async () => {
    const receiver = await startReceiver((_req, n) => ({ status: n <= 2 ? 500 : 200 }));
    try {
      const dispatcher = new WebhookDispatcher({ allowlist: ['127.0.0.1'], log: new ClickHouseDeliveryLog(client), maxAttempts: 5, initialDelayMs: 10, maxDelayMs: 40 });
      const hook = await dispatcher.register({ tenant: 't1', subject: 'admin@t1' }, { url: receiver.url, min_level: 'low', events: ['risk_change'] });
      await dispatcher.dispatch({ riskChanges: [riskChange('t1', 'agent-1', 'high', 'none')] });
      await dispatcher.idle();
      expect(receiver.requests).toHaveLength(3);
      expect(await rows(hook.id)).toEqual([
        { attempt: 1, outcome: 'failure', http_status: 500, error: 'HTTP 500', final: false },
        { attempt: 2, outcome: 'failure', http_status: 500, error: 'HTTP 500', final: false },
        { attempt: 3, outcome: 'success', http_status: 200, error: null, final: true },
      ]);
      expect((await dispatcher.deliveries('t1', hook.id)).map((a) => a.attempt)).toEqual([3, 2, 1]);
      await dispatcher.close();
    } finally {
      await receiver.close();
    }
  });
});

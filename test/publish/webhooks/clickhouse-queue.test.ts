// Pending webhook deliveries kept in ClickHouse (real embedded engine): what
// one queue adds and marks done, a fresh one reads back; and a dispatcher
// stopped while a delivery waits between attempts leaves it to the next one,
// which delivers it after its start.

import type { ClickHouseClient } from '@clickhouse/client';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StateCipher } from '../../../publish/state-cipher.js';
import { ClickHouseWebhookQueue } from '../../../publish/webhooks/clickhouse-queue.js';
import { ClickHouseWebhookStore } from '../../../publish/webhooks/clickhouse-store.js';
import { WebhookDispatcher } from '../../../publish/webhooks/dispatcher.js';
import type { QueuedDelivery } from '../../../publish/webhooks/queue.js';
import { verifyWebhookSignature } from '../../../publish/webhooks/signature.js';
import { openMigrated } from '../../store/helpers.js';
import { riskChange, startReceiver, type Receiver } from '../helpers.js';

let client: ClickHouseClient;
const receivers: Receiver[] = [];

beforeAll(async () => {
  client = await openMigrated('publish_webhook_queue');
});

afterAll(async () => {
  await Promise.all(receivers.map((r) => r.close()));
  await client?.close();
});

const T = Date.UTC(2026, 10, 22, 8, 0, 0);
const delivery = (hook: string, n: number): QueuedDelivery => ({
  hook_id: hook,
  tenant_id: 'tenant-q',
  delivery_id: `${hook}-d${n}`,
  event_id: `rc-${n}`,
  kind: 'risk_change',
  body: JSON.stringify({ id: `rc-${n}` }),
  enqueued_at: T + n,
});

describe('ClickHouseWebhookQueue', () => {
  it('reads back, in order, what was added and not marked done; marks are written together', async () => {
    const queue = new ClickHouseWebhookQueue(client, { doneFlushMs: 60_000 });
    await queue.add([delivery('h1', 1), delivery('h1', 2), delivery('h2', 3)]);
    await queue.add([delivery('h1', 4)]);
    await queue.done([{ hook_id: 'h1', delivery_id: 'h1-d2' }]);
    // Not written yet: another instance still sees it pending.
    expect((await new ClickHouseWebhookQueue(client).pending()).map((d) => d.delivery_id)).toEqual(['h1-d1', 'h1-d2', 'h2-d3', 'h1-d4']);
    // The queue that holds the mark writes it before it reads.
    expect(await queue.pending()).toEqual([delivery('h1', 1), delivery('h2', 3), delivery('h1', 4)]);
    await queue.done([{ hook_id: 'h1', delivery_id: 'h1-d1' }, { hook_id: 'h2', delivery_id: 'h2-d3' }]);
    await queue.close();
    expect(await new ClickHouseWebhookQueue(client).pending()).toEqual([delivery('h1', 4)]);
  });
});

describe('a dispatcher stopped mid-delivery', () => {
  it('leaves the delivery to the next one, which delivers it after its start', async () => {
    const cipher = new StateCipher(randomBytes(32));
    // Down at first; up after the restart.
    let up = false;
    const rx = await startReceiver(() => ({ status: up ? 200 : 503 }));
    receivers.push(rx);
    const open = async () =>
      new WebhookDispatcher({
        allowlist: ['127.0.0.1'],
        store: await ClickHouseWebhookStore.open(client, cipher, { refreshMs: 0 }),
        queue: new ClickHouseWebhookQueue(client),
        maxAttempts: 5,
        initialDelayMs: 60_000, // the first retry would come a minute later: the stop comes first
        timeoutMs: 2000,
      });

    const first = await open();
    await first.start();
    const hook = await first.register({ tenant: 'tenant-r', subject: 'admin' }, { url: `${rx.url}/hook`, min_level: 'medium', events: ['risk_change'] });
    expect(await first.dispatch({ riskChanges: [riskChange('tenant-r', 'agent-9', 'high', 'none')] })).toBe(1);
    await rx.waitFor(1);
    await first.close();
    expect(rx.requests).toHaveLength(1);

    up = true;
    const second = await open();
    await second.start();
    const [, retried] = await rx.waitFor(2);
    await second.idle();
    expect(JSON.parse(retried!.body)).toMatchObject({ type: 'risk_change', data: { agent_id: 'agent-9', level: 'high' } });
    expect(verifyWebhookSignature(hook.secret, retried!.headers['x-riskstream-timestamp'] as string, retried!.body, retried!.headers['x-riskstream-signature'] as string)).toBe(true);
    // Delivered: nothing pending for a third start.
    await second.close();
    expect((await new ClickHouseWebhookQueue(client).pending()).filter((d) => d.hook_id === hook.id)).toEqual([]);
    const third = await open();
    await third.start();
    await third.idle();
    expect(rx.requests).toHaveLength(2);
    await third.close();
  });
});

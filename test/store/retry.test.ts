// Failed inserts are retried with backoff a bounded number of times, then the
// batch fails loudly (the caller must not commit its offsets).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import { LedgerWriteError, LedgerWriter, type RetryInfo } from '../../store/ledger-writer.js';
import { runMigrations } from '../../store/migrations.js';
import { withRetry } from '../../store/retry.js';
import { count, openMigrated, openTestClient } from './helpers.js';
import { ALL_SAMPLES, detection } from './samples.js';

const batch = (token: string) => ({
  token,
  events: ALL_SAMPLES.map((event, i) => ({ event, source: 'generator', offset: i })),
  detections: [detection],
});

describe('insert retries', { timeout: 120_000 }, () => {
  let live: ClickHouseClient;

  beforeAll(async () => {
    live = await openMigrated('store_retry');
  });
  afterAll(async () => {
    await live?.close();
  });

  it('retries a closed connection the configured number of times, then throws', async () => {
    const closed = await openTestClient('store_retry');
    await closed.close();
    const retries: RetryInfo[] = [];
    const writer = new LedgerWriter(closed, { retry: { attempts: 4, initialDelayMs: 5, maxDelayMs: 12 }, onRetry: (r) => retries.push(r) });
    const started = Date.now();
    const err = await writer.writeBatch(batch('retry:closed')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LedgerWriteError);
    const e = err as LedgerWriteError;
    expect(e.table).toBe('events');
    expect(e.attempts).toBe(4);
    expect(String(e.message)).toMatch(/after 4 attempts/);
    expect(e.cause).toBeInstanceOf(Error);
    expect(retries.map((r) => [r.table, r.attempt, r.delayMs])).toEqual([
      ['events', 1, 5],
      ['events', 2, 10],
      ['events', 3, 12],
    ]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
    // Nothing reached the ledger.
    expect(await count(live, 'events')).toBe(0);
  });

  it('retries a missing table, then throws; nothing is written', async () => {
    const bare = await openTestClient('store_retry_bare'); // database without migrations
    try {
      const retries: RetryInfo[] = [];
      const writer = new LedgerWriter(bare, { retry: { attempts: 3, initialDelayMs: 1, maxDelayMs: 100 }, onRetry: (r) => retries.push(r) });
      const err = await writer.writeBatch(batch('retry:missing')).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(LedgerWriteError);
      expect((err as LedgerWriteError).attempts).toBe(3);
      expect(String((err as Error).message)).toMatch(/UNKNOWN_TABLE|does not exist/i);
      expect(retries.map((r) => r.attempt)).toEqual([1, 2]);

      // The client stays usable: once the tables exist the same batch goes through.
      await runMigrations(bare);
      await new LedgerWriter(bare).writeBatch(batch('retry:missing'));
      expect(await count(bare, 'events')).toBe(ALL_SAMPLES.length);
      expect(await count(bare, 'detections')).toBe(1);
    } finally {
      await bare.close();
    }
  });

  it('succeeds when a transient failure clears before the attempts run out', async () => {
    const flaky = await openTestClient('store_retry_flaky');
    try {
      let migrating: Promise<unknown> | undefined;
      const writer = new LedgerWriter(flaky, {
        retry: { attempts: 20, initialDelayMs: 20, maxDelayMs: 200 },
        // The "outage" ends when the schema appears, after the first failure.
        onRetry: () => {
          migrating ??= runMigrations(flaky);
        },
      });
      const result = await writer.writeBatch(batch('retry:flaky'));
      await migrating;
      expect(result.events).toBe(ALL_SAMPLES.length);
      expect(await count(flaky, 'events')).toBe(ALL_SAMPLES.length);
      expect(await count(flaky, 'detections')).toBe(1);
    } finally {
      await flaky.close();
    }
  });

  it('rejects a bad configuration', () => {
    expect(() => new LedgerWriter(live, { retry: { attempts: 0 } })).toThrow(RangeError);
  });
});

describe('withRetry', () => {
  it('retries with doubling delays until an attempt succeeds', async () => {
    let calls = 0;
    const heard: [number, string, number][] = [];
    const value = await withRetry(
      async () => {
        if (++calls < 3) throw new Error(`down ${calls}`);
        return 'stored';
      },
      { attempts: 5, initialDelayMs: 1, maxDelayMs: 3 },
      (attempt, error, delayMs) => heard.push([attempt, (error as Error).message, delayMs]),
    );
    expect(value).toBe('stored');
    expect(calls).toBe(3);
    expect(heard).toEqual([
      [1, 'down 1', 1],
      [2, 'down 2', 2],
    ]);
  });

  it('throws the last error once the attempts run out, with the delay capped', async () => {
    let calls = 0;
    const delays: number[] = [];
    await expect(
      withRetry(
        async () => {
          throw new Error(`down ${++calls}`);
        },
        { attempts: 4, initialDelayMs: 1, maxDelayMs: 2 },
        (_a, _e, delayMs) => delays.push(delayMs),
      ),
    ).rejects.toThrow('down 4');
    expect(delays).toEqual([1, 2, 2]);
  });
});

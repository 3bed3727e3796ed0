import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import { MIGRATIONS, MigrationError, appliedMigrations, runMigrations, type Migration } from '../../store/migrations.js';
import { count, openTestClient, selectRows } from './helpers.js';

describe('migrations', { timeout: 60_000 }, () => {
  let client: ClickHouseClient;

  beforeAll(async () => {
    client = await openTestClient('store_migrations');
  }, 60_000);
  afterAll(async () => {
    await client?.close();
  });

  it('applies every migration once, then re-running is a no-op', async () => {
    const first = await runMigrations(client);
    expect(first.applied).toEqual(MIGRATIONS.map((m) => m.version));
    expect(first.alreadyApplied).toEqual([]);

    const tables = await selectRows<{ name: string; engine: string }>(
      client,
      'SELECT name, engine FROM system.tables WHERE database = currentDatabase() ORDER BY name',
    );
    expect(tables).toEqual([
      { name: 'admin_actions', engine: 'MergeTree' },
      { name: 'agent_hourly_detections_mv', engine: 'MaterializedView' },
      { name: 'agent_hourly_event_stats_mv', engine: 'MaterializedView' },
      { name: 'agent_hourly_stats', engine: 'SummingMergeTree' },
      { name: 'detections', engine: 'MergeTree' },
      { name: 'events', engine: 'MergeTree' },
      { name: 'ledger_chain', engine: 'MergeTree' },
      { name: 'risk_changes', engine: 'MergeTree' },
      { name: 'schema_migrations', engine: 'MergeTree' },
      { name: 'ssf_queue', engine: 'MergeTree' },
      { name: 'ssf_streams', engine: 'MergeTree' },
      { name: 'webhook_deliveries', engine: 'MergeTree' },
      { name: 'webhook_queue', engine: 'MergeTree' },
      { name: 'webhook_registrations', engine: 'MergeTree' },
    ]);

    const second = await runMigrations(client);
    expect(second.applied).toEqual([]);
    expect(second.alreadyApplied).toEqual(MIGRATIONS.map((m) => m.version));
    await runMigrations(client);

    // One record per migration, with its name and time.
    expect(await count(client, 'schema_migrations')).toBe(MIGRATIONS.length);
    const applied = await appliedMigrations(client);
    expect(applied.map((m) => [m.version, m.name])).toEqual(MIGRATIONS.map((m) => [m.version, m.name]));
    for (const m of applied) expect(Math.abs(Date.now() - m.applied_at)).toBeLessThan(10 * 60_000);
  });

  it('ledger tables are append-only MergeTree with the deduplication window', async () => {
    const rows = await selectRows<{ name: string; create_table_query: string; partition_key: string; sorting_key: string }>(
      client,
      `SELECT name, create_table_query, partition_key, sorting_key FROM system.tables
       WHERE database = currentDatabase() AND name IN ('events', 'detections', 'risk_changes', 'admin_actions') ORDER BY name`,
    );
    const keys = Object.fromEntries(rows.map((r) => [r.name, r.sorting_key]));
    expect(keys).toEqual({
      admin_actions: 'tenant_id, agent_id, time, action_id',
      detections: 'tenant_id, agent_id, time, detection_id',
      events: 'tenant_id, agent_id, time, event_id',
      risk_changes: 'tenant_id, agent_id, time, change_id',
    });
    for (const r of rows) {
      expect(r.partition_key).toBe('toYYYYMM(time)');
      expect(r.create_table_query).toContain('non_replicated_deduplication_window = 10000');
    }
    const types = await selectRows<{ name: string; type: string }>(
      client,
      `SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = 'events'
       AND name IN ('type', 'time', 'country', 'asn', 'dest_port', 'scopes', 'raw', 'source', 'source_offset', 'ingested_at')
       ORDER BY name`,
    );
    expect(Object.fromEntries(types.map((t) => [t.name, t.type]))).toEqual({
      asn: 'Nullable(UInt32)',
      country: 'LowCardinality(Nullable(String))',
      dest_port: 'Nullable(UInt16)',
      ingested_at: "DateTime64(3, 'UTC')",
      raw: 'String',
      scopes: 'Array(LowCardinality(String))',
      source: 'LowCardinality(String)',
      source_offset: 'Int64',
      time: "DateTime64(3, 'UTC')",
      type: 'LowCardinality(String)',
    });
  });

  it('applies a new migration once and refuses a renamed one', async () => {
    const extra: Migration = {
      version: 1000,
      name: 'test_extra',
      statements: ['CREATE TABLE IF NOT EXISTS test_extra (x UInt8) ENGINE = MergeTree ORDER BY x'],
    };
    const r1 = await runMigrations(client, [...MIGRATIONS, extra]);
    expect(r1.applied).toEqual([1000]);
    const r2 = await runMigrations(client, [...MIGRATIONS, extra]);
    expect(r2.applied).toEqual([]);
    // Code that does not know migration 1000 reports it and applies nothing.
    const r3 = await runMigrations(client);
    expect(r3.unknown).toEqual([1000]);
    expect(r3.applied).toEqual([]);

    await expect(runMigrations(client, [...MIGRATIONS, { ...extra, name: 'renamed' }])).rejects.toBeInstanceOf(MigrationError);
    await expect(runMigrations(client, [extra, ...MIGRATIONS])).rejects.toThrow(/strictly increasing/);
    expect(await count(client, 'schema_migrations')).toBe(MIGRATIONS.length + 1);
  });

  it('a failing statement is reported and not recorded', async () => {
    const bad: Migration = { version: 2000, name: 'broken', statements: ['CREATE TABLE broken (x NoSuchType) ENGINE = MergeTree ORDER BY x'] };
    await expect(runMigrations(client, [...MIGRATIONS, bad])).rejects.toThrow(/migration 2000 \(broken\) failed/);
    const versions = (await appliedMigrations(client)).map((m) => m.version);
    expect(versions).not.toContain(2000);
  });
});

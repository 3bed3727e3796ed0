// The pipeline can run as a ClickHouse user without DDL privileges (INSERT
// and SELECT only, docs/clickhouse-users.sql) once a migrator has applied the
// migrations; a migration still missing then fails loudly.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import { isAccessDenied } from '../../store/clickhouse.js';
import { LedgerWriter } from '../../store/ledger-writer.js';
import { MIGRATIONS, MigrationError, runMigrations } from '../../store/migrations.js';
import { count, openMigrated, openTestClient } from './helpers.js';
import { ALL_SAMPLES } from './samples.js';

/** The client as a user that may only SELECT and INSERT: any other command is ACCESS_DENIED. */
function insertSelectOnly(client: ClickHouseClient): ClickHouseClient {
  const denied = (query: string) =>
    Object.assign(new Error(`default: Not enough privileges. To execute this query, it's necessary to have the grant for ${query.trim().split(/\s+/).slice(0, 2).join(' ')}`), {
      code: '497',
      type: 'ACCESS_DENIED',
    });
  return new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === 'command') {
        return async (params: { query: string }) => {
          if (!/^\s*INSERT\b/i.test(params.query)) throw denied(params.query);
          return target.command(params);
        };
      }
      const v = Reflect.get(target, prop, receiver);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

describe('least-privileged pipeline user', { timeout: 120_000 }, () => {
  let migrated: ClickHouseClient;

  beforeAll(async () => {
    migrated = await openMigrated('store_least_privilege');
  });
  afterAll(async () => {
    await migrated?.close();
  });

  it('starts on a migrated database and writes the ledger, chain included', async () => {
    const pipelineUser = insertSelectOnly(migrated);
    const r = await runMigrations(pipelineUser);
    expect(r.applied).toEqual([]);
    expect(r.alreadyApplied).toEqual(MIGRATIONS.map((m) => m.version));
    await new LedgerWriter(pipelineUser).writeBatch({ token: 'lp:1', events: ALL_SAMPLES.map((event, i) => ({ event, source: 's', offset: i })) });
    expect(await count(migrated, 'events')).toBe(ALL_SAMPLES.length);
    expect(await count(migrated, 'ledger_chain')).toBe(1);
  });

  it('refuses to start when a migration is missing', async () => {
    const fresh = await openTestClient('store_least_privilege_fresh');
    try {
      await runMigrations(fresh, MIGRATIONS.slice(0, 4));
      const err = await runMigrations(insertSelectOnly(fresh)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(MigrationError);
      expect(isAccessDenied((err as Error).cause)).toBe(true);
    } finally {
      await fresh.close();
    }
  });
});

// Versioned schema migrations, run at start. Each applied migration is recorded
// in `schema_migrations` (version, name, applied_at); a migration is applied at
// most once, and re-running the whole set is a no-op.
//
// Rules for migrations (they are never edited once released, only added):
// - statements must be idempotent (CREATE ... IF NOT EXISTS, ADD COLUMN IF NOT
//   EXISTS): a process that dies between a statement and the record re-runs
//   the statement on the next start;
// - the ledger is append-only: no migration may delete or rewrite rows
//   (no ALTER ... DELETE / UPDATE, no TRUNCATE, no DROP of ledger tables).
//
// The record insert carries insert_deduplication_token `schema_migrations:<v>`,
// so two processes migrating at the same moment still record a version once.

import type { ClickHouseClient } from '@clickhouse/client';
import { insertBody, isAccessDenied } from './clickhouse.js';
import { migration as m001 } from './migrations/001_events.js';
import { migration as m002 } from './migrations/002_detections.js';
import { migration as m003 } from './migrations/003_risk_changes.js';
import { migration as m004 } from './migrations/004_admin_actions.js';
import { migration as m005 } from './migrations/005_webhook_deliveries.js';
import { migration as m006 } from './migrations/006_ledger_chain.js';
import { migration as m007 } from './migrations/007_agent_hourly_stats.js';
import { migration as m008 } from './migrations/008_events_provenance_index.js';
import { migration as m009 } from './migrations/009_one_events_stats_view.js';
import { migration as m010 } from './migrations/010_publish_state.js';
import { migration as m011 } from './migrations/011_webhook_queue.js';

export interface Migration {
  /** Strictly increasing, never reused. */
  version: number;
  name: string;
  /** SQL statements, run in order; each must be idempotent. */
  statements: readonly string[];
}

/** Every migration, in version order; gaps are allowed. */
export const MIGRATIONS: readonly Migration[] = [m001, m002, m003, m004, m005, m006, m007, m008, m009, m010, m011];

export const CREATE_SCHEMA_MIGRATIONS = `
CREATE TABLE IF NOT EXISTS schema_migrations
(
    version    UInt32,
    name       String,
    applied_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY version
SETTINGS non_replicated_deduplication_window = 1000
`;

export class MigrationError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MigrationError';
  }
}

export interface AppliedMigration {
  version: number;
  name: string;
  /** Epoch ms. */
  applied_at: number;
}

export interface MigrationResult {
  /** Versions applied by this run, in order. */
  applied: number[];
  /** Versions that were already recorded. */
  alreadyApplied: number[];
  /** Recorded versions this code does not know (the database was migrated by newer code). */
  unknown: number[];
}

function checkOrder(migrations: readonly Migration[]): void {
  let last = 0;
  for (const m of migrations) {
    if (!Number.isInteger(m.version) || m.version <= last) {
      throw new MigrationError(`migration versions must be strictly increasing positive integers; got ${m.version} after ${last}`);
    }
    last = m.version;
  }
}

/** The recorded migrations, one per version, oldest first. */
export async function appliedMigrations(client: ClickHouseClient): Promise<AppliedMigration[]> {
  const rs = await client.query({
    query: `SELECT version, any(name) AS name, toUnixTimestamp64Milli(min(applied_at)) AS applied_at
            FROM schema_migrations GROUP BY version ORDER BY version`,
    format: 'JSONEachRow',
  });
  const rows = await rs.json<{ version: number; name: string; applied_at: string | number }>();
  return rows.map((r) => ({ version: Number(r.version), name: r.name, applied_at: Number(r.applied_at) }));
}

/**
 * Applies every migration not yet recorded, in version order, and records it.
 * A recorded version whose name differs from the code's is an error (someone
 * renumbered a migration); nothing is applied then.
 */
export async function runMigrations(
  client: ClickHouseClient,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<MigrationResult> {
  checkOrder(migrations);
  try {
    await client.command({ query: CREATE_SCHEMA_MIGRATIONS });
  } catch (err) {
    // A user without DDL privileges (the pipeline user of docs/clickhouse-users.sql)
    // can start once a migrator has applied every migration; a missing
    // migration then fails below with the same ACCESS_DENIED.
    if (!isAccessDenied(err)) throw err;
  }
  const recorded = new Map((await appliedMigrations(client)).map((m) => [m.version, m.name]));
  const known = new Set(migrations.map((m) => m.version));

  for (const m of migrations) {
    const name = recorded.get(m.version);
    if (name !== undefined && name !== m.name) {
      throw new MigrationError(`migration ${m.version} is recorded as ${JSON.stringify(name)} but the code calls it ${JSON.stringify(m.name)}`);
    }
  }

  const result: MigrationResult = {
    applied: [],
    alreadyApplied: [],
    unknown: [...recorded.keys()].filter((v) => !known.has(v)),
  };
  for (const m of migrations) {
    if (recorded.has(m.version)) {
      result.alreadyApplied.push(m.version);
      continue;
    }
    for (const statement of m.statements) {
      try {
        await client.command({ query: statement });
      } catch (err) {
        throw new MigrationError(
          `migration ${m.version} (${m.name}) failed: ${err instanceof Error ? err.message : String(err)}`,
          { cause: err },
        );
      }
    }
    await insertBody(client, {
      table: 'schema_migrations',
      format: 'JSONEachRow',
      body: `${JSON.stringify({ version: m.version, name: m.name })}\n`,
      token: `schema_migrations:${m.version}`,
    });
    result.applied.push(m.version);
  }
  return result;
}

// Shared set-up for the store tests: a real embedded ClickHouse (chdb) under
// os.tmpdir(). libchdb binds one data directory per process, so every test in
// a process uses the same directory (keyed by pid) and isolates itself with
// its own database instead. The directory is removed after the test file's
// last hook (and, as a fallback, at process exit).

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';
import type { ClickHouseClient } from '@clickhouse/client';
import { openClickHouse } from '../../store/clickhouse.js';
import { runMigrations } from '../../store/migrations.js';

let dataDir: string | undefined;

function removeDataDir(): void {
  if (dataDir !== undefined) fs.rmSync(dataDir, { recursive: true, force: true });
}

// Registered when a test file imports this module, so it runs after the file's
// own afterAll hooks (which close its clients): hooks run in reverse order.
afterAll(removeDataDir);

/** The per-process data directory (created on first use, removed at exit). */
export function testDataDir(): string {
  if (dataDir === undefined) {
    const dir = path.join(os.tmpdir(), `riskstream-store-test-${process.pid}`);
    fs.mkdirSync(dir, { recursive: true });
    dataDir = dir;
    process.on('exit', removeDataDir);
  }
  return dataDir;
}

/** Opens (creating if needed) database `database` in the process's embedded engine. */
export function openTestClient(database: string): Promise<ClickHouseClient> {
  return openClickHouse({ url: undefined, user: 'default', password: '', database, dataDir: testDataDir() });
}

/** Opens and migrates. */
export async function openMigrated(database: string): Promise<ClickHouseClient> {
  const client = await openTestClient(database);
  await runMigrations(client);
  return client;
}

export async function selectRows<T = Record<string, unknown>>(
  client: ClickHouseClient,
  query: string,
  query_params?: Record<string, unknown>,
): Promise<T[]> {
  const rs = await client.query({ query, format: 'JSONEachRow', ...(query_params ? { query_params } : {}) });
  return rs.json<T>();
}

export async function count(client: ClickHouseClient, table: string): Promise<number> {
  const rows = await selectRows<{ n: string | number }>(client, `SELECT count() AS n FROM ${table}`);
  return Number(rows[0]?.n ?? 0);
}

// Opening the ClickHouse store: the embedded engine (chdb, in this process)
// when no server URL is configured, a ClickHouse server otherwise. Either way
// the caller gets a plain `@clickhouse/client` ClickHouseClient whose
// unqualified table names resolve to the configured database.
//
// Embedded specifics (chdb 3.4 / libchdb 26.7), verified:
// - The `database` option of createClient is NOT honoured by the chdb
//   connection (queries run in `default`). Each chdb connection is a stateful
//   session, though, so we issue `USE <db>` once on it and every later
//   statement on that client resolves unqualified names in <db>.
// - `clickhouse_settings` are applied as `SET k = v; ...` prepended to the
//   query: they STAY set on the session for every later statement on the same
//   client (an insert_deduplication_token given once silently deduplicates the
//   next, unrelated insert), and each SET costs a scan of the whole query text.
//   Store code therefore never uses clickhouse_settings; per-insert settings
//   go in the INSERT's SETTINGS clause (see `insertBody`).
// - Statements on one chdb connection run one at a time (a long insert blocks
//   a query on the same client); open a second client on the same path for
//   concurrent readers. libchdb binds ONE data directory per process: every
//   client in a process must use the same `dataDir`.

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import type { ClickHouseConfig } from '../config/index.js';

export type { ClickHouseClient };

type ClientConnection = NonNullable<NonNullable<Parameters<typeof createClient>[0]>['connection']>;

export interface OpenClickHouseConfig extends ClickHouseConfig {
  /** Data directory of the process; the embedded engine stores its files in `<dataDir>/clickhouse`. */
  dataDir: string;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

export class InvalidIdentifierError extends Error {
  constructor(readonly identifier: string) {
    super(`invalid ClickHouse identifier ${JSON.stringify(identifier)}: must match ${IDENTIFIER}`);
    this.name = 'InvalidIdentifierError';
  }
}

/** Validates an identifier (database name) and returns it backquoted for SQL. */
export function quoteIdentifier(name: string): string {
  if (!IDENTIFIER.test(name)) throw new InvalidIdentifierError(name);
  return `\`${name}\``;
}

/** The embedded engine's directory under a data directory. */
export function embeddedPath(dataDir: string): string {
  return path.join(path.resolve(dataDir), 'clickhouse');
}

interface ClientInfo {
  embedded: boolean;
  database: string;
  /** Embedded only: the on-disk engine path. */
  path?: string;
  /** Embedded only: chDB's raw insert (payload bytes handed to the engine without building an SQL string). */
  rawInsert?: (params: ChdbRawInsert) => Promise<unknown>;
}

/** The subset of chDB's RawInsertParams the store uses. */
export interface ChdbRawInsert {
  table: string;
  columns?: readonly string[];
  values: Buffer;
  format: 'TabSeparated' | 'JSONEachRow';
  settings?: Record<string, string | number>;
}
const clients = new WeakMap<ClickHouseClient, ClientInfo>();

/** How a client returned by {@link openClickHouse} was opened (undefined for other clients). */
export function clientInfo(client: ClickHouseClient): Readonly<ClientInfo> | undefined {
  return clients.get(client);
}

/**
 * Opens the store's ClickHouse: embedded chdb at `<dataDir>/clickhouse` when
 * `cfg.url` is undefined, the server at `cfg.url` otherwise. Creates the
 * database when missing and returns a client whose unqualified table names
 * resolve to it. Does not run migrations (see `runMigrations`).
 */
export async function openClickHouse(cfg: OpenClickHouseConfig): Promise<ClickHouseClient> {
  const db = quoteIdentifier(cfg.database);
  if (cfg.url === undefined) {
    const dir = embeddedPath(cfg.dataDir);
    fs.mkdirSync(dir, { recursive: true });
    // chdb types its Connection against its own copy of @clickhouse/client-common;
    // the shapes are identical, the declarations are not.
    const chdbConnection = createChdbConnection({ path: dir });
    const connection = chdbConnection as unknown as ClientConnection;
    const client = createClient({ connection });
    try {
      await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
      await client.command({ query: `USE ${db}` });
    } catch (err) {
      await client.close().catch(() => {});
      throw err;
    }
    const raw = chdbConnection.chdb as unknown as { rawInsert(p: ChdbRawInsert): Promise<unknown> };
    clients.set(client, { embedded: true, database: cfg.database, path: dir, rawInsert: (p) => raw.rawInsert(p) });
    return client;
  }

  const auth = { url: cfg.url, username: cfg.user, password: cfg.password };
  const bootstrap = createClient({ ...auth, database: 'default' });
  let denied: unknown;
  try {
    await bootstrap.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
  } catch (err) {
    // A least-privileged user (INSERT and SELECT only, docs/clickhouse-users.sql)
    // may not create databases: fine when the database already exists.
    if (!isAccessDenied(err)) throw err;
    denied = err;
  } finally {
    await bootstrap.close();
  }
  const client = createClient({ ...auth, database: cfg.database });
  if (denied !== undefined) {
    try {
      await client.query({ query: 'SELECT 1', format: 'JSONEachRow' }).then((rs) => rs.json());
    } catch {
      await client.close().catch(() => {});
      throw denied;
    }
  }
  clients.set(client, { embedded: false, database: cfg.database });
  return client;
}

/** True for ClickHouse's ACCESS_DENIED (code 497): the user lacks a privilege. */
export function isAccessDenied(err: unknown): boolean {
  const e = err as { code?: unknown; type?: unknown } | null;
  return e !== null && typeof e === 'object' && (e.code === '497' || e.type === 'ACCESS_DENIED');
}

export type PingResult = { ok: true } | { ok: false; error: Error };

/** Liveness check that runs `SELECT 1` (so a server also checks credentials). Never throws. */
export async function ping(client: ClickHouseClient): Promise<PingResult> {
  try {
    const r = await client.ping({ select: true });
    return r.success ? { ok: true } : { ok: false, error: r.error };
  } catch (err) {
    return { ok: false, error: err instanceof Error ? err : new Error(String(err)) };
  }
}

const SAFE_TOKEN = /^[A-Za-z0-9._:/=@+,-]{1,400}$/;

/**
 * The deduplication token actually sent: the token itself when it is made
 * only of [A-Za-z0-9._:/=@+,-] (at most 400 chars), else `sha256:<hex>` of
 * it. Deterministic, so a redelivered batch maps to the same token; the
 * restricted charset is what makes it safe inside a SETTINGS clause.
 */
export function dedupToken(token: string): string {
  if (typeof token !== 'string' || token.length === 0) throw new TypeError('deduplication token must be a non-empty string');
  return SAFE_TOKEN.test(token) ? token : `sha256:${createHash('sha256').update(token).digest('hex')}`;
}

export interface BodyInsert {
  /** Table name (validated as an identifier). */
  table: string;
  /** Columns the body provides, in order (validated); all columns when absent. */
  columns?: readonly string[];
  format: 'JSONEachRow' | 'TabSeparated';
  /** The rows, serialised in `format` (UTF-8 when bytes), each line ending in \n. */
  body: string | Buffer;
  /** insert_deduplication_token (passed through {@link dedupToken}); '' for none. */
  token: string;
  /** Extra numeric settings for this insert (names validated). */
  settings?: Record<string, number>;
}

/**
 * Inserts a pre-serialised body, synchronously. Settings go in the INSERT's
 * own SETTINGS clause, never in `clickhouse_settings`: on chdb the latter
 * become `SET` statements prepended to the query, which (a) stay set on the
 * session for every later statement, (b) are escaped by doubling quotes only,
 * so a backslash breaks out of the literal, and (c) each cost a scan of the
 * whole query text (measured: 4 SETs turned a 340 ms insert of 20k events into
 * 680 ms). The only value spliced into the SQL is the token, restricted to a
 * quote- and backslash-free charset by dedupToken. On a server the body
 * travels as the request body (exec with values).
 */
export async function insertBody(client: ClickHouseClient, insert: BodyInsert): Promise<void> {
  // Validated before either path: identifiers, numeric settings, the token's charset.
  const table = quoteIdentifier(insert.table);
  const columns = insert.columns ? ` (${insert.columns.map(quoteIdentifier).join(', ')})` : '';
  // Synchronous insert: when it returns, the rows are in a part on disk and the
  // token is in the deduplication log (chdb 26.7 defaults to async_insert=1,
  // and a server profile may too).
  const settings: Record<string, string | number> = { async_insert: 0 };
  if (insert.token !== '') settings.insert_deduplication_token = dedupToken(insert.token);
  for (const [name, value] of Object.entries(insert.settings ?? {})) {
    if (!IDENTIFIER.test(name)) throw new InvalidIdentifierError(name);
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new TypeError(`setting ${name} must be a finite number`);
    settings[name] = value;
  }
  const format = insert.format === 'TabSeparated' ? 'TabSeparated' : 'JSONEachRow';
  const rawInsert = clients.get(client)?.rawInsert;
  if (rawInsert !== undefined) {
    // Embedded: the body goes to the engine as bytes beside the INSERT, not
    // spliced into one SQL string that the engine then scans (measured: 10.1
    // against 8.9 µs of wall time per event for 20k-event inserts). chDB puts
    // `settings` in the INSERT's own SETTINGS clause, quoted as literals.
    const body = typeof insert.body === 'string' ? Buffer.from(insert.body, 'utf8') : insert.body;
    await rawInsert({ table: insert.table, ...(insert.columns ? { columns: [...insert.columns] } : {}), values: body, format, settings });
    return;
  }
  // The only string value is the token, whose charset (dedupToken) has no quote or backslash.
  const clause = Object.entries(settings)
    .map(([name, value]) => (typeof value === 'number' ? `${name} = ${value}` : `${name} = '${value}'`))
    .join(', ');
  const r = await client.exec({
    query: `INSERT INTO ${table}${columns} SETTINGS ${clause} FORMAT ${format}`,
    values: Readable.from([insert.body], { objectMode: false }),
  });
  r.stream.resume();
  await finished(r.stream);
}

const TSV_SPECIAL = /[\\\t\n\r\0\b\f]/;
const TSV_SPECIAL_ALL = /[\\\t\n\r\0\b\f]/g;
const TSV_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r', '\0': '\\0', '\b': '\\b', '\f': '\\f' };

/** Escapes a string for a ClickHouse TabSeparated field. */
export function tsvEscape(s: string): string {
  return TSV_SPECIAL.test(s) ? s.replace(TSV_SPECIAL_ALL, (ch) => TSV_ESCAPES[ch] as string) : s;
}

// Tamper evidence for the append-only ledger: a SHA-256 hash chain per tenant
// over the batches written to it (see docs/store.md, "Tamper evidence").
//
// For every batch the LedgerWriter appends, and for every (tenant, table) of
// it with rows, one link is appended to `ledger_chain`:
//
//   content_hash = SHA-256 of the rows' canonical lines, sorted by (CRC-32, line)
//   chain_hash   = SHA-256(prev_hash "\n" JSON[tenant, seq, token, table, row_count,
//                                               content_hash, min_time, max_time])
//
// with `seq` 1, 2, 3... per tenant and `prev_hash` the tenant's previous
// chain_hash (64 zeros for the first link). A row's canonical line is
// recomputable from what is stored, so `verifyChain` re-reads each batch's
// rows (by their `batch_token` column), recomputes every hash and reports the
// first link that does not match, naming the row when it can (the link keeps
// each line's CRC-32, so a changed, added or missing row is located).
//
// Canonical lines:
// - events: the TabSeparated line the writer inserts: time (epoch ms), raw
//   (backslashes doubled), source (TSV-escaped), source offset, batch token.
//   The typed columns are derived from `raw` by ClickHouse; verification also
//   checks that they still equal what `raw` says.
// - detections, risk_changes, admin_actions: the JSONEachRow line the writer
//   inserts, keys in the fixed order of JSON_COLUMNS, time as epoch ms.
//
// Every value a caller passes is a query parameter; this module only reads
// (verification) or builds rows for the writer to insert.

import { createHash } from 'node:crypto';
import { crc32 } from 'node:zlib';
import type { ClickHouseClient } from '@clickhouse/client';
import { tsvEscape } from './clickhouse.js';
import { EVENT_TYPED_COLUMNS, RAW_TUPLE } from './migrations/001_events.js';
import { CHAINED_TABLES } from './migrations/006_ledger_chain.js';

export { CHAINED_TABLES };
export type ChainedTable = (typeof CHAINED_TABLES)[number];

/** prev_hash of a tenant's first link. */
export const GENESIS_HASH = '0'.repeat(64);

// ---------------------------------------------------------------------------
// Canonical lines

const BACKSLASH = /\\/g;

/** The canonical (and inserted) TabSeparated line of an event row. `sourceField` is already TSV-escaped. */
export function eventCanonicalLine(timeMs: number, raw: string, sourceField: string, offset: string, token: string): string {
  return `${timeMs}\t${raw.includes('\\') ? raw.replace(BACKSLASH, '\\\\') : raw}\t${sourceField}\t${offset}\t${token}\n`;
}

/** Columns of the JSONEachRow tables, in canonical key order. */
export const JSON_COLUMNS = {
  detections: ['detection_id', 'detector', 'severity', 'tenant_id', 'agent_id', 'time', 'summary', 'evidence', 'event_ids', 'batch_token'],
  risk_changes: ['change_id', 'tenant_id', 'agent_id', 'time', 'level', 'previous_level', 'score', 'state', 'reasons', 'batch_token'],
  admin_actions: ['action_id', 'tenant_id', 'agent_id', 'action', 'actor', 'reason', 'time', 'batch_token'],
} as const satisfies Record<Exclude<ChainedTable, 'events'>, readonly string[]>;

/** The canonical (and inserted) JSONEachRow line of a row: `columns` in order, nothing else. */
export function canonicalJsonLine(columns: readonly string[], row: Record<string, unknown>): string {
  const o: Record<string, unknown> = {};
  for (const c of columns) o[c] = row[c];
  return `${JSON.stringify(o)}\n`;
}

// ---------------------------------------------------------------------------
// Digests

/**
 * The canonical lines of one tenant's rows of one table in one batch: each
 * row either a string or a byte range of an already serialised body (its
 * UTF-8 line), which spares encoding the line a second time for the hashes.
 */
export class RowGroup {
  /** A row's line, or null when it is a range of `bytes`. */
  private readonly texts: (string | null)[] = [];
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  private bytes: Buffer | undefined;
  readonly crcs: number[] = [];
  minTime = Infinity;
  maxTime = -Infinity;

  add(line: string, time: number): void {
    this.texts.push(line);
    this.starts.push(0);
    this.ends.push(0);
    this.crcs.push(crc32(line));
    this.time(time);
  }

  /** Adds the row whose line is `body[start, end)` (UTF-8); all of a group's byte rows share one body, which must not change. */
  addBytes(body: Buffer, start: number, end: number, time: number): void {
    if (this.bytes !== undefined && this.bytes !== body) throw new Error('a row group holds byte rows of one body only');
    this.bytes = body;
    this.texts.push(null);
    this.starts.push(start);
    this.ends.push(end);
    this.crcs.push(crc32(body.subarray(start, end)));
    this.time(time);
  }

  private time(t: number): void {
    if (t < this.minTime) this.minTime = t;
    if (t > this.maxTime) this.maxTime = t;
  }

  /** Row i's line. */
  line(i: number): string {
    return this.texts[i] ?? this.bytes!.toString('utf8', this.starts[i], this.ends[i]);
  }

  /** Row i's line as what is hashed: the string (hashed as UTF-8) or its bytes. */
  chunk(i: number): string | Buffer {
    return this.texts[i] ?? this.bytes!.subarray(this.starts[i], this.ends[i]);
  }

  get size(): number {
    return this.texts.length;
  }
}

export interface GroupDigest {
  row_count: number;
  content_hash: string;
  /** CRC-32 of each line, ascending (the order the lines were hashed in). */
  row_crcs: number[];
  min_time: number;
  max_time: number;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The digest of a group: independent of the order its rows were added in. */
export function digestGroup(g: RowGroup): GroupDigest {
  const n = g.size;
  const order = Array.from({ length: n }, (_, i) => i);
  const { crcs } = g;
  // Ties on the CRC (rare) are broken by the lines themselves.
  order.sort((a, b) => crcs[a]! - crcs[b]! || cmp(g.line(a), g.line(b)));
  const h = createHash('sha256');
  const sorted = new Array<number>(n);
  for (let k = 0; k < n; k++) {
    const i = order[k]!;
    h.update(g.chunk(i));
    sorted[k] = crcs[i]!;
  }
  return {
    row_count: n,
    content_hash: h.digest('hex'),
    row_crcs: sorted,
    min_time: n === 0 ? 0 : g.minTime,
    max_time: n === 0 ? 0 : g.maxTime,
  };
}

export interface LinkFields {
  tenant_id: string;
  seq: number;
  batch_token: string;
  table_name: string;
  row_count: number;
  content_hash: string;
  /** Epoch ms. */
  min_time: number;
  max_time: number;
}

export function linkHash(prevHash: string, f: LinkFields): string {
  const fields = [f.tenant_id, f.seq, f.batch_token, f.table_name, f.row_count, f.content_hash, f.min_time, f.max_time];
  return createHash('sha256').update(`${prevHash}\n${JSON.stringify(fields)}`).digest('hex');
}

/** A link as inserted into ledger_chain. */
export interface ChainLink extends LinkFields {
  row_crcs: number[];
  prev_hash: string;
  chain_hash: string;
}

export interface ChainHead {
  seq: number;
  hash: string;
}

/** Builds the next link of a tenant's chain after `head` (undefined: the first link). */
export function nextLink(head: ChainHead | undefined, tenant: string, token: string, table: ChainedTable, d: GroupDigest): ChainLink {
  const fields: LinkFields = {
    tenant_id: tenant,
    seq: (head?.seq ?? 0) + 1,
    batch_token: token,
    table_name: table,
    row_count: d.row_count,
    content_hash: d.content_hash,
    min_time: d.min_time,
    max_time: d.max_time,
  };
  const prev = head?.hash ?? GENESIS_HASH;
  return { ...fields, row_crcs: d.row_crcs, prev_hash: prev, chain_hash: linkHash(prev, fields) };
}

// ---------------------------------------------------------------------------
// Reading stored rows back in canonical form

async function rows<T>(client: ClickHouseClient, query: string, query_params: Record<string, unknown>): Promise<T[]> {
  const rs = await client.query({ query, query_params, format: 'JSONEachRow' });
  return rs.json<T>();
}

const TYPED_CHECK = `toString(tuple(${EVENT_TYPED_COLUMNS.map(([n]) => n).join(', ')})) = toString(JSONExtract(raw, '${RAW_TUPLE}'))`;

type Raw = Record<string, unknown> & { tenant_id: string; batch_token: string; t: string | number; id: string };

interface StoredSpec {
  select: string;
  /** SQL expression of the row's id (event_id, detection_id...). */
  id: string;
  line(r: Raw): string;
}

const STORED: Record<ChainedTable, StoredSpec> = {
  events: {
    select: `tenant_id, batch_token, toUnixTimestamp64Milli(time) AS t, raw, source, toString(source_offset) AS o, ${TYPED_CHECK} AS consistent`,
    id: `JSONExtractString(raw, 'event_id')`,
    line: (r) => eventCanonicalLine(Number(r.t), String(r.raw), tsvEscape(String(r.source)), String(r.o), r.batch_token),
  },
  detections: {
    select: 'tenant_id, batch_token, toUnixTimestamp64Milli(time) AS t, detection_id, detector, severity, agent_id, summary, evidence, event_ids',
    id: 'detection_id',
    line: (r) => canonicalJsonLine(JSON_COLUMNS.detections, { ...r, time: Number(r.t) }),
  },
  risk_changes: {
    select: 'tenant_id, batch_token, toUnixTimestamp64Milli(time) AS t, change_id, agent_id, level, previous_level, score, state, reasons',
    id: 'change_id',
    line: (r) => canonicalJsonLine(JSON_COLUMNS.risk_changes, { ...r, time: Number(r.t), score: Number(r.score) }),
  },
  admin_actions: {
    select: 'tenant_id, batch_token, toUnixTimestamp64Milli(time) AS t, action_id, agent_id, action, actor, reason',
    id: 'action_id',
    line: (r) => canonicalJsonLine(JSON_COLUMNS.admin_actions, { ...r, time: Number(r.t) }),
  },
};

export interface StoredRow {
  tenant_id: string;
  batch_token: string;
  time: number;
  id: string;
  line: string;
  crc: number;
  /** events: the typed columns still equal what `raw` says (always true for other tables). */
  consistent: boolean;
}

/** Stored rows of `table` with the given batch token(s), optionally of one tenant only, in canonical form. */
export async function readStoredRows(
  client: ClickHouseClient,
  table: ChainedTable,
  where: { tokens: readonly string[]; tenant_id?: string },
): Promise<StoredRow[]> {
  if (where.tokens.length === 0) return [];
  const spec = STORED[table];
  const clauses = ['batch_token IN {tokens:Array(String)}'];
  const params: Record<string, unknown> = { tokens: where.tokens };
  if (where.tenant_id !== undefined) {
    clauses.unshift('tenant_id = {tenant_id:String}');
    params.tenant_id = where.tenant_id;
  }
  const raw = await rows<Raw>(client, `SELECT ${spec.select}, ${spec.id} AS id FROM ${table} WHERE ${clauses.join(' AND ')}`, params);
  return raw.map((r) => {
    const line = spec.line(r);
    return {
      tenant_id: r.tenant_id,
      batch_token: r.batch_token,
      time: Number(r.t),
      id: r.id,
      line,
      crc: crc32(line),
      consistent: r.consistent === undefined ? true : Number(r.consistent) === 1 || r.consistent === true,
    };
  });
}

/** Stored rows of one batch token grouped by tenant (the writer's path for a batch stored before). */
export async function storedGroups(client: ClickHouseClient, table: ChainedTable, token: string): Promise<Map<string, RowGroup>> {
  const groups = new Map<string, RowGroup>();
  for (const r of await readStoredRows(client, table, { tokens: [token] })) {
    let g = groups.get(r.tenant_id);
    if (!g) groups.set(r.tenant_id, (g = new RowGroup()));
    g.add(r.line, r.time);
  }
  return groups;
}

// ---------------------------------------------------------------------------
// Writer support

/** Per tenant: the last link's seq and chain hash. */
export async function loadChainHeads(client: ClickHouseClient): Promise<Map<string, ChainHead>> {
  const out = await rows<{ tenant_id: string; top: string | number; h: string }>(
    client,
    'SELECT tenant_id, max(seq) AS top, argMax(chain_hash, seq) AS h FROM ledger_chain GROUP BY tenant_id',
    {},
  );
  return new Map(out.map((r) => [r.tenant_id, { seq: Number(r.top), hash: r.h }]));
}

export interface PriorState {
  /** Rows already stored under the token, per table. */
  rows: Map<ChainedTable, number>;
  /** Tables the token already has links for. */
  linked: Set<ChainedTable>;
}

/** What is already stored under a batch token: rows per table and the tables already linked. */
export async function priorState(client: ClickHouseClient, token: string): Promise<PriorState> {
  const parts = CHAINED_TABLES.map((t) => `SELECT '${t}' AS k, count() AS n FROM ${t} WHERE batch_token = {token:String}`);
  parts.push(`SELECT concat('link:', toString(table_name)) AS k, count() AS n FROM ledger_chain WHERE batch_token = {token:String} GROUP BY table_name`);
  const out = await rows<{ k: string; n: string | number }>(client, parts.join('\nUNION ALL\n'), { token });
  const state: PriorState = { rows: new Map(), linked: new Set() };
  for (const { k, n } of out) {
    if (k.startsWith('link:')) {
      const t = k.slice(5) as ChainedTable;
      if ((CHAINED_TABLES as readonly string[]).includes(t) && Number(n) > 0) state.linked.add(t);
    } else {
      state.rows.set(k as ChainedTable, Number(n));
    }
  }
  return state;
}

// ---------------------------------------------------------------------------
// Verification

export type BrokenReason =
  | 'seq_gap'
  | 'duplicate_seq'
  | 'prev_hash_mismatch'
  | 'chain_hash_mismatch'
  | 'row_modified'
  | 'row_added'
  | 'row_missing'
  | 'content_hash_mismatch'
  | 'unchained_rows';

export const BROKEN_REASONS: readonly BrokenReason[] = [
  'seq_gap',
  'duplicate_seq',
  'prev_hash_mismatch',
  'chain_hash_mismatch',
  'row_modified',
  'row_added',
  'row_missing',
  'content_hash_mismatch',
  'unchained_rows',
];

export interface BrokenLink {
  /** The link's seq; null for rows no link covers. */
  seq: number | null;
  token: string;
  table: string;
  reason: BrokenReason;
  detail: string;
  /** The row at fault, when it can be named. */
  row?: { id: string; time: string | null };
}

export interface VerifyResult {
  ok: boolean;
  tenant_id: string;
  /** Links whose header and rows were checked. */
  batches_checked: number;
  rows_checked: number;
  /** The tenant's last link (to anchor elsewhere: a later verify can compare it). */
  head: { seq: number; chain_hash: string } | null;
  first_broken: BrokenLink | null;
}

export interface VerifyOptions {
  /** Check the links whose event-time range overlaps [from, to) (epoch ms), and every link between them. */
  from?: number;
  to?: number;
  /** Rows stored less than this long ago that no link covers yet are not reported (their link may be being written). Default 60 s. */
  graceMs?: number;
  /** Rows re-read per round trip (default 100,000). */
  chunkRows?: number;
}

interface LinkRow {
  seq: number;
  batch_token: string;
  table_name: string;
  row_count: number;
  content_hash: string;
  prev_hash: string;
  chain_hash: string;
  min_time: number;
  max_time: number;
}

const LINK_COLUMNS = `seq, batch_token, toString(table_name) AS table_name, row_count, content_hash, prev_hash, chain_hash,
  toUnixTimestamp64Milli(min_time) AS min_time, toUnixTimestamp64Milli(max_time) AS max_time`;

function toLink(r: Record<string, unknown>): LinkRow {
  return {
    seq: Number(r.seq),
    batch_token: String(r.batch_token),
    table_name: String(r.table_name),
    row_count: Number(r.row_count),
    content_hash: String(r.content_hash),
    prev_hash: String(r.prev_hash),
    chain_hash: String(r.chain_hash),
    min_time: Number(r.min_time),
    max_time: Number(r.max_time),
  };
}

const PAGE_SEQS = 1000;
const iso = (ms: number) => (Number.isFinite(ms) ? new Date(ms).toISOString() : null);

function isChained(table: string): table is ChainedTable {
  return (CHAINED_TABLES as readonly string[]).includes(table);
}

/**
 * Recomputes a tenant's chain (optionally only around an event-time range)
 * and reports the first link that does not match what is stored.
 */
export async function verifyChain(client: ClickHouseClient, tenant: string, options: VerifyOptions = {}): Promise<VerifyResult> {
  const chunkRows = options.chunkRows ?? 100_000;
  const graceMs = Math.max(0, Math.trunc(options.graceMs ?? 60_000));
  const ranged = options.from !== undefined || options.to !== undefined;
  const timeParams = { from: options.from ?? -2208988800000, to: options.to ?? 10413792000000 };

  const [headRow] = await rows<{ top: string | number; h: string; n: string | number }>(
    client,
    'SELECT max(seq) AS top, argMax(chain_hash, seq) AS h, count() AS n FROM ledger_chain WHERE tenant_id = {tenant:String}',
    { tenant },
  );
  const head = headRow && Number(headRow.n) > 0 ? { seq: Number(headRow.top), chain_hash: headRow.h } : null;
  const result: VerifyResult = { ok: true, tenant_id: tenant, batches_checked: 0, rows_checked: 0, head, first_broken: null };

  let range: [number, number] | null = null;
  if (head && !ranged) range = [1, head.seq];
  else if (head) {
    const [r] = await rows<{ lo: string | number; hi: string | number; n: string | number }>(
      client,
      `SELECT min(seq) AS lo, max(seq) AS hi, count() AS n FROM ledger_chain
       WHERE tenant_id = {tenant:String}
         AND max_time >= fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND min_time < fromUnixTimestamp64Milli({to:Int64}, 'UTC')`,
      { tenant, ...timeParams },
    );
    if (r && Number(r.n) > 0) range = [Number(r.lo), Number(r.hi)];
  }

  if (range) {
    const broken = await walk(client, tenant, range, chunkRows, result);
    if (broken) {
      result.ok = false;
      result.first_broken = broken;
      return result;
    }
  }

  const unchained = await findUnchained(client, tenant, ranged, timeParams, graceMs);
  if (unchained) {
    result.ok = false;
    result.first_broken = unchained;
  }
  return result;
}

async function walk(client: ClickHouseClient, tenant: string, [lo, hi]: [number, number], chunkRows: number, result: VerifyResult): Promise<BrokenLink | null> {
  let prevHash: string | null = GENESIS_HASH;
  if (lo > 1) {
    const before = await rows<{ chain_hash: string }>(
      client,
      'SELECT chain_hash FROM ledger_chain WHERE tenant_id = {tenant:String} AND seq = {seq:UInt64} LIMIT 1',
      { tenant, seq: lo - 1 },
    );
    prevHash = before[0]?.chain_hash ?? null;
  }
  let expected = lo;
  let prevLink: LinkRow | null = null;

  for (let start = lo; start <= hi; start += PAGE_SEQS) {
    const end = Math.min(hi, start + PAGE_SEQS - 1);
    const page = (
      await rows<Record<string, unknown>>(
        client,
        `SELECT ${LINK_COLUMNS} FROM ledger_chain
         WHERE tenant_id = {tenant:String} AND seq >= {start:UInt64} AND seq <= {end:UInt64}
         ORDER BY seq, written_at, batch_token, table_name`,
        { tenant, start, end },
      )
    ).map(toLink);

    // Header checks, in seq order: the first failure bounds the row checks.
    let headerBroken: BrokenLink | null = null;
    let checkable = page.length;
    for (let i = 0; i < page.length; i++) {
      const l = page[i]!;
      const at = (reason: BrokenReason, detail: string): BrokenLink => ({ seq: l.seq, token: l.batch_token, table: l.table_name, reason, detail });
      if (prevHash === null && l.seq === lo) {
        headerBroken = { seq: lo - 1, token: '', table: '', reason: 'seq_gap', detail: `link ${lo - 1} is missing` };
      } else if (l.seq < expected) {
        headerBroken = at('duplicate_seq', `a second link with seq ${l.seq} (token ${prevLink?.batch_token ?? '?'} has it too)`);
      } else if (l.seq > expected) {
        headerBroken = { seq: expected, token: '', table: '', reason: 'seq_gap', detail: `links ${expected}..${l.seq - 1} are missing` };
      } else if (prevHash !== null && l.prev_hash !== prevHash) {
        headerBroken = at('prev_hash_mismatch', 'prev_hash is not the chain_hash of the previous link');
      } else if (linkHash(l.prev_hash, { ...l, tenant_id: tenant }) !== l.chain_hash) {
        headerBroken = at('chain_hash_mismatch', 'the link’s fields do not hash to its chain_hash');
      }
      if (headerBroken) {
        checkable = i;
        break;
      }
      prevHash = l.chain_hash;
      expected = l.seq + 1;
      prevLink = l;
    }
    if (!headerBroken && page.length === 0) {
      headerBroken = { seq: start, token: '', table: '', reason: 'seq_gap', detail: `links ${start}..${end} are missing` };
    }

    // Row checks of the links before the first header failure, a chunk at a time.
    let i = 0;
    while (i < checkable) {
      const chunk: LinkRow[] = [];
      let n = 0;
      while (i < checkable && (chunk.length === 0 || n + page[i]!.row_count <= chunkRows)) {
        n += page[i]!.row_count;
        chunk.push(page[i++]!);
      }
      const broken = await checkRows(client, tenant, chunk, result);
      if (broken) return broken;
    }
    if (headerBroken) return headerBroken;
  }
  return null;
}

async function checkRows(client: ClickHouseClient, tenant: string, links: LinkRow[], result: VerifyResult): Promise<BrokenLink | null> {
  const byTable = new Map<ChainedTable, string[]>();
  for (const l of links) {
    if (!isChained(l.table_name)) continue;
    let tokens = byTable.get(l.table_name);
    if (!tokens) byTable.set(l.table_name, (tokens = []));
    tokens.push(l.batch_token);
  }
  const stored = new Map<string, StoredRow[]>();
  for (const [table, tokens] of byTable) {
    for (const r of await readStoredRows(client, table, { tokens: [...new Set(tokens)], tenant_id: tenant })) {
      const key = `${table}\u0000${r.batch_token}`;
      let list = stored.get(key);
      if (!list) stored.set(key, (list = []));
      list.push(r);
    }
  }

  for (const l of links) {
    result.batches_checked++;
    const at = (reason: BrokenReason, detail: string, row?: StoredRow): BrokenLink => ({
      seq: l.seq,
      token: l.batch_token,
      table: l.table_name,
      reason,
      detail,
      ...(row && { row: { id: row.id, time: iso(row.time) } }),
    });
    if (!isChained(l.table_name)) return at('chain_hash_mismatch', `unknown table ${JSON.stringify(l.table_name)}`);
    const list = stored.get(`${l.table_name}\u0000${l.batch_token}`) ?? [];
    result.rows_checked += list.length;

    const inconsistent = list.find((r) => !r.consistent);
    if (inconsistent) return at('row_modified', 'the row’s typed columns differ from its raw record', inconsistent);

    const g = new RowGroup();
    for (const r of list) g.add(r.line, r.time);
    const d = digestGroup(g);
    if (d.content_hash === l.content_hash && d.row_count === l.row_count) continue;

    // Locate the row: compare the stored lines' CRCs with the link's.
    const [crcRow] = await rows<{ row_crcs: number[] }>(
      client,
      `SELECT row_crcs FROM ledger_chain
       WHERE tenant_id = {tenant:String} AND seq = {seq:UInt64} AND batch_token = {token:String} AND table_name = {table:String} LIMIT 1`,
      { tenant, seq: l.seq, token: l.batch_token, table: l.table_name },
    );
    const expectedCrcs = new Map<number, number>();
    for (const c of crcRow?.row_crcs ?? []) expectedCrcs.set(Number(c), (expectedCrcs.get(Number(c)) ?? 0) + 1);
    const extra: StoredRow[] = [];
    for (const r of list) {
      const left = expectedCrcs.get(r.crc) ?? 0;
      if (left > 0) expectedCrcs.set(r.crc, left - 1);
      else extra.push(r);
    }
    let missing = 0;
    for (const left of expectedCrcs.values()) missing += left;
    extra.sort((a, b) => a.time - b.time || cmp(a.id, b.id));
    const counts = `${list.length} stored rows, ${l.row_count} when the link was written`;
    if (extra.length > 0 && missing > 0) return at('row_modified', `a row differs from what was written (${counts})`, extra[0]);
    if (extra.length > 0) return at('row_added', `a row was added to the batch after it was written (${counts})`, extra[0]);
    if (missing > 0) return at('row_missing', `${missing} row(s) of the batch are gone (${counts})`);
    return at('content_hash_mismatch', `the rows do not hash to the link’s content_hash (${counts})`);
  }
  return null;
}

const ID_EXPR: Record<ChainedTable, string> = {
  events: `JSONExtractString(raw, 'event_id')`,
  detections: 'detection_id',
  risk_changes: 'change_id',
  admin_actions: 'action_id',
};

async function findUnchained(
  client: ClickHouseClient,
  tenant: string,
  ranged: boolean,
  timeParams: { from: number; to: number },
  graceMs: number,
): Promise<BrokenLink | null> {
  let first: { row: Record<string, unknown>; table: ChainedTable } | null = null;
  for (const table of CHAINED_TABLES) {
    const rangeRows = ranged ? `AND time >= fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND time < fromUnixTimestamp64Milli({to:Int64}, 'UTC')` : '';
    const rangeLinks = ranged
      ? `AND max_time >= fromUnixTimestamp64Milli({from:Int64}, 'UTC') AND min_time < fromUnixTimestamp64Milli({to:Int64}, 'UTC')`
      : '';
    const [r] = await rows<Record<string, unknown>>(
      client,
      `SELECT batch_token, count() AS n, toUnixTimestamp64Milli(min(time)) AS t, argMin(${ID_EXPR[table]}, time) AS id
       FROM ${table}
       WHERE tenant_id = {tenant:String} ${rangeRows}
         AND ingested_at < now64(3) - toIntervalMillisecond({grace:UInt64})
         AND batch_token NOT IN (
           SELECT batch_token FROM ledger_chain WHERE tenant_id = {tenant:String} AND table_name = {table:String} ${rangeLinks})
       GROUP BY batch_token
       ORDER BY t, batch_token
       LIMIT 1`,
      { tenant, table, grace: graceMs, ...timeParams },
    );
    if (r && (!first || Number(r.t) < Number(first.row.t))) first = { row: r, table };
  }
  if (!first) return null;
  const { row, table } = first;
  const token = String(row.batch_token);
  return {
    seq: null,
    token,
    table,
    reason: 'unchained_rows',
    detail: `${Number(row.n)} row(s) ${token === '' ? 'without a batch token' : 'under a batch token'} that no link covers`,
    row: { id: String(row.id), time: iso(Number(row.t)) },
  };
}

// The event ledger: one row per event delivery, with the exact JSON record
// (`raw`), where the event came from (`source`, `source_offset`) and typed
// columns for the union of every event type's fields.
//
// The writer inserts only (time, raw, source, source_offset); every other
// typed column is a DEFAULT computed by ClickHouse from `raw` at insert time.
// All those defaults extract the same Tuple from `raw`, which ClickHouse
// evaluates once per row (common subexpression), so the record is parsed once
// by simdjson instead of twice in JS and in the JSON input format: measured
// about 2x the insert throughput of sending the typed columns as
// JSONEachRow keys. It also makes the typed columns consistent with `raw` by
// construction. Columns a type does not have are NULL ('' for agent_id, which
// user-risk events lack; [] for scopes).

import type { Migration } from '../migrations.js';

/** Typed columns filled from `raw`, in contract terms: [name, ClickHouse type]. */
export const EVENT_TYPED_COLUMNS: readonly (readonly [string, string])[] = [
  ['type', 'LowCardinality(String)'],
  ['event_id', 'String'],
  ['tenant_id', 'LowCardinality(String)'],
  ['agent_id', 'String'],
  ['agent_type', 'LowCardinality(Nullable(String))'],
  ['blueprint_id', 'Nullable(String)'],
  ['flow', 'LowCardinality(Nullable(String))'],
  ['user_id', 'Nullable(String)'],
  ['credential_id', 'Nullable(String)'],
  ['credential_type', 'LowCardinality(Nullable(String))'],
  ['ip', 'Nullable(String)'],
  ['asn', 'Nullable(UInt32)'],
  ['country', 'LowCardinality(Nullable(String))'],
  ['lat', 'Nullable(Float64)'],
  ['lon', 'Nullable(Float64)'],
  ['user_agent', 'LowCardinality(Nullable(String))'],
  ['resource', 'LowCardinality(Nullable(String))'],
  ['result', 'LowCardinality(Nullable(String))'],
  ['error_code', 'LowCardinality(Nullable(String))'],
  ['token_id', 'Nullable(String)'],
  ['scopes', 'Array(LowCardinality(String))'],
  // UInt64, not UInt32: the contract allows up to 2^53 and an out-of-range
  // integer would not round-trip.
  ['lifetime_s', 'Nullable(UInt64)'],
  ['decision', 'LowCardinality(Nullable(String))'],
  ['dest_host', 'Nullable(String)'],
  ['dest_ip', 'Nullable(String)'],
  ['dest_port', 'Nullable(UInt16)'],
  ['category', 'LowCardinality(Nullable(String))'],
  ['action', 'LowCardinality(Nullable(String))'],
  ['bytes_out', 'Nullable(UInt64)'],
  ['bytes_in', 'Nullable(UInt64)'],
  ['file_type', 'LowCardinality(Nullable(String))'],
  ['threat', 'LowCardinality(Nullable(String))'],
  ['dest_agent_id', 'Nullable(String)'],
  ['level', 'LowCardinality(Nullable(String))'],
  ['reason', 'Nullable(String)'],
  ['actor', 'Nullable(String)'],
  ['sponsor_id', 'Nullable(String)'],
  ['permission', 'LowCardinality(Nullable(String))'],
];

const withoutLowCardinality = (type: string) => type.replace(/^LowCardinality\((.*)\)$/, '$1').replace(/LowCardinality\((\w+)\)/, '$1');

/** The Tuple every typed column's DEFAULT extracts from `raw`. */
export const RAW_TUPLE = `Tuple(${EVENT_TYPED_COLUMNS.map(([n, t]) => `${n} ${withoutLowCardinality(t)}`).join(', ')})`;

const typedColumns = EVENT_TYPED_COLUMNS.map(
  ([name, type]) => `    ${name.padEnd(15)} ${type} DEFAULT tupleElement(JSONExtract(raw, '${RAW_TUPLE}'), '${name}')`,
).join(',\n');

export const CREATE_EVENTS = `
CREATE TABLE IF NOT EXISTS events
(
    time            DateTime64(3, 'UTC'),
    raw             String,
    source          LowCardinality(String),
    source_offset   Int64,
${typedColumns},
    ingested_at     DateTime64(3, 'UTC') DEFAULT now64(3),
    -- storedOffsets(source, first, last) looks rows up by provenance, which
    -- the sort key does not cover; these skip indexes keep it off a full scan
    -- (each insert is one batch: a narrow offset range of few sources).
    INDEX idx_source source TYPE set(1024) GRANULARITY 4,
    INDEX idx_source_offset source_offset TYPE minmax GRANULARITY 4
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (tenant_id, agent_id, time, event_id)
SETTINGS
    non_replicated_deduplication_window = 10000,
    -- Measured on chdb 26.7, 20k-event inserts: Compact parts cost 8 µs of CPU
    -- per event to insert against 13-15 for Wide ones, and merges of this
    -- 40-column table with the vertical algorithm cost ~20 µs per event and
    -- merge against under 3 horizontally. Parts stay Compact up to 256 MiB.
    min_bytes_for_wide_part = 268435456,
    enable_vertical_merge_algorithm = 0
`;

/** The columns the writer sends, in the order of its TabSeparated rows. */
export const EVENT_INSERT_COLUMNS = ['time', 'raw', 'source', 'source_offset'] as const;

export const migration: Migration = {
  version: 1,
  name: 'events',
  statements: [CREATE_EVENTS],
};

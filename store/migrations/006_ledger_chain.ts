// Tamper evidence for the ledger (see store/ledger-chain.ts and docs/store.md):
//
// - every ledger table gets a `batch_token` column (the deduplication token of
//   the batch that inserted the row, '' for rows written before this
//   migration) with a bloom-filter skip index, so the rows of one batch can be
//   found again without a full scan;
// - `ledger_chain` holds one link per (tenant, table) per batch: the SHA-256 of
//   the canonical serialisation of the batch's rows of that tenant, chained to
//   the tenant's previous link.
//
// Only columns, indexes and a table are added; no row is rewritten. A new
// skip index covers parts written from now on (and parts produced by merges).

import type { Migration } from '../migrations.js';

export const CHAINED_TABLES = ['events', 'detections', 'risk_changes', 'admin_actions'] as const;

const batchTokenStatements = CHAINED_TABLES.flatMap((table) => [
  `ALTER TABLE ${table} ADD COLUMN IF NOT EXISTS batch_token String DEFAULT '' CODEC(ZSTD(1))`,
  `ALTER TABLE ${table} ADD INDEX IF NOT EXISTS idx_batch_token batch_token TYPE bloom_filter(0.001) GRANULARITY 1`,
]);

export const CREATE_LEDGER_CHAIN = `
CREATE TABLE IF NOT EXISTS ledger_chain
(
    tenant_id    LowCardinality(String),
    -- 1, 2, 3... per tenant, in the order the links were appended
    seq          UInt64,
    -- the batch's deduplication token, as stored in the rows' batch_token
    batch_token  String,
    table_name   LowCardinality(String),
    row_count    UInt64,
    -- SHA-256 (hex) of the rows' canonical lines, sorted by (CRC-32, line)
    content_hash String,
    -- CRC-32 of each canonical line, sorted: locates a changed, added or missing row
    row_crcs     Array(UInt32) CODEC(ZSTD(1)),
    prev_hash    String,
    -- SHA-256 (hex) of prev_hash and this link's fields (see linkHash)
    chain_hash   String,
    -- event-time range of the rows
    min_time     DateTime64(3, 'UTC'),
    max_time     DateTime64(3, 'UTC'),
    written_at   DateTime64(3, 'UTC') DEFAULT now64(3),
    INDEX idx_batch_token batch_token TYPE bloom_filter(0.001) GRANULARITY 1
)
ENGINE = MergeTree
ORDER BY (tenant_id, seq)
SETTINGS non_replicated_deduplication_window = 10000
`;

export const migration: Migration = {
  version: 6,
  name: 'ledger_chain',
  statements: [...batchTokenStatements, CREATE_LEDGER_CHAIN],
};

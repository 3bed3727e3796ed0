// What the publish stage must remember across restarts: registered webhooks,
// SSF streams, and the SETs queued for each stream. Append-only like the
// ledger: every change is a new row (a new version of a registration or
// stream, a deletion marker, an enqueue or a removal), and the current state
// is read back as the latest version per key. Secrets in these rows (a
// webhook's signing secret, a push receiver's Authorization header) are
// sealed (publish/state-cipher.ts), never stored in clear.

import type { Migration } from '../migrations.js';

export const CREATE_WEBHOOK_REGISTRATIONS = `
CREATE TABLE IF NOT EXISTS webhook_registrations
(
    tenant_id      LowCardinality(String),
    webhook_id     String,
    version        UInt64,
    deleted        Bool,
    record         String,
    secret_sealed  String,
    written_at     DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (tenant_id, webhook_id, version)
SETTINGS non_replicated_deduplication_window = 10000
`;

export const CREATE_SSF_STREAMS = `
CREATE TABLE IF NOT EXISTS ssf_streams
(
    stream_id             String,
    tenant_id             LowCardinality(String),
    version               UInt64,
    deleted               Bool,
    record                String,
    authorization_sealed  String,
    written_at            DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (stream_id, version)
SETTINGS non_replicated_deduplication_window = 10000
`;

export const CREATE_SSF_QUEUE = `
CREATE TABLE IF NOT EXISTS ssf_queue
(
    stream_id    String,
    jti          String,
    op           Enum8('enqueue' = 1, 'remove' = 2),
    set_jws      String,
    event        LowCardinality(String),
    enqueued_at  DateTime64(3, 'UTC'),
    written_at   DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (stream_id, jti, op)
SETTINGS non_replicated_deduplication_window = 10000
`;

export const migration: Migration = {
  version: 10,
  name: 'publish_state',
  statements: [CREATE_WEBHOOK_REGISTRATIONS, CREATE_SSF_STREAMS, CREATE_SSF_QUEUE],
};

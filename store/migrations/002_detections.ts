// Detections, as the detectors emitted them. `detection_id` is a stable hash of
// (detector, tenant, agent, time, event_ids) computed by the ledger writer, so
// the same detection re-derived after a replay has the same id.

import type { Migration } from '../migrations.js';

export const CREATE_DETECTIONS = `
CREATE TABLE IF NOT EXISTS detections
(
    detection_id String,
    detector     LowCardinality(String),
    severity     LowCardinality(String),
    tenant_id    LowCardinality(String),
    agent_id     String,
    time         DateTime64(3, 'UTC'),
    summary      String,
    evidence     String,
    event_ids    Array(String),
    ingested_at  DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(time)
ORDER BY (tenant_id, agent_id, time, detection_id)
SETTINGS non_replicated_deduplication_window = 10000
`;

export const migration: Migration = {
  version: 2,
  name: 'detections',
  statements: [CREATE_DETECTIONS],
};

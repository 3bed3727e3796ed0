// Per-agent, per-hour counts for the statistics routes, maintained by
// ClickHouse itself: materialized views on `events` and `detections` add one
// row per (tenant, agent, hour, kind, name) of every inserted block to a
// SummingMergeTree, whose merges sum them. Readers always aggregate with
// sum(count) (rows of one key may not have been merged yet).
//
//   kind 'event'     name = event type        every event
//   kind 'failure'   name = event type        failed sign-ins, blocked tokens, blocked network requests
//   kind 'detection' name = detector id       every detection
//
// Redelivered batches: an insert skipped by the source table's deduplication
// still runs the views (ClickHouse 24.x+ with
// deduplicate_blocks_in_dependent_materialized_views); the target's own
// deduplication window drops the view's block, whose token is derived from the
// source insert's token. Without that window a redelivery would count twice.
//
// Rows stored before this migration are counted once by the backfill, which
// runs only while the target is empty (the migration runs before the pipeline
// starts, so nothing is inserted between the backfill and the views' creation).

import type { Migration } from '../migrations.js';

export const CREATE_AGENT_HOURLY_STATS = `
CREATE TABLE IF NOT EXISTS agent_hourly_stats
(
    tenant_id LowCardinality(String),
    agent_id  String,
    hour      DateTime('UTC'),
    kind      LowCardinality(String),
    name      LowCardinality(String),
    count     UInt64
)
ENGINE = SummingMergeTree(count)
PARTITION BY toYYYYMM(hour)
ORDER BY (tenant_id, kind, hour, name, agent_id)
SETTINGS non_replicated_deduplication_window = 10000
`;

const FAILURE = `(result = 'failure' OR decision = 'blocked' OR (type = 'network' AND action = 'blocked'))`;

const EVENTS_SELECT = `
SELECT tenant_id, agent_id, toDateTime(toStartOfHour(time), 'UTC') AS hour, 'event' AS kind, toString(type) AS name, count() AS count
FROM events
GROUP BY tenant_id, agent_id, hour, name`;

const FAILURES_SELECT = `
SELECT tenant_id, agent_id, toDateTime(toStartOfHour(time), 'UTC') AS hour, 'failure' AS kind, toString(type) AS name, count() AS count
FROM events
WHERE ${FAILURE}
GROUP BY tenant_id, agent_id, hour, name`;

const DETECTIONS_SELECT = `
SELECT tenant_id, agent_id, toDateTime(toStartOfHour(time), 'UTC') AS hour, 'detection' AS kind, toString(detector) AS name, count() AS count
FROM detections
GROUP BY tenant_id, agent_id, hour, name`;

export const BACKFILL_AGENT_HOURLY_STATS = `
INSERT INTO agent_hourly_stats (tenant_id, agent_id, hour, kind, name, count)
SELECT tenant_id, agent_id, hour, kind, name, count
FROM (${EVENTS_SELECT} UNION ALL ${FAILURES_SELECT} UNION ALL ${DETECTIONS_SELECT})
WHERE (SELECT count() FROM agent_hourly_stats) = 0
`;

export const migration: Migration = {
  version: 7,
  name: 'agent_hourly_stats',
  statements: [
    CREATE_AGENT_HOURLY_STATS,
    BACKFILL_AGENT_HOURLY_STATS,
    `CREATE MATERIALIZED VIEW IF NOT EXISTS agent_hourly_events_mv TO agent_hourly_stats AS ${EVENTS_SELECT}`,
    `CREATE MATERIALIZED VIEW IF NOT EXISTS agent_hourly_failures_mv TO agent_hourly_stats AS ${FAILURES_SELECT}`,
    `CREATE MATERIALIZED VIEW IF NOT EXISTS agent_hourly_detections_mv TO agent_hourly_stats AS ${DETECTIONS_SELECT}`,
  ],
};

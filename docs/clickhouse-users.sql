-- ClickHouse users for riskstream on a ClickHouse server (CLICKHOUSE_URL set).
-- See docs/store.md, "ClickHouse server users". Not needed for the embedded engine.
--
-- Run once as an administrator (a user with access_management = 1):
--   clickhouse-client --multiquery < docs/clickhouse-users.sql
-- Replace the passwords first (or use IDENTIFIED WITH sha256_hash BY '<hex>').
-- The database is `riskstream` (CLICKHOUSE_DATABASE); change it below if yours differs.

CREATE DATABASE IF NOT EXISTS riskstream;

-- Applies the schema migrations (`riskstream migrate`, run at each upgrade):
-- creates tables and materialized views, adds columns and skip indexes, and
-- inserts the statistics backfill and the schema_migrations records.
-- Migrations never rewrite or remove rows, so this user gets no ALTER UPDATE,
-- ALTER DELETE, TRUNCATE or DROP TABLE either. DROP VIEW is for replacing a
-- materialized view (migration 9): a view holds no rows of its own.
CREATE USER IF NOT EXISTS riskstream_migrator IDENTIFIED WITH sha256_password BY 'change-me-migrator';
GRANT CREATE TABLE, CREATE VIEW, DROP VIEW, ALTER ADD COLUMN, ALTER ADD INDEX, SELECT, INSERT ON riskstream.* TO riskstream_migrator;

-- The pipeline and the API (`riskstream run`): appends to the ledger and
-- reads it, nothing else. Its inserts set insert_deduplication_token and
-- async_insert per query, so it must not be readonly.
CREATE USER IF NOT EXISTS riskstream_pipeline IDENTIFIED WITH sha256_password BY 'change-me-pipeline';
GRANT SELECT, INSERT ON riskstream.* TO riskstream_pipeline;

-- Analysts and dashboards querying ClickHouse directly: read only.
CREATE USER IF NOT EXISTS riskstream_analyst IDENTIFIED WITH sha256_password BY 'change-me-analyst' SETTINGS readonly = 1;
GRANT SELECT ON riskstream.* TO riskstream_analyst;

// All configuration, read once from the environment, with defaults that run the
// whole pipeline on one machine with nothing installed (embedded ClickHouse,
// generated event stream, API on 127.0.0.1:8080).

import path from 'node:path';
import { loadPublishConfig, type PublishConfig } from '../publish/config.js';

export interface ClickHouseConfig {
  /** Server URL; when absent the embedded chdb engine is used. */
  url: string | undefined;
  user: string;
  password: string;
  database: string;
}

export interface KafkaConfig {
  /** Broker list; when empty, ingest reads the generator or an NDJSON file instead. */
  brokers: string[];
  clientId: string;
  groupId: string;
  topicPrefix: string;
}

export interface Config {
  dataDir: string;
  clickhouse: ClickHouseConfig;
  kafka: KafkaConfig;
  schemaRegistryUrl: string | undefined;
  api: { host: string; port: number };
  logLevel: string;
  /** Seed and speed of the built-in fleet generator used when no other source is configured. */
  generator: { seed: number; eventsPerSecond: number; agents: number };
  /** Insert batch limits: flush when either is reached. */
  batch: { maxEvents: number; maxWaitMs: number };
  /** Checkpoints of the detection state (Kafka sources): at most this often (ms); 0 = only at a clean stop. */
  stateCheckpointMs: number;
  /** Publication: public URL (SSF issuer), outbound allowlist, transactional id, retries. */
  publish: PublishConfig;
}

export class ConfigError extends Error {
  constructor(variable: string, reason: string) {
    super(`${variable}: ${reason}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function int(env: Env, name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min || n > max) throw new ConfigError(name, `must be an integer in [${min}, ${max}], got ${JSON.stringify(raw)}`);
  return n;
}

function str(env: Env, name: string, fallback: string): string {
  const raw = env[name];
  return raw === undefined || raw === '' ? fallback : raw;
}

function optional(env: Env, name: string): string | undefined {
  const raw = env[name];
  return raw === undefined || raw === '' ? undefined : raw;
}

export function loadConfig(env: Env = process.env): Config {
  const dataDir = path.resolve(str(env, 'RISKSTREAM_DATA_DIR', './data'));
  return {
    dataDir,
    clickhouse: {
      url: optional(env, 'CLICKHOUSE_URL'),
      user: str(env, 'CLICKHOUSE_USER', 'default'),
      password: str(env, 'CLICKHOUSE_PASSWORD', ''),
      database: str(env, 'CLICKHOUSE_DATABASE', 'riskstream'),
    },
    kafka: {
      brokers: (optional(env, 'KAFKA_BROKERS') ?? '')
        .split(',')
        .map((b) => b.trim())
        .filter(Boolean),
      clientId: str(env, 'KAFKA_CLIENT_ID', 'riskstream'),
      groupId: str(env, 'KAFKA_GROUP_ID', 'riskstream'),
      topicPrefix: str(env, 'KAFKA_TOPIC_PREFIX', 'riskstream'),
    },
    schemaRegistryUrl: optional(env, 'SCHEMA_REGISTRY_URL'),
    api: { host: str(env, 'RISKSTREAM_HOST', '127.0.0.1'), port: int(env, 'RISKSTREAM_PORT', 8080, 0, 65535) },
    logLevel: str(env, 'RISKSTREAM_LOG_LEVEL', 'info'),
    generator: {
      seed: int(env, 'RISKSTREAM_GENERATOR_SEED', 42),
      eventsPerSecond: int(env, 'RISKSTREAM_GENERATOR_RATE', 200, 1),
      agents: int(env, 'RISKSTREAM_GENERATOR_AGENTS', 1000, 1),
    },
    batch: { maxEvents: int(env, 'RISKSTREAM_BATCH_MAX_EVENTS', 20000, 1), maxWaitMs: int(env, 'RISKSTREAM_BATCH_MAX_WAIT_MS', 250, 1) },
    stateCheckpointMs: int(env, 'RISKSTREAM_STATE_CHECKPOINT_MS', 10 * 60_000),
    // The SSF issuer defaults to where the API listens.
    publish: loadPublishConfig({
      ...env,
      RISKSTREAM_PUBLIC_URL: env.RISKSTREAM_PUBLIC_URL || `http://${str(env, 'RISKSTREAM_HOST', '127.0.0.1')}:${int(env, 'RISKSTREAM_PORT', 8080, 0, 65535)}`,
    }),
  };
}

// The `riskstream` command.
//
//   riskstream run [--input FILE|-]          pipeline + API (what `npm start` runs)
//   riskstream produce --input FILE --brokers HOST:PORT [--partitions N]
//   riskstream replay --input FILE|- --output FILE|-
//   riskstream token --role ROLE --tenant TENANT [--ttl DURATION]
//   riskstream migrate                       apply the store's migrations and exit

import { createReadStream, createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/index.js';
import { loadSigningKey, parseDuration, ROLES, TokenAuthority, type Role } from '../api/auth.js';
import { replay } from '../detectors/replay.js';
import { AvroCodec } from '../ingest/avro/codec.js';
import { createSchemaRegistry } from '../ingest/avro/registry.js';
import { ensureTopics, EventProducer } from '../ingest/kafka-producer.js';
import { parseNdjsonLine } from '../ingest/ndjson-source.js';
import { topicNames } from '../ingest/topics.js';
import type { AgentEvent } from '../contract/events.js';
import { openClickHouse } from '../store/clickhouse.js';
import { runMigrations } from '../store/migrations.js';
import { startRiskstream } from './app.js';

const USAGE = `usage:
  riskstream run [--input FILE|-]
  riskstream produce --input FILE|- --brokers HOST:PORT [--partitions N] [--topic-prefix P]
  riskstream replay --input FILE|- --output FILE|-
  riskstream token --role ${ROLES.join('|')} --tenant TENANT [--ttl 8h] [--subject NAME]
  riskstream migrate`;

class UsageError extends Error {}

async function cmdRun(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { input: { type: 'string' } }, strict: true });
  const config = loadConfig();
  const app = await startRiskstream(config, values.input !== undefined ? { input: values.input } : {});
  const source = values.input !== undefined ? `NDJSON ${values.input}` : config.kafka.brokers.length > 0 ? `Kafka ${config.kafka.brokers.join(',')}` : 'generated fleet';
  process.stderr.write(`riskstream: reading ${source}; API on ${app.url}; data in ${config.dataDir}\n`);
  const state = app.detectionState;
  if (state.restored) process.stderr.write(`riskstream: detection state of the last clean stop restored (${state.agents} agents)\n`);
  else if (state.reason !== 'none') process.stderr.write(`riskstream: saved detection state not used (${state.reason}); baselines are relearned\n`);
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`riskstream: ${signal}, stopping\n`);
    await app.stop();
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  try {
    await app.done;
    process.stderr.write(`riskstream: input finished (${app.runner.stats.events} events stored); API still serving, Ctrl-C to stop\n`);
  } catch (err) {
    process.stderr.write(`riskstream: pipeline failed: ${(err as Error).message}\n`);
    await app.stop();
    return 1;
  }
  await new Promise(() => undefined); // keep serving until a signal
  return 0;
}

async function cmdProduce(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { input: { type: 'string' }, brokers: { type: 'string' }, partitions: { type: 'string' }, 'topic-prefix': { type: 'string' } },
    strict: true,
  });
  const config = loadConfig();
  const brokers = (values.brokers ?? config.kafka.brokers.join(',')).split(',').filter(Boolean);
  if (!values.input) throw new UsageError('produce: --input is required');
  if (brokers.length === 0) throw new UsageError('produce: --brokers is required (or KAFKA_BROKERS)');
  const topics = topicNames(values['topic-prefix'] ?? config.kafka.topicPrefix);
  await ensureTopics(brokers, topics, { partitions: values.partitions ? Number(values.partitions) : 1 });
  const producer = new EventProducer(brokers, topics, new AvroCodec(createSchemaRegistry(config.schemaRegistryUrl)));
  await producer.connect();
  const input = values.input === '-' ? process.stdin : createReadStream(values.input, { encoding: 'utf8' });
  let lineNo = 0;
  let sent = 0;
  let bad = 0;
  let pending: AgentEvent[] = [];
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    lineNo++;
    if (line.trim() === '') continue;
    const parsed = parseNdjsonLine(line);
    if ('error' in parsed) {
      bad++;
      process.stderr.write(`line ${lineNo}: ${parsed.error}\n`);
      continue;
    }
    pending.push(parsed.event);
    if (pending.length >= 5000) {
      await producer.send(pending);
      sent += pending.length;
      pending = [];
    }
  }
  await producer.send(pending);
  sent += pending.length;
  await producer.disconnect();
  process.stderr.write(`produced ${sent} events to ${brokers.join(',')} (${bad} bad lines skipped)\n`);
  return bad > 0 ? 2 : 0;
}

async function cmdReplay(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { input: { type: 'string' }, output: { type: 'string' } }, strict: true });
  if (!values.input || !values.output) throw new UsageError('replay: --input and --output are required');
  const input = values.input === '-' ? process.stdin : createReadStream(values.input);
  const output = values.output === '-' ? process.stdout : createWriteStream(values.output);
  const result = await replay(input, output, process.stderr);
  if (output !== process.stdout) await new Promise<void>((resolve, reject) => output.end((err?: Error | null) => (err ? reject(err) : resolve())));
  process.stderr.write(
    `replayed ${result.events} events: ${result.detections} detections, ${result.riskChanges} risk changes, ${result.bad} bad lines skipped` +
      (result.duplicates > 0 ? `, ${result.duplicates} redelivered events judged once` : '') +
      '\n',
  );
  return 0;
}

async function cmdToken(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { role: { type: 'string' }, tenant: { type: 'string' }, ttl: { type: 'string' }, subject: { type: 'string' } },
    strict: true,
  });
  if (!values.role || !(ROLES as readonly string[]).includes(values.role)) throw new UsageError(`token: --role must be one of ${ROLES.join(', ')}`);
  if (!values.tenant) throw new UsageError('token: --tenant is required');
  const config = loadConfig();
  const authority = new TokenAuthority(await loadSigningKey(config.dataDir, process.env.RISKSTREAM_JWT_SECRET));
  const token = await authority.issue({
    role: values.role as Role,
    tenant: values.tenant,
    ttlSeconds: parseDuration(values.ttl ?? '8h'),
    ...(values.subject && { subject: values.subject }),
  });
  process.stdout.write(`${token}\n`);
  return 0;
}

/** Applies the migrations (as a user with DDL rights, e.g. the migrator of docs/clickhouse-users.sql) and exits. */
async function cmdMigrate(args: string[]): Promise<number> {
  parseArgs({ args, options: {}, strict: true });
  const config = loadConfig();
  const store = await openClickHouse({ ...config.clickhouse, dataDir: config.dataDir });
  try {
    const r = await runMigrations(store);
    process.stderr.write(`migrations applied: [${r.applied.join(', ')}]; already applied: [${r.alreadyApplied.join(', ')}]\n`);
    if (r.unknown.length > 0) process.stderr.write(`recorded by newer code: [${r.unknown.join(', ')}]\n`);
  } finally {
    await store.close();
  }
  return 0;
}

const COMMANDS: Record<string, (args: string[]) => Promise<number>> = {
  run: cmdRun,
  produce: cmdProduce,
  replay: cmdReplay,
  token: cmdToken,
  migrate: cmdMigrate,
};

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const handler = command ? COMMANDS[command] : undefined;
  if (!handler) {
    process.stderr.write(`${USAGE}\n`);
    return command === '--help' || command === '-h' ? 0 : 64;
  }
  try {
    return await handler(rest);
  } catch (err) {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`riskstream: ${(err as Error).message}\n${USAGE}\n`);
      return 64;
    }
    process.stderr.write(`riskstream: ${(err as Error).message}\n`);
    return 1;
  }
}

/**
 * A real single-node Apache Kafka 3.9.1 broker (KRaft, broker+controller in one JVM,
 * 127.0.0.1 only) assembled from Maven Central jars, for integration tests and local use.
 *
 * Library:
 *   const kafka = await startKafka({ port: 0 });   // 0 / omitted = pick a free port
 *   kafka.brokers                                   // "127.0.0.1:PORT"
 *   await kafka.stop();
 *
 * CLI (npx tsx scripts/kafka/kafka.ts <cmd>, or npm run kafka:up / kafka:down):
 *   up      start detached on $KAFKA_PORT (default 19092), write a pid file, print KAFKA_BROKERS=...
 *   down    stop the broker(s) started by `up` ($KAFKA_PORT selects one; otherwise all)
 *   status  print the brokers started by `up` that are still running
 *   libs    only download the jars into the cache
 *
 * Requirements: java (17+) and mvn on PATH. Jars land in $RISKSTREAM_KAFKA_CACHE/libs
 * (default <repo>/.cache/kafka/libs) and are reused once complete.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Kafka, logLevel } from 'kafkajs';

export const KAFKA_VERSION = '3.9.1';
export const DEFAULT_UP_PORT = 19092;

const HERE = path.dirname(fileURLToPath(import.meta.url));
// The repository root is the nearest folder with a package.json: this module
// runs from scripts/kafka (tsx) and from dist/scripts/kafka (compiled bench).
function findRepoRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    if (path.dirname(dir) === dir) return path.resolve(from, '..', '..');
  }
}
const REPO_ROOT = findRepoRoot(HERE);
const POM = path.join(REPO_ROOT, 'scripts', 'kafka', 'pom.xml');
const HOST = '127.0.0.1';
const MARKER = '.riskstream-complete';
const READY_TIMEOUT_MS = 90_000;
const STOP_GRACE_MS = 20_000;

export interface StartKafkaOptions {
  /** PLAINTEXT port on 127.0.0.1. 0 or omitted: a free port. */
  port?: number;
  /** KRaft controller port. 0 or omitted: a free port. */
  controllerPort?: number;
  /**
   * Directory for config, Kafka logs (data) and log4j output. It is wiped and re-created
   * (only if empty or created by this script before).
   * Omitted: a fresh temp dir, deleted again by stop().
   */
  dataDir?: string;
  /** Spawn the JVM in its own process group and unref it so this Node process may exit (CLI `up`). */
  detached?: boolean;
  /** How long to wait for the broker to answer describeCluster. Default 90 s. */
  readyTimeoutMs?: number;
  /**
   * After describeCluster works, also create __consumer_offsets and allocate the first
   * producer-id block, so first clients don't log retriable coordinator errors. Default true.
   */
  warmUp?: boolean;
  /** Extra/overriding server.properties entries. */
  serverProperties?: Record<string, string | number | boolean>;
}

export interface KafkaBroker {
  /** Bootstrap string, "127.0.0.1:PORT". */
  brokers: string;
  port: number;
  controllerPort: number;
  pid: number;
  dataDir: string;
  /** log4j output (server.log, controller.log, ...) and kafka.out (JVM stdout/stderr). */
  logDir: string;
  /** SIGTERM, wait for exit, SIGKILL after 20 s. Idempotent. */
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// Cache / jars

export function kafkaCacheDir(): string {
  const env = process.env.RISKSTREAM_KAFKA_CACHE;
  return env && env.trim() !== '' ? path.resolve(env) : path.join(REPO_ROOT, '.cache', 'kafka');
}

function pomHash(): string {
  return createHash('sha256').update(fs.readFileSync(POM)).digest('hex');
}

function libsComplete(libsDir: string, hash: string): boolean {
  try {
    return fs.readFileSync(path.join(libsDir, MARKER), 'utf8').trim() === hash;
  } catch {
    return false;
  }
}

/**
 * Make sure <cache>/libs holds the broker classpath. Downloads with Maven into a temp dir and
 * renames it into place, so concurrent callers and interrupted downloads never see a partial
 * classpath. Re-downloads when pom.xml changes (its hash is stored in the marker file).
 */
export async function ensureKafkaLibs(): Promise<string> {
  const cache = kafkaCacheDir();
  const libs = path.join(cache, 'libs');
  const hash = pomHash();
  if (libsComplete(libs, hash)) return libs;

  await fsp.mkdir(cache, { recursive: true });
  const tmp = await fsp.mkdtemp(path.join(cache, 'libs.tmp-'));
  try {
    const mvnArgs = [
      '-B', '-q', '-ntp', '-Dstyle.color=never',
      '-f', POM,
      'dependency:copy-dependencies',
      `-DoutputDirectory=${tmp}`,
    ];
    const res = await run('mvn', mvnArgs, { cwd: HERE });
    if (res.code !== 0) {
      throw new Error(
        `mvn dependency:copy-dependencies failed (exit ${res.code}). Is Maven installed and Maven Central reachable?\n` +
          tail(res.output, 60),
      );
    }
    const jars = (await fsp.readdir(tmp)).filter((f) => f.endsWith('.jar'));
    if (!jars.some((f) => f.startsWith(`kafka_2.13-${KAFKA_VERSION}`))) {
      throw new Error(`mvn finished but ${tmp} has no kafka_2.13-${KAFKA_VERSION}.jar (${jars.length} jars)`);
    }
    await fsp.writeFile(path.join(tmp, MARKER), `${hash}\n`);
    await fsp.chmod(tmp, 0o755); // mkdtemp creates 0700

    if (libsComplete(libs, hash)) return libs; // someone else finished first
    await fsp.rm(libs, { recursive: true, force: true }); // stale (old pom) or partial
    try {
      await fsp.rename(tmp, libs);
    } catch (err) {
      if (!libsComplete(libs, hash)) throw err; // lost a race to another complete copy: fine
    }
    return libs;
  } finally {
    await fsp.rm(tmp, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Start / stop

export async function startKafka(opts: StartKafkaOptions = {}): Promise<KafkaBroker> {
  const java = process.env.JAVA_HOME ? path.join(process.env.JAVA_HOME, 'bin', 'java') : 'java';
  const libs = await ensureKafkaLibs();
  const classpath = path.join(libs, '*');

  const port = opts.port && opts.port > 0 ? opts.port : await freePort();
  const controllerPort =
    opts.controllerPort && opts.controllerPort > 0 ? opts.controllerPort : await freePort([port]);
  await assertPortFree(port, 'Kafka port');
  await assertPortFree(controllerPort, 'Kafka controller port');

  const ownsDataDir = !opts.dataDir;
  const dataDir = opts.dataDir
    ? path.resolve(opts.dataDir)
    : await fsp.mkdtemp(path.join(os.tmpdir(), 'riskstream-kafka-'));
  if (opts.dataDir) await wipeOwnDataDir(dataDir);
  const logDir = path.join(dataDir, 'logs');
  const kraftDir = path.join(dataDir, 'kraft');
  await fsp.mkdir(logDir, { recursive: true });
  await fsp.mkdir(kraftDir, { recursive: true });

  const serverProps = path.join(dataDir, 'server.properties');
  const log4jProps = path.join(dataDir, 'log4j.properties');
  await fsp.writeFile(
    serverProps,
    serverProperties({ port, controllerPort, kraftDir, extra: opts.serverProperties ?? {} }),
  );
  await fsp.writeFile(log4jProps, LOG4J_PROPERTIES);

  const sysProps = [
    `-Dkafka.logs.dir=${logDir}`,
    `-Dlog4j.configuration=${pathToFileURL(log4jProps).href}`,
    '-Djava.awt.headless=true',
  ];

  // Format the KRaft storage with a fresh cluster id.
  const uuid = await run(java, [...sysProps, '-cp', classpath, 'kafka.tools.StorageTool', 'random-uuid']);
  const clusterId = uuid.stdout.trim().split(/\s+/).pop() ?? '';
  if (uuid.code !== 0 || !/^[A-Za-z0-9_-]{22}$/.test(clusterId)) {
    throw new Error(`kafka-storage random-uuid failed (exit ${uuid.code}):\n${tail(uuid.output, 40)}`);
  }
  const format = await run(java, [
    ...sysProps, '-cp', classpath,
    'kafka.tools.StorageTool', 'format', '-t', clusterId, '-c', serverProps,
  ]);
  if (format.code !== 0) {
    throw new Error(`kafka-storage format failed (exit ${format.code}):\n${tail(format.output, 40)}`);
  }

  // Start the broker. JVM stdout/stderr go to a file (never a pipe that could fill up).
  const outFile = path.join(logDir, 'kafka.out');
  const outFd = fs.openSync(outFile, 'a');
  let child: ChildProcess;
  try {
    child = spawn(
      java,
      [
        '-Xms256m', '-Xmx512m',
        '-XX:+UseG1GC', '-XX:MaxGCPauseMillis=20', '-XX:+ExitOnOutOfMemoryError',
        ...sysProps,
        '-cp', classpath,
        'kafka.Kafka', serverProps,
      ],
      { cwd: dataDir, stdio: ['ignore', outFd, outFd], detached: !!opts.detached },
    );
  } finally {
    fs.closeSync(outFd);
  }
  const pid = await new Promise<number>((resolve, reject) => {
    child.once('spawn', () => resolve(child.pid!));
    child.once('error', reject);
  });

  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
  });

  // If this Node process goes away without calling stop(), don't leave a JVM behind
  // (not for detached brokers, which are meant to outlive us).
  const killOnExit = () => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  };
  if (opts.detached) {
    child.unref();
  } else {
    process.once('exit', killOnExit);
  }

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      process.removeListener('exit', killOnExit);
      if (!exited) {
        await terminate(pid, () => exited !== null, exitPromise);
      }
      if (ownsDataDir) await fsp.rm(dataDir, { recursive: true, force: true });
    })();
    return stopping;
  };

  const brokers = `${HOST}:${port}`;
  try {
    await waitReady(brokers, opts.readyTimeoutMs ?? READY_TIMEOUT_MS, () => exited, opts.warmUp ?? true);
  } catch (err) {
    const logs = await logTail(logDir);
    process.removeListener('exit', killOnExit);
    if (!exited) await terminate(pid, () => exited !== null, exitPromise);
    // keep dataDir so the logs can be inspected
    throw new Error(`${(err as Error).message}\n(data dir kept: ${dataDir})\n${logs}`);
  }

  return { brokers, port, controllerPort, pid, dataDir, logDir, stop };
}

const GENERATED = '# generated by scripts/kafka/kafka.ts';

/** rm -rf dataDir, but only if it is empty/missing or was written by us (guards against typos). */
async function wipeOwnDataDir(dataDir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await fsp.readdir(dataDir);
  } catch {
    return; // does not exist
  }
  if (entries.length > 0) {
    const props = await fsp.readFile(path.join(dataDir, 'server.properties'), 'utf8').catch(() => '');
    if (!props.startsWith(GENERATED)) {
      throw new Error(`refusing to wipe ${dataDir}: not empty and not a data dir created by scripts/kafka/kafka.ts`);
    }
  }
  await fsp.rm(dataDir, { recursive: true, force: true });
}

/**
 * Stop a broker: a handle from startKafka(), or a pid (e.g. from the `up` pid file).
 * SIGTERM, wait for exit, SIGKILL after 20 s.
 */
export async function stopKafka(target: KafkaBroker | number): Promise<void> {
  if (typeof target !== 'number') return target.stop();
  await terminate(target, () => !isAlive(target));
}

async function terminate(
  pid: number,
  isGone: () => boolean,
  exitPromise?: Promise<void>,
): Promise<void> {
  const waitGone = async (ms: number): Promise<boolean> => {
    const deadline = Date.now() + ms;
    while (!isGone()) {
      if (Date.now() >= deadline) return false;
      if (exitPromise) {
        await Promise.race([exitPromise, sleep(Math.min(200, deadline - Date.now()))]);
      } else {
        await sleep(100);
      }
    }
    return true;
  };
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return; // already gone
  }
  if (await waitGone(STOP_GRACE_MS)) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  if (!(await waitGone(10_000))) throw new Error(`kafka pid ${pid} did not exit after SIGKILL`);
}

async function waitReady(
  brokers: string,
  timeoutMs: number,
  exitedState: () => { code: number | null; signal: NodeJS.Signals | null } | null,
  warmUp: boolean,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = 'no attempt';
  let ready = false;
  while (!ready && Date.now() < deadline) {
    const ex = exitedState();
    if (ex) throw new Error(`Kafka exited during startup (code ${ex.code}, signal ${ex.signal})`);
    const admin = new Kafka({
      clientId: 'riskstream-kafka-ready',
      brokers: [brokers],
      logLevel: logLevel.NOTHING,
      connectionTimeout: 1000,
      requestTimeout: 3000,
      retry: { retries: 0 },
    }).admin();
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      ready = cluster.brokers.length > 0;
      if (!ready) lastError = 'describeCluster returned no brokers';
    } catch (err) {
      lastError = (err as Error).message;
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    if (!ready) await sleep(250);
  }
  if (!ready) {
    throw new Error(`Kafka at ${brokers} not ready after ${timeoutMs} ms (last error: ${lastError})`);
  }
  if (warmUp) await warmUpBroker(brokers, deadline, exitedState);
}

/**
 * The first consumer group / idempotent producer on a fresh broker hits retriable errors
 * ("coordinator is loading", "group coordinator is not available") while __consumer_offsets is
 * created and the first producer-id block is allocated; kafkajs logs those as ERROR. Do both once
 * here, silently, so clients see a warm broker.
 */
async function warmUpBroker(
  brokers: string,
  deadline: number,
  exitedState: () => { code: number | null; signal: NodeJS.Signals | null } | null,
): Promise<void> {
  const kafka = new Kafka({
    clientId: 'riskstream-kafka-warmup',
    brokers: [brokers],
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
  });
  let lastError = '';
  for (const step of ['group coordinator', 'producer id'] as const) {
    for (;;) {
      const ex = exitedState();
      if (ex) throw new Error(`Kafka exited during startup (code ${ex.code}, signal ${ex.signal})`);
      if (Date.now() >= deadline) {
        throw new Error(`Kafka at ${brokers}: ${step} not ready in time (last error: ${lastError})`);
      }
      try {
        if (step === 'group coordinator') {
          const admin = kafka.admin();
          await admin.connect();
          try {
            await admin.describeCluster(); // loads metadata; findGroupCoordinator needs it
            await admin.describeGroups(['riskstream-kafka-warmup']); // creates __consumer_offsets
          } finally {
            await admin.disconnect().catch(() => undefined);
          }
        } else {
          const producer = kafka.producer({
            idempotent: true, // kafkajs insists on retries for idempotent producers
            retry: { retries: 5, initialRetryTime: 100, maxRetryTime: 1000 },
          });
          try {
            await producer.connect(); // InitProducerId
          } finally {
            await producer.disconnect().catch(() => undefined);
          }
        }
        break;
      } catch (err) {
        lastError = (err as Error).message;
        await sleep(200);
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Config files

function serverProperties(p: {
  port: number;
  controllerPort: number;
  kraftDir: string;
  extra: Record<string, string | number | boolean>;
}): string {
  const props: Record<string, string | number | boolean> = {
    'process.roles': 'broker,controller',
    'node.id': 1,
    'controller.quorum.voters': `1@${HOST}:${p.controllerPort}`,
    listeners: `PLAINTEXT://${HOST}:${p.port},CONTROLLER://${HOST}:${p.controllerPort}`,
    'advertised.listeners': `PLAINTEXT://${HOST}:${p.port}`,
    'controller.listener.names': 'CONTROLLER',
    'inter.broker.listener.name': 'PLAINTEXT',
    'listener.security.protocol.map': 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
    'log.dirs': p.kraftDir,

    // single node
    'offsets.topic.num.partitions': 1,
    'offsets.topic.replication.factor': 1,
    'transaction.state.log.num.partitions': 1,
    'transaction.state.log.replication.factor': 1,
    'transaction.state.log.min.isr': 1,
    'default.replication.factor': 1,
    'min.insync.replicas': 1,
    'num.partitions': 1,
    'auto.create.topics.enable': false,
    'delete.topic.enable': true,
    'group.initial.rebalance.delay.ms': 0,

    // small footprint for a 2-core dev box / CI
    'num.network.threads': 2,
    'num.io.threads': 4,
    'num.recovery.threads.per.data.dir': 1,
    'background.threads': 4,
    'log.cleaner.threads': 1,
    'log.cleaner.dedupe.buffer.size': 16 * 1024 * 1024,

    // small segments / short retention: test and dev data only
    'log.segment.bytes': 16 * 1024 * 1024,
    'log.retention.hours': 24,
    'log.retention.bytes': -1,
    'log.retention.check.interval.ms': 60_000,
    'log.segment.delete.delay.ms': 1000,
    ...p.extra,
  };
  return (
    `${GENERATED}\n` +
    Object.entries(props)
      .map(([k, v]) => `${k}=${String(v)}`)
      .join('\n') +
    '\n'
  );
}

// Adapted from Kafka's config/log4j.properties: everything to files under ${kafka.logs.dir},
// only WARN+ to the console (which is kafka.out in the log dir).
const LOG4J_PROPERTIES = `${GENERATED}
log4j.rootLogger=INFO, stdout, kafkaAppender

log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.Threshold=WARN
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n

log4j.appender.kafkaAppender=org.apache.log4j.RollingFileAppender
log4j.appender.kafkaAppender.File=\${kafka.logs.dir}/server.log
log4j.appender.kafkaAppender.MaxFileSize=10MB
log4j.appender.kafkaAppender.MaxBackupIndex=2
log4j.appender.kafkaAppender.layout=org.apache.log4j.PatternLayout
log4j.appender.kafkaAppender.layout.ConversionPattern=[%d] %p %m (%c)%n

log4j.appender.stateChangeAppender=org.apache.log4j.RollingFileAppender
log4j.appender.stateChangeAppender.File=\${kafka.logs.dir}/state-change.log
log4j.appender.stateChangeAppender.MaxFileSize=10MB
log4j.appender.stateChangeAppender.MaxBackupIndex=1
log4j.appender.stateChangeAppender.layout=org.apache.log4j.PatternLayout
log4j.appender.stateChangeAppender.layout.ConversionPattern=[%d] %p %m (%c)%n

log4j.appender.controllerAppender=org.apache.log4j.RollingFileAppender
log4j.appender.controllerAppender.File=\${kafka.logs.dir}/controller.log
log4j.appender.controllerAppender.MaxFileSize=10MB
log4j.appender.controllerAppender.MaxBackupIndex=1
log4j.appender.controllerAppender.layout=org.apache.log4j.PatternLayout
log4j.appender.controllerAppender.layout.ConversionPattern=[%d] %p %m (%c)%n

log4j.logger.org.apache.zookeeper=WARN
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.kafka.request.logger=WARN
log4j.logger.kafka.controller=INFO, controllerAppender
log4j.additivity.kafka.controller=false
log4j.logger.org.apache.kafka.controller=INFO, controllerAppender
log4j.additivity.org.apache.kafka.controller=false
log4j.logger.state.change.logger=INFO, stateChangeAppender
log4j.additivity.state.change.logger=false
`;

// ---------------------------------------------------------------------------------------------
// Helpers

interface RunResult {
  code: number | null;
  stdout: string;
  output: string;
}

function run(cmd: string, args: string[], opts: { cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let output = '';
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      output += d.toString();
    });
    child.stderr!.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.once('error', (err) => {
      reject(
        (err as NodeJS.ErrnoException).code === 'ENOENT'
          ? new Error(`'${cmd}' not found on PATH (needed to run the local Kafka broker)`)
          : err,
      );
    });
    child.once('close', (code) => resolve({ code, stdout, output }));
  });
}

function tail(text: string, lines: number): string {
  return text.split('\n').slice(-lines).join('\n');
}

async function logTail(logDir: string): Promise<string> {
  const parts: string[] = [];
  for (const f of ['kafka.out', 'server.log', 'controller.log']) {
    try {
      const text = await fsp.readFile(path.join(logDir, f), 'utf8');
      if (text.trim()) parts.push(`--- ${f} (tail) ---\n${tail(text.trimEnd(), 40)}`);
    } catch {
      /* missing */
    }
  }
  return parts.join('\n') || `(no logs in ${logDir})`;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, Math.max(0, ms)));
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A port that is free on 127.0.0.1 right now (the usual small race applies). */
export function freePort(avoid: number[] = []): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => (avoid.includes(port) ? freePort(avoid).then(resolve, reject) : resolve(port)));
    });
  });
}

function assertPortFree(port: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new Error(
          `${what} ${HOST}:${port} is not available (${err.code}). ` +
            'Is another broker (npm run kafka:up) still running? Try npm run kafka:down or set KAFKA_PORT.',
        ),
      ),
    );
    srv.listen(port, HOST, () => srv.close(() => resolve()));
  });
}

// ---------------------------------------------------------------------------------------------
// CLI: up / down / status / libs

interface UpState {
  pid: number;
  port: number;
  controllerPort: number;
  brokers: string;
  dataDir: string;
  startedAt: string;
}

function pidFile(port: number): string {
  return path.join(kafkaCacheDir(), `kafka-${port}.pid`);
}

/** pid is alive and (where /proc exists) really is our kafka.Kafka JVM, not a recycled pid. */
function isOurBroker(state: UpState): boolean {
  if (!isAlive(state.pid)) return false;
  try {
    const cmdline = fs.readFileSync(`/proc/${state.pid}/cmdline`, 'utf8');
    return cmdline.includes('kafka.Kafka') && cmdline.includes(state.dataDir);
  } catch {
    return process.platform !== 'linux';
  }
}

function readUpStates(): { file: string; state: UpState }[] {
  const dir = kafkaCacheDir();
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir).filter((f) => /^kafka-\d+\.pid$/.test(f));
  } catch {
    return [];
  }
  const out: { file: string; state: UpState }[] = [];
  for (const name of names) {
    const file = path.join(dir, name);
    try {
      out.push({ file, state: JSON.parse(fs.readFileSync(file, 'utf8')) as UpState });
    } catch {
      fs.rmSync(file, { force: true });
    }
  }
  return out;
}

function envPort(): number | undefined {
  const raw = process.env.KAFKA_PORT;
  if (!raw) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n <= 0 || n > 65535) throw new Error(`invalid KAFKA_PORT=${raw}`);
  return n;
}

async function cliUp(): Promise<void> {
  const port = envPort() ?? DEFAULT_UP_PORT;
  const file = pidFile(port);
  const existing = readUpStates().find((s) => s.file === file);
  if (existing) {
    if (isOurBroker(existing.state)) {
      console.error(`kafka already running on ${existing.state.brokers} (pid ${existing.state.pid})`);
      console.log(`KAFKA_BROKERS=${existing.state.brokers}`);
      return;
    }
    fs.rmSync(file, { force: true });
  }
  const t0 = Date.now();
  const controllerPortEnv = Number(process.env.KAFKA_CONTROLLER_PORT ?? 0);
  const broker = await startKafka({
    port,
    controllerPort: controllerPortEnv > 0 ? controllerPortEnv : undefined,
    dataDir: path.join(kafkaCacheDir(), `up-${port}`),
    detached: true,
  });
  const state: UpState = {
    pid: broker.pid,
    port: broker.port,
    controllerPort: broker.controllerPort,
    brokers: broker.brokers,
    dataDir: broker.dataDir,
    startedAt: new Date().toISOString(),
  };
  fs.writeFileSync(file, JSON.stringify(state, null, 2) + '\n');
  console.error(
    `kafka ${KAFKA_VERSION} up in ${((Date.now() - t0) / 1000).toFixed(1)} s: pid ${broker.pid}, ` +
      `logs ${broker.logDir}, pid file ${file}`,
  );
  console.log(`KAFKA_BROKERS=${broker.brokers}`);
}

async function cliDown(): Promise<void> {
  const port = envPort();
  const states = readUpStates().filter((s) => port === undefined || s.state.port === port);
  if (states.length === 0) {
    console.error(port ? `no kafka pid file for port ${port}` : 'no kafka started by `up` found');
    return;
  }
  for (const { file, state } of states) {
    if (isOurBroker(state)) {
      await stopKafka(state.pid);
      console.error(`kafka on ${state.brokers} (pid ${state.pid}) stopped`);
    } else {
      console.error(`kafka on ${state.brokers} (pid ${state.pid}) was not running`);
    }
    fs.rmSync(file, { force: true });
  }
}

function cliStatus(): void {
  const states = readUpStates();
  let any = false;
  for (const { state } of states) {
    if (isOurBroker(state)) {
      any = true;
      console.log(`KAFKA_BROKERS=${state.brokers} pid=${state.pid} since=${state.startedAt}`);
    }
  }
  if (!any) {
    console.error('no kafka started by `up` is running');
    process.exitCode = 1;
  }
}

async function main(argv: string[]): Promise<void> {
  const cmd = argv[0];
  switch (cmd) {
    case 'up':
      return cliUp();
    case 'down':
      return cliDown();
    case 'status':
      return cliStatus();
    case 'libs': {
      const t0 = Date.now();
      const libs = await ensureKafkaLibs();
      console.error(`libs ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      console.log(libs);
      return;
    }
    default:
      console.error('usage: tsx scripts/kafka/kafka.ts up|down|status|libs   (env: KAFKA_PORT, RISKSTREAM_KAFKA_CACHE)');
      process.exitCode = 2;
  }
}

const invokedDirectly =
  process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}


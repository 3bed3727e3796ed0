// Shared set-up for the publish tests: sample risk changes and detections, and
// a reader that consumes a topic to its end from a real broker.

import type { KafkaMessage } from 'kafkajs';
import type { RiskLevel } from '../../contract/events.js';
import type { Detection, RiskChange, RiskState } from '../../detectors/types.js';
import { readTopicToEnd } from '../../publish/read-topic.js';
import { kafkaClient } from '../helpers/kafka.js';

let seq = 0;

export function riskChange(
  tenant: string,
  agent: string,
  level: RiskLevel,
  previous: RiskLevel,
  opts: { state?: RiskState; time?: number; reasons?: RiskChange['reasons']; score?: number } = {},
): RiskChange {
  const time = opts.time ?? 1_780_000_000_000 + ++seq * 1000;
  return {
    tenant_id: tenant,
    agent_id: agent,
    time,
    level,
    previous_level: previous,
    score: opts.score ?? { none: 0, low: 20, medium: 50, high: 85 }[level],
    state: opts.state ?? (level === 'none' ? 'none' : 'atRisk'),
    reasons: opts.reasons ?? (level === 'none' ? [] : [{ detector: 'unfamiliar-resource', severity: 'medium', summary: `agent ${agent} reached an unfamiliar resource` }]),
    change_id: `${tenant}/${agent}/${time}/${seq}`,
  };
}

export function detection(tenant: string, agent: string, severity: Detection['severity'] = 'high'): Detection {
  const time = 1_780_000_000_000 + ++seq * 1000;
  return {
    detector: 'impossible-travel',
    severity,
    tenant_id: tenant,
    agent_id: agent,
    time,
    summary: `agent ${agent} signed in from two countries 5 minutes apart`,
    evidence: { observed: { km: 6200 }, baseline: null, threshold: { kmh: 900 }, peer_group: null },
    event_ids: [`e-${seq}-a`, `e-${seq}-b`],
  };
}

/** Reads every record of `topic` from the beginning to its current end (high watermark). */
export async function readTopic(topic: string, opts: { readUncommitted?: boolean; timeoutMs?: number } = {}): Promise<KafkaMessage[]> {
  const out: KafkaMessage[] = [];
  await readTopicToEnd(kafkaClient({ clientId: 'riskstream-test-reader' }), topic, (_p, message) => out.push(message), {
    groupPrefix: 'reader',
    timeoutMs: opts.timeoutMs ?? 15_000,
    ...(opts.readUncommitted !== undefined && { readUncommitted: opts.readUncommitted }),
  });
  return out;
}

export interface ReceivedRequest {
  method: string;
  url: string;
  headers: import('node:http').IncomingHttpHeaders;
  body: string;
  at: number;
}

export interface Receiver {
  /** Base URL, e.g. http://127.0.0.1:41234 */
  url: string;
  requests: ReceivedRequest[];
  /** Resolves when at least `n` requests have arrived. */
  waitFor(n: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  close(): Promise<void>;
}

/**
 * A real HTTP receiver on 127.0.0.1 (random port). `respond` decides each
 * answer from the request and its 1-based number.
 */
export async function startReceiver(
  respond: (req: ReceivedRequest, n: number) => { status: number; body?: string; headers?: Record<string, string> } = () => ({ status: 202 }),
): Promise<Receiver> {
  const { createServer } = await import('node:http');
  const requests: ReceivedRequest[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const r: ReceivedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now() };
      requests.push(r);
      const answer = respond(r, requests.length);
      res.writeHead(answer.status, { 'content-type': 'application/json', ...answer.headers });
      res.end(answer.body ?? '');
      for (const w of [...waiters]) if (requests.length >= w.n) w.resolve();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as import('node:net').AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    requests,
    waitFor(n, timeoutMs = 5000) {
      if (requests.length >= n) return Promise.resolve(requests);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`receiver got ${requests.length} of ${n} requests in ${timeoutMs} ms`)), timeoutMs);
        waiters.push({
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve(requests);
          },
        });
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

/**
 * The real API (bearer authentication, /v1 scope, error handler) with the
 * given plugins mounted the way the lead mounts them, and a token factory.
 */
export async function buildTestApi(opts: {
  v1Plugins?: import('fastify').FastifyPluginAsync[];
  root?: (app: import('fastify').FastifyInstance) => Promise<void>;
}) {
  const { randomBytes } = await import('node:crypto');
  const { TokenAuthority } = await import('../../api/auth.js');
  const { buildApi } = await import('../../api/server.js');
  const authority = new TokenAuthority(randomBytes(32));
  const app = await buildApi({
    // The audit routes are mounted but never called by these tests.
    store: {} as import('@clickhouse/client').ClickHouseClient,
    authority,
    readiness: [],
    logLevel: 'silent',
    v1Plugins: opts.v1Plugins ?? [],
  });
  if (opts.root) await opts.root(app);
  await app.ready();
  const token = (role: import('../../api/auth.js').Role, tenant: string) => authority.issue({ role, tenant, ttlSeconds: 600 });
  const auth = async (role: import('../../api/auth.js').Role, tenant: string) => ({ authorization: `Bearer ${await token(role, tenant)}` });
  return { app, token, auth };
}

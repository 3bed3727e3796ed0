// Load generator for bench/lookup.ts, run as a SEPARATE process
// (child_process.fork) so that generating load does not share the event loop
// of the servers under test. It receives a list of jobs by IPC, runs them in
// order, sends back one summary per job and exits.
//
// Two kinds of job:
// - `closed`: autocannon, N connections each sending its next request as soon
//   as the previous one is answered (throughput). Requests cycle through the
//   first 1,000 ids of the job, each request built once.
// - `paced`: an open-loop generator at a fixed rate (latency at a given load).
//   autocannon's own `overallRate` is not used for this: it lets each
//   connection send its whole per-second quota back to back at the start of
//   every second and then pause, so "5,000 requests/s" is really a burst of
//   5,000 requests as fast as the server answers, once a second (measured: a
//   p99 of 45 ms against a trivial route). Node's http client is not used
//   either: at 5,000 requests/s its own cost delays the generator's event
//   loop by milliseconds, which then shows as latency. Here request k is due
//   at t0 + k/rate; a 1 ms timer writes whatever is due, pre-serialised, on
//   a free raw keep-alive socket (one request in flight per socket). Latency
//   runs from the write to the end of the answer, or from when the request
//   was queued if it had to wait for a free socket (so a stalled server
//   shows). How late the timer itself ran (this process's jitter) is not
//   counted in the latency; it is reported apart.

import net from 'node:net';
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';

export interface LoadJob {
  kind: 'closed' | 'paced';
  /** Label echoed in the result. */
  name: string;
  url: string;
  method: 'GET' | 'POST';
  /** Requests go to `${pathPrefix}${id}`. */
  pathPrefix: string;
  ids: string[];
  headers: Record<string, string>;
  connections: number;
  durationSeconds: number;
  /** paced: requests per second. */
  rate?: number;
}

export interface LoadResult {
  name: string;
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  non2xx: number;
  errors: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  /** paced only: how late requests were dispatched (generator timer jitter), ms. */
  dispatchLagMs?: { p50: number; p99: number; max: number };
}

const MAX_DISTINCT = 1000;

interface AutocannonResult {
  requests: { total: number; average: number };
  latency: { p50: number; p90: number; p99: number; max: number; average: number };
  duration: number;
  non2xx: number;
  errors: number;
  timeouts: number;
}

type Autocannon = (opts: Record<string, unknown>, cb: (err: Error | null, result: AutocannonResult) => void) => unknown;

// autocannon ships no types; this is the part of its API used here.
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const pathOf = (job: LoadJob, id: string) => `${job.pathPrefix}${encodeURIComponent(id)}`;

function closed(job: LoadJob): Promise<LoadResult> {
  const requests = job.ids.slice(0, MAX_DISTINCT).map((id) => ({ method: job.method, path: pathOf(job, id) }));
  return new Promise((resolve, reject) => {
    autocannon(
      { url: job.url, method: job.method, headers: job.headers, connections: job.connections, duration: job.durationSeconds, requests },
      (err, r) => {
        if (err) return reject(err);
        resolve({
          name: job.name,
          requests: r.requests.total,
          seconds: r.duration,
          requestsPerSecond: r.requests.total / r.duration,
          non2xx: r.non2xx,
          errors: r.errors + r.timeouts,
          latencyMs: { p50: r.latency.p50, p90: r.latency.p90, p99: r.latency.p99, max: r.latency.max, mean: r.latency.average },
        });
      },
    );
  });
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

interface Conn {
  socket: net.Socket;
  buf: Buffer;
  /** Index and dispatch time of the request in flight; -1 when idle. */
  req: number;
  start: number;
}

/**
 * Open-loop load at a fixed rate over raw keep-alive sockets (one request in
 * flight per socket, requests pre-serialised): the generator's own cost per
 * request is a write and a scan of the answer, so its event loop stays free
 * and its clock reads are close to the wire. Responses must carry
 * Content-Length (Fastify's do).
 */
function paced(job: LoadJob): Promise<LoadResult> {
  const rate = job.rate ?? 1000;
  const total = Math.max(1, Math.round(rate * job.durationSeconds));
  const interval = 1000 / rate;
  const target = new URL(job.url);
  const host = `${target.hostname}:${target.port}`;
  const headerLines = Object.entries(job.headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  const requests = job.ids
    .slice(0, MAX_DISTINCT)
    .map((id) => Buffer.from(`${job.method} ${pathOf(job, id)} HTTP/1.1\r\nhost: ${host}\r\n${headerLines}content-length: 0\r\n\r\n`, 'latin1'));
  const latency = new Float64Array(total);
  const lag = new Float64Array(total);
  let sent = 0;
  let done = 0;
  let non2xx = 0;
  let errors = 0;
  const idle: Conn[] = [];
  /** Requests due while every socket was busy: [index, when it was queued]. */
  const waiting: [number, number][] = [];
  const conns: Conn[] = [];

  return new Promise((resolve, reject) => {
    let t0 = 0;
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      const seconds = (performance.now() - t0) / 1000;
      for (const c of conns) c.socket.destroy();
      const lat = latency.slice().sort();
      const lg = lag.slice().sort();
      let sum = 0;
      for (const x of latency) sum += x;
      resolve({
        name: job.name,
        requests: total,
        seconds,
        requestsPerSecond: total / seconds,
        non2xx,
        errors,
        latencyMs: {
          p50: round3(percentile(lat, 50)),
          p90: round3(percentile(lat, 90)),
          p99: round3(percentile(lat, 99)),
          max: round3(lat[lat.length - 1] ?? 0),
          mean: round3(sum / total),
        },
        dispatchLagMs: { p50: round3(percentile(lg, 50)), p99: round3(percentile(lg, 99)), max: round3(lg[lg.length - 1] ?? 0) },
      });
    };
    // Timed from `since`: the write, or for a request that waited for a free socket, when it was queued.
    const send = (c: Conn, i: number, since: number) => {
      c.req = i;
      c.start = since;
      c.socket.write(requests[i % requests.length]!);
    };
    const onData = (c: Conn, chunk: Buffer) => {
      c.buf = c.buf.length === 0 ? chunk : Buffer.concat([c.buf, chunk]);
      const end = c.buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = c.buf.toString('latin1', 0, end);
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(head);
      if (!m) return reject(new Error('load worker: response without content-length'));
      const size = end + 4 + Number(m[1]);
      if (c.buf.length < size) return;
      c.buf = c.buf.length === size ? Buffer.alloc(0) : c.buf.subarray(size);
      const status = Number(head.slice(9, 12));
      if (!(status >= 200 && status < 300)) non2xx++;
      latency[c.req] = performance.now() - c.start;
      c.req = -1;
      if (++done === total) return finish();
      const next = waiting.shift();
      if (next !== undefined) send(c, next[0], next[1]);
      else idle.push(c);
    };
    let connected = 0;
    for (let k = 0; k < job.connections; k++) {
      const c: Conn = { socket: net.connect({ host: target.hostname, port: Number(target.port) }), buf: Buffer.alloc(0), req: -1, start: 0 };
      c.socket.setNoDelay(true);
      c.socket.on('data', (chunk: Buffer) => onData(c, chunk));
      c.socket.on('error', (err) => {
        errors++;
        reject(err);
      });
      c.socket.once('connect', () => {
        idle.push(c);
        if (++connected === job.connections) start();
      });
      conns.push(c);
    }
    function start() {
      t0 = performance.now();
      timer = setInterval(() => {
        const now = performance.now();
        const due = Math.min(total, Math.floor((now - t0) / interval) + 1);
        while (sent < due) {
          const i = sent++;
          lag[i] = now - (t0 + i * interval);
          const c = idle.pop();
          if (c) send(c, i, now);
          else waiting.push([i, now]);
        }
        if (sent >= total) clearInterval(timer);
      }, 1);
    }
  });
}

async function main(jobs: LoadJob[]): Promise<LoadResult[]> {
  const out: LoadResult[] = [];
  for (const job of jobs) out.push(job.kind === 'paced' ? await paced(job) : await closed(job));
  return out;
}

if (process.send) {
  process.once('message', (jobs: LoadJob[]) => {
    main(jobs).then(
      (results) => process.send!({ ok: true, results }, () => process.exit(0)),
      (err: Error) => process.send!({ ok: false, error: String(err?.stack ?? err) }, () => process.exit(1)),
    );
  });
}

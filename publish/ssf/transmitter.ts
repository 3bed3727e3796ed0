// The SSF transmitter: per-tenant event streams, the SETs queued on each, and
// their delivery by push (RFC 8935) or poll (RFC 8936).
//
// - Streams belong to a tenant; a risk change is signed into one SET per
//   stream of its tenant whose `events_delivered` includes risk-level-change.
// - A SET's jti is derived from (stream, change_id), so republishing a change
//   (a redelivered batch) yields the same jti: the transmitter skips jtis it
//   has seen recently, and receivers can de-duplicate on jti.
// - Push: one delivery loop per stream, in order; a failed POST is retried
//   with exponential backoff up to `push.maxAttempts`, then the SET is given
//   up (counted, last error kept in the stream's delivery stats). A 400 with an
//   RFC 8935 error body is permanent (not retried). Redirects are not followed
//   and the endpoint must stay on the outbound allowlist.
// - Poll: SETs stay queued until acknowledged (`ack` or `setErrs`). A SET
//   returned by a poll and not acknowledged within `poll.redeliveryMs` is
//   returned again by a later poll.
// - Status: `paused` holds SETs (up to the queue cap), `disabled` drops them
//   and queues nothing.

import { randomUUID } from 'node:crypto';
import type { JWTPayload } from 'jose';
import { HttpError, badRequest, notFound } from '../../api/errors.js';
import type { RiskChange } from '../../detectors/types.js';
import { HostAllowlist } from '../allowlist.js';
import { BoundedSet, backoffDelay, errorText, sleep } from '../util.js';
import { CAEP_RISK_LEVEL_CHANGE, SSF_VERIFICATION, riskLevelChangeClaims, signSet, verificationClaims } from './caep.js';
import type { SsfSigningKey } from './signing-key.js';
import { MemorySsfStateStore, type QueuedSet, type SsfStateStore, type StreamRecord, type StreamStatus } from './store.js';

export const PUSH_METHOD = 'urn:ietf:rfc:8935';
export const POLL_METHOD = 'urn:ietf:rfc:8936';
/** Event types a receiver can request. Verification events are always delivered. */
export const EVENTS_SUPPORTED: readonly string[] = [CAEP_RISK_LEVEL_CHANGE];

export interface SsfTransmitterOptions {
  /** Issuer identifier (https URL, no query/fragment); the `iss` of every SET. */
  issuer: string;
  signingKey: SsfSigningKey;
  /** Public base URL of the API (default: the issuer). Endpoint URLs are built from it. */
  baseUrl?: string;
  /** Prefix under which `ssfManagementRoutes` is mounted (default `/v1`). */
  managementPrefix?: string;
  /** Path of the JWKS served by `ssfWellKnownRoutes` (default `/ssf/jwks.json`). */
  jwksPath?: string;
  store?: SsfStateStore;
  /** How often streams other instances sharing the store created, changed or deleted are read (ms; default 10 000; 0: never). */
  refreshMs?: number;
  /** Hosts push endpoints may point at (exact or `*.suffix`); an empty list refuses every push stream. */
  pushAllowlist: HostAllowlist | readonly string[];
  push?: {
    /** Attempts per SET, including the first (default 8). */
    maxAttempts?: number;
    initialDelayMs?: number;
    maxDelayMs?: number;
    /** Per request (default 10 000 ms). */
    timeoutMs?: number;
    /** Jitter source in [0, 1) (e.g. seededRandom(seed)); none by default. */
    random?: () => number;
  };
  poll?: {
    /** A polled SET not acknowledged within this is returned again (default 30 000 ms). */
    redeliveryMs?: number;
    /** Longest wait of a poll with returnImmediately=false (default 25 000 ms). */
    maxWaitMs?: number;
    /** maxEvents when the request has none (default 100); requests are capped at 1000. */
    defaultMaxEvents?: number;
  };
  /** SETs held per stream; the oldest are dropped beyond it (default 10 000). */
  maxQueuedPerStream?: number;
  maxStreamsPerTenant?: number;
  /** SSF min_verification_interval, seconds (default 10). */
  minVerificationIntervalSec?: number;
  fetch?: typeof fetch;
  now?: () => number;
}

export interface CreateStreamInput {
  delivery: { method: string; endpoint_url?: string; authorization_header?: string };
  events_requested?: string[];
  description?: string;
  /** Receiver-chosen audience (extension); default: the subject of the creating token. */
  aud?: string | string[];
}

export interface UpdateStreamInput extends Partial<CreateStreamInput> {
  stream_id: string;
  iss?: string;
  events_supported?: string[];
  events_delivered?: string[];
  min_verification_interval?: number;
}

export interface StreamConfig {
  stream_id: string;
  iss: string;
  aud: string | string[];
  events_supported: string[];
  events_requested: string[];
  events_delivered: string[];
  delivery: { method: string; endpoint_url: string };
  min_verification_interval: number;
  description?: string;
}

export interface StreamStatusBody {
  stream_id: string;
  status: StreamStatus;
  reason?: string;
}

export interface PollRequest {
  maxEvents?: number;
  returnImmediately?: boolean;
  ack?: string[];
  setErrs?: Record<string, { err: string; description?: string }>;
}

export interface PollResponse {
  sets: Record<string, string>;
  moreAvailable: boolean;
}

export interface DeliveryStats {
  delivered: number;
  failed: number;
  dropped: number;
  last_error: string | null;
  last_error_at: number | null;
  last_delivery_at: number | null;
}

interface StreamRuntime {
  record: StreamRecord;
  queue: Map<string, QueuedSet>;
  /** Poll: jti → time after which it may be returned again. */
  inFlight: Map<string, number>;
  recent: BoundedSet;
  stats: DeliveryStats;
  loop: Promise<void> | null;
  waiters: Set<() => void>;
  stop: AbortController;
}

const conflict = (message: string) => new HttpError(409, 'conflict', message);

function sameAud(a: string | string[], b: string | string[]): boolean {
  const x = Array.isArray(a) ? [...a].sort() : [a];
  const y = Array.isArray(b) ? [...b].sort() : [b];
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

export class SsfTransmitter {
  readonly issuer: string;
  private readonly baseUrl: string;
  private readonly managementPrefix: string;
  readonly jwksPath: string;
  private readonly store: SsfStateStore;
  private readonly allowlist: HostAllowlist;
  private readonly streams = new Map<string, StreamRuntime>();
  /** Streams deleted through this instance: a refresh that read them just before never brings them back. */
  private readonly deletedHere = new Set<string>();
  private refreshTimer: NodeJS.Timeout | undefined;
  private readonly fetchFn: typeof fetch;
  private readonly now: () => number;
  private closed = false;

  constructor(private readonly opts: SsfTransmitterOptions) {
    const issuer = new URL(opts.issuer);
    if (issuer.search || issuer.hash) throw new Error('SSF issuer must have no query or fragment');
    this.issuer = opts.issuer.replace(/\/$/, '');
    this.baseUrl = (opts.baseUrl ?? this.issuer).replace(/\/$/, '');
    this.managementPrefix = (opts.managementPrefix ?? '/v1').replace(/\/$/, '');
    this.jwksPath = opts.jwksPath ?? '/ssf/jwks.json';
    this.store = opts.store ?? new MemorySsfStateStore();
    this.allowlist = opts.pushAllowlist instanceof HostAllowlist ? opts.pushAllowlist : new HostAllowlist(opts.pushAllowlist);
    this.fetchFn = opts.fetch ?? fetch;
    this.now = opts.now ?? Date.now;
  }

  /** Loads streams and queued SETs from the store and resumes push delivery. */
  async start(): Promise<void> {
    for (const record of await this.store.loadStreams()) {
      const rt = this.runtime(record);
      for (const s of await this.store.loadQueue(record.stream_id)) {
        rt.queue.set(s.jti, s);
        rt.recent.add(s.jti);
      }
      this.kick(rt);
    }
    const every = this.opts.refreshMs ?? 10_000;
    if (every > 0 && this.refreshTimer === undefined) {
      this.refreshTimer = setInterval(() => void this.refreshStreams().catch(() => undefined), every).unref();
    }
  }

  /**
   * Takes the streams that other instances sharing the store created,
   * changed (status, delivery, events) or deleted. Each instance queues SETs
   * for the risk changes it publishes, so every instance must know every
   * stream of the tenants it serves. Called every `refreshMs` after start.
   */
  async refreshStreams(): Promise<void> {
    if (this.closed) return;
    const records = await this.store.loadStreams();
    const deleted = new Set(this.store.deletedStreams ? await this.store.deletedStreams() : []);
    for (const record of records) {
      if (deleted.has(record.stream_id) || this.deletedHere.has(record.stream_id)) continue;
      const rt = this.streams.get(record.stream_id);
      if (rt === undefined) {
        this.kick(this.runtime(record));
        continue;
      }
      // Only a newer version: a change made here meanwhile is newer than what was read.
      if (record.updated_at <= rt.record.updated_at) continue;
      const was = rt.record.status;
      rt.record = record;
      rt.inFlight.clear();
      if (record.status === 'disabled' && was !== 'disabled') {
        const jtis = [...rt.queue.keys()];
        rt.stats.dropped += jtis.length;
        rt.queue.clear();
        await this.store.remove(record.stream_id, jtis);
      }
      if (record.status === 'enabled') {
        this.kick(rt);
        this.notify(rt);
      }
    }
    for (const id of deleted) {
      const rt = this.streams.get(id);
      if (rt === undefined) continue;
      this.streams.delete(id);
      rt.stop.abort();
      for (const w of rt.waiters) w();
    }
  }

  /** Stops delivery loops (queued SETs stay in the store). */
  async close(): Promise<void> {
    clearInterval(this.refreshTimer);
    this.refreshTimer = undefined;
    this.closed = true;
    for (const rt of this.streams.values()) {
      rt.stop.abort();
      for (const w of rt.waiters) w();
    }
    await Promise.all([...this.streams.values()].map((rt) => rt.loop));
    await this.store.close?.();
  }

  /** Resolves when no push delivery is under way (every push queue is empty, paused or given up). */
  async idle(): Promise<void> {
    for (;;) {
      const loops = [...this.streams.values()].map((rt) => rt.loop).filter((l): l is Promise<void> => l !== null);
      if (loops.length === 0) return;
      await Promise.all(loops);
    }
  }

  // ---------------------------------------------------------------- metadata

  endpoint(path: string): string {
    return `${this.baseUrl}${this.managementPrefix}${path}`;
  }

  /** Path of the discovery document: /.well-known/ssf-configuration plus the issuer's path, if any. */
  wellKnownPath(): string {
    const p = new URL(this.issuer).pathname.replace(/\/$/, '');
    return `/.well-known/ssf-configuration${p}`;
  }

  /** The Transmitter Configuration Metadata (SSF 1.0 §7.1). */
  configuration(): Record<string, unknown> {
    return {
      spec_version: '1_0',
      issuer: this.issuer,
      jwks_uri: `${this.baseUrl}${this.jwksPath}`,
      delivery_methods_supported: [PUSH_METHOD, POLL_METHOD],
      configuration_endpoint: this.endpoint('/ssf/streams'),
      status_endpoint: this.endpoint('/ssf/status'),
      verification_endpoint: this.endpoint('/ssf/verify'),
      critical_subject_members: ['tenant', 'application'],
      authorization_schemes: [{ spec_urn: 'urn:ietf:rfc:6750' }],
      default_subjects: 'ALL',
    };
  }

  jwks(): { keys: unknown[] } {
    return this.opts.signingKey.jwks();
  }

  // -------------------------------------------------------------- management

  private get minVerificationIntervalSec(): number {
    return this.opts.minVerificationIntervalSec ?? 10;
  }

  private config(rt: StreamRuntime): StreamConfig {
    const r = rt.record;
    return {
      stream_id: r.stream_id,
      iss: this.issuer,
      aud: r.aud,
      events_supported: [...EVENTS_SUPPORTED],
      events_requested: [...r.events_requested],
      events_delivered: this.delivered(r),
      delivery: { method: r.delivery.method, endpoint_url: r.delivery.endpoint_url },
      min_verification_interval: this.minVerificationIntervalSec,
      ...(r.description !== null && { description: r.description }),
    };
  }

  private delivered(r: StreamRecord): string[] {
    return EVENTS_SUPPORTED.filter((e) => r.events_requested.includes(e));
  }

  private owned(tenant: string, streamId: string): StreamRuntime {
    const rt = this.streams.get(streamId);
    // Another tenant's stream is reported exactly like a missing one.
    if (!rt || rt.record.tenant_id !== tenant) throw notFound(`stream_id: no stream ${streamId}`);
    return rt;
  }

  private runtime(record: StreamRecord): StreamRuntime {
    const rt: StreamRuntime = {
      record,
      queue: new Map(),
      inFlight: new Map(),
      recent: new BoundedSet(Math.max(1000, (this.opts.maxQueuedPerStream ?? 10_000) * 2)),
      stats: { delivered: 0, failed: 0, dropped: 0, last_error: null, last_error_at: null, last_delivery_at: null },
      loop: null,
      waiters: new Set(),
      stop: new AbortController(),
    };
    this.streams.set(record.stream_id, rt);
    return rt;
  }

  /** Validates a delivery object; returns it with the transmitter-supplied poll URL filled in. */
  private checkDelivery(streamId: string, d: CreateStreamInput['delivery']): StreamRecord['delivery'] {
    if (d.method === PUSH_METHOD) {
      if (!d.endpoint_url) throw badRequest('delivery.endpoint_url: is required for push delivery');
      const check = this.allowlist.check(d.endpoint_url);
      if (!check.ok) throw badRequest(`delivery.endpoint_url: ${check.reason}`);
      return { method: PUSH_METHOD, endpoint_url: check.url.toString(), ...(d.authorization_header !== undefined && { authorization_header: d.authorization_header }) };
    }
    if (d.method === POLL_METHOD) {
      const url = this.endpoint(`/ssf/poll/${streamId}`);
      if (d.endpoint_url !== undefined && d.endpoint_url !== url) throw badRequest('delivery.endpoint_url: is supplied by the transmitter for poll delivery');
      return { method: POLL_METHOD, endpoint_url: url };
    }
    throw badRequest(`delivery.method: must be ${PUSH_METHOD} (push) or ${POLL_METHOD} (poll)`);
  }

  async createStream(principal: { tenant: string; subject: string }, input: CreateStreamInput): Promise<StreamConfig> {
    const count = [...this.streams.values()].filter((rt) => rt.record.tenant_id === principal.tenant).length;
    if (count >= (this.opts.maxStreamsPerTenant ?? 10)) throw conflict(`stream: the tenant already has ${count} streams (the limit)`);
    const streamId = randomUUID().replace(/-/g, '');
    const now = this.now();
    const record: StreamRecord = {
      stream_id: streamId,
      tenant_id: principal.tenant,
      created_by: principal.subject,
      aud: input.aud ?? principal.subject,
      events_requested: input.events_requested ? [...new Set(input.events_requested)] : [...EVENTS_SUPPORTED],
      delivery: this.checkDelivery(streamId, input.delivery),
      description: input.description ?? null,
      status: 'enabled',
      status_reason: null,
      created_at: now,
      updated_at: now,
      last_verification_at: null,
    };
    await this.store.saveStream(record);
    return this.config(this.runtime(record));
  }

  getStream(tenant: string, streamId: string): StreamConfig {
    return this.config(this.owned(tenant, streamId));
  }

  listStreams(tenant: string): StreamConfig[] {
    return [...this.streams.values()].filter((rt) => rt.record.tenant_id === tenant).map((rt) => this.config(rt));
  }

  /** PATCH (replace=false: only the given receiver-supplied properties change) or PUT (replace=true: missing ones are cleared). */
  async updateStream(tenant: string, input: UpdateStreamInput, replace: boolean): Promise<StreamConfig> {
    const rt = this.owned(tenant, input.stream_id);
    const r = rt.record;
    // Transmitter-supplied properties may be present but must match.
    if (input.iss !== undefined && input.iss !== this.issuer) throw badRequest('iss: does not match the transmitter issuer');
    if (input.aud !== undefined && !sameAud(input.aud, r.aud)) throw badRequest('aud: cannot be changed');
    if (input.events_supported !== undefined && !sameAud(input.events_supported, [...EVENTS_SUPPORTED])) throw badRequest('events_supported: does not match');
    if (input.min_verification_interval !== undefined && input.min_verification_interval !== this.minVerificationIntervalSec) {
      throw badRequest('min_verification_interval: does not match');
    }
    if (replace && !input.delivery) throw badRequest('delivery: is required when replacing a stream');
    const next: StreamRecord = {
      ...r,
      events_requested: input.events_requested ? [...new Set(input.events_requested)] : replace ? [] : r.events_requested,
      description: input.description !== undefined ? input.description : replace ? null : r.description,
      delivery: input.delivery ? this.checkDelivery(r.stream_id, input.delivery) : r.delivery,
      updated_at: this.now(),
    };
    await this.store.saveStream(next);
    rt.record = next;
    rt.inFlight.clear();
    this.kick(rt);
    return this.config(rt);
  }

  async deleteStream(tenant: string, streamId: string): Promise<void> {
    const rt = this.owned(tenant, streamId);
    this.deletedHere.add(streamId);
    this.streams.delete(streamId);
    rt.stop.abort();
    for (const w of rt.waiters) w();
    await this.store.deleteStream(streamId);
  }

  getStatus(tenant: string, streamId: string): StreamStatusBody {
    const r = this.owned(tenant, streamId).record;
    return { stream_id: r.stream_id, status: r.status, ...(r.status_reason !== null && { reason: r.status_reason }) };
  }

  /** Delivery counters of a stream (for operators; not part of SSF). */
  deliveryStats(tenant: string, streamId: string): DeliveryStats & { queued: number } {
    const rt = this.owned(tenant, streamId);
    return { ...rt.stats, queued: rt.queue.size };
  }

  async setStatus(tenant: string, streamId: string, status: StreamStatus, reason?: string): Promise<StreamStatusBody> {
    const rt = this.owned(tenant, streamId);
    const next: StreamRecord = { ...rt.record, status, status_reason: reason ?? null, updated_at: this.now() };
    await this.store.saveStream(next);
    rt.record = next;
    if (status === 'disabled') {
      const jtis = [...rt.queue.keys()];
      rt.stats.dropped += jtis.length;
      rt.queue.clear();
      rt.inFlight.clear();
      await this.store.remove(streamId, jtis);
    }
    if (status === 'enabled') {
      this.kick(rt);
      this.notify(rt);
    }
    return this.getStatus(tenant, streamId);
  }

  /** Queues a verification SET on the stream (SSF 1.0 §8.1.4). */
  async verify(tenant: string, streamId: string, state?: string): Promise<void> {
    const rt = this.owned(tenant, streamId);
    if (rt.record.status === 'disabled') throw conflict('stream_id: the stream is disabled');
    const now = this.now();
    const last = rt.record.last_verification_at;
    if (last !== null && now - last < this.minVerificationIntervalSec * 1000) {
      throw new HttpError(429, 'too_many_requests', `stream_id: at most one verification every ${this.minVerificationIntervalSec} s`);
    }
    rt.record = { ...rt.record, last_verification_at: now };
    await this.store.saveStream(rt.record);
    const jti = randomUUID();
    const claims = verificationClaims({ iss: this.issuer, aud: rt.record.aud, streamId, jti, state, now });
    await this.enqueue(rt, [{ jti, set: await signSet(this.opts.signingKey, claims), event: SSF_VERIFICATION, enqueued_at: now }]);
  }

  // ------------------------------------------------------------- publication

  /**
   * Signs and queues one risk-level-change SET per change and per stream of
   * the change's tenant that delivers that event. Returns the number queued
   * (changes seen recently on a stream are skipped).
   */
  async publishRiskChanges(changes: readonly RiskChange[]): Promise<number> {
    if (changes.length === 0 || this.streams.size === 0) return 0;
    let queued = 0;
    const byTenant = new Map<string, StreamRuntime[]>();
    for (const rt of this.streams.values()) {
      if (rt.record.status === 'disabled' || !this.delivered(rt.record).includes(CAEP_RISK_LEVEL_CHANGE)) continue;
      let list = byTenant.get(rt.record.tenant_id);
      if (!list) byTenant.set(rt.record.tenant_id, (list = []));
      list.push(rt);
    }
    const pending = new Map<StreamRuntime, QueuedSet[]>();
    for (const change of changes) {
      for (const rt of byTenant.get(change.tenant_id) ?? []) {
        const now = this.now();
        const claims: JWTPayload = riskLevelChangeClaims(change, { iss: this.issuer, aud: rt.record.aud, streamId: rt.record.stream_id, now });
        const jti = claims.jti!;
        let list = pending.get(rt);
        if (!list) pending.set(rt, (list = []));
        if (rt.recent.has(jti) || rt.queue.has(jti) || list.some((q) => q.jti === jti)) continue;
        list.push({ jti, set: await signSet(this.opts.signingKey, claims), event: CAEP_RISK_LEVEL_CHANGE, enqueued_at: now });
      }
    }
    for (const [rt, sets] of pending) {
      // Marked as seen only once queued: a failed enqueue is retried with the batch.
      await this.enqueue(rt, sets);
      for (const s of sets) rt.recent.add(s.jti);
      queued += sets.length;
    }
    return queued;
  }

  private async enqueue(rt: StreamRuntime, sets: QueuedSet[]): Promise<void> {
    if (sets.length === 0) return;
    await this.store.enqueue(rt.record.stream_id, sets);
    for (const s of sets) rt.queue.set(s.jti, s);
    const cap = this.opts.maxQueuedPerStream ?? 10_000;
    if (rt.queue.size > cap) {
      const drop: string[] = [];
      for (const jti of rt.queue.keys()) {
        if (rt.queue.size - drop.length <= cap) break;
        drop.push(jti);
      }
      for (const jti of drop) {
        rt.queue.delete(jti);
        rt.inFlight.delete(jti);
      }
      rt.stats.dropped += drop.length;
      await this.store.remove(rt.record.stream_id, drop);
    }
    this.notify(rt);
    this.kick(rt);
  }

  private notify(rt: StreamRuntime): void {
    for (const w of rt.waiters) w();
    rt.waiters.clear();
  }

  // -------------------------------------------------------------------- push

  private kick(rt: StreamRuntime): void {
    if (rt.loop || this.closed || rt.record.delivery.method !== PUSH_METHOD) return;
    if (rt.record.status !== 'enabled' || rt.queue.size === 0) return;
    rt.loop = this.pushLoop(rt).finally(() => {
      rt.loop = null;
      // SETs queued while the loop was ending.
      if (this.streams.get(rt.record.stream_id) === rt) this.kick(rt);
    });
  }

  private active(rt: StreamRuntime): boolean {
    return !this.closed && !rt.stop.signal.aborted && rt.record.status === 'enabled' && rt.record.delivery.method === PUSH_METHOD;
  }

  private async pushLoop(rt: StreamRuntime): Promise<void> {
    const maxAttempts = Math.max(1, this.opts.push?.maxAttempts ?? 8);
    while (this.active(rt)) {
      const head = rt.queue.values().next();
      if (head.done) return;
      const item = head.value;
      for (let attempt = 1; ; attempt++) {
        const result = await this.pushOnce(rt, item);
        // Stopped (closed, deleted) during the request: the SET stays queued.
        if (rt.stop.signal.aborted) return;
        if (result.ok) {
          rt.stats.delivered++;
          rt.stats.last_delivery_at = this.now();
          break;
        }
        rt.stats.last_error = `${item.jti}: ${result.error}`;
        rt.stats.last_error_at = this.now();
        if (result.permanent || attempt >= maxAttempts) {
          rt.stats.failed++;
          break;
        }
        await sleep(
          backoffDelay(attempt, {
            initialDelayMs: this.opts.push?.initialDelayMs ?? 1000,
            maxDelayMs: this.opts.push?.maxDelayMs ?? 60_000,
            ...(this.opts.push?.random && { random: this.opts.push.random }),
          }),
          rt.stop.signal,
        );
        // Paused, disabled, deleted or closed meanwhile: keep the SET (if any) for later.
        if (!this.active(rt)) return;
        if (!rt.queue.has(item.jti)) break;
      }
      rt.queue.delete(item.jti);
      await this.store.remove(rt.record.stream_id, [item.jti]).catch(() => {});
    }
  }

  private async pushOnce(rt: StreamRuntime, item: QueuedSet): Promise<{ ok: true } | { ok: false; permanent: boolean; error: string }> {
    const d = rt.record.delivery;
    // Re-checked at delivery time: the allowlist may have changed since creation.
    const check = this.allowlist.check(d.endpoint_url);
    if (!check.ok) return { ok: false, permanent: true, error: `endpoint_url ${check.reason}` };
    try {
      const res = await this.fetchFn(check.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/secevent+jwt',
          accept: 'application/json',
          ...(d.authorization_header !== undefined && { authorization: d.authorization_header }),
        },
        body: item.set,
        redirect: 'manual',
        signal: AbortSignal.any([AbortSignal.timeout(this.opts.push?.timeoutMs ?? 10_000), rt.stop.signal]),
      });
      const text = await res.text().catch(() => '');
      if (res.status >= 200 && res.status < 300) return { ok: true };
      if (res.status === 400) {
        // RFC 8935 §2.3: the receiver rejected this SET; sending it again will not help.
        let err = 'invalid_request';
        try {
          const body = JSON.parse(text) as { err?: unknown; description?: unknown };
          if (typeof body.err === 'string') err = `${body.err}${typeof body.description === 'string' ? ` (${body.description})` : ''}`;
        } catch {
          // not JSON
        }
        return { ok: false, permanent: true, error: `HTTP 400 ${err}`.slice(0, 500) };
      }
      return { ok: false, permanent: false, error: `HTTP ${res.status}${res.status >= 300 && res.status < 400 ? ' (redirects are not followed)' : ''}` };
    } catch (err) {
      return { ok: false, permanent: false, error: errorText(err) };
    }
  }

  // -------------------------------------------------------------------- poll

  private collect(rt: StreamRuntime, max: number): { sets: Record<string, string>; more: boolean } {
    const sets: Record<string, string> = {};
    let n = 0;
    let more = false;
    if (rt.record.status !== 'enabled') return { sets, more };
    const now = this.now();
    const redeliverAt = now + (this.opts.poll?.redeliveryMs ?? 30_000);
    for (const item of rt.queue.values()) {
      const until = rt.inFlight.get(item.jti);
      if (until !== undefined && until > now) continue;
      if (n >= max) {
        more = true;
        break;
      }
      sets[item.jti] = item.set;
      rt.inFlight.set(item.jti, redeliverAt);
      n++;
    }
    return { sets, more };
  }

  /** RFC 8936 poll: processes acknowledgements and errors, then returns up to maxEvents SETs. */
  async poll(tenant: string, streamId: string, req: PollRequest, signal?: AbortSignal): Promise<PollResponse> {
    const rt = this.owned(tenant, streamId);
    if (rt.record.delivery.method !== POLL_METHOD) throw badRequest('stream_id: the stream does not use poll delivery');
    const acked = (req.ack ?? []).filter((jti) => rt.queue.has(jti));
    const errored = Object.entries(req.setErrs ?? {}).filter(([jti]) => rt.queue.has(jti));
    for (const [jti, e] of errored) {
      rt.stats.failed++;
      rt.stats.last_error = `${jti}: ${e.err}${e.description ? ` (${e.description})` : ''}`.slice(0, 500);
      rt.stats.last_error_at = this.now();
    }
    rt.stats.delivered += acked.length;
    if (acked.length > 0) rt.stats.last_delivery_at = this.now();
    const known = [...new Set([...acked, ...errored.map(([jti]) => jti)])];
    for (const jti of known) {
      rt.queue.delete(jti);
      rt.inFlight.delete(jti);
    }
    if (known.length > 0) await this.store.remove(streamId, known);

    const max = Math.min(req.maxEvents ?? this.opts.poll?.defaultMaxEvents ?? 100, 1000);
    if (max === 0) return { sets: {}, moreAvailable: this.collectCount(rt) > 0 };
    let out = this.collect(rt, max);
    if (Object.keys(out.sets).length > 0 || req.returnImmediately === true) return { sets: out.sets, moreAvailable: out.more };

    // Long poll: wait for a new SET, or for an unacknowledged one to become due again.
    const deadline = this.now() + (this.opts.poll?.maxWaitMs ?? 25_000);
    while (!this.closed && !signal?.aborted && this.streams.get(streamId) === rt) {
      const now = this.now();
      if (now >= deadline) break;
      let wait = deadline - now;
      for (const until of rt.inFlight.values()) wait = Math.min(wait, Math.max(1, until - now));
      await new Promise<void>((resolve) => {
        const wake = () => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', wake);
          rt.waiters.delete(wake);
          resolve();
        };
        const timer = setTimeout(wake, wait);
        rt.waiters.add(wake);
        signal?.addEventListener('abort', wake, { once: true });
      });
      out = this.collect(rt, max);
      if (Object.keys(out.sets).length > 0) break;
    }
    return { sets: out.sets, moreAvailable: out.more };
  }

  private collectCount(rt: StreamRuntime): number {
    const now = this.now();
    let n = 0;
    for (const jti of rt.queue.keys()) {
      const until = rt.inFlight.get(jti);
      if (until === undefined || until <= now) n++;
    }
    return n;
  }
}

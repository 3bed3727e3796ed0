// Remediation webhooks: registration (per tenant) and signed delivery of risk
// changes and detections.
//
// - Matching: a risk change goes to a hook subscribed to `risk_change` when
//   its level OR its previous level is at least the hook's `min_level` (so a
//   hook sees an agent entering, moving within and leaving its band); a
//   detection goes to a hook subscribed to `detection` when its severity is
//   at least `min_level`.
// - Delivery: POST of a JSON envelope, signed (see signature.ts), one queue
//   per hook delivered in order. A failed attempt (network error, timeout,
//   non-2xx, any redirect: redirects are not followed) is retried with
//   exponential backoff (optionally jittered from a seeded source) up to
//   `maxAttempts`. Every attempt is recorded in the DeliveryLog.
// - Disabling: after `disableAfterFailures` consecutive failed deliveries the
//   hook is disabled (its queue dropped) until an admin enables it again. A
//   URL no longer on the allowlist disables the hook at once.
// - Idempotency: the event id is stable (change_id; detection_id) and sent as
//   `x-riskstream-event-id`; an event already queued/delivered recently to a
//   hook is not queued again, and receivers should de-duplicate on it.
// - Durability: a batch's deliveries are added to the WebhookQueue before
//   `dispatch` resolves (so before the batch is acknowledged), and marked done
//   when finished; `start` takes up what a previous process left pending.

import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { badRequest, HttpError, notFound } from '../../api/errors.js';
import type { Detection, RiskChange, Severity } from '../../detectors/types.js';
import { HostAllowlist } from '../allowlist.js';
import { detectionId } from '../avro.js';
import { BoundedSet, backoffDelay, errorText, levelRank, sleep } from '../util.js';
import { MemoryDeliveryLog, type AttemptOutcome, type DeliveryAttempt, type DeliveryLog } from './delivery-log.js';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER, signWebhook } from './signature.js';
import { MemoryWebhookQueue, type QueuedDelivery, type WebhookQueue } from './queue.js';
import { MemoryWebhookStore, type Webhook, type WebhookEventKind, type WebhookStore } from './store.js';

export interface WebhookDispatcherOptions {
  /** Hosts webhook URLs may point at (exact or `*.suffix`); an empty list refuses every registration. */
  allowlist: HostAllowlist | readonly string[];
  store?: WebhookStore;
  /** Where unfinished deliveries are kept (default: in memory, lost on restart). */
  queue?: WebhookQueue;
  log?: DeliveryLog;
  /** Attempts per delivery, including the first (default 5). */
  maxAttempts?: number;
  /** Delay before the first retry (default 1000 ms), doubled per retry up to maxDelayMs (default 60 000 ms). */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Jitter source in [0, 1) (e.g. seededRandom(seed)); none by default. */
  random?: () => number;
  /** Per attempt (default 10 000 ms). */
  timeoutMs?: number;
  /** Consecutive failed deliveries after which a hook is disabled (default 5). */
  disableAfterFailures?: number;
  /** Deliveries queued per hook; beyond it new ones are refused and recorded (default 10 000). */
  maxQueuedPerHook?: number;
  maxHooksPerTenant?: number;
  fetch?: typeof fetch;
  now?: () => number;
  /** Called when recording to the log or the store fails (delivery goes on). */
  onError?: (err: unknown, what: string) => void;
}

export interface RegisterWebhookInput {
  url: string;
  min_level: Severity;
  events: WebhookEventKind[];
  description?: string;
}

/** A webhook as the API shows it: everything but the secret. */
export type PublicWebhook = Omit<Webhook, 'secret'>;

export interface WebhookEnvelope {
  /** Stable event id: the change_id of a risk change, the detection_id of a detection. */
  id: string;
  type: WebhookEventKind;
  tenant_id: string;
  /** RFC 3339 time of the event. */
  time: string;
  data: RiskChange | (Detection & { detection_id: string });
}

interface Delivery {
  delivery_id: string;
  event_id: string;
  kind: WebhookEventKind;
  body: string;
}

interface HookWorker {
  tenantId: string;
  queue: Delivery[];
  recent: BoundedSet;
  loop: Promise<void> | null;
}

function queued(hook: Webhook, d: Delivery, now: number): QueuedDelivery {
  return { hook_id: hook.id, tenant_id: hook.tenant_id, delivery_id: d.delivery_id, event_id: d.event_id, kind: d.kind, body: d.body, enqueued_at: now };
}

export function publicWebhook(h: Webhook): PublicWebhook {
  const { secret: _secret, ...rest } = h;
  return rest;
}

export class WebhookDispatcher {
  readonly allowlist: HostAllowlist;
  readonly store: WebhookStore;
  readonly queue: WebhookQueue;
  readonly log: DeliveryLog;
  private readonly workers = new Map<string, HookWorker>();
  private readonly fetchFn: typeof fetch;
  private readonly now: () => number;
  private readonly stop = new AbortController();

  constructor(private readonly opts: WebhookDispatcherOptions) {
    this.allowlist = opts.allowlist instanceof HostAllowlist ? opts.allowlist : new HostAllowlist(opts.allowlist);
    this.store = opts.store ?? new MemoryWebhookStore();
    this.queue = opts.queue ?? new MemoryWebhookQueue();
    this.log = opts.log ?? new MemoryDeliveryLog();
    this.fetchFn = opts.fetch ?? fetch;
    this.now = opts.now ?? Date.now;
  }

  // -------------------------------------------------------------- management

  /** Registers a webhook; the secret is in the result and never shown again. */
  async register(principal: { tenant: string; subject: string }, input: RegisterWebhookInput): Promise<PublicWebhook & { secret: string }> {
    const check = this.allowlist.check(input.url);
    if (!check.ok) throw badRequest(`url: ${check.reason}`);
    const existing = await this.store.list(principal.tenant);
    const limit = this.opts.maxHooksPerTenant ?? 20;
    if (existing.length >= limit) throw new HttpError(409, 'conflict', `webhooks: the tenant already has ${existing.length} webhooks (the limit)`);
    const hook: Webhook = {
      id: randomUUID(),
      tenant_id: principal.tenant,
      url: check.url.toString(),
      min_level: input.min_level,
      events: [...new Set(input.events)],
      description: input.description ?? null,
      secret: `whsec_${randomBytes(32).toString('base64url')}`,
      enabled: true,
      disabled_reason: null,
      disabled_at: null,
      consecutive_failures: 0,
      last_delivery: null,
      created_at: this.now(),
      created_by: principal.subject,
    };
    await this.store.save(hook);
    return { ...publicWebhook(hook), secret: hook.secret };
  }

  async list(tenantId: string): Promise<PublicWebhook[]> {
    return (await this.store.list(tenantId)).map(publicWebhook);
  }

  async get(tenantId: string, id: string): Promise<PublicWebhook> {
    const h = await this.store.get(tenantId, id);
    if (!h) throw notFound(`id: no webhook ${id}`);
    return publicWebhook(h);
  }

  async remove(tenantId: string, id: string): Promise<void> {
    if (!(await this.store.delete(tenantId, id))) throw notFound(`id: no webhook ${id}`);
    const w = this.workers.get(id);
    if (w) this.finished(id, w.queue.splice(0));
    this.workers.delete(id);
  }

  /** Re-enables a disabled webhook (its URL must still be allowed). */
  async enable(tenantId: string, id: string): Promise<PublicWebhook> {
    const h = await this.store.get(tenantId, id);
    if (!h) throw notFound(`id: no webhook ${id}`);
    const check = this.allowlist.check(h.url);
    if (!check.ok) throw badRequest(`url: ${check.reason}`);
    const next: Webhook = { ...h, enabled: true, disabled_reason: null, disabled_at: null, consecutive_failures: 0 };
    await this.store.save(next);
    return publicWebhook(next);
  }

  async deliveries(tenantId: string, id: string, limit = 100): Promise<DeliveryAttempt[]> {
    await this.get(tenantId, id);
    return this.log.list(tenantId, id, { limit });
  }

  // ------------------------------------------------------------- publication

  /**
   * Queues the deliveries of a batch to the matching enabled hooks of each
   * event's tenant and returns how many were queued. Delivery is asynchronous
   * (see idle()).
   */
  async dispatch(batch: { riskChanges?: readonly RiskChange[]; detections?: readonly Detection[] }): Promise<number> {
    const tenants = new Set<string>();
    for (const c of batch.riskChanges ?? []) tenants.add(c.tenant_id);
    for (const d of batch.detections ?? []) tenants.add(d.tenant_id);
    if (tenants.size === 0) return 0;
    const hooksByTenant = new Map<string, Webhook[]>();
    for (const t of tenants) {
      const hooks = (await this.store.list(t)).filter((h) => h.enabled);
      if (hooks.length > 0) hooksByTenant.set(t, hooks);
    }
    const planned: { hook: Webhook; delivery: Delivery }[] = [];
    const plan = (hook: Webhook, kind: WebhookEventKind, eventId: string, envelope: () => WebhookEnvelope) => {
      const delivery = this.admit(hook, kind, eventId, envelope);
      if (delivery !== null) planned.push({ hook, delivery });
    };
    for (const c of batch.riskChanges ?? []) {
      for (const h of hooksByTenant.get(c.tenant_id) ?? []) {
        if (!h.events.includes('risk_change')) continue;
        if (Math.max(levelRank(c.level), levelRank(c.previous_level)) < levelRank(h.min_level)) continue;
        plan(h, 'risk_change', c.change_id, () => ({ id: c.change_id, type: 'risk_change', tenant_id: c.tenant_id, time: new Date(c.time).toISOString(), data: c }));
      }
    }
    for (const d of batch.detections ?? []) {
      const id = detectionId(d);
      for (const h of hooksByTenant.get(d.tenant_id) ?? []) {
        if (!h.events.includes('detection') || levelRank(d.severity) < levelRank(h.min_level)) continue;
        plan(h, 'detection', id, () => ({ id, type: 'detection', tenant_id: d.tenant_id, time: new Date(d.time).toISOString(), data: { ...d, detection_id: id } }));
      }
    }
    if (planned.length === 0) return 0;
    // Kept before the batch is acknowledged: a restart delivers what is left.
    const now = this.now();
    try {
      await this.queue.add(planned.map(({ hook, delivery }) => queued(hook, delivery, now)));
    } catch (err) {
      // Not queued: the batch comes again, and so do these events.
      for (const { hook, delivery } of planned) this.workers.get(hook.id)?.recent.delete(delivery.event_id);
      throw err;
    }
    for (const { hook, delivery } of planned) this.push(hook.id, hook.tenant_id, delivery);
    return planned.length;
  }

  /** Takes up the deliveries a previous process left pending (of hooks that still exist and are enabled). */
  async start(): Promise<void> {
    const finished: { hook_id: string; delivery_id: string }[] = [];
    for (const q of await this.queue.pending()) {
      const hook = await this.store.get(q.tenant_id, q.hook_id);
      if (!hook || !hook.enabled) {
        finished.push(q);
        continue;
      }
      const w = this.worker(hook.id, hook.tenant_id);
      if (w.recent.has(q.event_id)) continue;
      w.recent.add(q.event_id);
      this.push(hook.id, hook.tenant_id, { delivery_id: q.delivery_id, event_id: q.event_id, kind: q.kind, body: q.body });
    }
    if (finished.length > 0) await this.queue.done(finished);
  }

  /** Resolves when every queued delivery has finished (delivered, failed or dropped). */
  async idle(): Promise<void> {
    for (;;) {
      const loops = [...this.workers.values()].map((w) => w.loop).filter((l): l is Promise<void> => l !== null);
      if (loops.length === 0) return;
      await Promise.all(loops);
    }
  }

  /** Stops delivering: waits that are under way end at once; what is queued stays pending in the queue for the next start. */
  async close(): Promise<void> {
    this.stop.abort();
    for (const w of this.workers.values()) w.queue.length = 0;
    await this.idle();
    await this.queue.close?.();
    await this.store.close?.();
  }

  private worker(hookId: string, tenantId: string): HookWorker {
    let w = this.workers.get(hookId);
    if (!w) this.workers.set(hookId, (w = { tenantId, queue: [], recent: new BoundedSet(10_000), loop: null }));
    return w;
  }

  /** The delivery of an event to a hook, unless the hook had it recently or its queue is full (then the refusal is recorded). */
  private admit(hook: Webhook, kind: WebhookEventKind, eventId: string, envelope: () => WebhookEnvelope): Delivery | null {
    if (this.stop.signal.aborted) return null;
    const w = this.worker(hook.id, hook.tenant_id);
    if (w.recent.has(eventId)) return null;
    const delivery: Delivery = {
      delivery_id: createHash('sha256').update(hook.id).update('\u0000').update(eventId).digest('hex').slice(0, 32),
      event_id: eventId,
      kind,
      body: JSON.stringify(envelope()),
    };
    if (w.queue.length >= (this.opts.maxQueuedPerHook ?? 10_000)) {
      void this.record({ hook, delivery, attempt: 0, outcome: 'refused', http_status: null, error: 'queue full: delivery dropped', started: this.now(), final: true });
      return null;
    }
    w.recent.add(eventId);
    return delivery;
  }

  private push(hookId: string, tenantId: string, delivery: Delivery): void {
    if (this.stop.signal.aborted) return;
    const w = this.worker(hookId, tenantId);
    w.queue.push(delivery);
    this.kick(hookId, w);
  }

  /** Marks deliveries finished in the queue (a failure to record it only means a repeat after a restart). */
  private finished(hookId: string, deliveries: readonly Delivery[]): void {
    if (deliveries.length === 0) return;
    this.queue.done(deliveries.map((d) => ({ hook_id: hookId, delivery_id: d.delivery_id }))).catch((err) => this.opts.onError?.(err, `marking deliveries of webhook ${hookId} done`));
  }

  private kick(hookId: string, w: HookWorker): void {
    if (w.loop || w.queue.length === 0) return;
    w.loop = this.work(hookId, w)
      .catch((err) => this.opts.onError?.(err, `webhook ${hookId} worker`))
      .finally(() => {
        w.loop = null;
        if (this.workers.get(hookId) === w && !this.stop.signal.aborted) this.kick(hookId, w);
      });
  }

  private async work(hookId: string, w: HookWorker): Promise<void> {
    while (w.queue.length > 0 && !this.stop.signal.aborted) {
      const delivery = w.queue[0]!;
      const hook = await this.store.get(w.tenantId, hookId);
      if (!hook || !hook.enabled) {
        this.finished(hookId, w.queue.splice(0));
        return;
      }
      const result = await this.deliver(hook, delivery);
      w.queue.shift();
      // Stopped: the delivery stays pending for the next start.
      if (result === 'aborted') return;
      this.finished(hookId, [delivery]);
      // Fresh copy: the hook may have been changed (enabled, deleted) meanwhile.
      const current = await this.store.get(w.tenantId, hookId);
      if (!current) {
        this.finished(hookId, w.queue.splice(0));
        return;
      }
      const next: Webhook = { ...current, last_delivery: result.last };
      if (result.outcome === 'success') {
        next.consecutive_failures = 0;
      } else {
        next.consecutive_failures = current.consecutive_failures + 1;
        const limit = this.opts.disableAfterFailures ?? 5;
        if (result.outcome === 'refused' || next.consecutive_failures >= limit) {
          next.enabled = false;
          next.disabled_at = this.now();
          next.disabled_reason =
            result.outcome === 'refused'
              ? `delivery refused: ${result.last.last_error}`
              : `${next.consecutive_failures} consecutive failed deliveries; last error: ${result.last.last_error}`;
        }
      }
      try {
        await this.store.save(next);
      } catch (err) {
        this.opts.onError?.(err, `saving webhook ${hookId}`);
      }
      if (!next.enabled) {
        this.finished(hookId, w.queue.splice(0));
        return;
      }
    }
  }

  private async deliver(hook: Webhook, d: Delivery): Promise<'aborted' | { outcome: AttemptOutcome; last: NonNullable<Webhook['last_delivery']> }> {
    const maxAttempts = Math.max(1, this.opts.maxAttempts ?? 5);
    for (let attempt = 1; ; attempt++) {
      const started = this.now();
      const t0 = performance.now();
      const last = (outcome: AttemptOutcome, http_status: number | null, error: string | null) => ({
        delivery_id: d.delivery_id,
        event_id: d.event_id,
        outcome,
        attempts: attempt,
        http_status,
        last_error: error,
        at: started,
      });
      // Re-checked at delivery time: the allowlist may have changed since registration.
      const check = this.allowlist.check(hook.url);
      if (!check.ok) {
        const error = `url ${check.reason}`;
        await this.record({ hook, delivery: d, attempt, outcome: 'refused', http_status: null, error, started, final: true });
        return { outcome: 'refused', last: last('refused', null, error) };
      }
      let status: number | null = null;
      let error: string | null = null;
      try {
        const timestamp = Math.floor(this.now() / 1000);
        const res = await this.fetchFn(check.url, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'user-agent': 'riskstream-webhooks/1',
            [TIMESTAMP_HEADER]: String(timestamp),
            [SIGNATURE_HEADER]: signWebhook(hook.secret, timestamp, d.body),
            'x-riskstream-event-id': d.event_id,
            'x-riskstream-event-kind': d.kind,
            'x-riskstream-delivery-id': d.delivery_id,
            'x-riskstream-webhook-id': hook.id,
            'x-riskstream-attempt': String(attempt),
          },
          body: d.body,
          redirect: 'manual',
          signal: AbortSignal.any([AbortSignal.timeout(this.opts.timeoutMs ?? 10_000), this.stop.signal]),
        });
        status = res.status;
        await res.arrayBuffer().catch(() => undefined);
        if (status < 200 || status >= 300) error = status >= 300 && status < 400 ? `HTTP ${status} (redirects are not followed)` : `HTTP ${status}`;
      } catch (err) {
        if (this.stop.signal.aborted) return 'aborted';
        error = errorText(err);
      }
      const ok = error === null;
      const final = ok || attempt >= maxAttempts;
      await this.record({ hook, delivery: d, attempt, outcome: ok ? 'success' : 'failure', http_status: status, error, started, final, durationMs: performance.now() - t0 });
      if (final) return { outcome: ok ? 'success' : 'failure', last: last(ok ? 'success' : 'failure', status, error) };
      const delay = backoffDelay(attempt, {
        initialDelayMs: this.opts.initialDelayMs ?? 1000,
        maxDelayMs: this.opts.maxDelayMs ?? 60_000,
        ...(this.opts.random && { random: this.opts.random }),
      });
      await sleep(delay, this.stop.signal);
      if (this.stop.signal.aborted) return 'aborted';
      const current = await this.store.get(hook.tenant_id, hook.id);
      if (!current || !current.enabled) return { outcome: 'failure', last: last('failure', status, error) };
    }
  }

  private async record(a: {
    hook: Webhook;
    delivery: Delivery;
    attempt: number;
    outcome: AttemptOutcome;
    http_status: number | null;
    error: string | null;
    started: number;
    final: boolean;
    durationMs?: number;
  }): Promise<void> {
    try {
      await this.log.record({
        delivery_id: a.delivery.delivery_id,
        webhook_id: a.hook.id,
        tenant_id: a.hook.tenant_id,
        event_id: a.delivery.event_id,
        event_kind: a.delivery.kind,
        url: a.hook.url,
        attempt: a.attempt,
        outcome: a.outcome,
        http_status: a.http_status,
        error: a.error,
        duration_ms: a.durationMs ?? 0,
        final: a.final,
        time: a.started,
      });
    } catch (err) {
      this.opts.onError?.(err, `recording delivery ${a.delivery.delivery_id} attempt ${a.attempt}`);
    }
  }
}

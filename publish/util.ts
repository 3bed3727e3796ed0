// Small pieces shared by the publish stage: retry delays, a seeded random
// source for jitter, bounded de-duplication sets, ordering of risk levels.

import type { RiskLevel } from '../contract/events.js';
import type { Severity } from '../detectors/types.js';

export interface BackoffOptions {
  /** Delay before the first retry (ms); doubled for each further retry. */
  initialDelayMs: number;
  /** Cap on one delay (ms). */
  maxDelayMs: number;
  /**
   * Source of jitter in [0, 1): the delay is scaled by (0.5 + 0.5 × random()),
   * "equal jitter". Omit for no jitter (deterministic delays).
   */
  random?: () => number;
}

/** Delay before retry number `retry` (1 = first retry). */
export function backoffDelay(retry: number, opts: BackoffOptions): number {
  const exp = opts.initialDelayMs * 2 ** Math.max(0, retry - 1);
  const capped = Math.min(opts.maxDelayMs, exp);
  if (!opts.random) return Math.round(capped);
  return Math.round(capped * (0.5 + 0.5 * opts.random()));
}

/** A small seeded PRNG (mulberry32): the same seed gives the same sequence. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Resolves after `ms`, or early (rejecting nothing) when `signal` aborts. Timer is unref'd. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted || ms <= 0) return resolve();
    const timer = setTimeout(done, ms);
    timer.unref?.();
    function done() {
      signal?.removeEventListener('abort', done);
      clearTimeout(timer);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** A set that remembers at most `capacity` keys, forgetting the oldest first. */
export class BoundedSet {
  private readonly keys = new Set<string>();
  constructor(private readonly capacity: number) {}

  has(key: string): boolean {
    return this.keys.has(key);
  }

  add(key: string): void {
    if (this.keys.has(key)) return;
    this.keys.add(key);
    if (this.keys.size > this.capacity) {
      const oldest = this.keys.values().next();
      if (!oldest.done) this.keys.delete(oldest.value);
    }
  }

  delete(key: string): void {
    this.keys.delete(key);
  }

  get size(): number {
    return this.keys.size;
  }
}

const LEVEL_RANK: Record<RiskLevel, number> = { none: 0, low: 1, medium: 2, high: 3 };

/** Rank of a risk level or detection severity: none 0, low 1, medium 2, high 3. */
export function levelRank(level: RiskLevel | Severity): number {
  return LEVEL_RANK[level];
}

/** Runs calls one at a time, in call order. */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/** Error message of anything thrown, one line, bounded. */
export function errorText(err: unknown, max = 500): string {
  const text = err instanceof Error ? (err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message) : String(err);
  return text.replace(/\s+/g, ' ').slice(0, max);
}

/**
 * Items written together: `write` gets everything added since the last write,
 * at most `delayMs` after the first of them, or at `flush()`. One write at a
 * time, in order; a failed write keeps its items for the next one (tried
 * again after `delayMs`), and `flush()` rejects with its error.
 */
export class Coalescer<T> {
  private items: T[] = [];
  private timer: NodeJS.Timeout | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly write: (items: T[]) => Promise<void>,
    private readonly delayMs: number,
  ) {}

  add(items: Iterable<T>): void {
    for (const item of items) this.items.push(item);
    this.schedule();
  }

  flush(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const run = this.chain.then(async () => {
      const items = this.items;
      this.items = [];
      if (items.length === 0) return;
      try {
        await this.write(items);
      } catch (err) {
        this.items = items.concat(this.items);
        this.schedule();
        throw err;
      }
    });
    this.chain = run.catch(() => undefined);
    return run;
  }

  private schedule(): void {
    if (this.items.length > 0) this.timer ??= setTimeout(() => void this.flush().catch(() => undefined), this.delayMs).unref();
  }
}

// Bounded state containers for detectors. Memory must stay bounded however
// many agents come and go: keyed stores evict idle keys (by event time) and
// cap their size; sets and windows inside a key are capped too.

/** A map from key to state that remembers each key's last activity (event time). */
export class KeyedStore<V> {
  // Map iteration order is insertion order and `upsert` re-inserts a touched
  // key, so the first entry is the least recently active: the size cap drops it.
  private readonly map = new Map<string, { value: V; at: number }>();

  constructor(private readonly maxKeys = 2_000_000) {}

  get(key: string): V | undefined {
    return this.map.get(key)?.value;
  }

  /** Returns the state of `key`, creating it with `create` when absent, and marks it active at `at`. */
  upsert(key: string, at: number, create: () => V): V {
    const entry = this.map.get(key);
    if (entry) {
      if (at > entry.at) {
        entry.at = at;
        this.map.delete(key);
        this.map.set(key, entry);
      }
      return entry.value;
    }
    const value = create();
    this.map.set(key, { value, at });
    if (this.map.size > this.maxKeys) {
      const oldest = this.map.keys().next().value as string;
      this.map.delete(oldest);
    }
    return value;
  }

  set(key: string, at: number, value: V): void {
    this.map.delete(key);
    this.map.set(key, { value, at });
  }

  delete(key: string): void {
    this.map.delete(key);
  }

  /** Forgets keys whose last activity is before `before`. Scans every key: call it periodically, not per event. */
  evict(before: number): number {
    let removed = 0;
    for (const [key, entry] of this.map) {
      if (entry.at < before) {
        this.map.delete(key);
        removed++;
      }
    }
    return removed;
  }

  get size(): number {
    return this.map.size;
  }

  entries(): IterableIterator<[string, { value: V; at: number }]> {
    return this.map.entries();
  }

  snapshot(): [string, V, number][] {
    return [...this.map].map(([k, e]) => [k, e.value, e.at]);
  }

  restore(rows: [string, V, number][]): void {
    this.map.clear();
    for (const [k, v, at] of rows) this.map.set(k, { value: v, at });
  }
}

/**
 * A small set of strings with the event time each was first seen, capped:
 * when full, the member seen least recently is dropped. Stored as parallel
 * arrays because most sets hold a handful of members and arrays are compact.
 */
export interface CappedSet {
  values: string[];
  firstSeen: number[];
  lastSeen: number[];
}

export function cappedSet(): CappedSet {
  return { values: [], firstSeen: [], lastSeen: [] };
}

/** Index of `value` in the set, or -1. */
export function setIndex(set: CappedSet, value: string): number {
  return set.values.indexOf(value);
}

export function setHas(set: CappedSet, value: string): boolean {
  return set.values.indexOf(value) >= 0;
}

/** Adds or refreshes `value`; returns true when it was new. */
export function setAdd(set: CappedSet, value: string, at: number, cap: number): boolean {
  const i = set.values.indexOf(value);
  if (i >= 0) {
    if (at > set.lastSeen[i]!) set.lastSeen[i] = at;
    if (at < set.firstSeen[i]!) set.firstSeen[i] = at;
    return false;
  }
  if (set.values.length >= cap) {
    let victim = 0;
    for (let j = 1; j < set.lastSeen.length; j++) if (set.lastSeen[j]! < set.lastSeen[victim]!) victim = j;
    set.values.splice(victim, 1);
    set.firstSeen.splice(victim, 1);
    set.lastSeen.splice(victim, 1);
  }
  set.values.push(value);
  set.firstSeen.push(at);
  set.lastSeen.push(at);
  return true;
}

/**
 * Counts of events per fixed time bucket over a bounded horizon (a ring of
 * buckets), for rates. Bucket i holds the count of bucket number `start + i`.
 */
export interface BucketCounter {
  bucketMs: number;
  /** Bucket number (time / bucketMs) of counts[0]. */
  start: number;
  counts: number[];
}

export function bucketCounter(bucketMs: number): BucketCounter {
  return { bucketMs, start: 0, counts: [] };
}

/**
 * Adds `n` at event time `at`, keeping at most `maxBuckets` buckets; events
 * older than the kept horizon are ignored (they are late beyond usefulness).
 */
export function bucketAdd(c: BucketCounter, at: number, n: number, maxBuckets: number): void {
  const b = Math.floor(at / c.bucketMs);
  if (c.counts.length === 0) {
    c.start = b;
    c.counts.push(n);
    return;
  }
  if (b < c.start) return;
  let i = b - c.start;
  if (i >= c.counts.length) {
    const gap = i - c.counts.length + 1;
    if (gap >= maxBuckets) {
      c.counts = [];
      c.start = b;
      c.counts.push(n);
      return;
    }
    for (let g = 0; g < gap; g++) c.counts.push(0);
  }
  if (c.counts.length > maxBuckets) {
    const drop = c.counts.length - maxBuckets;
    c.counts.splice(0, drop);
    c.start += drop;
    i -= drop;
  }
  if (i >= 0) c.counts[i] = (c.counts[i] ?? 0) + n;
}

/** Count of the bucket containing `at` (0 when outside the horizon). */
export function bucketAt(c: BucketCounter, at: number): number {
  const i = Math.floor(at / c.bucketMs) - c.start;
  return i >= 0 && i < c.counts.length ? c.counts[i]! : 0;
}

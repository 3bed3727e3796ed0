// Classifiers of host names (and of categories and file types), remembered: a
// fleet reaches a few thousand distinct hosts, and each event's host would
// otherwise be parsed again by every detector that classifies it.
//
// The classifiers of one kind of key share a space: one record per key holds
// every classifier's result, so the twenty-odd host classifiers asked about
// one event's host cost one map lookup between them (the space remembers the
// last key and its record), not one each. A space is emptied when full (the
// working set refills it).

const MAX_KEYS = 16_384;

/** A record slot not yet classified. */
const UNSET: unique symbol = Symbol('unset');
type Slot = unknown;

class MemoSpace {
  private readonly records = new Map<string, Slot[]>();
  private slots = 0;
  private lastKey: string | null = null;
  private lastRecord: Slot[] = [];

  /** A classifier remembered in this space: to be created once per process (module level), as it takes a slot for good. */
  memo<T>(classify: (key: string) => T): (key: string) => T {
    const slot = this.slots++;
    return (key: string): T => {
      const rec = key === this.lastKey ? this.lastRecord : this.recordOf(key);
      let v = slot < rec.length ? rec[slot] : UNSET;
      if (v === UNSET) {
        v = classify(key);
        while (rec.length < slot) rec.push(UNSET); // a classifier created after the record was
        rec[slot] = v;
      }
      return v as T;
    };
  }

  private recordOf(key: string): Slot[] {
    let rec = this.records.get(key);
    if (rec === undefined) {
      if (this.records.size >= MAX_KEYS) this.records.clear();
      rec = new Array<Slot>(this.slots).fill(UNSET);
      this.records.set(key, rec);
    }
    this.lastKey = key;
    this.lastRecord = rec;
    return rec;
  }
}

const HOSTS = new MemoSpace();
const LABELS = new MemoSpace();

/** `classify`, remembered per host string as the gateway wrote it (shared with the other host classifiers; create at module level). */
export function memoByHost<T>(classify: (host: string) => T): (host: string) => T {
  return HOSTS.memo(classify);
}

/** `classify`, remembered per category or file type (a few dozen values; create at module level). */
export function memoByLabel<T>(classify: (label: string) => T): (label: string) => T {
  return LABELS.memo(classify);
}

/**
 * `classify`, remembered per host in a map of its own: for a classifier that
 * depends on a detector instance's options (created per instance, so it must
 * not take a slot of the shared space).
 */
export function memoByHostPrivately<T>(classify: (host: string) => T): (host: string) => T {
  const seen = new Map<string, T>();
  return (host: string): T => {
    let v = seen.get(host);
    if (v === undefined && !seen.has(host)) {
      v = classify(host);
      if (seen.size >= MAX_KEYS) seen.clear();
      seen.set(host, v);
    }
    return v as T;
  };
}

// Interning of decoded Avro strings, per field.
//
// Most string fields of the event stream repeat: the agent, tenant, blueprint,
// user and credential ids, addresses, hosts, resources. Decoding one of them
// costs a fresh string (about 60 ns whichever way it is built), and then every
// map lookup downstream hashes it again and compares it character by character
// with the key it finds. An intern table hands back the one string instance it
// already holds for those bytes: no allocation, a hash V8 has already cached,
// and map lookups that match on the pointer.
//
// The table is set-associative (four entries per bucket) and keeps each
// entry's bytes as 32-bit words beside a hash of them, so a hit is found by
// comparing ten words, not 36 characters one at a time. It sizes itself to the
// field: a sample of the hashes seen tells how often values come back at all
// (an event id never does, an agent id almost always), so a table grows while
// evictions cost it hits that a larger table would keep, and turns itself off
// for fields whose values do not repeat.

/** Values up to this many bytes are compared word by word (GUIDs are 36). Longer ones by characters. */
const WORD_BYTES = 40;
const WORDS = WORD_BYTES / 4;
/** Values longer than this are not interned (long values rarely repeat byte for byte). */
const MAX_BYTES = 256;
const WAYS = 4;
const MIN_BUCKETS = 16;
/** 8192 buckets × 4 ways: 32,768 values per field at most (under 4 MB with the strings held). */
const MAX_BUCKETS = 8192;
/** Lookups between two reviews of the table's size and use. */
const WINDOW = 4096;
/** Reviews a table stays off before it looks again. */
const PAUSE = 16;
/** One value in SAMPLE_RATE (chosen by its hash, so a value is always or never sampled) feeds the reuse estimate. */
const SAMPLE_SHIFT = 3;
const SAMPLE_SLOTS = 8192;

/** Builds the string of ASCII bytes buf[start, start + len) when the table has none. */
export type AsciiMaker = (buf: Buffer, start: number, len: number) => string;

export class InternTable {
  /** False while the field's values do not repeat: the caller decodes them itself. */
  enabled = true;
  private buckets = MIN_BUCKETS;
  private strings: (string | undefined)[] = new Array<string | undefined>(MIN_BUCKETS * WAYS).fill(undefined);
  /** Per entry: hash, length (-1: empty). */
  private hashes = new Int32Array(MIN_BUCKETS * WAYS);
  private lengths = new Int32Array(MIN_BUCKETS * WAYS).fill(-1);
  /** Per entry: its first WORD_BYTES bytes as little-endian words, zero-padded. */
  private words = new Int32Array(MIN_BUCKETS * WAYS * WORDS);
  /** Per bucket: the way the next insertion replaces when the bucket is full. */
  private victims = new Uint8Array(MIN_BUCKETS);
  /** The current value's words (read once, for its hash and its comparison). */
  private readonly scratch = new Int32Array(MAX_BYTES / 4 + 1);
  /** Hashes of sampled values, to tell how often values repeat whatever the table's size. */
  private readonly sample = new Int32Array(SAMPLE_SLOTS);

  private lookups = 0;
  private hits = 0;
  private evictions = 0;
  private sampled = 0;
  private sampledSeen = 0;
  private pause = 0;
  private lowReviews = 0;

  constructor(private readonly make: AsciiMaker) {}

  /**
   * The string of buf[start, start + len), interned (`view` is a DataView of
   * exactly `buf`: it reads the bytes four at a time); null when the bytes are
   * not all ASCII or longer than MAX_BYTES (the caller decodes those as UTF-8).
   */
  get(view: DataView, buf: Buffer, start: number, len: number): string | null {
    if (len > MAX_BYTES) return null;
    if (++this.lookups === WINDOW) this.review();
    // Read the bytes as words (zero-padded), checking they are ASCII and hashing them.
    const scratch = this.scratch;
    const base = start;
    const full = len >> 2;
    let high = 0;
    let h = Math.imul(len, 0x9e3779b1);
    for (let i = 0; i < full; i++) {
      const w = view.getInt32(base + 4 * i, true);
      scratch[i] = w;
      high |= w;
      h = Math.imul(h ^ w, 0x85ebca6b);
      h ^= h >>> 13;
    }
    const rest = len & 3;
    let nw = full;
    if (rest !== 0) {
      const p = start + 4 * full;
      let w = buf[p]!;
      if (rest > 1) w |= buf[p + 1]! << 8;
      if (rest > 2) w |= buf[p + 2]! << 16;
      scratch[nw++] = w;
      high |= w;
      h = Math.imul(h ^ w, 0x85ebca6b);
      h ^= h >>> 13;
    }
    if ((high & 0x80808080) !== 0) return null; // only ASCII is interned
    h = Math.imul(h ^ (h >>> 16), 0xc2b2ae35);
    h ^= h >>> 16;

    if (((h >>> 7) & ((1 << SAMPLE_SHIFT) - 1)) === 0) this.observeSample(h);

    const bucket = h & (this.buckets - 1);
    const first = bucket * WAYS;
    const hashes = this.hashes;
    const lengths = this.lengths;
    for (let e = first; e < first + WAYS; e++) {
      if (hashes[e] !== h || lengths[e] !== len) continue;
      if (this.matches(e, buf, start, len, nw)) {
        this.hits++;
        return this.strings[e]!;
      }
    }
    const s = this.make(buf, start, len);
    this.insert(bucket, h, len, s, nw);
    return s;
  }

  private matches(e: number, buf: Buffer, start: number, len: number, nw: number): boolean {
    if (len <= WORD_BYTES) {
      const words = this.words;
      const scratch = this.scratch;
      const at = e * WORDS;
      for (let i = 0; i < nw; i++) if (words[at + i] !== scratch[i]) return false;
      return true;
    }
    const s = this.strings[e]!;
    for (let i = 0; i < len; i++) if (s.charCodeAt(i) !== buf[start + i]) return false;
    return true;
  }

  private insert(bucket: number, h: number, len: number, s: string, nw: number): void {
    const first = bucket * WAYS;
    let e = -1;
    for (let i = first; i < first + WAYS; i++) {
      if (this.lengths[i] === -1) {
        e = i;
        break;
      }
    }
    if (e < 0) {
      e = first + this.victims[bucket]!;
      this.victims[bucket] = (this.victims[bucket]! + 1) & (WAYS - 1);
      this.evictions++;
    }
    this.strings[e] = s;
    this.hashes[e] = h;
    this.lengths[e] = len;
    const at = e * WORDS;
    const n = Math.min(nw, WORDS);
    for (let i = 0; i < n; i++) this.words[at + i] = this.scratch[i]!;
    for (let i = n; i < WORDS; i++) this.words[at + i] = 0;
  }

  private observeSample(h: number): void {
    this.sampled++;
    const slot = (h >>> 10) & (SAMPLE_SLOTS - 1);
    if (this.sample[slot] === h) this.sampledSeen++;
    else this.sample[slot] = h;
  }

  /**
   * Once per WINDOW lookups: a field whose values do not repeat (few sampled
   * values seen before), or repeat too far apart for the largest table to
   * hold them (few hits at full size), turns the table off for a while; a
   * table that evicts values which do repeat, costing it hits a larger table
   * would keep, doubles.
   */
  private review(): void {
    const hitRate = this.hits / this.lookups;
    const repeats = this.sampled >= 32 ? this.sampledSeen / this.sampled : hitRate;
    // Two low reviews in a row: the first window of a field underestimates its
    // repeats (a value seen once in it may come back in the next).
    const low = repeats < 0.5 || (hitRate < 0.5 && this.buckets >= MAX_BUCKETS);
    this.lowReviews = low ? this.lowReviews + 1 : 0;
    if (this.lowReviews >= 2) {
      this.lowReviews = 0;
      this.enabled = false;
      this.pause = PAUSE;
      this.release();
    } else if (this.evictions * 16 > this.lookups && hitRate < repeats * 0.9 && this.buckets < MAX_BUCKETS) {
      this.grow();
    }
    this.lookups = 0;
    this.hits = 0;
    this.evictions = 0;
    this.sampled = 0;
    this.sampledSeen = 0;
  }

  /** Called once per WINDOW values of the field read while off: after a pause, looks again. */
  tick(): void {
    if (--this.pause <= 0) this.enabled = true;
  }

  /** Forgets the values held (a field turned off should not keep thousands of strings alive). */
  private release(): void {
    this.strings.fill(undefined);
    this.lengths.fill(-1);
  }

  private grow(): void {
    const old = { strings: this.strings, hashes: this.hashes, lengths: this.lengths, words: this.words };
    const n = this.buckets * 2;
    this.buckets = n;
    this.strings = new Array<string | undefined>(n * WAYS).fill(undefined);
    this.hashes = new Int32Array(n * WAYS);
    this.lengths = new Int32Array(n * WAYS).fill(-1);
    this.words = new Int32Array(n * WAYS * WORDS);
    this.victims = new Uint8Array(n);
    for (let e = 0; e < old.lengths.length; e++) {
      const len = old.lengths[e]!;
      if (len === -1) continue;
      const h = old.hashes[e]!;
      const bucket = h & (n - 1);
      const first = bucket * WAYS;
      let to = first;
      while (to < first + WAYS && this.lengths[to] !== -1) to++;
      if (to === first + WAYS) continue; // cannot happen when doubling, kept for safety
      this.strings[to] = old.strings[e];
      this.hashes[to] = h;
      this.lengths[to] = len;
      this.words.set(old.words.subarray(e * WORDS, e * WORDS + WORDS), to * WORDS);
    }
  }

  /** Entries the table can hold (for tests and diagnostics). */
  get capacity(): number {
    return this.buckets * WAYS;
  }
}

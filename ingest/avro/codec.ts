// Avro values in the Confluent wire format: magic byte 0, 4-byte big-endian
// schema id, Avro binary body. Decoding resolves the writer schema named by the
// id through a registry and reads it into the current (reader) schema, so that
// records written with older schema versions still decode.

import avro from 'avsc';
import { currentAvroSchema, EVENT_TYPE_BY_RECORD_NAME } from '../../contract/avro-schemas.js';
import { EVENT_TYPES, type AgentEvent, type EventType } from '../../contract/events.js';
import { decodedSemanticCheck, validateDecodedEvent, type DecodedCheck } from '../../contract/validate.js';
import { valueSubject, type AvroSchemaJson, type SchemaRegistry } from './registry.js';

const MAGIC_BYTE = 0;
const HEADER_BYTES = 5;

/** A record that could not be decoded; `field` is set when validation named one. */
export class DecodeError extends Error {
  constructor(message: string, readonly field?: string) {
    super(message);
    this.name = 'DecodeError';
  }
}

interface WriterEntry {
  type: EventType;
  /** Reads a body written with this writer schema into the reader schema. */
  read: (body: Buffer) => Record<string, unknown>;
  /**
   * When the writer schema is the reader schema (the common case): a compiled
   * reader of the whole framed value straight into the event, or null when the
   * value is anything but well-formed (then `read` + validation decide, with
   * their exact errors); and the compiled validation of its result.
   */
  fast: FastReader | null;
  check: DecodedCheck;
}

export class AvroCodec {
  private readonly readerTypes = new Map<EventType, avro.Type>();
  private readonly writers = new Map<number, WriterEntry>();
  private readonly encodeIds = new Map<string, number>();

  constructor(private readonly registry: SchemaRegistry) {
    for (const t of EVENT_TYPES) this.readerTypes.set(t, avro.Type.forSchema(currentAvroSchema(t) as avro.Schema));
  }

  /** Resolves and caches the writer schemas of ids not seen before. */
  async prepare(ids: Iterable<number>): Promise<void> {
    for (const id of ids) {
      if (this.writers.has(id)) continue;
      const schema = await this.registry.getById(id);
      this.writers.set(id, this.writerEntry(schema));
    }
  }

  private writerEntry(schema: AvroSchemaJson): WriterEntry {
    const writerType = avro.Type.forSchema(schema as avro.Schema) as avro.types.RecordType;
    const type = EVENT_TYPE_BY_RECORD_NAME[writerType.name ?? ''];
    if (!type) throw new DecodeError(`schema ${writerType.name} is not an event type of the contract`);
    const readerType = this.readerTypes.get(type)!;
    const resolver = readerType.createResolver(writerType);
    const fast = writerType.equals(readerType) ? compileFastReader(type, currentAvroSchema(type)) : null;
    return { type, read: (body) => readerType.fromBuffer(body, resolver, false) as Record<string, unknown>, fast, check: decodedSemanticCheck(type) };
  }

  /** The schema id of a framed value, or a DecodeError for a value not in the wire format. */
  static schemaIdOf(value: Buffer | null): number {
    if (!value || value.length < HEADER_BYTES) throw new DecodeError('value is shorter than the 5-byte wire-format header');
    if (value[0] !== MAGIC_BYTE) throw new DecodeError(`unknown magic byte ${value[0]} (expected 0, Confluent wire format)`);
    return value.readUInt32BE(1);
  }

  /**
   * Decodes and validates one framed value. The writer schema must have been
   * prepared; throws DecodeError (naming the field where validation did).
   */
  decode(value: Buffer | null): AgentEvent {
    const id = AvroCodec.schemaIdOf(value);
    const writer = this.writers.get(id);
    if (!writer) throw new DecodeError(`schema id ${id} is not known to the registry`);
    if (writer.fast !== null) {
      const event = writer.fast(value!);
      if (event !== null && writer.check(event as unknown as Record<string, unknown>)) return event;
    }
    let record: Record<string, unknown>;
    try {
      record = writer.read(value!.subarray(HEADER_BYTES));
    } catch (err) {
      throw new DecodeError(`Avro body does not match schema id ${id}: ${(err as Error).message}`);
    }
    try {
      return validateDecodedEvent(writer.type, record);
    } catch (err) {
      const field = (err as { field?: string }).field;
      throw new DecodeError((err as Error).message, field);
    }
  }

  /** Decodes many values, resolving unknown schema ids first; one bad value never fails the rest. */
  async decodeMany(values: (Buffer | null)[]): Promise<({ ok: true; event: AgentEvent } | { ok: false; error: DecodeError })[]> {
    const ids = new Set<number>();
    for (const v of values) {
      try {
        ids.add(AvroCodec.schemaIdOf(v));
      } catch {
        // reported per record below
      }
    }
    for (const id of ids) {
      try {
        await this.prepare([id]);
      } catch {
        // an unknown id is a bad record, not a stopped stream: reported below
      }
    }
    return values.map((v) => {
      try {
        return { ok: true as const, event: this.decode(v) };
      } catch (err) {
        const e = err instanceof DecodeError ? err : new DecodeError((err as Error).message);
        return { ok: false as const, error: e };
      }
    });
  }

  /** Encodes an event with the current schema of its type, registered under the topic's value subject. */
  async encoder(topic: string, type: EventType, schema: AvroSchemaJson = currentAvroSchema(type)): Promise<(event: AgentEvent) => Buffer> {
    const key = `${topic}\u0000${JSON.stringify(schema)}`;
    let id = this.encodeIds.get(key);
    if (id === undefined) {
      id = await this.registry.register(valueSubject(topic), schema);
      this.encodeIds.set(key, id);
    }
    const avroType = avro.Type.forSchema(schema as avro.Schema);
    const header = Buffer.alloc(HEADER_BYTES);
    header[0] = MAGIC_BYTE;
    header.writeUInt32BE(id, 1);
    return (event) => Buffer.concat([header, avroType.toBuffer(event)]);
  }
}

// ---------------------------------------------------------------------------
// Compiled reader for values written with the current schema
//
// avsc's generic path (resolver, record class, then a validated copy) costs
// several times more than the decoding itself. When the writer schema is the
// reader schema, a reader generated from the schema decodes the body straight
// into the event object (`type` first, fields in contract order, as
// validation builds it). It reads exactly as avsc does (same varint, double
// and UTF-8 decoding) and gives up (null) on anything avsc would reject or
// treat specially — out-of-range union or enum index, unsafe long, truncated
// body, trailing bytes — so that the generic path reports those exactly as
// before.

type FastReader = (value: Buffer) => AgentEvent | null;

/** avsc's safe range of longs (beyond it avsc throws "potential precision loss"). */
const MAX_SAFE_LONG = 9007199254740990;

/**
 * Cursor over one framed value. `ok` turns false on any read past the end
 * or malformed content; values read after that are meaningless and the
 * result is discarded.
 */
class Cursor {
  buf: Buffer = EMPTY;
  pos = 0;
  end = 0;
  ok = true;

  reset(buf: Buffer, pos: number): void {
    this.buf = buf;
    this.pos = pos;
    this.end = buf.length;
    this.ok = true;
  }

  /** A read past the end: the value is malformed (the result is discarded). */
  private truncated(): 0 {
    this.ok = false;
    this.pos = this.end;
    return 0;
  }

  /** Tap.readLong of avsc, bounds-checked. */
  long(): number {
    const buf = this.buf;
    const end = this.end;
    let pos = this.pos;
    let n = 0;
    let k = 0;
    let b = 0;
    let h = 0;
    do {
      if (pos >= end) return this.truncated();
      b = buf[pos++]!;
      h = b & 0x80;
      n |= (b & 0x7f) << k;
      k += 7;
    } while (h && k < 28);
    if (h) {
      let f = n;
      let fk = 268435456;
      do {
        if (pos >= end) return this.truncated();
        b = buf[pos++]!;
        f += (b & 0x7f) * fk;
        fk *= 128;
      } while (b & 0x80);
      this.pos = pos;
      return (f % 2 ? -(f + 1) : f) / 2;
    }
    this.pos = pos;
    return (n >> 1) ^ -(n & 1);
  }

  /** An Avro long (avsc LongType: unsafe values are an error). */
  safeLong(): number {
    const n = this.long();
    if (!(n >= -MAX_SAFE_LONG && n <= MAX_SAFE_LONG)) this.ok = false;
    return n;
  }

  double(): number {
    const pos = this.pos;
    if (pos + 8 > this.end) return this.truncated();
    this.pos = pos + 8;
    return this.buf.readDoubleLE(pos);
  }

  /** An Avro string; `cache` interns repeated values (see StringCache). */
  string(cache: StringCache | null): string {
    const len = this.long();
    const start = this.pos;
    if (len < 0 || start + len > this.end) {
      this.truncated();
      return '';
    }
    this.pos = start + len;
    if (cache !== null && cache.enabled) return cache.get(this.buf, start, len);
    return utf8(this.buf, start, start + len);
  }

  /** Index of a ['null', X] union: 0 or 1, anything else is malformed. */
  branch(): number {
    const i = this.long();
    if (i !== 0 && i !== 1) this.ok = false;
    return i;
  }

  symbol(symbols: readonly string[]): string {
    const i = this.long();
    const s = symbols[i];
    if (s === undefined) {
      this.ok = false;
      return '';
    }
    return s;
  }

  /** ArrayType._read of avsc for string items (blocks, negative counts followed by a byte size). */
  strings(cache: StringCache | null): string[] {
    let out: string[] | undefined;
    let i = 0;
    let n: number;
    while ((n = this.long()) !== 0 && this.ok) {
      if (n < 0) {
        n = -n;
        this.long();
      }
      if (n > this.end - this.pos) {
        this.ok = false; // more items than bytes left: malformed
        return [];
      }
      out = out ?? new Array<string>(n);
      while (n-- > 0) out[i++] = this.string(cache);
    }
    return out ?? [];
  }
}

const EMPTY = Buffer.alloc(0);

/** Node's native slicers (what avsc's Tap.readString uses when present). */
interface SliceBuffer {
  utf8Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
}
const NATIVE_SLICE = typeof (Buffer.prototype as unknown as Partial<SliceBuffer>).utf8Slice === 'function' && typeof (Buffer.prototype as unknown as Partial<SliceBuffer>).latin1Slice === 'function';

/** UTF-8 text of buf[start, end), exactly as avsc decodes it (native). */
function nativeUtf8(buf: Buffer, start: number, end: number): string {
  return NATIVE_SLICE ? (buf as unknown as SliceBuffer).utf8Slice(start, end) : buf.toString('utf8', start, end);
}

/** Longest string built in JS (longer ones go native). */
const SHORT = 32;

/**
 * Per length n ≤ SHORT: the text of n ASCII bytes at buf[p], built by one
 * String.fromCharCode call (no native call: ~2x faster than utf8Slice for ids
 * and addresses), or null when a byte is not ASCII.
 */
const SHORT_ASCII: ((buf: Buffer, p: number) => string | null)[] = Array.from({ length: SHORT + 1 }, (_, n) => {
  const names = Array.from({ length: n }, (_, i) => `c${i}`);
  const body =
    n === 0
      ? "return '';"
      : `const ${names.map((c, i) => `${c} = b[p + ${i}]`).join(', ')};\n` +
        `if ((${names.join(' | ')}) & 0x80) return null;\n` +
        `return String.fromCharCode(${names.join(', ')});`;
  return new Function('b', 'p', body) as (buf: Buffer, p: number) => string | null;
});

/** UTF-8 text of buf[start, end), exactly as avsc decodes it (ASCII is the same text whichever way it is read). */
function utf8(buf: Buffer, start: number, end: number): string {
  const n = end - start;
  if (n <= SHORT) {
    const s = SHORT_ASCII[n]!(buf, start);
    if (s !== null) return s;
  }
  return nativeUtf8(buf, start, end);
}

/** Text of ASCII bytes buf[start, end) (the same string utf8 gives for them). */
function ascii(buf: Buffer, start: number, end: number): string {
  return NATIVE_SLICE ? (buf as unknown as SliceBuffer).latin1Slice(start, end) : buf.toString('latin1', start, end);
}

const CACHE_SIZE = 4096;
const CACHE_WINDOW = 4096;

/**
 * Interns the values of one field: a small direct-mapped table from a hash of
 * the bytes to the string last decoded there. Repeated values (tenant,
 * blueprint, resource, host, client...) come back as one string instance
 * without a UTF-8 decode, which also lets later map lookups compare pointers.
 * A field whose values rarely repeat (ids) turns the table off by itself and
 * tries again now and then. Only ASCII values are interned; the strings are
 * the same whichever way they are decoded.
 */
class StringCache {
  enabled = true;
  private readonly table: string[] = new Array<string>(CACHE_SIZE).fill('');
  private hits = 0;
  private lookups = 0;
  private pause = 0;

  get(buf: Buffer, start: number, len: number): string {
    if (++this.lookups === CACHE_WINDOW) this.review();
    const end = start + len;
    if (len === 0) return utf8(buf, start, end);
    // Slot: the length and a few bytes (both ends, the middle), where values of one field differ.
    let h = Math.imul(len, 0x9e3779b1) ^ Math.imul(buf[start]!, 0x85ebca6b) ^ Math.imul(buf[end - 1]!, 0xc2b2ae35);
    h ^= Math.imul(buf[start + (len >> 1)]!, 0x27d4eb2f) ^ Math.imul(buf[start + (len >> 2)]!, 0x165667b1);
    const slot = (h ^ (h >>> 16)) & (CACHE_SIZE - 1);
    const s = this.table[slot]!;
    if (s.length === len) {
      // Cached strings are ASCII: equal char codes mean equal bytes and equal text.
      let i = 0;
      while (i < len && s.charCodeAt(i) === buf[start + i]) i++;
      if (i === len) {
        this.hits++;
        return s;
      }
    }
    let fresh: string | null = len <= SHORT ? SHORT_ASCII[len]!(buf, start) : null;
    if (fresh === null) {
      let high = 0;
      for (let i = start; i < end; i++) high |= buf[i]!;
      if (high >= 0x80) return nativeUtf8(buf, start, end); // only ASCII is cached
      fresh = ascii(buf, start, end);
    }
    this.table[slot] = fresh;
    return fresh;
  }

  private review(): void {
    if (this.hits * 2 < this.lookups) {
      this.enabled = false;
      this.pause = 16;
    }
    this.hits = 0;
    this.lookups = 0;
  }

  /** Called once per WINDOW values read while disabled: after a pause, looks again. */
  tick(): void {
    if (--this.pause <= 0) this.enabled = true;
  }
}

type FieldSchema = { name: string; type: unknown };

/** Compiles the reader of one event type's current schema; null when the schema uses a type it does not handle. */
function compileFastReader(type: EventType, schema: Record<string, unknown>): FastReader | null {
  const fields = schema.fields as FieldSchema[];
  const consts: unknown[] = [];
  const constant = (v: unknown): string => {
    consts.push(v);
    return `k[${consts.length - 1}]`;
  };
  const caches: StringCache[] = [];
  const lines: string[] = [];
  const props: string[] = [`type: ${JSON.stringify(type)}`];
  const readOf = (t: unknown): string | null => {
    if (t === 'string') {
      const cache = new StringCache();
      caches.push(cache);
      return `c.string(${constant(cache)})`;
    }
    if (t === 'long') return 'c.safeLong()';
    if (t === 'int') return 'c.long()';
    if (t === 'double') return 'c.double()';
    if (t && typeof t === 'object' && !Array.isArray(t)) {
      const o = t as { type: unknown; symbols?: string[]; items?: unknown };
      if (o.type === 'long') return 'c.safeLong()'; // logical types (timestamp-millis) decode as their long
      if (o.type === 'enum' && Array.isArray(o.symbols)) return `c.symbol(${constant(o.symbols.slice())})`;
      if (o.type === 'array' && o.items === 'string') {
        const cache = new StringCache();
        caches.push(cache);
        return `c.strings(${constant(cache)})`;
      }
    }
    return null;
  };
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i]!;
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(f.name)) return null;
    let read: string | null;
    if (Array.isArray(f.type)) {
      if (f.type.length !== 2 || f.type[0] !== 'null') return null;
      const inner = readOf(f.type[1]);
      if (inner === null) return null;
      read = `c.branch() === 0 ? null : ${inner}`;
    } else read = readOf(f.type);
    if (read === null) return null;
    lines.push(`  const v${i} = ${read};`);
    props.push(`${f.name}: v${i}`);
  }
  const body =
    `return function read_${type}(value) {\n` +
    `  const c = cursor;\n  c.reset(value, ${HEADER_BYTES});\n` +
    lines.join('\n') +
    `\n  if (!c.ok || c.pos !== c.end) return null;\n` +
    `  return { ${props.join(', ')} };\n};`;
  const read = new Function('k', 'cursor', body)(consts, new Cursor()) as FastReader;
  // Disabled caches look again once in a while (counted in values read).
  let reads = 0;
  return (value) => {
    if (++reads === CACHE_WINDOW) {
      reads = 0;
      for (const cache of caches) if (!cache.enabled) cache.tick();
    }
    return read(value);
  };
}

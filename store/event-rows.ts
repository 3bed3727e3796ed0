// Event rows written straight into the insert body as UTF-8 bytes: the same
// bytes as eventCanonicalLine(time, eventToJson(event), source, offset, token)
// encoded with Buffer.from, without building the line as a string first.
//
// Why: at tens of thousands of events per second, building each row as a
// string (a rope of ~40 pieces), flattening it and encoding it cost ~2.7 µs of
// the JS thread per event; copying ASCII characters into the buffer in a loop
// costs a fraction of that. Anything not plain printable ASCII (escapes, other
// scripts, surrogates) takes the string path for that one value, so the bytes
// are always those of the string form (test/store/event-rows.test.ts checks
// them against eventLine). Verification rebuilds each stored row's line from
// its stored `raw` text with eventCanonicalLine, so they must match exactly.

import { EVENT_TYPES, type AgentEvent, type EventType } from '../contract/events.js';
import { fieldNames } from '../contract/validate.js';

const BACKSLASH = /\\/g;
/** The largest epoch ms whose ISO text has a four-digit year. */
const MAX_FOUR_DIGIT_YEAR_MS = 253_402_300_799_999;

/** A growing UTF-8 buffer of rows, with where each row starts. */
export class RowBuffer {
  private buf: Buffer;
  pos = 0;
  readonly starts: number[] = [];
  // The last whole second of event time formatted as `"YYYY-MM-DDTHH:MM:SS.`.
  private cachedSecond = Number.NaN;
  private cachedPrefix = '';

  constructor(expectedRows: number) {
    this.buf = Buffer.allocUnsafe(Math.max(4096, Math.min(expectedRows * 512, 64 << 20)));
  }

  /** Makes room for `n` more bytes. */
  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.pos + n, this.buf.length * 2));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** Starts a row (records where it begins). */
  row(): void {
    this.starts.push(this.pos);
  }

  /** The rows written, as one buffer (a view, no copy); `starts` gets the end as its last entry. */
  finish(): Buffer {
    this.starts.push(this.pos);
    return this.buf.subarray(0, this.pos);
  }

  /** Text known to need no escaping in TSV, as UTF-8. */
  text(s: string): void {
    this.reserve(s.length * 3);
    const buf = this.buf;
    let pos = this.pos;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) {
        this.pos += buf.write(s, this.pos, 'utf8');
        return;
      }
      buf[pos++] = c;
    }
    this.pos = pos;
  }

  /** Bytes known to need no escaping (constant parts of a row). */
  bytes(b: Uint8Array): void {
    this.reserve(b.length);
    const buf = this.buf;
    let pos = this.pos;
    // A loop, not buf.set: the parts are a few bytes long, where set's call costs more than the copy.
    for (let i = 0; i < b.length; i++) buf[pos++] = b[i]!;
    this.pos = pos;
  }

  /** A non-negative or negative integer's decimal digits (a safe integer). */
  integer(n: number): void {
    this.text(String(n));
  }

  /** A JSON value inside the raw record, with the record's backslashes doubled for TSV. */
  value(v: unknown): void {
    if (typeof v === 'string') this.string(v);
    else if (typeof v === 'number') this.text(Number.isFinite(v) ? String(v) : 'null');
    else if (v === null || v === undefined) this.text('null');
    else this.escaped(JSON.stringify(v));
  }

  /** A JSON string value: copied when plain printable ASCII, else JSON.stringify's text. */
  string(s: string): void {
    this.reserve(s.length + 2);
    const buf = this.buf;
    const start = this.pos;
    let pos = start;
    buf[pos++] = 0x22;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c >= 0x7f || c === 0x22 || c === 0x5c) {
        this.pos = start;
        this.escaped(JSON.stringify(s));
        return;
      }
      buf[pos++] = c;
    }
    buf[pos++] = 0x22;
    this.pos = pos;
  }

  /** JSON text whose backslashes must be doubled inside a TSV field. */
  private escaped(json: string): void {
    const s = json.includes('\\') ? json.replace(BACKSLASH, '\\\\') : json;
    this.reserve(s.length * 3);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }

  /** Event time as the record's quoted RFC 3339 text (what toISOString gives). */
  time(ms: number): void {
    if (!Number.isInteger(ms) || ms < 0 || ms > MAX_FOUR_DIGIT_YEAR_MS) {
      this.text(`"${new Date(ms).toISOString()}"`);
      return;
    }
    const second = Math.floor(ms / 1000);
    if (second !== this.cachedSecond) {
      this.cachedPrefix = `"${new Date(second * 1000).toISOString().slice(0, 20)}`;
      this.cachedSecond = second;
    }
    this.text(this.cachedPrefix);
    this.reserve(5);
    const milli = ms - second * 1000;
    const buf = this.buf;
    buf[this.pos++] = 0x30 + Math.floor(milli / 100);
    buf[this.pos++] = 0x30 + (Math.floor(milli / 10) % 10);
    buf[this.pos++] = 0x30 + (milli % 10);
    buf[this.pos++] = 0x5a; // Z
    buf[this.pos++] = 0x22;
  }
}

type RecordWriter = (out: RowBuffer, event: AgentEvent) => void;

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** A writer of one type's raw record, generated from the contract's field list (plain property reads, one shape per type). */
function compile(type: EventType): RecordWriter {
  // The constant parts (`{"type":"signin"`, `,"agent_id":`...) are encoded once and copied.
  const constants: Uint8Array[] = [];
  const constant = (text: string) => `out.bytes(k[${constants.push(Buffer.from(text, 'utf8')) - 1}]);`;
  const lines = [constant(`{"type":${JSON.stringify(type)}`)];
  for (const name of fieldNames(type)) {
    // Names come from the contract, but they are spliced into code: check them.
    if (!IDENTIFIER.test(name)) throw new Error(`field name ${JSON.stringify(name)} is not an identifier`);
    lines.push(constant(`,${JSON.stringify(name)}:`));
    lines.push(name === 'time' ? `out.time(e.time);` : `out.value(e.${name});`);
  }
  lines.push(constant('}'));
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- generated from the contract's field names, checked above
  const make = new Function('k', `return function write_${type}(out, e) {\n${lines.join('\n')}\n};`) as (k: Uint8Array[]) => RecordWriter;
  return make(constants);
}

const RECORD_WRITERS = Object.fromEntries(EVENT_TYPES.map((type) => [type, compile(type)])) as Record<EventType, RecordWriter>;

/**
 * Appends an event's `events` row: time (epoch ms), raw record, source field
 * (already TSV-escaped), offset text, token (dedupToken charset), newline.
 */
export function writeEventRow(out: RowBuffer, event: AgentEvent, sourceField: string, offset: string, token: string): void {
  out.row();
  out.integer(Math.trunc(event.time));
  out.text('\t');
  RECORD_WRITERS[event.type](out, event);
  out.text('\t');
  out.text(sourceField);
  out.text('\t');
  out.text(offset);
  out.text('\t');
  out.text(token);
  out.text('\n');
}

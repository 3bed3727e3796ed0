// Fast serialisation of an event to its JSON record text: byte for byte what
// JSON.stringify(toJsonRecord(event)) gives, without building the intermediate
// object. It runs once per stored event, so it is on the ingest hot path.
//
// Each event type gets its own serialiser, generated from the contract's field
// list, so every field is read with a plain property access (one shape per
// type) instead of a keyed lookup across five shapes; strings that need no
// escaping skip JSON.stringify; the time text is built from a cached
// per-second prefix (events arrive in roughly time order).

import { EVENT_TYPES, type AgentEvent, type EventType } from './events.js';
import { fieldNames } from './validate.js';

/** Characters JSON.stringify would escape in a string: controls, quote, backslash, and (lone) surrogates. */
const NEEDS_ESCAPE = /[\u0000-\u001f"\\\ud800-\udfff]/;

/** A JSON value as JSON.stringify writes it inside an object (undefined becomes null, like toJsonRecord's). */
function jsonValue(v: unknown): string {
  if (typeof v === 'string') return NEEDS_ESCAPE.test(v) ? JSON.stringify(v) : `"${v}"`;
  if (typeof v === 'number') return Number.isFinite(v) ? String(v) : 'null';
  if (v === null || v === undefined) return 'null';
  return JSON.stringify(v);
}

// The last whole second formatted, as `"YYYY-MM-DDTHH:MM:SS.` (with the opening quote).
let cachedSecond = Number.NaN;
let cachedPrefix = '';
/** The largest epoch ms whose ISO text has a four-digit year. */
const MAX_FOUR_DIGIT_YEAR_MS = 253_402_300_799_999;

/** Epoch ms as a quoted RFC 3339 UTC string with milliseconds: what `new Date(ms).toISOString()` gives. */
function jsonTime(ms: number): string {
  if (!Number.isInteger(ms) || ms < 0 || ms > MAX_FOUR_DIGIT_YEAR_MS) return `"${new Date(ms).toISOString()}"`;
  const second = Math.floor(ms / 1000);
  if (second !== cachedSecond) {
    cachedPrefix = `"${new Date(second * 1000).toISOString().slice(0, 20)}`;
    cachedSecond = second;
  }
  const milli = ms - second * 1000;
  return `${cachedPrefix}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z"`;
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;

function compile(type: EventType): (event: AgentEvent) => string {
  let expr = JSON.stringify(`{"type":${JSON.stringify(type)}`);
  for (const name of fieldNames(type)) {
    // Names come from the contract, but they are spliced into code: check them.
    if (!IDENTIFIER.test(name)) throw new Error(`field name ${JSON.stringify(name)} is not an identifier`);
    const prefix = JSON.stringify(`,${JSON.stringify(name)}:`);
    expr += ` + ${prefix} + ${name === 'time' ? 'jsonTime' : 'jsonValue'}(e.${name})`;
  }
  // eslint-disable-next-line @typescript-eslint/no-implied-eval -- generated from the contract's field names, checked above
  const make = new Function('jsonValue', 'jsonTime', `return function ${type}ToJson(e) { return ${expr} + "}"; };`) as (
    value: typeof jsonValue,
    time: typeof jsonTime,
  ) => (event: AgentEvent) => string;
  return make(jsonValue, jsonTime);
}

const SERIALISERS = Object.fromEntries(EVENT_TYPES.map((type) => [type, compile(type)])) as Record<EventType, (event: AgentEvent) => string>;

export function eventToJson(event: AgentEvent): string {
  return SERIALISERS[event.type](event);
}

// Validation of events against the contract. The structural rules (which
// fields exist, their types, enum symbols, nullability) are derived from the
// current Avro schemas so there is one source of truth; the semantic rules Avro
// cannot express (IP syntax, country codes, ranges, RFC 3339 times) are added by
// field name. Every rejection names the field.

import { isIP } from 'node:net';
import { AVRO_SCHEMA_VERSIONS, currentAvroSchema } from './avro-schemas.js';
import { EVENT_TYPES, type AgentEvent, type EventType } from './events.js';

export class ValidationError extends Error {
  constructor(
    /** The offending field, e.g. `country` or `scopes[2]`; `type` for an unknown event type. */
    readonly field: string,
    reason: string,
  ) {
    super(`${field}: ${reason}`);
    this.name = 'ValidationError';
  }
}

type Kind =
  | { kind: 'string' }
  | { kind: 'int'; min: number; max: number }
  | { kind: 'double'; min: number; max: number }
  | { kind: 'time' }
  | { kind: 'enum'; symbols: ReadonlySet<string> }
  | { kind: 'string_array' };

interface FieldRule {
  name: string;
  nullable: boolean;
  type: Kind;
  /** Extra check on a present value; returns a reason when it fails. */
  check?: (value: never) => string | undefined;
}

// RFC 3339 (section 5.6): 'T' or, as its note allows, a space between date and
// time; either case for 'T' and 'Z'; an offset is required (a time without
// one is ambiguous).
const RFC3339 = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;
const COUNTRY = /^[A-Z]{2}$/;
// The largest integer an Avro long carries through avsc without precision loss.
const MAX_INT = 9_007_199_254_740_990;

// Semantic rules keyed by field name; they apply wherever the field appears.
const SEMANTIC: Record<string, Pick<FieldRule, 'check'> & { range?: [number, number] }> = {
  ip: { check: (v: string) => (isIP(v) === 0 ? `must be an IPv4 or IPv6 address, got ${JSON.stringify(v)}` : undefined) },
  dest_ip: { check: (v: string) => (isIP(v) === 0 ? `must be an IPv4 or IPv6 address, got ${JSON.stringify(v)}` : undefined) },
  country: {
    check: (v: string) => (COUNTRY.test(v) ? undefined : `must be an ISO 3166 alpha-2 code, got ${JSON.stringify(v)}`),
  },
  lat: { range: [-90, 90] },
  lon: { range: [-180, 180] },
  dest_port: { range: [0, 65535] },
  asn: { range: [0, 4294967295] },
  bytes_out: { range: [0, MAX_INT] },
  bytes_in: { range: [0, MAX_INT] },
  lifetime_s: { range: [0, MAX_INT] },
};

// Required strings that must also be non-empty (an empty id is as bad as none).
const NON_EMPTY = new Set([
  'event_id',
  'tenant_id',
  'agent_id',
  'user_id',
  'token_id',
  'resource',
  'dest_host',
  'actor',
  'category',
]);

function kindOf(avroType: unknown): Kind {
  if (typeof avroType === 'string') {
    if (avroType === 'string') return { kind: 'string' };
    if (avroType === 'long' || avroType === 'int') return { kind: 'int', min: -MAX_INT, max: MAX_INT };
    if (avroType === 'double' || avroType === 'float') return { kind: 'double', min: -Infinity, max: Infinity };
  } else if (avroType && typeof avroType === 'object') {
    const t = avroType as { type: string; logicalType?: string; symbols?: string[]; items?: unknown };
    if (t.type === 'long' && t.logicalType === 'timestamp-millis') return { kind: 'time' };
    if (t.type === 'enum') return { kind: 'enum', symbols: new Set(t.symbols) };
    if (t.type === 'array' && t.items === 'string') return { kind: 'string_array' };
  }
  throw new Error(`unsupported Avro type in contract: ${JSON.stringify(avroType)}`);
}

function rulesFor(type: EventType): FieldRule[] {
  const fields = currentAvroSchema(type).fields as { name: string; type: unknown }[];
  return fields.map((f) => {
    const union = Array.isArray(f.type) ? f.type : null;
    const nullable = union !== null && union.includes('null');
    let kind = kindOf(union ? union.find((t) => t !== 'null') : f.type);
    const semantic = SEMANTIC[f.name];
    if (semantic?.range && (kind.kind === 'int' || kind.kind === 'double')) {
      kind = { ...kind, min: semantic.range[0], max: semantic.range[1] };
    }
    const rule: FieldRule = { name: f.name, nullable, type: kind };
    if (semantic?.check) rule.check = semantic.check;
    return rule;
  });
}

const RULES: Record<EventType, FieldRule[]> = Object.fromEntries(
  EVENT_TYPES.map((t) => [t, rulesFor(t)]),
) as Record<EventType, FieldRule[]>;

// Sanity: every type must have at least one published schema version.
for (const t of EVENT_TYPES) if (AVRO_SCHEMA_VERSIONS[t].length === 0) throw new Error(`no schema for ${t}`);

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return typeof value === 'string' ? JSON.stringify(value.length > 64 ? `${value.slice(0, 64)}…` : value) : typeof value;
}

/**
 * Checks one field's value and returns its normalised form. `timeAsText` is true
 * for JSON input (RFC 3339 string) and false for decoded Avro (epoch ms).
 */
function checkField(rule: FieldRule, value: unknown, timeAsText: boolean): unknown {
  if (value === undefined || value === null) {
    if (rule.nullable) return null;
    throw new ValidationError(rule.name, 'is required');
  }
  const t = rule.type;
  switch (t.kind) {
    case 'string':
      if (typeof value !== 'string') throw new ValidationError(rule.name, `must be a string, got ${describe(value)}`);
      if (value.length === 0 && NON_EMPTY.has(rule.name)) throw new ValidationError(rule.name, 'must not be empty');
      break;
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value))
        throw new ValidationError(rule.name, `must be an integer, got ${describe(value)}`);
      if (value < t.min || value > t.max)
        throw new ValidationError(rule.name, `must be between ${t.min} and ${t.max}, got ${value}`);
      break;
    case 'double':
      if (typeof value !== 'number' || !Number.isFinite(value))
        throw new ValidationError(rule.name, `must be a number, got ${describe(value)}`);
      if (value < t.min || value > t.max)
        throw new ValidationError(rule.name, `must be between ${t.min} and ${t.max}, got ${value}`);
      break;
    case 'time': {
      if (timeAsText) {
        if (typeof value !== 'string' || !RFC3339.test(value))
          throw new ValidationError(rule.name, `must be an RFC 3339 timestamp, got ${describe(value)}`);
        const ms = Date.parse(value);
        if (Number.isNaN(ms)) throw new ValidationError(rule.name, `is not a valid date: ${describe(value)}`);
        return ms;
      }
      if (typeof value !== 'number' || !Number.isFinite(value))
        throw new ValidationError(rule.name, `must be epoch milliseconds, got ${describe(value)}`);
      return value;
    }
    case 'enum':
      if (typeof value !== 'string' || !t.symbols.has(value))
        throw new ValidationError(rule.name, `must be one of ${[...t.symbols].join(', ')}; got ${describe(value)}`);
      break;
    case 'string_array':
      if (!Array.isArray(value)) throw new ValidationError(rule.name, `must be an array of strings, got ${describe(value)}`);
      for (let i = 0; i < value.length; i++) {
        if (typeof value[i] !== 'string')
          throw new ValidationError(`${rule.name}[${i}]`, `must be a string, got ${describe(value[i])}`);
      }
      break;
  }
  if (rule.check) {
    const reason = rule.check(value as never);
    if (reason) throw new ValidationError(rule.name, reason);
  }
  return value;
}

function checkCrossField(event: AgentEvent): void {
  // An on-behalf-of flow without the human it acts for cannot be attributed.
  if ((event.type === 'signin' || event.type === 'token') && event.flow === 'on_behalf_of' && !event.user_id) {
    throw new ValidationError('user_id', 'is required when flow is on_behalf_of');
  }
}

function build(type: EventType, input: Record<string, unknown>, timeAsText: boolean): AgentEvent {
  const out: Record<string, unknown> = { type };
  for (const rule of RULES[type]) out[rule.name] = checkField(rule, input[rule.name], timeAsText);
  const event = out as unknown as AgentEvent;
  checkCrossField(event);
  return event;
}

/**
 * Validates a JSON value (one NDJSON line, parsed) and returns the in-memory
 * event: time as epoch ms, absent nullable fields as null, unknown fields dropped.
 * Throws ValidationError naming the field.
 */
export function parseJsonEvent(input: unknown): AgentEvent {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) {
    throw new ValidationError('(record)', `must be a JSON object, got ${describe(input)}`);
  }
  const record = input as Record<string, unknown>;
  const type = record.type;
  if (typeof type !== 'string' || !(EVENT_TYPES as readonly string[]).includes(type)) {
    throw new ValidationError('type', `must be one of ${EVENT_TYPES.join(', ')}; got ${describe(type)}`);
  }
  return build(type as EventType, record, true);
}

/** Validates a record decoded from Avro (time already epoch ms) and tags it with its type. */
export function validateDecodedEvent(type: EventType, record: Record<string, unknown>): AgentEvent {
  // Fast path: a compiled check of every rule, then a copy in contract order.
  // Any failure goes through `build`, which names the field exactly as before.
  const c = compiled(type);
  return c.accepts(record) ? c.copy(record) : build(type, record, false);
}

// ---------------------------------------------------------------------------
// Compiled checks for decoded records (the hot path of Kafka ingestion)

/**
 * Accepts a record decoded from Avro exactly when `validateDecodedEvent` would:
 * straight-line code generated from RULES (one property load and a few
 * comparisons per field) instead of the generic per-field interpreter. It only
 * answers yes or no; the reason of a rejection comes from `build`.
 */
export type DecodedCheck = (record: Record<string, unknown>) => boolean;

interface Compiled {
  accepts: DecodedCheck;
  /** `accepts` for a record whose every field already has its Avro type (see decodedSemanticCheck). */
  semantic: DecodedCheck;
  /** The event in contract order (`type` first, every field, absent nullable fields as null). */
  copy: (record: Record<string, unknown>) => AgentEvent;
}

const COMPILED = new Map<EventType, Compiled>();

function compiled(type: EventType): Compiled {
  let c = COMPILED.get(type);
  if (c === undefined) {
    c = compile(type);
    COMPILED.set(type, c);
  }
  return c;
}

/**
 * The same check for a record known to hold, in every field of the current
 * schema of `type`, a value of that field's Avro type (a string, a safe
 * integer, a number, one of the enum's symbols, an array of strings, null
 * only where the union allows it) — as a reader of that schema produces.
 * Structure and enums are then guaranteed: only the semantic rules are left
 * (non-empty ids, addresses, country codes, ranges, finite numbers, the user
 * of an on-behalf-of flow).
 */
export function decodedSemanticCheck(type: EventType): DecodedCheck {
  return compiled(type).semantic;
}

/** A dotted-quad IPv4 address exactly as node's isIP accepts it (octets 0-255, no leading zeros); false means "ask isIP". */
function quickIPv4(s: string): boolean {
  const n = s.length;
  if (n < 7 || n > 15) return false;
  let dots = 0;
  let digits = 0;
  let value = 0;
  let first = 0;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || value > 255 || (digits > 1 && first === 48)) return false;
      dots++;
      digits = 0;
      value = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits === 0) first = c;
      digits++;
      if (digits > 3) return false;
      value = value * 10 + (c - 48);
    } else return false;
  }
  return dots === 3 && digits > 0 && value <= 255 && !(digits > 1 && first === 48);
}

function validIp(v: string): boolean {
  return quickIPv4(v) || isIP(v) !== 0;
}

function validCountry(v: string): boolean {
  if (v.length !== 2) return false;
  const a = v.charCodeAt(0);
  const b = v.charCodeAt(1);
  return a >= 65 && a <= 90 && b >= 65 && b <= 90;
}

function compile(type: EventType): Compiled {
  const rules = RULES[type];
  const enums: ReadonlySet<string>[] = [];
  const full: string[] = [];
  const semantic: string[] = [];
  for (const rule of rules) {
    const name = rule.name;
    if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`unexpected field name ${name}`);
    const v = `r.${name}`;
    const t = rule.type;
    // `c`: every rule of the field; `m`: only what a value of the right Avro type can still fail.
    let c: string;
    let m: string | null = null;
    switch (t.kind) {
      case 'string':
        c = `typeof ${v} === 'string'`;
        if (NON_EMPTY.has(name)) m = `${v}.length !== 0`;
        break;
      case 'int':
        c = `typeof ${v} === 'number' && Number.isInteger(${v})`;
        // (A safe Avro long is within ±MAX_INT already, but an over-long varint read as an Avro int is not.)
        m = `${v} >= ${t.min} && ${v} <= ${t.max}`;
        break;
      case 'double':
        c = `typeof ${v} === 'number'`;
        m = `Number.isFinite(${v}) && ${v} >= ${t.min} && ${v} <= ${t.max}`;
        break;
      case 'time':
        c = `typeof ${v} === 'number' && Number.isFinite(${v})`;
        break;
      case 'enum':
        enums.push(t.symbols);
        c = `typeof ${v} === 'string' && enums[${enums.length - 1}].has(${v})`;
        break;
      case 'string_array':
        c = `Array.isArray(${v}) && allStrings(${v})`;
        break;
    }
    let check: string | null = null;
    if (rule.check === SEMANTIC.ip!.check || rule.check === SEMANTIC.dest_ip!.check) check = `validIp(${v})`;
    else if (rule.check === SEMANTIC.country!.check) check = `validCountry(${v})`;
    else if (rule.check) throw new Error(`no compiled form of the check of ${name}`);
    if (check !== null) m = m === null ? check : `${m} && ${check}`;
    const all = m === null ? c : `${c} && ${m}`;
    full.push(rule.nullable ? `(${v} === null || ${v} === undefined || (${all}))` : `(${all})`);
    if (m !== null) semantic.push(rule.nullable ? `(${v} === null || (${m}))` : `(${m})`);
  }
  // checkCrossField: an on-behalf-of flow needs its user.
  if (type === 'signin' || type === 'token') {
    full.push(`!(r.flow === 'on_behalf_of' && !r.user_id)`);
    semantic.push(`!(r.flow === 'on_behalf_of' && !r.user_id)`);
  }
  const fn = (name: string, conds: string[]) =>
    new Function('enums', 'allStrings', 'validIp', 'validCountry', `return function ${name}_${type}(r) {\n  return ${conds.length ? conds.join(' &&\n    ') : 'true'};\n};`)(
      enums,
      allStrings,
      validIp,
      validCountry,
    ) as DecodedCheck;
  const fields = rules.map((r) => (r.nullable ? `${r.name}: r.${r.name} ?? null` : `${r.name}: r.${r.name}`));
  const copy = new Function(`return function copy_${type}(r) {\n  return { type: ${JSON.stringify(type)}, ${fields.join(', ')} };\n};`)() as Compiled['copy'];
  return { accepts: fn('accepts', full), semantic: fn('semantic', semantic), copy };
}

function allStrings(a: unknown[]): boolean {
  for (let i = 0; i < a.length; i++) if (typeof a[i] !== 'string') return false;
  return true;
}

/** The JSON (NDJSON) form of an event: time as RFC 3339 text, every field present. */
export function toJsonRecord(event: AgentEvent): Record<string, unknown> {
  const out: Record<string, unknown> = { type: event.type };
  for (const rule of RULES[event.type]) {
    const v = (event as unknown as Record<string, unknown>)[rule.name];
    out[rule.name] = rule.type.kind === 'time' ? new Date(v as number).toISOString() : (v ?? null);
  }
  return out;
}

/** The field names of an event type, in contract order (without `type`). */
export function fieldNames(type: EventType): string[] {
  return RULES[type].map((r) => r.name);
}

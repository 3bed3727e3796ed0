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

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;
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
  return build(type, record, false);
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

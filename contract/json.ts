// Fast serialisation of an event to its JSON record text: byte for byte what
// JSON.stringify(toJsonRecord(event)) gives, without building the intermediate
// object. It runs once per stored event, so it is on the ingest hot path.

import { EVENT_TYPES, type AgentEvent, type EventType } from './events.js';
import { fieldNames } from './validate.js';

interface FieldWriter {
  /** `,"name":` (or `"name":` for the first field after type). */
  prefix: string;
  name: string;
  isTime: boolean;
}

const WRITERS: Record<EventType, { head: string; fields: FieldWriter[] }> = Object.fromEntries(
  EVENT_TYPES.map((type) => [
    type,
    {
      head: `{"type":${JSON.stringify(type)}`,
      fields: fieldNames(type).map((name) => ({ prefix: `,${JSON.stringify(name)}:`, name, isTime: name === 'time' })),
    },
  ]),
) as Record<EventType, { head: string; fields: FieldWriter[] }>;

export function eventToJson(event: AgentEvent): string {
  const w = WRITERS[event.type];
  const record = event as unknown as Record<string, unknown>;
  let out = w.head;
  for (const f of w.fields) {
    const v = record[f.name];
    if (f.isTime) out += `${f.prefix}"${new Date(v as number).toISOString()}"`;
    else if (v === null || v === undefined) out += `${f.prefix}null`;
    else if (typeof v === 'number') out += f.prefix + (Number.isFinite(v) ? String(v) : 'null');
    else out += f.prefix + JSON.stringify(v);
  }
  return `${out}}`;
}

// The JSON record text of an event: exactly JSON.stringify(toJsonRecord(event)).
// The ledger writes its rows straight as bytes (store/event-rows.ts); this
// string form is the plain reference those bytes are tested against.

import type { AgentEvent } from './events.js';
import { toJsonRecord } from './validate.js';

export function eventToJson(event: AgentEvent): string {
  return JSON.stringify(toJsonRecord(event));
}

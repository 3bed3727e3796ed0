import { describe, expect, it } from 'vitest';
import { eventToJson } from '../../contract/json.js';
import { ALL_SAMPLES } from '../store/samples.js';

describe('eventToJson', () => {
  it('writes a record that parses back to every field of the event, with the type first', () => {
    for (const e of ALL_SAMPLES) {
      const text = eventToJson(e);
      expect(text.startsWith(`{"type":"${e.type}"`)).toBe(true);
      const back = JSON.parse(text) as Record<string, unknown>;
      for (const [k, v] of Object.entries(e)) expect(back[k]).toEqual(k === 'time' ? new Date(v as number).toISOString() : v ?? null);
    }
  });

  it('escapes quotes, backslashes, control characters and lone surrogates so the text parses back unchanged', () => {
    for (const id of ['a"b\\c\nd\u0001é\u2028', 'emoji-\u{1F600}', 'lone-\ud800-x', 'lone-\udc00']) {
      const e = { ...ALL_SAMPLES[0]!, agent_id: id } as (typeof ALL_SAMPLES)[number];
      expect(JSON.parse(eventToJson(e)).agent_id).toBe(id);
    }
  });

  it('writes absent nullable fields as null', () => {
    const e = { ...ALL_SAMPLES[0]!, user_agent: undefined } as unknown as (typeof ALL_SAMPLES)[number];
    expect(JSON.parse(eventToJson(e)).user_agent).toBeNull();
  });

  it('writes the time as RFC 3339 UTC with milliseconds', () => {
    const base = Date.UTC(2026, 10, 1, 12, 0, 59);
    for (const time of [base, base + 1, base + 999, base + 1000, 0]) {
      const e = { ...ALL_SAMPLES[0]!, time } as (typeof ALL_SAMPLES)[number];
      expect(JSON.parse(eventToJson(e)).time).toBe(new Date(time).toISOString());
    }
  });
});

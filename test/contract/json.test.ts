import { describe, expect, it } from 'vitest';
import { eventToJson } from '../../contract/json.js';
import { toJsonRecord } from '../../contract/validate.js';
import { ALL_SAMPLES } from '../store/samples.js';

describe('eventToJson', () => {
  it('writes exactly JSON.stringify(toJsonRecord(event)) for every sample', () => {
    for (const e of ALL_SAMPLES) expect(eventToJson(e)).toBe(JSON.stringify(toJsonRecord(e)));
  });

  it('escapes quotes, backslashes, control and unicode characters like JSON.stringify', () => {
    const e = { ...ALL_SAMPLES[0]!, agent_id: 'a"b\\c\nd\u0001é\u2028' } as (typeof ALL_SAMPLES)[number];
    expect(eventToJson(e)).toBe(JSON.stringify(toJsonRecord(e)));
    expect(JSON.parse(eventToJson(e)).agent_id).toBe('a"b\\c\nd\u0001é\u2028');
  });

  it('writes absent nullable fields as null', () => {
    const e = { ...ALL_SAMPLES[0]!, user_agent: undefined } as unknown as (typeof ALL_SAMPLES)[number];
    expect(JSON.parse(eventToJson(e)).user_agent).toBeNull();
  });

  it('escapes lone surrogates but keeps valid pairs, like JSON.stringify', () => {
    for (const id of ['emoji-\u{1F600}', 'lone-\ud800-x', 'lone-\udc00', 'tab\there']) {
      const e = { ...ALL_SAMPLES[0]!, agent_id: id } as (typeof ALL_SAMPLES)[number];
      expect(eventToJson(e)).toBe(JSON.stringify(toJsonRecord(e)));
    }
  });

  it('formats every time like toISOString: millisecond padding, second changes, out-of-range years', () => {
    const base = Date.UTC(2026, 10, 1, 12, 0, 59);
    const times = [base, base + 1, base + 9, base + 10, base + 99, base + 100, base + 999, base + 1000, base + 1007, base - 1, 0, -1, -86_400_001, 253_402_300_799_999, 253_402_300_800_000, base];
    for (const time of times) {
      const e = { ...ALL_SAMPLES[0]!, time } as (typeof ALL_SAMPLES)[number];
      expect(JSON.parse(eventToJson(e)).time).toBe(new Date(time).toISOString());
    }
  });
});

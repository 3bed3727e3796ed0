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
});

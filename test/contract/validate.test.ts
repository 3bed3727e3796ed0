import { describe, expect, it } from 'vitest';
import { EVENT_TYPES } from '../../contract/events.js';
import { fieldNames, parseJsonEvent, toJsonRecord, ValidationError } from '../../contract/validate.js';
import { ALL_SAMPLES, network, signin, token } from '../store/samples.js';

function rejection(input: unknown): ValidationError {
  try {
    parseJsonEvent(input);
  } catch (err) {
    expect(err).toBeInstanceOf(ValidationError);
    return err as ValidationError;
  }
  throw new Error('expected the record to be rejected');
}

describe('parseJsonEvent', () => {
  it('round-trips every sample of every type through the JSON form', () => {
    const types = new Set<string>();
    for (const sample of ALL_SAMPLES) {
      types.add(sample.type);
      expect(parseJsonEvent(JSON.parse(JSON.stringify(toJsonRecord(sample))))).toEqual(sample);
    }
    expect([...types].sort()).toEqual([...EVENT_TYPES].sort());
  });

  it('reads absent nullable fields as null and RFC 3339 time as epoch ms', () => {
    const e = parseJsonEvent({
      type: 'user_risk',
      event_id: 'u1',
      time: '2026-03-01T10:00:00.250+01:00',
      tenant_id: 't',
      user_id: 'alice',
      level: 'high',
    });
    expect(e).toEqual({ type: 'user_risk', event_id: 'u1', time: Date.UTC(2026, 2, 1, 9, 0, 0, 250), tenant_id: 't', user_id: 'alice', level: 'high', reason: null });
  });

  it('reads the RFC 3339 forms a producer may write: a space for T, lower case, more fractional digits', () => {
    const at = (time: string) => parseJsonEvent({ ...toJsonRecord(signin), time }).time;
    const expected = Date.UTC(2026, 2, 1, 10, 0, 0, 123);
    expect(at('2026-03-01 10:00:00.123Z')).toBe(expected);
    expect(at('2026-03-01t10:00:00.123z')).toBe(expected);
    expect(at('2026-03-01T10:00:00.123456Z')).toBe(expected);
    expect(at('2026-03-01T11:00:00.123+01:00')).toBe(expected);
  });

  it('shows the offending number in the reason', () => {
    const err = rejection({ ...toJsonRecord(network), bytes_out: 10.5 });
    expect(err.field).toBe('bytes_out');
    expect(err.message).toBe('bytes_out: must be an integer, got 10.5');
  });

  it('names the missing required field', () => {
    const record = toJsonRecord(signin) as Record<string, unknown>;
    delete record.resource;
    const err = rejection(record);
    expect(err.field).toBe('resource');
    expect(err.message).toBe('resource: is required');
  });

  it('names the field with an unknown enum value and lists the allowed ones', () => {
    const err = rejection({ ...toJsonRecord(signin), agent_type: 'robot' });
    expect(err.field).toBe('agent_type');
    expect(err.message).toContain('agent_identity, agent_user, blueprint_principal');
    expect(err.message).toContain('"robot"');
  });

  it.each([
    ['country', 'USA', 'ISO 3166'],
    ['ip', '999.1.1.1', 'IPv4 or IPv6'],
    ['lat', 91, 'between -90 and 90'],
    ['time', '2026-03-01 10:00:00', 'RFC 3339'],
    ['asn', 1.5, 'integer'],
    ['event_id', '', 'must not be empty'],
  ])('rejects a bad %s', (field, value, reason) => {
    const err = rejection({ ...toJsonRecord(signin), [field]: value });
    expect(err.field).toBe(field);
    expect(err.message).toContain(reason);
  });

  it('names the element of an array that is wrong', () => {
    const err = rejection({ ...toJsonRecord(token), scopes: ['a', 'b', 3] });
    expect(err.field).toBe('scopes[2]');
  });

  it('requires user_id for on-behalf-of flows', () => {
    const err = rejection({ ...toJsonRecord(signin), flow: 'on_behalf_of', user_id: null });
    expect(err.field).toBe('user_id');
  });

  it('rejects unknown types and non-objects', () => {
    expect(rejection({ type: 'login' }).field).toBe('type');
    expect(rejection([1, 2]).field).toBe('(record)');
    expect(rejection('text').field).toBe('(record)');
  });

  it('ignores unknown extra fields', () => {
    const e = parseJsonEvent({ ...toJsonRecord(signin), extra: 'x' });
    expect(e).toEqual(signin);
    expect(Object.keys(e)).not.toContain('extra');
  });

  it('lists fields in contract order', () => {
    expect(fieldNames('user_risk')).toEqual(['event_id', 'time', 'tenant_id', 'user_id', 'level', 'reason']);
  });
});

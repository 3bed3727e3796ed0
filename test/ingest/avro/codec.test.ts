import { describe, expect, it } from 'vitest';
import avro from 'avsc';
import { isDeepStrictEqual } from 'node:util';
import { AVRO_SCHEMA_VERSIONS, currentAvroSchema } from '../../../contract/avro-schemas.js';
import { EVENT_TYPES, type NetworkEvent, type SigninEvent } from '../../../contract/events.js';
import { AvroCodec, DecodeError } from '../../../ingest/avro/codec.js';
import { BuiltInSchemaRegistry, builtInSchemaId, type SchemaRegistry } from '../../../ingest/avro/registry.js';
import { topicNames } from '../../../ingest/topics.js';
import { ALL_SAMPLES, network, signin } from '../../store/samples.js';
import { streamDataset } from '../../../fixtures/generator.js';
import type { AgentEvent } from '../../../contract/events.js';

const topics = topicNames();

describe('AvroCodec', () => {
  it('writes the Confluent wire format: magic byte 0, schema id, Avro body', async () => {
    const codec = new AvroCodec(new BuiltInSchemaRegistry());
    const encode = await codec.encoder(topics.byType.signin, 'signin');
    const value = encode(signin);
    expect(value[0]).toBe(0);
    expect(value.readUInt32BE(1)).toBe(builtInSchemaId('signin', 2));
    const body = avro.Type.forSchema(currentAvroSchema('signin') as avro.Schema).fromBuffer(value.subarray(5));
    expect(body.user_agent).toBe(signin.user_agent);
  });

  it('round-trips every sample of every type with every field intact', async () => {
    const codec = new AvroCodec(new BuiltInSchemaRegistry());
    for (const type of EVENT_TYPES) {
      const encode = await codec.encoder(topics.byType[type], type);
      const samples = ALL_SAMPLES.filter((s) => s.type === type);
      expect(samples.length).toBeGreaterThan(0);
      const decoded = await codec.decodeMany(samples.map(encode));
      expect(decoded).toEqual(samples.map((event) => ({ ok: true, event })));
    }
  });

  it('decodes records written with an older schema version into the current one', async () => {
    const codec = new AvroCodec(new BuiltInSchemaRegistry());
    const oldSignin = await codec.encoder(topics.byType.signin, 'signin', AVRO_SCHEMA_VERSIONS.signin[0]);
    const oldNetwork = await codec.encoder(topics.byType.network, 'network', AVRO_SCHEMA_VERSIONS.network[0]);
    const [s, n] = await codec.decodeMany([oldSignin(signin), oldNetwork(network)]);
    expect(oldSignin(signin).readUInt32BE(1)).toBe(builtInSchemaId('signin', 1));
    // Fields the v1 writer did not have come out as their null defaults; the rest intact.
    expect(s).toEqual({ ok: true, event: { ...signin, lat: null, lon: null, user_agent: null, error_code: null } satisfies SigninEvent });
    expect(n).toEqual({ ok: true, event: { ...network, file_type: null, dest_agent_id: null } satisfies NetworkEvent });
  });

  it('resolves unknown writer ids through the registry (as with a Confluent registry)', async () => {
    // A writer schema the codec has never seen, with a field the reader lacks.
    const writer = {
      ...currentAvroSchema('user_risk'),
      fields: [...(currentAvroSchema('user_risk').fields as object[]), { name: 'source_system', type: 'string', default: '' }],
    };
    const lookups: number[] = [];
    const inner = new BuiltInSchemaRegistry();
    const registry: SchemaRegistry = {
      getById: (id) => (lookups.push(id), inner.getById(id)),
      register: (subject, schema) => inner.register(subject, schema),
    };
    const producerCodec = new AvroCodec(registry);
    const encode = await producerCodec.encoder(topics.byType.user_risk, 'user_risk', writer);
    const value = encode({ ...ALL_SAMPLES.find((s) => s.type === 'user_risk')!, source_system: 'idp' } as never);
    const consumerCodec = new AvroCodec(registry);
    const [r] = await consumerCodec.decodeMany([value, value]);
    expect(r).toMatchObject({ ok: true, event: { type: 'user_risk', user_id: 'user-1' } });
    expect(lookups).toEqual([value.readUInt32BE(1)]); // fetched once, then cached
  });

  it('rejects bad values one by one without failing their neighbours', async () => {
    const codec = new AvroCodec(new BuiltInSchemaRegistry());
    const encode = await codec.encoder(topics.byType.signin, 'signin');
    const badCountry = encode({ ...signin, country: 'usa' });
    const truncated = encode(signin).subarray(0, 12);
    const results = await codec.decodeMany([encode(signin), Buffer.from('{"json":true}'), null, Buffer.from([0, 0, 0, 0x27, 0x0f, 1]), truncated, badCountry, encode(signin)]);
    expect(results.map((r) => r.ok)).toEqual([true, false, false, false, false, false, true]);
    const errors = results.filter((r) => !r.ok).map((r) => (r as { error: DecodeError }).error);
    expect(errors[0]!.message).toMatch(/magic byte/);
    expect(errors[1]!.message).toMatch(/shorter than/);
    expect(errors[2]!.message).toMatch(/schema id 9999 is not known/);
    expect(errors[3]!.message).toMatch(/does not match schema id 102/);
    expect(errors[4]!.field).toBe('country');
  });

  it('decodes a long generated stream exactly, with repeated, unique, non-ASCII and long strings mixed', async () => {
    // Enough events for every field's intern table to size itself, turn off
    // (event ids) and look again; every decoded event must equal the original.
    const codec = new AvroCodec(new BuiltInSchemaRegistry());
    const encoders = new Map(await Promise.all(EVENT_TYPES.map(async (t) => [t, await codec.encoder(topics.byType[t], t)] as const)));
    const stream = streamDataset({ seed: 3, start: Date.UTC(2026, 9, 1), durationMs: 48 * 3_600_000, tenants: 2, blueprintsPerTenant: 4, agentsPerBlueprint: 30, attacksPerScenario: 0 });
    const events: AgentEvent[] = [];
    let i = 0;
    for (const batch of stream.batches()) {
      for (const e of batch) {
        i++;
        // Every 97th sign-in gets a non-ASCII user agent; every 89th a long resource.
        if (e.type === 'signin' && i % 97 === 0) events.push({ ...e, user_agent: `agent-sdk/1.0 (Zürich; ${'ü'.repeat(i % 5)})` });
        else if (e.type === 'signin' && i % 89 === 0) events.push({ ...e, resource: `https://graph.example.com/${'v'.repeat(40 + (i % 300))}` });
        else events.push(e);
      }
      if (events.length >= 60_000) break;
    }
    expect(events.length).toBeGreaterThanOrEqual(60_000);
    const values = events.map((e) => encoders.get(e.type)!(e));
    const decoded = await codec.decodeMany(values);
    let mismatches = 0;
    for (let k = 0; k < events.length; k++) {
      const r = decoded[k]!;
      if (!r.ok || !isDeepStrictEqual(r.event, events[k])) mismatches++;
    }
    expect(mismatches).toBe(0);
    // And once more through the now warm tables.
    const again = await codec.decodeMany(values);
    expect(again.every((r, k) => r.ok && isDeepStrictEqual(r.event, events[k]))).toBe(true);
  });
});

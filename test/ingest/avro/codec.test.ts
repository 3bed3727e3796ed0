import { describe, expect, it } from 'vitest';
import avro from 'avsc';
import { AVRO_SCHEMA_VERSIONS, currentAvroSchema } from '../../../contract/avro-schemas.js';
import { EVENT_TYPES, type NetworkEvent, type SigninEvent } from '../../../contract/events.js';
import { AvroCodec, DecodeError } from '../../../ingest/avro/codec.js';
import { BuiltInSchemaRegistry, builtInSchemaId, type SchemaRegistry } from '../../../ingest/avro/registry.js';
import { topicNames } from '../../../ingest/topics.js';
import { ALL_SAMPLES, network, signin } from '../../store/samples.js';

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
});

// Avro values in the Confluent wire format: magic byte 0, 4-byte big-endian
// schema id, Avro binary body. Decoding resolves the writer schema named by the
// id through a registry and reads it into the current (reader) schema, so that
// records written with older schema versions still decode.

import avro from 'avsc';
import { currentAvroSchema, EVENT_TYPE_BY_RECORD_NAME } from '../../contract/avro-schemas.js';
import { EVENT_TYPES, type AgentEvent, type EventType } from '../../contract/events.js';
import { validateDecodedEvent } from '../../contract/validate.js';
import { valueSubject, type AvroSchemaJson, type SchemaRegistry } from './registry.js';

const MAGIC_BYTE = 0;
const HEADER_BYTES = 5;

/** A record that could not be decoded; `field` is set when validation named one. */
export class DecodeError extends Error {
  constructor(message: string, readonly field?: string) {
    super(message);
    this.name = 'DecodeError';
  }
}

interface WriterEntry {
  type: EventType;
  /** Reads a body written with this writer schema into the reader schema. */
  read: (body: Buffer) => Record<string, unknown>;
}

export class AvroCodec {
  private readonly readerTypes = new Map<EventType, avro.Type>();
  private readonly writers = new Map<number, WriterEntry>();
  private readonly encodeIds = new Map<string, number>();

  constructor(private readonly registry: SchemaRegistry) {
    for (const t of EVENT_TYPES) this.readerTypes.set(t, avro.Type.forSchema(currentAvroSchema(t) as avro.Schema));
  }

  /** Resolves and caches the writer schemas of ids not seen before. */
  async prepare(ids: Iterable<number>): Promise<void> {
    for (const id of ids) {
      if (this.writers.has(id)) continue;
      const schema = await this.registry.getById(id);
      this.writers.set(id, this.writerEntry(schema));
    }
  }

  private writerEntry(schema: AvroSchemaJson): WriterEntry {
    const writerType = avro.Type.forSchema(schema as avro.Schema) as avro.types.RecordType;
    const type = EVENT_TYPE_BY_RECORD_NAME[writerType.name ?? ''];
    if (!type) throw new DecodeError(`schema ${writerType.name} is not an event type of the contract`);
    const readerType = this.readerTypes.get(type)!;
    const resolver = readerType.createResolver(writerType);
    return { type, read: (body) => readerType.fromBuffer(body, resolver, false) as Record<string, unknown> };
  }

  /** The schema id of a framed value, or a DecodeError for a value not in the wire format. */
  static schemaIdOf(value: Buffer | null): number {
    if (!value || value.length < HEADER_BYTES) throw new DecodeError('value is shorter than the 5-byte wire-format header');
    if (value[0] !== MAGIC_BYTE) throw new DecodeError(`unknown magic byte ${value[0]} (expected 0, Confluent wire format)`);
    return value.readUInt32BE(1);
  }

  /**
   * Decodes and validates one framed value. The writer schema must have been
   * prepared; throws DecodeError (naming the field where validation did).
   */
  decode(value: Buffer | null): AgentEvent {
    const id = AvroCodec.schemaIdOf(value);
    const writer = this.writers.get(id);
    if (!writer) throw new DecodeError(`schema id ${id} is not known to the registry`);
    let record: Record<string, unknown>;
    try {
      record = writer.read(value!.subarray(HEADER_BYTES));
    } catch (err) {
      throw new DecodeError(`Avro body does not match schema id ${id}: ${(err as Error).message}`);
    }
    try {
      return validateDecodedEvent(writer.type, record);
    } catch (err) {
      const field = (err as { field?: string }).field;
      throw new DecodeError((err as Error).message, field);
    }
  }

  /** Decodes many values, resolving unknown schema ids first; one bad value never fails the rest. */
  async decodeMany(values: (Buffer | null)[]): Promise<({ ok: true; event: AgentEvent } | { ok: false; error: DecodeError })[]> {
    const ids = new Set<number>();
    for (const v of values) {
      try {
        ids.add(AvroCodec.schemaIdOf(v));
      } catch {
        // reported per record below
      }
    }
    for (const id of ids) {
      try {
        await this.prepare([id]);
      } catch {
        // an unknown id is a bad record, not a stopped stream: reported below
      }
    }
    return values.map((v) => {
      try {
        return { ok: true as const, event: this.decode(v) };
      } catch (err) {
        const e = err instanceof DecodeError ? err : new DecodeError((err as Error).message);
        return { ok: false as const, error: e };
      }
    });
  }

  /** Encodes an event with the current schema of its type, registered under the topic's value subject. */
  async encoder(topic: string, type: EventType, schema: AvroSchemaJson = currentAvroSchema(type)): Promise<(event: AgentEvent) => Buffer> {
    const key = `${topic}\u0000${JSON.stringify(schema)}`;
    let id = this.encodeIds.get(key);
    if (id === undefined) {
      id = await this.registry.register(valueSubject(topic), schema);
      this.encodeIds.set(key, id);
    }
    const avroType = avro.Type.forSchema(schema as avro.Schema);
    const header = Buffer.alloc(HEADER_BYTES);
    header[0] = MAGIC_BYTE;
    header.writeUInt32BE(id, 1);
    return (event) => Buffer.concat([header, avroType.toBuffer(event)]);
  }
}

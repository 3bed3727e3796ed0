// Schema registries resolve the 4-byte schema id of the Confluent wire format
// to a writer schema. The built-in registry is made from the repository's own
// schemas (no server needed); the Confluent client talks to any registry that
// speaks the Confluent REST API (Confluent, Redpanda, Apicurio's ccompat API).

import { AVRO_SCHEMA_VERSIONS } from '../../contract/avro-schemas.js';
import { EVENT_TYPES, type EventType } from '../../contract/events.js';

export type AvroSchemaJson = Record<string, unknown>;

export interface SchemaRegistry {
  /** The writer schema registered under `id`; rejects when unknown. */
  getById(id: number): Promise<AvroSchemaJson>;
  /** Registers (or finds) `schema` under `subject` and returns its id. */
  register(subject: string, schema: AvroSchemaJson): Promise<number>;
}

/** Confluent's TopicNameStrategy subject for a topic's values. */
export function valueSubject(topic: string): string {
  return `${topic}-value`;
}

// Stable ids for the built-in registry: 100 × (type index + 1) + version, so
// that publishing a new version of one type never renumbers another.
export function builtInSchemaId(type: EventType, version: number): number {
  return 100 * (EVENT_TYPES.indexOf(type) + 1) + version;
}

/** Canonical text of a schema, for comparing registrations. */
function canonical(schema: AvroSchemaJson): string {
  return JSON.stringify(schema);
}

export class BuiltInSchemaRegistry implements SchemaRegistry {
  private readonly byId = new Map<number, AvroSchemaJson>();
  private readonly idByText = new Map<string, number>();
  private nextCustomId = 10_000;

  constructor() {
    for (const type of EVENT_TYPES) {
      AVRO_SCHEMA_VERSIONS[type].forEach((schema, i) => {
        const id = builtInSchemaId(type, i + 1);
        this.byId.set(id, schema);
        this.idByText.set(canonical(schema), id);
      });
    }
  }

  async getById(id: number): Promise<AvroSchemaJson> {
    const schema = this.byId.get(id);
    if (!schema) throw new Error(`unknown schema id ${id}`);
    return schema;
  }

  async register(_subject: string, schema: AvroSchemaJson): Promise<number> {
    const text = canonical(schema);
    let id = this.idByText.get(text);
    if (id === undefined) {
      id = this.nextCustomId++;
      this.byId.set(id, schema);
      this.idByText.set(text, id);
    }
    return id;
  }
}

/** A client of the Confluent Schema Registry REST API. */
export class ConfluentSchemaRegistry implements SchemaRegistry {
  private readonly baseUrl: string;
  private readonly authHeader: string | undefined;
  private readonly cache = new Map<number, Promise<AvroSchemaJson>>();

  constructor(url: string) {
    const parsed = new URL(url);
    // Credentials in the URL become a Basic header and are stripped from the
    // URL we keep, so that error messages never carry them.
    if (parsed.username) {
      const user = decodeURIComponent(parsed.username);
      const pass = decodeURIComponent(parsed.password);
      this.authHeader = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
      parsed.username = '';
      parsed.password = '';
    }
    this.baseUrl = parsed.toString().replace(/\/$/, '');
  }

  private async call(path: string, init?: RequestInit): Promise<unknown> {
    const headers: Record<string, string> = { accept: 'application/vnd.schemaregistry.v1+json' };
    if (init?.body) headers['content-type'] = 'application/vnd.schemaregistry.v1+json';
    if (this.authHeader) headers.authorization = this.authHeader;
    const res = await fetch(`${this.baseUrl}${path}`, { ...init, headers });
    const body = await res.text();
    if (!res.ok) throw new Error(`schema registry ${init?.method ?? 'GET'} ${path}: HTTP ${res.status} ${body.slice(0, 200)}`);
    return JSON.parse(body);
  }

  getById(id: number): Promise<AvroSchemaJson> {
    let pending = this.cache.get(id);
    if (!pending) {
      pending = this.call(`/schemas/ids/${id}`).then((r) => JSON.parse((r as { schema: string }).schema));
      // A failed lookup must not be cached forever: the next record retries.
      pending.catch(() => this.cache.delete(id));
      this.cache.set(id, pending);
    }
    return pending;
  }

  async register(subject: string, schema: AvroSchemaJson): Promise<number> {
    const r = await this.call(`/subjects/${encodeURIComponent(subject)}/versions`, {
      method: 'POST',
      body: JSON.stringify({ schemaType: 'AVRO', schema: JSON.stringify(schema) }),
    });
    return (r as { id: number }).id;
  }
}

export function createSchemaRegistry(url: string | undefined): SchemaRegistry {
  return url ? new ConfluentSchemaRegistry(url) : new BuiltInSchemaRegistry();
}

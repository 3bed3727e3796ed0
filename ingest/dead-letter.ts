// Dead-letter sinks: rejected records keep their original bytes and gain the
// reason, so nothing is lost and an operator can fix and re-feed them.

import { appendFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import type { DeadLetterSink, RejectedRecord } from './source.js';

/** Header names on dead-letter messages. */
export const DLQ_HEADERS = {
  topic: 'riskstream.source.topic',
  partition: 'riskstream.source.partition',
  offset: 'riskstream.source.offset',
  error: 'riskstream.error',
  field: 'riskstream.error.field',
} as const;

export class KafkaDeadLetterSink implements DeadLetterSink {
  private readonly producer: Producer;
  private connected: Promise<void> | undefined;

  constructor(
    brokers: string[],
    clientId: string,
    private readonly topic: string,
  ) {
    const kafka = new Kafka({ clientId: `${clientId}-dlq`, brokers, logLevel: logLevel.WARN });
    // Idempotent so that a retried send never writes a dead letter twice.
    this.producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  }

  async write(records: RejectedRecord[]): Promise<void> {
    if (records.length === 0) return;
    this.connected ??= this.producer.connect();
    await this.connected;
    await this.producer.send({
      topic: this.topic,
      acks: -1,
      messages: records.map((r) => {
        const headers: Record<string, string> = {
          [DLQ_HEADERS.topic]: r.topic ?? r.source,
          [DLQ_HEADERS.partition]: String(r.partition ?? 0),
          [DLQ_HEADERS.offset]: String(r.offset),
          [DLQ_HEADERS.error]: r.error,
        };
        if (r.field) headers[DLQ_HEADERS.field] = r.field;
        return { key: r.key, value: r.value === null ? null : Buffer.from(r.value), headers };
      }),
    });
  }

  async close(): Promise<void> {
    if (this.connected) await this.producer.disconnect();
  }
}

/** Without Kafka, rejected records are appended to an NDJSON file under the data directory. */
export class FileDeadLetterSink implements DeadLetterSink {
  constructor(readonly file: string) {}

  async write(records: RejectedRecord[]): Promise<void> {
    if (records.length === 0) return;
    await mkdir(path.dirname(this.file), { recursive: true });
    const lines = records.map((r) =>
      JSON.stringify({
        source: r.source,
        offset: r.offset,
        error: r.error,
        field: r.field ?? null,
        key: r.key === null ? null : r.key.toString(),
        value: r.value === null ? null : Buffer.isBuffer(r.value) ? r.value.toString('base64') : r.value,
        value_encoding: Buffer.isBuffer(r.value) ? 'base64' : 'utf8',
      }),
    );
    await appendFile(this.file, `${lines.join('\n')}\n`);
  }

  async close(): Promise<void> {}
}

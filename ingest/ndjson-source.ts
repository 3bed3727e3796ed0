// NDJSON events from a file or stdin, for replaying history into the pipeline.
//
// Lines are grouped into fixed-size chunks by line number, and a chunk's token
// is a hash of its text: feeding the same file again yields the same tokens,
// so the store inserts nothing twice.

import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { parseJsonEvent } from '../contract/validate.js';
import type { BatchHandler, IngestRecord, RejectedRecord, Source } from './source.js';

export interface NdjsonSourceOptions {
  /** A file path, or `-` for stdin. */
  input: string | Readable;
  /** Lines per batch. */
  batchLines?: number;
}

/** Parses one NDJSON line; returns the event or the reason it was rejected. */
export function parseNdjsonLine(line: string): { event: ReturnType<typeof parseJsonEvent> } | { error: string; field?: string } {
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch (err) {
    return { error: `invalid JSON: ${(err as Error).message}` };
  }
  try {
    return { event: parseJsonEvent(json) };
  } catch (err) {
    const field = (err as { field?: string }).field;
    return field ? { error: (err as Error).message, field } : { error: (err as Error).message };
  }
}

export class NdjsonSource implements Source {
  readonly name: string;
  private stopped = false;
  private readonly batchLines: number;

  constructor(private readonly options: NdjsonSourceOptions) {
    this.name = typeof options.input === 'string' ? (options.input === '-' ? 'ndjson:stdin' : `ndjson:${options.input}`) : 'ndjson:stream';
    this.batchLines = options.batchLines ?? 10_000;
  }

  async run(handle: BatchHandler): Promise<void> {
    const input = this.options.input;
    const stream: Readable =
      typeof input === 'string' ? (input === '-' ? process.stdin : createReadStream(input, { encoding: 'utf8' })) : input;
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    let lineNo = 0;
    let records: IngestRecord[] = [];
    let rejected: RejectedRecord[] = [];
    let hash = createHash('sha256');

    const flush = async () => {
      if (records.length === 0 && rejected.length === 0) return;
      const batch = { token: `${this.name}:${hash.digest('hex').slice(0, 32)}`, records, rejected };
      records = [];
      rejected = [];
      hash = createHash('sha256');
      await handle(batch);
    };

    try {
      for await (const line of lines) {
        lineNo++;
        if (this.stopped) break;
        hash.update(line).update('\n');
        if (line.trim() !== '') {
          const parsed = parseNdjsonLine(line);
          if ('event' in parsed) records.push({ event: parsed.event, source: this.name, offset: lineNo });
          else {
            const r: RejectedRecord = { source: this.name, offset: lineNo, key: null, value: line, error: `line ${lineNo}: ${parsed.error}` };
            if (parsed.field) r.field = parsed.field;
            rejected.push(r);
          }
        }
        if (lineNo % this.batchLines === 0) await flush();
      }
      await flush();
    } finally {
      lines.close();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
  }
}

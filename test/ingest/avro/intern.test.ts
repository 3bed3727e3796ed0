import { describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { InternTable } from '../../../ingest/avro/intern.js';

const make = (buf: Buffer, start: number, len: number): string => buf.toString('latin1', start, start + len);

/** Values of a field read between two looks of a turned-off table (as the codec does). */
const WINDOW = 4096;
const readsOf = new WeakMap<InternTable, number>();

/**
 * `text` written at `offset` of a fresh buffer padded with noise, read back
 * through a table as the codec reads a field: not through the table while it
 * is off, which is told to look again once per WINDOW reads. Returns what the
 * table gave, or `text` itself when the table was off.
 */
function read(table: InternTable, text: string, offset = 3): string | null {
  const reads = (readsOf.get(table) ?? 0) + 1;
  readsOf.set(table, reads);
  if (reads % WINDOW === 0 && !table.enabled) table.tick();
  if (!table.enabled) return text;
  const bytes = Buffer.from(text, 'utf8');
  const buf = Buffer.alloc(offset + bytes.length + 5, 0x7a);
  bytes.copy(buf, offset);
  return table.get(new DataView(buf.buffer, buf.byteOffset, buf.length), buf, offset, bytes.length);
}

describe('InternTable', () => {
  it('gives back the one instance it holds for the same bytes, wherever they are read from', () => {
    const table = new InternTable(make);
    const id = randomUUID();
    const first = read(table, id, 3);
    const second = read(table, id, 11);
    expect(first).toBe(id);
    expect(second).toBe(id);
    // JavaScript cannot tell two equal strings apart, so the table's own count
    // shows that the second read was served from the table, not decoded again.
    expect((table as unknown as { hits: number }).hits).toBe(1);
  });

  it('never confuses values that share length, ends and middle', () => {
    const table = new InternTable(make);
    const values = ['10.0.0.1', '10.0.0.2', '10.1.0.1', '11.0.0.1', 'a', 'b', '', 'ab', 'ba'];
    for (let round = 0; round < 3; round++) for (const v of values) expect(read(table, v)).toBe(v);
    // Long values (compared by characters) that differ only in their last byte.
    const long = 'x'.repeat(60);
    for (let round = 0; round < 3; round++) {
      expect(read(table, `${long}1`)).toBe(`${long}1`);
      expect(read(table, `${long}2`)).toBe(`${long}2`);
    }
  });

  it('leaves non-ASCII and very long values to the caller', () => {
    const table = new InternTable(make);
    expect(read(table, 'Zürich')).toBeNull();
    expect(read(table, 'x'.repeat(257))).toBeNull();
    expect(read(table, 'x'.repeat(256))).toBe('x'.repeat(256));
  });

  it('turns itself off for a field whose values never repeat, and on again later', () => {
    const table = new InternTable(make);
    let off = -1;
    for (let i = 0; i < 3 * WINDOW && off < 0; i++) {
      read(table, randomUUID());
      if (!table.enabled) off = i;
    }
    // Off after two windows without repeats.
    expect(off).toBe(2 * WINDOW - 1);
    for (let i = 0; i < 15; i++) table.tick();
    expect(table.enabled).toBe(false);
    table.tick();
    expect(table.enabled).toBe(true);
  });

  it('grows to hold a field with thousands of repeating values, and then hits', () => {
    const table = new InternTable(make);
    const ids = Array.from({ length: 3000 }, () => randomUUID());
    const start = table.capacity;
    let seed = 1;
    const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % ids.length;
    for (let i = 0; i < 200_000; i++) {
      const id = ids[next()]!;
      expect(read(table, id)).toBe(id);
    }
    expect(table.enabled).toBe(true);
    expect(table.capacity).toBeGreaterThanOrEqual(ids.length);
    expect(table.capacity).toBeGreaterThan(start);
    const counts = table as unknown as { hits: number; lookups: number };
    for (let i = 0; i < 1000; i++) read(table, ids[next()]!);
    expect(counts.hits / counts.lookups).toBeGreaterThan(0.95);
  });
});

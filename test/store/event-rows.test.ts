// Event rows written as bytes must be exactly the UTF-8 of the string form
// (eventLine), which verification recomputes from stored rows: any difference
// would break the hash chain.

import { describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../contract/events.js';
import { RowBuffer, writeEventRow } from '../../store/event-rows.js';
import { eventLine } from '../../store/ledger-writer.js';
import { tsvEscape } from '../../store/clickhouse.js';
import { ALL_SAMPLES } from './samples.js';

function bytesOf(events: AgentEvent[], source: string, token: string): { body: Buffer; starts: number[] } {
  const out = new RowBuffer(1);
  events.forEach((e, i) => writeEventRow(out, e, tsvEscape(source), String(1000 + i), token));
  const body = out.finish();
  return { body, starts: out.starts };
}

function expected(events: AgentEvent[], source: string, token: string): Buffer {
  return Buffer.from(events.map((e, i) => eventLine(e, tsvEscape(source), 1000 + i, token)).join(''), 'utf8');
}

const AWKWARD = [
  'plain-ascii',
  'quote"and\\backslash',
  'tab\there\nnewline\r\u0000nul\u001fctl',
  'del\u007f',
  'é accents ü',
  'emoji \u{1F600} pair',
  'lone \ud800 high',
  'lone \udc00 low',
  'line sep \u2028 and \u2029',
  'cjk 漢字',
  '',
];

describe('event rows as bytes', () => {
  it('are exactly the UTF-8 of eventLine for every sample, with row boundaries', () => {
    const { body, starts } = bytesOf(ALL_SAMPLES, 'kafka:riskstream.signin/0', 'kafka:riskstream.signin/0:1000-1099');
    expect(body.equals(expected(ALL_SAMPLES, 'kafka:riskstream.signin/0', 'kafka:riskstream.signin/0:1000-1099'))).toBe(true);
    expect(starts).toHaveLength(ALL_SAMPLES.length + 1);
    ALL_SAMPLES.forEach((e, i) => {
      expect(body.toString('utf8', starts[i], starts[i + 1])).toBe(eventLine(e, 'kafka:riskstream.signin/0', 1000 + i, 'kafka:riskstream.signin/0:1000-1099'));
    });
  });

  it('match for awkward strings in every string field, and in the source', () => {
    for (const text of AWKWARD) {
      const events = ALL_SAMPLES.map((e) => {
        const copy: Record<string, unknown> = { ...e };
        for (const [k, v] of Object.entries(copy)) if (typeof v === 'string' && k !== 'type') copy[k] = `${v}${text}`;
        if (Array.isArray(copy.scopes)) copy.scopes = [...(copy.scopes as string[]), text];
        return copy as unknown as AgentEvent;
      });
      const source = `file:${text}`;
      expect(bytesOf(events, source, 't').body.toString('hex')).toBe(expected(events, source, 't').toString('hex'));
    }
  });

  it('match for times around second boundaries and outside four-digit years, and for odd numbers', () => {
    const base = Date.UTC(2026, 10, 1, 23, 59, 59);
    const events = [base, base + 1, base + 10, base + 999, base + 1000, base + 1001, 0, -1, -1500, 253_402_300_800_000, base + 0.5].map(
      (time, i) => ({ ...ALL_SAMPLES[0]!, time, lat: i % 2 ? -0.000001 : 1e21, lon: i % 3 ? 12.5 : -0 }) as AgentEvent,
    );
    expect(bytesOf(events, 'generator', 't').body.equals(expected(events, 'generator', 't'))).toBe(true);
  });

  it('grow past the first buffer without losing rows', () => {
    const many = Array.from({ length: 3000 }, (_, i) => ({ ...ALL_SAMPLES[i % ALL_SAMPLES.length]!, event_id: `e-${i}-${'x'.repeat(i % 50)}` }) as AgentEvent);
    expect(bytesOf(many, 'generator', 't').body.equals(expected(many, 'generator', 't'))).toBe(true);
  });
});

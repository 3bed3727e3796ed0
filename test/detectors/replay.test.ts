import { Readable, Writable } from 'node:stream';
import { beforeEach, describe, expect, it } from 'vitest';
import { toJsonRecord } from '../../contract/validate.js';
import { replay } from '../../detectors/replay.js';
import { DetectionPipeline } from '../../detectors/pipeline.js';
import { MIN, mixedStream, resetIds, signin, T0, warmup } from './core-helpers.js';

beforeEach(() => resetIds());

class Collect extends Writable {
  chunks: Buffer[] = [];
  constructor(private readonly delayMs = 0, highWaterMark?: number) {
    super(highWaterMark === undefined ? {} : { highWaterMark });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.chunks.push(Buffer.from(chunk));
    if (this.delayMs > 0) setTimeout(cb, this.delayMs);
    else cb();
  }
  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
  get text(): string {
    return this.bytes.toString('utf8');
  }
}

function ndjson(lines: string[]): Readable {
  return Readable.from([lines.join('\n') + '\n']);
}

const lines = () => mixedStream().map((e) => JSON.stringify(toJsonRecord(e)));

describe('replay', () => {
  it('writes detections and risk changes as NDJSON with keys in the published order', async () => {
    const out = new Collect();
    const err = new Collect();
    const input = lines();
    const r = await replay(ndjson(input), out, err);
    expect(r).toMatchObject({ lines: input.length, events: input.length, bad: 0 });
    expect(r.detections).toBeGreaterThan(3);
    expect(r.riskChanges).toBeGreaterThan(3);
    const rows = out.text.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows).toHaveLength(r.detections + r.riskChanges);
    const det = rows.find((x) => x.kind === 'detection')!;
    expect(Object.keys(det)).toEqual(['kind', 'tenant_id', 'agent_id', 'time', 'detector', 'severity', 'summary', 'evidence', 'event_ids']);
    const rc = rows.find((x) => x.kind === 'risk_change')!;
    expect(Object.keys(rc)).toEqual(['kind', 'tenant_id', 'agent_id', 'time', 'level', 'previous_level', 'score', 'state', 'reasons']);
    expect(rc.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(String(rc.score).split('.')[1]?.length ?? 0).toBeLessThanOrEqual(3);
    expect(Object.keys((rc.reasons as object[])[0]!)).toEqual(['detector', 'severity', 'summary']);
    // Each detection comes before the risk change it causes.
    const firstChange = rows.findIndex((x) => x.kind === 'risk_change');
    const cause = rows.findIndex((x) => x.kind === 'detection' && x.agent_id === rows[firstChange]!.agent_id);
    expect(cause).toBeGreaterThanOrEqual(0);
    expect(cause).toBeLessThan(firstChange);
    expect(err.text).toBe('');
  });

  it('decides at the end of the input what waits for event time, dated when it was due', async () => {
    // A warmed-up blueprint; the input ends with one agent signing in from a new network and
    // country, whose medium waits to see whether the blueprint follows: 3 minutes, or 10 when
    // the blueprint has been quiet since (nobody else signed in to show it did not follow).
    const events = [
      ...warmup({ agents: ['a1', 'a2', 'a3', 'a4'], durationMs: 40 * MIN }),
      signin({ agent_id: 'a1', credential_id: 'cred-a1', time: T0 + 41 * MIN, ip: '95.173.130.9', asn: 12389, country: 'RU', lat: 55.75, lon: 37.6 }),
    ];
    const out = new Collect();
    await replay(ndjson(events.map((e) => JSON.stringify(toJsonRecord(e)))), out, new Collect());
    const changes = out.text
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l) as { kind: string; agent_id: string; level: string; time: string })
      .filter((r) => r.kind === 'risk_change' && r.agent_id === 'a1');
    // Reported low at the sign-in, medium when the confirmation was due: the input ends, so the
    // blueprint stays quiet and the decision is the one due 10 min on.
    expect(changes.map((c) => [c.level, Date.parse(c.time) - T0])).toEqual([
      ['low', 41 * MIN],
      ['medium', 51 * MIN],
    ]);
    // Without the settle at the end, a pipeline fed the same input stops at low.
    const p = new DetectionPipeline();
    const flushed = p.processBatch(events);
    p.flush(flushed);
    expect(flushed.riskChanges.filter((c) => c.agent_id === 'a1').map((c) => c.level)).toEqual(['low']);
  });

  it('gives byte-identical output for the same input', async () => {
    const input = lines();
    const a = new Collect();
    const b = new Collect(1, 64);
    await replay(ndjson(input), a, new Collect());
    await replay(ndjson(input), b, new Collect());
    expect(a.bytes.length).toBeGreaterThan(1000);
    expect(b.bytes.equals(a.bytes)).toBe(true);
  });

  it('judges a redelivered event once and counts it: the output is that of the input delivered once', async () => {
    const input = lines();
    // A producer retrying sends ten events again, each right after the next one.
    const redelivered: string[] = [];
    for (let i = 0; i < input.length; i++) {
      redelivered.push(input[i]!);
      if (i >= 11 && i <= 29 && i % 2 === 1) redelivered.push(input[i - 1]!);
    }
    const once = new Collect();
    const twice = new Collect();
    const r1 = await replay(ndjson(input), once, new Collect());
    const r2 = await replay(ndjson(redelivered), twice, new Collect());
    expect(r1.duplicates).toBe(0);
    expect(r2).toMatchObject({ events: r1.events + 10, duplicates: 10, bad: 0 });
    expect(once.bytes.length).toBeGreaterThan(1000);
    expect(twice.bytes.equals(once.bytes)).toBe(true);
  });

  it('reports bad lines with their number and the offending field, and skips them', async () => {
    const good = JSON.stringify(toJsonRecord(signin({ time: T0 })));
    const badCountry = JSON.stringify({ ...toJsonRecord(signin({ time: T0 })), country: 'USA' });
    const noType = JSON.stringify({ event_id: 'x' });
    const input = [good, '{not json', badCountry, '', noType, JSON.stringify({ ...toJsonRecord(signin()), time: 'yesterday' }), good];
    const err = new Collect();
    const r = await replay(ndjson(input), new Collect(), err);
    expect(r).toMatchObject({ lines: 7, events: 2, bad: 4 });
    const msgs = err.text.trimEnd().split('\n');
    expect(msgs).toHaveLength(4);
    expect(msgs[0]).toMatch(/^line 2: invalid JSON/);
    expect(msgs[1]).toMatch(/^line 3: country: /);
    expect(msgs[2]).toMatch(/^line 5: type: /);
    expect(msgs[3]).toMatch(/^line 6: time: /);
  });

  it('accepts CRLF line ends and a byte-order mark', async () => {
    const input = lines();
    const plain = new Collect();
    await replay(ndjson(input), plain, new Collect());
    const dos = new Collect();
    const r = await replay(Readable.from(['\ufeff' + input.join('\r\n') + '\r\n']), dos, new Collect());
    expect(r.bad).toBe(0);
    expect(dos.bytes.equals(plain.bytes)).toBe(true);
  });

  it('streams a large input through a slow output (backpressure) without losing lines', async () => {
    const base = lines();
    function* gen() {
      for (let i = 0; i < 20; i++) for (const l of base) yield l + '\n';
    }
    const out = new Collect(0, 1024);
    const r = await replay(Readable.from(gen()), out, new Collect());
    expect(r.events).toBe(base.length * 20);
    expect(out.text.trimEnd().split('\n')).toHaveLength(r.detections + r.riskChanges);
  });
});

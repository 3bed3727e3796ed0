// Detection quality end to end, in `npm test`: one seeded dataset of the
// fixture generator (every attack scenario and benign look-alike, 30 h of a
// fleet) goes through the replay contract exactly as `riskstream replay` runs
// it (NDJSON in, NDJSON out), and the output is scored against the labels with
// the evaluation's own targets (fixtures/score.ts). `npm run eval` pools three
// seeds and prints the details; this keeps a change that breaks a scenario, or
// floods benign agents, from passing the suite.

import { Readable, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { toJsonRecord } from '../../contract/validate.js';
import { replay } from '../../detectors/replay.js';
import { streamDataset } from '../../fixtures/generator.js';
import { ReplayOutput, scoreRun, summarize, TARGETS } from '../../fixtures/score.js';

/** The evaluation's start (Monday 3 March 2025) and duration. */
const START = Date.parse('2025-03-03T00:00:00Z');
const HOURS = 30;

/** Collects NDJSON lines into a ReplayOutput as they are written. */
class Scorer extends Writable {
  readonly out = new ReplayOutput();
  private rest = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    const lines = (this.rest + chunk.toString('utf8')).split('\n');
    this.rest = lines.pop()!;
    for (const l of lines) this.out.addLine(l);
    cb();
  }
}

describe('detection quality (seed 1 of the evaluation)', () => {
  it('meets every evaluation target through the replay contract', async () => {
    const dataset = streamDataset({ seed: 1, start: START, durationMs: HOURS * 3_600_000 });
    const input = Readable.from(
      (function* () {
        for (const batch of dataset.batches()) {
          let chunk = '';
          for (const e of batch) chunk += JSON.stringify(toJsonRecord(e)) + '\n';
          yield chunk;
        }
      })(),
    );
    const scorer = new Scorer();
    const errors: string[] = [];
    const result = await replay(input, scorer, new Writable({ write: (c: Buffer, _e, cb) => (errors.push(c.toString()), cb()) }));
    expect(errors).toEqual([]);
    expect(result.bad).toBe(0);
    expect(result.events).toBeGreaterThan(200_000);

    const summary = summarize([scoreRun(dataset.labels(), dataset.agents(), scorer.out.finish())]);
    // Every attack scenario is in the dataset and caught at its expected level within 15 min...
    expect(summary.scenarios.length).toBeGreaterThanOrEqual(16);
    const below = summary.scenarios.filter((s) => s.rate < TARGETS.detectionRate).map((s) => `${s.scenario} ${s.detected}/${s.total}`);
    expect(below).toEqual([]);
    // ...quickly, while benign agents (look-alikes included) almost never reach medium.
    expect(summary.overall.median_ttd_ms).not.toBeNull();
    expect(summary.overall.median_ttd_ms!).toBeLessThanOrEqual(TARGETS.medianTtdMs);
    expect(summary.benign.agents).toBeGreaterThan(500);
    expect(summary.benign.medium_rate).toBeLessThanOrEqual(TARGETS.benignMediumRate);
    expect(summary.targets.filter((t) => !t.pass)).toEqual([]);
  }, 120_000);
});

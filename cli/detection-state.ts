// Detection state across a planned restart. Detector baselines (what each
// agent and blueprint usually does) take up to their learning periods to
// rebuild, and until then some detectors cannot fire. So when `riskstream run`
// stops cleanly it writes the pipeline's snapshot to the data directory with
// the source positions it reflects, and the next start restores it — only if
// the source resumes exactly after those positions (Kafka: the group's
// committed offsets), so the state has seen every record before the resume
// point and none after it. Otherwise (a crash, another consumer moved the
// offsets, another group or topics) the file is set aside and detection
// starts over as before; the risk engine is seeded from the store either way.
//
// Format: gzip of NDJSON. The first line is a header (format, version, source
// identity, positions); each further line is one part of the snapshot
// (`["part", key, value]` or `["detector", id, value]`), so no single string
// holds the whole state of a large fleet.

import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import type { DetectionPipeline, PipelineSnapshot } from '../detectors/pipeline.js';

export const DETECTION_STATE_FILE = 'detection-state.ndjson.gz';
const FORMAT = 'riskstream-detection-state';
const VERSION = 1;

interface Header {
  format: typeof FORMAT;
  version: typeof VERSION;
  /** Which stream the state belongs to, e.g. `kafka:<group>:<topics>`. */
  identity: string;
  /** Per source, the last offset the state has seen. */
  positions: [string, number][];
  saved_at: string;
}

export interface SavedState {
  identity: string;
  positions: Map<string, number>;
  snapshot: PipelineSnapshot;
}

/** Writes the state (to a temporary file first, renamed into place: a crash mid-write leaves the old file or none). */
export async function saveDetectionState(file: string, state: SavedState): Promise<void> {
  const header: Header = { format: FORMAT, version: VERSION, identity: state.identity, positions: [...state.positions], saved_at: new Date().toISOString() };
  const { detectors, ...parts } = state.snapshot;
  function* lines(): Generator<string> {
    yield `${JSON.stringify(header)}\n`;
    for (const [key, value] of Object.entries(parts)) yield `${JSON.stringify(['part', key, value])}\n`;
    for (const [id, value] of Object.entries(detectors)) yield `${JSON.stringify(['detector', id, value])}\n`;
  }
  const tmp = `${file}.tmp`;
  await pipeline(Readable.from(lines()), createGzip({ level: 1 }), createWriteStream(tmp, { mode: 0o600 }));
  await rename(tmp, file);
}

/** Reads a state file; null when there is none. Throws when it is unreadable or not a state file. */
export async function loadDetectionState(file: string): Promise<SavedState | null> {
  const input = createReadStream(file);
  const opened = await new Promise<boolean>((resolve, reject) => {
    input.once('open', () => resolve(true));
    input.once('error', (err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? resolve(false) : reject(err)));
  });
  if (!opened) return null;
  let header: Header | undefined;
  const snapshot: Record<string, unknown> = { detectors: {} };
  const detectors = snapshot.detectors as Record<string, unknown>;
  const gunzip = createGunzip();
  const reader = createInterface({ input: input.pipe(gunzip), crlfDelay: Infinity });
  const failed = new Promise<never>((_, reject) => {
    input.once('error', reject);
    gunzip.once('error', reject);
  });
  const read = (async () => {
    for await (const line of reader) {
      if (header === undefined) {
        const h = JSON.parse(line) as Partial<Header>;
        if (h.format !== FORMAT || h.version !== VERSION || typeof h.identity !== 'string' || !Array.isArray(h.positions)) {
          throw new Error(`not a version ${VERSION} ${FORMAT} file`);
        }
        header = h as Header;
        continue;
      }
      const [kind, key, value] = JSON.parse(line) as [string, string, unknown];
      if (kind === 'part') snapshot[key] = value;
      else if (kind === 'detector') detectors[key] = value;
      else throw new Error(`unknown line kind ${JSON.stringify(kind)}`);
    }
  })();
  await Promise.race([read, failed]);
  if (header === undefined) throw new Error('empty state file');
  return { identity: header.identity, positions: new Map(header.positions), snapshot: snapshot as unknown as PipelineSnapshot };
}

/** True when a source resuming at `resume` delivers exactly the records after `positions`. */
export function resumesAfter(positions: ReadonlyMap<string, number>, resume: ReadonlyMap<string, number>): boolean {
  if (positions.size === 0) return false;
  for (const [source, offset] of positions) if (resume.get(source) !== offset + 1) return false;
  return true;
}

export type RestoreOutcome =
  | { restored: true; agents: number; positions: number }
  | { restored: false; reason: 'none' | 'other stream' | 'source moved on' | 'unreadable'; detail?: string };

/**
 * A detection pipeline for `identity`: made by `create` and restored from the
 * state file when the file belongs to `identity` and the source resumes right
 * after its positions; otherwise (or when restoring fails) a fresh one. A file
 * that was found is removed either way: restored, it is stale once new
 * records arrive; not restored, it never becomes valid again. Also returns
 * what happened and the positions restored (to carry into the next save).
 */
export async function restoreDetectionState(
  create: () => DetectionPipeline,
  opts: { file: string; identity: string; resumePoints: () => Promise<Map<string, number>> },
): Promise<{ detection: DetectionPipeline; outcome: RestoreOutcome; positions: Map<string, number> }> {
  const fresh = (outcome: RestoreOutcome) => ({ detection: create(), outcome, positions: new Map<string, number>() });
  let saved: SavedState | null;
  try {
    saved = await loadDetectionState(opts.file);
  } catch (err) {
    await rm(opts.file, { force: true });
    return fresh({ restored: false, reason: 'unreadable', detail: (err as Error).message });
  }
  if (saved === null) return fresh({ restored: false, reason: 'none' });
  await rm(opts.file, { force: true });
  if (saved.identity !== opts.identity) return fresh({ restored: false, reason: 'other stream', detail: saved.identity });
  if (!resumesAfter(saved.positions, await opts.resumePoints())) return fresh({ restored: false, reason: 'source moved on' });
  const detection = create();
  try {
    detection.restore(saved.snapshot);
  } catch (err) {
    // Possibly half restored: start over with a fresh pipeline.
    return fresh({ restored: false, reason: 'unreadable', detail: (err as Error).message });
  }
  return { detection, outcome: { restored: true, agents: detection.directory.size, positions: saved.positions.size }, positions: saved.positions };
}

// Detection state across restarts. Detector baselines (what each agent and
// blueprint usually does) take up to their learning periods to rebuild, and
// until then some detectors cannot fire. So `riskstream run` writes the
// pipeline's snapshot to the data directory with the source positions it
// reflects — every few minutes at a moment when everything detected is
// durable (a checkpoint), and when it stops cleanly — and the next start
// restores it and lines the source up with it (see resumePlan): records
// acknowledged after the state was written are read again for detection
// only, records the state has seen are not detected twice. For another
// group or topics, or a source that lost its place, the file is set aside and
// detection starts over; the risk engine is seeded from the store either way.
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
  /** When the snapshot was taken (epoch ms, wall clock). */
  taken_at: number;
  saved_at: string;
}

export interface SavedState {
  identity: string;
  positions: Map<string, number>;
  /** When the snapshot was taken (epoch ms, wall clock): admin actions after it are not in it. */
  takenAt: number;
  snapshot: PipelineSnapshot;
}

/** Writes the state (to a temporary file first, renamed into place: a crash mid-write leaves the old file or none). */
export async function saveDetectionState(file: string, state: SavedState): Promise<void> {
  const header: Header = {
    format: FORMAT,
    version: VERSION,
    identity: state.identity,
    positions: [...state.positions],
    taken_at: state.takenAt,
    saved_at: new Date().toISOString(),
  };
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
        if (h.format !== FORMAT || h.version !== VERSION || typeof h.identity !== 'string' || !Array.isArray(h.positions) || typeof h.taken_at !== 'number') {
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
  return { identity: header.identity, positions: new Map(header.positions), takenAt: header.taken_at, snapshot: snapshot as unknown as PipelineSnapshot };
}

/**
 * How to carry on from a state that has seen each source up to `positions`
 * when the source resumes at `resume` (the next offset per source):
 * - resuming right after the position: nothing to do;
 * - resuming later (a crash after the state was saved, records acknowledged
 *   since): seek back to right after the position, so detection sees those
 *   records again (they are stored already, so only detection runs on them);
 * - resuming earlier (a crash between store and acknowledgement, or offsets
 *   moved back): records up to the position are in the state already, so
 *   detection skips them when they come again.
 * Null when a source of the state has no resume point (its group forgot it).
 */
export function resumePlan(
  positions: ReadonlyMap<string, number>,
  resume: ReadonlyMap<string, number>,
): { seekTo: Map<string, number>; skipUpTo: Map<string, number> } | null {
  if (positions.size === 0) return null;
  const seekTo = new Map<string, number>();
  const skipUpTo = new Map<string, number>();
  for (const [source, offset] of positions) {
    const next = resume.get(source);
    if (next === undefined) return null;
    if (next > offset + 1) seekTo.set(source, offset + 1);
    else if (next <= offset) skipUpTo.set(source, offset);
  }
  return { seekTo, skipUpTo };
}

export type RestoreOutcome =
  | { restored: true; agents: number; positions: number; sought: number; skipping: number }
  | { restored: false; reason: 'none' | 'other stream' | 'no resume point' | 'unreadable'; detail?: string };

export interface Restored {
  detection: DetectionPipeline;
  outcome: RestoreOutcome;
  /** The positions of the restored state (to carry into the next save). */
  positions: Map<string, number>;
  /** Sources to read again from these offsets (see resumePlan). */
  seekTo: Map<string, number>;
  /** Sources whose records up to these offsets detection must skip (see resumePlan). */
  skipUpTo: Map<string, number>;
  /** When the restored snapshot was taken (epoch ms); null when nothing was restored. */
  takenAt: number | null;
}

/**
 * A detection pipeline for `identity`: made by `create` and restored from the
 * state file when the file belongs to `identity` and every source of the
 * state still has a resume point; otherwise (or when restoring fails) a
 * fresh one. A file that was found is removed either way: the state moves on
 * with the new records, and one that was not used never becomes usable.
 */
export async function restoreDetectionState(
  create: () => DetectionPipeline,
  opts: { file: string; identity: string; resumePoints: () => Promise<Map<string, number>> },
): Promise<Restored> {
  const fresh = (outcome: RestoreOutcome): Restored => ({ detection: create(), outcome, positions: new Map(), seekTo: new Map(), skipUpTo: new Map(), takenAt: null });
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
  const plan = resumePlan(saved.positions, await opts.resumePoints());
  if (plan === null) return fresh({ restored: false, reason: 'no resume point' });
  const detection = create();
  try {
    detection.restore(saved.snapshot);
  } catch (err) {
    // Possibly half restored: start over with a fresh pipeline.
    return fresh({ restored: false, reason: 'unreadable', detail: (err as Error).message });
  }
  return {
    detection,
    outcome: { restored: true, agents: detection.directory.size, positions: saved.positions.size, sought: plan.seekTo.size, skipping: plan.skipUpTo.size },
    positions: saved.positions,
    ...plan,
    takenAt: saved.takenAt,
  };
}

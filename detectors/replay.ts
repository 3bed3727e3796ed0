// Replay: runs NDJSON events (the contract's JSON form) through the full
// detection pipeline in event time and writes NDJSON detections and risk
// changes. Streaming (one line at a time, writes honour backpressure) and
// deterministic: the same input gives byte-identical output.

import { createInterface } from 'node:readline';
import { once } from 'node:events';
import { parseJsonEvent, ValidationError } from '../contract/validate.js';
import { DetectionPipeline, type PipelineOptions, type PipelineOutput } from './pipeline.js';
import type { Detection, RiskChange } from './types.js';

export interface ReplayResult {
  /** Lines read (including blank and bad ones). */
  lines: number;
  /** Valid events processed. */
  events: number;
  /** Lines skipped as unparseable or invalid. */
  bad: number;
  /** Valid events skipped as redeliveries (an event_id of the tenant seen before). */
  duplicates: number;
  detections: number;
  riskChanges: number;
}

/** `{"kind":"detection",...}` with keys in the published order. */
export function detectionLine(d: Detection): string {
  return JSON.stringify({
    kind: 'detection',
    tenant_id: d.tenant_id,
    agent_id: d.agent_id,
    time: new Date(d.time).toISOString(),
    detector: d.detector,
    severity: d.severity,
    summary: d.summary,
    evidence: d.evidence,
    event_ids: d.event_ids,
  });
}

/** `{"kind":"risk_change",...}` with keys in the published order, score rounded to 3 decimals. */
export function riskChangeLine(c: RiskChange): string {
  return JSON.stringify({
    kind: 'risk_change',
    tenant_id: c.tenant_id,
    agent_id: c.agent_id,
    time: new Date(c.time).toISOString(),
    level: c.level,
    previous_level: c.previous_level,
    score: Math.round(c.score * 1000) / 1000,
    state: c.state,
    reasons: c.reasons.map((r) => ({ detector: r.detector, severity: r.severity, summary: r.summary })),
  });
}

const FLUSH_BYTES = 64 * 1024;

/**
 * Reads NDJSON events from `input` in arrival order, runs them through a fresh
 * DetectionPipeline and writes one NDJSON line per detection and per risk
 * change to `output` (each event's detections before the changes they cause).
 * Bad lines are reported on `errors` (`line N: field: reason`) and skipped.
 * An event redelivered (its tenant's event_id seen before) is counted in
 * `events` and `duplicates` and judged once.
 */
export async function replay(
  input: NodeJS.ReadableStream,
  output: NodeJS.WritableStream,
  errors: NodeJS.WritableStream,
  options: PipelineOptions = {},
): Promise<ReplayResult> {
  const pipeline = new DetectionPipeline(options);
  const result: ReplayResult = { lines: 0, events: 0, bad: 0, duplicates: 0, detections: 0, riskChanges: 0 };
  const out: PipelineOutput = { detections: [], riskChanges: [] };
  let buffer = '';

  const write = async (force: boolean): Promise<void> => {
    if (buffer.length === 0 || (!force && buffer.length < FLUSH_BYTES)) return;
    const chunk = buffer;
    buffer = '';
    if (!output.write(chunk)) await once(output as NodeJS.EventEmitter, 'drain');
  };

  const emit = (): void => {
    if (out.detections.length === 0 && out.riskChanges.length === 0) return;
    for (const d of out.detections) buffer += detectionLine(d) + '\n';
    for (const c of out.riskChanges) buffer += riskChangeLine(c) + '\n';
    result.detections += out.detections.length;
    result.riskChanges += out.riskChanges.length;
    out.detections.length = 0;
    out.riskChanges.length = 0;
  };

  const rl = createInterface({ input, crlfDelay: Infinity });
  for await (const raw of rl) {
    result.lines++;
    // A UTF-8 byte-order mark on the first line is not part of the JSON.
    const line = result.lines === 1 && raw.charCodeAt(0) === 0xfeff ? raw.slice(1) : raw;
    if (line.trim().length === 0) continue;
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch (err) {
      result.bad++;
      errors.write(`line ${result.lines}: invalid JSON: ${(err as Error).message}\n`);
      continue;
    }
    let event;
    try {
      event = parseJsonEvent(record);
    } catch (err) {
      result.bad++;
      const reason = err instanceof ValidationError ? err.message : `invalid event: ${(err as Error).message}`;
      errors.write(`line ${result.lines}: ${reason}\n`);
      continue;
    }
    result.events++;
    pipeline.processInto(event, out);
    emit();
    await write(false);
  }
  pipeline.flush(out);
  pipeline.settle(out);
  emit();
  await write(true);
  result.duplicates = pipeline.duplicateEvents;
  return result;
}

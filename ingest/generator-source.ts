// A live source from a generated event stream (the default of `npm start`):
// events are released as wall-clock time reaches their event time, in batches
// every tick, so the pipeline sees a realistic real-time stream.

import type { AgentEvent } from '../contract/events.js';
import type { BatchHandler, IngestRecord, Source } from './source.js';

export interface GeneratorSourceOptions {
  /** Events in (roughly) event-time order; times should start near now. */
  events: Iterator<AgentEvent>;
  /** Identifies this stream in batch tokens and provenance, e.g. `generator:seed=42`. */
  name: string;
  tickMs?: number;
  /** Release events whose time is at most now + lead (lets late-arrival jitter through). */
  leadMs?: number;
  now?: () => number;
}

export class GeneratorSource implements Source {
  readonly name: string;
  private stopped = false;
  private wake: (() => void) | undefined;

  constructor(private readonly options: GeneratorSourceOptions) {
    this.name = options.name;
  }

  async run(handle: BatchHandler): Promise<void> {
    const tick = this.options.tickMs ?? 200;
    const lead = this.options.leadMs ?? 0;
    const now = this.options.now ?? Date.now;
    let seq = 0;
    let held: AgentEvent | undefined;
    while (!this.stopped) {
      const until = now() + lead;
      const records: IngestRecord[] = [];
      for (;;) {
        const next = held ?? this.nextEvent();
        held = undefined;
        if (!next) break;
        if (next.time > until) {
          held = next;
          break;
        }
        records.push({ event: next, source: this.name, offset: seq++ });
      }
      if (records.length > 0) {
        await handle({ token: `${this.name}:${records[0]!.offset}-${records[records.length - 1]!.offset}`, records, rejected: [] });
      } else if (!held) {
        return; // the stream ended
      }
      await new Promise<void>((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, tick).unref?.();
      });
    }
  }

  private nextEvent(): AgentEvent | undefined {
    const r = this.options.events.next();
    return r.done ? undefined : r.value;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.wake?.();
  }
}

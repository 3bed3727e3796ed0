// The per-agent and per-blueprint state attachments of the detection core
// (AgentStore, GroupStore), and per-type dispatch: whatever the directory
// forgets or the stores evict, a detector must find exactly the state its
// map holds, no more and no less.

import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentEvent } from '../../contract/events.js';
import { AgentStore, GroupStore, atMs, sec, setAtMs, type MsState, type SlotState } from '../../detectors/agent-directory.js';
import type { Detector } from '../../detectors/detector.js';
import { DetectionPipeline } from '../../detectors/pipeline.js';
import type { Detection } from '../../detectors/types.js';
import { HOUR, MIN, T0, lifecycle, network, resetIds, signin, token, userRisk } from './core-helpers.js';

beforeEach(() => resetIds());

interface S extends SlotState {
  n: number;
}

/** A pipeline with no detector, its context, and a store used through it. */
function setup(options: ConstructorParameters<typeof DetectionPipeline>[0] = {}) {
  const p = new DetectionPipeline({ detectors: [], ...options });
  return { p, ctx: p.context, store: new AgentStore<S>() };
}

describe('AgentStore', () => {
  it('keeps a state whose directory record was forgotten, and finds it when the agent comes back', () => {
    const { p, ctx, store } = setup({ idleHorizonMs: HOUR, evictEveryMs: 10 * MIN });
    p.process(signin({ agent_id: 'a1', time: T0 }));
    store.set(ctx, 't1', 'a1', { at: sec(T0), e: 0, n: 1 });
    // Another agent keeps time moving until the directory forgets a1 (the store is never evicted here).
    for (let m = 1; m <= 90; m += 10) p.process(signin({ agent_id: 'a2', time: T0 + m * MIN }));
    expect(p.directory.get('t1', 'a1')).toBeUndefined();
    expect(store.get(ctx, 't1', 'a1')?.n).toBe(1);
    p.process(signin({ agent_id: 'a1', time: T0 + 2 * HOUR }));
    expect(p.directory.get('t1', 'a1')).toBeDefined();
    expect(store.get(ctx, 't1', 'a1')?.n).toBe(1);
    // A new agent still has nothing.
    p.process(signin({ agent_id: 'a3', time: T0 + 2 * HOUR }));
    expect(store.get(ctx, 't1', 'a3')).toBeUndefined();
    expect(store.size).toBe(1);
  });

  it('evicts attached states in the pipeline\'s eviction, in one pass over the records for every store, each at its own cutoff', () => {
    // Two detectors keep a state per agent, set at sign-ins only; one evicts at the idle horizon, the other an hour earlier.
    const stores: AgentStore<S>[] = [];
    const keeper = (id: string, extraMs: number): Detector => {
      const store = new AgentStore<S>();
      stores.push(store);
      return {
        meta: { id, title: id, severity: 'low', description: id },
        types: ['signin'],
        observe(e, ctx) {
          if (e.type === 'signin') store.set(ctx, e.tenant_id, e.agent_id, { at: sec(e.time), e: 0, n: 1 });
          return [];
        },
        evict: (before) => void store.evict(before + extraMs),
        size: () => store.size,
        snapshot: () => null,
        restore: () => undefined,
      };
    };
    const p = new DetectionPipeline({ detectors: [keeper('k1', 0), keeper('k2', HOUR)], idleHorizonMs: 2 * HOUR, evictEveryMs: 10 * MIN });
    const ctx = p.context;
    p.process(signin({ agent_id: 'a1', time: T0 }));
    p.process(signin({ agent_id: 'a2', time: T0 + 90 * MIN }));
    // a1 keeps its directory record alive with calls; a2 calls too. Neither signs in again.
    for (let m = 1; m <= 200; m += 5) {
      p.process(network({ agent_id: 'a1', time: T0 + m * MIN }));
      p.process(network({ agent_id: 'a2', time: T0 + m * MIN }));
    }
    expect(p.directory.get('t1', 'a1')).toBeDefined();
    // Watermark past T0 + 3h: k1 (cutoff T0 + 1h) forgot a1 and kept a2; k2 (cutoff T0 + 2h) forgot both.
    expect(stores[0]!.get(ctx, 't1', 'a1')).toBeUndefined();
    expect(stores[0]!.get(ctx, 't1', 'a2')?.n).toBe(1);
    expect(stores[0]!.size).toBe(1);
    expect(stores[1]!.get(ctx, 't1', 'a1')).toBeUndefined();
    expect(stores[1]!.get(ctx, 't1', 'a2')).toBeUndefined();
    expect(stores[1]!.size).toBe(0);
  });

  it('survives the directory size cap dropping a record', () => {
    const { p, ctx, store } = setup({ maxAgents: 2 });
    for (const a of ['a1', 'a2', 'a3']) {
      p.process(signin({ agent_id: a, time: T0 }));
      store.set(ctx, 't1', a, { at: sec(T0), e: 0, n: Number(a.slice(1)) });
    }
    expect(p.directory.size).toBe(2);
    expect(p.directory.get('t1', 'a1')).toBeUndefined();
    p.process(signin({ agent_id: 'a1', time: T0 + 1000 }));
    expect(store.get(ctx, 't1', 'a1')?.n).toBe(1);
    expect(store.get(ctx, 't1', 'a3')?.n).toBe(3);
  });

  it('forgets a deleted or evicted state at once, even while the record stays', () => {
    const { p, ctx, store } = setup();
    p.process(signin({ time: T0 }));
    store.set(ctx, 't1', 'a1', { at: sec(T0), e: 0, n: 1 });
    expect(store.delete(ctx, 't1', 'a1')).toBe(true);
    expect(store.get(ctx, 't1', 'a1')).toBeUndefined();
    store.set(ctx, 't1', 'a1', { at: sec(T0), e: 0, n: 2 });
    store.set(ctx, 't1', 'a1', { at: sec(T0) + 5, e: 0, n: 3 }); // replaces
    expect(store.size).toBe(1);
    expect(store.get(ctx, 't1', 'a1')?.n).toBe(3);
    expect(store.evict(T0 + 1000)).toBe(0);
    expect(store.evict(T0 + 6000)).toBe(1);
    expect(store.get(ctx, 't1', 'a1')).toBeUndefined();
  });

  it('caps the states kept without a directory record like a map (oldest inserted dropped first); attached ones are capped by the directory', () => {
    const p = new DetectionPipeline({ detectors: [] });
    const ctx = p.context;
    const store = new AgentStore<S>(2);
    p.process(signin({ agent_id: 'a0', time: T0 }));
    store.set(ctx, 't1', 'a0', { at: sec(T0), e: 0, n: 0 });
    // Agents the directory never saw (the targets of calls, say).
    for (const a of ['a1', 'a2', 'a3']) store.set(ctx, 't1', a, { at: sec(T0), e: 0, n: 1 });
    expect(store.size).toBe(3);
    expect(store.get(ctx, 't1', 'a1')).toBeUndefined();
    expect(store.get(ctx, 't1', 'a0')?.n).toBe(0);
    expect(store.get(ctx, 't1', 'a2')).toBeDefined();
    expect(store.snapshot().map(([, id]) => id)).toEqual(['a0', 'a2', 'a3']);
  });

  it('hands the states of a forgotten record to the loose ones, and takes them back when the agent returns', () => {
    const { p, ctx, store } = setup({ idleHorizonMs: HOUR, evictEveryMs: 10 * MIN });
    p.process(signin({ agent_id: 'a1', time: T0 }));
    store.set(ctx, 't1', 'a1', { at: sec(T0), e: 0, n: 1 });
    expect(store.size).toBe(1);
    for (let m = 1; m <= 90; m += 10) p.process(signin({ agent_id: 'a2', time: T0 + m * MIN }));
    expect(p.directory.get('t1', 'a1')).toBeUndefined();
    expect(store.size).toBe(1);
    expect(store.peek('t1', 'a1')?.n).toBe(1);
    expect(store.rows().map(([, id]) => id)).toEqual(['a1']);
    // Evicted while loose: gone for good.
    expect(store.evict(T0 + 1000)).toBe(1);
    expect(store.size).toBe(0);
    p.process(signin({ agent_id: 'a1', time: T0 + 2 * HOUR }));
    expect(store.get(ctx, 't1', 'a1')).toBeUndefined();
  });

  it('keeps its states when the directory is restored, and finds them through the new records', () => {
    const { p, ctx, store } = setup();
    p.process(signin({ agent_id: 'a1', time: T0 }));
    store.set(ctx, 't1', 'a1', { at: sec(T0), e: 0, n: 4 });
    p.directory.restore(p.directory.snapshot());
    expect(store.size).toBe(1);
    p.process(signin({ agent_id: 'a1', time: T0 + 1000 }));
    expect(store.get(ctx, 't1', 'a1')?.n).toBe(4);
    expect(store.size).toBe(1);
  });

  it('evicts states kept to the millisecond exactly at the millisecond', () => {
    const p = new DetectionPipeline({ detectors: [] });
    const ctx = p.context;
    const store = new AgentStore<S & MsState>(2_000_000, true);
    p.process(signin({ time: T0 + 400 }));
    const v = { at: 0, am: 0, e: 0, n: 1 };
    setAtMs(v, T0 + 400);
    expect(atMs(v)).toBe(T0 + 400);
    store.set(ctx, 't1', 'a1', v);
    expect(store.evict(T0 + 400)).toBe(0);
    expect(store.evict(T0 + 401)).toBe(1);
    expect(store.get(ctx, 't1', 'a1')).toBeUndefined();
  });

  it('restores states that are then found through the records', () => {
    const { p, ctx, store } = setup();
    p.process(signin({ time: T0 }));
    store.set(ctx, 't1', 'a1', { at: sec(T0), e: 0, n: 1 });
    store.restore([
      ['t1', 'a1', { at: sec(T0), e: 0, n: 7 }],
      ['t1', 'a9', { at: sec(T0), e: 0, n: 9 }],
    ]);
    expect(store.get(ctx, 't1', 'a1')?.n).toBe(7);
    p.process(signin({ agent_id: 'a9', time: T0 }));
    expect(store.get(ctx, 't1', 'a9')?.n).toBe(9);
  });
});

describe('GroupStore', () => {
  it('answers for the event\'s blueprint from the group record, and never with a forgotten value', () => {
    const seen: unknown[] = [];
    const groups = new GroupStore<{ at: number; n: number }>();
    const probe: Detector = {
      meta: { id: 'probe', title: 'probe', severity: 'low', description: 'group probe' },
      observe(e: AgentEvent, ctx): Detection[] {
        if (e.type !== 'signin' || e.blueprint_id === null) return [];
        let g = groups.find(ctx, e.tenant_id, e.blueprint_id);
        if (!g) {
          g = { at: e.time, n: 0 };
          groups.set(e.tenant_id, e.blueprint_id, g);
        }
        g.n++;
        if (e.time > g.at) g.at = e.time;
        seen.push(g);
        return [];
      },
      evict: (before) => void groups.evict(before),
      size: () => groups.size,
      snapshot: () => groups.snapshot(),
      restore: (rows) => groups.restore(rows as [string, string, { at: number; n: number }][]),
    };
    const p = new DetectionPipeline({ detectors: [probe], idleHorizonMs: HOUR, evictEveryMs: 10 * MIN });
    p.processBatch([signin({ agent_id: 'a1', time: T0 }), signin({ agent_id: 'a2', time: T0 + 1000 }), signin({ agent_id: 'a1', time: T0 + 2000 })]);
    expect(seen[0]).toBe(seen[1]);
    expect(seen[1]).toBe(seen[2]);
    expect(groups.get('t1', 'bp1')!.n).toBe(3);
    // bp1 goes idle and is evicted; its agents' records still point to the group record.
    for (let m = 1; m <= 90; m += 10) p.process(signin({ agent_id: 'b1', blueprint_id: 'bp2', time: T0 + m * MIN }));
    expect(groups.get('t1', 'bp1')).toBeUndefined();
    p.process(signin({ agent_id: 'a1', time: T0 + 100 * MIN }));
    expect(seen[seen.length - 1]).not.toBe(seen[0]);
    expect(groups.get('t1', 'bp1')!.n).toBe(1);
    // A restore replaces every value.
    groups.restore([['t1', 'bp1', { at: T0 + 100 * MIN, n: 40 }]]);
    p.process(signin({ agent_id: 'a2', time: T0 + 101 * MIN }));
    expect((seen[seen.length - 1] as { n: number }).n).toBe(41);
  });

  it('follows an agent whose blueprint changes', () => {
    const groups = new GroupStore<{ at: number; n: number }>();
    const p = new DetectionPipeline({ detectors: [] });
    const ctx = p.context;
    groups.set('t1', 'bp1', { at: T0, n: 1 });
    groups.set('t1', 'bp2', { at: T0, n: 2 });
    p.process(lifecycle({ action: 'created', blueprint_id: 'bp1', time: T0 }));
    expect(groups.find(ctx, 't1', 'bp1')!.n).toBe(1);
    p.process(lifecycle({ action: 'created', blueprint_id: 'bp2', time: T0 + 1000 }));
    expect(p.directory.get('t1', 'a1')!.blueprint_id).toBe('bp2');
    expect(groups.find(ctx, 't1', 'bp2')!.n).toBe(2);
    expect(groups.find(ctx, 't1', 'bp1')!.n).toBe(1);
  });
});

describe('dispatch by event type', () => {
  it('shows a detector only the event types it declares', () => {
    const seen: string[] = [];
    const d: Detector = {
      meta: { id: 'typed', title: 'typed', severity: 'low', description: 'typed probe' },
      types: ['token', 'user_risk'],
      observe(e: AgentEvent): Detection[] {
        seen.push(e.type);
        return [];
      },
      evict() {},
      size: () => 0,
      snapshot: () => ({}),
      restore() {},
    };
    const p = new DetectionPipeline({ detectors: [d] });
    p.processBatch([signin({ time: T0 }), token({ time: T0 }), network({ time: T0 }), lifecycle({ time: T0 }), userRisk({ time: T0 })]);
    expect(seen).toEqual(['token', 'user_risk']);
  });
});

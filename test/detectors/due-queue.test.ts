import { describe, expect, it } from 'vitest';
import { DueQueue, type DueItem } from '../../detectors/due-queue.js';
import type { Detection } from '../../detectors/types.js';

interface Item extends DueItem {
  n: number;
}

const item = (agent: string, due: number, n = 0, tenant = 't1'): Item => ({ tenant_id: tenant, agent_id: agent, due, n });

/** A detection naming the item (only the agent and n matter here). */
const detect = (p: Item): Detection => ({
  detector: 'x',
  severity: 'low',
  tenant_id: p.tenant_id,
  agent_id: p.agent_id,
  time: p.due,
  summary: String(p.n),
  evidence: { observed: null, baseline: null, threshold: null, peer_group: null },
  event_ids: [],
});

describe('DueQueue', () => {
  it('decides what is due, in arrival order, and keeps the rest waiting', () => {
    const q = new DueQueue<Item>();
    q.add(item('a', 300));
    q.add(item('b', 100));
    q.add(item('c', 200));
    expect(q.takeDue(250, detect).map((d) => d.agent_id)).toEqual(['b', 'c']);
    expect(q.size).toBe(1);
    expect(q.takeDue(250, detect)).toEqual([]);
    expect(q.takeDue(300, detect).map((d) => d.agent_id)).toEqual(['a']);
  });

  it('keeps the first finding of an agent on add, the latest on replace, and drops what decide declines', () => {
    const q = new DueQueue<Item>();
    expect(q.add(item('a', 100, 1))).toBe(true);
    expect(q.add(item('a', 100, 2))).toBe(false);
    expect(q.has('t1', 'a')).toBe(true);
    expect(q.has('t2', 'a')).toBe(false); // another tenant's agent of the same id
    q.replace(item('b', 100, 1));
    q.replace(item('b', 100, 2));
    expect(q.takeDue(100, (p) => (p.agent_id === 'a' ? detect(p) : null)).map((d) => d.summary)).toEqual(['1']);
    expect(q.size).toBe(0);
  });

  it('gives an agent waiting finding to change in place, its due time too', () => {
    const q = new DueQueue<Item>();
    q.add(item('a', 500, 1));
    expect(q.get('t2', 'a')).toBeUndefined();
    const p = q.get('t1', 'a')!;
    p.due = 200;
    p.n = 7;
    expect(q.takeDue(199, detect)).toEqual([]);
    expect(q.takeDue(200, detect).map((d) => d.summary)).toEqual(['7']);
  });

  it('is bounded: add refuses when full, replace drops the oldest', () => {
    const q = new DueQueue<Item>(2);
    q.add(item('a', 1));
    q.add(item('b', 2));
    expect(q.add(item('c', 3))).toBe(false);
    q.replace(item('d', 4));
    expect(q.takeDue(10, detect).map((d) => d.agent_id)).toEqual(['b', 'd']);
  });

  it('forgets long-overdue findings, forgets an agent on delete, and survives a JSON snapshot', () => {
    const q = new DueQueue<Item>();
    q.add(item('a', 100));
    q.add(item('b', 500, 7));
    q.add(item('c', 600));
    q.evict(200);
    q.delete('t1', 'c');
    const copy = new DueQueue<Item>();
    copy.restore(JSON.parse(JSON.stringify(q.snapshot())) as Item[]);
    expect(copy.size).toBe(1);
    expect(copy.takeDue(1000, detect).map((d) => [d.agent_id, d.summary])).toEqual([['b', '7']]);
    // The snapshot is a copy: deciding from the restored queue leaves the original waiting.
    expect(q.size).toBe(1);
    copy.restore(undefined);
    expect(copy.size).toBe(0);
  });
});

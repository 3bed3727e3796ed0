// Coalescer: items written together, one write at a time, nothing lost when a write fails.

import { describe, expect, it } from 'vitest';
import { Coalescer } from '../../publish/util.js';

describe('Coalescer', () => {
  it('writes what was added together, after its delay or at flush, in order', async () => {
    const writes: number[][] = [];
    const c = new Coalescer<number>(async (items) => void writes.push(items), 20);
    c.add([1, 2]);
    c.add([3]);
    expect(writes).toEqual([]);
    await new Promise((r) => setTimeout(r, 60));
    expect(writes).toEqual([[1, 2, 3]]);
    c.add([4]);
    await c.flush();
    await c.flush(); // nothing left: no empty write
    expect(writes).toEqual([[1, 2, 3], [4]]);
  });

  it('keeps the items of a failed write for the next one, ahead of newer ones', async () => {
    const writes: number[][] = [];
    let fail = true;
    const c = new Coalescer<number>(async (items) => {
      if (fail) throw new Error('store down');
      writes.push(items);
    }, 60_000);
    c.add([1, 2]);
    await expect(c.flush()).rejects.toThrow('store down');
    c.add([3]);
    fail = false;
    await c.flush();
    expect(writes).toEqual([[1, 2, 3]]);
  });
});

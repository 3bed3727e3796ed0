import { describe, expect, it } from 'vitest';
import { memoByHost } from '../../detectors/host-memo.js';

describe('memoByHost', () => {
  it('classifies each host once, null results included, and starts over when full', () => {
    let calls = 0;
    const classify = memoByHost((h: string) => {
      calls++;
      return h.endsWith('.example') ? h.length : null;
    });
    expect([classify('a.example'), classify('a.example'), classify('b.test'), classify('b.test')]).toEqual([9, 9, null, null]);
    expect(calls).toBe(2);
    for (let i = 0; i < 16_384; i++) classify(`h${i}.test`);
    calls = 0;
    classify('a.example');
    expect(calls).toBe(1); // forgotten when the map was emptied
  });
});

import { describe, expect, it } from 'vitest';
import { memoByHost, memoByHostPrivately, memoByLabel } from '../../detectors/host-memo.js';

describe('host memos', () => {
  it('classifies each host once per classifier, null and undefined results included, and starts over when full', () => {
    let calls = 0;
    const classify = memoByHost((h: string) => {
      calls++;
      return h.endsWith('.example') ? h.length : null;
    });
    expect([classify('a.example'), classify('a.example'), classify('b.test'), classify('b.test')]).toEqual([9, 9, null, null]);
    expect(calls).toBe(2);
    let undefinedCalls = 0;
    const none = memoByHost((): undefined => {
      undefinedCalls++;
      return undefined;
    });
    expect([none('a.example'), none('a.example')]).toEqual([undefined, undefined]);
    expect(undefinedCalls).toBe(1);
    for (let i = 0; i < 16_384; i++) classify(`h${i}.test`);
    calls = 0;
    classify('a.example');
    expect(calls).toBe(1); // forgotten when the space was emptied
  });

  it('keeps every classifier\'s result apart in the shared record of a host, whichever order they are asked in', () => {
    const length = memoByHost((h: string) => h.length);
    const upper = memoByHost((h: string) => h.toUpperCase());
    const hosts = ['x.example', 'yy.example', 'x.example'];
    expect(hosts.map((h) => [length(h), upper(h)])).toEqual([
      [9, 'X.EXAMPLE'],
      [10, 'YY.EXAMPLE'],
      [9, 'X.EXAMPLE'],
    ]);
    // A classifier created after a host's record was: its slot is added to the record.
    const late = memoByHost((h: string) => h.startsWith('x'));
    expect([late('x.example'), length('x.example'), late('yy.example'), upper('yy.example')]).toEqual([true, 9, false, 'YY.EXAMPLE']);
  });

  it('keeps labels (categories, file types) apart from hosts with the same text', () => {
    const asHost = memoByHost((h: string) => `host:${h}`);
    const asLabel = memoByLabel((l: string) => `label:${l}`);
    expect([asHost('storage'), asLabel('storage'), asHost('storage')]).toEqual(['host:storage', 'label:storage', 'host:storage']);
  });

  it('gives a private memo a map of its own (a classifier of one detector instance\'s options)', () => {
    const a = memoByHostPrivately((h: string) => `a:${h}`);
    const b = memoByHostPrivately((h: string) => `b:${h}`);
    expect([a('h.example'), b('h.example'), a('h.example')]).toEqual(['a:h.example', 'b:h.example', 'a:h.example']);
  });
});

// A sliding window kept as five sub-window sums in the state object itself
// (fields r0..r4, not an array: one object to touch per event), with the
// index of the newest sub-window. Late events land in their own sub-window
// while it is still in the window. Shared by the detectors that slide a
// count or a volume over a few minutes (signin-spike, bulk-collection).

/** Sub-windows per window. */
export const RING_SUBS = 5;

export interface SubWindowRing {
  r0: number;
  r1: number;
  r2: number;
  r3: number;
  r4: number;
  /** Index (time / sub-window length) of the newest sub-window. */
  sub: number;
}

/** Moves the ring to sub-window `sb` (when newer), emptying the sub-windows that left the window. */
export function ringSlide(a: SubWindowRing, sb: number): void {
  if (sb <= a.sub) return;
  const shift = Math.min(sb - a.sub, RING_SUBS);
  for (let i = 1; i <= shift; i++) ringSet(a, (a.sub + i) % RING_SUBS, 0);
  a.sub = sb;
}

/** Adds `v` to sub-window `sb` when it is still in the window (after ringSlide); false when it is older. */
export function ringAdd(a: SubWindowRing, sb: number, v: number): boolean {
  if (sb <= a.sub - RING_SUBS) return false;
  switch (sb % RING_SUBS) {
    case 0: a.r0 += v; break;
    case 1: a.r1 += v; break;
    case 2: a.r2 += v; break;
    case 3: a.r3 += v; break;
    default: a.r4 += v; break;
  }
  return true;
}

/** The sum over the window. */
export function ringSum(a: SubWindowRing): number {
  return a.r0 + a.r1 + a.r2 + a.r3 + a.r4;
}

function ringSet(a: SubWindowRing, i: number, v: number): void {
  switch (i) {
    case 0: a.r0 = v; break;
    case 1: a.r1 = v; break;
    case 2: a.r2 = v; break;
    case 3: a.r3 = v; break;
    default: a.r4 = v; break;
  }
}

// The token-parallel placement rule (src/scheduler/placement.ts), case by case.
import { describe, expect, it } from 'vitest';
import { choosePlacement, type RankState } from '../../src/scheduler/placement.js';

/** Rank states from [numBlocks, numFreeBlocks, numCachedBlocks, numCachedFreeBlocks] tuples. */
const ranks = (...xs: [number, number, number?, number?][]): RankState[] =>
  xs.map(([numBlocks, numFreeBlocks, numCachedBlocks = 0, numCachedFreeBlocks = 0], rank) => ({ rank, numBlocks, numFreeBlocks, numCachedBlocks, numCachedFreeBlocks }));

describe('choosePlacement', () => {
  it('without hits: the rank with the most free blocks, ties to the lower rank (the rule without a prefix cache)', () => {
    expect(choosePlacement(ranks([100, 10], [100, 30], [100, 30], [100, 20]), 5)).toEqual({ rank: 1, numCachedBlocks: 0 });
    expect(choosePlacement(ranks([100, 7]), 50)).toEqual({ rank: 0, numCachedBlocks: 0 }); // room now does not matter: it waits there
  });

  it('the longest hit wins over more free blocks, when its rank has room for the rest', () => {
    // needs 10 blocks: rank 0 hits 4 (6 to go, 6 free), rank 1 hits 2 with 50 free, rank 2 has 90 free
    expect(choosePlacement(ranks([100, 6, 4], [100, 50, 2], [100, 90]), 10)).toEqual({ rank: 0, numCachedBlocks: 4 });
  });

  it('ties on the hit go to more free blocks, then to the lower rank', () => {
    expect(choosePlacement(ranks([100, 20, 3], [100, 40, 3], [100, 40, 3], [100, 99, 2]), 8)).toEqual({ rank: 1, numCachedBlocks: 3 });
    expect(choosePlacement(ranks([100, 40, 3], [100, 40, 3]), 8)).toEqual({ rank: 0, numCachedBlocks: 3 });
    // the input order does not matter
    const rev = ranks([100, 40, 3], [100, 40, 3]).reverse();
    expect(choosePlacement(rev, 8)).toEqual({ rank: 0, numCachedBlocks: 3 });
  });

  it('a hit on a rank that cannot take the request falls back to the most free rank', () => {
    // rank 0 hits 6 of 20 blocks but has 5 free (needs 14): rank 2 (most free) takes it, a miss
    expect(choosePlacement(ranks([100, 5, 6], [100, 30, 0], [100, 40, 0]), 20)).toEqual({ rank: 2, numCachedBlocks: 0 });
    // evictable hit blocks count as free but the request takes them: 10 free of which 4 are the
    // hit, 6 left for the 8 blocks still needed: no room; rank 1 with a shorter hit has room (11 of 12)
    expect(choosePlacement(ranks([100, 10, 4, 4], [100, 12, 1, 0]), 12)).toEqual({ rank: 1, numCachedBlocks: 1 });
    // exactly enough room counts (6 left for 6)
    expect(choosePlacement(ranks([100, 10, 4, 4], [100, 12, 1, 0]), 10)).toEqual({ rank: 0, numCachedBlocks: 4 });
  });

  it('the fallback rank keeps the hit it has there', () => {
    // rank 0: hit 3, no room (needs 17, 5 free); rank 1: hit 2, no room either, but the most free
    expect(choosePlacement(ranks([100, 5, 3], [100, 8, 2]), 20)).toEqual({ rank: 1, numCachedBlocks: 2 });
  });

  it('full ranks: only ranks whose capacity holds the request are eligible; none: null', () => {
    // rank 0 hits but is too small; rank 1 is full (0 free) but the only one large enough
    expect(choosePlacement(ranks([10, 10, 5], [50, 0]), 12)).toEqual({ rank: 1, numCachedBlocks: 0 });
    expect(choosePlacement(ranks([10, 10, 5], [11, 11]), 12)).toBeNull();
    expect(choosePlacement([], 1)).toBeNull();
  });
});

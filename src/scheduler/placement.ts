// Where a waiting request is admitted: the token-parallel rank policy, as a pure function of
// per-rank numbers (no scheduler state), so that it can be tested case by case.
//
// Each rank has its own prefix cache, and a request's KV lives whole on one rank, so a cached
// prefix only helps on the rank that holds it. The rule:
//   1. Only ranks whose whole capacity holds the request's tokens are eligible; none: null (the
//      request can never run).
//   2. Among eligible ranks with a hit that have room for the rest of the request (free blocks,
//      minus the evictable hit blocks the request takes, >= the blocks it still needs), the one
//      with the longest hit; ties: more free blocks, then the lower rank.
//   3. Otherwise (no hit anywhere, or no rank with a hit has room): the eligible rank with the
//      most free blocks, ties to the lower rank (the rule without a prefix cache), using the
//      hit it has there, if any.
// The scheduler then admits the request only if the chosen rank can hold its first chunk, and
// otherwise waits (first come, first served).

export interface RankState {
  readonly rank: number;
  /** KV blocks of the rank (its capacity). */
  readonly numBlocks: number;
  /** Free blocks now, evictable cached blocks included. */
  readonly numFreeBlocks: number;
  /** Leading blocks of the request found in this rank's prefix cache. */
  readonly numCachedBlocks: number;
  /** How many of those are free (evictable): taking them uses up that many free blocks. */
  readonly numCachedFreeBlocks: number;
}

export interface Placement {
  readonly rank: number;
  /** Leading blocks of the request taken from the rank's cache (0: a miss). */
  readonly numCachedBlocks: number;
}

/**
 * The rank a request holding `numBlocksNeeded` blocks' worth of tokens is admitted to, and the
 * hit it uses there; null if no rank's capacity holds it.
 */
export function choosePlacement(ranks: readonly RankState[], numBlocksNeeded: number): Placement | null {
  let best: RankState | null = null; // rule 2
  let mostFree: RankState | null = null; // rule 3
  for (const s of ranks) {
    if (s.numBlocks < numBlocksNeeded) continue;
    if (mostFree === null || more(s.numFreeBlocks, mostFree.numFreeBlocks, s, mostFree)) mostFree = s;
    const room = s.numFreeBlocks - s.numCachedFreeBlocks >= numBlocksNeeded - s.numCachedBlocks;
    if (s.numCachedBlocks === 0 || !room) continue;
    if (best === null || s.numCachedBlocks > best.numCachedBlocks || (s.numCachedBlocks === best.numCachedBlocks && more(s.numFreeBlocks, best.numFreeBlocks, s, best))) best = s;
  }
  const pick = best ?? mostFree;
  return pick === null ? null : { rank: pick.rank, numCachedBlocks: pick.numCachedBlocks };
}

/** a beats b on value x (vs y), ties to the lower rank. */
function more(x: number, y: number, a: RankState, b: RankState): boolean {
  return x > y || (x === y && a.rank < b.rank);
}

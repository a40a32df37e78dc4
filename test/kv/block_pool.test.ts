import { describe, expect, it } from 'vitest';
import { BlockPool, BlockPoolError } from '../../src/kv/block_pool.js';
import { Rng } from '../../src/util/rng.js';

// Plain checks inside the random loops (vitest's expect is too slow for 10^5 calls).
function ok(cond: boolean, msg: string): void {
  if (!cond) throw new Error(msg);
}

describe('BlockPool', () => {
  it.each([
    [1, 1],
    [2, 7],
    [3, 64],
    [4, 1000],
  ])('seed %i, %i blocks: random allocate/incRef/free keep the invariants and return every block', (seed, numBlocks) => {
    const rng = new Rng(seed);
    const pool = new BlockPool(numBlocks);
    const refs = new Map<number, number>(); // shadow reference counts of allocated blocks
    const held: number[] = []; // one entry per reference held
    for (let op = 0; op < 3000; op++) {
      const kind = rng.next();
      if (kind < 0.45) {
        const n = rng.int(0, Math.max(1, Math.ceil(numBlocks / 4)) + 2);
        if (n > pool.numFreeBlocks) {
          const free = pool.numFreeBlocks;
          expect(() => pool.allocate(n)).toThrow(BlockPoolError);
          ok(pool.numFreeBlocks === free, 'failed allocate changed the pool');
        } else {
          const got = pool.allocate(n);
          ok(new Set(got).size === n && got.length === n, `allocate(${n}) gave ${got}`);
          for (const b of got) {
            ok(!refs.has(b), `block ${b} handed out while allocated`);
            ok(pool.refCount(b) === 1, `new block ${b} has refCount ${pool.refCount(b)}`);
            refs.set(b, 1);
            held.push(b);
          }
        }
      } else if (kind < 0.55 && held.length > 0) {
        const b = rng.pick(held);
        pool.incRef([b]);
        refs.set(b, refs.get(b)! + 1);
        held.push(b);
      } else if (held.length > 0) {
        // drop a random batch of references, in random order
        const k = rng.int(1, Math.min(held.length, 8));
        const batch: number[] = [];
        for (let i = 0; i < k; i++) batch.push(held.splice(rng.int(0, held.length - 1), 1)[0]);
        pool.free(batch);
        for (const b of batch) {
          const rc = refs.get(b)! - 1;
          if (rc === 0) refs.delete(b);
          else refs.set(b, rc);
        }
      }
      pool.checkInvariants();
      ok(pool.numFreeBlocks === numBlocks - refs.size, `op ${op}: ${pool.numFreeBlocks} free, expected ${numBlocks - refs.size}`);
      for (const [b, rc] of refs) ok(pool.refCount(b) === rc, `block ${b}: refCount ${pool.refCount(b)}, expected ${rc}`);
    }
    pool.free(held);
    pool.checkInvariants();
    expect(pool.numFreeBlocks).toBe(numBlocks);
    expect(pool.allocate(numBlocks).sort((a, b) => a - b)).toEqual([...Array(numBlocks).keys()]);
  });

  it('hands out the longest-free block first (FIFO)', () => {
    const pool = new BlockPool(6);
    expect(pool.allocate(6)).toEqual([0, 1, 2, 3, 4, 5]);
    pool.free([4, 1]);
    pool.free([5]);
    expect(pool.allocate(2)).toEqual([4, 1]);
    pool.free([0]);
    expect(pool.allocate(2)).toEqual([5, 0]);
  });

  it('rejects double frees, unknown ids and sharing a free block; counts never go negative', () => {
    const pool = new BlockPool(4);
    const [a] = pool.allocate(1);
    pool.free([a]);
    expect(() => pool.free([a])).toThrow(BlockPoolError);
    expect(pool.refCount(a)).toBe(0);
    expect(() => pool.incRef([a])).toThrow(BlockPoolError);
    expect(() => pool.free([4])).toThrow(BlockPoolError);
    expect(() => pool.free([-1])).toThrow(BlockPoolError);
    expect(() => pool.allocate(5)).toThrow(BlockPoolError);
    expect(() => new BlockPool(-1)).toThrow(BlockPoolError);
    pool.checkInvariants();
    expect(pool.numFreeBlocks).toBe(4);
  });

  it('checkInvariants notices a corrupted pool', () => {
    const pool = new BlockPool(8);
    pool.allocate(3);
    (pool as unknown as { refCounts: Int32Array }).refCounts[5] = 1; // a free block with a count
    expect(() => pool.checkInvariants()).toThrow(BlockPoolError);
  });
});

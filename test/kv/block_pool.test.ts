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

  it.each([
    [5, 1],
    [6, 9],
    [7, 80],
  ])('seed %i, %i blocks: with the prefix cache, every allocation takes the block a reference model says (empty FIFO, then least recently freed cached)', (seed, numBlocks) => {
    const rng = new Rng(seed);
    const pool = new BlockPool(numBlocks);
    // reference model: free lists as arrays, hashes, reference counts
    const empty = [...Array(numBlocks).keys()];
    const cached: number[] = [];
    const hashOf = new Map<number, string>();
    const blockOf = new Map<string, number>();
    const refs = new Array<number>(numBlocks).fill(0);
    const held: number[] = [];
    let evictions = 0;
    let nextHash = 0;
    for (let op = 0; op < 3000; op++) {
      const kind = rng.next();
      if (kind < 0.3) {
        const n = rng.int(0, Math.ceil(numBlocks / 3) + 1);
        if (n > empty.length + cached.length) {
          expect(() => pool.allocate(n)).toThrow(BlockPoolError);
        } else {
          const want: number[] = [];
          for (let i = 0; i < n; i++) {
            let b = empty.shift();
            if (b === undefined) {
              b = cached.shift()!;
              blockOf.delete(hashOf.get(b)!);
              hashOf.delete(b);
              evictions++;
            }
            refs[b] = 1;
            want.push(b);
          }
          const got = pool.allocate(n);
          ok(got.join() === want.join(), `op ${op}: allocate(${n}) gave [${got}], the model says [${want}]`);
          held.push(...got);
        }
      } else if (kind < 0.45 && held.length > 0) {
        // register a held block under a fresh hash, or under one already taken (refused)
        const b = rng.pick(held);
        const h = rng.next() < 0.2 && blockOf.size > 0 ? rng.pick([...blockOf.keys()]) : `h${nextHash++}`;
        const accepted = !hashOf.has(b) && !blockOf.has(h);
        ok(pool.cacheBlock(b, h) === accepted, `op ${op}: cacheBlock(${b}, ${h})`);
        if (accepted) {
          hashOf.set(b, h);
          blockOf.set(h, b);
        }
      } else if (kind < 0.6 && blockOf.size > 0) {
        // a prefix-cache hit: look a hash up and take a reference
        const h = rng.pick([...blockOf.keys()]);
        const b = pool.lookup(h)!;
        ok(b === blockOf.get(h), `lookup(${h})`);
        pool.touch([b]);
        if (refs[b] === 0) cached.splice(cached.indexOf(b), 1);
        refs[b]++;
        held.push(b);
      } else if (held.length > 0) {
        const k = rng.int(1, Math.min(held.length, 6));
        const batch: number[] = [];
        for (let i = 0; i < k; i++) batch.push(held.splice(rng.int(0, held.length - 1), 1)[0]);
        pool.free(batch);
        for (const b of batch) if (--refs[b] === 0) (hashOf.has(b) ? cached : empty).push(b);
      }
      pool.checkInvariants();
      ok(pool.numFreeBlocks === empty.length + cached.length && pool.numEvictableBlocks === cached.length, `op ${op}: free counts`);
      ok(pool.numCachedBlocks === blockOf.size && pool.numEvictions === evictions, `op ${op}: cached ${pool.numCachedBlocks}, evictions ${pool.numEvictions}`);
    }
    expect(evictions).toBeGreaterThan(10);
    pool.free(held);
    pool.checkInvariants();
    expect(pool.numFreeBlocks).toBe(numBlocks);
  });

  it('keeps freed cached blocks until no empty block is left, then evicts the least recently freed; a hit takes one back', () => {
    const pool = new BlockPool(4);
    const [a, b, c, d] = pool.allocate(4);
    pool.cacheBlock(a, 'A');
    pool.cacheBlock(b, 'B');
    expect(pool.cacheBlock(c, 'A')).toBe(false); // another block holds A: c stays uncached
    expect(pool.cacheBlock(a, 'X')).toBe(false); // a already has a hash
    pool.free([b, a, c, d]); // b freed before a
    expect([pool.numFreeBlocks, pool.numEvictableBlocks, pool.numCachedBlocks]).toEqual([4, 2, 2]);
    expect(pool.allocate(2)).toEqual([c, d]); // the empty blocks first: nothing evicted
    expect([pool.lookup('A'), pool.lookup('B'), pool.numEvictions]).toEqual([a, b, 0]);
    pool.touch([a]); // a hit on the free cached block a
    expect([pool.refCount(a), pool.numFreeBlocks]).toEqual([1, 1]);
    expect(pool.allocate(1)).toEqual([b]); // evicts b: its hash is gone
    expect([pool.lookup('B'), pool.blockHash(b), pool.numEvictions]).toEqual([undefined, null, 1]);
    pool.touch([a]); // shared by two holders now
    expect(pool.refCount(a)).toBe(2);
    expect(() => pool.touch([c])).toThrow(BlockPoolError); // not cached
    expect(() => pool.allocate(1)).toThrow(BlockPoolError);
    pool.checkInvariants();
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

import { describe, expect, it } from 'vitest';
import { BLOCK_SIZE, KvCacheError, KvCacheManager } from '../../src/kv/kv_cache_manager.js';
import { Rng } from '../../src/util/rng.js';

// Plain checks inside the random loops (vitest's expect is too slow for 10^5 calls).
function ok(cond: boolean, msg: string): void {
  if (!cond) throw new Error(msg);
}
const same = (a: ArrayLike<number>, b: ArrayLike<number>): boolean => a.length === b.length && Array.prototype.every.call(a, (x: number, i: number) => x === b[i]);

describe('KvCacheManager', () => {
  it.each([
    [11, 1],
    [12, 5],
    [13, 37],
    [14, 300],
  ])('seed %i, %i blocks: random allocate/append/free keeps block tables and slots consistent', (seed, numBlocks) => {
    const rng = new Rng(seed);
    const kv = new KvCacheManager(numBlocks);
    const tokens = new Map<string, number>(); // shadow: tokens per live request
    const tables = new Map<string, number[]>(); // shadow: block table as last seen
    let nextId = 0;
    const slotOwner = new Int32Array(numBlocks * BLOCK_SIZE);
    for (let op = 0; op < 2500; op++) {
      const live = [...tokens.keys()];
      const kind = rng.next();
      if (kind < 0.2 && live.length > 0) {
        const id = rng.pick(live);
        const before = kv.numFreeBlocks;
        const nb = Math.ceil(tokens.get(id)! / BLOCK_SIZE);
        ok(kv.free(id) === nb && kv.numFreeBlocks === before + nb, `free(${id}) returned the wrong number of blocks`);
        tokens.delete(id);
        tables.delete(id);
        ok(!kv.has(id), `${id} still known after free`);
      } else {
        const id = kind < 0.45 || live.length === 0 ? `r${nextId++}` : rng.pick(live);
        const have = tokens.get(id) ?? 0;
        const n = rng.next() < 0.7 ? rng.int(0, 3) : rng.int(0, 70);
        const need = Math.ceil((have + n) / BLOCK_SIZE) - Math.ceil(have / BLOCK_SIZE);
        ok(kv.numNewBlocksNeeded(id, n) === need, `numNewBlocksNeeded(${id}, ${n})`);
        ok(kv.canAllocate(id, n) === need <= kv.numFreeBlocks, `canAllocate(${id}, ${n})`);
        if (need > kv.numFreeBlocks) {
          const free = kv.numFreeBlocks;
          expect(() => kv.allocate(id, n)).toThrow(KvCacheError);
          ok(kv.numFreeBlocks === free && kv.numTokens(id) === have, 'failed allocate changed state');
        } else {
          const added = kv.allocate(id, n);
          ok(added.length === need, `allocate added ${added.length} blocks, expected ${need}`);
          tokens.set(id, have + n);
          const prev = tables.get(id) ?? [];
          const table = [...kv.blockTable(id)];
          ok(same(table.slice(0, prev.length), prev), 'block table is not append-only');
          ok(same(table.slice(prev.length), added), 'appended blocks differ from the returned ones');
          tables.set(id, table);
        }
      }
      kv.checkInvariants();
      // every live token has its own slot, derived from its block table
      slotOwner.fill(-1);
      let used = 0;
      for (const [id, n] of tokens) {
        ok(kv.numTokens(id) === n, `numTokens(${id})`);
        const table = kv.blockTable(id);
        ok(table.length === Math.ceil(n / BLOCK_SIZE), `${id}: ${table.length} blocks for ${n} tokens`);
        used += table.length;
        if (n === 0) continue;
        const start = rng.int(0, n - 1);
        const slots = kv.slotMapping(id, 0, n);
        const part = kv.slotMapping(id, start, n - start);
        ok(same(part, slots.subarray(start)), `slotMapping(${id}, ${start}) differs from the full mapping`);
        const idx = Number(id.slice(1));
        for (let p = 0; p < n; p++) {
          const s = slots[p];
          ok(s === table[Math.floor(p / BLOCK_SIZE)] * BLOCK_SIZE + (p % BLOCK_SIZE), `${id} position ${p}: slot ${s}`);
          ok(slotOwner[s] === -1, `slot ${s} shared`);
          slotOwner[s] = idx;
        }
      }
      ok(kv.numFreeBlocks === numBlocks - used, `op ${op}: free blocks ${kv.numFreeBlocks}, expected ${numBlocks - used}`);
    }
    for (const id of tokens.keys()) kv.free(id);
    kv.checkInvariants();
    expect(kv.numFreeBlocks).toBe(numBlocks);
    expect(kv.numRequests).toBe(0);
  });

  it('rejects slot ranges outside the reserved tokens and bad counts', () => {
    const kv = new KvCacheManager(4);
    kv.allocate('a', 20);
    expect(() => kv.slotMapping('a', 15, 6)).toThrow(KvCacheError);
    expect(() => kv.slotMapping('b', 0, 1)).toThrow(KvCacheError);
    expect(() => kv.allocate('a', -1)).toThrow(KvCacheError);
    expect(() => kv.allocate('a', 2.5)).toThrow(KvCacheError);
    const out = new Uint32Array(8).fill(7);
    kv.slotMapping('a', 14, 4, out, 2);
    const t = kv.blockTable('a');
    expect(Array.from(out)).toEqual([7, 7, t[0] * 16 + 14, t[0] * 16 + 15, t[1] * 16, t[1] * 16 + 1, 7, 7]);
    expect(kv.free('nobody')).toBe(0);
  });

  it('prefix cache: registers computed full blocks, finds the longest leading run, shares it, and keeps it after the owner is freed', () => {
    const kv = new KvCacheManager(8);
    const hashes = ['h0', 'h1', 'h2', 'h3'];
    kv.allocate('a', 40); // 3 blocks, the last partial
    const ta = [...kv.blockTable('a')];
    expect(kv.cacheFullBlocks('a', hashes, 20)).toBe(1); // only block 0 is full and computed
    expect(kv.cacheFullBlocks('a', hashes, 40)).toBe(1); // block 1 now; block 2 is partial
    expect(kv.cacheFullBlocks('a', hashes, 40)).toBe(0);
    expect(kv.numCachedBlocks).toBe(2);
    expect(kv.findCachedBlocks(hashes)).toEqual(ta.slice(0, 2));
    expect(kv.findCachedBlocks(['h0', 'zz', 'h1'])).toEqual([ta[0]]); // stops at the first miss
    expect(kv.findCachedBlocks(['h1'])).toEqual([ta[1]]);
    // b shares a's first two blocks (in use: they cost no free block) and adds 5 tokens
    const hit = kv.findCachedBlocks(hashes);
    expect([kv.numFreeAmong(hit), kv.numNewBlocksNeeded('b', 5, hit)]).toEqual([0, 1]);
    const added = kv.allocate('b', 5, hit);
    expect(added.length).toBe(1);
    expect(kv.blockTable('b')).toEqual([...hit, ...added]);
    expect([kv.numTokens('b'), kv.pool.refCount(ta[0]), kv.numFreeBlocks]).toEqual([37, 2, 4]);
    expect(Array.from(kv.slotMapping('b', 31, 2))).toEqual([ta[1] * 16 + 15, added[0] * 16]);
    kv.checkInvariants();
    // a finishes: its shared blocks stay with b; its last block goes back empty
    expect(kv.free('a')).toBe(3);
    expect([kv.pool.refCount(ta[0]), kv.numFreeBlocks, kv.pool.numEvictableBlocks]).toEqual([1, 5, 0]);
    kv.free('b');
    expect([kv.numFreeBlocks, kv.pool.numEvictableBlocks, kv.numCachedBlocks]).toEqual([8, 2, 2]);
    // c hits the free cached blocks: taking them costs 2 free blocks, plus 1 for its tail
    const hitC = kv.findCachedBlocks(hashes);
    expect([kv.numFreeAmong(hitC), kv.numNewBlocksNeeded('c', 1, hitC)]).toEqual([2, 3]);
    kv.allocate('c', 1, hitC);
    expect([kv.numTokens('c'), kv.numFreeBlocks, kv.pool.numEvictableBlocks]).toEqual([33, 5, 0]);
    kv.checkInvariants();
  });

  it('prefix cache: an admission that does not fit changes nothing; allocation never evicts the hit it takes', () => {
    const kv = new KvCacheManager(3);
    kv.allocate('a', 32);
    kv.cacheFullBlocks('a', ['h0', 'h1'], 32);
    kv.free('a'); // both blocks cached and free
    const hit = kv.findCachedBlocks(['h0', 'h1']);
    expect(kv.numNewBlocksNeeded('b', 32, hit)).toBe(4); // the 2 free hit blocks + 2 new ones
    expect(kv.canAllocate('b', 32, hit)).toBe(false);
    expect(() => kv.allocate('b', 32, hit)).toThrow(KvCacheError);
    expect([kv.has('b'), kv.numFreeBlocks, kv.pool.numEvictableBlocks]).toEqual([false, 3, 2]);
    kv.allocate('b', 16, hit); // 2 hit blocks + 1 new: the new one is the empty block, not an evicted hit
    expect(kv.blockTable('b').slice(0, 2)).toEqual(hit);
    expect([kv.numCachedBlocks, kv.pool.numEvictions]).toEqual([2, 0]);
    expect(() => kv.allocate('b', 1, hit)).toThrow(KvCacheError); // cached blocks only for a new request
    expect(() => kv.cacheFullBlocks('b', ['h0'], 48)).toThrow(KvCacheError); // too few hashes
    expect(() => kv.cacheFullBlocks('b', ['h0', 'h1', 'h2'], 49)).toThrow(KvCacheError); // beyond its tokens
    expect(() => kv.cacheFullBlocks('zz', [], 0)).toThrow(KvCacheError);
    kv.checkInvariants();
  });
});

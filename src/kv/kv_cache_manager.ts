// Per-request block tables on one token-parallel rank, and this rank's prefix cache. A
// request's cache holds `numTokens` tokens (those whose k/v are written or about to be written
// this step); token p lives in block `blockTable[floor(p / blockSize)]` at offset
// `p % blockSize`, i.e. slot `blockTable[floor(p / blockSize)] * blockSize + p % blockSize`
// (docs/KERNELS.md "Paged KV cache"). `allocate` grows a request by some tokens, appending
// blocks when its last block fills; `free` gives all of them back.
//
// Prefix cache (docs/ARCHITECTURE.md "Prefix caching"): once a full block's k/v are computed,
// `cacheFullBlocks` registers it under its content hash (block_hash.ts). A new request looks its
// block hashes up (`findCachedBlocks`: the longest run of leading blocks found) and starts with
// those blocks shared (`allocate(..., cachedBlocks)`), skipping their prefill. Freed registered
// blocks stay cached until the pool needs them (block_pool.ts). Only full, already computed
// blocks are shared and nobody writes into them again, so sharing needs no copy-on-write.
import type { BlockHash } from './block_hash.js';
import { BlockPool, BlockPoolError } from './block_pool.js';

/** Tokens per KV block: fixed by the kernels' cache layout. */
export const BLOCK_SIZE = 16;

/** Misuse of a KvCacheManager: allocating without room, or a slot range outside a request. */
export class KvCacheError extends Error {
  override readonly name = 'KvCacheError';
}

interface RequestBlocks {
  readonly blockIds: number[]; // physical blocks on this rank, in token order
  numTokens: number; // tokens with a reserved slot
  numCachedBlocks: number; // leading blocks already offered to the prefix cache (hit or registered)
}

/** Prefix-cache lookups of admitted requests on one rank, in tokens (vLLM's PrefixCacheStats). */
export interface PrefixCacheStats {
  /** Admissions that looked the cache up. */
  requests: number;
  /** Tokens those requests held when they looked it up. */
  queries: number;
  /** Tokens found in the cache (their prefill skipped). */
  hits: number;
}

export class KvCacheManager {
  readonly pool: BlockPool;
  readonly prefixCacheStats: PrefixCacheStats = { requests: 0, queries: 0, hits: 0 };
  private readonly requests = new Map<string, RequestBlocks>();

  constructor(
    numBlocks: number,
    readonly blockSize: number = BLOCK_SIZE,
  ) {
    if (!Number.isInteger(blockSize) || blockSize < 1) throw new KvCacheError(`KvCacheManager: bad blockSize ${blockSize}`);
    this.pool = new BlockPool(numBlocks);
  }

  get numBlocks(): number {
    return this.pool.numBlocks;
  }

  /** Free blocks, evictable cached blocks included. */
  get numFreeBlocks(): number {
    return this.pool.numFreeBlocks;
  }

  /** Blocks registered in the prefix cache (in use or evictable). */
  get numCachedBlocks(): number {
    return this.pool.numCachedBlocks;
  }

  /** Requests that hold an entry (possibly with zero blocks). */
  get numRequests(): number {
    return this.requests.size;
  }

  has(requestId: string): boolean {
    return this.requests.has(requestId);
  }

  /** Tokens with a reserved slot for this request (0 if it has none). */
  numTokens(requestId: string): number {
    return this.requests.get(requestId)?.numTokens ?? 0;
  }

  /** The request's physical blocks in token order (empty if it has none). Do not mutate. */
  blockTable(requestId: string): readonly number[] {
    return this.requests.get(requestId)?.blockIds ?? [];
  }

  /** Blocks needed to hold `numTokens` tokens. */
  blocksForTokens(numTokens: number): number {
    return Math.ceil(numTokens / this.blockSize);
  }

  /**
   * The cached blocks of the longest run of `hashes` (a sequence's block hashes, in order) found
   * from the first: block i of the result holds the sequence's block i. Changes nothing.
   */
  findCachedBlocks(hashes: readonly BlockHash[]): number[] {
    const out: number[] = [];
    for (const h of hashes) {
      const b = this.pool.lookup(h);
      if (b === undefined) break;
      out.push(b);
    }
    return out;
  }

  /** How many of `blocks` are free (evictable): taking them as a hit uses up that many free blocks. */
  numFreeAmong(blocks: readonly number[]): number {
    let n = 0;
    for (const b of blocks) if (this.pool.refCount(b) === 0) n++;
    return n;
  }

  /**
   * Free blocks that growing the request by `numNewTokens` would take from the pool; for a
   * request without an entry, `cachedBlocks` (a hit from findCachedBlocks) come first and cost
   * only those of them that are free.
   */
  numNewBlocksNeeded(requestId: string, numNewTokens: number, cachedBlocks: readonly number[] = []): number {
    const r = this.requests.get(requestId);
    if (r) return Math.max(0, this.blocksForTokens(r.numTokens + numNewTokens) - r.blockIds.length);
    const have = cachedBlocks.length;
    return this.numFreeAmong(cachedBlocks) + Math.max(0, this.blocksForTokens(have * this.blockSize + numNewTokens) - have);
  }

  canAllocate(requestId: string, numNewTokens: number, cachedBlocks: readonly number[] = []): boolean {
    return this.numNewBlocksNeeded(requestId, numNewTokens, cachedBlocks) <= this.pool.numFreeBlocks;
  }

  /**
   * Reserves slots for the request's next `numNewTokens` tokens (positions numTokens ..
   * numTokens + numNewTokens - 1), appending blocks as needed. A request without an entry may
   * start with `cachedBlocks` (a prefix-cache hit): they are shared, their tokens count as
   * reserved and computed, and the new tokens follow them. Returns the appended new block ids.
   * Throws a KvCacheError (and changes nothing) when the pool has too few free blocks.
   */
  allocate(requestId: string, numNewTokens: number, cachedBlocks: readonly number[] = []): number[] {
    if (!Number.isInteger(numNewTokens) || numNewTokens < 0) {
      throw new KvCacheError(`KvCacheManager.allocate(${requestId}): bad token count ${numNewTokens}`);
    }
    let r = this.requests.get(requestId);
    if (r && cachedBlocks.length > 0) throw new KvCacheError(`KvCacheManager.allocate(${requestId}): cached blocks given for a request that already has blocks`);
    const need = this.numNewBlocksNeeded(requestId, numNewTokens, cachedBlocks);
    if (need > this.pool.numFreeBlocks) {
      throw new KvCacheError(
        `KvCacheManager.allocate(${requestId}, ${numNewTokens}): needs ${need} blocks, ${this.pool.numFreeBlocks} free`,
      );
    }
    if (!r) {
      // Take the hit first: allocating the new blocks must not evict it.
      this.pool.touch(cachedBlocks);
      r = { blockIds: [...cachedBlocks], numTokens: cachedBlocks.length * this.blockSize, numCachedBlocks: cachedBlocks.length };
      this.requests.set(requestId, r);
    }
    const blocks = this.pool.allocate(this.blocksForTokens(r.numTokens + numNewTokens) - r.blockIds.length);
    for (const b of blocks) r.blockIds.push(b);
    r.numTokens += numNewTokens;
    return blocks;
  }

  /**
   * Registers the request's full blocks among its first `numComputedTokens` tokens (whose k/v
   * are written) in the prefix cache, under `hashes` (the request's block hashes, at least one per
   * full block). Blocks registered before are skipped. Returns how many were offered.
   */
  cacheFullBlocks(requestId: string, hashes: readonly BlockHash[], numComputedTokens: number): number {
    const r = this.requests.get(requestId);
    if (!r) throw new KvCacheError(`KvCacheManager.cacheFullBlocks(${requestId}): unknown request`);
    if (numComputedTokens > r.numTokens) throw new KvCacheError(`KvCacheManager.cacheFullBlocks(${requestId}): ${numComputedTokens} tokens computed, ${r.numTokens} reserved`);
    const full = Math.floor(numComputedTokens / this.blockSize);
    if (hashes.length < full) throw new KvCacheError(`KvCacheManager.cacheFullBlocks(${requestId}): ${hashes.length} hashes for ${full} full blocks`);
    const from = r.numCachedBlocks;
    for (let i = from; i < full; i++) this.pool.cacheBlock(r.blockIds[i], hashes[i]);
    r.numCachedBlocks = Math.max(from, full);
    return Math.max(0, full - from);
  }

  /** Counts one admission's lookup: `queried` tokens, of which `hit` were found. */
  countLookup(queried: number, hit: number): void {
    this.prefixCacheStats.requests++;
    this.prefixCacheStats.queries += queried;
    this.prefixCacheStats.hits += hit;
  }

  /** Frees all of the request's blocks (tail first) and forgets it. Returns how many it held. */
  free(requestId: string): number {
    const r = this.requests.get(requestId);
    if (!r) return 0;
    this.requests.delete(requestId);
    this.pool.free(r.blockIds.slice().reverse());
    return r.blockIds.length;
  }

  /**
   * Slots of the request's tokens at positions [start, start + count), written into `out` from
   * `outOffset` (a new array when `out` is omitted). The positions must have reserved slots.
   */
  slotMapping(requestId: string, start: number, count: number, out?: Uint32Array, outOffset = 0): Uint32Array {
    const r = this.requests.get(requestId);
    const numTokens = r ? r.numTokens : 0;
    if (!Number.isInteger(start) || !Number.isInteger(count) || start < 0 || count < 0 || start + count > numTokens) {
      throw new KvCacheError(`KvCacheManager.slotMapping(${requestId}): positions [${start}, ${start + count}) outside [0, ${numTokens})`);
    }
    const dst = out ?? new Uint32Array(count);
    if (outOffset + count > dst.length) throw new KvCacheError(`KvCacheManager.slotMapping: output too short`);
    const bs = this.blockSize;
    for (let i = 0; i < count; i++) {
      const p = start + i;
      dst[outOffset + i] = r!.blockIds[Math.floor(p / bs)] * bs + (p % bs);
    }
    return dst;
  }

  /**
   * Throws if any request's table has the wrong length or holds a block twice, a block's count
   * differs from the number of requests holding it, a shared block is not a registered (full,
   * read-only) one, or the pool's used blocks are not exactly the held ones. O(numBlocks), for tests.
   */
  checkInvariants(): void {
    this.pool.checkInvariants();
    const holders = new Map<number, number>();
    for (const [id, r] of this.requests) {
      if (r.blockIds.length !== this.blocksForTokens(r.numTokens)) {
        throw new KvCacheError(`KvCacheManager: ${id} has ${r.blockIds.length} blocks for ${r.numTokens} tokens`);
      }
      if (new Set(r.blockIds).size !== r.blockIds.length) throw new KvCacheError(`KvCacheManager: ${id} holds a block twice`);
      for (const b of r.blockIds) holders.set(b, (holders.get(b) ?? 0) + 1);
    }
    for (const [b, n] of holders) {
      if (this.pool.refCount(b) !== n) throw new BlockPoolError(`KvCacheManager: block ${b} has refCount ${this.pool.refCount(b)}, held by ${n} requests`);
      if (n > 1 && this.pool.blockHash(b) === null) throw new KvCacheError(`KvCacheManager: block ${b} is shared by ${n} requests but not a cached block`);
    }
    if (holders.size !== this.pool.numUsedBlocks) {
      throw new KvCacheError(`KvCacheManager: ${holders.size} blocks held but ${this.pool.numUsedBlocks} in use`);
    }
  }
}

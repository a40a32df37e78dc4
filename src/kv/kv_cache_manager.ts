// Per-request block tables on one token-parallel rank. A request's cache holds `numTokens`
// tokens (those whose k/v are written or about to be written this step); token p lives in block
// `blockTable[floor(p / blockSize)]` at offset `p % blockSize`, i.e. slot
// `blockTable[floor(p / blockSize)] * blockSize + p % blockSize` (docs/KERNELS.md "Paged KV
// cache"). `allocate` grows a request by some tokens, appending blocks when its last block fills;
// `free` gives all of them back. No prefix caching: every block belongs to exactly one request,
// but the pool's reference counts leave room for sharing blocks later.
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
}

export class KvCacheManager {
  readonly pool: BlockPool;
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

  get numFreeBlocks(): number {
    return this.pool.numFreeBlocks;
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

  /** New blocks that growing the request by `numNewTokens` would take from the pool. */
  numNewBlocksNeeded(requestId: string, numNewTokens: number): number {
    const r = this.requests.get(requestId);
    const have = r ? r.blockIds.length : 0;
    return Math.max(0, this.blocksForTokens((r ? r.numTokens : 0) + numNewTokens) - have);
  }

  canAllocate(requestId: string, numNewTokens: number): boolean {
    return this.numNewBlocksNeeded(requestId, numNewTokens) <= this.pool.numFreeBlocks;
  }

  /**
   * Reserves slots for the request's next `numNewTokens` tokens (positions numTokens ..
   * numTokens + numNewTokens - 1), appending blocks as needed. Returns the appended block ids.
   * Throws a KvCacheError (and changes nothing) when the pool has too few free blocks.
   */
  allocate(requestId: string, numNewTokens: number): number[] {
    if (!Number.isInteger(numNewTokens) || numNewTokens < 0) {
      throw new KvCacheError(`KvCacheManager.allocate(${requestId}): bad token count ${numNewTokens}`);
    }
    const need = this.numNewBlocksNeeded(requestId, numNewTokens);
    if (need > this.pool.numFreeBlocks) {
      throw new KvCacheError(
        `KvCacheManager.allocate(${requestId}, ${numNewTokens}): needs ${need} blocks, ${this.pool.numFreeBlocks} free`,
      );
    }
    let r = this.requests.get(requestId);
    if (!r) {
      r = { blockIds: [], numTokens: 0 };
      this.requests.set(requestId, r);
    }
    const blocks = this.pool.allocate(need);
    for (const b of blocks) r.blockIds.push(b);
    r.numTokens += numNewTokens;
    return blocks;
  }

  /** Frees all of the request's blocks (tail first) and forgets it. Returns how many were freed. */
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
   * Throws if any request's table has the wrong length, a block is owned twice or has a count
   * other than 1, or the pool's used blocks are not exactly the owned ones. O(numBlocks), for tests.
   */
  checkInvariants(): void {
    this.pool.checkInvariants();
    const owner = new Map<number, string>();
    for (const [id, r] of this.requests) {
      if (r.blockIds.length !== this.blocksForTokens(r.numTokens)) {
        throw new KvCacheError(`KvCacheManager: ${id} has ${r.blockIds.length} blocks for ${r.numTokens} tokens`);
      }
      for (const b of r.blockIds) {
        const prev = owner.get(b);
        if (prev !== undefined) throw new KvCacheError(`KvCacheManager: block ${b} owned by ${prev} and ${id}`);
        owner.set(b, id);
        if (this.pool.refCount(b) !== 1) throw new BlockPoolError(`KvCacheManager: block ${b} has refCount ${this.pool.refCount(b)}`);
      }
    }
    if (owner.size !== this.pool.numUsedBlocks) {
      throw new KvCacheError(`KvCacheManager: ${owner.size} blocks owned but ${this.pool.numUsedBlocks} in use`);
    }
  }
}

// The physical KV-cache blocks of one token-parallel rank: reference counts, two free lists and
// the prefix cache's hash → block map. Block ids are rank-local, in [0, numBlocks).
//
// A block is free exactly when its reference count is 0. A free block sits in exactly one of:
//   - `empty`: it holds no cached prefix (never filled, or its contents were evicted). FIFO.
//   - `cached`: it still holds a full block registered under its hash (`cacheBlock`), so a later
//     request with the same prefix can take it back (`touch`) instead of recomputing it. Kept in
//     the order the blocks were freed: the least recently used one is evicted first.
// `allocate` takes empty blocks first and evicts cached ones (dropping their hash) only when no
// empty block is left, so cached contents live as long as the memory allows. A block in use may
// be shared by several requests (count > 1): only full, registered blocks are ever shared, and
// no request writes into a block another holds, so no copy-on-write is needed. Callers free a
// request's blocks tail first, so its last blocks (the least reusable) are evicted first.
// Every operation is O(blocks touched); `checkInvariants` is O(numBlocks), for tests.
import { BlockList } from './block_list.js';
import type { BlockHash } from './block_hash.js';

/** A block-pool invariant would be broken: double free, unknown block, or more blocks than free. */
export class BlockPoolError extends Error {
  override readonly name = 'BlockPoolError';
}

export class BlockPool {
  readonly numBlocks: number;
  private readonly refCounts: Int32Array; // [numBlocks]
  private readonly empty: BlockList; // free blocks without cached contents, oldest first
  private readonly cached: BlockList; // free blocks with cached contents, least recently freed first
  private readonly hashes: (BlockHash | null)[]; // [numBlocks] the hash a block is registered under
  private readonly byHash = new Map<BlockHash, number>();
  /** Cached blocks evicted (their hash dropped) to make room, since the pool was made. */
  numEvictions = 0;

  constructor(numBlocks: number) {
    if (!Number.isInteger(numBlocks) || numBlocks < 0) {
      throw new BlockPoolError(`BlockPool: numBlocks must be an integer >= 0, got ${numBlocks}`);
    }
    this.numBlocks = numBlocks;
    this.refCounts = new Int32Array(numBlocks);
    this.empty = new BlockList(numBlocks);
    this.cached = new BlockList(numBlocks);
    this.hashes = new Array<BlockHash | null>(numBlocks).fill(null);
    for (let b = 0; b < numBlocks; b++) this.empty.pushBack(b);
  }

  /** Free blocks, evictable cached ones included. */
  get numFreeBlocks(): number {
    return this.empty.size + this.cached.size;
  }

  get numUsedBlocks(): number {
    return this.numBlocks - this.numFreeBlocks;
  }

  /** Blocks registered in the prefix cache (in use or evictable). */
  get numCachedBlocks(): number {
    return this.byHash.size;
  }

  /** Free blocks that still hold cached contents (evicted when a block is needed). */
  get numEvictableBlocks(): number {
    return this.cached.size;
  }

  refCount(blockId: number): number {
    this.checkId(blockId);
    return this.refCounts[blockId];
  }

  /** The hash a block is registered under, or null. */
  blockHash(blockId: number): BlockHash | null {
    this.checkId(blockId);
    return this.hashes[blockId];
  }

  /** The block registered under `hash`, or undefined. */
  lookup(hash: BlockHash): number | undefined {
    return this.byHash.get(hash);
  }

  /** Takes `n` free blocks (each with reference count 1): empty ones first, then evicts cached ones, oldest first. */
  allocate(n: number): number[] {
    if (!Number.isInteger(n) || n < 0) throw new BlockPoolError(`BlockPool.allocate: bad count ${n}`);
    if (n > this.numFreeBlocks) {
      throw new BlockPoolError(`BlockPool.allocate: ${n} blocks requested, ${this.numFreeBlocks} free of ${this.numBlocks}`);
    }
    const out = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      let b = this.empty.popFront();
      if (b === -1) {
        b = this.cached.popFront();
        this.byHash.delete(this.hashes[b]!);
        this.hashes[b] = null;
        this.numEvictions++;
      }
      if (this.refCounts[b] !== 0) throw new BlockPoolError(`BlockPool: free list held block ${b} with refCount ${this.refCounts[b]}`);
      this.refCounts[b] = 1;
      out[i] = b;
    }
    return out;
  }

  /** Adds a reference to blocks that are already allocated (sharing). */
  incRef(blockIds: readonly number[]): void {
    for (const b of blockIds) {
      this.checkId(b);
      if (this.refCounts[b] < 1) throw new BlockPoolError(`BlockPool.incRef: block ${b} is free`);
    }
    for (const b of blockIds) this.refCounts[b]++;
  }

  /**
   * Adds a reference to cached blocks found by `lookup` (a prefix-cache hit): a free one leaves
   * the evictable list. Throws (changing nothing) for a block that holds no cached contents.
   */
  touch(blockIds: readonly number[]): void {
    for (const b of blockIds) {
      this.checkId(b);
      if (this.hashes[b] === null) throw new BlockPoolError(`BlockPool.touch: block ${b} is not cached`);
    }
    for (const b of blockIds) {
      if (this.refCounts[b] === 0) this.cached.remove(b);
      this.refCounts[b]++;
    }
  }

  /**
   * Registers an allocated block's (full, computed) contents under `hash`. Returns false and
   * changes nothing when the block already has a hash or another block holds this one (two
   * requests that computed the same block: the first stays the cached copy).
   */
  cacheBlock(blockId: number, hash: BlockHash): boolean {
    this.checkId(blockId);
    if (this.refCounts[blockId] < 1) throw new BlockPoolError(`BlockPool.cacheBlock: block ${blockId} is free`);
    if (this.hashes[blockId] !== null || this.byHash.has(hash)) return false;
    this.hashes[blockId] = hash;
    this.byHash.set(hash, blockId);
    return true;
  }

  /**
   * Drops one reference from each block, in the given order; a block whose count reaches 0 joins
   * the back of its free list (cached or empty). Freeing a free block throws (the count never
   * goes negative).
   */
  free(blockIds: readonly number[]): void {
    for (const b of blockIds) {
      this.checkId(b);
      if (this.refCounts[b] < 1) throw new BlockPoolError(`BlockPool.free: block ${b} is already free`);
      if (--this.refCounts[b] === 0) (this.hashes[b] === null ? this.empty : this.cached).pushBack(b);
    }
  }

  /** Throws a BlockPoolError if the lists, counts and hashes disagree anywhere. O(numBlocks). */
  checkInvariants(): void {
    const where = new Uint8Array(this.numBlocks); // 1 empty, 2 cached
    for (const [list, tag] of [[this.empty, 1], [this.cached, 2]] as const) {
      const blocks = list.toArray();
      if (blocks.length !== list.size) throw new BlockPoolError(`BlockPool: a free list holds ${blocks.length} blocks, counted ${list.size}`);
      for (const b of blocks) {
        if (where[b]) throw new BlockPoolError(`BlockPool: block ${b} is in the free lists twice`);
        where[b] = tag;
      }
    }
    for (let b = 0; b < this.numBlocks; b++) {
      const rc = this.refCounts[b];
      const h = this.hashes[b];
      if (rc < 0) throw new BlockPoolError(`BlockPool: block ${b} has refCount ${rc}`);
      if ((rc === 0) !== (where[b] !== 0)) {
        throw new BlockPoolError(`BlockPool: block ${b} has refCount ${rc} but is ${where[b] ? '' : 'not '}in a free list`);
      }
      if (where[b] !== 0 && (where[b] === 2) !== (h !== null)) throw new BlockPoolError(`BlockPool: free block ${b} is in the wrong list for its hash ${h}`);
      if (h !== null && this.byHash.get(h) !== b) throw new BlockPoolError(`BlockPool: block ${b}'s hash maps to block ${this.byHash.get(h)}`);
    }
    for (const [h, b] of this.byHash) if (this.hashes[b] !== h) throw new BlockPoolError(`BlockPool: hash of block ${b} is not registered as its own`);
  }

  private checkId(b: number): void {
    if (!Number.isInteger(b) || b < 0 || b >= this.numBlocks) {
      throw new BlockPoolError(`BlockPool: block id ${b} outside [0, ${this.numBlocks})`);
    }
  }
}

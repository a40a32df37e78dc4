// The physical KV-cache blocks of one token-parallel rank: a free queue and reference counts.
// Block ids are rank-local, in [0, numBlocks). A block is free exactly when its reference count
// is 0, and a free block sits in the free queue exactly once. Every allocated block has a count
// of 1 today; counts above 1 (`incRef`) are there for sharing blocks between requests, which a
// prefix cache would do.
//
// The free queue is FIFO (a ring buffer): the block freed longest ago is handed out first. vLLM
// orders its free queue the same way, so that a prefix cache added later can keep freed blocks
// with reusable contents alive for as long as possible before evicting them. Callers free a
// request's blocks tail first for the same reason (its last blocks are the least reusable).
// Every operation is O(blocks touched); `checkInvariants` is O(numBlocks), for tests.

/** A block-pool invariant would be broken: double free, unknown block, or more blocks than free. */
export class BlockPoolError extends Error {
  override readonly name = 'BlockPoolError';
}

export class BlockPool {
  readonly numBlocks: number;
  private readonly refCounts: Int32Array; // [numBlocks]
  private readonly queue: Int32Array; // [numBlocks] ring buffer of free block ids
  private readonly inQueue: Uint8Array; // [numBlocks] 1 while the block is in the free queue
  private head = 0; // index in `queue` of the next block to hand out
  private count = 0; // number of free blocks

  constructor(numBlocks: number) {
    if (!Number.isInteger(numBlocks) || numBlocks < 0) {
      throw new BlockPoolError(`BlockPool: numBlocks must be an integer >= 0, got ${numBlocks}`);
    }
    this.numBlocks = numBlocks;
    this.refCounts = new Int32Array(numBlocks);
    this.queue = new Int32Array(numBlocks);
    this.inQueue = new Uint8Array(numBlocks);
    for (let b = 0; b < numBlocks; b++) this.pushFree(b);
  }

  get numFreeBlocks(): number {
    return this.count;
  }

  get numUsedBlocks(): number {
    return this.numBlocks - this.count;
  }

  refCount(blockId: number): number {
    this.checkId(blockId);
    return this.refCounts[blockId];
  }

  /** Takes `n` free blocks (each with reference count 1), oldest-freed first. */
  allocate(n: number): number[] {
    if (!Number.isInteger(n) || n < 0) throw new BlockPoolError(`BlockPool.allocate: bad count ${n}`);
    if (n > this.count) {
      throw new BlockPoolError(`BlockPool.allocate: ${n} blocks requested, ${this.count} free of ${this.numBlocks}`);
    }
    const out = new Array<number>(n);
    for (let i = 0; i < n; i++) {
      const b = this.queue[this.head];
      this.head = this.head + 1 === this.numBlocks ? 0 : this.head + 1;
      this.count--;
      if (this.inQueue[b] !== 1 || this.refCounts[b] !== 0) {
        throw new BlockPoolError(`BlockPool: free queue held block ${b} with refCount ${this.refCounts[b]}`);
      }
      this.inQueue[b] = 0;
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
   * Drops one reference from each block, in the given order; a block whose count reaches 0 joins
   * the back of the free queue. Freeing a free block throws (the count never goes negative).
   */
  free(blockIds: readonly number[]): void {
    for (const b of blockIds) {
      this.checkId(b);
      if (this.refCounts[b] < 1) throw new BlockPoolError(`BlockPool.free: block ${b} is already free`);
      if (--this.refCounts[b] === 0) this.pushFree(b);
    }
  }

  /** Throws a BlockPoolError if the queue and the counts disagree anywhere. O(numBlocks). */
  checkInvariants(): void {
    const seen = new Uint8Array(this.numBlocks);
    for (let i = 0; i < this.count; i++) {
      const b = this.queue[(this.head + i) % this.numBlocks];
      if (seen[b]) throw new BlockPoolError(`BlockPool: block ${b} is in the free queue twice`);
      seen[b] = 1;
    }
    for (let b = 0; b < this.numBlocks; b++) {
      const rc = this.refCounts[b];
      if (rc < 0) throw new BlockPoolError(`BlockPool: block ${b} has refCount ${rc}`);
      if ((rc === 0) !== (seen[b] === 1)) {
        throw new BlockPoolError(`BlockPool: block ${b} has refCount ${rc} but is ${seen[b] ? '' : 'not '}in the free queue`);
      }
      if (this.inQueue[b] !== seen[b]) throw new BlockPoolError(`BlockPool: block ${b} queue flag disagrees with the queue`);
    }
  }

  private pushFree(b: number): void {
    if (this.inQueue[b]) throw new BlockPoolError(`BlockPool: block ${b} freed while already in the free queue`);
    if (this.count === this.numBlocks) throw new BlockPoolError('BlockPool: free queue overflow');
    this.queue[(this.head + this.count) % this.numBlocks] = b;
    this.inQueue[b] = 1;
    this.count++;
  }

  private checkId(b: number): void {
    if (!Number.isInteger(b) || b < 0 || b >= this.numBlocks) {
      throw new BlockPoolError(`BlockPool: block id ${b} outside [0, ${this.numBlocks})`);
    }
  }
}

// An intrusive doubly linked list of block ids in [0, capacity), in insertion order: O(1)
// pushBack, popFront, remove from anywhere and membership. The block pool keeps its free
// blocks in two of them (blocks that hold no cached prefix, and evictable cached blocks in
// least-recently-freed order), and a cache hit takes a block out of the middle of the second.
// Links live in two Int32Arrays (slot `capacity` is the sentinel), so the list allocates once.

export class BlockList {
  private readonly prev: Int32Array; // [capacity + 1]; -1: not in the list
  private readonly next: Int32Array; // [capacity + 1]; -1: not in the list
  private readonly sentinel: number;
  private count = 0;

  constructor(readonly capacity: number) {
    this.prev = new Int32Array(capacity + 1).fill(-1);
    this.next = new Int32Array(capacity + 1).fill(-1);
    this.sentinel = capacity;
    this.prev[capacity] = capacity;
    this.next[capacity] = capacity;
  }

  get size(): number {
    return this.count;
  }

  has(b: number): boolean {
    return this.next[b] !== -1;
  }

  /** The first block (the one pushed longest ago), or -1 when empty. */
  front(): number {
    return this.count === 0 ? -1 : this.next[this.sentinel];
  }

  /** Appends a block that is not in the list (the caller checks). */
  pushBack(b: number): void {
    const last = this.prev[this.sentinel];
    this.prev[b] = last;
    this.next[b] = this.sentinel;
    this.next[last] = b;
    this.prev[this.sentinel] = b;
    this.count++;
  }

  /** Unlinks a block that is in the list (the caller checks). */
  remove(b: number): void {
    const p = this.prev[b];
    const n = this.next[b];
    this.next[p] = n;
    this.prev[n] = p;
    this.prev[b] = -1;
    this.next[b] = -1;
    this.count--;
  }

  /** Removes and returns the first block, or -1 when empty. */
  popFront(): number {
    const b = this.front();
    if (b !== -1) this.remove(b);
    return b;
  }

  /** The blocks front to back (O(size); for invariant checks and tests). */
  toArray(): number[] {
    const out: number[] = [];
    for (let b = this.next[this.sentinel]; b !== this.sentinel && out.length <= this.count; b = this.next[b]) out.push(b);
    return out;
  }
}

// Reuses GPU buffers by size class (powers of two) and usage, so per-step scratch, uniform
// arenas and readback staging buffers are not created and destroyed every step.
//
// Determinism of the reuse: `acquire` always hands out the free buffer that was created first.
// A decode step that repeats the previous step's calls then gets the same buffers in the same
// order (everything is released once a step's work is done), so its bind groups are cache hits
// (BindGroupCache keys on the buffers). With a last-in-first-out list the order would depend on
// the order in which the GPU's completion callbacks released them.

export class BufferPool {
  /** Free buffers by size class, then usage (numbers: a lookup builds no key), each list in creation order. */
  private readonly free = new Map<number, Map<number, GPUBuffer[]>>();
  private readonly seq = new WeakMap<GPUBuffer, number>();
  private readonly hostMirrors = new WeakMap<GPUBuffer, ArrayBuffer>();
  private created = 0;
  constructor(private readonly device: GPUDevice) {}

  private static sizeClass(bytes: number): number {
    return Math.max(256, 2 ** Math.ceil(Math.log2(Math.max(bytes, 1))));
  }

  acquire(bytes: number, usage: GPUBufferUsageFlags, label = 'pooled'): GPUBuffer {
    const size = BufferPool.sizeClass(bytes);
    const b = this.free.get(size)?.get(usage)?.shift();
    if (b) return b;
    const created = this.device.createBuffer({ size, usage, label });
    this.seq.set(created, this.created++);
    return created;
  }

  release(buffer: GPUBuffer): void {
    const size = buffer.size;
    const usage = buffer.usage;
    let byUsage = this.free.get(size);
    if (!byUsage) this.free.set(size, (byUsage = new Map()));
    let list = byUsage.get(usage);
    if (!list) byUsage.set(usage, (list = []));
    // Keep the list in creation order (lists are short: a few buffers per size class).
    const s = this.seq.get(buffer) ?? Infinity;
    let i = list.length;
    while (i > 0 && (this.seq.get(list[i - 1]) ?? Infinity) > s) i--;
    list.splice(i, 0, buffer);
  }

  /**
   * Host memory of `buffer`'s size that lives as long as the buffer (a uniform arena's CPU copy),
   * so a decode step (8+ arenas of 64 KiB) allocates none.
   */
  hostMirror(buffer: GPUBuffer): ArrayBuffer {
    let data = this.hostMirrors.get(buffer);
    if (!data) this.hostMirrors.set(buffer, (data = new ArrayBuffer(buffer.size)));
    return data;
  }

  destroy(): void {
    for (const byUsage of this.free.values()) for (const list of byUsage.values()) for (const b of list) b.destroy();
    this.free.clear();
  }
}

// Reuses GPU buffers by size class (powers of two) and usage, so per-step scratch and
// readback staging buffers are not created and destroyed every step.

export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  constructor(private readonly device: GPUDevice) {}

  private static sizeClass(bytes: number): number {
    return Math.max(256, 2 ** Math.ceil(Math.log2(Math.max(bytes, 1))));
  }

  acquire(bytes: number, usage: GPUBufferUsageFlags, label = 'pooled'): GPUBuffer {
    const size = BufferPool.sizeClass(bytes);
    const list = this.free.get(`${usage}:${size}`);
    const b = list?.pop();
    return b ?? this.device.createBuffer({ size, usage, label });
  }

  release(buffer: GPUBuffer): void {
    const key = `${buffer.usage}:${buffer.size}`;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(buffer);
  }

  destroy(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    this.free.clear();
  }
}

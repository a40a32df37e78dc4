// Long-lived input buffers shared by the cases of one benchmark run. A case that allocates and
// frees its own gigabyte-sized tensors leaves the device's memory fragmented for the next one, and
// on the H100 through Vulkan the same kernel on the same shape then ran up to 3-4× slower from one
// case to the next (bench/RESULTS.md, 2026-11-25): the engine allocates its weights and KV cache
// once at start-up, so the benchmark does the same. Slots are allocated on first use, at least
// `capacityBytes` large, and only grow (reallocate) when a later case needs more.
import type { Gpu } from '../gpu/gpu.js';
import { byteSize, type DType, type Tensor } from '../gpu/tensor.js';

export class BenchArena {
  private readonly slots = new Map<string, GPUBuffer>();
  constructor(private readonly gpu: Gpu) {}

  /** A tensor of this shape at offset 0 of slot `slot` (contents: whatever the last case left). */
  tensor(slot: string, shape: readonly number[], dtype: DType, capacityBytes = 0): Tensor {
    const need = byteSize({ shape, dtype });
    let buf = this.slots.get(slot);
    if (!buf || buf.size < need) {
      buf?.destroy();
      const size = Math.ceil(Math.max(need, capacityBytes) / 16) * 16;
      buf = this.gpu.tensor([size / 2], 'f16', `arena:${slot}`).buffer;
      this.slots.set(slot, buf);
    }
    return { buffer: buf, dtype, shape: [...shape], offset: 0 };
  }

  destroy(): void {
    for (const b of this.slots.values()) b.destroy();
    this.slots.clear();
  }
}

// The paged KV cache of one rank: per layer a key and a value tensor of
// [numBlocks, numKvHeads, blockSize, headDim] f16 (docs/KERNELS.md).
import type { Gpu } from '../gpu/gpu.js';
import type { Tensor } from '../gpu/tensor.js';
import { BLOCK_SIZE } from '../kv/kv_cache_manager.js';

export { BLOCK_SIZE };

export interface KvCacheShape {
  readonly numLayers: number;
  readonly numKvHeads: number;
  readonly headDim: number;
}

/** Bytes one block takes across all layers (keys and values). */
export function bytesPerBlock(s: KvCacheShape): number {
  return s.numLayers * 2 * s.numKvHeads * BLOCK_SIZE * s.headDim * 2;
}

export class KvCache {
  private constructor(
    readonly numBlocks: number,
    private readonly layers: readonly { k: Tensor; v: Tensor }[],
  ) {}

  /** Allocates the cache under error scopes (throws GpuOutOfMemoryError when it does not fit). */
  static async allocate(gpu: Gpu, s: KvCacheShape, numBlocks: number): Promise<KvCache> {
    const shape = [numBlocks, s.numKvHeads, BLOCK_SIZE, s.headDim];
    const layers: { k: Tensor; v: Tensor }[] = [];
    for (let i = 0; i < s.numLayers; i++) {
      layers.push({ k: await gpu.allocate(shape, 'f16', `kCache.${i}`), v: await gpu.allocate(shape, 'f16', `vCache.${i}`) });
    }
    return new KvCache(numBlocks, layers);
  }

  layer(i: number): { k: Tensor; v: Tensor } {
    return this.layers[i];
  }

  destroy(): void {
    for (const l of this.layers) {
      l.k.buffer.destroy();
      l.v.buffer.destroy();
    }
  }
}

// How many KV blocks a rank gets. WebGPU cannot report free device memory, so the budget is
// gpuMemoryUtilization × the device's memory (from the config, nvidia-smi on NVIDIA, or a
// conservative default for software adapters) minus what the weights and activations take;
// an explicit kvCacheBytes overrides it. The result is capped by the largest storage binding
// (one layer's K or V tensor must fit one binding) and by what maxNumSeqs full-length
// sequences could ever use.
import { execFileSync } from 'node:child_process';
import type { Gpu } from '../gpu/gpu.js';
import { BLOCK_SIZE, bytesPerBlock, KvCache, type KvCacheShape } from '../model/kv_cache.js';

export class KvCacheSizeError extends Error {
  override readonly name = 'KvCacheSizeError';
}

/** Unknown devices: assume this much device memory. */
const DEFAULT_DEVICE_BYTES = 2 * 2 ** 30;
/** Software adapters (lavapipe) share system memory and zero it slowly: keep the cache small. */
const SOFTWARE_DEVICE_BYTES = 512 * 2 ** 20;

/** Total memory of the device in bytes, best effort. */
export function deviceMemoryBytes(gpu: Gpu, override?: number): { bytes: number; source: string } {
  if (override) return { bytes: override, source: 'configured' };
  if (gpu.caps.vendor.toLowerCase().includes('nvidia')) {
    try {
      const index = process.env.CUDA_VISIBLE_DEVICES?.split(',')[0] ?? '0';
      const out = execFileSync('nvidia-smi', ['--query-gpu=memory.total', '--format=csv,noheader,nounits', '-i', index], { encoding: 'utf8', timeout: 5000 });
      const mib = Number(out.trim().split('\n')[0]);
      if (mib > 0) return { bytes: mib * 2 ** 20, source: 'nvidia-smi' };
    } catch {
      // fall through to the default
    }
  }
  const software = gpu.software;
  const bytes = software ? SOFTWARE_DEVICE_BYTES : DEFAULT_DEVICE_BYTES;
  return { bytes, source: `assumed for a ${software ? 'software' : 'unknown'} adapter (set gpuMemoryBytes / --gpu-memory to override)` };
}

export interface KvBudgetInput {
  readonly shape: KvCacheShape;
  readonly deviceBytes: number;
  readonly gpuMemoryUtilization: number;
  readonly usedBytes: number; // weights + activations already allocated
  readonly kvCacheBytes?: number;
  readonly maxBindingBytes: number;
  readonly maxNumSeqs: number;
  readonly maxModelLen: number;
}

/** Number of KV blocks for one rank (pure; throws KvCacheSizeError when not even one fits). */
export function kvBlocksFor(x: KvBudgetInput): number {
  const budget = x.kvCacheBytes ?? x.deviceBytes * x.gpuMemoryUtilization - x.usedBytes;
  const perBlock = bytesPerBlock(x.shape);
  const perLayerTensorBlock = x.shape.numKvHeads * BLOCK_SIZE * x.shape.headDim * 2;
  const byBudget = Math.floor(budget / perBlock);
  const byBinding = Math.floor(x.maxBindingBytes / perLayerTensorBlock);
  const byUse = x.maxNumSeqs * Math.ceil(x.maxModelLen / BLOCK_SIZE);
  const n = Math.min(byBudget, byBinding, byUse);
  if (n < 1) {
    throw new KvCacheSizeError(
      `no room for a KV cache: budget ${(budget / 2 ** 20).toFixed(0)} MiB (device ${(x.deviceBytes / 2 ** 20).toFixed(0)} MiB × ${x.gpuMemoryUtilization} − ${(x.usedBytes / 2 ** 20).toFixed(0)} MiB in use), one block needs ${(perBlock / 2 ** 10).toFixed(0)} KiB`,
    );
  }
  return n;
}

/**
 * The longest prompt + output: the request (if any) capped by the model. Every rank computes
 * it the same way — the block-table width of a step must agree across ranks.
 */
export function effectiveMaxModelLen(maxPositionEmbeddings: number, requested?: number): number {
  return Math.min(requested ?? maxPositionEmbeddings, maxPositionEmbeddings);
}

/** Width of a block table for sequences of at most `maxModelLen` tokens. */
export function maxBlocksPerSeqFor(maxModelLen: number): number {
  return Math.ceil(maxModelLen / BLOCK_SIZE);
}

export interface KvBudget {
  readonly gpuMemoryBytes?: number;
  readonly gpuMemoryUtilization: number;
  readonly kvCacheBytes?: number;
  readonly maxNumSeqs: number;
}

/**
 * Sizes this rank's KV cache from its device memory (after `usedBytes` of weights and
 * activations) and allocates it; `log` describes the device memory for the start-up line.
 */
export async function allocateRankKvCache(gpu: Gpu, shape: KvCacheShape, budget: KvBudget, maxModelLen: number, usedBytes: number): Promise<{ cache: KvCache; numBlocks: number; log: string }> {
  const device = deviceMemoryBytes(gpu, budget.gpuMemoryBytes);
  const numBlocks = kvBlocksFor({
    shape,
    deviceBytes: device.bytes,
    gpuMemoryUtilization: budget.gpuMemoryUtilization,
    usedBytes,
    kvCacheBytes: budget.kvCacheBytes,
    maxBindingBytes: Number(gpu.limits.maxStorageBufferBindingSize),
    maxNumSeqs: budget.maxNumSeqs,
    maxModelLen,
  });
  const cache = await KvCache.allocate(gpu, shape, numBlocks);
  return { cache, numBlocks, log: `device memory ${(device.bytes / 2 ** 30).toFixed(1)} GiB (${device.source})` };
}

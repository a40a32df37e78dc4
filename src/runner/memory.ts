// How many KV blocks a rank gets. WebGPU cannot report free device memory, so the budget is
// gpuMemoryUtilization × the device's memory (from the config, nvidia-smi on NVIDIA, or a
// conservative default for software adapters) minus what the weights and activations take;
// an explicit kvCacheBytes overrides it. The result is capped by the largest storage binding
// (one layer's K or V tensor must fit one binding) and by what maxNumSeqs full-length
// sequences could ever use. Before any of it is allocated, checkRankMemory checks the whole
// plan (memory_plan.ts), and a configured device size is checked against what the device has.
import { execFileSync } from 'node:child_process';
import { totalmem } from 'node:os';
import type { Gpu } from '../gpu/gpu.js';
import { BLOCK_SIZE, bytesPerBlock, KvCache, type KvCacheShape } from '../model/kv_cache.js';
import { checkMemoryPlan, gib, MemoryPlanError, type PlanPart } from './memory_plan.js';

export class KvCacheSizeError extends Error {
  override readonly name = 'KvCacheSizeError';
}

/** Unknown devices: assume this much device memory. */
const DEFAULT_DEVICE_BYTES = 2 * 2 ** 30;
/** Software adapters (lavapipe) share system memory and zero it slowly: keep the cache small. */
const SOFTWARE_DEVICE_BYTES = 512 * 2 ** 20;

/** The device's memory as reported by nvidia-smi, or undefined where it cannot be asked. */
function nvidiaSmiBytes(gpu: Gpu): number | undefined {
  if (!gpu.caps.vendor.toLowerCase().includes('nvidia')) return undefined;
  try {
    const index = process.env.CUDA_VISIBLE_DEVICES?.split(',')[0] ?? '0';
    const out = execFileSync('nvidia-smi', ['--query-gpu=memory.total', '--format=csv,noheader,nounits', '-i', index], { encoding: 'utf8', timeout: 5000 });
    const mib = Number(out.trim().split('\n')[0]);
    return mib > 0 ? mib * 2 ** 20 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Total memory of the device in bytes, best effort. A configured size (`override`,
 * --gpu-memory) is taken as given, except that it may not exceed what the device is known to
 * have: nvidia-smi's total, or the host's memory for a software adapter (MemoryPlanError).
 */
export function deviceMemoryBytes(gpu: Gpu, override?: number): { bytes: number; source: string } {
  const smi = nvidiaSmiBytes(gpu);
  const software = gpu.software;
  if (override) {
    const known = smi !== undefined ? { bytes: smi, source: 'nvidia-smi' } : software ? { bytes: totalmem(), source: "the host's memory, which a software adapter uses" } : undefined;
    if (known && override > known.bytes) {
      throw new MemoryPlanError('gpuMemoryBytes', `--gpu-memory ${gib(override)} is more than the device has: ${gib(known.bytes)} (${known.source})`);
    }
    return { bytes: override, source: 'configured' };
  }
  if (smi !== undefined) return { bytes: smi, source: 'nvidia-smi' };
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

/** Host bytes of the block tables and per-step arrays a plan implies (scheduler and step input). */
export function hostPlanParts(maxTokens: number, maxSeqs: number, maxModelLen: number): PlanPart[] {
  const tables = maxSeqs * maxBlocksPerSeqFor(maxModelLen);
  return [
    // A step's block tables (u32) and the requests' block lists (JS numbers, 8 bytes each).
    { what: 'host block tables', bytes: tables * (4 + 8), field: 'maxModelLen' },
    { what: 'host step arrays', bytes: maxTokens * 4 * 4, field: 'maxNumBatchedTokens' },
  ];
}

/**
 * Checks this rank's memory plan (`deviceParts`: every device allocation but the KV cache) before
 * anything big is allocated; returns the device memory for allocateRankKvCache.
 */
export function checkRankMemory(gpu: Gpu, budget: KvBudget, deviceParts: readonly PlanPart[], hostParts: readonly PlanPart[]): DeviceMemory {
  const device = deviceMemoryBytes(gpu, budget.gpuMemoryBytes);
  checkMemoryPlan({
    deviceBytes: device.bytes,
    deviceSource: device.source,
    software: gpu.software,
    gpuMemoryUtilization: budget.gpuMemoryUtilization,
    kvCacheBytes: budget.kvCacheBytes,
    deviceParts,
    hostParts,
    hostMemoryBytes: totalmem(),
    maxBindingBytes: Number(gpu.limits.maxStorageBufferBindingSize),
  });
  return device;
}

export interface DeviceMemory {
  readonly bytes: number;
  readonly source: string;
}

/**
 * Sizes this rank's KV cache from its device memory (after `usedBytes` of weights and
 * activations) and allocates it; `log` describes the device memory for the start-up line.
 */
export async function allocateRankKvCache(gpu: Gpu, shape: KvCacheShape, budget: KvBudget, maxModelLen: number, usedBytes: number, device: DeviceMemory): Promise<{ cache: KvCache; numBlocks: number; log: string }> {
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

// The attention block's prologue for models that RMS-norm each q and k head before RoPE (Qwen3, Gemma 3):
// split of the fused q/k/v projection, the per-head norms, NeoX rotary and, given a cache, the write of
// the attending rows' k/v into the paged KV cache, in one dispatch instead of five (split_qkv, rms_norm
// twice, rotary, reshape_and_cache; see shaders/split_qkv_norm_rotary.wgsl for the rounding).
import type { Recorder } from '../gpu/recorder.js';
import { f32, grid } from '../gpu/recorder.js';
import { expectShape, fail, overlaps, type Tensor } from '../gpu/tensor.js';
import { BLOCK_SIZE, reshapeAndCache } from './reshape_and_cache.js';
import type { KvCacheWrite } from './split_qkv_rotary.js';

const WG = 64;
const MAX_HEAD_DIM = 256;
/** Storage bindings of the variant that writes the cache. */
const CACHE_STORAGE_BINDINGS = 11;

export interface QkNormRotaryOptions {
  readonly rotaryDim: number;
  readonly eps: number;
}

// qkv: [T, (Hq + 2·Hk)·D] f16 -> q: [T, Hq, D], k, v: [T, Hk, D] f16, q and k normed (qNorm, kNorm: [D] f16)
// then rotated (NeoX, dims [0, rotaryDim)); positions: [T] u32; cosSin: [maxPositions, rotaryDim] f32.
// cache: rows t < numCacheRows of k and v also go to slot slotMapping[t] of kCache / vCache.
export function splitQkvNormRotary(
  rec: Recorder,
  qkv: Tensor,
  qNorm: Tensor,
  kNorm: Tensor,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  positions: Tensor,
  cosSin: Tensor,
  opts: QkNormRotaryOptions,
  cache: KvCacheWrite | null,
): void {
  // Every layer calls this once per recorded step: messages are formatted only when a check fails.
  expectShape('splitQkvNormRotary q', q, [-1, -1, -1], 'f16');
  const [T, numQHeads, headDim] = q.shape;
  expectShape('splitQkvNormRotary k', k, [T, -1, headDim], 'f16');
  const numKvHeads = k.shape[1];
  expectShape('splitQkvNormRotary v', v, [T, numKvHeads, headDim], 'f16');
  expectShape('splitQkvNormRotary qkv', qkv, [T, (numQHeads + 2 * numKvHeads) * headDim], 'f16');
  expectShape('splitQkvNormRotary qNorm', qNorm, [headDim], 'f16');
  expectShape('splitQkvNormRotary kNorm', kNorm, [headDim], 'f16');
  expectShape('splitQkvNormRotary positions', positions, [T], 'u32');
  const { rotaryDim, eps } = opts;
  if (!(headDim <= MAX_HEAD_DIM)) fail(`splitQkvNormRotary: headDim must be at most ${MAX_HEAD_DIM}, got ${headDim}`);
  if (!(Number.isInteger(rotaryDim) && rotaryDim >= 2 && rotaryDim % 2 === 0 && rotaryDim <= headDim)) {
    fail(`splitQkvNormRotary: rotaryDim must be even and in [2, headDim=${headDim}], got ${rotaryDim}`);
  }
  if (!(eps > 0 && Number.isFinite(eps))) fail(`splitQkvNormRotary: eps must be a finite number > 0, got ${eps}`);
  expectShape('splitQkvNormRotary cosSin', cosSin, [-1, rotaryDim], 'f32');
  if (overlaps(q, k) || overlaps(q, v) || overlaps(k, v)) fail('splitQkvNormRotary: q, k and v must not overlap');
  for (const out of [q, k, v]) {
    for (const input of [qkv, qNorm, kNorm, positions, cosSin]) if (overlaps(out, input)) fail('splitQkvNormRotary: q, k or v overlaps an input');
  }
  if (cache) {
    const { kCache, vCache, slotMapping } = cache;
    expectShape('splitQkvNormRotary kCache', kCache, [-1, numKvHeads, BLOCK_SIZE, headDim], 'f16');
    expectShape('splitQkvNormRotary vCache', vCache, kCache.shape, 'f16');
    expectShape('splitQkvNormRotary slotMapping', slotMapping, [-1], 'u32');
    if (slotMapping.shape[0] > T) fail(`splitQkvNormRotary: slotMapping has ${slotMapping.shape[0]} rows, more than the ${T} tokens`);
    if (overlaps(kCache, vCache)) fail('splitQkvNormRotary: kCache and vCache overlap');
  }
  if (T === 0) return;

  const gpu = rec.gpu;
  // Where the device cannot bind 11 storage buffers, the cache is written by reshape_and_cache (same bits).
  const fused = cache !== null && gpu.limits.maxStorageBuffersPerShaderStage >= CACHE_STORAGE_BINDINGS ? cache : null;
  const pipeline = gpu.memo(`split_qkv_norm_rotary ${fused ? 1 : 0}`, () => gpu.pipeline('split_qkv_norm_rotary', { defines: fused ? ['CACHE'] : [], constants: { WG } }));
  const numCacheRows = fused ? fused.slotMapping.shape[0] : 0;
  const numSlots = fused ? fused.kCache.shape[0] * BLOCK_SIZE : 0;
  const params = [T, numQHeads, numKvHeads, headDim, rotaryDim, cosSin.shape[0], numCacheRows, numSlots, f32(eps)];
  const tensors = [qkv, qNorm, kNorm, q, k, v, positions, cosSin, ...(fused ? [fused.slotMapping, fused.kCache, fused.vCache] : [])];
  rec.dispatch(pipeline, tensors, params, grid(T * (numQHeads + 2 * numKvHeads)));
  if (cache && !fused) {
    const n = cache.slotMapping.shape[0];
    reshapeAndCache(rec, { ...k, shape: [n, numKvHeads, headDim] }, { ...v, shape: [n, numKvHeads, headDim] }, cache.kCache, cache.vCache, cache.slotMapping);
  }
}

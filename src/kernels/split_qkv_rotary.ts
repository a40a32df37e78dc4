// The attention block's prologue in one dispatch: splits the fused q/k/v projection into q, k and
// v, applies rotary position embedding to q and k and, given a cache, writes the k/v rows of the
// tokens that attend on this rank into the paged KV cache: what split_qkv, rotary and
// reshape_and_cache do in turn, with the same bits (two dispatches fewer per layer).
import type { Recorder } from '../gpu/recorder.js';
import { grid } from '../gpu/recorder.js';
import { expectShape, fail, overlaps, type Tensor } from '../gpu/tensor.js';
import { BLOCK_SIZE, reshapeAndCache } from './reshape_and_cache.js';
import { checkRotaryOptions, rotaryVariant, type RotaryOptions } from './rotary.js';

const WG = 128;
/** Storage bindings of the variant that writes the cache (qkv, q, k, v, positions, cosSin, slotMapping, kCache, vCache). */
const CACHE_STORAGE_BINDINGS = 9;

/** Where rows [0, slotMapping.shape[0]) of a step's keys and values go in the paged KV cache. */
export interface KvCacheWrite {
  readonly kCache: Tensor; // [numBlocks, numKvHeads, 16, headDim] f16
  readonly vCache: Tensor; // [numBlocks, numKvHeads, 16, headDim] f16
  readonly slotMapping: Tensor; // [numCacheRows] u32 (block * 16 + offset; 0xFFFFFFFF = skip), numCacheRows <= T
}

// qkv: [T, (Hq + 2·Hk)·D] f16 (per row: q heads, k heads, v heads) -> q: [T, Hq, D], k, v: [T, Hk, D]
// f16, q and k rotated; positions: [T] u32; cosSin: [maxPositions, rotaryDim] f32 (model/rope.ts).
// cache: rows t < numCacheRows of k and v also go to slot slotMapping[t] of kCache / vCache.
export function splitQkvRotary(
  rec: Recorder,
  qkv: Tensor,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  positions: Tensor,
  cosSin: Tensor,
  opts: RotaryOptions,
  cache: KvCacheWrite | null,
): void {
  // Every layer calls this once per recorded step: messages are formatted only when a check fails.
  expectShape('splitQkvRotary q', q, [-1, -1, -1], 'f16');
  const [T, numQHeads, headDim] = q.shape;
  expectShape('splitQkvRotary k', k, [T, -1, headDim], 'f16');
  const numKvHeads = k.shape[1];
  expectShape('splitQkvRotary v', v, [T, numKvHeads, headDim], 'f16');
  expectShape('splitQkvRotary qkv', qkv, [T, (numQHeads + 2 * numKvHeads) * headDim], 'f16');
  expectShape('splitQkvRotary positions', positions, [T], 'u32');
  checkRotaryOptions('splitQkvRotary', opts, headDim);
  const { rotaryDim, style } = opts;
  expectShape('splitQkvRotary cosSin', cosSin, [-1, rotaryDim], 'f32');
  if (overlaps(q, k) || overlaps(q, v) || overlaps(k, v)) fail('splitQkvRotary: q, k and v must not overlap');
  if (overlaps(qkv, q) || overlaps(qkv, k) || overlaps(qkv, v)) fail('splitQkvRotary: qkv overlaps q, k or v');
  for (const out of [q, k, v]) if (overlaps(out, positions) || overlaps(out, cosSin)) fail('splitQkvRotary: q, k or v overlaps positions or cosSin');
  if (cache) checkCache(cache, T, numKvHeads, headDim, [qkv, q, k, v, positions, cosSin]);
  if (T === 0 || numQHeads + numKvHeads === 0) return;

  const gpu = rec.gpu;
  // Where the device cannot bind 9 storage buffers, the cache is written by reshape_and_cache (same bits).
  const fused = cache !== null && gpu.limits.maxStorageBuffersPerShaderStage >= CACHE_STORAGE_BINDINGS ? cache : null;
  const packed = rotaryVariant(headDim, rotaryDim) === 'packed';
  const itemsPerHead = packed ? rotaryDim / 4 : rotaryDim / 2;
  const headWords = packed ? headDim / 2 : headDim;
  const tailWords = headWords - 2 * itemsPerHead;
  const gptj = style === 'gptj';
  const pipeline = gpu.memo(`split_qkv_rotary ${packed ? 1 : 0} ${gptj ? 1 : 0} ${fused ? 1 : 0}`, () => {
    const defines = [packed && 'PACKED', gptj && 'GPTJ', fused && 'CACHE'].filter((d): d is string => !!d);
    return gpu.pipeline('split_qkv_rotary', { defines, constants: { WG } });
  });
  const items = T * (numQHeads + 2 * numKvHeads) * (itemsPerHead + tailWords);
  const numCacheRows = fused ? fused.slotMapping.shape[0] : 0;
  const numSlots = fused ? fused.kCache.shape[0] * BLOCK_SIZE : 0;
  const params = [T, numQHeads, numKvHeads, headWords, itemsPerHead, tailWords, cosSin.shape[0], numCacheRows, numSlots];
  const tensors = fused ? [qkv, q, k, v, positions, cosSin, fused.slotMapping, fused.kCache, fused.vCache] : [qkv, q, k, v, positions, cosSin];
  rec.dispatch(pipeline, tensors, params, grid(Math.ceil(items / WG)));
  if (cache && !fused) {
    const n = cache.slotMapping.shape[0];
    reshapeAndCache(rec, { ...k, shape: [n, numKvHeads, headDim] }, { ...v, shape: [n, numKvHeads, headDim] }, cache.kCache, cache.vCache, cache.slotMapping);
  }
}

function checkCache(cache: KvCacheWrite, T: number, numKvHeads: number, headDim: number, inputs: readonly Tensor[]): void {
  const { kCache, vCache, slotMapping } = cache;
  if (kCache.shape.length !== 4) fail(`splitQkvRotary: kCache must be [numBlocks, numKvHeads, 16, headDim], got [${kCache.shape}]`);
  const numBlocks = kCache.shape[0];
  expectShape('splitQkvRotary kCache', kCache, [numBlocks, numKvHeads, BLOCK_SIZE, headDim], 'f16');
  expectShape('splitQkvRotary vCache', vCache, [numBlocks, numKvHeads, BLOCK_SIZE, headDim], 'f16');
  expectShape('splitQkvRotary slotMapping', slotMapping, [-1], 'u32');
  if (slotMapping.shape[0] > T) fail(`splitQkvRotary: slotMapping has ${slotMapping.shape[0]} rows, more than the ${T} tokens`);
  if (overlaps(kCache, vCache)) fail('splitQkvRotary: kCache and vCache overlap');
  for (const t of inputs) if (overlaps(kCache, t) || overlaps(vCache, t)) fail('splitQkvRotary: the KV cache overlaps an input or output');
}

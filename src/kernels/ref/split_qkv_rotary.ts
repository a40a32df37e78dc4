// CPU reference for kernels/split_qkv_rotary: the references of its three steps in turn
// (split_qkv, rotary on q and k, reshape_and_cache of the rotated k and the copied v).
import { fromF16, toF16 } from '../../util/f16.js';
import { reshapeAndCacheRef } from './reshape_and_cache.js';
import { rotaryRef, type RotaryRefOptions } from './rotary.js';
import { splitQkvRef } from './split_qkv.js';

export interface KvCacheRef {
  readonly kCache: Uint16Array; // [numBlocks, Hk, 16, D] f16 bits, updated in place
  readonly vCache: Uint16Array;
  readonly slotMapping: Uint32Array; // [numCacheRows]: rows [0, numCacheRows) are cached
}

// qkv: [T, (Hq + 2·Hk)·D] f16 bits -> q [T, Hq, D], k, v [T, Hk, D] as f16 bits
export function splitQkvRotaryRef(
  qkv: Uint16Array,
  T: number,
  numQHeads: number,
  numKvHeads: number,
  headDim: number,
  positions: Uint32Array,
  cosSin: Float32Array,
  opts: RotaryRefOptions,
  cache: KvCacheRef | null,
): { q: Uint16Array; k: Uint16Array; v: Uint16Array } {
  const split = splitQkvRef(qkv, T, numQHeads * headDim, numKvHeads * headDim, (n) => new Uint16Array(n));
  const q = toF16(rotaryRef(fromF16(split.q), numQHeads, headDim, positions, cosSin, opts));
  const k = toF16(rotaryRef(fromF16(split.k), numKvHeads, headDim, positions, cosSin, opts));
  if (cache) {
    const n = cache.slotMapping.length;
    const rowLen = numKvHeads * headDim;
    reshapeAndCacheRef(k.subarray(0, n * rowLen), split.v.subarray(0, n * rowLen), cache.kCache, cache.vCache, cache.slotMapping, numKvHeads, headDim);
  }
  return { q, k, v: split.v };
}

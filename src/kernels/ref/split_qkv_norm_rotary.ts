// CPU reference for kernels/split_qkv_norm_rotary: the references of its steps in turn (split_qkv,
// rms_norm of every q and k head with qNorm / kNorm, NeoX rotary, reshape_and_cache of k and v).
import { fromF16, toF16 } from '../../util/f16.js';
import { reshapeAndCacheRef } from './reshape_and_cache.js';
import { rmsNormRef } from './rms_norm.js';
import { rotaryRef } from './rotary.js';
import { splitQkvRef } from './split_qkv.js';
import type { KvCacheRef } from './split_qkv_rotary.js';

// qkv: [T, (Hq + 2·Hk)·D] f16 bits, qNorm/kNorm: [D] f16 bits -> q [T, Hq, D], k, v [T, Hk, D] f16 bits
export function splitQkvNormRotaryRef(
  qkv: Uint16Array,
  qNorm: Uint16Array,
  kNorm: Uint16Array,
  T: number,
  numQHeads: number,
  numKvHeads: number,
  headDim: number,
  positions: Uint32Array,
  cosSin: Float32Array,
  opts: { readonly rotaryDim: number; readonly eps: number },
  cache: KvCacheRef | null,
): { q: Uint16Array; k: Uint16Array; v: Uint16Array } {
  const split = splitQkvRef(qkv, T, numQHeads * headDim, numKvHeads * headDim, (n) => new Uint16Array(n));
  const rope = { style: 'neox' as const, rotaryDim: opts.rotaryDim };
  const q = toF16(rotaryRef(rmsNormRef(fromF16(split.q), fromF16(qNorm), opts.eps), numQHeads, headDim, positions, cosSin, rope));
  const k = toF16(rotaryRef(rmsNormRef(fromF16(split.k), fromF16(kNorm), opts.eps), numKvHeads, headDim, positions, cosSin, rope));
  if (cache) {
    const n = cache.slotMapping.length;
    const rowLen = numKvHeads * headDim;
    reshapeAndCacheRef(k.subarray(0, n * rowLen), split.v.subarray(0, n * rowLen), cache.kCache, cache.vCache, cache.slotMapping, numKvHeads, headDim);
  }
  return { q, k, v: split.v };
}

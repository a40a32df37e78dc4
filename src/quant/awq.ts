// AWQ checkpoints (AutoAWQ's GEMM packing, quant_method 'awq', version 'gemm') → PackedWeight.
// Per linear of logical weight [N, K] (out, in), group size g along K:
//   qweight: int32 [K, N / 8]  row k holds out-features n, 8 per word, packed along N in AWQ's
//                              interleaved order: the value of feature 8w + j sits in nibble
//                              AWQ_NIBBLE[j] of word w (nibble i holds feature 8w + (0,2,4,6,1,3,5,7)[i]);
//   qzeros:  int32 [K / g, N / 8]  the groups' zero points, packed the same way (stored as is);
//   scales:  f16   [K / g, N];
//   w[n, k] = (q - z) * s, with q, z unsigned 4-bit.
// Repacked here into src/quant/packed_weight.ts's layout: [N, K] packed along K, scales and zeros [N, K / g].
import { CheckpointError } from '../loader/errors.js';
import { f32ToF16Bits } from '../util/f16.js';
import { checkPackable, type PackedWeight } from './packed_weight.js';

/** The nibble holding feature j (0..7) of a word: the inverse of AWQ's packing order (0,2,4,6,1,3,5,7). */
export const AWQ_NIBBLE = [0, 4, 1, 5, 2, 6, 3, 7] as const;

export interface AwqTensors {
  readonly qweight: Uint32Array; // [K, N / 8] (int32 bits)
  readonly qzeros: Uint32Array; // [K / g, N / 8]
  readonly scales: Uint16Array; // [K / g, N] f16 bits
}

/** The 4-bit value of feature n in row `row` of an AWQ-packed [rows, N / 8] tensor. */
export function awqValue(packed: Uint32Array, row: number, n: number, N: number): number {
  return (packed[row * (N / 8) + (n >> 3)] >>> (4 * AWQ_NIBBLE[n & 7])) & 15;
}

/** Repacks one AWQ linear (`module`, in `file`: for messages) of logical shape [N, K] with group g. */
export function unpackAwq(t: AwqTensors, shape: readonly [number, number], g: number, module: string, file: string): PackedWeight {
  const [N, K] = shape;
  checkPackable(shape, 4, g, module);
  if (N % 8 !== 0) throw new CheckpointError(file, `tensor '${module}.qweight': out_features ${N} is not a multiple of 8 (AWQ packs 8 output features to a word)`, `${module}.qweight`);
  const groups = K / g;
  const wordsPerRow = K / 8;
  const qweight = new Uint32Array(N * wordsPerRow);
  for (let k = 0; k < K; k++) {
    const shift = 4 * (k & 7);
    const kw = k >> 3;
    const src = k * (N / 8);
    for (let w = 0; w < N / 8; w++) {
      const word = t.qweight[src + w];
      if (word === 0) continue;
      const base = 8 * w * wordsPerRow + kw;
      for (let j = 0; j < 8; j++) qweight[base + j * wordsPerRow] |= ((word >>> (4 * AWQ_NIBBLE[j])) & 15) << shift;
    }
  }
  const scales = new Uint16Array(N * groups);
  const zeros = new Uint16Array(N * groups);
  for (let gi = 0; gi < groups; gi++) {
    for (let n = 0; n < N; n++) {
      scales[n * groups + gi] = t.scales[gi * N + n];
      zeros[n * groups + gi] = SMALL_INT_F16[awqValue(t.qzeros, gi, n, N)];
    }
  }
  return { bits: 4, symmetric: false, groupSize: g, shape: [N, K], qweight, scales, zeros };
}

/** f16 bits of the integers 0..256 (zero points). */
export const SMALL_INT_F16: Uint16Array = Uint16Array.from({ length: 257 }, (_, i) => f32ToF16Bits(i));

// The CPU form of a quantized linear weight, shared by the loader (which makes it at load or
// repacks AWQ / GPTQ checkpoints into it), the GPU upload and the kernels' tests and references.
// One layout for every format, so that one family of kernels reads them all:
//
//   weight [N, K] (out features, in features), quantized in groups of `groupSize` consecutive
//   k of one row (groupSize = K: per output channel);
//   qweight: Uint32Array [N, K * bits / 32], packed along K, little end first: element k of a row
//            sits in word floor(k / (32 / bits)) at bit bits * (k % (32 / bits));
//   bits 8, symmetric: signed two's-complement int8, w = q * s (zeros null);
//   bits 8, asymmetric: unsigned 0..255, w = (q - z) * s;
//   bits 4: unsigned 0..15, w = (q - z) * s (symmetric 4-bit: zeros null, z = 8);
//   scales: f16 bits, Uint16Array [N, K / groupSize];
//   zeros:  f16 bits of small integers (exact in f16), Uint16Array [N, K / groupSize], or null.
//
// The dequantized value is computed in f32 as (q - z) * s with s the f16 scale widened: exact
// (|q - z| <= 255, s has 11 significant bits), so every kernel and reference agrees on the bits of
// a dequantized weight. K must be a multiple of groupSize and of 32 / bits.
import { f16BitsToF32, toF16 } from '../util/f16.js';

export type QuantBits = 4 | 8;

export interface PackedWeight {
  readonly bits: QuantBits;
  readonly symmetric: boolean;
  readonly groupSize: number;
  readonly shape: readonly [number, number]; // [N, K]
  readonly qweight: Uint32Array; // [N, K * bits / 32]
  readonly scales: Uint16Array; // [N, K / groupSize] f16 bits
  readonly zeros: Uint16Array | null; // [N, K / groupSize] f16 bits, integers
}

export class QuantLayoutError extends Error {
  override readonly name = 'QuantLayoutError';
}

/** Checks that `bits`/`groupSize` can pack a [N, K] weight; throws QuantLayoutError naming the field. */
export function checkPackable(shape: readonly [number, number], bits: QuantBits, groupSize: number, what = 'weight'): void {
  const [N, K] = shape;
  if (!Number.isInteger(N) || !Number.isInteger(K) || N < 1 || K < 1) throw new QuantLayoutError(`${what}: shape [${N}, ${K}] is not a matrix`);
  if (bits !== 4 && bits !== 8) throw new QuantLayoutError(`${what}: bits ${bits} is not supported (4 or 8)`);
  if (!Number.isInteger(groupSize) || groupSize < 1 || K % groupSize !== 0)
    throw new QuantLayoutError(`${what}: group size ${groupSize} does not divide in_features ${K}`);
  const perWord = 32 / bits;
  if (K % perWord !== 0) throw new QuantLayoutError(`${what}: in_features ${K} is not a multiple of ${perWord} (${bits}-bit values packed ${perWord} to a 32-bit word)`);
}

/** The zero point of a group (the implicit one where zeros is null). */
export function zeroPoint(p: PackedWeight, n: number, g: number): number {
  if (p.zeros) return f16BitsToF32(p.zeros[n * (p.shape[1] / p.groupSize) + g]);
  return p.bits === 4 ? 8 : 0;
}

/** The stored integer of element (n, k): signed for symmetric 8-bit, else unsigned. */
export function quantValue(p: PackedWeight, n: number, k: number): number {
  const perWord = 32 / p.bits;
  const word = p.qweight[n * (p.shape[1] / perWord) + Math.floor(k / perWord)];
  const u = (word >>> (p.bits * (k % perWord))) & ((1 << p.bits) - 1);
  return p.bits === 8 && p.symmetric && u >= 128 ? u - 256 : u;
}

/** Dequantized weight [N, K] f32: (q - z) * s, exactly as the kernels compute it. */
export function dequantize(p: PackedWeight): Float32Array {
  const [N, K] = p.shape;
  const groups = K / p.groupSize;
  const out = new Float32Array(N * K);
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < groups; g++) {
      const s = f16BitsToF32(p.scales[n * groups + g]);
      const z = zeroPoint(p, n, g);
      for (let k = g * p.groupSize; k < (g + 1) * p.groupSize; k++) out[n * K + k] = Math.fround((quantValue(p, n, k) - z) * s);
    }
  }
  return out;
}

/** Packs integers q [N, K] (already in the stored range) into words along K. */
export function packValues(q: ArrayLike<number>, shape: readonly [number, number], bits: QuantBits): Uint32Array {
  const [N, K] = shape;
  const perWord = 32 / bits;
  const mask = (1 << bits) - 1;
  const words = new Uint32Array((N * K) / perWord);
  for (let i = 0; i < N * K; i++) words[Math.floor(i / perWord)] |= (q[i] & mask) << (bits * (i % perWord));
  return words;
}

/**
 * Quantizes w [N, K] (f32 values, e.g. widened f16 weights) with round-to-nearest:
 * symmetric: s = max|w| / qmax (qmax 127 for 8 bits, 7 for 4 bits with z = 8), q = round(w / s);
 * asymmetric: s = (max - min) / (2^bits - 1), z = round(-min / s) clamped to the range, q = round(w / s) + z.
 * A group of zeros gets scale 1 (dequantizes to exact zeros). s is rounded to f16 before q is chosen.
 */
export function quantize(w: Float32Array, shape: readonly [number, number], bits: QuantBits, groupSize: number, symmetric: boolean): PackedWeight {
  checkPackable(shape, bits, groupSize);
  const [N, K] = shape;
  const groups = K / groupSize;
  const scales = new Float32Array(N * groups);
  const zeros = symmetric ? null : new Float32Array(N * groups);
  const q = new Int32Array(N * K);
  const levels = (1 << bits) - 1;
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < groups; g++) {
      let lo = Infinity;
      let hi = -Infinity;
      for (let k = g * groupSize; k < (g + 1) * groupSize; k++) {
        lo = Math.min(lo, w[n * K + k]);
        hi = Math.max(hi, w[n * K + k]);
      }
      let s: number;
      let z: number;
      let qmin: number;
      let qmax: number;
      if (symmetric) {
        const half = bits === 8 ? 127 : 7;
        s = Math.max(Math.abs(lo), Math.abs(hi)) / half;
        z = bits === 8 ? 0 : 8;
        [qmin, qmax] = bits === 8 ? [-127, 127] : [0, 15];
      } else {
        lo = Math.min(lo, 0); // the range holds 0, so zero weights stay exact
        hi = Math.max(hi, 0);
        s = (hi - lo) / levels;
        z = s > 0 ? Math.min(levels, Math.max(0, Math.round(-lo / s))) : 0;
        [qmin, qmax] = [0, levels];
      }
      s = f16BitsToF32(toF16([s > 0 && Number.isFinite(s) ? s : 1])[0]);
      scales[n * groups + g] = s;
      if (zeros) zeros[n * groups + g] = z;
      for (let k = g * groupSize; k < (g + 1) * groupSize; k++) q[n * K + k] = Math.min(qmax, Math.max(qmin, Math.round(w[n * K + k] / s) + z));
    }
  }
  return { bits, symmetric, groupSize, shape: [N, K], qweight: packValues(q, shape, bits), scales: toF16(scales), zeros: zeros ? toF16(zeros) : null };
}

/** Bytes a packed weight occupies (qweight + scales + zeros). */
export function packedBytes(p: PackedWeight): number {
  return p.qweight.byteLength + p.scales.byteLength + (p.zeros?.byteLength ?? 0);
}

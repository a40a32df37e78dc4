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
import { f16BitsToF32, f16BitsToF32Fast, f32ToF16Bits } from '../util/f16.js';

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
 * w must be finite (the checkpoint reader refuses NaN and ±Inf).
 */
export function quantize(w: Float32Array, shape: readonly [number, number], bits: QuantBits, groupSize: number, symmetric: boolean): PackedWeight {
  const out = packedFor(shape, bits, groupSize, symmetric);
  const q = new Int32Array(shape[1]);
  for (let n = 0; n < shape[0]; n++) quantizeRow(w, n * shape[1], n, out, q);
  return out;
}

/** quantize() of f16 bit patterns w [N, K], each row widened to f32 once (the same bits as quantize(fromF16(w))). */
export function quantizeF16(w: Uint16Array, shape: readonly [number, number], bits: QuantBits, groupSize: number, symmetric: boolean): PackedWeight {
  const out = packedFor(shape, bits, groupSize, symmetric);
  const [N, K] = shape;
  const row = new Float32Array(K);
  const q = new Int32Array(K);
  for (let n = 0; n < N; n++) {
    for (let k = 0, i = n * K; k < K; k++, i++) row[k] = f16BitsToF32Fast(w[i]);
    quantizeRow(row, 0, n, out, q);
  }
  return out;
}

/** A zeroed packed weight of this format (checked by checkPackable). */
function packedFor(shape: readonly [number, number], bits: QuantBits, groupSize: number, symmetric: boolean): PackedWeight {
  checkPackable(shape, bits, groupSize);
  const [N, K] = shape;
  const groups = N * (K / groupSize);
  return { bits, symmetric, groupSize, shape: [N, K], qweight: new Uint32Array((N * K * bits) / 32), scales: new Uint16Array(groups), zeros: symmetric ? null : new Uint16Array(groups) };
}

/**
 * Row n of `out` from w[at, at + K) (quantize()'s rule; q: scratch [K]). Plain compares instead of
 * Math.min/max, the f16 scale rounded through one table lookup, packed straight from the row.
 */
function quantizeRow(w: Float32Array, at: number, n: number, out: PackedWeight, q: Int32Array): void {
  const { bits, symmetric, groupSize } = out;
  const K = out.shape[1];
  const groups = K / groupSize;
  const levels = (1 << bits) - 1;
  const half = bits === 8 ? 127 : 7;
  const qmin = symmetric && bits === 8 ? -127 : 0;
  const qmax = symmetric ? (bits === 8 ? 127 : 15) : levels;
  for (let g = 0; g < groups; g++) {
    const k0 = at + g * groupSize;
    const k1 = k0 + groupSize;
    let lo = Infinity;
    let hi = -Infinity;
    for (let k = k0; k < k1; k++) {
      const v = w[k];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    let s: number;
    let z: number;
    if (symmetric) {
      const a = lo < 0 ? -lo : lo;
      const b = hi < 0 ? -hi : hi;
      s = (a > b ? a : b) / half;
      z = bits === 8 ? 0 : 8;
    } else {
      if (lo > 0) lo = 0; // the range holds 0, so zero weights stay exact
      if (hi < 0) hi = 0;
      s = (hi - lo) / levels;
      z = 0;
      if (s > 0) {
        z = Math.round(-lo / s);
        z = z > 0 ? (z > levels ? levels : z) : 0; // -0 becomes 0, as Math.max(0, -0) makes it
      }
    }
    const sBits = f32ToF16Bits(s > 0 && s < Infinity ? s : 1);
    s = f16BitsToF32Fast(sBits);
    out.scales[n * groups + g] = sBits;
    if (out.zeros) out.zeros[n * groups + g] = f32ToF16Bits(z);
    for (let k = k0, j = k0 - at; k < k1; k++, j++) {
      const v = Math.round(w[k] / s) + z;
      q[j] = v < qmin ? qmin : v > qmax ? qmax : v;
    }
  }
  packRow(q, K, bits, out.qweight, (n * K * bits) / 32);
}

/** Packs q[0, K) into words at `at` (packValues' layout for one row). */
function packRow(q: Int32Array, K: number, bits: QuantBits, words: Uint32Array, at: number): void {
  if (bits === 4) {
    for (let k = 0, i = at; k < K; k += 8, i++) {
      words[i] = (q[k] & 15) | ((q[k + 1] & 15) << 4) | ((q[k + 2] & 15) << 8) | ((q[k + 3] & 15) << 12) | ((q[k + 4] & 15) << 16) | ((q[k + 5] & 15) << 20) | ((q[k + 6] & 15) << 24) | ((q[k + 7] & 15) << 28);
    }
  } else {
    for (let k = 0, i = at; k < K; k += 4, i++) words[i] = (q[k] & 255) | ((q[k + 1] & 255) << 8) | ((q[k + 2] & 255) << 16) | ((q[k + 3] & 255) << 24);
  }
}

/** Bytes a packed weight occupies (qweight + scales + zeros). */
export function packedBytes(p: PackedWeight): number {
  return p.qweight.byteLength + p.scales.byteLength + (p.zeros?.byteLength ?? 0);
}

// A checkpoint tensor's raw bytes (F16, BF16 or F32, little-endian) as f16 bit patterns, every
// value checked: NaN and ±Inf are errors naming the tensor and the index, as are bf16/f32 values
// beyond f16's ±65504. Pure (no file access), so the at-load quantization threads decode the rows
// they quantize (src/quant/quant_worker.ts) with exactly the checks of Checkpoint.readF16.
import { bf16BitsToF32, f32ToF16Bits } from '../util/f16.js';
import { CheckpointError } from './errors.js';

export const F16_MAX = 65504;

/** The dtypes decodeF16 takes. */
export type FloatDType = 'F16' | 'BF16' | 'F32';

/**
 * raw: the bytes of `name` (or of a run of its elements starting at element `indexBase`, which
 * error messages count from) in `dtype`, from the file at `path`. An F16 tensor whose bytes own
 * their whole ArrayBuffer is returned as a view of it (no copy).
 */
export function decodeF16(path: string, name: string, dtype: FloatDType, raw: Uint8Array, indexBase = 0): Uint16Array {
  switch (dtype) {
    case 'F16': {
      const own = raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength && raw.byteLength % 2 === 0;
      const out = own ? new Uint16Array(raw.buffer, 0, raw.byteLength / 2) : new Uint16Array(raw.byteLength / 2);
      if (!own) new Uint8Array(out.buffer).set(raw);
      checkF16(out, (i) => {
        const what = out[i] & 0x3ff ? 'NaN' : out[i] & 0x8000 ? '-Infinity' : 'Infinity';
        throw new CheckpointError(path, `tensor '${name}' value ${what} at index ${indexBase + i} is not finite; weights must be finite`, name);
      });
      return out;
    }
    case 'BF16': {
      // One table lookup a value; values that f16 cannot hold map to 0x7c00 (no finite value's
      // pattern), which checkF16 finds and the slow path names.
      const src = aligned(raw, 2, (b, o, n) => new Uint16Array(b, o, n));
      const out = new Uint16Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = BF16_TO_F16[src[i]];
      checkF16(out, (i) => outOfRange(path, name, bf16BitsToF32(src[i]), indexBase + i));
      return out;
    }
    case 'F32': {
      const src = aligned(raw, 4, (b, o, n) => new Float32Array(b, o, n));
      const out = new Uint16Array(src.length);
      for (let i = 0; i < src.length; i++) {
        const v = src[i];
        if (!(v <= F16_MAX && v >= -F16_MAX)) outOfRange(path, name, v, indexBase + i);
        out[i] = f32ToF16Bits(v);
      }
      return out;
    }
  }
}

function outOfRange(path: string, name: string, v: number, index: number): never {
  const why = Number.isFinite(v) ? `is outside f16 range (±${F16_MAX}); tknp stores weights in f16` : 'is not finite; weights must be finite';
  throw new CheckpointError(path, `tensor '${name}' value ${v} at index ${index} ${why}`, name);
}

/** raw as `bytes`-wide elements: a view where it is aligned, else a copy. */
function aligned<T>(raw: Uint8Array, bytes: number, make: (b: ArrayBufferLike, offset: number, n: number) => T): T {
  const n = Math.floor(raw.byteLength / bytes);
  if (raw.byteOffset % bytes === 0) return make(raw.buffer, raw.byteOffset, n);
  const copy = new Uint8Array(n * bytes);
  copy.set(raw.subarray(0, n * bytes));
  return make(copy.buffer, 0, n);
}

/** bf16 bits → f16 bits, 0x7c00 where the value is not finite or beyond ±65504 (128 KiB, built once a thread). */
const BF16_TO_F16 = (() => {
  const t = new Uint16Array(65536);
  for (let h = 0; h < 65536; h++) {
    const v = bf16BitsToF32(h);
    t[h] = Math.abs(v) <= F16_MAX ? f32ToF16Bits(v) : 0x7c00;
  }
  return t;
})();

/**
 * f16 bit patterns with an all-ones exponent are ±Inf or NaN. Two halves per u32 word: adding
 * 0x0400 to a half's exponent bits (& 0x7c00) carries into its bit 15 exactly when they are all
 * ones; the sums are OR-ed (four words per iteration) and bit 15 / 31 tested once at the end
 * (~0.4 ns per value; `found` gets the first such index, looked up only when there is one).
 */
function checkF16(bits: Uint16Array, found: (i: number) => never): void {
  const w = new Uint32Array(bits.buffer, bits.byteOffset, bits.length >>> 1);
  const M = 0x7c007c00;
  const A = 0x04000400;
  let acc = bits.length % 2 === 1 ? (bits[bits.length - 1] & 0x7c00) + 0x0400 : 0;
  const l4 = w.length & ~3;
  for (let i = 0; i < l4; i += 4) acc |= ((w[i] & M) + A) | ((w[i + 1] & M) + A) | ((w[i + 2] & M) + A) | ((w[i + 3] & M) + A);
  for (let i = l4; i < w.length; i++) acc |= (w[i] & M) + A;
  if ((acc & 0x80008000) === 0) return;
  for (let i = 0; i < bits.length; i++) if ((bits[i] & 0x7c00) === 0x7c00) found(i);
}

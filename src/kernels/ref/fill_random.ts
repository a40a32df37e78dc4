// CPU reference for kernels/fill_random: the same hash and levels, f32 multiply, f16 rounding
// to nearest even.
import { f32ToF16Bits } from '../../util/f16.js';
import { fillRandomStep, mix32, type FillWindow } from '../fill_random.js';

/** f16 bits of full-tensor element `g` for this key and amplitude. */
export function fillRandomValueRef(g: number, key: number, amplitude: number): number {
  const k = mix32((mix32(g >>> 0) ^ key) >>> 0) >>> 21;
  return f32ToF16Bits(Math.fround((2 * k - 2047) * fillRandomStep(amplitude)));
}

// → [n] f16 bits: elements 0..n-1 of the window (default: a whole tensor of n elements)
export function fillRandomRef(n: number, key: number, amplitude: number, window?: FillWindow): Uint16Array {
  const w = window ?? { base: 0, cols: Math.max(n, 1), fullCols: Math.max(n, 1) };
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = fillRandomValueRef(w.base + Math.floor(i / w.cols) * w.fullCols + (i % w.cols), key, amplitude);
  return out;
}

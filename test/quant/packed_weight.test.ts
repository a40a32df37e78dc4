// The shared quantized-weight layout (src/quant/packed_weight.ts) against hand-worked values.
import { describe, expect, it } from 'vitest';
import { checkPackable, dequantize, packValues, quantValue, quantize, quantizeF16, QuantLayoutError, type PackedWeight, type QuantBits } from '../../src/quant/packed_weight.js';
import { f16BitsToF32, fromF16, toF16 } from '../../src/util/f16.js';
import { Rng } from '../../src/util/rng.js';

describe('packed quantized weights', () => {
  it('packs along K, little end first', () => {
    // 4-bit: row [1, 2, ..., 8] -> 0x87654321; 8-bit signed: [-1, 2, -3, 4] -> 0x04fd02ff
    expect(Array.from(packValues([1, 2, 3, 4, 5, 6, 7, 8], [1, 8], 4))).toEqual([0x87654321]);
    expect(Array.from(packValues([-1, 2, -3, 4], [1, 4], 8))).toEqual([0x04fd02ff]);
  });

  it('reads back signed 8-bit and unsigned 4-bit values with their zero points', () => {
    const p8: PackedWeight = { bits: 8, symmetric: true, groupSize: 4, shape: [1, 4], qweight: Uint32Array.of(0x04fd02ff), scales: toF16([0.5]), zeros: null };
    expect([0, 1, 2, 3].map((k) => quantValue(p8, 0, k))).toEqual([-1, 2, -3, 4]);
    expect(Array.from(dequantize(p8))).toEqual([-0.5, 1, -1.5, 2]);
    const p4: PackedWeight = { bits: 4, symmetric: true, groupSize: 8, shape: [1, 8], qweight: Uint32Array.of(0x87654321), scales: toF16([0.25]), zeros: null };
    expect(Array.from(dequantize(p4))).toEqual([-1.75, -1.5, -1.25, -1, -0.75, -0.5, -0.25, 0]); // (q - 8) * 0.25
    const a4: PackedWeight = { ...p4, symmetric: false, zeros: toF16([3]) };
    expect(Array.from(dequantize(a4))).toEqual([-0.5, -0.25, 0, 0.25, 0.5, 0.75, 1, 1.25]); // (q - 3) * 0.25
  });

  it('quantizes a hand-worked group: symmetric int8 and asymmetric int4', () => {
    // max |w| = 2.54 -> s = 0.02; q = round(w / 0.02) (s is f16: 0.0200042724609375, q unchanged here)
    const w = Float32Array.of(2.54, -1, 0, 0.5);
    const p = quantize(w, [1, 4], 8, 4, true);
    expect([0, 1, 2, 3].map((k) => quantValue(p, 0, k))).toEqual([127, -50, 0, 25]);
    // min -1, max 2 -> s = 3/15 = 0.2 (f16 0.199951171875), z = round(1 / s) = 5
    const w4 = Float32Array.of(-1, 2, 0, 0.4, 1, -0.2, 0.6, 1.4);
    const q4 = quantize(w4, [1, 8], 4, 8, false);
    expect([0, 1, 2, 3, 4, 5, 6, 7].map((k) => quantValue(q4, 0, k))).toEqual([0, 15, 5, 7, 10, 4, 8, 12]);
    const back = dequantize(q4);
    w4.forEach((x, i) => expect(Math.abs(back[i] - x)).toBeLessThanOrEqual(0.1 + 1e-3)); // half a step
  });

  it('refuses layouts it cannot pack, naming the field', () => {
    expect(() => checkPackable([4, 100], 4, 128)).toThrow(QuantLayoutError);
    expect(() => checkPackable([4, 100], 4, 128)).toThrow(/group size 128 does not divide in_features 100/);
    expect(() => checkPackable([4, 12], 4, 12)).toThrow(/not a multiple of 8/);
    expect(() => checkPackable([4, 8], 3 as 4, 8)).toThrow(/bits 3/);
  });

  it('quantize and quantizeF16 give the bits of the plain element-by-element rule on random awkward shapes', () => {
    const rng = new Rng(17);
    const cases: [QuantBits, boolean, number, number, number][] = [
      // bits, symmetric, N, K, groupSize (K: per channel)
      [4, false, 3, 96, 32], [4, false, 7, 128, 128], [4, true, 5, 64, 8], [8, true, 9, 40, 40], [8, false, 1, 24, 8], [4, false, 2, 8, 8], [8, true, 33, 200, 200],
    ];
    for (const [bits, sym, N, K, g] of cases) {
      // f16 weights of mixed scales, with all-zero, all-negative, all-positive and single-value groups
      const w = toF16(Array.from({ length: N * K }, (_, i) => {
        const group = Math.floor(i / g) % 5;
        if (group === 0) return 0;
        const v = rng.normal() * 10 ** rng.int(-3, 1);
        return group === 1 ? -Math.abs(v) : group === 2 ? Math.abs(v) : group === 3 && i % g !== 0 ? 0 : v;
      }));
      const want = plainQuantize(fromF16(w), [N, K], bits, g, sym);
      for (const got of [quantize(fromF16(w), [N, K], bits, g, sym), quantizeF16(w, [N, K], bits, g, sym)]) {
        expect(got.qweight).toEqual(want.qweight);
        expect(got.scales).toEqual(want.scales);
        expect(got.zeros).toEqual(want.zeros);
      }
    }
  });
});

/** quantize()'s rule written out element by element with Math.min/max (the form it had before it was made fast). */
function plainQuantize(w: Float32Array, shape: [number, number], bits: QuantBits, groupSize: number, symmetric: boolean): PackedWeight {
  const [N, K] = shape;
  const groups = K / groupSize;
  const scales: number[] = [];
  const zeros: number[] = [];
  const q = new Int32Array(N * K);
  const levels = (1 << bits) - 1;
  for (let n = 0; n < N; n++) {
    for (let g = 0; g < groups; g++) {
      const vals = Array.from(w.subarray(n * K + g * groupSize, n * K + (g + 1) * groupSize));
      let lo = Math.min(...vals);
      let hi = Math.max(...vals);
      let s: number;
      let z: number;
      if (symmetric) {
        s = Math.max(Math.abs(lo), Math.abs(hi)) / (bits === 8 ? 127 : 7);
        z = bits === 8 ? 0 : 8;
      } else {
        lo = Math.min(lo, 0);
        hi = Math.max(hi, 0);
        s = (hi - lo) / levels;
        z = s > 0 ? Math.min(levels, Math.max(0, Math.round(-lo / s))) : 0;
      }
      s = f16BitsToF32(toF16([s > 0 && Number.isFinite(s) ? s : 1])[0]);
      scales.push(s);
      zeros.push(z);
      const [qmin, qmax] = symmetric ? (bits === 8 ? [-127, 127] : [0, 15]) : [0, levels];
      vals.forEach((v, j) => (q[n * K + g * groupSize + j] = Math.min(qmax, Math.max(qmin, Math.round(v / s) + z))));
    }
  }
  return { bits, symmetric, groupSize, shape, qweight: packValues(q, shape, bits), scales: toF16(scales), zeros: symmetric ? null : toF16(zeros) };
}

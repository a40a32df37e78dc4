// CPU references for the W8A8 kernels: per-token int8 quantization of activations
// (kernels/quantize_rows_int8) and the int8 × int8 product with its epilogue (kernels/w8a8_linear), in
// f64 with the kernels' f32 roundings: s = f32(max|x| · f32(1/127)); q = clamp(round_half_even(x / s), ±127);
// out = f32(f32(f32(acc) · sx) · sw (+ bias)) rounded to the output dtype (acc exact).
import { f16BitsToF32, roundF16 } from '../../util/f16.js';
import { quantValue, type PackedWeight } from '../../quant/packed_weight.js';
import type { LinearOutDType } from './linear.js';

function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

export interface RowsInt8 {
  /** [M, K] int8 values. */
  readonly q: Int8Array;
  /** [M] f32 scales. */
  readonly scale: Float32Array;
  /** [M, K]: 1 where x / s lies within 1e-5 of a rounding tie (a kernel's f32 quotient may round either way). */
  readonly nearTie: Uint8Array;
}

/** x: [M, K] (exact f16 values) → int8 rows and their scales. */
export function quantizeRowsInt8Ref(x: ArrayLike<number>, M: number, K: number): RowsInt8 {
  const q = new Int8Array(M * K);
  const scale = new Float32Array(M);
  const nearTie = new Uint8Array(M * K);
  for (let m = 0; m < M; m++) {
    let amax = 0;
    for (let k = 0; k < K; k++) amax = Math.max(amax, Math.abs(x[m * K + k]));
    const s = Math.fround(amax * Math.fround(1 / 127));
    scale[m] = s;
    if (amax === 0) continue;
    for (let k = 0; k < K; k++) {
      const v = x[m * K + k] / s;
      q[m * K + k] = Math.max(-127, Math.min(127, roundHalfEven(v)));
      if (Math.abs(Math.abs(v - Math.trunc(v)) - 0.5) < 1e-5) nearTie[m * K + k] = 1;
    }
  }
  return { q, scale, nearTie };
}

/**
 * rows: the activations' int8 rows, p: [N, K] 8-bit symmetric per channel → out [M, N] rounded to `outDtype`;
 * `slack` (optional, [M, N]) receives Σ over near-tie k of |wq|·sx·sw (what a ±1 in such a q can move out by)
 * plus one f32 rounding of |t·sw| + |bias| (an fma that rounds its product).
 */
export function w8a8LinearRef(rows: RowsInt8, p: PackedWeight, bias: ArrayLike<number> | null, M: number, outDtype: LinearOutDType, slack?: Float64Array): Float32Array {
  const [N, K] = p.shape;
  const out = new Float32Array(M * N);
  for (let n = 0; n < N; n++) {
    const sw = f16BitsToF32(p.scales[n]);
    const wq = new Int32Array(K);
    for (let k = 0; k < K; k++) wq[k] = quantValue(p, n, k);
    for (let m = 0; m < M; m++) {
      let acc = 0;
      let tie = 0;
      for (let k = 0; k < K; k++) {
        acc += rows.q[m * K + k] * wq[k];
        if (rows.nearTie[m * K + k]) tie += Math.abs(wq[k]);
      }
      const t = Math.fround(Math.fround(acc) * rows.scale[m]);
      const v = Math.fround(bias ? t * sw + bias[n] : t * sw);
      out[m * N + n] = outDtype === 'f16' ? roundF16(v) : v;
      // WGSL's fma may round the product first (lavapipe does): one f32 rounding of the operands' size.
      if (slack) slack[m * N + n] = tie * rows.scale[m] * sw + 2 ** -23 * (Math.abs(t * sw) + (bias ? Math.abs(bias[n]) : 0));
    }
  }
  return out;
}

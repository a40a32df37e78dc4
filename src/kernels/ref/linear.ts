// CPU reference for kernels/linear: y = x Wᵀ (+ bias), accumulated in f64 from the f16 inputs (given as
// their exact values in Float32Arrays) and rounded once to the output dtype. Also the error bound the
// kernel's results are checked against, shared by the tests and the benchmark validation.
import { roundF16 } from '../../util/f16.js';

export type LinearOutDType = 'f16' | 'f32';

/** One output element in f64, and Σ|x·w| (the magnitude that bounds accumulation error). */
export function linearRefElement(
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  bias: ArrayLike<number> | null,
  K: number,
  m: number,
  n: number,
): { value: number; absSum: number } {
  let s = 0;
  let a = 0;
  const xo = m * K;
  const wo = n * K;
  for (let k = 0; k < K; k++) {
    const p = x[xo + k] * weight[wo + k];
    s += p;
    a += Math.abs(p);
  }
  if (bias) {
    s += bias[n];
    a += Math.abs(bias[n]);
  }
  return { value: s, absSum: a };
}

/**
 * The whole product. x: [M, K], weight: [N, K], bias: [N] or null (exact f16 values) → out: [M, N],
 * rounded to f16 or f32; `absSum` (optional, [M, N]) receives Σ|x·w| per element for `linearTolerance`.
 */
export function linearRef(
  x: ArrayLike<number>,
  weight: ArrayLike<number>,
  bias: ArrayLike<number> | null,
  M: number,
  N: number,
  K: number,
  outDtype: LinearOutDType,
  absSum?: Float64Array,
): Float32Array {
  const out = new Float32Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      const { value, absSum: a } = linearRefElement(x, weight, bias, K, m, n);
      out[m * N + n] = outDtype === 'f16' ? roundF16(value) : Math.fround(value);
      if (absSum) absSum[m * N + n] = a;
    }
  }
  return out;
}

/**
 * Largest |kernel − reference| accepted for one element with reference value `ref` (already rounded to the
 * output dtype) and Σ|x·w| = `absSum`:
 *   accumulation: 4·sqrt(K)·2⁻²³·absSum (f32 partial sums, incl. tensor-core chains that truncate), plus
 *   output rounding: one f16 ulp of |ref| (2⁻¹⁰·|ref|, floor 2⁻²⁴) for f16 outputs, one f32 ulp for f32.
 */
export function linearTolerance(ref: number, absSum: number, K: number, outDtype: LinearOutDType): number {
  const accumulation = 4 * Math.sqrt(Math.max(K, 1)) * 2 ** -23 * absSum;
  const rounding = outDtype === 'f16' ? Math.max(Math.abs(ref) * 2 ** -10, 2 ** -24) : Math.abs(ref) * 2 ** -23;
  return accumulation + rounding;
}

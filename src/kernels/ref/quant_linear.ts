// CPU reference for kernels/quant_linear (weight-only): y = x · Wᵀ (+ bias) with W the packed weight's
// dequantized values (quant/packed_weight dequantize: (q − z)·s in f32, exact, anchored by hand-worked values
// in test/quant/packed_weight.test.ts) rounded once to f16, the values every quantized kernel multiplies by;
// accumulated in f64 and rounded once to the output dtype (ref/linear). The error bound is ref/linear's.
import { dequantize, type PackedWeight } from '../../quant/packed_weight.js';
import { roundF16 } from '../../util/f16.js';
import { linearRef, type LinearOutDType } from './linear.js';

/** The weight [N, K] the kernels multiply by: f16(dequantize(p)), as exact values. */
export function quantKernelWeight(p: PackedWeight): Float32Array {
  const w = dequantize(p);
  for (let i = 0; i < w.length; i++) w[i] = roundF16(w[i]);
  return w;
}

/** x: [M, K] (exact f16 values), p: [N, K] packed, bias: [N] or null → [M, N]; absSum as ref/linear's. */
export function quantLinearRef(
  x: ArrayLike<number>,
  p: PackedWeight,
  bias: ArrayLike<number> | null,
  M: number,
  outDtype: LinearOutDType,
  absSum?: Float64Array,
): Float32Array {
  const [N, K] = p.shape;
  return linearRef(x, quantKernelWeight(p), bias, M, N, K, outDtype, absSum);
}

// Linear layers over quantized weights (kernels/quantized_weight.ts): out = x · dequant(W)ᵀ (+ bias).
//
// Weight-only (bits 4 and 8): the f16 linear kernels with a dequantizing weight read (QUANT,
// shaders/lib/quant_weight.wgsl) in place of the f16 one. Every weight is f16((q − z)·s) (the exact
// product, rounded once), so a plan computes exactly what the f16 plan of the same sizes computes for an f16
// weight holding those values, and everything kernels/linear.ts guarantees carries over:
//   * invariant mode, tensor cores (K % 64 == 0): linearSegments' K order for every M; the stream kernel for
//     few rows (decode: the packed words are the stream), block tiles with the segments side by side (PAR)
//     or in turn (SEQ) for more; N % 16 != 0 runs SEQ blocks for every M (the same order, no partials);
//   * invariant mode elsewhere (no tensor cores, or K % 64 != 0): linear_tiled's f32 fma chain for every M;
//   * fast mode: a GEMV (lane-split K, not batch invariant) for the rows kernels/linear gives it:
//     shaders/quant_linear_gemv (16-byte loads of packed words) where K and the group size are multiples
//     of 32 (int4) or 16 (int8) k, else linear_gemv's QUANT read; the 16-byte GEMV also takes M2 where
//     N < K (it streams packed weights faster than the staged stream there).
// W8A8 (int8Activations): kernels/w8a8_linear.ts.
import type { Gpu } from '../gpu/gpu.js';
import { grid, type Recorder } from '../gpu/recorder.js';
import { byteSize, expect, expectShape, fail, type DType, type Tensor } from '../gpu/tensor.js';
import { FAST_GEMV_ROWS, GEMV_MAX_ROWS, hasLinearTensorCores, planLinear, runLinear, runLinearDeferred, type LinearKernels, type LinearOptions, type LinearPlan, type PartialSums } from './linear.js';
import type { QuantizedWeight } from './quantized_weight.js';
import { w8a8Linear } from './w8a8_linear.js';

/** The layout fields of a quantized weight that pick a kernel variant. */
export type QuantLayout = Pick<QuantizedWeight, 'bits' | 'symmetric' | 'groupSize'> & { readonly zeros: boolean };

/** The layout of a QuantizedWeight as its plans see it. */
export function quantLayout(w: QuantizedWeight): QuantLayout {
  return { bits: w.bits, symmetric: w.symmetric, groupSize: w.groupSize, zeros: w.zeros !== null };
}

/** The QUANT defines and the GS constant of a layout (shaders/lib/quant_weight.wgsl). */
function quantDefines(q: QuantLayout): string[] {
  return ['QUANT', q.bits === 4 ? 'Q4' : 'Q8', ...(q.zeros ? ['ZEROS'] : []), ...(q.bits === 8 && q.symmetric && !q.zeros ? ['SIGNED'] : [])];
}

/**
 * Everything `quantLinear` dispatches for these sizes and this layout (weight-only). The f16 planner's plan
 * (kernels/linear planLinear) with the dequantizing weight read switched on; its order string is the f16
 * plan's (the same K order), so invariance holds as it does there.
 */
export function planQuantLinear(
  gpu: Gpu,
  M: number,
  N: number,
  K: number,
  q: QuantLayout,
  opts: LinearOptions & { bias?: boolean; outDtype?: DType } = {},
): LinearPlan {
  // The dequantizing reads take 8 k at a time from one group.
  expect(K % 8 === 0, `quantLinear: in_features ${K} is not a multiple of 8 (the quantized kernels read 8 weights at a time)`);
  expect(q.groupSize % 8 === 0 && K % q.groupSize === 0, `quantLinear: group size ${q.groupSize} must be a multiple of 8 dividing in_features ${K}`);
  const tc = hasLinearTensorCores(gpu);
  const mode = opts.mode ?? 'invariant';
  let variant = opts.variant;
  if (variant === undefined) {
    // Fast mode: the GEMV where kernels/linear gives the f16 weight one, and with the 16-byte GEMV also at
    // M2 where N < K (the H200 probe of session 11: Llama-3-8B down at M2 int4 26.9 µs against the stream's 39.6).
    const gemv2 = M <= FAST_GEMV_ROWS && (N >= K || wideGemvFits(K, q));
    if (mode === 'fast' && (tc ? M === 1 || gemv2 : M <= GEMV_MAX_ROWS)) variant = 'gemv';
    else variant = tc && K % 64 === 0 ? 'subgroup-matrix' : 'plain';
  }
  const sgm = variant === 'subgroup-matrix' || variant === 'subgroup-matrix-emulated';
  if (sgm) expect(K % 64 === 0, `quantLinear: the tensor-core kernels take in_features % 64 == 0, got ${K}`);
  // Only the kernels that stage w through workgroup memory have the dequantizing read: N % 16 != 0 (which
  // the stream and the PAR blocks cannot store) runs SEQ blocks for every M.
  const tile = sgm ? (opts.tile ?? (N % 16 === 0 ? undefined : 'block')) : undefined;
  const plan = planLinear(gpu, M, N, K, { mode, variant, tile, bias: opts.bias, outDtype: opts.outDtype });
  const staged = plan.shader === 'linear_subgroup_matrix_stream' || plan.shader === 'linear_subgroup_matrix_block';
  expect(!sgm || staged, `quantLinear: tile ${opts.tile} has no dequantizing variant (stream, par64, par128 or block)`);
  const wide = wideGemvPlan(plan, N, K, q);
  if (wide) return wide;
  return { ...plan, defines: [...plan.defines, ...quantDefines(q)], constants: { ...plan.constants, GS: q.groupSize } };
}

/** Whether shaders/quant_linear_gemv's 16-byte loads fit: K and the group size multiples of the k per packed vec4. */
function wideGemvFits(K: number, q: QuantLayout): boolean {
  const kv = 128 / q.bits;
  return K % kv === 0 && q.groupSize % kv === 0;
}

/** Weight rows per workgroup of shaders/quant_linear_gemv (GROUPS row groups × RS rows). */
const WIDE_GEMV_ROWS = 8;

/**
 * shaders/quant_linear_gemv in place of `plan`, a GEMV plan (fast mode), where its 16-byte loads fit the
 * layout: K and the group size multiples of the k per packed vec4 (32 int4, 16 int8). null elsewhere
 * (linear_gemv's QUANT read then runs). The lane split differs from linear_gemv's: fast mode only.
 */
function wideGemvPlan(plan: LinearPlan, N: number, K: number, q: QuantLayout): LinearPlan | null {
  if (plan.shader !== 'linear_gemv' || !wideGemvFits(K, q)) return null;
  // The f16 GEMV plan's SG_REDUCE (subgroups of exactly its TPR lanes) fits 32-lane row groups only where TPR is 32.
  const keep = (d: string) => d !== 'VEC' && (d !== 'SG_REDUCE' || plan.constants.TPR === 32);
  const defines = [...plan.defines.filter(keep), ...quantDefines(q)];
  return {
    ...plan,
    order: 'lanes32 vec4',
    schedule: `${plan.schedule} wide`,
    shader: 'quant_linear_gemv',
    defines,
    constants: { GS: q.groupSize, MR: plan.constants.MR },
    workgroups: grid(Math.ceil(N / WIDE_GEMV_ROWS)),
  };
}

/**
 * What `quantLinear` runs for x [M, K] f16, a weight of this layout [N, K] and out [M, N] `outDtype`: null
 * where M or N is 0. Made once per Gpu and key, then looked up (Gpu.memo), as kernels/linear's are.
 */
export function quantLinearKernels(gpu: Gpu, M: number, N: number, K: number, q: QuantLayout, opts: LinearOptions & { bias?: boolean; outDtype?: DType } = {}): LinearKernels | null {
  const key = `quantLinear ${M} ${N} ${K} ${q.bits} ${q.symmetric} ${q.groupSize} ${q.zeros} ${opts.bias ? 1 : 0} ${opts.outDtype} ${opts.mode} ${opts.variant} ${opts.tile}`;
  return gpu.memo(key, () => {
    const limit = gpu.limits.maxStorageBufferBindingSize;
    const tensors = [['x', [M, K], 'f16'], ['qweight', [N, (K * q.bits) / 32], 'u32'], ['out', [M, N], opts.outDtype ?? 'f16']] as const;
    for (const [name, shape, dtype] of tensors) {
      const bytes = byteSize({ shape, dtype });
      expect(bytes <= limit, `quantLinear: ${name} [${shape}] is ${bytes} bytes, over the device's ${limit}-byte binding limit`);
    }
    if (M === 0 || N === 0) return null;
    const plan = Object.freeze(planQuantLinear(gpu, M, N, K, q, opts));
    return {
      plan,
      pipeline: gpu.pipeline(plan.shader, { defines: plan.defines, constants: plan.constants }),
      fold: plan.fold ? gpu.pipeline('linear_fold', { defines: plan.fold.defines }) : null,
    };
  });
}

/** Shape checks of a quantized linear (ShapeError naming the tensor), then its kernels. */
function checkedKernels(rec: Recorder, x: Tensor, w: QuantizedWeight, bias: Tensor | null, out: Tensor, opts: LinearOptions): LinearKernels | null {
  if (x.shape.length !== 2) fail(`quantLinear: x must be [M, K], got [${x.shape}]`);
  const [M, K] = x.shape;
  expectShape('quantLinear x', x, [M, K], 'f16');
  const [N, wk] = w.shape;
  if (wk !== K) fail(`quantLinear: weight is [${w.shape}] (in_features ${wk}) but x has K = ${K}`);
  expectShape('quantLinear qweight', w.qweight, [N, (K * w.bits) / 32], 'u32');
  expectShape('quantLinear scales', w.scales, [N, K / w.groupSize], 'f16');
  if (w.zeros) expectShape('quantLinear zeros', w.zeros, [N, K / w.groupSize], 'f16');
  if (bias) expectShape('quantLinear bias', bias, [N], 'f16');
  expectShape('quantLinear out', out, [M, N], ['f16', 'f32']);
  return quantLinearKernels(rec.gpu, M, N, K, quantLayout(w), { mode: opts.mode, variant: opts.variant, tile: opts.tile, bias: bias !== null, outDtype: out.dtype });
}

function weightTensors(w: QuantizedWeight): Tensor[] {
  return w.zeros ? [w.qweight, w.scales, w.zeros] : [w.qweight, w.scales];
}

// x: [M, K] f16; weight: logical [N, K]; bias: [N] f16 or null; out: [M, N] f16 or f32
export function quantLinear(rec: Recorder, x: Tensor, w: QuantizedWeight, bias: Tensor | null, out: Tensor, opts: LinearOptions = {}): void {
  if (w.int8Activations) return w8a8Linear(rec, x, w, bias, out, opts);
  const k = checkedKernels(rec, x, w, bias, out, opts);
  if (k) runLinear(rec, k, x, weightTensors(w), bias, out);
}

// x: [M, K] f16; weight: logical [N, K]; bias: [N] f16 or null; out: [M, N] f16
/** kernels/linear's linearDeferred for a quantized weight: the partial sums where the plan folds them, else out. */
export function quantLinearDeferred(rec: Recorder, x: Tensor, w: QuantizedWeight, bias: Tensor | null, out: Tensor, opts: LinearOptions = {}): Tensor | PartialSums {
  if (w.int8Activations) {
    w8a8Linear(rec, x, w, bias, out, opts);
    return out;
  }
  const k = checkedKernels(rec, x, w, bias, out, opts);
  return k ? runLinearDeferred(rec, k, x, weightTensors(w), bias, out) : out;
}

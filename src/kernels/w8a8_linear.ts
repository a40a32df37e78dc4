// W8A8 linear layers: out = x · Wᵀ (+ bias) with x quantized per token to int8 on the fly
// (kernels/quantize_rows_int8: scale max|x| / 127 per row) and W int8 per output channel (packed_weight's
// 8-bit symmetric layout, group = K), multiplied exactly in i32, then out = (acc · sx[row]) · sw[col] (+ bias).
// Integer sums have no order, so every kernel gives the same bits for a row whatever M is: batch invariant
// by construction, in both modes. Kernels by M and device:
//   * 'subgroup-matrix' (int8 tensor cores: i8 × i8 → i32 16×16×32 on 32-wide subgroups, K % 64 == 0) from
//     W8A8_SGM_MIN_ROWS rows: shaders/w8a8_linear_sgm.wgsl, 128×128 blocks;
//   * 'plain' otherwise: shaders/w8a8_linear_tiled.wgsl (dot4I8Packed where the device has it).
// 'subgroup-matrix-emulated' runs the tensor-core kernel's schedule with emulated matrix ops (tests).
import type { Gpu } from '../gpu/gpu.js';
import { grid, type Param, type Recorder } from '../gpu/recorder.js';
import { byteSize, expect, expectShape, fail, type DType, type Tensor } from '../gpu/tensor.js';
import type { LinearOptions, LinearVariantName } from './linear.js';
import { quantizeRowsInt8 } from './quantize_rows_int8.js';
import type { QuantizedWeight } from './quantized_weight.js';

/** Rows from which the int8 tensor cores run (below, the plain kernel: a 128-row block would be mostly padding). */
export const W8A8_SGM_MIN_ROWS = 64;

/** Whether the device has int8 tensor cores as w8a8_linear_sgm uses them. */
export function hasInt8TensorCores(gpu: Gpu): boolean {
  const c = gpu.caps;
  return c.subgroupMinSize === 32 && c.subgroupMaxSize === 32 && c.subgroupMatrix.some((m) => m.componentType === 'i8' && m.resultComponentType === 'i32' && m.M === 16 && m.N === 16 && m.K === 32);
}

export interface W8A8Plan {
  readonly variant: LinearVariantName;
  readonly shader: string;
  readonly defines: string[];
  readonly params: Param[];
  readonly workgroups: [number, number, number];
}

/** The W8A8 kernel for these sizes (any choice gives the same bits). */
export function planW8A8(gpu: Gpu, M: number, N: number, K: number, opts: LinearOptions & { bias?: boolean; outDtype?: DType } = {}): W8A8Plan {
  const tc = hasInt8TensorCores(gpu);
  let variant = opts.variant;
  if (variant === 'gemv') variant = 'plain';
  if (variant === 'subgroup-matrix' && !tc) fail('w8a8Linear: this device has no i8 16x16x32 subgroup matrices');
  // The int8 tensor cores from W8A8_SGM_MIN_ROWS rows (K % 64 == 0): their bits are the plain kernel's on
  // the H100 since the I8_WORDS fix (2026-12-06, session 9: test/kernels/w8a8_linear.test.ts, three shapes).
  variant ??= tc && M >= W8A8_SGM_MIN_ROWS && K % 64 === 0 ? 'subgroup-matrix' : 'plain';
  const defines = [...(opts.bias ? ['BIAS'] : []), ...(opts.outDtype === 'f32' ? ['OUT_F32'] : [])];
  if (variant === 'plain') {
    if (gpu.caps.packedDot4) defines.push('DOT4');
    const tilesM = Math.ceil(M / 32);
    return { variant, shader: 'w8a8_linear_tiled', defines, params: [M, N, K, tilesM], workgroups: grid(tilesM * Math.ceil(N / 32)) };
  }
  expect(K % 64 === 0, `w8a8Linear: the tensor-core kernel takes K % 64 == 0, got ${K}`);
  if (variant === 'subgroup-matrix-emulated') defines.push('EMULATE');
  // The template-form i8 loads of the Dawn in npm webgpu 0.6.2 count offsets and strides in i32 words
  // (tint 9361310a57; docs/KERNELS.md): in bytes the kernel gave wrong sums on the H100 (session 8: 29797 of
  // 30100 outputs off); in words its bits are the plain kernel's there (session 9).
  defines.push('I8_WORDS');
  const [tilesM, tilesN] = [Math.ceil(M / 128), Math.ceil(N / 128)];
  return { variant, shader: 'w8a8_linear_sgm', defines, params: [M, N, K, tilesM, tilesN, 0], workgroups: grid(tilesM * tilesN) };
}

/** Refuses a weight the W8A8 kernels cannot take (named field and value). */
export function checkW8A8Weight(w: Pick<QuantizedWeight, 'bits' | 'symmetric' | 'groupSize' | 'shape'> & { zeros: unknown }): void {
  const K = w.shape[1];
  if (w.bits !== 8 || !w.symmetric || w.zeros) fail(`w8a8Linear: int8 activations need 8-bit symmetric weights, got ${w.bits}-bit ${w.symmetric ? 'symmetric' : 'asymmetric'}`);
  if (w.groupSize !== K) fail(`w8a8Linear: int8 activations need one scale per output channel (group size = in_features ${K}), got group size ${w.groupSize}`);
  if (K % 4 !== 0) fail(`w8a8Linear: in_features ${K} is not a multiple of 4`);
}

// x: [M, K] f16; weight: logical [N, K] int8 (8-bit symmetric, per channel); bias: [N] f16 or null; out: [M, N] f16 or f32
export function w8a8Linear(rec: Recorder, x: Tensor, w: QuantizedWeight, bias: Tensor | null, out: Tensor, opts: LinearOptions = {}): void {
  if (x.shape.length !== 2) fail(`w8a8Linear: x must be [M, K], got [${x.shape}]`);
  const [M, K] = x.shape;
  expectShape('w8a8Linear x', x, [M, K], 'f16');
  const [N, wk] = w.shape;
  if (wk !== K) fail(`w8a8Linear: weight is [${w.shape}] (in_features ${wk}) but x has K = ${K}`);
  checkW8A8Weight(w);
  expectShape('w8a8Linear qweight', w.qweight, [N, K / 4], 'u32');
  expectShape('w8a8Linear scales', w.scales, [N, 1], 'f16');
  if (bias) expectShape('w8a8Linear bias', bias, [N], 'f16');
  expectShape('w8a8Linear out', out, [M, N], ['f16', 'f32']);
  if (M === 0 || N === 0) return;
  const gpu = rec.gpu;
  const k = gpu.memo(`w8a8 ${M} ${N} ${K} ${bias ? 1 : 0} ${out.dtype} ${opts.variant}`, () => {
    const limit = gpu.limits.maxStorageBufferBindingSize;
    for (const [name, t] of [['x', { shape: [M, K], dtype: 'f16' }], ['out', out]] as const) {
      expect(byteSize(t) <= limit, `w8a8Linear: ${name} [${t.shape}] is ${byteSize(t)} bytes, over the device's ${limit}-byte binding limit`);
    }
    const plan = Object.freeze(planW8A8(gpu, M, N, K, { variant: opts.variant, bias: bias !== null, outDtype: out.dtype }));
    return { plan, pipeline: gpu.pipeline(plan.shader, { defines: plan.defines }) };
  });
  const xq = rec.scratch([M, K / 4], 'u32', 'w8a8.xq');
  const sx = rec.scratch([M], 'f32', 'w8a8.sx');
  quantizeRowsInt8(rec, x, xq, sx);
  rec.dispatch(k.pipeline, [xq, sx, w.qweight, w.scales, ...(bias ? [bias] : []), out], k.plan.params, k.plan.workgroups);
}

// RMS norm (Llama/Mistral/Qwen2 input_layernorm, post_attention_layernorm and the final norm),
// plain and fused with the residual add. One workgroup per row, memory-bound.
import type { Gpu } from '../gpu/gpu.js';
import type { Recorder } from '../gpu/recorder.js';
import { f32, grid } from '../gpu/recorder.js';
import { expect, expectShape, fail, overlaps, type Tensor } from '../gpu/tensor.js';
import { foldInput, type PartialSums } from './fold_in.js';

export interface RmsNormOptions {
  /** Reduce with subgroup operations (default: where the device has them). */
  readonly subgroups?: boolean;
}

// x: [numTokens, hidden] f16, weight: [hidden] f16, out: [numTokens, hidden] f16 (may be x).
export function rmsNorm(rec: Recorder, x: Tensor, weight: Tensor, out: Tensor, eps: number): void {
  rmsNormDispatch(rec, x, null, weight, out, eps);
}

// x: [numTokens, hidden] f16, or a linear's partial sums of that shape (linearDeferred: folded as read),
// residual: [numTokens, hidden] f16 (updated in place), weight: [hidden] f16, out: [numTokens, hidden] f16 (may be x).
// residual <- f16(x + residual); out <- rmsNorm(residual) * weight.
export function fusedAddRmsNorm(rec: Recorder, x: Tensor | PartialSums, residual: Tensor, weight: Tensor, out: Tensor, eps: number): void {
  rmsNormDispatch(rec, x, residual, weight, out, eps);
}

/** Both norms, with the variant choice exposed (tests force the workgroup-memory reduction). */
export function rmsNormDispatch(
  rec: Recorder,
  xIn: Tensor | PartialSums,
  residual: Tensor | null,
  weight: Tensor,
  out: Tensor,
  eps: number,
  opts: RmsNormOptions = {},
): void {
  // Every layer calls this twice per step: messages are formatted only when a check fails.
  const name = residual ? 'fusedAddRmsNorm' : 'rmsNorm';
  const fold = foldInput(name, xIn);
  if (fold && !residual) fail('rmsNorm: partial sums are taken with the fused add only');
  const x = fold ? fold.view : (xIn as Tensor);
  expectShape(`${name} x`, x, [-1, -1], 'f16');
  const [rows, hidden] = x.shape;
  expectShape(`${name} weight`, weight, [hidden], 'f16');
  expectShape(`${name} out`, out, [rows, hidden], 'f16');
  if (!(Number.isFinite(eps) && eps >= 0)) fail(`${name}: eps must be a finite number >= 0, got ${eps}`);
  const inPlace = !fold && sameView(x, out);
  if (!inPlace && overlaps(x, out)) fail(`${name}: out overlaps x without being x`);
  if (overlaps(out, weight)) fail(`${name}: out overlaps weight`);
  if (residual) {
    expectShape(`${name} residual`, residual, [rows, hidden], 'f16');
    if (overlaps(residual, x)) fail(`${name}: residual overlaps x`);
    if (overlaps(residual, out)) fail(`${name}: residual overlaps out`);
    if (overlaps(residual, weight)) fail(`${name}: residual overlaps weight`);
  }
  if (rows === 0 || hidden === 0) return;

  const gpu = rec.gpu;
  const subgroups = (opts.subgroups ?? true) && gpu.caps.subgroups;
  // The variant, its workgroup-memory check and its pipeline depend on the device and this key only.
  const k = gpu.memo(`rms_norm ${hidden} ${residual ? 1 : 0} ${inPlace ? 1 : 0} ${subgroups ? 1 : 0} ${fold ? (fold.bias ? 2 : 1) : 0}`, () => {
    const vec8 = hidden % 8 === 0;
    const items = vec8 ? hidden / 8 : hidden;
    const wg = workgroupSize(items, gpu.limits.maxComputeInvocationsPerWorkgroup, gpu.caps.subgroupMaxSize);
    const wordBytes = vec8 ? 16 : 2;
    const shared = items * wordBytes + 4 * wg;
    expect(
      shared <= gpu.limits.maxComputeWorkgroupStorageSize,
      `${name}: hidden ${hidden} needs ${shared} bytes of workgroup memory, the device has ${gpu.limits.maxComputeWorkgroupStorageSize}`,
    );
    const defines = [vec8 && 'VEC8', subgroups && 'SUBGROUPS', residual && 'FUSED_ADD', inPlace && 'IN_PLACE', fold && 'FOLD', fold?.bias && 'FOLD_BIAS'].filter((d): d is string => !!d);
    return { items, pipeline: gpu.pipeline('rms_norm', { defines, constants: { WG: wg, CACHE: items } }) };
  });
  const input = fold ? fold.tensors : [x];
  const tensors = residual ? (inPlace ? [x, residual, weight] : [...input, residual, weight, out]) : inPlace ? [x, weight] : [x, weight, out];
  rec.dispatch(k.pipeline, tensors, [rows, hidden, k.items, f32(eps), fold?.segs ?? 0, fold ? fold.stride / 4 : 0, 0], grid(rows));
}

/** The variant rmsNorm/fusedAddRmsNorm use on this device for rows of `hidden`, e.g. 'vec8 wg512 subgroups'. */
export function rmsNormVariant(gpu: Gpu, hidden: number, opts: RmsNormOptions = {}): string {
  const subgroups = (opts.subgroups ?? true) && gpu.caps.subgroups;
  const vec8 = hidden % 8 === 0;
  const wg = workgroupSize(vec8 ? hidden / 8 : hidden, gpu.limits.maxComputeInvocationsPerWorkgroup, gpu.caps.subgroupMaxSize);
  return `${vec8 ? 'vec8' : 'f16'} wg${wg} ${subgroups ? 'subgroups' : 'tree'}`;
}

/**
 * Threads per row: one word (8 halves) per thread up to 512 threads (H 4096: 512 threads; H
 * 8192: 512 threads × 2 words), a power of two >= 64 and >= the subgroup size. Depends only
 * on the row length, so every row of every batch size reduces in the same order.
 */
function workgroupSize(items: number, maxInvocations: number, subgroupMax: number): number {
  let wg = 64;
  while (wg < 512 && wg * 2 <= items) wg *= 2;
  wg = Math.max(wg, subgroupMax);
  while (wg > maxInvocations) wg /= 2;
  return wg;
}

function sameView(a: Tensor, b: Tensor): boolean {
  return a.buffer === b.buffer && a.offset === b.offset;
}

// A quantized linear weight on the GPU: src/quant/packed_weight.ts's layout, uploaded. Model code
// holds a LinearWeight for every projection and hands it to kernels/linear, which routes a
// quantized one to the dequantizing kernels (kernels/quant_linear).
import type { Gpu } from '../gpu/gpu.js';
import type { Tensor } from '../gpu/tensor.js';
import type { PackedWeight, QuantBits } from '../quant/packed_weight.js';

export interface QuantizedWeight {
  readonly kind: 'quantized';
  readonly bits: QuantBits;
  readonly symmetric: boolean;
  readonly groupSize: number;
  /** Logical [N, K] (out, in). */
  readonly shape: readonly [number, number];
  /** [N, K * bits / 32] u32 (bits 8, symmetric: signed int8 values). */
  readonly qweight: Tensor;
  /** [N, K / groupSize] f16. */
  readonly scales: Tensor;
  /** [N, K / groupSize] f16 integers, or null (z = 0 for 8 bits, 8 for 4 bits). */
  readonly zeros: Tensor | null;
  /** W8A8: activations are quantized per token to int8 and multiplied on int8 tensor cores (bits 8, symmetric only). */
  readonly int8Activations: boolean;
}

/** An f16 weight [N, K] or a quantized one. */
export type LinearWeight = Tensor | QuantizedWeight;

export function isQuantized(w: LinearWeight): w is QuantizedWeight {
  return (w as QuantizedWeight).kind === 'quantized';
}

/** The logical [N, K] of either kind. */
export function weightShape(w: LinearWeight): readonly number[] {
  return w.shape;
}

export function uploadPacked(gpu: Gpu, p: PackedWeight, label: string, int8Activations = false): QuantizedWeight {
  const [N, K] = p.shape;
  const groups = K / p.groupSize;
  return {
    kind: 'quantized',
    bits: p.bits,
    symmetric: p.symmetric,
    groupSize: p.groupSize,
    shape: [N, K],
    qweight: gpu.upload(p.qweight, [N, (K * p.bits) / 32], 'u32', `${label}.qweight`),
    scales: gpu.upload(p.scales, [N, groups], 'f16', `${label}.scales`),
    zeros: p.zeros ? gpu.upload(p.zeros, [N, groups], 'f16', `${label}.zeros`) : null,
    int8Activations,
  };
}

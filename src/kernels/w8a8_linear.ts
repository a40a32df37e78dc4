// W8A8 linear layers (placeholder until the int8 kernels land).
import type { Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import type { LinearOptions } from './linear.js';
import type { QuantizedWeight } from './quantized_weight.js';

export class QuantKernelMissingError extends Error {
  override readonly name = 'QuantKernelMissingError';
}

// x: [M, K] f16; weight: logical [N, K] int8; bias: [N] f16 or null; out: [M, N] f16 or f32
export function w8a8Linear(_rec: Recorder, _x: Tensor, w: QuantizedWeight, _bias: Tensor | null, _out: Tensor, _opts: LinearOptions = {}): void {
  throw new QuantKernelMissingError(`w8a8Linear: no kernel yet for ${w.bits}-bit weights with int8 activations`);
}

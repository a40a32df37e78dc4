// Linear layers over quantized weights (kernels/quantized_weight.ts): out = x · dequant(W)ᵀ (+ bias).
// STUB: the dequantizing kernels land on the quant-kernels branch; until then every call refuses.
import type { Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import type { LinearOptions } from './linear.js';
import type { QuantizedWeight } from './quantized_weight.js';

export class QuantKernelMissingError extends Error {
  override readonly name = 'QuantKernelMissingError';
}

// x: [M, K] f16; weight: logical [N, K]; bias: [N] f16 or null; out: [M, N] f16 or f32
export function quantLinear(_rec: Recorder, _x: Tensor, w: QuantizedWeight, _bias: Tensor | null, _out: Tensor, _opts: LinearOptions = {}): void {
  throw new QuantKernelMissingError(`quantLinear: no kernel yet for ${w.bits}-bit weights${w.int8Activations ? ' with int8 activations' : ''}`);
}

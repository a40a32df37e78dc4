// The gated MLP's activation from the fused gate_up projection: SwiGLU silu(gate) * up (Llama and most),
// or GeGLU gelu_tanh(gate) * up (Gemma's gelu_pytorch_tanh).
import type { Recorder } from '../gpu/recorder.js';
import { grid } from '../gpu/recorder.js';
import { expectShape, fail, overlaps, type Tensor } from '../gpu/tensor.js';
import { foldInput, type PartialSums } from './fold_in.js';

const WG = 128;

// x: [numTokens, 2 * intermediate] f16 (gate in columns [0, I), up in [I, 2I)), or the gate|up linear's
// partial sums of that shape (linearDeferred: folded as read); out: [numTokens, intermediate] f16.
export function siluAndMul(rec: Recorder, xIn: Tensor | PartialSums, out: Tensor, activation: 'silu' | 'gelu_tanh' = 'silu'): void {
  // Every layer calls this once per step: messages are formatted only when a check fails.
  const fold = foldInput('siluAndMul', xIn);
  const x = fold ? fold.view : (xIn as Tensor);
  expectShape('siluAndMul x', x, [-1, -1], 'f16');
  const [numTokens, twoI] = x.shape;
  if (twoI % 2 !== 0) fail(`siluAndMul: x's last dimension must be even (gate | up), got ${twoI}`);
  const inter = twoI / 2;
  expectShape('siluAndMul out', out, [numTokens, inter], 'f16');
  if (overlaps(x, out)) fail('siluAndMul: out overlaps x');
  if (numTokens === 0 || inter === 0) return;
  const vec8 = siluAndMulVariant(inter) === 'vec8';
  if (fold && !vec8) fail(`siluAndMul: partial sums are read 8 columns at a time: intermediate must be a multiple of 8, got ${inter}`);
  const items = vec8 ? inter / 8 : inter;
  const defines = [vec8 && 'VEC8', fold && 'FOLD', fold?.bias && 'FOLD_BIAS', activation === 'gelu_tanh' && 'GELU_TANH'].filter((d): d is string => !!d);
  const pipeline = rec.gpu.pipeline('silu_and_mul', { defines, constants: { WG } });
  const params = [numTokens, items, fold?.segs ?? 0, fold ? fold.stride / 4 : 0, 0];
  rec.dispatch(pipeline, [...(fold ? fold.tensors : [x]), out], params, grid(Math.ceil((numTokens * items) / WG)));
}

/** 'vec8' (16-byte accesses, intermediate % 8 == 0) or 'f16' (one half per thread). */
export function siluAndMulVariant(intermediate: number): 'vec8' | 'f16' {
  return intermediate % 8 === 0 ? 'vec8' : 'f16';
}

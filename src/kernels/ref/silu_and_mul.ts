// CPU reference for kernels/silu_and_mul, rounding like Hugging Face's LlamaMLP in f16:
// s = f16(g / (1 + exp(-g))); out = f16(s * up). f64 math. 'gelu_tanh': s = f16(gelu_pytorch_tanh(g)),
// PyTorch's 0.5·g·(1 + tanh(sqrt(2/π)·(g + 0.044715·g³))).
import { roundF16 } from '../../util/f16.js';

// x: [numTokens, 2I] (f16 values; gate | up) → [numTokens, I] f16 values
export function siluAndMulRef(x: Float32Array, inter: number, activation: 'silu' | 'gelu_tanh' = 'silu'): Float32Array {
  const act = activation === 'silu' ? (g: number) => g / (1 + Math.exp(-g)) : (g: number) => 0.5 * g * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (g + 0.044715 * g ** 3)));
  const numTokens = x.length / (2 * inter);
  const out = new Float32Array(numTokens * inter);
  for (let t = 0; t < numTokens; t++) {
    for (let i = 0; i < inter; i++) {
      const g = x[t * 2 * inter + i];
      const up = x[t * 2 * inter + inter + i];
      out[t * inter + i] = roundF16(roundF16(act(g)) * up);
    }
  }
  return out;
}

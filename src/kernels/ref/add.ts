// CPU reference for kernels/add: f32 sum of f16 inputs, rounded to f16.
import { roundF16 } from '../../util/f16.js';

export function addRef(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = roundF16(a[i] + b[i]);
  return out;
}

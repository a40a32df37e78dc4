// CPU reference for kernels/rms_norm, rounding like Hugging Face's LlamaRMSNorm:
// var = mean(h^2); n = f16(h / sqrt(var + eps)); out = f16(weight * n). f64 math.
import { roundF16 } from '../../util/f16.js';

// x: [rows, hidden] (f16 values), weight: [hidden] → [rows, hidden] f16 values
export function rmsNormRef(x: Float32Array, weight: Float32Array, eps: number): Float32Array {
  const hidden = weight.length;
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length / hidden; r++) {
    const row = x.subarray(r * hidden, (r + 1) * hidden);
    let ss = 0;
    for (const v of row) ss += v * v;
    const inv = 1 / Math.sqrt(ss / hidden + eps);
    for (let i = 0; i < hidden; i++) out[r * hidden + i] = roundF16(weight[i] * roundF16(row[i] * inv));
  }
  return out;
}

// x, residual: [rows, hidden] → { residual: f16(x + residual), out: rmsNorm(that) }
export function fusedAddRmsNormRef(
  x: Float32Array,
  residual: Float32Array,
  weight: Float32Array,
  eps: number,
): { residual: Float32Array; out: Float32Array } {
  const h = x.map((v, i) => roundF16(v + residual[i]));
  return { residual: h, out: rmsNormRef(h, weight, eps) };
}

// Bench entry for kernels/silu_and_mul: SwiGLU of Llama-3-8B's MLP (intermediate 14336),
// bandwidth-bound (read gate|up, write the product). Inputs tile a random pool (T 4096 has
// 117 M halves), so x[t, j] = pool[(t·2I + j) mod P].
import { fillTiled } from '../../bench/fill.js';
import type { BenchCase, BenchSuite } from '../../bench/types.js';
import { Recorder } from '../../gpu/recorder.js';
import { siluAndMul, siluAndMulVariant } from '../../kernels/silu_and_mul.js';
import { siluAndMulRef } from '../../kernels/ref/silu_and_mul.js';
import { fromF16, toF16 } from '../../util/f16.js';
import { Rng } from '../../util/rng.js';

const POOL = 65521; // prime
const ROWS_CHECKED = 32;

function siluCase(T: number, I: number, model: string): BenchCase {
  return {
    kernel: 'silu_and_mul',
    shape: `T${T} I${I}`,
    model,
    params: { tokens: T, intermediate: I },
    bytes: T * 2 * I * 2 + T * I * 2,
    // Nominal: exp, add, divide, multiply for silu, one multiply by up.
    flops: 5 * T * I,
    async setup(gpu) {
      const rng = new Rng(T * 31 + I);
      const pool = toF16(Float32Array.from({ length: POOL }, () => 3 * rng.normal()));
      const x = gpu.tensor([T, 2 * I], 'f16', 'x');
      fillTiled(gpu, x, pool, T * 2 * I);
      const out = gpu.tensor([T, I], 'f16', 'out');
      return {
        variant: siluAndMulVariant(I),
        run: (rec) => siluAndMul(rec, x, out),
        async validate() {
          gpu.write(out, new Uint16Array(T * I).fill(0x7e00)); // NaN: a value left unwritten fails
          const rec = new Recorder(gpu, 'validate');
          siluAndMul(rec, x, out);
          rec.submit();
          const got = (await gpu.read(out)) as Uint16Array;
          for (let t = 0; t < T; t += Math.max(1, Math.floor(T / ROWS_CHECKED))) {
            const row = fromF16(Uint16Array.from({ length: 2 * I }, (_, j) => pool[(t * 2 * I + j) % POOL]));
            const want = siluAndMulRef(row, I);
            const have = fromF16(got.subarray(t * I, (t + 1) * I));
            // 2 f16 ulps (the test's tolerance) is within 2^-9 relative.
            const bad = want.findIndex((w, i) => !(Math.abs(have[i] - w) <= 2 ** -9 * Math.abs(w) + 1e-7));
            if (bad >= 0) throw new Error(`silu_and_mul T${T}: out[${t}, ${bad}] = ${have[bad]}, expected ${want[bad]}`);
          }
        },
        destroy() {
          x.buffer.destroy();
          out.buffer.destroy();
        },
      };
    },
  };
}

export const siluAndMulSuite: BenchSuite = {
  name: 'silu_and_mul',
  cases: (sweep) => (sweep === 'small' ? [siluCase(16, 1024, '')] : [1, 16, 256, 4096].map((T) => siluCase(T, 14336, 'Llama-3-8B'))),
};

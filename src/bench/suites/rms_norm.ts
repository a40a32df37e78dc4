// Bench entry for kernels/rms_norm: rmsNorm and fusedAddRmsNorm on Llama-3-8B rows (hidden
// 4096), bandwidth-bound. fusedAddRmsNorm updates residual in place, so validate() restores the
// inputs and runs one call of its own before comparing.
import type { BenchCase, BenchSuite } from '../../bench/types.js';
import { Recorder } from '../../gpu/recorder.js';
import { fusedAddRmsNorm, rmsNorm, rmsNormVariant } from '../../kernels/rms_norm.js';
import { fusedAddRmsNormRef, rmsNormRef } from '../../kernels/ref/rms_norm.js';
import { fromF16, toF16 } from '../../util/f16.js';
import { Rng } from '../../util/rng.js';

const EPS = 1e-5;
const ROWS_CHECKED = 32;

/** Throws unless every value is within 2 f16 ulps (the test's tolerance: <= 2^-9 relative). */
function check(what: string, got: Float32Array, want: Float32Array): void {
  const bad = want.findIndex((w, i) => !(Math.abs(got[i] - w) <= 2 ** -9 * Math.abs(w) + 1e-7));
  if (bad >= 0) throw new Error(`${what}: [${bad}] = ${got[bad]}, expected ${want[bad]}`);
}

function normCase(T: number, H: number, fused: boolean, model: string): BenchCase {
  return {
    kernel: fused ? 'fused_add_rms_norm' : 'rms_norm',
    shape: `T${T} H${H}`,
    model,
    params: { tokens: T, hidden: H },
    // plain: x read, out written; fused: x and residual read, residual and out written; + weight.
    bytes: (fused ? 4 : 2) * T * H * 2 + H * 2,
    // Nominal: square-accumulate (2), scale, weight (+ the add when fused).
    flops: (fused ? 5 : 4) * T * H,
    async setup(gpu) {
      const rng = new Rng(T * 3 + (fused ? 1 : 0));
      const x16 = toF16(rng.floats(T * H, -2, 2));
      const r16 = toF16(rng.floats(T * H, -2, 2));
      const w16 = toF16(rng.floats(H, 0.5, 1.5));
      const x = gpu.upload(x16, [T, H], 'f16', 'x');
      const residual = gpu.upload(r16, [T, H], 'f16', 'residual');
      const weight = gpu.upload(w16, [H], 'f16', 'weight');
      const out = gpu.tensor([T, H], 'f16', 'out');
      const run = (rec: Recorder) => (fused ? fusedAddRmsNorm(rec, x, residual, weight, out, EPS) : rmsNorm(rec, x, weight, out, EPS));
      return {
        variant: rmsNormVariant(gpu, H),
        run,
        async validate() {
          gpu.write(residual, r16);
          gpu.write(out, new Uint16Array(T * H).fill(0x7e00)); // NaN: a row left unwritten fails
          const rec = new Recorder(gpu, 'validate');
          run(rec);
          rec.submit();
          const got = fromF16((await gpu.read(out)) as Uint16Array);
          const gotRes = fromF16((await gpu.read(residual)) as Uint16Array);
          const w = fromF16(w16);
          for (let t = 0; t < T; t += Math.max(1, Math.floor(T / ROWS_CHECKED))) {
            const rows = (a: Uint16Array | Float32Array) => a.subarray(t * H, (t + 1) * H);
            const xs = fromF16(rows(x16));
            if (fused) {
              const want = fusedAddRmsNormRef(xs, fromF16(rows(r16)), w, EPS);
              check(`fused_add_rms_norm T${T} residual row ${t}`, rows(gotRes) as Float32Array, want.residual);
              check(`fused_add_rms_norm T${T} row ${t}`, rows(got) as Float32Array, want.out);
            } else {
              check(`rms_norm T${T} row ${t}`, rows(got) as Float32Array, rmsNormRef(xs, w, EPS));
            }
          }
        },
        destroy() {
          for (const t of [x, residual, weight, out]) t.buffer.destroy();
        },
      };
    },
  };
}

export const rmsNormSuite: BenchSuite = {
  name: 'rms_norm',
  cases: (sweep) =>
    sweep === 'small'
      ? [normCase(16, 1024, false, ''), normCase(16, 1024, true, '')]
      : [false, true].flatMap((fused) => [1, 16, 256, 4096].map((T) => normCase(T, 4096, fused, 'Llama-3-8B'))),
};

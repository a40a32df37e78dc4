// Bench entry for kernels/logit_softcap: Gemma 2's final logit soft-capping over [rows, vocab] f32
// logits in place (one read and one write per logit).
import type { BenchCase, BenchSuite } from '../../bench/types.js';
import { logitSoftcap } from '../../kernels/logit_softcap.js';
import { logitSoftcapRef } from '../../kernels/ref/logit_softcap.js';
import { Rng } from '../../util/rng.js';

const GEMMA2_VOCAB = 256000;

function softcapCase(rows: number, vocab: number): BenchCase {
  const n = rows * vocab;
  return {
    kernel: 'logit_softcap',
    shape: `${rows}x${vocab}`,
    model: 'Gemma-2',
    params: { rows, vocab },
    bytes: 2 * 4 * n,
    flops: 3 * n,
    async setup(gpu) {
      const x = Float32Array.from(new Rng(rows).floats(n, -60, 60));
      const t = gpu.upload(x, [rows, vocab], 'f32', 'logits');
      return {
        variant: 'flat',
        // In place: each timed run caps the previous run's output again (the same work).
        run: (rec) => logitSoftcap(rec, t, 30),
        async validate() {
          // The harness validates after exactly one run.
          const got = (await gpu.read(t)) as Float32Array;
          const want = logitSoftcapRef(x.subarray(0, 4096), 30);
          for (let i = 0; i < want.length; i += 7) {
            if (!(Math.abs(got[i] - want[i]) <= 2e-5 + 1e-5 * Math.abs(want[i]))) throw new Error(`logit_softcap [${i}]: got ${got[i]}, expected ${want[i]}`);
          }
        },
        destroy() {
          t.buffer.destroy();
        },
      };
    },
  };
}

export const logitSoftcapSuite: BenchSuite = {
  name: 'logit_softcap',
  cases: (sweep) => (sweep === 'small' ? [softcapCase(1, GEMMA2_VOCAB)] : [softcapCase(1, GEMMA2_VOCAB), softcapCase(64, GEMMA2_VOCAB)]),
};

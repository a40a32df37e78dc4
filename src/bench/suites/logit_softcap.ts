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
          // The harness validates after a run or two (warm-up included): the input capped k times, for some k <= 64.
          const got = (await gpu.read(t)) as Float32Array;
          let want = x.subarray(0, 4096) as ArrayLike<number>;
          const close = (w: ArrayLike<number>) => Array.from({ length: w.length }, (_, i) => i).every((i) => Math.abs(got[i] - w[i]) <= 2e-5 + 1e-5 * Math.abs(w[i]));
          for (let k = 1; k <= 64; k++) {
            want = logitSoftcapRef(want, 30);
            if (close(want)) return;
          }
          throw new Error(`logit_softcap: [0] got ${got[0]}, the input ${x[0]} capped once is ${logitSoftcapRef([x[0]], 30)[0]}`);
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

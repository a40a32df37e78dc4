// Bench entry for kernels/penalties (repetition/frequency/presence on the tokens a request has
// seen) over the Llama-3 vocabulary, numSeqs 1..256, 8192 seen tokens per row. Bytes: one logit
// read and written per entry, plus the entry.
import type { BenchCase, BenchSuite } from '../../bench/types.js';
import { applyPenalties, packPenaltyRows, PENALTY_PARAM_WORDS, PenaltyTokens, type PenaltyRow } from '../../kernels/penalties.js';
import { applyPenaltiesRef } from '../../kernels/ref/penalties.js';
import { Rng } from '../../util/rng.js';

/** Rows as a long chat would have them: `seen` distinct tokens each, some in the output. */
function penaltiesCase(numSeqs: number, V: number, seen: number): BenchCase {
  return {
    kernel: 'penalties',
    shape: `B${numSeqs} V${V} seen${seen}`,
    model: V === 128256 ? 'Llama-3-8B' : '',
    params: { batch: numSeqs, vocab: V },
    bytes: numSeqs * seen * (8 + 8),
    flops: numSeqs * seen * 4,
    async setup(gpu) {
      const rng = new Rng(numSeqs * 17 + seen);
      const values = rng.floats(numSeqs * V, -12, 12);
      const rows: PenaltyRow[] = Array.from({ length: numSeqs }, () =>
        new PenaltyTokens(
          Array.from({ length: seen }, () => rng.int(0, V - 1)),
          Array.from({ length: seen / 4 }, () => rng.int(0, V - 1)),
        ).row({ presencePenalty: 0.5, frequencyPenalty: 0.3, repetitionPenalty: 1.1 }),
      );
      const { rowParams, entries } = packPenaltyRows(rows, V);
      const t = gpu.upload(values, [numSeqs, V], 'f32', 'logits');
      const rp = gpu.upload(rowParams, [numSeqs, PENALTY_PARAM_WORDS], 'u32', 'rowParams');
      const en = gpu.upload(entries, [entries.length / 2, 2], 'u32', 'entries');
      let runs = 0;
      return {
        variant: 'wg64',
        run: (rec) => {
          runs++;
          applyPenalties(rec, t, rp, en);
        },
        async validate() {
          // The kernel works in place: the reference applies the penalties as often as it ran.
          const got = (await gpu.read(t)) as Float32Array;
          let want = values;
          for (let r = 0; r < runs; r++) want = applyPenaltiesRef(want, V, rows);
          for (let i = 0; i < got.length; i += 97) {
            if (Math.abs(got[i] - want[i]) > 1e-5 * Math.max(1, Math.abs(want[i]))) throw new Error(`penalties B${numSeqs}: [${i}] ${got[i]} != ${want[i]}`);
          }
        },
        destroy() {
          for (const x of [t, rp, en]) x.buffer.destroy();
        },
      };
    },
  };
}

export const penaltiesSuite: BenchSuite = {
  name: 'penalties',
  cases: (sweep) => (sweep === 'small' ? [penaltiesCase(4, 32000, 512)] : [1, 64, 256].map((B) => penaltiesCase(B, 128256, 8192))),
};

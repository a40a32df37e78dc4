// Bench entry for kernels/logprobs (the sampled token's logprob and the top 20) over the Llama-3
// vocabulary, numSeqs 1..256. Bytes: each row read once at the napkin floor (the kernel reads it
// twice: max and top-k, then the sum).
import type { BenchCase, BenchSuite } from '../../bench/types.js';
import { logprobs } from '../../kernels/logprobs.js';
import { logprobsRowRef } from '../../kernels/ref/logprobs.js';
import { Rng } from '../../util/rng.js';

const ROWS_CHECKED = 4;

function logprobsCase(numSeqs: number, V: number, K: number): BenchCase {
  return {
    kernel: 'logprobs',
    shape: `B${numSeqs} V${V} K${K}`,
    model: V === 128256 ? 'Llama-3-8B' : '',
    params: { batch: numSeqs, vocab: V },
    bytes: numSeqs * V * 4,
    flops: numSeqs * V * 4,
    async setup(gpu) {
      const rng = new Rng(numSeqs * 31 + V + K);
      const values = rng.floats(numSeqs * V, -12, 12);
      const sampledIds = Array.from({ length: numSeqs }, () => rng.int(0, V - 1));
      const t = gpu.upload(values, [numSeqs, V], 'f32', 'logits');
      const sampled = gpu.upload(Uint32Array.from(sampledIds), [numSeqs], 'u32', 'sampled');
      const lp = gpu.tensor([numSeqs, 1 + K], 'f32', 'lp');
      const ids = gpu.tensor([numSeqs, Math.max(1, K)], 'u32', 'ids');
      return {
        variant: 'wg256',
        run: (rec) => logprobs(rec, t, sampled, lp, ids, K),
        async validate() {
          const [l, i] = (await gpu.readMany([lp, ids])) as [Float32Array, Uint32Array];
          const step = Math.max(1, Math.floor(numSeqs / ROWS_CHECKED));
          for (let s = 0; s < numSeqs; s += step) {
            const want = logprobsRowRef(values.subarray(s * V, (s + 1) * V), sampledIds[s], K);
            const got = Array.from(i.subarray(s * Math.max(1, K), s * Math.max(1, K) + K));
            if (got.join() !== want.topIds.join()) throw new Error(`logprobs B${numSeqs} row ${s}: top ids ${got} != ${want.topIds}`);
            if (Math.abs(l[s * (1 + K)] - want.sampled) > 1e-4) throw new Error(`logprobs B${numSeqs} row ${s}: ${l[s * (1 + K)]} != ${want.sampled}`);
          }
        },
        destroy() {
          for (const x of [t, sampled, lp, ids]) x.buffer.destroy();
        },
      };
    },
  };
}

export const logprobsSuite: BenchSuite = {
  name: 'logprobs',
  cases: (sweep) => (sweep === 'small' ? [logprobsCase(4, 32000, 20)] : [1, 16, 64, 256].map((B) => logprobsCase(B, 128256, 20))),
};

// Bench entry for kernels/sampling: argmax and temperature/top-k/top-p sampling over
// Llama-3 (V 128256) and Qwen2 (V 152064) vocabularies, numSeqs 1..256. Bytes = the logits
// read once (the napkin floor; sampling re-reads rows or its workgroup-memory cache).
import type { BenchCase, BenchSuite } from '../../bench/types.js';
import type { Recorder } from '../../gpu/recorder.js';
import { argmaxRef, sampleRowRef } from '../../kernels/ref/sampling.js';
import { argmax, packSamplingParams, sample, sampleConfig, type SamplingRow } from '../../kernels/sampling.js';
import { fromF16, toF16 } from '../../util/f16.js';
import { Rng } from '../../util/rng.js';

const ROWS_CHECKED = 6;

type Mode = 'argmax' | 'sample' | 'sample_topp';

/** Per-mode parameters: full = T 0.7, top-k 50, top-p 0.9; topp = T 1, top-p 0.95 only. */
function rowsFor(mode: Mode, numSeqs: number): SamplingRow[] {
  return Array.from({ length: numSeqs }, (_, i) =>
    mode === 'sample_topp'
      ? { temperature: 1, topK: 0, topP: 0.95, seed: 1000 + i, step: 17 }
      : { temperature: 0.7, topK: 50, topP: 0.9, seed: 1000 + i, step: 17 },
  );
}

/** LLM-like logits: a normal bulk (sigma 2) and ~20 plausible tokens lifted by 6..14. */
function llmLogits(rng: Rng, numSeqs: number, V: number): Float32Array {
  const out = new Float32Array(numSeqs * V);
  for (let s = 0; s < numSeqs; s++) {
    const row = out.subarray(s * V, (s + 1) * V);
    for (let i = 0; i < V; i++) row[i] = 2 * rng.normal();
    for (let j = 0; j < 20; j++) row[rng.int(0, V - 1)] += rng.uniform(6, 14);
  }
  return out;
}

function samplingCase(mode: Mode, numSeqs: number, V: number, dtype: 'f32' | 'f16', model: string): BenchCase {
  return {
    kernel: mode,
    shape: `B${numSeqs} V${V} ${dtype}`,
    model,
    params: { batch: numSeqs, vocab: V },
    bytes: numSeqs * V * (dtype === 'f16' ? 2 : 4),
    flops: numSeqs * V * (mode === 'argmax' ? 1 : 8),
    async setup(gpu) {
      const rng = new Rng(numSeqs * 7 + V);
      let values = llmLogits(rng, numSeqs, V);
      const logits =
        dtype === 'f16'
          ? (() => {
              const bits = toF16(values);
              values = fromF16(bits);
              return gpu.upload(bits, [numSeqs, V], 'f16', 'logits');
            })()
          : gpu.upload(values, [numSeqs, V], 'f32', 'logits');
      const rows = rowsFor(mode, numSeqs);
      const params = gpu.upload(packSamplingParams(rows), [numSeqs, 8], 'u32', 'params');
      const out = gpu.tensor([numSeqs], 'u32', 'ids');
      const run = (rec: Recorder) => (mode === 'argmax' ? argmax(rec, logits, out) : sample(rec, logits, params, out));
      const cfg = sampleConfig(gpu.limits);
      return {
        variant: mode === 'argmax' ? 'split' : `wg${cfg.wg} cache${cfg.cache}`,
        run,
        async validate() {
          const got = (await gpu.read(out)) as Uint32Array;
          const step = Math.max(1, Math.floor(numSeqs / ROWS_CHECKED));
          for (let s = 0; s < numSeqs; s += step) {
            const row = values.subarray(s * V, (s + 1) * V);
            if (mode === 'argmax') {
              const want = argmaxRef(row, 1, V)[0];
              if (got[s] !== want) throw new Error(`argmax B${numSeqs} V${V} row ${s}: got ${got[s]}, expected ${want}`);
              continue;
            }
            const want = sampleRowRef(row, rows[s]);
            const ok = want.robust ? got[s] === want.token : want.keptRelaxed.includes(got[s]);
            if (!ok) throw new Error(`${mode} B${numSeqs} V${V} row ${s}: got ${got[s]}, expected ${want.token} (robust ${want.robust})`);
          }
        },
        destroy() {
          for (const t of [logits, params, out]) t.buffer.destroy();
        },
      };
    },
  };
}

const MODES: Mode[] = ['argmax', 'sample', 'sample_topp'];

export const samplingSuite: BenchSuite = {
  name: 'sampling',
  cases: (sweep) =>
    sweep === 'small'
      ? MODES.map((m) => samplingCase(m, 4, 32000, 'f32', ''))
      : [
          ...[128256, 152064].flatMap((V) =>
            MODES.flatMap((m) => [1, 16, 64, 256].map((B) => samplingCase(m, B, V, 'f32', V === 128256 ? 'Llama-3-8B' : 'Qwen2-7B'))),
          ),
          ...MODES.flatMap((m) => [1, 64, 256].map((B) => samplingCase(m, B, 152064, 'f16', 'Qwen2-7B'))),
        ],
};

// Bench entry for kernels/fill_random: a pure write-bandwidth kernel (2 bytes written per
// element, an integer hash per element), the cost of making dummy weights on the GPU.
import type { BenchCase, BenchSuite } from '../../bench/types.js';
import { Recorder } from '../../gpu/recorder.js';
import { fillRandom, fillRandomKey } from '../../kernels/fill_random.js';
import { fillRandomValueRef } from '../../kernels/ref/fill_random.js';
import { Rng } from '../../util/rng.js';

function fillCase(rows: number, cols: number, model: string, what: string): BenchCase {
  const n = rows * cols;
  return {
    kernel: 'fill_random',
    shape: `${what} [${rows}, ${cols}]`,
    model,
    params: { n },
    bytes: 2 * n,
    flops: 0,
    async setup(gpu) {
      const out = gpu.tensor([rows, cols], 'f16', 'out');
      const key = fillRandomKey(0, what);
      return {
        variant: 'flat',
        run: (rec) => fillRandom(rec, out, { key, amplitude: 0.125 }),
        async validate() {
          // Poison the start (f16 NaN), run one call here, then check a sample against the reference.
          gpu.write(out, new Uint16Array(Math.min(n, 1 << 20)).fill(0x7e00));
          const rec = new Recorder(gpu, 'validate');
          fillRandom(rec, out, { key, amplitude: 0.125 });
          rec.submit();
          const got = (await gpu.read(out)) as Uint16Array;
          const rng = new Rng(n);
          for (let s = 0; s < 2000; s++) {
            const i = s < 1000 ? s : rng.int(0, n - 1);
            const want = fillRandomValueRef(i, key, 0.125);
            if (got[i] !== want) throw new Error(`fill_random ${what}: [${i}] got bits ${got[i]}, expected ${want}`);
          }
        },
        destroy() {
          out.buffer.destroy();
        },
      };
    },
  };
}

export const fillRandomSuite: BenchSuite = {
  name: 'fill_random',
  cases: (sweep) =>
    sweep === 'small'
      ? [fillCase(256, 1024, '', 'synthetic')]
      : [fillCase(14336 * 2, 4096, 'Llama-3-8B', 'gate_up'), fillCase(128256, 4096, 'Llama-3-8B', 'embed_tokens')],
};

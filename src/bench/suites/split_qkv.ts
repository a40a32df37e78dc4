// Bench entry for kernels/split_qkv: a copy (every element read once and written once).
import type { BenchCase, BenchSuite } from '../../bench/types.js';
import { splitQkv } from '../../kernels/split_qkv.js';
import { splitQkvRef } from '../../kernels/ref/split_qkv.js';
import { Rng } from '../../util/rng.js';

function splitCase(model: string, T: number, qDim: number, kvDim: number): BenchCase {
  const n = T * (qDim + 2 * kvDim);
  return {
    kernel: 'split_qkv',
    shape: `T${T} q${qDim} kv${kvDim}`,
    model,
    params: { tokens: T, qDim, kvDim },
    bytes: 2 * 2 * n,
    flops: 0,
    async setup(gpu) {
      const rng = new Rng(T);
      const bits = Uint16Array.from({ length: n }, () => rng.int(0, 0x7bff));
      const qkv = gpu.upload(bits, [T, qDim + 2 * kvDim], 'f16', 'qkv');
      const [q, k, v] = [qDim, kvDim, kvDim].map((d) => gpu.tensor([T, d], 'f16', 'out'));
      return {
        variant: 'u32 words',
        run: (rec) => splitQkv(rec, qkv, q, k, v),
        async validate() {
          const want = splitQkvRef(bits, T, qDim, kvDim, (m) => new Uint16Array(m));
          for (const [name, t, w] of [['q', q, want.q], ['k', k, want.k], ['v', v, want.v]] as const) {
            const got = (await gpu.read(t)) as Uint16Array;
            for (let i = 0; i < w.length; i += 331) {
              if (got[i] !== w[i]) throw new Error(`split_qkv ${T}: ${name}[${i}] got ${got[i]}, expected ${w[i]}`);
            }
          }
        },
        destroy() {
          for (const t of [qkv, q, k, v]) t.buffer.destroy();
        },
      };
    },
  };
}

export const splitQkvSuite: BenchSuite = {
  name: 'split_qkv',
  cases: (sweep) =>
    sweep === 'small' ? [splitCase('tiny', 64, 256, 128)] : [1, 64, 4096].map((T) => splitCase('Llama-3-8B', T, 4096, 1024)),
};

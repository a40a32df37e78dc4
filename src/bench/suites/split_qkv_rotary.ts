// Bench entry for kernels/split_qkv_rotary: the fused q/k/v projection split into q, k, v, q and k
// rotated (NeoX, Llama-3 rope) and every token's k/v row written into the paged cache, on Llama-3-8B
// heads. A copy with a little arithmetic: bytes = qkv read + q, k, v written + k/v cache rows + one
// cos/sin row and a position and slot per token. validate() checks sampled tokens against the reference.
import type { BenchCase, BenchSuite } from '../../bench/types.js';
import { rotaryVariant } from '../../kernels/rotary.js';
import { splitQkvRotary } from '../../kernels/split_qkv_rotary.js';
import { splitQkvRotaryRef } from '../../kernels/ref/split_qkv_rotary.js';
import { f16BitsToF32 } from '../../util/f16.js';
import { Rng } from '../../util/rng.js';
import { cacheRow, checkRows, qkvPrologue } from './qkv_prologue.js';
import { llama3CosSin, MAX_POS, TOKENS_CHECKED, type RotaryShape } from './rotary.js';

function splitRotaryCase({ T, Hq, Hk, D }: RotaryShape, model: string): BenchCase {
  const opts = { style: 'neox', rotaryDim: D } as const;
  const width = (Hq + 2 * Hk) * D;
  return {
    kernel: 'split_qkv_rotary',
    shape: `T${T} Hq${Hq} Hk${Hk} D${D} neox cache`,
    model,
    params: { tokens: T, numHeads: Hq, numKvHeads: Hk, headDim: D },
    bytes: T * (2 * width * 2 + 2 * Hk * D * 2 + D * 4 + 8),
    // Two multiplies and an add per rotated value.
    flops: 3 * T * (Hq + Hk) * D,
    async setup(gpu) {
      const table = llama3CosSin(D);
      const io = qkvPrologue(gpu, new Rng(T * 17 + D), T, Hq, Hk, D, table, MAX_POS);
      const { q, k, v } = io;
      // Rotated values within rotary's tolerance of the f64 reference (1 f16 ulp), copies exact.
      const close = (a: number, b: number) => Math.abs(f16BitsToF32(a) - f16BitsToF32(b)) <= 2 ** -10 * Math.abs(f16BitsToF32(b)) + 1e-5;
      return {
        variant: rotaryVariant(D, D),
        run: (rec) => splitQkvRotary(rec, io.qkv, q, k, v, io.tPos, io.cosSin, opts, io.cache),
        async validate() {
          const [gq, gk, gv, gkc, gvc] = (await gpu.readMany([q, k, v, io.cache.kCache, io.cache.vCache])) as Uint16Array[];
          for (let t = 0; t < T; t += Math.max(1, Math.floor(T / TOKENS_CHECKED))) {
            const want = splitQkvRotaryRef(io.qkv16.subarray(t * width, (t + 1) * width), 1, Hq, Hk, D, io.positions.subarray(t, t + 1), table, opts, null);
            const checks: [string, Uint16Array, Uint16Array, boolean][] = [
              ['q', gq.subarray(t * Hq * D, (t + 1) * Hq * D), want.q, true],
              ['k', gk.subarray(t * Hk * D, (t + 1) * Hk * D), want.k, true],
              ['v', gv.subarray(t * Hk * D, (t + 1) * Hk * D), want.v, false],
            ];
            for (let h = 0; h < Hk; h++) {
              const row = cacheRow(io.slots[t], h, Hk, D);
              checks.push(['kCache', gkc.subarray(row, row + D), want.k.subarray(h * D, (h + 1) * D), true]);
              checks.push(['vCache', gvc.subarray(row, row + D), want.v.subarray(h * D, (h + 1) * D), false]);
            }
            checkRows(`split_qkv_rotary T${T} token ${t}`, checks, close);
          }
        },
        destroy() {
          for (const x of io.tensors) x.buffer.destroy();
        },
      };
    },
  };
}

export const splitQkvRotarySuite: BenchSuite = {
  name: 'split_qkv_rotary',
  cases: (sweep) =>
    sweep === 'small'
      ? [splitRotaryCase({ T: 16, Hq: 4, Hk: 2, D: 64 }, '')]
      : [1, 64, 4096].map((T) => splitRotaryCase({ T, Hq: 32, Hk: 8, D: 128 }, 'Llama-3-8B')),
};

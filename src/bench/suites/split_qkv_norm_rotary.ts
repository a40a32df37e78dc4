// Bench entry for kernels/split_qkv_norm_rotary: Qwen3-8B's attention prologue (q/k/v split, per-head
// q/k RMSNorm, NeoX rotary with theta 1e6, k/v rows into the paged cache). Bytes = qkv read + q, k, v
// written + k/v cache rows + one cos/sin row and a position and slot per token. validate() checks
// sampled tokens against the reference (2 f16 ulps on normed and rotated values, copies exact).
import type { BenchCase, BenchSuite } from '../../bench/types.js';
import { splitQkvNormRotary } from '../../kernels/split_qkv_norm_rotary.js';
import { splitQkvNormRotaryRef } from '../../kernels/ref/split_qkv_norm_rotary.js';
import { ropeCosSinTable, ropeInvFreq } from '../../model/rope.js';
import { toF16 } from '../../util/f16.js';
import { Rng } from '../../util/rng.js';
import { cacheRow, checkRows, qkvPrologue, withinUlps } from './qkv_prologue.js';

const MAX_POS = 8192;
const TOKENS_CHECKED = 16;
const EPS = 1e-6;

function normRotaryCase(T: number, Hq: number, Hk: number, D: number, model: string): BenchCase {
  const width = (Hq + 2 * Hk) * D;
  const opts = { rotaryDim: D, eps: EPS };
  return {
    kernel: 'split_qkv_norm_rotary',
    shape: `T${T} Hq${Hq} Hk${Hk} D${D} cache`,
    model,
    params: { tokens: T, numHeads: Hq, numKvHeads: Hk, headDim: D },
    bytes: T * (2 * width * 2 + 2 * Hk * D * 2 + D * 4 + 8),
    // Per normed value: square-add, scale, weight; per rotated value: two multiplies and an add.
    flops: 6 * T * (Hq + Hk) * D,
    async setup(gpu) {
      const rng = new Rng(T * 31 + D);
      const table = ropeCosSinTable(ropeInvFreq({ theta: 1e6, rotaryDim: D }), MAX_POS);
      const io = qkvPrologue(gpu, rng, T, Hq, Hk, D, table, MAX_POS);
      const qNorm16 = toF16(rng.floats(D, 0.7, 1.3));
      const kNorm16 = toF16(rng.floats(D, 0.7, 1.3));
      const qNorm = gpu.upload(qNorm16, [D], 'f16', 'qNorm');
      const kNorm = gpu.upload(kNorm16, [D], 'f16', 'kNorm');
      const { q, k, v } = io;
      return {
        variant: gpu.limits.maxStorageBuffersPerShaderStage >= 11 ? 'cache fused' : 'cache by reshape_and_cache',
        run: (rec) => splitQkvNormRotary(rec, io.qkv, qNorm, kNorm, q, k, v, io.tPos, io.cosSin, opts, io.cache),
        async validate() {
          const [gq, gk, gv, gkc] = (await gpu.readMany([q, k, v, io.cache.kCache])) as Uint16Array[];
          for (let t = 0; t < T; t += Math.max(1, Math.floor(T / TOKENS_CHECKED))) {
            const want = splitQkvNormRotaryRef(io.qkv16.subarray(t * width, (t + 1) * width), qNorm16, kNorm16, 1, Hq, Hk, D, io.positions.subarray(t, t + 1), table, opts, null);
            const row = cacheRow(io.slots[t], 0, Hk, D); // kv head 0
            checkRows(`split_qkv_norm_rotary T${T} token ${t}`, [
              ['q', gq.subarray(t * Hq * D, (t + 1) * Hq * D), want.q, true],
              ['k', gk.subarray(t * Hk * D, (t + 1) * Hk * D), want.k, true],
              ['v', gv.subarray(t * Hk * D, (t + 1) * Hk * D), want.v, false],
              ['kCache', gkc.subarray(row, row + D), want.k.subarray(0, D), true],
            ], withinUlps(2));
          }
        },
        destroy() {
          for (const x of [...io.tensors, qNorm, kNorm]) x.buffer.destroy();
        },
      };
    },
  };
}

export const splitQkvNormRotarySuite: BenchSuite = {
  name: 'split_qkv_norm_rotary',
  cases: (sweep) => (sweep === 'small' ? [normRotaryCase(16, 4, 2, 64, '')] : [1, 64, 4096].map((T) => normRotaryCase(T, 32, 8, 128, 'Qwen3-8B'))),
};

// Bench entry for kernels/split_qkv_norm_rotary: Qwen3-8B's attention prologue (q/k/v split, per-head
// q/k RMSNorm, NeoX rotary with theta 1e6, k/v rows into the paged cache). Bytes = qkv read + q, k, v
// written + k/v cache rows + one cos/sin row and a position and slot per token. validate() checks
// sampled tokens against the reference (2 f16 ulps on normed and rotated values, copies exact).
import type { BenchCase, BenchSuite } from '../../bench/types.js';
import { splitQkvNormRotary } from '../../kernels/split_qkv_norm_rotary.js';
import { splitQkvNormRotaryRef } from '../../kernels/ref/split_qkv_norm_rotary.js';
import { ropeCosSinTable, ropeInvFreq } from '../../model/rope.js';
import { f16BitsToF32, toF16 } from '../../util/f16.js';
import { Rng } from '../../util/rng.js';

const MAX_POS = 8192;
const TOKENS_CHECKED = 16;
const EPS = 1e-6;

function normRotaryCase(T: number, Hq: number, Hk: number, D: number, model: string): BenchCase {
  const width = (Hq + 2 * Hk) * D;
  const numBlocks = Math.ceil(T / 16) + 1;
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
      const qkv16 = toF16(rng.floats(T * width, -2, 2));
      const qNorm16 = toF16(rng.floats(D, 0.7, 1.3));
      const kNorm16 = toF16(rng.floats(D, 0.7, 1.3));
      const positions = Uint32Array.from({ length: T }, () => rng.int(0, MAX_POS - 1));
      const slots = Uint32Array.from({ length: T }, (_, t) => t + 16); // block 0 left alone
      const table = ropeCosSinTable(ropeInvFreq({ theta: 1e6, rotaryDim: D }), MAX_POS);
      const qkv = gpu.upload(qkv16, [T, width], 'f16', 'qkv');
      const qNorm = gpu.upload(qNorm16, [D], 'f16', 'qNorm');
      const kNorm = gpu.upload(kNorm16, [D], 'f16', 'kNorm');
      const [q, k, v] = [Hq, Hk, Hk].map((h) => gpu.tensor([T, h, D], 'f16', 'out'));
      const kCache = gpu.tensor([numBlocks, Hk, 16, D], 'f16', 'kCache');
      const vCache = gpu.tensor([numBlocks, Hk, 16, D], 'f16', 'vCache');
      const tPos = gpu.upload(positions, [T], 'u32', 'positions');
      const slotMapping = gpu.upload(slots, [T], 'u32', 'slotMapping');
      const cosSin = gpu.upload(table, [MAX_POS, D], 'f32', 'cosSin');
      const cache = { kCache, vCache, slotMapping };
      return {
        variant: gpu.limits.maxStorageBuffersPerShaderStage >= 11 ? 'cache fused' : 'cache by reshape_and_cache',
        run: (rec) => splitQkvNormRotary(rec, qkv, qNorm, kNorm, q, k, v, tPos, cosSin, opts, cache),
        async validate() {
          const [gq, gk, gv, gkc] = (await gpu.readMany([q, k, v, kCache])) as Uint16Array[];
          const ulp = (x: number) => 2 ** (Math.floor(Math.log2(Math.max(Math.abs(x), 2 ** -14))) - 10);
          const close = (a: number, b: number) => Math.abs(f16BitsToF32(a) - f16BitsToF32(b)) <= 2 * ulp(f16BitsToF32(b));
          for (let t = 0; t < T; t += Math.max(1, Math.floor(T / TOKENS_CHECKED))) {
            const want = splitQkvNormRotaryRef(qkv16.subarray(t * width, (t + 1) * width), qNorm16, kNorm16, 1, Hq, Hk, D, positions.subarray(t, t + 1), table, opts, null);
            const slot = slots[t];
            const cacheRow = ((Math.floor(slot / 16) * Hk) * 16 + (slot % 16)) * D; // kv head 0
            const checks: [string, Uint16Array, Uint16Array, boolean][] = [
              ['q', gq.subarray(t * Hq * D, (t + 1) * Hq * D), want.q, true],
              ['k', gk.subarray(t * Hk * D, (t + 1) * Hk * D), want.k, true],
              ['v', gv.subarray(t * Hk * D, (t + 1) * Hk * D), want.v, false],
              ['kCache', gkc.subarray(cacheRow, cacheRow + D), want.k.subarray(0, D), true],
            ];
            for (const [name, have, w, normed] of checks) {
              const bad = w.findIndex((x, i) => (normed ? !close(have[i], x) : have[i] !== x));
              if (bad >= 0) throw new Error(`split_qkv_norm_rotary T${T}: ${name} of token ${t} at ${bad}: 0x${have[bad].toString(16)}, expected 0x${w[bad].toString(16)}`);
            }
          }
        },
        destroy() {
          for (const x of [qkv, qNorm, kNorm, q, k, v, kCache, vCache, tPos, slotMapping, cosSin]) x.buffer.destroy();
        },
      };
    },
  };
}

export const splitQkvNormRotarySuite: BenchSuite = {
  name: 'split_qkv_norm_rotary',
  cases: (sweep) => (sweep === 'small' ? [normRotaryCase(16, 4, 2, 64, '')] : [1, 64, 4096].map((T) => normRotaryCase(T, 32, 8, 128, 'Qwen3-8B'))),
};

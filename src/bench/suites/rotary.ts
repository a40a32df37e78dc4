// Bench entry for kernels/rotary: NeoX RoPE with Llama-3.1 scaling on Llama-3-8B heads (32 q,
// 8 kv, head_dim 128), positions below 8192. Rotary works in place, so validate() restores q
// and k and runs one call of its own before comparing.
import type { BenchCase, BenchSuite } from '../../bench/types.js';
import { Recorder } from '../../gpu/recorder.js';
import { rotary, rotaryVariant } from '../../kernels/rotary.js';
import { rotaryRef } from '../../kernels/ref/rotary.js';
import { ropeCosSinTable, ropeInvFreq, type RopeParams } from '../../model/rope.js';
import { fromF16, toF16 } from '../../util/f16.js';
import { Rng } from '../../util/rng.js';

/** Positions of the rotary benches' table (and the range their tokens' positions are drawn from). */
export const MAX_POS = 8192;
/** Tokens whose rows validate() compares with the reference. */
export const TOKENS_CHECKED = 32;

export interface RotaryShape {
  readonly T: number;
  readonly Hq: number;
  readonly Hk: number;
  readonly D: number;
}

/** The cos/sin table of Llama-3.1's rope (theta 500000, llama3 scaling) for head dim D, MAX_POS rows. */
export function llama3CosSin(D: number): Float32Array {
  const rope: RopeParams = { theta: 500000, rotaryDim: D, type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 };
  return ropeCosSinTable(ropeInvFreq(rope), MAX_POS);
}

function rotaryCase({ T, Hq, Hk, D }: RotaryShape, model: string): BenchCase {
  const opts = { style: 'neox', rotaryDim: D } as const;
  return {
    kernel: 'rotary',
    shape: `T${T} Hq${Hq} Hk${Hk} D${D} neox`,
    model,
    params: { tokens: T, numHeads: Hq, numKvHeads: Hk, headDim: D },
    // q and k read and written, positions, one cos/sin row per token.
    bytes: 2 * T * (Hq + Hk) * D * 2 + T * 4 + T * D * 4,
    // Two multiplies and an add per rotated value.
    flops: 3 * T * (Hq + Hk) * D,
    async setup(gpu) {
      const rng = new Rng(T * 13 + D);
      const q16 = toF16(rng.floats(T * Hq * D, -2, 2));
      const k16 = toF16(rng.floats(T * Hk * D, -2, 2));
      const positions = Uint32Array.from({ length: T }, () => rng.int(0, MAX_POS - 1));
      const table = llama3CosSin(D);
      const q = gpu.upload(q16, [T, Hq, D], 'f16', 'q');
      const k = gpu.upload(k16, [T, Hk, D], 'f16', 'k');
      const tPos = gpu.upload(positions, [T], 'u32', 'positions');
      const cosSin = gpu.upload(table, [MAX_POS, D], 'f32', 'cosSin');
      return {
        variant: rotaryVariant(D, D),
        run: (rec) => rotary(rec, q, k, tPos, cosSin, opts),
        async validate() {
          gpu.write(q, q16);
          gpu.write(k, k16);
          const rec = new Recorder(gpu, 'validate');
          rotary(rec, q, k, tPos, cosSin, opts);
          rec.submit();
          for (const [t16, x16, H, name] of [[q, q16, Hq, 'q'], [k, k16, Hk, 'k']] as const) {
            const got = fromF16((await gpu.read(t16)) as Uint16Array);
            for (let t = 0; t < T; t += Math.max(1, Math.floor(T / TOKENS_CHECKED))) {
              const span = [t * H * D, (t + 1) * H * D] as const;
              const want = rotaryRef(fromF16(x16.subarray(...span)), H, D, positions.subarray(t, t + 1), table, opts);
              const have = got.subarray(...span);
              // 1 f16 ulp (the test's tolerance).
              const bad = want.findIndex((w, i) => !(Math.abs(have[i] - w) <= 2 ** -10 * Math.abs(w) + 1e-5));
              if (bad >= 0) throw new Error(`rotary T${T}: ${name}[${t}, ${Math.floor(bad / D)}, ${bad % D}] = ${have[bad]}, expected ${want[bad]}`);
            }
          }
        },
        destroy() {
          for (const t of [q, k, tPos, cosSin]) t.buffer.destroy();
        },
      };
    },
  };
}

export const rotarySuite: BenchSuite = {
  name: 'rotary',
  cases: (sweep) =>
    sweep === 'small'
      ? [rotaryCase({ T: 16, Hq: 4, Hk: 2, D: 64 }, '')]
      : [1, 16, 256, 4096].map((T) => rotaryCase({ T, Hq: 32, Hk: 8, D: 128 }, 'Llama-3-8B')),
};

// Bench entry for kernels/prefill_attention: causal prefill of whole prompts (no prior
// context) over a paged cache with shuffled blocks, Llama-3-8B attention heads (32 q / 8 kv,
// headDim 128). FLOPs count the causal pairs only: 4 · numHeads · headDim per (query, key)
// pair with key <= query (QKᵀ and PV, 2 FLOPs per multiply-add), as FlashAttention reports.
import type { BenchCase, BenchSuite } from '../../bench/types.js';
import { prefillAttention, prefillAttentionVariant } from '../../kernels/prefill_attention.js';
import { f16BitsToF32, toF16 } from '../../util/f16.js';
import { Rng } from '../../util/rng.js';

interface Shape {
  readonly numSeqs: number;
  readonly tokens: number; // prompt length of each sequence
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
  readonly window?: number;
  readonly model?: string;
}

const LLAMA3_8B = { numHeads: 32, numKvHeads: 8, headDim: 128 };
// The other shapes of real checkpoints (issue 16): GQA 7, head dims 96 and 256 (the plain kernel everywhere), a sliding window.
const COVERAGE = [
  { model: 'Qwen2.5-7B', numHeads: 28, numKvHeads: 4, headDim: 128 },
  { model: 'Phi-3-mini', numHeads: 32, numKvHeads: 32, headDim: 96 },
  { model: 'Gemma-3-12B', numHeads: 16, numKvHeads: 8, headDim: 256 },
  { model: 'Mistral-7B-v0.1', numHeads: 32, numKvHeads: 8, headDim: 128, window: 4096 },
];
const BLOCK = 16;
const TOL = { atol: 2e-3, rtol: 1e-2 };
const SAMPLES = 48;

function prefillCase(s: Shape): BenchCase {
  const { numSeqs, tokens: L, numHeads: H, numKvHeads: Hkv, headDim: D, window } = s;
  const numTokens = numSeqs * L;
  const pairs = numSeqs * ((L * (L + 1)) / 2);
  return {
    kernel: 'prefill_attention',
    shape: `${numSeqs > 1 ? `${numSeqs}x` : ''}${L} Hq${H} Hkv${Hkv} D${D} causal${window ? ` window${window}` : ''}`,
    model: s.model ?? 'Llama-3-8B',
    params: { numSeqs, tokens: L, numHeads: H, numKvHeads: Hkv, headDim: D },
    // q read + out written once, every key and value read at least once.
    bytes: 2 * numTokens * H * D * 2 + 2 * numTokens * Hkv * D * 2,
    flops: 4 * H * D * pairs,
    async setup(gpu) {
      const rng = new Rng(L * 7 + numSeqs);
      const blocksPerSeq = Math.ceil(L / BLOCK);
      const numBlocks = numSeqs * blocksPerSeq;
      const perm = [...Array(numBlocks).keys()];
      for (let i = numBlocks - 1; i > 0; i--) {
        const j = rng.int(0, i);
        [perm[i], perm[j]] = [perm[j], perm[i]];
      }
      const tables = Uint32Array.from(perm); // seq i: perm[i * blocksPerSeq ..]
      const q16 = toF16(rng.floats(numTokens * H * D, -3, 3));
      const k16 = toF16(rng.floats(numBlocks * Hkv * BLOCK * D, -1, 1));
      const v16 = toF16(rng.floats(numBlocks * Hkv * BLOCK * D, -1, 1));
      const cacheShape = [numBlocks, Hkv, BLOCK, D];
      const q = gpu.upload(q16, [numTokens, H, D], 'f16', 'q');
      const kCache = gpu.upload(k16, cacheShape, 'f16', 'kCache');
      const vCache = gpu.upload(v16, cacheShape, 'f16', 'vCache');
      const qsl = gpu.upload(Uint32Array.from({ length: numSeqs + 1 }, (_, i) => i * L), [numSeqs + 1], 'u32', 'queryStartLoc');
      const seqLens = gpu.upload(new Uint32Array(numSeqs).fill(L), [numSeqs], 'u32', 'seqLens');
      const blockTables = gpu.upload(tables, [numSeqs, blocksPerSeq], 'u32', 'blockTables');
      const out = gpu.tensor([numTokens, H, D], 'f16', 'out');
      const scale = 1 / Math.sqrt(D);
      return {
        variant: prefillAttentionVariant(gpu, D),
        run: (rec) => prefillAttention(rec, q, kCache, vCache, qsl, seqLens, blockTables, out, { scale, maxQueryLen: L, slidingWindow: window }),
        async validate() {
          const got = (await gpu.read(out)) as Uint16Array;
          const sample = new Rng(99);
          for (let n = 0; n < SAMPLES; n++) {
            // Rows near the end of a prompt see the most keys; sample those and random ones.
            const seq = sample.int(0, numSeqs - 1);
            const pos = n % 4 === 0 ? L - 1 - sample.int(0, 3) : sample.int(0, L - 1);
            const h = sample.int(0, H - 1);
            const want = rowRef(q16, k16, v16, tables, s, seq, pos, h);
            const off = ((seq * L + pos) * H + h) * D;
            for (let d = 0; d < D; d++) {
              const a = f16BitsToF32(got[off + d]);
              if (!(Math.abs(a - want[d]) <= TOL.atol + TOL.rtol * Math.abs(want[d]))) {
                throw new Error(`prefill_attention ${L}: seq ${seq} pos ${pos} head ${h} [${d}]: got ${a}, expected ${want[d]}`);
              }
            }
          }
        },
        destroy() {
          for (const t of [q, kCache, vCache, qsl, seqLens, blockTables, out]) t.buffer.destroy();
        },
      };
    },
  };
}

// One output row in f64: query (seq, pos, head) over keys [0, pos] of its sequence (the last `window` of them).
function rowRef(q: Uint16Array, k: Uint16Array, v: Uint16Array, tables: Uint32Array, s: Shape, seq: number, pos: number, h: number): Float64Array {
  const { tokens: L, numHeads: H, numKvHeads: Hkv, headDim: D } = s;
  const kvHead = Math.floor(h / (H / Hkv));
  const blocksPerSeq = Math.ceil(L / BLOCK);
  const qOff = ((seq * L + pos) * H + h) * D;
  const rowOf = (t: number) => ((tables[seq * blocksPerSeq + Math.floor(t / BLOCK)] * Hkv + kvHead) * BLOCK + (t % BLOCK)) * D;
  const w = new Float64Array(pos + 1);
  const first = s.window ? Math.max(0, pos + 1 - s.window) : 0;
  let max = -Infinity;
  for (let t = first; t <= pos; t++) {
    let dot = 0;
    const kOff = rowOf(t);
    for (let d = 0; d < D; d++) dot += f16BitsToF32(q[qOff + d]) * f16BitsToF32(k[kOff + d]);
    w[t] = dot / Math.sqrt(D);
    max = Math.max(max, w[t]);
  }
  let sum = 0;
  for (let t = first; t <= pos; t++) sum += w[t] = Math.exp(w[t] - max);
  const out = new Float64Array(D);
  for (let t = first; t <= pos; t++) {
    const vOff = rowOf(t);
    for (let d = 0; d < D; d++) out[d] += (w[t] / sum) * f16BitsToF32(v[vOff + d]);
  }
  return out;
}

export const prefillAttentionSuite: BenchSuite = {
  name: 'prefill_attention',
  cases: (sweep) =>
    sweep === 'small'
      ? [prefillCase({ numSeqs: 1, tokens: 128, ...LLAMA3_8B })]
      : [
          prefillCase({ numSeqs: 1, tokens: 512, ...LLAMA3_8B }),
          prefillCase({ numSeqs: 1, tokens: 2048, ...LLAMA3_8B }),
          prefillCase({ numSeqs: 1, tokens: 8192, ...LLAMA3_8B }),
          prefillCase({ numSeqs: 4, tokens: 2048, ...LLAMA3_8B }),
          ...COVERAGE.map((m) => prefillCase({ numSeqs: 1, tokens: m.window ? 8192 : 2048, ...m })),
        ],
};

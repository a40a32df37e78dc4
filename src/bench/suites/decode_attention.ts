// Bench entry for kernels/decode_attention: paged decode attention, a bandwidth kernel that
// must stream every cached K and V byte once. Bytes = K + V of the context
// (numSeqs · ctx · numKvHeads · headDim · 2 bytes · 2) + q and out.
//
// The physical cache is capped (1 GiB each for K and V, or the device's binding limit): where a
// batch's context is larger, sequences' block tables map onto a shuffled pool of physical blocks
// that they share. Every read still comes from device memory (the pool is far larger than L2).
import { fillTiled } from '../../bench/fill.js';
import type { BenchCase, BenchSuite } from '../../bench/types.js';
import type { Gpu } from '../../gpu/gpu.js';
import { decodeAttention, DEFAULT_PARTITION_SIZE, planDecodeAttention } from '../../kernels/decode_attention.js';
import { attentionRef } from '../../kernels/ref/attention.js';
import { f16BitsToF32, fromF16, toF16 } from '../../util/f16.js';
import { Rng } from '../../util/rng.js';

interface Model {
  readonly name: string;
  readonly numHeads: number;
  readonly numKvHeads: number;
  readonly headDim: number;
}

const LLAMA3_8B: Model = { name: 'Llama-3-8B', numHeads: 32, numKvHeads: 8, headDim: 128 };
const LLAMA2_7B: Model = { name: 'Llama-2-7B', numHeads: 32, numKvHeads: 32, headDim: 128 };
// The other shapes of real checkpoints (issue 16): GQA 7, head dims 96 and 256, GQA 3, and a sliding window.
const COVERAGE: readonly (Model & { readonly window?: number })[] = [
  { name: 'Qwen2.5-7B', numHeads: 28, numKvHeads: 4, headDim: 128 },
  { name: 'Phi-3-mini', numHeads: 32, numKvHeads: 32, headDim: 96 },
  { name: 'Gemma-3-12B', numHeads: 16, numKvHeads: 8, headDim: 256 },
  { name: 'SmolLM2-360M', numHeads: 15, numKvHeads: 5, headDim: 64 },
  { name: 'Mistral-7B-v0.1 (window 4096)', numHeads: 32, numKvHeads: 8, headDim: 128, window: 4096 },
];

const BLOCK = 16;
const PATTERN = 1 << 22; // halves of random data tiled over the cache (8 MiB)
const CACHE_CAP_BYTES = 1 << 30;

interface CaseOptions {
  /**
   * 'shuffled' block tables (as after churn in a real cache, the default) or 'sequential' ones (each
   * sequence's blocks contiguous, as PyTorch's contiguous K/V): the pair separates the cost of
   * scattered 4 KiB tile reads from everything else in the kernel.
   */
  readonly order?: 'shuffled' | 'sequential';
  /** Arena slots are allocated at the cap at once (full sweep: no reallocation between cases). */
  readonly big?: boolean;
  /** Allocation probe number `fresh` (> 0): the case allocates and frees its own cache instead of the arena's. */
  readonly fresh?: number;
  /** Forces the q heads per workgroup (`headsPerWorkgroup`; same bits, different speed). */
  readonly gw?: number;
  /** Another partition size (tuning: changes the bits). */
  readonly partitionSize?: number;
  /** Forces the end-of-workgroup combine (tuning: same bits). */
  readonly epilogue?: 'all-heads' | 'per-head';
  /** A sliding window (the query sees the last `window` keys). */
  readonly window?: number;
}

function decodeCase(model: Model, numSeqs: number, ctx: number, { order = 'shuffled', big = false, fresh = 0, gw, partitionSize, epilogue, window }: CaseOptions = {}): BenchCase {
  const { numHeads, numKvHeads, headDim } = model;
  const kvBytes = numSeqs * ctx * numKvHeads * headDim * 2 * 2;
  return {
    kernel: 'decode_attention',
    shape: `B${numSeqs} Hq${numHeads} Hkv${numKvHeads} D${headDim} ctx${ctx}${order === 'sequential' ? ' seq-blocks' : ''}${fresh ? ` fresh-alloc#${fresh}` : ''}${gw ? ` GW${gw}` : ''}${partitionSize ? ` P${partitionSize}` : ''}${epilogue ? ` ${epilogue}` : ''}${window ? ` window${window}` : ''}`,
    model: model.name,
    params: { batch: numSeqs, context: ctx, numHeads, numKvHeads, headDim },
    bytes: kvBytes + 2 * numSeqs * numHeads * headDim * 2,
    flops: 4 * numSeqs * numHeads * ctx * headDim,
    async setup(gpu: Gpu, arena) {
      const rng = new Rng(numSeqs * 100003 + ctx);
      const blocksPerSeq = Math.ceil(ctx / BLOCK);
      const blockBytes = numKvHeads * BLOCK * headDim * 2;
      const cap = Math.min(CACHE_CAP_BYTES, Number(gpu.limits.maxStorageBufferBindingSize), Number(gpu.limits.maxBufferSize));
      const numBlocks = Math.min(numSeqs * blocksPerSeq, Math.floor(cap / blockBytes));
      const pool = Array.from({ length: numBlocks }, (_, i) => i);
      for (let i = numBlocks - 1; i > 0 && order === 'shuffled'; i--) {
        const j = rng.int(0, i);
        [pool[i], pool[j]] = [pool[j], pool[i]];
      }
      const blockTables = new Uint32Array(numSeqs * blocksPerSeq);
      for (let i = 0; i < blockTables.length; i++) blockTables[i] = pool[i % numBlocks];

      // K and V: a random pattern of PATTERN halves repeated over the cache (V offset by half).
      const pattern = toF16(rng.floats(PATTERN, -1, 1));
      const cacheHalves = numBlocks * blockBytes / 2;
      const shape = [numBlocks, numKvHeads, BLOCK, headDim];
      const kCache = fresh ? gpu.tensor(shape, 'f16', 'kCache') : arena.tensor('kCache', shape, 'f16', big ? cap : 0);
      const vCache = fresh ? gpu.tensor(shape, 'f16', 'vCache') : arena.tensor('vCache', shape, 'f16', big ? cap : 0);
      const vShift = PATTERN / 2;
      fillTiled(gpu, kCache, pattern, cacheHalves);
      fillTiled(gpu, vCache, pattern, cacheHalves, vShift);
      const qBits = toF16(rng.floats(numSeqs * numHeads * headDim, -2, 2));
      const q = gpu.upload(qBits, [numSeqs, numHeads, headDim], 'f16', 'q');
      const bt = gpu.upload(blockTables, [numSeqs, blocksPerSeq], 'u32', 'blockTables');
      const seqLens = gpu.upload(new Uint32Array(numSeqs).fill(ctx), [numSeqs], 'u32', 'seqLens');
      const out = gpu.tensor([numSeqs, numHeads, headDim], 'f16', 'out');
      const scale = 1 / Math.sqrt(headDim);
      const P = partitionSize ?? DEFAULT_PARTITION_SIZE;
      const plan = planDecodeAttention(numHeads, numKvHeads, headDim, gpu.caps.subgroupMinSize || 4, P, gw);
      const cacheNote = numBlocks < numSeqs * blocksPerSeq ? ` pool=${numBlocks}blk` : '';
      return {
        variant: `P=${P} GW=${plan.headsPerWorkgroup} TPK=${plan.lanesPerToken}${epilogue ? ` ${epilogue}` : ''}${cacheNote}`,
        run: (rec) => decodeAttention(rec, q, kCache, vCache, bt, seqLens, out, { scale, maxSeqLen: ctx, headsPerWorkgroup: gw, partitionSize: P, epilogue, slidingWindow: window }),
        async validate() {
          const got = fromF16((await gpu.read(out)) as Uint16Array);
          const G = numHeads / numKvHeads;
          // A few (sequence, kv head) pairs, each with its G query heads, against the f64 reference.
          for (const s of new Set([0, numSeqs - 1])) {
            for (const kvh of new Set([0, numKvHeads - 1])) {
              const tile = BLOCK * headDim;
              const kc = new Float32Array(blocksPerSeq * tile);
              const vc = new Float32Array(blocksPerSeq * tile);
              for (let b = 0; b < blocksPerSeq; b++) {
                const base = (blockTables[s * blocksPerSeq + b] * numKvHeads + kvh) * tile;
                for (let i = 0; i < tile; i++) {
                  kc[b * tile + i] = f16BitsToF32(pattern[(base + i) % PATTERN]);
                  vc[b * tile + i] = f16BitsToF32(pattern[(base + i + vShift) % PATTERN]);
                }
              }
              const q0 = (s * numHeads + kvh * G) * headDim;
              const qs = fromF16(qBits.subarray(q0, q0 + G * headDim));
              const identity = Uint32Array.from({ length: blocksPerSeq }, (_, i) => i);
              const want = attentionRef(qs, kc, vc, identity, {
                numHeads: G,
                numKvHeads: 1,
                headDim,
                scale,
                queryLens: [1],
                contextLens: [ctx],
                maxBlocksPerSeq: blocksPerSeq,
                slidingWindow: window,
              });
              for (let i = 0; i < want.length; i++) {
                const a = got[q0 + i];
                if (!(Math.abs(a - want[i]) <= 2e-3 + 1e-2 * Math.abs(want[i]))) {
                  throw new Error(`seq ${s} head ${kvh * G + Math.floor(i / headDim)} dim ${i % headDim}: got ${a}, expected ${want[i]}`);
                }
              }
            }
          }
        },
        destroy() {
          for (const t of [q, bt, seqLens, out, ...(fresh ? [kCache, vCache] : [])]) t.buffer.destroy();
        },
      };
    },
  };
}

const CONTEXTS = [128, 512, 1024, 2048, 4096, 8192, 16384, 32768];
const BATCHES = [1, 16, 64, 256];

export const decodeAttentionSuite: BenchSuite = {
  name: 'decode_attention',
  cases: (sweep) =>
    sweep === 'small'
      ? [decodeCase(LLAMA3_8B, 4, 512), decodeCase(LLAMA2_7B, 1, 1000)]
      : [
          ...[LLAMA3_8B, LLAMA2_7B].flatMap((m) => BATCHES.flatMap((b) => CONTEXTS.map((ctx) => decodeCase(m, b, ctx, { big: true })))),
          // Locality probes: the same shapes with contiguous blocks.
          decodeCase(LLAMA3_8B, 64, 4096, { order: 'sequential', big: true }),
          decodeCase(LLAMA3_8B, 256, 4096, { order: 'sequential', big: true }),
          decodeCase(LLAMA3_8B, 1, 32768, { order: 'sequential', big: true }),
          // Allocation probes: the target shape three times over with its own fresh 0.5 GiB caches.
          ...[1, 2, 3].map((i) => decodeCase(LLAMA3_8B, 64, 4096, { big: true, fresh: i })),
          // GQA heads per workgroup (same bits): 1 and 2 of the group of 4 against the default 4.
          ...[1, 2].flatMap((gw) => [[64, 4096], [256, 8192], [16, 4096]].map(([b, ctx]) => decodeCase(LLAMA3_8B, b, ctx, { big: true, gw }))),
          // The end-of-workgroup combine one head at a time (same bits; the default on the H100 is all heads at once).
          ...[[64, 4096], [16, 4096], [1, 32768], [256, 8192]].map(([b, ctx]) => decodeCase(LLAMA3_8B, b, ctx, { big: true, epilogue: 'per-head' })),
          // Real checkpoints' other shapes: GQA 7, 3, head dims 96, 256, a sliding window.
          ...COVERAGE.flatMap((m) => [[1, 4096], [64, 4096], [16, 16384]].map(([b, ctx]) => decodeCase(m, b, ctx, { big: true, window: m.window }))),
          // Partition sizes around the default (tuning: other bits).
          ...[256, 1024].flatMap((partitionSize) =>
            [[64, 4096], [1, 4096], [1, 32768], [256, 8192]].map(([b, ctx]) => decodeCase(LLAMA3_8B, b, ctx, { big: true, partitionSize })),
          ),
        ],
};

// Probe (not part of `tknp bench`): prefill_attention_sgmat as shipped or with extra WGSL defines (a
// variant under test), each checked against the f64 reference on small batches and an 8k prompt
// (sampled rows), and timed on the 8k prompt. Found session 4's wrong results (a misaligned workgroup
// variable, session 6: bench/RESULTS.md).
// Usage: node dist/bench/probes/prefill_variants.js [defines,comma,separated ...]  ('' = as shipped)
import { timeGpu } from '../../src/bench/timing.js';
import { Gpu } from '../../src/gpu/gpu.js';
import type { Tensor } from '../../src/gpu/tensor.js';
import { prefillAttention, prefillAttentionVariant } from '../../src/kernels/prefill_attention.js';
import { attentionRef } from '../../src/kernels/ref/attention.js';
import { f16BitsToF32, toF16 } from '../../src/util/f16.js';
import { Rng } from '../../src/util/rng.js';

const variants = process.argv.length > 2 ? process.argv.slice(2) : [''];
const gpu = await Gpu.create();
console.log(`device: ${gpu.describe()}`);
const variant = prefillAttentionVariant(gpu, 128) === 'subgroup-matrix' ? 'subgroup-matrix' : 'subgroup-matrix-emulated';

const f64 = (b: Uint16Array) => Float64Array.from(b, f16BitsToF32);

interface Problem {
  name: string;
  H: number;
  Hkv: number;
  D: number;
  lens: number[];
  q: Uint16Array;
  k: Uint16Array;
  v: Uint16Array;
  tables: Uint32Array;
  maxBlocks: number;
  t: Tensor[];
  k64: Float64Array;
  v64: Float64Array;
}

// Whole prompts (no prior context), each sequence's blocks shuffled over the cache.
function problem(name: string, H: number, Hkv: number, D: number, lens: number[]): Problem {
  const rng = new Rng(lens.length * 31 + D);
  const blocks = lens.map((n) => Math.ceil(n / 16));
  const maxBlocks = Math.max(...blocks);
  const numBlocks = blocks.reduce((a, b) => a + b, 0);
  const perm = [...Array(numBlocks).keys()];
  for (let i = numBlocks - 1; i > 0; i--) {
    const j = rng.int(0, i);
    [perm[i], perm[j]] = [perm[j], perm[i]];
  }
  const tables = new Uint32Array(lens.length * maxBlocks);
  let next = 0;
  blocks.forEach((n, s) => {
    for (let b = 0; b < n; b++) tables[s * maxBlocks + b] = perm[next++];
  });
  const T = lens.reduce((a, b) => a + b, 0);
  const q = toF16(rng.floats(T * H * D, -3, 3));
  const k = toF16(rng.floats(numBlocks * Hkv * 16 * D, -1, 1));
  const v = toF16(rng.floats(numBlocks * Hkv * 16 * D, -1, 1));
  const starts = [0];
  for (const n of lens) starts.push(starts[starts.length - 1] + n);
  const t = [
    gpu.upload(q, [T, H, D], 'f16', 'q'),
    gpu.upload(k, [numBlocks, Hkv, 16, D], 'f16', 'k'),
    gpu.upload(v, [numBlocks, Hkv, 16, D], 'f16', 'v'),
    gpu.upload(Uint32Array.from(starts), [lens.length + 1], 'u32', 'qsl'),
    gpu.upload(Uint32Array.from(lens), [lens.length], 'u32', 'seqLens'),
    gpu.upload(tables, [lens.length, maxBlocks], 'u32', 'tables'),
    gpu.tensor([T, H, D], 'f16', 'out'),
  ];
  return { name, H, Hkv, D, lens, q, k, v, tables, maxBlocks, t, k64: f64(k), v64: f64(v) };
}

function record(p: Problem, defines: string) {
  const [q, k, v, qsl, sl, bt, out] = p.t;
  const extraDefines = defines ? defines.split(',') : [];
  return (rec: Parameters<Parameters<typeof timeGpu>[1]>[0]) =>
    prefillAttention(rec, q, k, v, qsl, sl, bt, out, { scale: 1 / Math.sqrt(p.D), maxQueryLen: Math.max(...p.lens), variant, extraDefines });
}

// Rows to check: all of them for small problems, else a sample weighted to the ends of prompts.
function check(p: Problem, got: Uint16Array, rows: number[]): string {
  const { H, D } = p;
  let bad = 0;
  let worst = 0;
  let firstBad = '';
  const starts = [0];
  for (const n of p.lens) starts.push(starts[starts.length - 1] + n);
  for (const row of rows) {
    const s = starts.findIndex((x, i) => row >= x && row < starts[i + 1]);
    const pos = row - starts[s];
    const want = attentionRef(f64(p.q.subarray(row * H * D, (row + 1) * H * D)), p.k64, p.v64, p.tables.subarray(s * p.maxBlocks), {
      numHeads: H,
      numKvHeads: p.Hkv,
      headDim: D,
      scale: 1 / Math.sqrt(D),
      queryLens: [1],
      contextLens: [pos + 1],
      maxBlocksPerSeq: p.maxBlocks,
    });
    for (let i = 0; i < H * D; i++) {
      const a = f16BitsToF32(got[row * H * D + i]);
      const e = Math.abs(a - want[i]);
      worst = Math.max(worst, e);
      if (!(e <= 2e-3 + 1e-2 * Math.abs(want[i]))) {
        bad++;
        if (!firstBad) {
          const got4 = [0, 1, 2, 3].map((d) => f16BitsToF32(got[row * H * D + i + d]).toFixed(3)).join(' ');
          const want4 = [0, 1, 2, 3].map((d) => want[i + d].toFixed(3)).join(' ');
          firstBad = ` first: seq ${s} pos ${pos} head ${Math.floor(i / D)} d ${i % D}.. got ${got4} want ${want4}`;
        }
      }
    }
  }
  return bad === 0 ? `ok (worst ${worst.toExponential(2)})` : `WRONG ${bad}/${rows.length * H * D}${firstBad}`;
}

const small = [problem('H8 Hkv2 D128 lens 1,5,16,33,100', 8, 2, 128, [1, 5, 16, 33, 100]), problem('H4 Hkv4 D64 lens 1,5,16,33,100', 4, 4, 64, [1, 5, 16, 33, 100])];
const big = problem('H32 Hkv8 D128 8192 causal', 32, 8, 128, [8192]);
const sample = new Rng(5);
const bigRows = Array.from({ length: 8 }, (_, i) => (i % 3 === 0 ? 8191 - sample.int(0, 40) : sample.int(0, 8191)));
const flops = 4 * 32 * 128 * ((8192 * 8193) / 2);
for (const d of variants) {
  const name = d || '(as shipped)';
  try {
    for (const p of small) {
      await timeGpu(gpu, record(p, d), { warmup: 0, warmupMs: 0, targetMs: 0, maxIterations: 1 });
      const rows = [...Array(p.lens.reduce((a, b) => a + b, 0)).keys()];
      console.log(`${name.padEnd(28)} ${p.name.padEnd(34)} ${check(p, (await gpu.read(p.t[6])) as Uint16Array, rows)}`);
    }
    if (variant !== 'subgroup-matrix' || process.env.PV_BIG === '0') continue; // the 8k case needs the real tensor cores
    const t = await timeGpu(gpu, record(big, d));
    const verdict = check(big, (await gpu.read(big.t[6])) as Uint16Array, bigRows);
    console.log(`${name.padEnd(28)} ${big.name.padEnd(34)} ${verdict}  ${(t.medianNs / 1e3).toFixed(1)} us  ${(flops / t.medianNs / 1e3).toFixed(1)} TFLOP/s`);
  } catch (e) {
    console.log(`${name.padEnd(28)} FAILED: ${(e as Error).message.split('\n')[0]}`);
  }
}
gpu.destroy();

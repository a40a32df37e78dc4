// Bench entry for kernels/linear: the projections of Llama-3-8B, Llama-2-7B, Mistral-7B and Qwen2-7B over
// token counts from decode (M = 1..16: a weight stream, bytes matter) to prefill (M = 64..8192: FLOPs);
// the 'linear-m' sweep: every projection of Llama-3-8B and Qwen2.5-7B over M = 1..512 in both modes.
// Weights and activations are seeded random values repeating with a period of ~1M elements (so a 1 GB
// lm_head fills quickly); validation checks a seeded sample of 64 outputs against an f64 reference.
import { fillTiled } from '../../bench/fill.js';
import type { BenchCase, BenchSuite, Sweep } from '../../bench/types.js';
import { linear, linearVariant, type LinearMode } from '../../kernels/linear.js';
import { linearTolerance } from '../../kernels/ref/linear.js';
import { fromF16, toF16 } from '../../util/f16.js';
import { Rng } from '../../util/rng.js';

interface Proj {
  model: string;
  name: string;
  K: number;
  N: number;
  bias: boolean;
  /** lm_head: f32 logits, only for the rows that are sampled (M ≤ 256). */
  logits: boolean;
}

const H = (model: string, name: string, K: number, N: number, bias = false): Proj => ({ model, name, K, N, bias, logits: name === 'lm_head' });

// Fused projections as the engine runs them (q|k|v and gate|up in one weight). Shapes repeated by a later
// model (Mistral-7B = Llama-3-8B but its lm_head; Llama-2 o_proj = Llama-3 o_proj) are listed once.
const PROJECTIONS: Proj[] = [
  H('Llama-3-8B', 'qkv', 4096, 6144),
  H('Llama-3-8B', 'o', 4096, 4096),
  H('Llama-3-8B', 'gate_up', 4096, 28672),
  H('Llama-3-8B', 'down', 14336, 4096),
  H('Llama-3-8B', 'lm_head', 4096, 128256),
  H('Llama-2-7B', 'qkv', 4096, 12288),
  H('Llama-2-7B', 'gate_up', 4096, 22016),
  H('Llama-2-7B', 'down', 11008, 4096),
  H('Llama-2-7B', 'lm_head', 4096, 32000),
  H('Mistral-7B', 'lm_head', 4096, 32768),
  H('Qwen2-7B', 'qkv', 3584, 4608, true),
  H('Qwen2-7B', 'o', 3584, 3584),
  H('Qwen2-7B', 'gate_up', 3584, 37888),
  H('Qwen2-7B', 'down', 18944, 3584),
  H('Qwen2-7B', 'lm_head', 3584, 152064),
];

const FULL_M = [1, 2, 4, 8, 16, 64, 256, 512, 2048, 8192];
/** The 'linear-m' sweep (issue 15: time must not jump between neighbouring M, nor fall behind torch). */
export const SWEEP_M = [1, 2, 4, 8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 160, 192, 256, 384, 512];
// Qwen2.5-7B has Qwen2-7B's shapes (hidden 3584, 28 q / 4 kv heads of 128, intermediate 18944, vocab 152064).
const SWEEP_PROJECTIONS: Proj[] = [
  ...PROJECTIONS.filter((p) => p.model === 'Llama-3-8B'),
  ...PROJECTIONS.filter((p) => p.model === 'Qwen2-7B').map((p) => ({ ...p, model: 'Qwen2.5-7B' })),
];
const OTHER_M = [1, 16, 512, 4096];
const PERIOD = (1 << 20) + 7;

/** A seeded random f16 block; element i of a tensor filled from it is block[(i + shift) % PERIOD]. */
function block(seed: number, scale: number): Uint16Array {
  return toF16(new Rng(seed).floats(PERIOD, -scale, scale));
}

/**
 * `big`: weight slots of the run's arena are allocated at 1.1 GB at once (full sweep: the largest lm_head).
 * `sweep`: a case of the 'linear-m' sweep (params.linearSweep = 1: its targets and charts).
 */
function linearCase(p: Proj, M: number, mode: LinearMode, big = false, tile?: string, sweep = false): BenchCase {
  const { K, N } = p;
  const outBytes = p.logits ? 4 : 2;
  const shape = `M${M} K${K} N${N}${p.bias ? ' +bias' : ''}${mode === 'fast' ? ' fast' : ''}${tile ? ` tile ${tile}` : ''}`;
  return {
    kernel: 'linear',
    shape,
    model: p.model ? `${p.model} ${p.name}` : '',
    params: { tokens: M, M, N, K, ...(p.bias ? { bias: 1 } : {}), ...(p.logits ? { f32Out: 1 } : {}), ...(sweep ? { linearSweep: 1 } : {}) },
    bytes: 2 * N * K + 2 * M * K + outBytes * M * N + (p.bias ? 2 * N : 0),
    flops: 2 * M * N * K,
    async setup(gpu, arena) {
      const seed = M * 131 + N * 7 + K;
      // The weights' seed does not depend on M: a sweep over M fills them once (arena.fillOnce).
      const wseed = N * 7 + K + 1;
      const xb = block(seed, 1);
      const wb = block(wseed, 2 / Math.sqrt(K));
      const bb = p.bias ? toF16(new Rng(seed + 2).floats(N, -1, 1)) : null;
      // Room for 16-row multiples, as the engine's pooled activations have (the direct tensor-core kernel
      // binds whole 16-row tiles; without room it copies x first).
      const x = { ...gpu.tensor([Math.ceil(M / 16) * 16, K], 'f16', 'x'), shape: [M, K] };
      // Weights under 256 MB rotate among 4 identical copies, so that repeated runs stream them from memory
      // (as a real step does) rather than from the 50 MB L2.
      const ws = Array.from({ length: 2 * N * K < 256 << 20 ? 4 : 1 }, (_, i) => arena.tensor(`weight${i}`, [N, K], 'f16', big ? (i === 0 ? 1.1e9 : 256 << 20) : 0));
      let next = 0;
      fillTiled(gpu, x, xb, M * K);
      ws.forEach((w, i) => arena.fillOnce(`weight${i}`, `${wseed} ${N}x${K}`, () => fillTiled(gpu, w, wb, N * K, 11)));
      const bias = bb ? gpu.upload(bb, [N], 'f16', 'bias') : null;
      const out = gpu.tensor([M, N], p.logits ? 'f32' : 'f16', 'out');
      return {
        variant: linearVariant(gpu, M, N, K, { mode, tile }),
        run: (rec) => linear(rec, x, ws[next++ % ws.length], bias, out, { mode, tile }),
        async validate() {
          const raw = await gpu.read(out);
          const got = raw instanceof Uint16Array ? fromF16(raw) : (raw as Float32Array);
          const xf = fromF16(xb);
          const wf = fromF16(wb);
          const bf = bb ? fromF16(bb) : null;
          const rng = new Rng(seed + 3);
          for (let s = 0; s < 64; s++) {
            const m = rng.int(0, M - 1);
            const n = rng.int(0, N - 1);
            let v = bf ? bf[n] : 0;
            let a = bf ? Math.abs(bf[n]) : 0;
            for (let k = 0; k < K; k++) {
              const prod = xf[(m * K + k) % PERIOD] * wf[(n * K + k + 11) % PERIOD];
              v += prod;
              a += Math.abs(prod);
            }
            const want = p.logits ? Math.fround(v) : fromF16(toF16([v]))[0];
            const err = Math.abs(got[m * N + n] - want);
            if (!(err <= linearTolerance(want, a, K, p.logits ? 'f32' : 'f16'))) {
              throw new Error(`linear ${shape}: [${m}, ${n}] got ${got[m * N + n]}, expected ${want}`);
            }
          }
        },
        destroy() {
          for (const t of [x, bias, out]) t?.buffer.destroy();
        },
      };
    },
  };
}

function cases(sweep: Sweep): BenchCase[] {
  if (sweep === 'linear-m') {
    // Shape-major, so each weight is uploaded once; both modes of an M side by side.
    return SWEEP_PROJECTIONS.flatMap((p) => SWEEP_M.flatMap((M) => [linearCase(p, M, 'invariant', true, undefined, true), linearCase(p, M, 'fast', true, undefined, true)]));
  }
  if (sweep === 'small') {
    const tiny = H('', 'tiny', 512, 384, true);
    return [1, 64].flatMap((M) => [linearCase(tiny, M, 'invariant'), linearCase(tiny, M, 'fast')]);
  }
  const out: BenchCase[] = [];
  for (const p of PROJECTIONS) {
    // Every token count for Llama-3-8B; decode, one small and two prefill sizes for the other models.
    for (const M of p.model === 'Llama-3-8B' ? FULL_M : OTHER_M) {
      if (p.logits && M > 256) continue;
      out.push(linearCase(p, M, 'invariant', true));
      if (M <= 8) out.push(linearCase(p, M, 'fast', true));
    }
  }
  // Tensor-core schedules side by side (same bits, different speed): direct loads, wide loads staged
  // (stream for few rows, block for many) and the small staged tiles.
  for (const M of [1, 16, 64, 512, 4096]) {
    const tiles = M <= 64 ? ['D1', 'stream', M <= 16 ? 'S8' : 'M8'] : ['D2', 'block', 'B'];
    for (const tile of tiles) out.push(linearCase(PROJECTIONS[0], M, 'invariant', true, tile));
  }
  return out;
}

export const linearSuite: BenchSuite = { name: 'linear', cases };

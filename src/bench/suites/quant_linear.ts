// Bench entry for the quantized linears (kernels/quant_linear, kernels/w8a8_linear): the Llama-3-8B
// projections at M = 1, 16, 64, 256 with int4 weights (asymmetric, group 128: AWQ/GPTQ's layout), int8
// weights (symmetric, per channel) and W8A8 (int8 activations × those int8 weights), in invariant mode and,
// for decode, fast mode. Compare with the 'linear' suite's f16 cases of the same shapes.
// Bytes: the packed weights, scales and zeros read once, x read and out written (napkin math).
// Packed weights are seeded random words (every stored integer equally likely), scales around 2/sqrt(K)/8;
// weights under 256 MB rotate among copies so that repeated runs stream them from memory, not the 50 MB L2.
// Validation: 64 seeded outputs against the CPU references (ref/quant_linear, ref/w8a8_linear) of their row.
import type { BenchCase, BenchSuite, Sweep } from '../../bench/types.js';
import type { LinearMode } from '../../kernels/linear.js';
import { planQuantLinear, quantLinear } from '../../kernels/quant_linear.js';
import { uploadPacked } from '../../kernels/quantized_weight.js';
import { linearTolerance } from '../../kernels/ref/linear.js';
import { quantLinearRef } from '../../kernels/ref/quant_linear.js';
import { quantizeRowsInt8Ref, w8a8LinearRef } from '../../kernels/ref/w8a8_linear.js';
import { planW8A8 } from '../../kernels/w8a8_linear.js';
import type { PackedWeight } from '../../quant/packed_weight.js';
import { fromF16, toF16 } from '../../util/f16.js';
import { Rng } from '../../util/rng.js';

type Format = 'int4' | 'int8' | 'w8a8';

interface Proj {
  name: string;
  K: number;
  N: number;
}

const LLAMA3_8B: Proj[] = [
  { name: 'qkv', K: 4096, N: 6144 },
  { name: 'o', K: 4096, N: 4096 },
  { name: 'gate_up', K: 4096, N: 28672 },
  { name: 'down', K: 14336, N: 4096 },
];
const FULL_M = [1, 16, 64, 256];
const PERIOD = (1 << 20) + 7;

/** A seeded packed weight [N, K] of this format; words repeat with a period of ~1M (fast to make). */
function packedWeight(f: Format, N: number, K: number, seed: number): PackedWeight {
  const rng = new Rng(seed);
  const bits = f === 'int4' ? 4 : 8;
  const groupSize = f === 'int4' ? 128 : K;
  const words = new Uint32Array((N * K * bits) / 32);
  const period = Math.min(PERIOD, words.length);
  for (let i = 0; i < period; i++) words[i] = rng.int(0, 0xffff) | (rng.int(0, 0xffff) << 16);
  for (let i = period; i < words.length; i += period) words.copyWithin(i, 0, Math.min(period, words.length - i));
  const groups = N * (K / groupSize);
  const s = 2 / Math.sqrt(K) / (bits === 4 ? 8 : 128);
  const scales = toF16(rng.floats(groups, 0.5 * s, 1.5 * s));
  const zeros = f === 'int4' ? toF16(Float32Array.from({ length: groups }, () => rng.int(6, 9))) : null;
  return { bits, symmetric: f !== 'int4', groupSize, shape: [N, K], qweight: words, scales, zeros };
}

/** Row n of a packed weight, as a [1, K] packed weight (for the per-output references). */
function rowOf(p: PackedWeight, n: number): PackedWeight {
  const [, K] = p.shape;
  const w = (K * p.bits) / 32;
  const g = K / p.groupSize;
  return { ...p, shape: [1, K], qweight: p.qweight.subarray(n * w, (n + 1) * w), scales: p.scales.subarray(n * g, (n + 1) * g), zeros: p.zeros?.subarray(n * g, (n + 1) * g) ?? null };
}

function quantCase(p: Proj, f: Format, M: number, mode: LinearMode): BenchCase {
  const { K, N } = p;
  const bits = f === 'int4' ? 4 : 8;
  const groups = f === 'int4' ? N * (K / 128) : N;
  const weightBytes = (N * K * bits) / 8 + 2 * groups * (f === 'int4' ? 2 : 1);
  const shape = `${f} M${M} K${K} N${N}${mode === 'fast' ? ' fast' : ''}`;
  return {
    kernel: 'quant_linear',
    shape,
    model: `Llama-3-8B ${p.name}`,
    params: { tokens: M, M, N, K, bits },
    bytes: weightBytes + 2 * M * K + 2 * M * N,
    flops: 2 * M * N * K,
    async setup(gpu) {
      const seed = N * 7 + K + bits;
      const packed = packedWeight(f, N, K, seed);
      const copies = Math.max(1, Math.min(16, Math.ceil((256 << 20) / weightBytes)));
      const ws = Array.from({ length: copies }, (_, i) => uploadPacked(gpu, packed, `w${i}`, f === 'w8a8'));
      const xv = toF16(new Rng(seed + M).floats(M * K, -1, 1));
      const x = gpu.upload(xv, [M, K], 'f16', 'x');
      const out = gpu.tensor([M, N], 'f16', 'out');
      let next = 0;
      const opts = { mode };
      const plan = f === 'w8a8' ? planW8A8(gpu, M, N, K) : planQuantLinear(gpu, M, N, K, { bits, symmetric: f !== 'int4', groupSize: packed.groupSize, zeros: f === 'int4' }, opts);
      return {
        variant: `${plan.variant} ${plan.shader}${'schedule' in plan ? ` / ${plan.schedule}` : ''}`,
        run: (rec) => quantLinear(rec, x, ws[next++ % ws.length], null, out, opts),
        async validate() {
          const got = fromF16((await gpu.read(out)) as Uint16Array);
          const xf = fromF16(xv);
          const rng = new Rng(seed + 3);
          for (let s = 0; s < 64; s++) {
            const m = rng.int(0, M - 1);
            const n = rng.int(0, N - 1);
            const xr = xf.subarray(m * K, (m + 1) * K);
            let want: number;
            let tol: number;
            if (f === 'w8a8') {
              const slack = new Float64Array(1);
              want = w8a8LinearRef(quantizeRowsInt8Ref(xr, 1, K), rowOf(packed, n), null, 1, 'f16', slack)[0];
              tol = Math.max(Math.abs(want) * 2 ** -10, 2 ** -24) + slack[0] * 1.01;
            } else {
              const absSum = new Float64Array(1);
              want = quantLinearRef(xr, rowOf(packed, n), null, 1, 'f16', absSum)[0];
              tol = linearTolerance(want, absSum[0], K, 'f16');
            }
            if (!(Math.abs(got[m * N + n] - want) <= tol)) throw new Error(`quant_linear ${shape}: [${m}, ${n}] got ${got[m * N + n]}, expected ${want}`);
          }
        },
        destroy() {
          for (const t of [x, out, ...ws.flatMap((w) => [w.qweight, w.scales, w.zeros])]) t?.buffer.destroy();
        },
      };
    },
  };
}

function cases(sweep: Sweep): BenchCase[] {
  if (sweep === 'linear-m') return [];
  if (sweep === 'small') {
    const tiny = { name: 'tiny', K: 512, N: 384 };
    return (['int4', 'int8', 'w8a8'] as const).flatMap((f) => [quantCase(tiny, f, 1, 'invariant'), quantCase(tiny, f, 64, 'invariant')]);
  }
  return LLAMA3_8B.flatMap((p) =>
    (['int4', 'int8', 'w8a8'] as const).flatMap((f) =>
      FULL_M.flatMap((M) => [quantCase(p, f, M, 'invariant'), ...(M === 1 && f !== 'w8a8' ? [quantCase(p, f, M, 'fast')] : [])]),
    ),
  );
}

export const quantLinearSuite: BenchSuite = { name: 'quant_linear', cases };

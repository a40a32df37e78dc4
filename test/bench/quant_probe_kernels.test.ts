import { describe, expect, it } from 'vitest';
import { quantLinear } from '../../src/kernels/quant_linear.js';
import { uploadPacked } from '../../src/kernels/quantized_weight.js';
import { linearTolerance } from '../../src/kernels/ref/linear.js';
import { quantLinearRef } from '../../src/kernels/ref/quant_linear.js';
import { quantize, type PackedWeight, type QuantBits } from '../../src/quant/packed_weight.js';
import { f32ToF16Bits, fromF16, toF16 } from '../../src/util/f16.js';
import { Rng } from '../../src/util/rng.js';
import { runVariant, type VariantName } from '../../bench/probes/quant_probe_variants.js';
import { noGpuReason, run, testGpu } from '../helpers/gpu.js';

// The probe kernels of bench/probes/quant_probe.ts on lavapipe (tensor cores emulated): the wide streams must
// give the shipped quantized plan's bits (same K order, same weight values), the wide GEMV the reference
// within ref/linear's tolerance (x · f16((q − z)·s) in f64). K 2048, N 32: two K segments (linearSegments);
// a few cases per layout (the emulated tensor-core kernels are slow on lavapipe).

const gpu = await testGpu();

interface Layout {
  bits: QuantBits;
  symmetric: boolean;
  groupSize: number;
  name: string;
}
const LAYOUTS: Layout[] = [
  { name: 'int4 g128 asym', bits: 4, symmetric: false, groupSize: 128 },
  { name: 'int4 g32 sym', bits: 4, symmetric: true, groupSize: 32 },
  { name: 'int8 per channel sym', bits: 8, symmetric: true, groupSize: 2048 },
  { name: 'int8 g64 asym', bits: 8, symmetric: false, groupSize: 64 },
];
const K = 2048;
const N = 32;

function weight(l: Layout, seed: number, tiny = false): PackedWeight {
  const s = tiny ? 2e-6 : 2 / Math.sqrt(K);
  const p = quantize(new Rng(seed).floats(N * K, -s, s), [N, K], l.bits, l.groupSize, l.symmetric);
  if (!tiny) return p;
  // Scales of 2⁻²² and below: (q − z)·s is an f16 subnormal, where f16 and f32 arithmetic could part.
  return { ...p, scales: p.scales.map((_, i) => f32ToF16Bits(2 ** -22 * (1 + (i % 7) / 8))) };
}

async function outBits(p: PackedWeight, x: Uint16Array, M: number, v: VariantName | 'shipped'): Promise<Uint16Array> {
  const tx = gpu!.upload(x, [M, K], 'f16', 'x');
  const w = uploadPacked(gpu!, p, 'w');
  const out = gpu!.upload(new Uint16Array(M * N).fill(0x7e00), [M, N], 'f16', 'out');
  await run(gpu!, (rec) => (v === 'shipped' ? quantLinear(rec, tx, w, null, out, { variant: 'subgroup-matrix-emulated' }) : runVariant(gpu!, rec, v, tx, w, out, true)));
  return (await gpu!.read(out)) as Uint16Array;
}

describe.skipIf(!gpu)(`quant probe kernels ${gpu ? gpu.describe() : `(skipped: ${noGpuReason()})`}`, () => {
  for (const [i, l] of LAYOUTS.entries()) {
    it(`wide streams give the shipped plan's bits: ${l.name}`, async () => {
      for (const [M, tiny] of i === 0 ? ([[1, false], [17, false]] as const) : i === 1 ? ([[3, true]] as const) : ([[2, false]] as const)) {
        const p = weight(l, 10 + i, tiny);
        const x = toF16(new Rng(M + i).floats(M * K, -1, 1));
        const want = await outBits(p, x, M, 'shipped');
        expect(want.some((b) => b === 0x7e00)).toBe(false);
        for (const v of ['sw128', 'sw128h'] as const) expect(Array.from(await outBits(p, x, M, v)), `${v} M${M}${tiny ? ' tiny scales' : ''}`).toEqual(Array.from(want));
      }
    });
    it(`wide GEMV matches the reference: ${l.name}`, async () => {
      const p = weight(l, 20 + i);
      for (const M of i % 2 === 0 ? [1, 8] : [3]) {
        const x = toF16(new Rng(M * 3 + i).floats(M * K, -1, 1));
        const absSum = new Float64Array(M * N);
        const ref = quantLinearRef(fromF16(x), p, null, M, 'f16', absSum);
        for (const v of i < 2 ? (['gw1x4', 'gw4x1'] as const) : (['gw2x2'] as const)) {
          const got = fromF16(await outBits(p, x, M, v));
          for (let e = 0; e < M * N; e++) {
            expect(Math.abs(got[e] - ref[e]), `${v} M${M} [${Math.floor(e / N)},${e % N}] ${got[e]} vs ${ref[e]}`).toBeLessThanOrEqual(linearTolerance(ref[e], absSum[e], K, 'f16'));
          }
        }
      }
    });
  }
});

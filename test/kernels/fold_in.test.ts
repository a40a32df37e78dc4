import { describe, expect, it } from 'vitest';
import { ShapeError } from '../../src/gpu/errors.js';
import type { Tensor } from '../../src/gpu/tensor.js';
import { linear, linearDeferred, planLinear, type LinearOptions } from '../../src/kernels/linear.js';
import { fusedAddRmsNorm } from '../../src/kernels/rms_norm.js';
import { siluAndMul } from '../../src/kernels/silu_and_mul.js';
import { fromF16, toF16 } from '../../src/util/f16.js';
import { Rng } from '../../src/util/rng.js';
import { noGpuReason, run, testGpu } from '../helpers/gpu.js';

// Epilogues that fold a linear's partial sums as they read them (linearDeferred → rms_norm's fused add,
// silu_and_mul) must give exactly the bits of linear (with its linear_fold) followed by the epilogue:
// the fold moves into the epilogue, the arithmetic and its order do not. Run on the emulated tensor-core
// kernels everywhere (their partial sums and fold are the real kernels' order) and on real tensor cores
// where the device has them. The unfused path itself is checked against references in linear.test.ts,
// rms_norm.test.ts and silu_and_mul.test.ts.

const gpu = await testGpu();
const EMU: LinearOptions = { variant: 'subgroup-matrix-emulated' };

function randomF16(rng: Rng, n: number, scale: number): Uint16Array {
  return toF16(rng.floats(n, -scale, scale));
}

describe.skipIf(!gpu)(`fold_in epilogues ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  const g = gpu!;
  const bases: [string, LinearOptions][] = [
    ['emulated', EMU],
    ...(planLinear(g, 1, 64, 64).variant === 'subgroup-matrix' ? ([['tensor cores', {}]] as [string, LinearOptions][]) : []),
  ];
  // [M, intermediate, K, bias, tile]: K 2048 at N ≤ 128 gives 2 segments; M 40 forced onto 64-row blocks.
  const siluCases: [number, number, number, boolean, string][] = [
    [3, 40, 2048, false, 'stream'],
    [5, 64, 1024, true, 'stream'],
    [40, 40, 2048, true, 'par64'],
  ];
  for (const [name, base] of bases) {
    it.each(siluCases)(`${name}: silu_and_mul of partial sums M=%i I=%i K=%i bias=%s (%s) equals linear + silu_and_mul`, async (M, inter, K, withBias, tile) => {
      const rng = new Rng(M * 31 + inter + K);
      const N = 2 * inter;
      const opts = { ...base, tile };
      expect(planLinear(g, M, N, K, opts).fold?.numSeg).toBeGreaterThan(0);
      const x = g.upload(randomF16(rng, M * K, 1), [M, K], 'f16', 'x');
      const w = g.upload(randomF16(rng, N * K, 2 / Math.sqrt(K)), [N, K], 'f16', 'w');
      const bias = withBias ? g.upload(randomF16(rng, N, 1), [N], 'f16', 'bias') : null;
      const y = g.upload(new Uint16Array(M * N).fill(0x7e00), [M, N], 'f16', 'y');
      const want = g.upload(new Uint16Array(M * inter).fill(0x7e00), [M, inter], 'f16', 'want');
      const got = g.upload(new Uint16Array(M * inter).fill(0x7e00), [M, inter], 'f16', 'got');
      await run(g, (rec) => {
        linear(rec, x, w, bias, y, opts);
        siluAndMul(rec, y, want);
        const d = linearDeferred(rec, x, w, bias, y, opts);
        expect('kind' in d).toBe(true);
        siluAndMul(rec, d, got);
      });
      const [a, b] = (await g.readMany([want, got])) as Uint16Array[];
      expect(fromF16(a).some(Number.isNaN)).toBe(false);
      expect(Array.from(b)).toEqual(Array.from(a));
      for (const t of [x, w, bias, y, want, got]) t?.buffer.destroy();
    });

    it.each([
      [2, 64, 4096, false],
      [7, 48, 2048, true],
    ] as const)(`${name}: fused add + rms_norm of partial sums M=%i H=%i K=%i bias=%s equals linear + fused add + rms_norm`, async (M, H, K, withBias) => {
      const rng = new Rng(M * 7 + H + K);
      const opts = { ...base, tile: 'stream' };
      const x = g.upload(randomF16(rng, M * K, 1), [M, K], 'f16', 'x');
      const w = g.upload(randomF16(rng, H * K, 2 / Math.sqrt(K)), [H, K], 'f16', 'w');
      const bias = withBias ? g.upload(randomF16(rng, H, 1), [H], 'f16', 'bias') : null;
      const resHost = randomF16(rng, M * H, 3);
      const normW = g.upload(randomF16(rng, H, 1.5), [H], 'f16', 'normW');
      const tensors: Tensor[] = [];
      const make = (label: string, data: Uint16Array) => {
        const t = g.upload(data, [M, H], 'f16', label);
        tensors.push(t);
        return t;
      };
      const y = make('y', new Uint16Array(M * H));
      const [resA, resB] = [make('resA', resHost.slice()), make('resB', resHost.slice())];
      const [outA, outB] = [make('outA', new Uint16Array(M * H).fill(0x7e00)), make('outB', new Uint16Array(M * H).fill(0x7e00))];
      await run(g, (rec) => {
        linear(rec, x, w, bias, y, opts);
        fusedAddRmsNorm(rec, y, resA, normW, outA, 1e-5);
        fusedAddRmsNorm(rec, linearDeferred(rec, x, w, bias, y, opts), resB, normW, outB, 1e-5);
      });
      const [ra, rb, oa, ob] = (await g.readMany([resA, resB, outA, outB])) as Uint16Array[];
      expect(fromF16(oa).some(Number.isNaN)).toBe(false);
      expect(Array.from(rb), 'residual').toEqual(Array.from(ra));
      expect(Array.from(ob), 'normed').toEqual(Array.from(oa));
      for (const t of [x, w, bias, normW, ...tensors]) t?.buffer.destroy();
    });
  }

  it('linearDeferred writes out where its plan has no fold, and the epilogues check partial sums', async () => {
    const x = g.tensor([3, 64], 'f16');
    const w = g.tensor([32, 64], 'f16');
    const y = g.tensor([3, 32], 'f16');
    await run(g, (rec) => {
      // Emulated with a forced SEQ block (no fold): out is written and returned.
      expect(linearDeferred(rec, x, w, null, y, { ...EMU, tile: 'block' })).toBe(y);
      const d = linearDeferred(rec, x, w, null, y, { ...EMU, tile: 'stream' });
      if (!('kind' in d)) throw new Error('expected partial sums');
      expect(d.part.shape).toEqual([1, 16, 32]);
      expect(() => siluAndMul(rec, d, g.tensor([2, 16], 'f16'))).toThrow(ShapeError); // rows differ
      const res = g.tensor([3, 32], 'f16');
      expect(() => fusedAddRmsNorm(rec, d, res, g.tensor([32], 'f16'), g.tensor([3, 24], 'f16'), 1e-5)).toThrow(ShapeError);
      const odd = { ...d, part: g.tensor([1, 16, 20], 'f32'), shape: [3, 20] as const };
      expect(() => fusedAddRmsNorm(rec, odd, g.tensor([3, 20], 'f16'), g.tensor([20], 'f16'), g.tensor([3, 20], 'f16'), 1e-5)).toThrow(/multiple of 8/);
      const short = { ...d, part: g.tensor([1, 2, 32], 'f32') };
      expect(() => siluAndMul(rec, short, g.tensor([3, 16], 'f16'))).toThrow(/do not cover/);
    });
  });
});

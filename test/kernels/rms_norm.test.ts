import { describe, expect, it } from 'vitest';
import { fusedAddRmsNorm, rmsNorm, rmsNormDispatch } from '../../src/kernels/rms_norm.js';
import { fusedAddRmsNormRef, rmsNormRef } from '../../src/kernels/ref/rms_norm.js';
import { ShapeError } from '../../src/gpu/errors.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import type { Tensor } from '../../src/gpu/tensor.js';
import { roundF16, toF16 } from '../../src/util/f16.js';
import { Rng } from '../../src/util/rng.js';
import { expectUlps, noGpuReason, run, testGpu } from '../helpers/gpu.js';

const gpu = await testGpu();

// Tolerance: the GPU's f32 sum runs in another order and inverseSqrt is approximate, so
// n = f16(h * inv) may land on the neighbouring f16 (1 ulp), which weight * n can turn into 2
// ulps of the output. Rarely: at least 99.5% of outputs (lavapipe: > 99.98%) must equal the reference bit for bit,
// and none may be more than 2 f16 ulps away. The fused residual (f16(x + residual)) is exact.
const MAX_ULPS = 2;
const MIN_EXACT = 0.995;

/** Rows of f16 values at three scales: tiny (eps dominates), unit, and large. */
function activations(rng: Rng, rows: number, hidden: number): Float32Array {
  const x = new Float32Array(rows * hidden);
  for (let r = 0; r < rows; r++) {
    const scale = [1e-3, 1, 30][r % 3] * rng.uniform(0.5, 2);
    for (let i = 0; i < hidden; i++) x[r * hidden + i] = roundF16(scale * rng.normal());
  }
  return x;
}

const up = (g: Gpu, v: Float32Array, shape: number[], label: string): Tensor => g.upload(toF16(v), shape, 'f16', label);
const read16 = async (g: Gpu, t: Tensor) => (await g.read(t)) as Uint16Array;
const POISON = 0x7e00; // f16 NaN: an output left unwritten fails the comparison

interface Case {
  T: number;
  H: number;
  fused: boolean;
  inPlace: boolean;
  subgroups: boolean;
}

const shapes: [number, number][] = [
  [1, 4096],
  [3, 1000],
  [17, 64],
  [64, 1000],
  [17, 4096],
  [3, 8192],
  [17, 1001], // f16 path (H % 8 != 0)
  [3, 13],
];
const cases: Case[] = [];
shapes.forEach(([T, H], i) => {
  for (const fused of [false, true]) {
    cases.push({ T, H, fused, inPlace: i % 2 === 1, subgroups: true });
  }
  if (i % 3 !== 2) cases.push({ T, H, fused: i % 2 === 0, inPlace: i % 4 === 0, subgroups: false });
});

describe.skipIf(!gpu)(`rms_norm ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  const g = gpu!;
  const eps = 1e-5;

  it.each(cases)('T=$T H=$H fused=$fused inPlace=$inPlace subgroups=$subgroups', async ({ T, H, fused, inPlace, subgroups }) => {
    const rng = new Rng(T * 100003 + H * 7 + (fused ? 1 : 0) + (inPlace ? 2 : 0) + (subgroups ? 4 : 0));
    const x = activations(rng, T, H);
    const weight = rng.floats(H, -2, 2).map(roundF16);
    const residual = activations(rng, T, H);
    const tx = up(g, x, [T, H], 'x');
    const tw = up(g, weight, [H], 'weight');
    const tr = up(g, residual, [T, H], 'residual');
    const out = inPlace ? tx : g.upload(new Uint16Array(T * H).fill(POISON), [T, H], 'f16', 'out');
    await run(g, (rec) => rmsNormDispatch(rec, tx, fused ? tr : null, tw, out, eps, { subgroups }));
    const what = `${fused ? 'fusedAddRmsNorm' : 'rmsNorm'} T=${T} H=${H}`;
    if (fused) {
      const want = fusedAddRmsNormRef(x, residual, weight, eps);
      expectUlps(await read16(g, tr), want.residual, 0, 1, `${what} residual`);
      expectUlps(await read16(g, out), want.out, MAX_ULPS, MIN_EXACT, `${what} out`);
    } else {
      expectUlps(await read16(g, tr), residual, 0, 1, `${what} residual untouched`);
      expectUlps(await read16(g, out), rmsNormRef(x, weight, eps), MAX_ULPS, MIN_EXACT, `${what} out`);
    }
    for (const t of new Set([tx, tw, tr, out])) t.buffer.destroy();
  });

  it('the public wrappers compute the same as the reference (x and out the same tensor)', async () => {
    const [T, H] = [5, 512];
    const rng = new Rng(5);
    const x = activations(rng, T, H);
    const residual = activations(rng, T, H);
    const weight = rng.floats(H, 0.5, 1.5).map(roundF16);
    const tx = up(g, x, [T, H], 'x');
    const tw = up(g, weight, [H], 'w');
    const tr = up(g, residual, [T, H], 'r');
    const tn = g.tensor([T, H], 'f16', 'normed');
    await run(g, (rec) => {
      rmsNorm(rec, tx, tw, tn, 1e-6);
      fusedAddRmsNorm(rec, tx, tr, tw, tx, 1e-6);
    });
    expectUlps(await read16(g, tn), rmsNormRef(x, weight, 1e-6), MAX_ULPS, MIN_EXACT, 'rmsNorm');
    const want = fusedAddRmsNormRef(x, residual, weight, 1e-6);
    expectUlps(await read16(g, tr), want.residual, 0, 1, 'fusedAddRmsNorm residual');
    expectUlps(await read16(g, tx), want.out, MAX_ULPS, MIN_EXACT, 'fusedAddRmsNorm out (= x)');
  });

  it('is batch invariant: a row alone gives the same bits as inside a batch of 64', async () => {
    const [T, H] = [64, 4096];
    const rng = new Rng(64);
    const x = activations(rng, T, H);
    const weight = rng.floats(H, -2, 2).map(roundF16);
    const tw = up(g, weight, [H], 'w');
    const tx = up(g, x, [T, H], 'x');
    const out = g.tensor([T, H], 'f16', 'out');
    await run(g, (rec) => rmsNorm(rec, tx, tw, out, eps));
    const batch = await read16(g, out);
    for (const r of [0, 1, 2, 37, 63]) {
      const one = up(g, x.subarray(r * H, (r + 1) * H), [1, H], 'row');
      const oneOut = g.tensor([1, H], 'f16', 'rowOut');
      await run(g, (rec) => rmsNorm(rec, one, tw, oneOut, eps));
      const alone = await read16(g, oneOut);
      const diff = alone.findIndex((v, i) => v !== batch[r * H + i]);
      expect(diff, `row ${r} differs at column ${diff}`).toBe(-1);
    }
  });

  it('rejects bad shapes and overlapping tensors with a ShapeError', async () => {
    await run(g, (rec) => {
      const x = g.tensor([4, 64], 'f16');
      const w = g.tensor([64], 'f16');
      const r = g.tensor([4, 64], 'f16');
      expect(() => rmsNorm(rec, x, g.tensor([63], 'f16'), g.tensor([4, 64], 'f16'), eps)).toThrow(ShapeError);
      expect(() => rmsNorm(rec, x, w, g.tensor([4, 32], 'f16'), eps)).toThrow(ShapeError);
      expect(() => rmsNorm(rec, g.tensor([4, 64], 'f32'), w, g.tensor([4, 64], 'f32'), eps)).toThrow(ShapeError);
      expect(() => fusedAddRmsNorm(rec, x, g.tensor([3, 64], 'f16'), w, x, eps)).toThrow(ShapeError);
      expect(() => fusedAddRmsNorm(rec, x, x, w, r, eps)).toThrow(ShapeError);
      expect(() => fusedAddRmsNorm(rec, x, r, w, r, eps)).toThrow(ShapeError);
      expect(() => rmsNorm(rec, x, w, { ...x, shape: [4, 64], offset: 256 }, eps)).toThrow(ShapeError);
    });
  });
});

import { describe, expect, it } from 'vitest';
import { siluAndMul } from '../../src/kernels/silu_and_mul.js';
import { siluAndMulRef } from '../../src/kernels/ref/silu_and_mul.js';
import { ShapeError } from '../../src/gpu/errors.js';
import { roundF16, toF16 } from '../../src/util/f16.js';
import { Rng } from '../../src/util/rng.js';
import { expectUlps, noGpuReason, run, testGpu } from '../helpers/gpu.js';

const gpu = await testGpu();

// Tolerance: exp on the GPU is approximate, so silu(g) may round to the neighbouring f16
// (1 ulp), which the multiplication by up can make 2 ulps of the output. Rarely: at least 99.5%
// of outputs must equal the reference bit for bit, none more than 2 f16 ulps away.
const MAX_ULPS = 2;
const MIN_EXACT = 0.995;

/** gate | up rows: gate spans silu's curved region and its tails (incl. ±f16 max), up ~ N(0, 1). */
function inputs(rng: Rng, T: number, inter: number): Float32Array {
  const x = new Float32Array(T * 2 * inter);
  const tails = [-65504, -30, -17.5, -9, 9, 17.5, 30, 65504, -0, 0];
  for (let t = 0; t < T; t++) {
    for (let i = 0; i < inter; i++) {
      const gate = rng.next() < 0.02 ? rng.pick(tails) : 4 * rng.normal();
      x[t * 2 * inter + i] = roundF16(gate);
      x[t * 2 * inter + inter + i] = roundF16(rng.normal());
    }
  }
  return x;
}

describe.skipIf(!gpu)(`silu_and_mul ${gpu ? '' : `(skipped: ${noGpuReason()})`}`, () => {
  const g = gpu!;
  // [numTokens, intermediate]: 8-wide path (I % 8 == 0) and f16 path.
  const cases: [number, number][] = [
    [1, 14336],
    [3, 1000],
    [17, 64],
    [64, 1000],
    [17, 4096],
    [3, 999],
    [64, 13],
  ];
  it.each(cases)('T=%i I=%i matches the reference', async (T, inter) => {
    const rng = new Rng(T * 65537 + inter);
    const x = inputs(rng, T, inter);
    const tx = g.upload(toF16(x), [T, 2 * inter], 'f16', 'x');
    const out = g.upload(new Uint16Array(T * inter).fill(0x7e00), [T, inter], 'f16', 'out');
    await run(g, (rec) => siluAndMul(rec, tx, out));
    expectUlps((await g.read(out)) as Uint16Array, siluAndMulRef(x, inter), MAX_ULPS, MIN_EXACT, `siluAndMul T=${T} I=${inter}`);
    tx.buffer.destroy();
    out.buffer.destroy();
  });

  // Gemma's GeGLU: gelu_pytorch_tanh(gate) * up, same rounding and tolerance.
  it.each([
    [1, 14336],
    [3, 999],
    [64, 13],
  ])('gelu_tanh: T=%i I=%i matches the reference', async (T, inter) => {
    const rng = new Rng(T * 31 + inter);
    const x = inputs(rng, T, inter);
    const tx = g.upload(toF16(x), [T, 2 * inter], 'f16', 'x');
    const out = g.upload(new Uint16Array(T * inter).fill(0x7e00), [T, inter], 'f16', 'out');
    await run(g, (rec) => siluAndMul(rec, tx, out, 'gelu_tanh'));
    const want = siluAndMulRef(x, inter, 'gelu_tanh');
    expectUlps((await g.read(out)) as Uint16Array, want, MAX_ULPS, MIN_EXACT, `geluTanhAndMul T=${T} I=${inter}`);
    // Not silu by mistake: the two differ on most outputs.
    const silu = siluAndMulRef(x, inter);
    expect(want.filter((v, i) => v !== silu[i]).length).toBeGreaterThan(want.length / 2);
    tx.buffer.destroy();
    out.buffer.destroy();
  });

  it('rejects bad shapes with a ShapeError', async () => {
    await run(g, (rec) => {
      expect(() => siluAndMul(rec, g.tensor([4, 64], 'f16'), g.tensor([4, 64], 'f16'))).toThrow(ShapeError);
      expect(() => siluAndMul(rec, g.tensor([4, 63], 'f16'), g.tensor([4, 31], 'f16'))).toThrow(ShapeError);
      expect(() => siluAndMul(rec, g.tensor([4, 64], 'f16'), g.tensor([3, 32], 'f16'))).toThrow(ShapeError);
      expect(() => siluAndMul(rec, g.tensor([4, 64], 'f32'), g.tensor([4, 32], 'f32'))).toThrow(ShapeError);
      const x = g.tensor([4, 64], 'f16');
      expect(() => siluAndMul(rec, x, { ...x, shape: [4, 32] })).toThrow(ShapeError);
    });
  });
});

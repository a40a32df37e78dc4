import { describe, expect, it } from 'vitest';
import { linear, type LinearOptions } from '../../src/kernels/linear.js';
import { quantizeRowsInt8 } from '../../src/kernels/quantize_rows_int8.js';
import { uploadPacked } from '../../src/kernels/quantized_weight.js';
import { hasInt8TensorCores, planW8A8, W8A8_SGM_MIN_ROWS } from '../../src/kernels/w8a8_linear.js';
import { quantizeRowsInt8Ref, w8a8LinearRef } from '../../src/kernels/ref/w8a8_linear.js';
import type { LinearOutDType } from '../../src/kernels/ref/linear.js';
import { ShapeError } from '../../src/gpu/errors.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { quantize, type PackedWeight } from '../../src/quant/packed_weight.js';
import { fromF16, toF16 } from '../../src/util/f16.js';
import { Rng } from '../../src/util/rng.js';
import { noGpuReason, poisonedOut, readBits, run, testGpu } from '../helpers/gpu.js';

// Tolerance: the integer sums are exact, so kernel and reference differ only by the rounding of the
// epilogue's fma against the reference's f64 product and sum (a few f32 ulps, inside one ulp of an f16
// output) and by a q at a rounding tie of x / s (the kernel's f32 quotient may fall either side:
// ref/w8a8_linear's slack). The tensor-core schedule (emulated here) must give the plain kernel's bits.

const gpu = await testGpu();
const EMU: LinearOptions = { variant: 'subgroup-matrix-emulated' };

interface Case {
  M: number;
  N: number;
  K: number;
  x: Uint16Array;
  packed: PackedWeight;
  bias: Uint16Array | null;
}

function makeCase(M: number, N: number, K: number, withBias: boolean, seed: number): Case {
  const rng = new Rng(seed);
  const xf = rng.floats(M * K, -1, 1);
  if (M > 2) xf.fill(0, 2 * K, 3 * K); // row 2: all zeros (scale 0)
  const s = 2 / Math.sqrt(K);
  return { M, N, K, x: toF16(xf), packed: quantize(rng.floats(N * K, -s, s), [N, K], 8, K, true), bias: withBias ? toF16(rng.floats(N, -1, 1)) : null };
}

async function runW8A8(g: Gpu, c: Case, out: LinearOutDType, opts: LinearOptions): Promise<Uint16Array | Uint32Array> {
  const tx = g.upload(c.x, [c.M, c.K], 'f16', 'x');
  const w = uploadPacked(g, c.packed, 'w', true);
  const tb = c.bias ? g.upload(c.bias, [c.N], 'f16', 'bias') : null;
  const to = poisonedOut(g, c.M, c.N, out);
  await run(g, (rec) => linear(rec, tx, w, tb, to, opts));
  const got = await readBits(g, to);
  for (const t of [tx, tb, to, w.qweight, w.scales]) t?.buffer.destroy();
  return got;
}

// The tensor-core kernel (emulated) with extra defines: w8a8Linear's two dispatches, by hand.
async function runEmulatedWith(g: Gpu, c: Case, extra: string[]): Promise<Uint16Array> {
  const tx = g.upload(c.x, [c.M, c.K], 'f16', 'x');
  const w = uploadPacked(g, c.packed, 'w', true);
  const tb = c.bias ? g.upload(c.bias, [c.N], 'f16', 'bias') : null;
  const to = poisonedOut(g, c.M, c.N, 'f16');
  const [xq, sx] = [g.tensor([c.M, c.K / 4], 'u32'), g.tensor([c.M], 'f32')];
  const plan = planW8A8(g, c.M, c.N, c.K, { ...EMU, bias: tb !== null });
  await run(g, (rec) => {
    quantizeRowsInt8(rec, tx, xq, sx);
    rec.dispatch(g.pipeline(plan.shader, { defines: [...plan.defines, ...extra] }), [xq, sx, w.qweight, w.scales, ...(tb ? [tb] : []), to], plan.params, plan.workgroups);
  });
  const got = (await g.read(to)) as Uint16Array;
  for (const t of [tx, tb, to, xq, sx, w.qweight, w.scales]) t?.buffer.destroy();
  return got;
}

function checkAgainstRef(got: Uint16Array | Uint32Array, c: Case, out: LinearOutDType, what: string): void {
  const vals = out === 'f16' ? fromF16(got) : new Float32Array(got.buffer, got.byteOffset, got.length);
  const slack = new Float64Array(c.M * c.N);
  const ref = w8a8LinearRef(quantizeRowsInt8Ref(fromF16(c.x), c.M, c.K), c.packed, c.bias ? fromF16(c.bias) : null, c.M, out, slack);
  let bad = 0;
  let worst = 0;
  let worstRatio = 0;
  for (let i = 0; i < ref.length; i++) {
    const ulp = out === 'f16' ? Math.max(Math.abs(ref[i]) * 2 ** -10, 2 ** -24) : Math.max(Math.abs(ref[i]) * 2 ** -21, 2 ** -126);
    const ratio = Math.abs(vals[i] - ref[i]) / (ulp + slack[i] * 1.01);
    if (!(ratio <= 1)) bad++;
    if (!(ratio <= worstRatio)) [worst, worstRatio] = [i, Number.isNaN(ratio) ? Infinity : ratio];
  }
  if (bad > 0) throw new Error(`${what}: ${bad}/${ref.length} out of tolerance; worst [${Math.floor(worst / c.N)}, ${worst % c.N}]: got ${vals[worst]}, expected ${ref[worst]} (${worstRatio.toFixed(1)}×)`);
}

const SHAPES: [number, number, number, boolean, LinearOutDType][] = [
  [1, 300, 128, true, 'f16'],
  [3, 96, 192, false, 'f32'],
  [17, 70, 1024, true, 'f16'],
  [33, 130, 256, false, 'f16'],
  [100, 301, 4096, true, 'f32'],
];

describe.skipIf(!gpu)(`w8a8Linear ${gpu ? gpu.describe() : `(skipped: ${noGpuReason()})`}`, () => {
  const g = gpu!;

  it('quantizes rows to int8 with scale max|x| / 127 (a zero row: scale 0, q 0)', async () => {
    const [M, K] = [5, 1000];
    const c = makeCase(M, 1, K, false, 11);
    const ref = quantizeRowsInt8Ref(fromF16(c.x), M, K);
    const tx = g.upload(c.x, [M, K], 'f16', 'x');
    const tq = g.tensor([M, K / 4], 'u32');
    const ts = g.tensor([M], 'f32');
    await run(g, (rec) => quantizeRowsInt8(rec, tx, tq, ts));
    const q = new Int8Array(((await g.read(tq)) as Uint32Array).buffer.slice(0));
    expect(Array.from((await g.read(ts)) as Float32Array)).toEqual(Array.from(ref.scale));
    expect(ref.scale[2]).toBe(0);
    let ties = 0;
    for (let i = 0; i < M * K; i++) {
      if (ref.nearTie[i]) ties++;
      if (ref.nearTie[i] ? Math.abs(q[i] - ref.q[i]) > 1 : q[i] !== ref.q[i]) throw new Error(`q[${Math.floor(i / K)}, ${i % K}] = ${q[i]}, expected ${ref.q[i]}`);
    }
    expect(ties).toBeLessThan(M * K * 1e-3);
    expect(Math.max(...Array.from(ref.q, Math.abs))).toBe(127); // the row maxima reach ±127
  });

  it.each(SHAPES)('M=%i N=%i K=%i bias=%s out=%s matches the reference (both modes)', async (M, N, K, withBias, out) => {
    const c = makeCase(M, N, K, withBias, M * 31 + N + K);
    for (const opts of [{}, { mode: 'fast' }] as LinearOptions[]) {
      checkAgainstRef(await runW8A8(g, c, out, opts), c, out, `${opts.mode ?? 'invariant'} ${planW8A8(g, M, N, K).shader} M${M} N${N} K${K}`);
    }
  });

  it('tensor-core schedule (emulated) gives the plain kernel bits; rows are batch invariant', async () => {
    const c = makeCase(130, 144, 512, true, 99);
    const plain = await runW8A8(g, c, 'f16', { variant: 'plain' });
    checkAgainstRef(plain, c, 'f16', 'plain M130');
    expect(Array.from(await runW8A8(g, c, 'f16', EMU)), 'emulated vs plain').toEqual(Array.from(plain));
    // I8_WORDS: the matrix loads' offsets and strides in i32 words (Dawn's template spelling), converted back
    // to bytes for the emulated loads: the same bits.
    expect(Array.from(await runEmulatedWith(g, c, ['I8_WORDS'])), 'emulated I8_WORDS vs plain').toEqual(Array.from(plain));
    for (const r of [0, 2, 129]) {
      const one = { ...c, M: 1, x: c.x.slice(r * c.K, (r + 1) * c.K) };
      expect(Array.from(await runW8A8(g, one, 'f16', {})), `row ${r} alone`).toEqual(Array.from(plain.subarray(r * c.N, (r + 1) * c.N)));
    }
    const mid = { ...c, M: 37, x: c.x.slice(40 * c.K, 77 * c.K) };
    expect(Array.from(await runW8A8(g, mid, 'f16', EMU)), 'rows 40..76 emulated').toEqual(Array.from(plain.subarray(40 * c.N, 77 * c.N)));
  }, 300_000);

  it('int8 tensor cores (where the device has them) give the plain kernel bits', async (ctx) => {
    if (!hasInt8TensorCores(g)) {
      console.log('w8a8 tensor cores: skipped, this device has no i8 16x16x32 subgroup matrices (the emulated schedule is tested above)');
      ctx.skip();
    }
    for (const [M, N, K, seed] of [[130, 144, 512, 99], [256, 384, 1024, 7], [64, 4096, 4096, 5]] as const) {
      const c = makeCase(M, N, K, true, seed);
      const plain = await runW8A8(g, c, 'f16', { variant: 'plain' });
      checkAgainstRef(plain, c, 'f16', `plain M${M}`);
      const tc = await runW8A8(g, c, 'f16', { variant: 'subgroup-matrix' });
      let off = 0;
      for (let i = 0; i < tc.length; i++) if (tc[i] !== plain[i]) off++;
      expect(off, `M${M} N${N} K${K}: outputs of the int8 tensor-core kernel unlike the plain kernel's`).toBe(0);
    }
  }, 300_000);

  it('runs the int8 tensor cores from W8A8_SGM_MIN_ROWS rows where the device has them (K % 64 == 0), emulated anywhere', () => {
    const tc = hasInt8TensorCores(g);
    expect(planW8A8(g, 1, 4096, 4096).shader).toBe('w8a8_linear_tiled');
    expect(planW8A8(g, W8A8_SGM_MIN_ROWS - 1, 4096, 4096).shader).toBe('w8a8_linear_tiled');
    expect(planW8A8(g, W8A8_SGM_MIN_ROWS, 4096, 4096).shader).toBe(tc ? 'w8a8_linear_sgm' : 'w8a8_linear_tiled');
    expect(planW8A8(g, 256, 4096, 4160 + 32).shader).toBe('w8a8_linear_tiled'); // K % 64 != 0
    expect(planW8A8(g, 256, 4096, 4096, { variant: 'plain' }).shader).toBe('w8a8_linear_tiled');
    expect(planW8A8(g, 256, 4096, 4096, EMU).shader).toBe('w8a8_linear_sgm');
    if (!tc) expect(() => planW8A8(g, 256, 4096, 4096, { variant: 'subgroup-matrix' })).toThrow(/no i8 16x16x32/);
  });

  it('refuses weights it cannot take and bad shapes with named errors', async () => {
    const rng = new Rng(3);
    const w = rng.floats(16 * 128, -1, 1);
    const asym = uploadPacked(g, quantize(w, [16, 128], 8, 128, false), 'a', true);
    const grouped = uploadPacked(g, quantize(w, [16, 128], 8, 32, true), 'g', true);
    const ok = uploadPacked(g, quantize(w, [16, 128], 8, 128, true), 'ok', true);
    await run(g, (rec) => {
      const x = g.tensor([2, 128], 'f16');
      const out = g.tensor([2, 16], 'f16');
      expect(() => linear(rec, x, asym, null, out)).toThrow(/8-bit symmetric weights, got 8-bit asymmetric/);
      expect(() => linear(rec, x, grouped, null, out)).toThrow(/group size = in_features 128\), got group size 32/);
      expect(() => linear(rec, g.tensor([2, 64], 'f16'), ok, null, out)).toThrow(ShapeError);
      expect(() => linear(rec, x, ok, null, g.tensor([2, 15], 'f16'))).toThrow(ShapeError);
      expect(() => quantizeRowsInt8(rec, x, g.tensor([2, 31], 'u32'), g.tensor([2], 'f32'))).toThrow(ShapeError);
    });
  });
});

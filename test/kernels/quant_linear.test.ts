import { describe, expect, it } from 'vitest';
import { GEMV_MAX_ROWS, hasLinearTensorCores, linear, linearDeferred, isPartialSums, planLinear, type LinearOptions } from '../../src/kernels/linear.js';
import { planQuantLinear, quantLayout, quantLinear, type QuantLayout } from '../../src/kernels/quant_linear.js';
import { uploadPacked, type QuantizedWeight } from '../../src/kernels/quantized_weight.js';
import { quantKernelWeight, quantLinearRef } from '../../src/kernels/ref/quant_linear.js';
import { linearTolerance, type LinearOutDType } from '../../src/kernels/ref/linear.js';
import { ShapeError } from '../../src/gpu/errors.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { quantize, type PackedWeight, type QuantBits } from '../../src/quant/packed_weight.js';
import { fromF16, toF16 } from '../../src/util/f16.js';
import { Rng } from '../../src/util/rng.js';
import { noGpuReason, poisonedOut, readBits, run, testGpu } from '../helpers/gpu.js';

// Tolerance: ref/linear's (|got − ref| ≤ 4·sqrt(K)·2⁻²³·Σ|x·w| + one ulp of the output dtype) against the f64
// product with the weights every quantized kernel multiplies by, f16((q − z)·s) (ref/quant_linear). The
// strongest check needs none: a quantized plan gives bitwise what the f16 plan of the same sizes gives for
// an f16 weight holding those values. Outputs are poisoned with NaN, so an unwritten element fails.

const gpu = await testGpu();

interface Layout {
  bits: QuantBits;
  symmetric: boolean;
  groupSize: number; // 0: K (per output channel)
}

interface Case {
  M: number;
  N: number;
  K: number;
  x: Uint16Array;
  packed: PackedWeight;
  bias: Uint16Array | null;
}

function makeCase(M: number, N: number, K: number, l: Layout, withBias: boolean, seed: number): Case {
  const rng = new Rng(seed);
  const x = toF16(rng.floats(M * K, -1, 1));
  const s = 2 / Math.sqrt(K);
  const packed = quantize(rng.floats(N * K, -s, s), [N, K], l.bits, l.groupSize || K, l.symmetric);
  const bias = withBias ? toF16(rng.floats(N, -1, 1)) : null;
  return { M, N, K, x, packed, bias };
}

function rowsOf(c: Case, start: number, count: number): Case {
  return { ...c, M: count, x: c.x.slice(start * c.K, (start + count) * c.K) };
}

/** Runs quantLinear (or, with `asF16`, the f16 linear on the kernels' weight values) and returns the raw output bits. */
async function runQuant(g: Gpu, c: Case, out: LinearOutDType, opts: LinearOptions, asF16 = false): Promise<Uint16Array | Uint32Array> {
  const tx = g.upload(c.x, [c.M, c.K], 'f16', 'x');
  const w: QuantizedWeight | null = asF16 ? null : uploadPacked(g, c.packed, 'w');
  const tw = asF16 ? g.upload(toF16(quantKernelWeight(c.packed)), [c.N, c.K], 'f16', 'w16') : null;
  const tb = c.bias ? g.upload(c.bias, [c.N], 'f16', 'bias') : null;
  const to = poisonedOut(g, c.M, c.N, out);
  await run(g, (rec) => (w ? quantLinear(rec, tx, w, tb, to, opts) : linear(rec, tx, tw!, tb, to, opts)));
  const got = await readBits(g, to);
  for (const t of [tx, tw, tb, to, w?.qweight, w?.scales, w?.zeros]) t?.buffer.destroy();
  return got;
}

function values(bitsOut: Uint16Array | Uint32Array, out: LinearOutDType): Float32Array {
  return out === 'f16' ? fromF16(bitsOut) : new Float32Array(bitsOut.buffer, bitsOut.byteOffset, bitsOut.length);
}

function checkAgainstRef(got: Uint16Array | Uint32Array, c: Case, out: LinearOutDType, what: string): void {
  const vals = values(got, out);
  const absSum = new Float64Array(c.M * c.N);
  const ref = quantLinearRef(fromF16(c.x), c.packed, c.bias ? fromF16(c.bias) : null, c.M, out, absSum);
  let bad = 0;
  let worst = 0;
  let worstRatio = 0;
  for (let i = 0; i < ref.length; i++) {
    const ratio = Math.abs(vals[i] - ref[i]) / linearTolerance(ref[i], absSum[i], c.K, out);
    if (!(ratio <= 1)) bad++;
    if (!(ratio <= worstRatio)) [worst, worstRatio] = [i, Number.isNaN(ratio) ? Infinity : ratio];
  }
  if (bad > 0) {
    throw new Error(`${what}: ${bad}/${ref.length} out of tolerance; worst [${Math.floor(worst / c.N)}, ${worst % c.N}]: got ${vals[worst]}, expected ${ref[worst]} (${worstRatio.toFixed(1)}× tolerance)`);
  }
}

const layoutOf = (p: PackedWeight) => ({ bits: p.bits, symmetric: p.symmetric, groupSize: p.groupSize, zeros: p.zeros !== null });
const L = (bits: QuantBits, symmetric: boolean, groupSize: number): Layout => ({ bits, symmetric, groupSize });
const name = (l: Layout) => `int${l.bits} ${l.symmetric ? 'sym' : 'asym'} g${l.groupSize || 'K'}`;
const EMU: LinearOptions = { variant: 'subgroup-matrix-emulated' };

// [M, N, K, layout, bias, out]: awkward sizes, every layout and group size.
const SHAPES: [number, number, number, Layout, boolean, LinearOutDType][] = [
  [1, 300, 128, L(4, false, 128), true, 'f16'],
  [3, 96, 192, L(4, true, 64), false, 'f32'],
  [17, 200, 4096, L(4, false, 128), true, 'f16'],
  [33, 70, 1024, L(8, true, 0), true, 'f16'],
  [100, 130, 192, L(8, false, 32), false, 'f32'],
  [1, 96, 4096, L(8, true, 128), false, 'f16'],
  [3, 301, 256, L(8, false, 0), true, 'f16'],
  [100, 48, 2048, L(4, true, 32), true, 'f32'],
];

// The tensor-core schedules under emulation (slow on lavapipe: a few shapes): stream tm1 (4 segments), stream
// tm2 (2 segments), PAR 128 tiles (3 segments); SEQ blocks run in the invariance and anchor tests below.
const EMULATED: [number, number, number, Layout, boolean, LinearOutDType][] = [
  [1, 96, 4096, L(4, false, 128), true, 'f16'],
  [20, 112, 2048, L(8, true, 0), false, 'f32'],
  [100, 144, 3072, L(8, false, 64), true, 'f16'],
];

describe.skipIf(!gpu)(`quantLinear ${gpu ? gpu.describe() : `(skipped: ${noGpuReason()})`}`, () => {
  const g = gpu!;

  it.each(SHAPES)('invariant and fast: M=%i N=%i K=%i %o bias=%s out=%s match the f64 reference', async (M, N, K, l, withBias, out) => {
    const c = makeCase(M, N, K, l, withBias, M * 7919 + N * 31 + K + l.bits);
    for (const opts of [{}, { mode: 'fast' }] as LinearOptions[]) {
      const p = planQuantLinear(g, M, N, K, layoutOf(c.packed), opts);
      checkAgainstRef(await runQuant(g, c, out, opts), c, out, `${opts.mode ?? 'invariant'} (${p.variant} ${p.schedule}) M${M} N${N} K${K} ${name(l)}`);
    }
  });

  it.each(EMULATED)('subgroup-matrix-emulated: M=%i N=%i K=%i %o bias=%s out=%s matches the reference', async (M, N, K, l, withBias, out) => {
    const c = makeCase(M, N, K, l, withBias, M + N + K);
    checkAgainstRef(await runQuant(g, c, out, EMU), c, out, `emulated M${M} N${N} K${K} ${name(l)}`);
  });

  // The anchor: the quantized plans compute exactly what the f16 plans compute for the dequantized weights.
  it('gives bitwise the f16 linear of f16((q − z)·s): plain, gemv and every emulated tensor-core schedule', async () => {
    const c = makeCase(40, 96, 2048, L(4, false, 128), true, 77); // 2 segments
    const plans: LinearOptions[] = [{ variant: 'plain' }, { ...EMU, tile: 'stream' }, { ...EMU, tile: 'par64' }, { ...EMU, tile: 'par128' }, { ...EMU, tile: 'block' }];
    for (const opts of plans) {
      const want = await runQuant(g, c, 'f16', opts, true);
      expect(Array.from(await runQuant(g, c, 'f16', opts)), `${JSON.stringify(opts)}`).toEqual(Array.from(want));
    }
    // linear_gemv's QUANT read (group 8: too small for quant_linear_gemv's 16-byte loads); K 2048: several
    // chunks per GEMV lane and trip
    const d = rowsOf(makeCase(8, 70, 2048, L(8, false, 8), false, 78), 0, 3);
    expect(planQuantLinear(g, 3, 70, 2048, layoutOf(d.packed), { variant: 'gemv' }).shader).toBe('linear_gemv');
    for (const opts of [{ variant: 'gemv' }, { variant: 'plain' }] as LinearOptions[]) {
      expect(Array.from(await runQuant(g, d, 'f32', opts)), `int8 ${opts.variant}`).toEqual(Array.from(await runQuant(g, d, 'f32', opts, true)));
    }
  }, 300_000);

  // The f16 dequantization keeps subnormals: weights of ±2e-5 give f16 scales and products below 2⁻¹⁴ (the
  // smallest normal f16), which a flushing device would turn to zero; the f16 plan multiplies the same
  // subnormal weights. Every layout, on the device's default plans (tensor cores where it has them), plain
  // and fast.
  it('keeps subnormal scales and products (tiny weights) bitwise', async () => {
    for (const l of [L(4, false, 128), L(4, true, 64), L(8, true, 0), L(8, false, 64)]) {
      const rng = new Rng(l.bits * 100 + l.groupSize);
      const [M, N, K] = [2, 64, 256];
      const packed = quantize(rng.floats(N * K, -2e-5, 2e-5), [N, K], l.bits, l.groupSize || K, l.symmetric);
      const c: Case = { M, N, K, x: toF16(rng.floats(M * K, -1, 1)), packed, bias: null };
      const scales = fromF16(packed.scales);
      expect(scales.some((v) => v !== 0 && Math.abs(v) < 2 ** -14), `${name(l)}: the case has subnormal scales`).toBe(true);
      for (const opts of [{}, { variant: 'plain' }] as LinearOptions[]) {
        const want = await runQuant(g, c, 'f32', opts, true);
        expect(Array.from(await runQuant(g, c, 'f32', opts)), `${name(l)} ${JSON.stringify(opts)}`).toEqual(Array.from(want));
      }
      // fast mode's GEMV (its own lane split): the reference, which flushed products would miss by their size
      checkAgainstRef(await runQuant(g, c, 'f32', { mode: 'fast' }), c, 'f32', `${name(l)} fast`);
    }
  }, 300_000);

  // shaders/quant_linear_gemv (fast mode's GEMV where the layout takes 16-byte loads): every layout, M 1-8,
  // N not a multiple of the 8 rows per workgroup, K with a partial last trip, bias and f32 out; against the
  // f64 reference, and each row's bits equal to that row computed alone (the GEMV's rows are independent).
  const WIDE_GEMV: [number, number, number, Layout, boolean, LinearOutDType][] = [
    [1, 301, 4096, L(4, false, 128), true, 'f16'],
    [2, 77, 1088, L(4, true, 32), false, 'f32'],
    [5, 40, 2560, L(8, true, 0), true, 'f16'],
    [8, 19, 1024, L(8, false, 64), false, 'f16'],
    [3, 64, 96, L(8, true, 16), true, 'f32'],
  ];
  it.each(WIDE_GEMV)('quant_linear_gemv: M=%i N=%i K=%i %o bias=%s out=%s matches the reference, rows alone', async (M, N, K, l, withBias, out) => {
    const c = makeCase(M, N, K, l, withBias, M * 131 + N + K);
    const opts: LinearOptions = { variant: 'gemv' };
    expect(planQuantLinear(g, M, N, K, layoutOf(c.packed), opts).shader).toBe('quant_linear_gemv');
    const all = await runQuant(g, c, out, opts);
    checkAgainstRef(all, c, out, `quant_linear_gemv M${M} N${N} K${K} ${name(l)}`);
    for (const r of [0, M - 1]) {
      const one = await runQuant(g, rowsOf(c, r, 1), out, opts);
      expect(Array.from(one), `row ${r} alone vs in M=${M}`).toEqual(Array.from(all.subarray(r * N, (r + 1) * N)));
    }
  }, 300_000);

  // A row alone (M=1) and inside batches of 37 and 130: bitwise equal on every invariant path. Under emulation
  // these are three schedules (stream, PAR 128, SEQ for 130 rows when forced by N % 16 != 0 too).
  const invariantCases: [string, LinearOptions, number, number, Layout][] = [
    ['invariant', {}, 300, 1024, L(4, false, 128)],
    ['invariant', {}, 96, 192, L(8, true, 0)],
    ['subgroup-matrix-emulated', EMU, 96, 2048, L(4, true, 128)],
    ['subgroup-matrix-emulated', EMU, 300, 1024, L(8, false, 64)],
  ];
  it.each(invariantCases)('%s %o: rows are batch invariant (N=%i K=%i %o)', async (_n, opts, N, K, l) => {
    const c = makeCase(130, N, K, l, true, N + K);
    const full = await runQuant(g, c, 'f16', opts);
    const mid = await runQuant(g, rowsOf(c, 40, 37), 'f16', opts);
    expect(Array.from(mid)).toEqual(Array.from(full.subarray(40 * N, 77 * N)));
    for (const r of [0, 129]) {
      const one = await runQuant(g, rowsOf(c, r, 1), 'f16', opts);
      expect(Array.from(one), `row ${r} alone vs in M=130`).toEqual(Array.from(full.subarray(r * N, (r + 1) * N)));
    }
  }, 300_000);

  it('plans as the f16 linear does: same K order for every M, stream then blocks, SEQ blocks where N % 16 != 0', () => {
    const q = { bits: 4, symmetric: false, groupSize: 128, zeros: true } as const;
    const orders = [1, 16, 33, 100, 500].map((M) => planQuantLinear(g, M, 4096, 4096, q).order);
    expect(new Set(orders).size).toBe(1);
    expect(orders[0]).toBe(planLinear(g, 1, 4096, 4096).order);
    const emu = (M: number, N: number) => planQuantLinear(g, M, N, 4096, q, EMU);
    expect(emu(1, 4096).shader).toBe('linear_subgroup_matrix_stream'); // the staged BK-64 stream under QUANT
    expect(emu(1, 4096).defines).toEqual(expect.arrayContaining(['QUANT', 'Q4', 'ZEROS', 'EMULATE']));
    expect(emu(1, 4096).constants.GS).toBe(128);
    expect(emu(100, 4096).schedule).toBe('par 128x128');
    expect([1, 100, 500].map((M) => emu(M, 4100).schedule)).toEqual(Array(3).fill('block 128x128'));
    expect(planQuantLinear(g, 1, 64, 256, { bits: 8, symmetric: true, groupSize: 256, zeros: false }).defines).toEqual(expect.arrayContaining(['Q8', 'SIGNED']));
  });

  it('routes quantized weights through linear and linearDeferred (partial sums where the plan folds)', async () => {
    const c = makeCase(2, 96, 4096, L(4, true, 128), false, 5);
    const want = await runQuant(g, c, 'f16', EMU);
    const tx = g.upload(c.x, [c.M, c.K], 'f16', 'x');
    const w = uploadPacked(g, c.packed, 'w');
    const a = poisonedOut(g, c.M, c.N, 'f16');
    const b = poisonedOut(g, c.M, c.N, 'f16');
    let deferred: ReturnType<typeof linearDeferred> | undefined;
    await run(g, (rec) => {
      linear(rec, tx, w, null, a, EMU);
      deferred = linearDeferred(rec, tx, w, null, b, EMU);
    });
    expect(Array.from(await g.read(a))).toEqual(Array.from(want));
    expect(deferred && isPartialSums(deferred)).toBe(true); // the stream plan folds: left to the consumer
  });

  it('refuses bad shapes and layouts with named errors', async () => {
    const c = makeCase(2, 16, 128, L(4, false, 32), false, 1);
    const w = uploadPacked(g, c.packed, 'w');
    await run(g, (rec) => {
      const out = g.tensor([2, 16], 'f16');
      expect(() => quantLinear(rec, g.tensor([2, 64], 'f16'), w, null, out)).toThrow(/\(in_features 128\) but x has K = 64/);
      expect(() => quantLinear(rec, g.tensor([2, 128], 'f32'), w, null, out)).toThrow(ShapeError);
      expect(() => quantLinear(rec, g.tensor([2, 128], 'f16'), w, g.tensor([15], 'f16'), out)).toThrow(ShapeError);
      expect(() => quantLinear(rec, g.tensor([2, 128], 'f16'), w, null, g.tensor([2, 17], 'f16'))).toThrow(ShapeError);
      expect(() => quantLinear(rec, g.tensor([2, 128], 'f16'), { ...w, scales: g.tensor([16, 3], 'f16') }, null, out)).toThrow(/quantLinear scales/);
    });
    const q = quantLayout(w);
    expect(() => planQuantLinear(g, 1, 16, 132, q)).toThrow(/in_features 132 is not a multiple of 8/);
    expect(() => planQuantLinear(g, 1, 16, 120, { ...q, groupSize: 12 })).toThrow(/group size 12 must be a multiple of 8/);
    expect(() => planQuantLinear(g, 1, 16, 200, { ...q, groupSize: 8 }, EMU)).toThrow(/in_features % 64 == 0/);
    expect(() => planQuantLinear(g, 1, 16, 128, q, { ...EMU, tile: 'D1' })).toThrow(/no dequantizing variant/);
  });
});

// The decode stream (the staged BK-64 QUANT stream, ≤ 32 rows) against the f16 linear on the dequantized weights:
// bitwise, plus the f64 reference. Emulated tensor cores on lavapipe; the real kernels where the device has them.
const decodeRng = new Rng(1717);
const DECODE: [number, number, number, Layout, boolean, LinearOutDType][] = [
  [1, 80, 2048, L(4, false, 128), true, 'f16'], // N % 64 != 0, 2 segments, zeros, bias
  [5, 48, 3072, L(4, true, 32), false, 'f32'], // 3 segments, implied zero 8, f32 out
  [16, 96, 2048, L(8, true, 0), false, 'f16'], // int8 symmetric per channel (SIGNED)
  [17, 144, 1024, L(4, false, 64), true, 'f16'], // TM2, one segment
  [32, 64, 2048, L(8, true, 128), false, 'f16'], // TM2, int8 symmetric g128
  [1, 16, 256, L(8, false, 64), false, 'f16'], // int8 with zeros (unsigned bytes), one segment
  // seeded random shapes: M from the decode sizes, N a multiple of 16, K a multiple of 128
  ...[0, 1, 2].map((i): [number, number, number, Layout, boolean, LinearOutDType] => {
    const M = [1, 5, 16, 17, 32][decodeRng.int(0, 4)];
    const l = [L(4, false, 128), L(4, true, 64), L(8, true, 0), L(8, false, 32)][i + decodeRng.int(0, 1)];
    return [M, 16 * decodeRng.int(1, 10), 128 * decodeRng.int(2, 20), l, i === 1, 'f16'];
  }),
];

describe.skipIf(!gpu)(`quantLinear decode stream ${gpu ? gpu.describe() : `(skipped: ${noGpuReason()})`}`, () => {
  const g = gpu!;

  it.each(DECODE)('M=%i N=%i K=%i %o bias=%s out=%s: bits of the f16 linear, and the reference', async (M, N, K, l, withBias, out) => {
    const c = makeCase(M, N, K, l, withBias, M * 131 + N * 7 + K + l.bits);
    const plan = planQuantLinear(g, M, N, K, layoutOf(c.packed), { ...EMU, bias: withBias, outDtype: out });
    expect(plan.shader, plan.schedule).toBe('linear_subgroup_matrix_stream');
    const got = await runQuant(g, c, out, EMU);
    const what = `stream M${M} N${N} K${K} ${name(l)} (${plan.schedule})`;
    expect(Array.from(got), `${what} vs f16 linear`).toEqual(Array.from(await runQuant(g, c, out, EMU, true)));
    checkAgainstRef(got, c, out, what);
    // On tensor cores (the H100): the real kernels, likewise.
    if (!hasLinearTensorCores(g)) return;
    expect(planQuantLinear(g, M, N, K, layoutOf(c.packed), { bias: withBias, outDtype: out }).shader).toBe('linear_subgroup_matrix_stream');
    const tc = await runQuant(g, c, out, {});
    expect(Array.from(tc), `tensor cores: stream vs f16 linear`).toEqual(Array.from(await runQuant(g, c, out, {}, true)));
    checkAgainstRef(tc, c, out, `tensor cores ${what}`);
  }, 300_000);
  if (gpu && !hasLinearTensorCores(gpu)) console.log(`[quant_linear] decode stream on real tensor cores not run: ${g.describe()} has no f16 16x16x16 subgroup matrices on 32-wide subgroups (emulated runs only)`);
});

// The planner reads only a Gpu's subgroup caps and subgroup-matrix configs, so both kinds of device plan here
// without a GPU: an NVIDIA-like one (f16 16x16x16 matrices, 32-wide subgroups) and one without tensor cores.
describe('quantLinear fast-mode rows (planner only)', () => {
  const device = (tensorCores: boolean) =>
    ({ caps: { subgroups: true, subgroupMinSize: tensorCores ? 32 : 8, subgroupMaxSize: tensorCores ? 32 : 8 }, hasSubgroupMatrix: () => tensorCores }) as unknown as Gpu;
  const q: QuantLayout = { bits: 4, symmetric: false, groupSize: 128, zeros: true };
  const g16: QuantLayout = { ...q, groupSize: 16 }; // 16 % 32 != 0: no 16-byte loads, linear_gemv's QUANT read
  const fast = (tc: boolean, M: number, N: number, K: number, l: QuantLayout) => planQuantLinear(device(tc), M, N, K, l, { mode: 'fast' }).shader;

  it('with tensor cores: the 16-byte GEMV at M1 and M2 for every N (Llama-3-8B down included), the stream from M3', () => {
    expect(hasLinearTensorCores(device(true))).toBe(true);
    for (const [N, K] of [[6144, 4096], [4096, 4096], [28672, 4096], [4096, 14336]]) {
      expect([1, 2, 3, 16].map((M) => fast(true, M, N, K, q)), `N${N} K${K}`).toEqual(['quant_linear_gemv', 'quant_linear_gemv', 'linear_subgroup_matrix_stream', 'linear_subgroup_matrix_stream']);
      expect(planQuantLinear(device(true), 256, N, K, q, { mode: 'fast' }).shader).toBe('linear_subgroup_matrix_block');
    }
    // linear_gemv's QUANT read keeps the f16 rule: M2 only where N >= K.
    expect([1, 2].map((M) => fast(true, M, 1024, 4096, g16))).toEqual(['linear_gemv', 'linear_subgroup_matrix_stream']);
    expect(fast(true, 2, 4096, 1024, g16)).toBe('linear_gemv');
    // Default mode never takes a GEMV.
    expect(planQuantLinear(device(true), 1, 4096, 14336, q).shader).toBe('linear_subgroup_matrix_stream');
  });

  it(`without tensor cores: a GEMV up to ${GEMV_MAX_ROWS} rows, then the plain kernel`, () => {
    expect([1, 2, GEMV_MAX_ROWS].map((M) => fast(false, M, 1024, 4096, q))).toEqual(Array(3).fill('quant_linear_gemv'));
    expect(fast(false, 2, 1024, 4096, g16)).toBe('linear_gemv');
    expect(fast(false, GEMV_MAX_ROWS + 1, 1024, 4096, q)).toBe('linear_tiled');
  });
});

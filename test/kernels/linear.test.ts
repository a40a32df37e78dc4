import { describe, expect, it } from 'vitest';
import { FAST_GEMV_ROWS, GEMV_MAX_ROWS, hasLinearTensorCores, linear, linearKernels, linearSegments, planLinear, type LinearOptions } from '../../src/kernels/linear.js';
import { linearRef, linearTolerance, type LinearOutDType } from '../../src/kernels/ref/linear.js';
import { ShapeError } from '../../src/gpu/errors.js';
import type { Gpu } from '../../src/gpu/gpu.js';
import { fromF16, toF16 } from '../../src/util/f16.js';
import { Rng } from '../../src/util/rng.js';
import { noGpuReason, poisonedOut, run, testGpu } from '../helpers/gpu.js';

// Tolerance (see linearTolerance): |got − ref| ≤ 4·sqrt(K)·2⁻²³·Σ|x·w| + one ulp of the output dtype at |ref|,
// against an f64 reference on the same f16 inputs. Outputs are poisoned with NaN before every run, so an
// element the kernel never writes fails too.

const gpu = await testGpu();

interface Inputs {
  M: number;
  N: number;
  K: number;
  x: Uint16Array;
  w: Uint16Array;
  bias: Uint16Array | null;
}

function inputs(M: number, N: number, K: number, withBias: boolean, seed: number): Inputs {
  const rng = new Rng(seed);
  const x = toF16(rng.floats(M * K, -1, 1));
  const s = 2 / Math.sqrt(K);
  const w = toF16(rng.floats(N * K, -s, s));
  const bias = withBias ? toF16(rng.floats(N, -1, 1)) : null;
  return { M, N, K, x, w, bias };
}

/** Runs linear and returns the raw output (f16 bits or f32 values). */
async function runLinear(g: Gpu, c: Inputs, out: LinearOutDType, opts: LinearOptions): Promise<Uint16Array | Float32Array> {
  const tx = g.upload(c.x, [c.M, c.K], 'f16', 'x');
  const tw = g.upload(c.w, [c.N, c.K], 'f16', 'w');
  const tb = c.bias ? g.upload(c.bias, [c.N], 'f16', 'bias') : null;
  const to = poisonedOut(g, c.M, c.N, out);
  await run(g, (rec) => linear(rec, tx, tw, tb, to, opts));
  const got = (await g.read(to)) as Uint16Array | Float32Array;
  for (const t of [tx, tw, tb, to]) t?.buffer.destroy();
  return got;
}

function reference(c: Inputs, out: LinearOutDType): { ref: Float32Array; absSum: Float64Array } {
  const absSum = new Float64Array(c.M * c.N);
  const ref = linearRef(fromF16(c.x), fromF16(c.w), c.bias ? fromF16(c.bias) : null, c.M, c.N, c.K, out, absSum);
  return { ref, absSum };
}

function checkAgainstRef(got: Uint16Array | Float32Array, c: Inputs, out: LinearOutDType, what: string, r = reference(c, out)): void {
  const vals = got instanceof Uint16Array ? fromF16(got) : got;
  const { ref, absSum } = r;
  let worst = -1;
  let worstRatio = 0;
  let bad = 0;
  for (let i = 0; i < ref.length; i++) {
    const ratio = Math.abs(vals[i] - ref[i]) / linearTolerance(ref[i], absSum[i], c.K, out);
    if (!(ratio <= 1)) bad++;
    if (!(ratio <= worstRatio)) {
      worstRatio = Number.isNaN(ratio) ? Infinity : ratio;
      worst = i;
    }
  }
  if (bad > 0) {
    const m = Math.floor(worst / c.N);
    throw new Error(`${what}: ${bad}/${ref.length} out of tolerance; worst [${m}, ${worst % c.N}]: got ${vals[worst]}, expected ${ref[worst]} (${worstRatio.toFixed(1)}× tolerance)`);
  }
}

function rowsOf(c: Inputs, start: number, count: number): Inputs {
  return { ...c, M: count, x: c.x.slice(start * c.K, (start + count) * c.K) };
}

function bits(a: Uint16Array | Float32Array): Uint16Array | Uint32Array {
  return a instanceof Uint16Array ? a : new Uint32Array(a.buffer, a.byteOffset, a.length);
}

/**
 * Every path this device runs: the two modes' own choices (the tensor-core kernel on NVIDIA, the plain one
 * elsewhere; the GEMV for M ≤ 8 in 'fast' mode), the plain kernel forced where it is not the default, and
 * the tensor-core schedules with emulated matrix ops (index logic on any device).
 */
function variants(g: Gpu): [string, LinearOptions][] {
  const v: [string, LinearOptions][] = [
    ['invariant', {}],
    ['fast', { mode: 'fast' }],
  ];
  if (planLinear(g, 1, 64, 64).variant !== 'plain') v.push(['plain', { variant: 'plain' }]);
  return v;
}

// [M, N, K, bias, out]: awkward sizes. K=999 takes the scalar-load paths; K=24 is shorter than one tile;
// N=300/K=4096 and N=200/K=3072 cut K into 4 and 3 segments in the tensor-core order.
const SHAPES: [number, number, number, boolean, LinearOutDType][] = [
  [1, 999, 1000, true, 'f16'],
  [3, 999, 1000, false, 'f32'],
  [2, 33, 999, true, 'f16'],
  [17, 300, 4096, true, 'f16'],
  [64, 300, 4096, true, 'f16'],
  [130, 999, 1000, true, 'f32'],
  [130, 200, 3072, true, 'f16'],
  [130, 70, 24, true, 'f16'],
  // tensor-core k-groups 8 and 2 (N=96/K=8192: 8 segments; N=300/K=2048: 2): S8, M8, S2, M2 where it runs
  [3, 96, 8192, false, 'f32'],
  [40, 96, 8192, true, 'f16'],
  [2, 300, 2048, true, 'f16'],
  [40, 300, 2048, true, 'f16'],
];
// The emulated tensor-core kernel is slow to compile and run on lavapipe: one shape per schedule, reusing
// pipelines with the invariance test below (S4 par, M4 par with an idle k-group, B seq with 3 segments,
// B seq with the scalar loads and f32 out).
const EMULATED: [number, number, number, boolean, LinearOutDType][] = [
  [1, 300, 4096, true, 'f16'],
  [17, 200, 3072, true, 'f16'],
  [100, 200, 3072, true, 'f16'],
  [70, 70, 999, false, 'f32'],
  [150, 70, 1088, false, 'f32'], // block: one segment of 17 k-steps, partial blocks
  [1, 96, 4096, true, 'f16'], // stream tm1: 4 segments, a slice with idle subgroups
  [20, 112, 2048, false, 'f32'], // stream tm2: 2 segments
  [100, 144, 3072, true, 'f16'], // par 128x128: 3 segments side by side, a partial column tile
];
const EMU: LinearOptions = { variant: 'subgroup-matrix-emulated' };

describe.skipIf(!gpu)(`linear ${gpu ? gpu.describe() : `(skipped: ${noGpuReason()})`}`, () => {
  const g = gpu!;

  it('cuts K by N and K only, in 128-multiples covering K', () => {
    for (const [N, K] of [[4096, 14336], [4096, 4096], [14336, 4096], [300, 4096], [200, 3072], [999, 1000], [128256, 4096]]) {
      const { numSeg, segLen } = linearSegments(N, K);
      expect(segLen % 128).toBe(0);
      expect(numSeg * segLen).toBeGreaterThanOrEqual(K);
      expect((numSeg - 1) * segLen).toBeLessThan(K);
      expect(numSeg).toBeLessThanOrEqual(8);
    }
    expect(linearSegments(300, 4096).numSeg).toBe(4);
    expect(linearSegments(200, 3072).numSeg).toBe(3);
    expect(linearSegments(96, 8192).numSeg).toBe(8);
    expect(linearSegments(300, 2048).numSeg).toBe(2);
  });

  for (const [name, opts] of variants(gpu ?? ({} as Gpu))) {
    it.each(SHAPES)(`${name}: M=%i N=%i K=%i bias=%s out=%s matches the f64 reference`, async (M, N, K, withBias, out) => {
      const c = inputs(M, N, K, withBias, M * 7919 + N * 31 + K);
      const p = planLinear(g, M, N, K, opts);
      checkAgainstRef(await runLinear(g, c, out, opts), c, out, `${name} (${p.variant} ${p.schedule}) M${M} N${N} K${K}`);
    });
  }

  it.each(EMULATED)('subgroup-matrix-emulated: M=%i N=%i K=%i bias=%s out=%s matches the f64 reference', async (M, N, K, withBias, out) => {
    const c = inputs(M, N, K, withBias, M * 7919 + N * 31 + K);
    checkAgainstRef(await runLinear(g, c, out, EMU), c, out, `emulated ${planLinear(g, M, N, K, EMU).schedule} M${M} N${N} K${K}`);
  });

  it('invariant and fast: M=3 at N=K=4096 (a real hidden size) match the reference', async () => {
    const c = inputs(3, 4096, 4096, false, 4242);
    const ref = reference(c, 'f32');
    for (const opts of [{}, { mode: 'fast' } as const]) {
      checkAgainstRef(await runLinear(g, c, 'f32', opts), c, 'f32', `${opts.mode ?? 'invariant'} M3 4096²`, ref);
    }
  });

  it.each([
    [2, 513, 64, false, 'f16'],
    [8, 77, 1000, true, 'f32'],
  ] as const)('gemv: M=%i N=%i K=%i bias=%s out=%s matches the reference', async (M, N, K, withBias, out) => {
    const c = inputs(M, N, K, withBias, 17 * M + K);
    checkAgainstRef(await runLinear(g, c, out, { variant: 'gemv' }), c, out, `gemv M${M} N${N} K${K}`);
  });

  // A row computed alone (M=1) and inside batches of 37 and 130 must be bitwise equal on every invariant path
  // (for the tensor-core order these are three schedules: S par, M par, B seq).
  const invariantCases: [string, LinearOptions, number, number, LinearOutDType][] = [
    ...variants(gpu ?? ({} as Gpu))
      .filter(([n]) => n !== 'fast')
      .flatMap(([n, o]) => [[n, o, 300, 4096, 'f16'], [n, o, 999, 1000, 'f32'], [n, o, 96, 8192, 'f16']] as [string, LinearOptions, number, number, LinearOutDType][]),
    ['subgroup-matrix-emulated', EMU, 300, 4096, 'f16'],
  ];
  it.each(invariantCases)('%s: rows are batch invariant', async (_name, opts, N, K, out) => {
    const c = inputs(130, N, K, true, N + K);
    const full = bits(await runLinear(g, c, out, opts));
    const mid = bits(await runLinear(g, rowsOf(c, 40, 37), out, opts));
    expect(Array.from(mid)).toEqual(Array.from(full.subarray(40 * N, 77 * N)));
    for (const r of [0, 57, 129]) {
      const one = bits(await runLinear(g, rowsOf(c, r, 1), out, opts));
      expect(Array.from(one), `row ${r} alone vs in M=130`).toEqual(Array.from(full.subarray(r * N, (r + 1) * N)));
    }
  });

  // The direct and the staged tensor-core kernels (and their schedules) implement one order: the same bits.
  // Real tensor cores where the device has them, and the emulation everywhere (its per-tile math is shared).
  const schedules: [string, LinearOptions][] = [
    ...(planLinear(gpu ?? ({} as Gpu), 1, 64, 64).variant === 'subgroup-matrix' ? ([['subgroup-matrix', {}]] as [string, LinearOptions][]) : []),
    ['subgroup-matrix-emulated', EMU],
  ];
  it.each(schedules)('%s: direct (D1, D2), stream, block and staged (S, M, B) schedules give the same bits', async (_name, base) => {
    const [M, N, K] = [40, 96, 8192]; // 8 segments: KG 8 for S8/M8, SEQ_SPLIT for B
    const c = inputs(M, N, K, true, 4097);
    const ref = bits(await runLinear(g, c, 'f16', { ...base, tile: 'D1' }));
    for (const tile of ['D2', 'D1m1n2', 'stream', 'par64', 'par128', 'block', 'S8', 'M8', 'B']) {
      const got = bits(await runLinear(g, c, 'f16', { ...base, tile }));
      expect(Array.from(got), `tile ${tile} vs D1`).toEqual(Array.from(ref));
    }
    checkAgainstRef(ref as Uint16Array, c, 'f16', 'D1');
    // The weight stream (two k-steps per trip) where segments hold an odd number of 64-wide k-steps
    // (K = 4160: the last of 4 segments is 704 long on the H100) and few rows (TM1).
    const d = inputs(5, 64, 4160, false, 4098);
    const dRef = bits(await runLinear(g, d, 'f16', { ...base, tile: 'D1' }));
    expect(Array.from(bits(await runLinear(g, d, 'f16', { ...base, tile: 'stream' }))), 'stream vs D1, K 4160').toEqual(Array.from(dRef));
    checkAgainstRef(dRef as Uint16Array, d, 'f16', 'D1');
  }, 300_000); // ten schedules of the emulated kernels compile slowly on lavapipe

  it('picks variants from the device, N and K only in invariant mode', () => {
    const names = [1, 2, 16, 17, 64, 65, 300, 8192].map((M) => {
      const p = planLinear(g, M, 4096, 14336);
      return `${p.variant} ${p.order}`;
    });
    expect(new Set(names).size).toBe(1);
    const fastRows = hasLinearTensorCores(g) ? FAST_GEMV_ROWS : GEMV_MAX_ROWS;
    expect(planLinear(g, fastRows, 4096, 4096, { mode: 'fast' }).variant).toBe('gemv');
    expect(planLinear(g, fastRows + 1, 4096, 4096, { mode: 'fast' }).variant).not.toBe('gemv');
    // With tensor cores the GEMV's second row only where N >= K (the down projection streams at M2).
    if (hasLinearTensorCores(g)) {
      expect(planLinear(g, 1, 4096, 14336, { mode: 'fast' }).variant).toBe('gemv');
      expect(planLinear(g, 2, 4096, 14336, { mode: 'fast' }).variant).not.toBe('gemv');
    }
  });

  it('tensor-core schedules by M: stream up to 32 rows, then block tiles with segments side by side (PAR) or in turn (SEQ)', () => {
    const shader = (M: number, N: number, K: number) => planLinear(g, M, N, K, EMU).shader;
    const schedule = (M: number, N: number, K: number) => planLinear(g, M, N, K, EMU).schedule;
    expect([1, 16, 17, 32].map((M) => shader(M, 4096, 4096))).toEqual(Array(4).fill('linear_subgroup_matrix_stream'));
    expect([33, 64, 65, 100, 128, 256, 383, 384, 8192].map((M) => schedule(M, 4096, 4096))).toEqual([
      ...Array(2).fill('par 64x128'),
      ...Array(5).fill('par 128x128'),
      ...Array(2).fill('block 128x128'), // SEQ from 384 rows
    ]);
    expect(schedule(128, 28672, 4096)).toBe('block 128x128'); // 224 tiles fill the GPU
    expect(planLinear(g, 100, 4096, 4096, EMU).fold?.rows).toBe(128);
    expect(shader(100, 4100, 4096)).toBe('linear_subgroup_matrix'); // N % 16 != 0: small staged tiles
    expect(shader(1, 4096, 1000)).toBe('linear_subgroup_matrix'); // K % 16 != 0: small staged tiles
    expect(shader(1, 4096, 4032 + 16)).toBe('linear_subgroup_matrix_direct'); // K % 64 != 0
    expect(planLinear(g, 1, 4096, 4096, EMU).fold?.numSeg).toBe(4);
    expect(planLinear(g, 1, 128256, 4096, EMU).fold?.numSeg).toBe(1);
    expect(shader(1, 4100, 4096)).toBe('linear_subgroup_matrix'); // N % 16 != 0: small staged tiles
    expect(() => planLinear(g, 65, 4096, 4096, { ...EMU, tile: 'stream' })).toThrow(/M <= 64/);
  });

  it('rejects mismatched shapes and dtypes with a ShapeError', async () => {
    await run(g, (rec) => {
      const x = g.tensor([2, 8], 'f16');
      const w = g.tensor([4, 8], 'f16');
      expect(() => linear(rec, x, g.tensor([4, 9], 'f16'), null, g.tensor([2, 4], 'f16'))).toThrow(ShapeError);
      expect(() => linear(rec, x, w, g.tensor([5], 'f16'), g.tensor([2, 4], 'f16'))).toThrow(ShapeError);
      expect(() => linear(rec, x, w, null, g.tensor([2, 5], 'f16'))).toThrow(ShapeError);
      expect(() => linear(rec, x, w, null, g.tensor([2, 4], 'u32'))).toThrow(ShapeError);
      expect(() => linear(rec, g.tensor([2, 8], 'f32'), w, null, g.tensor([2, 4], 'f16'))).toThrow(ShapeError);
    });
  });

  it('memoizes its plan and pipelines per sizes and options (linearKernels)', () => {
    const opts = { bias: false, outDtype: 'f16' } as const;
    const a = linearKernels(g, 2, 4096, 4096, opts)!;
    expect(linearKernels(g, 2, 4096, 4096, { ...opts })).toBe(a);
    expect(a.plan).toEqual(planLinear(g, 2, 4096, 4096, opts));
    expect(a.pipeline).toBe(g.pipeline(a.plan.shader, { defines: a.plan.defines, constants: a.plan.constants }));
    for (const v of [a.plan, a.plan.params, a.plan.defines, a.plan.workgroups]) expect(Object.isFrozen(v)).toBe(true);
    // Every key field makes its own entry, with its own plan.
    const other = [
      linearKernels(g, 4, 4096, 4096, opts)!,
      linearKernels(g, 2, 2048, 4096, opts)!,
      linearKernels(g, 2, 4096, 2048, opts)!,
      linearKernels(g, 2, 4096, 4096, { ...opts, bias: true })!,
      linearKernels(g, 2, 4096, 4096, { ...opts, outDtype: 'f32' })!,
      linearKernels(g, 2, 4096, 4096, { ...opts, mode: 'fast' })!,
      linearKernels(g, 2, 4096, 4096, { ...opts, variant: 'subgroup-matrix-emulated' })!,
      linearKernels(g, 2, 4096, 4096, { ...opts, variant: 'subgroup-matrix-emulated', tile: 'D1' })!,
    ];
    expect(new Set([a, ...other]).size).toBe(other.length + 1);
    const plans = [a, ...other].map((k) => JSON.stringify(k.plan));
    expect(new Set(plans).size).toBe(plans.length);
    // The stream schedule's fold pipeline comes with it.
    const s = linearKernels(g, 1, 4096, 4096, { ...opts, variant: 'subgroup-matrix-emulated' })!;
    expect(s.plan.fold?.numSeg).toBe(4);
    expect(s.fold).toBe(g.pipeline('linear_fold', { defines: s.plan.fold!.defines }));
    expect(a.fold === null).toBe(a.plan.fold === undefined);
    expect(linearKernels(g, 0, 4096, 4096, opts)).toBeNull();
  });

  it('checks the binding size on every call for sizes that fail it (nothing memoized)', () => {
    const limit = g.limits.maxStorageBufferBindingSize;
    const N = Math.floor(limit / (2 * 64)) + 1; // weight [N, 64] f16: one row over the limit
    for (let i = 0; i < 2; i++) {
      expect(() => linearKernels(g, 1, N, 64)).toThrow(`linear: weight [${N},64] is ${N * 128} bytes, over the device's ${limit}-byte binding limit`);
    }
    expect(linearKernels(g, 1, N - 1, 64)).not.toBeNull();
  });
});

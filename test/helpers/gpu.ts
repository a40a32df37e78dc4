// Shared test helpers: one Gpu per test worker (or a printed reason why there is none), and
// comparisons that report where and by how much a kernel differs from its reference.
import { Gpu } from '../../src/gpu/gpu.js';
import { Recorder } from '../../src/gpu/recorder.js';
import { fromF16, toF16 } from '../../src/util/f16.js';
import type { Tensor } from '../../src/gpu/tensor.js';

let shared: Promise<Gpu | undefined> | undefined;
let reason = '';

/**
 * The worker's Gpu, or undefined (with `noGpuReason()`) when no adapter exists. Under CI=true a missing
 * adapter fails the test file instead (gpuUnavailable): CI has lavapipe, so none means a broken set-up.
 */
export function testGpu(): Promise<Gpu | undefined> {
  shared ??= Gpu.create().catch((e: Error) => {
    reason = gpuUnavailable(e);
    console.warn(`[tknp tests] GPU tests skipped: ${reason}`);
    return undefined;
  });
  return shared;
}

/** Why GPU tests are skipped after `e`; throws under CI=true, where skipping every GPU test would pass a broken run. */
export function gpuUnavailable(e: Error, env: NodeJS.ProcessEnv = process.env): string {
  const why = `${e.name}: ${e.message}`;
  if (env.CI === 'true') throw new Error(`CI=true and no GPU adapter (${why}): CI runs the GPU tests on lavapipe (tools/setup.sh installs it); refusing to skip them`);
  return why;
}

export function noGpuReason(): string {
  return reason;
}

/** Runs `fn` with a fresh Recorder, submits, and waits for completion. */
export async function run(gpu: Gpu, fn: (rec: Recorder) => void): Promise<void> {
  const rec = new Recorder(gpu, 'test');
  fn(rec);
  rec.submit();
  await gpu.flush();
}

export function uploadF16(gpu: Gpu, values: Float32Array, shape: readonly number[], label = 'x'): Tensor {
  return gpu.upload(toF16(values), shape, 'f16', label);
}

/** An [M, N] output tensor filled with NaN (f16 bits 0x7e00), so an element a kernel never writes fails a comparison. */
export function poisonedOut(gpu: Gpu, M: number, N: number, dtype: 'f16' | 'f32'): Tensor {
  return dtype === 'f16' ? gpu.upload(new Uint16Array(M * N).fill(0x7e00), [M, N], 'f16', 'out') : gpu.upload(new Float32Array(M * N).fill(NaN), [M, N], 'f32', 'out');
}

/** The raw bits of an f16 or f32 tensor (f32 as its u32 words), for bitwise comparisons. */
export async function readBits(gpu: Gpu, t: Tensor): Promise<Uint16Array | Uint32Array> {
  const got = await gpu.read(t);
  return got instanceof Float32Array ? new Uint32Array(got.buffer, got.byteOffset, got.length) : (got as Uint16Array);
}

export async function readF32(gpu: Gpu, t: Tensor): Promise<Float32Array> {
  const data = await gpu.read(t);
  if (t.dtype === 'f16') return fromF16(data as Uint16Array);
  return Float32Array.from(data as ArrayLike<number>);
}

export interface Tolerance {
  atol: number;
  rtol: number;
}

/** Tolerances by storage dtype: f16 results carry ~1e-3 relative rounding per value. */
export const TOL: Readonly<Record<'f16' | 'f32', Tolerance>> = {
  f16: { atol: 2e-3, rtol: 4e-3 },
  f32: { atol: 1e-5, rtol: 1e-5 },
};

/** Throws with the worst element's index and values unless every |a-e| <= atol + rtol*|e|. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: Tolerance, what = 'result'): void {
  if (actual.length !== expected.length) throw new Error(`${what}: length ${actual.length} != expected ${expected.length}`);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const e = expected[i];
    const excess = Math.abs(a - e) - (tol.atol + tol.rtol * Math.abs(e));
    if (Number.isNaN(a) !== Number.isNaN(e) || excess > worstExcess) {
      worst = i;
      worstExcess = Number.isNaN(a) || Number.isNaN(e) ? Infinity : excess;
      if (worstExcess === Infinity) break;
    }
  }
  if (worst >= 0) {
    let bad = 0;
    for (let i = 0; i < expected.length; i++) if (!(Math.abs(actual[i] - expected[i]) <= tol.atol + tol.rtol * Math.abs(expected[i]))) bad++;
    throw new Error(
      `${what}: ${bad}/${expected.length} values out of tolerance (atol ${tol.atol}, rtol ${tol.rtol}); worst at [${worst}]: got ${actual[worst]}, expected ${expected[worst]}`,
    );
  }
}

/** f16 bits → an integer on the f16 number line (ulp steps; +0 and -0 are both 0). */
function orderedF16(bits: number): number {
  return bits & 0x8000 ? -(bits & 0x7fff) : bits;
}

/**
 * f16 results (bit patterns) against a reference rounded to f16, in units in the last place:
 * throws with the worst element unless none is more than `maxUlps` away and at least the
 * fraction `minExact` match bit for bit. A NaN on either side counts as infinitely far.
 */
export function expectUlps(got: Uint16Array, want: Float32Array, maxUlps: number, minExact: number, what = 'result'): void {
  if (got.length !== want.length) throw new Error(`${what}: length ${got.length} != expected ${want.length}`);
  const wantBits = toF16(want);
  const gotValues = fromF16(got);
  let exact = 0;
  let worst = 0;
  let worstAt = 0;
  for (let i = 0; i < got.length; i++) {
    const nan = Number.isNaN(gotValues[i]) || Number.isNaN(want[i]);
    const d = nan ? Infinity : Math.abs(orderedF16(got[i]) - orderedF16(wantBits[i]));
    if (d === 0) exact++;
    if (d > worst) [worst, worstAt] = [d, i];
  }
  if (worst > maxUlps || exact < minExact * got.length) {
    throw new Error(
      `${what}: worst ${worst} ulps at [${worstAt}] (got ${gotValues[worstAt]}, expected ${want[worstAt]}), ${exact}/${got.length} exact (allowed: ${maxUlps} ulps, ${minExact} exact)`,
    );
  }
}

// Rotary tolerance: the kernels rotate in f32 (possibly with FMA), the reference in f64 from the same
// f32 table; both round once to f16. So outputs are within 1 f16 ulp (<= 2^-10 relative, 1e-5
// absolute near zero where a*c - b*s cancels), and at least 99% must be bit-for-bit equal.
const ROT_TOL = { atol: 1e-5, rtol: 2 ** -10 };
const ROT_MIN_EXACT = 0.99;

/** Rotated values (rotary, split_qkv_rotary) against the f64 reference, within ROT_TOL and 99% exact. */
export function expectRotated(got: Float32Array, want: Float32Array, what: string): void {
  expectClose(got, want, ROT_TOL, what);
  let exact = 0;
  for (let i = 0; i < got.length; i++) if (got[i] === want[i]) exact++;
  if (exact < ROT_MIN_EXACT * got.length) throw new Error(`${what}: ${exact}/${got.length} bit-exact, fewer than ${ROT_MIN_EXACT * 100}%`);
}

// Shared test helpers: one Gpu per test worker (or a printed reason why there is none), and
// comparisons that report where and by how much a kernel differs from its reference.
import { Gpu } from '../../src/gpu/gpu.js';
import { Recorder } from '../../src/gpu/recorder.js';
import { fromF16, toF16 } from '../../src/util/f16.js';
import type { Tensor } from '../../src/gpu/tensor.js';

let shared: Promise<Gpu | undefined> | undefined;
let reason = '';

/** The worker's Gpu, or undefined (with `noGpuReason()`) when no adapter exists. */
export function testGpu(): Promise<Gpu | undefined> {
  shared ??= Gpu.create().catch((e: Error) => {
    reason = `${e.name}: ${e.message}`;
    console.warn(`[tknp tests] GPU tests skipped: ${reason}`);
    return undefined;
  });
  return shared;
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

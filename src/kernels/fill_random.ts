// Seeded random fill of an f16 tensor on the GPU: the dummy weights of loadFormat 'dummy' are
// made here, on the device, so billions of parameters never pass through JavaScript.
import type { Recorder } from '../gpu/recorder.js';
import { f32, grid } from '../gpu/recorder.js';
import { expect, numel, type Tensor } from '../gpu/tensor.js';

const WG = 256;
const F16_MAX = 65504;

/** `out` is a [*, cols] window of a [*, fullCols] tensor whose element `base` is out's element 0. */
export interface FillWindow {
  readonly base: number;
  readonly cols: number;
  readonly fullCols: number;
}

export interface FillRandomOptions {
  /** u32 key of the random stream; `fillRandomKey(seed, name)` derives one per tensor. */
  readonly key: number;
  /** Values are 2048 levels, symmetric about 0, in [-amplitude, amplitude] (to f16 rounding). */
  readonly amplitude: number;
  /** Where `out` sits in the full tensor (default: it is the whole tensor). */
  readonly window?: FillWindow;
  /** Fill only elements [start, start + count) of `out`, as elements 0..count-1 of the window. */
  readonly start?: number;
  readonly count?: number;
}

/** 32-bit finaliser (lowbias32, C. Wellons), the hash of shaders/fill_random.wgsl. */
export function mix32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/** The key of tensor `name` under `seed`: FNV-1a of the name mixed with the seed. */
export function fillRandomKey(seed: number, name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return mix32((h ^ mix32((seed ^ 0x9e3779b9) >>> 0)) >>> 0);
}

/** The f32 step between levels for an amplitude (what the kernel multiplies by). */
export function fillRandomStep(amplitude: number): number {
  return Math.fround(amplitude / 2047);
}

// out: [...shape] f16; elements [start, start + count) are written
export function fillRandom(rec: Recorder, out: Tensor, o: FillRandomOptions): void {
  expect(out.dtype === 'f16', `fillRandom: f16 tensor expected, got ${out.dtype}`);
  const total = numel(out.shape);
  const start = o.start ?? 0;
  const n = o.count ?? total - start;
  expect(Number.isInteger(start) && Number.isInteger(n) && start >= 0 && n >= 0 && start + n <= total, `fillRandom: elements [${start}, ${start + n}) outside [${out.shape}]`);
  expect(Number.isFinite(o.amplitude) && o.amplitude > 0 && o.amplitude <= F16_MAX, `fillRandom: amplitude must be in (0, ${F16_MAX}], got ${o.amplitude}`);
  expect(Number.isInteger(o.key) && o.key >= 0 && o.key <= 0xffffffff, `fillRandom: key must be a u32, got ${o.key}`);
  const w = o.window ?? { base: 0, cols: Math.max(n, 1), fullCols: Math.max(n, 1) };
  expect(Number.isInteger(w.cols) && w.cols >= 1 && Number.isInteger(w.fullCols) && w.fullCols >= w.cols && Number.isInteger(w.base) && w.base >= 0, `fillRandom: bad window ${JSON.stringify(w)}`);
  expect(n % w.cols === 0, `fillRandom: ${n} elements are not whole rows of ${w.cols}`);
  // Every index g of the full tensor must be a u32: the last one is base + (rows-1)*fullCols + cols-1.
  const last = n === 0 ? 0 : w.base + (n / w.cols - 1) * w.fullCols + w.cols - 1;
  expect(last <= 0xffffffff, `fillRandom: full-tensor index ${last} exceeds u32`);
  if (n === 0) return;
  const pipeline = rec.gpu.pipeline('fill_random', { constants: { WG } });
  rec.dispatch(pipeline, [out], [n, start, w.base, w.cols, w.fullCols, o.key, f32(fillRandomStep(o.amplitude))], grid(Math.ceil(n / WG)));
}

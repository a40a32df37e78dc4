// The input side of the epilogues that fold a tensor-core linear's partial sums as they read them
// (shaders/lib/fold_in.wgsl; linearDeferred in ./linear.ts makes them): the checks and bindings shared by
// rms_norm's fused add and silu_and_mul.
import { expectShape, fail, type Tensor } from '../gpu/tensor.js';
import { isPartialSums, type PartialSums } from './linear.js';

export type { PartialSums } from './linear.js';

export interface FoldInput {
  /** A stand-in f16 tensor of the linear's output shape [M, N] for the wrapper's shape checks (never bound). */
  readonly view: Tensor;
  /** The tensors bound before the epilogue's own: part, then the bias where there is one. */
  readonly tensors: readonly Tensor[];
  readonly bias: Tensor | null;
  readonly segs: number;
  /** f32 elements between two segments' partials (rows · N; a multiple of 8). */
  readonly stride: number;
}

// x.part: [numSeg, rows ≥ M, N] f32; x.bias: [N] f16 or null; x.shape: [M, N]
/** null for a plain tensor; for partial sums, what the FOLD variant of the epilogue binds and reads. */
export function foldInput(name: string, x: Tensor | PartialSums): FoldInput | null {
  if (!isPartialSums(x)) return null;
  const [M, N] = x.shape;
  if (x.part.shape.length !== 3) fail(`${name}: partial sums must be [numSeg, rows, N], got [${x.part.shape}]`);
  const [segs, rows] = x.part.shape;
  expectShape(`${name} partial sums`, x.part, [segs, rows, N], 'f32');
  if (N % 8 !== 0) fail(`${name}: partial sums are read 8 columns at a time: N must be a multiple of 8, got ${N}`);
  if (rows < M || segs < 1) fail(`${name}: partial sums [${x.part.shape}] do not cover the output [${M}, ${N}]`);
  if (x.bias) expectShape(`${name} bias`, x.bias, [N], 'f16');
  return {
    view: { buffer: x.part.buffer, offset: x.part.offset, dtype: 'f16', shape: [M, N] },
    tensors: x.bias ? [x.part, x.bias] : [x.part],
    bias: x.bias,
    segs,
    stride: rows * N,
  };
}

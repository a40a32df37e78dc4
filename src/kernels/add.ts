// Elementwise add of two f16 tensors of the same shape (residual connections).
import type { Recorder } from '../gpu/recorder.js';
import { grid } from '../gpu/recorder.js';
import { expect, numel, type Tensor } from '../gpu/tensor.js';

const WG = 256;

// a, b, out: [...shape] f16, same shape
export function add(rec: Recorder, a: Tensor, b: Tensor, out: Tensor): void {
  expect(a.dtype === 'f16' && b.dtype === 'f16' && out.dtype === 'f16', `add: f16 tensors expected, got ${a.dtype}, ${b.dtype}, ${out.dtype}`);
  const n = numel(a.shape);
  expect(numel(b.shape) === n && numel(out.shape) === n, `add: shapes [${a.shape}], [${b.shape}], [${out.shape}] differ in size`);
  const pipeline = rec.gpu.pipeline('add', { constants: { WG } });
  rec.dispatch(pipeline, [a, b, out], [n], grid(Math.ceil(n / WG)));
}

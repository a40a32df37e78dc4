// Per-token dynamic int8 quantization of activations (the left operand of W8A8 linears): one scale per row
// (max|x| / 127, f32) and the row's values rounded to int8, packed 4 to a u32 (shaders/quantize_rows_int8.wgsl).
import { grid, type Recorder } from '../gpu/recorder.js';
import { expectShape, fail, type Tensor } from '../gpu/tensor.js';

// x: [M, K] f16 → q: [M, K / 4] u32 (int8 × 4, little end first), scale: [M] f32
export function quantizeRowsInt8(rec: Recorder, x: Tensor, q: Tensor, scale: Tensor): void {
  if (x.shape.length !== 2) fail(`quantizeRowsInt8: x must be [M, K], got [${x.shape}]`);
  const [M, K] = x.shape;
  expectShape('quantizeRowsInt8 x', x, [M, K], 'f16');
  if (K % 4 !== 0) fail(`quantizeRowsInt8: K ${K} is not a multiple of 4 (int8 values packed 4 to a word)`);
  expectShape('quantizeRowsInt8 q', q, [M, K / 4], 'u32');
  expectShape('quantizeRowsInt8 scale', scale, [M], 'f32');
  if (M === 0 || K === 0) return;
  rec.dispatch(rec.gpu.pipeline('quantize_rows_int8'), [x, q, scale], [M, K], grid(M));
}

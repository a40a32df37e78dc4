// Splits the output of the fused q/k/v linear into contiguous q, k and v (one dispatch in place of
// two more linears per layer; see model/llama.ts).
import type { Recorder } from '../gpu/recorder.js';
import { grid } from '../gpu/recorder.js';
import { expect, expectShape, overlaps, type Tensor } from '../gpu/tensor.js';

const WG = 256;

// qkv: [T, qDim + 2·kvDim] f16 -> q: [T, qDim], k: [T, kvDim], v: [T, kvDim] f16 (qDim, kvDim even)
export function splitQkv(rec: Recorder, qkv: Tensor, q: Tensor, k: Tensor, v: Tensor): void {
  expectShape('splitQkv q', q, [-1, -1], 'f16');
  const [T, qDim] = q.shape;
  expectShape('splitQkv k', k, [T, -1], 'f16');
  const kvDim = k.shape[1];
  expectShape('splitQkv v', v, [T, kvDim], 'f16');
  expectShape('splitQkv qkv', qkv, [T, qDim + 2 * kvDim], 'f16');
  expect(qDim % 2 === 0 && kvDim % 2 === 0, `splitQkv: q and k/v widths must be even, got ${qDim} and ${kvDim}`);
  for (const [a, b, what] of [[q, k, 'q and k'], [q, v, 'q and v'], [k, v, 'k and v'], [qkv, q, 'qkv and q'], [qkv, k, 'qkv and k'], [qkv, v, 'qkv and v']] as const) {
    expect(!overlaps(a, b), `splitQkv: ${what} overlap`);
  }
  const rowWords = (qDim + 2 * kvDim) / 2;
  if (T === 0 || rowWords === 0) return;
  const pipeline = rec.gpu.pipeline('split_qkv', { constants: { WG } });
  rec.dispatch(pipeline, [qkv, q, k, v], [T, qDim / 2, kvDim / 2], grid(Math.ceil((T * rowWords) / WG)));
}

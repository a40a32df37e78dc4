// Splits the output of the fused q/k/v linear into contiguous q, k and v (one dispatch in place of
// two more linears per layer; see model/llama.ts).
import type { Recorder } from '../gpu/recorder.js';
import { grid } from '../gpu/recorder.js';
import { expectShape, fail, overlaps, type Tensor } from '../gpu/tensor.js';

const WG = 256;

// qkv: [T, qDim + 2·kvDim] f16 -> q: [T, qDim], k: [T, kvDim], v: [T, kvDim] f16 (qDim, kvDim even)
export function splitQkv(rec: Recorder, qkv: Tensor, q: Tensor, k: Tensor, v: Tensor): void {
  // Every layer calls this once per step: nothing formatted or allocated unless a check fails.
  expectShape('splitQkv q', q, [-1, -1], 'f16');
  const [T, qDim] = q.shape;
  expectShape('splitQkv k', k, [T, -1], 'f16');
  const kvDim = k.shape[1];
  expectShape('splitQkv v', v, [T, kvDim], 'f16');
  expectShape('splitQkv qkv', qkv, [T, qDim + 2 * kvDim], 'f16');
  if (qDim % 2 !== 0 || kvDim % 2 !== 0) fail(`splitQkv: q and k/v widths must be even, got ${qDim} and ${kvDim}`);
  if (overlaps(q, k)) fail('splitQkv: q and k overlap');
  if (overlaps(q, v)) fail('splitQkv: q and v overlap');
  if (overlaps(k, v)) fail('splitQkv: k and v overlap');
  if (overlaps(qkv, q)) fail('splitQkv: qkv and q overlap');
  if (overlaps(qkv, k)) fail('splitQkv: qkv and k overlap');
  if (overlaps(qkv, v)) fail('splitQkv: qkv and v overlap');
  const rowWords = (qDim + 2 * kvDim) / 2;
  if (T === 0 || rowWords === 0) return;
  const pipeline = rec.gpu.pipeline('split_qkv', { constants: { WG } });
  rec.dispatch(pipeline, [qkv, q, k, v], [T, qDim / 2, kvDim / 2], grid(Math.ceil((T * rowWords) / WG)));
}

// Log-probabilities on the GPU: per row, log_softmax of the logits at the sampled token and the
// K most likely tokens (K <= 20, vLLM's default max_logprobs). One workgroup per row; only
// [numSeqs, 1 + K] values and [numSeqs, K] ids come back. Semantics: shaders/logprobs.wgsl and
// src/kernels/ref/logprobs.ts.
import type { Recorder } from '../gpu/recorder.js';
import { grid } from '../gpu/recorder.js';
import { expect, expectShape, type Tensor } from '../gpu/tensor.js';

/** Most top logprobs a row can ask for. */
export const MAX_TOP_LOGPROBS = 20;
/** Id written where a row has fewer than K non-NaN logits. */
export const NO_TOKEN = 0xffffffff;

const WG = 256;

// logits: [numSeqs, V] f32; sampled: [numSeqs] u32; outLp: [numSeqs, 1 + K] f32; outIds: [numSeqs, max(K, 1)] u32
export function logprobs(rec: Recorder, logits: Tensor, sampled: Tensor, outLp: Tensor, outIds: Tensor, K: number): void {
  expect(logits.shape.length === 2, `logprobs: logits must be [numSeqs, V], got [${logits.shape}]`);
  expectShape('logprobs logits', logits, [-1, -1], 'f32');
  const [numSeqs, V] = logits.shape;
  expect(Number.isInteger(K) && K >= 0 && K <= MAX_TOP_LOGPROBS, `logprobs: K ${K} must be an integer in [0, ${MAX_TOP_LOGPROBS}]`);
  expect(V >= 1, 'logprobs: V must be >= 1');
  expectShape('logprobs sampled', sampled, [numSeqs], 'u32');
  expectShape('logprobs outLp', outLp, [numSeqs, 1 + K], 'f32');
  expectShape('logprobs outIds', outIds, [numSeqs, Math.max(K, 1)], 'u32');
  if (numSeqs === 0) return;
  const pipeline = rec.gpu.pipeline('logprobs', { constants: { WG } });
  rec.dispatch(pipeline, [logits, sampled, outLp, outIds], [V, numSeqs, K], grid(numSeqs));
}

// Final logit soft-capping (Gemma 2): logits become tanh(logits / cap) · cap, in place, before any
// sampling, penalty or logprob sees them (transformers applies it to the lm_head output).
import type { Recorder } from '../gpu/recorder.js';
import { f32, grid } from '../gpu/recorder.js';
import { expect, numel, type Tensor } from '../gpu/tensor.js';

const WG = 256;

// logits: [...shape] f32, capped in place (-inf entries stay -inf).
export function logitSoftcap(rec: Recorder, logits: Tensor, cap: number): void {
  expect(logits.dtype === 'f32', `logitSoftcap: f32 logits expected, got ${logits.dtype}`);
  expect(cap > 0 && Number.isFinite(cap), `logitSoftcap: cap must be a finite number > 0, got ${cap}`);
  const n = numel(logits.shape);
  if (n === 0) return;
  const pipeline = rec.gpu.pipeline('logit_softcap', { constants: { WG } });
  rec.dispatch(pipeline, [logits], [n, f32(cap)], grid(Math.ceil(n / WG)));
}

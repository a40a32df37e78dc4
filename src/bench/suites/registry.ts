// Every kernel benchmark suite `tknp bench kernels` knows, in report order.
import type { BenchSuite, Sweep } from '../types.js';
import { addSuite } from './add.js';
import { decodeAttentionSuite } from './decode_attention.js';
import { embeddingSuite } from './embedding.js';
import { fillRandomSuite } from './fill_random.js';
import { linearSuite } from './linear.js';
import { logitSoftcapSuite } from './logit_softcap.js';
import { logprobsSuite } from './logprobs.js';
import { penaltiesSuite } from './penalties.js';
import { prefillAttentionSuite } from './prefill_attention.js';
import { quantLinearSuite } from './quant_linear.js';
import { rmsNormSuite } from './rms_norm.js';
import { rotarySuite } from './rotary.js';
import { samplingSuite } from './sampling.js';
import { siluAndMulSuite } from './silu_and_mul.js';
import { splitQkvSuite } from './split_qkv.js';
import { splitQkvNormRotarySuite } from './split_qkv_norm_rotary.js';
import { splitQkvRotarySuite } from './split_qkv_rotary.js';

export const suites: readonly BenchSuite[] = [
  decodeAttentionSuite,
  linearSuite,
  quantLinearSuite,
  prefillAttentionSuite,
  embeddingSuite,
  rmsNormSuite,
  rotarySuite,
  splitQkvSuite,
  splitQkvRotarySuite,
  splitQkvNormRotarySuite,
  siluAndMulSuite,
  samplingSuite,
  logitSoftcapSuite,
  logprobsSuite,
  penaltiesSuite,
  addSuite,
  fillRandomSuite,
];

/** The suites a sweep runs: 'linear-m' is the linear suite's M sweep alone. */
export function suitesFor(sweep: Sweep): readonly BenchSuite[] {
  return sweep === 'linear-m' ? [linearSuite] : suites;
}

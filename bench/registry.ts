// Every kernel benchmark suite `tknp bench kernels` knows, in report order.
import type { BenchSuite } from '../src/bench/types.js';
import { addSuite } from './kernels/add.js';
import { decodeAttentionSuite } from './kernels/decode_attention.js';
import { embeddingSuite } from './kernels/embedding.js';
import { fillRandomSuite } from './kernels/fill_random.js';
import { linearSuite } from './kernels/linear.js';
import { prefillAttentionSuite } from './kernels/prefill_attention.js';
import { rmsNormSuite } from './kernels/rms_norm.js';
import { rotarySuite } from './kernels/rotary.js';
import { samplingSuite } from './kernels/sampling.js';
import { siluAndMulSuite } from './kernels/silu_and_mul.js';
import { splitQkvSuite } from './kernels/split_qkv.js';

export const suites: readonly BenchSuite[] = [
  decodeAttentionSuite,
  linearSuite,
  prefillAttentionSuite,
  embeddingSuite,
  rmsNormSuite,
  rotarySuite,
  splitQkvSuite,
  siluAndMulSuite,
  samplingSuite,
  addSuite,
  fillRandomSuite,
];

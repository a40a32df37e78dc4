// Prefill attention over the paged KV cache (chunked prefill, flash-attention style): each
// prefill sequence's query rows attend causally to all of the sequence's keys in the cache,
// old and new (reshape_and_cache has already written this step's k/v). The score matrix is
// never materialised: keys are walked in tiles at absolute positions with an online softmax,
// so a row's result is bitwise the same however its prompt was chunked and whatever else is
// in the batch (on a given device: the variant depends only on the device and headDim).
import type { Gpu } from '../gpu/gpu.js';
import type { Recorder } from '../gpu/recorder.js';
import { f32, grid } from '../gpu/recorder.js';
import { expect, expectShape, fail, type Tensor } from '../gpu/tensor.js';
import { ATTENTION_HEAD_DIMS, MAX_GQA_RATIO } from './attention_shapes.js';

export const PREFILL_BLOCK_SIZE = 16;
/**
 * 'subgroup-matrix-emulated' runs the subgroup-matrix kernel's tiling and index logic with the
 * matrix operations emulated in plain WGSL (slow; for tests on devices without the feature).
 */
export type PrefillAttentionVariant = 'plain' | 'subgroup-matrix' | 'subgroup-matrix-emulated';

/** Packed (token, head) query rows per workgroup, by variant (the shaders' BM). */
const TILE_ROWS: Readonly<Record<PrefillAttentionVariant, number>> = { plain: 64, 'subgroup-matrix': 64, 'subgroup-matrix-emulated': 32 };

/** Head dims the subgroup-matrix kernel takes (its Q and O matrices in registers); 256 runs the plain kernel. */
const SUBGROUP_MATRIX_HEAD_DIMS: readonly number[] = [64, 80, 96, 128];

export interface PrefillAttentionOptions {
  /** Softmax scale, usually 1 / sqrt(headDim). */
  readonly scale: number;
  /** Longest query chunk of the batch (known on the CPU; sizes the dispatch). */
  readonly maxQueryLen: number;
  /** Prefill sequences to process (default: queryStartLoc.shape[0] - 1). */
  readonly numSeqs?: number;
  /** Force a variant (tests, benchmarks); the default picks by device. */
  readonly variant?: PrefillAttentionVariant;
  /** Sliding window: a row at position i sees keys j with i - slidingWindow < j <= i; absent: all up to i. */
  readonly slidingWindow?: number;
  /** Attention logit soft-capping (Gemma 2): scaled scores s become tanh(s / softcap) · softcap. */
  readonly softcap?: number;
  /** More WGSL defines for the kernel (probes of kernel variants only). */
  readonly extraDefines?: readonly string[];
}

/**
 * Refuses (ShapeError) a GQA ratio or head dim this device's prefill kernel cannot run: the tile's
 * rows, and the plain kernel's workgroup memory (Q slice, K/V tile, scores) against the device's limit.
 */
export function checkPrefillAttention(gpu: Gpu, groupSize: number, headDim: number): void {
  const variant = prefillAttentionVariant(gpu, headDim);
  expect(ATTENTION_HEAD_DIMS.includes(headDim), `prefillAttention: headDim ${headDim} not supported (${ATTENTION_HEAD_DIMS.join(', ')})`);
  expect(groupSize <= Math.min(MAX_GQA_RATIO, TILE_ROWS[variant]), `prefillAttention: GQA ratio ${groupSize} exceeds the ${TILE_ROWS[variant]} rows of a ${variant} tile`);
  const dq = headDim > 128 ? 64 : headDim;
  const plainBytes = dq * 128 + 64 * headDim + 8192; // sQ [DQ][16] vec4<f16>, sKV [32][D/4] vec4<f16>, sS [32][16] vec4<f32>
  const limit = gpu.limits.maxComputeWorkgroupStorageSize;
  expect(variant !== 'plain' || plainBytes <= limit, `prefillAttention: headDim ${headDim} needs ${plainBytes} bytes of workgroup memory, the device has ${limit}`);
}

/**
 * The variant `prefillAttention` uses on this device. It depends on the device and headDim
 * only, never on the batch, which keeps results batch-invariant on one device.
 */
export function prefillAttentionVariant(gpu: Gpu, headDim: number): PrefillAttentionVariant {
  const sg32 = gpu.caps.subgroups && gpu.caps.subgroupMinSize === 32 && gpu.caps.subgroupMaxSize === 32;
  return sg32 && gpu.hasSubgroupMatrix(16, 16, 16) && SUBGROUP_MATRIX_HEAD_DIMS.includes(headDim) ? 'subgroup-matrix' : 'plain';
}

// q:             [numTokens, numHeads, headDim] f16 (only rows of prefill sequences are read)
// kCache/vCache: [numBlocks, numKvHeads, 16, headDim] f16
// queryStartLoc: [numSeqs + 1] u32, seq i's rows are q[queryStartLoc[i] .. queryStartLoc[i+1])
// seqLens:       [numSeqs] u32, tokens in the cache for seq i including this chunk
// blockTables:   [numSeqs, maxBlocksPerSeq] u32
// out:           [numTokens, numHeads, headDim] f16 (rows outside the sequences untouched)
export function prefillAttention(
  rec: Recorder,
  q: Tensor,
  kCache: Tensor,
  vCache: Tensor,
  queryStartLoc: Tensor,
  seqLens: Tensor,
  blockTables: Tensor,
  out: Tensor,
  opts: PrefillAttentionOptions,
): void {
  // Every layer of a step with prefill chunks calls this: messages are formatted only when a check fails.
  expectShape('prefillAttention q', q, [-1, -1, -1], 'f16');
  const [numTokens, numHeads, headDim] = q.shape;
  if (!(ATTENTION_HEAD_DIMS.includes(headDim))) fail(`prefillAttention: headDim ${headDim} not supported (${ATTENTION_HEAD_DIMS.join(', ')})`);
  expectShape('prefillAttention kCache', kCache, [-1, -1, PREFILL_BLOCK_SIZE, headDim], 'f16');
  const numKvHeads = kCache.shape[1];
  expectShape('prefillAttention vCache', vCache, kCache.shape, 'f16');
  expectShape('prefillAttention out', out, [numTokens, numHeads, headDim], 'f16');
  if (!(numKvHeads > 0 && numHeads % numKvHeads === 0)) fail(`prefillAttention: numHeads ${numHeads} not a multiple of numKvHeads ${numKvHeads}`);
  const groupSize = numHeads / numKvHeads;
  expectShape('prefillAttention queryStartLoc', queryStartLoc, [-1], 'u32');
  const numSeqs = opts.numSeqs ?? queryStartLoc.shape[0] - 1;
  if (!(Number.isInteger(numSeqs) && numSeqs >= 0 && numSeqs + 1 <= queryStartLoc.shape[0])) fail(`prefillAttention: numSeqs ${numSeqs} does not fit queryStartLoc [${queryStartLoc.shape}]`);
  expectShape('prefillAttention seqLens', seqLens, [-1], 'u32');
  if (!(seqLens.shape[0] >= numSeqs)) fail(`prefillAttention: seqLens [${seqLens.shape}] shorter than numSeqs ${numSeqs}`);
  expectShape('prefillAttention blockTables', blockTables, [-1, -1], 'u32');
  if (!(blockTables.shape[0] >= numSeqs)) fail(`prefillAttention: blockTables [${blockTables.shape}] has fewer rows than numSeqs ${numSeqs}`);
  const maxBlocksPerSeq = blockTables.shape[1];
  const { maxQueryLen, scale } = opts;
  if (!(Number.isInteger(maxQueryLen) && maxQueryLen >= 0 && maxQueryLen <= numTokens)) fail(`prefillAttention: maxQueryLen ${maxQueryLen} outside [0, ${numTokens}]`);
  if (!(Number.isFinite(scale))) fail(`prefillAttention: scale ${scale} is not finite`);
  const { slidingWindow: window, softcap } = opts;
  if (!(window === undefined || (Number.isInteger(window) && window >= 1))) fail(`prefillAttention: slidingWindow must be an integer >= 1, got ${window}`);
  if (!(softcap === undefined || (softcap > 0 && Number.isFinite(softcap)))) fail(`prefillAttention: softcap must be a finite number > 0, got ${softcap}`);
  if (numSeqs === 0 || maxQueryLen === 0) return;

  const gpu = rec.gpu;
  const variant = opts.variant ?? prefillAttentionVariant(gpu, headDim);
  if (!(variant !== 'subgroup-matrix' || prefillAttentionVariant(gpu, headDim) === 'subgroup-matrix')) fail(`prefillAttention: variant '${variant}' is not available on this device`);
  if (!(variant === 'plain' || SUBGROUP_MATRIX_HEAD_DIMS.includes(headDim))) fail(`prefillAttention: variant '${variant}' takes headDim ${SUBGROUP_MATRIX_HEAD_DIMS.join(', ')}, got ${headDim}`);
  if (!(groupSize <= Math.min(MAX_GQA_RATIO, TILE_ROWS[variant]))) fail(`prefillAttention: GQA ratio ${groupSize} exceeds the ${TILE_ROWS[variant]} rows of a ${variant} tile`);
  const defines = headDim === 64 ? [] : [`HEAD_DIM_${headDim}`];
  // The subgroup-matrix kernel's Q/O matrices past the first 4 (16 columns each): q4 from 80, q5 from 96, q6-q7 at 128.
  if (variant !== 'plain') defines.push(...(headDim >= 80 ? ['Q5'] : []), ...(headDim >= 96 ? ['Q6'] : []));
  if (variant === 'subgroup-matrix-emulated') defines.push('EMULATE');
  if (window !== undefined) defines.push('SLIDING');
  if (softcap !== undefined) defines.push('SOFTCAP');
  if (window !== undefined || softcap !== undefined) defines.push('SCORES');
  defines.push(...(opts.extraDefines ?? []));
  const pipeline = gpu.pipeline(variant === 'plain' ? 'prefill_attention' : 'prefill_attention_sgmat', { defines });
  const tileTokens = Math.floor(TILE_ROWS[variant] / groupSize);
  const numQTiles = Math.ceil(maxQueryLen / tileTokens);
  const params = [numHeads, numKvHeads, maxBlocksPerSeq, numQTiles, numSeqs, groupSize, tileTokens, f32(scale * Math.LOG2E)];
  if (window !== undefined) params.push(window);
  if (softcap !== undefined) params.push(f32(softcap * Math.LOG2E));
  const tensors = [q, kCache, vCache, queryStartLoc, seqLens, blockTables, out];
  rec.dispatch(pipeline, tensors, params, grid(numSeqs * numKvHeads * numQTiles));
}

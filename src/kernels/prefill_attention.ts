// Prefill attention over the paged KV cache (chunked prefill, flash-attention style): each
// prefill sequence's query rows attend causally to all of the sequence's keys in the cache,
// old and new (reshape_and_cache has already written this step's k/v). The score matrix is
// never materialised: keys are walked in tiles at absolute positions with an online softmax,
// so a row's result is bitwise the same however its prompt was chunked and whatever else is
// in the batch (on a given device: the variant depends only on the device and headDim).
import type { Gpu } from '../gpu/gpu.js';
import type { Recorder } from '../gpu/recorder.js';
import { f32, grid } from '../gpu/recorder.js';
import { expectShape, fail, type Tensor } from '../gpu/tensor.js';

export const PREFILL_BLOCK_SIZE = 16;
/**
 * 'subgroup-matrix-emulated' runs the subgroup-matrix kernel's tiling and index logic with the
 * matrix operations emulated in plain WGSL (slow; for tests on devices without the feature).
 */
export type PrefillAttentionVariant = 'plain' | 'subgroup-matrix' | 'subgroup-matrix-emulated';

/** Packed (token, head) query rows per workgroup, by variant (the shaders' BM). */
const TILE_ROWS: Readonly<Record<PrefillAttentionVariant, number>> = { plain: 64, 'subgroup-matrix': 64, 'subgroup-matrix-emulated': 32 };

export interface PrefillAttentionOptions {
  /** Softmax scale, usually 1 / sqrt(headDim). */
  readonly scale: number;
  /** Longest query chunk of the batch (known on the CPU; sizes the dispatch). */
  readonly maxQueryLen: number;
  /** Prefill sequences to process (default: queryStartLoc.shape[0] - 1). */
  readonly numSeqs?: number;
  /** Force a variant (tests, benchmarks); the default picks by device. */
  readonly variant?: PrefillAttentionVariant;
  /** More WGSL defines for the kernel (probes of kernel variants only). */
  readonly extraDefines?: readonly string[];
}

/**
 * The variant `prefillAttention` uses on this device. It depends on the device and headDim
 * only, never on the batch, which keeps results batch-invariant on one device.
 */
export function prefillAttentionVariant(gpu: Gpu, headDim: number): PrefillAttentionVariant {
  const sg32 = gpu.caps.subgroups && gpu.caps.subgroupMinSize === 32 && gpu.caps.subgroupMaxSize === 32;
  return sg32 && gpu.hasSubgroupMatrix(16, 16, 16) && (headDim === 64 || headDim === 128) ? 'subgroup-matrix' : 'plain';
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
  if (!(headDim === 64 || headDim === 128)) fail(`prefillAttention: headDim ${headDim} not supported (64 or 128)`);
  expectShape('prefillAttention kCache', kCache, [-1, -1, PREFILL_BLOCK_SIZE, headDim], 'f16');
  const numKvHeads = kCache.shape[1];
  expectShape('prefillAttention vCache', vCache, kCache.shape, 'f16');
  expectShape('prefillAttention out', out, [numTokens, numHeads, headDim], 'f16');
  if (!(numKvHeads > 0 && numHeads % numKvHeads === 0)) fail(`prefillAttention: numHeads ${numHeads} not a multiple of numKvHeads ${numKvHeads}`);
  const groupSize = numHeads / numKvHeads;
  if (32 % groupSize !== 0) fail(`prefillAttention: GQA ratio ${groupSize} must divide 32`);
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
  if (!Number.isFinite(scale)) fail(`prefillAttention: scale ${scale} is not finite`);
  if (numSeqs === 0 || maxQueryLen === 0) return;

  const gpu = rec.gpu;
  const variant = opts.variant ?? prefillAttentionVariant(gpu, headDim);
  if (variant === 'subgroup-matrix' && prefillAttentionVariant(gpu, headDim) !== 'subgroup-matrix') fail(`prefillAttention: variant '${variant}' is not available on this device`);
  const defines = headDim === 128 ? ['HEAD_DIM_128'] : [];
  if (variant === 'subgroup-matrix-emulated') defines.push('EMULATE');
  defines.push(...(opts.extraDefines ?? []));
  const pipeline = gpu.pipeline(variant === 'plain' ? 'prefill_attention' : 'prefill_attention_sgmat', { defines });
  const tileTokens = TILE_ROWS[variant] / groupSize;
  const numQTiles = Math.ceil(maxQueryLen / tileTokens);
  const params = [numHeads, numKvHeads, maxBlocksPerSeq, numQTiles, numSeqs, groupSize, tileTokens, f32(scale * Math.LOG2E)];
  const tensors = [q, kCache, vCache, queryStartLoc, seqLens, blockTables, out];
  rec.dispatch(pipeline, tensors, params, grid(numSeqs * numKvHeads * numQTiles));
}

// Paged decode attention (one query token per sequence) with split-K over fixed-size
// partitions of the context, flash-decoding style:
//   pass 1 (decode_attention):       per (seq, kv head, partition) → max, Σexp, unnormalised out
//   pass 2 (decode_attention_merge): per (seq, head) log-sum-exp merge → out f16
// The partition size is fixed (default 512 tokens), never derived from the batch or from
// maxSeqLen, so a sequence's output is bitwise identical whatever else is in the batch.
import type { Gpu } from '../gpu/gpu.js';
import type { Recorder } from '../gpu/recorder.js';
import { f32 } from '../gpu/recorder.js';
import { expect, expectShape, fail, type Tensor } from '../gpu/tensor.js';
import { BLOCK_SIZE } from './reshape_and_cache.js';

/**
 * Tokens per partition. 512 rather than 256: each workgroup's fixed costs (block-table and q loads, the
 * cross-subgroup merge of 4 heads' states) then spread over twice the KV, and pass 2 merges half the
 * partials; on the H100 B64 × ctx 4096 went from 481 to 440 µs and B256 × ctx 8192 from 3570 to 3230 µs
 * (bench/RESULTS.md, session 5).
 */
export const DEFAULT_PARTITION_SIZE = 512;

export interface DecodeAttentionOptions {
  /** Softmax scale, usually 1 / sqrt(headDim). */
  readonly scale: number;
  /** The largest seqLens entry (known on the CPU): sizes the grid and the split-K scratch. */
  readonly maxSeqLen: number;
  /** Tokens per split-K partition: a multiple of 16. Keep it fixed for an engine's lifetime. */
  readonly partitionSize?: number;
  /**
   * Forces GW, the q heads of a GQA group that share one workgroup's K/V reads (a divisor of the
   * group, ≤ 8; tuning). Each head's arithmetic is the same whatever GW is: the bits do not change.
   */
  readonly headsPerWorkgroup?: number;
  /**
   * How a workgroup's subgroups combine their outputs at the end (tuning and tests; same bits):
   * 'all-heads' (every head through workgroup memory at once, the default where it fits in 16 KiB)
   * or 'per-head' (one head at a time, two barriers each).
   */
  readonly epilogue?: 'all-heads' | 'per-head';
  /** Sliding window: the query sees only the last `slidingWindow` keys (transformers' sliding_window); absent: all. */
  readonly slidingWindow?: number;
  /** Attention logit soft-capping (Gemma 2): scaled scores s become tanh(s / softcap) · softcap. */
  readonly softcap?: number;
}

/** Launch parameters of pass 1, chosen from the shapes and the device only (not the batch). */
export interface DecodeAttentionPlan {
  readonly headsPerGroup: number; // G = numHeads / numKvHeads
  readonly headsPerWorkgroup: number; // GW: q heads sharing one workgroup's K/V reads
  readonly lanesPerToken: number; // TPK
  readonly chunksPerLane: number; // 16-byte chunks of the head dim per lane: 1, 2 or 4
  /** The lanes' chunks (TPK · chunksPerLane) exceed the row's headDim / 8: those past it are masked. */
  readonly maskedChunks: boolean;
  readonly workgroupSize: number;
  readonly partitionSize: number;
}

const MAX_HEADS_PER_WORKGROUP = 8;
const MAX_CHUNKS_PER_LANE = 4;
const WG = 128;
const MERGE_THREADS = 128;
const ALL_HEADS_SMEM = 16384; // the all-heads epilogue where its workgroup memory stays this small (occupancy)

export function planDecodeAttention(
  numHeads: number,
  numKvHeads: number,
  headDim: number,
  subgroupMinSize: number,
  partitionSize = DEFAULT_PARTITION_SIZE,
  headsPerWorkgroup?: number,
): DecodeAttentionPlan {
  const G = numHeads / numKvHeads;
  let GW = Math.min(G, MAX_HEADS_PER_WORKGROUP);
  while (G % GW !== 0) GW--;
  if (headsPerWorkgroup !== undefined) {
    expect(Number.isInteger(headsPerWorkgroup) && headsPerWorkgroup >= 1 && headsPerWorkgroup <= MAX_HEADS_PER_WORKGROUP && G % headsPerWorkgroup === 0, `decodeAttention: headsPerWorkgroup must divide the group of ${G} q heads and be at most ${MAX_HEADS_PER_WORKGROUP}, got ${headsPerWorkgroup}`);
    GW = headsPerWorkgroup;
  }
  const chunks = headDim / 8;
  const maxTpk = 2 ** Math.floor(Math.log2(Math.min(16, subgroupMinSize)));
  // The widest token group whose lanes split the row evenly, where that leaves each lane 1 or 2 chunks
  // (head dims 64 and 128, and 256 on 32-wide subgroups)...
  let tpk = 1;
  while (tpk * 2 <= maxTpk && chunks % (tpk * 2) === 0) tpk *= 2;
  let perLane = chunks / tpk;
  if (perLane > 2) {
    // ... else the widest group, each lane 1, 2 or 4 chunks, those past the row masked (80, 96; 256 on 8-wide subgroups).
    tpk = maxTpk;
    perLane = [1, 2, 4].find((n) => n * tpk >= chunks) ?? Math.ceil(chunks / tpk);
  }
  expect(perLane <= MAX_CHUNKS_PER_LANE, `decodeAttention: headDim ${headDim} needs ${perLane} 16-byte chunks per lane on subgroups of ${subgroupMinSize} (max ${MAX_CHUNKS_PER_LANE})`);
  return { headsPerGroup: G, headsPerWorkgroup: GW, lanesPerToken: tpk, chunksPerLane: perLane, maskedChunks: perLane * tpk !== chunks, workgroupSize: WG, partitionSize };
}

// q:           [numSeqs, numHeads, headDim] f16 (one token per sequence, rotary already applied)
// kCache, vCache: [numBlocks, numKvHeads, 16, headDim] f16
// blockTables: [numSeqs, maxBlocksPerSeq] u32
// seqLens:     [numSeqs] u32 (the query attends to positions [0, seqLens[s]))
// out:         [numSeqs, numHeads, headDim] f16
export function decodeAttention(
  rec: Recorder,
  q: Tensor,
  kCache: Tensor,
  vCache: Tensor,
  blockTables: Tensor,
  seqLens: Tensor,
  out: Tensor,
  opts: DecodeAttentionOptions,
): void {
  // Every layer calls this once per decode step: messages are formatted only when a check fails.
  if (q.shape.length !== 3) fail(`decodeAttention: q must be [numSeqs, numHeads, headDim], got [${q.shape}]`);
  if (kCache.shape.length !== 4) fail(`decodeAttention: kCache must be [numBlocks, numKvHeads, 16, headDim], got [${kCache.shape}]`);
  if (blockTables.shape.length !== 2) fail(`decodeAttention: blockTables must be [numSeqs, maxBlocksPerSeq], got [${blockTables.shape}]`);
  const [numSeqs, numHeads, headDim] = q.shape;
  const [numBlocks, numKvHeads] = kCache.shape;
  const maxBlocksPerSeq = blockTables.shape[1];
  expectShape('decodeAttention q', q, [numSeqs, numHeads, headDim], 'f16');
  expectShape('decodeAttention kCache', kCache, [numBlocks, numKvHeads, BLOCK_SIZE, headDim], 'f16');
  expectShape('decodeAttention vCache', vCache, [numBlocks, numKvHeads, BLOCK_SIZE, headDim], 'f16');
  expectShape('decodeAttention blockTables', blockTables, [numSeqs, maxBlocksPerSeq], 'u32');
  expectShape('decodeAttention seqLens', seqLens, [numSeqs], 'u32');
  expectShape('decodeAttention out', out, [numSeqs, numHeads, headDim], 'f16');
  if (!(numKvHeads > 0 && numHeads % numKvHeads === 0)) fail(`decodeAttention: numHeads ${numHeads} is not a multiple of numKvHeads ${numKvHeads}`);
  if (!(headDim > 0 && headDim % 8 === 0)) fail(`decodeAttention: headDim must be a multiple of 8, got ${headDim}`);
  if (!(numSeqs <= 65535)) fail(`decodeAttention: at most 65535 sequences per call, got ${numSeqs}`);
  const { maxSeqLen, scale } = opts;
  const P = opts.partitionSize ?? DEFAULT_PARTITION_SIZE;
  if (!(Number.isInteger(P) && P >= BLOCK_SIZE && P % BLOCK_SIZE === 0)) fail(`decodeAttention: partitionSize must be a positive multiple of ${BLOCK_SIZE}, got ${P}`);
  if (!(Number.isInteger(maxSeqLen) && maxSeqLen >= 0)) fail(`decodeAttention: maxSeqLen must be a non-negative integer, got ${maxSeqLen}`);
  if (!(maxSeqLen <= maxBlocksPerSeq * BLOCK_SIZE)) fail(`decodeAttention: maxSeqLen ${maxSeqLen} exceeds the block table (${maxBlocksPerSeq} blocks of ${BLOCK_SIZE})`);
  if (!Number.isFinite(scale)) fail(`decodeAttention: scale must be finite, got ${scale}`);
  const { slidingWindow: window, softcap } = opts;
  if (window !== undefined && !(Number.isInteger(window) && window >= 1)) fail(`decodeAttention: slidingWindow must be an integer >= 1, got ${window}`);
  if (softcap !== undefined && !(softcap > 0 && Number.isFinite(softcap))) fail(`decodeAttention: softcap must be a finite number > 0, got ${softcap}`);
  if (numSeqs === 0) return;

  const k = decodeAttentionKernels(rec.gpu, numHeads, numKvHeads, headDim, P, opts.headsPerWorkgroup, opts.epilogue, window !== undefined, softcap !== undefined);
  const maxPartitions = decodeAttentionPartitions(maxSeqLen, P);
  if (!(maxPartitions <= 65535)) fail(`decodeAttention: maxSeqLen ${maxSeqLen} needs ${maxPartitions} partitions (max 65535)`);
  const partOut = rec.scratch([numSeqs, numHeads, Math.max(maxPartitions, 1), headDim], 'f32', 'decode_attention.partOut');
  const partStats = rec.scratch([numSeqs, numHeads, Math.max(maxPartitions, 1), 2], 'f32', 'decode_attention.partStats');

  if (maxPartitions > 0) {
    rec.dispatch(
      k.pass1(),
      [q, kCache, vCache, blockTables, seqLens, partOut, partStats],
      [numHeads, numKvHeads, k.headGroups, maxBlocksPerSeq, maxPartitions, f32(scale), ...(window !== undefined ? [window] : []), ...(softcap !== undefined ? [f32(softcap)] : [])],
      [maxPartitions, numKvHeads * k.headGroups, numSeqs],
    );
  }
  rec.dispatch(k.merge, [partOut, partStats, seqLens, out], [numHeads, maxPartitions, ...(window !== undefined ? [window] : [])], [numHeads, numSeqs]);
}

/**
 * Split-K partitions of the longest sequence: what `decodeAttention`'s dispatches (grid, scratch
 * sizes, parameters) depend on of maxSeqLen; a recorded step may be replayed while it is unchanged.
 */
export function decodeAttentionPartitions(maxSeqLen: number, partitionSize = DEFAULT_PARTITION_SIZE): number {
  return Math.ceil(maxSeqLen / partitionSize);
}

/** What `decodeAttention` runs for one set of sizes on one device: its grid factor and pipelines. */
interface DecodeAttentionKernels {
  /** q-head groups per kv head: headsPerGroup / headsPerWorkgroup. */
  readonly headGroups: number;
  /** Pass 1's pipeline, compiled at its first use (a batch whose maxSeqLen is 0 needs only the merge). */
  readonly pass1: () => GPUComputePipeline;
  readonly merge: GPUComputePipeline;
}

/**
 * The plan, its workgroup-memory check and the pipelines for (numHeads, numKvHeads, headDim,
 * partitionSize, headsPerWorkgroup, epilogue) on this device: made once per Gpu (Gpu.memo) and then
 * looked up. Throws (and stores nothing) where the device cannot run them.
 */
function decodeAttentionKernels(
  gpu: Gpu,
  numHeads: number,
  numKvHeads: number,
  headDim: number,
  P: number,
  headsPerWorkgroup: number | undefined,
  epilogue: DecodeAttentionOptions['epilogue'],
  sliding: boolean,
  softcap: boolean,
): DecodeAttentionKernels {
  return gpu.memo(`decode_attention ${numHeads} ${numKvHeads} ${headDim} ${P} ${headsPerWorkgroup} ${epilogue} ${sliding} ${softcap}`, () => {
    expect(gpu.caps.subgroups, 'decodeAttention: needs the subgroups feature');
    const sgMin = gpu.caps.subgroupMinSize || 4;
    const plan = planDecodeAttention(numHeads, numKvHeads, headDim, sgMin, P, headsPerWorkgroup);
    const GW = plan.headsPerWorkgroup;
    // Workgroup memory: the block-table slice, then per subgroup its (m, l) and its head slots of D f32.
    const smemFor = (slots: number) => 4 * (P / BLOCK_SIZE) + (WG / sgMin) * (64 + 4 * headDim * slots);
    const allHeads = epilogue === 'all-heads' || (epilogue === undefined && smemFor(GW) <= ALL_HEADS_SMEM);
    const smem = smemFor(allHeads ? GW : 1);
    expect(smem <= gpu.limits.maxComputeWorkgroupStorageSize, `decodeAttention: partitionSize ${P}${allHeads ? ' with the all-heads epilogue' : ''} needs ${smem} bytes of workgroup memory (device limit ${gpu.limits.maxComputeWorkgroupStorageSize})`);
    let pass1: GPUComputePipeline | undefined;
    const pass1Options = {
      defines: [
        ...(GW > 4 ? ['H8'] : []), ...(plan.chunksPerLane >= 2 ? ['C2'] : []), ...(plan.chunksPerLane === 4 ? ['C4'] : []), ...(plan.maskedChunks ? ['MASK'] : []),
        ...(allHeads ? ['EPI_ALL'] : []), ...(sliding ? ['SLIDING'] : []), ...(softcap ? ['SOFTCAP'] : []),
      ],
      constants: { D: headDim, GW, TPK: plan.lanesPerToken, WG, P, SGMIN: sgMin },
    };
    const pl = Math.max(1, Math.floor(MERGE_THREADS / (headDim / 4)));
    return {
      headGroups: plan.headsPerGroup / GW,
      pass1: () => (pass1 ??= gpu.pipeline('decode_attention', pass1Options)),
      merge: gpu.pipeline('decode_attention_merge', { defines: sliding ? ['SLIDING'] : [], constants: { D: headDim, P, PL: pl } }),
    };
  });
}

// What the scheduler decided for one step, as plain data (structured-clonable: no class
// instances, no Maps), and `flattenSchedulerOutput`, which lays it out as the arrays the runner
// uploads for the kernels (docs/KERNELS.md "Shared layouts").
//
// Token order of a step: grouped by token-parallel rank (rank 0's tokens, then rank 1's, ...);
// within a rank, decode tokens first (one per decoding request), then prefill chunks.
// `requests` lists the scheduled requests in exactly that order.
import type { SamplingParams } from '../engine/sampling_params.js';

/** A SchedulerOutput breaks its own contract (token order, counts, block-table width). */
export class SchedulerOutputError extends Error {
  override readonly name = 'SchedulerOutputError';
}

export interface ScheduledRequest {
  requestId: string;
  /** Token-parallel rank whose KV cache holds this request. */
  rank: number;
  /** Tokens to run this step: a prefill chunk, or the one decode token (the last sampled one). */
  tokenIds: number[];
  /** Position of tokenIds[0] = tokens already in the cache (numComputedTokens). */
  positionStart: number;
  /** Tokens in the cache including this step's: positionStart + tokenIds.length. */
  seqLen: number;
  /** Physical block ids on `rank`, in token order; exactly ceil(seqLen / blockSize) of them. */
  blockTable: number[];
  /** Cache slot of each of this step's tokens: blockTable[p >> 4] * 16 + (p & 15). */
  slotMapping: number[];
  /** True for a prefill chunk (including a recompute after preemption), false for a decode. */
  isPrefill: boolean;
  /** The step reaches the end of the known tokens (a decode, or the prompt's last chunk): the
   * runner computes logits for its last token and samples one token for it. */
  needsLogits: boolean;
  samplingParams: SamplingParams;
}

export interface SchedulerOutput {
  /** Increases by one per schedule() call, from 0. */
  stepId: number;
  /** Scheduled requests in token order (see the file comment). */
  requests: ScheduledRequest[];
  /** Tokens of the step over all ranks (<= maxNumBatchedTokens). */
  numScheduledTokens: number;
  /** [tokenParallelSize] tokens per rank; 0 for a rank with nothing scheduled. */
  numTokensPerRank: number[];
  /** [tokenParallelSize] scheduled requests per rank. */
  numSeqsPerRank: number[];
  /** [tokenParallelSize] decoding requests per rank (they come first within the rank). */
  numDecodesPerRank: number[];
  /** Preempted (by recompute) in this step; their blocks are free again. */
  preemptedRequestIds: string[];
  /** Finished since the previous step (stop, length, engine-reported stop string, error). */
  finishedRequestIds: string[];
  /** Aborted since the previous step. */
  abortedRequestIds: string[];
  /** Why each FINISHED_ERROR request among finishedRequestIds failed. */
  errors: { requestId: string; message: string }[];
}

/** One rank's share of a flattened step. Rows are relative to the rank's slice of the step. */
export interface RankBatch {
  rank: number;
  /** First row of this rank's tokens in the step's inputIds/positions. */
  tokenStart: number;
  numTokens: number;
  /** Decode rows are [0, numDecodes) of the rank's slice. */
  numDecodes: number;
  numPrefills: number;
  /** [numDecodes + numPrefills] request of each row of seqLens/blockTables. */
  requestIds: string[];
  /** [numTokens] u32 cache slot of each token (rank-local blocks). */
  slotMapping: Uint32Array;
  /** [numPrefills + 1] u32 prefill i is rows [queryStartLoc[i], queryStartLoc[i+1]); [0] = numDecodes. */
  queryStartLoc: Uint32Array;
  /** [numDecodes + numPrefills] u32 tokens in the cache including this step's; decodes first. */
  seqLens: Uint32Array;
  /** [numDecodes + numPrefills, maxBlocksPerSeq] u32 block tables, rows padded with 0. */
  blockTables: Uint32Array;
  maxDecodeSeqLen: number;
  maxPrefillQueryLen: number;
}

export interface FlatBatch {
  stepId: number;
  numTokens: number;
  maxBlocksPerSeq: number;
  /** [numTokens] u32 token ids in step order. */
  inputIds: Uint32Array;
  /** [numTokens] u32 positions (for RoPE). */
  positions: Uint32Array;
  /** [numSampled] u32 rows whose logits are sampled: the last row of each needsLogits request. */
  logitsIndices: Uint32Array;
  /** [numSampled] request of each logitsIndices row. */
  sampledRequestIds: string[];
  /** [tokenParallelSize] */
  ranks: RankBatch[];
}

/**
 * Puts a step's scheduled requests in token order (by rank, decodes first within a rank; the
 * sort is stable) and counts tokens, sequences and decodes per rank.
 */
export function layOutStep(
  requests: ScheduledRequest[],
  tokenParallelSize: number,
): Pick<SchedulerOutput, 'requests' | 'numScheduledTokens' | 'numTokensPerRank' | 'numSeqsPerRank' | 'numDecodesPerRank'> {
  requests.sort((a, b) => a.rank - b.rank || Number(a.isPrefill) - Number(b.isPrefill));
  const numTokensPerRank = new Array<number>(tokenParallelSize).fill(0);
  const numSeqsPerRank = new Array<number>(tokenParallelSize).fill(0);
  const numDecodesPerRank = new Array<number>(tokenParallelSize).fill(0);
  let numScheduledTokens = 0;
  for (const s of requests) {
    numTokensPerRank[s.rank] += s.tokenIds.length;
    numSeqsPerRank[s.rank]++;
    if (!s.isPrefill) numDecodesPerRank[s.rank]++;
    numScheduledTokens += s.tokenIds.length;
  }
  return { requests, numScheduledTokens, numTokensPerRank, numSeqsPerRank, numDecodesPerRank };
}

/** Lays a SchedulerOutput out as upload-ready arrays; block tables are padded to maxBlocksPerSeq. */
export function flattenSchedulerOutput(out: SchedulerOutput, maxBlocksPerSeq: number): FlatBatch {
  const n = out.numScheduledTokens;
  const inputIds = new Uint32Array(n);
  const positions = new Uint32Array(n);
  const logits: number[] = [];
  const sampledRequestIds: string[] = [];
  const ranks: RankBatch[] = [];
  let row = 0;
  let k = 0; // index into out.requests
  for (let rank = 0; rank < out.numTokensPerRank.length; rank++) {
    const numSeqs = out.numSeqsPerRank[rank];
    const numDecodes = out.numDecodesPerRank[rank];
    const numTokens = out.numTokensPerRank[rank];
    const b: RankBatch = {
      rank,
      tokenStart: row,
      numTokens,
      numDecodes,
      numPrefills: numSeqs - numDecodes,
      requestIds: [],
      slotMapping: new Uint32Array(numTokens),
      queryStartLoc: new Uint32Array(numSeqs - numDecodes + 1),
      seqLens: new Uint32Array(numSeqs),
      blockTables: new Uint32Array(numSeqs * maxBlocksPerSeq),
      maxDecodeSeqLen: 0,
      maxPrefillQueryLen: 0,
    };
    let local = 0;
    for (let s = 0; s < numSeqs; s++, k++) {
      const r = out.requests[k];
      const len = r.tokenIds.length;
      if (r.rank !== rank || r.isPrefill !== s >= numDecodes) {
        throw new SchedulerOutputError(`flattenSchedulerOutput: request ${r.requestId} out of token order (rank ${r.rank}, seq ${s} of rank ${rank})`);
      }
      if (r.blockTable.length > maxBlocksPerSeq) {
        throw new SchedulerOutputError(`flattenSchedulerOutput: ${r.requestId} has ${r.blockTable.length} blocks > maxBlocksPerSeq ${maxBlocksPerSeq}`);
      }
      if (s >= numDecodes) {
        b.queryStartLoc[s - numDecodes] = local;
        b.maxPrefillQueryLen = Math.max(b.maxPrefillQueryLen, len);
      } else {
        b.maxDecodeSeqLen = Math.max(b.maxDecodeSeqLen, r.seqLen);
      }
      b.requestIds.push(r.requestId);
      b.seqLens[s] = r.seqLen;
      b.blockTables.set(r.blockTable, s * maxBlocksPerSeq);
      for (let i = 0; i < len; i++) {
        inputIds[row + local + i] = r.tokenIds[i];
        positions[row + local + i] = r.positionStart + i;
        b.slotMapping[local + i] = r.slotMapping[i];
      }
      local += len;
      if (r.needsLogits) {
        logits.push(row + local - 1);
        sampledRequestIds.push(r.requestId);
      }
    }
    b.queryStartLoc[b.numPrefills] = local;
    if (local !== numTokens) throw new SchedulerOutputError(`flattenSchedulerOutput: rank ${rank} has ${local} tokens, expected ${numTokens}`);
    row += numTokens;
    ranks.push(b);
  }
  if (row !== n || k !== out.requests.length) throw new SchedulerOutputError(`flattenSchedulerOutput: counts do not add up`);
  return { stepId: out.stepId, numTokens: n, maxBlocksPerSeq, inputIds, positions, logitsIndices: Uint32Array.from(logits), sampledRequestIds, ranks };
}

// The model calls attention through this interface; what happens behind it (one rank's paged
// cache, or token-parallel ranks each holding a share of the requests) is not the model's
// business. src/model/paged_attention.ts is the single-rank implementation; src/parallel/
// supplies the token-parallel one.
import type { Recorder } from '../gpu/recorder.js';
import type { Tensor } from '../gpu/tensor.js';
import type { KvCacheWrite } from '../kernels/split_qkv_rotary.js';
import type { ModelConfig } from '../loader/model_config.js';

/** How one layer attends: its softmax scale, sliding window and score soft-cap (absent: none). */
export interface AttentionLayer {
  readonly scale: number;
  readonly slidingWindow?: number;
  readonly softcap?: number;
}

/**
 * Each layer's AttentionLayer from the model config (the same for every rank's share of the heads), served
 * up to `maxModelLen` tokens: a window that long or longer is full attention (Phi-4-mini's 262144), so the
 * kernels run without one.
 */
export function attentionLayers(c: Pick<ModelConfig, 'attentionScale' | 'layerWindows' | 'attnLogitSoftcap'>, maxModelLen = Infinity): AttentionLayer[] {
  return c.layerWindows.map((w) => ({
    scale: c.attentionScale,
    ...(w !== null && w < maxModelLen ? { slidingWindow: w } : {}),
    ...(c.attnLogitSoftcap !== null ? { softcap: c.attnLogitSoftcap } : {}),
  }));
}

export interface Attention {
  /**
   * Where this step's keys and values of layer `layer` go in this rank's paged KV cache: the rows
   * that attend here, [0, slotMapping.shape[0]). The model writes them there (fused with rotary,
   * kernels/split_qkv_rotary) before `forward`.
   */
  kvCacheWrite(layer: number): KvCacheWrite;
  /**
   * Attends, with this step's k/v rows already in the cache where `kvCacheWrite` put them.
   * q: [numTokens, numHeads, headDim], k/v: [numTokens, numKvHeads, headDim] (rotated: the rows that
   * attend on other ranks travel from here); out: [numTokens, numHeads, headDim]. Rows are in the
   * step's token order. A token-parallel implementation submits what is recorded, exchanges rows
   * with the other ranks and resolves once `out` holds every row (so the model awaits it).
   */
  forward(rec: Recorder, layer: number, q: Tensor, k: Tensor, v: Tensor, out: Tensor): void | Promise<void>;
}

/** How a step's rows are split over token-parallel ranks (rows grouped by rank). */
export interface StepLayout {
  readonly numTokensPerRank: readonly number[];
  readonly tokenStartPerRank: readonly number[];
}

/** Attention that learns the step's layout and this rank's metadata before the forward pass. */
export interface StepAttention extends Attention {
  setStep(layout: StepLayout, local: AttentionMetadata): void;
  /**
   * What recording this step's attention depends on beyond buffers that are the same every step
   * (a key of the runner's StepCache), or null where the step must be recorded afresh (it does work
   * on the host, or its shapes seldom repeat).
   */
  replayKey(): string | null;
}

/**
 * Completes a row-parallel linear layer (o_proj, down_proj) under tensor parallelism: sums
 * the partial outputs of the TP ranks in place. Single-rank: nothing to do.
 */
export interface RowParallelReduce {
  reduce(rec: Recorder, partial: Tensor): void | Promise<void>;
}

export const NO_REDUCE: RowParallelReduce = { reduce: () => {} };

/**
 * One rank's attention inputs for a step, on the GPU (built by the runner from the
 * SchedulerOutput). Rows of q/k/v: decode tokens [0, numDecodes), then prefill chunks.
 */
export interface AttentionMetadata {
  readonly numTokens: number;
  readonly slotMapping: Tensor; // [numTokens] u32
  readonly numDecodes: number;
  readonly decodeBlockTables: Tensor; // [numDecodes, maxBlocksPerSeq] u32
  readonly decodeSeqLens: Tensor; // [numDecodes] u32
  readonly maxDecodeSeqLen: number;
  readonly numPrefills: number;
  readonly prefillQueryStartLoc: Tensor; // [numPrefills + 1] u32, absolute rows
  readonly prefillSeqLens: Tensor; // [numPrefills] u32
  readonly prefillBlockTables: Tensor; // [numPrefills, maxBlocksPerSeq] u32
  readonly maxPrefillQueryLen: number;
}

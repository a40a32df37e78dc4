// What one rank computes. Ranks of the root TP group (token-parallel rank 0) hold the model's
// weights, sharded by TP, and run the whole forward pass with token-parallel attention; the
// other ranks hold no weights, only their KV cache, and run attention for their requests.
import { join } from 'node:path';
import type { EngineConfig } from '../engine/config.js';
import type { Gpu } from '../gpu/gpu.js';
import type { StepSamplingRow } from '../runner/sampler.js';
import { attentionLayers, NO_REDUCE } from '../model/attention.js';
import { checkAttentionDevice, PagedAttention } from '../model/paged_attention.js';
import { resolveMaxModelLen } from '../loader/model_config.js';
import { allocateRankKvCache, checkRankMemory, hostPlanParts, maxBlocksPerSeqFor } from '../runner/memory.js';
import { ModelRunner, readModelConfig, type StepResult } from '../runner/model_runner.js';
import { AttentionBuffers } from '../runner/step_buffers.js';
import type { FlatBatch } from '../scheduler/scheduler_output.js';
import type { ProcessGroups } from './process_group.js';
import { localModelConfig, TensorParallelReduce, tensorParallelLayout, tensorParallelPackedShard, tensorParallelShard } from './tensor_parallel.js';
import { AttentionRank, emptyProfile, TokenParallelAttention } from './token_parallel_attention.js';

export interface RankRole {
  readonly numBlocks: number;
  readonly maxModelLen: number;
  readonly log: readonly string[];
  runStep(flat: FlatBatch, sampling: readonly StepSamplingRow[], opts?: { returnLogits?: boolean }): Promise<StepResult>;
  /** Time spent in communication and remote attention since the last call (ms). */
  takeProfile(): Record<string, number>;
}

export async function createRankRole(gpu: Gpu, c: EngineConfig, g: ProcessGroups): Promise<RankRole> {
  const topo = g.topo;
  const full = readModelConfig(c.model);
  const local = localModelConfig(full, topo.tensorParallelSize);
  if (topo.isRoot) {
    const tpReduce = topo.tensorParallelSize > 1 ? new TensorParallelReduce(gpu, g.tp) : undefined;
    let tpAttention: TokenParallelAttention | undefined;
    const runner = await ModelRunner.create(gpu, c.model, { ...c, quiet: c.quiet || !topo.isDriver }, {
      tpRank: topo.tpRank,
      tpSize: topo.tensorParallelSize,
      localConfig: local,
      transform: tensorParallelShard(topo.tpRank, topo.tensorParallelSize),
      packedTransform: tensorParallelPackedShard(topo.tpRank, topo.tensorParallelSize),
      layout: tensorParallelLayout(topo.tpRank, topo.tensorParallelSize),
      reduce: tpReduce ?? NO_REDUCE,
      wrapAttention: (paged) => (topo.tokenParallelSize === 1 ? paged : (tpAttention = new TokenParallelAttention(gpu, paged, g.tknp))),
    });
    return {
      numBlocks: runner.numBlocks,
      maxModelLen: runner.maxModelLen,
      log: runner.log,
      runStep: (flat, sampling, opts) => runner.execute(flat, sampling, opts),
      takeProfile() {
        const p = { ...(tpReduce ? { tpAllReduceMs: tpReduce.commMs } : {}), ...(tpAttention?.profile ?? {}) };
        if (tpReduce) tpReduce.commMs = 0;
        if (tpAttention) tpAttention.profile = emptyProfile();
        return p;
      },
    };
  }
  // A KV-only rank: its memory is KV cache.
  const maxModelLen = resolveMaxModelLen(full, c.maxModelLen, join(c.model, 'config.json'));
  const shape = { numLayers: local.numLayers, numKvHeads: local.numKvHeads, headDim: local.headDim };
  const scratch = c.maxNumBatchedTokens * 2 * (2 * local.numHeads + 2 * local.numKvHeads) * local.headDim;
  const tables = 2 * c.maxNumSeqs * maxBlocksPerSeqFor(maxModelLen) * 4;
  const parts = [
    { what: 'attention scratch', bytes: scratch, field: 'maxNumBatchedTokens' },
    { what: 'block tables', bytes: tables, field: 'maxModelLen' },
  ];
  checkAttentionDevice(gpu, local); // before anything is allocated
  const device = checkRankMemory(gpu, c, parts, hostPlanParts(c.maxNumBatchedTokens, c.maxNumSeqs, maxModelLen));
  const { cache, numBlocks, log: memoryLog } = await allocateRankKvCache(gpu, shape, c, maxModelLen, scratch + tables, device);
  const paged = new PagedAttention(cache, attentionLayers(local, maxModelLen));
  const dims = { numLayers: local.numLayers, numHeads: local.numHeads, numKvHeads: local.numKvHeads, headDim: local.headDim };
  const attention = new AttentionRank(gpu, paged, g.tknp, dims, c.maxNumBatchedTokens);
  const maxBlocksPerSeq = maxBlocksPerSeqFor(maxModelLen);
  const buffers = new AttentionBuffers(gpu, c.maxNumBatchedTokens, c.maxNumSeqs, maxBlocksPerSeq);
  await gpu.flush();
  return {
    numBlocks,
    maxModelLen,
    log: [`${memoryLog}; no weights; KV cache ${numBlocks} blocks = ${numBlocks * 16} tokens`],
    async runStep(flat) {
      await attention.runStep(flat, topo.tknpRank, buffers.upload(flat.ranks[topo.tknpRank]));
      return { tokens: new Uint32Array(0) };
    },
    takeProfile() {
      const p = { attentionMs: attention.attentionMs };
      attention.attentionMs = 0;
      return p;
    },
  };
}

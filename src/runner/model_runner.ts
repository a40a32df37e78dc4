// ModelRunner: one rank's GPU side of the engine. Loads the model, sizes and allocates the
// KV cache, and turns a flattened SchedulerOutput into one submitted forward pass plus
// sampling, returning the sampled token ids (the step's only readback).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Gpu } from '../gpu/gpu.js';
import { Recorder } from '../gpu/recorder.js';
import { rows, type Tensor } from '../gpu/tensor.js';
import { argmax, packSamplingParams, sample, type SamplingRow } from '../kernels/sampling.js';
import { Checkpoint } from '../loader/checkpoint.js';
import { ModelLoadError } from '../loader/errors.js';
import { parseModelConfig, type ModelConfig } from '../loader/model_config.js';
import { KvCache } from '../model/kv_cache.js';
import { LlamaModel } from '../model/llama.js';
import { PagedAttention } from '../model/paged_attention.js';
import { loadWeights, weightBytes } from '../model/weights.js';
import type { FlatBatch } from '../scheduler/scheduler_output.js';
import { deviceMemoryBytes, kvBlocksFor } from './memory.js';
import { AttentionBuffers, TokenBuffers } from './step_buffers.js';

export interface RunnerOptions {
  readonly maxNumBatchedTokens: number;
  readonly maxNumSeqs: number;
  readonly maxModelLen?: number;
  readonly gpuMemoryUtilization: number;
  readonly kvCacheBytes?: number;
  readonly gpuMemoryBytes?: number;
  readonly quiet?: boolean;
}

export interface StepResult {
  /** [numSampled] token ids, in flat.logitsIndices order. */
  readonly tokens: Uint32Array;
  /** [numSampled, vocab] logits, when asked for. */
  readonly logits?: Float32Array;
}

export function readModelConfig(dir: string): ModelConfig {
  const file = join(dir, 'config.json');
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new ModelLoadError(file, (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : `not valid JSON: ${(e as Error).message}`);
  }
  return parseModelConfig(raw, file);
}

export class ModelRunner {
  private readonly sampled: Tensor;
  private readonly samplingParams: Tensor;

  private constructor(
    readonly gpu: Gpu,
    readonly config: ModelConfig,
    readonly model: LlamaModel,
    readonly attention: PagedAttention,
    readonly numBlocks: number,
    readonly maxModelLen: number,
    readonly maxBlocksPerSeq: number,
    private readonly tokens: TokenBuffers,
    private readonly attnBuffers: AttentionBuffers,
    readonly log: string[],
  ) {
    this.sampled = gpu.tensor([tokens.maxSeqs], 'u32', 'sampled');
    this.samplingParams = gpu.tensor([tokens.maxSeqs, 8], 'u32', 'samplingParams');
  }

  static async create(gpu: Gpu, modelDir: string, o: RunnerOptions): Promise<ModelRunner> {
    const config = readModelConfig(modelDir);
    const maxModelLen = Math.min(o.maxModelLen ?? config.maxPositionEmbeddings, config.maxPositionEmbeddings);
    const ckpt = await Checkpoint.open(modelDir);
    let weights;
    try {
      weights = await loadWeights(gpu, ckpt, config, { quiet: o.quiet });
    } finally {
      await ckpt.close();
    }
    const maxTokens = o.maxNumBatchedTokens;
    const maxSeqs = o.maxNumSeqs;
    const maxBlocksPerSeq = Math.ceil(maxModelLen / 16);
    const shape = { numLayers: config.numLayers, numKvHeads: config.numKvHeads, headDim: config.headDim };
    const device = deviceMemoryBytes(gpu, o.gpuMemoryBytes);
    const activationBytes = estimateActivationBytes(config, maxTokens, maxSeqs);
    const numBlocks = kvBlocksFor({
      shape,
      deviceBytes: device.bytes,
      gpuMemoryUtilization: o.gpuMemoryUtilization,
      usedBytes: weightBytes(weights) + activationBytes,
      kvCacheBytes: o.kvCacheBytes,
      maxBindingBytes: Number(gpu.limits.maxStorageBufferBindingSize),
      maxNumSeqs: maxSeqs,
      maxModelLen,
    });
    const cache = await KvCache.allocate(gpu, shape, numBlocks);
    const attention = new PagedAttention(cache, 1 / Math.sqrt(config.headDim));
    const model = new LlamaModel(gpu, config, weights, attention, maxTokens, maxSeqs);
    await gpu.flush();
    const log = [
      `device memory ${(device.bytes / 2 ** 30).toFixed(1)} GiB (${device.source}); weights ${(weightBytes(weights) / 2 ** 20).toFixed(1)} MiB; KV cache ${numBlocks} blocks = ${numBlocks * 16} tokens`,
    ];
    return new ModelRunner(gpu, config, model, attention, numBlocks, maxModelLen, maxBlocksPerSeq, new TokenBuffers(gpu, maxTokens, maxSeqs), new AttentionBuffers(gpu, maxTokens, maxSeqs, maxBlocksPerSeq), log);
  }

  /** Runs one step: forward pass for every scheduled token, sampling for every needsLogits row. */
  async execute(flat: FlatBatch, sampling: readonly SamplingRow[], opts: { returnLogits?: boolean } = {}): Promise<StepResult> {
    if (flat.ranks.length !== 1) throw new Error(`ModelRunner runs one rank; the step has ${flat.ranks.length}`);
    const inputs = this.tokens.upload(flat);
    this.attention.setStep(this.attnBuffers.upload(flat.ranks[0]));
    const S = inputs.numLogits;
    const rec = new Recorder(this.gpu, `step ${flat.stepId}`);
    const logits = (await this.model.forward(rec, inputs))!;
    const out = rows(this.sampled, S);
    if (S > 0) {
      if (sampling.every((s) => s.temperature === 0)) argmax(rec, logits, out);
      else {
        this.gpu.write(this.samplingParams, packSamplingParams(sampling));
        sample(rec, logits, rows(this.samplingParams, S), out);
      }
    }
    rec.submit();
    const tokens = S > 0 ? ((await this.gpu.read(out)) as Uint32Array) : new Uint32Array(0);
    const result: StepResult = { tokens };
    if (opts.returnLogits && S > 0) return { tokens, logits: (await this.gpu.read(logits)) as Float32Array };
    await this.gpu.flush();
    return result;
  }
}

/** Bytes of the activation buffers LlamaModel allocates (for the KV budget). */
export function estimateActivationBytes(c: ModelConfig, maxTokens: number, maxSeqs: number): number {
  const perToken = 2 * (3 * c.hiddenSize + 2 * c.numHeads * c.headDim + 2 * c.numKvHeads * c.headDim + 3 * c.intermediateSize);
  return maxTokens * perToken + maxSeqs * (4 * c.hiddenSize + 4 * c.vocabSize) + c.maxPositionEmbeddings * c.headDim * 4;
}

// ModelRunner: one rank's GPU side of the engine. Loads the model, sizes and allocates the
// KV cache, and turns a flattened SchedulerOutput into one submitted forward pass plus
// sampling, returning the sampled token ids (the step's only readback).
import { join } from 'node:path';
import type { Gpu } from '../gpu/gpu.js';
import { Recorder } from '../gpu/recorder.js';
import { StepCache } from '../gpu/step_capture.js';
import { rows, type Tensor } from '../gpu/tensor.js';
import { checkModelDir, readJsonObject } from '../loader/model_files.js';
import { parameterCount, parseModelConfig, resolveMaxModelLen, type ModelConfig } from '../loader/model_config.js';
import { readTokenizerIdLimit } from '../loader/tokenizer_vocab.js';
import { openModelCheckpoint } from '../model/weight_names.js';
import { LlamaModel, qkvWidth, type ForwardInputs } from '../model/llama.js';
import { checkAttentionDevice, PagedAttention } from '../model/paged_attention.js';
import { attentionLayers, NO_REDUCE, type RowParallelReduce, type StepAttention } from '../model/attention.js';
import { createDummyWeights } from '../model/dummy_weights.js';
import { loadWeights, weightBytes, type ModelWeights, type WeightLayout, type WeightTransform } from '../model/weights.js';
import type { PackedTransform } from '../model/quant_weights.js';
import { checkQuantizedShapes, weightBytesOf } from '../quant/quantized_size.js';
import { F16_FORMAT, resolveWeightFormat, type Quantization, type WeightFormat } from '../quant/weight_format.js';
import type { FlatBatch } from '../scheduler/scheduler_output.js';
import { allocateRankKvCache, checkRankMemory, hostPlanParts, maxBlocksPerSeqFor } from './memory.js';
import type { PlanPart } from './memory_plan.js';
import { Sampler, type StepLogprobs, type StepSamplingRow } from './sampler.js';
import { AttentionBuffers, TokenBuffers } from './step_buffers.js';

export interface RunnerOptions {
  readonly maxNumBatchedTokens: number;
  readonly maxNumSeqs: number;
  readonly maxModelLen?: number;
  readonly gpuMemoryUtilization: number;
  readonly kvCacheBytes?: number;
  readonly gpuMemoryBytes?: number;
  readonly quiet?: boolean;
  /** 'dummy': seeded random weights made on the GPU (benchmarks; no checkpoint needed). */
  readonly loadFormat?: 'safetensors' | 'dummy';
  /** false: faster linear kernels whose rows depend on the batch size (default true). */
  readonly batchInvariant?: boolean;
  /** Time every kernel of every step on the GPU (`profiles`); one pass per dispatch, so steps run slower. */
  readonly profile?: boolean;
  /** Submit every N layers (0: once per step); EngineConfig.submitEveryLayers (its default applies there). */
  readonly submitEveryLayers: number;
  /** Record every step afresh instead of replaying captured decode steps (EngineConfig.enforceEager). */
  readonly enforceEager?: boolean;
  /** Weights quantized at load (EngineConfig.quantization; default 'none': the checkpoint's format). */
  readonly quantization?: Quantization;
}

/**
 * How this rank takes part in tensor and token parallelism (src/parallel builds it). Without it
 * the runner is a whole model on one rank.
 */
export interface RunnerParallel {
  readonly tpRank: number;
  readonly tpSize: number;
  /** The shapes this rank computes with (heads and MLP divided by tpSize). */
  readonly localConfig: ModelConfig;
  readonly transform: WeightTransform;
  /** The same split of quantized projections. */
  readonly packedTransform: PackedTransform;
  /** The same split as `transform`, shapes only (for dummy weights). */
  readonly layout: WeightLayout;
  readonly reduce: RowParallelReduce;
  /** Wraps this rank's paged attention (token parallelism); identity when tknp = 1. */
  readonly wrapAttention: (local: PagedAttention) => StepAttention;
}

export interface StepResult {
  /** [numSampled] token ids, in flat.logitsIndices order. */
  readonly tokens: Uint32Array;
  /** [numSampled, vocab] logits, when asked for. */
  readonly logits?: Float32Array;
  /** Logprobs of the raw logits, when a row asked for them. */
  readonly logprobs?: StepLogprobs;
}

/** The model directory's config.json, checked (the directory too). */
export function readModelConfig(dir: string): ModelConfig {
  checkModelDir(dir);
  const file = join(dir, 'config.json');
  return parseModelConfig(readJsonObject(file), file);
}

export class ModelRunner {
  private readonly sampler: Sampler;
  /**
   * With RunnerOptions.profile: per step, [GPU ms per shader (summed over its dispatches)] (one entry:
   * this rank; the shape of DistributedExecutor.profiles).
   */
  readonly profiles: Record<string, number>[][] = [];
  /**
   * CPU time spent recording steps (from the start of the forward pass to the step's last submit,
   * split submits included): when its mean nears the step time, decode is bound by the CPU.
   */
  readonly recordTime = { steps: 0, ms: 0 };
  /**
   * Captured forward passes of decode steps by shape (StepCache), replayed instead of recorded when
   * a step of the same shape comes again; null where steps are always recorded afresh (enforceEager,
   * profiling, or tensor parallelism, whose all-reduce runs on the host in the middle of the pass).
   */
  readonly steps: StepCache<Tensor | null> | null;

  private constructor(
    readonly gpu: Gpu,
    readonly config: ModelConfig,
    readonly model: LlamaModel,
    readonly attention: StepAttention,
    private readonly tpRank: number,
    readonly numBlocks: number,
    readonly maxModelLen: number,
    readonly maxBlocksPerSeq: number,
    private readonly tokens: TokenBuffers,
    private readonly attnBuffers: AttentionBuffers,
    readonly log: string[],
    private readonly profileKernels: boolean,
    replaySteps: boolean,
  ) {
    this.sampler = new Sampler(gpu, tokens.maxSeqs);
    this.steps = replaySteps && !profileKernels ? new StepCache() : null;
  }

  static async create(gpu: Gpu, modelDir: string, o: RunnerOptions, parallel?: RunnerParallel): Promise<ModelRunner> {
    const fullConfig = readModelConfig(modelDir);
    const config = parallel?.localConfig ?? fullConfig;
    checkAttentionDevice(gpu, config); // before anything is allocated
    const maxModelLen = resolveMaxModelLen(fullConfig, o.maxModelLen, join(modelDir, 'config.json'));
    const maxTokens = o.maxNumBatchedTokens;
    const maxSeqs = o.maxNumSeqs;
    const maxBlocksPerSeq = maxBlocksPerSeqFor(maxModelLen);
    // Sampling covers the ids the tokenizer has where config.json's vocabulary is padded beyond them.
    const sampledVocab = Math.min(fullConfig.vocabSize, (o.loadFormat === 'dummy' ? undefined : readTokenizerIdLimit(modelDir)) ?? Infinity);
    const format = resolveWeightFormat(o.quantization ?? 'none', fullConfig.quantization, join(modelDir, 'config.json'));
    checkQuantizedShapes(fullConfig, format, parallel?.tpSize ?? 1, join(modelDir, 'config.json'));
    const plan = runnerMemoryParts(config, maxTokens, maxSeqs, maxModelLen, format);
    const device = checkRankMemory(gpu, o, [plan.weights, ...plan.buffers], hostPlanParts(maxTokens, maxSeqs, maxModelLen));
    const loaded =
      o.loadFormat === 'dummy'
        ? await createDummyWeights(gpu, fullConfig, { layout: parallel?.layout, format })
        : await loadCheckpoint(gpu, modelDir, fullConfig, o, format, parallel);
    const weights = sampledVocab < fullConfig.vocabSize ? confineVocab(gpu, loaded, sampledVocab) : loaded;
    const shape = { numLayers: config.numLayers, numKvHeads: config.numKvHeads, headDim: config.headDim };
    const used = weightBytes(weights) + plan.buffers.reduce((n, p) => n + p.bytes, 0);
    const { cache, numBlocks, log: memoryLog } = await allocateRankKvCache(gpu, shape, o, maxModelLen, used, device);
    const paged = new PagedAttention(cache, attentionLayers(config, maxModelLen));
    const attention = parallel ? parallel.wrapAttention(paged) : paged;
    const model = new LlamaModel(gpu, config, weights, attention, maxTokens, maxSeqs, parallel?.reduce ?? NO_REDUCE, o.batchInvariant === false ? 'fast' : 'invariant', o.submitEveryLayers, maxModelLen);
    await gpu.flush();
    const log = [
      `${memoryLog}; weights ${(weightBytes(weights) / 2 ** 20).toFixed(1)} MiB ${format.description}${format.source === 'f16' ? '' : ' (embeddings, norms and lm_head f16)'}${o.loadFormat === 'dummy' ? ' (dummy)' : ''}${weights.quantizedAtLoad ? `, ${weights.quantizedAtLoad}` : ''}; KV cache ${numBlocks} blocks = ${numBlocks * 16} tokens`,
      ...(sampledVocab < fullConfig.vocabSize ? [`sampling over the tokenizer's ${sampledVocab} ids of vocab_size ${fullConfig.vocabSize}`] : []),
    ];
    return new ModelRunner(gpu, config, model, attention, parallel?.tpRank ?? 0, numBlocks, maxModelLen, maxBlocksPerSeq, new TokenBuffers(gpu, maxTokens, maxSeqs), new AttentionBuffers(gpu, maxTokens, maxSeqs, maxBlocksPerSeq), log, o.profile === true, o.enforceEager !== true && (parallel?.reduce ?? NO_REDUCE) === NO_REDUCE);
  }

  /**
   * Runs one step: forward pass for every scheduled token (this rank holds the KV of the
   * step's token-parallel rank 0 share), sampling for every needsLogits row. Tensor-parallel
   * ranks other than 0 compute no logits and return no tokens.
   */
  async execute(flat: FlatBatch, sampling: readonly StepSamplingRow[], opts: { returnLogits?: boolean } = {}): Promise<StepResult> {
    const inputs = this.tokens.upload(flat);
    const layout = { numTokensPerRank: flat.ranks.map((r) => r.numTokens), tokenStartPerRank: flat.ranks.map((r) => r.tokenStart) };
    this.attention.setStep(layout, this.attnBuffers.upload(flat.ranks[0]));
    const rec = new Recorder(this.gpu, `step ${flat.stepId}`, { timeEachDispatch: this.profileKernels });
    const t0 = performance.now();
    const logits = await this.recordForward(rec, inputs);
    if (!logits) {
      this.countRecord(t0);
      await this.submit(rec);
      await this.gpu.flush();
      return { tokens: new Uint32Array(0) };
    }
    const S = inputs.numLogits;
    // Raw logits for returnLogits are read before penalties could change them: copy when needed.
    const raw = opts.returnLogits && S > 0 && sampling.some((r) => r.penalties) ? rec.scratch(logits.shape, 'f32', 'raw logits') : logits;
    if (raw !== logits) rec.copy(logits, raw);
    const readSampled = this.sampler.record(rec, logits, sampling);
    this.countRecord(t0);
    await this.submit(rec);
    const result: StepResult = await readSampled();
    if (opts.returnLogits && S > 0) return { ...result, logits: (await this.gpu.read(raw)) as Float32Array };
    await this.gpu.flush();
    return result;
  }

  /**
   * Records the forward pass of the step set up by `attention.setStep` (replays it where a step of
   * the same key was captured); the logits view, or null on tensor-parallel ranks other than 0.
   */
  recordForward(rec: Recorder, inputs: ForwardInputs): Promise<Tensor | null> {
    const skipLogits = this.tpRank !== 0;
    const forward = () => this.model.forward(rec, inputs, { skipLogits });
    return this.steps ? this.steps.record(rec, this.stepKey(inputs, skipLogits), forward) : forward();
  }

  /**
   * The StepCache key of this step's forward pass: everything its recording depends on (the inputs'
   * row counts and the attention's own key; buffers and weights are the same every step), or null
   * where the attention does not replay this step (prefill, rows on other token-parallel ranks).
   */
  private stepKey(inputs: ForwardInputs, skipLogits: boolean): string | null {
    const attention = this.attention.replayKey();
    return attention === null ? null : `${inputs.numTokens} ${inputs.numLogits} ${skipLogits ? 1 : 0} ${attention}`;
  }

  private countRecord(t0: number): void {
    this.recordTime.steps++;
    this.recordTime.ms += performance.now() - t0;
  }

  /** Submits the step; when profiling, waits for its timestamps and records ms per shader. */
  private async submit(rec: Recorder): Promise<void> {
    if (!this.profileKernels) {
      rec.submit();
      return;
    }
    const ns = await rec.submitAndTime();
    const perShader: Record<string, number> = {};
    rec.timedLabels.forEach((label, i) => (perShader[label] = (perShader[label] ?? 0) + ns[i] / 1e6));
    this.profiles.push([perShader]);
  }
}

async function loadCheckpoint(gpu: Gpu, modelDir: string, c: ModelConfig, o: RunnerOptions, format: WeightFormat, parallel?: RunnerParallel): Promise<ModelWeights> {
  const ckpt = await openModelCheckpoint(modelDir, c);
  try {
    return await loadWeights(gpu, ckpt, c, { quiet: o.quiet, transform: parallel?.transform, format, packedTransform: parallel?.packedTransform, configFile: join(modelDir, 'config.json') });
  } finally {
    await ckpt.close();
  }
}

/**
 * The device allocations of a root rank other than the KV cache, each sized by the field named:
 * f16 weights (from the parameter count), activations per batched token (LlamaModel's buffers and
 * the step's token inputs), buffers per sequence (final rows, f32 logits, sampling), the rope
 * table and the block tables; `binding`: the largest buffer, which a kernel binds whole.
 */
export function runnerMemoryParts(c: ModelConfig, maxTokens: number, maxSeqs: number, maxModelLen: number, format: WeightFormat = F16_FORMAT): { weights: PlanPart; buffers: PlanPart[] } {
  const qkv = qkvWidth(c);
  const ownQkv = Math.max(0, qkv - 2 * c.intermediateSize); // qkv shares gateUp's buffer where it fits
  const perToken = 2 * (3 * c.hiddenSize + 2 * c.numHeads * c.headDim + 2 * c.numKvHeads * c.headDim + 3 * c.intermediateSize + ownQkv) + 3 * 4;
  const widest = Math.max(c.hiddenSize, c.numHeads * c.headDim, 2 * c.intermediateSize, qkv);
  const tables = maxSeqs * maxBlocksPerSeqFor(maxModelLen) * 4;
  return {
    weights: { what: 'weights', bytes: weightBytesOf(c, format), field: 'model', binding: Math.max(c.vocabSize, 2 * c.intermediateSize, qkv) * c.hiddenSize * 2 },
    buffers: [
      { what: 'activations', bytes: maxTokens * perToken, field: 'maxNumBatchedTokens', binding: maxTokens * widest * 2 },
      { what: 'per-sequence buffers', bytes: maxSeqs * (4 * c.hiddenSize + 4 * c.vocabSize + 4 * 16), field: 'maxNumSeqs', binding: maxSeqs * c.vocabSize * 4 },
      { what: c.localRope ? 'rope tables (global and local)' : 'rope table', bytes: maxModelLen * c.rotaryDim * 4 * (c.localRope ? 2 : 1), field: 'maxModelLen', binding: maxModelLen * c.rotaryDim * 4 },
      { what: 'block tables', bytes: 2 * tables, field: 'maxModelLen', binding: tables },
    ],
  };
}

/**
 * Sampling confined to the tokenizer's ids where config.json's vocabulary is padded beyond them: lm_head
 * is cut to the ids rounded up to a multiple of 16 (the tensor-core linear's tiles: an odd row count would
 * fall to its slowest kernel) and the logits of the ids past the tokenizer's get -inf through the linear's
 * bias, so they are never sampled and weigh nothing in softmax, top-k or top-p.
 */
function confineVocab(gpu: Gpu, w: ModelWeights, sampledVocab: number): ModelWeights {
  const V = Math.min(w.lmHead.shape[0], Math.ceil(sampledVocab / 16) * 16);
  const lmHead = rows(w.lmHead, V);
  if (V === sampledVocab) return { ...w, lmHead };
  const mask = new Uint16Array(V);
  mask.fill(0xfc00, sampledVocab); // f16 -inf
  return { ...w, lmHead, logitsMask: gpu.upload(mask, [V], 'f16', 'logitsMask') };
}

// `tknp bench decode`: decode throughput of the real engine — Scheduler, executor (one rank in
// process, or the distributed executor for tp × tknp > 1), runner and kernels — on a model
// whose weights are dummy (made on the GPU) unless asked otherwise. For each (batch, context):
// admit `batch` requests of `context` random prompt tokens (as many as the KV cache holds),
// prefill them untimed in chunks of maxNumBatchedTokens, run a few untimed warm-up decode steps,
// then time `steps` decode steps, each the engine's loop body: schedule → flatten → execute on
// every rank → update the scheduler (no detokenisation: there is no tokenizer).
import { resolveEngineConfig, type EngineConfig } from '../engine/config.js';
import type { Executor } from '../engine/executor.js';
import { createExecutor } from '../engine/executor_factory.js';
import { parameterCount, type ModelConfig } from '../loader/model_config.js';
import { readModelConfig } from '../runner/model_runner.js';
import { weightBytesOf } from '../quant/quantized_size.js';
import { resolveWeightFormat } from '../quant/weight_format.js';
import { Scheduler } from '../scheduler/scheduler.js';
import { Rng } from '../util/rng.js';
import { caseList, fitBatch, prefillChunks, stepStats, type DecodeCase } from './decode_plan.js';
import { execute, GREEDY } from './decode_step.js';
import { runTtft, type TtftResult } from './decode_ttft.js';

export type PrefillMode = 'compute' | 'skip';

export interface DecodeBenchOptions {
  /** Engine configuration; loadFormat defaults to 'dummy', profile to tp × tknp > 1. */
  readonly engine: Partial<EngineConfig> & { model: string };
  readonly batches: readonly number[];
  readonly contexts: readonly number[];
  /** Explicit (batch, context) cases, run in this order; default: every context × every batch (contexts outer). */
  readonly cases?: readonly DecodeCase[];
  /** Also time one whole-prompt prefill of this many tokens (time to first token), after a warm-up prefill. */
  readonly ttft?: number;
  /** With ttft: also time prompts of that length whose first this-many tokens are in the prefix cache. */
  readonly ttftCachedPrefix?: number;
  /** Timed decode steps per case. */
  readonly steps: number;
  /** Untimed decode steps before the timed ones (default 2). */
  readonly warmupSteps?: number;
  /**
   * 'compute' (default): prefill on the GPU. 'skip': the scheduler admits the prompts but the
   * prefill is not run, so the cache holds stale values; decode reads as many KV bytes either
   * way, and huge batch × context cases start in seconds instead of minutes.
   */
  readonly prefill?: PrefillMode;
  /** Seed of the prompt token ids. */
  readonly seed?: number;
  readonly preset?: string;
  readonly command?: string;
  readonly log?: (line: string) => void;
}

export interface DecodeCaseResult {
  readonly batch: number;
  readonly context: number;
  /** Sequences actually run (the largest batch that fit, when `batch` did not). */
  readonly ranBatch: number;
  readonly fit: boolean;
  readonly maxBatchThatFits: number;
  readonly limitedBy: string | null;
  readonly skipped?: string;
  readonly seqsPerRank: number[];
  readonly prefill?: { readonly mode: PrefillMode; readonly tokens: number; readonly chunks: number; readonly seconds: number };
  readonly steps: number;
  readonly stepMs?: ReturnType<typeof stepStats>;
  /** Generated tokens per second over the timed steps (ranBatch tokens per step). */
  readonly tokensPerSecond?: number;
  /** tokensPerSecond / world size (tp × tknp GPUs). */
  readonly tokensPerSecondPerGpu?: number;
  /** Mean ms per timed step of each global rank's --profile counters (tp × tknp > 1). */
  readonly profile?: Record<string, number>[];
  /** Mean CPU ms to record a timed step (one rank only; the rest of a step is GPU time and waiting). */
  readonly recordMs?: number;
}

export interface DecodeBenchReport {
  readonly command: string;
  readonly date: string;
  readonly preset: string | null;
  readonly model: string;
  readonly modelConfig: Pick<ModelConfig, 'hiddenSize' | 'intermediateSize' | 'numLayers' | 'numHeads' | 'numKvHeads' | 'headDim' | 'vocabSize'> & { parameters: number; tieWordEmbeddings?: boolean };
  readonly loadFormat: string;
  /** The projections' weight format (e.g. 'f16', 'int4 (g128, asymmetric)'); absent in older reports: f16. */
  readonly weightFormat?: string;
  /** Bytes of every layer's weights (projections in weightFormat, norms f16) over all TP ranks; absent: 2 per parameter. */
  readonly layerWeightBytes?: number;
  readonly tensorParallelSize: number;
  readonly tokenParallelSize: number;
  readonly worldSize: number;
  readonly maxNumBatchedTokens: number;
  readonly maxNumSeqs: number;
  readonly maxModelLen: number;
  readonly warmupSteps: number;
  readonly startSeconds: number;
  readonly startupLog: readonly string[];
  readonly kv: { readonly numBlocksPerRank: readonly number[]; readonly tokensPerRank: number[]; readonly totalTokens: number; readonly bytesPerToken: number };
  readonly results: DecodeCaseResult[];
  /** Time to first token of one `ttft`-token prompt in one prefill step (--ttft). */
  readonly ttft?: TtftResult;
}

/** The engine configuration the benchmark runs with (the same on every rank). */
export function decodeBenchEngineConfig(o: DecodeBenchOptions): EngineConfig {
  const mc = readModelConfig(o.engine.model);
  const decodeSteps = (o.warmupSteps ?? 2) + o.steps;
  const cases = caseList(o);
  const maxBatch = Math.max(...cases.map((c) => c.batch));
  const maxContext = Math.max(...cases.map((c) => c.context));
  const base = resolveEngineConfig({ ...o.engine, loadFormat: o.engine.loadFormat ?? 'dummy' });
  const world = base.tensorParallelSize * base.tokenParallelSize;
  return resolveEngineConfig({
    ...base,
    profile: o.engine.profile ?? world > 1,
    maxNumSeqs: Math.max(o.engine.maxNumSeqs ?? 256, maxBatch),
    // A decode step of the largest batch, and the --ttft prompt in one step, must fit one step's activations.
    maxNumBatchedTokens: Math.max(base.maxNumBatchedTokens, maxBatch, o.ttft ?? 0),
    maxModelLen: o.engine.maxModelLen ?? Math.min(mc.maxPositionEmbeddings, Math.max(maxContext + decodeSteps, o.ttft ?? 0) + 1),
  });
}

function validate(o: DecodeBenchOptions): void {
  const ints = (what: string, xs: readonly number[], min: number) => {
    if (!xs.length || xs.some((x) => !Number.isInteger(x) || x < min)) throw new RangeError(`${what} must be integers >= ${min}, got ${JSON.stringify(xs)}`);
  };
  ints('batches', o.batches, 1);
  ints('contexts', o.contexts, 1);
  if (o.cases) ints('cases', o.cases.flatMap((c) => [c.batch, c.context]), 1);
  if (o.ttft !== undefined) ints('ttft', [o.ttft], 1);
  if (o.ttftCachedPrefix !== undefined) {
    if (o.ttft === undefined) throw new RangeError('ttftCachedPrefix needs ttft (the prompt length)');
    if (!Number.isInteger(o.ttftCachedPrefix) || o.ttftCachedPrefix < 16 || o.ttftCachedPrefix >= o.ttft) {
      throw new RangeError(`ttftCachedPrefix must be an integer in [16, ttft ${o.ttft}), got ${o.ttftCachedPrefix}`);
    }
  }
  ints('steps', [o.steps], 1);
  ints('warmupSteps', [o.warmupSteps ?? 2], 0);
}

export async function runDecodeBench(o: DecodeBenchOptions): Promise<DecodeBenchReport> {
  validate(o);
  const log = o.log ?? (() => {});
  const config = decodeBenchEngineConfig(o);
  const warmup = o.warmupSteps ?? 2;
  const world = config.tensorParallelSize * config.tokenParallelSize;
  const t0 = performance.now();
  const ex = await createExecutor(config);
  const startSeconds = (performance.now() - t0) / 1000;
  try {
    const mc = ex.modelConfig;
    for (const l of ex.startupLog) log(`[tknp] ${l}`);
    const results: DecodeCaseResult[] = [];
    for (const { batch, context } of caseList(o)) {
      const r = await runCase(ex, config, o, batch, context, warmup, log);
      results.push(r);
      log(`[tknp] batch ${batch} context ${context}: ${r.skipped ?? `${r.ranBatch} sequences, ${r.tokensPerSecond!.toFixed(1)} tokens/s, step ${r.stepMs!.mean.toFixed(2)} ms`}`);
    }
    const ttft = o.ttft !== undefined ? await runTtft(ex, config, o.ttft, o.seed ?? 0, log, o.ttftCachedPrefix) : undefined;
    const perToken = mc.numLayers * 2 * mc.numKvHeads * mc.headDim * 2;
    return {
      command: o.command ?? '',
      date: new Date().toISOString(),
      preset: o.preset ?? null,
      model: config.model,
      modelConfig: { hiddenSize: mc.hiddenSize, intermediateSize: mc.intermediateSize, numLayers: mc.numLayers, numHeads: mc.numHeads, numKvHeads: mc.numKvHeads, headDim: mc.headDim, vocabSize: mc.vocabSize, parameters: parameterCount(mc), tieWordEmbeddings: mc.tieWordEmbeddings },
      loadFormat: config.loadFormat,
      ...weightFormatOf(config),
      tensorParallelSize: config.tensorParallelSize,
      tokenParallelSize: config.tokenParallelSize,
      worldSize: world,
      maxNumBatchedTokens: config.maxNumBatchedTokens,
      maxNumSeqs: config.maxNumSeqs,
      maxModelLen: ex.maxModelLen,
      warmupSteps: warmup,
      startSeconds,
      startupLog: ex.startupLog,
      kv: {
        numBlocksPerRank: ex.numBlocksPerRank,
        tokensPerRank: ex.numBlocksPerRank.map((n) => n * 16),
        totalTokens: ex.numBlocksPerRank.reduce((a, b) => a + b, 0) * 16,
        bytesPerToken: perToken / config.tensorParallelSize,
      },
      results,
      ...(ttft ? { ttft } : {}),
    };
  } finally {
    await ex.shutdown();
  }
}

async function runCase(ex: Executor, config: EngineConfig, o: DecodeBenchOptions, batch: number, context: number, warmup: number, log: (l: string) => void): Promise<DecodeCaseResult> {
  const decodeSteps = warmup + o.steps;
  const world = config.tensorParallelSize * config.tokenParallelSize;
  const fit = fitBatch(ex.numBlocksPerRank, context, decodeSteps, batch, config);
  const base = { batch, context, steps: o.steps, maxBatchThatFits: fit.maxBatch, limitedBy: fit.limitedBy, fit: fit.maxBatch === batch, seqsPerRank: fit.seqsPerRank };
  if (context + decodeSteps + 1 > ex.maxModelLen) return { ...base, ranBatch: 0, skipped: `context ${context} + ${decodeSteps} decode steps exceeds maxModelLen ${ex.maxModelLen}` };
  if (fit.maxBatch === 0) return { ...base, ranBatch: 0, skipped: `not one sequence of ${context + decodeSteps} tokens fits a rank's KV cache (${ex.numBlocksPerRank.join(', ')} blocks)` };
  const n = fit.maxBatch;
  const scheduler = new Scheduler({
    tokenParallelSize: config.tokenParallelSize,
    numBlocksPerRank: ex.numBlocksPerRank,
    // Admit every prompt whole in one scheduler step; the chunks that run it honour the engine's budget.
    maxNumBatchedTokens: n * context,
    maxNumSeqs: config.maxNumSeqs,
    maxModelLen: ex.maxModelLen,
    // Random prompts never share a block, and with --prefill skip the cache holds stale values.
    enablePrefixCaching: false,
  });
  const rng = new Rng((o.seed ?? 0) + context * 7919 + batch);
  const vocab = ex.modelConfig.vocabSize;
  const params = { ...GREEDY, maxTokens: decodeSteps + 1 };
  for (let i = 0; i < n; i++) scheduler.addRequest(`b${batch}-c${context}-${i}`, Array.from({ length: context }, () => rng.int(0, vocab - 1)), params);

  // Prefill (untimed): one scheduler step admits every prompt; it runs in budget-sized chunks.
  const mode = o.prefill ?? 'compute';
  const admitted = scheduler.schedule();
  if (admitted.requests.length !== n) throw new Error(`bench decode: the scheduler admitted ${admitted.requests.length} of ${n} requests`);
  const chunks = prefillChunks(admitted, config.maxNumBatchedTokens, config.maxNumSeqs);
  const tp0 = performance.now();
  const first = new Map<string, number>();
  let lastLog = tp0;
  for (const [i, chunk] of chunks.entries()) {
    if (mode === 'skip') break;
    for (const [id, t] of await execute(ex, chunk, scheduler.maxBlocksPerSeq)) first.set(id, t);
    if (performance.now() - lastLog > 10_000) {
      lastLog = performance.now();
      log(`[tknp] prefill batch ${n} × ${context}: chunk ${i + 1}/${chunks.length}, ${((lastLog - tp0) / 1000).toFixed(0)} s`);
    }
  }
  for (const r of admitted.requests) if (!first.has(r.requestId)) first.set(r.requestId, rng.int(0, vocab - 1));
  scheduler.updateFromOutput(admitted, first);
  const prefill = { mode, tokens: n * context, chunks: mode === 'skip' ? 0 : chunks.length, seconds: (performance.now() - tp0) / 1000 };

  // Decode: warm-up steps, then timed steps.
  const profiles = (ex as { profiles?: Record<string, number>[][] }).profiles;
  const recordTime = (ex as { recordTime?: { readonly steps: number; readonly ms: number } }).recordTime;
  let recordStart = { steps: 0, ms: 0 };
  let profileStart = 0;
  const stepMs: number[] = [];
  for (let s = 0; s < decodeSteps; s++) {
    if (s === warmup) {
      profileStart = profiles?.length ?? 0;
      if (recordTime) recordStart = { ...recordTime };
    }
    const t = performance.now();
    const out = scheduler.schedule();
    // fitBatch placed the batch so that it never preempts: anything else is a bug, not a result.
    if (out.preemptedRequestIds.length || out.numScheduledTokens !== n) {
      throw new Error(`bench decode: decode step ${s} scheduled ${out.numScheduledTokens} tokens for ${n} sequences (${out.preemptedRequestIds.length} preempted)`);
    }
    scheduler.updateFromOutput(out, await execute(ex, out, scheduler.maxBlocksPerSeq));
    if (s >= warmup) stepMs.push(performance.now() - t);
  }
  const stats = stepStats(stepMs);
  const tokensPerSecond = (n * stepMs.length) / (stepMs.reduce((a, b) => a + b, 0) / 1000);
  let profile: Record<string, number>[] | undefined;
  if (profiles && profiles.length > profileStart) {
    const timed = profiles.slice(profileStart);
    profile = timed[0].map((_, rank) => {
      const keys = new Set(timed.flatMap((p) => Object.keys(p[rank] ?? {})));
      return Object.fromEntries([...keys].map((k) => [k, timed.reduce((a, p) => a + (p[rank]?.[k] ?? 0), 0) / timed.length]));
    });
  }
  for (const r of admitted.requests) scheduler.abortRequest(r.requestId);
  const recordMs = recordTime && recordTime.steps > recordStart.steps ? (recordTime.ms - recordStart.ms) / (recordTime.steps - recordStart.steps) : undefined;
  return { ...base, ranBatch: n, prefill, stepMs: stats, tokensPerSecond, tokensPerSecondPerGpu: tokensPerSecond / world, profile, recordMs };
}

/** The report's weightFormat and layerWeightBytes (the bytes roofline reads them). */
function weightFormatOf(config: EngineConfig): { weightFormat: string; layerWeightBytes: number } {
  const mc = readModelConfig(config.model);
  const format = resolveWeightFormat(config.quantization, mc.quantization);
  const f16 = 2 * (mc.vocabSize * mc.hiddenSize * (mc.tieWordEmbeddings ? 1 : 2) + mc.hiddenSize); // embeddings, lm_head, final norm
  return { weightFormat: format.description, layerWeightBytes: weightBytesOf(mc, format) - f16 };
}

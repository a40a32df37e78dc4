// `tknp bench perplexity`: the perplexity of a model on a token stream through the real engine
// path — EngineConfig (every engine option, weight format included), the executor (one rank in
// process, or the distributed one for tp × tknp > 1), the scheduler's prefill, the runner and its
// kernels. The stream splits into non-overlapping windows of `window` + 1 tokens (planWindows, the
// layout of tools/train_default_model.py's held-out loss); each window is one prefill step of its
// first `window` tokens, starting at position 0, whose every row's logits come back (the step's
// logitsIndices name every row instead of the last one) and score the next token by log-softmax in
// float64 on the CPU. Result: mean NLL over every predicted token and perplexity = exp(mean NLL).
import { resolveEngineConfig, type EngineConfig } from '../engine/config.js';
import type { Executor } from '../engine/executor.js';
import { createExecutor } from '../engine/executor_factory.js';
import { BLOCK_SIZE } from '../kv/kv_cache_manager.js';
import { bytesPerBlock } from '../model/kv_cache.js';
import { readModelConfig } from '../runner/model_runner.js';
import { Scheduler } from '../scheduler/scheduler.js';
import { flattenSchedulerOutput } from '../scheduler/scheduler_output.js';
import { GREEDY, greedyRow } from './decode_step.js';
import { planWindows, PerplexityError, summarizeNll, tokenNll, type WindowPlan } from './perplexity_math.js';

export interface PerplexityOptions {
  /** Engine configuration (model, weight format, parallel layout, kernels); batch sizes are set from `window`. */
  readonly engine: Partial<EngineConfig> & { model: string };
  /** The token ids evaluated. */
  readonly stream: ArrayLike<number>;
  /** Where the stream came from (reports). */
  readonly source?: string;
  /** Tokens predicted per window (the prefill length); default 512. */
  readonly window?: number;
  /** At most this many windows (from the start of the stream). */
  readonly maxWindows?: number;
  /** Keep every predicted token's NLL in the report (tokenNlls). */
  readonly keepTokenNlls?: boolean;
  readonly command?: string;
  readonly log?: (line: string) => void;
}

export interface PerplexityReport {
  readonly command: string;
  readonly date: string;
  readonly model: string;
  /** The engine's weight format (EngineConfig.quantization where the build has it; 'none': the checkpoint's f16/bf16). */
  readonly quantization: string;
  readonly source: string;
  readonly streamTokens: number;
  readonly window: number;
  readonly windows: number;
  /** Predicted tokens: windows × window. */
  readonly tokens: number;
  /** Mean negative log-likelihood per predicted token (nats). */
  readonly meanNll: number;
  readonly perplexity: number;
  /** Wall-clock seconds of the evaluation (engine start-up excluded). */
  readonly seconds: number;
  readonly startSeconds: number;
  readonly tensorParallelSize: number;
  readonly tokenParallelSize: number;
  readonly batchInvariant: boolean;
  readonly startupLog: readonly string[];
  /** Mean NLL of each window. */
  readonly windowNlls: number[];
  /** [tokens] NLL of every predicted token (keepTokenNlls). */
  readonly tokenNlls?: number[];
}

/** Tokens per window unless asked otherwise (tools/train_default_model.py's --seq-len). */
export const DEFAULT_WINDOW = 512;

/**
 * The engine configuration of a perplexity run: one window per step, whole (maxNumBatchedTokens ≥
 * window), every row returning logits (maxNumSeqs ≥ window: the logits and sampling buffers hold
 * a row per sequence), positions up to the window (maxModelLen, unless given), no prefix caching
 * (windows are independent prompts; a hit would skip rows whose logits are wanted), and, unless a
 * KV budget or memory fraction is given, a KV cache of the one window it holds at a time (+ a block)
 * instead of most of the GPU's memory.
 */
export function perplexityEngineConfig(engine: Partial<EngineConfig> & { model: string }, window: number): EngineConfig {
  const ownKvBudget = engine.kvCacheBytes === undefined && engine.gpuMemoryUtilization === undefined;
  const maxModelLen = engine.maxModelLen ?? window;
  return resolveEngineConfig({
    ...engine,
    maxNumBatchedTokens: Math.max(engine.maxNumBatchedTokens ?? 0, window),
    maxNumSeqs: Math.max(engine.maxNumSeqs ?? 0, window),
    maxModelLen,
    enablePrefixCaching: false,
    ...(ownKvBudget ? { kvCacheBytes: windowKvBytes(engine.model, maxModelLen) } : {}),
  });
}

/** KV bytes of one sequence of `tokens` tokens (+ one block) at the model's full shape (a tp rank holds less). */
function windowKvBytes(model: string, tokens: number): number {
  const c = readModelConfig(model);
  return (Math.ceil(tokens / BLOCK_SIZE) + 1) * bytesPerBlock({ numLayers: c.numLayers, numKvHeads: c.numKvHeads, headDim: c.headDim });
}

/** The scheduler of a perplexity run: one request (window) at a time, prefilled in one step. */
export function perplexityScheduler(ex: Executor, config: EngineConfig, window: number): Scheduler {
  return new Scheduler({
    tokenParallelSize: config.tokenParallelSize,
    numBlocksPerRank: ex.numBlocksPerRank,
    maxNumBatchedTokens: window,
    maxNumSeqs: 1,
    maxModelLen: ex.maxModelLen,
    enablePrefixCaching: false,
  });
}

/**
 * One prefill step of `tokens` (positions 0..T−1) through the executor, returning the logits of every
 * position: row i scores token i + 1. The step is the scheduler's own (blocks, slots, rank); only its
 * logitsIndices change, from the last row to every row (the step's single request owns rows 0..T−1).
 */
// tokens: [T] -> logits: [T, V] f32 (V: lm_head's rows, ids past the tokenizer's at -Infinity)
export async function windowLogits(ex: Executor, scheduler: Scheduler, tokens: readonly number[], id: string): Promise<{ logits: Float32Array; vocab: number }> {
  const T = tokens.length;
  scheduler.addRequest(id, tokens, { ...GREEDY, maxTokens: 1 });
  try {
    const out = scheduler.schedule();
    const q = out.requests[0];
    if (out.requests.length !== 1 || q.positionStart !== 0 || q.tokenIds.length !== T) {
      throw new Error(`bench perplexity: the scheduler scheduled ${out.numScheduledTokens} tokens of ${out.requests.length} requests for one ${T}-token window (KV blocks per rank: ${ex.numBlocksPerRank.join(', ')})`);
    }
    const flat = flattenSchedulerOutput(out, scheduler.maxBlocksPerSeq);
    const every = { ...flat, logitsIndices: Uint32Array.from({ length: T }, (_, i) => i), sampledRequestIds: new Array<string>(T).fill(id) };
    const result = await ex.execute(out, every, every.sampledRequestIds.map(greedyRow), { returnLogits: true });
    if (!result.logits || result.logits.length % T !== 0) throw new Error(`bench perplexity: the step returned ${result.logits?.length ?? 'no'} logits for ${T} rows`);
    scheduler.updateFromOutput(out, new Map([[id, result.tokens[T - 1]]]));
    return { logits: result.logits, vocab: result.logits.length / T };
  } finally {
    scheduler.abortRequest(id);
  }
}

/** Checks the options that need no GPU: the window plan (a bad stream or window is refused before the engine starts). */
export function checkPerplexityOptions(o: PerplexityOptions): WindowPlan {
  const window = o.window ?? DEFAULT_WINDOW;
  const plan = planWindows(o.stream.length, window, o.maxWindows);
  const mc = readModelConfig(o.engine.model);
  if (window > mc.maxPositionEmbeddings) throw new PerplexityError(`window ${window} exceeds the model's max_position_embeddings ${mc.maxPositionEmbeddings}`);
  if (o.engine.maxModelLen !== undefined && window > o.engine.maxModelLen) throw new PerplexityError(`window ${window} exceeds maxModelLen ${o.engine.maxModelLen}`);
  return plan;
}

export async function runPerplexity(o: PerplexityOptions): Promise<PerplexityReport> {
  const plan = checkPerplexityOptions(o);
  const log = o.log ?? (() => {});
  const W = plan.window;
  const config = perplexityEngineConfig(o.engine, W);
  const t0 = performance.now();
  const ex = await createExecutor(config);
  const startSeconds = (performance.now() - t0) / 1000;
  try {
    for (const l of ex.startupLog) log(`[tknp] ${l}`);
    const blocks = Math.ceil(W / BLOCK_SIZE);
    if (!ex.numBlocksPerRank.some((n) => n >= blocks)) {
      throw new PerplexityError(`a window of ${W} tokens needs ${blocks} KV blocks; the ranks hold ${ex.numBlocksPerRank.join(', ')} (raise --kv-cache-memory or lower --window)`);
    }
    const scheduler = perplexityScheduler(ex, config, W);
    const windowNlls: number[] = [];
    const tokenNlls: number[] = [];
    let sum = 0;
    const t1 = performance.now();
    let lastLog = t1;
    for (let w = 0; w < plan.windows; w++) {
      const start = w * W;
      const inputs = Array.from({ length: W }, (_, i) => o.stream[start + i]);
      const { logits, vocab } = await windowLogits(ex, scheduler, inputs, `ppl-${w}`);
      let windowSum = 0;
      for (let i = 0; i < W; i++) {
        const nll = tokenNll(logits, i * vocab, vocab, o.stream[start + i + 1], `${o.source ?? 'stream'}: window ${w}, position ${start + i}`);
        windowSum += nll;
        if (o.keepTokenNlls) tokenNlls.push(nll);
      }
      windowNlls.push(windowSum / W);
      sum += windowSum;
      if (performance.now() - lastLog > 10_000) {
        lastLog = performance.now();
        log(`[tknp] window ${w + 1}/${plan.windows}: running mean NLL ${(sum / ((w + 1) * W)).toFixed(4)}, ${((lastLog - t1) / 1000).toFixed(0)} s`);
      }
    }
    const seconds = (performance.now() - t1) / 1000;
    const s = summarizeNll(sum, plan.tokens);
    return {
      command: o.command ?? '',
      date: new Date().toISOString(),
      model: config.model,
      // The weight format, where this build's EngineConfig has one (issue 17's `quantization`).
      quantization: (config as Partial<Record<'quantization', string>>).quantization ?? 'none',
      source: o.source ?? 'stream',
      streamTokens: o.stream.length,
      window: W,
      windows: plan.windows,
      tokens: s.tokens,
      meanNll: s.meanNll,
      perplexity: s.perplexity,
      seconds,
      startSeconds,
      tensorParallelSize: config.tensorParallelSize,
      tokenParallelSize: config.tokenParallelSize,
      batchInvariant: config.batchInvariant,
      startupLog: ex.startupLog,
      windowNlls,
      ...(o.keepTokenNlls ? { tokenNlls } : {}),
    };
  } finally {
    await ex.shutdown();
  }
}

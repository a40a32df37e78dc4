// LLMEngine: requests in, tokens and text out. Owns the step loop: schedule → execute on the
// ranks → update the scheduler → detokenize, check stop strings, report. Like vLLM's
// LLMEngine: addRequest / step / abortRequest; `LLM` (llm.ts) wraps it for batch use.
import { join } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { NO_TOKEN } from '../kernels/logprobs.js';
import { PenaltyTokens } from '../kernels/penalties.js';
import type { StepLogprobs, StepSamplingRow } from '../runner/sampler.js';
import { flattenSchedulerOutput } from '../scheduler/scheduler_output.js';
import { Scheduler } from '../scheduler/scheduler.js';
import { RequestError, RequestStatus, type FinishedStatus, type Request } from '../scheduler/request.js';
import { IncrementalDetokenizer } from '../tokenizer/detokenizer.js';
import type { ChatMessage, Tokenizer } from '../tokenizer/tokenizer.js';
import { resolveEngineConfig, type EngineConfig } from './config.js';
import type { Executor } from './executor.js';
import { createExecutor } from './executor_factory.js';
import { checkModel } from './model_check.js';
import {
  createSeedSource,
  generationConfigDefaults,
  hasPenalties,
  normalizeSamplingParams,
  SamplingParamsError,
  type GenerationConfigDefaults,
  type SamplingParams,
  type SamplingParamsInput,
} from './sampling_params.js';
import { resolveWeightFormat } from '../quant/weight_format.js';
import { StopStrings } from './stop_strings.js';

export type PromptInput = string | { readonly promptTokenIds: readonly number[] } | { readonly messages: readonly ChatMessage[] };

export type FinishReason = 'stop' | 'length' | 'abort' | 'error';

/** Log-probabilities at one generated token (from the raw logits, as vLLM's default). */
export interface TokenLogprobs {
  /** The generated token's. */
  readonly logprob: number;
  /** The request's `logprobs` most likely tokens at that step, most likely first. */
  readonly top: readonly { readonly tokenId: number; readonly logprob: number }[];
}

export interface RequestOutput {
  readonly requestId: string;
  /** Text added by this step (never half a character, never part of a stop string). */
  readonly delta: string;
  /** Token ids added by this step. */
  readonly newTokenIds: readonly number[];
  /** [newTokenIds.length] their logprobs, when the request asked for logprobs. */
  readonly logprobs?: readonly TokenLogprobs[];
  /** All output text so far. */
  readonly text: string;
  readonly tokenIds: readonly number[];
  readonly promptTokenIds: readonly number[];
  readonly finished: boolean;
  readonly finishReason: FinishReason | null;
  readonly error?: string;
  readonly metrics: RequestMetrics;
  /** Prompt tokens found in the prefix cache when the request was first scheduled (0 before, or with the cache off). */
  readonly numCachedTokens: number;
}

export interface RequestMetrics {
  readonly arrivalMs: number;
  firstTokenMs?: number;
  finishedMs?: number;
}

interface Live {
  readonly request: Request;
  readonly detok: IncrementalDetokenizer;
  readonly stops: StopStrings;
  readonly params: SamplingParams;
  readonly metrics: RequestMetrics;
  /** The tokens its penalties apply to (requests with penalties only). */
  readonly penalties?: PenaltyTokens;
  text: string;
}

export class EngineRequestError extends Error {
  override readonly name = 'EngineRequestError';
}

const REASONS: Record<FinishedStatus, FinishReason> = {
  [RequestStatus.FINISHED_STOPPED]: 'stop',
  [RequestStatus.FINISHED_LENGTH]: 'length',
  [RequestStatus.FINISHED_ABORTED]: 'abort',
  [RequestStatus.FINISHED_ERROR]: 'error',
};

export class LLMEngine {
  private readonly live = new Map<string, Live>();
  private readonly seedSource: () => number;
  private pendingOutputs: RequestOutput[] = [];
  /** Counters since the engine started; prefillTokens: tokens of prefill chunks computed (prompts minus prefix-cache hits, plus recomputes after preemption). */
  readonly stats = { steps: 0, preemptions: 0, promptTokens: 0, generatedTokens: 0, prefillTokens: 0 };
  private nextId = 0;

  private constructor(
    readonly config: EngineConfig,
    readonly tokenizer: Tokenizer,
    readonly executor: Executor,
    readonly scheduler: Scheduler,
    readonly generationDefaults: GenerationConfigDefaults,
  ) {
    this.seedSource = createSeedSource(0);
  }

  static async create(input: Partial<EngineConfig> & { model: string }): Promise<LLMEngine> {
    const config = resolveEngineConfig(input);
    const model = await checkModel(config);
    let executor: Executor;
    try {
      executor = await createExecutor(config);
    } catch (e) {
      model.tokenizer.close();
      throw e;
    }
    try {
      const scheduler = new Scheduler({
        tokenParallelSize: config.tokenParallelSize,
        numBlocksPerRank: executor.numBlocksPerRank,
        maxNumBatchedTokens: config.maxNumBatchedTokens,
        maxNumSeqs: config.maxNumSeqs,
        maxModelLen: executor.maxModelLen,
        enablePrefixCaching: config.enablePrefixCaching,
        prefixCacheSalt: prefixCacheSalt(config),
      });
      if (!config.quiet) for (const l of [...executor.startupLog, prefixCachingLine(config)]) process.stderr.write(`[tknp] ${l}\n`);
      return new LLMEngine(config, model.tokenizer, executor, scheduler, model.generationDefaults);
    } catch (e) {
      model.tokenizer.close();
      await executor.shutdown();
      throw e;
    }
  }

  get modelConfig() {
    return this.executor.modelConfig;
  }

  /** The projections' weight format, e.g. 'f16', 'int4 (g128, asymmetric)', 'awq 4-bit (g128, asymmetric)'. */
  get weightFormat(): string {
    return resolveWeightFormat(this.config.quantization, this.modelConfig.quantization).description;
  }

  /** Token ids of a prompt (plain text gets the tokenizer's special tokens; chats the template). */
  promptTokenIds(prompt: PromptInput): number[] {
    if (typeof prompt === 'string') return this.tokenizer.encode(prompt);
    if ('messages' in prompt) return this.tokenizer.encodeChat(prompt.messages);
    return [...prompt.promptTokenIds];
  }

  /**
   * Queues a request. Throws a named error (SamplingParamsError, RequestError,
   * EngineRequestError, ChatTemplateError) without touching any request already accepted.
   */
  addRequest(prompt: PromptInput, params: SamplingParamsInput = {}, requestId = `req-${this.nextId++}`): string {
    const sp = normalizeSamplingParams(params, this.generationDefaults, this.seedSource);
    const vocab = this.modelConfig.vocabSize;
    sp.stopTokenIds.forEach((t, i) => {
      if (t >= vocab) throw new SamplingParamsError(`stopTokenIds[${i}]`, t, `is outside the vocabulary (0..${vocab - 1})`);
    });
    const ids = this.promptTokenIds(prompt);
    // Messages name the bad value, not the request id (the caller knows which request it sent).
    ids.forEach((t, i) => {
      if (!Number.isInteger(t)) throw new RequestError(`prompt token ${i}: token id ${JSON.stringify(t)} is not an integer`);
      if (t < 0 || t >= vocab) throw new RequestError(`prompt token ${i}: token id ${t} is outside the vocabulary (0..${vocab - 1})`);
    });
    if (this.live.has(requestId)) throw new RequestError(`request ${requestId} already exists`);
    const request = this.scheduler.addRequest(requestId, ids, sp, this.tokenizer.eosTokenIds);
    this.live.set(requestId, {
      request,
      detok: new IncrementalDetokenizer(this.tokenizer),
      stops: new StopStrings(sp.stop),
      params: sp,
      metrics: { arrivalMs: performance.now() },
      ...(hasPenalties(sp) ? { penalties: new PenaltyTokens(ids) } : {}),
      text: '',
    });
    return requestId;
  }

  /** Aborts a request now (its KV blocks are freed at once); its final output comes with the next step. */
  abortRequest(requestId: string): boolean {
    const ok = this.scheduler.abortRequest(requestId);
    if (ok) this.finishLive(requestId, 'abort');
    return ok;
  }

  hasUnfinishedRequests(): boolean {
    return this.live.size > 0 || this.pendingOutputs.length > 0;
  }

  /** Runs one step and returns the outputs of every request that progressed or finished. */
  async step(opts: { returnLogits?: boolean } = {}): Promise<RequestOutput[] & { logits?: Map<string, Float32Array> }> {
    const outputs: RequestOutput[] & { logits?: Map<string, Float32Array> } = this.pendingOutputs;
    this.pendingOutputs = [];
    const out = this.scheduler.schedule();
    this.stats.steps++;
    this.stats.preemptions += out.preemptedRequestIds.length;
    for (const q of out.requests) if (q.isPrefill) this.stats.prefillTokens += q.tokenIds.length;
    // Finished since the last step; a live entry under the same id may be a new request that
    // reused the id (ids are unique among unfinished requests only): only finished ones go.
    for (const e of out.errors) if (this.live.get(e.requestId)?.request.isFinished) this.finishLive(e.requestId, 'error', e.message, outputs);
    for (const id of out.finishedRequestIds) {
      const l = this.live.get(id);
      if (l?.request.isFinished) this.finishLive(id, REASONS[l.request.status as FinishedStatus] ?? 'stop', undefined, outputs);
    }
    if (out.numScheduledTokens === 0) {
      this.scheduler.updateFromOutput(out, new Map());
      return outputs;
    }
    const flat = flattenSchedulerOutput(out, this.scheduler.maxBlocksPerSeq);
    const sampling: StepSamplingRow[] = flat.sampledRequestIds.map((id) => {
      const l = this.live.get(id)!;
      const p = l.params;
      return { temperature: p.temperature, topK: p.topK, topP: p.topP, seed: p.seed, step: l.request.numOutputTokens, logprobs: p.logprobs ?? -1, penalties: l.penalties?.row(p) };
    });
    let result;
    try {
      result = await this.executor.execute(out, flat, sampling, opts);
    } catch (e) {
      // The step's requests cannot continue (their KV state is unknown): fail them, clear the
      // scheduler's pending step so the engine stays usable, and let the caller decide.
      const msg = `${(e as Error).name}: ${(e as Error).message}`;
      for (const r of out.requests) {
        if (this.live.has(r.requestId)) {
          this.scheduler.finishRequest(r.requestId, RequestStatus.FINISHED_ERROR, msg);
          this.finishLive(r.requestId, 'error', msg);
        }
      }
      this.scheduler.updateFromOutput(out, new Map());
      throw e;
    }
    const sampled = new Map<string, number>();
    const rowOf = new Map<string, number>();
    flat.sampledRequestIds.forEach((id, i) => {
      sampled.set(id, result.tokens[i]);
      rowOf.set(id, i);
      this.live.get(id)?.penalties?.add(result.tokens[i]);
    });
    this.stats.generatedTokens += sampled.size;
    if (result.logits) {
      const V = result.logits.length / flat.sampledRequestIds.length; // the sampled vocabulary (lm_head's rows)
      outputs.logits = new Map(flat.sampledRequestIds.map((id, i) => [id, result.logits!.slice(i * V, (i + 1) * V)]));
    }
    const finished = new Set(this.scheduler.updateFromOutput(out, sampled).map((r) => r.requestId));
    const now = performance.now();
    for (const [id, token] of sampled) {
      const l = this.live.get(id);
      if (!l) continue; // aborted while the step ran
      l.metrics.firstTokenMs ??= now;
      let delta = l.stops.push(l.detok.push(token));
      if (l.stops.stopped && !finished.has(id)) {
        this.scheduler.finishRequest(id, RequestStatus.FINISHED_STOPPED);
        finished.add(id);
      }
      if (finished.has(id)) delta += l.stops.push(l.detok.flush()) + l.stops.flush();
      l.text += delta;
      const status = l.request.status;
      const reason = finished.has(id) ? REASONS[status as FinishedStatus] : null;
      const lp = l.params.logprobs !== null && result.logprobs ? { logprobs: [tokenLogprobs(result.logprobs, rowOf.get(id)!, l.params.logprobs)] } : {};
      outputs.push({ ...this.output(l, delta, [token], reason), ...lp });
      if (reason) {
        l.metrics.finishedMs = now;
        this.live.delete(id);
      }
    }
    return outputs;
  }

  private output(l: Live, delta: string, newTokenIds: number[], reason: FinishReason | null, error?: string): RequestOutput {
    const r = l.request;
    return {
      requestId: r.requestId,
      delta,
      newTokenIds,
      text: l.text,
      tokenIds: [...r.outputTokenIds],
      promptTokenIds: r.promptTokenIds,
      finished: reason !== null,
      finishReason: reason,
      ...(error ? { error } : {}),
      metrics: l.metrics,
      numCachedTokens: r.numCachedTokens ?? 0,
    };
  }

  private finishLive(id: string, reason: FinishReason, error?: string, into: RequestOutput[] = this.pendingOutputs): void {
    const l = this.live.get(id);
    if (!l) return;
    this.live.delete(id);
    l.metrics.finishedMs = performance.now();
    const delta = reason === 'abort' || reason === 'error' ? '' : l.stops.flush();
    l.text += delta;
    into.push(this.output(l, delta, [], reason, error ?? l.request.errorMessage ?? undefined));
  }

  /**
   * Fails every unfinished request with `message` (a rank died) and returns their final
   * outputs, together with any final outputs not yet delivered (e.g. the requests of the step
   * that failed).
   */
  failAll(message: string): RequestOutput[] {
    const outs = this.pendingOutputs.splice(0);
    for (const id of [...this.live.keys()]) {
      this.scheduler.finishRequest(id, RequestStatus.FINISHED_ERROR, message);
      this.finishLive(id, 'error', message, outs);
    }
    return outs;
  }

  async shutdown(): Promise<void> {
    this.tokenizer.close();
    await this.executor.shutdown();
  }
}

/** What besides the tokens decides the KV contents: the root of the prefix cache's block hashes. */
function prefixCacheSalt(c: EngineConfig): string {
  return JSON.stringify({ model: c.model, loadFormat: c.loadFormat, batchInvariant: c.batchInvariant, tp: c.tensorParallelSize, quantization: c.quantization });
}

function prefixCachingLine(c: EngineConfig): string {
  return c.enablePrefixCaching
    ? `prefix caching on: full 16-token blocks computed by prefill are reused, ${c.tokenParallelSize > 1 ? `one cache per token-parallel rank (${c.tokenParallelSize}); requests go to the rank holding their prefix` : 'one cache'} (--no-enable-prefix-caching turns it off)`
    : 'prefix caching off';
}

/** Row `row` of a step's logprobs, cut to the request's `n` top entries. */
function tokenLogprobs(lp: StepLogprobs, row: number, n: number): TokenLogprobs {
  const base = row * (1 + lp.K);
  const top: { tokenId: number; logprob: number }[] = [];
  for (let j = 0; j < n; j++) {
    const tokenId = lp.ids[row * Math.max(lp.K, 1) + j];
    if (tokenId !== NO_TOKEN) top.push({ tokenId, logprob: lp.values[base + 1 + j] });
  }
  return { logprob: lp.values[base], top };
}

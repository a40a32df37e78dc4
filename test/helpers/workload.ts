// A fixed multi-request workload run through LLMEngine, recording every logits row and token of
// every request, to compare parallel layouts with each other.
import { LLMEngine } from '../../src/engine/llm_engine.js';
import { maxAbsDiff } from './engine.js';
import type { EngineConfig } from '../../src/engine/config.js';
import type { SamplingParamsInput } from '../../src/engine/sampling_params.js';

export interface WorkloadRequest {
  readonly promptTokenIds: number[];
  readonly params: SamplingParamsInput;
  /** Add the request before this step (0 = at the start): requests joining mid-generation. */
  readonly addAtStep?: number;
  /** Abort it after this step. */
  readonly abortAfterStep?: number;
}

export interface WorkloadResult {
  readonly tokens: Map<string, number[]>;
  readonly logits: Map<string, Float32Array[]>;
  readonly finishReasons: Map<string, string>;
  readonly numBlocksPerRank: readonly number[];
  readonly preemptions: number;
  /** Prompt tokens each request found in the prefix cache (RequestOutput.numCachedTokens). */
  readonly cachedTokens: Map<string, number>;
  /** Prefix-cache hits (tokens) of each token-parallel rank. */
  readonly prefixCacheHitsPerRank: number[];
}

export async function runWorkload(config: Partial<EngineConfig> & { model: string }, requests: readonly WorkloadRequest[]): Promise<WorkloadResult> {
  const engine = await LLMEngine.create({ quiet: true, ...config });
  const tokens = new Map<string, number[]>();
  const logits = new Map<string, Float32Array[]>();
  const finishReasons = new Map<string, string>();
  const cachedTokens = new Map<string, number>();
  try {
    let step = 0;
    const ids = requests.map((_, i) => `r${i}`);
    const pending = () => requests.some((r, i) => !tokens.has(ids[i]) && (r.addAtStep ?? 0) >= step);
    while (engine.hasUnfinishedRequests() || pending()) {
      requests.forEach((r, i) => {
        if ((r.addAtStep ?? 0) === step) {
          engine.addRequest({ promptTokenIds: r.promptTokenIds }, r.params, ids[i]);
          tokens.set(ids[i], []);
          logits.set(ids[i], []);
        }
      });
      const outs = await engine.step({ returnLogits: true });
      for (const o of outs) {
        tokens.get(o.requestId)!.push(...o.newTokenIds);
        const l = outs.logits?.get(o.requestId);
        if (l) logits.get(o.requestId)!.push(l);
        if (o.finished) finishReasons.set(o.requestId, o.finishReason!);
        cachedTokens.set(o.requestId, o.numCachedTokens);
      }
      requests.forEach((r, i) => {
        if (r.abortAfterStep === step) engine.abortRequest(ids[i]);
      });
      step++;
      if (step > 10_000) throw new Error('workload did not finish');
    }
    const sched = engine.scheduler;
    const prefixCacheHitsPerRank = Array.from({ length: sched.tokenParallelSize }, (_, k) => sched.kvManager(k).prefixCacheStats.hits);
    return { tokens, logits, finishReasons, numBlocksPerRank: engine.executor.numBlocksPerRank, preemptions: engine.stats.preemptions, cachedTokens, prefixCacheHitsPerRank };
  } finally {
    await engine.shutdown();
  }
}

/** Throws unless both runs produced bitwise-identical logits and identical tokens. */
export function expectBitwiseEqual(a: WorkloadResult, b: WorkloadResult, what: string): void {
  for (const [id, ta] of a.tokens) {
    const tb = b.tokens.get(id);
    if (JSON.stringify(ta) !== JSON.stringify(tb)) throw new Error(`${what}: ${id} tokens differ: ${JSON.stringify(ta)} vs ${JSON.stringify(tb)}`);
    if (a.finishReasons.get(id) !== b.finishReasons.get(id)) throw new Error(`${what}: ${id} finish reason ${a.finishReasons.get(id)} vs ${b.finishReasons.get(id)}`);
    const la = a.logits.get(id)!;
    const lb = b.logits.get(id)!;
    if (la.length !== lb.length) throw new Error(`${what}: ${id} has ${la.length} vs ${lb.length} logits rows`);
    la.forEach((row, s) => {
      const other = lb[s];
      for (let i = 0; i < row.length; i++) {
        if (!Object.is(row[i], other[i])) throw new Error(`${what}: ${id} step ${s} logit ${i}: ${row[i]} vs ${other[i]} (not bitwise equal)`);
      }
    });
  }
}

/** Largest |a-b| over the logits rows of `ids` (their trajectories must be the same). */
export function maxLogitDiff(a: WorkloadResult, b: WorkloadResult, ids: readonly string[]): number {
  let m = 0;
  for (const id of ids) {
    const la = a.logits.get(id)!;
    const lb = b.logits.get(id)!;
    if (la.length !== lb.length) return Infinity;
    la.forEach((row, s) => {
      m = Math.max(m, maxAbsDiff(row, lb[s]));
    });
  }
  return m;
}

// `tknp bench decode --ttft N`: time to first token of one N-token prompt through the engine —
// the whole prompt in one prefill step (schedule → execute on every rank → the first token read
// back), after one untimed warm-up prefill of another prompt of the same length. Comparable to
// the prefill row of tools/bench_decode_pytorch.py (one eager forward of the same prompt length).
// With `--ttft-cached-prefix P`, the same again for prompts whose first P tokens (a shared system
// prompt, computed once untimed) are in the prefix cache: the step computes only the rest.
import type { EngineConfig } from '../engine/config.js';
import type { Executor } from '../engine/executor.js';
import { Scheduler } from '../scheduler/scheduler.js';
import { Rng } from '../util/rng.js';
import { BLOCK_SIZE } from '../kv/kv_cache_manager.js';
import { execute, GREEDY } from './decode_step.js';

export interface TtftRuns {
  /** Wall-clock ms of each timed prefill step (after the warm-up one). */
  readonly runsMs: readonly number[];
  /** Median of runsMs. */
  readonly ms: number;
}

export interface TtftResult {
  /** Prompt tokens. */
  readonly tokens: number;
  /** Wall-clock ms of each timed prefill step (after the warm-up one). */
  readonly runsMs?: readonly number[];
  /** Median of runsMs. */
  readonly ms?: number;
  /** Prompt tokens per second of the median run. */
  readonly tokensPerSecond?: number;
  /** The same prompt length with a shared prefix in the prefix cache (--ttft-cached-prefix). */
  readonly cached?: TtftRuns & {
    /** Tokens of the shared prefix. */
    readonly prefixTokens: number;
    /** Of those, tokens the cache held (whole blocks): the step computed tokens − cachedTokens. */
    readonly cachedTokens: number;
    /** Miss median / hit median. */
    readonly speedup: number;
  };
  readonly skipped?: string;
}

/** Timed prefills after the warm-up one. */
const TIMED_RUNS = 3;

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function runTtft(ex: Executor, config: EngineConfig, tokens: number, seed: number, log: (l: string) => void, cachedPrefix?: number): Promise<TtftResult> {
  if (tokens + 1 > ex.maxModelLen) return { tokens, skipped: `a ${tokens}-token prompt exceeds maxModelLen ${ex.maxModelLen}` };
  if (tokens > config.maxNumBatchedTokens) return { tokens, skipped: `a ${tokens}-token prompt exceeds maxNumBatchedTokens ${config.maxNumBatchedTokens} (one step)` };
  const blocks = Math.ceil((tokens + 1) / BLOCK_SIZE);
  if (!ex.numBlocksPerRank.some((n) => n >= blocks)) return { tokens, skipped: `a ${tokens}-token prompt needs ${blocks} KV blocks; ranks hold ${ex.numBlocksPerRank.join(', ')}` };
  const scheduler = new Scheduler({
    tokenParallelSize: config.tokenParallelSize,
    numBlocksPerRank: ex.numBlocksPerRank,
    maxNumBatchedTokens: tokens,
    maxNumSeqs: 1,
    maxModelLen: ex.maxModelLen,
    enablePrefixCaching: cachedPrefix !== undefined,
  });
  const rng = new Rng(seed + 104729 * tokens);
  const vocab = ex.modelConfig.vocabSize;
  const randomTokens = (n: number) => Array.from({ length: n }, () => rng.int(0, vocab - 1));

  /** One prefill step of `prompt`; returns its wall-clock ms. `skip`: the tokens it must find cached. */
  const prefill = async (id: string, prompt: number[], skip: number): Promise<number> => {
    scheduler.addRequest(id, prompt, { ...GREEDY, maxTokens: 2 });
    const t = performance.now();
    const out = scheduler.schedule();
    const q = out.requests[0];
    if (out.requests.length !== 1 || q.positionStart !== skip || q.positionStart + q.tokenIds.length !== tokens) {
      throw new Error(`bench decode --ttft: the scheduler scheduled positions ${q?.positionStart}+${q?.tokenIds.length} of a ${tokens}-token prompt in one step (expected ${skip} cached)`);
    }
    const first = await execute(ex, out, scheduler.maxBlocksPerSeq);
    const ms = performance.now() - t;
    if (!first.has(id)) throw new Error(`bench decode --ttft: the prefill step sampled no first token for ${id}`);
    scheduler.updateFromOutput(out, first);
    scheduler.abortRequest(id);
    return ms;
  };

  const runsMs: number[] = [];
  for (let run = 0; run <= TIMED_RUNS; run++) {
    const ms = await prefill(`ttft-${tokens}-${run}`, randomTokens(tokens), 0);
    if (run > 0) runsMs.push(ms);
    log(`[tknp] prefill of ${tokens} tokens (${run === 0 ? 'warm-up' : `timed ${run}/${TIMED_RUNS}`}): ${ms.toFixed(1)} ms`);
  }
  const ms = median(runsMs);
  const result = { tokens, runsMs, ms, tokensPerSecond: tokens / (ms / 1000) };
  if (cachedPrefix === undefined) return result;

  // The shared prefix is computed once (untimed, with its first suffix); the timed prompts find
  // its whole blocks cached.
  const prefix = randomTokens(cachedPrefix);
  const hit = Math.floor(Math.min(cachedPrefix, tokens - 1) / BLOCK_SIZE) * BLOCK_SIZE;
  const hitMs: number[] = [];
  for (let run = 0; run <= TIMED_RUNS; run++) {
    const ms2 = await prefill(`ttft-cached-${tokens}-${run}`, [...prefix, ...randomTokens(tokens - cachedPrefix)], run === 0 ? 0 : hit);
    if (run > 0) hitMs.push(ms2);
    log(`[tknp] prefill of ${tokens} tokens, ${run === 0 ? `its ${cachedPrefix}-token prefix computed (untimed)` : `${hit} cached (timed ${run}/${TIMED_RUNS})`}: ${ms2.toFixed(1)} ms`);
  }
  const cms = median(hitMs);
  return { ...result, cached: { prefixTokens: cachedPrefix, cachedTokens: hit, runsMs: hitMs, ms: cms, speedup: ms / cms } };
}
